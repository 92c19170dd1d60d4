"""Branched ladders: one warmup-stable run per size, a cooldown branch per budget.

A branch must be the same run as a dedicated WSD run of its budget (rows after its branch point
only, tokens and FLOPs from step 0), its stable run's rows must appear once, a kill inside a
branch must resume to the same table without touching the stable run, and the table must say
what the ladder cost.
"""

import dataclasses
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cli
from ladders.launch import compute_summary, run_ladder, work_dir
from ladders.model import GPTConfig, flops_per_token
from scaling.data.schedules import lr_array, parse
from ladders.spec import compute, estimate, expand, load_spec
from ladders.train import train_rung

ROOT = Path(__file__).resolve().parents[1]

SPEC = """
[ladder]
name = "br"
context = 32
batch_size = 8
eval_every = 10
eval_batches = 2
checkpoint_every = 20
[data]
corpus = "stdlib"
max_bytes = 300_000
[model]
sizes = [{{ width = 32, depth = 2, heads = 2 }}]
[optimizer]
lr = 3e-3
schedules = ["wsd"]
[branches]
absolute = {budgets}
decay_fraction = {fraction}
decay = "{decay}"
"""
PER_STEP = 8 * 32                      # tokens per optimizer step


def scaling_command(*args):
    # one thread: CPU results are then bit-for-bit repeatable across processes
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return [sys.executable, "-m", "scaling", *args], env


def run_cli(*args, timeout=300):
    command, env = scaling_command(*args)
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, result.stderr
    return result


def spec(tmp_path, budgets=(16_000, 24_000, 32_000), fraction=0.25, decay="linear"):
    path = tmp_path / "branches.toml"
    path.write_text(SPEC.format(budgets=list(budgets), fraction=fraction, decay=decay))
    return path


@pytest.fixture(scope="module")
def ladder(tmp_path_factory):
    """The 3-branch ladder, trained once: (spec path, out path, rungs, table)."""
    tmp_path = tmp_path_factory.mktemp("ladder")
    path = spec(tmp_path)
    out = tmp_path / "ladder.parquet"
    table = run_ladder(path, out, device="cpu", progress=False)
    return path, out, expand(load_spec(path)), table


def test_expansion_makes_one_stable_run_and_a_branch_per_budget(ladder):
    _, _, rungs, _ = ladder
    stable, *branches = rungs
    assert stable.run == "br-w32-d2-v256-stable-wsd-s0" and stable.parent is None
    # 16k, 24k, 32k tokens = 63, 94, 125 steps; a decay of round(0.25 * steps) = 16, 24, 31
    assert [b.steps for b in branches] == [63, 94, 125]
    assert [b.branch_step for b in branches] == [47, 70, 94]
    assert stable.steps == 94 and stable.branch_points == [47, 70, 94]
    assert stable.schedule == "constant:peak=0.003,warmup=3,steps=94"    # 5% of 63 steps
    assert branches[2].schedule == ("wsd:peak=0.003,warmup=3,steps=125,final=0.0003,"
                                    "decay_start=94,decay=linear")
    assert all(b.parent == stable.run for b in branches)


def test_branch_rows_reference_their_parent_and_stable_rows_appear_once(ladder):
    _, out, rungs, table = ladder
    stable, *branches = rungs
    assert not table.duplicated(["run", "step"]).any()
    kept = table[table["stable"]]
    assert kept["run"].unique().tolist() == [stable.run]
    assert kept["step"].tolist() == [10, 20, 30, 40, 50, 60, 70, 80, 90, 94]
    assert kept["parent"].isna().all() and (kept["branch_step"] == 0).all()
    per_token = flops_per_token(GPTConfig(**stable.model))
    for branch in branches:
        rows = table[table["run"] == branch.run]
        assert (rows["parent"] == stable.run).all()
        assert (rows["branch_step"] == branch.branch_step).all() and not rows["stable"].any()
        # rows after the branch point only, on the eval grid and at the end
        expected = [s for s in range(10, branch.steps, 10) if s > branch.branch_step]
        assert rows["step"].tolist() == expected + [branch.steps]
        # tokens and flops from step 0 (prefix included); flops_own from the branch point
        assert (rows["tokens"] == rows["step"] * PER_STEP).all()
        assert np.allclose(rows["flops"], per_token * rows["tokens"], rtol=1e-12)
        assert np.allclose(rows["flops_own"],
                           per_token * (rows["step"] - branch.branch_step) * PER_STEP,
                           rtol=1e-12)
        assert (rows["schedule"] == branch.schedule).all()
        assert rows["lr"].iloc[-1] == pytest.approx(3e-4)                # final_fraction 0.1
    assert np.allclose(kept["flops_own"], kept["flops"])
    assert len(pd.read_parquet(out)) == len(table) == 10 + 3 + 3 + 4


