"""One Slurm job of a ladder (`ladders.slurm.submit` sends them): train one rung on the job's
node, then rewrite the ladder's run table from every rung's rows.

`RungJob` is a `submitit.helpers.Checkpointable`: when Slurm signals a time-out or a
pre-emption, submitit calls `checkpoint()`, which returns this job again with resume=True, and
requeues it; the rerun continues from the rung's last checkpoint.pt (`ladders.train.train_rung`
resumes exactly). On start the job writes `<work>/<run>/worker.json` = {"pid", "host",
"device", "started", "job_id", "resume"} (atomically), which `scaling ladder status` reads.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from submitit.helpers import Checkpointable, DelayedSubmission

from ladders.pool import write_worker_record
from ladders.status import collect_lock


@dataclass
class RungJob(Checkpointable):
    """Train `rung` in `work`, then collect `out` from the rows of `rungs` (all the ladder's)."""

    rung: object                 # a ladders.spec.Rung
    work: str                    # the ladder's <out stem>.rungs folder
    out: str                     # the ladder's run table
    rungs: list                  # every rung of the ladder (the table collects them all)
    device: str = "auto"         # resolved here, on the job's node
    resume: bool = False         # continue from the rung's checkpoint (a requeued job: True)
    threads: int | None = None   # CPU threads overriding the rung's ladder.threads

    def __call__(self) -> int:
        from ladders.launch import collect
        from ladders.train import resolve_device, train_rung

        device = resolve_device(self.device)
        folder = Path(self.work) / self.rung.run
        write_worker_record(folder, device, job_id(), resume=self.resume,
                            resumed_from=resumed_from(folder) if self.resume else None)
        rows = train_rung(self.rung, Path(self.work), device=device, resume=self.resume,
                          progress=False, threads=self.threads)
        with collect_lock(Path(self.work)):
            collect(self.out, self.rungs)
        return len(rows)

    def checkpoint(self, *args, **kwargs) -> DelayedSubmission:
        """What submitit requeues on a time-out or pre-emption: this job, resuming."""
        return DelayedSubmission(replace(self, resume=True))


def job_id() -> str | None:
    """This job's Slurm id as submitit names it (`<array id>_<index>` for an array task)."""
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    return f"{array}_{task}" if array and task else os.environ.get("SLURM_JOB_ID")


def resumed_from(folder: Path) -> int | None:
    """The step of the rung's checkpoint.pt that a requeued job continues from (None: none)."""
    from ladders.checkpoints import CheckpointError, read_state

    try:
        return int(read_state(folder / "checkpoint.pt")["step"])
    except CheckpointError:
        return None

