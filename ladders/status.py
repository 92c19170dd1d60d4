"""`scaling ladder status OUT [--json] [--collect]`: where every rung of a ladder stands, read
from its folder `<out stem>.rungs/` (local, pooled or Slurm runs alike).

The rungs are those of the spec named in `slurm.json` (written by `ladders.slurm.submit`), or
of `--spec SPEC`, else those found in the rung folders (`<run>/rung.json`). Each rung's state:

    done, diverged   its status.json says so
    running          started (worker.json) and not ended: on this host, its pid is alive; under
                     Slurm, sacct says RUNNING (a job on another node that sacct cannot tell
                     about counts as running)
    failed           started and gone without a status.json (this host: the pid is dead;
                     Slurm: sacct says FAILED, TIMEOUT, CANCELLED, OUT_OF_MEMORY, NODE_FAIL, or
                     COMPLETED without a status.json)
    queued           not started (sacct PENDING or REQUEUED, or nothing at all)

with the step it reached (its status.json, else its last row in rows.parquet), its Slurm job id
(slurm.json) and, where `sacct` answers, the job's Slurm state. `--collect` rewrites `--out` from
every rung's rows (atomically, under the lock the jobs take for the same), which the last Slurm
job to end does by itself.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pandas as pd

from ladders.checkpoints import status as ended_status
from ladders.launch import collect, work_dir
from ladders.spec import SpecError, expand, load_spec
from scaling.errors import ScalingError

STATES = ("done", "running", "queued", "diverged", "failed")
_SLURM_FAILED = {"FAILED", "TIMEOUT", "CANCELLED", "OUT_OF_MEMORY", "NODE_FAIL", "BOOT_FAIL",
                 "DEADLINE", "PREEMPTED", "COMPLETED"}
_SLURM_QUEUED = {"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING", "SUSPENDED"}


def _json(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def ladder_rungs(work: Path, slurm: dict | None, spec=None) -> list[tuple[str, int | None]]:
    """(run, steps) of every rung: the spec's (slurm.json's or `spec`), then any other rung
    folder's, in the order the spec lists them."""
    rungs = []
    path = spec or (slurm or {}).get("spec")
    if path:
        try:
            rungs = [(rung.run, rung.steps) for rung in expand(load_spec(path))]
        except SpecError:
            if spec:                # the user's --spec: say what is wrong with it
                raise
            rungs = []              # slurm.json's spec moved or changed: the folders tell
    known = {run for run, _ in rungs}
    for saved in sorted(work.glob("*/rung.json")):
        record = _json(saved) or {}
        run = record.get("run", saved.parent.name)
        if run not in known:
            rungs.append((run, record.get("steps")))
            known.add(run)
    for run in (slurm or {}).get("jobs", {}):
        if run not in known:
            rungs.append((run, None))
            known.add(run)
    return rungs