def test_branch_is_step_for_step_a_dedicated_wsd_run(ladder, tmp_path):
    """The largest branch against one uninterrupted WSD run of the same schedule: CPU training
    is deterministic and batches depend only on (seed, step), so the losses must agree."""
    _, out, rungs, table = ladder
    stable, *branches = rungs
    branch = branches[-1]
    solo = dataclasses.replace(branch, run="solo", parent=None, branch_step=0)
    alone = train_rung(solo, tmp_path / "solo", device="cpu")
    mine = table[table["run"] == branch.run].set_index("step")
    theirs = alone.set_index("step")
    after = theirs.loc[mine.index]
    assert len(mine) == 4
    assert np.allclose(mine["loss"], after["loss"], rtol=1e-6, atol=0)
    assert np.allclose(mine["train_loss"], after["train_loss"], rtol=1e-6, atol=0)
    assert (mine["lr"] == after["lr"]).all() and (mine["flops"] == after["flops"]).all()
    # and the stable run is that run's prefix
    prefix = table[table["run"] == stable.run].set_index("step")
    shared = prefix.index[prefix.index % 10 == 0]            # the stable run's grid rows
    assert len(shared) == 9
    assert np.allclose(prefix.loc[shared, "loss"], theirs.loc[shared, "loss"], rtol=1e-6, atol=0)


def test_lr_schedule_laws_read_branch_curves_from_the_schedule(ladder):
    from scaling.data.lr_history import per_step_lr

    _, _, rungs, table = ladder
    lrs = per_step_lr(table)
    for rung in rungs:
        assert np.array_equal(lrs[rung.run], lr_array(parse(rung.schedule)))
        rows = table[table["run"] == rung.run]
        assert np.allclose(rows["lr"], lrs[rung.run][rows["step"].to_numpy() - 1], rtol=0)


