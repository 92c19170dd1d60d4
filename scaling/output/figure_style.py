"""The rules and the common parts of every figure (`scaling.output.fit_figures`,
`curve_figures`, `plan_figures`, and the ladders' plots): font sizes, a `matplotlib.figure.Figure`
with its own Agg canvas, curve and marker styles, short legend names, the legend, saving.

pyplot and the global backend are never touched, so importing or calling these modules leaves a
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
- a curve figure shows the whole run and, zoomed, its last `ZOOM` of steps
  (`scaling.output.curve_figures`; where schedules differ), with the learning rate of every
  update from step 1 below.

Panels whose axes are a scale column of the law (parameters and tokens, steps) shade the fitted
range (`FITTED`, gid "fitted-range"), so what lies outside it reads as extrapolation.
"""

from __future__ import annotations

import contextlib
import re
import textwrap
from pathlib import Path

import numpy as np

from scaling.output.atomic import atomic_path

DPI = 120
MIN_FONT = 8            # points
MAX_LEGEND = 10         # entries
MAX_NAME = 28           # characters of a legend entry
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


def curve_style(k: int) -> dict:
    """The line of curve k: its colour, dash and width (`LINES`)."""
    dash, width = LINES[k % len(LINES)]
    return {"color": TAB10[k % len(TAB10)], "ls": dash, "lw": width}


def marker_style(k: int, points: int = 0) -> dict:
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


def wrap_title(text: str, width: int) -> str:
    """A title wrapped at `width` characters, line by line, never inside a word or a run id."""
    return "\n".join(textwrap.fill(line, width, break_on_hyphens=False,
                                   break_long_words=False) for line in text.split("\n"))


# -- legends and saving -------------------------------------------------------------------------
def fitted_steps_handle():
    """The legend entry of the shaded fitted step range."""
    from matplotlib.patches import Patch

    return Patch(**FITTED, label=f"{FITTED_LABEL} (steps)")


def legend_below(figure, handles, title=None):
    """The figure's legend, below its axes, up to 5 entries a row."""
    figure.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 5),
                  title=title, handlelength=3.5)


def save_figure(figure, path) -> Path:
    """Write the figure to `path` atomically, in the format of its suffix (PNG without one)."""
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=DPI, format=Path(path).suffix[1:] or "png")
    return Path(path)
