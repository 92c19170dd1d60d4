"""Approach 2 of Hoffmann et al.'s compute-optimal allocation (`scaling.analysis.approaches`):
isoFLOP profiles.

`approach2`: the points are grouped into budgets: runs whose
final rows share a budget within a relative tolerance (10% by default: Chinchilla's isoFLOP
runs), or, with `rows="all"`, every row at a budget (constant-LR runs whose checkpoints are
the budgets; one row per run and budget, the nearest). Per budget, loss against log N is fitted
by a parabola (or interpolated by Akima's spline, `interpolation="akima"`) and its minimum
gives N_opt and D_opt = C/(6·N_opt). A budget whose lowest measured loss is at its smallest or
largest N does not bracket its optimum and is dropped (and said so), as is one with fewer than
3 sizes, a parabola that is not convex, or a vertex outside the sizes measured. Then
log N_opt = log k + a·log C by least squares over 3 budgets or more.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.interpolate import Akima1DInterpolator

from scaling.analysis.approaches import (Approach, BudgetMinimum, DroppedBudget, bootstrap_samples,
                                         bootstrap_warning, check_level, log_line, power_laws,
                                         run_points, unit_warnings)
from scaling.data.runs import final_rows
from scaling.engine.diagnostics import cut_runs_message
from scaling.errors import ScalingError

TOLERANCE = 0.1
INTERPOLATIONS = ("parabola", "akima")
ROWS = ("final", "all")
MIN_BUDGETS = 3
MIN_SIZES = 3


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
    points = run_points(frame, source)
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
    check_level(level)
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
        return (*log_line(c, n), *log_line(c, c - np.log(6.0) - n))

    samples, failed = bootstrap_samples(draw, bootstrap, seed)
    params_law, tokens_law = power_laws(log_c, log_n, log_c - np.log(6.0) - log_n, samples,
                                         level)
    warnings = unit_warnings(frame, source) + bootstrap_warning(bootstrap, failed)
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
