"""Approach 1 of Hoffmann et al.'s compute-optimal allocation (`scaling.analysis.approaches`):
the lower envelope of the training curves.

`approach1`: every row of every run is a point (N, D, C, L). Each run's curve is interpolated
linearly in (log C, L) between its rows; on a grid of budgets (log-spaced over the FLOPs the
curves span) the lower envelope is the least loss any run reaches at that budget, and the run
that reaches it gives N_opt (its size) and D_opt = C/(6N). log N_opt and log D_opt are then
fitted against log C by least squares. An envelope point led by the smallest (or largest) model
size of the table brackets no optimum: the best size there may be below (above) the sizes run,
and on curves whose early FLOPs sit on the smallest model those points pull a far down (0.36 for
a true 0.52). They are dropped and named in a warning, as approach 2 drops its unbracketed
budgets; points led by the smallest (largest) model that reaches their FLOPs, where smaller
(larger) runs stop short of them, are kept and warned of. It needs curves: runs with 2 rows or
more, and 2 sizes on the envelope between the edges. The paper's runs each used a cosine cycle
matched to its length, so an intermediate row of a longer run is a little worse than a run that
stops there; a table of such runs puts the envelope a little high, as the paper's did.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from scaling.analysis.approaches import (Approach, BudgetMinimum, bootstrap_samples,
                                         bootstrap_warning, check_level, log_line, power_laws,
                                         run_points, unit_warnings)
from scaling.errors import ScalingError

GRID = 100


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
    check_level(level)
    points = run_points(frame, source)
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
        return (*log_line(log_c, log_n), *log_line(log_c, log_d)), (log_c, best, loss, n)

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

    samples, failed = bootstrap_samples(draw, bootstrap, seed)
    log_d = log_c - np.log(6.0) - np.log(n)
    params_law, tokens_law = power_laws(log_c, np.log(n), log_d, samples, level)
    minima = [BudgetMinimum(float(np.exp(c)), float(size), float(np.exp(c) / (6 * size)),
                            float(value), 1, curves[k][0])
              for c, k, value, size in zip(log_c, best, loss, n)]
    warnings = unit_warnings(frame, source) + bootstrap_warning(bootstrap, failed)
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
