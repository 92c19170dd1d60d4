"""Compute-optimal allocation by Hoffmann et al.'s three approaches: N_opt = k_N·C^a, D_opt = k_D·C^b.

Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models" (arXiv:2203.15556),
section 3 and Table 2 (a = 0.50, 0.49, 0.46 and b = 0.50, 0.51, 0.54 by approaches 1, 2, 3).
C is the training compute of a row: its `flops` column, else 6·N·D (`scaling.data.runs.read_runs`).

This module holds what the three share: an approach's answer (`Approach`: N_opt and D_opt as
`PowerLaw`s of C, and what they rest on), the run table's points, the least-squares lines and
the bootstrap; and `scaling optimal`'s report and JSON record of the approaches side by side.
Each approach is a module of its own:

- approach 1, the lower envelope of the training curves: `scaling.analysis.approach1_envelope`;
- approach 2, isoFLOP profiles: `scaling.analysis.approach2_isoflop`;
- approach 3, the chinchilla law's parametric fit: `scaling.analysis.approach3_parametric`.

Intervals: a bootstrap over runs (approach 1: runs drawn with replacement; approach 2: each
budget's runs drawn with replacement within the budget; approach 3: the chinchilla fit's
bootstrap), percentile intervals at `level`. A replicate that loses too many budgets to give
an exponent is left out and counted (`failed`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from scaling.data.units import check_flops_column, messages
from scaling.engine.fitting import check_bootstrap
from scaling.errors import ScalingError
from scaling.output.format import format_number, table, with_interval

NAMES = {1: "training-curve envelope", 2: "isoFLOP profiles", 3: "parametric fit (chinchilla)"}
# Hoffmann et al. 2022, Table 2: N_opt ∝ C^a, D_opt ∝ C^b, by approach
PAPER = {1: {"a": 0.50, "b": 0.50}, 2: {"a": 0.49, "b": 0.51}, 3: {"a": 0.46, "b": 0.54}}


@dataclass
class PowerLaw:
    """y = coefficient·C^exponent, with percentile intervals (NaN without a bootstrap)."""

    exponent: float
    coefficient: float
    exponent_interval: tuple[float, float] = (math.nan, math.nan)
    coefficient_interval: tuple[float, float] = (math.nan, math.nan)

    def __call__(self, flops):
        return self.coefficient * np.asarray(flops, float) ** self.exponent


@dataclass
class BudgetMinimum:
    """The optimum found at one budget (approach 2), or one point of the envelope (approach 1)."""

    flops: float
    params: float
    tokens: float
    loss: float
    n_points: int
    run: str | None = None        # approach 1: the run on the envelope


@dataclass
class DroppedBudget:
    """A budget approach 2 could not use, and why."""

    flops: float
    n_points: int
    reason: str


@dataclass
class Approach:
    """One approach's answer: N_opt and D_opt as power laws of C, what they rest on, warnings."""

    approach: int
    params: PowerLaw
    tokens: PowerLaw
    minima: list[BudgetMinimum]
    dropped: list[DroppedBudget] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    n_runs: int = 0
    bootstrap: int = 0            # resamples asked for
    failed: int = 0               # resamples that gave no exponent
    level: float = 0.95
    samples: np.ndarray | None = field(default=None, repr=False)  # (K, 4): log k_N, a, log k_D, b
    details: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return NAMES[self.approach]

    def allocation(self, flops) -> dict:
        """{"params", "tokens", "tokens_per_param": (point, lower, upper)} at each budget."""
        flops = np.atleast_1d(np.asarray(flops, float))
        point = {"params": self.params(flops), "tokens": self.tokens(flops)}
        point["tokens_per_param"] = point["tokens"] / point["params"]
        out = {}
        for key, value in point.items():
            low = high = np.full_like(value, np.nan)
            if self.samples is not None and len(self.samples):
                logs = np.log(flops)[None, :]
                log_n = self.samples[:, [0]] + self.samples[:, [1]] * logs
                log_d = self.samples[:, [2]] + self.samples[:, [3]] * logs
                sample = {"params": log_n, "tokens": log_d, "tokens_per_param": log_d - log_n}[key]
                tail = 100 * (1 - self.level) / 2
                low, high = np.exp(np.percentile(sample, [tail, 100 - tail], axis=0))
            out[key] = (value, low, high)
        return out

    def to_dict(self) -> dict:
        """A JSON-ready record (no samples)."""
        return {"approach": self.approach, "name": self.name,
                "params": asdict(self.params), "tokens": asdict(self.tokens),
                "minima": [asdict(m) for m in self.minima],
                "dropped": [asdict(d) for d in self.dropped], "warnings": list(self.warnings),
                "n_runs": self.n_runs, "bootstrap": self.bootstrap, "failed": self.failed,
                "level": self.level, "paper": PAPER[self.approach], **self.details}


