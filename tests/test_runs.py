"""Run tables (docs/run-table.md): reading, mapping, deriving, filtering, writing."""

import hashlib

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from conftest import CHINCHILLA, EPOCH_CSV
from scaling.errors import ScalingError
from scaling.data.importers.epoch import read_epoch_chinchilla
from scaling.data.runs import filter_rows, final_rows, parse_mapping, read_runs
from scaling.data.table_files import METADATA_KEY, contract_version, write_runs


def curves() -> pd.DataFrame:
    """Two runs with three evaluation points each, in file order."""
    return pd.DataFrame({
        "run": ["a", "a", "a", "b", "b", "b"],
        "params": [1e6, 1e6, 1e6, 2e6, 2e6, 2e6],
        "tokens": [1e7, 2e7, 3e7, 1e7, 3e7, 2e7],
        "loss": [4.0, 3.5, 3.2, 3.9, 3.0, 3.3],
        "step": [10, 20, 30, 10, 30, 20],
        "note": ["x", "y", "z", "u", "v", "w"],
    })


def test_bundled_csv_is_epochs_file():
    digest = hashlib.sha256(EPOCH_CSV.read_bytes()).hexdigest()
    assert digest == "193478df4e90f040016431996c45682659306840ecdadf83cfb9cd5ca0aa1b30"


def test_bundled_parquet_is_the_conversion_of_the_csv():
    bundled = read_runs(CHINCHILLA)
    converted = read_epoch_chinchilla(EPOCH_CSV)
    assert len(bundled) == 245 and contract_version(CHINCHILLA) == "1"
    pd.testing.assert_frame_equal(bundled[converted.columns], converted, check_dtype=False)
    # tokens = FLOP / (6 N), as in Epoch's analysis
    assert np.allclose(bundled["tokens"], bundled["flops"] / (6 * bundled["params"]))
    assert bundled["params"].min() == pytest.approx(5.73e7, rel=1e-2)
    assert sorted(bundled["loss"])[-5] == pytest.approx(3.446995, rel=1e-6)


def test_read_csv_and_parquet_agree(tmp_path):
    frame = curves()
    frame.to_csv(tmp_path / "runs.csv", index=False)
    write_runs(frame, tmp_path / "runs.parquet")
    from_csv, from_parquet = read_runs(tmp_path / "runs.csv"), read_runs(tmp_path / "runs.parquet")
    pd.testing.assert_frame_equal(from_csv, from_parquet, check_dtype=False)
    assert list(from_csv.index) == [1, 2, 3, 4, 5, 6]  # rows numbered from 1 in file order
    assert from_csv["note"].tolist() == list("xyzuvw")  # unknown columns carried along


def test_flops_derived_when_absent_and_kept_when_present(tmp_path):
    frame = curves()
    frame.to_csv(tmp_path / "runs.csv", index=False)
    runs = read_runs(tmp_path / "runs.csv")
    assert np.allclose(runs["flops"], 6 * runs["params"] * runs["tokens"])
    frame["flops"] = 7.0 * frame["params"] * frame["tokens"]
    frame.to_csv(tmp_path / "runs.csv", index=False)
    assert np.allclose(read_runs(tmp_path / "runs.csv")["flops"], frame["flops"])


def test_mapping_foreign_columns(tmp_path):
    frame = curves().rename(columns={"params": "Model Size", "tokens": "D"})
    frame.to_csv(tmp_path / "foreign.csv", index=False)
    mapping = parse_mapping(['params="Model Size"', "tokens=D"])
    assert mapping == {"params": "Model Size", "tokens": "D"}
    runs = read_runs(tmp_path / "foreign.csv", mapping=mapping)
    assert runs["params"].tolist() == curves()["params"].tolist()
    with pytest.raises(ScalingError, match="bad --map"):
        parse_mapping(["params"])


def test_final_rows_most_tokens_unless_marked():
    runs = curves()
    runs.index = pd.RangeIndex(1, 7)
    final = final_rows(runs)
    assert final["run"].tolist() == ["a", "b"] and final["tokens"].tolist() == [3e7, 3e7]
    runs["final"] = [False, True, False, False, False, False]
    final = final_rows(runs)
    assert final.set_index("run")["tokens"].to_dict() == {"a": 2e7, "b": 3e7}


def test_where_filters_rows(tmp_path):
    curves().to_csv(tmp_path / "runs.csv", index=False)
    runs = read_runs(tmp_path / "runs.csv", where="params < 1.5e6 and step >= 20")
    assert runs.index.tolist() == [2, 3] and runs.attrs["where"].startswith("params")


