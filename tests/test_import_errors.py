"""`scaling import` on bad input (issue 24, items 3 and 5): every numeric field an importer reads
is checked (finite, whole where it must be, in range), every JSON load is guarded (nesting,
integers no float holds), a value given twice with two values is an error naming both, and a
perplexity must be above 1. Each case: `cli.main(["import", ...])` in-process, exit 2, one line
on stderr naming the file (and task, row or option), no table written.
"""

from __future__ import annotations

import pandas as pd
import pytest

import cli
from scaling.data.runs import read_runs
from test_importers import FIXTURE, HISTORY, MAPPED, WANDB, json_with

TOKENS = ["--params", "pythia-v1.1-70m=7e7", "--tokens-per-step", "2097152"]


def with_config(**changes):
    return lambda data: data["config"].update(changes)


def with_ppl(value):
    return lambda data: data["results"]["lambada_openai"].update(ppl=value)


def raw_json(text: str, name: str = "raw.json"):
    def build(tmp):
        path = tmp / name
        path.write_text(text)
        return path
    return build


def with_text(edit, replace):
    """The fixture with `edit` applied, then text `old` replaced by `new` (for what json.dumps
    cannot write: 10**400 as a literal, Infinity where the fixture has a number)."""
    def build(tmp):
        path = json_with(tmp, edit)
        path.write_text(path.read_text().replace(*replace))
        return path
    return build


def params_file(rows):
    def build(tmp):
        path = tmp / "params.csv"
        pd.DataFrame(rows, columns=["run", "params"]).to_csv(path, index=False)
        return path
    return build


def resumed(tmp):
    """The history export with a resumed run: ladder-20m's step 200 logged twice, two losses."""
    frame = pd.read_csv(WANDB / "history.csv")
    again = frame[(frame["Name"] == "ladder-20m") & (frame["_step"] == 200)].copy()
    again["train/CELoss"] = 3.80
    path = tmp / "resumed.csv"
    pd.concat([frame, again]).to_csv(path, index=False)
    return path


DEEP = "[" * 100_000 + "]" * 100_000
HUGE_STEP = "1" * 25

