"""Run a whole ladder: a pool of workers on one node, under torchrun (DDP), or farmed out to
Slurm with submitit.

    scaling ladder run SPEC --out runs.parquet [--device auto|cpu|cuda] [--workers K] [--resume]
                       [--dry-run]
    torchrun --nproc_per_node 8 -m ladders.launch SPEC --out runs.parquet      # DDP, same entry

On one node `scaling ladder run` alone fills the machine: it trains one rung per slot at once,
each in its own worker process (`ladders.pool`: a slot is `ladder.devices_per_rung` GPUs, or
`ladder.threads` cores on the CPU; `--workers K` overrides the count, and `--workers 1` trains
the rungs one after another in this process, as `run_ladder` does unless told otherwise).
Under torchrun every rung is split over all ranks with DDP, one rung after another. Each rung
trains in `<out stem>.rungs/<run>/` (and says who trains it in `worker.json` there); after
every rung that ends the ladder's run table `--out` is rewritten atomically from all finished
and partial rungs, so nothing finished is ever lost. `--resume` skips finished rungs and
continues the others from their last checkpoint; a rung that fails, or a worker that dies,
ends the ladder with a one-line error once the running rungs have finished.

Nothing else is lost either: an existing `--out` is replaced only when it is this ladder's table
(`--resume`) or with `--force`; `--out` is never one of the spec's files; and a ladder holds an
exclusive lock, `<out stem>.rungs.lock` (`ladder_lock`), while it runs, so a second run on the
same `--out` stops at once with a one-line error naming the process that holds it.

A branched ladder (ladders/spec/rungs.py) trains each stable run before its branches (rungs come in
that order; in a pool a branch starts as soon as its branch point is saved; with submitit, the
stable runs are one wave of jobs and the branches a second), and
reports its compute: the FLOPs it spent (stable runs + branch decays) against the FLOPs of
dedicated runs for the same budgets (`compute_summary`, printed by `--dry-run` and after a run).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import json
import os
import socket
import sys
from pathlib import Path

import pandas as pd

from ladders.progress import Progress
from ladders.spec import (SpecError, bundled_specs, compute, compute_line, estimate, expand,
                          load_spec, spec_summary)
from ladders.spec.corpus_check import check_corpus
from ladders.spec.cost import RECIPE_COLUMNS, recipe_cells
from scaling.errors import ScalingError
from scaling.data.table_files import write_runs


def work_dir(out) -> Path:
    out = Path(out)
    return out.parent / f"{out.stem}.rungs"


def lock_path(out, rank: int = 0) -> Path:
    """The lock file of the ladder `out`, beside its `.rungs` folder (one per DDP rank, so that
    every rank of a second launch stops)."""
    work = work_dir(out)
    return work.parent / (f"{work.name}.lock" + (f".{rank}" if rank else ""))


@contextlib.contextmanager
def ladder_lock(out, rank: int = 0):
    """Hold an exclusive lock (`fcntl.flock`) on the ladder `out` for the block: a second holder
    gets a one-line `ScalingError` naming the process that holds it (pid, host and start time,
    written in the lock file). The system releases the lock when the process ends, even by
    kill -9; the block's end removes the file."""
    import fcntl

    path = lock_path(out, rank)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _lock_holder(descriptor)
            os.close(descriptor)
            raise ScalingError(f"--out {out}: another ladder run holds its lock {path} "
                               f"({holder}); wait for it to end, or stop it") from None
        except BaseException:
            os.close(descriptor)
            raise
        try:                        # the file we locked may have been removed by its last
            same = os.path.samestat(os.fstat(descriptor), os.stat(path))   # holder: again
        except OSError:
            same = False
        if same:
            break
        os.close(descriptor)
    try:
        record = {"pid": os.getpid(), "host": socket.gethostname(),
                  "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds")}
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, (json.dumps(record) + "\n").encode(), 0)
        yield path
    finally:
        try:
            os.unlink(path)          # while still held: a waiting process retries on the new one
        except OSError:
            pass
        os.close(descriptor)         # releases the lock


