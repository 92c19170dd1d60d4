"""Slurm ladders (ladders/slurm.py, ladders/slurm_job.py, ladders/status.py) through submitit's
real SlurmExecutor against a fake Slurm (tests/fake_slurm/: sbatch, srun, sacct, squeue,
scontrol that log their calls and run the jobs on this machine), and the [cluster] checks."""

import json
import os
import socket
import subprocess
import sys
import time

import pandas as pd
import pytest

from conftest import ROOT
from scaling.cli import main

pytest.importorskip("submitit")
pytest.importorskip("torch")

FAKE = ROOT / "tests" / "fake_slurm"

SPEC = """
[ladder]
name = "sl"
context = 16
batch_size = 4
eval_every = 5
eval_batches = 1
checkpoint_every = 5
min_steps = 1                   # a smoke test
seeds = [0, 1]                  # two stable runs: a job array of 2, each with its branches
{ladder}
[data]
corpus = "stdlib"
max_bytes = 100_000
[model]
sizes = [{{ width = 16, depth = 1, heads = 2 }}]
[optimizer]
lr = 3e-3
warmup_fraction = 0.0
schedules = ["wsd"]
[branches]
absolute = [1280, 2560]         # 20 and 40 steps of 64 tokens: branch points 15 and 30
decay_fraction = 0.25
[cluster]
{cluster}
"""


def write_spec(folder, ladder="", cluster=""):
    path = folder / "sl.toml"
    path.write_text(SPEC.format(ladder=ladder, cluster=cluster))
    return path


