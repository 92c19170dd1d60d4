"""Bad input: every malformed input makes the CLI exit 2 with one line on stderr, no traceback.

Each case builds a small table (or fit file) in a temporary folder, derived from one valid base
table, calls `cli.main(argv)` in-process and checks: exit status 2; stderr, stripped, is exactly
one non-empty line; no traceback; and the line names the problem (and, for data problems, the
file, the column and the row). Rows are numbered from 1 in file order (the first data row is
row 1), as in the run-table contract (docs/run-table.md).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cli

REPO = Path(__file__).resolve().parents[1]
FIT = ["--bootstrap", "0", "--jobs", "1"]


# -- the valid base table ------------------------------------------------------------------------

def base_table() -> pd.DataFrame:
    """4 params x 4 tokens, one run per (params, tokens), Chinchilla-shaped loss, fixed noise."""
    rows = []
    noise = np.random.default_rng(12345).normal(0.0, 0.005, size=16)
    for i, params in enumerate((1e7, 3e7, 1e8, 3e8)):
        for j, tokens in enumerate((1e8, 3e8, 1e9, 3e9)):
            k = 4 * i + j
            loss = 1.8 + 400 / params**0.34 + 2000 / tokens**0.37
            rows.append({"run": f"r{k + 1:02d}", "params": params, "tokens": tokens,
                         "loss": loss * (1 + noise[k])})
    return pd.DataFrame(rows)


def write(tmp: Path, frame: pd.DataFrame, name: str = "runs.csv") -> Path:
    path = tmp / name
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return path


def table(edit=None, name: str = "runs.csv"):
    """A case's table: the base table changed by `edit(frame)`, written as `name`."""
    def build(tmp: Path) -> Path:
        frame = base_table()
        if edit is not None:
            result = edit(frame)
            frame = frame if result is None else result
        return write(tmp, frame, name)
    return build


def set_cell(row: int, column: str, value):
    """Edit data row `row` (1-based, file order) of `column`; text makes a column of strings."""
    def edit(frame):
        if isinstance(value, str):
            frame[column] = frame[column].map(repr if column != "run" else str)
        frame.loc[row - 1, column] = value
    return edit


def fit_file(tmp: Path) -> Path:
    """A real fit file, written by `scaling fit --out` on the base table."""
    path = tmp / "fit.json"
    if not path.exists():
        runs = write(tmp, base_table(), "good.csv")
        assert cli.main(["fit", str(runs), *FIT, "--out", str(path)]) == 0
    return path


# -- argv builders -------------------------------------------------------------------------------

def fit(build, *options):
    def argv(tmp):
        return ["fit", str(build(tmp)), *FIT, *options]
    return argv


def backtest(build, *options):
    def argv(tmp):
        return ["backtest", str(build(tmp)), "--law", "chinchilla", "--bootstrap", "0",
                "--jobs", "1", *options]
    return argv


def isoflop_table(sizes_by_budget):
    """Chinchilla-shaped final losses of isoFLOP runs: {budget: [params, ...]}."""
    def build(tmp):
        rows = []
        for flops, sizes in sizes_by_budget.items():
            for params in sizes:
                tokens = flops / (6 * params)
                rows.append({"run": f"c{flops:g}-n{params:g}", "params": params,
                             "tokens": tokens, "flops": flops,
                             "loss": 1.8 + 400 / params**0.34 + 2000 / tokens**0.37})
        return write(tmp, pd.DataFrame(rows), "isoflops.csv")
    return build


def optimal(build, *options):
    def argv(tmp):
        return ["optimal", str(build(tmp)), "--bootstrap", "0", *options]
    return argv


def raw_file(name: str, content: bytes):
    def build(tmp):
        path = tmp / name
        path.write_bytes(content)
        return path
    return build


def missing(name: str):
    return lambda tmp: tmp / name


def predict(*options, fit_path=fit_file):
    def argv(tmp):
        return ["predict", str(fit_path(tmp)), *options]
    return argv


def curve_fit_file(tmp: Path) -> Path:
    """A real fit of a curve law (annealing, no bootstrap) on the bundled CPU schedule ladder."""
    path = tmp / "curve-fit.json"
    if not path.exists():
        assert cli.main(["fit", str(REPO / "data" / "cpu_schedules" / "runs.parquet"), "--law",
                         "annealing", "--where", "step > 100", *FIT, "--out", str(path)]) == 0
    return path


def uncalibrated_fit_file(tmp: Path) -> Path:
    """A real fit file with 20 bootstrap refits and no calibration (--no-calibration)."""
    path = tmp / "uncalibrated.json"
    if not path.exists():
        runs = write(tmp, base_table(), "good.csv")
        assert cli.main(["fit", str(runs), "--bootstrap", "20", "--jobs", "1",
                         "--no-calibration", "--out", str(path)]) == 0
    return path


def fit_with_format(version):
    """A real fit file whose "format" is `version` (None: no "format" field)."""
    def build(tmp):
        record = json.loads(fit_file(tmp).read_text())
        if version is None:
            del record["format"]
        else:
            record["format"] = version
        path = tmp / f"format-{version}.json"
        path.write_text(json.dumps(record))
        return path
    return build


def boot_fit_file(tmp: Path) -> Path:
    """A real fit file with 20 bootstrap refits (intervals), on the base table."""
    path = tmp / "boot-fit.json"
    if not path.exists():
        runs = write(tmp, base_table(), "good.csv")
        assert cli.main(["fit", str(runs), "--bootstrap", "20", "--jobs", "1",
                         "--out", str(path)]) == 0
    return path