def _lock_holder(descriptor) -> str:
    """Who holds a ladder's lock, from what it wrote in the lock file."""
    try:
        record = json.loads(os.pread(descriptor, 4096, 0).decode())
        return (f"held by pid {int(record['pid'])} on {record['host']} since "
                f"{record['started']}")
    except (OSError, ValueError, KeyError, TypeError):
        return "held by a process that has not yet written its pid"


def check_outputs(spec, out) -> None:
    """--out is none of the files the ladder reads: the spec, its data and its task files."""
    import glob

    from scaling.output.paths import check_distinct

    data = spec.data
    inputs = [("SPEC", spec.path)]
    if data.corpus == "files":
        inputs += [("data.files", path) for pattern in data.files
                   for path in glob.glob(str(spec.resolve(pattern)), recursive=True)]
    if data.corpus == "bins":
        inputs += [(f"data.{key}", spec.resolve(getattr(data, key)))
                   for key in ("train_bin", "valid_bin")]
    if data.corpus == "hf":
        inputs += [("data.hf_files", path) for pattern in data.hf_files
                   for path in glob.glob(str(spec.resolve(pattern)), recursive=True)]
    if data.tokenizer_file:
        inputs.append(("data.tokenizer_file", spec.resolve(data.tokenizer_file)))
    inputs += [("tasks.files", entry.partition("=")[2]) for entry in spec.task_files()]
    check_distinct([("--out", out)], inputs)


def check_existing_table(out, rungs, resume: bool, force: bool) -> None:
    """An existing --out is replaced only when it is this ladder's table, continued with
    --resume (each of its runs is a rung of the spec), or with --force."""
    out = Path(out)
    if force or not (out.exists() or out.is_symlink()):
        return
    if not resume:
        raise ScalingError(f"--out {out}: already exists, and a new ladder would replace it: "
                           "pass --resume to continue the ladder that wrote it, --force to "
                           "replace it, or give another --out")
    try:
        runs = pd.read_parquet(out, columns=["run"])["run"].astype(str)
    except Exception as exc:      # pyarrow's errors are ValueError, OSError, KeyError, ...
        raise ScalingError(f"--out {out}: exists and is not a ladder's run table "
                           f"({type(exc).__name__}); --resume continues a ladder's own table: "
                           "pass --force to replace it, or give another --out") from None
    foreign = sorted(set(runs) - {rung.run for rung in rungs})
    if foreign:
        more = f" and {len(foreign) - 1} more" if len(foreign) > 1 else ""
        raise ScalingError(f"--out {out}: is not this ladder's table: its run {foreign[0]!r}"
                           f"{more} is no rung of the spec; pass --force to replace it, or give "
                           "another --out")


def dry_run_table(rows: list[dict], device: str, recipe: str = "fixed") -> str:
    """The --dry-run table of `estimate` rows; with an optimizer.recipe other than "fixed", a
    rung's batch (sequences), peak LR, warmup steps and beta2 too, which it sets per size."""
    from scaling.output.format import table

    branched = any(r["stable"] for r in rows)
    per_size = recipe != "fixed"
    columns = ("run", "params", "params_nonembed", "tokens", "steps", "flops") + \
        (("own flops",) if branched else ()) + (RECIPE_COLUMNS if per_size else ()) + \
        ("est. s",)
    body = [(r["run"], f"{r['params']:,}", f"{r['params_nonembed']:,}", f"{r['tokens']:.3g}",
             f"{r['steps']:,}", f"{r['flops']:.3g}")
            + ((f"{r['flops_own']:.3g}",) if branched else ())
            + (recipe_cells(r) if per_size else ()) + (f"{r['seconds']:.0f}",)
            for r in rows]
    total = sum(r["seconds"] for r in rows)
    text = (table(columns, body, right=columns[1:])
            + f"\n{len(rows)} rungs, {sum(r['flops_own'] for r in rows):.3g} FLOPs, "
              f"about {total / 60:.1f} min on {device}")
    if branched:
        text += "\n" + compute_line(compute(rows))
    if per_size:
        text += f"\nrecipe: {recipe} (per size: batch ∝ N^(2/3), warmup ∝ N tokens, beta2 by " \
                "batch" + (", LR ∝ N^(-1/3)" if recipe == "olmo" else ", LR fixed (muP)") + \
                "; docs/ladders.md, Per-size recipes)"
    return text


