"""Figures of fits: `fit_figure` / `plot_fit` draw a fit (`scaling.engine.fit.Fit`) against the
rows it was fitted on. Laws of whole curves: each run's observed and fitted curve, whole and
zoomed (`scaling.output.curve_figures.CurvePanels`); others: observed vs fitted and, for laws of
params and tokens, the iso-target contours over (N, D) with the fitted (N, D) box shaded and,
where the law allocates compute, iso-FLOP lines and the compute-optimal frontier. The rules of
every figure: `scaling.output.figure_style`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scaling.output.curve_figures import CurvePanels
from scaling.output.figure_style import (FITTED, FITTED_LABEL, MAX_LEGEND, curve_style,
                                         figure_style, fitted_steps_handle, legend_below,
                                         marker_style, new_figure, save_figure, short_names,
                                         wrap_title)


def plot_fit(fit, data, path) -> Path:
    """Save `fit_figure` of a fit (`scaling.engine.fit.Fit`) and the rows it was fitted on."""
    return save_figure(fit_figure(fit, data), path)


def fit_figure(fit, data, ax=None):
    """A figure of a fit against the rows it was fitted on (`PreparedRuns`, or a run table that
    the law's `prepare` accepts).

    Laws of whole curves: each run's observed target against step (markers) with the fitted
    curve (lines), whole and zoomed on the last steps, and each run's LR below. Others: observed
    vs fitted target on the rows the law fits (`Law.fit_rows`), and for laws of params and tokens
    the iso-target contours of the fitted surface over (N, D) with the runs as markers coloured
    by their target, and, where the law allocates compute, iso-compute lines and the
    compute-optimal frontier. With `ax` (a matplotlib Axes): only the observed-vs-fitted panel,
    drawn on it; its figure is returned.
    """
    with figure_style():
        data = fit.law.prepare(data)
        if ax is not None:
            points = fit.law.fit_rows(data)
            inputs = fit.law.inputs_from(points, data.lr_histories)
            _observed_vs_fitted(ax, fit, points[fit.target].to_numpy(float),
                                fit.predict_inputs(inputs), inputs)
            return ax.figure
        if fit.rows == "all" and "step" in data.frame.columns:
            return _curve_fit_figure(fit, data)
        return _fit_figure(fit, data)


def _fit_figure(fit, data):
    points = fit.law.fit_rows(data)
    inputs = fit.law.inputs_from(points, data.lr_histories)
    actual = points[fit.target].to_numpy(float)
    fitted = fit.predict_inputs(inputs)
    surface = set(fit.inputs) == {"params", "tokens"}
    figure = new_figure(13.0 if surface else 7.5, 6.0)
    axes = figure.subplots(1, 2 if surface else 1, squeeze=False)[0]
    handles = _observed_vs_fitted(axes[0], fit, actual, fitted, inputs)
    if surface:
        more, contours = _iso_target(axes[1], fit, inputs, actual)
        handles += more
    what = f"observed {fit.target} of {len(actual)} {'runs' if fit.rows == 'final' else 'points'}"
    figure.suptitle(wrap_title(
        f"{fit.title}\n" + (f"markers: {what}; lines: the fitted law" if surface else
                            f"{what} (markers) against the fitted law")
        + f" (objective {fit.objective_:.3g})", 110 if surface else 85))
    figure.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 5))
    if surface:
        _label_iso_target(axes[1], fit, contours)
    return figure


def _observed_vs_fitted(ax, fit, actual, fitted, inputs) -> list:
    from matplotlib.lines import Line2D

    colour = np.log10(inputs[fit.inputs[0]])
    points = ax.scatter(fitted, actual, c=colour, s=22, cmap="plasma", alpha=0.85,
                        edgecolors="black", linewidths=0.3, zorder=3, gid="observed")
    low, high = min(actual.min(), fitted.min()), max(actual.max(), fitted.max())
    ax.plot([low, high], [low, high], color="black", lw=1.2, ls="--", zorder=2, gid="reference")
    ax.set_xlabel(f"fitted {fit.target}")
    ax.set_ylabel(f"observed {fit.target}")
    ax.set_title(f"observed vs fitted {fit.target}")
    ax.figure.colorbar(points, ax=ax, label=f"log10 {fit.inputs[0]}")
    return [Line2D([], [], ls="none", marker="o", color="grey", mec="black", mew=0.3,
                   label=f"observed ({'run' if fit.rows == 'final' else 'point'})"),
            Line2D([], [], color="black", lw=1.2, ls="--", label="y = x: a perfect fit")]


def _levels(surface, actual) -> np.ndarray:
    """About 10 round contour levels over the surface, up to a little beyond the observed range."""
    from matplotlib.ticker import MaxNLocator

    finite = surface[np.isfinite(surface)]
    span = np.ptp(actual) or abs(actual.mean()) or 1.0
    low = max(np.percentile(finite, 1), actual.min() - 0.5 * span)
    high = min(np.percentile(finite, 99), actual.max() + 0.25 * span)
    levels = MaxNLocator(nbins=10, steps=[1, 2, 2.5, 5, 10]).tick_values(low, high)
    return levels[(levels > finite.min()) & (levels < finite.max())]


def _iso_target(ax, fit, inputs, actual):
    from matplotlib.colors import Normalize
    from matplotlib.lines import Line2D

    params, tokens = inputs["params"], inputs["tokens"]
    n_grid = np.logspace(np.log10(params.min()) - 0.5, np.log10(params.max()) + 1.5, 200)
    d_grid = np.logspace(np.log10(tokens.min()) - 0.5, np.log10(tokens.max()) + 1.5, 200)
    n_mesh, d_mesh = np.meshgrid(n_grid, d_grid)
    surface = fit.predict_values(params=n_mesh.ravel(),
                                 tokens=d_mesh.ravel()).reshape(n_mesh.shape)
    surface = np.where(np.isfinite(surface), surface, np.nan)
    norm = Normalize(actual.min(), actual.max())       # one colour scale for runs and contours
    levels = _levels(surface, actual)
    contours = ax.contour(n_mesh, d_mesh, surface, levels=levels if len(levels) else 8,
                          cmap="viridis_r", norm=norm, linewidths=1.3)
    contours.set_gid("fitted")
    points = ax.scatter(params, tokens, c=actual, cmap="viridis_r", norm=norm, s=24, zorder=3,
                        edgecolors="black", linewidths=0.4, gid="observed")
    ax.figure.colorbar(points, ax=ax, label=f"{fit.target} (runs and contours)")
    handles = [Line2D([], [], color="#21918c", lw=1.3, label=f"iso-{fit.target} contour")]
    title = f"iso-{fit.target} contours of the fitted law"
    if fit.allocates_compute:        # iso-compute lines and the frontier, in the law's model
        flops_low = float(fit.training_compute(params=n_grid.min(), tokens=d_grid.min()))
        flops_high = float(fit.training_compute(params=n_grid.max(), tokens=d_grid.max()))
        per_token = fit.training_compute(params=n_grid, tokens=np.ones_like(n_grid))
        dashes = (0, (5, 3))
        for flops in 10.0 ** np.arange(np.ceil(np.log10(flops_low)), np.log10(flops_high), 2):
            ax.plot(n_grid, flops / per_token, color="0.3", lw=1.0, ls=dashes, zorder=2,
                    gid=f"iso-compute {flops:.0e}")
        budgets = np.logspace(np.log10(flops_low), np.log10(flops_high), 200)
        frontier = fit.compute_optimal(budgets)
        ax.plot(frontier["params"][0], frontier["tokens"][0], color="crimson", lw=2.2,
                zorder=2.5, gid="fitted")
        handles += [Line2D([], [], color="crimson", lw=2.2, label="compute-optimal frontier"),
                    Line2D([], [], color="0.3", lw=1.0, ls=dashes,
                           label=f"iso-FLOPs ({fit.compute_formula})")]
        title += " and iso-FLOP lines"
    fitted = getattr(fit, "fitted_range_", {})
    if "params" in fitted and "tokens" in fitted:   # the fitted (N, D) box: beyond, extrapolation
        from matplotlib.patches import Patch, Rectangle

        (n_low, n_high), (d_low, d_high) = fitted["params"], fitted["tokens"]
        ax.add_patch(Rectangle((n_low, d_low), n_high - n_low, d_high - d_low, **FITTED,
                               zorder=0.5, gid="fitted-range"))
        handles.append(Patch(**FITTED, label=f"{FITTED_LABEL} (N, D)"))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(n_grid.min(), n_grid.max())
    ax.set_ylim(d_grid.min(), d_grid.max())
    ax.set_xlabel("parameters N")
    ax.set_ylabel("tokens D")
    ax.set_title(title)
    return handles, contours


def _label_iso_target(ax, fit, contours):
    """Label the contours (at their right-most point inside the axes) and the iso-FLOP lines
    (where they enter the axes), along the lines, on a white box; a label that would stick out of
    the axes or overlap another one is left out. Runs after the layout is final."""
    figure = ax.figure
    figure.get_layout_engine().execute(figure)
    renderer = figure.canvas.get_renderer()
    to_axes = ax.transAxes.inverted()
    placed = []
    inner = ax.bbox.padded(-3)

    def place(candidates, text, colour):
        """Put the label at the first candidate (x, y, angle) where it fits."""
        for x, y, angle in candidates:
            label = ax.text(x, y, text, rotation=angle, rotation_mode="anchor", ha="center",
                            va="center", fontsize=9, color=colour, zorder=4, clip_on=False,
                            in_layout=False, gid="label",
                            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none",
                                  "alpha": 0.85})
            box = label.get_window_extent(renderer).padded(2)       # with its white box
            if (box.x0 >= inner.x0 and box.x1 <= inner.x1 and box.y0 >= inner.y0
                    and box.y1 <= inner.y1 and not any(box.overlaps(o) for o in placed)):
                placed.append(box)
                return
            label.remove()

    def candidates(xy, order):
        """(x, y, angle along the line) at the line's vertices inside the axes, in `order`
        (a key of the axes fractions: smaller first)."""
        screen = ax.transData.transform(xy)
        frac = to_axes.transform(screen)
        inside = np.flatnonzero((frac[:, 0] > 0) & (frac[:, 0] < 1)
                                & (frac[:, 1] > 0) & (frac[:, 1] < 1))
        inside = inside[(inside > 0) & (inside < len(xy) - 1)]
        inside = inside[np.argsort(order(frac[inside]), kind="stable")]
        return [(*xy[i], _angle(screen[i - 1], screen[i + 1])) for i in inside[::4]]

    cmap, norm = contours.get_cmap(), contours.norm
    decimals = max(_decimals(level) for level in contours.levels) if len(contours.levels) else 0
    for level, path in zip(contours.levels, contours.get_paths()):
        # right-most first: the contours' labels line up along the right edge, like a scale
        spots = [spot for segment in path.to_polygons(closed_only=False) if len(segment) > 2
                 for spot in candidates(segment, lambda f: -(f[:, 0] + 0.25 * f[:, 1]))]
        spots.sort(key=lambda spot: -np.dot(to_axes.transform(ax.transData.transform(
            spot[:2])), (1.0, 0.25)))
        place(spots, f"{level:.{decimals}f}", _readable(cmap(norm(level))))
    if fit.allocates_compute:
        for line in ax.lines:
            gid = line.get_gid() or ""
            if gid.startswith("iso-compute"):
                xy = np.column_stack([line.get_xdata(), line.get_ydata()])
                # from where the line enters (the top or the left edge) down the line
                place(candidates(xy, lambda f: -f[:, 1] + f[:, 0]),
                      f"1e{int(round(np.log10(float(gid.split()[-1]))))} FLOPs", "0.2")


def _readable(colour) -> tuple:
    """The colour, darkened until text in it reads on white (relative luminance ≤ 0.35)."""
    rgb = np.asarray(colour[:3], float)
    while 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2] > 0.35:
        rgb = rgb * 0.85
    return tuple(rgb)


def _decimals(value: float) -> int:
    """The decimals that write `value` exactly (up to 4)."""
    return next((d for d in range(5) if abs(round(value, d) - value) < 1e-9), 4)


def _angle(before, after) -> float:
    """The screen angle (degrees, in [-90, 90]) of the direction from `before` to `after`."""
    angle = np.degrees(np.arctan2(after[1] - before[1], after[0] - before[0]))
    return float((angle + 90) % 180 - 90)


# -- curves of curve laws -----------------------------------------------------------------------
def _curve_fit_figure(fit, data):
    from matplotlib.lines import Line2D

    rows = data.frame
    fitted = np.asarray(fit.predict_rows(data), float)
    runs = list(dict.fromkeys(rows["run"]))
    names, pattern = short_names(runs)
    figure = new_figure(12.0, 7.5)
    panels = CurvePanels(figure)
    handles = []
    run_of = rows["run"].to_numpy()
    steps_all = rows["step"].to_numpy(float)
    target_all = rows[fit.target].to_numpy(float)
    most = max(np.count_nonzero(run_of == run) for run in runs)
    for k, run in enumerate(runs):
        mask = run_of == run
        order = np.argsort(steps_all[mask])
        steps, observed = steps_all[mask][order], target_all[mask][order]
        curve = curve_style(k)
        markers = marker_style(k, most)
        for ax in panels.top:
            ax.plot(steps, fitted[mask][order], **curve, zorder=2, gid="fitted")
            ax.plot(steps, observed, **markers, zorder=3, gid="observed")
        panels.end = max(panels.end, steps.max())
        history = (data.lr_histories or {}).get(run)
        if history is not None:
            for ax in panels.bottom:
                ax.plot(np.arange(1, len(history) + 1), history, **curve, gid="lr")
        if len(runs) <= MAX_LEGEND:
            handles.append(Line2D([], [], **{**curve, **markers, "ls": curve["ls"]},
                                  label=names[str(run)]))
    if len(runs) > MAX_LEGEND:
        handles = [Line2D([], [], color="0.3", **{k: v for k, v in marker_style(0).items()
                                                  if k != "mec"}, label="observed"),
                   Line2D([], [], color="0.3", lw=1.5, label="fitted")]
    steps_fitted = getattr(fit, "fitted_range_", {}).get("step")
    if steps_fitted:
        panels.fitted = tuple(steps_fitted)
        if len(handles) < MAX_LEGEND:
            handles.append(fitted_steps_handle())
    panels.finish(fit.target)
    figure.suptitle(wrap_title(
        f"{fit.title}, fitted to {len(runs)} runs" + (f" ({pattern})" if pattern else "")
        + f"\nmarkers: observed {fit.target} ({len(rows)} points, steps "
        f"{int(steps_all.min())}–{int(steps_all.max())}); lines: the fitted law "
        f"(objective {fit.objective_:.3g})", 120))
    legend_below(figure, handles, title="run" if len(runs) <= MAX_LEGEND else None)
    return figure
