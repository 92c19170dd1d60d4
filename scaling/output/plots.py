"""Figures of fits and predictions, drawn on `matplotlib.figure.Figure` objects with the Agg canvas.

pyplot and the global backend are never touched, so importing or calling this module leaves a
notebook's own plots alone. Every figure follows the same rules:

- observed data are markers, a law's predictions are lines (`gid` "observed" / "fitted" /
  "predicted" on the artists, for tests);
- the title says what is observed and what is predicted;
- legends hold at most `MAX_LEGEND` entries of at most `MAX_NAME` characters (run ids are cut to
  the part that tells them apart);
- nothing is clipped (constrained layout; labels inside an axes are kept only where they fit);
- no text under `MIN_FONT` points, at `DPI` dots per inch;
- curves that coincide for a while (a constant-LR run and a WSD run before its decay) stay
  visible: each curve gets its own line style and width, the widest drawn first;
- a curve figure shows the whole run and, zoomed, its last `ZOOM` of steps (where schedules
  differ), with the learning rate of every update from step 1 below.

`fit_figure` / `plot_fit`: a fit against the rows it was fitted on. `plot_curve` / `plot_curves`: the
predicted curves of LR schedules (`law.predict_schedule`). Panels whose axes are a scale column
of the law (parameters and tokens, steps) shade the fitted range (gid "fitted-range"), so what
lies outside it reads as extrapolation.
"""

from __future__ import annotations

import contextlib
import re
import textwrap
from pathlib import Path

import numpy as np

from scaling.data.schedules import ScheduleError, lr_array, parse
from scaling.output.atomic import atomic_path

DPI = 120
MIN_FONT = 8            # points
MAX_LEGEND = 10         # entries
MAX_NAME = 28           # characters of a legend entry
ZOOM = 0.3              # the last 30% of the steps, zoomed
FITTED = {"color": "#2ca02c", "alpha": 0.10, "lw": 0}   # the fitted range's shade
FITTED_LABEL = "fitted range"
STYLE = {"font.size": 10, "axes.titlesize": 10, "axes.labelsize": 10, "xtick.labelsize": 9,
         "ytick.labelsize": 9, "legend.fontsize": 9, "figure.titlesize": 11,
         "axes.formatter.limits": (-3, 4)}
# Line styles of curves k = 0, 1, …: each differs from the others in dash or width, widest first,
# so a curve drawn over another one (same values up to a decay) leaves the one below visible.
LINES = (("-", 4.0), ("--", 2.2), ("-", 1.3), (":", 2.6), ("-.", 1.8), ((0, (6, 2, 1, 2)), 1.5),
         ((0, (1, 1)), 1.2), ((0, (8, 3)), 1.1), ((0, (3, 1, 1, 1, 1, 1)), 1.0), ("-", 0.8))
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*")
TAB10 = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
         "#bcbd22", "#17becf")


@contextlib.contextmanager
def figure_style():
    """The figure's own font sizes, whatever the user's rcParams (restored on exit)."""
    import matplotlib

    with matplotlib.rc_context(STYLE):
        yield