def compute_summary(table: pd.DataFrame) -> dict:
    """`ladders.spec.compute` of a ladder's run table: each run's FLOPs at its last row (from
    step 0, prefix included) and its own FLOPs (`flops_own`), stable runs by the `stable`
    column. What was actually spent so far, against dedicated runs for the same budgets."""
    last = table.loc[table.groupby("run", sort=False)["step"].idxmax()]
    own = last["flops_own"] if "flops_own" in last.columns else last["flops"]
    stable = last["stable"].fillna(False).astype(bool) if "stable" in last.columns \
        else pd.Series(False, index=last.index)
    return compute([{"flops": float(f), "flops_own": float(o), "stable": bool(s)}
                    for f, o, s in zip(last["flops"], own, stable)])


def collect(out, rungs) -> pd.DataFrame | None:
    """The ladder's table from every rung's rows so far, written atomically to `out`."""
    frames = []
    for rung in rungs:
        rows = work_dir(out) / rung.run / "rows.parquet"
        if rows.exists():
            # one open file: a worker may replace rows.parquet (atomically) meanwhile, and a
            # reader given the path may open it twice, footer and pages from two files
            with open(rows, "rb") as handle:
                frame = pd.read_parquet(handle)
            if len(frame):                  # a rung that diverged before its first row: none
                frames.append(frame)
    if not frames:
        return None
    table = pd.concat(frames, ignore_index=True)
    write_runs(table, out)
    return table


def run_ladder(spec_path, out, device: str = "auto", resume: bool = False,
               dry_run: bool = False, executor=None, progress: bool = True,
               threads: int | None = None, force: bool = False, workers: int | None = 1):
    """Expand a spec and train every rung; returns the run table (or the dry-run text).

    `threads`: intra-op threads of a CPU rung, overriding `ladder.threads` (as SCALING_THREADS
    does); part of the rung, its numerics depend on it. `workers`: rungs trained at once, each
    in its own worker process (`ladders.pool`); None: one per slot of the machine (what
    `scaling ladder run` does), 1: one after another in this process. `force`: replace an
    existing `out` that is not this ladder's table (`check_existing_table`). The ladder holds
    `ladder_lock(out)` while it runs."""
    from ladders.cores import explicit_threads
    from ladders.pool import layout
    from ladders.train import resolve_device

    spec = load_spec(spec_path)
    rungs = expand(spec)
    override = explicit_threads(threads)
    if override is not None:
        rungs = [dataclasses.replace(rung, threads=override) for rung in rungs]
    if not dry_run:
        check_outputs(spec, out)
    check_corpus(spec)
    try:
        device = resolve_device(device)
    except RuntimeError as exc:
        raise SpecError(str(exc)) from None
    if workers is not None and workers < 1:
        raise ScalingError(f"--workers must be at least 1, got {workers}")
    torchrun = int(os.environ.get("WORLD_SIZE", "1")) > 1
    shape = None if executor is not None or torchrun else \
        layout(device, override or spec.ladder.threads, spec.ladder.devices_per_rung, workers,
               roll=not dry_run, where=str(spec.path))
    if dry_run:
        text = dry_run_table(estimate(rungs, device, spec.ladder.flops_per_second,
                                      spec.ladder.bytes_per_second), device,
                             spec.optimizer.recipe)
        if shape is not None:
            lines = text.splitlines()
            at = next(i for i, line in enumerate(lines) if " rungs, " in line) + 1
            text = "\n".join(lines[:at] + [shape.describe()] + lines[at:])
        return text
    with ladder_lock(out, int(os.environ.get("RANK", "0"))):
        check_existing_table(out, rungs, resume, force)
        return _run_locked(rungs, out, device, resume, executor, progress, shape)


