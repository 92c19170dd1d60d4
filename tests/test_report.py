"""Text reports (scaling/output/fit_report.py, prediction_tables.py, backtest_report.py): what a
fit, a prediction and a backtest print, in the words of the law that made them (its target,
residual space and compute model)."""

import copy

import numpy as np
import pytest

from scaling.laws import get_law
from scaling.errors import ScalingError
from scaling.output.format import table
from scaling.output.backtest_report import backtest_report, fit_warning_lines
from scaling.output.fit_report import fit_report, fit_warnings
from scaling.output.prediction_columns import reach_cell
from scaling.output.prediction_tables import compute_optimal_table, prediction_table
from scaling.data.synthetic import chinchilla_ladder, vocabulary_ladder

VOCABULARY = {"E": 5.53278, "A1": 875.872, "alpha1": 0.44661, "A2": 2071.77, "alpha2": 0.67074,
              "B": 22216.1}


@pytest.fixture(scope="module")
def chinchilla():
    runs = chinchilla_ladder(E=1.8, A=400, B=2000, alpha=0.34, beta=0.37,
                             params=[1e7, 3e7, 1e8, 3e8], tokens_per_param=[5, 10, 20, 40],
                             noise=0.003, seed=0)
    return get_law("chinchilla").fit(runs, bootstrap=20, n_jobs=1, calibrate=False)


@pytest.fixture(scope="module")
def vocabulary():
    return get_law("vocabulary").fit(vocabulary_ladder(**VOCABULARY, seed=0), bootstrap=0, calibrate=False)


def test_fit_report_of_a_log_space_law(chinchilla):
    text = fit_report(chinchilla)
    assert "sum of Huber, delta=0.001, on log loss" in text
    assert "residuals log loss: RMS" in text
    assert "16 runs, 16 points" in text and "converged" in text
    assert "bootstrap 20 resamples of runs (seed 0), 95% percentile intervals" in text
    assert "compute-optimal allocation (C = 6 N D), 95% intervals" in text
    alpha = next(line for line in text.splitlines() if line.startswith("alpha"))
    assert f"{chinchilla.params_['alpha']:.5g}" in alpha


def test_fit_report_of_a_linear_space_law_has_no_log_and_no_allocation(vocabulary):
    text = fit_report(vocabulary)
    assert "on loss_unigram" in text and "residuals loss_unigram: RMS" in text
    assert "log" not in text and "compute-optimal allocation" not in text
    assert "bootstrap none" in text


def test_fit_warnings_say_what_went_wrong(chinchilla):
    assert fit_warnings(chinchilla) == []
    law = copy.copy(chinchilla)              # a fit to edit, leaving the fixture's alone
    law.converged_, law.message_, law.at_bound_ = False, "ABNORMAL_TERMINATION", ["a", "beta"]
    lines = fit_warnings(law)
    assert "did not converge (ABNORMAL_TERMINATION)" in lines[1]
    # the report's names and ranges (A = exp(a), a in [-20, 100]), never the fit space's
    assert lines[2].startswith(f"WARNING: A = {law.params_['A']:.5g} ended on a bound of its "
                               "range [2.061e-09, 2.688e+43]")
    assert lines[3].startswith(f"WARNING: beta = {law.params_['beta']:.5g} ended on a bound "
                               "of its range [0, 5]")
    assert "fit-space" not in "\n".join(lines) and "'a'" not in "\n".join(lines)
    assert "DID NOT CONVERGE" in fit_report(law)


def test_a_point_outside_its_own_interval_is_a_warning(chinchilla):
    law = copy.copy(chinchilla)
    low, high = law.intervals_["E"]
    law.params_ = {**law.params_, "E": high * 1.5}
    law.outside_interval_ = law.points_outside_intervals()
    assert law.outside_interval_ == ["E"]
    (warning,) = fit_warnings(law)[1:]
    assert warning.startswith(f"WARNING: E = {1.5 * high:.5g} lies outside its own 95% interval "
                              f"[{low:.5g}, {high:.5g}]")