def edited_fit(edit, name="edited.json", reseal=True):
    """The bootstrapped fit file with its record changed by `edit(record)` and resealed, as a
    hand that recomputes the seal would (`scaling.output.fit_file.seal`): the field checks behind the
    seal (an edit without a new seal is `tests/test_fit_file.py`'s)."""
    from scaling.output.fit_file import seal

    def build(tmp):
        record = json.loads(boot_fit_file(tmp).read_text())
        result = edit(record)
        record = record if result is None else result
        path = tmp / name
        path.write_text(json.dumps(seal(record) if reseal else record))
        return path
    return build


def as_format_2(record):
    """The record as format 2 wrote it: `theta` (fit space) beside `params`, and fit-space
    bootstrap samples."""
    from scaling.laws import get_law

    law = get_law(record["law"])
    names = [p.name for p in law.parameters]
    theta = law.fit_space({k: np.array([v]) for k, v in record["params"].items()})[0]
    samples = np.array(record["bootstrap"]["samples"])
    boot = law.fit_space({k: samples[:, j] for j, k in enumerate(record["bootstrap"]["names"])})
    record.update(format=2, theta=dict(zip(names, theta.tolist())),
                  bootstrap={"n": len(boot), "seed": 0, "theta": boot.tolist()})
    del record["outside_interval"]
    record.pop("seal", None)          # format 2 had no seal
    return record


def format_2_with_params_edited(record):
    """A format 2 file whose `params` were edited and its `theta` not."""
    record = as_format_2(record)
    record["params"]["E"] *= 1.01
    return record


def set_field(*keys, value):
    def edit(record):
        target = record
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value(target[keys[-1]]) if callable(value) else value
    return edit


def corrupt_fit(tmp):
    path = tmp / "corrupt.json"
    path.write_text("{this is not json")
    return path


def single_run(frame):
    frame = frame[frame["params"] == 1e8].copy()
    frame["run"] = "only"  # one run, four evaluation points
    return frame


def params_change(frame):
    frame.loc[4, "run"] = frame.loc[0, "run"]  # row 5 (params 3e7) joins run r01 (params 1e7)


def duplicate_loss(frame):
    """A second `loss` column (pandas alone would read it silently as `loss.1`)."""
    doubled = pd.concat([frame, frame[["loss"]] * 1.01], axis=1)
    assert list(doubled.columns) == ["run", "params", "tokens", "loss", "loss"]
    return doubled


def duplicate_loss_parquet(tmp):
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = base_table()
    columns = [pa.array(frame[c]) for c in frame.columns] + [pa.array(frame["loss"] * 1.01)]
    path = tmp / "dup.parquet"
    pq.write_table(pa.table(columns, names=[*frame.columns, "loss"]), path)
    return path


def one_params_value(frame):
    frame["params"] = 1e8


def with_steps(frame):
    """Every run's row at step 100 (one row a run, as in the base table)."""
    frame["step"] = 100


def duplicate_row(loss: float, steps: bool = True):
    """Row 17 repeats run r05 (row 5) with another loss; with or without a step column."""
    def edit(frame):
        if steps:
            with_steps(frame)
        extra = frame.iloc[[4]].assign(loss=loss)
        return pd.concat([frame, extra], ignore_index=True)
    return edit


def scaled_params(frame):
    frame["params"] = frame["params"] * 1e-310      # the whole column in absurd units


def semicolons(tmp):
    """The base table ;-separated with decimal commas (a European spreadsheet's export)."""
    path = tmp / "semi.csv"
    base_table().to_csv(path, index=False, sep=";", decimal=",")
    return path


def folder(name: str):
    """A path that is an existing folder (for output options that need a file)."""
    def build(tmp):
        (tmp / name).mkdir(exist_ok=True)
        return tmp / name
    return build


def outputs(command, option, build_path, *options):
    """`command` on the base table (or the base fit) with `option` pointing at build_path(tmp)."""
    def argv(tmp):
        target = str(build_path(tmp))
        if command == "predict":
            return ["predict", str(fit_file(tmp)), *options, option, target]
        if command == "backtest":
            return backtest(table(), "--train", "params < 2e8", option, target)(tmp)
        return fit(table(), *options, option, target)(tmp)
    return argv


def vocab_table(edit=None, name: str = "vocab.csv"):
    """A synthetic vocabulary ladder (scaling.data.synthetic.vocabulary_ladder) changed by `edit`."""
    def build(tmp: Path) -> Path:
        from scaling.data.synthetic import vocabulary_ladder

        frame = vocabulary_ladder(E=5.53, A1=876.0, alpha1=0.447, A2=2072.0, alpha2=0.671,
                                  B=22216.0, seed=0).reset_index(drop=True)
        if edit is not None:
            result = edit(frame)
            frame = frame if result is None else result
        return write(tmp, frame, name)
    return build


def vocab_fit(argv):
    """`scaling fit` with the vocabulary law on a vocabulary table."""
    def build(tmp):
        return ["fit", str(argv[0](tmp)), "--law", "vocab", *FIT, *argv[1:]]
    return build


