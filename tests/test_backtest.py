"""Backtests: fit on small runs, predict held-out large ones."""

import numpy as np
import pandas as pd
import pytest

from scaling.analysis.backtest import backtest
from scaling.data.synthetic import chinchilla_ladder

TRUE = {"E": 2.0, "A": 500.0, "B": 1500.0, "alpha": 0.33, "beta": 0.35}
SIZES = [1e7, 2e7, 4e7, 8e7, 1.6e8, 3.2e8, 6.4e8, 1.28e9]


def test_backtest_on_synthetic_ladder_recovers_parameters():
    # A ladder from known parameters with 0.5% multiplicative noise; train on all but the two
    # largest sizes, test on those.
    runs = chinchilla_ladder(**TRUE, params=SIZES, tokens_per_param=[4, 8, 16, 32, 64],
                             noise=0.005, seed=11)
    record = backtest(runs, "chinchilla", train="params < 5e8", bootstrap=200, seed=0)
    fit = record["fit"]
    assert len(record["train_runs"]) == 30 and len(record["test"]) == 10
    # every true parameter inside its 95% bootstrap interval; exponents close in value
    for name, value in TRUE.items():
        low, high = fit["intervals"][name]
        assert low <= value <= high, (name, low, high)
    assert fit["params"]["alpha"] == pytest.approx(TRUE["alpha"], abs=0.03)
    assert fit["params"]["beta"] == pytest.approx(TRUE["beta"], abs=0.03)
    # held-out predictions: error near the noise level, run intervals that cover the runs
    assert record["mean_abs_rel_error"] < 0.015
    for row in record["test"]:
        assert row["rel_error"] == pytest.approx((row["predicted"] - row["actual"]) / row["actual"])
        assert row["lower"] <= row["predicted"] <= row["upper"]
    assert record["interval"] == {"kind": "calibrated", "level": 0.95}
    assert record["coverage"]["0.95"] >= 0.7
    # the shown kind's 95% coverage and interval score are those of the rows' intervals:
    # S = (u − l) + (2/α)·miss, relative to the actual value, α = 0.05 (Gneiting & Raftery 2007)
    actual = np.array([r["actual"] for r in record["test"]])
    lower, upper = (np.array([r[k] for r in record["test"]]) for k in ("lower", "upper"))
    miss = np.maximum(lower - actual, 0) + np.maximum(actual - upper, 0)
    assert record["coverage"]["0.95"] == pytest.approx(np.mean(miss == 0))
    assert record["interval_score"]["0.95"] == pytest.approx(
        np.mean((upper - lower + 40 * miss) / actual), rel=1e-9)
    assert set(record["intervals"]) == {"calibrated", "run", "law"}
    for kind, scores in record["intervals"].items():   # wider levels: wider intervals
        widths = [scores["mean_width"][level] for level in ("0.5", "0.8", "0.95")]
        assert widths == sorted(widths), kind
    assert record["scored"] == {"rows": "final rows", "n": 10}
    truth = [TRUE["E"] + TRUE["A"] / r["params"] ** TRUE["alpha"]
             + TRUE["B"] / r["tokens"] ** TRUE["beta"] for r in record["test"]]
    predicted = [r["predicted"] for r in record["test"]]
    assert np.allclose(predicted, truth, rtol=0.02)


def test_backtest_explicit_test_query_and_curves():
    # Several rows per run: only each test run's final row is judged.
    runs = chinchilla_ladder(**TRUE, params=SIZES, tokens_per_param=[4, 8, 16, 32],
                             noise=0.0, seed=0)
    early = runs.copy()
    early["tokens"] = early["tokens"] / 2
    early["loss"] = early["loss"] + 0.5
    both = pd.concat([early, runs], ignore_index=True)
    both.index = pd.RangeIndex(1, len(both) + 1)
    both.attrs["source"] = "synthetic"
    record = backtest(both, "chinchilla", train="params < 5e8", test="params > 1e9",
                      bootstrap=0, calibrate=False)
    assert [r["params"] for r in record["test"]] == [1.28e9] * 4
    assert record["mean_abs_rel_error"] < 1e-6  # noiseless: the law is exact
    assert record["coverage"] is None and record["test"][0]["lower"] is None