def new_figure(width: float, height: float):
    """A `Figure` with its own Agg canvas and constrained layout (not registered with pyplot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _curve_style(k: int) -> dict:
    dash, width = LINES[k % len(LINES)]
    return {"color": TAB10[k % len(TAB10)], "ls": dash, "lw": width}


def _marker_style(k: int, points: int = 0) -> dict:
    """Hollow markers of curve k, each shape and size its own (the first largest), smaller
    where a curve has many points (so they do not merge into a band)."""
    size = max(7.0 - 0.8 * k, 4.0) * min(1.0, np.sqrt(60 / max(points, 1)))
    return {"ls": "none", "marker": MARKERS[k % len(MARKERS)], "ms": max(size, 3.0),
            "mfc": "none", "mec": TAB10[k % len(TAB10)], "mew": 1.0}


# -- names ---------------------------------------------------------------------------------------
def short_names(names) -> tuple[dict, str]:
    """({name: short name}, the common pattern): the tokens (split at - _ / space) that every name
    shares at its start and end are dropped, so "cpu-…-tok-constant-s0" becomes "constant"; the
    pattern shows them with "*" for the part that differs ("" when nothing is shared). Names
    longer than `MAX_NAME` are cut in the middle."""
    names = [str(n) for n in names]
    split = [re.split(r"([-_/ ])", n) for n in names]
    head = tail = 0
    if len(names) > 1:
        shortest = min(len(tokens) for tokens in split)
        while head < shortest and len({tokens[head] for tokens in split}) == 1:
            head += 1
        while (tail < shortest - head
               and len({tokens[len(tokens) - 1 - tail] for tokens in split}) == 1):
            tail += 1
    cut = ["".join(tokens[head:len(tokens) - tail]).strip("-_/ ") for tokens in split]
    if len(names) < 2 or not all(cut) or len(set(cut)) < len(cut):
        return {n: _clip(n) for n in names}, ""
    first = split[0]
    pattern = "".join(first[:head]) + "*" + "".join(first[len(first) - tail:])
    return {n: _clip(c) for n, c in zip(names, cut)}, pattern if pattern != "*" else ""


def _clip(text: str, limit: int = MAX_NAME) -> str:
    if len(text) <= limit:
        return text
    keep = limit - 1
    return text[:keep - keep // 2] + "…" + text[len(text) - keep // 2:]


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.fill(line, width, break_on_hyphens=False,
                                   break_long_words=False) for line in text.split("\n"))


# -- fits ----------------------------------------------------------------------------------------
def plot_fit(fit, data, path) -> Path:
    """Save `fit_figure` of a fit (`scaling.engine.fit.Fit`) and the rows it was fitted on."""
    return _save(fit_figure(fit, data), path)


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
    figure.suptitle(_wrap(
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


# -- curves --------------------------------------------------------------------------------------
class _CurvePanels:
    """The four axes of a curve figure: the target over the whole run and zoomed on its last
    `ZOOM` of steps (top), and the learning rate below each (x shared by column)."""

    def __init__(self, figure):
        grid = figure.add_gridspec(2, 2, height_ratios=(3.0, 1.3), width_ratios=(1.5, 1.0))
        self.whole = figure.add_subplot(grid[0, 0], gid="whole")
        self.zoom = figure.add_subplot(grid[0, 1], gid="zoom")
        self.lr_whole = figure.add_subplot(grid[1, 0], sharex=self.whole, gid="lr")
        self.lr_zoom = figure.add_subplot(grid[1, 1], sharex=self.zoom, gid="lr zoom")
        self.bands = []                  # (x, lower, upper) of intervals, for the zoom's y range
        self.end = 1.0
        self.right = 0.0                 # the right-most thing drawn in the zoom (error bars)
        self.fitted = None               # (first, last) fitted step: shaded in the top panels

    @property
    def top(self):
        return (self.whole, self.zoom)

    @property
    def bottom(self):
        return (self.lr_whole, self.lr_zoom)

    def finish(self, ylabel: str):
        start = self.end * (1 - ZOOM)
        pad = 0.02 * self.end
        self.whole.set_xlim(0, self.end + pad)
        right = max(self.end, self.right) + pad
        self.zoom.set_xlim(start, right)
        ticks = self.zoom.get_xticks()               # no step ticks past the schedule's end
        self.zoom.set_xticks(ticks[(ticks >= start) & (ticks <= self.end)])
        low, high = _range_in(self.zoom, start, right, self.bands)
        if np.isfinite(low) and high > low:
            margin = 0.08 * (high - low)
            self.zoom.set_ylim(low - margin, high + margin)
        for ax in self.bottom:
            ax.set_ylim(bottom=0)
            ax.set_xlabel("step")
        self.lr_whole.set_ylabel("learning rate")
        for ax in (self.whole, self.lr_whole):
            ax.axvspan(start, self.end + pad, color="0.92", zorder=0, lw=0)
        if self.fitted is not None:
            for ax in self.top:
                ax.axvspan(*self.fitted, **FITTED, zorder=0.5, gid="fitted-range")
        for ax in self.top:
            ax.tick_params(labelbottom=False)
            ax.grid(alpha=0.3)
        for ax in self.bottom:
            ax.grid(alpha=0.3)
        self.whole.set_ylabel(ylabel)
        self.whole.set_title("whole run (shaded: zoomed at right)")
        self.zoom.set_title(f"last {ZOOM:.0%} of the steps, zoomed")


def _range_in(ax, start, stop, bands) -> tuple[float, float]:
    """The y range of an axes' lines (and interval bands) over start ≤ x ≤ stop."""
    values = []
    for line in ax.lines:
        x, y = np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
        values.append(y[(x >= start) & (x <= stop)])
    for x, lower, upper in bands:
        keep = (x >= start) & (x <= stop)
        values += [lower[keep], upper[keep]]
    values = np.concatenate(values) if values else np.array([])
    values = values[np.isfinite(values)]
    return (values.min(), values.max()) if len(values) else (np.nan, np.nan)


