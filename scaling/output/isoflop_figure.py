"""The figure of a compute-optimal allocation (`scaling.optimal(...).plot()`), drawn on a
`matplotlib.figure.Figure` with the Agg canvas as `scaling.output.plots` draws (pyplot untouched).

Left, when approach 2 ran: its isoFLOP profiles, the final loss of each run against its size N
at each budget (markers), the parabola (or Akima spline) in log N through each budget it used
(line) and that budget's minimum (a black star); a budget it dropped shows its runs alone.
Right: N_opt against the compute C by each approach (a line, its bootstrap interval shaded),
from the smallest budget the runs reach to the largest of the allocation table, with the points
approaches 1 and 2 fitted their exponents to (markers).
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import Akima1DInterpolator

from scaling.analysis.approach2_isoflop import budget_minimum, isoflop_budgets
from scaling.output.figure_style import MARKERS, TAB10, figure_style, new_figure

GRID = 60


def _profile(points, interpolation: str):
    """(N grid, loss) of one budget's parabola in log N, or of its Akima spline."""
    log_n = np.log(points["params"].to_numpy(float))
    grid = np.linspace(log_n.min(), log_n.max(), GRID)
    loss = points["loss"].to_numpy(float)
    if interpolation == "parabola":
        return np.exp(grid), np.polyval(np.polyfit(log_n, loss, 2), grid)
    means = points.assign(log_n=np.round(log_n, 9)).groupby("log_n")["loss"].mean()
    spline = Akima1DInterpolator(means.index.to_numpy(float), means.to_numpy(float))
    return np.exp(grid), spline(grid)


def _isoflop_panel(ax, runs, result) -> None:
    details = result.details
    groups = isoflop_budgets(runs, details["tolerance"], details["rows"], details["budgets"])
    for k, points in enumerate(groups):
        colour = TAB10[k % len(TAB10)]
        budget = float(points["budget"].iloc[0])
        ax.plot(points["params"], points["loss"], ls="none", marker="o", ms=4, color=colour,
                label=f"{budget:.2g}", gid="observed")
        found, _ = budget_minimum(points, details["interpolation"])
        if found is None:
            continue
        ax.plot(*_profile(points, details["interpolation"]), color=colour, lw=1.2,
                gid="fitted")
        ax.plot([np.exp(found[0])], [found[1]], ls="none", marker="*", ms=11, color="black",
                zorder=3, gid="minimum")
    ax.set_xscale("log")
    ax.set_xlabel("parameters N")
    ax.set_ylabel("final loss")
    ax.set_title("approach 2: isoFLOP profiles (★ each budget's minimum)")
    ax.legend(title="budget (FLOPs)", fontsize=8, ncols=2)


def _allocation_panel(ax, runs, results: dict, flops) -> None:
    run_flops = runs["flops"].to_numpy(float) if "flops" in runs else \
        6.0 * runs["params"].to_numpy(float) * runs["tokens"].to_numpy(float)
    start = min([float(np.min(run_flops))]
                + [m.flops for result in results.values() for m in result.minima])
    budgets = np.geomspace(start, max(max(flops), float(np.max(run_flops))), GRID)
    for k, (number, result) in enumerate(results.items()):
        colour = TAB10[k % len(TAB10)]
        point, lower, upper = result.allocation(budgets)["params"]
        ax.plot(budgets, point, color=colour, lw=1.6, gid="predicted",
                label=f"{number} {result.name}: a = {result.params.exponent:.3f}")
        if np.isfinite(lower).any():
            ax.fill_between(budgets, lower, upper, color=colour, alpha=0.15, lw=0,
                            gid="interval")
        if result.minima:
            ax.plot([m.flops for m in result.minima], [m.params for m in result.minima],
                    ls="none", marker=MARKERS[k % len(MARKERS)], ms=4, color=colour,
                    gid="observed")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training compute C (FLOPs)")
    ax.set_ylabel("compute-optimal parameters N_opt")
    ax.set_title("N_opt = k_N·C^a by each approach (markers: the points fitted)")
    ax.legend(fontsize=8)


def optimal_figure(runs, results: dict, flops):
    """The figure of `results` ({approach: `Approach`}) on `runs` (the table they ran on), up to
    the largest budget of `flops`."""
    with figure_style():
        panels = 2 if 2 in results else 1
        figure = new_figure(6.0 * panels, 4.8)
        axes = figure.subplots(1, panels, squeeze=False)[0]
        if 2 in results:
            _isoflop_panel(axes[0], runs, results[2])
        _allocation_panel(axes[-1], runs, results, flops)
        return figure
