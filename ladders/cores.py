"""CPU threads of a rung, and how many CPU rungs a ladder trains at once.

CPU results depend on the intra-op thread count (reductions split differently), so the count is
part of the rung, fixed by the spec: `ladder.threads` (default 1), or explicitly
`scaling ladder run --threads N` or the environment variable SCALING_THREADS (`explicit_threads`),
which change the numerics. The load on the machine never changes it: a rung trained alone and the
same rung trained while other processes burn every core give bit-identical losses
(tests/test_cores.py). OMP_NUM_THREADS does not decide it.

The cores are shared by running fewer rungs at once instead: a ladder on the CPU has
max(1, cores // threads) slots (`cpu_slots`), cores being this process's CPU affinity, one rung a
slot (`ladders.pool`). PyTorch gives every process one thread per core, and two such processes on
2 cores slowed each other about 10x here (OpenMP threads spin while they wait for the cores the
other holds), so ladders launched side by side share the machine through a roll of members (one
lock file a ladder, in the temporary folder; the lock dies with the process, even under SIGKILL):
each takes its share of the cores, cores // members, the earliest taking the remainder, and that
share, not the whole machine, sets its slot count. The roll lowers the slot count only, never a
rung's thread count.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path

_member = None          # this process's open, locked roll file


def cores() -> int:
    """Cores this process may run on (its CPU affinity)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:          # not Linux
        return os.cpu_count() or 1


def roll_dir() -> Path:
    folder = Path(tempfile.gettempdir()) / f"scaling-cpu-roll-{os.getuid()}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def join() -> Path:
    """Put this process on the roll (once); returns its file."""
    global _member
    if _member is None or _member.closed:
        path = roll_dir() / f"{os.getpid()}-{os.urandom(4).hex()}.lock"
        handle = open(path, "w")
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        handle.write(str(os.getpid()))
        handle.flush()
        _member = handle
    return Path(_member.name)


def members() -> list[Path]:
    """Files of the live members, earliest first; files of dead processes are removed."""
    mine = join()
    live = []
    for path in roll_dir().glob("*.lock"):
        if path == mine:
            live.append(path)
            continue
        try:
            with open(path) as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:             # held: a live process
                    live.append(path)
                    continue
                path.unlink(missing_ok=True)  # its process is gone
        except FileNotFoundError:
            continue
    def joined(path):
        try:
            return (path.stat().st_mtime_ns, path.name)
        except FileNotFoundError:
            return (0, path.name)
    return sorted(live, key=joined)


def share(total_cores: int, rank: int, count: int) -> int:
    """Cores of member `rank` (0 = earliest) of `count` on `total_cores`: an even split, the
    earliest members taking the remainder; at least 1."""
    base, extra = divmod(total_cores, max(count, 1))
    return max(1, base + (1 if rank < extra else 0))


def explicit_threads(explicit: int | None = None) -> int | None:
    """An explicit thread count that overrides `ladder.threads`: `explicit` (--threads), else
    SCALING_THREADS, else None."""
    if explicit is not None:
        return explicit
    text = os.environ.get("SCALING_THREADS", "").strip()
    if text:
        if not text.isdigit() or int(text) < 1:
            from scaling.errors import ScalingError

            raise ScalingError(f"SCALING_THREADS must be a positive integer, got {text!r}")
        return int(text)
    return None


def cpu_slots(threads: int, roll: bool = True) -> int:
    """CPU rungs of `threads` threads this ladder may train at once: its share of the cores
    (all of them alone; with `roll`, its share among the ladders on the machine) // threads,
    at least 1."""
    total = cores()
    if roll:
        live = members()
        total = share(total, live.index(join()), len(live))
    return max(1, total // max(1, threads))


def set_threads(explicit: int | None = None, default: int = 1) -> int:
    """Set PyTorch's intra-op threads to `explicit_threads(explicit)`, else `default`; returns
    the count in use. The same count on any load: the numerics do not depend on it."""
    import torch

    count = explicit_threads(explicit) or default
    if count != torch.get_num_threads():
        torch.set_num_threads(count)
    return torch.get_num_threads()