def _curve_fit_figure(fit, data):
    from matplotlib.lines import Line2D

    rows = data.frame
    fitted = np.asarray(fit.predict_rows(data), float)
    runs = list(dict.fromkeys(rows["run"]))
    names, pattern = short_names(runs)
    figure = new_figure(12.0, 7.5)
    panels = _CurvePanels(figure)
    handles = []
    run_of = rows["run"].to_numpy()
    steps_all = rows["step"].to_numpy(float)
    target_all = rows[fit.target].to_numpy(float)
    most = max(np.count_nonzero(run_of == run) for run in runs)
    for k, run in enumerate(runs):
        mask = run_of == run
        order = np.argsort(steps_all[mask])
        steps, observed = steps_all[mask][order], target_all[mask][order]
        curve = _curve_style(k)
        markers = _marker_style(k, most)
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
        handles = [Line2D([], [], color="0.3", **{k: v for k, v in _marker_style(0).items()
                                                  if k != "mec"}, label="observed"),
                   Line2D([], [], color="0.3", lw=1.5, label="fitted")]
    steps_fitted = getattr(fit, "fitted_range_", {}).get("step")
    if steps_fitted:
        panels.fitted = tuple(steps_fitted)
        if len(handles) < MAX_LEGEND:
            handles.append(_fitted_handle())
    panels.finish(fit.target)
    figure.suptitle(_wrap(
        f"{fit.title}, fitted to {len(runs)} runs" + (f" ({pattern})" if pattern else "")
        + f"\nmarkers: observed {fit.target} ({len(rows)} points, steps "
        f"{int(steps_all.min())}–{int(steps_all.max())}); lines: the fitted law "
        f"(objective {fit.objective_:.3g})", 120))
    _legend(figure, handles, title="run" if len(runs) <= MAX_LEGEND else None)
    return figure


def _fitted_handle():
    from matplotlib.patches import Patch

    return Patch(**FITTED, label=f"{FITTED_LABEL} (steps)")


def _legend(figure, handles, title=None):
    figure.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 5),
                  title=title, handlelength=3.5)


def _schedule_lr(curve, label):
    """(update numbers 1 … T, the LR of each) of the curve's schedule (`curve.attrs["schedule"]`,
    set by `predict_schedule`, else `label` when it is a schedule string); else the curve's own
    (step, lr) rows."""
    for text in (curve.attrs.get("schedule"), label):
        if not text:
            continue
        try:
            lr = lr_array(parse(str(text)))
        except (ScheduleError, KeyError, ValueError):
            continue
        return np.arange(1, len(lr) + 1), lr
    return curve["step"].to_numpy(float), curve["lr"].to_numpy(float)


def _source(curves) -> str:
    titles = {c.attrs.get("law") for c in curves if c.attrs.get("law")}
    return f" by the fitted {titles.pop()}" if len(titles) == 1 else " by the fitted law"


