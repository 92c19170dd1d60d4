"""The planning report's figures (`scaling.analysis.planning`), as PNG bytes, in the style of
`scaling.output.figure_style`: its own `Figure` objects (pyplot untouched), observed data as
markers and the law as lines, the fitted range shaded (gid "fitted-range"), titles that say
which is which.

- `isoflop_png`: loss against N at budgets from the fitted data's compute up to the plan's
  budget (lines), each curve's optimum (x), and the runs' final rows (markers) when given, all
  coloured by compute on one colour scale;
- `frontier_png`: N_opt(C) and D_opt(C) with the fit's 95% bootstrap band, the fitted data's
  compute shaded, the budget marked; approaches 1 and 2 dashed when the run table supports them;
- `extrapolation_png`: the loss at the compute-optimal allocation against C, with the fit's 80%
  and 95% bands (calibrated where it has them), the fitted data's compute shaded, the runs'
  final rows as markers, and the budget's prediction with its intervals.
"""

from __future__ import annotations

import io

import numpy as np

from scaling.data.runs import final_rows
from scaling.output.figure_style import DPI, FITTED, FITTED_LABEL, TAB10, figure_style, new_figure
from scaling.output.prediction_columns import interval_kind

LEVELS = (0.8, 0.95)


# -- helpers on laws (the report's too: `scaling.analysis.planning` imports them from here) ---------------

def _kind(law):
    return interval_kind(law)


def size_name(law) -> str:
    """The law's model-size input: params, or params_average (sparse)."""
    return law.inputs[0]


def inputs_at(law, size, tokens) -> dict:
    """The law's inputs for models of `size` trained on `tokens` (unique data: U = D)."""
    size, tokens = np.atleast_1d(np.asarray(size, float)), np.atleast_1d(np.asarray(tokens, float))
    values = {size_name(law): size, "tokens": tokens}
    if "unique_tokens" in law.inputs:
        values["unique_tokens"] = tokens
    return values


def loss_interval(law, inputs, level):
    kind = _kind(law)
    if kind is None:
        point = law.predict_inputs(inputs)
        nan = np.full_like(point, np.nan)
        return point, nan, nan
    if kind == "law":
        kind = "run"
    return law.interval_from_inputs(inputs, kind, level)


def _compute_range(law):
    """(least, most) training compute of the fitted data's corners, in the law's compute model."""
    size, tokens = size_name(law), "tokens"
    if size not in law.fitted_range_ or tokens not in law.fitted_range_:
        return None
    (n0, n1), (d0, d1) = law.fitted_range_[size], law.fitted_range_[tokens]
    lo = float(law.training_compute(**{size: n0, "tokens": d0}))
    hi = float(law.training_compute(**{size: n1, "tokens": d1}))
    return lo, hi



WIDTH, HEIGHT = 8.0, 4.6


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, dpi=DPI, format="png")
    return buffer.getvalue()


def _shade(ax, law):
    span = _compute_range(law)
    if span is not None:
        ax.axvspan(*span, gid="fitted-range", label=f"{FITTED_LABEL} (compute)", **FITTED)
    return span


def _budget_grid(law, budget, n=40):
    span = _compute_range(law)
    low = span[0] if span else budget / 1e4
    return np.geomspace(min(low, budget) / 2, budget * 4, n)


def _final_rows(frame, law):
    rows = final_rows(frame)
    size = law.inputs[0] if law.inputs[0] in rows else "params"
    flops = rows["flops"].to_numpy(float) if "flops" in rows else \
        6.0 * rows[size].to_numpy(float) * rows["tokens"].to_numpy(float)
    return rows[size].to_numpy(float), flops, rows[law.target].to_numpy(float) \
        if law.target in rows else rows["loss"].to_numpy(float)


def isoflop_png(law, budget, frame=None) -> bytes:
    from matplotlib import colormaps
    from matplotlib.colors import LogNorm


    size = size_name(law)
    span = _compute_range(law)
    low = span[0] if span else budget / 1e4
    with figure_style():
        figure = new_figure(WIDTH, HEIGHT)
        ax = figure.add_subplot()
        points = None
        if frame is not None:
            points = _final_rows(frame, law)
            low = min(low, float(np.min(points[1])))
        # from the fitted data's least compute to the budget, whichever is larger (a budget
        # below the data's compute gives curves from it up to the data's)
        low, high = sorted((low, budget))
        budgets = np.geomspace(low, high if high > low else low * 10, 6)
        norm = LogNorm(vmin=budgets[0], vmax=budgets[-1])
        cmap = colormaps["viridis"]
        alloc = law.compute_optimal(budgets)
        optima = alloc[size][0]
        for c, n_opt in zip(budgets, optima):
            sizes = np.geomspace(n_opt / 20, n_opt * 20, 120)
            tokens = c / np.array([float(law.training_compute(**{size: n, "tokens": 1.0}))
                                   for n in sizes])
            loss = law.predict_inputs(inputs_at(law, sizes, tokens))
            ax.plot(sizes, loss, color=cmap(norm(c)), lw=1.8, gid="predicted",
                    label=f"{c:.2g} FLOPs")
        ax.plot(optima, alloc[law.target][0], "x", color="black", ms=7, mew=1.6,
                label="optimum of each budget", gid="predicted")
        ax.plot(optima, alloc[law.target][0], ":", color="black", lw=1)
        if points is not None:
            n, flops, loss = points
            ax.scatter(n, loss, c=flops, cmap=cmap, norm=norm, s=16, marker="o",
                       edgecolors="black", linewidths=0.4, gid="observed", label="runs (final)")
        ax.set_xscale("log")
        top = float(np.max(alloc[law.target][0])) * 1.25
        if points is not None:
            top = max(top, float(np.percentile(points[2], 90)))
        ax.set_ylim(float(np.min(alloc[law.target][0])) * 0.97, top)
        ax.set_xlabel("avg params N_avg" if size == "params_average" else "params N")
        ax.set_ylabel(law.target)
        ax.set_title(f"isoFLOP curves of the {law.name} fit (lines: the law"
                     + ("; markers: runs' final rows" if points is not None else "") + ")")
        figure.colorbar(ax.collections[0] if points is not None else
                        _mappable(cmap, norm), ax=ax, label="training FLOPs")
        ax.legend(loc="upper right", fontsize=8, ncol=2)
        return _png(figure)


