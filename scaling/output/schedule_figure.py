"""The figure of a schedule comparison (`scaling.plot_schedules(fit.compare_schedules(...))`),
drawn on a `matplotlib.figure.Figure` with the Agg canvas as `scaling.output.plots` draws
(pyplot untouched; nothing written).

Top: each variant's predicted curve of the target (a line) with its interval shaded, and the
observed curves of a run table, when given, as markers (one marker per `schedule`, else per run;
a schedule of a variant's kind, "wsd:…" for "wsd 20%", in that variant's colour). Below: each
variant's learning rate. Variants of one kind (wsd 10% and 20%) share a colour and differ in
line style.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from scaling.errors import ScalingError
from scaling.output.figure_style import MARKERS, TAB10, figure_style, new_figure

COLUMNS = ("variant", "step", "lr", "lower", "upper")
STYLES = ("-", "--", ":", "-.")


def plot_schedules(comparison: pd.DataFrame, observed: pd.DataFrame | None = None):
    """A Figure of `comparison` (what `Fit.compare_schedules` returns: variant, step, lr, the
    target, lower, upper); `observed`: a run table (step and the target) drawn as markers.
    The top panel shows the values past the first 10% of the steps (the early rows, far above,
    are cut)."""
    target = comparison.attrs.get("target")
    missing = [c for c in (*COLUMNS, target) if c is None or c not in comparison.columns]
    if missing:
        raise ScalingError("plot_schedules takes the table Fit.compare_schedules returns "
                           f"(variant, step, lr, the target, lower, upper); it lacks {missing}")
    with figure_style():
        figure = new_figure(8.0, 6.0)
        top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=(3, 1))
        colours, seen = {}, []
        for name, curve in comparison.groupby("variant", sort=False):
            kind = str(name).split()[0]
            colour = colours.setdefault(kind, TAB10[len(colours) % len(TAB10)])
            style = STYLES[seen.count(kind) % len(STYLES)]
            seen.append(kind)
            # each curve thinner than the one before: curves that coincide stay visible
            width = max(3.2 - 0.6 * (len(seen) - 1), 1.0)
            top.plot(curve["step"], curve[target], color=colour, ls=style, lw=width,
                     gid="predicted", label=f"{name} (predicted)")
            if np.isfinite(curve["lower"].to_numpy(float)).any():
                top.fill_between(curve["step"], curve["lower"], curve["upper"], color=colour,
                                 alpha=0.15, lw=0, gid="interval")
            bottom.plot(curve["step"], curve["lr"], color=colour, ls=style, lw=width, gid="lr")
        if observed is not None:
            by = "schedule" if "schedule" in observed.columns else "run"
            for k, (name, rows) in enumerate(observed.groupby(by, sort=True)):
                kind = str(name).split(":")[0]          # a schedule's kind: its variants' colour
                top.plot(rows["step"], rows[target], ls="none", marker=MARKERS[k % len(MARKERS)],
                         ms=3, color=colours.get(kind, "0.25"), mec="black", mew=0.4,
                         gid="observed", label=f"{kind} (observed)")
        top.set_ylim(*_shown_range(comparison, observed, target))
        top.set_ylabel(target)
        top.legend(fontsize=8, ncols=2)
        bottom.set_xlabel("step")
        bottom.set_ylabel("learning rate")
        level, kind = comparison.attrs.get("level"), comparison.attrs.get("interval")
        band = f"; shaded: {level:.0%} {kind} interval" if kind and level else ""
        figure.suptitle(f"{target} by the fitted {comparison.attrs.get('law', 'law')}\nlines: "
                        f"predicted; markers: observed{band}")
        return figure


def _shown_range(comparison, observed, target) -> tuple[float, float]:
    """The y range of the predicted (and observed) values past the first 10% of the steps."""
    frames = [comparison] + ([observed] if observed is not None else [])
    last = max(float(frame["step"].max()) for frame in frames)
    values = np.concatenate([frame.loc[frame["step"] > 0.1 * last, column].to_numpy(float)
                             for frame in frames for column in (target, "lower", "upper")
                             if column in frame.columns])
    low, high = np.nanmin(values), np.nanmax(values)
    return low - 0.05 * (high - low), high + 0.05 * (high - low)
