"""A node full of rungs (ladders/pool.py): K worker processes train K rungs at once.

The table of a pooled ladder must equal the sequential one's row for row (only the timing
columns may differ), branches must start before every stable run has ended, a worker killed
with SIGKILL must end the ladder with a one-line error that --resume then continues to the same
table, and a rung split over two CPU processes (gloo DDP) must match the single-process rung.
"""

import datetime
import json
import os
import signal
import threading
import time

import pandas as pd
import pytest

import cli
from ladders import cores
from ladders.launch import run_ladder, work_dir
from ladders.spec import SpecError, expand, load_spec

# Columns that may differ between K = 1 and K > 1: the training wall time.
TIMING = ["seconds"]

SPEC = """
[ladder]
name = "pool"
context = 16
batch_size = 4
eval_every = 10
eval_batches = 1
checkpoint_every = 10
min_steps = 1                   # a smoke test
{extra}
[data]
corpus = "stdlib"
max_bytes = 100_000
[model]
sizes = [{sizes}]
[optimizer]
lr = 3e-3
warmup_fraction = 0.0
schedules = ["wsd"]
[branches]
per_param = [0.125, 0.25]       # w16: 15 and 30 steps; w32: 41 and 82 steps
decay_fraction = 0.25
"""
SMALL, LARGE = "{ width = 16, depth = 1, heads = 2 }", "{ width = 32, depth = 1, heads = 2 }"


def write_spec(folder, sizes=(SMALL, LARGE), extra="", name="pool.toml"):
    path = folder / name
    path.write_text(SPEC.format(sizes=", ".join(sizes), extra=extra))
    return path


def ordered(table: pd.DataFrame) -> pd.DataFrame:
    """Rows by (run, step); text columns as objects with None for missing (a column that is
    null in the first rung's rows reads back as object, else as str: the order of ending)."""
    table = table.sort_values(["run", "step"]).reset_index(drop=True)
    for column in table.columns:
        if not pd.api.types.is_numeric_dtype(table[column]):
            values = table[column].astype(object)
            table[column] = values.where(values.notna(), None)
    return table


