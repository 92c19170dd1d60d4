"""Figures (scaling/plots.py): every kind of law gets its figure, labelled with its target, and
the iso-compute lines and frontier appear only for laws that allocate compute."""

import numpy as np
import pytest

from scaling import plots
from scaling.laws import get_law
from scaling.synthetic import (chinchilla_ladder, multipower_curves, task_ladder,
                               vocabulary_ladder)

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def figures(monkeypatch):
    """The texts (titles, labels) of every figure saved, by file name."""
    seen = {}
    save = plots._save

    def recording(figure, plt, path):
        seen[path.name] = " | ".join(
            text for ax in figure.axes
            for text in (ax.get_title(), ax.get_xlabel(), ax.get_ylabel()) if text)
        return save(figure, plt, path)

    monkeypatch.setattr(plots, "_save", recording)
    return seen


def ladder():
    return chinchilla_ladder(E=1.8, A=400, B=2000, alpha=0.34, beta=0.37,
                             params=[1e7, 3e7, 1e8, 3e8], tokens_per_param=[5, 10, 20, 40],
                             noise=0.003, seed=0)


def test_a_law_that_allocates_compute_gets_iso_compute_lines(tmp_path, figures):
    law = get_law("chinchilla").fit(ladder())
    path = plots.plot_fit(law, ladder(), tmp_path / "fit.png")
    assert path.read_bytes()[:8] == PNG
    text = figures["fit.png"]
    assert "iso-loss contours of the fit; dotted: iso-compute (C = 6 N D)" in text
    assert "fitted loss" in text and "observed loss" in text


def test_a_law_of_n_and_d_without_a_compute_model_gets_contours_only(tmp_path, figures):
    law = get_law("kaplan").fit(ladder())
    plots.plot_fit(law, ladder(), tmp_path / "kaplan.png")
    assert (tmp_path / "kaplan.png").read_bytes()[:8] == PNG
    assert "iso-loss contours of the fit" in figures["kaplan.png"]
    assert "iso-compute" not in figures["kaplan.png"]


def test_a_linear_space_law_of_three_inputs(tmp_path, figures):
    runs = vocabulary_ladder(E=6.0, A1=2000, alpha1=0.45, A2=300, alpha2=0.4, B=4000,
                             beta=0.35, seed=0)
    law = get_law("vocabulary").fit(runs)
    plots.plot_fit(law, runs, tmp_path / "vocabulary.png")
    text = figures["vocabulary.png"]
    assert "fitted loss_unigram" in text and "contours" not in text


def test_a_chained_law_plots_its_target_against_the_chained_prediction(tmp_path, figures):
    runs = task_ladder(loss_params={"E": 0.3, "A": 40.0, "B": 150.0, "alpha": 0.3, "beta": 0.3},
                       accuracy_params={"a": 0.6, "b": 0.25, "k": -6.0, "L0": 1.0}, seed=0)
    law = get_law("task", task="hellaswag").fit(runs)
    plots.plot_fit(law, runs, tmp_path / "task.png")
    text = figures["task.png"]
    assert "observed acc:hellaswag" in text and "80 points" in text   # every checkpoint


def test_curve_laws_plot_each_curve_and_predicted_schedules(tmp_path, figures):
    true = {"L0": 2.0, "A": 0.8, "alpha": 0.45, "B": 300.0, "C": 2.0, "beta": 0.6, "gamma": 0.6}
    runs = multipower_curves(true, {
        "constant": ("constant:peak=0.001,warmup=100,steps=3000", 50),
        "cosine": ("cosine:peak=0.001,warmup=100,steps=3000,final=0.0001", 50)}, noise=0.001)
    law = get_law("multipower").fit(runs)
    plots.plot_fit(law, runs, tmp_path / "curves.png")
    assert "step" in figures["curves.png"] and "loss (dots: observed" in figures["curves.png"]
    curve = law.predict_schedule("wsd:peak=0.001,warmup=100,steps=3000,final=0.0001,"
                                 "decay_fraction=0.2", every=50)
    plots.plot_curve(curve, "wsd", tmp_path / "curve.png", target=law.target,
                     observed=runs[runs["run"] == "cosine"])
    assert figures["curve.png"].startswith("wsd | loss") and "LR" in figures["curve.png"]
    plots.plot_curves({"wsd": curve, "same": curve}, "both", tmp_path / "curves2.png",
                      target=law.target)
    assert "predicted loss" in figures["curves2.png"]
    assert np.isfinite(curve["loss"]).all()