def _run_locked(rungs, out, device, resume, executor, progress, shape=None):
    """Train the rungs: with submitit, in a pool of worker processes (`shape`, `ladders.pool`),
    or one after another in this process (one worker, or every rank under torchrun)."""
    from ladders.checkpoints import status
    from ladders.pool import run_pool, write_worker_record
    from ladders.train import load_data, train_rung

    work = work_dir(out)
    _init_distributed(device)
    if not resume and work.exists() and any(work.iterdir()):
        raise SpecError(f"{work} already holds rungs: pass --resume to continue that ladder, "
                        "or remove it")
    _barrier()
    if executor is not None:  # submitit: one job per rung (stable runs before branches)
        for wave in ([r for r in rungs if r.parent is None], [r for r in rungs if r.parent]):
            jobs = [executor.submit(train_rung, rung, work, device, resume, False)
                    for rung in wave]
            for job in jobs:
                job.result()
        return _table(out, rungs)
    overall = Progress(len(rungs), "ladder", unit="rung", every=0.0) \
        if progress and _rank() == 0 else None
    if shape is not None and (shape.workers > 1 or shape.per_rung > 1):
        if progress:
            print(f"{shape.describe()}", file=sys.stderr, flush=True)
        for data in {json.dumps(r.data, sort_keys=True): r.data for r in rungs}.values():
            with contextlib.suppress(ValueError):   # tokenise once, not in every worker;
                load_data(data)                     # a bad corpus: the rung says why
        if overall is not None and resume:
            overall.update(sum(status(work / r.run) is not None for r in rungs))
        try:
            run_pool(rungs, work, device, resume, shape, lambda: collect(out, rungs), overall)
        finally:
            if overall is not None:
                overall.close()
        return _table(out, rungs)
    for rung in rungs:
        if _rank() == 0 and not (resume and status(work / rung.run) is not None):
            write_worker_record(work / rung.run, device)
        train_rung(rung, work, device=device, resume=resume, progress=progress)
        _rank0(lambda: collect(out, rungs))
        _barrier()                  # a branch may read what rank 0 just wrote
        if overall is not None:
            overall.update(1)
    if overall is not None:
        overall.close()
    return _table(out, rungs) if _rank() == 0 else None


def _table(out, rungs) -> pd.DataFrame:
    """The finished ladder's table; a one-line error when no rung wrote a single row (every
    one diverged before its first evaluation, or is a branch of a stable run that did)."""
    from ladders.checkpoints import status

    table = collect(out, rungs)
    if table is None:
        diverged = [r.run for r in rungs
                    if (status(work_dir(out) / r.run) or {}).get("status") == "diverged"]
        raise ScalingError(f"{out}: no rows to write: {len(diverged)} of {len(rungs)} rungs "
                           "diverged before their first evaluation (status.json in "
                           f"{work_dir(out)}/<run>/); lower optimizer.lr or ladder.eval_every")
    return table


def _init_distributed(device):
    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device == "cuda" else "gloo")
        if device == "cuda":
            import torch

            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))


def _barrier():
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def _rank() -> int:
    import torch.distributed as dist

    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def _rank0(action):
    if _rank() == 0:
        return action()
    return None


