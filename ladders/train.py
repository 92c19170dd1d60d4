"""Train one rung: the loop, held-out evaluation, run-table rows, checkpoints, exact resume.

Each rung lives in its own folder:

    <work>/<run>/rows.parquet     run-table rows so far (rewritten atomically at every evaluation)
    <work>/<run>/checkpoint.pt    model, optimizer, step and the train losses since the last row
    <work>/<run>/status.json      {"status": "done" | "diverged", ...} once the rung has ended
    <work>/<run>/branch-<s>.pt    a stable run's state at the branch point s (never overwritten)

A branch (`rung.parent` set) starts from `<work>/<parent>/branch-<branch_step>.pt`, which it only
reads, and from then on lives in its own folder: a killed branch resumes from its own checkpoint,
or again from the parent's branch-point state when it had none yet.

The batch of step s is a pure function of (seed, s) (`ladders.data.batch_at`) and the model has
no dropout, so resuming from a checkpoint at step c replays exactly the updates an uninterrupted
run makes; rows after step c are dropped and written again, so none is lost or duplicated.

Rows (one per evaluation, every `eval_every` steps and at the last step; none at step 0, where
tokens would be 0, which the contract forbids) follow the run-table contract: run, params (total), params_nonembed, vocab_size, width,
depth, step, tokens (= step × batch_size × context), flops (= flops_per_token × tokens, see
`ladders.model.flops_per_token`), lr (the LR of the step's last update), loss (held-out),
train_loss (mean over the updates since the previous row), schedule, dataset, seed, seconds
(training wall time so far), plus heads, context, batch_size, parametrization, corpus_hash (the
sha256 of the corpus's file names and contents, in order), diverged and flops_own (the FLOPs this
run computed itself up to the row: `flops` less a branch's shared prefix). Runs of branched
ladders also carry parent (the stable run's id, or null), branch_step (0 on the stable run) and
stable (true on the stable run's rows). A branch's rows are those after its branch point, and
its tokens, flops and seconds count from step 0, prefix included, as a dedicated run's would.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist

from ladders import data as corpora
from ladders.model import GPT, GPTConfig, flops_per_token, parameter_counts
from scaling.schedules import lr_array, parse
from scaling.atomic import atomic_path, write_text
from scaling.runs import write_runs

_TOKEN_CACHE: dict = {}


def cache_dir() -> Path:
    """Where tokenizers and token arrays are cached: $SCALING_CACHE or ~/.cache/scaling."""
    return Path(os.environ.get("SCALING_CACHE", Path.home() / ".cache" / "scaling"))


def load_data(data: dict) -> corpora.TokenData:
    """Token arrays for a rung's data settings (cached on disk and in this process)."""
    from ladders.tokenizer import get_tokenizer

    key = json.dumps(data, sort_keys=True)
    if key not in _TOKEN_CACHE:
        if data["corpus"] == "bins":
            tokens = corpora.bin_tokens(data["train_bin"], data["valid_bin"], data["bin_dtype"],
                                        vocab_size=data["vocab_size"])
        else:
            corpus = (corpora.stdlib_corpus(max_bytes=data.get("max_bytes"))
                      if data["corpus"] == "stdlib" else corpora.text_corpus(data["files"]))
            tokenizer = get_tokenizer(data["tokenizer"], data["vocab_size"], corpus, cache_dir())
            tokens = corpora.load_tokens(corpus, tokenizer, cache_dir(),
                                         valid_fraction=data.get("valid_fraction", 0.05))
        _TOKEN_CACHE[key] = tokens
    return _TOKEN_CACHE[key]