def test_final_columns_select_whole_runs_and_cut_runs_are_recorded():
    runs = curves()                       # a: tokens 1e7, 2e7, 3e7; b: 1e7, 3e7, 2e7 (rows 4-6)
    runs.attrs["source"] = "runs.csv"
    early = filter_rows(runs, "step <= 20")
    assert early.index.tolist() == [0, 1, 3, 5]
    assert early.attrs["cut_runs"] == {"a": [2e7, 3e7], "b": [2e7, 3e7]}
    # each run's loss on its final row: a 3.2, b 3.0
    whole = filter_rows(runs, "final_loss < 3.1")
    assert whole.index.tolist() == [3, 4, 5] and whole.attrs["cut_runs"] == {}
    assert "final_loss" not in whole.columns
    # a later query keeps the table's final tokens, not those of the cut it was given
    earlier = filter_rows(early, "step <= 10")
    assert earlier.attrs["cut_runs"] == {"a": [1e7, 3e7], "b": [1e7, 3e7]}
    assert filter_rows(runs, "run == 'b'").attrs["cut_runs"] == {}
    with pytest.raises(ScalingError, match=r"runs.csv: bad --where 'final_nothing > 1'"):
        filter_rows(runs, "final_nothing > 1")


def test_law_columns_are_validated(tmp_path):
    frame = curves()
    frame["lr"] = ["1e-3", "1e-3", "oops", "1e-3", "1e-3", "1e-3"]
    frame.to_csv(tmp_path / "runs.csv", index=False)
    read_runs(tmp_path / "runs.csv")  # unused columns are never an error
    with pytest.raises(ScalingError, match=r"column 'lr', row 3: not a number"):
        read_runs(tmp_path / "runs.csv", columns=("lr",))


def test_write_is_atomic_and_carries_metadata(tmp_path):
    path = write_runs(curves(), tmp_path / "sub" / "runs.parquet")
    assert pq.read_schema(path).metadata[METADATA_KEY] == b"1"
    assert [p.name for p in path.parent.iterdir()] == ["runs.parquet"]  # no temporary left

    before = path.read_bytes()
    bad = curves()
    bad["run"] = [object()] * 6  # pyarrow cannot write this
    with pytest.raises(Exception):
        write_runs(bad, path)
    assert path.read_bytes() == before  # the finished file is untouched
    assert [p.name for p in path.parent.iterdir()] == ["runs.parquet"]


def test_the_contract_lives_in_the_project():
    """Defect 7: docstrings pointed to a run-table.md outside the project, which a clone does not
    have. The contract is docs/run-table.md, and it names every column the code knows."""
    from conftest import ROOT
    from scaling.data.runs import NUMERIC, REQUIRED, STRING

    files = [ROOT / "cli.py", ROOT / "README.md", ROOT / "Makefile", ROOT / "pyproject.toml",
             *ROOT.glob("docs/*.md"),
             *(path for folder in ("scaling", "ladders", "tests", "bench")
               for path in (ROOT / folder).rglob("*.py"))]
    outside = ("../" + "shared", "shared" + "/docs")      # not spelled out: this file is read too
    pointing_outside = [str(path.relative_to(ROOT)) for path in files
                        if any(text in path.read_text() for text in outside)]
    assert pointing_outside == []
    contract = (ROOT / "docs" / "run-table.md").read_text()
    for column in (*REQUIRED, *NUMERIC, *STRING, "acc:<task>", "loss:<task>", "final"):
        assert f"| `{column}` |" in contract, column


def test_a_semicolon_or_tab_separated_csv_reads_as_the_comma_one(tmp_path):
    frame = curves()
    frame.to_csv(tmp_path / "comma.csv", index=False)
    expected = read_runs(tmp_path / "comma.csv")
    for name, separator in (("semi.csv", ";"), ("tab.csv", "\t"), ("pipe.txt", "|")):
        frame.to_csv(tmp_path / name, index=False, sep=separator)
        got = read_runs(tmp_path / name)
        pd.testing.assert_frame_equal(got.drop(columns="flops"),
                                      expected.drop(columns="flops"), check_dtype=False)
    # a comma inside a ;-separated file's values is no separator: the header decides
    with_commas = frame.assign(note=["x,1", "y", "z", "u", "v", "w"])
    with_commas.to_csv(tmp_path / "commas.csv", index=False, sep=";")
    assert read_runs(tmp_path / "commas.csv")["note"].tolist()[0] == "x,1"