def sacct_states(job_ids) -> dict[str, str]:
    """{job id: Slurm state} from sacct, for the jobs it knows; {} without sacct."""
    jobs = sorted({str(job).split("_")[0] for job in job_ids if job})
    if not jobs or shutil.which("sacct") is None:
        return {}
    command = ["sacct", "-o", "JobID,State", "--parsable2"]
    for job in jobs:
        command += ["-j", job]
    try:
        text = subprocess.run(command, capture_output=True, text=True, timeout=60,
                              check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    from submitit.slurm.slurm import SlurmInfoWatcher

    info = SlurmInfoWatcher().read_info(text)
    return {job: (stats.get("State") or "").split(" ")[0] for job, stats in info.items()}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def _last_step(folder: Path) -> int | None:
    try:
        steps = pd.read_parquet(folder / "rows.parquet", columns=["step"])["step"]
    except Exception:           # absent, or being replaced: pyarrow's errors vary
        return None
    return int(steps.max()) if len(steps) else None


def rung_state(folder: Path, slurm_state: str | None) -> str:
    """queued / running / done / diverged / failed (module docstring)."""
    ended = ended_status(folder)
    if ended is not None:
        return "diverged" if ended.get("status") == "diverged" else "done"
    if slurm_state in _SLURM_FAILED:
        return "failed"
    if slurm_state == "RUNNING":
        return "running"
    worker = _json(folder / "worker.json")
    if worker is None or slurm_state in _SLURM_QUEUED:
        return "queued"
    if worker.get("host") == socket.gethostname() and isinstance(worker.get("pid"), int):
        return "running" if _alive(worker["pid"]) else "failed"
    return "running"            # started elsewhere, no end recorded, nothing to ask


def ladder_status(out, spec=None) -> dict:
    """{"out", "work", "slurm" (slurm.json or None), "rungs": [{run, state, step, steps,
    job, slurm}], "counts": {state: n}}."""
    work = work_dir(out)
    if not work.is_dir():
        raise ScalingError(f"{out}: no ladder folder {work}: nothing was run or submitted with "
                           "this --out")
    slurm = _json(work / "slurm.json")
    jobs = (slurm or {}).get("jobs", {})
    states = sacct_states(jobs.values())
    rows = []
    for run, steps in ladder_rungs(work, slurm, spec):
        folder, job = work / run, jobs.get(run)
        ended = ended_status(folder) or {}
        step = ended.get("step") if ended.get("step") is not None else _last_step(folder)
        rows.append({"run": run, "state": rung_state(folder, states.get(job)),
                     "step": step, "steps": steps, "job": job, "slurm": states.get(job)})
    counts = {state: sum(row["state"] == state for row in rows) for state in STATES}
    return {"out": str(out), "work": str(work), "slurm": slurm, "rungs": rows,
            "counts": {state: n for state, n in counts.items() if n}}


def status_text(report: dict) -> str:
    from scaling.output.format import table

    slurm = report["slurm"]
    head = f"{report['out']}: ladder in {report['work']}"
    if slurm:
        head += f" (submitted to Slurm {slurm.get('submitted')}, logs in {slurm.get('folder')})"
    body = [(row["run"], row["state"],
             "-" if row["step"] is None else f"{row['step']}"
             + ("" if row["steps"] is None else f"/{row['steps']}"),
             row["job"] or "-", row["slurm"] or "-") for row in report["rungs"]]
    counts = ", ".join(f"{n} {state}" for state, n in report["counts"].items())
    return (head + "\n" + table(("run", "state", "step", "job", "sacct"), body, right=("step",))
            + f"\n{len(report['rungs'])} rungs: {counts or 'none'}")


@contextlib.contextmanager
def collect_lock(work: Path):
    """An exclusive lock for collecting the ladder's table: jobs that end together collect in
    turn, so the last one writes every rung's rows."""
    work.mkdir(parents=True, exist_ok=True)
    with open(work / ".collect.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def command(args) -> int:
    """`scaling ladder status OUT`: print the report (or its JSON); `--collect` first writes the
    table."""
    report = ladder_status(args.out, args.spec)
    if args.collect:
        with collect_lock(Path(report["work"])):
            table = collect(args.out, [SimpleNamespace(run=row["run"])
                                       for row in report["rungs"]])
        if table is None:
            raise ScalingError(f"{args.out}: no rung has written a row yet: nothing to collect")
        report["collected"] = {"rows": len(table), "runs": int(table["run"].nunique())}
    if args.as_json:
        print(json.dumps(report, indent=1))
        return 0
    print(status_text(report))
    if args.collect:
        print(f"wrote {report['collected']['rows']} rows of {report['collected']['runs']} runs "
              f"to {args.out}")
    return 0


def add_arguments(parser) -> None:
    parser.add_argument("out", metavar="OUT", help="the ladder's run table (--out of `scaling "
                        "ladder run`); its rungs are in <OUT stem>.rungs/")
    parser.add_argument("--spec", metavar="SPEC", help="the ladder's spec, to list the rungs "
                        "not started yet (slurm.json names it for a Slurm ladder)")
    parser.add_argument("--json", dest="as_json", action="store_true",
                        help="the report as JSON")
    parser.add_argument("--collect", action="store_true",
                        help="first rewrite OUT from every rung's rows (atomically)")
