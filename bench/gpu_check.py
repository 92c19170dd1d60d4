"""The GPU check (`make gpu-check`): one script, one JSON summary, well under 8 minutes on one GPU.

Stages, each in its own process with its own time limit, each recorded even when another fails:

1. card       torch and CUDA versions, the card, its memory, a measured bf16 matrix product
2. tests      the GPU-marked tests (`pytest -m gpu`: bf16 training agrees with the CPU, no host
              sync between rows, accumulation, compile, resume on the GPU)
3. throughput bench/train_throughput.py at GPT-2 small (124M: width 768, depth 12, context 1024,
              V = 50304), bf16, torch.compile, batch 64 in passes of 32: tokens/s and MFU against
              the card's dense bf16 peak, beside a plain nanoGPT-style loop in the same run; then,
              as time allows (--compare within the stage's budget), the plain loop with the other
              head loss (plain cross-entropy against the chunked default) and with the compile
              modes reduce-overhead and max-autotune-no-cudagraphs, side by side; and the same
              bench a second time at the check ladder's smallest rung (`smallest`: its shape,
              batch and compile setting), where the host, not the GPU, sets the pace
4. ladder     ladders/specs/gpu-check.toml, a short branched ladder (5 sizes, 0.4M to 6.2M
              non-embedding parameters, 4 budgets each), on this machine's own Python sources
              (standard library and site-packages, whole files, up to --corpus-mb), so no rung
              repeats data; its steps per second (every run's own optimizer steps over their
              own training seconds)
5. backtest   Chinchilla fitted on the branches of the four smaller sizes, predicting the largest
              size's branches (`scaling backtest`)

    python bench/gpu_check.py [--out out/gpu-check.json] [--logs out/gpu-check]
    python bench/gpu_check.py --dry-run     # no GPU needed: the plan, the ladder, the 124M model
    python bench/gpu_check.py --smoke       # every stage at toy size on the CPU (make test runs it)

The summary is rewritten after every stage, so a stage that fails or runs out of time leaves the
others' figures; the exit status is 1 when any stage failed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import sysconfig
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SPEC = ROOT / "ladders" / "specs" / "gpu-check.toml"
# GPT-2 small as nanoGPT trains it (V = 50257 padded to 50304); the throughput stage's model
THROUGHPUT = {"width": 768, "depth": 12, "heads": 12, "context": 1024, "vocab": 50304,
              "batch": 64, "micro_batch": 32, "steps": 30, "warmup": 10, "repeats": 1,
              "compile": True}
TOY_THROUGHPUT = {"width": 32, "depth": 1, "heads": 2, "context": 32, "vocab": 256,
                  "batch": 4, "micro_batch": 2, "steps": 3, "warmup": 2, "repeats": 1,
                  "compile": False}
# Stage time limits (seconds): the whole check stays under 8 minutes even if every stage hits
# its limit. On an H100 (two runs): tests 41-52 s, throughput 54-70 s, ladder 153-170 s.
# The throughput stage's 130 s: 100 for 124M (its --compare variants only while they fit, 15 s
# kept for start-up) and 30 for the smallest rung's shape.
LIMITS = {"tests": 80, "throughput": 100, "throughput_small": 30, "ladder": 230, "backtest": 40}
TRAIN_QUERY, TEST_QUERY = "width < 320 and not stable", "width == 320 and not stable"
TOY_TRAIN_QUERY, TOY_TEST_QUERY = "width < 64 and not stable", "width == 64 and not stable"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out/gpu-check.json", help="the JSON summary")
    parser.add_argument("--logs", default=None,
                        help="folder for each stage's log and the ladder's run table "
                             "(default: beside --out)")
    parser.add_argument("--corpus-mb", type=float, default=160.0,
                        help="cap on the ladder's corpus, MB of Python source (default 160)")
    parser.add_argument("--dry-run", action="store_true", help="print the plan; train nothing")
    parser.add_argument("--smoke", action="store_true",
                        help="every stage at toy size on the CPU, to test this script")
    args = parser.parse_args(argv)
    if args.dry_run:
        print(plan())
        return 0
    out = Path(args.out)
    logs = Path(args.logs) if args.logs else out.parent / out.stem
    logs.mkdir(parents=True, exist_ok=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    summary = {"mode": "smoke" if args.smoke else "gpu", "started": time.strftime("%Y-%m-%d %H:%M:%S"),
               "host": platform.node(), "python": platform.python_version(), "stages": {}}
    began = time.perf_counter()
    stages = [("card", lambda: card(args.smoke)),
              ("tests", lambda: tests(logs, args.smoke)),
              ("throughput", lambda: throughput(logs, args.smoke)),
              ("ladder", lambda: ladder(logs, args.smoke, args.corpus_mb)),
              ("backtest", lambda: backtest(logs, args.smoke))]
    for name, stage in stages:
        started = time.perf_counter()
        print(f"== {name}", flush=True)
        try:
            record = {"ok": True, **stage()}
        except StageFailed as exc:
            record = {"ok": False, "error": str(exc), **exc.record}
        except Exception as exc:  # noqa: BLE001 - a broken stage must not lose the others
            record = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        record["seconds"] = round(time.perf_counter() - started, 1)
        summary["stages"][name] = record
        summary["seconds"] = round(time.perf_counter() - began, 1)
        out.write_text(json.dumps(summary, indent=1, default=str))
        print(f"   {'ok' if record['ok'] else 'FAILED: ' + record['error']} "
              f"({record['seconds']} s)", flush=True)
    print(headline(summary))
    return 0 if all(s["ok"] for s in summary["stages"].values()) else 1


class StageFailed(Exception):
    def __init__(self, message, **record):
        super().__init__(message)
        self.record = record


def run(command: list[str], log: Path, limit: float, env: dict | None = None) -> float:
    """Run a command (its own process group) with output to `log`; seconds taken. On a non-zero
    exit or past `limit` seconds (the group is killed) raise StageFailed with the log's tail."""
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
        "PYTHONUNBUFFERED": "1", **(env or {})}
    started = time.perf_counter()
    with open(log, "w") as handle:
        process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=handle,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        try:
            code = process.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise StageFailed(f"ran past its limit of {limit:.0f} s; see {log.name}",
                              tail=_tail(log)) from None
    if code != 0:
        raise StageFailed(f"exit status {code}; see {log.name}", tail=_tail(log))
    return time.perf_counter() - started