def duplicated(loss: float) -> pd.DataFrame:
    """`curves()` with a second row of run 'a' at step 20 (row 7) of loss `loss`."""
    frame = curves()
    extra = frame.iloc[[1]].assign(loss=loss, note="again")
    return pd.concat([frame, extra], ignore_index=True)


def test_two_rows_of_one_run_at_one_step_are_an_error_naming_both(tmp_path):
    duplicated(3.7).to_csv(tmp_path / "runs.csv", index=False)
    with pytest.raises(ScalingError, match=r"runs.csv: rows 2 and 7 are both run 'a' at step 20 "
                                           r"\(losses 3.5 and 3.7\).*--dedupe first\|last\|mean"):
        read_runs(tmp_path / "runs.csv")
    duplicated(3.5).drop(columns="step").to_csv(tmp_path / "nostep.csv", index=False)
    with pytest.raises(ScalingError, match=r"rows 2 and 7 are both run 'a' at tokens 2e\+07 "
                                           r"\(the same loss\)"):
        read_runs(tmp_path / "nostep.csv")


def test_dedupe_keeps_the_first_the_last_or_the_mean(tmp_path):
    duplicated(3.7).to_csv(tmp_path / "runs.csv", index=False)
    first = read_runs(tmp_path / "runs.csv", dedupe="first")
    last = read_runs(tmp_path / "runs.csv", dedupe="last")
    mean = read_runs(tmp_path / "runs.csv", dedupe="mean")
    for kept in (first, last, mean):
        assert len(kept) == 6 and not kept.duplicated(["run", "step"]).any()
    assert first.loc[first["step"].eq(20) & first["run"].eq("a"), "loss"].tolist() == [3.5]
    assert last.loc[last["step"].eq(20) & last["run"].eq("a"), "loss"].tolist() == [3.7]
    row = mean[mean["step"].eq(20) & mean["run"].eq("a")]
    assert row["loss"].tolist() == [pytest.approx(3.6)] and list(row.index) == [2]
    assert row["note"].tolist() == ["y"]                  # text: the first row's
    assert list(last.index) == [1, 3, 4, 5, 6, 7]         # rows keep their file numbers


@pytest.mark.parametrize("column, value, expected", [
    ("loss", 5e-324, r"column 'loss', row 3: 4.94066e-324 is outside the sensible range "
                     r"\[1e-06, 1000\] for a loss in nats per token"),
    ("loss", 1e300, r"column 'loss', row 3: 1e\+300 is outside the sensible range"),
    ("params", 1e-303, r"column 'params', row 4: 1e-303 is outside the sensible range \[1, "
                       r"1e\+15\] for a parameter count"),
    ("tokens", 1e300, r"column 'tokens', row 3: 1e\+300 is outside the sensible range \[1, "
                      r"1e\+17\] for training tokens"),
    ("loss:piqa", 1e-9, r"column 'loss:piqa', row 3: 1e-09 is outside the sensible range "
                        r"\[1e-06, 1000\] for a task loss \(the ladder's bits per byte"),
])
def test_values_outside_a_sensible_range_are_errors(tmp_path, column, value, expected):
    frame = curves()
    if column == "params":                               # run 'b' (rows 4-6) scaled by 1e-309
        frame.loc[3:5, "params"] = value
    else:
        if column not in frame:                          # a task loss: the loss's copy
            frame[column] = frame["loss"]
        frame.loc[2, column] = value
    frame.to_csv(tmp_path / "runs.csv", index=False)
    with pytest.raises(ScalingError, match=expected + ".*check the column's units"):
        read_runs(tmp_path / "runs.csv", columns=[column])


# -- issue 24: ids as text, the query before the checks, separators that disagree ------------

def test_run_ids_in_a_csv_are_text_so_1_and_01_stay_two_runs(tmp_path):
    frame = pd.DataFrame({"Model": ["1", "01", "1e3", "1000"], "params": [1e6, 2e6, 3e6, 4e6],
                          "tokens": [1e7, 1e7, 1e7, 1e7], "loss": [4.0, 3.9, 3.8, 3.7],
                          "schedule": ["1", "01", "1e3", "1000"]})
    path = tmp_path / "runs.csv"
    frame.rename(columns={"Model": "run"}).to_csv(path, index=False)
    runs = read_runs(path)
    assert runs["run"].tolist() == ["1", "01", "1e3", "1000"]       # four runs, as written
    assert runs["schedule"].tolist() == ["1", "01", "1e3", "1000"]
    frame.to_csv(path, index=False)                                  # the id under a mapping
    mapped = read_runs(path, mapping=parse_mapping(["run=Model"]))
    assert mapped["run"].tolist() == ["1", "01", "1e3", "1000"]
    assert filter_rows(mapped, "run == '01'")["params"].tolist() == [2e6]


