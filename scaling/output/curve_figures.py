"""Figures of predicted curves (`law.predict_schedule`; `scaling predict --schedule` and
`--compare`): `plot_curve` draws one curve with its interval band, `plot_curves` several with each
one's final interval; and `CurvePanels`, the layout of every curve figure (fitted curves too,
`scaling.output.fit_figures`): the target over the whole run and zoomed on its last `ZOOM` of
steps, the learning rate of every update from step 1 below each. The fitted step range is shaded
(gid "fitted-range"). The rules of every figure: `scaling.output.figure_style`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scaling.data.schedules import ScheduleError, lr_array, parse
from scaling.output.figure_style import (FITTED, TAB10, curve_style, figure_style,
                                         fitted_steps_handle, legend_below, marker_style,
                                         new_figure, save_figure, short_names, wrap_title)

ZOOM = 0.3              # the last 30% of the steps, zoomed


class CurvePanels:
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
        panels = CurvePanels(figure)
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
            marker = {**marker_style(0), "mec": "black", "ms": 4.5}
            for ax in panels.top:
                ax.plot(observed["step"], observed[target], **marker, zorder=3, gid="observed")
            handles.append(Line2D([], [], **marker, label=f"observed {target}"))
        x, lr = _schedule_lr(curve, label)
        for ax in panels.bottom:
            ax.plot(x, lr, color="0.3", lw=1.5, gid="lr")
        panels.end = max(steps.max(), x.max())
        if fitted_steps is not None:
            panels.fitted = tuple(fitted_steps)
            handles.append(fitted_steps_handle())
        panels.finish(f"predicted {target}")
        schedule = curve.attrs.get("schedule") or str(label)
        seen = "markers: observed" if observed is not None else "nothing observed"
        figure.suptitle(wrap_title(f"Predicted {target} of one LR schedule{_source([curve])}\n"
                              f"line: predicted; {seen}; schedule {schedule}", 120))
        legend_below(figure, handles)
        return save_figure(figure, path)


def plot_curves(curves: dict, label, path, *, target: str, interval: str | None = None,
                level: float = 0.95, fitted_steps=None) -> Path:
    """Several predicted curves ({name: curve}) with their LRs below, and each curve's final
    interval in the zoomed panel (`interval`: its kind, None: the law's; at `level`);
    `fitted_steps` (first, last), the law's fitted step range, is shaded."""
    from matplotlib.lines import Line2D

    with figure_style():
        figure = new_figure(12.0, 7.5)
        panels = CurvePanels(figure)
        names, _ = short_names(curves)
        handles = []
        for k, (name, curve) in enumerate(curves.items()):
            style = curve_style(k)
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
            handles.append(fitted_steps_handle())
        panels.finish(f"predicted {target}")
        figure.suptitle(wrap_title(
            f"Predicted {target} of {len(curves)} LR schedules{_source(curves.values())}\n"
            f"lines: predicted (nothing observed); common settings: "
            f"{str(label).replace(',', ', ')}", 120))
        legend_below(figure, handles, title="schedule")
        return save_figure(figure, path)
