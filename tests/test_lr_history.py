"""Per-step learning rates (scaling/data/lr_history.py): LR files, the step convention, which source wins,
and the curve laws' commands that read them (fit and backtest, with --where)."""

import numpy as np
import pandas as pd
import pytest

import cli
from scaling.errors import ScalingError
from scaling.laws import get_law, load_fit
from scaling.data.lr_history import CONVENTION, per_step_lr, read_lr_file
from scaling.data.schedules import lr_array, parse

SCHEDULES = {
    "constant": "constant:peak=0.001,warmup=100,steps=3000",
    "cosine": "cosine:peak=0.001,warmup=100,steps=3000,final=0.0001",
    "wsd": "wsd:peak=0.001,warmup=100,steps=3000,final=0.0001,decay_fraction=0.2,decay=linear",
}
TRUE = {"L0": 2.0, "A": 0.8, "alpha": 0.45, "B": 300.0, "C": 2.0, "beta": 0.6, "gamma": 0.6}


def curves(every=50, noise=0.001) -> pd.DataFrame:
    """Rows every `every` steps of three curves that follow the multi-power law (TRUE)."""
    law = get_law("multipower")
    theta = np.array([[np.log(TRUE["L0"]), np.log(TRUE["A"]), TRUE["alpha"], np.log(TRUE["B"]),
                       np.log(TRUE["C"]), TRUE["beta"], TRUE["gamma"]]])
    frames = []
    for k, (name, schedule) in enumerate(SCHEDULES.items()):
        steps = np.arange(every, 3001, every)
        frame = pd.DataFrame({"run": name, "params": 1e6, "tokens": steps * 1000.0,
                              "step": steps, "loss": 1.0, "schedule": schedule})
        prepared = law.prepare(frame)
        truth = np.exp(law.predict_theta(theta, law.inputs_from(prepared.frame,
                                                               prepared.lr_histories))[0])
        frame["loss"] = truth * np.exp(noise * np.random.default_rng(k).standard_normal(len(frame)))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def lr_file(path, first_step=1, runs=SCHEDULES):
    """An LR file with one row per update of each run, steps counted from `first_step`."""
    parts = [pd.DataFrame({"run": name, "step": np.arange(3000) + first_step,
                           "lr": lr_array(parse(SCHEDULES[name]))}) for name in runs]
    pd.concat(parts).to_csv(path, index=False)
    return path


def test_lr_file_steps_may_count_from_0_or_from_1(tmp_path):
    from_one = read_lr_file(lr_file(tmp_path / "one.csv", first_step=1))
    from_zero = read_lr_file(lr_file(tmp_path / "zero.csv", first_step=0))
    assert (from_one.first_step, from_zero.first_step) == (1, 0)
    for run in SCHEDULES:       # either way, index 0 is the LR of the first update
        # through a CSV: pandas 3 reads back exactly what it wrote; pandas 2.1's default
        # parser (not round-trip) was off by up to 9e-13 relative on these LRs
        np.testing.assert_allclose(from_one.runs[run], lr_array(parse(SCHEDULES[run])),
                                   rtol=1e-11, atol=0)
        assert np.array_equal(from_zero.runs[run], from_one.runs[run])


def test_a_row_at_step_t_has_seen_updates_1_to_t(tmp_path):
    # warmup: update i has LR i·peak/100, so a row at step 3 has seen 1e-5, 2e-5, 3e-5
    table = curves().query("run == 'constant'")
    for first_step in (0, 1):
        lrs = per_step_lr(table, "t", read_lr_file(lr_file(tmp_path / "lr.csv", first_step,
                                                           ["constant"])))["constant"]
        assert lrs[:3] == pytest.approx([1e-5, 2e-5, 3e-5])
        assert len(lrs) == 3000