def run(capsys, *args):
    """`scaling ARGS` in this process: (exit status, stdout, stderr)."""
    capsys.readouterr()
    status = main([str(arg) for arg in args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


# --- [cluster] and its flags: one line, exit 2, at --dry-run -------------------------------------

@pytest.mark.parametrize("flags, cluster, message", [
    (["--time", "1:xx"], "", "--time: cluster.time: cannot read '1:xx' as a time limit"),
    (["--time", "0"], "", "--time: cluster.time must be a positive number of minutes, got 0"),
    (["--gpus-per-node", "-1"], "", "--gpus-per-node: cluster.gpus_per_node must be an integer "
                                    "of at least 0, got -1"),
    (["--sbatch=reservation=x"], "", "--sbatch: 'reservation=x' is not an sbatch option"),
    (["--sbatch=--dependency=afterok:1"], "", "--dependency is set by the ladder's submission"),
    (["--mem", "64Q"], "", "--mem: cluster.mem must be a size such as \"64G\""),
    ([], 'time = "2-xx"', "sl.toml: cluster.time: cannot read '2-xx' as a time limit"),
    ([], "time = true", "sl.toml: cluster.time must be an integer or a string, got True"),
    ([], "gpus = 1", "sl.toml: unknown key cluster.gpus; known: account, array_parallelism"),
    ([], 'extra_sbatch = ["#SBATCH --mail-type END"]', "cluster.extra_sbatch[0]: "
                                                       "'#SBATCH --mail-type END' is not an"),
    ([], "nodes = 2", "cluster.nodes = 2: a rung runs on one node"),
])
def test_cluster_errors_are_one_line_at_dry_run(tmp_path, capsys, flags, cluster, message):
    spec = write_spec(tmp_path, cluster=cluster)
    status, out, err = run(capsys, "ladder", "run", spec, "--slurm", tmp_path / "jobs",
                           "--dry-run", *flags)
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("scaling: error: ") and message in err, err


def test_a_time_limit_below_a_rungs_estimate_needs_requeue_chains(tmp_path, capsys):
    """At 1e4 FLOP/s the longest rung, the 30-step stable run (its own FLOPs as --dry-run lists
    them, plus its output head's memory traffic at the CPU's default bandwidth), takes 160.7 min:
    the error names it and both times."""
    spec = write_spec(tmp_path, ladder="flops_per_second = 1e4")
    status, _, err = run(capsys, "ladder", "run", spec, "--slurm", tmp_path / "jobs",
                         "--dry-run", "--time", "01:00:00")
    assert status == 2 and err.count("\n") == 1
    assert "cluster.time (--time) = 60 min is shorter than rung sl-w16-d1-v256-stable-wsd-s0's " \
           "estimated 160.7 min on cpu" in err, err
    # allowed as a chain of requeues: 3 requeues give 4 x 60 min >= 160.7 min
    status, out, _ = run(capsys, "ladder", "run", spec, "--slurm", tmp_path / "jobs",
                         "--dry-run", "--time", "60", "--allow-requeue-chains")
    assert status == 0 and "#SBATCH --time=60" in out
    status, _, err = run(capsys, "ladder", "run", spec, "--slurm", tmp_path / "jobs",
                         "--dry-run", "--time", "60", "--allow-requeue-chains",
                         "--max-requeues", "1")
    assert status == 2 and "2 jobs of 60 min cannot cover rung sl-w16-d1-v256-stable-wsd-s0's "\
                           "estimated 160.7 min" in err, err


def test_dry_run_prints_the_sbatch_lines_of_each_kind_of_job(tmp_path, capsys):
    """--device cuda is not resolved on the submitting machine (which has no GPU here); the
    spec's [cluster] keys, overridden by flags, become #SBATCH lines."""
    spec = write_spec(tmp_path, cluster='partition = "spec"\nqos = "low"\ntime = "1-00:00:30"\n'
                                        'extra_sbatch = ["--mail-type=END"]')
    status, out, _ = run(capsys, "ladder", "run", spec, "--slurm", tmp_path / "jobs",
                         "--dry-run", "--device", "cuda", "--partition", "p", "--mem", "8G",
                         "--gpus-per-node", "1", "--sbatch=--exclusive")
    assert status == 0
    first, branches = out.split("stable runs and unbranched rungs: 2 task(s)")[1].split(
        "branches (one array per stable run, after that run's task): 2 task(s)")
    for lines in (first, branches):
        for line in ("--partition=p", "--qos=low", "--time=1441", "--mem=8G",
                     "--gpus-per-node=1", "--mail-type=END", "--exclusive", "--array=0-1%2"):
            assert f"#SBATCH {line}\n" in lines + "\n", (line, lines)
    assert "--dependency" not in first and "--dependency='afterok:<stable array" in branches
    assert "about 0.0 min on cuda" in out


# --- the whole ladder through submitit's SlurmExecutor and the fake Slurm -----------------------

def wait_for_jobs(home, tasks, timeout=240):
    ended = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT"}
    deadline = time.time() + timeout
    while time.time() < deadline:
        states = {p.name: p.read_text() for p in (home / "state").glob("*")
                  if p.suffix != ".tmp"}
        if len(states) == tasks and set(states.values()) <= ended:
            return states
        time.sleep(0.2)
    logs = "".join(p.read_text()[-2000:] for p in home.glob("runner-*.log"))
    raise AssertionError(f"jobs did not end: {states}\n{logs}")


def test_a_ladder_runs_as_slurm_job_arrays_and_resumes_after_a_timeout(tmp_path, capsys,
                                                                        monkeypatch):
    from ladders.launch import run_ladder, work_dir
    from ladders.spec import expand, load_spec

    spec = write_spec(tmp_path)
    out, jobs, home = tmp_path / "sl.parquet", tmp_path / "jobs", tmp_path / "slurm"
    rungs = expand(load_spec(spec))
    stable0, stable1 = [r.run for r in rungs if r.branch_points]
    monkeypatch.setenv("PATH", f"{FAKE}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SLURM_DIR", str(home))
    monkeypatch.setenv("FAKE_SLURM_PYTHON", sys.executable)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    # the fake sends submitit's time-out signal once, when the first stable run's checkpoint is
    # written (step 5 of its 30)
    monkeypatch.setenv("FAKE_SLURM_INTERRUPT", str(work_dir(out) / stable0 / "checkpoint.pt"))

    status, printed, err = run(capsys, "ladder", "run", spec, "--out", out, "--slurm", jobs,
                               "--time", "10", "--gpus-per-node", "0", "--partition", "p",
                               "--threads", "1", "--sbatch=--mail-type=END")
    assert status == 0, err
    record = json.loads((work_dir(out) / "slurm.json").read_text())
    assert record["out"] == str(out.resolve()) and record["spec"] == str(spec.resolve())
    assert record["folder"] == str(jobs.resolve()) and set(record["jobs"]) == {r.run for r in rungs}
    assert f"scaling ladder status {out}" in printed
    first = record["jobs"][stable0].split("_")[0]
    assert record["jobs"][stable0] == f"{first}_0" and record["jobs"][stable1] == f"{first}_1"

    # the submitting process returned at once; the fake runs the jobs
    states = wait_for_jobs(home, tasks=len(rungs))
    assert set(states.values()) == {"COMPLETED"}, states
    calls = [json.loads(line) for line in (home / "calls.log").read_text().splitlines()]
    sbatches = [call["sbatch_lines"] for call in calls if call["cmd"] == "sbatch"]
    assert len(sbatches) == 3          # the stable runs' array, then one per stable run
    for lines in sbatches:
        for line in ("--time=10", "--gpus-per-node=0", "--partition=p", "--mail-type=END",
                     "--array=0-1%2"):
            assert line in lines, (line, lines)
    assert not any(line.startswith("--dependency") for line in sbatches[0])
    assert f"--dependency=afterok:{first}_0" in sbatches[1]
    assert f"--dependency=afterok:{first}_1" in sbatches[2]
    for branch in (r for r in rungs if r.parent):
        index = 1 if branch.parent == stable0 else 2
        assert record["jobs"][branch.run].split("_")[0] == str(int(first) + index)
    # the time-out: submitit's checkpoint() requeued the job, which resumed from checkpoint.pt
    assert {"cmd": "scontrol", "args": ["requeue", f"{first}_0"]} in calls
    worker = json.loads((work_dir(out) / stable0 / "worker.json").read_text())
    assert worker["job_id"] == f"{first}_0" and worker["device"] == "cpu" and worker["resume"]
    assert 5 <= worker["resumed_from"] < 30 and worker["resumed_from"] % 5 == 0
    assert worker["pid"] != os.getpid()

    # the last job wrote the table: the same as a local sequential run's
    farmed = pd.read_parquet(out).sort_values(["run", "step"], ignore_index=True)
    local = run_ladder(spec, tmp_path / "local.parquet", device="cpu", progress=False,
                       threads=1).sort_values(["run", "step"], ignore_index=True)
    assert list(farmed["run"]) == list(local["run"]) and list(farmed["step"]) == \
        list(local["step"])
    for column in ("loss", "train_loss", "flops", "tokens"):
        assert farmed[column].to_numpy() == pytest.approx(local[column].to_numpy(), rel=1e-6)

    status, printed, _ = run(capsys, "ladder", "status", out, "--json")
    report = json.loads(printed)
    assert report["counts"] == {"done": len(rungs)}
    for row in report["rungs"]:
        assert row["state"] == "done" and row["job"] == record["jobs"][row["run"]]
        assert row["slurm"] == "COMPLETED" and row["step"] == row["steps"]
    status, printed, _ = run(capsys, "ladder", "status", out)
    assert status == 0 and f"{len(rungs)} rungs: {len(rungs)} done" in printed
    assert f"{record['jobs'][stable0]}  COMPLETED" in printed


# --- status of a local ladder's folder ------------------------------------------------------------

def test_status_of_a_local_ladder_folder(tmp_path, capsys):
    """done (status.json), diverged, running (worker.json's pid alive on this host), failed
    (its pid gone, no status.json), queued (nothing started; a rung of --spec without folder)."""
    from ladders.launch import work_dir
    from ladders.spec import expand, load_spec
    from scaling.data.table_files import write_runs

    spec = write_spec(tmp_path)
    rungs = expand(load_spec(spec))
    out = tmp_path / "local.parquet"
    work = work_dir(out)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    host = socket.gethostname()
    for rung, how in zip(rungs, ("done", "diverged", "running", "failed", "queued")):
        folder = work / rung.run
        folder.mkdir(parents=True)
        (folder / "rung.json").write_text(json.dumps(rung.to_dict()))
        if how in ("done", "diverged"):
            (folder / "status.json").write_text(json.dumps({"status": how, "step": 10}))
        if how in ("running", "failed"):
            pid = os.getpid() if how == "running" else gone.pid
            (folder / "worker.json").write_text(json.dumps({"pid": pid, "host": host}))
            write_runs(pd.DataFrame({"run": [rung.run] * 2, "step": [5, 10]}),
                       folder / "rows.parquet")
    status, printed, _ = run(capsys, "ladder", "status", out, "--json", "--spec", spec)
    assert status == 0
    report = json.loads(printed)
    states = {row["run"]: (row["state"], row["step"], row["job"]) for row in report["rungs"]}
    expected = ["done", "diverged", "running", "failed", "queued", "queued"]
    assert [states[r.run][0] for r in rungs] == expected
    assert [states[r.run][1] for r in rungs] == [10, 10, 10, 10, None, None]
    assert report["counts"] == {"done": 1, "running": 1, "queued": 2, "diverged": 1,
                                "failed": 1}
    # without --spec: the rungs with folders only
    status, printed, _ = run(capsys, "ladder", "status", out)
    assert status == 0 and printed.strip().endswith(
        "5 rungs: 1 done, 1 running, 1 queued, 1 diverged, 1 failed")


def test_submitting_without_slurm_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))           # no sbatch, no srun
    status, out, err = run(capsys, "ladder", "run", write_spec(tmp_path), "--out",
                           tmp_path / "sl.parquet", "--slurm", tmp_path / "jobs")
    assert status == 2 and out == "" and err.count("\n") == 1
    assert "no Slurm here (sbatch and srun are not both on PATH)" in err
    assert not (tmp_path / "sl.rungs").exists() and not (tmp_path / "jobs").exists()


def test_status_of_a_missing_ladder_is_one_line(tmp_path, capsys):
    status, out, err = run(capsys, "ladder", "status", tmp_path / "none.parquet")
    assert status == 2 and out == "" and err.count("\n") == 1
    assert "no ladder folder" in err and "none.rungs" in err


def test_time_limits_in_slurm_forms():
    from ladders.spec import SpecError
    from ladders.spec.cluster import minutes

    assert [minutes(v, "t") for v in (90, "90", "1:30", "01:30:00", "2-0", "1-02:03",
                                      "1-02:03:04", "00:00:01")] == \
        [90, 90, 2, 90, 2880, 1563, 1564, 1]
    for bad in ("", "1:2:3:4", "x", "-5", 0, "0:00:00"):
        with pytest.raises(SpecError):
            minutes(bad, "t")