def test_the_allocation_table_shows_whatever_a_law_allocates(chinchilla):
    text = compute_optimal_table(chinchilla, [1e21])
    header = text.splitlines()[1].split()
    assert header[:2] == ["FLOPs", "params"] and "tokens/param" in header and "loss" in header
    law = copy.copy(chinchilla)

    def with_vocabulary(flops):        # a law whose answer carries one more key, as a
        out = type(law).compute_optimal(law, flops)          # vocabulary law adds V
        out["vocab_size"] = tuple(np.full(len(np.atleast_1d(flops)), v) for v in (32e3, 3e4,
                                                                                  4e4))
        return out

    law.compute_optimal = with_vocabulary
    text = compute_optimal_table(law, [1e21, 1e22])
    header = text.splitlines()[1].split()
    assert header[header.index("loss") + 1] == "vocab_size"
    assert header[-4:] == ["×", "params", "×", "tokens"]      # how far each allocation reaches
    assert "32000 [30000, 40000]" in text.splitlines()[2]


def test_prediction_table_names_the_target(vocabulary, chinchilla):
    text = prediction_table(vocabulary, params_nonembed=[1e9, 2e9], vocab_params=3e7,
                            tokens=3e10)
    lines = text.splitlines()
    assert lines[0].split()[:4] == ["params_nonembed", "vocab_params", "tokens",
                                    "loss_unigram"]
    assert lines[3].startswith("(× params_nonembed, × vocab_params, ")
    # the fixture has no calibration: the point 2e9 (0.3 decades beyond the fitted
    # params_nonembed) warns that nothing measured its error there (issue 24: outside-data)
    assert lines[4].startswith("WARNING: the prediction at params_nonembed 2e+09, vocab_params "
                               "3e+07, tokens 3e+10 reaches 0.3 decades outside the fitted data")
    assert "no calibrated error model" in lines[4]
    assert lines[5:] == [w for w in fit_warnings(vocabulary) if w]
    expected = vocabulary.predict_values(params_nonembed=1e9, vocab_params=3e7, tokens=3e10)[0]
    assert f"{expected:.5g}" in lines[1]
    # no error model: the default interval is the run interval; any kind can be asked for
    text = prediction_table(chinchilla, params=7e10, tokens=1.4e12)
    assert "95% interval (run)" in text and "×230" in text.splitlines()[1]
    assert "95% interval (law)" in prediction_table(chinchilla, "law", params=7e10,
                                                    tokens=1.4e12)
    with pytest.raises(ScalingError, match="--interval calibrated: this fit has no error model"):
        prediction_table(chinchilla, "calibrated", params=7e10, tokens=1.4e12)


def test_reach_cells():
    assert [reach_cell(v, 10.0, 100.0) for v in (430.0, 7800.0, 50.0, 100.0, 5.0, 1.234e7)] \
        == ["×4.3", "×78", "inside", "inside", "÷2", "×1.2e+05"]


