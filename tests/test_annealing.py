"""The LR-annealing law (Tissue et al. 2024) and per-step learning rates."""

import numpy as np
import pandas as pd
import pytest

from scaling.data.schedules import lr_array, parse
from scaling.errors import ScalingError
from scaling.laws import get_law, load_fit
from scaling.data.lr_history import areas, per_step_lr

TRUE = {"L0": 1.6, "A": 1.1, "alpha": 0.45, "C": 0.9}
SCHEDULES = {
    "constant": "constant:peak=0.001,warmup=100,steps=3000",
    "cosine": "cosine:peak=0.001,warmup=100,steps=3000,final=0.0001",
    "wsd": "wsd:peak=0.001,warmup=100,steps=3000,final=0.0001,decay_fraction=0.2,decay=linear",
}


def curve(run, schedule, noise=0.002, every=25, seed=0, decay=0.999):
    """Rows every `every` steps of a curve that follows the law exactly, times exp(noise)."""
    steps = np.arange(every, parse(schedule).steps + 1, every)
    frame = pd.DataFrame({"run": run, "params": 1e6, "tokens": steps * 1000.0, "step": steps,
                          "loss": 1.0, "schedule": schedule})
    frame.index = pd.RangeIndex(1, len(frame) + 1)
    with_areas = areas(frame, per_step_lr(frame), decay)
    truth = (TRUE["L0"] + TRUE["A"] * with_areas["lr_area"] ** -TRUE["alpha"]
             - TRUE["C"] * with_areas["anneal_area"])
    rng = np.random.default_rng(seed)
    frame["loss"] = truth.to_numpy() * np.exp(noise * rng.standard_normal(len(frame)))
    return frame


def table(*names, **kwargs):
    frame = pd.concat([curve(n, SCHEDULES[n], seed=k, **kwargs) for k, n in enumerate(names)],
                      ignore_index=True)
    frame.index = pd.RangeIndex(1, len(frame) + 1)
    frame.attrs["source"] = "synthetic"
    return frame


def test_areas_follow_their_definition():
    lr = lr_array(parse(SCHEDULES["wsd"]))
    frame = table("wsd")
    with_areas = areas(frame, per_step_lr(frame)).set_index("step")
    momentum, area = 0.0, []
    for i in range(len(lr)):
        momentum = 0.999 * momentum + (max(lr[i - 1] - lr[i], 0.0) if i else 0.0)
        area.append(momentum)
    s2 = np.cumsum(area)
    assert with_areas.loc[3000, "lr_area"] == pytest.approx(lr.sum())
    assert with_areas.loc[2400, "anneal_area"] == pytest.approx(0.0, abs=1e-15)  # stable phase
    assert with_areas.loc[3000, "anneal_area"] == pytest.approx(s2[-1], rel=1e-12)
    assert with_areas.loc[1500, "lr_area"] == pytest.approx(lr[:1500].sum())


def test_lr_column_and_schedule_give_the_same_lrs():
    dense = pd.DataFrame({"run": "r", "step": np.arange(1, 3001), "params": 1.0, "tokens": 1.0,
                          "loss": 1.0, "lr": lr_array(parse(SCHEDULES["cosine"]))})
    from_column = per_step_lr(dense)["r"]
    from_schedule = per_step_lr(table("cosine"))["cosine"]
    assert np.array_equal(from_column, from_schedule)


def test_recovers_known_parameters_from_three_schedules():
    fit = get_law("annealing").fit(table("constant", "cosine", "wsd"), bootstrap=0, calibrate=False)
    for name, value in TRUE.items():
        assert fit.params_[name] == pytest.approx(value, rel=0.05), name
    assert fit.converged_ and not fit.at_bound_


def test_fit_on_two_schedules_predicts_the_third():
    fit = get_law("annealing").fit(table("constant", "cosine"), bootstrap=0, calibrate=False)
    held_out = fit.law.prepare(table("wsd")).frame
    predicted = fit.predict_values(lr_area=held_out["lr_area"], anneal_area=held_out["anneal_area"])
    pred_e = np.mean(np.abs(predicted - held_out["loss"]) / held_out["loss"])
    assert pred_e < 0.005  # the noise is 0.2%