def test_a_bad_row_the_query_drops_is_no_error(tmp_path):
    frame = curves()
    frame["loss"] = frame["loss"].astype(object)
    frame.loc[1, "loss"] = ""          # row 2: missing
    frame.loc[4, "loss"] = 5e6         # row 5: outside the sensible range
    frame.loc[5, "step"] = 10          # row 6: run b at step 10 twice (with row 4)
    frame.loc[5, "params"] = 9e6       # ... and its params change
    path = tmp_path / "runs.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(ScalingError, match="row 2: missing value"):
        read_runs(path)
    kept = read_runs(path, where="loss < 3.95 and params < 5e6")
    assert kept.index.tolist() == [3, 4]                          # file row numbers kept
    assert kept["loss"].tolist() == [3.2, 3.9]
    assert kept["loss"].dtype == float and kept.attrs["where"] == "loss < 3.95 and params < 5e6"
    assert np.allclose(kept["flops"], 6 * kept["params"] * kept["tokens"])
    assert kept.attrs["cut_runs"] == {"b": [1e7, 3e7]}            # b's final row (5) is gone


def test_an_error_about_a_row_the_query_keeps_names_the_query(tmp_path):
    frame = curves()
    frame["loss"] = frame["loss"].astype(object)
    frame.loc[4, "loss"] = 5e6                                    # row 5
    path = tmp_path / "runs.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(ScalingError) as error:
        read_runs(path, where="step >= 20")
    assert str(error.value) == (
        f"{path}: column 'loss', row 5: 5e+06 is outside the sensible range [1e-06, 1000] for "
        "a loss in nats per token (an untrained model's is about log V: log 256 = 5.5, log "
        "200,000 = 12.2; a trained one's lies below); check the column's units (checked on the "
        "rows --where 'step >= 20' keeps)")
    frame.loc[4, "loss"] = 3.0
    frame.loc[5, "step"] = 30                                     # rows 5 and 6: b at step 30
    frame.to_csv(path, index=False)
    with pytest.raises(ScalingError, match=r"rows 5 and 6 are both run 'b' at step 30 .* "
                                           r"\(checked on the rows --where 'step >= 20' keeps\)"):
        read_runs(path, where="step >= 20")
    assert read_runs(path, where="step < 30").index.tolist() == [1, 2, 4]


def test_commands_check_the_rows_their_query_keeps(tmp_path, capsys):
    import cli

    rows = []
    for params in (1e7, 3e7, 1e8, 3e8):
        for tokens in (1e8, 3e8, 1e9, 3e9):
            rows.append({"run": f"r{len(rows) + 1:02d}", "params": params, "tokens": tokens,
                         "loss": 1.8 + 400 / params**0.34 + 2000 / tokens**0.37})
    frame = pd.DataFrame(rows)
    frame["loss"] = frame["loss"].astype(object)
    frame.loc[6, "loss"] = "abc"                                  # row 7, params 3e7
    path = tmp_path / "runs.csv"
    frame.to_csv(path, index=False)
    argv = ["optimal", str(path), "--approach", "3", "--bootstrap", "0", "--jobs", "1"]
    assert cli.main([*argv, "--where", "params != 3e7"]) == 0
    capsys.readouterr()
    assert cli.main([*argv, "--where", "params > 2e7"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"scaling: error: {path}: column 'loss', row 7: not a number ('abc') "
                   "(checked on the rows --where 'params > 2e7' keeps)")


@pytest.mark.parametrize("header, rows, separator, other", [
    ("run;params;tokens;loss", "a,1e8,1e9,3.0\nb,2e8,1e9,2.9\n", ";", ","),
    ("run,params,tokens,loss", "a;1e8;1e9;3.0\nb;2e8;1e9;2.9\n", ",", ";"),
    ("run|params|tokens|loss", "a\t1e8\t1e9\t3.0\n", "|", "\t"),
])
def test_a_header_and_rows_with_different_separators_are_one_error(tmp_path, capsys, header,
                                                                   rows, separator, other):
    import cli

    path = tmp_path / "runs.csv"
    path.write_text(f"{header}\n{rows}")
    assert cli.main(["fit", str(path), "--bootstrap", "0", "--jobs", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"scaling: error: {path}: the separators disagree: the header is "
                          f"separated by {separator!r} but the data rows by {other!r}")
    assert "\n" not in err
