"""Figures (scaling/output/fit_figures.py, curve_figures.py, figure_style.py): every kind of law gets its figure, labelled with its target, and
the iso-compute lines and frontier appear only for laws that allocate compute; and every figure is
readable: nothing clipped, no tiny text, short legends, observed data as markers and predictions
as lines, curves that coincide for a while both visible, the LR from step 1, and no change to
matplotlib's global state (backend, pyplot, rcParams)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.collections import PathCollection
from matplotlib.colors import to_rgb
from matplotlib.contour import ContourSet
from matplotlib.lines import Line2D
from matplotlib.text import Text

from scaling.output import curve_figures, figure_style, fit_figures
from scaling.laws import get_law
from scaling.analysis.schedule_comparison import compare_schedules
from scaling.data.runs import read_runs
from scaling.data.synthetic import (chinchilla_ladder, multipower_curves, task_ladder,
                               vocabulary_ladder)

ROOT = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"
DEMO_IDS = {"constant": "cpu-schedules-w64-d2-v256-4.92e+06tok-constant-s0",
            "cosine": "cpu-schedules-w64-d2-v256-4.92e+06tok-cosine-s0",
            "wsd": "cpu-schedules-w64-d2-v256-4.92e+06tok-wsd-s0"}


@pytest.fixture
def saved(monkeypatch):
    """Every figure saved (drawn, so its layout is final), by file name."""
    seen = {}
    save = figure_style.save_figure

    def recording(figure, path):
        result = save(figure, path)
        seen[Path(path).name] = figure
        return result

    for module in (fit_figures, curve_figures):        # each saves through its own name
        monkeypatch.setattr(module, "save_figure", recording)
    return seen


def words(figure) -> str:
    """The figure's title, axes titles and axis labels, joined."""
    return " | ".join(text for text in (
        figure._suptitle.get_text() if figure._suptitle else "",
        *(t for ax in figure.axes for t in (ax.get_title(), ax.get_xlabel(), ax.get_ylabel())))
        if text)


def tick_labels(figure) -> set:
    return {id(label) for ax in figure.axes for axis in (ax.xaxis, ax.yaxis)
            for tick in axis.get_major_ticks() + axis.get_minor_ticks()
            for label in (tick.label1, tick.label2)}


def check_readable(figure):
    """The rules every figure keeps (see scaling/output/figure_style.py)."""
    renderer = figure.canvas.get_renderer()
    box = figure.bbox.padded(1)                     # 1 px of rounding
    texts = [t for t in figure.findobj(Text) if t.get_visible() and t.get_text().strip()]
    assert texts
    for text in texts:                              # no text under the minimum size
        assert text.get_fontsize() >= figure_style.MIN_FONT, (text.get_text(), text.get_fontsize())
    ticks = tick_labels(figure)        # drawn ticks are in the tight box; undrawn ones lie anywhere
    for text in texts:
        if id(text) not in ticks:                   # nothing clipped at the figure's edges
            extent = text.get_window_extent(renderer)
            assert box.contains(extent.x0, extent.y0) and box.contains(extent.x1, extent.y1), \
                text.get_text()
    tight = figure.get_tightbbox(renderer).transformed(figure.dpi_scale_trans)
    assert box.contains(tight.x0, tight.y0) and box.contains(tight.x1, tight.y1)
    legends = [*figure.legends, *(ax.get_legend() for ax in figure.axes if ax.get_legend())]
    for legend in legends:                          # short legends, clear of every plot
        entries = [t.get_text() for t in legend.get_texts()]
        assert 0 < len(entries) <= figure_style.MAX_LEGEND, entries
        assert all(len(entry) <= figure_style.MAX_NAME for entry in entries), entries
        extent = legend.get_window_extent(renderer)
        assert not any(extent.overlaps(ax.bbox) for ax in figure.axes), "legend over a plot"
    for ax in figure.axes:                          # labels inside a plot: inside, apart
        inside = {id(t): t for t in (*ax.texts, *(t for c in ax.collections
                                                  if isinstance(c, ContourSet)
                                                  for t in c.labelTexts))}
        labels = [t.get_window_extent(renderer) for t in inside.values()
                  if t.get_visible() and t.get_text().strip()]
        for k, label in enumerate(labels):
            assert ax.bbox.contains(label.x0, label.y0) and ax.bbox.contains(label.x1, label.y1)
            assert not any(label.overlaps(other) for other in labels[k + 1:])
    title = figure._suptitle.get_text()             # the title says what is what
    artists = [a for ax in figure.axes for a in (*ax.lines, *ax.collections)]
    observed = [a for a in artists if a.get_gid() == "observed"]
    predicted = [a for a in artists if a.get_gid() in ("fitted", "predicted")]
    assert predicted or "against the fitted law" in title     # a plot of fitted vs observed
    for artist in observed:                         # observed: markers only
        if isinstance(artist, Line2D):
            assert artist.get_linestyle() == "None" and artist.get_marker() not in ("", "None")
        else:
            assert isinstance(artist, PathCollection)
    for artist in predicted:                        # predicted: lines only
        if isinstance(artist, Line2D):
            assert artist.get_linestyle() != "None" and artist.get_marker() in ("", "None")
        else:
            assert isinstance(artist, ContourSet)
    assert ("markers" in title and "observed" in title) if observed else "nothing observed" in title
    assert "lines" in title or "line:" in title or "against the fitted law" in title