def test_decay_is_a_setting_that_moves_the_fit_and_is_saved(tmp_path):
    frame = table("constant", "cosine", "wsd")
    default = get_law("annealing").fit(frame, bootstrap=0, calibrate=False)
    other = get_law("annealing", decay=0.99).fit(frame, bootstrap=0, calibrate=False)
    assert other.params_["C"] != pytest.approx(default.params_["C"], rel=0.05)
    other.to_json(tmp_path / "fit.json")
    assert load_fit(tmp_path / "fit.json").decay == 0.99


@pytest.mark.parametrize("change, message", [
    (lambda f: f.drop(columns=["schedule"]), "no per-step LR"),
    (lambda f: f.assign(step=f["step"][::-1].to_numpy()), "do not increase"),
    (lambda f: f.assign(schedule="cosine:peak=oops,steps=3000"), "column 'schedule'"),
    (lambda f: f.assign(schedule="cosine:peak=0.001,steps=100"), "schedule has 100 steps"),
])
def test_bad_lr_input_is_a_one_line_error(change, message):
    frame = change(table("cosine"))
    frame.attrs["source"] = "synthetic"
    with pytest.raises(ScalingError, match=message) as error:
        get_law("annealing").fit(frame, bootstrap=0, calibrate=False)
    assert "\n" not in str(error.value)


def test_block_bootstrap_interval_of_an_unseen_schedule_holds_the_truth():
    fit = get_law("annealing").fit(table("constant", "cosine"), bootstrap=60, calibrate=False)
    held_out = table("wsd", noise=0.0)
    point, lower, upper = fit.predict_rows(fit.law.prepare(held_out), kind="law")
    truth = held_out["loss"].to_numpy()
    assert lower[-1] <= truth[-1] <= upper[-1]
    assert lower[-1] <= point[-1] <= upper[-1]
    assert (upper[-1] - lower[-1]) / truth[-1] < 0.005     # 0.2% noise on 240 rows
    single = get_law("annealing").fit(table("wsd"), bootstrap=20, calibrate=False)   # one curve is enough
    assert len(single.bootstrap_theta_) == 20 and single.intervals_["alpha"][0] < 0.45


def test_curve_backtest_reports_pred_e_and_worst_e():
    from scaling.analysis.backtest import backtest

    frame = table("constant", "cosine", "wsd")
    record = backtest(frame, "annealing", train="run != 'wsd'", bootstrap=0)
    (curve,) = record["test_curves"]
    assert curve["run"] == "wsd" and curve["pred_e"] < 0.005
    assert curve["pred_e"] <= curve["worst_e"] < 0.02
    assert record["mean_pred_e"] == curve["pred_e"] and record["mean_worst_e"] == curve["worst_e"]


def test_predict_whole_curve_of_a_schedule(tmp_path, capsys):
    import cli
    from scaling.data.table_files import write_runs

    write_runs(table("constant", "cosine"), tmp_path / "curves.parquet")
    assert cli.main(["fit", str(tmp_path / "curves.parquet"), "--law", "annealing",
                     "--bootstrap", "20", "--out", str(tmp_path / "fit.json")]) == 0
    capsys.readouterr()
    code = cli.main(["predict", str(tmp_path / "fit.json"), "--schedule", SCHEDULES["wsd"],
                     "--every", "25", "--out", str(tmp_path / "curve.csv"),
                     "--plot", str(tmp_path / "curve.png")])
    assert code == 0, capsys.readouterr().err
    curve = pd.read_csv(tmp_path / "curve.csv")
    truth = table("wsd", noise=0.0).set_index("step")["loss"]
    assert curve["step"].tolist() == truth.index.tolist()
    assert np.allclose(curve["loss"], truth.to_numpy(), rtol=0.01)
    assert (curve["lower"] <= curve["upper"]).all()
    assert (tmp_path / "curve.png").read_bytes()[:4] == b"\x89PNG"
    # a law without curves, and a schedule that does not parse: one line, exit 2
    assert cli.main(["predict", str(tmp_path / "fit.json"), "--schedule", "wsd:peak=1"]) == 2
    assert "missing steps" in capsys.readouterr().err


