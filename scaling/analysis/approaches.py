"""Compute-optimal allocation by Hoffmann et al.'s three approaches: N_opt = k_N·C^a, D_opt = k_D·C^b.

Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models" (arXiv:2203.15556),
section 3 and Table 2 (a = 0.50, 0.49, 0.46 and b = 0.50, 0.51, 0.54 by approaches 1, 2, 3).
C is the training compute of a row: its `flops` column, else 6·N·D (`scaling.data.runs.read_runs`).

- **Approach 1** (`approach1`, training curves): every row of every run is a point (N, D, C, L).
  Each run's curve is interpolated linearly in (log C, L) between its rows; on a grid of budgets
  (log-spaced over the FLOPs the curves span) the lower envelope is the least loss any run
  reaches at that budget, and the run that reaches it gives N_opt (its size) and D_opt = C/(6N).
  log N_opt and log D_opt are then fitted against log C by least squares. An envelope point led
  by the smallest (or largest) model size of the table brackets no optimum: the best size there
  may be below (above) the sizes run, and on curves whose early FLOPs sit on the smallest model
  those points pull a far down (0.36 for a true 0.52). They are dropped and named in a warning,
  as approach 2 drops its unbracketed budgets; points led by the smallest (largest) model that
  reaches their FLOPs, where smaller (larger) runs stop short of them, are kept and warned of.
  It needs curves: runs with 2 rows or more, and 2 sizes on the envelope between the edges.
  The paper's runs each used a cosine cycle matched to its length, so an intermediate row of a
  longer run is a little worse than a run that stops there; a table of such runs puts the
  envelope a little high, as the paper's did.
- **Approach 2** (`approach2`, isoFLOP profiles): the points are grouped into budgets: runs whose
  final rows share a budget within a relative tolerance (10% by default: Chinchilla's isoFLOP
  runs), or, with `rows="all"`, every row at a budget (constant-LR runs whose checkpoints are
  the budgets; one row per run and budget, the nearest). Per budget, loss against log N is fitted
  by a parabola (or interpolated by Akima's spline, `interpolation="akima"`) and its minimum
  gives N_opt and D_opt = C/(6·N_opt). A budget whose lowest measured loss is at its smallest or
  largest N does not bracket its optimum and is dropped (and said so), as is one with fewer than
  3 sizes, a parabola that is not convex, or a vertex outside the sizes measured. Then
  log N_opt = log k + a·log C by least squares over 3 budgets or more.
- **Approach 3** (`approach3`, parametric): the `chinchilla` law fitted to final losses;
  a = β/(α+β), b = α/(α+β), k_N = G·6^(−a), k_D = 6^(−b)/G with G = (αA/(βB))^(1/(α+β)).

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
from scipy.interpolate import Akima1DInterpolator

from scaling.data.runs import final_rows
from scaling.data.units import check_flops_column, messages
from scaling.engine.diagnostics import cut_run_warnings, cut_runs_message
from scaling.engine.fitting import check_bootstrap
from scaling.errors import ScalingError
from scaling.laws import get_law
from scaling.output.format import format_number, table, with_interval

TOLERANCE = 0.1
INTERPOLATIONS = ("parabola", "akima")
ROWS = ("final", "all")
GRID = 100
MIN_BUDGETS = 3
MIN_SIZES = 3
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

def _columns(frame: pd.DataFrame, source) -> pd.DataFrame:
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


def _line(log_c, log_y) -> tuple[float, float]:
    """(intercept, slope) of log y on log C by least squares."""
    slope, intercept = np.polyfit(log_c, log_y, 1)
    return float(intercept), float(slope)


def _allocation_laws(point, samples, level) -> tuple[PowerLaw, PowerLaw]:
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


def _power_laws(log_c, log_n, log_d, samples, level):
    """PowerLaw of N_opt and D_opt from the point fit and the bootstrap's samples (K, 4)."""
    (kn, a), (kd, b) = _line(log_c, log_n), _line(log_c, log_d)
    return _allocation_laws((kn, a, kd, b), samples, level)


def _check_level(level):
    if not 0 < level < 1:
        raise ScalingError(f"the interval level must be in (0, 1), got {level}")


def _bootstrap_samples(draw, bootstrap, seed):
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


def _unit_warnings(frame, source) -> list[str]:
    """flops-units and tokens-per-param of the table (`scaling.data.units`)."""
    return messages(frame, source)