def test_an_lr_file_that_skips_a_step_names_the_convention(tmp_path):
    frame = pd.read_csv(lr_file(tmp_path / "lr.csv", first_step=0, runs=["cosine"]))
    frame[frame["step"] != 7].to_csv(tmp_path / "gap.csv", index=False)
    with pytest.raises(ScalingError, match=r"gap.csv: column 'step', row 8: run 'cosine' must "
                                           r"have one row at every step 0, 1") as error:
        read_lr_file(tmp_path / "gap.csv")
    assert CONVENTION in str(error.value) and "\n" not in str(error.value)


def test_a_short_lr_file_names_the_convention(tmp_path):
    frame = pd.read_csv(lr_file(tmp_path / "lr.csv", first_step=0, runs=["cosine"]))
    frame[frame["step"] < 2000].to_csv(tmp_path / "short.csv", index=False)
    table = curves().query("run == 'cosine'")
    with pytest.raises(ScalingError, match=r"short.csv: run 'cosine' has LRs for 2000 updates "
                                           r"\(steps 0 … 1999\) but t has rows up to step 3000"):
        per_step_lr(table, "t", read_lr_file(tmp_path / "short.csv"))


@pytest.mark.parametrize("first_step", [0, 1])
@pytest.mark.parametrize("law", ["annealing", "multipower"])
def test_lr_file_wins_over_a_tracker_schedule_column(tmp_path, capsys, law, first_step):
    """Defect 3: a tracker's table names its schedules ("cosine_3000"); with --lr-file given,
    the file is used and the column is not parsed. Both numberings of the file's steps fit the
    same law to the same parameters."""
    table = curves()
    table["schedule"] = table["run"] + "_3000"
    table.to_csv(tmp_path / "runs.csv", index=False)
    out = tmp_path / f"fit{first_step}.json"
    code = cli.main(["fit", str(tmp_path / "runs.csv"), "--law", law, "--bootstrap", "0",
                     "--lr-file", str(lr_file(tmp_path / "lr.csv", first_step)),
                     "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    fitted = load_fit(out)
    reference = get_law(law).fit(curves(), bootstrap=0, calibrate=False)
    # two fits of one curve set; the optimizer stops within about 1e-5 of the optimum (LRs read
    # back 1 ulp apart, from a CSV under pandas 2.1, moved multipower's C by 2e-6), so 1e-4
    assert fitted.params_ == pytest.approx(reference.params_, rel=1e-4)
    # without the file, the column is parsed: one line that points to --lr-file
    assert cli.main(["fit", str(tmp_path / "runs.csv"), "--law", law, "--bootstrap", "0"]) == 2
    err = capsys.readouterr().err
    assert "column 'schedule', row 1" in err and "give --lr-file" in err, err


@pytest.mark.parametrize("law", ["annealing", "multipower"])
def test_backtest_with_an_lr_file(tmp_path, capsys, law):
    """Defect 2: a backtest with --lr-file crashed under pandas 3 (the LR histories rode in
    DataFrame.attrs, which pd.concat compares). They are an explicit input now."""
    curves().drop(columns=["schedule"]).to_csv(tmp_path / "runs.csv", index=False)
    record = tmp_path / "backtest.json"
    code = cli.main(["backtest", str(tmp_path / "runs.csv"), "--law", law, "--train",
                     "run != 'wsd'", "--bootstrap", "0", "--lr-file",
                     str(lr_file(tmp_path / "lr.csv")), "--json", str(record)])
    out, err = capsys.readouterr()
    assert code == 0, err
    import json

    (curve,) = json.loads(record.read_text())["test_curves"]
    assert curve["run"] == "wsd" and curve["pred_e"] < 0.01
    assert "mean PredE" in out


@pytest.mark.parametrize("law", ["annealing", "multipower"])
def test_where_thins_rows_after_the_lrs_are_derived(tmp_path, capsys, law):
    """Defect 4: --where used to filter before the per-step LRs were read, so thinning a dense
    table whose LRs come from its `lr` column failed with "no per-step LR". The thinned fit
    equals the fit of a table that only has those rows and a schedule column."""
    dense = curves(every=1, noise=0.0).drop(columns=["schedule"])
    dense["lr"] = np.concatenate([lr_array(parse(s)) for s in SCHEDULES.values()])
    dense.to_csv(tmp_path / "dense.csv", index=False)
    out = tmp_path / "fit.json"
    code = cli.main(["fit", str(tmp_path / "dense.csv"), "--law", law, "--bootstrap", "0",
                     "--where", "step % 100 == 0", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    thinned = load_fit(out)
    reference = get_law(law).fit(curves(every=100, noise=0.0), bootstrap=0, calibrate=False)
    assert thinned.n_points_ == 90
    # the optimizer's convergence, as above: under numpy 1.26 / scipy 1.11 / pandas 2.1 these
    # two fits differ by up to 1e-5 (multipower's C), under the newest releases by less
    assert thinned.params_ == pytest.approx(reference.params_, rel=1e-4)
    assert thinned.data_["where"] == "step % 100 == 0"
    # the backtest's --where too
    code = cli.main(["backtest", str(tmp_path / "dense.csv"), "--law", law, "--bootstrap", "0",
                     "--where", "step % 100 == 0", "--train", "run != 'wsd'"])
    assert code == 0, capsys.readouterr().err
    assert "mean PredE" in capsys.readouterr().out


def test_an_lr_file_for_a_law_without_learning_rates_is_an_error(tmp_path, capsys):
    curves().to_csv(tmp_path / "runs.csv", index=False)
    code = cli.main(["fit", str(tmp_path / "runs.csv"), "--bootstrap", "0", "--lr-file",
                     str(lr_file(tmp_path / "lr.csv"))])
    err = capsys.readouterr().err
    assert code == 2 and "--lr-file: the chinchilla law does not read learning rates" in err


def test_the_report_says_which_lr_source_each_run_used(tmp_path, capsys):
    """Issue 10: a valid schedule column and a different --lr-file: the file wins, and the
    report and the fit file say so per run, with how far the overridden column differs."""
    table = curves()
    table.loc[table["run"] == "wsd", "schedule"] = "cosine_3000"     # a tracker's name: no LRs
    table.to_csv(tmp_path / "runs.csv", index=False)
    pd.concat([pd.read_csv(lr_file(tmp_path / "base.csv", runs=["constant", "wsd"])),
               pd.DataFrame({"run": "cosine", "step": np.arange(1, 3001),
                             "lr": 2 * lr_array(parse(SCHEDULES["cosine"]))})]) \
        .to_csv(tmp_path / "lr.csv", index=False)
    out_json = tmp_path / "fit.json"
    assert cli.main(["fit", str(tmp_path / "runs.csv"), "--law", "annealing", "--bootstrap", "0",
                     "--lr-file", str(tmp_path / "lr.csv"), "--out", str(out_json)]) == 0
    lr_line = next(line for line in capsys.readouterr().out.splitlines()
                   if line.startswith("LRs"))
    path = tmp_path / "lr.csv"
    assert lr_line == (f"LRs       from --lr-file {path} (over its schedule column, which "
                       f"agrees): constant; from --lr-file {path} (over its schedule column, "
                       f"which differs by up to 50.00%): cosine; from --lr-file {path}: wsd")
    sources = load_fit(out_json).data_["lr_sources"]
    assert sources["wsd"] == f"--lr-file {path}"
    # without the file: the columns, named
    table.loc[table["run"] == "wsd", "schedule"] = SCHEDULES["wsd"]
    table["lr"] = np.nan
    dense = curves(every=1).query("run == 'constant'").assign(lr=lambda f: lr_array(
        parse(SCHEDULES["constant"])))
    pd.concat([dense, table[table["run"] != "constant"]]).to_csv(tmp_path / "mixed.csv",
                                                                 index=False)
    assert cli.main(["fit", str(tmp_path / "mixed.csv"), "--law", "annealing", "--bootstrap",
                     "0", "--where", "step % 50 == 0"]) == 0
    assert "LRs       from the lr column: constant; from the schedule column: cosine, wsd" \
        in capsys.readouterr().out