def test_compare_schedules_predicts_each_variant(capsys, tmp_path):
    import cli
    from scaling.analysis.schedule_comparison import compare_schedules

    fit = get_law("annealing").fit(table("constant", "cosine", "wsd"), bootstrap=0, calibrate=False)
    curves = compare_schedules(fit, "peak=0.001,warmup=100,steps=3000,final=0.0001", every=25)
    assert list(curves) == ["constant", "cosine", "wsd 10%", "wsd 20%"]
    truth = {"constant": table("constant", noise=0.0)["loss"].iloc[-1],
             "cosine": table("cosine", noise=0.0)["loss"].iloc[-1],
             "wsd 20%": table("wsd", noise=0.0)["loss"].iloc[-1]}
    for name, value in truth.items():
        assert curves[name]["loss"].iloc[-1] == pytest.approx(value, rel=0.01), name
    assert curves["constant"]["loss"].iloc[-1] > curves["wsd 20%"]["loss"].iloc[-1]
    fit.to_json(tmp_path / "fit.json")
    assert cli.main(["predict", str(tmp_path / "fit.json"), "--compare",
                     "peak=0.001,steps=3000,final=0.0001", "--plot",
                     str(tmp_path / "cmp.png")]) == 0
    assert "wsd 10%" in capsys.readouterr().out
    assert cli.main(["predict", str(tmp_path / "fit.json"), "--compare", "steps=10"]) == 2


SIZED = {"L0": 1.4, "A": 1.1, "alpha": 0.45, "C": 0.9, "B": 40.0, "beta": 0.3}


def sized_curve(run, schedule, params, noise=0.002, seed=0):
    frame = curve(run, schedule, noise=0.0).assign(params=params)
    with_areas = areas(frame, per_step_lr(frame))
    truth = (SIZED["L0"] + SIZED["A"] * with_areas["lr_area"] ** -SIZED["alpha"]
             + SIZED["B"] * params ** -SIZED["beta"] - SIZED["C"] * with_areas["anneal_area"])
    frame["loss"] = truth.to_numpy() * np.exp(
        noise * np.random.default_rng(seed).standard_normal(len(frame)))
    return frame


def test_size_term_recovers_known_parameters_and_predicts_a_larger_model(tmp_path, capsys):
    import cli

    frames = [sized_curve(f"{name}-{params:g}", SCHEDULES[name], params, seed=k)
              for k, (name, params) in enumerate(
                  [(n, p) for n in ("constant", "wsd") for p in (1e6, 3e6, 1e7)])]
    frame = pd.concat(frames, ignore_index=True)
    frame.index = pd.RangeIndex(1, len(frame) + 1)
    frame.attrs["source"] = "synthetic"
    fit = get_law("annealing-size").fit(frame, bootstrap=0, calibrate=False)
    assert fit.converged_ and not fit.at_bound_
    for name, value in SIZED.items():
        assert fit.params_[name] == pytest.approx(value, rel=0.02), name
    larger = sized_curve("cosine-1e8", SCHEDULES["cosine"], 1e8, noise=0.0)
    predicted = fit.predict_rows(fit.law.prepare(larger))
    assert np.max(np.abs(predicted / larger["loss"] - 1)) < 0.01
    fit.to_json(tmp_path / "fit.json")
    assert cli.main(["predict", str(tmp_path / "fit.json"), "--schedule", SCHEDULES["cosine"],
                     "--every", "25", "--params", "1e8", "--out", str(tmp_path / "c.csv")]) == 0
    assert np.allclose(pd.read_csv(tmp_path / "c.csv")["loss"], larger["loss"], rtol=0.01)
    assert cli.main(["predict", str(tmp_path / "fit.json"), "--schedule",
                     SCHEDULES["cosine"]]) == 2
    assert "give --params" in capsys.readouterr().err
