"""Backtests: fit a law on one selection of runs, predict the final rows of others.

    result = backtest(runs, "chinchilla", train="params < 1e9")

The training rows are those matching `train`; the test runs are those matching `test` (default:
every run with no training row), each judged at its final row. Errors are relative,
(predicted − actual) / actual. Intervals are for a run's measured loss (the law's bootstrap
uncertainty and the fit's residual scatter, see `Law.predict_interval`); coverage is the share
of actual values inside them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from scaling.errors import ScalingError
from scaling.laws import get_law
from scaling.runs import filter_rows, final_rows, validate


def backtest(runs: pd.DataFrame, law: str, train: str, test: str | None = None, *,
             bootstrap: int = 200, seed: int = 0, n_jobs: int | None = None, **settings) -> dict:
    """Fit `law` on the rows matching `train`, predict the held-out runs; returns the record.

    The record: {"law", "train_runs", "test": [{"run", "params", "tokens", "actual", "predicted",
    "lower", "upper", "rel_error"}], "mean_abs_rel_error", "coverage", "fit"}, and for laws of
    whole curves (`rows = "all"`) also {"test_curves": [{"run", "pred_e", "worst_e"}],
    "mean_pred_e", "mean_worst_e"} (fractions, not percent).
    """
    model = get_law(law, **settings)
    source = runs.attrs.get("source", "run table")
    runs = model.prepare(validate(runs, source, model.read_columns))
    runs.attrs["source"] = source
    train_rows = filter_rows(runs, train, option="--train")
    if test:
        test_rows = filter_rows(runs, test, option="--test")
    else:
        test_rows = runs[~runs["run"].isin(train_rows["run"])]
        if len(test_rows) == 0:
            raise ScalingError(f"{source}: --train {train!r} selects every run; nothing is left "
                               f"to test (give --test)")
    test_rows.attrs = dict(runs.attrs)
    model.fit(train_rows, bootstrap=bootstrap, seed=seed, n_jobs=n_jobs)
    targets = final_rows(test_rows)
    predicted, lower, upper = model.predict_rows(targets, kind="run")
    actual = targets[model.target].to_numpy(float)
    rel_error = (predicted - actual) / actual
    inside = (actual >= lower) & (actual <= upper)
    rows = []
    for k, (_, row) in enumerate(targets.iterrows()):
        rows.append({"run": row["run"], **{n: float(row[n]) for n in model.inputs},
                     "actual": float(actual[k]), "predicted": float(predicted[k]),
                     "lower": _number(lower[k]), "upper": _number(upper[k]),
                     "rel_error": float(rel_error[k])})
    record = {
        "law": model.name,
        "train": train,
        "test_query": test,
        "train_runs": sorted(train_rows["run"].unique().tolist()),
        "test": rows,
        "mean_abs_rel_error": float(np.mean(np.abs(rel_error))),
        "coverage": float(np.mean(inside)) if bootstrap else None,
        "fit": model.to_dict(),
    }
    if model.rows == "all":  # laws of whole curves are also judged on every row of each curve
        record.update(curve_errors(model, test_rows))
    return record


def curve_errors(model, rows: pd.DataFrame) -> dict:
    """Per test curve: PredE = mean over its rows of |L − L̂| / L, WorstE = the max (fractions)."""
    curves = []
    for run, curve in rows.groupby("run", sort=False):
        predicted = model.predict_rows(curve)
        error = np.abs(curve[model.target].to_numpy(float) - predicted) / curve[model.target]
        curves.append({"run": run, "pred_e": float(np.mean(error)),
                       "worst_e": float(np.max(error))})
    return {"test_curves": curves,
            "mean_pred_e": float(np.mean([c["pred_e"] for c in curves])),
            "mean_worst_e": float(np.mean([c["worst_e"] for c in curves]))}


def _number(value):
    return None if not np.isfinite(value) else float(value)