def vocab_fit_file(tmp: Path) -> Path:
    """A real fit of the vocabulary law (no bootstrap, no calibration)."""
    path = tmp / "vocab-fit.json"
    if not path.exists():
        assert cli.main(["fit", str(vocab_table()(tmp)), "--law", "vocab", *FIT,
                         "--no-calibration", "--out", str(path)]) == 0
    return path


def first_vocabulary_fit(tmp: Path) -> Path:
    """A fit file of the vocabulary law's first version: no tie_exponents setting, and its
    seven parameters (beta apart)."""
    record = json.loads(vocab_fit_file(tmp).read_text())
    record["settings"] = {"delta": 0.001, "n_polish": 8, "confidence": 0.95}
    record["params"]["beta"] = 0.35
    path = tmp / "first-vocab.json"
    path.write_text(json.dumps(record))
    return path


def edited_vocab_fit(edit):
    """The vocabulary fit file edited by `edit(record)` and resealed (see `edited_fit`)."""
    from scaling.output.fit_file import seal

    def build(tmp):
        record = json.loads(vocab_fit_file(tmp).read_text())
        edit(record)
        path = tmp / "edited-vocab.json"
        path.write_text(json.dumps(seal(record)))
        return path
    return build


def dc_table(edit=None, name: str = "dc.csv"):
    """A synthetic data-constrained ladder (scaling.data.synthetic.data_constrained_ladder)."""
    def build(tmp: Path) -> Path:
        from scaling.data.synthetic import data_constrained_ladder

        frame = data_constrained_ladder(E=1.87, A=521.0, B=1488.0, alpha=0.353, beta=0.353,
                                        params=[1e7, 3e7, 1e8], unique_per_param=[5, 20],
                                        epochs=[1, 4], noise=0.002).reset_index(drop=True)
        if edit is not None:
            result = edit(frame)
            frame = frame if result is None else result
        return write(tmp, frame, name)
    return build


def dc_fit(build, *options):
    def argv(tmp):
        return ["fit", str(build(tmp)), "--law", "data-constrained", *FIT, *options]
    return argv


def dc_fit_file(tmp: Path) -> Path:
    """A real fit of the data-constrained law (no bootstrap, no calibration)."""
    path = tmp / "dc-fit.json"
    if not path.exists():
        assert cli.main(["fit", str(dc_table()(tmp)), "--law", "data-constrained", *FIT,
                         "--no-calibration", "--out", str(path)]) == 0
    return path


