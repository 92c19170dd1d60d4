"""Training rungs: rows per the contract, kill-and-resume, DDP, submitit, divergence."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ladders.launch import collect, run_ladder, work_dir
from ladders.spec import expand, load_spec
from scaling.data.runs import REQUIRED, read_runs
from scaling.data.table_files import contract_version

ROOT = Path(__file__).resolve().parents[1]

SPEC = """
[ladder]
name = "tiny"
context = 32
batch_size = 8
eval_every = 10
eval_batches = 2
checkpoint_every = 20
[data]
corpus = "stdlib"
max_bytes = 300_000
{data}
[model]
sizes = [{{ width = 32, depth = 2, heads = 2 }}]
[tokens]
absolute = [{tokens}]
[optimizer]
lr = 3e-3
schedules = ["{schedule}"]
"""


def spec(tmp_path, tokens=32_000, schedule="cosine", name="spec.toml", data=""):
    """A one-rung ladder spec (`data`: more [data] lines; `tokens`: one budget or several,
    as TOML text)."""
    path = tmp_path / name
    path.write_text(SPEC.format(tokens=tokens, schedule=schedule, data=data))
    return path


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


def test_rows_follow_the_contract(tmp_path):
    out = tmp_path / "ladder.parquet"
    table = run_ladder(spec(tmp_path), out, device="cpu", progress=False)
    assert contract_version(out) == "1"
    runs = read_runs(out, columns=("step", "lr", "flops"))
    expected = {*REQUIRED, "params_nonembed", "vocab_size", "width", "depth", "step", "tokens",
                "flops", "lr", "train_loss", "schedule", "dataset", "seed", "seconds",
                "characters", "tokens_per_char", "loss_unigram", "bits_per_char"}
    assert expected <= set(runs.columns)
    steps = table["step"].tolist()
    assert steps == [10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 125]
    assert np.allclose(table["tokens"], table["step"] * 8 * 32)
    assert table["loss"].iloc[-1] < table["loss"].iloc[0] - 1.0        # it learns
    assert table["lr"].iloc[-1] == pytest.approx(3e-4, rel=0.05)        # cosine to 10% floor
    assert table["dataset"].iloc[0].startswith("python-stdlib")
    assert len(table["corpus_hash"].iloc[0]) == 64 and table["corpus_hash"].nunique() == 1
    assert np.isfinite(table["train_loss"]).all()
    # bytes of the standard library: a few non-ASCII characters, so just over 1 token a character
    assert 1.0 <= table["tokens_per_char"].iloc[0] < 1.01 and table["tokens_per_char"].nunique() == 1
    assert np.allclose(table["characters"], table["tokens"] / table["tokens_per_char"])
    assert (table["loss_unigram"] < table["loss"]).all() and table["loss_unigram"].iloc[-1] < 0
    assert np.isfinite(table["bits_per_char"]).all()


def test_sigkill_and_resume_match_an_uninterrupted_run(tmp_path):
    path = spec(tmp_path, tokens=48_000)
    clean, killed = tmp_path / "clean.parquet", tmp_path / "killed.parquet"
    run_cli("ladder", "run", str(path), "--out", str(clean), "--device", "cpu", "--no-progress")

    command, env = scaling_command("ladder", "run", str(path), "--out", str(killed),
                                   "--device", "cpu", "--no-progress")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    checkpoint = work_dir(killed) / "tiny-w32-d2-v256-4.8e+04tok-cosine-s0" / "checkpoint.pt"
    deadline = time.time() + 120
    while not checkpoint.exists() and time.time() < deadline and process.poll() is None:
        time.sleep(0.02)
    time.sleep(random.uniform(0.0, 0.5))         # a random moment after the first checkpoint
    process.send_signal(signal.SIGKILL)
    process.wait()
    run_cli("ladder", "run", str(path), "--out", str(killed), "--device", "cpu",
            "--no-progress", "--resume")

    a, b = pd.read_parquet(clean), pd.read_parquet(killed)
    assert b["step"].tolist() == a["step"].tolist()
    assert not b.duplicated(["run", "step"]).any()
    assert np.allclose(b["loss"], a["loss"], rtol=1e-6, atol=0)
    assert np.allclose(b["train_loss"], a["train_loss"], rtol=1e-6, atol=0)
    assert (b["lr"] == a["lr"]).all()


def test_torchrun_ddp_two_processes_match_one(tmp_path):
    path = spec(tmp_path, tokens=16_000)
    single, double = tmp_path / "one.parquet", tmp_path / "two.parquet"
    run_cli("ladder", "run", str(path), "--out", str(single), "--device", "cpu", "--no-progress")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
         "--master_port", str(29500 + random.randint(0, 2000)), "-m", "ladders.launch",
         str(path), "--out", str(double), "--device", "cpu", "--no-progress"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    a, b = pd.read_parquet(single), pd.read_parquet(double)
    assert b["step"].tolist() == a["step"].tolist()
    assert np.allclose(b["loss"], a["loss"], rtol=1e-4)
    assert np.allclose(b["train_loss"], a["train_loss"], rtol=1e-4)


def test_submitit_local_executor_farms_rungs(tmp_path):
    submitit = pytest.importorskip("submitit")
    path = tmp_path / "two.toml"
    path.write_text(SPEC.format(tokens=8_000, schedule="cosine", data="").replace(
        'schedules = ["cosine"]', 'schedules = ["cosine", "constant"]'))
    executor = submitit.LocalExecutor(folder=str(tmp_path / "jobs"))
    executor.update_parameters(timeout_min=10)
    table = run_ladder(path, tmp_path / "farmed.parquet", device="cpu", executor=executor,
                       progress=False)
    assert table["run"].nunique() == 2
    assert read_runs(tmp_path / "farmed.parquet")["run"].nunique() == 2


def test_divergence_stops_the_rung_and_keeps_its_rows(tmp_path, monkeypatch):
    import ladders.train
    from ladders.model import GPT

    import torch

    class Diverging(GPT):
        """Training loss becomes NaN from the 35th training forward pass on."""

        calls = 0

        def forward(self, idx, targets=None):
            logits, loss = super().forward(idx, targets)
            if self.training and torch.is_grad_enabled():
                Diverging.calls += 1
                if Diverging.calls >= 35:
                    loss = loss * float("nan")
            return logits, loss

    monkeypatch.setattr(ladders.train, "GPT", Diverging)
    out = tmp_path / "hot.parquet"
    path = spec(tmp_path)
    table = run_ladder(path, out, device="cpu", progress=False)
    rung = expand(load_spec(path))[0]
    status = json.loads((work_dir(out) / rung.run / "status.json").read_text())
    # losses are read back at rows (every 10 steps), so the NaN of step 35 stops it at step 40
    assert status == {"status": "diverged", "step": 40, "first_nonfinite_step": 35}
    assert table["step"].tolist() == [10, 20, 30]             # finished rows kept, none after
    assert table["diverged"].all() and np.isfinite(table["loss"]).all()
    assert read_runs(out)["diverged"].all()


def test_resume_skips_finished_rungs_and_refuses_to_overwrite(tmp_path, capsys):
    import cli

    path = spec(tmp_path, tokens=8_000)
    out = tmp_path / "l.parquet"
    first = run_ladder(path, out, device="cpu", progress=False)
    again = run_ladder(path, out, device="cpu", resume=True, progress=False)
    pd.testing.assert_frame_equal(first, again)
    assert cli.main(["ladder", "run", str(path), "--out", str(out), "--no-progress"]) == 2
    assert "--resume" in capsys.readouterr().err
    assert collect(out, expand(load_spec(path)))["run"].nunique() == 1


def _rung(tmp_path, **changes):
    """The one rung of the tiny spec (8 x 32 tokens a step), with fields changed."""
    from dataclasses import replace

    return replace(expand(load_spec(spec(tmp_path, tokens=12_800)))[0], **changes)


def test_gradient_accumulation_gives_the_same_losses(tmp_path):
    """batch 8 in 4 passes of 2 sequences = batch 8 at once, to 1e-5 over 50 steps (fp32)."""
    from ladders.train import train_rung

    whole = train_rung(_rung(tmp_path), tmp_path / "whole", device="cpu")
    parts = train_rung(_rung(tmp_path, micro_batch=2), tmp_path / "parts", device="cpu")
    assert whole["step"].tolist() == parts["step"].tolist() == [10, 20, 30, 40, 50]
    assert np.allclose(parts["loss"], whole["loss"], rtol=1e-5, atol=0)
    assert np.allclose(parts["train_loss"], whole["train_loss"], rtol=1e-5, atol=0)
    assert whole["loss"].iloc[-1] < whole["loss"].iloc[0] - 0.3      # it learned meanwhile


def test_micro_batch_must_divide_the_batch(tmp_path):
    from ladders.train import train_rung
    from scaling.errors import ScalingError

    with pytest.raises(ScalingError, match="not a multiple of micro_batch 3"):
        train_rung(_rung(tmp_path, micro_batch=3), tmp_path / "w", device="cpu")
    broken = spec(tmp_path).read_text().replace("batch_size = 8", "batch_size = 8\nmicro_batch = 3")
    (tmp_path / "bad.toml").write_text(broken)
    with pytest.raises(Exception, match="micro_batch"):
        expand(load_spec(tmp_path / "bad.toml"))


class _CountReadBacks:
    """Counts the tensor calls that copy a value to the host (on a GPU: wait for it)."""

    READS = {"item", "tolist", "__float__", "__int__", "__bool__", "__index__", "numpy", "cpu"}

    def __enter__(self):
        from torch.overrides import TorchFunctionMode

        counter = self

        class Mode(TorchFunctionMode):
            def __torch_function__(self, func, types, args=(), kwargs=None):
                if getattr(func, "__name__", "") in counter.READS:
                    counter.count += 1
                return func(*args, **(kwargs or {}))

        self.count, self.mode = 0, Mode()
        self.mode.__enter__()
        return self

    def __exit__(self, *exc):
        self.mode.__exit__(*exc)


@pytest.mark.parametrize("micro_batch", [None, 2])
def test_no_read_back_between_evaluations(tmp_path, micro_batch):
    """Training steps read nothing back to the host: only rows, checkpoints and the end do.
    So the count of read-backs does not grow with the steps between two rows."""
    from ladders.train import train_rung

    counts = {}
    for steps in (5, 40):
        rung = _rung(tmp_path, steps=steps, tokens=steps * 256, eval_every=steps,
                     checkpoint_every=steps, eval_batches=2, micro_batch=micro_batch,
                     schedule=f"cosine:peak=0.003,warmup=1,steps={steps},final=0.0003")
        with _CountReadBacks() as reads:
            train_rung(rung, tmp_path / f"s{steps}-{micro_batch}", device="cpu")
        counts[steps] = reads.count
    assert counts[5] == counts[40]
    assert counts[5] == 2      # the pending losses once, the evaluation once (the loop before
    #                            this test read every step's loss and AdamW's step counters:
    #                            86 and 681 read-backs for 5 and 40 steps)


def test_resume_refuses_a_changed_run_but_not_a_new_micro_batch(tmp_path, capsys):
    """--resume continues the run the folder holds: a spec that now gives another LR is a
    one-line error naming rung.json; another micro_batch (a different card) is fine."""
    import cli

    path = spec(tmp_path, tokens=8_000)
    out = tmp_path / "l.parquet"
    first = run_ladder(path, out, device="cpu", progress=False)
    path.write_text(path.read_text().replace("lr = 3e-3", "lr = 1e-3"))
    assert cli.main(["ladder", "run", str(path), "--out", str(out), "--resume",
                     "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "rung.json: --resume would continue a different run: "\
        "its schedule was 'cosine:peak=0.003" in err
    path.write_text(path.read_text().replace("lr = 1e-3", "lr = 3e-3").replace(
        "batch_size = 8", "batch_size = 8\nmicro_batch = 4"))
    again = run_ladder(path, out, device="cpu", resume=True, progress=False)
    pd.testing.assert_frame_equal(first, again)
