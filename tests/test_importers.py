"""Importers (scaling.data.importers.lm_eval, scaling.data.importers.wandb) and `scaling import`.

Fixtures: `tests/data/lm_eval/` holds 7 of the Pythia suite's lm-eval-harness JSONs, unchanged
(see its README); `tests/data/wandb/` hand-written W&B exports. The expected numbers below are
copied from the JSONs and from `pythia_evals_flat.csv` (the flattened table shipped next to the
JSONs in the shared Pythia data, built independently of this importer).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cli
from scaling.errors import ScalingError
from scaling.data.importers import lm_eval, wandb
from scaling.data.runs import read_runs
from scaling.data.table_files import CONTRACT_VERSION, contract_version

ROOT = Path(__file__).resolve().parents[1]
LM_EVAL = ROOT / "tests" / "data" / "lm_eval"
PYTHIA = LM_EVAL / "pythia-v1"
WANDB = ROOT / "tests" / "data" / "wandb"
BUNDLE = ROOT / "data" / "pythia_evals"
SHARED = ROOT.parent / "shared" / "data" / "pythia_evals"
if not SHARED.is_dir():
    SHARED = Path("/work/shared/data/pythia_evals")

# Pythia's non-embedding parameter counts: the paper's Table 1 (Biderman et al. 2023,
# arXiv:2304.01373; the same in the models' Hugging Face cards), and the shared SOURCE.md.
PYTHIA_TABLE_1 = {"70m": 18_915_328, "160m": 85_056_000, "410m": 302_311_424,
                  "1b": 805_736_448, "1.4b": 1_208_602_624, "2.8b": 2_517_652_480,
                  "6.9b": 6_444_163_072, "12b": 11_327_027_200}

# Rows of pythia_evals_flat.csv: (model, shots, step, lambada_openai_ppl, piqa_acc,
# arc_challenge_acc_norm, winogrande_acc, mmlu_acc_macro), copied unchanged.
FLAT = [
    ("pythia-12b", 0, 93000, 4.279756717442054, 0.7546245919477693, 0.34215017064846415, 0.6298342541436464, 0.2684805637552139),
    ("pythia-160m", 0, 1000, 2591.451412162786, 0.5554951033732318, 0.21245733788395904, 0.5082872928176796, 0.23939143721156994),
    ("pythia-1b-bf16", 5, 143000, 10.11615004611929, 0.705114254624592, 0.28242320819112626, 0.531965272296764, 0.2537586193263015),
    ("pythia-1b-bf16", 0, 512, 80297.49485221757, 0.5429815016322089, 0.2167235494880546, 0.4980268350434096, 0.22893947823855298),
    ("pythia-2.8b-deduped", 5, 3000, 65.58670999366686, 0.6191512513601741, 0.24488054607508533, 0.5098658247829518, 0.25583485697064307),
    ("pythia-410m-deduped", 0, 13000, 23.380040531662555, 0.6376496191512514, 0.2295221843003413, 0.4956590370955012, 0.24575424882056945),
    ("pythia-410m", 5, 143000, 13.78128982030149, 0.6784548422198041, 0.26621160409556316, 0.5295974743488555, 0.24983908152786782),
    ("pythia-410m", 0, 143000, 10.828202624445215, 0.6675734494015234, 0.2431740614334471, 0.5367008681925809, 0.25521163125063184),
    ("pythia-70m", 5, 143000, 319.64251517195464, 0.573449401523395, 0.21843003412969283, 0.5224940805051302, 0.24708993333914456),
    ("pythia-70m", 0, 143000, 142.42891015470678, 0.5946681175190425, 0.22098976109215018, 0.5280189423835833, 0.2528606445768993),
]
FIXTURE_ROWS = {(model, shots, step) for model, shots, step, *_ in FLAT[3:]
                if model != "pythia-2.8b-deduped"}


def run_name(model: str) -> str:
    return model.replace("-bf16", "")


# -- lm-eval ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def zero_shot():
    return lm_eval.read_lm_eval([LM_EVAL], preset="pythia", shots=0)


def test_pythia_preset_counts_match_the_paper():
    assert lm_eval.PYTHIA_PARAMS == PYTHIA_TABLE_1
    assert lm_eval.PYTHIA_TOKENS_PER_STEP * 143_000 == 299_892_736_000


def test_lm_eval_fixtures_zero_shot(zero_shot):
    frame = zero_shot
    assert list(frame["run"]) == ["pythia-70m", "pythia-410m", "pythia-410m-deduped",
                                  "pythia-1b"]
    assert list(frame["step"]) == [143000, 143000, 13000, 512]
    assert frame.attrs["notes"] == [
        "skipped 2 files with num_fewshot other than 0",
        "dropped 1 rows at step 0 (no tokens seen; the run table needs tokens > 0)"]
    row = frame[frame["run"] == "pythia-410m"].iloc[0]
    # 410m_step143000.json: results.piqa.acc, results.lambada_openai.ppl, copied from the file
    assert row["acc:piqa"] == 0.6675734494015234
    assert row["acc_norm:piqa"] == 0.6713819368879217
    assert row["acc_stderr:piqa"] == 0.010991141557445587
    assert row["ppl:lambada_openai"] == 10.828202624445215
    assert row["loss:lambada_openai"] == math.log(10.828202624445215)
    assert row["loss"] == row["loss:lambada_openai"] and row["loss_task"] == "lambada_openai"
    assert row["acc:lambada_openai"] == 0.5162041529206287
    assert row["params"] == row["params_nonembed"] == 302_311_424
    assert row["tokens"] == 143_000 * 2_097_152
    assert row["size"] == "410m" and not row["deduped"] and row["shots"] == 0
    assert row["source_file"] == "pythia-v1/pythia-410m/zero-shot/410m_step143000.json"
    deduped = frame[frame["run"] == "pythia-410m-deduped"].iloc[0]
    assert deduped["deduped"] and deduped["tokens"] == 13000 * 2_097_152
    # the standard 1B lives in pythia-1b-bf16/; its file name says 5shot, its config 0
    one_b = frame[frame["run"] == "pythia-1b"].iloc[0]
    assert one_b["shots"] == 0 and one_b["params"] == 805_736_448
    assert one_b["source_file"].endswith("1b-bf16-5shot_step512.json")
    assert "likelihood_difference:crows_pairs_english" in frame.columns


def test_lm_eval_matches_the_flat_csv(zero_shot):
    five_shot = lm_eval.read_lm_eval([LM_EVAL], preset="pythia", shots=5)
    both = pd.concat([zero_shot, five_shot])
    checked = 0
    for model, shots, step, ppl, piqa, arc, winogrande, mmlu in FLAT:
        if (model, shots, step) not in FIXTURE_ROWS:
            continue
        row = both[(both["run"] == run_name(model)) & (both["shots"] == shots)
                   & (both["step"] == step)].iloc[0]
        assert row["ppl:lambada_openai"] == ppl
        assert row["acc:piqa"] == piqa and row["acc_norm:arc_challenge"] == arc
        assert row["acc:winogrande"] == winogrande
        assert row["acc:mmlu"] == pytest.approx(mmlu, rel=1e-13, abs=0)  # the mean's rounding
        assert row["mmlu_n_subjects"] == 57
        checked += 1
    assert checked == 6


def test_mmlu_is_the_unweighted_mean_of_the_subjects(zero_shot):
    data = json.loads((PYTHIA / "pythia-70m/zero-shot/70m_step143000.json").read_text())
    subjects = [v["acc"] for k, v in data["results"].items() if k.startswith("hendrycksTest-")]
    assert len(subjects) == 57
    row = zero_shot[zero_shot["run"] == "pythia-70m"].iloc[0]
    assert row["acc:mmlu"] == pytest.approx(sum(subjects) / 57, rel=1e-15)


def test_lm_eval_metric_choice_and_no_stderr():
    path = PYTHIA / "pythia-410m/zero-shot/410m_step143000.json"
    frame = lm_eval.read_lm_eval([path], preset="pythia", metrics={"piqa": "acc_norm"})
    row = frame.iloc[0]
    assert row["acc:piqa"] == 0.6713819368879217 and row["acc_raw:piqa"] == 0.6675734494015234
    assert "acc_norm:piqa" not in frame.columns
    every = lm_eval.read_lm_eval([path], preset="pythia", metrics={"*": "acc_norm"},
                                 stderr=False).iloc[0]
    assert every["acc:piqa"] == 0.6713819368879217
    assert every["acc:lambada_openai"] == 0.5162041529206287   # it has no acc_norm: acc
    assert not any("stderr" in c for c in every.index)


def test_lm_eval_without_preset_and_user_step(tmp_path):
    data = json.loads((PYTHIA / "pythia-70m/zero-shot/70m_step143000.json").read_text())
    data["config"]["model_args"] = "pretrained=/ckpt/my-model"
    path = tmp_path / "result.json"
    path.write_text(json.dumps(data))
    frame = lm_eval.read_lm_eval([path], params={"my-model": 1e8}, tokens_per_step=1000,
                                 step=250)
    row = frame.iloc[0]
    assert row["run"] == "/ckpt/my-model" and row["params"] == 1e8
    assert row["tokens"] == 250_000 and row["step"] == 250 and row["source_file"] == "result.json"


HARNESS_04 = ROOT / "tests" / "data" / "lm_eval_0.4" / "results_2024-05-02T10-11-12.json"


def test_lm_eval_harness_0_4_layout():
    """Harness 0.4 files (handwritten fixture, tests/data/lm_eval_0.4/README.md): `metric,filter`
    names, stderr "N/A", the group's aggregate under `groups`, per-task `n-shot`, no
    config.num_fewshot."""
    frame = lm_eval.read_lm_eval([HARNESS_04], preset="pythia")
    row = frame.iloc[0]
    assert row["run"] == "pythia-160m" and row["step"] == 143000 and row["shots"] == 0
    assert row["params"] == 85_056_000 and row["tokens"] == 143000 * 2_097_152
    assert row["loss"] == row["loss:lambada_openai"] == math.log(38.25)
    assert row["acc:lambada_openai"] == 0.3287 and row["perplexity:lambada_openai"] == 38.25
    assert row["acc:piqa"] == 0.6213 and row["acc_norm:piqa"] == 0.6159
    assert row["acc_stderr:piqa"] == 0.0113 and "acc_norm_stderr:piqa" not in frame.columns
    assert row["acc:mmlu"] == 0.2463 and row["acc_stderr:mmlu"] == 0.0286   # the group's own
    assert row["acc:mmlu_anatomy"] == 0.2667 and "mmlu_n_subjects" not in frame.columns


def test_lm_eval_harness_0_4_variants(tmp_path):
    """Older 0.4 releases: the group inside `results` (kept, not doubled), the revision only in
    config.model_revision; tasks at different n-shot leave `shots` empty."""
    data = json.loads(HARNESS_04.read_text())
    data["results"]["mmlu"] = {"alias": "mmlu", "acc,none": 0.25, "acc_stderr,none": "N/A"}
    data["config"]["model_args"] = "pretrained=EleutherAI/pythia-160m,dtype=float16"
    data["n-shot"]["mmlu_anatomy"] = 5
    path = tmp_path / "result.json"
    path.write_text(json.dumps(data))
    frame = lm_eval.read_lm_eval([path], preset="pythia")
    row = frame.iloc[0]
    assert row["step"] == 143000 and row["acc:mmlu"] == 0.25
    assert "shots" not in frame.columns
    data["config"]["model_revision"] = "main"
    path.write_text(json.dumps(data))
    with pytest.raises(ScalingError, match="revision=stepN"):
        lm_eval.read_lm_eval([path], preset="pythia")


# -- the bundled Pythia tables -----------------------------------------------------------------

def test_bundle_is_small_and_a_contract_table():
    total = sum(p.stat().st_size for p in BUNDLE.iterdir())
    assert total < 1_000_000
    for name, rows in (("zero-shot", 416), ("five-shot", 240)):
        path = BUNDLE / f"{name}.parquet"
        assert contract_version(path) == CONTRACT_VERSION
        frame = read_runs(path)
        assert len(frame) == rows and frame["run"].nunique() == 16
        assert (frame["tokens"] > 0).all()
        assert set(frame["params"]) == set(map(float, PYTHIA_TABLE_1.values()))
        assert frame.groupby("run")["tokens"].max().eq(143_000 * 2_097_152).all()


def test_bundle_agrees_with_the_flat_csv():
    tables = {shots: pd.read_parquet(BUNDLE / f"{name}.parquet")
              for shots, name in ((0, "zero-shot"), (5, "five-shot"))}
    for model, shots, step, ppl, piqa, arc, winogrande, mmlu in FLAT:
        frame = tables[shots]
        row = frame[(frame["run"] == run_name(model)) & (frame["step"] == step)]
        assert len(row) == 1, (model, shots, step)
        row = row.iloc[0]
        assert row["ppl:lambada_openai"] == ppl and row["loss"] == math.log(ppl)
        assert row["acc:piqa"] == piqa and row["acc_norm:arc_challenge"] == arc
        assert row["acc:winogrande"] == winogrande
        assert row["acc:mmlu"] == pytest.approx(mmlu, rel=1e-13, abs=0)


@pytest.mark.skipif(not (SHARED / "evals").is_dir(), reason="the shared Pythia evals are absent")
def test_reimporting_the_shared_jsons_reproduces_the_bundle(tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    # The bundle was written from the shared data folder with the relative path `evals`, so that
    # it records no machine's absolute path; the re-import runs from there too.
    monkeypatch.chdir(SHARED)
    for shots, name in ((0, "zero-shot"), (5, "five-shot")):
        out = tmp_path / f"{name}.parquet"
        assert cli.main(["import", "lm-eval", "evals", "--preset", "pythia",
                         "--shots", str(shots), "--no-stderr", "--out", str(out)]) == 0
        fresh, bundled = pq.read_table(out), pq.read_table(BUNDLE / f"{name}.parquet")
        assert fresh.equals(bundled)
        # The run table's attributes (notes, file count, source) travel in the pandas metadata;
        # the creator's library versions there may differ between machines.
        attributes = [json.loads(t.schema.metadata[b"pandas"])["attributes"]
                      for t in (fresh, bundled)]
        assert attributes[0] == attributes[1]
        assert attributes[1]["source"] == "evals"
        assert fresh.schema.metadata[b"scaling.run_table"] == bundled.schema.metadata[
            b"scaling.run_table"]


# -- W&B ---------------------------------------------------------------------------------------

HELLASWAG = "eval/downstream/hellaswag_len_norm"


def test_wandb_history_export():
    frame = wandb.read_wandb([WANDB / "history.csv"],
                             {"loss": "train/CELoss", "acc:hellaswag": HELLASWAG,
                              "tokens": "throughput/total_tokens", "params": "model/params"})
    expected = pd.DataFrame({
        "run": ["ladder-20m"] * 3 + ["ladder-60m"] * 3,
        "params": [2e7] * 3 + [6e7] * 3,
        "tokens": [409600.0, 819200.0, 1228800.0] * 2,
        "loss": [4.20, 3.90, 3.75, 3.95, 3.60, 3.42],
        "step": [100, 200, 300] * 2,
        "acc:hellaswag": [0.262, np.nan, 0.281, 0.265, 0.290, 0.305],
        "lr": [0.001, 0.001, 0.0005] * 2,
    }, index=pd.RangeIndex(1, 7, name="row"))
    pd.testing.assert_frame_equal(frame, expected, check_dtype=False)
    assert len(frame.attrs["notes"]) == 2   # the row without a loss, the step-0 row


def test_wandb_panel_exports_joined():
    frame = wandb.read_wandb([WANDB / "panel-loss.csv", WANDB / "panel-hellaswag.csv"],
                             {"loss": "train/CELoss", "acc:hellaswag": HELLASWAG},
                             params=wandb.read_params_file(WANDB / "params.csv"),
                             tokens_per_step=4096)
    assert list(frame.columns[:6]) == ["run", "params", "tokens", "loss", "step",
                                       "train/CELoss__MIN"]
    assert list(zip(frame["run"], frame["step"], frame["loss"])) == [
        ("ladder-20m", 100, 4.20), ("ladder-20m", 200, 3.90), ("ladder-20m", 300, 3.75),
        ("ladder-60m", 100, 3.95), ("ladder-60m", 200, 3.60), ("ladder-60m", 400, 3.30)]
    assert list(frame["tokens"]) == [4096.0 * s for s in frame["step"]]
    assert list(frame["params"]) == [2e7] * 3 + [6e7] * 3
    np.testing.assert_array_equal(frame["acc:hellaswag"],
                                  [0.262, np.nan, 0.281, 0.265, np.nan, 0.312])


# -- the command ---------------------------------------------------------------------------------

def test_cli_lm_eval_end_to_end(tmp_path, capsys):
    out = tmp_path / "deep" / "runs.parquet"
    assert cli.main(["import", "lm-eval", str(PYTHIA / "pythia-410m"), "--preset", "pythia",
                     "--shots", "5", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "note: skipped 1 files with num_fewshot other than 5" in text
    assert f"wrote {out}: 1 runs, 1 rows from 1 files" in text
    assert "loss stands in for loss:lambada_openai" in text
    frame = read_runs(out)
    assert frame.iloc[0]["run"] == "pythia-410m" and frame.iloc[0]["shots"] == 5
    assert frame.iloc[0]["ppl:lambada_openai"] == 13.78128982030149


def test_cli_wandb_end_to_end(tmp_path, capsys):
    out = tmp_path / "runs.parquet"
    assert cli.main(["import", "wandb", str(WANDB / "history.csv"), "--out", str(out),
                     "--map", "loss=train/CELoss", "--map", f"acc:hellaswag={HELLASWAG}",
                     "--params", "ladder-20m=2e7", "--params", "ladder-60m=6e7",
                     "--tokens-per-step", "4096"]) == 0
    text = capsys.readouterr().out
    assert f"wrote {out}: 2 runs, 6 rows from 1 files; 1 tasks (hellaswag)" in text
    frame = read_runs(out)
    assert list(frame["tokens"]) == [4096.0 * s for s in frame["step"]]
    assert "throughput/total_tokens" in frame.columns   # unmapped columns are carried


# -- bad input: exit 2, one line naming the file (and task/column/row) --------------------------

def json_with(tmp_path, edit, name="result.json", source="pythia-70m/zero-shot/70m_step143000.json"):
    data = json.loads((PYTHIA / source).read_text())
    edit(data)
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def set_acc(data):
    data["results"]["piqa"]["acc"] = 1.5


def five_shots(data):
    data["config"]["num_fewshot"] = 5


def drop_revision(data):
    data["config"]["model_args"] = "pretrained=EleutherAI/pythia-v1.1-70m"


def percent(tmp_path):
    frame = pd.read_csv(WANDB / "history.csv")
    frame[HELLASWAG] *= 100
    path = tmp_path / "percent.csv"
    frame.to_csv(path, index=False)
    return path


FIXTURE = str(PYTHIA / "pythia-70m/zero-shot/70m_step143000.json")
HISTORY = str(WANDB / "history.csv")
MAPPED = ["--map", "loss=train/CELoss", "--map", "tokens=throughput/total_tokens",
          "--map", "params=model/params"]

BAD = {
    "unknown preset": (lambda t: ["lm-eval", FIXTURE, "--preset", "gpt"],
                       ["unknown preset 'gpt'", "pythia"]),
    "model without params": (lambda t: ["lm-eval", FIXTURE, "--params", "other=1e8",
                                        "--tokens-per-step", "1000"],
                             ["70m_step143000.json", "'EleutherAI/pythia-v1.1-70m'",
                              "--params pythia-v1.1-70m=N"]),
    "missing tokens per step": (lambda t: ["lm-eval", FIXTURE, "--params",
                                           "pythia-v1.1-70m=1e8"],
                                ["70m_step143000.json", "--tokens-per-step"]),
    "accuracy outside [0, 1]": (lambda t: ["lm-eval", str(json_with(t, set_acc)),
                                           "--preset", "pythia"],
                                ["result.json", "'piqa'", "1.5", "outside [0, 1]"]),
    "empty folder": (lambda t: ["lm-eval", str(t), "--preset", "pythia"],
                     [" no .json files in this folder"]),
    "not JSON": (lambda t: ["lm-eval", str(WANDB / "history.csv"), "--preset", "pythia"],
                 ["history.csv: not an lm-eval-harness result file (invalid JSON"]),
    "mixed shots": (lambda t: ["lm-eval", FIXTURE, str(json_with(t, five_shots)),
                               "--preset", "pythia"],
                    ["result.json", "70m_step143000.json", "--shots 0 or --shots 5"]),
    "one checkpoint twice": (lambda t: ["lm-eval", FIXTURE, str(PYTHIA / "pythia-70m"),
                                        "--preset", "pythia", "--shots", "0"],
                             ["'pythia-70m' at step 143000", "70m_step143000.json"]),
    "no step": (lambda t: ["lm-eval", str(json_with(t, drop_revision)), "--preset", "pythia"],
                ["result.json", "revision=stepN", "--step"]),
    "unknown metric": (lambda t: ["lm-eval", FIXTURE, "--preset", "pythia", "--metric",
                                  "piqa=f1"], ["70m_step143000.json", "piqa=f1", "'f1'"]),
    "not a pythia model": (lambda t: ["lm-eval", str(json_with(
        t, lambda d: d["config"].update(model_args="pretrained=gpt2,revision=step1"))),
        "--preset", "pythia"], ["result.json", "'gpt2'", "pythia"]),
    "bad --params": (lambda t: ["lm-eval", FIXTURE, "--params", "m=big"],
                     ["--params", "'big' is not a number"]),
    "unmapped loss": (lambda t: ["wandb", HISTORY, "--map", "tokens=throughput/total_tokens"],
                      ["history.csv", "'loss'", "--map loss="]),
    "mapped column absent": (lambda t: ["wandb", HISTORY, "--map", "loss=eval/loss"],
                             ["history.csv", "'eval/loss'"]),
    "run without params": (lambda t: ["wandb", HISTORY, "--map", "loss=train/CELoss",
                                      "--tokens-per-step", "4096", "--params",
                                      "ladder-20m=2e7"],
                           ["history.csv", "row 5", "'ladder-60m'", "--params ladder-60m=N"]),
    "no tokens": (lambda t: ["wandb", HISTORY, "--map", "loss=train/CELoss", "--params",
                             "ladder-20m=2e7"], ["history.csv", "--tokens-per-step"]),
    "wandb accuracy in percent": (lambda t: ["wandb", str(percent(t)), *MAPPED, "--map",
                                             f"acc:hellaswag={HELLASWAG}"],
                                  ["percent.csv", "'acc:hellaswag'", "row 2", "26.2",
                                   "outside [0, 1]"]),
    "bad params file": (lambda t: ["wandb", HISTORY, *MAPPED, "--params-file", HISTORY],
                        ["history.csv", "--params-file needs columns run and params"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line(case, tmp_path, capsys):
    build, fragments = BAD[case]
    folder = tmp_path / "in"
    folder.mkdir()
    argv = ["import", *build(folder), "--out", str(tmp_path / "runs.parquet")]
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("scaling: error: ")
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert not (tmp_path / "runs.parquet").exists()


def test_out_is_checked_before_reading(tmp_path, capsys):
    assert cli.main(["import", "lm-eval", str(tmp_path / "missing"), "--preset", "pythia",
                     "--out", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert f"--out {tmp_path}: is a directory" in error and "missing" not in error
    assert cli.main(["import", "wandb", HISTORY, *MAPPED, "--out",
                     str(tmp_path / "runs.csv")]) == 2
    assert "unknown format '.csv'" in capsys.readouterr().err


def test_library_errors_are_scaling_errors():
    with pytest.raises(ScalingError, match="no lm-eval result files"):
        lm_eval.read_lm_eval([], preset="pythia")
    with pytest.raises(ScalingError, match="no W&B export files"):
        wandb.read_wandb([], {"loss": "x"})