def _bootstrap_warning(bootstrap, failed):
    if bootstrap and failed:
        return [f"{failed} of {bootstrap} bootstrap resamples gave no exponent (too few usable "
                "budgets or sizes) and are left out of the intervals"]
    return []


# -- approach 1: the lower envelope of the training curves -----------------------------------------

def _curves(points: pd.DataFrame):
    """[(run, N, sorted log C, loss at them)] of the runs with 2 rows or more."""
    out = []
    for run, rows in points.groupby("run", sort=True):
        rows = rows.sort_values("flops")
        log_c = np.log(rows["flops"].to_numpy())
        if len(rows) >= 2 and log_c[-1] > log_c[0]:
            out.append((run, float(rows["params"].iloc[0]), log_c, rows["loss"].to_numpy()))
    return out


def _envelope(curves, grid):
    """The envelope at each log budget of `grid` where a run covers it: (log C, run index, loss,
    edge). `edge` says whether the optimum there is bracketed, as approach 2 asks of a budget's
    lowest loss: "smallest" ("largest") where the leader is the smallest (largest) model size of
    the curves, so the optimum may lie below (above) the sizes run; "smallest reaching"
    ("largest reaching") where smaller (larger) models were run but none reaches that budget, so
    they were not compared there; "" where runs both smaller and larger reach it."""
    losses = np.full((len(curves), len(grid)), np.inf)
    for k, (_, _, log_c, loss) in enumerate(curves):
        inside = (grid >= log_c[0]) & (grid <= log_c[-1])
        losses[k, inside] = np.interp(grid[inside], log_c, loss)
    best = np.argmin(losses, axis=0)
    columns = np.arange(len(grid))
    covered = np.isfinite(losses[best, columns])
    sizes = np.array([c[1] for c in curves])
    leader = sizes[best]
    reach = np.isfinite(losses)
    below = (reach & (sizes[:, None] < leader[None, :])).any(axis=0)
    above = (reach & (sizes[:, None] > leader[None, :])).any(axis=0)
    edge = np.select([leader <= sizes.min(), leader >= sizes.max(), ~below, ~above],
                     ["smallest", "largest", "smallest reaching", "largest reaching"], "")
    return grid[covered], best[covered], losses[best, columns][covered], edge[covered]


def _edge_spans(log_c, edge, runs, kinds):
    """Contiguous spans of envelope points whose edge is one of `kinds`:
    [{"from": C, "to": C, "edge", "points", "runs"}]."""
    spans = []
    for k in np.flatnonzero(np.isin(edge, kinds)):
        flops = float(np.exp(log_c[k]))
        if spans and spans[-1]["end"] == k - 1 and spans[-1]["edge"] == edge[k]:
            spans[-1].update(end=int(k), to=flops, points=spans[-1]["points"] + 1)
            spans[-1]["runs"].add(runs[k])
        else:
            spans.append({"from": flops, "to": flops, "edge": str(edge[k]), "points": 1,
                          "runs": {runs[k]}, "end": int(k)})
    return [{"from": s["from"], "to": s["to"], "edge": s["edge"], "points": s["points"],
             "runs": sorted(s["runs"])} for s in spans]


def _describe_spans(spans) -> str:
    """'6e+14 to 3e+16 FLOPs led by the smallest model (n00); …'"""
    def runs(names):
        return ", ".join(names[:3]) + (", …" if len(names) > 3 else "")

    return "; ".join(f"{s['from']:.3g} to {s['to']:.3g} FLOPs led by the {s['edge']} model "
                     f"({runs(s['runs'])})" for s in spans)


