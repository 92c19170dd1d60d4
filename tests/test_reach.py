"""Reach in every direction a law extrapolates (issue 24, item 2 and parts of 3 and 5): every
input a law reads counts in the reach columns, the calibrated interval and the warnings, on
both sides of the fitted range; a loss that is not one is never printed as a number without a
warning; `plan` and `predict` share one reach computation; budgets below the data plan (or are
one-line errors); `--every` beyond a schedule and the negative-step row are one-line errors.

Each fit is made once per module (no bootstrap), in-process with `cli.main`."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

import cli
from conftest import ROOT
from scaling.engine.fit import Fit
from scaling.laws import get_law, load_fit


def reach_cells(law, values):
    from scaling.output.prediction_columns import reach_cells as cells     # (new in issue 24)

    return cells(law, values)

CHINCHILLA = ROOT / "data" / "chinchilla" / "runs.parquet"
SCHEDULES = ROOT / "data" / "cpu_schedules" / "runs.parquet"
COSINE = "cosine:peak={peak},warmup=60,steps=1200,final=3e-4"     # the bundled runs' peak: 3e-3


def _fit(tmp_path_factory, name, argv):
    path = tmp_path_factory.mktemp("fits") / f"{name}.json"
    assert cli.main(["fit", *argv, "--bootstrap", "0", "--out", str(path)]) == 0
    return path


@pytest.fixture(scope="module")
def chinchilla_fit(tmp_path_factory):
    return _fit(tmp_path_factory, "chinchilla", [str(CHINCHILLA), "--where", "loss < 3.44"])


@pytest.fixture(scope="module")
def annealing_fit(tmp_path_factory):
    return _fit(tmp_path_factory, "annealing", [str(SCHEDULES), "--law", "annealing",
                                                "--where", "step > 100"])


@pytest.fixture(scope="module")
def uncalibrated_annealing_fit(tmp_path_factory):
    return _fit(tmp_path_factory, "annealing-nocal", [str(SCHEDULES), "--law", "annealing",
                                                      "--where", "step > 100",
                                                      "--no-calibration"])


def _predict(capsys, argv):
    code = cli.main(["predict", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_line_error(capsys, argv, command="predict"):
    assert cli.main([command, *argv]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    return err


# -- peak LR (and LR area) count in reach, the calibrated interval and the warnings -------------

def test_ten_times_the_fitted_peak_lr_is_reach_widens_the_interval_and_warns(annealing_fit,
                                                                             tmp_path, capsys):
    rows = {}
    for peak in ("0.003", "0.03"):
        out = tmp_path / f"{peak}.json"
        code, text, _ = _predict(capsys, [str(annealing_fit), "--schedule",
                                          COSINE.format(peak=peak), "--every", "100",
                                          "--json", str(out)])
        assert code == 0
        rows[peak] = (text, {r["step"]: r for r in json.loads(out.read_text())["predictions"]})
    text, at_peak = rows["0.03"]
    header = text.splitlines()[0].split()
    assert "peak_lr" in header                                 # a reach column of its own
    assert at_peak[600]["reach"]["peak_lr"] == pytest.approx(10.0)
    assert rows["0.003"][1][600]["reach"]["peak_lr"] == pytest.approx(1.0)
    # step 600 is inside the fitted steps: only the peak LR (and the LR area it brings) reach
    assert at_peak[600]["reach"]["step"] == pytest.approx(0.5)
    assert at_peak[600]["distance"] >= 1.0
    line = next(line for line in text.splitlines() if line.split()[:1] == ["600"])
    assert "×10" in line.split() and "inside" in line.split()      # × peak_lr, × step
    width = {peak: (r[600]["upper"] - r[600]["lower"]) / r[600]["predicted"]
             for peak, (_, r) in rows.items()}
    assert width["0.03"] > 3 * width["0.003"]
    assert "WARNING: the predicted curve at step" in text and "outside the fitted data" in text


def test_a_multipower_curve_at_a_higher_peak_reaches_in_peak_lr():
    from scaling.data.synthetic import multipower_curves

    true = {"L0": 2.0, "A": 0.8, "alpha": 0.45, "B": 300.0, "C": 2.0, "beta": 0.6, "gamma": 0.6}
    runs = multipower_curves(true, {
        "constant": ("constant:peak=0.001,warmup=100,steps=1000", 50),
        "cosine": ("cosine:peak=0.001,warmup=100,steps=1000,final=0.0001", 50)}, noise=0.001)
    law = get_law("multipower").fit(runs, bootstrap=0, calibrate=False)
    assert law.fitted_range_["peak_lr"] == [0.001, 0.001]
    curve = law.predict_schedule("cosine:peak=0.1,warmup=100,steps=1000,final=0.0001",
                                 every=100)
    parts = law.distances({name: curve[name].to_numpy() for name in curve.columns})
    assert parts["peak_lr"] == pytest.approx(np.full(len(curve), 2.0))     # ×100: 2 decades
    assert reach_cells(law, {"peak_lr": curve["peak_lr"].to_numpy()})["peak_lr"][0] == "×100"
    lower = law.predict_schedule("cosine:peak=1e-5,warmup=100,steps=1000,final=1e-6",
                                 every=100)
    assert law.distances({"peak_lr": lower["peak_lr"].to_numpy()})["peak_lr"] == \
        pytest.approx(np.full(len(lower), 2.0))                            # ÷100: 2 decades


def test_data_constrained_reach_counts_unique_tokens_and_epochs():
    law = get_law("data-constrained")
    law = Fit.with_parameters(law, np.zeros(len(law.parameters)))
    law.fitted_range_ = {"params": [1e7, 1e8], "tokens": [1e9, 1e10],
                         "unique_tokens": [1e8, 1e9], "epochs": [1.0, 4.0]}
    parts = law.distances({"params": [5e7], "tokens": [4e9], "unique_tokens": [1e8]})
    assert parts["epochs"] == pytest.approx([1.0])            # 40 epochs, fitted up to 4
    assert parts["unique_tokens"] == pytest.approx([0.0])
    parts = law.distances({"params": [5e7], "tokens": [4e9], "unique_tokens": [1e11]})
    assert parts["unique_tokens"] == pytest.approx([2.0])
    assert parts["epochs"] == pytest.approx([0.0])            # U > D: one epoch, as the law reads


# -- below the fitted data -----------------------------------------------------------------------

def test_below_the_fitted_data_widens_the_calibrated_interval_and_warns(chinchilla_fit,
                                                                        tmp_path, capsys):
    out = tmp_path / "below.json"
    code, text, _ = _predict(capsys, [str(chinchilla_fit), "--params", "1e5", "--tokens", "1e6",
                                      "--json", str(out)])
    assert code == 0
    (row,) = json.loads(out.read_text())["predictions"]
    law = load_fit(chinchilla_fit)
    (n_low, _), (d_low, _) = law.fitted_range_["params"], law.fitted_range_["tokens"]
    assert row["distance"] == pytest.approx(math.log10(n_low / 1e5) + math.log10(d_low / 1e6))
    # the interval widens with that distance: at ±1.2% before issue 24, at least ±10% now
    assert (row["upper"] - row["lower"]) / row["predicted"] > 0.2
    assert "÷570" in text and "÷820" in text
    assert "WARNING: the prediction at params 1e+05, tokens 1e+06 reaches 5.7 decades outside " \
        "the fitted data" in text


def test_a_loss_over_the_sensible_range_warns(chinchilla_fit, capsys):
    code, text, _ = _predict(capsys, [str(chinchilla_fit), "--params", "1", "--tokens", "1"])
    assert code == 0
    assert "2623.1" in text
    assert "WARNING: the prediction at params 1, tokens 1 reaches a loss of 2623.1, over the " \
        "1000 nats" in text


# -- a loss at or below 0, or below the fitted E (L0) ----------------------------------------------

def test_a_loss_at_or_below_zero_is_not_a_number_and_warns(annealing_fit, tmp_path, capsys):
    out = tmp_path / "curve.json"
    code, text, _ = _predict(capsys, [str(annealing_fit), "--schedule",
                                      COSINE.format(peak="0.03"), "--json", str(out)])
    assert code == 0
    last = text.splitlines()[11].split()           # step 1200: the formula gives a loss < 0
    assert last[:3] == ["1200", "0.0003", "-"]
    assert "a loss of 0 or less by the law's formula, shown as -" in text
    record = json.loads(out.read_text())
    assert record["predictions"][-1]["predicted"] is None
    codes = {w["code"] for w in record["warnings"]}
    assert {"loss-not-positive", "loss-below-floor"} <= codes
    below = next(w for w in record["warnings"] if w["code"] == "loss-below-floor")
    assert below["floor"] == pytest.approx(load_fit(annealing_fit).params_["L0"])
    # --compare: the cosine's final value is no number either
    code, text, _ = _predict(capsys, [str(annealing_fit), "--compare",
                                      "peak=0.03,warmup=60,steps=1200,final=3e-4"])
    cosine = next(line for line in text.splitlines() if line.startswith("cosine"))
    assert cosine.split()[1] == "-" and "shown as -" in text


# -- one reach computation: plan and predict agree -------------------------------------------------

def test_plan_and_predict_agree_on_reach(chinchilla_fit, tmp_path, capsys):
    assert cli.main(["plan", "--flops", "3e17", "--fit", str(chinchilla_fit), "--out-dir",
                     str(tmp_path / "plan")]) == 0
    summary = capsys.readouterr().out
    law = load_fit(chinchilla_fit)
    optimum = law.compute_optimal([3e17])
    n, d = optimum["params"][0][0], optimum["tokens"][0][0]
    assert "reach ÷1.3 params, tokens inside" in summary         # was "params inside"
    cells = reach_cells(law, {"params": [n], "tokens": [d]})
    assert cells == {"params": ["÷1.3"], "tokens": ["inside"]}
    code, text, _ = _predict(capsys, [str(chinchilla_fit), "--params", repr(float(n)),
                                      "--tokens", repr(float(d))])
    assert text.splitlines()[1].split()[-2:] == ["÷1.3", "inside"]


def test_a_plan_schedule_comparison_without_calibration_warns_of_its_reach(
        chinchilla_fit, uncalibrated_annealing_fit, tmp_path, capsys):
    # D at 1e20 FLOPs is about 2e10 tokens: at 4e4 tokens a step, 480,000 steps (×400)
    assert cli.main(["plan", "--flops", "1e20", "--fit", str(chinchilla_fit),
                     str(uncalibrated_annealing_fit), "--schedule",
                     "peak=3e-3,warmup=60,final=3e-4", "--tokens-per-step", "4e4",
                     "--out-dir", str(tmp_path / "plan")]) == 0
    summary = capsys.readouterr().out
    line = next(line for line in summary.splitlines()
                if ": schedules)" in line and "no calibrated error model" in line)
    assert line.startswith("  WARNING (") and "decades outside the fitted data (in step" in line


# -- budgets below the data, and outside the sensible sizes ----------------------------------------

@pytest.mark.parametrize("budget", ["1e15", "1e16", "1e17"])
def test_plan_budgets_below_the_fitted_data_plan_with_a_reach_warning(chinchilla_fit, budget,
                                                                      tmp_path, capsys):
    assert cli.main(["plan", "--flops", budget, "--fit", str(chinchilla_fit),
                     "--out-dir", str(tmp_path / "plan")]) == 0
    summary = capsys.readouterr().out
    assert "reach ÷" in summary
    assert (tmp_path / "plan" / "isoflop.png").stat().st_size > 1000
    report = (tmp_path / "plan" / "report.md").read_text()
    assert "beyond the fitted data" in report


@pytest.mark.parametrize("budget, size", [("1", "0.0451"), ("1e32", "1.26e+15")])
def test_plan_budgets_outside_the_sensible_sizes_are_one_line_errors(chinchilla_fit, budget,
                                                                     size, tmp_path, capsys):
    err = _one_line_error(capsys, ["--flops", budget, "--fit", str(chinchilla_fit),
                                   "--out-dir", str(tmp_path / "plan")], "plan")
    assert f"--flops {float(budget):g}" in err and f"params there is {size}" in err


# -- --every beyond a schedule, and the negative-step row ------------------------------------------

@pytest.mark.parametrize("option", ["--schedule", "--compare"])
def test_every_beyond_the_schedule_is_a_one_line_error(annealing_fit, option, capsys):
    spec = COSINE.format(peak="3e-3") if option == "--schedule" else \
        "peak=3e-3,warmup=60,steps=1200,final=3e-4"
    err = _one_line_error(capsys, [str(annealing_fit), option, spec, "--every",
                                   "100000000000000000000"])
    assert "--every 1e+20: the schedule has 1200 steps" in err


def test_a_negative_step_names_its_own_row(tmp_path, capsys):
    table = pd.DataFrame({"run": ["a"] * 4 + ["b"] * 4, "params": 1e6, "tokens": 1e7,
                          "step": [10, 20, 30, 40, 10, 20, -30, 40],
                          "schedule": "constant:peak=1e-3,warmup=0,steps=40",
                          "loss": [3.0, 2.8, 2.7, 2.6, 3.1, 2.9, 2.8, 2.7]})
    path = tmp_path / "runs.csv"
    table.to_csv(path, index=False)
    err = _one_line_error(capsys, [str(path), "--law", "annealing", "--bootstrap", "0"], "fit")
    # the 7th data row holds -30; run 'b' begins at the 5th, which the error named before
    assert "column 'step', row 7: run 'b' has step -30" in err


def test_the_data_limit_advice_warns_of_its_points_reach(tmp_path_factory, capsys):
    fit = _fit(tmp_path_factory, "repeat", [str(ROOT / "data" / "cpu_repeat" / "runs.parquet"),
                                            "--law", "data-constrained", "--no-calibration"])
    code, text, _ = _predict(capsys, [str(fit), "--flops", "1e16", "--unique-tokens", "1e6"])
    assert code == 0
    for what in ("the allocation at", "the best allocation at"):
        line = next(line for line in text.splitlines()
                    if line.startswith(f"WARNING: {what} 1e+16 FLOPs, U 1e+06 reaches"))
        assert "no calibrated error model" in line and "unique_tokens" in line