def test_compute_spent_against_dedicated_runs(ladder, tmp_path, capsys):
    path, out, rungs, table = ladder
    per_token = flops_per_token(GPTConfig(**rungs[0].model))
    summary = compute_summary(table)
    # spent: stable 94 steps + decays 16 + 24 + 31 steps; dedicated: 63 + 94 + 125 steps
    assert summary["spent"] == pytest.approx(per_token * PER_STEP * (94 + 16 + 24 + 31))
    assert summary["stable"] == pytest.approx(per_token * PER_STEP * 94)
    assert summary["dedicated"] == pytest.approx(per_token * PER_STEP * (63 + 94 + 125))
    assert summary["ratio"] == pytest.approx(165 / 282)
    assert compute(estimate(rungs, "cpu")) == pytest.approx(summary)    # --dry-run agrees
    assert cli.main(["ladder", "run", str(path), "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "own flops" in printed and "ratio 0.59" in printed


def test_branched_spec_needs_its_own_budgets(tmp_path, capsys):
    text = spec(tmp_path).read_text().replace("[optimizer]", "[tokens]\nper_param = [5]\n"
                                                             "[optimizer]")
    (tmp_path / "both.toml").write_text(text)
    assert cli.main(["ladder", "run", str(tmp_path / "both.toml"), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "tokens.per_param" in err and "[branches]" in err


def _digests(folder: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_sigkill_inside_a_branch_resumes_to_the_same_table(tmp_path):
    path = spec(tmp_path, budgets=(32_000, 64_000), fraction=0.5)
    rungs = expand(load_spec(path))
    stable, first, last = rungs
    assert last.steps - last.branch_step == 125            # a long branch to kill inside
    clean, killed = tmp_path / "clean.parquet", tmp_path / "killed.parquet"
    run_cli("ladder", "run", str(path), "--out", str(clean), "--device", "cpu", "--no-progress")

    command, env = scaling_command("ladder", "run", str(path), "--out", str(killed),
                                   "--device", "cpu", "--no-progress")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    work = work_dir(killed)
    checkpoint = work / last.run / "checkpoint.pt"
    deadline = time.time() + 120
    while not checkpoint.exists() and time.time() < deadline and process.poll() is None:
        time.sleep(0.005)
    time.sleep(random.uniform(0.0, 0.1))       # a random moment after the branch's checkpoint
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert checkpoint.exists() and not (work / last.run / "status.json").exists(), \
        "the kill should land inside the last branch"
    before = _digests(work / stable.run)
    assert {"branch-63.pt", "branch-125.pt", "status.json"} <= set(before)
    run_cli("ladder", "run", str(path), "--out", str(killed), "--device", "cpu",
            "--no-progress", "--resume")
    assert _digests(work / stable.run) == before             # the stable run untouched

    a, b = pd.read_parquet(clean), pd.read_parquet(killed)
    assert b["run"].tolist() == a["run"].tolist() and b["step"].tolist() == a["step"].tolist()
    assert not b.duplicated(["run", "step"]).any()
    pd.testing.assert_frame_equal(b.drop(columns="seconds"), a.drop(columns="seconds"),
                                  check_exact=False, rtol=1e-6)


def test_submitit_trains_stable_runs_before_their_branches(tmp_path, ladder):
    submitit = pytest.importorskip("submitit")
    executor = submitit.LocalExecutor(folder=str(tmp_path / "jobs"))
    executor.update_parameters(timeout_min=10)
    table = run_ladder(spec(tmp_path), tmp_path / "farmed.parquet", device="cpu",
                       executor=executor, progress=False)
    _, _, rungs, local = ladder
    assert sorted(table["run"].unique()) == sorted(r.run for r in rungs)
    assert len(table) == len(local) and not table.duplicated(["run", "step"]).any()


# --- failure modes: a stable run that diverges, a branch point that is missing or corrupt ------

SMALL = """
[ladder]
name = "fm"
context = 16
batch_size = 4
eval_every = {eval_every}
eval_batches = 1
checkpoint_every = 5
min_steps = 1                   # a smoke test: rungs of 10 steps
[data]
corpus = "stdlib"
max_bytes = 100_000
[model]
sizes = [{{ width = 16, depth = 1, heads = 2 }}]
[optimizer]
lr = {lr}
warmup_fraction = 0.0
schedules = ["wsd"]
[branches]
absolute = [640, 1280, 2560]    # 10, 20, 40 steps of 64 tokens: branch points 8, 15, 30
decay_fraction = 0.25
"""


def small_spec(folder, lr=3e-3, eval_every=2, name="fm.toml"):
    path = folder / name
    path.write_text(SMALL.format(lr=lr, eval_every=eval_every))
    return path


def statuses(out, rungs):
    return [json.loads((work_dir(out) / r.run / "status.json").read_text()) for r in rungs]


def test_a_stable_run_that_blows_up_marks_its_branches_diverged(tmp_path):
    """At a peak LR of 1e12 the first update throws the weights to ~1e12 and the stable run's
    second forward pass overflows: it stops at step 2, before every branch point, and each
    branch ends as diverged at its branch point without training or writing a row."""
    path = small_spec(tmp_path, lr=1e12, eval_every=1)
    out = tmp_path / "hot.parquet"
    stable, *branches = rungs = expand(load_spec(path))
    assert stable.branch_points == [8, 15, 30]
    table = run_ladder(path, out, device="cpu", progress=False)
    assert statuses(out, [stable]) == [{"status": "diverged", "step": 2,
                                        "first_nonfinite_step": 2}]
    assert statuses(out, branches) == [
        {"status": "diverged", "step": point, "parent": stable.run} for point in (8, 15, 30)]
    for branch in branches:                 # never trained: no rows, no checkpoint
        assert sorted(p.name for p in (work_dir(out) / branch.run).iterdir()) == \
            ["rung.json", "status.json", "worker.json"]
    assert not list((work_dir(out) / stable.run).glob("branch-*.pt"))
    # the table: the stable run's one row (step 1), marked diverged; no branch rows
    assert table["run"].tolist() == [stable.run] and table["step"].tolist() == [1]
    assert table["diverged"].all() and table["stable"].all()
    assert pd.read_parquet(out)["run"].tolist() == [stable.run]
    # --resume leaves the ended rungs as they are
    again = run_ladder(path, out, device="cpu", resume=True, progress=False)
    pd.testing.assert_frame_equal(again, table)
    assert len(statuses(out, rungs)) == 4 and statuses(out, [stable])[0]["step"] == 2


def test_a_ladder_without_a_single_row_is_a_one_line_error(tmp_path, capsys):
    """The same blow-up with an evaluation every 2 steps: no rung writes a row."""
    path = small_spec(tmp_path, lr=1e12, eval_every=2)
    out = tmp_path / "hot.parquet"
    code = cli.main(["ladder", "run", str(path), "--out", str(out), "--device", "cpu",
                     "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert "no rows to write: 4 of 4 rungs diverged" in err and str(out) in err


def test_branches_before_the_divergence_train_the_others_are_diverged(tmp_path, monkeypatch):
    """The stable run's loss turns NaN at step 12, between the branch points 8 and 15: the
    branch from step 8 trains from the state saved before it (and is not diverged); the two
    later branches are marked diverged at their branch points."""
    import torch

    import ladders.train
    from ladders.model import GPT

    class NaNOnce(GPT):
        """The 12th training forward pass of the process (the stable run's step 12) is NaN."""

        calls = 0

        def forward(self, idx, targets=None):
            logits, loss = super().forward(idx, targets)
            if self.training and torch.is_grad_enabled():
                NaNOnce.calls += 1
                if NaNOnce.calls == 12:
                    loss = loss * float("nan")
            return logits, loss

    monkeypatch.setattr(ladders.train, "GPT", NaNOnce)
    path = small_spec(tmp_path)
    out = tmp_path / "ladder.parquet"
    stable, first, *later = expand(load_spec(path))
    table = run_ladder(path, out, device="cpu", progress=False)
    assert statuses(out, [stable, first]) == [{"status": "diverged", "step": 12,
                                               "first_nonfinite_step": 12},
                                              {"status": "done", "step": 10}]
    assert statuses(out, later) == [
        {"status": "diverged", "step": point, "parent": stable.run} for point in (15, 30)]
    assert sorted(p.name for p in (work_dir(out) / stable.run).glob("branch-*.pt")) == \
        ["branch-8.pt"]
    assert table["run"].unique().tolist() == [stable.run, first.run]
    kept, branch = (table[table["run"] == run] for run in (stable.run, first.run))
    assert kept["step"].tolist() == [2, 4, 6, 8, 10] and kept["diverged"].all()
    assert branch["step"].tolist() == [10] and not branch["diverged"].any()
    assert np.isfinite(branch["loss"]).all() and branch["branch_step"].tolist() == [8]


@pytest.fixture(scope="module")
def trained_small(tmp_path_factory):
    """A small branched ladder, trained once: (folder, spec path, out path, rungs)."""
    folder = tmp_path_factory.mktemp("small")
    path = small_spec(folder)
    out = folder / "ladder.parquet"
    run_ladder(path, out, device="cpu", progress=False)
    return folder, path, out, expand(load_spec(path))


def truncate(path: Path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def not_torch(path: Path):
    path.write_text("not a torch file\n")


BROKEN_BRANCH_POINTS = [
    ("missing", lambda p: p.unlink(), ["no such checkpoint", "train its stable run"]),
    ("truncated", truncate, ["not a readable checkpoint, truncated or not written by torch.save"]),
    ("not-torch", not_torch, ["not a readable checkpoint", "UnpicklingError"]),
    ("empty", lambda p: p.write_bytes(b""), ["not a readable checkpoint", "EOFError"]),
    ("other-step", lambda p: shutil.copy(p.with_name("branch-15.pt"), p),
     ["holds step 15, not the branch point 8"]),
]


@pytest.mark.parametrize("breaks, expected",
                         [pytest.param(b, e, id=i) for i, b, e in BROKEN_BRANCH_POINTS])
def test_a_broken_branch_point_is_a_one_line_error_naming_it(trained_small, tmp_path, capsys,
                                                            breaks, expected):
    """The branch from step 8 is retrained (its folder removed) with --resume, after its
    parent's branch-8.pt is broken: exit 2, one line on stderr naming the file."""
    folder, path, out, (stable, first, *_) = trained_small
    mine = tmp_path / "ladder.parquet"
    shutil.copytree(work_dir(out), work_dir(mine))
    shutil.rmtree(work_dir(mine) / first.run)
    source = work_dir(mine) / stable.run / "branch-8.pt"
    breaks(source)
    code = cli.main(["ladder", "run", str(path), "--out", str(mine), "--resume", "--device",
                     "cpu", "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    # from a pool's worker the line starts with the rung that failed
    assert err.startswith((f"scaling: error: {source}: ",
                           f"scaling: error: {first.run}: {source}: ")), err
    for piece in expected:
        assert piece in err, (piece, err)


def test_a_corrupt_own_checkpoint_is_a_one_line_error_on_resume(trained_small, tmp_path, capsys):
    folder, path, out, (stable, *_) = trained_small
    mine = tmp_path / "ladder.parquet"
    shutil.copytree(work_dir(out), work_dir(mine))
    (work_dir(mine) / stable.run / "status.json").unlink()      # unfinished: resume reads it
    checkpoint = work_dir(mine) / stable.run / "checkpoint.pt"
    truncate(checkpoint)
    code = cli.main(["ladder", "run", str(path), "--out", str(mine), "--resume", "--device",
                     "cpu", "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert err.startswith(f"scaling: error: {checkpoint}: not a readable checkpoint")
