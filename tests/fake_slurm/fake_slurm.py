"""A fake Slurm for tests/test_slurm.py: sbatch, srun, sacct, squeue, scontrol and scancel on
one machine, enough for submitit's SlurmExecutor to run its jobs for real.

Every call is logged to $FAKE_SLURM_DIR/calls.log (one JSON line: the command, its arguments
and, for sbatch, the script's #SBATCH lines). `sbatch SCRIPT` numbers the job (from 1001), marks
its tasks PENDING and starts a detached runner that runs them one at a time (a lock shared by
all jobs), each once its --dependency=afterok:<id>[_<index>] is COMPLETED (CANCELLED when it
failed), as `bash SCRIPT` with SLURM_JOB_ID, SLURM_ARRAY_JOB_ID and SLURM_ARRAY_TASK_ID set.
`scontrol requeue ID` marks a task to be run again when its process ends (SLURM_RESTART_COUNT
counts the runs). $FAKE_SLURM_INTERRUPT=PATH: the first task during which PATH is written gets
SIGUSR2 (the time-out signal submitit asks for) once, sent to the process srun started.
Standard library only.
"""

import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

HOME = Path(os.environ.get("FAKE_SLURM_DIR", "/tmp/fake-slurm"))
ENDED = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT"}


def log(command, args, **more):
    HOME.mkdir(parents=True, exist_ok=True)
    with open(HOME / "calls.log", "a") as handle:
        handle.write(json.dumps({"cmd": command, "args": args, **more}) + "\n")


def state_path(task):
    return HOME / "state" / task


def set_state(task, state):
    state_path(task).parent.mkdir(parents=True, exist_ok=True)
    temporary = state_path(task).with_suffix(".tmp")
    temporary.write_text(state)
    os.replace(temporary, state_path(task))


def get_state(task):
    try:
        return state_path(task).read_text()
    except OSError:
        return None


def options(lines):
    """{name: value or True} of "--name=value" / "--name value" / "--flag" option lines."""
    found = {}
    for line in lines:
        match = re.fullmatch(r"--([\w-]+)(?:[= ](.*))?", line.strip())
        if match:
            found[match.group(1)] = match.group(2) if match.group(2) is not None else True
    return found


