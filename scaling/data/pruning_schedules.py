"""Gradual pruning schedules: when a run prunes, to what density, and its average parameter count.

A schedule prunes the *prunable* weights (the runner's: the linear layers' matrices; never
embeddings, norms or biases) by global magnitude, in n events every `every` steps between a start
and an end given as fractions of the run's training compute, to a final sparsity S:

    geometric (Jin et al. 2025):  each event keeps a fraction 1 − s, s = 1 − (1 − S)^(1/n),
                                  so the density after event k (k = 0 … n−1) is (1 − s)^(k+1)
    cubic (Zhu & Gupta 2017):     the sparsity after event k is S·(1 − (1 − (k+1)/n)^3)
                                  (their s_t with initial sparsity 0, t0 one interval before our
                                  first event: our n events are their n non-trivial ones)

Both end at density 1 − S after the last event. The events are at steps e_k = a + k·every for
k = 0 … n−1, n = (b − a) // every + 1, where a and b are the steps at which the run has used the
fractions `start` and `end` of its compute; an event at step t happens after update t (at step 0:
before any update, a model sparse from initialisation). Compute is proportional to the active
(non-zero) parameters, so those steps are not `start · steps`: pruning makes the later steps
cheaper and the run's total compute smaller, so the dense prefix reaches a given fraction of it
at an earlier step (geometric to S = 0.75 from 25% to 75% of compute, 400 steps of a model 75%
prunable: from step 63 to step 253, not 100 to 300). a and b solve
C(a) ≥ start·C(T) (the first such step) and the same for b, where C(t) is the compute of updates
1 … t; the solution is a fixed point found by iterating from a = start·T, b = end·T (a few
rounds). "Prune from 25% to 75% of compute" (Jin et al.) is `start = 0.25, end = 0.75`.

Counts are whole weights: an event keeps round(density · prunable) of them. Active parameters are
params − prunable + kept (the rest of the model stays dense). The average parameter count N̄ of a
run (the sparse law's N, Jin et al. 2025 eq. 2) weights each update by its tokens; every update
has the same tokens, so N̄ over the first t updates is the mean of the active count during them.

A run's schedule is written as a string, like an LR schedule:

    geometric:sparsity=0.5,start=0.25,end=0.75,every=10,steps=400,prunable=30000

(`steps` and `prunable`, the run's length and prunable weight count, make it exact for one run;
the runner writes them). Papers: Jin, Gale, Kim, … 2025, "The Journey Matters: Average Parameter
Count over Pre-training Unifies Sparse and Dense Scaling Laws" (ICLR 2025, arXiv:2501.12486);
Zhu & Gupta 2017, "To prune, or not to prune" (arXiv:1710.01878), eq. 1.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

from scaling.errors import ScalingError

KINDS = ("geometric", "cubic")


class PruningError(ScalingError):
    """A pruning schedule string or setting that cannot be used."""


@dataclass(frozen=True)
class Pruning:
    """A gradual pruning schedule (see the module docstring)."""

    kind: str                      # "geometric" or "cubic"
    sparsity: float                # final sparsity S of the prunable weights, in [0, 1)
    start: float = 0.25            # fraction of training compute where pruning starts
    end: float = 0.75              # fraction of training compute where it ends
    every: int = 10                # steps between pruning events
    steps: int | None = None       # the run's optimizer steps (needed for its events)
    prunable: int | None = None    # the run's prunable weights (needed for its counts)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise PruningError(f"pruning schedule {self.kind!r}: expected one of "
                               f"{', '.join(KINDS)}")
        if not 0 <= self.sparsity < 1:
            raise PruningError(f"pruning sparsity must be in [0, 1), got {self.sparsity!r}")
        if not 0 <= self.start <= self.end <= 1:
            raise PruningError("pruning start and end must satisfy 0 <= start <= end <= 1, got "
                               f"start={self.start!r}, end={self.end!r}")
        if not (isinstance(self.every, (int, np.integer)) and self.every >= 1):
            raise PruningError(f"pruning every must be a positive integer, got {self.every!r}")
        for key in ("steps", "prunable"):
            value = getattr(self, key)
            if value is not None and not (isinstance(value, (int, np.integer)) and value >= 0):
                raise PruningError(f"pruning {key} must be a non-negative integer, got {value!r}")

    @property
    def dense(self) -> bool:
        return self.sparsity == 0

    def for_run(self, steps: int, prunable: int) -> "Pruning":
        """This schedule for one run of `steps` steps and `prunable` prunable weights."""
        return replace(self, steps=int(steps), prunable=int(prunable))

    def __str__(self) -> str:
        parts = [f"sparsity={self.sparsity!r}", f"start={self.start!r}", f"end={self.end!r}",
                 f"every={self.every}"]
        parts += [f"{key}={getattr(self, key)}" for key in ("steps", "prunable")
                  if getattr(self, key) is not None]
        return f"{self.kind}:{','.join(parts)}"

    # -- the schedule ----------------------------------------------------------------------------
    def densities(self, events: int) -> np.ndarray:
        """The prunable weights' density after each of `events` events (k = 0 … events−1)."""
        k = np.arange(1, events + 1, dtype=float)
        if self.kind == "geometric":
            return (1.0 - self.sparsity) ** (k / events)
        return 1.0 - self.sparsity * (1.0 - (1.0 - k / events) ** 3)

    def plan(self, params: float) -> "PruningPlan":
        """The run's events and active parameter counts; `params` is its dense count."""
        if self.steps is None or self.prunable is None:
            raise PruningError(f"pruning schedule {self}: needs steps= and prunable= for a run")
        if self.prunable > params:
            raise PruningError(f"pruning schedule {self}: prunable={self.prunable} is more than "
                               f"the run's {params:g} parameters")
        steps = self.steps
        if self.dense or steps == 0:
            return PruningPlan(self, float(params), np.empty(0, int), np.empty(0, int))
        first, last = int(round(self.start * steps)), int(round(self.end * steps))
        seen = set()
        for _ in range(100):
            events = np.arange(first, last + 1, self.every)
            kept = np.rint(self.densities(len(events)) * self.prunable).astype(np.int64)
            plan = PruningPlan(self, float(params), events, kept)
            compute = np.concatenate([[0.0], np.cumsum(plan.active_during())])
            new = tuple(int(np.searchsorted(compute, fraction * compute[-1] * (1 - 1e-12)))
                        for fraction in (self.start, self.end))
            if new == (first, last) or new in seen:
                break
            seen.add((first, last))
            first, last = new
        return plan