def _tail(log: Path, lines: int = 15) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


# -- 1. the card ---------------------------------------------------------------------------------

def card(smoke: bool) -> dict:
    import torch

    record = {"torch": torch.__version__, "cuda": torch.version.cuda,
              "cuda_available": torch.cuda.is_available()}
    if not torch.cuda.is_available():
        if smoke:
            return {**record, "card": "cpu"}
        raise StageFailed("no CUDA device: run --dry-run or --smoke without a GPU", **record)
    from bench.train_throughput import card_peak

    properties = torch.cuda.get_device_properties(0)
    record.update(card=properties.name, memory_gib=round(properties.total_memory / 2**30, 1),
                  multiprocessors=properties.multi_processor_count,
                  capability=f"{properties.major}.{properties.minor}",
                  datasheet_bf16_flops=card_peak(properties.name))
    size = 8192
    a = torch.randn(size, size, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(size, size, device="cuda", dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(10):
        a @ b
    end.record()
    torch.cuda.synchronize()
    record["matmul_bf16_flops"] = 10 * 2 * size**3 / (start.elapsed_time(end) / 1000)
    del a, b
    torch.cuda.empty_cache()
    return record


# -- 2. the GPU-marked tests ---------------------------------------------------------------------

def tests(logs: Path, smoke: bool) -> dict:
    log = logs / "tests.log"
    command = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider",
               "tests/test_gpu.py"]
    try:
        seconds = run(command, log, LIMITS["tests"])
    finally:
        counts = _pytest_counts(log)
    if not smoke and counts.get("skipped"):
        raise StageFailed("GPU tests were skipped: no GPU seen by pytest", **counts)
    return {**counts, "wall_seconds": round(seconds, 1)}


def _pytest_counts(log: Path) -> dict:
    import re

    text = log.read_text(errors="replace") if log.exists() else ""
    last = text.strip().splitlines()[-1] if text.strip() else ""
    return {word: int(number) for number, word in
            re.findall(r"(\d+) (passed|failed|skipped|deselected|errors?)", last)}


# -- 3. throughput -------------------------------------------------------------------------------

def throughput(logs: Path, smoke: bool) -> dict:
    """124M (with --compare, as time allows), then the smallest rung's shape (`smallest`); a
    failure of the second is recorded there and does not lose the first."""
    record = bench(TOY_THROUGHPUT if smoke else THROUGHPUT, logs / "throughput", smoke,
                   LIMITS["throughput"], compare=True)
    try:
        record["smallest"] = bench(smallest_shape(smoke), logs / "throughput-smallest", smoke,
                                   LIMITS["throughput_small"])
    except StageFailed as exc:
        record["smallest"] = {"ok": False, "error": str(exc), **exc.record}
    return record


def bench(shape: dict, stem: Path, smoke: bool, limit: float, compare: bool = False) -> dict:
    """bench/train_throughput.py at `shape`, its JSON record (log and JSON beside `stem`)."""
    figures = stem.with_suffix(".json")
    command = [sys.executable, "bench/train_throughput.py", "--json", str(figures),
               "--device", "cpu" if smoke else "cuda"]
    for key, value in shape.items():
        if key == "compile":
            command += (["--compile"] + ([] if value is True else [value])) if value else []
        else:
            command += [f"--{key.replace('_', '-')}", str(value)]
    if compare:
        command += ["--compare", "--budget", str(limit - 15)]
    run(command, stem.with_suffix(".log"), limit,
        env={"SCALING_THREADS": "1"} if smoke else None)
    return json.loads(figures.read_text())


def smallest_shape(smoke: bool) -> dict:
    """The check ladder's smallest rung (fewest parameters) as train_throughput arguments: its
    model, batch, micro batch and compile setting (toy sizes under --smoke)."""
    from ladders.spec import expand, load_spec
    from ladders.spec.loading import dump_toml

    spec_text = SPEC.read_text()
    if smoke:
        import tempfile

        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / "gpu-check.toml"
            path.write_text(dump_toml(toy_spec(tomllib.loads(spec_text))))
            rungs = expand(load_spec(path))
    else:
        rungs = expand(load_spec(SPEC))
    rung = min(rungs, key=lambda r: (r.model["width"], r.model["depth"]))
    steps, warmup = (3, 2) if smoke else (30, 10)
    return {"width": rung.model["width"], "depth": rung.model["depth"],
            "heads": rung.model["heads"], "context": rung.context,
            "vocab": rung.model["vocab_size"], "batch": rung.batch_size,
            "micro_batch": rung.micro_batch or rung.batch_size, "steps": steps,
            "warmup": warmup, "repeats": 1, "compile": rung.compile}


# -- 4. the ladder -------------------------------------------------------------------------------

def ladder(logs: Path, smoke: bool, corpus_mb: float) -> dict:
    spec = tomllib.loads(SPEC.read_text())
    work = logs / "ladder"
    work.mkdir(exist_ok=True)
    if smoke:
        spec = toy_spec(spec)
        corpus = {"files": 0, "bytes": 0}
    else:
        corpus = python_sources(work / "corpus", int(corpus_mb * 1e6))
        spec["data"] = {"corpus": "files", "files": [str(work / "corpus" / "*.txt")],
                        "tokenizer": "bytes", "vocab_sizes": [256]}
    spec_path = work / "gpu-check.toml"
    from ladders.spec import dump_toml

    spec_path.write_text(dump_toml(spec))
    table = logs / "gpu-check.parquet"
    import shutil

    shutil.rmtree(logs / "gpu-check.rungs", ignore_errors=True)   # a check starts afresh
    table.unlink(missing_ok=True)
    seconds = run([sys.executable, "-m", "scaling", "ladder", "run", str(spec_path), "--out",
                   str(table), "--device", "cpu" if smoke else "cuda"],
                  logs / "ladder.log", LIMITS["ladder"],
                  env={"SCALING_THREADS": "1"} if smoke else None)
    import pandas as pd

    rows = pd.read_parquet(table)
    last = rows.loc[rows.groupby("run")["step"].idxmax()]
    tokens_needed = float(last["tokens"].max())
    train_bytes = corpus["bytes"] * 0.95
    own = last["flops_own"].sum()
    steps, training = own_steps_and_seconds(rows)
    return {"rungs": int(rows["run"].nunique()), "rows": len(rows),
            "wall_seconds": round(seconds, 1), "training_seconds": training,
            "steps": steps, "steps_per_second": steps / training,
            "flops_spent": float(own), "flops_per_second": float(own / training),
            "diverged_runs": int(last["diverged"].sum()), "corpus_files": corpus["files"],
            "corpus_bytes": corpus["bytes"], "largest_rung_tokens": tokens_needed,
            "largest_rung_epochs_about": round(tokens_needed / train_bytes, 2)
            if train_bytes else None,
            "final_losses": {r: round(float(v), 4) for r, v in zip(last["run"], last["loss"])}}


def own_steps_and_seconds(rows) -> tuple[int, float]:
    """Optimizer steps and training seconds the ladder's runs spent themselves: a branch's
    `seconds` count from step 0 (its stable run's time up to the branch point included), so the
    stable run's seconds at the branch point, interpolated between its rows, come off."""
    import numpy as np

    steps, seconds = 0, 0.0
    for run, group in rows.groupby("run"):
        end = group.loc[group["step"].idxmax()]
        start_step, start_seconds = 0, 0.0
        if "parent" in group.columns and isinstance(end.get("parent"), str):
            stable = rows[rows["run"] == end["parent"]].sort_values("step")
            start_step = int(end["branch_step"])
            start_seconds = float(np.interp(start_step, [0, *stable["step"]],
                                            [0.0, *stable["seconds"]]))
        steps += int(end["step"]) - start_step
        seconds += float(end["seconds"]) - start_seconds
    return steps, seconds


def toy_spec(spec: dict) -> dict:
    """The check's ladder at toy size, for --smoke on a CPU (about 10 s)."""
    spec["ladder"].update(context=32, batch_size=8, eval_every=20, eval_batches=2,
                          checkpoint_every=100)
    spec["data"] = {"corpus": "stdlib", "max_bytes": 400_000, "tokenizer": "bytes",
                    "vocab_sizes": [256]}
    spec["model"]["sizes"] = [{"width": w, "depth": 1, "heads": 2} for w in (32, 40, 48, 56, 64)]
    spec["optimizer"]["base_width"] = 32
    spec["branches"]["per_param"] = [1, 2, 4]
    return spec


def python_sources(folder: Path, max_bytes: int) -> dict:
    """This machine's Python sources as text shards of about 1 MB (whole files, UTF-8 only):
    the standard library (without its tests) and then site-packages, in path order, until
    `max_bytes`. Shards, not files, are the documents the runner splits into train and valid."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.txt"):
        old.unlink()
    roots = [Path(sysconfig.get_paths()["stdlib"])]
    roots += sorted({Path(sysconfig.get_paths()[k]) for k in ("purelib", "platlib")} - set(roots))
    skip = {"test", "tests", "idlelib", "lib2to3", "__pycache__"}
    shard, shard_bytes, total, files, index = [], 0, 0, 0, 0

    def flush():
        nonlocal shard, shard_bytes, index
        if shard:
            (folder / f"shard-{index:05d}.txt").write_text("\n\n".join(shard), encoding="utf-8")
            shard, shard_bytes, index = [], 0, index + 1

    for root in roots:
        for path in sorted(root.rglob("*.py")):
            if total >= max_bytes:
                break
            if skip & set(path.relative_to(root).parts[:-1]) or \
                    (root == roots[0] and {"site-packages", "dist-packages"} & set(path.parts)):
                continue
            try:
                text = path.read_bytes().decode("utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            shard.append(text)
            shard_bytes += len(text)
            total += len(text)
            files += 1
            if shard_bytes >= 1_000_000:
                flush()
    flush()
    return {"files": files, "bytes": total, "shards": index}


# -- 5. the backtest -----------------------------------------------------------------------------

def backtest(logs: Path, smoke: bool) -> dict:
    record = logs / "backtest.json"
    train, test = (TOY_TRAIN_QUERY, TOY_TEST_QUERY) if smoke else (TRAIN_QUERY, TEST_QUERY)
    run([sys.executable, "-m", "scaling", "backtest", str(logs / "gpu-check.parquet"),
         "--law", "chinchilla", "--train", train, "--test", test, "--bootstrap",
         "20" if smoke else "200", "--json", str(record)],
        logs / "backtest.log", LIMITS["backtest"])
    result = json.loads(record.read_text())
    fit = result.get("fit", {})
    return {"train": train, "test": test,
            "mean_abs_rel_error": result.get("mean_abs_rel_error"),
            "coverage": result.get("coverage"),
            "points": [{k: p.get(k) for k in ("run", "tokens", "actual", "predicted", "lower",
                                              "upper", "rel_error")}
                       for p in result.get("test", [])],
            "params": fit.get("params") or fit.get("params_")}


# -- the plan and the headline -------------------------------------------------------------------

def plan() -> str:
    from ladders.launch import dry_run_table
    from ladders.model import GPTConfig, flops_per_token, parameter_counts
    from ladders.spec import estimate, expand, load_spec

    shape = THROUGHPUT
    config = GPTConfig(vocab_size=shape["vocab"], context=shape["context"], width=shape["width"],
                       depth=shape["depth"], heads=shape["heads"])
    spec = load_spec(SPEC)
    rungs = expand(spec)
    table = dry_run_table(estimate(rungs, "cuda", spec.ladder.flops_per_second,
                                   spec.ladder.bytes_per_second), "cuda", spec.optimizer.recipe)
    pool = pool_line(spec)
    small = ", ".join(f"{k} {v}" for k, v in smallest_shape(False).items()
                      if k not in ("steps", "warmup", "repeats"))
    lines = [
        "GPU check: stages and time limits (seconds)",
        "  1. card        the card, its memory, a bf16 8192^3 matrix product",
        f"  2. tests       pytest -m gpu tests/test_gpu.py                      limit {LIMITS['tests']}",
        f"  3. throughput  {parameter_counts(config)['total']:,} parameters "
        f"({flops_per_token(config):.4g} FLOPs/token), batch {shape['batch']} x {shape['context']}"
        f" in passes of {shape['micro_batch']}, bf16, compiled, {shape['steps']} steps after "
        f"{shape['warmup']}, vs a plain loop; then as time allows the plain loop with the "
        f"other head loss and compile modes reduce-overhead, max-autotune-no-cudagraphs"
        f"                 limit {LIMITS['throughput']}",
        f"                 again at the ladder's smallest rung: {small}"
        f"                 limit {LIMITS['throughput_small']}",
        f"  4. ladder      {SPEC.relative_to(ROOT)} on this machine's Python sources"
        f"                 limit {LIMITS['ladder']}",
        "                 and its steps per second (own steps / own training seconds)",
        f"                 {pool}",
        f"  5. backtest    chinchilla, --train {TRAIN_QUERY!r} --test {TEST_QUERY!r}"
        f"   limit {LIMITS['backtest']}",
        f"  at most {sum(LIMITS.values()) / 60:.1f} min plus the card check",
        "",
        table,
    ]
    return "\n".join(lines)


def pool_line(spec) -> str:
    """How the ladder stage fills the machine: `scaling ladder run` trains one rung per slot of
    ladder.devices_per_rung GPUs (ladders/pool.py), every GPU busy."""
    import torch

    per_rung = spec.ladder.devices_per_rung
    here = torch.cuda.device_count()
    seen = f"{here} here: {max(1, here // per_rung)} rungs at once" if here else \
        "none on this machine"
    return (f"pool: one worker per {per_rung} GPU(s) of the machine, each training its own rung, "
            f"branches starting at their branch points (GPUs: {seen})")


def headline(summary: dict) -> str:
    stages = summary["stages"]
    lines = [f"GPU check ({summary['mode']}) in {summary.get('seconds', 0):.0f} s"]
    c = stages.get("card", {})
    if c.get("card"):
        lines.append(f"  card: {c['card']}, torch {c.get('torch')}, CUDA {c.get('cuda')}"
                     + (f", bf16 matmul {c['matmul_bf16_flops'] / 1e12:.0f} TFLOP/s"
                        if c.get("matmul_bf16_flops") else ""))
    t = stages.get("tests", {})
    lines.append(f"  tests: {t.get('passed', 0)} passed, {t.get('failed', 0)} failed, "
                 f"{t.get('skipped', 0)} skipped" + ("" if t.get("ok") else f" ({t.get('error')})"))
    p = stages.get("throughput", {})
    if p.get("ok"):
        lines.append(f"  throughput: {p['params'] / 1e6:.0f}M params, ours "
                     f"{p['ours_tokens_per_s']:,.0f} tokens/s vs plain {p['plain_tokens_per_s']:,.0f}"
                     f" (ratio {p['ratio']:.3f})"
                     + (f", MFU ours {p['mfu_ours']:.1%} / plain {p['mfu_plain']:.1%}"
                        if p.get("mfu_ours") is not None else "") + f"; {p.get('loss')} head loss")
        for v in p.get("variants", []):
            lines.append(f"    plain loop, {v['name']}: " + (
                f"{v['tokens_per_s']:,.0f} tokens/s ({v['ratio_to_plain']:.3f}x)"
                + (f", MFU {v['mfu']:.1%}" if v.get("mfu") is not None else "")
                if "tokens_per_s" in v else f"not run: {v.get('skipped') or v.get('error')}"))
        s = p.get("smallest", {})
        if "ours_tokens_per_s" in s:
            lines.append(f"    smallest rung (width {s['width']}, depth {s['depth']}): ours "
                         f"{s['ours_tokens_per_s']:,.0f} tokens/s"
                         + (f", MFU {s['mfu_ours']:.1%}" if s.get("mfu_ours") is not None else ""))
        else:
            lines.append(f"    smallest rung: FAILED ({s.get('error')})")
    else:
        lines.append(f"  throughput: FAILED ({p.get('error')})")
    lad = stages.get("ladder", {})
    if lad.get("ok"):
        lines.append(f"  ladder: {lad['rungs']} rungs in {lad['wall_seconds']:.0f} s, "
                     f"{lad['steps']:,} steps at {lad['steps_per_second']:.1f} steps/s, "
                     f"{lad['flops_spent']:.3g} FLOPs at {lad['flops_per_second']:.3g} FLOP/s, "
                     f"{lad['diverged_runs']} diverged; largest rung ~{lad['largest_rung_epochs_about']}"
                     f" epochs of a {lad['corpus_bytes'] / 1e6:.0f} MB corpus")
    else:
        lines.append(f"  ladder: FAILED ({lad.get('error')})")
    b = stages.get("backtest", {})
    if b.get("ok"):
        errors = ", ".join(f"{p['rel_error']:+.2%}" for p in b["points"])
        lines.append(f"  backtest: mean |error| {b['mean_abs_rel_error']:.2%} ({errors}); "
                     f"coverage {b['coverage']}")
    else:
        lines.append(f"  backtest: FAILED ({b.get('error')})")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