def assert_same_table(table, reference, rtol=1e-6):
    a, b = ordered(table), ordered(reference)
    assert a[["run", "step"]].values.tolist() == b[["run", "step"]].values.tolist()
    for column in ("loss", "train_loss"):
        pd.testing.assert_series_equal(a[column], b[column], check_exact=False, rtol=rtol)
    if rtol <= 1e-6:
        pd.testing.assert_frame_equal(a.drop(columns=TIMING), b.drop(columns=TIMING),
                                      check_exact=False, rtol=rtol, check_dtype=False)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The ladder trained one rung after another in this process (K = 1)."""
    folder = tmp_path_factory.mktemp("pool")
    path = write_spec(folder)
    table = run_ladder(path, folder / "k1.parquet", device="cpu", progress=False, workers=1)
    return path, table


def started(out, run) -> datetime.datetime:
    record = json.loads((work_dir(out) / run / "worker.json").read_text())
    assert set(record) == {"pid", "host", "device", "started", "job_id"}
    assert record["job_id"] is None and record["device"] == "cpu"
    return datetime.datetime.fromisoformat(record["started"])


def ended(out, run) -> datetime.datetime:
    mtime = (work_dir(out) / run / "status.json").stat().st_mtime
    return datetime.datetime.fromtimestamp(mtime).astimezone()


@pytest.mark.slow
def test_three_workers_write_the_sequential_table_and_start_branches_early(reference, tmp_path):
    """K = 3 (K = 2 is the killed-and-resumed ladder below)."""
    path, table = reference
    out = tmp_path / "k3.parquet"
    pooled = run_ladder(path, out, device="cpu", progress=False, workers=3)
    assert_same_table(pooled, table)
    assert_same_table(pd.read_parquet(out), table)
    rungs = expand(load_spec(path))
    pids = {json.loads((work_dir(out) / r.run / "worker.json").read_text())["pid"]
            for r in rungs}
    assert os.getpid() not in pids and 1 < len(pids) <= 3
    # a branch of the short stable run starts while the long one still trains
    stables = [r.run for r in rungs if r.branch_points]
    last_end = max(ended(out, run) for run in stables)
    assert any(started(out, r.run) < last_end for r in rungs if r.parent is not None)


@pytest.mark.slow
def test_a_killed_worker_ends_the_ladder_in_one_line_and_resume_finishes_it(
        reference, tmp_path, capsys):
    path, table = reference
    out = tmp_path / "killed.parquet"
    long_stable = next(r for r in expand(load_spec(path)) if r.branch_points and "w32" in r.run)
    folder = work_dir(out) / long_stable.run
    killed = []

    def kill_mid_rung():
        deadline = time.time() + 120
        while time.time() < deadline:
            if (folder / "checkpoint.pt").exists() and (folder / "worker.json").exists():
                pid = json.loads((folder / "worker.json").read_text())["pid"]
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
            time.sleep(0.005)

    killer = threading.Thread(target=kill_mid_rung)
    killer.start()
    code = cli.main(["ladder", "run", str(path), "--out", str(out), "--device", "cpu",
                     "--workers", "2", "--no-progress"])
    killer.join()
    err = capsys.readouterr().err
    assert killed and code == 2
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert long_stable.run in err and f"pid {killed[0]}" in err and "SIGKILL" in err
    assert "--resume" in err
    assert not (folder / "status.json").exists()
    partial = pd.read_parquet(out)               # what finished is in the table
    assert long_stable.run in set(partial["run"]) and len(partial) < len(table)
    # `scaling ladder status` reads the pool's folder: the killed rung failed (worker.json's
    # process is gone, no status.json), what ended is done, and after --resume every rung is
    assert cli.main(["ladder", "status", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    states = {row["run"]: row["state"] for row in report["rungs"]}
    assert states[long_stable.run] == "failed"
    assert {run for run, state in states.items() if state == "done"} == \
        {run for run in set(partial["run"]) if (work_dir(out) / run / "status.json").exists()}
    resumed = run_ladder(path, out, device="cpu", progress=False, resume=True, workers=2)
    assert_same_table(resumed, table)
    assert not resumed.duplicated(["run", "step"]).any()
    assert cli.main(["ladder", "status", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["counts"] == {"done": len(expand(load_spec(path)))}


@pytest.mark.slow
def test_a_rung_split_over_two_cpu_processes_matches_one(reference, tmp_path):
    """devices_per_rung = 2 on the CPU: two processes of one thread, gloo DDP, each computing
    half the batch. The reduction order differs (each rank's mean, then the all-reduce), so
    the losses match to 1e-5, not bit for bit."""
    if cores.cores() < 2:
        pytest.skip("needs 2 cores: two slots of ladder.threads = 1")
    path, table = reference
    small = write_spec(tmp_path, sizes=(SMALL,), extra="devices_per_rung = 2")
    out = tmp_path / "ddp.parquet"
    split = run_ladder(small, out, device="cpu", progress=False, workers=None)
    assert_same_table(split, table[table["run"].str.contains("-w16-")], rtol=1e-5)


def test_dry_run_prints_the_pool_and_rejects_too_many_devices(tmp_path, capsys):
    path = write_spec(tmp_path, sizes=(SMALL,), extra="threads = 1")
    assert cli.main(["ladder", "run", str(path), "--dry-run", "--workers", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    total = cores.cores()
    assert f"pool: 3 workers × 1 thread ({total} cores), devices_per_rung 1" in lines
    present = total // 2 or 1
    too_many = write_spec(tmp_path, sizes=(SMALL,), extra="threads = 2\ndevices_per_rung = 9",
                          name="many.toml")
    assert cli.main(["ladder", "run", str(too_many), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ladder.devices_per_rung = 9" in err
    assert f"{present} slot(s) of ladder.threads = 2" in err and str(too_many) in err
    with pytest.raises(SpecError, match="devices_per_rung"):
        run_ladder(too_many, None, device="cpu", dry_run=True)


def test_workers_below_one_is_a_one_line_error(tmp_path, capsys):
    path = write_spec(tmp_path, sizes=(SMALL,))
    assert cli.main(["ladder", "run", str(path), "--out", str(tmp_path / "x.parquet"),
                     "--workers", "0"]) == 2
    assert "--workers must be at least 1, got 0" in capsys.readouterr().err
