"""Learning-rate schedules as data: a name and parameters, stored with every run.

A schedule is written as one string, `name:key=value,...`, e.g.

    constant:peak=1e-3,warmup=100,steps=2000
    cosine:peak=1e-3,warmup=100,steps=2000,final=1e-4
    wsd:peak=3e-4,warmup=2160,decay_start=20000,steps=24000,final=3e-5,decay=linear
    wsd:peak=1e-3,warmup=100,steps=2000,decay_fraction=0.2,decay=sqrt
    multistep:peak=1e-3,warmup=100,steps=2000,milestones=1000/1500,gamma=0.316

The run table's `schedule` column holds that string, so the LR-schedule laws can rebuild the LR
of every step with `lr_at` / `lr_array`. Steps count optimizer updates from 0; the LR of step s is
the one used for update s. Warmup is linear from peak/warmup (step 0) to peak (step warmup-1).

Decay shapes for WSD, over the decay phase with progress p from 0 to 1 (peak → final):
linear, cosine (half cosine), geometric (peak·(final/peak)^p, needs final > 0) and sqrt
(1 − sqrt(p), Hägele et al. 2024).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

KINDS = ("constant", "cosine", "wsd", "multistep")
MAX_STEPS = 10_000_000   # the longest schedule: the largest runs take about a million optimizer
#                          steps, and every step costs the curve laws 8 bytes in several arrays
DECAYS = ("linear", "cosine", "geometric", "sqrt")


class ScheduleError(ValueError):
    """A schedule string that does not parse or makes no sense (one line)."""


@dataclass(frozen=True)
class Schedule:
    kind: str                       # constant | cosine | wsd | multistep
    peak: float                     # LR after warmup
    steps: int                      # total optimizer steps
    warmup: int = 0                 # linear warmup steps
    final: float = 0.0              # cosine floor / end of WSD decay
    decay_start: int | None = None  # WSD: first step of the decay
    decay: str = "linear"           # WSD decay shape
    milestones: tuple[int, ...] = field(default_factory=tuple)  # multistep: steps where LR drops
    gamma: float = 0.1              # multistep: factor per milestone

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ScheduleError(f"unknown schedule {self.kind!r}; known: {', '.join(KINDS)}")
        if not (self.peak > 0 and math.isfinite(self.peak)):
            raise ScheduleError(f"schedule peak LR must be positive, got {self.peak}")
        if self.steps < 1:
            raise ScheduleError(f"schedule steps must be at least 1, got {self.steps}")
        if self.steps > MAX_STEPS:
            raise ScheduleError(f"schedule steps={self.steps:.4g} is beyond the {MAX_STEPS:.0e} "
                                "steps this toolkit handles (the largest training runs take about "
                                "1e6; each step costs the curve laws 8 bytes in several arrays)")
        if not 0 <= self.warmup <= self.steps:
            raise ScheduleError(f"schedule warmup must be in [0, steps], got {self.warmup}")
        if not 0 <= self.final <= self.peak:
            raise ScheduleError(f"schedule final LR must be in [0, peak], got {self.final}")
        if self.decay not in DECAYS:
            raise ScheduleError(f"unknown decay {self.decay!r}; known: {', '.join(DECAYS)}")
        if self.kind == "wsd":
            if self.decay_start is None or not self.warmup <= self.decay_start <= self.steps:
                raise ScheduleError("wsd needs decay_start (or decay_fraction) in [warmup, steps]")
            if self.decay == "geometric" and self.final <= 0:
                raise ScheduleError("geometric decay needs final > 0")
        if any(not 0 < m < self.steps for m in self.milestones):
            raise ScheduleError(f"milestones must lie in (0, steps), got {self.milestones}")

    def __str__(self) -> str:
        parts = [f"peak={self.peak:g}", f"warmup={self.warmup}", f"steps={self.steps}"]
        if self.kind in ("cosine", "wsd"):
            parts.append(f"final={self.final:g}")
        if self.kind == "wsd":
            parts += [f"decay_start={self.decay_start}", f"decay={self.decay}"]
        if self.kind == "multistep":
            parts += [f"milestones={'/'.join(map(str, self.milestones))}", f"gamma={self.gamma:g}"]
        return f"{self.kind}:{','.join(parts)}"


def key_values(text: str, rest: str, what: str = "schedule") -> dict[str, str]:
    """{key: value} of "key=value,…" (`rest`, part of `text`); a key given twice with different
    values is an error naming both (the last one does not silently win)."""
    values: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            raise ScheduleError(f"{what} {text!r}: expected key=value, got {item!r}")
        key, value = key.strip(), value.strip()
        if key in values and not _same(values[key], value):
            raise ScheduleError(f"{what} {text!r}: {key} given twice, {key}={values[key]} and "
                                f"{key}={value}")
        values[key] = value
    return values


def _same(first: str, second: str) -> bool:
    """Whether two values of a key say the same (1e3 and 1000 do)."""
    try:
        return first == second or float(first) == float(second)
    except ValueError:
        return False


def _whole(text: str, key: str, value: str) -> int:
    """A step count of a schedule string: a whole number (1e3 is 1000; 100.5 is an error, not
    100)."""
    number = float(value)
    if not math.isfinite(number) or number != round(number):
        raise ScheduleError(f"schedule {text!r}: {key}={value} is not a whole number of steps")
    return int(number)


def parse(text: str, steps: int | None = None) -> Schedule:
    """A `Schedule` from its string; `steps` fills in a missing `steps=`."""
    kind, _, rest = str(text).strip().partition(":")
    values = key_values(text, rest)
    known = {"peak", "steps", "warmup", "final", "decay_start", "decay_fraction", "decay",
             "milestones", "gamma"}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ScheduleError(f"schedule {text!r}: unknown key {unknown[0]!r}")
    try:
        total = _whole(text, "steps", values["steps"]) if "steps" in values else steps
        if total is None:
            raise ScheduleError(f"schedule {text!r}: missing steps=")
        if "peak" not in values:
            raise ScheduleError(f"schedule {text!r}: missing peak=")
        decay_start = values.get("decay_start")
        if decay_start is not None:
            decay_start = _whole(text, "decay_start", decay_start)
        elif "decay_fraction" in values:
            fraction = float(values["decay_fraction"])
            if not 0 < fraction <= 1:
                raise ScheduleError(f"schedule {text!r}: decay_fraction must be in (0, 1]")
            decay_start = total - int(round(fraction * total))
        milestones = tuple(_whole(text, "milestones", m) for m in values["milestones"].split("/")) \
            if values.get("milestones") else ()
        return Schedule(kind=kind.strip(), peak=float(values["peak"]), steps=total,
                        warmup=_whole(text, "warmup", values.get("warmup", "0")),
                        final=float(values.get("final", 0.0)), decay_start=decay_start,
                        decay=values.get("decay", "linear"), milestones=milestones,
                        gamma=float(values.get("gamma", 0.1)))
    except ScheduleError:
        raise
    except ValueError as exc:
        raise ScheduleError(f"schedule {text!r}: {exc}") from None


def lr_array(schedule: Schedule) -> np.ndarray:
    """The LR of every step 0 … steps-1, as float64."""
    s = schedule
    step = np.arange(s.steps, dtype=float)
    lr = np.full(s.steps, s.peak)
    if s.kind == "cosine":
        span = max(1, s.steps - s.warmup - 1)          # the last step sits on the floor
        progress = np.clip((step - s.warmup) / span, 0, 1)
        lr = s.final + 0.5 * (s.peak - s.final) * (1 + np.cos(np.pi * progress))
    elif s.kind == "wsd":
        span = max(1, s.steps - s.decay_start)
        progress = np.clip((step - s.decay_start + 1) / span, 0, 1)
        shape = {"linear": progress, "cosine": 0.5 * (1 - np.cos(np.pi * progress)),
                 "sqrt": np.sqrt(progress)}
        if s.decay == "geometric":
            decayed = s.peak * (s.final / s.peak) ** progress
        else:
            decayed = s.peak - (s.peak - s.final) * shape[s.decay]
        lr = np.where(step >= s.decay_start, decayed, s.peak)
    elif s.kind == "multistep":
        drops = np.searchsorted(np.array(sorted(s.milestones)), step, side="right")
        lr = s.peak * s.gamma ** drops
    if s.warmup:
        lr = np.where(step < s.warmup, s.peak * (step + 1) / s.warmup, lr)
    return lr


def lr_at(schedule: Schedule, step: int) -> float:
    """The LR of one step."""
    if not 0 <= step < schedule.steps:
        raise ScheduleError(f"step {step} outside the schedule's 0 … {schedule.steps - 1}")
    return float(lr_array(schedule)[step])
