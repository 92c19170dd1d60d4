"""What a ladder costs: parameters, tokens, FLOPs and estimated time per rung (for --dry-run),
and a branched ladder's compute against dedicated runs for the same budgets."""

from __future__ import annotations

from scaling.data.schedules import parse

# Assumed sustained training throughput for --dry-run time estimates, FLOP/s (a spec's
# ladder.flops_per_second replaces it).
DEFAULT_FLOPS_PER_SECOND = {"cpu": 1.5e10, "cuda": 2.0e14}
# Assumed memory bandwidth of the head's element-wise passes over the logits, bytes/s (a spec's
# ladder.bytes_per_second replaces it). cuda: about 60% of an H100's 3.35 TB/s HBM3, what
# unfused eager kernels reach (not measured here). cpu: a least-squares fit of the stable runs
# of data/cpu_vocab (one thread of a loaded 2-core EPYC) to FLOPs / R + head bytes / B gives
# R = 8e10 FLOP/s, B = 1.2e10 bytes/s; a loose fit: the V = 4096 runs still took about 1.4x the
# time it gives them, relative to V = 512, as their cost jumps once a micro batch's logits
# (33 MB) outgrow the cache, which a rate per byte does not model.
DEFAULT_BYTES_PER_SECOND = {"cpu": 1.2e10, "cuda": 2e12}


def head_bytes_per_logit(device: str) -> int:
    """Bytes that one training step moves to and from memory per logit of the output head
    (eager mode: every element-wise op is one pass), with logits in the compute dtype of c bytes
    (bf16 under CUDA autocast, c = 2; fp32 on the CPU, c = 4, where the fp32 casts are no-ops):

      forward   matmul writes the logits (c), the output multiplier reads and writes them (2c),
                the fp32 cast (c + 4, CUDA only), log-softmax reads and writes fp32 (8)
      backward  the loss's gradient written (4), log-softmax's backward reads its output and
                that gradient and writes one (12), the cast back (4 + c, CUDA only), the
                multiplier (2c), the two matmuls each read the gradient (2c)

    50 bytes per logit on CUDA, 52 on the CPU. The chunked head (`ladders.vocab_loss`) makes
    about as many passes, over one chunk at a time: it saves memory, not traffic; compiled
    kernels fuse some passes (this is the eager figure, an upper bound)."""
    c = 2 if device == "cuda" else 4
    casts = (c + 4) * 2 if c != 4 else 0
    return c + 2 * c + 8 + 4 + 12 + 2 * c + 2 * c + casts


def estimate(rungs, device: str, flops_per_second: float | None = None,
             bytes_per_second: float | None = None) -> list[dict]:
    """Params, tokens, FLOPs and estimated seconds of each rung (a `ladders.spec.Rung`).

    `tokens`, `steps` and `flops` count from step 0 (a branch's shared prefix included: what a
    dedicated run of that budget costs); `flops_own` and `seconds` count only what the rung
    trains itself (a branch: its steps after the branch point); `batch_size`, `lr_peak`,
    `warmup` (steps) and `beta2` are what an optimizer.recipe sets per size. `seconds` adds
    the rung's task scoring (`flops_tasks`: a forward pass, a third of the training FLOPs per
    token, over every option's window at each of its rows; the held-out evaluation is not
    counted) and the output head's memory traffic (`head_bytes`: vocab_size x
    `head_bytes_per_logit` per token trained, over `bytes_per_second`,
    DEFAULT_BYTES_PER_SECOND by default): large-V heads are memory-bound, so their time is
    not their FLOPs' (a spec's ladder.flops_per_second measured on a whole ladder already
    holds some of it).
    """
    from ladders import model as gpt

    kind = "cuda" if device == "cuda" else "cpu"
    rate = flops_per_second or DEFAULT_FLOPS_PER_SECOND[kind]
    bandwidth = bytes_per_second or DEFAULT_BYTES_PER_SECOND[kind]
    rows = []
    for rung in rungs:
        config = gpt.GPTConfig(**rung.model)
        counts = gpt.parameter_counts(config)
        per_token = gpt.flops_per_token(config)
        flops = per_token * rung.tokens
        flops_own = per_token * (rung.steps - rung.branch_step) * rung.batch_size * rung.context
        flops_tasks = per_token / 3 * task_sequences(rung) * rung.context * len(row_steps(rung))
        schedule = parse(rung.schedule)
        head_bytes = flops_own / per_token * config.vocab_size * head_bytes_per_logit(kind)
        rows.append({"run": rung.run, "params": counts["total"],
                     "params_nonembed": counts["nonembedding"], "tokens": rung.tokens,
                     "steps": rung.steps, "flops": flops, "flops_own": flops_own,
                     "flops_tasks": flops_tasks, "head_bytes": head_bytes,
                     "seconds": (flops_own + flops_tasks) / rate + head_bytes / bandwidth,
                     "stable": bool(rung.branch_points),
                     "branch": rung.parent is not None,
                     "batch_size": rung.batch_size, "lr_peak": float(schedule.peak),
                     "warmup": int(schedule.warmup), "beta2": rung.beta2})
    return rows


RECIPE_COLUMNS = ("batch", "lr", "warmup", "beta2")


def recipe_cells(row: dict) -> tuple[str, ...]:
    """A rung's recipe columns for the --dry-run table (with an optimizer.recipe: its batch in
    sequences, peak LR, warmup steps and beta2, which differ per size)."""
    return (f"{row['batch_size']:,}", f"{row['lr_peak']:.3g}", f"{row['warmup']:,}",
            f"{row['beta2']:g}")


def row_steps(rung) -> list[int]:
    """The steps at which a rung writes rows: every eval_every steps after its branch point
    (0 for a rung that is not a branch), and its last step."""
    steps = range(rung.branch_step + 1, rung.steps + 1)
    return [s for s in steps if s % rung.eval_every == 0 or s == rung.steps]


def task_sequences(rung) -> int:
    """Sequences a rung scores at each row: one per option of every task item."""
    from ladders.tasks import OPTIONS, load_jsonl, split_entry

    count = len(rung.tasks) * rung.task_items * OPTIONS
    for name, path in map(split_entry, rung.task_files):
        count += sum(len(item.options) for item in load_jsonl(path, name).items)
    return count


def compute(rows: list[dict]) -> dict:
    """What a ladder costs against separate dedicated runs, from `estimate` rows or per-run
    dicts with `flops`, `flops_own`, `stable`: {"spent", "stable", "branches", "dedicated",
    "ratio"}. `spent` sums every run's own FLOPs (stable runs + branch decays); `dedicated` is
    the FLOPs of training every budget (every run but the stable ones) from scratch."""
    spent = sum(r["flops_own"] for r in rows)
    stable = sum(r["flops_own"] for r in rows if r["stable"])
    dedicated = sum(r["flops"] for r in rows if not r["stable"])
    return {"spent": spent, "stable": stable, "branches": spent - stable,
            "dedicated": dedicated, "ratio": spent / dedicated if dedicated else float("nan")}


def compute_line(summary: dict) -> str:
    """One line: the ladder's FLOPs spent against dedicated runs for the same budgets."""
    return (f"compute: {summary['spent']:.3g} FLOPs spent (stable runs {summary['stable']:.3g} "
            f"+ branches {summary['branches']:.3g}); dedicated runs for the same budgets: "
            f"{summary['dedicated']:.3g} FLOPs; ratio {summary['ratio']:.2f}")