# -- shared ----------------------------------------------------------------------------------------

def run_points(frame: pd.DataFrame, source) -> pd.DataFrame:
    """run, params, tokens, flops, loss as numbers (flops = 6ND where the table has none)."""
    missing = [c for c in ("run", "params", "loss") if c not in frame.columns]
    if "flops" not in frame.columns and "tokens" not in frame.columns:
        missing.append("flops (or tokens)")
    if missing:
        raise ScalingError(f"{source}: the compute-optimal approaches need column {missing[0]!r}")
    if "flops" in frame.columns:
        check_flops_column(frame, source, "each of approaches 1 and 2")
    out = pd.DataFrame({"run": frame["run"].astype(str).to_numpy(),
                        "params": pd.to_numeric(frame["params"]).to_numpy(float),
                        "loss": pd.to_numeric(frame["loss"]).to_numpy(float)})
    if "flops" in frame.columns:
        out["flops"] = pd.to_numeric(frame["flops"]).to_numpy(float)
    else:
        out["flops"] = 6.0 * out["params"] * pd.to_numeric(frame["tokens"]).to_numpy(float)
    out["tokens"] = out["flops"] / (6.0 * out["params"])
    bad = ~(np.isfinite(out[["params", "loss", "flops"]]).all(axis=1)
            & (out[["params", "loss", "flops"]] > 0).all(axis=1))
    if bad.any():
        raise ScalingError(f"{source}: row {int(np.flatnonzero(bad.to_numpy())[0]) + 1}: params, "
                           "loss and flops must be positive finite numbers")
    return out


def log_line(log_c, log_y) -> tuple[float, float]:
    """(intercept, slope) of log y on log C by least squares."""
    slope, intercept = np.polyfit(log_c, log_y, 1)
    return float(intercept), float(slope)


def allocation_laws(point, samples, level) -> tuple[PowerLaw, PowerLaw]:
    """PowerLaws of N_opt and D_opt from (log k_N, a, log k_D, b) and the bootstrap's samples of
    them (K, 4; None or empty: no intervals), with percentile intervals at `level`."""
    tail = 100 * (1 - level) / 2

    def bounds(column, exp=False):
        if samples is None or not len(samples):
            return (math.nan, math.nan)
        low, high = np.percentile(samples[:, column], [tail, 100 - tail])
        return (float(np.exp(low)), float(np.exp(high))) if exp else (float(low), float(high))

    return (PowerLaw(float(point[1]), float(np.exp(point[0])), bounds(1), bounds(0, True)),
            PowerLaw(float(point[3]), float(np.exp(point[2])), bounds(3), bounds(2, True)))


def power_laws(log_c, log_n, log_d, samples, level):
    """PowerLaw of N_opt and D_opt from the point fit and the bootstrap's samples (K, 4)."""
    (kn, a), (kd, b) = log_line(log_c, log_n), log_line(log_c, log_d)
    return allocation_laws((kn, a, kd, b), samples, level)


def check_level(level):
    if not 0 < level < 1:
        raise ScalingError(f"the interval level must be in (0, 1), got {level}")


def bootstrap_samples(draw, bootstrap, seed):
    """Run `draw(rng)` `bootstrap` times; (samples (K', 4) of the successful ones, failures)."""
    if not bootstrap:
        return None, 0
    check_bootstrap(bootstrap)
    rng = np.random.default_rng(seed)
    rows, failed = [], 0
    for _ in range(bootstrap):
        row = draw(rng)
        if row is None:
            failed += 1
        else:
            rows.append(row)
    return (np.array(rows) if rows else np.empty((0, 4))), failed


def unit_warnings(frame, source) -> list[str]:
    """flops-units and tokens-per-param of the table (`scaling.data.units`)."""
    return messages(frame, source)


def bootstrap_warning(bootstrap, failed):
    if bootstrap and failed:
        return [f"{failed} of {bootstrap} bootstrap resamples gave no exponent (too few usable "
                "budgets or sizes) and are left out of the intervals"]
    return []


# -- compute-optimal allocation by approaches 1-3 (`scaling optimal`) ----------------------------

DEFAULT_BUDGETS = (1e21, 1e22, 1e23, 1e24, 1e25)      # the allocation table's FLOPs by default


