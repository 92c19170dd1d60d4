"""A node full of rungs: K worker processes train K rungs at once, one per slot.

`scaling ladder run` on one machine fills it: a slot is `ladder.devices_per_rung` GPUs on CUDA
(`torch.cuda.device_count() // devices_per_rung` slots), or `ladder.threads` cores on the CPU
(`ladders.cores.cpu_slots`, // devices_per_rung). `--workers K` overrides the count. Each slot
is a worker process (multiprocessing "spawn"; a group of devices_per_rung processes joined by
DDP, gloo on the CPU and nccl on CUDA, when a rung is split over several devices) that imports
torch, sets its device (torch.cuda.set_device) or its threads once, and then trains the rungs
the parent gives it with `ladders.train.train_rung`, exactly as a sequential ladder would.

The parent schedules. Stable runs and unbranched rungs are ready at once; a branch as soon as its
stable run has written `branch-<branch_step>.pt` (or has ended, or the branch has its own
checkpoint to resume from). Among ready rungs, stable runs go first, then the spec's order.
After every rung that ends the parent rewrites the run table (`ladders.launch.collect`,
atomic). A rung that raises, or a worker that dies (kill -9), stops new starts: the running
rungs finish, the table is written, and the parent raises a one-line ScalingError naming the rung
(`--resume` continues it). Workers die with the parent (PR_SET_PDEATHSIG on Linux). On a
terminal only the parent's bar (rungs) shows; in a log each rung's plain progress lines too.

Messages between parent and workers are JSON (the rung's dict; "done" or the one-line error).
A worker writes `<work>/<run>/worker.json` ({"pid", "host", "device", "started", "job_id"})
when it starts a rung (`write_worker_record`).
"""

from __future__ import annotations

import datetime
import json
import os
import signal
import socket
import time
import traceback
from dataclasses import dataclass, field
from multiprocessing import connection, get_context
from pathlib import Path

from scaling.errors import ScalingError
from scaling.output.atomic import write_text


@dataclass
class Layout:
    """The pool of one ladder: `workers` slots of `per_rung` devices each."""

    device: str                   # "cpu" or "cuda"
    workers: int
    per_rung: int                 # devices (processes) per rung
    threads: int                  # intra-op threads of each process (CPU)
    present: int                  # devices present: GPUs, or CPU slots of `threads` cores
    cores: int = 0

    def describe(self) -> str:
        unit = "device" if self.per_rung == 1 else "devices"
        workers = f"{self.workers} worker" + ("s" if self.workers != 1 else "")
        if self.device == "cuda":
            used = min(self.workers * self.per_rung, self.present)
            names = "cuda:0" if used == 1 else f"cuda:0-{used - 1}"
            return (f"pool: {workers} × {self.per_rung} {unit} ({names}), "
                    f"devices_per_rung {self.per_rung}")
        threads = "thread" if self.threads == 1 else "threads"
        what = f"{self.threads} {threads}" if self.per_rung == 1 else \
            f"{self.per_rung} {unit} of {self.threads} {threads}"
        return (f"pool: {workers} × {what} ({self.cores} cores), "
                f"devices_per_rung {self.per_rung}")