def plot_curve(curve, label, path, *, target: str, observed=None, interval: str | None = None,
               level: float = 0.95, fitted_steps=None) -> Path:
    """A predicted curve (step, lr, `target`, lower, upper) with its LR below, and optionally an
    observed curve (step, `target`) on top, as markers. `interval` is the kind of the band
    ("calibrated", "run", "law"; None: the law's) at `level`; `fitted_steps` (first, last), the
    law's fitted step range (`fitted_range_["step"]`), is shaded."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    with figure_style():
        figure = new_figure(12.0, 7.5)
        panels = _CurvePanels(figure)
        style = {"color": "crimson", "ls": "-", "lw": 1.8}
        steps = curve["step"].to_numpy(float)
        handles = [Line2D([], [], **style, label=f"predicted {target}")]
        lower, upper = curve["lower"].to_numpy(float), curve["upper"].to_numpy(float)
        banded = np.isfinite(lower).any()
        for ax in panels.top:
            ax.plot(steps, curve[target], **style, zorder=2, gid="predicted")
            if banded:
                ax.fill_between(steps, lower, upper, color="crimson", alpha=0.18, lw=0,
                                gid="interval")
        if banded:
            panels.bands.append((steps, lower, upper))
            handles.append(Patch(color="crimson", alpha=0.18,
                                 label=f"{level:.0%} interval ({interval or 'law'})"))
        if observed is not None:
            marker = {**_marker_style(0), "mec": "black", "ms": 4.5}
            for ax in panels.top:
                ax.plot(observed["step"], observed[target], **marker, zorder=3, gid="observed")
            handles.append(Line2D([], [], **marker, label=f"observed {target}"))
        x, lr = _schedule_lr(curve, label)
        for ax in panels.bottom:
            ax.plot(x, lr, color="0.3", lw=1.5, gid="lr")
        panels.end = max(steps.max(), x.max())
        if fitted_steps is not None:
            panels.fitted = tuple(fitted_steps)
            handles.append(_fitted_handle())
        panels.finish(f"predicted {target}")
        schedule = curve.attrs.get("schedule") or str(label)
        seen = "markers: observed" if observed is not None else "nothing observed"
        figure.suptitle(_wrap(f"Predicted {target} of one LR schedule{_source([curve])}\n"
                              f"line: predicted; {seen}; schedule {schedule}", 120))
        _legend(figure, handles)
        return _save(figure, path)


def plot_curves(curves: dict, label, path, *, target: str, interval: str | None = None,
                level: float = 0.95, fitted_steps=None) -> Path:
    """Several predicted curves ({name: curve}) with their LRs below, and each curve's final
    interval in the zoomed panel (`interval`: its kind, None: the law's; at `level`);
    `fitted_steps` (first, last), the law's fitted step range, is shaded."""
    from matplotlib.lines import Line2D

    with figure_style():
        figure = new_figure(12.0, 7.5)
        panels = _CurvePanels(figure)
        names, _ = short_names(curves)
        handles = []
        for k, (name, curve) in enumerate(curves.items()):
            style = _curve_style(k)
            steps = curve["step"].to_numpy(float)
            for ax in panels.top:
                ax.plot(steps, curve[target], **style, zorder=2, gid="predicted")
            x, lr = _schedule_lr(curve, None)
            for ax in panels.bottom:
                ax.plot(x, lr, **style, gid="lr")
            panels.end = max(panels.end, steps.max(), x.max())
            handles.append(Line2D([], [], **style, label=names[str(name)]))
        # each curve's final interval just right of the curves' end, side by side
        offsets = 0.012 * panels.end * np.arange(1, len(curves) + 1)
        banded = False
        for k, (curve, offset) in enumerate(zip(curves.values(), offsets)):
            last = curve.iloc[-1]
            if not (np.isfinite(last["lower"]) and np.isfinite(last["upper"])):
                continue
            banded = True
            x = float(last["step"]) + offset
            panels.zoom.errorbar([x], [last[target]],
                                 yerr=[[last[target] - last["lower"]],
                                       [last["upper"] - last[target]]],
                                 color=TAB10[k % len(TAB10)], capsize=3, lw=1.2, fmt="none",
                                 gid="interval")
            panels.bands.append((np.array([x]), np.array([last["lower"]]),
                                 np.array([last["upper"]])))
            panels.right = max(panels.right, x)
        if banded:
            handles.append(Line2D([], [], color="0.3", marker="|", ms=10, ls="none",
                                  label=f"final {level:.0%}"
                                        + (f" ({interval})" if interval else " interval")))
        if fitted_steps is not None:
            panels.fitted = tuple(fitted_steps)
            handles.append(_fitted_handle())
        panels.finish(f"predicted {target}")
        figure.suptitle(_wrap(
            f"Predicted {target} of {len(curves)} LR schedules{_source(curves.values())}\n"
            f"lines: predicted (nothing observed); common settings: "
            f"{str(label).replace(',', ', ')}", 120))
        _legend(figure, handles, title="schedule")
        return _save(figure, path)


def _save(figure, path) -> Path:
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=DPI, format=Path(path).suffix[1:] or "png")
    return Path(path)
