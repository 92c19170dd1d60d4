"""Issue 24, item 3: `fit --where` and `backtest --where/--train/--test` check only the rows
their queries keep (`scaling.data.prepare.prepare_rows`), as `read_runs(where=...)` does: a bad
or duplicate row a query drops is no error, and an error about a kept row names the queries.
The curve laws still derive their LR areas from whole runs."""

import json

import numpy as np
import pandas as pd
import pytest

import cli
from scaling.laws import load_fit
from test_lr_history import SCHEDULES, curves
from scaling.data.schedules import lr_array, parse


def grid() -> pd.DataFrame:
    """16 runs on a 4 × 4 grid of params and tokens that follow a Chinchilla law exactly."""
    rows = []
    for params in (1e7, 3e7, 1e8, 3e8):
        for tokens in (1e8, 3e8, 1e9, 3e9):
            rows.append({"run": f"r{len(rows) + 1:02d}", "params": params, "tokens": tokens,
                         "loss": 1.8 + 400 / params**0.34 + 2000 / tokens**0.37})
    return pd.DataFrame(rows)


def with_bad_rows(frame: pd.DataFrame, bad: dict) -> pd.DataFrame:
    """`frame` with {row number from 1: loss text} set (the loss column as text)."""
    frame = frame.copy()
    frame["loss"] = frame["loss"].astype(object)
    for row, value in bad.items():
        frame.loc[row - 1, "loss"] = value
    return frame


FIT = ["--bootstrap", "0", "--jobs", "1", "--no-calibration"]


def fitted(path, out, *options) -> dict:
    code = cli.main(["fit", str(path), *FIT, "--out", str(out), *options])
    assert code == 0
    return load_fit(out).params_


def test_fit_where_dropping_a_bad_row_is_the_fit_without_it(tmp_path, capsys):
    # row 7 (params 3e7): not a number; row 12 (params 1e8): a loss of 5e6 nats
    path, clean = tmp_path / "runs.csv", tmp_path / "clean.csv"
    with_bad_rows(grid(), {7: "abc", 12: 5e6}).to_csv(path, index=False)
    grid().drop(index=[6, 11]).to_csv(clean, index=False)
    assert cli.main(["fit", str(path), *FIT]) == 2               # every row: an error
    assert "row 7: not a number" in capsys.readouterr().err
    query = "run not in ['r07', 'r12']"
    params = fitted(path, tmp_path / "a.json", "--where", query)
    assert params == fitted(clean, tmp_path / "b.json", "--where", query)
    assert params == fitted(clean, tmp_path / "c.json", "--where", "params > 0")
    # the grid's own alpha: 14 noiseless points of 5 parameters, so the fit recovers it to the
    # optimizer's tolerance; 1e-3 leaves room for a release's different stopping point
    assert params["alpha"] == pytest.approx(0.34, rel=1e-3)
    assert load_fit(tmp_path / "a.json").n_points_ == 14
    assert load_fit(tmp_path / "a.json").data_["where"] == query


