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
`ladders.model.flops_per_token`), lr (the LR of the step's last update),
lr_peak (the schedule's peak LR: the swept value of an LR sweep, before muP's per-group factors),
loss (held-out),
loss_unigram, characters, tokens_per_char and bits_per_char (below),
train_loss (mean over the updates since the previous row), schedule, dataset, seed, seconds
(training wall time so far, held-out evaluations excluded), plus heads, context, batch_size, parametrization, corpus_hash (the
sha256 of the corpus's file names and contents, in order), diverged and flops_own (the FLOPs this
run computed itself up to the row: `flops` less a branch's shared prefix). Runs of branched
ladders also carry parent (the stable run's id, or null), branch_step (0 on the stable run) and
stable (true on the stable run's rows). Runs on repeated data (`data.unique_tokens` or
`data.max_epochs`; `ladders.data.repeat_offsets`) carry unique_tokens (the distinct training
tokens the run could see: an epoch's target tokens) and epochs (tokens / unique_tokens, the
passes over them so far). A branch's rows are those after its branch point, and
its tokens, flops and seconds count from step 0, prefix included, as a dedicated run's would.

Pruning (`rung.pruning`, from a spec's [pruning] section; `ladders.pruning` holds the masks and
says how pruned weights stay exactly zero): the rung's prunable weights (the blocks' linear
matrices, `ladders.pruning.prunable_count`) are pruned by global magnitude at the event steps of
`scaling.data.pruning_schedules`'s plan of its schedule, an event at step e right after update e (before that
step's row and checkpoint; e = 0: before the first update), to the plan's kept count. The masks
are saved in checkpoint.pt (and branch states) and restored on --resume. Every row of every rung
of a pruning ladder, dense rungs (sparsity 0) included, carries two more columns:

* params_active: non-zero parameters of the whole model after update `step`: params −
  prunable + the weights the masks keep (counted from the masks at the row), which is
  `PruningPlan.active_after(step)`; `params` stays the dense total.
* pruning: the rung's schedule string with its steps= and prunable= (e.g.
  `geometric:sparsity=0.5,start=0.25,end=0.75,every=10,steps=400,prunable=30000`, which
  `scaling.data.pruning_schedules.parse` reads back), or "dense" for sparsity 0.

`flops` (and `flops_own`) count dense compute, flops_per_token × tokens, pruned or not: the
runner computes dense matmuls with zeros in them. The compute a sparse law wants follows from
params_active (or the schedule) instead.

The vocabulary columns (`ladders.data`: `held_out_statistics`, `TokenData.tokens_per_char`):

* tokens_per_char: the tokenizer's tokens per character on the training split, f(V) of Tao et
  al. 2024: training tokens / characters of the training text (Unicode code points, not bytes:
  the byte tokenizer has 1 on ASCII text and more where the text is not), counted once per
  (corpus, tokenizer) and cached with the tokens.
* characters: training characters consumed up to the row, H = tokens / tokens_per_char.
* loss_unigram: the unigram-normalised held-out loss L_u = -(1/T) sum_i log[p(w_i | w_<i) /
  p(w_i)] over exactly the T evaluation target tokens whose mean loss is `loss`, p(w) being the
  token's unigram frequency in the training tokens with add-one smoothing, (count + 1) /
  (training tokens + V). Computed as loss minus the mean of -log p(w_i) over those targets
  (fixed per rung, so computed once). Nats per token; usually negative.
* bits_per_char: loss * T / (characters of the T target tokens) / ln 2, the characters counted
  exactly on those tokens: each character belongs to the token holding its first UTF-8 byte.

Without the corpus's text (pre-tokenised .bin files) a row has loss_unigram but none of the other
three.

Downstream tasks (`rung.tasks`, `rung.task_files`; `ladders.tasks` defines them and their two
metrics): built and encoded once per rung (cached in the process, like the held-out batches) and
scored at every row, which then carries `acc:<task>` and `loss:<task>` for every task. Their
scoring is evaluation time, excluded from `seconds`, and reads nothing that training uses (no
RNG), so resuming stays exact.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist

from ladders import data as token_data
from ladders.corpus import stdlib_corpus, text_corpus
from ladders.checkpoints import (CheckpointError, branch_state, check_same_rung, read_state,
                                 status)
from ladders.cores import set_threads
from ladders.model import GPT, GPTConfig, flops_per_token, parameter_counts
from ladders.progress import Progress
from ladders.pruning import Masks, prunable_count
from ladders.tasks import TaskError, rung_tasks, score
from scaling.output.atomic import atomic_path, write_text
from scaling.errors import ScalingError
from scaling.data.pruning_schedules import PruningError
from scaling.data.pruning_schedules import parse as parse_pruning
from scaling.data.table_files import write_runs
from scaling.data.schedules import lr_array, parse

_TOKEN_CACHE: dict = {}


def cache_dir() -> Path:
    """Where tokenizers and token arrays are cached: $SCALING_CACHE or ~/.cache/scaling."""
    return Path(os.environ.get("SCALING_CACHE", Path.home() / ".cache" / "scaling"))


def load_data(data: dict) -> token_data.TokenData:
    """Token arrays for a rung's data settings (cached on disk and in this process)."""
    from ladders.tokenizer import get_tokenizer

    # the cap on unique tokens picks batches from the tokens, not the tokens: not in the key
    key = json.dumps({k: v for k, v in data.items() if k != "unique_tokens"}, sort_keys=True)
    if key not in _TOKEN_CACHE:
        if data["corpus"] == "bins":
            tokens = token_data.bin_tokens(data["train_bin"], data["valid_bin"], data["bin_dtype"],
                                           vocab_size=data["vocab_size"])
        elif data["corpus"] == "hf":
            from ladders.hf_corpus import load_hf

            tokens = load_hf(data, cache_dir())
        else:
            corpus = (stdlib_corpus(max_bytes=data.get("max_bytes"))
                      if data["corpus"] == "stdlib" else text_corpus(data["files"]))
            valid_fraction = data.get("valid_fraction", 0.05)
            tokenizer = get_tokenizer(data["tokenizer"], data["vocab_size"], corpus, cache_dir(),
                                      valid_fraction=valid_fraction,
                                      path=data.get("tokenizer_file"))
            tokens = token_data.load_tokens(corpus, tokenizer, cache_dir(),
                                            valid_fraction=valid_fraction)
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


def train_rung(rung, work: Path, device: str = "cpu", resume: bool = False,
               progress: bool = False, threads: int | None = None) -> pd.DataFrame:
    """Train one rung (a `ladders.spec.Rung`) in `work / rung.run`; returns its rows.

    On the CPU the rung trains with `rung.threads` intra-op threads (its numerics depend on
    them, never on the load: `ladders.cores`), or `threads` when given (then saved as the
    rung's)."""
    device = resolve_device(device)
    rank, world = distributed()
    if threads is not None and threads != rung.threads:
        rung = dataclasses.replace(rung, threads=threads)
    if device == "cpu":
        set_threads(rung.threads)
    folder = Path(work) / rung.run
    folder.mkdir(parents=True, exist_ok=True)
    if resume:
        check_same_rung(rung, folder)
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

    try:
        tokens = load_data(rung.data)
    except ValueError as exc:          # a corpus or token file that cannot feed this rung
        raise ScalingError(f"{rung.run}: data: {exc}") from None
    for side, count in (("training", tokens.n_train), ("held-out", tokens.n_valid)):
        if count < rung.context + 1:
            raise ScalingError(f"{rung.run}: data: the {side} split has {count:,} tokens, fewer "
                               f"than one sequence of context + 1 = {rung.context + 1}")
    unique = rung.data.get("unique_tokens")        # repeated data: distinct training tokens
    if unique is not None and unique + 1 > tokens.n_train:
        raise ScalingError(f"{rung.run}: data: unique_tokens = {unique:,} needs {unique + 1:,} "
                           f"training tokens, but the training split has {tokens.n_train:,}")
    config = GPTConfig(**rung.model)
    if tokens.vocab_size > config.vocab_size:
        raise ValueError(f"{rung.run}: the data has token ids up to {tokens.vocab_size - 1}, "
                         f"beyond the model's vocabulary of {config.vocab_size}")
    counts = parameter_counts(config)
    per_token = flops_per_token(config)
    schedule = parse(rung.schedule)
    lrs = lr_array(schedule)

    prunable = prunable_count(config)
    events = pruning_events(rung, counts["total"], prunable)     # {step: weights kept}

    torch.manual_seed(rung.seed)
    model = GPT(config).to(device)
    masks = Masks(model) if events else None
    groups = model.optimizer_groups(schedule.peak, rung.weight_decay)
    for group in groups:
        group["base_lr"] = group["lr"]          # lr at the schedule's peak
    # fused: one kernel for every parameter, and no read-back of the step counters (the
    # unfused CPU AdamW reads each parameter's step count to the host every step)
    optimizer = torch.optim.AdamW(groups, betas=(rung.beta1, rung.beta2), fused=True)
    step, rows, since_row, seconds = 0, [], [], 0.0
    checkpoint = folder / "checkpoint.pt"

    def load(state: dict, path: Path):
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"])
        if masks is not None:
            if "masks" not in state:
                raise CheckpointError(f"{path}: holds no pruning masks, and {rung.run} prunes")
            masks.load_state_dict(state["masks"])
        return int(state["step"]), list(state["since_row"]), state["seconds"]

    if resume and checkpoint.exists():
        step, since_row, seconds = load(read_state(checkpoint), checkpoint)
        if (folder / "rows.parquet").exists():
            kept = pd.read_parquet(folder / "rows.parquet")
            rows = kept[kept["step"] <= step].to_dict("records")
    elif rung.parent is not None:
        start = branch_state(rung, work)     # a missing or corrupt one: CheckpointError
        if start is None:                    # the stable run diverged before this branch point
            if rank == 0:
                write_text(folder / "status.json", json.dumps(
                    {"status": "diverged", "step": rung.branch_step, "parent": rung.parent}))
            return pd.DataFrame()
        step, since_row, seconds = load(start, Path(work) / rung.parent
                                        / f"branch-{rung.branch_step}.pt")
    trained = model
    if world > 1:
        trained = torch.nn.parallel.DistributedDataParallel(model)
    if rung.compile:            # true: torch.compile's default mode; or a mode by name
        trained = torch.compile(trained, mode=None if rung.compile is True else rung.compile)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device == "cuda" \
        else torch.autocast("cpu", enabled=False)
    evaluation = token_data.eval_batches(tokens.valid, rung.batch_size, rung.context,
                                         rung.eval_batches)
    held_out = token_data.held_out_statistics(tokens, evaluation)  # fixed: once per rung
    try:
        tasks = rung_tasks(rung, cache_dir())                         # fixed: once per rung
    except (TaskError, ValueError, OSError) as exc:
        raise ScalingError(f"{rung.run}: tasks: {exc}") from None
    per_char = tokens.tokens_per_char
    micro, accumulation = micro_batches(rung, world)
    share = token_data.rank_slice(rung.batch_size, rank, world)

    def to_device(array: np.ndarray) -> torch.Tensor:
        tensor = torch.from_numpy(array)
        if device == "cuda":        # pinned memory: the copy does not wait for the GPU
            return tensor.pin_memory().to(device, non_blocking=True)
        return tensor.to(device)

    def evaluate() -> float:
        """Mean held-out loss per token, in passes of at most `micro` sequences; one read-back."""
        model.eval()
        total, sequences = torch.zeros((), device=device), 0
        with torch.no_grad(), autocast:
            for x, y in evaluation:
                for start in range(0, len(x), micro):
                    part = slice(start, start + micro)
                    _, loss = model(to_device(x[part]), to_device(y[part]))
                    total += loss.float() * len(x[part])
                    sequences += len(x[part])
        model.train()
        return float(total) / sequences

    lineage = {"parent": rung.parent, "branch_step": rung.branch_step,
               "stable": bool(rung.branch_points)} if rung.branched else {}

    def repeat_columns(done_tokens: int) -> dict:
        """unique_tokens and epochs of a rung on repeated data (none otherwise)."""
        if unique is None:
            return {}
        return {"unique_tokens": unique, "epochs": done_tokens / unique}

    def vocabulary_columns(loss: float, done_tokens: int) -> dict:
        """characters, tokens_per_char, loss_unigram, bits_per_char (see the module docstring);
        without the corpus's text (.bin files) only loss_unigram."""
        columns = {"loss_unigram": loss - held_out.unigram_loss}
        if per_char is not None and held_out.characters:
            columns = {"characters": done_tokens / per_char, "tokens_per_char": per_char,
                       **columns, "bits_per_char": loss * held_out.tokens
                       / held_out.characters / math.log(2)}
        return columns

    def row(loss: float, diverged: bool = False) -> dict:
        done_tokens = step * rung.batch_size * rung.context
        return {"run": rung.run, "params": counts["total"],
                "params_nonembed": counts["nonembedding"], "vocab_size": config.vocab_size,
                "width": config.width, "depth": config.depth, "heads": config.heads,
                "step": step, "tokens": done_tokens, "flops": per_token * done_tokens,
                "lr": float(lrs[step - 1]), "lr_peak": float(schedule.peak),
                "loss": loss, **vocabulary_columns(loss, done_tokens),
                "train_loss": float(np.mean(since_row)),
                "schedule": rung.schedule, "dataset": tokens.dataset,
                "corpus_hash": tokens.corpus_hash, "seed": rung.seed,
                "seconds": seconds, "context": rung.context, "batch_size": rung.batch_size,
                "parametrization": config.parametrization, "diverged": diverged,
                "flops_own": per_token * (step - rung.branch_step) * rung.batch_size
                * rung.context, **repeat_columns(done_tokens), **lineage, **pruning_columns()}

    def pruning_columns() -> dict:
        """params_active and pruning, on the rows of a pruning ladder's rungs (module docstring)."""
        if rung.pruning is None:
            return {}
        kept = masks.count() if masks is not None else prunable
        return {"params_active": counts["total"] - prunable + kept, "pruning": rung.pruning}

    branch_points = set(rung.branch_points)

    def save_state(path: Path, since: list):
        if rank == 0:
            state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                     "rng": torch.get_rng_state(), "step": step,
                     "since_row": since, "seconds": seconds}
            if masks is not None:
                state["masks"] = masks.state_dict()
            with atomic_path(path) as temporary:
                torch.save(state, temporary)

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

    def finish(state: str, **details):
        for record in rows:
            record["diverged"] = state == "diverged"
        save_rows()
        if rank == 0:
            write_text(folder / "status.json",
                       json.dumps({"status": state, "step": step, **details}))

    # The training losses of the steps since the last read-back stay on the device (`pending`):
    # reading a loss back waits for the device to finish, so that happens only where the host
    # needs the values anyway: rows, checkpoints, branch points and the end. A loss that turned
    # NaN or infinite is found there and ends the rung (status "diverged", with the step where
    # it first appeared); the rows before it are kept.
    pending: list[torch.Tensor] = []

    def read_back() -> int | None:
        """Move the pending losses to `since_row`; the first step whose loss is not finite."""
        if not pending:
            return None
        values = torch.stack(pending)
        if world > 1:
            dist.all_reduce(values)
            values /= world
        values = values.tolist()
        first = step - len(values) + 1
        pending.clear()
        since_row.extend(values)
        bad = next((first + i for i, v in enumerate(values) if not math.isfinite(v)), None)
        if bar is not None:
            bar.note(loss=values[-1])
        return bad

    bar = Progress(rung.steps, rung.run, initial=step) if progress and rank == 0 else None
    elapsed = seconds           # training wall time before this process took over
    clock = time.perf_counter()
    if step == 0:
        if 0 in events:                      # an event at step 0: sparse from initialisation
            masks.prune_to(events[0], optimizer)
        save_branch_point()
    while step < rung.steps:
        factor = float(lrs[step] / schedule.peak)
        for group in optimizer.param_groups:
            group["lr"] = group["base_lr"] * factor
        x, y = token_data.batch_at(tokens.train, step, rung.batch_size, rung.context, rung.seed,
                                   rows=share, unique_tokens=unique)
        x, y = to_device(x), to_device(y)
        step_loss = None
        for part in range(accumulation):
            rows_of_part = slice(part * micro, (part + 1) * micro)
            last = part == accumulation - 1
            with (trained.no_sync() if world > 1 and not last else contextlib.nullcontext()):
                with autocast:
                    _, loss = trained(x[rows_of_part], y[rows_of_part])
                (loss / accumulation if accumulation > 1 else loss).backward()
            step_loss = loss.detach() if step_loss is None else step_loss + loss.detach()
        if masks is not None:
            masks.mask_gradients()           # pruned weights: no gradient, moments stay zero
        if rung.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), rung.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if masks is not None:
            masks.apply()                    # and pruned weights stay exactly zero
        pending.append(step_loss / accumulation if accumulation > 1 else step_loss)
        step += 1
        if step in events:                   # after update `step`, before its row/checkpoint
            masks.prune_to(events[step], optimizer)
        if bar is not None:
            bar.update(1)
        at_row = step % rung.eval_every == 0 or step == rung.steps
        at_checkpoint = step % rung.checkpoint_every == 0 or step == rung.steps
        if not (at_row or at_checkpoint or step in branch_points):
            continue
        bad = read_back()                    # waits for the device: the clock is exact here
        seconds = elapsed + time.perf_counter() - clock
        if bad is not None:
            finish("diverged", first_nonfinite_step=bad)
            break
        save_branch_point()
        if at_row:
            evaluated = time.perf_counter()
            rows.append({**row(evaluate()),
                         **score(model, tasks, device, autocast, batch=micro)})
            since_row = []
            save_rows()
            clock += time.perf_counter() - evaluated     # evaluations are not training time
        if at_checkpoint:
            save_state(checkpoint, since_row)
    else:
        finish("done")
    if bar is not None:
        bar.close()
    return pd.DataFrame(rows)


