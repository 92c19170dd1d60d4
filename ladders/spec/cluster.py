"""The spec's [cluster] section: what a ladder asks Slurm for when it runs with `--slurm FOLDER`
(`ladders.slurm` turns it into sbatch parameters; `scaling ladder run` flags override each key).

Every value is checked here, at load time and again after the command line's overrides
(`Cluster.check`): a time limit that does not parse, a negative GPU count, an extra sbatch line
that is not an option are one-line `SpecError`s naming the file (or the flag) and the key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ladders.spec.errors import SpecError

# An sbatch option as extra_sbatch takes it: "--name" or "--name=value" (a leading "#SBATCH"
# is allowed and dropped).
_OPTION = re.compile(r"--([A-Za-z][A-Za-z0-9-]*)(?:=(\S.*))?")
_MEMORY = re.compile(r"[0-9]+(\.[0-9]+)?[KMGT]?B?", re.IGNORECASE)
_TIME = re.compile(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?")


@dataclass
class Cluster:
    """[cluster]: the Slurm resources of each job of `scaling ladder run --slurm FOLDER`
    (docs/slurm.md); ignored by local runs."""

    partition: str | None = None       # sbatch --partition; unset: the cluster's default
    account: str | None = None         # sbatch --account
    qos: str | None = None             # sbatch --qos
    time: int | str = 60               # time limit of each job: minutes, or "HH:MM:SS" /
    #                                    "D-HH:MM:SS"; shorter than a rung's estimate: an error
    #                                    unless --allow-requeue-chains
    gpus_per_node: int | None = None   # sbatch --gpus-per-node; > 0: --dry-run estimates on cuda
    cpus_per_task: int | None = None   # sbatch --cpus-per-task
    mem: str | None = None             # sbatch --mem, e.g. "64G"
    constraint: str | None = None      # sbatch --constraint, e.g. "a100"
    array_parallelism: int | None = None  # most tasks of one job array running at once (the
    #                                       "%N" of --array); unset: all
    nodes: int = 1                     # sbatch --nodes (1 for now: a rung runs on one node)
    extra_sbatch: list[str] = field(default_factory=list)  # more sbatch options, each
    #                                    "--name=value" or "--flag", e.g. "--reservation=x",
    #                                    "--mail-type=END"
    max_requeues: int = 3              # times a job that times out is requeued (it resumes
    #                                    from its last checkpoint); pre-emptions do not count

    def check(self, where):
        minutes(self.time, f"{where}: cluster.time")
        for key in ("gpus_per_node", "cpus_per_task", "array_parallelism", "nodes",
                    "max_requeues"):
            value = getattr(self, key)
            least = 0 if key in ("gpus_per_node", "max_requeues") else 1
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < least):
                raise SpecError(f"{where}: cluster.{key} must be an integer of at least {least}, "
                                f"got {value!r}")
        if self.nodes != 1:
            raise SpecError(f"{where}: cluster.nodes = {self.nodes}: a rung runs on one node "
                            "(multi-node DDP under Slurm is not supported yet); give 1")
        if self.mem is not None and not _MEMORY.fullmatch(self.mem):
            raise SpecError(f"{where}: cluster.mem must be a size such as \"64G\" or "
                            f"\"500M\", got {self.mem!r}")
        for key in ("partition", "account", "qos", "constraint"):
            value = getattr(self, key)
            if value is not None and (not value.strip() or any(c.isspace() for c in value)):
                raise SpecError(f"{where}: cluster.{key} must be a name without spaces, "
                                f"got {value!r}")
        for index, line in enumerate(self.extra_sbatch):
            sbatch_option(line, f"{where}: cluster.extra_sbatch[{index}]")


def minutes(value, label: str) -> int:
    """A Slurm time limit in whole minutes (rounded up): an integer of minutes, or a string
    "MM", "HH:MM:SS", "D-HH", "D-HH:MM" or "D-HH:MM:SS"; else a one-line SpecError."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value <= 0:
            raise SpecError(f"{label} must be a positive number of minutes, got {value!r}")
        return value
    text = str(value).strip()
    match = _TIME.fullmatch(text) if isinstance(value, str) else None
    if match is None:
        raise SpecError(f"{label}: cannot read {value!r} as a time limit: give minutes "
                        "(e.g. 90), \"HH:MM:SS\" or \"D-HH:MM:SS\"")
    days, first, second, third = match.groups()
    if days is not None:            # D-HH, D-HH:MM, D-HH:MM:SS
        hours, mins, secs = int(first), int(second or 0), int(third or 0)
        total = int(days) * 86400 + hours * 3600 + mins * 60 + secs
    elif third is not None:         # HH:MM:SS
        total = int(first) * 3600 + int(second) * 60 + int(third)
    elif second is not None:        # MM:SS, as sbatch reads it
        total = int(first) * 60 + int(second)
    else:                           # MM
        total = int(first) * 60
    if total <= 0:
        raise SpecError(f"{label} must be positive, got {value!r}")
    return -(-total // 60)


def sbatch_option(line: str, label: str) -> tuple[str, str | bool]:
    """An extra sbatch line as (name, value): "--reservation=x" gives ("reservation", "x"),
    "--exclusive" ("exclusive", True); "#SBATCH --x" is read as "--x". Else a SpecError."""
    text = line.strip()
    if text.upper().startswith("#SBATCH"):
        text = text[len("#SBATCH"):].strip()
    match = _OPTION.fullmatch(text)
    if match is None:
        raise SpecError(f"{label}: {line!r} is not an sbatch option: give \"--name=value\" or "
                        "\"--flag\", e.g. \"--reservation=x\"")
    name, value = match.groups()
    if name in ("array", "dependency", "output", "error", "signal", "open-mode"):
        raise SpecError(f"{label}: {line!r}: --{name} is set by the ladder's submission, not "
                        "by hand")
    return name, (value if value is not None else True)