def panel(figure, gid):
    (ax,) = [ax for ax in figure.axes if ax.get_gid() == gid]
    return ax


def check_curves(figure):
    """Curve figures: the LR from step ≤ 1, nothing clipped in the whole-run panel, and the
    curves of one panel told apart by their line style even where their values coincide."""
    check_readable(figure)
    lr = panel(figure, "lr")
    assert lr.get_xlim()[0] <= 1 and lr.lines
    assert all(np.min(line.get_xdata()) <= 1 for line in lr.lines)
    whole = panel(figure, "whole")
    low, high = whole.get_ylim()
    left, right = whole.get_xlim()
    for line in whole.lines:
        x, y = np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
        assert left <= x.min() and x.max() <= right
        assert low <= np.nanmin(y) and np.nanmax(y) <= high
    for ax in (whole, panel(figure, "zoom")):
        lines = [line for line in ax.lines if line.get_gid() in ("fitted", "predicted")]
        if len(lines) <= len(figure_style.LINES):
            assert len({(line.get_linestyle(), line.get_linewidth()) for line in lines}) \
                == len(lines)


def ladder():
    return chinchilla_ladder(E=1.8, A=400, B=2000, alpha=0.34, beta=0.37,
                             params=[1e7, 3e7, 1e8, 3e8], tokens_per_param=[5, 10, 20, 40],
                             noise=0.003, seed=0)


@pytest.fixture(scope="module")
def demo_multipower():
    """The demo's multi-power fit (no bootstrap) and its rows."""
    law = get_law("multipower")
    data = law.prepare(read_runs(ROOT / "data" / "cpu_schedules" / "runs.parquet"))
    data = data.select("step > 100")
    return law.fit(data, bootstrap=0, calibrate=False), data


# -- what each kind of law draws -----------------------------------------------------------------
def test_a_law_that_allocates_compute_gets_iso_compute_lines(tmp_path, saved):
    law = get_law("chinchilla").fit(ladder(), bootstrap=0, calibrate=False)
    path = fit_figures.plot_fit(law, ladder(), tmp_path / "fit.png")
    assert path.read_bytes()[:8] == PNG
    figure = saved["fit.png"]
    assert "iso-loss contours of the fitted law and iso-FLOP lines" in words(figure)
    assert "fitted loss" in words(figure) and "observed loss" in words(figure)
    check_readable(figure)


def test_a_law_of_n_and_d_without_a_compute_model_gets_contours_only(tmp_path, saved):
    law = get_law("kaplan").fit(ladder(), bootstrap=0, calibrate=False)
    fit_figures.plot_fit(law, ladder(), tmp_path / "kaplan.png")
    assert (tmp_path / "kaplan.png").read_bytes()[:8] == PNG
    figure = saved["kaplan.png"]
    assert "iso-loss contours of the fitted law" in words(figure)
    assert "iso-FLOP" not in words(figure)
    assert not [t for ax in figure.axes for t in ax.texts if "FLOPs" in t.get_text()]
    check_readable(figure)


def test_a_linear_space_law_of_three_inputs(tmp_path, saved):
    runs = vocabulary_ladder(E=5.53278, A1=875.872, alpha1=0.44661, A2=2071.77, alpha2=0.67074,
                             B=22216.1, seed=0)
    law = get_law("vocabulary").fit(runs, bootstrap=0, calibrate=False)
    fit_figures.plot_fit(law, runs, tmp_path / "vocabulary.png")
    figure = saved["vocabulary.png"]
    assert "fitted loss_unigram" in words(figure) and "contours" not in words(figure)
    check_readable(figure)


