"""The two-step task law (scaling/laws/task.py, a chained law) and its step 2
(scaling/laws/task_accuracy.py): accuracies in [0, 1], fitted in linear space, through the CLI."""

import json

import numpy as np
import pytest

import cli
from scaling.synthetic import task_ladder

LOSS = {"E": 0.3, "A": 40.0, "B": 150.0, "alpha": 0.3, "beta": 0.3}
ACCURACY = {"a": 0.6, "b": 0.25, "k": -6.0, "L0": 1.0}


def accuracy_at(params, tokens):
    loss = LOSS["E"] + LOSS["A"] / params ** LOSS["alpha"] + LOSS["B"] / tokens ** LOSS["beta"]
    return ACCURACY["a"] / (1 + np.exp(-ACCURACY["k"] * (loss - ACCURACY["L0"]))) + ACCURACY["b"]


@pytest.fixture
def runs_csv(tmp_path):
    runs = task_ladder(loss_params=LOSS, accuracy_params=ACCURACY, seed=5)
    assert runs["acc:hellaswag"].between(0, 1).all()
    runs.to_csv(tmp_path / "runs.csv", index=False)
    return tmp_path / "runs.csv"


def test_cli_fits_accuracies_in_two_steps_and_predicts_a_larger_model(runs_csv, tmp_path,
                                                                     capsys):
    code = cli.main(["fit", str(runs_csv), "--law", "task", "--set", "task=hellaswag",
                     "--bootstrap", "40", "--out", str(tmp_path / "fit.json")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "on log loss:hellaswag" in out and "on acc:hellaswag" in out
    record = json.loads((tmp_path / "fit.json").read_text())
    assert record["settings"]["task"] == "hellaswag" and record["space"] == "linear"
    assert record["rows"] == "both" and record["n_runs"] == 20 and record["n_points"] == 100
    fitted = record["params"]
    for name, tolerance in (("E", 0.03), ("alpha", 0.05), ("beta", 0.05), ("a", 0.03),
                            ("b", 0.03), ("k", 0.03), ("L0", 0.01)):
        truth = {**LOSS, **ACCURACY}[name]
        assert fitted[name] == pytest.approx(truth, rel=tolerance), name
    assert cli.main(["predict", str(tmp_path / "fit.json"), "--params", "7e9",
                     "--tokens", "1.4e11"]) == 0
    row = capsys.readouterr().out.splitlines()[1].split()
    assert float(row[2]) == pytest.approx(accuracy_at(7e9, 1.4e11), abs=0.01)


def test_cli_fits_step_2_alone_and_predicts_from_a_task_loss(runs_csv, tmp_path, capsys):
    code = cli.main(["fit", str(runs_csv), "--law", "task-accuracy", "--set", "task=hellaswag",
                     "--bootstrap", "0", "--out", str(tmp_path / "fit.json")])
    assert code == 0, capsys.readouterr().err
    fitted = json.loads((tmp_path / "fit.json").read_text())["params"]
    for name, truth in ACCURACY.items():
        assert fitted[name] == pytest.approx(truth, rel=0.03), name
    capsys.readouterr()
    assert cli.main(["predict", str(tmp_path / "fit.json"), "--input",
                     "loss:hellaswag=1.0,0.5"]) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    assert float(rows[0].split()[1]) == pytest.approx(0.25 + 0.6 / 2, abs=0.01)   # at L0
    # at L = 0.5: −k·(L − L0) = 6·(−0.5) = −3
    assert float(rows[1].split()[1]) == pytest.approx(0.25 + 0.6 / (1 + np.exp(-3.0)), abs=0.01)


@pytest.mark.parametrize("argv, message", [
    (["--law", "task"], "the task law needs --set task=… (the task NAME"),
    (["--law", "task", "--set", "task=mmlu"], "missing column 'loss:mmlu'"),
    (["--law", "task", "--set", "tsk=hellaswag"], "the task law has no setting 'tsk'"),
    (["--law", "task-accuracy", "--set", "task"], "bad --set 'task': expected NAME=VALUE"),
])
def test_bad_task_settings_are_one_line_errors(runs_csv, capsys, argv, message):
    assert cli.main(["fit", str(runs_csv), "--bootstrap", "0", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_an_accuracy_outside_0_1_is_a_one_line_error(tmp_path, capsys):
    runs = task_ladder(loss_params=LOSS, accuracy_params=ACCURACY, seed=5)
    runs.loc[7, "acc:hellaswag"] = 1.4
    runs.to_csv(tmp_path / "runs.csv", index=False)
    assert cli.main(["fit", str(tmp_path / "runs.csv"), "--law", "task-accuracy", "--set",
                     "task=hellaswag", "--bootstrap", "0"]) == 2
    err = capsys.readouterr().err
    assert "column 'acc:hellaswag', row 7: must be in [0, 1]" in err and "got 1.4" in err