def approach1(frame: pd.DataFrame, grid: int = GRID, bootstrap: int = 0, seed: int = 0,
              level: float = 0.95, source="run table") -> Approach:
    """Approach 1 on every row of every run (see the module docstring)."""
    _check_level(level)
    points = _columns(frame, source)
    curves = _curves(points)
    if len(curves) < 2:
        raise ScalingError(f"{source}: approach 1 needs training curves (runs with 2 rows or "
                           f"more at different FLOPs); {len(curves)} run(s) have them")
    low = min(c[2][0] for c in curves)
    high = max(c[2][-1] for c in curves)
    log_grid = np.linspace(low, high, grid)
    sizes = np.array([c[1] for c in curves])

    def fit(indices):
        chosen = [curves[k] for k in indices]
        log_c, best, loss, edge = _envelope(chosen, log_grid)
        keep = ~np.isin(edge, ("smallest", "largest"))
        n = sizes[np.asarray(indices)][best]
        if len(np.unique(n[keep])) < 2:
            return None
        log_c, best, loss, n = log_c[keep], best[keep], loss[keep], n[keep]
        log_n = np.log(n)
        log_d = log_c - np.log(6.0) - log_n
        return (*_line(log_c, log_n), *_line(log_c, log_d)), (log_c, best, loss, n)

    everything = np.arange(len(curves))
    envelope = _envelope(curves, log_grid)
    leaders = [curves[k][0] for k in envelope[1]]
    dropped = _edge_spans(envelope[0], envelope[3], leaders, ("smallest", "largest"))
    unreached = _edge_spans(envelope[0], envelope[3], leaders,
                            ("smallest reaching", "largest reaching"))
    result = fit(everything)
    if result is None:
        inner = np.unique(sizes[envelope[1][~np.isin(envelope[3], ("smallest", "largest"))]])
        raise ScalingError(
            f"{source}: approach 1: {len(inner)} model size(s) lead the envelope between the "
            "smallest and the largest size run (where those lead, the optimum is not "
            "bracketed); it needs 2 or more: runs of more sizes, whose curves overlap in FLOPs")
    (_, (log_c, best, loss, n)) = result

    def draw(rng):
        drawn = np.unique(rng.integers(0, len(curves), len(curves)))
        if len(drawn) < 2:
            return None
        out = fit(drawn)
        return None if out is None else out[0]

    samples, failed = _bootstrap_samples(draw, bootstrap, seed)
    log_d = log_c - np.log(6.0) - np.log(n)
    params_law, tokens_law = _power_laws(log_c, np.log(n), log_d, samples, level)
    minima = [BudgetMinimum(float(np.exp(c)), float(size), float(np.exp(c) / (6 * size)),
                            float(value), 1, curves[k][0])
              for c, k, value, size in zip(log_c, best, loss, n)]
    warnings = _unit_warnings(frame, source) + _bootstrap_warning(bootstrap, failed)
    distinct = len(np.unique(n))
    if distinct < 3:
        warnings.append(f"only {distinct} model sizes lead the envelope: the exponent rests on "
                        "them")
    if dropped:
        count = sum(span["points"] for span in dropped)
        warnings.append(f"{count} of {len(envelope[0])} envelope points dropped: "
                        f"{_describe_spans(dropped)}; the optimum there is not bracketed by the "
                        f"sizes run; the exponent rests on {float(np.exp(log_c[0])):.3g} to "
                        f"{float(np.exp(log_c[-1])):.3g} FLOPs")
    if unreached:
        count = sum(span["points"] for span in unreached)
        warnings.append(f"{count} of {len(envelope[0])} envelope points are led by the smallest "
                        "(largest) model that reaches their FLOPs, smaller (larger) runs stopping "
                        f"short of (starting beyond) them: {_describe_spans(unreached)}; the "
                        "optimum there may lie outside the sizes compared (curves that overlap "
                        "in FLOPs bracket it)")
    return Approach(1, params_law, tokens_law, minima, [], warnings, len(curves), bootstrap,
                    failed, level, samples,
                    {"grid": grid, "sizes_on_envelope": int(distinct), "dropped_envelope": dropped,
                     "unbracketed_envelope": unreached})


# -- approach 2: isoFLOP profiles ----------------------------------------------------------------