def test_a_chained_law_plots_its_target_against_the_chained_prediction(tmp_path, saved):
    runs = task_ladder(loss_params={"E": 0.3, "A": 40.0, "B": 150.0, "alpha": 0.3, "beta": 0.3},
                       accuracy_params={"a": -0.6, "b": 0.85, "k": 6.0, "L0": 1.0}, seed=0)
    law = get_law("task", task="hellaswag").fit(runs, bootstrap=0, calibrate=False)
    fit_figures.plot_fit(law, runs, tmp_path / "task.png")
    figure = saved["task.png"]
    text = words(figure)
    # step 2's points: every checkpoint but each run's first of 4 (the paper's first 10%)
    assert "observed acc:hellaswag" in text and "60 points" in text
    assert "iso-acc:hellaswag contours" in text
    check_readable(figure)


def test_curve_laws_plot_each_curve_and_predicted_schedules(tmp_path, saved):
    true = {"L0": 2.0, "A": 0.8, "alpha": 0.45, "B": 300.0, "C": 2.0, "beta": 0.6, "gamma": 0.6}
    runs = multipower_curves(true, {
        "constant": ("constant:peak=0.001,warmup=100,steps=3000", 50),
        "cosine": ("cosine:peak=0.001,warmup=100,steps=3000,final=0.0001", 50)}, noise=0.001)
    law = get_law("multipower").fit(runs, bootstrap=0, calibrate=False)
    fit_figures.plot_fit(law, runs, tmp_path / "curves.png")
    assert "step" in words(saved["curves.png"]) and "learning rate" in words(saved["curves.png"])
    check_curves(saved["curves.png"])
    schedule = "wsd:peak=0.001,warmup=100,steps=3000,final=0.0001,decay_fraction=0.2"
    curve = law.predict_schedule(schedule, every=50)
    assert curve.attrs["schedule"] == schedule and curve.attrs["law"] == law.title
    curve_figures.plot_curve(curve, "wsd", tmp_path / "curve.png", target=law.target,
                     observed=runs[runs["run"] == "cosine"])
    figure = saved["curve.png"]
    assert "Predicted loss of one LR schedule" in words(figure) and schedule in words(figure)
    check_curves(figure)
    curve_figures.plot_curves({"wsd": curve, "same": curve}, "both", tmp_path / "curves2.png",
                      target=law.target)
    assert "predicted loss" in words(saved["curves2.png"])
    check_curves(saved["curves2.png"])
    assert np.isfinite(curve["loss"]).all()


def test_many_runs_get_a_legend_of_styles_not_of_runs(tmp_path, saved):
    true = {"L0": 2.0, "A": 0.8, "alpha": 0.45, "B": 300.0, "C": 2.0, "beta": 0.6, "gamma": 0.6}
    runs = multipower_curves(true, {
        f"run-{k}": (f"wsd:peak=0.001,warmup=100,steps=1000,final=0.0001,"
                     f"decay_start={500 + 40 * k}", 50) for k in range(12)}, noise=0.001)
    law = get_law("multipower").fit(runs, bootstrap=0, calibrate=False)
    fit_figures.plot_fit(law, runs, tmp_path / "many.png")
    (legend,) = saved["many.png"].legends
    assert [t.get_text() for t in legend.get_texts()] == ["observed", "fitted",
                                                          "fitted range (steps)"]
    check_curves(saved["many.png"])


# -- the three demo figures ----------------------------------------------------------------------
def test_the_demo_chinchilla_figure_labels_its_lines_inside_the_plot(chinchilla_240, tmp_path,
                                                                     saved):
    law = get_law("chinchilla").fit(chinchilla_240, bootstrap=0, calibrate=False)
    fit_figures.plot_fit(law, chinchilla_240, tmp_path / "chinchilla-fit.png")
    figure = saved["chinchilla-fit.png"]
    check_readable(figure)
    surface = [ax for ax in figure.axes if "iso-loss" in ax.get_title()][0]
    labels = [t.get_text() for t in surface.texts if t.get_gid() == "label"]
    assert sum("FLOPs" in label for label in labels) >= 2, labels
    assert sum("FLOPs" not in label for label in labels) >= 6, labels    # iso-loss levels
    assert all(t.get_fontsize() >= 9 for t in surface.texts)
    iso_flops = [line for line in surface.lines if (line.get_gid() or "").startswith("iso-comp")]
    assert len(iso_flops) >= 3
    for line in iso_flops:                          # visible: dark enough, not hairlines
        grey = np.mean(to_rgb(line.get_color()))
        assert line.get_linewidth() >= 0.9 and grey <= 0.4
    assert figure.get_figwidth() * figure_style.DPI >= 1400


