"""Distance and warnings on every prediction (scaling/engine/diagnostics.py, scaling/output/, cli.py):
each warning fires on a case built for it and names what it is about; none fires on the bundled
Chinchilla fit; the fit file and `predict --json` carry them; every predicted point states how
far it reaches beyond the fitted data; plots shade the fitted range."""

import copy
import json
import math

import numpy as np
import pytest

import cli
from conftest import CHINCHILLA, ROOT
from scaling.engine.fit import Fit
from scaling.errors import ScalingError
from scaling.engine import diagnostics
from scaling.output import curve_figures, figure_style, fit_figures
from scaling.engine.calibration import ERROR_LIMIT, QUANTILES, ErrorModel
from scaling.laws import get_law, load_fit
from scaling.output.prediction_tables import COMPUTE_BUDGETS
from scaling.data.table_files import write_runs
from scaling.data.synthetic import chinchilla_ladder

WHERE = "loss < 3.44"
CPU_REPEAT = ROOT / "data" / "cpu_repeat" / "runs.parquet"
# The 16-point example of issue 12: 4 sizes x 4 budgets over a narrow range (20M-60M params,
# 10-30 tokens a parameter), 1% noise, from Hoffmann et al.'s law. The fit cannot pin E down
# (it runs to ~0 with an interval up to 2.2) and puts 0.004 tokens a parameter at 1e25 FLOPs.
SIXTEEN = dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28, params=[2e7, 3e7, 4e7, 6e7],
               tokens_per_param=[10, 15, 20, 30], noise=0.01, seed=0)


def codes(warnings):
    return [w["code"] for w in warnings]


@pytest.fixture(scope="module")
def bundled(tmp_path_factory):
    """`scaling fit` of the bundled Chinchilla data as the demo runs it (calibrated), with 200
    bootstrap refits for speed: its report, its fit file and the fit loaded back."""
    folder = tmp_path_factory.mktemp("bundled")
    path = folder / "fit.json"
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["fit", str(CHINCHILLA), "--where", WHERE, "--bootstrap", "200",
                         "--jobs", "1", "--out", str(path)]) == 0
    return out.getvalue(), path, load_fit(path)


@pytest.fixture(scope="module")
def sixteen(tmp_path_factory):
    """`scaling fit` of the 16-point example (bootstrap 100, calibrated by default)."""
    import contextlib
    import io

    folder = tmp_path_factory.mktemp("sixteen")
    runs = folder / "runs.parquet"
    write_runs(chinchilla_ladder(**SIXTEEN), runs)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["fit", str(runs), "--bootstrap", "100", "--jobs", "1",
                         "--out", str(folder / "fit.json")]) == 0
    return out.getvalue(), folder / "fit.json"


# -- silent where the data are good ------------------------------------------------------------

def test_the_bundled_chinchilla_fit_warns_of_nothing(bundled):
    report, path, law = bundled
    assert law.calibration_ is not None and len(law.bootstrap_theta_) == 200
    assert "WARNING" not in report and "CAUTION" not in report, report
    assert diagnostics.fit_warnings(law) == []
    assert diagnostics.allocation_warnings(law, COMPUTE_BUDGETS) == []
    assert json.loads(path.read_text())["warnings"] == []
    # the 1e21..1e25 allocation stays under the 5% error limit: about 3% at 1e25 (1.3 decades
    # beyond the largest run in params, 1.2 in tokens: inside what the calibration backtested)
    checks = diagnostics.point_checks(law, {k: law.compute_optimal(1e25)[k][0]
                                            for k in ("params", "tokens")})
    assert 0.01 < checks.expected[0] < ERROR_LIMIT and not checks.beyond[0]