def specs_table() -> str:
    """`scaling ladder specs`: the bundled specs, their rungs, FLOPs and what each is."""
    from scaling.output.format import table

    needs_torch()
    rows = []
    for name, path in bundled_specs().items():
        spec = load_spec(path)
        rungs = estimate(expand(spec), "cpu", spec.ladder.flops_per_second,
                         spec.ladder.bytes_per_second)
        rows.append((name, f"{len(rungs)}", f"{sum(r['flops_own'] for r in rungs):.3g}",
                     spec_summary(path)))
    folder = next(iter(bundled_specs().values())).parent
    return (table(("spec", "rungs", "FLOPs", "what"), rows, right=("rungs", "FLOPs"))
            + f"\n\n(in {folder}; `scaling ladder run NAME --dry-run` lists a spec's rungs, "
              "from any directory)")


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `scaling ladder run` and of `python -m ladders.launch` (one definition)."""
    parser.add_argument("spec", metavar="SPEC",
                        help="ladder spec: a TOML file, or a bundled spec's name (cpu-tiny; "
                             "`scaling ladder specs` lists them)")
    parser.add_argument("--out", metavar="PATH", help="run table to write (.parquet)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted ladder (an existing --out must be its "
                             "table)")
    parser.add_argument("--force", action="store_true",
                        help="replace an existing --out that is not this ladder's table (the "
                             "<out>.rungs folder is never removed: --resume, or remove it)")
    parser.add_argument("--dry-run", action="store_true",
                        help="list every rung with params, tokens, FLOPs and estimated time")
    parser.add_argument("--slurm", metavar="FOLDER",
                        help="submit the rungs as Slurm job arrays with submitit (logs in "
                             "FOLDER) and return; `scaling ladder status OUT` follows them")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress output (bars on a terminal, else a line every 30 s)")
    parser.add_argument("--threads", type=int, metavar="N",
                        help="intra-op CPU threads of each rung, overriding ladder.threads (as "
                             "SCALING_THREADS does); this changes the numerics, and --resume "
                             "refuses a rung started with another count")
    parser.add_argument("--workers", type=int, metavar="K",
                        help="rungs trained at once, one worker process each (default: one per "
                             "slot: GPUs // ladder.devices_per_rung, or cores // ladder.threads; "
                             "1: one after another in this process)")


def needs_torch() -> None:
    try:
        import torch  # noqa: F401  (the trainer's one heavy dependency)
    except ImportError as exc:
        raise ScalingError(f"the ladder runner needs torch: pip install 'scaling[ladder]' "
                           f"({exc})") from None


def run_command(args) -> int:
    """`scaling ladder run` with parsed arguments: train (or list) the ladder, print a summary."""
    from scaling.output.console import check_output

    if not args.dry_run and not args.out:
        raise ScalingError("scaling ladder run: --out PATH is required (or use --dry-run)")
    if args.threads is not None and args.threads < 1:
        raise ScalingError(f"scaling ladder run: --threads must be at least 1, got {args.threads}")
    if args.workers is not None and args.workers < 1:
        raise ScalingError(f"scaling ladder run: --workers must be at least 1, got {args.workers}")
    if args.out and not args.dry_run:   # the run table is Parquet; checked before any training
        check_output(args.out, "--out", {"parquet", "pq"}, "ladder.parquet")
    needs_torch()
    if args.slurm:          # `scaling ladder run` submits (ladders/command.py, ladders/slurm.py)
        raise ScalingError("--slurm: submit with `scaling ladder run SPEC --out OUT --slurm "
                           "FOLDER` (docs/slurm.md); this entry point trains here")
    result = run_ladder(args.spec, args.out, device=args.device, resume=args.resume,
                        dry_run=args.dry_run, progress=not args.no_progress,
                        threads=args.threads, force=args.force, workers=args.workers)
    if args.dry_run:
        print(result)
    elif result is not None:
        print(f"wrote {len(result)} rows of {result['run'].nunique()} runs to {args.out}")
        if "stable" in result.columns:      # a branched ladder: what it cost
            print(compute_line(compute_summary(result)))
    return 0


def main(argv=None) -> int:
    """`python -m ladders.launch SPEC --out PATH`: the torchrun entry point."""
    from scaling.output.console import OneLineParser, run_command as run_one_line

    parser = OneLineParser(prog="python -m ladders.launch",
                           description="Train every rung of a ladder spec (as `scaling ladder "
                                       "run`); under torchrun, with DDP.")
    add_run_arguments(parser)
    return run_one_line(lambda: run_command(parser.parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
