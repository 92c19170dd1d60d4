"""Units of a run table (scaling/data/units.py): a `flops` column that is not FLOPs and tokens that
are not tokens warn (flops-units, tokens-per-param) in every command that reads the table, and
approaches 1 and 2, which take `flops` as training compute, refuse a column 100x off."""

import json

import pandas as pd
import pytest

import cli
from scaling.data import units
from scaling.data.runs import read_runs
from scaling.data.synthetic import chinchilla_ladder

LAW = {"E": 1.8, "A": 400, "B": 2000, "alpha": 0.34, "beta": 0.37}
FAST = ["--bootstrap", "0", "--jobs", "1"]


def ladder(**edits) -> pd.DataFrame:
    """16 runs, 4 sizes x 4 tokens per parameter (5 to 40), flops = 6·N·D, no noise."""
    frame = chinchilla_ladder(**LAW, params=[1e7, 3e7, 1e8, 3e8], tokens_per_param=[5, 10, 20, 40],
                              noise=0.0)
    for column, factor in edits.items():
        frame[column] = frame[column] * factor
    return frame


def write(tmp_path, frame, name="runs.csv"):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return str(path)


def one_line_error(capsys, argv) -> str:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    return err


def test_fit_and_predict_warn_of_a_flops_column_in_pflops(tmp_path, capsys):
    runs = write(tmp_path, ladder(flops=1e-15))
    fit = tmp_path / "fit.json"
    assert cli.main(["fit", runs, *FAST, "--no-calibration", "--out", str(fit)]) == 0
    out = capsys.readouterr().out
    (line,) = [x for x in out.splitlines() if "column 'flops'" in x]
    assert line.startswith(f"WARNING: {runs}: column 'flops' against 6·params·tokens is "
                           "1/1e+15 (median over 16 rows; flops in PFLOPs?)")
    (kept,) = [w for w in json.loads(fit.read_text())["warnings"] if w["code"] == "flops-units"]
    assert kept["ratio"]["median"] == pytest.approx(1e-15)
    assert cli.main(["predict", str(fit), "--flops", "1e21"]) == 0
    assert "1/1e+15 (median over 16 rows; flops in PFLOPs?)" in capsys.readouterr().out


def test_fit_warns_of_tokens_in_millions(tmp_path, capsys):
    runs = write(tmp_path, ladder(tokens=1e-6).drop(columns=["flops"]))
    assert cli.main(["fit", runs, *FAST, "--no-calibration"]) == 0
    out = capsys.readouterr().out
    (line,) = [x for x in out.splitlines() if "tokens per parameter" in x]
    # the first run: 1e7 parameters on 5e7 tokens, written as 50 (millions): 5e-6 a parameter
    assert line.startswith(f"WARNING: {runs}: 16 run(s) end at a tokens per parameter outside "
                           "[0.01, 100000]: 'N1e+07-D5e+07' (row 1: 5e-06)")


def test_honest_tables_do_not_warn():
    # attention FLOPs (the CPU ladders: flops 1.04 to 1.38 of 6ND), Pythia's first checkpoints
    # (1.9e-4 tokens a parameter at step 1; final rows 26 to 1.6e4), Chinchilla's runs
    for path in ("data/cpu_tiny/runs.parquet", "data/pythia_evals/zero-shot.parquet",
                 "data/chinchilla/runs.parquet"):
        assert units.facts(read_runs(path)) == {}, path
    # a mixture of experts counted by its total parameters, flops by its active ones: warned
    # (1/5 is outside [1/3, 3]), but approaches 1 and 2 still take the column (within 100x)
    moe = ladder(flops=0.2)
    (message,) = units.messages(moe)
    assert "is 1/5 (median over 16 rows; flops, params or tokens in other units?)" in message
    units.check_flops_column(moe, "moe.csv", "approach 2")


def test_a_column_in_two_units_warns():
    frame = ladder()
    frame.loc[frame.index[:4], "flops"] *= 1e-3          # 4 rows in kFLOPs
    (message,) = units.messages(frame, "mixed.csv")
    assert message.startswith("mixed.csv: column 'flops' against 6·params·tokens ranges from "
                              "1/1e+03 to 1x over the rows")


def test_optimal_refuses_approach_2_on_pflops_and_warns_in_approach_3(tmp_path, capsys):
    runs = write(tmp_path, ladder(flops=1e-15))
    err = one_line_error(capsys, ["optimal", runs, "--approach", "2", "--bootstrap", "0"])
    assert err == (f"scaling: error: {runs}: column 'flops' is 1/1e+15 of 6·params·tokens "
                   "(median over 16 rows; flops in PFLOPs?), and each of approaches 1 and 2 "
                   "takes it as training FLOPs: convert it to FLOPs, or drop the column (then "
                   "flops = 6·params·tokens)")
    assert cli.main(["optimal", runs, *FAST]) == 0
    out = capsys.readouterr().out
    assert "approach 2 not supported: column 'flops' is 1/1e+15" in out
    assert "WARNING: approach 3: " + runs + ": column 'flops' against" in out


def test_backtest_warns_of_the_table(tmp_path, capsys):
    runs = write(tmp_path, ladder(tokens=1e-6).drop(columns=["flops"]))
    out_json = tmp_path / "bt.json"
    assert cli.main(["backtest", runs, "--train", "params < 2e8", *FAST, "--no-calibration",
                     "--json", str(out_json)]) == 0
    out = capsys.readouterr().out
    assert f"WARNING (run table): {runs}: 16 run(s) end at a tokens per parameter" in out
    (kept,) = json.loads(out_json.read_text())["table_warnings"]
    assert kept["code"] == "tokens-per-param" and kept["n_runs"] == 16