def pruning_events(rung, params: int, prunable: int) -> dict[int, int]:
    """{step: prunable weights kept after the event at that step} of a pruning rung (empty for
    a dense one or a ladder without pruning), from `scaling.data.pruning_schedules`'s plan of its schedule,
    which must be this rung's (its steps= and prunable=)."""
    try:
        schedule = parse_pruning(rung.pruning) if rung.pruning is not None else None
    except PruningError as exc:
        raise ScalingError(f"{rung.run}: pruning: {exc}") from None
    if schedule is None or schedule.dense:
        return {}
    if (schedule.steps, schedule.prunable) != (rung.steps, prunable):
        raise ScalingError(f"{rung.run}: pruning schedule {rung.pruning!r} is not this rung's: "
                           f"it has {rung.steps} steps and {prunable} prunable weights")
    plan = schedule.plan(params)
    return dict(zip(plan.events.tolist(), plan.kept.tolist()))


def micro_batches(rung, world: int) -> tuple[int, int]:
    """(sequences per forward/backward pass, passes per optimizer step) on one rank.

    `batch_size` is the global batch (a scaling variable, the same on any hardware); each rank
    trains batch_size / world sequences a step, in passes of `micro_batch` (all at once when it
    is None), accumulating gradients. The mean of equal passes' mean losses is the batch's mean
    loss, so accumulation changes only rounding."""
    if rung.batch_size % world:
        raise ScalingError(f"{rung.run}: batch_size {rung.batch_size} does not split evenly "
                           f"over {world} ranks")
    per_rank = rung.batch_size // world
    micro = rung.micro_batch or per_rank
    if per_rank % micro:
        raise ScalingError(f"{rung.run}: batch_size {rung.batch_size} on {world} rank(s) gives "
                           f"{per_rank} sequences a rank, not a multiple of micro_batch {micro}")
    return micro, per_rank // micro
