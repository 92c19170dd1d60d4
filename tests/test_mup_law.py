"""The muP loss-prediction law (scaling/laws/mup.py; Yao & Wang 2023, arXiv:2304.06875):
L(N) = a·N^b + c across muP widths at one token budget, and with a data term d·D^e when the
budgets vary. Synthetic ladders with known parameters; the CPU muP ladder's backtest lives in
tests/test_cpu_mup.py."""

import json

import numpy as np
import pandas as pd
import pytest

import cli
from scaling.analysis.backtest import backtest
from scaling.laws import get_law, load_fit

TRUTH = {"a": 40.0, "b": -0.3, "d": 300.0, "e": -0.25, "c": 1.6}
WIDTHS = np.array([2e5, 4e5, 8e5, 1.6e6, 3.2e6, 6.4e6, 1.28e7])


def widths_at_one_budget(noise=0.001, seed=0):
    loss = TRUTH["a"] * WIDTHS ** TRUTH["b"] + TRUTH["c"]
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"run": [f"w{k}" for k in range(len(WIDTHS))], "params": WIDTHS,
                         "tokens": 5e7, "loss": loss * np.exp(noise * rng.standard_normal(7))})


def widths_and_budgets(noise=0.001, seed=1):
    rows = [{"run": f"N{n:g}-{r}tpp", "params": n, "tokens": n * r,
             "loss": TRUTH["a"] * n ** TRUTH["b"] + TRUTH["d"] * (n * r) ** TRUTH["e"]
             + TRUTH["c"]} for n in WIDTHS[:5] for r in (10, 20, 40)]
    runs = pd.DataFrame(rows)
    runs["loss"] *= np.exp(noise * np.random.default_rng(seed).standard_normal(len(runs)))
    return runs


def test_one_budget_fits_the_width_law_and_predicts_the_largest_width():
    runs = widths_at_one_budget()
    record = backtest(runs, "mup", "params < 1e7", bootstrap=50)
    assert record["fit"]["settings"]["terms"] == "N"
    assert [row["run"] for row in record["test"]] == ["w6"]
    assert abs(record["test"][0]["rel_error"]) < 0.002
    assert record["coverage"]["0.95"] == 1.0


def test_varying_budgets_add_the_data_term_and_the_choice_is_saved(tmp_path):
    law = get_law("mup").fit(widths_and_budgets(), bootstrap=0, calibrate=False)
    assert law.terms == "ND" and law.inputs == ("params", "tokens")
    for name, value in TRUTH.items():
        assert law.params_[name] == pytest.approx(value, rel=0.2 if name in "ad" else 0.05), name
    law.to_json(tmp_path / "fit.json")
    again = load_fit(tmp_path / "fit.json")
    assert again.terms == "ND" and again.params_ == pytest.approx(law.params_, rel=1e-12)
    # --set terms=N ignores the budgets: a law of N alone
    alone = get_law("mup", terms="N").fit(widths_and_budgets(), bootstrap=0, calibrate=False)
    assert alone.inputs == ("params",) and set(alone.params_) == {"a", "b", "c"}


def test_cli_fits_and_predicts(tmp_path, capsys):
    widths_at_one_budget().to_csv(tmp_path / "runs.csv", index=False)
    assert cli.main(["fit", str(tmp_path / "runs.csv"), "--law", "mup", "--bootstrap", "40",
                     "--out", str(tmp_path / "fit.json")]) == 0
    out = capsys.readouterr().out
    assert "L = a N^b + c" in out and "Yao & Wang 2023" in out
    assert json.loads((tmp_path / "fit.json").read_text())["settings"]["terms"] == "N"
    assert cli.main(["predict", str(tmp_path / "fit.json"), "--params", "5e7"]) == 0
    row = capsys.readouterr().out.splitlines()[1].split()
    assert float(row[1]) == pytest.approx(TRUTH["a"] * 5e7 ** TRUTH["b"] + TRUTH["c"], rel=0.01)


@pytest.mark.parametrize("argv, message", [
    (["--set", "terms=NDX"], "setting terms must be auto, N or ND"),
    (["--where", "params < 5e5"], "2 points for 3 parameters; the mup law needs at least 4"),
])
def test_bad_input_is_a_one_line_error(tmp_path, capsys, argv, message):
    widths_at_one_budget().to_csv(tmp_path / "runs.csv", index=False)
    assert cli.main(["fit", str(tmp_path / "runs.csv"), "--law", "mup", "--bootstrap", "0",
                     *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
