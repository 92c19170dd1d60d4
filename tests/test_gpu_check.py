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
    assert stages["ladder"]["rungs"] == 20 and stages["ladder"]["diverged_runs"] == 0
    points = stages["backtest"]["points"]
    assert len(points) == 3 and all(abs(p["rel_error"]) < 0.2 for p in points)
    assert "backtest: mean |error|" in result.stdout