def approaches_record(results: dict, unsupported: dict, budgets, source, where=None) -> dict:
    """`scaling optimal --json`: {"source", "where", "approaches": {approach: its record},
    "unsupported": {approach: why not}, "allocation": [{"flops", "approach", <quantity>:
    {"value", "lower", "upper"}} for each budget and approach]} (NaN left as it is)."""
    allocations = {k: result.allocation(budgets) for k, result in results.items()}
    return {"source": source, "where": where,
            "approaches": {str(k): v.to_dict() for k, v in results.items()},
            "unsupported": {str(k): v for k, v in unsupported.items()},
            "allocation": [
                {"flops": float(c), "approach": k,
                 **{q: {"value": v[0][i], "lower": v[1][i], "upper": v[2][i]}
                    for q, v in allocations[k].items()}}
                for i, c in enumerate(budgets) for k in allocations]}


def approaches_report(results: dict, unsupported: dict, budgets, source, where=None) -> str:
    """Each approach's N_opt = k_N·C^a and D_opt = k_D·C^b side by side (with the paper's a), the
    allocation at `budgets` by each, approach 2's budgets (used and dropped) and the warnings.
    `results`: {approach: `scaling.analysis.approaches.Approach`}; `unsupported`: {approach: why not}."""
    first = next(iter(results.values()))
    level = f"{100 * first.level:g}%"
    boot = [r.bootstrap for r in results.values() if r.bootstrap]
    lines = ["compute-optimal allocation by Hoffmann et al.'s approaches (N_opt = k_N·C^a, "
             "D_opt = k_D·C^b, C = training FLOPs)",
             f"data      {source}" + (f" where {where}" if where else ""),
             ("intervals " + f"{level} percentile, {boot[0]} bootstrap resamples of runs"
              if boot else "intervals none (--bootstrap 0)"), ""]
    header = ("approach", "a (N_opt)", "k_N", "b (D_opt)", "k_D", "rests on", "paper's a")
    rows = []
    for number in (1, 2, 3):
        label = f"{number} {NAMES[number]}"
        if number in results:
            r = results[number]
            rests = {1: f"{len(r.minima)} envelope points, {r.n_runs} curves",
                     2: f"{len(r.minima)} budgets, {r.n_runs} runs",
                     3: f"{r.n_runs} runs"}[number]
            rows.append((label, with_interval(r.params.exponent, *r.params.exponent_interval),
                         with_interval(r.params.coefficient, *r.params.coefficient_interval),
                         with_interval(r.tokens.exponent, *r.tokens.exponent_interval),
                         with_interval(r.tokens.coefficient, *r.tokens.coefficient_interval),
                         rests, f"{PAPER[number]['a']:.2f}"))
        elif number in unsupported:
            rows.append((label, "-", "-", "-", "-", "not supported", f"{PAPER[number]['a']:.2f}"))
    lines.append(table(header, rows))
    lines.append("(paper's a: Hoffmann et al. 2022, Table 2, on their runs)")
    for number, why in unsupported.items():
        lines.append(f"approach {number} not supported: {why}")

    budgets = np.atleast_1d(np.asarray(budgets, float))
    lines += ["", f"allocation at each budget ({level} intervals)"]
    header = ("FLOPs", "approach", "params N", "tokens D", "tokens/param")
    rows = []
    for k, flops in enumerate(budgets):
        for number, r in results.items():
            allocation = r.allocation(budgets)
            rows.append((f"{flops:.3g}", str(number),
                         *(with_interval(*(v[k] for v in allocation[q]))
                           for q in ("params", "tokens", "tokens_per_param"))))
    lines.append(table(header, rows, right=("FLOPs",)))

    if 2 in results:
        r = results[2]
        lines += ["", f"approach 2: minimum of each budget ({r.details['interpolation']} in "
                      f"log N; {r.details['rows']} rows, tolerance {r.details['tolerance']:g})"]
        rows = [(f"{m.flops:.3g}", str(m.n_points), format_number(m.params), format_number(m.tokens),
                 format_number(m.loss)) for m in r.minima]
        lines.append(table(("FLOPs", "runs", "N_opt", "D_opt", "loss there"), rows,
                           right=("FLOPs", "runs")))
        small = [d for d in r.dropped if d.reason.endswith("a profile needs 3")]
        for d in r.dropped:
            if d not in small:
                lines.append(f"dropped budget {d.flops:.3g} ({d.n_points} runs): {d.reason}")
        if small:
            lines.append(f"not used: {len(small)} group(s) of {sum(d.n_points for d in small)} "
                         "runs with fewer than 3 model sizes at one budget")
    said: dict[str, list[int]] = {}        # a warning of the table, once for every approach
    for number, r in results.items():
        for w in r.warnings:
            said.setdefault(w, []).append(number)
    warnings = [f"WARNING: approach{'es' if len(numbers) > 1 else ''} "
                f"{', '.join(map(str, numbers))}: {w}" for w, numbers in said.items()]
    if warnings:
        lines += [""] + warnings
    return "\n".join(lines)