def test_fit_where_an_error_about_a_kept_row_names_the_query(tmp_path, capsys):
    path = tmp_path / "runs.csv"
    with_bad_rows(grid(), {7: "abc"}).to_csv(path, index=False)
    assert cli.main(["fit", str(path), *FIT, "--where", "params > 2e7"]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and captured.out == ""
    assert captured.err.strip() == (
        f"scaling: error: {path}: column 'loss', row 7: not a number ('abc') (checked on the "
        "rows --where 'params > 2e7' keeps)")


def test_fit_where_a_duplicate_row_the_query_drops_is_no_error(tmp_path, capsys):
    frame = grid()
    twice = pd.concat([frame, frame.iloc[[5]].assign(loss=9.9)], ignore_index=True)  # row 17
    path, clean = tmp_path / "runs.csv", tmp_path / "clean.csv"
    twice.to_csv(path, index=False)
    frame.to_csv(clean, index=False)
    assert cli.main(["fit", str(path), *FIT]) == 2
    assert "rows 6 and 17 are both run 'r06'" in capsys.readouterr().err
    assert fitted(path, tmp_path / "a.json", "--where", "loss < 9") == \
        fitted(clean, tmp_path / "b.json", "--where", "loss < 9")
    # kept twice: the error names both rows and the query
    assert cli.main(["fit", str(path), *FIT, "--where", "params == 3e7"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "rows 6 and 17 are both run 'r06' at tokens 3e+08" in err
    assert err.strip().endswith("(checked on the rows --where 'params == 3e7' keeps)")


BACKTEST = ["--bootstrap", "0", "--jobs", "1", "--no-calibration"]


def backtested(path, out, *options) -> dict:
    code = cli.main(["backtest", str(path), *BACKTEST, "--json", str(out), *options])
    assert code == 0
    record = json.loads(out.read_text())
    return {"test": record["test"], "params": record["fit"]["params"],
            "error": record.get("mean_abs_rel_error", record.get("mean_abs_error")),
            "where": record["fit"]["data"]["where"]}


def test_backtest_checks_the_rows_its_queries_keep(tmp_path, capsys):
    # row 7 (run r07): not a number; row 2: run r01 again at tokens 1e8 (a duplicate of row 1)
    # with a loss of 9; --where 'loss < 8' drops both
    frame = grid()
    frame.loc[1, ["run", "tokens", "loss"]] = ["r01", 1e8, 9.0]
    path, clean = tmp_path / "runs.csv", tmp_path / "clean.csv"
    with_bad_rows(frame, {7: "abc"}).to_csv(path, index=False)
    grid().drop(index=[1, 6]).to_csv(clean, index=False)
    train = ["--train", "params < 2e8"]
    assert cli.main(["backtest", str(path), *BACKTEST, *train]) == 2
    assert "row 7: not a number ('abc') (checked on the rows --train" in capsys.readouterr().err
    where = ["--where", "loss < 8"]
    record = backtested(path, tmp_path / "a.json", *where, *train)
    assert record == backtested(clean, tmp_path / "b.json", *where, *train)
    assert [row["run"] for row in record["test"]] == ["r13", "r14", "r15", "r16"]
    assert record["where"] == "loss < 8 and params < 2e8"
    assert 0 < record["error"] < 1e-3          # exact data: a small extrapolation error
    # a bad row --where keeps that neither --train nor --test selects: no error either
    queries = ["--where", "loss < 8 or run == 'r07'", "--train",
               "params < 2e8 and tokens != 1e9", "--test", "params > 2e8"]
    record = backtested(path, tmp_path / "c.json", *queries)
    assert record == backtested(clean, tmp_path / "d.json", *queries)
    assert len(record["test"]) == 4


@pytest.mark.parametrize("options, checked", [
    (["--where", "params > 2e7", "--train", "params < 2e8"],
     "the rows --where 'params > 2e7' keeps that --train 'params < 2e8' selects and the runs "
     "it leaves to test"),
    (["--train", "params < 5e7", "--test", "params > 2e8"],
     "the rows --train 'params < 5e7' or --test 'params > 2e8' select"),
])
def test_backtest_an_error_about_a_checked_row_names_the_queries(tmp_path, capsys, options,
                                                                 checked):
    path = tmp_path / "runs.csv"
    with_bad_rows(grid(), {7: "abc"}).to_csv(path, index=False)
    assert cli.main(["backtest", str(path), *BACKTEST, *options]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and captured.out == ""
    assert captured.err.strip() == (
        f"scaling: error: {path}: column 'loss', row 7: not a number ('abc') (checked on "
        f"{checked})")


def dense() -> pd.DataFrame:
    """Three multi-power curves with a row at every step and the LRs in an `lr` column."""
    frame = curves(every=1, noise=0.0).drop(columns=["schedule"])
    frame["lr"] = np.concatenate([lr_array(parse(s)) for s in SCHEDULES.values()])
    return frame


def test_a_curve_law_reads_whole_runs_but_checks_the_kept_rows(tmp_path, capsys):
    """The multi-power law's LR areas come from the `lr` of every step of a run, so the rows
    `step % 100 == 0` drops are still read for them; their bad losses (NaN, 5e6, a duplicate
    step) are no error, and the fit equals that of the table without them."""
    clean = dense()
    frame = with_bad_rows(clean, {57: "", 3000 + 1234: 5e6})
    frame = pd.concat([frame, frame.iloc[[99]].assign(loss=9.0)]).sort_index(kind="stable")
    path, reference = tmp_path / "runs.csv", tmp_path / "clean.csv"
    frame.to_csv(path, index=False)                # rows 100 and 101: run constant at step 100
    clean.to_csv(reference, index=False)
    options = ["--law", "multipower", "--where", "step % 100 == 50"]
    params = fitted(path, tmp_path / "a.json", *options)
    assert params == fitted(reference, tmp_path / "b.json", *options)
    assert load_fit(tmp_path / "a.json").n_points_ == 90
    # a kept row's bad loss names the query
    assert cli.main(["fit", str(path), *FIT, "--law", "multipower", "--where",
                     "step % 100 == 57"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (f"scaling: error: {path}: column 'loss', row 57: missing value (NaN) "
                           "(checked on the rows --where 'step % 100 == 57' keeps)")
    # a backtest too
    train = ["--train", "run != 'wsd'"]
    backtest = backtested(path, tmp_path / "c.json", "--law", "multipower", *options[2:], *train)
    assert backtest == backtested(reference, tmp_path / "d.json", "--law", "multipower",
                                  *options[2:], *train)


def test_a_curve_law_needs_the_lr_of_a_step_the_query_drops(tmp_path, capsys):
    """An `lr` the LR areas of kept rows are built from is checked on every row of their run:
    the error says why a row the query drops is read."""
    frame = dense()
    frame["lr"] = frame["lr"].astype(object)
    frame.loc[56, "lr"] = "x"                                     # row 57: run constant
    path = tmp_path / "runs.csv"
    frame.to_csv(path, index=False)
    assert cli.main(["fit", str(path), *FIT, "--law", "multipower", "--where",
                     "step % 100 == 50"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"scaling: error: {path}: column 'lr', row 57: not a number ('x') (the multipower law "
        "derives its inputs from every row of the runs of the rows --where 'step % 100 == 50' "
        "keeps)")
    # a query that keeps no row of that run does not read it
    assert cli.main(["fit", str(path), *FIT, "--law", "multipower", "--where",
                     "step % 100 == 50 and run != 'constant'"]) == 0


def test_a_task_fit_and_backtest_check_the_rows_their_queries_keep(tmp_path, capsys):
    from test_task import noisy_runs

    clean = noisy_runs().reset_index(drop=True)
    largest = clean.index[clean["params"] == clean["params"].max()][0]
    frame = clean.copy()
    frame.loc[largest, "acc:hellaswag"] = 1.5                     # an accuracy above 1
    path, reference = tmp_path / "runs.csv", tmp_path / "clean.csv"
    frame.to_csv(path, index=False)
    clean.drop(index=[largest]).to_csv(reference, index=False)
    task = ["--law", "task-accuracy", "--task", "hellaswag"]
    assert cli.main(["fit", str(path), *FIT, *task]) == 2
    assert f"row {largest + 1}: must be in [0, 1]" in capsys.readouterr().err
    where = ["--where", "params < 1e9"]
    assert fitted(path, tmp_path / "a.json", *task, *where) == \
        fitted(reference, tmp_path / "b.json", *task, *where)
    assert cli.main(["fit", str(path), *FIT, *task, "--where", "params > 0"]) == 2
    assert capsys.readouterr().err.strip().endswith(
        f"row {largest + 1}: must be in [0, 1] for the task-accuracy law, got 1.5 (checked on "
        "the rows --where 'params > 0' keeps)")
    queries = ["--train", "params < 2e8", "--test", "params > 2e8 and params < 5e8"]
    assert backtested(path, tmp_path / "c.json", *task, *queries)["test"] == \
        backtested(reference, tmp_path / "d.json", *task, *queries)["test"]