# (case id, argv builder, substrings that the one line must contain)
CASES = [
    ("dc-zero-unique-tokens", dc_fit(dc_table(set_cell(5, "unique_tokens", 0.0))),
     ["dc.csv", "column 'unique_tokens', row 5: must be positive", "data-constrained"]),
    ("dc-nan-unique-tokens", dc_fit(dc_table(set_cell(3, "unique_tokens", np.nan))),
     ["dc.csv", "'unique_tokens'", "row 3", "NaN"]),
    ("dc-no-unique-tokens", dc_fit(dc_table(lambda f: f.drop(columns=["unique_tokens"]))),
     ["dc.csv", "missing column 'unique_tokens'"]),
    ("dc-epochs-disagree", dc_fit(dc_table(lambda f: f.assign(
        epochs=np.where(f.index == 1, 3.0, f["tokens"] / f["unique_tokens"])))),
     ["dc.csv", "column 'epochs', row 2", "not tokens / unique_tokens"]),
    ("dc-bad-rd-star", dc_fit(dc_table(), "--set", "rd_star=often"),
     ["setting rd_star must be a positive number or fit", "'often'"]),
    ("dc-zero-unique-supply", predict("--flops", "1e20", "--unique-tokens", "0",
                                      fit_path=dc_fit_file),
     ["--unique-tokens must be positive and finite"]),
    ("unique-tokens-of-chinchilla", predict("--flops", "1e21", "--unique-tokens", "1e10"),
     ["--unique-tokens: the chinchilla law has no data limit", "--law data-constrained"]),
    ("missing-column", fit(table(lambda f: f.drop(columns=["tokens"]))),
     ["runs.csv", "missing required column", "'tokens'"]),
    ("nan-loss", fit(table(set_cell(3, "loss", np.nan))),
     ["runs.csv", "'loss'", "row 3", "NaN"]),
    ("inf-tokens", fit(table(set_cell(6, "tokens", np.inf), "runs.parquet")),
     ["runs.parquet", "'tokens'", "row 6", "not finite"]),
    ("inf-tokens-csv", fit(table(set_cell(7, "tokens", np.inf))),
     ["runs.csv", "'tokens'", "row 7", "not finite"]),
    ("zero-params", fit(table(set_cell(3, "params", 0.0))),
     ["runs.csv", "'params'", "row 3", "must be positive"]),
    ("negative-params", fit(table(set_cell(9, "params", -1e8))),
     ["runs.csv", "'params'", "row 9", "must be positive"]),
    ("negative-tokens", fit(table(set_cell(2, "tokens", -3e8), "runs.parquet")),
     ["runs.parquet", "'tokens'", "row 2", "must be positive"]),
    ("text-in-numeric", fit(table(set_cell(4, "params", "big"))),
     ["runs.csv", "'params'", "row 4", "not a number", "big"]),
    ("text-in-loss-parquet", fit(table(set_cell(11, "loss", "n/a"), "runs.parquet")),
     ["runs.parquet", "'loss'", "row 11", "not a number"]),
    ("empty-run-id", fit(table(set_cell(5, "run", ""))),
     ["runs.csv", "'run'", "row 5", "empty run id"]),
    ("empty-file", fit(raw_file("empty.csv", b"")),
     ["empty.csv", "empty"]),
    ("header-only", fit(raw_file("header.csv", b"run,params,tokens,loss\n")),
     ["header.csv", "no rows"]),
    ("missing-file", fit(missing("nowhere.csv")),
     ["nowhere.csv", "no such file"]),
    ("directory", fit(lambda tmp: (tmp / "adir.csv").mkdir() or tmp / "adir.csv"),
     ["adir.csv", "directory"]),
    ("corrupt-parquet", fit(raw_file("corrupt.parquet",
                                     np.random.default_rng(7).bytes(512))),
     ["corrupt.parquet", "cannot read as parquet"]),
    ("duplicate-column-csv", fit(table(duplicate_loss)),
     ["runs.csv", "column 'loss' appears twice", "columns 4 and 5"]),
    ("duplicate-column-parquet", fit(duplicate_loss_parquet),
     ["dup.parquet", "column 'loss' appears twice", "columns 4 and 5"]),
    ("unknown-extension", fit(table(name="runs.xlsx")),
     ["runs.xlsx", "unknown file type", ".xlsx"]),
    ("single-run", fit(table(single_run)),
     ["runs.csv", "only one run", "'only'"]),
    ("one-params-value", fit(table(one_params_value)),
     ["runs.csv", "'params'", "1 distinct value", "at least 3"]),
    ("unknown-law", fit(table(), "--law", "kaplan2099"),
     ["unknown law", "'kaplan2099'", "chinchilla"]),
    ("bad-where-syntax", fit(table(), "--where", "params <"),
     ["runs.csv", "bad --where", "'params <'"]),
    ("where-no-rows", fit(table(), "--where", "params > 1e20"),
     ["runs.csv", "--where", "'params > 1e20'", "matches no rows"]),
    ("bad-map-no-equals", fit(table(), "--map", "params"),
     ["bad --map", "'params'"]),
    ("map-unknown-column", fit(table(), "--map", "params=Model Size"),
     ["runs.csv", "--map", "'Model Size'", "no column"]),
    ("params-change-in-run", fit(table(params_change)),
     ["runs.csv", "'params'", "row 5", "'r01'", "changes params"]),
    ("zero-loss", fit(table(set_cell(8, "loss", 0.0))),
     ["runs.csv", "'loss'", "row 8", "must be positive"]),
    ("negative-loss", fit(table(set_cell(13, "loss", -0.5))),
     ["runs.csv", "'loss'", "row 13", "must be positive"]),
    ("negative-bootstrap", lambda tmp: ["fit", str(table()(tmp)), "--bootstrap=-5"],
     ["--bootstrap", "-5"]),
    ("predict-missing-fit", predict("--params", "1e9", "--tokens", "2e10",
                                    fit_path=missing("nofit.json")),
     ["nofit.json", "no such fit file"]),
    ("predict-corrupt-fit", predict("--params", "1e9", "--tokens", "2e10",
                                    fit_path=corrupt_fit),
     ["corrupt.json", "not a fit file", "invalid JSON"]),
    ("predict-future-fit-format", predict("--params", "1e9", "--tokens", "2e10",
                                          fit_path=fit_with_format(99)),
     ["format-99.json", "fit format 99", "reads formats 1, 2, 3"]),
    ("predict-fit-without-format", predict("--params", "1e9", "--tokens", "2e10",
                                           fit_path=fit_with_format(None)),
     ["format-None.json", "fit format None"]),
    ("fit-edited-point-outside-interval",
     predict("--params", "1e9", "--tokens", "2e10",
             fit_path=edited_fit(set_field("params", "E", value=lambda e: 3 * e))),
     ["edited.json", "params.E", "lies outside its interval", "edited after the fit",
      "remove the bootstrap block"]),
    ("fit-negative-param", predict("--params", "1e9", "--tokens", "2e10",
                                   fit_path=edited_fit(set_field("params", "A", value=-5.0))),
     ["edited.json", "params.A = -5.0 is outside the chinchilla law's range", "2.061e-09"]),
    ("fit-text-param", predict("--params", "1e9", "--tokens", "2e10",
                               fit_path=edited_fit(set_field("params", "beta", value="x"))),
     ["edited.json", "params.beta: not a finite number ('x')"]),
    ("fit-missing-param", predict("--params", "1e9", "--tokens", "2e10",
                                  fit_path=edited_fit(lambda r: r["params"].pop("B") and None)),
     ["edited.json", "params: missing 'B'", "E, A, B, alpha, beta"]),
    ("fit-garbage-bootstrap", predict("--params", "1e9", "--tokens", "2e10",
                                      fit_path=edited_fit(set_field("bootstrap",
                                                                    value="garbage"))),
     ["edited.json", "bootstrap: expected an object with n, seed and samples", "'garbage'"]),
    ("fit-garbage-bootstrap-sample",
     predict("--params", "1e9", "--tokens", "2e10",
             fit_path=edited_fit(set_field("bootstrap", "samples", value=lambda rows:
                                           [*rows[:3], ["a", None], *rows[4:]]))),
     ["edited.json", "bootstrap.samples[3]: expected 5 finite numbers", "['a', None]"]),
    ("fit-bootstrap-count", predict("--params", "1e9", "--tokens", "2e10",
                                    fit_path=edited_fit(set_field("bootstrap", "n", value=25))),
     ["edited.json", "bootstrap.samples: expected a list of n = 25 samples, got 20"]),
    ("fit-too-few-samples",
     predict("--params", "1e9", "--tokens", "2e10",
             fit_path=edited_fit(lambda r: r["bootstrap"].update(
                 n=5, samples=r["bootstrap"]["samples"][:5]))),
     ["edited.json", "bootstrap.n = 5", "at least 20"]),
    ("fit-edited-interval", predict("--params", "1e9", "--tokens", "2e10",
                                    fit_path=edited_fit(set_field("intervals", "alpha",
                                                                  value=[0.1, 0.9]))),
     ["edited.json", "intervals.alpha: [0.1, 0.9], but the bootstrap samples give"]),
    ("fit-format-2-disagrees",
     predict("--params", "1e9", "--tokens", "2e10",
             fit_path=edited_fit(format_2_with_params_edited)),
     ["edited.json", "params.E", "but theta gives E", "edited in one place"]),
    ("predict-negative-params", predict("--params=-1e9", "--tokens", "2e10"),
     ["--params", "positive"]),
    ("predict-no-inputs", predict(),
     ["--params", "--tokens", "--flops"]),
    ("predict-negative-flops", predict("--flops=-1e21"),
     ["--flops", "positive"]),
    ("backtest-train-selects-all", backtest(table(), "--train", "params > 0"),
     ["runs.csv", "--train", "'params > 0'", "selects every run"]),
    ("backtest-train-test-overlap", backtest(table(), "--train", "params < 2e8", "--test",
                                             "params > 2e7"),
     ["runs.csv", "--train 'params < 2e8' and --test 'params > 2e7' share 8 run(s)",
      "'r05', 'r06', 'r07' and 5 more", "never saw"]),
    ("backtest-bad-train", backtest(table(), "--train", "params <<< 3"),
     ["runs.csv", "bad --train", "'params <<< 3'"]),
    ("unknown-subcommand", lambda tmp: ["frobnicate", "x.csv"],
     ["invalid choice", "'frobnicate'"]),
    ("unknown-option", lambda tmp: ["fit", str(table()(tmp)), "--frobnicate"],
     ["unrecognized arguments", "--frobnicate"]),
    ("missing-argument", lambda tmp: ["backtest", str(table()(tmp))],
     ["--train"]),
    ("bad-option-value", lambda tmp: ["fit", str(table()(tmp)), "--bootstrap", "many"],
     ["--bootstrap", "invalid int value", "'many'"]),
    # -- data that moved a fit without a word --------------------------------------------------
    ("duplicate-run-step", fit(table(duplicate_row(9.9))),
     ["runs.csv", "rows 5 and 17", "run 'r05' at step 100", "losses", "9.9",
      "--dedupe first|last|mean"]),
    ("duplicate-run-tokens", fit(table(duplicate_row(9.9, steps=False))),
     ["runs.csv", "rows 5 and 17", "run 'r05' at tokens 1e+08", "--dedupe"]),
    ("subnormal-loss", fit(table(set_cell(3, "loss", 5e-324))),
     ["runs.csv", "'loss'", "row 3", "outside the sensible range [1e-06, 1000]",
      "nats per token", "units"]),
    ("huge-loss", fit(table(set_cell(4, "loss", 1e300), "runs.parquet")),
     ["runs.parquet", "'loss'", "row 4", "1e+300", "sensible range"]),
    ("params-scaled-1e-310", fit(table(scaled_params)),
     ["runs.csv", "'params'", "row 1", "sensible range [1, 1e+15]", "parameter count"]),
    ("huge-tokens", fit(table(set_cell(6, "tokens", 1e300))),
     ["runs.csv", "'tokens'", "row 6", "sensible range [1, 1e+17]"]),
    ("decimal-commas", fit(semicolons),
     ["semi.csv", "'params'", "row 1", "not a number", "decimal comma"]),
    ("predict-subnormal-params", predict("--params", "1e-310", "--tokens", "2e10"),
     ["--params 1e-310", "sensible range"]),
    ("predict-huge-flops", predict("--flops", "1e40"), ["--flops 1e+40", "sensible range"]),
    ("predict-plain-negative-params", predict("--params", "-7e10", "--tokens", "2e10"),
     ["--params", "positive"]),
    # -- options that were internal errors (exit 1) or silently wrong --------------------------
    ("delta-negative", fit(table(), "--delta=-1"), ["setting delta", "must be positive", "-1"]),
    ("delta-nan", fit(table(), "--delta", "nan"), ["setting delta", "must be positive", "nan"]),
    ("delta-zero", fit(table(), "--delta", "0"), ["setting delta", "must be positive", "0.0"]),
    ("negative-seed", fit(table(), "--seed", "-1"), ["--seed", "must be 0 or more", "-1"]),
    ("zero-jobs", fit(table(), "--jobs", "0"), ["--jobs", "must be at least 1", "0"]),
    ("bootstrap-1", lambda tmp: ["fit", str(table()(tmp)), "--bootstrap", "1"],
     ["--bootstrap 1:", "at least 20 resamples", "0 for none"]),
    ("bootstrap-19", lambda tmp: ["backtest", str(table()(tmp)), "--train", "params < 2e8",
                                  "--bootstrap", "19"],
     ["--bootstrap 19:", "at least 20 resamples"]),
    ("schedule-too-long", predict("--schedule", "constant:peak=1e-3,steps=1e12",
                                  fit_path=curve_fit_file),
     ["--schedule", "steps=1e+12", "beyond the 1e+07 steps"]),
    ("compare-too-long", predict("--compare", "peak=1e-3,warmup=10,steps=1e12,final=0",
                                 fit_path=curve_fit_file),
     ["--compare", "steps=1e+12", "beyond the 1e+07 steps"]),
    ("ladder-out-is-a-folder", lambda tmp: ["ladder", "run", "cpu-tiny", "--out",
                                            str(folder("ladder")(tmp))],
     ["--out", "is a directory", "ladder.parquet"]),
    ("ladder-out-not-parquet", lambda tmp: ["ladder", "run", "cpu-tiny", "--out",
                                            str(tmp / "ladder.csv")],
     ["--out", "ladder.csv", "unknown format '.csv'", ".parquet"]),
    ("ladder-unknown-spec-name", lambda tmp: ["ladder", "run", "cpu-tinyy", "--dry-run"],
     ["cpu-tinyy: no such spec file, and no bundled spec of that name", "cpu-tiny",
      "scaling ladder specs"]),
    # -- predict options that were silently ignored ---------------------------------------------
    ("predict-plot-without-curve", predict("--params", "1e9", "--tokens", "2e10", "--plot",
                                           "x.png"),
     ["--plot goes with --schedule or --compare"]),
    ("predict-every-without-curve", predict("--params", "1e9", "--tokens", "2e10", "--every",
                                            "5"),
     ["--every goes with --schedule or --compare"]),
    ("predict-flops-and-inputs", predict("--params", "1e9", "--tokens", "2e10", "--flops",
                                         "1e21"),
     ["--params: --flops gives the inputs", "not both"]),
    ("predict-input-of-another-law", predict("--params", "1e9", "--tokens", "2e10",
                                             "--lr-area", "3"),
     ["--lr-area: the chinchilla law's inputs are --params and --tokens"]),
    ("predict-schedule-and-compare", predict("--schedule", "constant:peak=1e-3,steps=100",
                                             "--compare", "peak=1e-3,steps=100",
                                             fit_path=curve_fit_file),
     ["give --schedule or --compare, not both"]),
    ("predict-schedule-with-params", predict("--schedule", "constant:peak=1e-3,steps=100",
                                             "--params", "1e9", fit_path=curve_fit_file),
     ["--params: with --schedule the annealing law takes no input but the schedule"]),
    ("plot-unknown-format", outputs("fit", "--plot", lambda tmp: tmp / "fig.xyz"),
     ["--plot", "fig.xyz", "unknown format '.xyz'", ".png", ".pdf", ".svg"]),
    ("plot-is-a-folder", outputs("fit", "--plot", folder("figs")),
     ["--plot", "figs", "is a directory", "fig.png"]),
    ("out-is-a-folder", outputs("fit", "--out", folder("out")),
     ["--out", "is a directory", "fit.json"]),
    ("out-under-a-file", outputs("fit", "--out", lambda tmp: raw_file("afile", b"x")(tmp)
                                 / "fit.json"),
     ["--out", "afile is a file, not a folder"]),
    ("backtest-json-is-a-folder", outputs("backtest", "--json", folder("bt")),
     ["--json", "is a directory", "backtest.json"]),
    ("predict-out-is-a-folder", outputs("predict", "--out", folder("curves"), "--schedule",
                                        "constant:peak=1e-3,steps=100"),
     ["--out", "is a directory", "curve.csv"]),
    ("predict-plot-unknown-format", outputs("predict", "--plot", lambda tmp: tmp / "c.jpgg",
                                            "--schedule", "constant:peak=1e-3,steps=100"),
     ["--plot", "unknown format '.jpgg'"]),
    # -- the interval shown, and predictions as JSON ---------------------------------------------
    ("predict-interval-unknown", predict("--params", "1e9", "--tokens", "2e10", "--interval",
                                         "wide"),
     ["--interval", "invalid choice", "'wide'", "calibrated", "run", "law"]),
    ("predict-interval-calibrated-without-calibration",
     predict("--params", "1e9", "--tokens", "2e10", "--interval", "calibrated",
             fit_path=uncalibrated_fit_file),
     ["--interval calibrated: this fit has no error model",
      "refit without --no-calibration", "or ask for one it has: law, run"]),
    ("predict-interval-run-without-bootstrap",
     predict("--flops", "1e21", "--interval", "run"),
     ["--interval run: this fit has no bootstrap", "refit with --bootstrap K",
      "or ask for one it has: calibrated"]),
    ("predict-interval-law-on-a-curve-without-bootstrap",
     predict("--schedule", "constant:peak=1e-3,steps=100", "--interval", "law",
             fit_path=curve_fit_file),
     ["--interval law: this fit has no bootstrap"]),
    ("predict-json-is-a-folder", outputs("predict", "--json", folder("preds"), "--params", "1e9",
                                         "--tokens", "2e10"),
     ["--json", "is a directory", "predictions.json"]),
    ("fit-bad-n-values", predict("--params", "1e9", "--tokens", "2e10",
                                 fit_path=edited_fit(set_field("n_values", "params",
                                                               value="four"))),
     ["edited.json", "n_values.params: expected an integer >= 1", "'four'"]),
    # -- the vocabulary law ----------------------------------------------------------------------
    ("vocab-without-loss-unigram",
     vocab_fit([vocab_table(lambda f: f.drop(columns=["loss_unigram"]))]),
     ["vocab.csv", "missing column 'loss_unigram', which this law needs"]),
    ("vocab-without-tokens", vocab_fit([vocab_table(lambda f: f.drop(columns=["tokens"]))]),
     ["vocab.csv", "missing required column 'tokens'"]),
    ("vocab-without-characters-measured",
     vocab_fit([vocab_table(lambda f: f.drop(columns=["characters", "tokens_per_char"])),
                "--set", "tokens_per_char=measured"]),
     ["vocab.csv", "tokens_per_char=measured needs column 'characters'"]),
    ("vocab-without-characters-paper-tokens",
     vocab_fit([vocab_table(lambda f: f.drop(columns=["characters"])),
                "--set", "fit_tokens=paper"]),
     ["vocab.csv", "missing column 'characters', which this law needs"]),
    ("vocab-zero-vocab-size", vocab_fit([vocab_table(set_cell(3, "vocab_size", 0))]),
     ["vocab.csv", "column 'vocab_size', row 3: must be positive for the vocabulary law, got 0"]),
    ("vocab-negative-vocab-size", vocab_fit([vocab_table(set_cell(7, "vocab_size", -4096))]),
     ["vocab.csv", "column 'vocab_size', row 7: must be positive", "-4096"]),
    ("vocab-zero-width", vocab_fit([vocab_table(set_cell(5, "width", 0))]),
     ["vocab.csv", "column 'width', row 5: must be positive for the vocabulary law"]),
    ("vocab-negative-characters", vocab_fit([vocab_table(set_cell(2, "characters", -1e9))]),
     ["vocab.csv", "column 'characters', row 2: must be positive"]),
    ("vocab-nan-width", vocab_fit([vocab_table(set_cell(4, "width", np.nan))]),
     ["vocab.csv", "'width'", "row 4", "NaN"]),
    ("vocab-bad-setting", vocab_fit([vocab_table(), "--set", "tokens_per_char=bpe"]),
     ["setting tokens_per_char must be one of auto, measured, paper", "'bpe'"]),
    ("vocab-first-version-fit", predict("--params-nonembed", "1e9", "--vocab-params", "3e7",
                                        "--tokens", "1e11", fit_path=first_vocabulary_fit),
     ["first-vocab.json", "vocabulary law's first version", "B/H^beta", "refit"]),
    ("vocab-edited-extras", predict("--optimal-vocab", "--params-nonembed", "1e9", "--width",
                                    "1024", fit_path=edited_vocab_fit(set_field(
                                        "extras", "approach1", "k1", value="x"))),
     ["edited-vocab.json", "extras.approach1.k1: expected a finite number", "'x'"]),
    ("optimal-vocab-of-chinchilla", predict("--optimal-vocab", "--params-nonembed", "1e9",
                                            "--width", "1024"),
     ["--optimal-vocab: the chinchilla law has no optimal vocabulary", "--law vocab"]),
    ("optimal-vocab-without-width", predict("--optimal-vocab", "--params-nonembed", "1e9",
                                            fit_path=vocab_fit_file),
     ["--optimal-vocab needs --params-nonembed N and --width d"]),
    ("optimal-vocab-with-tokens", predict("--optimal-vocab", "--params-nonembed", "1e9",
                                          "--width", "1024", "--tokens", "1e11",
                                          fit_path=vocab_fit_file),
     ["--tokens: with --optimal-vocab the vocabulary law takes --params-nonembed N, --width d"]),
    ("optimal-vocab-negative-width", predict("--optimal-vocab", "--params-nonembed", "1e9",
                                             "--width=-1024", fit_path=vocab_fit_file),
     ["--width must be positive and finite"]),
    ("optimal-vocab-lengths", predict("--optimal-vocab", "--params-nonembed", "1e9", "2e9",
                                      "--width", "1024", "2048", "4096",
                                      fit_path=vocab_fit_file),
     ["--params-nonembed, --width and --flops: give one value or lists of one length"]),
    ("vocab-flops-without-optimal-vocab", predict("--flops", "1e21", fit_path=vocab_fit_file),
     ["the vocabulary law has no compute-optimal allocation", "--optimal-vocab"]),
    ("width-without-optimal-vocab", predict("--params-nonembed", "1e9", "--vocab-params", "3e7",
                                            "--tokens", "1e11", "--width", "1024",
                                            fit_path=vocab_fit_file),
     ["--width goes with --optimal-vocab"]),
    ("optimal-no-interior-minimum",
     optimal(isoflop_table({1e18: [1e6, 2e6, 4e6], 1e19: [3e6, 6e6, 1.2e7],
                            1e20: [1e7, 2e7, 4e7]}), "--approach", "2"),
     ["isoflops.csv", "approach 2 needs 3 budgets with an interior minimum, found 0 of 3",
      "optimum is above the sizes run"]),
    ("optimal-two-budgets",
     optimal(isoflop_table({1e18: [3e7, 1e8, 3e8], 1e19: [1e8, 3e8, 1e9]}), "--approach", "2"),
     ["isoflops.csv", "approach 2 needs 3 budgets", "found 2 of 2"]),
    ("optimal-without-tokens", optimal(table(lambda f: f.drop(columns=["tokens"]))),
     ["runs.csv", "missing required column", "'tokens'"]),
    ("optimal-approach-1-without-curves", optimal(table(), "--approach", "1"),
     ["runs.csv", "approach 1 needs training curves"]),
    ("optimal-bad-tolerance", optimal(table(), "--approach", "2", "--tolerance", "1.5"),
     ["--tolerance must be in (0, 1)"]),
    ("fit-warnings-not-a-list", predict("--params", "1e9", "--tokens", "2e10",
                                        fit_path=edited_fit(set_field("warnings",
                                                                      value="none"))),
     ["edited.json", "warnings: expected a list", "'none'"]),
]


