"""CPU threads: each training process takes its share of the cores."""

import subprocess
import sys
import time
from pathlib import Path

import pytest

from ladders import cores

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("total, count, shares", [
    (2, 1, [2]), (2, 2, [1, 1]), (2, 3, [1, 1, 1]), (8, 3, [3, 3, 2]), (16, 4, [4, 4, 4, 4]),
])
def test_even_split_earliest_take_the_remainder(total, count, shares):
    assert [cores.share(total, rank, count) for rank in range(count)] == shares


MEMBER = """
import sys, time
from ladders import cores
print(cores.threads_for_this_process(), flush=True)
sys.stdin.readline()                       # hold the roll until told
print(cores.threads_for_this_process(), flush=True)
"""


def test_processes_side_by_side_share_the_cores(tmp_path, monkeypatch):
    """Two processes on the roll get half the cores each; alone, one gets them all."""
    env = {"PATH": "/usr/bin:/bin", "TMPDIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    count = cores.cores()
    first = subprocess.Popen([sys.executable, "-c", MEMBER], env=env, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    assert int(first.stdout.readline()) == count              # alone
    second = subprocess.Popen([sys.executable, "-c", MEMBER], env=env, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    second_share = int(second.stdout.readline())
    assert second_share == max(1, count // 2)                  # joined later: the smaller half
    first.stdin.write("\n")
    first.stdin.flush()
    assert int(first.stdout.readline()) == cores.share(count, 0, 2)  # its next rung shares
    first.wait(timeout=30)
    time.sleep(0.1)
    second.stdin.write("\n")
    second.stdin.flush()
    assert int(second.stdout.readline()) == count              # the first has gone
    second.wait(timeout=30)


def test_an_explicit_count_wins(monkeypatch):
    monkeypatch.setenv("SCALING_THREADS", "3")
    assert cores.threads_for_this_process() == 3
    assert cores.threads_for_this_process(explicit=1) == 1
    monkeypatch.setenv("SCALING_THREADS", "many")
    with pytest.raises(ValueError, match="SCALING_THREADS must be a positive integer"):
        cores.threads_for_this_process()
    monkeypatch.delenv("SCALING_THREADS")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert cores.threads_for_this_process() is None             # PyTorch's own setting stays