def layout(device: str, threads: int, per_rung: int, workers: int | None = None,
           roll: bool = True, where: str = "spec") -> Layout:
    """The pool for `device`; a SpecError when a rung needs more devices than are present.
    `workers` overrides the slot count; `roll`: lower it to this ladder's share of the cores
    among the ladders running on the machine (CPU)."""
    from ladders import cores
    from ladders.spec import SpecError

    if device == "cuda":
        import torch

        present, total = torch.cuda.device_count(), 0
        what = f"{present} CUDA device(s) are present"
    else:
        total = cores.cores()
        present = max(1, total // threads)
        what = (f"this process may use {total} core(s), {present} slot(s) of ladder.threads = "
                f"{threads}")
    if per_rung > present:
        raise SpecError(f"{where}: ladder.devices_per_rung = {per_rung} needs {per_rung} devices "
                        f"a rung, but {what}")
    if workers is None:
        slots = present if device == "cuda" or not roll else cores.cpu_slots(threads)
        workers = max(1, slots // per_rung)
    elif device == "cuda" and per_rung > 1 and workers * per_rung > present:
        raise SpecError(f"{where}: --workers {workers} × ladder.devices_per_rung = {per_rung} "
                        f"needs {workers * per_rung} GPUs, but {what}")
    return Layout(device, workers, per_rung, threads, present, total)


def write_worker_record(folder: Path, device: str, job_id: str | None = None,
                        **details) -> None:
    """`<work>/<run>/worker.json`: who trains the rung now, written by a pool's worker and by a
    Slurm job (`ladders.slurm_job`, with its job id and `details`); `scaling ladder status`
    reads it."""
    folder.mkdir(parents=True, exist_ok=True)
    record = {"pid": os.getpid(), "host": socket.gethostname(), "device": device,
              "started": datetime.datetime.now().astimezone().isoformat(timespec="milliseconds"),
              "job_id": job_id, **details}
    write_text(folder / "worker.json", json.dumps(record))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _die_with_parent() -> None:
    """Linux: SIGKILL this process when its parent dies (a killed ladder leaves no trainer)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)             # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _worker(conn, parent: int, device: str, threads: int, index: int, rank: int, world: int,
            port: int) -> None:
    """A worker process: set up torch once, then train the rungs the parent sends."""
    _die_with_parent()
    if os.getppid() != parent:                    # the parent died before the line above
        os._exit(1)
    if world > 1:
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                          WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    import torch

    if device == "cuda":            # more workers than GPUs (--workers): they share them
        number = (index * world + rank) % torch.cuda.device_count()
        torch.cuda.set_device(number)
        name = f"cuda:{number}"
    else:
        torch.set_num_threads(threads)
        name = "cpu"
    if world > 1:
        import torch.distributed as dist

        dist.init_process_group("nccl" if device == "cuda" else "gloo", rank=rank,
                                world_size=world)
    from ladders.progress import on_terminal
    from ladders.spec import Rung
    from ladders.train import train_rung

    while True:
        try:
            job = json.loads(conn.recv_bytes())
        except EOFError:
            return
        if job is None:
            return
        rung = Rung(**job["rung"])
        reply = {"run": rung.run, "rank": rank}
        try:
            if rank == 0:
                write_worker_record(Path(job["work"]) / rung.run, name)
            train_rung(rung, Path(job["work"]), device=device, resume=job["resume"],
                       progress=job["progress"] and rank == 0 and not on_terminal())
        except ScalingError as exc:
            reply["error"] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        except Exception as exc:                  # a bug: its traceback on this worker's stderr
            traceback.print_exc()
            reply["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0]
        conn.send_bytes(json.dumps(reply).encode())


@dataclass
class _Slot:
    """One slot: its processes (one per device of a rung) and the rung it trains."""

    index: int
    processes: list = field(default_factory=list)
    conns: list = field(default_factory=list)
    rung: object = None
    replies: int = 0
    error: str | None = None

    def stop(self, grace: float = 5.0) -> None:
        for conn in self.conns:
            try:
                conn.send_bytes(json.dumps(None).encode())
            except (OSError, ValueError):
                pass
        deadline = time.monotonic() + grace
        for process in self.processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
        for conn in self.conns:
            conn.close()


def _ready(rung, pending, running, work: Path, resume: bool) -> bool:
    if rung.parent is None:
        return True
    if rung.parent not in pending and rung.parent not in running:
        return True                               # ended (or failed: train_rung says why)
    if (work / rung.parent / f"branch-{rung.branch_step}.pt").exists():
        return True
    return resume and (work / rung.run / "checkpoint.pt").exists()


def run_pool(rungs, work: Path, device: str, resume: bool, shape: Layout, on_end,
             progress=None) -> None:
    """Train `rungs` in `shape.workers` slots; `on_end()` after every rung that ends (the
    parent rewrites the table there). Raises a one-line ScalingError when a rung failed or its
    worker died, after the other running rungs have finished."""
    from ladders.checkpoints import check_same_rung, status

    work = Path(work)
    if resume:          # every folder holds this spec's rung, finished ones too (one line)
        for rung in rungs:
            if (work / rung.run / "rung.json").exists():
                check_same_rung(rung, work / rung.run)
    order = {rung.run: index for index, rung in enumerate(rungs)}
    pending = {rung.run: rung for rung in rungs
               if not (resume and status(work / rung.run) is not None)}
    context = get_context("spawn")
    slots, running, failure = [], {}, None
    try:
        for index in range(min(shape.workers, max(1, len(pending)))):
            slot, port = _Slot(index), _free_port()
            for rank in range(shape.per_rung):
                mine, theirs = context.Pipe()
                process = context.Process(
                    target=_worker, name=f"ladder-worker-{index}.{rank}",
                    args=(theirs, os.getpid(), device, shape.threads, index, rank,
                          shape.per_rung, port))
                process.start()
                theirs.close()
                slot.processes.append(process)
                slot.conns.append(mine)
            slots.append(slot)
        idle = list(slots)
        while pending or running:
            if failure is None:
                ready = sorted((r for r in pending.values()
                                if _ready(r, pending, running, work, resume)),
                               key=lambda r: (not r.branch_points, order[r.run]))
                for rung in ready[:len(idle)]:
                    slot = idle.pop(0)
                    slot.rung, slot.replies, slot.error = rung, 0, None
                    message = json.dumps({"rung": rung.to_dict(), "work": str(work),
                                          "resume": resume,
                                          "progress": progress is not None}).encode()
                    for conn in slot.conns:
                        conn.send_bytes(message)
                    running[rung.run] = slot
                    del pending[rung.run]
            if not running:
                if failure is None:               # cannot happen: every branch's parent is
                    raise ScalingError(          # pending, running or ended
                        f"{work}: no rung of {sorted(pending)} can start")
                break                             # a failure: nothing more starts
            waiting = any(r.parent is not None for r in pending.values())
            busy = list(running.values())
            events = connection.wait([c for s in busy for c in s.conns]
                                     + [p.sentinel for s in busy for p in s.processes],
                                     timeout=0.05 if waiting and failure is None else None)
            for slot in busy:
                ended = _poll(slot, events)
                if ended is None:
                    continue
                run = slot.rung.run
                del running[run]
                if ended == "died":
                    failure = failure or slot.error
                    slots.remove(slot)
                    slot.stop(grace=0.0)
                else:
                    if slot.error is not None and failure is None:
                        failure = slot.error
                    idle.append(slot)
                on_end()
                if progress is not None:
                    progress.update(1)
    finally:
        for slot in slots:
            slot.stop()
    if failure is not None:
        raise ScalingError(f"{failure}; the rungs that were running finished and the table "
                           "holds every row so far: `--resume` continues the ladder")


def _poll(slot: _Slot, events) -> str | None:
    """What happened in `slot`: None (still training), "done" (every process replied; `error`
    set when the rung raised) or "died" (a process ended without replying)."""
    run = slot.rung.run
    for conn in slot.conns:
        if conn in events:
            try:
                reply = json.loads(conn.recv_bytes())
            except (EOFError, OSError):
                continue                          # its sentinel says it died
            slot.replies += 1
            if reply.get("error") and slot.error is None:
                message = reply["error"]
                slot.error = message if run in message else f"{run}: {message}"
    if slot.replies == len(slot.conns):
        return "done"
    if slot.error is not None:                    # one rank of a DDP group raised: the others
        return "died"                             # would wait for it forever
    for process in slot.processes:
        if process.sentinel in events or not process.is_alive():
            process.join(1.0)
            code = process.exitcode
            how = f"signal {signal.Signals(-code).name}" if code is not None and code < 0 \
                else f"exit code {code}"
            if slot.error is None:
                slot.error = (f"rung {run}: its worker (pid {process.pid}) died ({how}) before "
                              "the rung ended")
            return "died"
    return None