def test_the_predict_table_states_the_reach_of_each_point(tmp_path, capsys):
    fit = tmp_path / "fit.json"
    assert cli.main(["fit", str(CHINCHILLA), "--where", f"{WHERE} and params < 9e8",
                     "--bootstrap", "0", "--out", str(fit)]) == 0
    law = load_fit(fit)
    largest = law.fitted_range_["params"][1]
    assert 8e8 < largest < 9e8
    capsys.readouterr()
    assert cli.main(["predict", str(fit), "--params", "7e10", "3e8", "--tokens", "1.4e12",
                     "1e10"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[3:] == ["95%", "interval", "(calibrated)", "×", "params", "×",
                                    "tokens", "note"]
    times = f"×{float(f'{7e10 / largest:.2g}'):.0f}"
    assert times == "×78" and times in lines[1].split()
    assert lines[2].split()[-2:] == ["inside", "inside"]
    assert "the value over the largest fitted one" in lines[3]
    # 7e10 params is 1.9 decades out, 1.4e12 tokens 1 decade: far past the 0.51 decades in
    # params that the calibration's splits of this fit reached
    assert lines[1].endswith("far beyond calibration")
    (warning,) = [line for line in lines if line.startswith("WARNING")]
    assert "params 7e+10, tokens 1.4e+12 reaches 2.9 decades outside the fitted data" in warning
    assert "decades in params that the fit's backtests (its calibration) reached" in warning


# -- each warning on a case built for it --------------------------------------------------------

def test_a_parameter_at_its_bound():
    """A ladder with no loss floor (E = 0): the fitted E runs to the bottom of its range."""
    runs = chinchilla_ladder(E=0.0, A=400, B=2000, alpha=0.34, beta=0.37,
                             params=[1e7, 3e7, 1e8, 3e8], tokens_per_param=[5, 10, 20, 40],
                             noise=0.003, seed=0)
    law = get_law("chinchilla").fit(runs, n_jobs=1, bootstrap=0, calibrate=False)
    (warning,) = [w for w in diagnostics.fit_warnings(law) if w["code"] == "at-bound"]
    assert warning["parameter"] == "E" and warning["range"][0] == pytest.approx(math.exp(-20))
    assert warning["message"].startswith("E = ") and "ended on a bound" in warning["message"]


def test_the_interval_factor_rule():
    assert diagnostics.spread_factor(1.0, 9.9) < 10 < diagnostics.spread_factor(1.0, 10.1)
    assert diagnostics.spread_factor(-5.0, -0.4) == pytest.approx(12.5)    # negative: sizes
    assert diagnostics.spread_factor(0.0, 0.3) == math.inf      # reaches 0: its term may vanish
    assert diagnostics.spread_factor(-0.1, 0.3) == math.inf     # the sign is not known


def test_unidentified_parameters_and_the_16_point_example(sixteen):
    """`scaling fit` of a 16-point ladder that cannot pin E down: a WARNING naming E, A and B
    before the allocation, every row noted, and the fit file carrying the same."""
    report, path = sixteen
    lines = report.splitlines()
    for name in ("E", "A", "B"):
        assert any(line.startswith(f"WARNING: {name} = ") and "is not identified" in line
                   for line in lines), name
    heading = lines.index(next(line for line in lines if line.startswith("compute-optimal")))
    assert lines[heading + 1].startswith("WARNING: E, A, B are not identified by these data")
    assert "read it as a guess, not a plan" in lines[heading + 1]
    header = lines[heading + 2]
    rows = lines[heading + 3:heading + 8]
    assert header.split()[-1] == "note" and len(rows) == 5
    assert all("interval >10×" in row for row in rows)
    # the symptom itself, reproduced: a few thousandths of a token a parameter at 1e25 FLOPs
    law = load_fit(path)
    assert law.compute_optimal(1e25)["tokens_per_param"][0][0] < 0.01
    record = json.loads(path.read_text())
    unidentified = [w for w in record["warnings"] if w["code"] == "unidentified"]
    assert [w["parameter"] for w in unidentified] == ["E", "A", "B"]
    assert all(w["factor"] > 10 for w in unidentified)
    wide = next(w for w in record["warnings"] if w["code"] == "wide-interval")
    assert wide["flops"] == list(COMPUTE_BUDGETS) and "tokens_per_param" in wide["quantities"]
    # its points lie 3 to 7 decades out, far past the 0.18 decades its backtests reached: the
    # error model, whose params slope is at least what splits reaching 0.18 decades could have
    # missed (noise / reach), expects errors over 5% there
    over = next(w for w in record["warnings"] if w["code"] == "error-over-limit")
    assert over["rows"] == [0, 1, 2, 3, 4] and min(over["distance"]) > 3
    assert min(over["expected_error"]) > ERROR_LIMIT
    assert law.calibration_.max_distance["params"] < 0.3


def test_points_beyond_the_error_limit_and_beyond_calibration(bundled):
    _, _, law = bundled
    model = law.calibration_
    # far out: the calibrated error passes 5% of the loss
    (over,) = diagnostics.prediction_warnings(law, {"params": np.array([7e12]),
                                                    "tokens": np.array([1.4e15])}, ["far"])
    assert over["code"] == "error-over-limit" and over["rows"] == [0]
    assert over["expected_error"][0] > ERROR_LIMIT and over["distance"][0] > 4
    assert over["error_kind"] == "relative" and "% of the loss" in over["message"]
    # a little past what the calibration's splits reached in params: a caution only
    params = law.fitted_range_["params"][1] * 10 ** (model.max_distance["params"] + 0.05)
    values = {"params": np.array([1e9, params]), "tokens": np.array([2e10, 1e12])}
    (soft,) = diagnostics.prediction_warnings(law, values)
    assert soft["code"] == "beyond-calibration" and soft["severity"] == "caution"
    assert soft["rows"] == [1]
    assert diagnostics.render([soft])[0].startswith("CAUTION: the prediction at row 2 reaches")


def test_a_linear_space_law_says_its_error_is_absolute(bundled):
    _, _, fitted = bundled
    law = copy.deepcopy(fitted)
    law.law.space = "linear"             # as a law of accuracies would: errors in the target
    (over,) = diagnostics.prediction_warnings(law, {"params": np.array([7e12]),
                                                    "tokens": np.array([1.4e15])})
    assert over["error_kind"] == "absolute"
    assert "a median absolute error of" in over["message"] and "over the 0.05 limit" in \
        over["message"] and "linear space" in over["message"]


def test_too_few_points_or_sizes():
    few_sizes = chinchilla_ladder(E=1.8, A=400, B=2000, alpha=0.34, beta=0.37,
                                  params=[1e7, 3e7, 1e8], tokens_per_param=[5, 10, 20, 40],
                                  noise=0.003, seed=0)
    law = get_law("chinchilla").fit(few_sizes, n_jobs=1, bootstrap=0, calibrate=False)
    assert law.n_values_ == {"params": 3, "tokens": 12}
    (warning,) = [w for w in diagnostics.fit_warnings(law) if w["code"] == "few-values"]
    assert warning == {**warning, "column": "params", "values": 3, "needed": 4}
    assert "few-points" not in codes(diagnostics.fit_warnings(law))        # 12 points for 5
    few_points = chinchilla_ladder(E=1.8, A=400, B=2000, alpha=0.34, beta=0.37,
                                   params=[1e7, 3e7, 1e8, 3e8], tokens_per_param=[10, 20],
                                   noise=0.003, seed=0)
    law = get_law("chinchilla").fit(few_points, n_jobs=1, bootstrap=0, calibrate=False)
    (warning,) = [w for w in diagnostics.fit_warnings(law) if w["code"] == "few-points"]
    assert (warning["n_points"], warning["n_parameters"], warning["needed"]) == (8, 5, 10)
    assert "few-values" not in codes(diagnostics.fit_warnings(law))
    # the fit file keeps the counts, and a loaded fit gives the same warnings
    again = Fit.from_dict(type(law.law), json.loads(law.to_json()))
    assert again.n_values_ == law.n_values_
    assert diagnostics.fit_warnings(again) == diagnostics.fit_warnings(law)


def test_a_query_that_cuts_runs_short_warns_a_final_row_law(tmp_path, capsys):
    """`epochs <= 4` keeps the first 4 epochs of the 8- to 32-epoch runs of the repeated-data
    ladder, and a final-row law reads those as runs that ended there; `final_epochs <= 4`
    keeps whole runs and does not warn; a curve law reads every row and does not warn."""
    runs = str(CPU_REPEAT)
    out = tmp_path / "cut.json"
    assert cli.main(["fit", runs, "--law", "data-constrained", "--where", "epochs <= 4",
                     "--bootstrap", "0", "--no-calibration", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    line = next(line for line in printed.splitlines() if "runs lost their final rows" in line)
    assert line.startswith("WARNING: 9 of the fitted runs lost their final rows to the query "
                           "(epochs <= 4)") and "final_epochs <= 4" in line
    (warning,) = [w for w in json.loads(out.read_text())["warnings"] if w["code"] == "cut-runs"]
    assert warning["n_runs"] == 9 and len(warning["runs"]) == 9
    assert sorted({final for _, final in warning["runs"].values()}) == [
        65536 * e for e in (8, 16, 32)]
    assert {kept for kept, _ in warning["runs"].values()} == {262144.0}
    assert "cut-runs" in codes(diagnostics.fit_warnings(load_fit(out)))    # kept in the file
    assert cli.main(["fit", runs, "--law", "data-constrained", "--where", "final_epochs <= 4",
                     "--bootstrap", "0", "--no-calibration"]) == 0
    assert "lost their final rows" not in capsys.readouterr().out
    assert cli.main(["backtest", runs, "--law", "chinchilla", "--train",
                     "epochs <= 4 and final_epochs <= 16", "--test", "final_epochs == 32",
                     "--bootstrap", "0", "--no-calibration"]) == 0
    assert "WARNING (fit): 6 of the fitted runs lost their final rows" in capsys.readouterr().out


# -- the JSON ------------------------------------------------------------------------------------

def test_the_fit_file_warnings_are_recomputed_on_loading(sixteen, tmp_path, capsys):
    from scaling.output.fit_file import seal

    _, path = sixteen
    record = json.loads(path.read_text())
    record["warnings"] = []                          # an edit is never trusted: even
    edited = tmp_path / "edited.json"                # resealed, the warnings are recomputed
    edited.write_text(json.dumps(seal(record)))
    assert cli.main(["predict", str(edited), "--params", "1e8", "--tokens", "2e9",
                     "--json", str(tmp_path / "p.json")]) == 0
    out = capsys.readouterr().out
    assert "WARNING: E = " in out
    saved = json.loads((tmp_path / "p.json").read_text())
    assert set(saved) == {"law", "target", "interval", "predictions", "warnings"}
    assert saved["interval"] == {"kind": "calibrated", "level": 0.95}
    assert "unidentified" in codes(saved["warnings"])
    (row,) = saved["predictions"]
    assert set(row) == {"params", "tokens", "predicted", "lower", "upper", "reach", "distance"}
    assert row["reach"]["params"] == pytest.approx(1e8 / 6e7)
    assert row["distance"] == pytest.approx(math.log10(1e8 / 6e7) + math.log10(2e9 / 1.8e9))


def test_predict_json_of_an_allocation_and_of_the_bundled_fit(bundled, tmp_path, capsys):
    _, path, law = bundled
    out = tmp_path / "flops.json"
    assert cli.main(["predict", str(path), "--flops", "1e21", "1e27", "--interval", "run",
                     "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "95% intervals (loss: run; the allocation: bootstrap)" in text
    record = json.loads(out.read_text())
    assert record["interval"] == {"kind": "run", "level": 0.95}
    first, last = record["predictions"]
    optimum = law.compute_optimal(1e27)
    assert last["flops"] == 1e27 and last["params"] == pytest.approx(optimum["params"][0][0])
    assert set(last["intervals"]) == {"params", "tokens", "tokens_per_param"}
    assert last["reach"]["params"] == pytest.approx(optimum["params"][0][0]
                                                    / law.fitted_range_["params"][1])
    both = law.compute_optimal([1e21, 1e27])
    _, low, high = law.predict_interval(kind="run", params=both["params"][0],
                                        tokens=both["tokens"][0])
    assert (last["lower"], last["upper"]) == pytest.approx((low[1], high[1]))
    assert first["distance"] == 0.0 and last["distance"] > 4
    over = next(w for w in record["warnings"] if w["code"] == "error-over-limit")
    assert over["rows"] == [1] and "1e+27 FLOPs" in over["message"]
    assert "WARNING: the compute-optimal point at 1e+27 FLOPs reaches" in text


# -- curves and plots ----------------------------------------------------------------------------

def error_model(law, slope=0.05, reached=0.3):
    """A made-up error model on a fitted curve law: the scale grows by `slope` a decade of
    steps, backtested to `reached` decades, and not with the progress along a curve or its LR
    decay (slopes 0: coordinates a model has no slope for would grow at its steepest)."""
    law.calibration_ = ErrorModel(0.01, {"step": slope, "progress": 0.0, "lr_decay": 0.0},
                                  np.linspace(0, 3, len(QUANTILES)), 100,
                                  {"step": reached, "progress": 1.3, "lr_decay": 1.0})
    return law


@pytest.fixture(scope="module")
def curve_law():
    from scaling.data.synthetic import multipower_curves

    true = {"L0": 2.0, "A": 0.8, "alpha": 0.45, "B": 300.0, "C": 2.0, "beta": 0.6, "gamma": 0.6}
    runs = multipower_curves(true, {
        "constant": ("constant:peak=0.001,warmup=100,steps=1000", 50),
        "cosine": ("cosine:peak=0.001,warmup=100,steps=1000,final=0.0001", 50)}, noise=0.001)
    return error_model(get_law("multipower").fit(runs, bootstrap=0, calibrate=False))


def test_curve_intervals_take_the_kind_and_widen_beyond_the_fitted_steps(curve_law):
    law = curve_law
    assert law.fitted_range_["step"] == [50.0, 1000.0]
    curve = law.predict_schedule("cosine:peak=0.001,warmup=100,steps=10000,final=0.0001",
                                 every=500)
    half = np.log(curve["upper"] / curve["loss"]).to_numpy()
    assert np.allclose(half[curve["step"] <= 1000], half[0])        # inside: the noise alone
    beyond = curve["step"].to_numpy() > 1000
    assert np.all(np.diff(half[beyond]) > 0) and half[-1] > 3 * half[0]
    with pytest.raises(ScalingError, match="this fit has no bootstrap"):  # no such interval
        law.predict_schedule("cosine:peak=0.001,warmup=100,steps=10000,final=0.0001",
                             every=500, kind="law")


def test_curve_warnings_and_json(curve_law, tmp_path, capsys):
    law = curve_law
    path = tmp_path / "curve-fit.json"
    law.to_json(path)
    schedule = "cosine:peak=0.001,warmup=100,steps=4000,final=0.0001"
    assert cli.main(["predict", str(path), "--schedule", schedule, "--every", "500",
                     "--json", str(tmp_path / "c.json")]) == 0
    out = capsys.readouterr().out
    assert "95% interval (calibrated)" in out and "× step" in out and "×4" in out
    # 0.6 decades of steps (×4) and, since issue 24, 0.37 of LR area (a curve law's reach counts
    # every input it reads: steps, LR area, peak LR)
    assert "WARNING: the predicted curve at step 4000 reaches 0.97 decades" in out
    record = json.loads((tmp_path / "c.json").read_text())
    reach = record["predictions"][-1]["reach"]
    assert set(reach) == {"step", "lr_area", "peak_lr"}
    assert reach["step"] == 4.0 and reach["peak_lr"] == pytest.approx(1.0)
    assert math.log10(4.0) + math.log10(reach["lr_area"]) == pytest.approx(
        record["predictions"][-1]["distance"])
    assert record["predictions"][-1]["schedule"] == schedule
    # the made-up model has no slope for LR area, which grows at its steepest (5% a decade):
    # 0.97 decades expect 5.5%, over the limit (with steps alone it was far-beyond-calibration)
    assert codes(record["warnings"])[-1] == "error-over-limit"


def test_plots_shade_the_fitted_range(bundled, curve_law, tmp_path, monkeypatch):
    from matplotlib.patches import Rectangle

    seen = {}
    save = figure_style.save_figure

    def recording(figure, path):
        seen[path.name] = figure
        return save(figure, path)

    for module in (fit_figures, curve_figures):        # each saves through its own name
        monkeypatch.setattr(module, "save_figure", recording)
    _, _, law = bundled
    from scaling.data.runs import read_runs

    fit_figures.plot_fit(law, read_runs(CHINCHILLA, where=WHERE), tmp_path / "fit.png")
    (box,) = [p for ax in seen["fit.png"].axes for p in ax.patches
              if p.get_gid() == "fitted-range"]
    assert isinstance(box, Rectangle)
    (n_low, n_high), (d_low, d_high) = law.fitted_range_["params"], law.fitted_range_["tokens"]
    assert box.get_x() == n_low and box.get_x() + box.get_width() == pytest.approx(n_high)
    assert box.get_y() == d_low and box.get_y() + box.get_height() == pytest.approx(d_high)
    texts = [t.get_text() for legend in seen["fit.png"].legends for t in legend.get_texts()]
    assert "fitted range (N, D)" in texts
    curve = curve_law.predict_schedule("constant:peak=0.001,warmup=100,steps=3000", every=100)
    curve_figures.plot_curve(curve, "c", tmp_path / "curve.png", target="loss",
                     interval="calibrated", fitted_steps=(50.0, 1000.0))
    spans = [p for ax in seen["curve.png"].axes for p in ax.patches
             if p.get_gid() == "fitted-range"]
    assert len(spans) == 2                                # the whole run and the zoom
    texts = [t.get_text() for legend in seen["curve.png"].legends for t in legend.get_texts()]
    assert "95% interval (calibrated)" in texts and "fitted range (steps)" in texts
