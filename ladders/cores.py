"""CPU threads for training processes that share one machine.

PyTorch gives every process one intra-op thread per core. Two such processes on 2 cores slowed
each other about 10x here (OpenMP threads spin while they wait for the cores the other process
holds). So each training process on the CPU joins a machine-wide roll of members (one lock file a
process, in the temporary folder; the lock dies with the process, even under SIGKILL) and takes
its share of the cores: cores // members, the earliest members taking the remainder, at least 1.

The share is set when a rung starts, never during one: CPU results depend on the thread count
(reductions split differently), so a rung keeps one count from start to end. Ladders launched
side by side therefore settle to their shares from their next rung on.

An explicit count wins: `scaling ladder run --threads N`, the environment variable
SCALING_THREADS, or OMP_NUM_THREADS (then PyTorch's own setting is left alone).
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
    """Threads of member `rank` (0 = earliest) of `count` on `total_cores`: an even split, the
    earliest members taking the remainder; at least 1."""
    base, extra = divmod(total_cores, max(count, 1))
    return max(1, base + (1 if rank < extra else 0))


def threads_for_this_process(explicit: int | None = None) -> int | None:
    """The intra-op thread count this process should use now, or None to leave PyTorch's."""
    if explicit is not None:
        return explicit
    text = os.environ.get("SCALING_THREADS", "").strip()
    if text:
        if not text.isdigit() or int(text) < 1:
            from scaling.errors import ScalingError

            raise ScalingError(f"SCALING_THREADS must be a positive integer, got {text!r}")
        return int(text)
    if os.environ.get("OMP_NUM_THREADS"):
        return None
    roll = members()
    return share(cores(), roll.index(join()), len(roll))


def set_threads(explicit: int | None = None) -> int:
    """Set PyTorch's intra-op threads to this process's share; returns the count in use."""
    import torch

    count = threads_for_this_process(explicit)
    if count is not None and count != torch.get_num_threads():
        torch.set_num_threads(count)
    return torch.get_num_threads()