def test_backtest_report_relative_and_absolute():
    row = {"run": "r1", "params": 1e9, "actual": 2.0, "predicted": 2.02, "lower": 1.9,
           "upper": 2.1}
    relative = {"law": "chinchilla", "train": "params < 1e9", "train_runs": ["a", "b"],
                "error_kind": "relative", "test": [{**row, "rel_error": 0.01}],
                "mean_abs_rel_error": 0.01, "coverage": {"0.95": 1.0},
                "interval": {"kind": "calibrated", "level": 0.95},
                "scored": {"rows": "final rows", "n": 1},
                "intervals": {"calibrated": {"coverage": {"0.5": 0.0, "0.95": 1.0},
                                             "mean_width": {"0.5": 0.02, "0.95": 0.1},
                                             "interval_score": {"0.5": 0.06, "0.95": 0.1}}},
                "test_curves": [{"run": "r1", "pred_e": 0.005, "worst_e": 0.02}],
                "mean_pred_e": 0.005, "mean_worst_e": 0.02}
    text = backtest_report(relative, ["params"])
    assert "+1.00%" in text and "mean absolute relative error 1.000%" in text
    assert "mean PredE 0.500%, mean WorstE 2.000%" in text
    assert "intervals on 1 final rows" in text
    assert "calibrated (shown)    95%      100%      10.00%          10.00%" in text
    assert "calibrated (shown)    50%        0%       2.00%           6.00%" in text
    absolute = {**relative, "error_kind": "absolute", "test": [{**row, "error": -0.02}],
                "mean_abs_error": 0.02, "mean_pred_e": 0.004, "mean_worst_e": 0.01}
    del absolute["mean_abs_rel_error"]
    text = backtest_report(absolute, ["params"])
    assert "-0.0200" in text and "mean absolute error 0.02" in text
    assert "%" not in text.split("intervals on")[0]
    assert "calibrated (shown)    95%      100%         0.1             0.1" in text
    assert "mean PredE 0.004, mean WorstE 0.01" in text


def test_a_backtest_shows_distance_in_decades_and_accuracies_in_points():
    """The "beyond" cell is the warnings' number of decades with its unit (2 significant digits,
    "1.2 dec"; before issue 27 the table said "1.23 dec" where a warning said "1.2 decades"),
    and accuracies are points without "%" (the heading names the unit), as `scaling plan` too."""
    row = {"run": "r1", "params": 1e9, "tokens": 2e10, "actual": 0.6123, "predicted": 0.58,
           "lower": 0.5, "upper": 0.66, "error": -0.0323, "distance": 1.2345}
    accuracy = {"law": "task-accuracy", "task": "next_chars", "train": "params < 1e9",
                "train_runs": ["a", "b"], "test": [row, {**row, "run": "r2", "distance": 0.0,
                                                          "lower": None, "upper": None}],
                "mean_abs_error": 0.0323, "interval": {"kind": "run", "level": 0.95}}
    lines = backtest_report(accuracy, ["params", "tokens"]).splitlines()
    assert "accuracies in points (%)" in lines[0]
    assert lines[2].split() == ["run", "params", "tokens", "actual", "predicted", "run", "95%",
                                "error", "pt", "beyond"]
    assert lines[3].split() == ["r1", "1e+09", "2e+10", "61.2", "58.0", "[50.0,", "66.0]",
                                "-3.2", "1.2", "dec"]
    assert lines[4].split() == ["r2", "1e+09", "2e+10", "61.2", "58.0", "-", "-3.2", "-"]
    loss = {"law": "chinchilla", "train": "params < 1e9", "train_runs": ["a"],
            "error_kind": "relative", "mean_abs_rel_error": 0.01,
            "test": [{"run": "r1", "params": 1e9, "actual": 2.0, "predicted": 2.02,
                      "rel_error": 0.01, "distance": 0.3512}]}
    assert backtest_report(loss, ["params"]).splitlines()[3].split() == \
        ["r1", "1e+09", "2.0000", "2.0200", "+1.00%", "0.35", "dec"]


def test_table_pads_and_aligns():
    text = table(("name", "value"), [("a", "1"), ("long name", "22")], right=("value",))
    assert text.splitlines() == ["name       value", "a              1", "long name     22"]


def test_a_backtest_shows_its_fits_warnings_not_its_allocations():
    fit = {"warnings": [
        {"code": "at-bound", "severity": "warning", "message": "E = 0 ended on a bound"},
        {"code": "wide-interval", "severity": "warning", "message": "the allocation at 1e21"},
        {"code": "error-over-limit", "severity": "warning", "message": "points at 1e21"},
        {"code": "beyond-calibration", "severity": "caution", "message": "a caution"}]}
    assert fit_warning_lines({"fit": fit}) == ["WARNING (fit): E = 0 ended on a bound"]
    assert fit_warning_lines({}) == []
