"""The planning report's inputs (`scaling plan`): the fits it reads (`PlanFit`), whether a fit
can give its loss allocation, and one-line errors for a budget or options it cannot use, checked
before any work (`scaling.analysis.planning.plan` checks them again)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from scaling.data.runs import check_sensible_inputs
from scaling.data.schedules import ScheduleError, key_values
from scaling.errors import ScalingError


@dataclass
class PlanFit:
    """A fit the report reads (`scaling.engine.fit.Fit`) and the file it came from."""

    path: str
    fit: object


def allocates_loss(law) -> bool:
    """Whether a fit can give the report's loss allocation: a law of the LM loss that allocates
    compute (chinchilla, overtrain, sparse, data-constrained)."""
    return bool(law.allocates_compute) and law.space == "log"


def check_budget(budget, option: str = "--flops") -> float:
    """The training budget in FLOPs, positive and in the sensible range (`option`: how the
    command line spelled it, --flops or --budget)."""
    try:
        budget = float(budget)
    except (TypeError, ValueError):
        raise ScalingError(f"{option} must be a number of FLOPs, got {budget!r}") from None
    if not (math.isfinite(budget) and budget > 0):
        raise ScalingError(f"{option} must be positive and finite, got {budget:g}")
    check_sensible_inputs([budget], "flops", option)
    return budget


def check_plan_inputs(fits: list[PlanFit], *, unique_tokens=None, schedule=None,
                      tokens_per_step=None, inference_tokens=0.0) -> None:
    """One-line errors for inputs the report cannot use, before any work."""
    if not any(allocates_loss(f.fit) for f in fits):
        names = ", ".join(f"{f.path} ({f.fit.name})" for f in fits) or "none"
        raise ScalingError(
            "scaling plan needs a fit of a loss law that allocates compute (chinchilla, "
            f"overtrain, sparse or data-constrained) as --fit; given: {names}; make one with "
            "`scaling fit RUNS --out FIT.json`")
    if not (math.isfinite(inference_tokens) and inference_tokens >= 0):
        raise ScalingError(f"--inference-tokens must be 0 or more and finite, got "
                           f"{inference_tokens:g}")
    if unique_tokens is not None:
        if not (math.isfinite(unique_tokens) and unique_tokens > 0):
            raise ScalingError(f"--unique-tokens must be positive and finite, got "
                               f"{unique_tokens:g}")
        if not any(f.fit.advises_data_limit for f in fits):
            raise ScalingError("--unique-tokens needs a fit of the data-constrained law "
                               "(`scaling fit RUNS --law data-constrained --out FIT.json`)")
    if tokens_per_step is not None and not (math.isfinite(tokens_per_step)
                                            and tokens_per_step > 0):
        raise ScalingError(f"--tokens-per-step must be positive and finite, got "
                           f"{tokens_per_step:g}")
    if schedule is not None:
        if not any(f.fit.predicts_schedules for f in fits):
            raise ScalingError("--schedule needs a fit of an LR-schedule law (multipower, "
                               "annealing, annealing-size)")
        try:
            keys = set(key_values(schedule, schedule, "--schedule"))
        except ScheduleError as exc:
            raise ScalingError(str(exc)) from None
        if "steps" in keys:
            raise ScalingError(f"--schedule {schedule!r}: give peak=…,warmup=…,final=… without "
                               "steps (the plan derives them from D and --tokens-per-step)")
        if not keys <= {"peak", "warmup", "final"} or "peak" not in keys:
            raise ScalingError(f"--schedule {schedule!r}: expected peak=…,warmup=…,final=…")
