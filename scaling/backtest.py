"""Backtests: fit a law on one selection of runs, predict the final rows of others.

    result = backtest(runs, "chinchilla", train="params < 1e9")

The training rows are those matching `train`; the test runs are those matching `test` (default:
every run with no training row), each judged at its final row. Errors are the law's kind
(`Law.error_kind`): relative, (predicted − actual) / actual, for positive targets fitted in log
space; absolute, predicted − actual, for linear-space targets (accuracies, unigram-normalised
losses). Intervals are for a run's measured value (the law's bootstrap uncertainty and the fit's
residual scatter, see `Law.predict_interval`); coverage is the share of actual values inside them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from scaling.errors import ScalingError
from scaling.laws import PreparedRuns, get_law
from scaling.runs import final_rows


def backtest(runs, law: str, train: str, test: str | None = None, *, where: str | None = None,
             lr_file=None, bootstrap: int = 200, seed: int = 0, n_jobs: int | None = None,
             **settings) -> dict:
    """Fit `law` on the rows matching `train`, predict the held-out runs; returns the record.

    `runs` is a run table; the law derives its columns first, then `where`, `train` and `test`
    select rows (so a query may thin a curve whose LRs come from an `lr` column). `settings` are
    the law's (`decay=0.995`). The record: {"law", "settings", "error_kind", "train_runs",
    "test": [{"run", <inputs>, "actual", "predicted", "lower", "upper", <error>}], <mean error>,
    "coverage", "fit"}, where <error> is "rel_error" (relative errors) or "error" (absolute)
    and <mean error> "mean_abs_rel_error" or "mean_abs_error"; for laws of whole curves
    (`rows = "all"`) also {"test_curves": [{"run", "pred_e", "worst_e"}], "mean_pred_e",
    "mean_worst_e"} (fractions, or target units for absolute errors).
    """
    model = get_law(law, **settings)
    data = model.prepare(runs, lr_file)
    if where:
        data = data.select(where)
    train_data = data.select(train, "--train")
    if test:
        test_data = data.select(test, "--test")
        shared = [run for run in pd.unique(test_data.frame["run"])
                  if run in set(train_data.frame["run"])]
        if shared:
            named = ", ".join(repr(str(run)) for run in shared[:3]) + \
                (f" and {len(shared) - 3} more" if len(shared) > 3 else "")
            raise ScalingError(f"{data.source}: --train {train!r} and --test {test!r} share "
                               f"{len(shared)} run(s) ({named}): a backtest scores runs the fit "
                               "never saw; make the two queries select different runs")
    else:
        held_out = sorted(set(data.frame["run"]) - set(train_data.frame["run"]))
        if not held_out:
            raise ScalingError(f"{data.source}: --train {train!r} selects every run; nothing is "
                               f"left to test (give --test)")
        test_data = data.rows_of(held_out)
    model.fit(train_data, bootstrap=bootstrap, seed=seed, n_jobs=n_jobs)
    targets = final_rows(test_data.frame)
    predicted, lower, upper = model.predict_rows(
        PreparedRuns(targets, data.source, data.lr_histories), kind="run")
    actual = targets[model.target].to_numpy(float)
    errors = model.prediction_errors(predicted, actual)
    error_key = "rel_error" if model.error_kind == "relative" else "error"
    inside = (actual >= lower) & (actual <= upper)
    rows = []
    for k, (_, row) in enumerate(targets.iterrows()):
        rows.append({"run": row["run"], **{n: float(row[n]) for n in model.inputs},
                     "actual": float(actual[k]), "predicted": float(predicted[k]),
                     "lower": _number(lower[k]), "upper": _number(upper[k]),
                     error_key: float(errors[k])})
    record = {
        "law": model.name,
        "settings": model.settings(),
        "error_kind": model.error_kind,
        "train": train,
        "test_query": test,
        "where": where,
        "train_runs": sorted(train_data.frame["run"].unique().tolist()),
        "test": rows,
        f"mean_abs_{error_key}": float(np.mean(np.abs(errors))),
        "coverage": float(np.mean(inside)) if bootstrap else None,
        "fit": model.to_dict(),
    }
    if data.lr_sources is not None:      # laws of LRs: where each run's LRs came from
        runs = [*record["train_runs"], *(r["run"] for r in rows)]
        record["lr_sources"] = {run: data.lr_sources[run] for run in runs}
    if model.rows == "all":  # laws of whole curves are also judged on every row of each curve
        record.update(curve_errors(model, test_data))
    return record


def curve_errors(model, data) -> dict:
    """Per test curve: PredE = mean over its rows of the error's size (|L − L̂| / L for relative
    errors), WorstE = the max."""
    curves = []
    for run, curve in data.frame.groupby("run", sort=False):
        predicted = model.predict_rows(PreparedRuns(curve, data.source, data.lr_histories))
        error = np.abs(model.prediction_errors(predicted, curve[model.target].to_numpy(float)))
        curves.append({"run": run, "pred_e": float(np.mean(error)),
                       "worst_e": float(np.max(error))})
    return {"test_curves": curves,
            "mean_pred_e": float(np.mean([c["pred_e"] for c in curves])),
            "mean_worst_e": float(np.mean([c["worst_e"] for c in curves]))}


def _number(value):
    return None if not np.isfinite(value) else float(value)