@dataclass(frozen=True)
class PruningPlan:
    """One run's pruning: event steps and the prunable weights kept after each."""

    schedule: Pruning
    params: float                  # dense parameter count
    events: np.ndarray             # steps of the events (after that update; 0: at init)
    kept: np.ndarray               # prunable weights kept after each event

    def kept_after(self, steps) -> np.ndarray:
        """Prunable weights kept after update `steps` (after every event at or before it)."""
        steps = np.asarray(steps)
        done = np.searchsorted(self.events, steps, side="right")
        table = np.concatenate([[self.schedule.prunable or 0], self.kept])
        return table[done]

    def active_after(self, steps) -> np.ndarray:
        """Non-zero parameters after update `steps`: what a row at that step logs."""
        return self.params - (self.schedule.prunable or 0) + self.kept_after(steps)

    def active_during(self) -> np.ndarray:
        """Active parameters during each update 1 … steps (after the events before it)."""
        return self.active_after(np.arange(self.schedule.steps))

    def average_params(self, steps=None) -> np.ndarray:
        """N̄ over the first `steps` updates (default: the whole run), each update weighted by
        its tokens (all equal)."""
        total = self.schedule.steps
        steps = np.asarray(total if steps is None else steps)
        if np.any(steps < 1) or np.any(steps > total):
            raise PruningError(f"average over {steps} steps: outside 1 … {total}")
        running = np.cumsum(self.active_during())
        return running[steps - 1] / steps


def parse(text) -> Pruning:
    """A `Pruning` from its string (`geometric:sparsity=0.5,start=0.25,...`); "dense" or ""
    (no pruning) gives None."""
    text = str(text).strip()
    if text in ("", "dense", "none"):
        return None
    kind, _, options = text.partition(":")
    values: dict = {}
    types = {f.name: f.type for f in fields(Pruning)}
    for item in filter(None, (part.strip() for part in options.split(","))):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in types or key == "kind":
            raise PruningError(f"pruning schedule {text!r}: bad option {item!r} (options: "
                               "sparsity, start, end, every, steps, prunable)")
        try:
            number = float(value)
        except ValueError:
            raise PruningError(f"pruning schedule {text!r}: {key} is not a number") from None
        if key in ("every", "steps", "prunable"):
            if number != int(number):
                raise PruningError(f"pruning schedule {text!r}: {key} must be an integer")
            number = int(number)
        if key in values and values[key] != number:     # the last one does not silently win
            raise PruningError(f"pruning schedule {text!r}: {key} given twice, "
                               f"{key}={values[key]:g} and {key}={number:g}")
        values[key] = number
    if "sparsity" not in values:
        raise PruningError(f"pruning schedule {text!r}: needs sparsity=")
    return Pruning(kind.strip(), **values)


def average_from_rows(tokens, active, params) -> np.ndarray:
    """N̄ at each row of one run from its logged `params_active` alone (no schedule): the
    token-weighted mean of the active count, linear between rows (trapezoid), from the dense
    count `params` at token 0. Pruning events fall between rows at unknown points, so this is
    exact only for dense runs and approximate (to half the change between two rows) otherwise."""
    tokens = np.asarray(tokens, float)
    active = np.asarray(active, float)
    order = np.argsort(tokens, kind="stable")
    t = np.concatenate([[0.0], tokens[order]])
    a = np.concatenate([[float(params)], active[order]])
    area = np.cumsum(np.diff(t) * (a[1:] + a[:-1]) / 2)
    out = np.empty_like(tokens)
    out[order] = area / t[1:]
    return out
