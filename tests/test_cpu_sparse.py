"""The sparse law on the bundled CPU ladder (data/cpu_sparse: widths 32-80 x 4, 8, 16 tokens per
parameter x final sparsity 0, 0.5, 0.75, geometric pruning from 25% to 75% of compute): one
parameter set for dense and sparse runs, its fit error beside plain Chinchilla on the final or
the initial parameter count, and the backtest on the largest size's sparse runs. The numbers are
docs/laws.md's ("Sparse pre-training")."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scaling.analysis.backtest import backtest
from scaling.laws import get_law
from scaling.data.runs import read_runs

RUNS = Path(__file__).resolve().parents[1] / "data" / "cpu_sparse" / "runs.parquet"


@pytest.fixture(scope="module")
def runs():
    return read_runs(RUNS)


def fit_error(runs, count, where=None):
    """RMS of the log residuals of the final rows: all, sparse, dense."""
    law = get_law("sparse", count=count).fit(runs, where=where)
    data = law.prepare(runs)
    final = law.fit_rows(data.select(where) if where else data)
    predicted = law.predict(params_average=final["params_average"].to_numpy(),
                            tokens=final["tokens"].to_numpy())
    residuals = np.log(final["loss"].to_numpy() / predicted)
    sparse = final["pruning"].ne("dense").to_numpy()
    return tuple(float(np.sqrt(np.mean(r ** 2)))
                 for r in (residuals, residuals[sparse], residuals[~sparse]))


@pytest.mark.parametrize("where, expected", [
    # all three budgets: the 4-tokens-per-parameter runs (88-344 steps) scatter by ±5%
    (None, {"average": 0.0235, "final": 0.0214, "initial": 0.0261}),
    # 8 and 16 tokens per parameter
    ("tokens > 7 * params", {"average": 0.0098, "final": 0.0092, "initial": 0.0208}),
])
def test_fit_error_by_parameter_count(runs, where, expected):
    errors = {count: fit_error(runs, count, where)[0] for count in expected}
    assert errors == pytest.approx(expected, abs=5e-4)
    # the initial (dense) count fits worst; on these tiny models the average count does not
    # beat the final one (Jin et al. find it does, at 10^8+ parameters): reported, not hidden
    assert errors["initial"] > max(errors["average"], errors["final"])


def test_backtest_on_the_largest_size(runs):
    expected = {"average": 0.0164, "final": 0.0120, "initial": 0.0200}
    largest = {"average": -0.0094, "final": -0.0101, "initial": -0.0056}
    for count, mean_error in expected.items():
        record = backtest(runs, "sparse", train="width < 80",
                          test="width == 80 and pruning != 'dense'", bootstrap=0,
                          calibrate=False, count=count)
        assert len(record["test"]) == 6
        assert record["mean_abs_rel_error"] == pytest.approx(mean_error, abs=5e-4)
        row = next(r for r in record["test"] if "-sp0.75-16tpp" in r["run"])
        assert row["rel_error"] == pytest.approx(largest[count], abs=5e-4)
