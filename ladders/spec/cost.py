"""What a ladder costs: parameters, tokens, FLOPs and estimated time per rung (for --dry-run),
and a branched ladder's compute against dedicated runs for the same budgets."""

from __future__ import annotations

# Assumed sustained training throughput for --dry-run time estimates, FLOP/s (a spec's
# ladder.flops_per_second replaces it).
DEFAULT_FLOPS_PER_SECOND = {"cpu": 1.5e10, "cuda": 2.0e14}


def estimate(rungs, device: str, flops_per_second: float | None = None) -> list[dict]:
    """Params, tokens, FLOPs and estimated seconds of each rung (a `ladders.spec.Rung`).

    `tokens`, `steps` and `flops` count from step 0 (a branch's shared prefix included: what a
    dedicated run of that budget costs); `flops_own` and `seconds` count only what the rung
    trains itself (a branch: its steps after the branch point).
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
        rows.append({"run": rung.run, "params": counts["total"],
                     "params_nonembed": counts["nonembedding"], "tokens": rung.tokens,
                     "steps": rung.steps, "flops": flops, "flops_own": flops_own,
                     "seconds": flops_own / rate, "stable": bool(rung.branch_points),
                     "branch": rung.parent is not None})
    return rows


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