def distributed() -> tuple[int, int]:
    """(rank, world size): (0, 1) unless running under torchrun with a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda: no CUDA device is available")
    return device


def status(folder: Path) -> dict | None:
    path = folder / "status.json"
    return json.loads(path.read_text()) if path.exists() else None


def train_rung(rung, work: Path, device: str = "cpu", resume: bool = False,
               progress: bool = False) -> pd.DataFrame:
    """Train one rung (a `ladders.spec.Rung`) in `work / rung.run`; returns its rows."""
    device = resolve_device(device)
    rank, world = distributed()
    folder = Path(work) / rung.run
    folder.mkdir(parents=True, exist_ok=True)
    ended = status(folder)
    if resume and ended is not None:
        rows_path = folder / "rows.parquet"
        return pd.read_parquet(rows_path) if rows_path.exists() else pd.DataFrame()
    if not resume:
        for name in ("rows.parquet", "checkpoint.pt", "status.json"):
            (folder / name).unlink(missing_ok=True)
        for old_branch_point in folder.glob("branch-*.pt"):
            old_branch_point.unlink()
    if rank == 0:
        write_text(folder / "rung.json", json.dumps(rung.to_dict(), indent=1))

    tokens = load_data(rung.data)
    config = GPTConfig(**rung.model)
    if tokens.vocab_size > config.vocab_size:
        raise ValueError(f"{rung.run}: the data has token ids up to {tokens.vocab_size - 1}, "
                         f"beyond the model's vocabulary of {config.vocab_size}")
    counts = parameter_counts(config)
    per_token = flops_per_token(config)
    schedule = parse(rung.schedule)
    lrs = lr_array(schedule)

    torch.manual_seed(rung.seed)
    model = GPT(config).to(device)
    groups = model.optimizer_groups(schedule.peak, rung.weight_decay)
    for group in groups:
        group["base_lr"] = group["lr"]          # lr at the schedule's peak
    optimizer = torch.optim.AdamW(groups, betas=(rung.beta1, rung.beta2),
                                  fused=device == "cuda")
    step, rows, since_row, seconds = 0, [], [], 0.0
    checkpoint = folder / "checkpoint.pt"

    def load(path: Path):
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"])
        return int(state["step"]), list(state["since_row"]), state["seconds"]

    if resume and checkpoint.exists():
        step, since_row, seconds = load(checkpoint)
        if (folder / "rows.parquet").exists():
            kept = pd.read_parquet(folder / "rows.parquet")
            rows = kept[kept["step"] <= step].to_dict("records")
    elif rung.parent is not None:
        source = Path(work) / rung.parent / f"branch-{rung.branch_step}.pt"
        if not source.exists() and (status(Path(work) / rung.parent) or {}).get("status") \
                == "diverged":       # the stable run never reached this branch point
            if rank == 0:
                write_text(folder / "status.json", json.dumps(
                    {"status": "diverged", "step": rung.branch_step, "parent": rung.parent}))
            return pd.DataFrame()
        if not source.exists():
            raise RuntimeError(f"{rung.run}: its branch point {source} does not exist; train "
                               f"the stable run {rung.parent} first")
        step, since_row, seconds = load(source)
        if step != rung.branch_step:
            raise RuntimeError(f"{rung.run}: {source} holds step {step}, not the branch point "
                               f"{rung.branch_step}")
    trained = model
    if world > 1:
        trained = torch.nn.parallel.DistributedDataParallel(model)
    if rung.compile:
        trained = torch.compile(trained)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device == "cuda" \
        else torch.autocast("cpu", enabled=False)
    evaluation = corpora.eval_batches(tokens.valid, rung.batch_size, rung.context,
                                      rung.eval_batches)
    share = corpora.rank_slice(rung.batch_size, rank, world)

    def evaluate() -> float:
        model.eval()
        total = 0.0
        with torch.no_grad(), autocast:
            for x, y in evaluation:
                _, loss = model(torch.from_numpy(x).to(device), torch.from_numpy(y).to(device))
                total += float(loss)
        model.train()
        return total / len(evaluation)

    lineage = {"parent": rung.parent, "branch_step": rung.branch_step,
               "stable": bool(rung.branch_points)} if rung.branched else {}

    def row(loss: float, diverged: bool = False) -> dict:
        done_tokens = step * rung.batch_size * rung.context
        return {"run": rung.run, "params": counts["total"],
                "params_nonembed": counts["nonembedding"], "vocab_size": config.vocab_size,
                "width": config.width, "depth": config.depth, "heads": config.heads,
                "step": step, "tokens": done_tokens, "flops": per_token * done_tokens,
                "lr": float(lrs[step - 1]), "loss": loss, "train_loss": float(np.mean(since_row)),
                "schedule": rung.schedule, "dataset": tokens.dataset,
                "corpus_hash": tokens.corpus_hash, "seed": rung.seed,
                "seconds": seconds, "context": rung.context, "batch_size": rung.batch_size,
                "parametrization": config.parametrization, "diverged": diverged,
                "flops_own": per_token * (step - rung.branch_step) * rung.batch_size
                * rung.context, **lineage}

    branch_points = set(rung.branch_points)

    def save_state(path: Path, since: list):
        if rank == 0:
            with atomic_path(path) as temporary:
                torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                            "rng": torch.get_rng_state(), "step": step,
                            "since_row": since, "seconds": seconds}, temporary)

    def save_branch_point():
        """The state at a branch point, for the branches; written once, never overwritten.
        Called before this step's row: the train losses since the last row are those a
        dedicated run carries on with (none when its eval grid has a row at this step; the
        stable run's own last row, off the grid, must not reset them)."""
        path = folder / f"branch-{step}.pt"
        if step in branch_points and not path.exists():
            save_state(path, [] if step % rung.eval_every == 0 else list(since_row))

    def save_rows():
        if rank == 0:
            frame = pd.DataFrame(rows)
            write_runs(frame, folder / "rows.parquet")

    def finish(state: str):
        for record in rows:
            record["diverged"] = state == "diverged"
        save_rows()
        if rank == 0:
            write_text(folder / "status.json", json.dumps({"status": state, "step": step}))

    bar = _bar(progress and rank == 0, rung, step)
    began = time.perf_counter() - seconds
    if step == 0:
        save_branch_point()
    while step < rung.steps:
        factor = float(lrs[step] / schedule.peak)
        for group in optimizer.param_groups:
            group["lr"] = group["base_lr"] * factor
        x, y = corpora.batch_at(tokens.train, step, rung.batch_size, rung.context, rung.seed)
        x, y = torch.from_numpy(x[share]).to(device), torch.from_numpy(y[share]).to(device)
        with autocast:
            _, loss = trained(x, y)
        loss.backward()
        if rung.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), rung.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        value = loss.detach()
        if world > 1:
            dist.all_reduce(value)
            value /= world
        value = float(value)
        step += 1
        seconds = time.perf_counter() - began
        since_row.append(value)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{value:.3f}", refresh=False)
        if not math.isfinite(value):
            finish("diverged")
            break
        save_branch_point()
        if step % rung.eval_every == 0 or step == rung.steps:
            rows.append(row(evaluate()))
            since_row = []
            save_rows()
        if step % rung.checkpoint_every == 0 or step == rung.steps:
            save_state(checkpoint, since_row)
    else:
        finish("done")
    if bar is not None:
        bar.close()
    return pd.DataFrame(rows)


def _bar(enabled, rung, start):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=rung.steps, initial=start, desc=rung.run, leave=False, unit="step",
                mininterval=1.0)