def test_the_demo_multipower_figure_tells_its_runs_apart(demo_multipower, tmp_path, saved):
    law, data = demo_multipower
    fit_figures.plot_fit(law, data, tmp_path / "multipower-fit.png")
    figure = saved["multipower-fit.png"]
    check_curves(figure)
    (legend,) = figure.legends
    assert [t.get_text() for t in legend.get_texts()] == ["constant", "cosine", "wsd",
                                                          "fitted range (steps)"]
    shaded = [p for ax in figure.axes for p in ax.patches if p.get_gid() == "fitted-range"]
    assert len(shaded) == 2 and shaded[0].get_x() == 125      # where step > 100 starts
    title = figure._suptitle.get_text()
    assert "3 runs (cpu-schedules-w64-d2-v256-4.92e+06tok-*-s0)" in title
    assert "steps 125–1200" in title
    whole = panel(figure, "whole")
    observed = [line for line in whole.lines if line.get_gid() == "observed"]
    assert len({(line.get_marker(), line.get_markersize()) for line in observed}) == 3


def test_the_demo_schedule_comparison_shows_every_schedule_and_its_lr(demo_multipower,
                                                                      tmp_path, saved):
    law, _ = demo_multipower
    base = "peak=3e-3,warmup=60,steps=1200,final=3e-4"
    curve_figures.plot_curves(compare_schedules(law, base, every=25), base, tmp_path / "schedules.png",
                      target=law.target)
    figure = saved["schedules.png"]
    check_curves(figure)
    lr = panel(figure, "lr")
    for line in lr.lines:                           # the warmup, from update 1
        x, y = np.asarray(line.get_xdata()), np.asarray(line.get_ydata())
        assert x[0] == 1 and y[0] == pytest.approx(3e-3 / 60) and y.max() == pytest.approx(3e-3)
    zoom = panel(figure, "zoom")
    low, high = zoom.get_ylim()
    for line in zoom.lines:                         # the zoom shows every curve's end
        assert low <= line.get_ydata()[-1] <= high
    assert max(zoom.get_xticks()) <= 1200
    title = figure._suptitle.get_text()
    assert "Predicted loss of 4 LR schedules by the fitted Multi-power law" in title
    assert "peak=3e-3, warmup=60, steps=1200, final=3e-4" in title
    (legend,) = figure.legends
    assert [t.get_text() for t in legend.get_texts()][:4] == list(
        compare_schedules(law, base, every=100))


# -- pieces --------------------------------------------------------------------------------------
def test_short_names_keep_the_part_that_tells_runs_apart():
    names, pattern = figure_style.short_names(DEMO_IDS.values())
    assert list(names.values()) == list(DEMO_IDS)
    assert pattern == "cpu-schedules-w64-d2-v256-4.92e+06tok-*-s0"
    names, pattern = figure_style.short_names(["a-1", "a-1"])         # nothing tells them apart
    assert list(names.values()) == ["a-1"] and pattern == ""
    names, _ = figure_style.short_names(["x" * 60, "y" * 60])
    assert all(len(name) == figure_style.MAX_NAME for name in names.values())
    assert figure_style.short_names(["only-one"]) == ({"only-one": "only-one"}, "")


def test_plots_keep_their_font_sizes_whatever_the_users_rcparams(tmp_path, saved):
    import matplotlib

    with matplotlib.rc_context({"font.size": 4, "xtick.labelsize": 3, "legend.fontsize": 2}):
        law = get_law("chinchilla").fit(ladder(), bootstrap=0, calibrate=False)
        fit_figures.plot_fit(law, ladder(), tmp_path / "fit.png")
        assert matplotlib.rcParams["font.size"] == 4          # the user's, untouched
    check_readable(saved["fit.png"])


def test_importing_and_plotting_leave_matplotlibs_backend_and_pyplot_alone(tmp_path):
    probe = f"""
import sys, matplotlib
matplotlib.use("svg")
from scaling.output import fit_figures
from scaling.laws import get_law
from scaling.data.synthetic import chinchilla_ladder
runs = chinchilla_ladder(E=1.8, A=400, B=2000, alpha=0.34, beta=0.37, params=[1e7, 3e7, 1e8],
                         tokens_per_param=[5, 10, 20], noise=0.003, seed=0)
fit_figures.plot_fit(get_law("chinchilla").fit(runs, bootstrap=0, calibrate=False), runs, {str(tmp_path / "fit.png")!r})
print(matplotlib.get_backend(), "matplotlib.pyplot" in sys.modules)
"""
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          cwd=ROOT, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["svg", "False"]
    assert (tmp_path / "fit.png").read_bytes()[:8] == PNG
