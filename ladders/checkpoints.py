"""Reading a rung's saved states: its own checkpoint, or the branch point a branch starts from.

`train_rung` saves {"model", "optimizer", "rng", "step", "since_row", "seconds"} (and "masks",
`ladders.pruning.Masks.state_dict`, for a pruned rung) with torch.save
as `<work>/<run>/checkpoint.pt` and, on a stable run, `<work>/<run>/branch-<step>.pt`. A file
that is missing, truncated or not such a state is a `CheckpointError`: one line naming the file
(exit 2 from the CLI), not a traceback from deep inside torch.load.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from scaling.errors import ScalingError

STATE_KEYS = ("model", "optimizer", "rng", "step", "since_row", "seconds")


class CheckpointError(ScalingError):
    """A saved training state that cannot be used: one line naming the file."""


def read_state(path: Path) -> dict:
    """The state `train_rung` saved at `path`, checked to have every key it saves."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        with warnings.catch_warnings():      # torch warns about odd pickles before it fails
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except MemoryError:
        raise
    except Exception as exc:                 # EOFError, UnpicklingError, RuntimeError, OSError...
        reason = (str(exc).split(". ")[0].splitlines() or [""])[0][:120]
        raise CheckpointError(f"{path}: not a readable checkpoint, truncated or not written by "
                              f"torch.save ({type(exc).__name__}: {reason})") from None
    missing = [key for key in STATE_KEYS if not isinstance(state, dict) or key not in state]
    if missing:
        raise CheckpointError(f"{path}: not a training state (no {missing[0]!r})")
    return state


def branch_state(rung, work: Path) -> dict | None:
    """The state a branch (`rung.parent` set) starts from: its stable run's
    `branch-<rung.branch_step>.pt`, read-only. None when the stable run diverged before it
    reached that step (the branch then has nothing to start from: it is diverged too)."""
    parent = Path(work) / rung.parent
    source = parent / f"branch-{rung.branch_step}.pt"
    if not source.exists():
        if (status(parent) or {}).get("status") == "diverged":
            return None
        raise CheckpointError(f"{source}: no such checkpoint, and the branch {rung.run} starts "
                              f"from it: train its stable run {rung.parent} first (when that run "
                              f"is done, remove {parent} to train it again)")
    state = read_state(source)
    if state["step"] != rung.branch_step:
        raise CheckpointError(f"{source}: holds step {state['step']}, not the branch point "
                              f"{rung.branch_step} of {rung.run}")
    return state


def status(folder: Path) -> dict | None:
    """What a finished rung wrote to its status.json ({"status": "done" | "diverged", "step",
    ...}), or None while it has not finished (or the file cannot be read)."""
    try:
        ended = json.loads((Path(folder) / "status.json").read_text())
    except (OSError, ValueError):
        return None
    return ended if isinstance(ended, dict) else None


# What makes a rung the run it is: resuming a folder whose rung.json differs in any of these
# would splice two different runs into one curve. (micro_batch, compile, eval and checkpoint
# intervals may change between sessions: a rung moved to another card keeps its identity.)
IDENTITY = ("run", "model", "tokens", "steps", "batch_size", "context", "schedule", "seed",
            "weight_decay", "beta1", "beta2", "grad_clip", "data", "parent", "branch_step",
            "tasks", "task_items", "task_files", "pruning", "threads")
DEFAULTS = {"threads": 1}     # keys left out of rung.json at their default value


def check_same_rung(rung, folder: Path):
    """On --resume: the rung saved in `folder/rung.json` must be this rung (one-line error)."""
    path = Path(folder) / "rung.json"
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):
        return                                # nothing saved yet: nothing to contradict
    now = json.loads(json.dumps(rung.to_dict()))       # as it would be saved
    for key, value in DEFAULTS.items():
        saved.setdefault(key, value)
        now.setdefault(key, value)
    changed = [key for key in IDENTITY if key in saved and saved[key] != now.get(key)]
    if changed:
        raise CheckpointError(f"{path}: --resume would continue a different run: its "
                              f"{changed[0]} was {saved[changed[0]]!r}, the spec now gives "
                              f"{now.get(changed[0])!r}; restore the spec or start a new --out")