def _mappable(cmap, norm):
    from matplotlib.cm import ScalarMappable

    mappable = ScalarMappable(norm=norm, cmap=cmap)
    mappable.set_array([])
    return mappable


def frontier_png(law, budget, approaches=None) -> bytes:

    size = size_name(law)
    grid = _budget_grid(law, budget)
    alloc = law.compute_optimal(grid)
    with figure_style():
        figure = new_figure(WIDTH, HEIGHT)
        ax = figure.add_subplot()
        _shade(ax, law)
        for key, label, colour in ((size, "N_opt (params)", TAB10[0]),
                                   ("tokens", "D_opt (tokens)", TAB10[1])):
            point, lower, upper = alloc[key]
            ax.plot(grid, point, color=colour, lw=2, label=f"{label}, {law.name}", gid="predicted")
            if np.isfinite(lower).any():
                ax.fill_between(grid, lower, upper, color=colour, alpha=0.18, lw=0,
                                label=f"{label}: 95% bootstrap band")
        for number, result in (approaches or {}).items():
            a = result.allocation(grid)
            ax.plot(grid, a["params"][0], ls="--", color=TAB10[2 + number], lw=1.4,
                    label=f"N_opt, approach {number}", gid="predicted")
            ax.plot(grid, a["tokens"][0], ls="--", color=TAB10[2 + number], lw=1.4, alpha=0.6,
                    label=f"D_opt, approach {number}", gid="predicted")
        at = law.compute_optimal([budget])
        for key, colour in ((size, TAB10[0]), ("tokens", TAB10[1])):
            ax.plot([budget], at[key][0], "o", color=colour, ms=7, mec="black")
            ax.annotate(f"{at[key][0][0]:.3g}", (budget, at[key][0][0]), xytext=(-8, 8),
                        textcoords="offset points", ha="right", fontsize=9)
        ax.axvline(budget, color="#444", ls=":", lw=1, label=f"budget {budget:.3g}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(f"training FLOPs C ({law.compute_formula})")
        ax.set_ylabel("parameters, tokens")
        ax.set_title("compute-optimal frontier (lines: the law's optimum; band: its bootstrap)")
        ax.legend(loc="upper left", fontsize=8)
        return _png(figure)


def extrapolation_png(law, budget, frame=None) -> bytes:

    grid = _budget_grid(law, budget)
    alloc = law.compute_optimal(grid)
    inputs = {name: alloc[name][0] for name in law.inputs if name in alloc}
    bands = {level: loss_interval(law, inputs, level) for level in LEVELS}
    with figure_style():
        figure = new_figure(WIDTH, HEIGHT)
        ax = figure.add_subplot()
        _shade(ax, law)
        point = bands[0.95][0]
        for level, alpha in ((0.95, 0.15), (0.8, 0.3)):
            _, lower, upper = bands[level]
            if np.isfinite(lower).any():
                ax.fill_between(grid, lower, upper, color=TAB10[0], alpha=alpha, lw=0,
                                label=f"{100 * level:g}% interval")
        ax.plot(grid, point, color=TAB10[0], lw=2, gid="predicted",
                label=f"{law.target} at the optimum, {law.name}")
        if frame is not None:
            _, flops, loss = _final_rows(frame, law)
            ax.plot(flops, loss, ls="none", marker="o", ms=3.5, mfc="none", mec=TAB10[1],
                    gid="observed", label="runs (final rows)")
        at = law.compute_optimal([budget])
        at_inputs = {name: at[name][0] for name in law.inputs if name in at}
        p, lo, hi = loss_interval(law, at_inputs, 0.95)
        p8, lo8, hi8 = loss_interval(law, at_inputs, 0.8)
        if np.isfinite(lo).any():
            ax.errorbar([budget], p, yerr=[[p[0] - lo[0]], [hi[0] - p[0]]], fmt="none",
                        ecolor="black", capsize=5, lw=1)
            ax.errorbar([budget], p, yerr=[[p[0] - lo8[0]], [hi8[0] - p[0]]], fmt="none",
                        ecolor="black", capsize=3, lw=2.5)
        ax.plot([budget], p, "o", color="black", ms=6,
                label=f"{budget:.3g} FLOPs: {p[0]:.4g}" +
                (f" [{lo8[0]:.4g}, {hi8[0]:.4g}] 80%" if np.isfinite(lo8).any() else ""))
        ax.axvline(budget, color="#444", ls=":", lw=1)
        ax.set_xscale("log")
        ax.set_xlabel(f"training FLOPs C ({law.compute_formula})")
        ax.set_ylabel(law.target)
        low = float(np.nanmin(bands[0.95][1])) if np.isfinite(bands[0.95][1]).any() \
            else float(np.min(point))
        top = float(np.max(point))
        if frame is not None:
            top = max(top, float(np.percentile(loss, 95)))
        ax.set_ylim(low * 0.98, top * 1.02)
        ax.set_title(f"{law.target} against compute, extrapolated to the budget (line: the law; "
                     "markers: runs)" if frame is not None else
                     f"{law.target} against compute, extrapolated to the budget (line: the law)")
        ax.legend(loc="upper right", fontsize=8)
        return _png(figure)