BAD = {
    # -- item 3: a perplexity is above 1 (ln of it is the stand-in loss) ----------------------
    "perplexity 1": (lambda t: ["lm-eval", str(json_with(t, with_ppl(1.0))), *TOKENS],
                     ["result.json", "'lambada_openai'", "perplexity 1 ", "above 1"]),
    "perplexity 0.5": (lambda t: ["lm-eval", str(json_with(t, with_ppl(0.5))), *TOKENS],
                       ["result.json", "'lambada_openai'", "perplexity 0.5", "above 1"]),
    "perplexity of another task": (lambda t: ["lm-eval", str(json_with(
        t, lambda d: d["results"]["piqa"].update({"perplexity,none": 0.9}))), *TOKENS],
        ["result.json", "'piqa'", "perplexity 0.9"]),
    # -- item 3: one value given twice with two values ------------------------------------------
    "--params twice": (lambda t: ["lm-eval", FIXTURE, "--params", "m1=1e8", "--params",
                                  "m1=2e8", "--tokens-per-step", "1000"],
                       ["--params m1 is given twice", "1e+08", "2e+08"]),
    "--metric twice": (lambda t: ["lm-eval", FIXTURE, "--preset", "pythia", "--metric",
                                  "piqa=acc", "--metric", "piqa=acc_norm"],
                       ["--metric piqa is given twice", "'acc'", "'acc_norm'"]),
    "one model, two names": (lambda t: ["lm-eval", FIXTURE, "--params", "pythia-v1.1-70m=7e7",
                                        "--params", "EleutherAI/pythia-v1.1-70m=8e7",
                                        "--tokens-per-step", "1000"],
                             ["70m_step143000.json", "7e+07", "8e+07", "the same model"]),
    "preset run id and name": (lambda t: ["lm-eval", FIXTURE, "--preset", "pythia", "--params",
                                          "pythia-70m=7e7", "--params", "pythia-v1.1-70m=8e7"],
                               ["70m_step143000.json", "pythia-70m=7e+07", "8e+07"]),
    "wandb --params twice": (lambda t: ["wandb", HISTORY, *MAPPED, "--params", "a=1e8",
                                        "--params", "a=2e8"],
                             ["--params a is given twice", "1e+08", "2e+08"]),
    "params file run twice": (lambda t: ["wandb", HISTORY, "--map", "loss=train/CELoss",
                                         "--tokens-per-step", "4096", "--params-file",
                                         str(params_file([("ladder-20m", 2e7),
                                                          ("ladder-60m", 6e7),
                                                          ("ladder-20m", 3e7)])(t))],
                              ["params.csv", "rows 1 and 3", "'ladder-20m'", "2e+07", "3e+07"]),
    "params file and --params": (lambda t: ["wandb", HISTORY, "--map", "loss=train/CELoss",
                                            "--tokens-per-step", "4096", "--params-file",
                                            str(WANDB / "params.csv"), "--params",
                                            "ladder-60m=7e7"],
                                 ["--params ladder-60m=7e+07", "params.csv", "6e+07"]),
    # -- item 5: numbers the importer reads, checked ---------------------------------------------
    "25-digit revision step": (lambda t: ["lm-eval", str(json_with(t, with_config(
        model_args=f"pretrained=EleutherAI/pythia-v1.1-70m,revision=step{HUGE_STEP}"))),
        "--preset", "pythia"], ["result.json", "revision=step11111111111111111",
                                "a step must be 0 to 1e+17"]),
    "25-digit model_revision": (lambda t: ["lm-eval", str(json_with(t, with_config(
        model_args="pretrained=EleutherAI/pythia-v1.1-70m", model_revision=f"step{HUGE_STEP}"))),
        "--preset", "pythia"], ["result.json", "a step must be 0 to 1e+17"]),
    "--step too large": (lambda t: ["lm-eval", str(json_with(t, with_config(
        model_args="pretrained=EleutherAI/pythia-v1.1-70m"))), "--preset", "pythia",
        "--step", HUGE_STEP], ["result.json", f"--step {HUGE_STEP}", "a step must be"]),
    "num_fewshot 1e300": (lambda t: ["lm-eval", str(json_with(t, with_config(num_fewshot=1e300))),
                                     "--preset", "pythia"],
                          ["result.json", "config.num_fewshot = 1e+300", "whole number"]),
    "num_fewshot Infinity": (lambda t: ["lm-eval", str(with_text(
        with_config(num_fewshot=12345), ("12345", "Infinity"))(t)), "--preset", "pythia"],
        ["result.json", "config.num_fewshot = inf", "whole number"]),
    "num_fewshot 10**400": (lambda t: ["lm-eval", str(with_text(
        with_config(num_fewshot=12345), ("12345", "1" + "0" * 400))(t)), "--preset", "pythia"],
        ["result.json", "line ", "too large for a float"]),
    "num_fewshot 2.5": (lambda t: ["lm-eval", str(json_with(t, with_config(num_fewshot=2.5))),
                                   "--preset", "pythia"],
                        ["result.json", "config.num_fewshot = 2.5", "whole number"]),
    "num_fewshot -1": (lambda t: ["lm-eval", str(json_with(t, with_config(num_fewshot=-1))),
                                  "--preset", "pythia"],
                       ["result.json", "config.num_fewshot = -1"]),
    "num_fewshot true": (lambda t: ["lm-eval", str(json_with(t, with_config(num_fewshot=True))),
                                    "--preset", "pythia"],
                         ["result.json", "config.num_fewshot = True"]),
    "n-shot huge": (lambda t: ["lm-eval", str(json_with(t, lambda d: (
        d["config"].pop("num_fewshot"), d.update({"n-shot": {"piqa": 10**30}})))),
        "--preset", "pythia"], ["result.json", "n-shot['piqa']", "whole number"]),
    "a metric of 10**400": (lambda t: ["lm-eval", str(with_text(
        lambda d: d["results"]["piqa"].update(acc=12345), ("12345", "1" + "0" * 400))(t)),
        "--preset", "pythia"], ["result.json", "too large for a float"]),
    "a metric of 5000 digits": (lambda t: ["lm-eval", str(with_text(
        lambda d: d["results"]["piqa"].update(acc_stderr=12345), ("12345", "9" * 5000))(t)),
        "--preset", "pythia"], ["result.json", "(5000 digits)", "too large for a float"]),
    "JSON nested 100,000 deep": (lambda t: ["lm-eval", str(raw_json(DEEP)(t)), "--preset",
                                            "pythia"], ["raw.json", "nested too deeply"]),
    "results nested 100,000 deep": (lambda t: ["lm-eval", str(with_text(
        lambda d: d["results"]["piqa"].update(deep="X"), ('"X"', DEEP))(t)), "--preset",
        "pythia"], ["result.json", "nested too deeply"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_import_is_one_line(case, tmp_path, capsys):
    build, fragments = BAD[case]
    folder = tmp_path / "in"
    folder.mkdir()
    argv = ["import", *build(folder), "--out", str(tmp_path / "runs.parquet")]
    capsys.readouterr()
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert code == 2, (code, err)
    assert "Traceback" not in err and "internal error" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("scaling: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert not (tmp_path / "runs.parquet").exists()


def test_the_dedupe_the_wandb_error_suggests_is_an_option_of_import(tmp_path, capsys):
    """The duplicate-row error of `import wandb` suggests --dedupe, and `import wandb` takes it:
    `--dedupe last` keeps the resumed run's later loss (and says so)."""
    capsys.readouterr()
    assert cli.main(["import", "wandb", str(resumed(tmp_path)), *MAPPED, "--out",
                     str(tmp_path / "runs.parquet")]) == 2
    err = capsys.readouterr().err
    assert "resumed.csv" in err and "'ladder-20m' at step 200" in err and "--dedupe" in err
    for how, loss in (("last", 3.80), ("first", 3.90), ("mean", 3.85)):
        out = tmp_path / f"{how}.parquet"
        assert cli.main(["import", "wandb", str(resumed(tmp_path)), *MAPPED, "--dedupe", how,
                         "--out", str(out)]) == 0
        text = capsys.readouterr().out
        assert f"--dedupe {how} kept 1 row of each run at each step (1 dropped)" in text
        frame = read_runs(out)
        row = frame[(frame["run"] == "ladder-20m") & (frame["step"] == 200)]
        assert len(row) == 1 and row["loss"].iloc[0] == pytest.approx(loss, rel=1e-12)
        assert len(frame) == 6


def test_values_given_twice_alike_are_one(tmp_path, capsys):
    """The same count twice (option or file) is no conflict, and a perplexity just above 1 is
    read (ln of it is the loss); two counts are an error."""
    out = tmp_path / "runs.parquet"
    assert cli.main(["import", "lm-eval", FIXTURE, "--params", "m=1e8", "--params", "m=3e8",
                     "--preset", "pythia", "--out", str(out)]) == 2
    assert cli.main(["import", "lm-eval", FIXTURE, "--params", "m=1e8", "--params", "m=1e8",
                     "--preset", "pythia", "--out", str(out)]) == 0
    path = json_with(tmp_path, with_ppl(1.5))
    assert cli.main(["import", "lm-eval", str(path), "--preset", "pythia", "--out",
                     str(out)]) == 0
    assert read_runs(out)["loss"].iloc[0] == pytest.approx(0.4054651081081644, rel=1e-12)
    assert cli.main(["import", "wandb", HISTORY, "--map", "loss=train/CELoss",
                     "--tokens-per-step", "4096", "--params-file",
                     str(params_file([("ladder-20m", 2e7), ("ladder-60m", 6e7),
                                      ("ladder-20m", 2e7)])(tmp_path)),
                     "--params", "ladder-60m=6e7", "--out", str(out)]) == 0
    assert sorted(set(read_runs(out)["params"])) == [2e7, 6e7]


def test_a_step_and_shots_in_range_still_read(tmp_path, capsys):
    """num_fewshot as text "5" and as 5.0 read as 5, and 5.5 is not read as 5."""
    out = tmp_path / "runs.parquet"
    for shots in ("5", 5.0):
        path = json_with(tmp_path, with_config(num_fewshot=shots))
        assert cli.main(["import", "lm-eval", str(path), "--preset", "pythia", "--out",
                         str(out)]) == 0
        assert read_runs(out)["shots"].iloc[0] == 5
    path = json_with(tmp_path, with_config(num_fewshot=5.5))
    assert cli.main(["import", "lm-eval", str(path), "--preset", "pythia", "--out",
                     str(out)]) == 2
