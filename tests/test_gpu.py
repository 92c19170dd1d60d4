"""The CUDA path of the runner: bf16 training, accumulation, compile, resume, no host syncs.

Every test here needs a CUDA GPU and is skipped without one (tests/conftest.py); `make gpu-check`
runs them first. They use tiny models, so together they take well under a minute on one GPU.
"""

import warnings
from dataclasses import replace

import numpy as np
import pytest

from ladders.spec import expand, load_spec

pytestmark = pytest.mark.gpu

SPEC = """
[ladder]
name = "gpu-tiny"
context = 64
batch_size = 16
eval_every = 10
eval_batches = 4
checkpoint_every = 20
[data]
corpus = "stdlib"
max_bytes = 1_000_000
[model]
sizes = [{ width = 64, depth = 2, heads = 2 }]
[tokens]
absolute = [61_440]
[optimizer]
lr = 3e-3
schedules = ["cosine"]
"""


@pytest.fixture
def rung(tmp_path):
    path = tmp_path / "spec.toml"
    path.write_text(SPEC)
    return expand(load_spec(path))[0]          # 60 steps of 16 x 64 tokens


def train(rung, folder, **kwargs):
    from ladders.train import train_rung

    return train_rung(rung, folder, device="cuda", **kwargs)


def test_a_rung_trains_in_bf16_and_agrees_with_the_cpu(rung, tmp_path):
    from ladders.train import train_rung

    gpu = train(rung, tmp_path / "gpu")
    assert gpu["step"].tolist() == [10, 20, 30, 40, 50, 60]
    assert np.isfinite(gpu["loss"]).all() and not gpu["diverged"].any()
    assert gpu["loss"].iloc[-1] < gpu["loss"].iloc[0] - 0.3          # it learns
    cpu = train_rung(replace(rung, steps=10, eval_every=10, checkpoint_every=10,
                             tokens=10 * 16 * 64), tmp_path / "cpu", device="cpu")
    first_gpu = train(replace(rung, steps=10, eval_every=10, checkpoint_every=10,
                              tokens=10 * 16 * 64), tmp_path / "gpu10")
    # the same function: after 10 steps bf16 on the GPU and fp32 on the CPU agree to ~1%
    assert first_gpu["loss"].iloc[0] == pytest.approx(cpu["loss"].iloc[0], rel=0.02)


def _sync_warnings(rung, folder) -> int:
    import torch

    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            train(rung, folder)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught)


def test_steps_between_rows_never_wait_for_the_gpu(rung, tmp_path):
    """CUDA's sync debug mode counts every host wait: the same with 5 and with 40 steps between
    two rows, so the training steps themselves never wait."""
    counts = {}
    for steps in (5, 5, 40):           # the first run also does the one-time set-up
        one_row = replace(rung, steps=steps, tokens=steps * 16 * 64, eval_every=steps,
                          checkpoint_every=steps, micro_batch=4,
                          schedule=f"cosine:peak=0.003,warmup=1,steps={steps},final=0.0003")
        counts[steps] = _sync_warnings(one_row, tmp_path / f"s{steps}-{len(counts)}")
    assert counts[5] == counts[40]


def test_accumulation_matches_one_pass_on_the_gpu(rung, tmp_path):
    whole = train(rung, tmp_path / "whole")
    parts = train(replace(rung, micro_batch=4), tmp_path / "parts")
    assert np.allclose(parts["loss"], whole["loss"], rtol=2e-2)      # bf16 rounding differs


def test_compiled_rung_matches_eager(rung, tmp_path):
    eager = train(rung, tmp_path / "eager")
    compiled = train(replace(rung, compile=True), tmp_path / "compiled")
    assert np.allclose(compiled["loss"], eager["loss"], rtol=2e-2)


def test_a_crashed_rung_resumes_on_the_gpu(rung, tmp_path, monkeypatch):
    """A crash after the checkpoint at step 20 resumes to the uninterrupted run's rows."""
    import ladders.train
    from ladders.model import GPT

    clean = train(rung, tmp_path / "clean")

    class Crashing(GPT):
        calls = 0

        def forward(self, idx, targets=None):
            if self.training:
                Crashing.calls += 1
                if Crashing.calls > 25:
                    raise RuntimeError("simulated crash")
            return super().forward(idx, targets)

    monkeypatch.setattr(ladders.train, "GPT", Crashing)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(rung, tmp_path / "crashed")
    monkeypatch.setattr(ladders.train, "GPT", GPT)
    resumed = train(rung, tmp_path / "crashed", resume=True)
    assert resumed["step"].tolist() == clean["step"].tolist()
    # GPU kernels with atomics are not bit-reproducible; the same run to bf16 rounding
    assert np.allclose(resumed["loss"], clean["loss"], rtol=1e-2)
