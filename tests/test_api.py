"""The Python API (`scaling.fit`, `scaling.load`, `scaling.backtest`, `scaling.plan`,
`scaling.optimal` and the `Fit` they give) answers with the CLI's numbers: each test runs the command with --json or --out
and compares, to 1e-9 relative, what Python gives for the same data, options and seed."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import cli
import scaling
from conftest import ROOT
from scaling.analysis.backtest import Backtest
from scaling.output.plan_document import Plan
from scaling.data.synthetic import task_ladder

CHINCHILLA = str(ROOT / "data" / "chinchilla" / "runs.parquet")
SCHEDULES = str(ROOT / "data" / "cpu_schedules" / "runs.parquet")
PYTHIA = str(ROOT / "data" / "pythia_evals" / "zero-shot.parquet")
BOOTSTRAP = 50
RELATIVE = 1e-9
COSINE = "cosine:peak=0.002,warmup=100,steps=3000,final=0.0002"
BASE = "peak=3e-3,warmup=60,steps=2400,final=3e-4"


def cli_fit(tmp_path, *options) -> dict:
    path = tmp_path / "fit.json"
    assert cli.main(["fit", *options, "--bootstrap", str(BOOTSTRAP), "--seed", "0",
                     "--out", str(path)]) == 0
    return json.loads(path.read_text())


def cli_predict(tmp_path, *options) -> dict:
    path = tmp_path / "predictions.json"
    assert cli.main(["predict", str(tmp_path / "fit.json"), *options, "--json", str(path)]) == 0
    return json.loads(path.read_text())


def same(python, command):
    np.testing.assert_allclose(np.asarray(python, float), np.asarray(command, float),
                               rtol=RELATIVE, atol=0)


@pytest.fixture(scope="module")
def chinchilla_fit():
    return scaling.fit(CHINCHILLA, where="loss < 3.44", bootstrap=BOOTSTRAP, seed=0)


def test_chinchilla_in_python_is_the_cli(chinchilla_fit, tmp_path, capsys):
    record = cli_fit(tmp_path, CHINCHILLA, "--where", "loss < 3.44")
    printed = capsys.readouterr().out
    fit = chinchilla_fit
    assert list(fit.params.index) == list(record["params"])
    same(fit.params["value"], list(record["params"].values()))
    same(fit.params[["lower", "upper"]].to_numpy(), list(record["intervals"].values()))
    same(fit.params["std_err"], list(record["standard_errors"].values()))
    assert fit.summary() in printed                      # the report, word for word
    predicted = cli_predict(tmp_path, "--params", "7e10", "3e11", "--tokens", "1.4e12", "6e12")
    frame = fit.predict(params=[7e10, 3e11], tokens=[1.4e12, 6e12])
    rows = predicted["predictions"]
    assert predicted["interval"]["kind"] == "calibrated" == frame["interval"].iloc[0]
    same(frame["loss"], [row["predicted"] for row in rows])
    same(frame["lower"], [row["lower"] for row in rows])
    same(frame["upper"], [row["upper"] for row in rows])
    same(frame["reach:params"], [row["reach"]["params"] for row in rows])
    same(frame["distance"], [row["distance"] for row in rows])
    # the bootstrap's kinds too, and the file the CLI wrote reads back to the same numbers
    for kind in ("law", "run"):
        by_cli = cli_predict(tmp_path, "--params", "7e10", "--tokens", "1.4e12",
                             "--interval", kind)["predictions"][0]
        row = fit.predict(params=7e10, tokens=1.4e12, kind=kind).iloc[0]
        same([row["loss"], row["lower"], row["upper"]],
             [by_cli["predicted"], by_cli["lower"], by_cli["upper"]])
    loaded = scaling.load(tmp_path / "fit.json")
    pd.testing.assert_frame_equal(loaded.predict(params=[7e10, 3e11], tokens=[1.4e12, 6e12]),
                                  frame, rtol=RELATIVE)


@pytest.fixture(scope="module")
def multipower_fit():
    return scaling.fit(SCHEDULES, "multipower", where="step > 100", bootstrap=BOOTSTRAP, seed=0)


def test_multipower_in_python_is_the_cli(multipower_fit, tmp_path):
    record = cli_fit(tmp_path, SCHEDULES, "--law", "multipower", "--where", "step > 100")
    fit = multipower_fit
    same(fit.params["value"], list(record["params"].values()))
    same(fit.params[["lower", "upper"]].to_numpy(), list(record["intervals"].values()))
    rows = cli_predict(tmp_path, "--schedule", COSINE, "--every", "500")["predictions"]
    curve = fit.predict_schedule(COSINE, every=500)
    assert list(curve["step"]) == [row["step"] for row in rows]
    same(curve["loss"], [row["predicted"] for row in rows])
    same(curve["lower"], [row["lower"] for row in rows])
    same(curve["upper"], [row["upper"] for row in rows])
    with pytest.raises(scaling.ScalingError, match="predicts whole curves"):
        fit.predict(step=1000)


def test_compare_schedules_in_python_is_the_cli(multipower_fit, tmp_path, monkeypatch):
    multipower_fit.save(tmp_path / "fit.json")
    by_cli = cli_predict(tmp_path, "--compare", BASE, "--every", "500")
    table = multipower_fit.compare_schedules(BASE, every=500)
    assert list(table.columns) == ["variant", "step", "lr", "loss", "lower", "upper"]
    rows = by_cli["predictions"]
    assert by_cli["interval"]["kind"] == table.attrs["interval"] == "calibrated"
    assert list(table["variant"]) == [row["schedule"] for row in rows]
    assert list(table["step"]) == [row["step"] for row in rows]
    for column, key in (("lr", "lr"), ("loss", "predicted"), ("lower", "lower"),
                        ("upper", "upper")):
        same(table[column], [row[key] for row in rows])
    final = table.groupby("variant", sort=False).last()
    assert list(final.index) == ["constant", "cosine", "wsd 10%", "wsd 20%"]
    assert (final["step"] == 2400).all() and (final["lower"] < final["loss"]).all()
    law = multipower_fit.compare_schedules(BASE, every=500, kind="law", level=0.8)
    same(law["loss"], table["loss"])                      # the kind changes the interval only
    assert (law["upper"] != table["upper"]).any() and law.attrs["level"] == 0.8
    monkeypatch.chdir(tmp_path)
    figure = scaling.plot_schedules(table, observed=scaling.read_runs(SCHEDULES))
    assert isinstance(figure, Figure) and len(figure.axes) == 2
    gids = [line.get_gid() for line in figure.axes[0].lines]
    assert gids.count("predicted") == 4 and gids.count("observed") == 3
    assert sorted(os.listdir(tmp_path)) == ["fit.json", "predictions.json"]
    with pytest.raises(scaling.ScalingError, match="needs at least peak= and steps="):
        multipower_fit.compare_schedules("warmup=60")
    with pytest.raises(scaling.ScalingError, match="schedule comparison needs an LR-schedule"):
        scaling.fit(CHINCHILLA, bootstrap=0, calibrate=False).compare_schedules(BASE)
    with pytest.raises(scaling.ScalingError, match="lacks"):
        scaling.plot_schedules(table.drop(columns="lr"))


def test_optimal_in_python_is_the_cli(tmp_path, capsys, monkeypatch):
    assert cli.main(["optimal", CHINCHILLA, "--where", "loss < 3.44", "--bootstrap", "20",
                     "--seed", "3", "--flops", "1e21", "1e23", "--json",
                     str(tmp_path / "optimal.json")]) == 0
    printed = capsys.readouterr().out
    by_cli = json.loads((tmp_path / "optimal.json").read_text())
    result = scaling.optimal(CHINCHILLA, where="loss < 3.44", bootstrap=20, seed=3,
                             flops=[1e21, 1e23])
    assert isinstance(result, scaling.Optimal)
    assert result.summary() in printed                   # the report, word for word
    assert json.loads(result.to_json()) == by_cli        # the record, number for number
    assert list(result.results) == [2, 3] and list(result.unsupported) == [1]
    exponents = result.exponents
    for k in (2, 3):
        record = by_cli["approaches"][str(k)]
        same(exponents.loc[k, ["a", "a_lower", "a_upper"]],
             [record["params"]["exponent"], *record["params"]["exponent_interval"]])
        same(exponents.loc[k, ["b", "k_D"]],
             [record["tokens"]["exponent"], record["tokens"]["coefficient"]])
    allocation = result.allocation
    assert list(allocation["flops"]) == [row["flops"] for row in by_cli["allocation"]]
    for quantity in ("params", "tokens", "tokens_per_param"):
        for suffix, key in (("", "value"), ("_lower", "lower"), ("_upper", "upper")):
            same(allocation[quantity + suffix],
                 [row[quantity][key] for row in by_cli["allocation"]])
    assert 0.5 < exponents.loc[2, "a"] < 0.6 and exponents.loc[3, "paper_a"] == 0.46
    assert "<table" in result._repr_html_()
    monkeypatch.chdir(tmp_path)
    figure = result.plot()
    assert isinstance(figure, Figure) and len(figure.axes) == 2
    assert [line.get_gid() for line in figure.axes[0].lines].count("minimum") == \
        len(by_cli["approaches"]["2"]["minima"])
    assert os.listdir(tmp_path) == ["optimal.json"]


def test_optimal_takes_a_frame_and_checks_its_options():
    runs = scaling.read_runs(CHINCHILLA)
    from_frame = scaling.optimal(runs, where="loss < 3.44", approaches=2, bootstrap=0)
    from_path = scaling.optimal(CHINCHILLA, where="loss < 3.44", approaches=[2], bootstrap=0)
    pd.testing.assert_frame_equal(from_frame.exponents, from_path.exponents)
    assert np.isnan(from_path.exponents.loc[2, "a_lower"])            # no bootstrap, no interval
    assert len(from_path.allocation) == 5                               # 1e21 ... 1e25
    pd.testing.assert_frame_equal(from_frame.minima, from_path.minima)
    # budgets found where the runs' FLOPs cluster (tolerance 0.1): 18 with an interior minimum
    assert len(from_path.minima) == 18 and (from_path.minima["approach"] == 2).all()
    assert from_path.exponents.loc[2, "a"] == pytest.approx(0.5502, abs=1e-4)
    with pytest.raises(scaling.ScalingError, match="approaches must be among 1, 2 and 3"):
        scaling.optimal(CHINCHILLA, approaches=4)
    with pytest.raises(scaling.ScalingError, match="flops: budgets must be positive"):
        scaling.optimal(CHINCHILLA, approaches=2, flops=[-1e21])
    with pytest.raises(scaling.ScalingError, match="approach 1 needs training curves"):
        scaling.optimal(CHINCHILLA, approaches=1, bootstrap=0)


def test_the_task_law_in_python_is_the_cli(tmp_path):
    record = cli_fit(tmp_path, PYTHIA, "--law", "task-accuracy", "--task", "lambada_openai",
                     "--set", "skip_by=tokens", "--where", "deduped == 0")
    fit = scaling.fit(PYTHIA, "task-accuracy", task="lambada_openai", skip_by="tokens",
                      where="deduped == 0", bootstrap=BOOTSTRAP, seed=0)
    same(fit.params["value"], list(record["params"].values()))
    same(fit.params[["lower", "upper"]].to_numpy(), list(record["intervals"].values()))
    rows = cli_predict(tmp_path, "--input", "loss:lambada_openai=2.0,1.5,0.9")["predictions"]
    frame = fit.predict(pd.DataFrame({"loss:lambada_openai": [2.0, 1.5, 0.9]}))
    same(frame["acc:lambada_openai"], [row["predicted"] for row in rows])
    same(frame["lower"], [row["lower"] for row in rows])
    same(frame["upper"], [row["upper"] for row in rows])


def test_an_interval_the_fit_lacks_is_an_error_naming_those_it_has(chinchilla_fit):
    plain = scaling.fit(CHINCHILLA, where="loss < 3.44", bootstrap=20, calibrate=False)
    assert plain.interval_kinds == ("law", "run")
    with pytest.raises(scaling.ScalingError, match="no error model .* ask for one it has: "
                                                   "law, run"):
        plain.predict(params=7e10, tokens=1.4e12, kind="calibrated")
    with pytest.raises(scaling.ScalingError, match="no error model"):
        plain.predict_interval("calibrated", params=7e10, tokens=1.4e12)
    bare = scaling.fit(CHINCHILLA, where="loss < 3.44", bootstrap=0, calibrate=False)
    with pytest.raises(scaling.ScalingError, match="no bootstrap"):
        bare.predict(params=7e10, tokens=1.4e12, kind="run")
    row = bare.predict(params=7e10, tokens=1.4e12).iloc[0]     # no kind asked: none shown
    assert np.isnan(row["lower"]) and row["interval"] is None
    assert row["loss"] == pytest.approx(chinchilla_fit.predict_values(
        params=7e10, tokens=1.4e12)[0], rel=1e-12)


def test_params_are_a_dataframe_of_the_reported_parameters(chinchilla_fit):
    params = chinchilla_fit.params
    assert isinstance(params, pd.DataFrame)
    assert list(params.columns) == ["value", "lower", "upper", "std_err", "at_bound"]
    assert list(params.index) == ["E", "A", "B", "alpha", "beta"]
    assert params["at_bound"].dtype == bool and not params["at_bound"].any()
    assert (params["lower"] < params["value"]).all() and (params["value"] < params["upper"]).all()
    assert params.loc["alpha", "value"] == chinchilla_fit.params_["alpha"]


def test_plot_returns_a_figure_and_writes_nothing(chinchilla_fit, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    figure = chinchilla_fit.plot()
    assert isinstance(figure, Figure) and len(figure.axes) >= 2
    assert "fitted" in {line.get_gid() for ax in figure.axes for line in ax.lines}
    own = Figure()
    ax = own.subplots()
    assert chinchilla_fit.plot(ax=ax) is own and ax.lines
    assert os.listdir(tmp_path) == []


def test_save_and_load_give_the_same_predictions(chinchilla_fit, tmp_path):
    chinchilla_fit.save(tmp_path / "fit.json")
    loaded = scaling.load(tmp_path / "fit.json")
    assert isinstance(loaded, scaling.Fit) and loaded.data is None
    inputs = {"params": [1e8, 7e10, 1e12], "tokens": [2e9, 1.4e12, 3e13]}
    # the file keeps the reported parameters (E, not log E): the fit-space point comes back to
    # the last bit or two
    pd.testing.assert_frame_equal(loaded.predict(**inputs), chinchilla_fit.predict(**inputs),
                                  check_exact=False, rtol=1e-12)
    pd.testing.assert_frame_equal(loaded.params, chinchilla_fit.params, check_exact=False,
                                  rtol=1e-12)
    assert loaded.summary() == chinchilla_fit.summary().replace("; 1681 starts", "")   # not kept
    with pytest.raises(scaling.ScalingError, match="keeps no data"):
        loaded.plot()


def test_a_law_fitted_twice_gives_two_independent_fits():
    runs = scaling.read_runs(CHINCHILLA)
    law = scaling.get_law("chinchilla")
    small = law.fit(runs, where="params < 3e8", bootstrap=0, calibrate=False)
    before = dict(small.params_)
    large = law.fit(runs, where="params >= 3e8", bootstrap=0, calibrate=False)
    assert small.params_ == before                     # the second fit changed nothing of it
    assert small.params_["E"] != pytest.approx(large.params_["E"], rel=1e-3)
    assert small.law is not large.law and small.law is not law
    assert not hasattr(law, "theta_") and not hasattr(law, "params_")
    assert small.data.frame["params"].max() < 3e8 <= large.data.frame["params"].min()


def test_the_html_view_holds_the_parameters(chinchilla_fit):
    page = chinchilla_fit._repr_html_()
    assert page.startswith("<div><table>") and page.count("<tr>") >= 5 + 1
    for name, row in chinchilla_fit.params.iterrows():
        assert f"<th>{name}</th><td>{row['value']:.5g}</td>" in page
    assert "calibrated" in page
    assert repr(chinchilla_fit).startswith("<Fit chinchilla: E=1.817")


def test_a_law_given_as_an_object_is_used_as_given(tmp_path, capsys):
    law = scaling.get_law("chinchilla", confidence=0.8)
    result = scaling.backtest(CHINCHILLA, law, train="params < 2e8", where="loss < 3.44",
                              bootstrap=20, calibrate=False)
    assert isinstance(result, Backtest) and result.record["interval"]["level"] == 0.8
    with pytest.raises(scaling.ScalingError, match="go with a law's name"):
        scaling.fit(CHINCHILLA, law, delta=1e-2)
    assert cli.main(["backtest", CHINCHILLA, "--where", "loss < 3.44", "--train",
                     "params < 2e8", "--set", "confidence=0.8", "--bootstrap", "20",
                     "--no-calibration", "--json", str(tmp_path / "b.json")]) == 0
    printed = capsys.readouterr().out
    assert result.summary() in printed
    by_cli = json.loads((tmp_path / "b.json").read_text())
    rows = result.rows
    assert list(rows["run"]) == [row["run"] for row in by_cli["test"]]
    same(rows["predicted"], [row["predicted"] for row in by_cli["test"]])
    same(rows["upper"], [row["upper"] for row in by_cli["test"]])
    assert result.mean_error == by_cli["mean_abs_rel_error"]
    assert set(result.scores["kind"]) == {"law", "run"}
    assert json.loads(result.to_json())["test"][0]["run"] == rows["run"].iloc[0]
    assert "<table" in result.to_html()


def test_plan_in_python_is_the_cli(chinchilla_fit, tmp_path, capsys):
    chinchilla_fit.save(tmp_path / "fit.json")
    assert cli.main(["plan", "--budget", "1e21", "--fit", str(tmp_path / "fit.json"),
                     "--bootstrap", "0", "--out-dir", str(tmp_path / "plan")]) == 0
    printed = capsys.readouterr().out
    result = scaling.plan(1e21, fits=[tmp_path / "fit.json"], bootstrap=0)
    assert isinstance(result, Plan)
    assert "\n".join(result.summary_lines) in printed
    assert result.summary() == (tmp_path / "plan" / "report.md").read_text()
    in_memory = scaling.plan(1e21, fits=[chinchilla_fit], bootstrap=0)
    assert in_memory.record["params"] == result.record["params"]
    tables = result.tables
    assert all(isinstance(frame, pd.DataFrame) for frame in tables.values()) and tables
    assert json.loads(result.to_json())["record"]["budget"] == 1e21
    assert result.to_html().startswith("<!DOCTYPE html>")


def test_the_package_exports_its_api():
    assert set(scaling.__all__) >= {"fit", "load", "backtest", "plan", "optimal", "Optimal",
                                    "plot_schedules", "read_runs", "write_runs", "get_law",
                                    "LAWS", "Law", "Fit", "ScalingError", "__version__"}
    assert all(hasattr(scaling, name) for name in scaling.__all__)


def test_a_chained_fit_gives_each_step_as_a_fit():
    runs = task_ladder(loss_params={"E": 0.3, "A": 40.0, "B": 140.0, "alpha": 0.3, "beta": 0.3},
                       accuracy_params={"a": -0.75, "L0": 1.0, "k": 8.0, "b": 1.0}, seed=4)
    fit = scaling.fit(runs, "task", task="hellaswag", bootstrap=20, calibrate=False)
    loss, accuracy = fit.step_fits()
    assert loss.law.target == "loss:hellaswag" and accuracy.law.target == fit.target
    assert {**loss.params_, **accuracy.params_} == pytest.approx(fit.params_, rel=1e-12)
    assert loss.bootstrap_theta_.shape == (20, len(loss.law.parameters))
    for step in (loss, accuracy):
        for name, interval in step.intervals_.items():
            assert interval == pytest.approx(fit.intervals_[name], rel=1e-12)
    # the chain is step 2 at step 1's prediction
    predicted_loss = loss.predict_values(params=2.8e9, tokens=3e11)
    chained = accuracy.predict_values(**{"loss:hellaswag": predicted_loss})
    assert chained == pytest.approx(fit.predict_values(params=2.8e9, tokens=3e11), rel=1e-12)
    with pytest.raises(scaling.ScalingError, match="not chained"):
        scaling.fit(CHINCHILLA, bootstrap=0, calibrate=False).step_fits()