def isoflop_budgets(frame: pd.DataFrame, tolerance: float = TOLERANCE, rows: str = "final",
                    budgets=None, source="run table") -> list[pd.DataFrame]:
    """The points grouped into budgets, in increasing FLOPs; one row per run and budget (its
    nearest). `rows`: "final" (each run's final row) or "all" (every row). With `budgets` (FLOP
    values) each point joins the nearest budget within a factor (1 + tolerance), and the group's
    `budget` is that value; without, budgets are found where the points are densest: the point
    with the most others within a factor (1 + tolerance) is a budget's centre, those within that
    factor of it join it, and so on with the points left (isoFLOP runs whose FLOPs scatter a few
    percent, as read from a figure, stay together). Points that join no budget are left out."""
    if rows not in ROWS:
        raise ScalingError(f"rows must be one of {', '.join(ROWS)}, got {rows!r}")
    if not 0 < tolerance < 1:
        raise ScalingError(f"--tolerance must be in (0, 1), got {tolerance:g}")
    points = _columns(frame, source)
    if rows == "final":
        keep = final_rows(frame).index
        points = points.iloc[[frame.index.get_loc(i) for i in keep]]
    points = points.sort_values("flops", kind="stable").reset_index(drop=True)
    logs = np.log(points["flops"].to_numpy(float))
    width = math.log1p(tolerance)
    label = np.full(len(points), -1)
    centres = []
    if budgets is not None:
        given = np.log(np.sort(np.asarray(budgets, float)))
        nearest = np.argmin(np.abs(logs[:, None] - given[None, :]), axis=1)
        close = np.abs(logs - given[nearest]) <= width
        label[close] = nearest[close]
        centres = list(np.exp(given))
    else:
        near = np.abs(logs[:, None] - logs[None, :]) <= width
        while (label < 0).any():
            free = label < 0
            counts = (near & free[None, :]).sum(axis=1) * free
            centre = int(np.argmax(counts))
            members = near[centre] & free
            label[members] = len(centres)
            centres.append(None)
    points["budget"] = label
    out = []
    for number, group in points[points["budget"] >= 0].groupby("budget", sort=True):
        centre = centres[number] or float(np.exp(np.log(group["flops"]).mean()))
        distance = np.abs(np.log(group["flops"] / centre))
        group = group.assign(distance=distance, budget=centre).sort_values("distance",
                                                                           kind="stable")
        out.append(group.drop_duplicates("run").drop(columns=["distance"])
                   .sort_values("params", kind="stable").reset_index(drop=True))
    return sorted(out, key=lambda g: g["budget"].iloc[0])


def budget_minimum(points: pd.DataFrame, interpolation: str = "parabola"):
    """(log N_opt, loss there) of one budget's points, or (None, reason) when it has none."""
    log_n = np.log(points["params"].to_numpy(float))
    loss = points["loss"].to_numpy(float)
    sizes = np.unique(np.round(log_n, 9))
    if len(sizes) < MIN_SIZES:
        return None, f"{len(sizes)} model size(s); a profile needs {MIN_SIZES}"
    lowest = log_n[np.argmin(loss)]
    if np.isclose(lowest, sizes[0]):
        return None, "lowest loss at its smallest model: the optimum is below the sizes run"
    if np.isclose(lowest, sizes[-1]):
        return None, "lowest loss at its largest model: the optimum is above the sizes run"
    if interpolation == "parabola":
        c2, c1, c0 = np.polyfit(log_n, loss, 2)
        if c2 <= 0:
            return None, "the parabola is not convex"
        vertex = -c1 / (2 * c2)
        if not sizes[0] < vertex < sizes[-1]:
            return None, "the parabola's minimum lies outside the sizes run"
        return (float(vertex), float(c0 + c1 * vertex + c2 * vertex ** 2)), None
    means = pd.Series(loss).groupby(np.round(log_n, 9)).mean()
    spline = Akima1DInterpolator(means.index.to_numpy(float), means.to_numpy(float))
    fine = np.linspace(means.index[0], means.index[-1], 2001)
    values = spline(fine)
    k = int(np.nanargmin(values))
    return (float(fine[k]), float(values[k])), None


