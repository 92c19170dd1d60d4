"""The sparse law (Jin et al. 2025, "The Journey Matters", arXiv:2501.12486): Chinchilla's form in
the average parameter count N̄, one parameter set for dense and sparse runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import cli
from scaling.errors import ScalingError
from scaling.laws import get_law, load_fit
from scaling.laws.sparse import schedule_advice
from scaling.data.pruning_schedules import Pruning

TRUTH = {"E": 1.2, "A": 400.0, "B": 900.0, "alpha": 0.34, "beta": 0.30}


def law_loss(params_average, tokens, truth=TRUTH):
    return (truth["E"] + truth["A"] / params_average ** truth["alpha"]
            + truth["B"] / tokens ** truth["beta"])


def synthetic_table(noise=0.0, seed=0, rows_per_run=10, schedule_column=True,
                    sizes=(2e5, 5e5, 1.2e6, 3e6, 8e6), budgets=(20, 80),
                    sparsities=(0.0, 0.5, 0.75), kind="geometric", prunable_share=0.8):
    """Runs of a ladder with pruning: every row has params_active; the `pruning` column (the
    runner's schedule string) when `schedule_column`. Final losses follow the law in N̄."""
    rng = np.random.default_rng(seed)
    records = []
    steps = 400
    for params in sizes:
        prunable = int(prunable_share * params)
        for per_param in budgets:
            tokens_total = per_param * params
            for sparsity in sparsities:
                run = f"n{params:g}-{per_param}tpp-sp{sparsity}"
                schedule = Pruning(kind, sparsity, 0.25, 0.75, 10).for_run(steps, prunable)
                plan = schedule.plan(params)
                row_steps = np.linspace(steps / rows_per_run, steps, rows_per_run).astype(int)
                averages = plan.average_params(row_steps)
                for step, average in zip(row_steps, averages):
                    tokens = tokens_total * step / steps
                    loss = law_loss(average, tokens) * np.exp(noise * rng.standard_normal())
                    record = {"run": run, "params": params, "tokens": tokens, "step": step,
                              "loss": loss, "params_active": float(plan.active_after(step))}
                    if schedule_column:
                        record["pruning"] = str(schedule) if sparsity else "dense"
                    records.append(record)
    frame = pd.DataFrame(records)
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="row")
    frame.attrs["source"] = "synthetic.parquet"
    return frame


def test_recovers_the_parameters_from_dense_and_sparse_runs_together():
    fit = get_law("sparse").fit(synthetic_table(), bootstrap=0, calibrate=False)
    for name, value in TRUTH.items():
        assert fit.params_[name] == pytest.approx(value, rel=1e-3), name
    # dense runs have N̄ = N; sparse ones lie between their final and initial counts
    data = fit.law.prepare(synthetic_table())
    dense = data.frame[data.frame["run"].str.endswith("sp0.0")]
    assert (dense["params_average"] == dense["params"]).all()
    sparse = data.frame[~data.frame["run"].str.endswith("sp0.0")]
    assert ((sparse["params_average"] >= sparse["params_active"]) &
            (sparse["params_average"] <= sparse["params"])).all()


def test_the_rows_alone_give_nearly_the_same_average():
    from_rows = get_law("sparse").prepare(
        synthetic_table(schedule_column=False, rows_per_run=40)).frame
    final = from_rows.groupby("run")["tokens"].idxmax()
    exact_final = get_law("sparse").prepare(synthetic_table(rows_per_run=40)).frame.loc[
        final, "params_average"]
    # events every 10 of 400 steps, rows every 10 (off the events' phase): the trapezoid misses
    # by at most half a row's drop, here 1.3% at worst against the schedule's exact N̄
    assert from_rows.loc[final, "params_average"].to_numpy() == pytest.approx(
        exact_final.to_numpy(), rel=0.02)
    # dense runs exactly
    dense = final[final.index.str.endswith("sp0.0")]
    assert (from_rows.loc[dense, "params_average"] == from_rows.loc[dense, "params"]).all()


def test_average_fits_better_than_chinchilla_on_the_final_or_initial_count():
    table = synthetic_table(noise=0.003, seed=1)
    errors = {}
    for count in ("average", "final", "initial"):
        fit = get_law("sparse", count=count).fit(table, bootstrap=0, calibrate=False)
        final = fit.law.fit_rows(fit.law.prepare(table))
        predicted = fit.predict_values(params_average=final["params_average"].to_numpy(),
                                tokens=final["tokens"].to_numpy())
        errors[count] = np.sqrt(np.mean(np.log(final["loss"] / predicted) ** 2))
    assert errors["average"] < 0.006                 # the noise: 0.3% per row
    assert errors["final"] > 2 * errors["average"]
    assert errors["initial"] > 2 * errors["average"]


