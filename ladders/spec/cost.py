"""What a ladder costs: parameters, tokens, FLOPs and estimated time per rung (for --dry-run),
and a branched ladder's compute against dedicated runs for the same budgets."""

from __future__ import annotations

from scaling.data.schedules import parse

# Assumed sustained training throughput for --dry-run time estimates, FLOP/s (a spec's
# ladder.flops_per_second replaces it).
DEFAULT_FLOPS_PER_SECOND = {"cpu": 1.5e10, "cuda": 2.0e14}


def estimate(rungs, device: str, flops_per_second: float | None = None) -> list[dict]:
    """Params, tokens, FLOPs and estimated seconds of each rung (a `ladders.spec.Rung`).

    `tokens`, `steps` and `flops` count from step 0 (a branch's shared prefix included: what a
    dedicated run of that budget costs); `flops_own` and `seconds` count only what the rung
    trains itself (a branch: its steps after the branch point); `batch_size`, `lr_peak`,
    `warmup` (steps) and `beta2` are what an optimizer.recipe sets per size. `seconds` adds the
    rung's task scoring (`flops_tasks`: a forward pass, a third of the training FLOPs per token,
    over every option's window at each of its rows; the held-out evaluation is not counted).
    """
    from ladders import model as gpt

    rate = flops_per_second or DEFAULT_FLOPS_PER_SECOND["cuda" if device == "cuda" else "cpu"]
    rows = []
    for rung in rungs:
        config = gpt.GPTConfig(**rung.model)
        counts = gpt.parameter_counts(config)
        per_token = gpt.flops_per_token(config)
        flops = per_token * rung.tokens
        flops_own = per_token * (rung.steps - rung.branch_step) * rung.batch_size * rung.context
        flops_tasks = per_token / 3 * task_sequences(rung) * rung.context * len(row_steps(rung))
        schedule = parse(rung.schedule)
        rows.append({"run": rung.run, "params": counts["total"],
                     "params_nonembed": counts["nonembedding"], "tokens": rung.tokens,
                     "steps": rung.steps, "flops": flops, "flops_own": flops_own,
                     "flops_tasks": flops_tasks, "seconds": (flops_own + flops_tasks) / rate,
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