def sbatch(args):
    script = Path(args[-1])
    lines = [line[len("#SBATCH"):].strip() for line in script.read_text().splitlines()
             if line.startswith("#SBATCH")]
    log("sbatch", args, sbatch_lines=lines)
    given = options(lines)
    with open(HOME / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        counter = HOME / "next_id"
        number = int(counter.read_text()) if counter.exists() else 1001
        counter.write_text(str(number + 1))
    array = given.get("array")
    tasks = None
    if array:
        first, last = array.split("%")[0].split("-")
        tasks = list(range(int(first), int(last) + 1))
    copy = HOME / "scripts" / f"{number}.sh"
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_text(script.read_text())
    job = {"id": number, "script": str(copy), "tasks": tasks, "cwd": os.getcwd(),
           "dependency": given.get("dependency"), "output": given.get("output"),
           "error": given.get("error")}
    (HOME / "jobs").mkdir(exist_ok=True)
    (HOME / "jobs" / f"{number}.json").write_text(json.dumps(job))
    for task in task_ids(job):
        set_state(task, "PENDING")
    with open(HOME / f"runner-{number}.log", "a") as errors:
        subprocess.Popen([sys.executable, __file__, "_run", str(number)], stdin=subprocess.DEVNULL,
                         stdout=errors, stderr=errors, start_new_session=True)
    print(f"Submitted batch job {number}")


def task_ids(job):
    if job["tasks"] is None:
        return [str(job["id"])]
    return [f"{job['id']}_{index}" for index in job["tasks"]]


def dependency_met(dependency):
    """True when met, False when it never will be, None while waiting."""
    if not dependency:
        return True
    kind, _, ids = dependency.partition(":")
    assert kind == "afterok", dependency
    states = []
    for ident in ids.split(":"):
        if "_" in ident:
            states.append(get_state(ident))
        else:
            states += [path.read_text() for path in (HOME / "state").glob(f"{ident}*")
                       if path.name == ident or path.name.startswith(f"{ident}_")]
    if any(state in ENDED - {"COMPLETED"} for state in states):
        return False
    return True if states and all(state == "COMPLETED" for state in states) else None


def fill(pattern, env):
    return (pattern.replace("%A", env.get("SLURM_ARRAY_JOB_ID", env["SLURM_JOB_ID"]))
            .replace("%a", env.get("SLURM_ARRAY_TASK_ID", "0"))
            .replace("%j", env["SLURM_JOB_ID"]).replace("%t", "0"))


def run(number):
    job = json.loads((HOME / "jobs" / f"{number}.json").read_text())
    for index, task in zip(job["tasks"] or [None], task_ids(job)):
        deadline = time.time() + 300
        while (met := dependency_met(job["dependency"])) is None and time.time() < deadline:
            time.sleep(0.05)
        if not met:
            set_state(task, "CANCELLED")
            continue
        with open(HOME / "run.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            run_task(job, index, task)


def run_task(job, index, task):
    env = dict(os.environ, SLURM_JOB_ID=str(job["id"] if index is None else job["id"] * 100 + index),
               SLURM_NTASKS="1", SLURM_JOB_NUM_NODES="1", SLURM_NODEID="0", SLURM_PROCID="0",
               SLURM_LOCALID="0", FAKE_SLURM_TASK=task)
    if index is not None:
        env.update(SLURM_ARRAY_JOB_ID=str(job["id"]), SLURM_ARRAY_TASK_ID=str(index))
    restarts = 0
    while True:
        env["SLURM_RESTART_COUNT"] = str(restarts)
        set_state(task, "RUNNING")
        (HOME / "pids" / task).unlink(missing_ok=True)
        out = open(fill(job["output"], env), "a") if job["output"] else subprocess.DEVNULL
        err = open(fill(job["error"], env), "a") if job["error"] else subprocess.DEVNULL
        started = time.time()
        process = subprocess.Popen(["bash", job["script"]], cwd=job["cwd"], env=env,
                                   stdout=out, stderr=err)
        while process.poll() is None:
            interrupt(task, started)
            time.sleep(0.02)
        requeue = HOME / "requeue" / task
        if requeue.exists():
            requeue.unlink()
            set_state(task, "REQUEUED")
            restarts += 1
            continue
        set_state(task, "COMPLETED" if process.returncode == 0 else "FAILED")
        return


def interrupt(task, started):
    """SIGUSR2 to the task's process once $FAKE_SLURM_INTERRUPT was written during the task."""
    target, done = os.environ.get("FAKE_SLURM_INTERRUPT"), HOME / "interrupted"
    if not target or done.exists():
        return
    try:
        written = os.stat(target).st_mtime
        pid = int((HOME / "pids" / task).read_text())
    except (OSError, ValueError):
        return
    if written >= started:
        done.write_text(task)
        os.kill(pid, signal.SIGUSR2)


def srun(args):
    """Run the command after the options, its output appended to --output / --error."""
    env, files, rest = os.environ, {}, list(args)
    while rest and rest[0].startswith("--"):
        option = rest.pop(0)
        if "=" in option:
            name, value = option[2:].split("=", 1)
            files[name] = value
        elif option in ("--output", "--error"):
            files[option[2:]] = rest.pop(0)
    for name, descriptor in (("output", 1), ("error", 2)):
        if name in files:
            handle = os.open(fill(files[name], env), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
            os.dup2(handle, descriptor)
    (HOME / "pids").mkdir(exist_ok=True)
    (HOME / "pids" / env.get("FAKE_SLURM_TASK", "none")).write_text(str(os.getpid()))
    os.execvp(rest[0], rest)


def sacct(args):
    fields, ids, header = ["JobID", "State"], [], True
    rest = list(args)
    while rest:
        option = rest.pop(0)
        if option in ("-o", "--format"):
            fields = rest.pop(0).split(",")
        elif option.startswith("--format="):
            fields = option.split("=", 1)[1].split(",")
        elif option in ("-j", "--jobs"):
            ids += rest.pop(0).split(",")
        elif option in ("-n", "--noheader"):
            header = False
    lines = ["|".join(fields)] if header else []
    for path in sorted((HOME / "state").glob("*")):
        if path.suffix == ".tmp" or not any(path.name == i or path.name.startswith(f"{i}_")
                                            for i in ids):
            continue
        values = {"JobID": path.name, "State": path.read_text(), "NodeList": "localhost"}
        lines.append("|".join(values.get(name, "") for name in fields))
    print("\n".join(lines))


def main():
    command, args = sys.argv[1], sys.argv[2:]
    if command == "_run":
        return run(int(args[0]))
    if command == "srun":
        return srun(args)
    if command == "sbatch":
        return sbatch(args)
    log(command, args)
    if command == "sacct":
        return sacct(args)
    if command == "squeue":
        for path in sorted((HOME / "state").glob("*")):
            if path.suffix != ".tmp" and path.read_text() not in ENDED:
                print(f"{path.name}|{path.read_text()}")
    if command == "scontrol" and args[:1] == ["requeue"]:
        for task in args[1].split(","):
            (HOME / "requeue").mkdir(exist_ok=True)
            (HOME / "requeue" / task).write_text("")
    return None


if __name__ == "__main__":
    main()