def test_the_table_is_big_enough():
    assert len(CASES) >= 20
    assert len({case_id for case_id, _, _ in CASES}) == len(CASES)


@pytest.mark.parametrize("argv, expected", [pytest.param(a, e, id=i) for i, a, e in CASES])
def test_bad_input_is_one_line_and_exit_2(argv, expected, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SCALING_DEBUG", raising=False)
    args = argv(tmp_path)
    capsys.readouterr()  # drop what building the case printed (e.g. the fit behind predict)
    code = cli.main(args)
    err = capsys.readouterr().err
    assert code == 2, f"exit {code}, stderr: {err!r}"
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].strip(), f"expected one line, got {err!r}"
    line = lines[0]
    assert line.startswith("scaling: error: "), line
    for text in expected:
        if re.fullmatch(r"row \d+", text):  # the corrupted row itself, not "row 13" for "row 1"
            assert re.search(rf"\b{text}\b", line), f"{text!r} not in {line!r}"
        else:
            assert text in line, f"{text!r} not in {line!r}"


def test_a_bad_plot_format_fails_before_the_fit(tmp_path, capsys):
    """Output paths and formats are checked before any work: a fit of the 240 Chinchilla runs
    with 1,000 bootstrap refits (about 10 s) fails at once on a bad --plot extension or an --out
    that is a folder, and writes nothing."""
    import time

    from conftest import CHINCHILLA

    (tmp_path / "out").mkdir()
    for bad in (["--plot", str(tmp_path / "fit.xyz")], ["--out", str(tmp_path / "out")]):
        start = time.perf_counter()
        code = cli.main(["fit", str(CHINCHILLA), "--bootstrap", "1000", *bad])
        elapsed = time.perf_counter() - start
        assert code == 2 and elapsed < 1.0, (bad, code, elapsed)
        assert capsys.readouterr().out == ""
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_a_format_2_fit_loads_and_predicts_as_its_format_3(tmp_path, capsys):
    """A format 2 record (`theta` beside `params`) reads as its format 3 and gives the same
    predictions and intervals; written before fit files were sealed, a real one (no seal) is
    refused with the advice to refit (`scaling.output.fit_file`)."""
    three = boot_fit_file(tmp_path)
    two = edited_fit(as_format_2, "two.json")(tmp_path)
    argv = ["--params", "1e9", "3e9", "--tokens", "2e10", "1e11"]
    capsys.readouterr()
    assert cli.main(["predict", str(three), *argv]) == 0
    expected = capsys.readouterr().out
    assert cli.main(["predict", str(two), *argv]) == 0
    assert capsys.readouterr().out == expected and "[" in expected
    unsealed = edited_fit(as_format_2, "unsealed.json", reseal=False)(tmp_path)
    assert cli.main(["predict", str(unsealed), *argv]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "unsealed.json: no seal" in err
    assert "refit it" in err


def test_the_base_table_fits(tmp_path, capsys):
    """Positive control: the valid table exits 0 with nothing on stderr, so no case is vacuous."""
    runs = write(tmp_path, base_table())
    code = cli.main(["fit", str(runs), *FIT, "--out", str(tmp_path / "fit.json")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert err == ""
    assert json.loads((tmp_path / "fit.json").read_text())["law"] == "chinchilla"
    assert cli.main(["predict", str(tmp_path / "fit.json"), "--params", "1e9",
                     "--tokens", "2e10"]) == 0
    assert capsys.readouterr().err == ""


def test_the_process_exit_status_is_2(tmp_path):
    """One case through a real process: `python -m scaling` exits 2 with one line on stderr."""
    runs = table(set_cell(3, "loss", np.nan))(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "SCALING_DEBUG"}
    done = subprocess.run([sys.executable, "-m", "scaling", "fit", str(runs), *FIT],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "runs.csv" in lines[0] and "'loss'" in lines[0] and "row 3" in lines[0], lines[0]
    assert done.stdout == ""



def test_dedupe_resolves_the_duplicate_rows(tmp_path, capsys):
    """`--dedupe last` keeps row 17 (loss 9.9) in place of row 5: the fit is the fit of the
    table with row 5's loss replaced."""
    runs = table(duplicate_row(9.9))(tmp_path)
    assert cli.main(["fit", str(runs), *FIT, "--dedupe", "last",
                     "--out", str(tmp_path / "last.json")]) == 0
    replaced = base_table().assign(step=100)
    replaced.loc[4, "loss"] = 9.9
    path = write(tmp_path, replaced, "replaced.csv")
    assert cli.main(["fit", str(path), *FIT, "--out", str(tmp_path / "ref.json")]) == 0
    last, reference = (json.loads((tmp_path / n).read_text()) for n in ("last.json", "ref.json"))
    assert last["n_points"] == 16
    # two fits of one table in one process: the optimizer repeats its steps exactly
    assert last["objective"] == pytest.approx(reference["objective"], rel=1e-12)
    assert capsys.readouterr().err == ""
