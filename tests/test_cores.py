"""CPU threads: a rung's count is its spec's, whatever the load; ladders share the cores by\nslots."""

import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ladders import cores
from ladders.checkpoints import CheckpointError, check_same_rung
from ladders.spec import expand, load_spec
from ladders.train import train_rung

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("total, count, shares", [
    (2, 1, [2]), (2, 2, [1, 1]), (2, 3, [1, 1, 1]), (8, 3, [3, 3, 2]), (16, 4, [4, 4, 4, 4]),
])
def test_even_split_earliest_take_the_remainder(total, count, shares):
    assert [cores.share(total, rank, count) for rank in range(count)] == shares


MEMBER = """
import sys
from ladders import cores
from ladders.checkpoints import CheckpointError, check_same_rung
from ladders.spec import expand, load_spec
from ladders.train import train_rung
print(cores.cpu_slots(1), cores.cpu_slots(2), flush=True)
sys.stdin.readline()                       # hold the roll until told
print(cores.cpu_slots(1), flush=True)
"""


def test_ladders_side_by_side_share_the_cores_by_slots(tmp_path):
    """Two ladders on the roll get half the cores' slots each; alone, one gets them all. The
    roll changes the slot count only: a rung's threads are its spec's."""
    env = {"PATH": "/usr/bin:/bin", "TMPDIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    count = cores.cores()
    first = subprocess.Popen([sys.executable, "-c", MEMBER], env=env, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    assert first.stdout.readline().split() == [str(count), str(max(1, count // 2))]  # alone
    second = subprocess.Popen([sys.executable, "-c", MEMBER], env=env, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert int(second.stdout.readline().split()[0]) == max(1, count // 2)   # the smaller half
    first.stdin.write("\n")
    first.stdin.flush()
    assert int(first.stdout.readline()) == cores.share(count, 0, 2)
    first.wait(timeout=30)
    time.sleep(0.1)
    second.stdin.write("\n")
    second.stdin.flush()
    assert int(second.stdout.readline()) == count              # the first has gone
    second.wait(timeout=30)


def test_an_explicit_count_wins_and_omp_num_threads_does_not_decide(monkeypatch):
    monkeypatch.delenv("SCALING_THREADS", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert cores.explicit_threads() is None                     # ladder.threads decides
    assert cores.set_threads(default=1) == 1
    monkeypatch.setenv("SCALING_THREADS", "3")
    assert cores.explicit_threads() == 3
    assert cores.explicit_threads(explicit=1) == 1
    monkeypatch.setenv("SCALING_THREADS", "many")
    with pytest.raises(ValueError, match="SCALING_THREADS must be a positive integer"):
        cores.explicit_threads()


SPEC = """
[ladder]
name = "load"
context = 16
batch_size = 4
eval_every = 5
eval_batches = 1
min_steps = 1
threads = {threads}
[data]
corpus = "stdlib"
max_bytes = 100_000
[model]
sizes = [{{ width = 32, depth = 1, heads = 2 }}]
[optimizer]
lr = 3e-3
schedules = ["cosine"]
[tokens]
absolute = [1280]               # 20 steps
"""

BURN = "while True: pass"


@pytest.mark.parametrize("threads", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_losses_do_not_depend_on_the_load(tmp_path, threads):
    """A rung trained alone and the same rung trained while two processes burn both cores give
    bit-identical losses: the thread count is the rung's, whatever the load."""
    path = tmp_path / "spec.toml"
    path.write_text(SPEC.format(threads=threads))
    rung, = expand(load_spec(path))
    assert rung.threads == threads and ("threads" in rung.to_dict()) == (threads != 1)
    alone = train_rung(rung, tmp_path / "alone")
    burners = [subprocess.Popen([sys.executable, "-c", BURN]) for _ in range(2)]
    try:
        loaded = train_rung(rung, tmp_path / "loaded")
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
    assert len(alone) == 4
    assert loaded["loss"].tolist() == alone["loss"].tolist()
    assert loaded["train_loss"].tolist() == alone["train_loss"].tolist()


def test_resume_with_another_thread_count_is_refused(tmp_path):
    path = tmp_path / "spec.toml"
    path.write_text(SPEC.format(threads=1))
    rung, = expand(load_spec(path))
    folder = tmp_path / rung.run
    folder.mkdir()
    (folder / "rung.json").write_text(json.dumps(rung.to_dict()))    # no "threads": 1
    check_same_rung(rung, folder)
    with pytest.raises(CheckpointError, match="its threads was 1, the spec now gives 2"):
        check_same_rung(dataclasses.replace(rung, threads=2), folder)
    (folder / "rung.json").write_text(json.dumps(dataclasses.replace(rung, threads=2).to_dict()))
    with pytest.raises(CheckpointError, match="its threads was 2, the spec now gives 1"):
        check_same_rung(rung, folder)