def approach2(frame: pd.DataFrame, tolerance: float = TOLERANCE, rows: str = "final",
              interpolation: str = "parabola", budgets=None, bootstrap: int = 0, seed: int = 0,
              level: float = 0.95, source="run table") -> Approach:
    """Approach 2 (see the module docstring)."""
    _check_level(level)
    if interpolation not in INTERPOLATIONS:
        raise ScalingError(f"interpolation must be one of {', '.join(INTERPOLATIONS)}, got "
                           f"{interpolation!r}")
    groups = isoflop_budgets(frame, tolerance, rows, budgets, source)
    kept, minima, dropped = [], [], []
    for points in groups:
        flops = float(points["budget"].iloc[0])
        found, reason = budget_minimum(points, interpolation)
        if found is None:
            dropped.append(DroppedBudget(flops, len(points), reason))
            continue
        kept.append(points)
        params = float(np.exp(found[0]))
        minima.append(BudgetMinimum(flops, params, flops / (6 * params), found[1], len(points)))
    if len(minima) < MIN_BUDGETS:
        useful = [d for d in dropped if not d.reason.startswith(("0 ", "1 ", "2 "))]
        why = "; ".join(sorted({d.reason for d in useful})) or \
            f"no budget has {MIN_SIZES} model sizes within {tolerance:.0%} of its FLOPs"
        raise ScalingError(f"{source}: approach 2 needs {MIN_BUDGETS} budgets with an interior "
                           f"minimum, found {len(minima)} of {len(groups)} ({why})")
    log_c = np.log([m.flops for m in minima])
    log_n = np.log([m.params for m in minima])

    def draw(rng):
        c, n = [], []
        for points in kept:
            sample = points.iloc[rng.integers(0, len(points), len(points))]
            found, _ = budget_minimum(sample, interpolation)
            if found is not None:
                c.append(math.log(points["budget"].iloc[0]))
                n.append(found[0])
        if len(c) < MIN_BUDGETS:
            return None
        c, n = np.array(c), np.array(n)
        return (*_line(c, n), *_line(c, c - np.log(6.0) - n))

    samples, failed = _bootstrap_samples(draw, bootstrap, seed)
    params_law, tokens_law = _power_laws(log_c, log_n, log_c - np.log(6.0) - log_n, samples,
                                         level)
    warnings = _unit_warnings(frame, source) + _bootstrap_warning(bootstrap, failed)
    cut = frame.attrs.get("cut_runs") or {}
    if rows == "final" and cut:
        warnings.append(cut_runs_message(cut, frame.attrs.get("where"), "approach 2"))
    edge = [d for d in dropped if d.reason.startswith("lowest loss")]
    if edge:
        warnings.append(f"{len(edge)} budget(s) dropped: their lowest loss is at the edge of the "
                        "sizes run, so the optimum is not bracketed")
    n_runs = int(pd.concat(kept)["run"].nunique())
    return Approach(2, params_law, tokens_law, minima, dropped, warnings, n_runs, bootstrap,
                    failed, level, samples,
                    {"tolerance": tolerance, "rows": rows, "interpolation": interpolation,
                     "n_budgets": len(groups),
                     "budgets": None if budgets is None else [float(b) for b in budgets]})


# -- approach 3: the chinchilla law --------------------------------------------------------------

def chinchilla_allocation(values: dict) -> np.ndarray:
    """(K, 4) log k_N, a, log k_D, b from the chinchilla law's reported parameters (arrays)."""
    A, B = np.asarray(values["A"], float), np.asarray(values["B"], float)
    alpha, beta = np.asarray(values["alpha"], float), np.asarray(values["beta"], float)
    with np.errstate(all="ignore"):
        log_g = (np.log(alpha * A) - np.log(beta * B)) / (alpha + beta)
        a, b = beta / (alpha + beta), alpha / (alpha + beta)
        return np.stack([log_g - a * np.log(6.0), a, -b * np.log(6.0) - log_g, b], axis=-1)


def approach3(runs, where: str | None = None, bootstrap: int = 0, seed: int = 0,
              n_jobs: int | None = None, level: float = 0.95) -> Approach:
    """Approach 3: the chinchilla law fitted to the runs' final rows (with its bootstrap)."""
    _check_level(level)
    fit = get_law("chinchilla", confidence=level).fit(
        runs, where=where, bootstrap=bootstrap, seed=seed, n_jobs=n_jobs, calibrate=False)
    point = chinchilla_allocation({k: [v] for k, v in fit.params_.items()})[0]
    samples = None
    if len(fit.bootstrap_theta_):
        samples = chinchilla_allocation(fit.law.reported(fit.bootstrap_theta_))
        samples = samples[np.isfinite(samples).all(axis=1)]
    params_law, tokens_law = _allocation_laws(point, samples, level)
    warnings = _unit_warnings(runs, str(runs.attrs.get("source", "run table"))) \
        if isinstance(runs, pd.DataFrame) else []
    if not fit.converged_:
        warnings.append(f"the chinchilla fit did not converge: {fit.message_}")
    if fit.at_bound_:
        warnings.append(f"the chinchilla fit ends on a bound: {', '.join(fit.at_bound_)}")
    warnings += [w["message"] for w in cut_run_warnings(fit)]
    failed = bootstrap - (0 if samples is None else len(samples)) if bootstrap else 0
    return Approach(3, params_law, tokens_law, [], [], warnings, fit.n_runs_, bootstrap, failed,
                    level, samples,
                    {"fit": {k: float(v) for k, v in fit.params_.items()},
                     "where": fit.data_.get("where")})


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
