"""The task laws (Bhagia et al. 2024, arXiv:2412.04403): step 1 (scaling/laws/task_loss.py),
step 2 (task_accuracy.py), the chain (task.py), the variants (task_error.py, task_single.py),
their data treatment (scaling/data/evaluations.py) and the CLI's --task, --variant and --chance.

The paper's procedure is reimplemented here from its description, independently of the engine
(scipy's L-BFGS-B for step 1, scipy's curve_fit for step 2, as the paper's code calls them), and
the laws must land on the same parameters."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import curve_fit, minimize

import cli
from scaling.engine import diagnostics
from scaling.errors import ScalingError
from scaling.laws import get_law
from scaling.data.synthetic import task_ladder
from scaling.data.evaluations import (IDEAL_RUN, final_values, ideal_point, moving_average,
                               smoothed_rows)

LOSS = {"E": 0.3, "A": 40.0, "B": 150.0, "alpha": 0.3, "beta": 0.3}
ACCURACY = {"a": -0.745, "b": 0.995, "k": 8.0, "L0": 1.0}    # the paper's form: a < 0 < k


def noisy_runs(**options):
    """20 runs (5 sizes x 4 budgets), 20 evaluations each, noisy like real evaluations."""
    settings = dict(loss_params=LOSS, accuracy_params=ACCURACY, seed=5,
                    checkpoints=tuple(np.linspace(0.05, 1.0, 20)), accuracy_noise=0.01,
                    loss_noise=0.005)
    return task_ladder(**{**settings, **options})


def true_accuracy(params, tokens):
    loss = LOSS["E"] + LOSS["A"] / params ** LOSS["alpha"] + LOSS["B"] / tokens ** LOSS["beta"]
    return ACCURACY["a"] / (1 + np.exp(-ACCURACY["k"] * (loss - ACCURACY["L0"]))) + ACCURACY["b"]


@pytest.fixture
def runs_csv(tmp_path):
    runs = noisy_runs()
    runs.to_csv(tmp_path / "runs.csv", index=False)
    return tmp_path / "runs.csv"


# -- the data treatment ------------------------------------------------------------------------

def test_moving_average_is_the_papers():
    """A trailing mean of 5; the first 4 points average what came so far."""
    values = np.array([1.0, 3.0, 2.0, 6.0, 4.0, 8.0, 0.0])
    expected = [1.0, 2.0, 2.0, 3.0, 3.2, 4.6, 4.0]     # 16/5, 23/5, 20/5
    np.testing.assert_allclose(moving_average(values, 5), expected)
    np.testing.assert_allclose(moving_average(values[:3], 5), [1.0, 2.0, 2.0])


def test_step_2_points_skip_10_percent_then_smooth_and_add_the_ideal_point():
    frame = pd.DataFrame({"run": ["r"] * 11 + ["s"] * 3, "tokens": [*range(1, 12), 1, 2, 3],
                          "loss:t": np.arange(14.0), "acc:t": np.linspace(0, 0.5, 14)})
    points = smoothed_rows(frame, ("loss:t", "acc:t"))
    # r: ceil(1.1) = 2 rows dropped, 9 kept; s: ceil(0.3) = 1 dropped, 2 kept
    assert list(points.groupby("run").size()) == [9, 2]
    np.testing.assert_allclose(points["loss:t"].to_numpy()[:6], [2, 2.5, 3, 3.5, 4, 5])
    with_ideal = ideal_point(points, "loss:t", "acc:t")
    last = with_ideal.iloc[-1]
    assert last["run"] == IDEAL_RUN and last["loss:t"] == 0 and last["acc:t"] == 1
    assert with_ideal["anchor"].sum() == 1


def test_a_runs_final_value_is_the_mean_of_its_last_5_evaluations():
    frame = pd.DataFrame({"run": ["r"] * 7, "params": 1e6, "tokens": np.arange(1.0, 8.0),
                          "loss:t": [9, 9, 1, 2, 3, 4, 5.0]})
    final = final_values(frame, ("loss:t",), 5)
    assert len(final) == 1 and final["tokens"].iloc[0] == 7 and final["loss:t"].iloc[0] == 3.0


# -- each step is the paper's fit --------------------------------------------------------------

def papers_step_1(params, tokens, loss):
    """Step 1 as the paper fits it: L-BFGS-B on Σ Huber_1e-3(log L̂ − log L) over
    (log A, log B, α, β, E) ≥ 0 from (3, 6, 0.1, 0.2, 1), ftol 0, gtol 1e-10."""
    delta = 1e-3

    def predicted(p):
        return np.exp(p[0] - p[2] * np.log(params)) + np.exp(p[1] - p[3] * np.log(tokens)) + p[4]

    def objective(p):
        r = np.log(predicted(p)) - np.log(loss)
        huber = np.where(np.abs(r) < delta, 0.5 * r ** 2, delta * (np.abs(r) - 0.5 * delta))
        slope = np.clip(r, -delta, delta) / predicted(p)
        n_term = np.exp(p[0] - p[2] * np.log(params))
        d_term = np.exp(p[1] - p[3] * np.log(tokens))
        gradient = [np.sum(slope * n_term), np.sum(slope * d_term),
                    np.sum(-slope * n_term * np.log(params)),
                    np.sum(-slope * d_term * np.log(tokens)), np.sum(slope)]
        return huber.sum(), np.array(gradient)

    result = minimize(objective, [3.0, 6.0, 0.1, 0.2, 1.0], jac=True, method="L-BFGS-B",
                      bounds=[(0, None)] * 5,
                      options={"ftol": 0.0, "gtol": 1e-10, "maxiter": 100_000})
    a, b, alpha, beta, E = result.x
    return {"A": math.exp(a), "B": math.exp(b), "alpha": alpha, "beta": beta, "E": E}


def papers_step_2(loss, accuracy, chance):
    """Step 2 as the paper fits it: scipy's curve_fit (least squares) of
    a/(1 + exp(−k(L − L0))) + b from (chance − 1, 0.9, 3, 1) within a ∈ [−1, 0], L0 ≥ 0, k ≥ 0,
    b ∈ [0, 1]."""
    def sigmoid(x, a, l0, k, b):
        return a / (1 + np.exp(-k * (x - l0))) + b

    (a, l0, k, b), _ = curve_fit(sigmoid, loss, accuracy, p0=[chance - 1.0, 0.9, 3.0, 1.0],
                                 bounds=([-1.0, 0.0, 0.0, 0.0], [0.0, np.inf, np.inf, 1.0]),
                                 maxfev=500_000)
    return {"a": a, "L0": l0, "k": k, "b": b}


def test_step_1_reproduces_the_papers_fit_and_recovers_the_truth():
    runs = noisy_runs()
    law = get_law("task-loss", task="hellaswag").fit(runs, bootstrap=0, calibrate=False)
    assert law.converged_ and law.at_bound_ == []
    finals = final_values(runs, ("loss:hellaswag",), 5)
    paper = papers_step_1(finals["params"].to_numpy(), finals["tokens"].to_numpy(),
                          finals["loss:hellaswag"].to_numpy())
    for name, value in paper.items():
        assert law.params_[name] == pytest.approx(value, rel=1e-4), name
    # the truth, up to the bias of averaging the last 5 evaluations (at 80%–100% of D)
    for name, tolerance in (("E", 0.03), ("alpha", 0.03), ("beta", 0.03), ("A", 0.1),
                            ("B", 0.1)):
        assert law.params_[name] == pytest.approx(LOSS[name], rel=tolerance), name


def test_step_2_reproduces_the_papers_fit_and_recovers_the_truth():
    runs = noisy_runs()
    law = get_law("task-accuracy", task="hellaswag").fit(runs, bootstrap=0, calibrate=False)
    assert law.converged_ and law.at_bound_ == []
    points = ideal_point(smoothed_rows(runs, ("loss:hellaswag", "acc:hellaswag")),
                         "loss:hellaswag", "acc:hellaswag")
    assert law.n_points_ == len(points) == 20 * 18 + 1
    paper = papers_step_2(points["loss:hellaswag"].to_numpy(float),
                          points["acc:hellaswag"].to_numpy(float), 0.25)
    for name, value in paper.items():
        assert law.params_[name] == pytest.approx(value, rel=1e-4, abs=1e-6), name
    for name, tolerance in (("a", 0.02), ("b", 0.01), ("k", 0.05), ("L0", 0.01)):
        assert law.params_[name] == pytest.approx(ACCURACY[name], rel=tolerance), name


def test_gadre_step_2_recovers_its_parameters():
    truth = {"eps": 0.8, "k": 1.2, "gamma": 1.5}
    runs = noisy_runs(accuracy_params=truth, form="exponential")
    law = get_law("task-error", task="hellaswag").fit(runs, bootstrap=0, calibrate=False)
    assert law.converged_ and law.at_bound_ == []
    for name, value in truth.items():
        assert law.params_[name] == pytest.approx(value, rel=0.05), name


def test_the_chain_predicts_a_larger_model_inside_its_interval():
    law = get_law("task", task="hellaswag").fit(noisy_runs(), bootstrap=60, seed=1, calibrate=False)
    point, lower, upper = law.predict_interval("run", params=3e9, tokens=6e10)
    truth = true_accuracy(3e9, 6e10)
    assert lower[0] <= truth <= upper[0] and upper[0] <= 1.0
    assert point[0] == pytest.approx(truth, abs=0.01)


@pytest.mark.parametrize("law_name", ["task", "task-single"])
def test_beyond_a_flat_fit_every_interval_spans_chance_to_one(law_name):
    """Accuracies at chance (0.25 plus noise) on every run: the fit warns near-chance and no
    longer claims to know the accuracy of a larger model (tests/test_pythia_tasks.py has the
    real case); inside its data its interval stays narrow."""
    runs = noisy_runs()
    runs["acc:hellaswag"] = 0.25 + 0.005 * np.random.default_rng(0).standard_normal(len(runs))
    law = get_law(law_name, task="hellaswag").fit(runs, bootstrap=40, seed=1, calibrate=False)
    assert "near-chance" in {w["code"] for w in diagnostics.fit_warnings(law)}
    low, high = law.law.unidentified_range(law)       # the lower of chance and the fitted accuracies
    assert high == 1.0 and low == min(0.25, law.extras_["accuracy_range"][0]) and low > 0.2
    _, lower, upper = law.predict_interval("run", params=3e9, tokens=6e10)
    assert upper[0] == 1.0 and lower[0] <= 0.25
    largest = runs.loc[runs["params"].idxmax()]
    _, lower, upper = law.predict_interval("run", params=largest["params"],
                                           tokens=largest["tokens"])
    assert upper[0] < 0.3


# -- the CLI -----------------------------------------------------------------------------------

def test_cli_fits_two_steps_and_predicts_a_larger_model(runs_csv, tmp_path, capsys):
    code = cli.main(["fit", str(runs_csv), "--law", "task", "--task", "hellaswag",
                     "--bootstrap", "40", "--out", str(tmp_path / "fit.json")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "on log loss:hellaswag" in out and "on acc:hellaswag" in out
    record = json.loads((tmp_path / "fit.json").read_text())
    assert record["settings"]["task"] == "hellaswag" and record["settings"]["last"] == 5
    assert record["n_runs"] == 20 and record["n_points"] == 20 + 20 * 18 + 1
    assert cli.main(["predict", str(tmp_path / "fit.json"), "--params", "3e9",
                     "--tokens", "6e10"]) == 0
    row = capsys.readouterr().out.splitlines()[1].split()
    assert float(row[2]) == pytest.approx(true_accuracy(3e9, 6e10), abs=0.01)


def test_cli_predicts_step_2_alone_from_a_task_loss(runs_csv, tmp_path, capsys):
    assert cli.main(["fit", str(runs_csv), "--law", "task-accuracy", "--task", "hellaswag",
                     "--bootstrap", "0", "--out", str(tmp_path / "fit.json")]) == 0
    capsys.readouterr()
    assert cli.main(["predict", str(tmp_path / "fit.json"), "--input",
                     "loss:hellaswag=1.0,0.5"]) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    a, b, k = ACCURACY["a"], ACCURACY["b"], ACCURACY["k"]
    assert float(rows[0].split()[1]) == pytest.approx(b + a / 2, abs=0.01)      # at L0
    assert float(rows[1].split()[1]) == pytest.approx(b + a / (1 + np.exp(k * 0.5)), abs=0.01)


def test_backtest_reports_points_and_writes_the_issues_json(runs_csv, tmp_path, capsys):
    code = cli.main(["backtest", str(runs_csv), "--task", "hellaswag", "--train", "params < 5e8",
                     "--bootstrap", "40", "--json", str(tmp_path / "bt.json")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "accuracies in points" in out and "error pt" in out and "mean absolute error" in out
    record = json.loads((tmp_path / "bt.json").read_text())
    assert record["law"] == "task" and record["task"] == "hellaswag"
    assert len(record["test"]) == 4                      # the 4 budgets of the 1e9 model
    for row in record["test"]:
        assert {"run", "task", "params", "tokens", "actual", "predicted", "lower", "upper",
                "abs_error"} <= set(row)
        assert 0 <= row["actual"] <= 1 and row["lower"] <= row["predicted"] <= row["upper"]
        assert row["abs_error"] == pytest.approx(abs(row["predicted"] - row["actual"]))
        assert row["abs_error"] < 0.03
    assert record["mean_abs_error"] == pytest.approx(
        np.mean([r["abs_error"] for r in record["test"]]))
    # the actual is the mean of the run's last 5 accuracies, as the paper judges a target
    runs = pd.read_csv(runs_csv)
    last = runs[runs["run"] == record["test"][0]["run"]].tail(5)["acc:hellaswag"].mean()
    assert record["test"][0]["actual"] == pytest.approx(last)


def test_task_all_and_variant_all_compare_every_variant_on_every_task(tmp_path, capsys):
    runs = noisy_runs()
    runs["acc:copy"], runs["loss:copy"] = runs["acc:hellaswag"], runs["loss:hellaswag"]
    runs["acc:no_loss"] = runs["acc:hellaswag"]          # no loss:no_loss: not a two-step task
    runs["loss"] = runs["loss:hellaswag"] * 2.0          # an LM loss for the lm-loss variant
    runs.to_csv(tmp_path / "runs.csv", index=False)
    code = cli.main(["backtest", str(tmp_path / "runs.csv"), "--task", "all", "--variant",
                     "all", "--train", "params < 5e8", "--bootstrap", "0", "--no-calibration",
                     "--json", str(tmp_path / "bt.json")])
    out, err = capsys.readouterr()
    assert code == 0, err
    record = json.loads((tmp_path / "bt.json").read_text())
    assert record["tasks"] == ["copy", "hellaswag"]
    assert record["variants"] == ["two-step", "lm-loss", "gadre", "single-step"]
    assert len(record["test"]) == 2 * 4 * 4 and len(record["summary"]) == 8
    assert {r["variant"] for r in record["test"]} == set(record["variants"])
    by_variant = record["by_variant"]
    assert by_variant["two-step"] < 0.01                  # the data follow the two-step law
    assert by_variant["lm-loss"] < 0.01                   # loss is a multiple of the task loss
    assert "mean absolute error by variant" in out
    # fit --task all: one report per task, then a table
    assert cli.main(["fit", str(tmp_path / "runs.csv"), "--task", "all", "--bootstrap", "0",
                     "--no-calibration"]) == 0
    out = capsys.readouterr().out
    assert "== task copy, variant two-step ==" in out and "== task hellaswag" in out


def test_a_prediction_outside_0_1_warns_and_intervals_inside_are_cut(tmp_path, capsys):
    runs = noisy_runs(accuracy_params={"eps": 0.8, "k": 1.2, "gamma": 1.5}, form="exponential")
    runs.to_csv(tmp_path / "runs.csv", index=False)
    assert cli.main(["fit", str(tmp_path / "runs.csv"), "--law", "task-error", "--task",
                     "hellaswag", "--bootstrap", "40", "--out", str(tmp_path / "fit.json")]) == 0
    capsys.readouterr()
    # Acc(L) = 0.2 + 1.2 exp(−1.5 L) passes 1 below L = 0.274
    assert cli.main(["predict", str(tmp_path / "fit.json"), "--input", "loss:hellaswag=0.1",
                     "--json", str(tmp_path / "p.json")]) == 0
    out = capsys.readouterr().out
    assert "outside [0, 1], the range acc:hellaswag can take" in out
    record = json.loads((tmp_path / "p.json").read_text())
    assert "outside-range" in {w["code"] for w in record["warnings"]}
    prediction = record["predictions"][0]
    assert prediction["predicted"] > 1 and prediction["lower"] > 1     # not cut to [1, 1]
    # a point inside [0, 1] has its interval cut to it
    assert cli.main(["predict", str(tmp_path / "fit.json"), "--input", "loss:hellaswag=0.28",
                     "--json", str(tmp_path / "p.json")]) == 0
    prediction = json.loads((tmp_path / "p.json").read_text())["predictions"][0]
    assert 0.98 < prediction["predicted"] < 1 and prediction["upper"] == 1.0


# -- bad input: one line, exit 2 ---------------------------------------------------------------

@pytest.mark.parametrize("argv, message", [
    (["--law", "task"], "the task law needs a task: --task NAME"),
    (["--law", "task-accuracy"], "the task-accuracy law needs a task: --task NAME"),
    (["--task", "mmlu"], "missing column 'loss:mmlu'"),
    (["--law", "task", "--set", "tsk=hellaswag"], "the task law has no setting 'tsk'"),
    (["--law", "task-accuracy", "--set", "task"], "bad --set 'task': expected NAME=VALUE"),
    (["--task", "hellaswag", "--chance", "1.5"], "--chance must be in [0, 1), got 1.5"),
    (["--law", "kaplan", "--variant", "gadre"], "--variant is the task law's; --law kaplan"),
    (["--law", "chinchilla", "--task", "hellaswag"], "the chinchilla law has no setting 'task'"),
    (["--task", "hellaswag", "--where",
      "run in ['N1e+07-5tpp', 'N3e+07-10tpp', 'N1e+08-20tpp', 'N3e+08-40tpp']"],
     "4 runs for the 5 parameters of loss:hellaswag(N, D); the task-loss law (step 1 of the "
     "task law) needs at least 6 runs"),
])
def test_bad_task_input_is_a_one_line_error(runs_csv, capsys, argv, message):
    assert cli.main(["fit", str(runs_csv), "--bootstrap", "0", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_an_accuracy_outside_0_1_is_a_one_line_error(tmp_path, capsys):
    runs = noisy_runs()
    runs.loc[7, "acc:hellaswag"] = 1.4
    runs.to_csv(tmp_path / "runs.csv", index=False)
    for law in ("task-accuracy", "task", "task-single"):
        assert cli.main(["fit", str(tmp_path / "runs.csv"), "--law", law, "--task",
                         "hellaswag", "--bootstrap", "0"]) == 2
        err = capsys.readouterr().err
        assert "column 'acc:hellaswag', row 7: must be in [0, 1]" in err and "got 1.4" in err


def test_task_all_without_tasks_is_a_one_line_error(tmp_path, capsys):
    runs = noisy_runs().drop(columns=["loss:hellaswag"])
    runs.to_csv(tmp_path / "runs.csv", index=False)
    assert cli.main(["backtest", str(tmp_path / "runs.csv"), "--task", "all", "--train",
                     "params < 5e8"]) == 2
    err = capsys.readouterr().err
    assert "--task all finds no task: no acc:NAME column with a loss:NAME column" in err


def test_the_ideal_point_needs_a_task_and_settings_are_checked():
    with pytest.raises(ScalingError, match="setting skip must be in"):
        get_law("task", task="x", skip="1.5")
    with pytest.raises(ScalingError, match="setting step2 must be sigmoid or exponential"):
        get_law("task", task="x", step2="cubic")