def test_backtest_predicts_the_largest_sparse_run(tmp_path, capsys):
    path = tmp_path / "runs.parquet"
    synthetic_table(noise=0.003, seed=2).to_parquet(path)
    out = tmp_path / "backtest.json"
    assert cli.main(["backtest", str(path), "--law", "sparse", "--train", "params < 5e6",
                     "--bootstrap", "50", "--json", str(out)]) == 0
    import json
    record = json.loads(out.read_text())
    tested = {row["run"] for row in record["test"]}
    assert "n8e+06-80tpp-sp0.75" in tested
    assert max(abs(row["rel_error"]) for row in record["test"]) < 0.02


def test_schedule_advice():
    fit = get_law("sparse").fit(synthetic_table(), bootstrap=30, calibrate=False)
    record = schedule_advice(fit, params=5e6, tokens=1e8, sparsity=0.75, prunable=4e6)
    advice = pd.DataFrame(record["windows"])
    # by (start, end) of the window: plain dicts, since pandas < 3 returns a one-row frame, not
    # a row, from .loc on this unsorted MultiIndex
    by_window = {(window["start"], window["end"]): window for window in record["windows"]}
    dense, final_size = advice.iloc[0], advice.iloc[1]
    assert dense["params_average"] == 5e6 and final_size["params_average"] == 2e6
    # pruning later keeps more parameters on average, and so a lower predicted loss
    early, paper, late = (by_window[(0.0, 0.25)], by_window[(0.25, 0.75)],
                          by_window[(0.75, 1.0)])
    assert early["params_average"] < paper["params_average"] < late["params_average"]
    assert early["predicted"] > paper["predicted"] > late["predicted"]
    assert final_size["predicted"] > paper["predicted"] > dense["predicted"]
    # the losses are the law at those N̄
    assert advice["predicted"].to_numpy() == pytest.approx(
        law_loss(advice["params_average"].to_numpy(), 1e8), rel=1e-3)
    # pruned from initialisation: a dense model of the final size
    assert by_window[(0.0, 0.0)]["params_average"] == pytest.approx(2e6, rel=1e-6)
    assert (advice["lower"] <= advice["predicted"]).all()
    assert (advice["predicted"] <= advice["upper"]).all()
    assert record["interval"]["kind"] == "run"
    # the paper's window, by hand: geometric events every 5 of 1000 steps between the steps
    # where 25% and 75% of the compute are spent
    plan = Pruning("geometric", 0.75, 0.25, 0.75, 5).for_run(1000, 800_000).plan(1e6)
    assert paper["params_average"] == pytest.approx(plan.average_params() * 5, rel=1e-9)


def test_cli_advice(tmp_path, capsys):
    path = tmp_path / "runs.parquet"
    synthetic_table().to_parquet(path)
    fit_path = tmp_path / "fit.json"
    assert cli.main(["fit", str(path), "--law", "sparse", "--bootstrap", "20",
                     "--out", str(fit_path)]) == 0
    capsys.readouterr()
    assert cli.main(["predict", str(fit_path), "--params", "5e6", "--tokens", "1e8",
                     "--sparsity", "0.75", "--prunable", "4e6",
                     "--json", str(tmp_path / "advice.json")]) == 0
    out = capsys.readouterr().out
    assert "0.25" in out and "0.75" in out and "dense" in out
    import json
    record = json.loads((tmp_path / "advice.json").read_text())
    assert len(record["windows"]) == 2 + 8
    assert load_fit(fit_path).name == "sparse"


@pytest.mark.parametrize("change, words", [
    (lambda f: f.assign(params_active=f["params"] * 1.5), "more than the run's params"),
    (lambda f: f.assign(params_active=-1.0), "must be at least 0"),
    (lambda f: f.drop(columns=["params_active", "pruning"]), "missing column 'params_active'"),
    (lambda f: f.drop(columns=["pruning"]).groupby("run").tail(1),
     "one row with params_active"),
    (lambda f: f.assign(pruning="geometric:sparsity=0.5"), "needs the run's steps="),
    (lambda f: f.assign(pruning=f["pruning"].str.replace("sparsity=0.5,", "sparsity=0.25,")),
     "does not describe it"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, change, words):
    path = tmp_path / "runs.parquet"
    change(synthetic_table()).to_parquet(path)
    assert cli.main(["fit", str(path), "--law", "sparse", "--bootstrap", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err and str(path) in err
    with pytest.raises(ScalingError):
        get_law("sparse").fit(change(synthetic_table()), bootstrap=0, calibrate=False)
