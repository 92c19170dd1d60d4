"""The GPU check script runs here: its plan without a GPU, and every stage at toy size on the CPU."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_dry_run_prints_the_plan_and_the_ladder():
    result = subprocess.run([sys.executable, "bench/gpu_check.py", "--dry-run"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "123,587,328 parameters" in result.stdout            # GPT-2 small at V = 50304
    assert "25 rungs" in result.stdout and "ratio 0.63" in result.stdout
    assert "gpu-check-w320-d5-v256-16tpp-wsd-s0" in result.stdout
    assert "max-autotune-no-cudagraphs" in result.stdout
    assert "smallest rung: width 128, depth 2" in result.stdout


@pytest.mark.slow
def test_smoke_runs_every_stage_and_writes_one_summary(tmp_path):
    out = tmp_path / "gpu-check.json"
    result = subprocess.run([sys.executable, "bench/gpu_check.py", "--smoke", "--out", str(out)],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(out.read_text())
    stages = summary["stages"]
    assert list(stages) == ["card", "tests", "throughput", "ladder", "backtest"]
    assert all(stage["ok"] for stage in stages.values())
    assert stages["tests"]["skipped"] == 5                      # no GPU here
    assert stages["throughput"]["ours_tokens_per_s"] > 0 and stages["throughput"]["ratio"] > 0
    # --compare on the CPU: the other head loss only (compile modes need CUDA and --compile)
    (variant,) = stages["throughput"]["variants"]
    assert variant["name"] == "loss chunked" and variant["tokens_per_s"] > 0
    smallest = stages["throughput"]["smallest"]                  # the toy ladder's smallest rung
    # batch: the "olmo" recipe's for that rung (the spec's optimizer.recipe), not ladder.batch_size
    assert (smallest["width"], smallest["depth"], smallest["batch"]) == (32, 1, 25)
    assert smallest["ours_tokens_per_s"] > 0
    assert stages["ladder"]["rungs"] == 20 and stages["ladder"]["diverged_runs"] == 0
    assert stages["ladder"]["steps_per_second"] == pytest.approx(
        stages["ladder"]["steps"] / stages["ladder"]["training_seconds"])
    assert stages["ladder"]["steps"] > 20 * 27
    points = stages["backtest"]["points"]
    assert len(points) == 3 and all(abs(p["rel_error"]) < 0.2 for p in points)
    assert "backtest: mean |error|" in result.stdout


def test_own_steps_and_seconds_take_a_branchs_prefix_off():
    """A branch's seconds count from step 0: the stable run's seconds at the branch point
    (interpolated between its rows) come off, as do the branch point's steps."""
    import pandas as pd

    sys.path.insert(0, str(ROOT / "bench"))
    from gpu_check import own_steps_and_seconds

    rows = pd.DataFrame({"run": ["s", "s", "b", "b"], "step": [10, 20, 20, 25],
                         "seconds": [1.0, 2.0, 2.4, 3.0], "parent": [None, None, "s", "s"],
                         "branch_step": [0, 0, 15, 15]})
    assert own_steps_and_seconds(rows) == (20 + 10, pytest.approx(2.0 + 3.0 - 1.5))
    plain = rows[rows["run"] == "s"].drop(columns=["parent", "branch_step"])
    assert own_steps_and_seconds(plain) == (20, 2.0)
