"""The ladder launcher (ladders/launch.py): its options (shared by `scaling ladder run` and
`python -m ladders.launch`), one-line errors, the dry-run table and the compute summary."""

import subprocess
import sys

import pandas as pd
import pytest

from conftest import ROOT
from ladders.launch import add_run_arguments, compute_summary, dry_run_table, work_dir
from scaling.output.console import OneLineParser

SPEC = ROOT / "ladders" / "specs" / "cpu-tiny.toml"


def test_both_entry_points_take_the_same_options():
    parser = OneLineParser(prog="test")
    add_run_arguments(parser)
    args = parser.parse_args([str(SPEC), "--out", "x.parquet", "--device", "cpu", "--resume",
                              "--no-progress"])
    assert (args.spec, args.out, args.device, args.resume, args.dry_run, args.slurm,
            args.no_progress) == (str(SPEC), "x.parquet", "cpu", True, False, None, True)


def test_work_dir_sits_beside_the_table(tmp_path):
    assert work_dir(tmp_path / "out" / "ladder.parquet") == tmp_path / "out" / "ladder.rungs"


def test_python_dash_m_ladders_launch_dry_run_and_errors(tmp_path):
    done = subprocess.run([sys.executable, "-m", "ladders.launch", str(SPEC), "--dry-run"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0].split()[:3] == ["run", "params", "params_nonembed"]
    assert lines[-1].startswith("compute: ") and "ratio 0.63" in lines[-1]
    for argv, message in ((["--dry-run"], "the following arguments are required: SPEC"),
                          ([str(SPEC)], "--out PATH is required"),
                          ([str(tmp_path / "none.toml"), "--dry-run"], "no such spec file")):
        done = subprocess.run([sys.executable, "-m", "ladders.launch", *argv], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and message in done.stderr, done.stderr
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_dry_run_table_totals_rungs_flops_and_time():
    rows = [{"run": "a", "params": 1000, "params_nonembed": 800, "tokens": 1e6, "steps": 100,
             "flops": 6e9, "flops_own": 6e9, "seconds": 60.0, "stable": False},
            {"run": "b", "params": 2000, "params_nonembed": 1600, "tokens": 2e6, "steps": 200,
             "flops": 2.4e10, "flops_own": 2.4e10, "seconds": 180.0, "stable": False}]
    text = dry_run_table(rows, "cpu")
    assert text.splitlines()[-1] == "2 rungs, 3e+10 FLOPs, about 4.0 min on cpu"
    assert "own flops" not in text and "compute:" not in text


def test_compute_summary_counts_each_runs_last_row():
    table = pd.DataFrame({
        "run": ["stable", "stable", "branch-1", "branch-2"],
        "step": [50, 100, 60, 120],
        "flops": [5e12, 1e13, 6e12, 1.2e13],
        "flops_own": [5e12, 1e13, 1e12, 2e12],
        "stable": [True, True, False, False]})
    summary = compute_summary(table)
    assert summary["spent"] == pytest.approx(1e13 + 1e12 + 2e12)
    assert summary["stable"] == pytest.approx(1e13)
    assert summary["dedicated"] == pytest.approx(6e12 + 1.2e13)
    assert summary["ratio"] == pytest.approx(13 / 18)
