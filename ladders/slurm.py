"""`scaling ladder run SPEC --out OUT --slurm FOLDER`: a ladder as Slurm job arrays (submitit).

    scaling ladder run SPEC --out runs.parquet --slurm jobs/ --partition gpu --time 4:00:00 \\
        --gpus-per-node 1 [--dry-run]
    scaling ladder status runs.parquet

The spec's [cluster] section (`ladders.spec.cluster.Cluster`) says what each job asks for; the
flags `add_cluster_arguments` adds override it key by key (`ladders.command` adds them to
`scaling ladder run` and calls `run_command` when --slurm is given). Everything is checked before any
submission, and by `--dry-run`, which prints the sbatch parameters of each kind of job: a value
that does not parse, and a time limit shorter than the longest rung's estimated time
(`check_time`; `--allow-requeue-chains` accepts it when the requeues can cover the rung) are
one-line errors.

`submit` sends the rungs as job arrays with submitit's `SlurmExecutor`: the stable runs and the
unbranched rungs as one array; the branches of each stable run as one array that waits for that
stable run's task (`--dependency=afterok:<array id>_<index>`). It writes
`<out stem>.rungs/slurm.json` ({"folder", "spec", "out", "jobs": {run: job id}, "submitted"},
atomically) and returns at once: it does not wait for the jobs. Each job
(`ladders.slurm_job.RungJob`) resolves the device on its node, trains its rung in
`<out stem>.rungs/<run>/`, and then rewrites `--out` from every rung's rows (so the last job to
end writes the whole table; `scaling ladder status OUT --collect` does the same by hand). A job
that times out or is pre-empted is requeued by submitit and resumes from its checkpoint.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

from ladders.launch import (check_existing_table, check_outputs, dry_run_table, ladder_lock,
                            needs_torch, work_dir)
from ladders.spec import SpecError, estimate, expand, load_spec
from ladders.spec.cluster import Cluster, minutes, sbatch_option
from ladders.spec.corpus_check import check_corpus
from scaling.errors import ScalingError
from scaling.output.atomic import write_text

# [cluster] key -> its `scaling ladder run` flag (all but extra_sbatch, which is --sbatch)
FLAGS = {"partition": "--partition", "account": "--account", "qos": "--qos", "time": "--time",
         "gpus_per_node": "--gpus-per-node", "cpus_per_task": "--cpus-per-task", "mem": "--mem",
         "constraint": "--constraint", "array_parallelism": "--array-parallelism",
         "max_requeues": "--max-requeues"}
_INTEGERS = ("gpus_per_node", "cpus_per_task", "array_parallelism", "max_requeues")


def add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    """The Slurm options of `scaling ladder run` (used with --slurm FOLDER): one per key of the
    spec's [cluster] section, each overriding it."""
    group = parser.add_argument_group(
        "Slurm (with --slurm FOLDER; each flag overrides the spec's [cluster] key, docs/slurm.md)")
    helps = {"partition": "partition to submit to", "account": "account to charge",
             "qos": "quality of service", "time": "time limit of each job: minutes, "
             "HH:MM:SS or D-HH:MM:SS", "gpus_per_node": "GPUs per job (0: none)",
             "cpus_per_task": "CPU cores per job", "mem": "memory per job, e.g. 64G",
             "constraint": "node features, e.g. a100",
             "array_parallelism": "most tasks of one job array running at once",
             "max_requeues": "times a job that times out is requeued (resuming from its "
                             "checkpoint)"}
    for key, flag in FLAGS.items():
        group.add_argument(flag, dest=f"cluster_{key}", metavar="N" if key in _INTEGERS
                           else key.upper(), type=int if key in _INTEGERS else str,
                           help=helps[key])
    group.add_argument("--sbatch", dest="cluster_sbatch", action="append", default=[],
                       metavar="OPTION", help="another sbatch option, e.g. "
                       "\"--reservation=x\" (repeatable; added to cluster.extra_sbatch)")
    group.add_argument("--allow-requeue-chains", action="store_true",
                       help="accept a --time shorter than a rung's estimate: such a rung times "
                            "out and resumes from its checkpoint, up to --max-requeues times")


def cluster_settings(spec, args) -> Cluster:
    """The spec's [cluster] with the command line's flags over it, each flag checked (a bad
    value: a one-line SpecError naming the flag)."""
    given = {key: getattr(args, f"cluster_{key}", None) for key in FLAGS}
    given = {key: value for key, value in given.items() if value is not None}
    if "time" in given and given["time"].strip().isdigit():
        given["time"] = int(given["time"])
    for key, value in given.items():
        replace(Cluster(), **{key: value}).check(FLAGS[key])
    extra = list(getattr(args, "cluster_sbatch", None) or [])
    for line in extra:
        sbatch_option(line, "--sbatch")
    return replace(spec.cluster, **given, extra_sbatch=list(spec.cluster.extra_sbatch) + extra)


def sbatch_parameters(cluster: Cluster, name: str) -> dict:
    """`SlurmExecutor.update_parameters` keywords for one job of the ladder `name`."""
    parameters = {"job_name": name, "time": minutes(cluster.time, "cluster.time"),
                  "nodes": cluster.nodes}
    for key in ("partition", "account", "qos", "gpus_per_node", "cpus_per_task", "mem",
                "constraint", "array_parallelism"):
        if getattr(cluster, key) is not None:
            parameters[key] = getattr(cluster, key)
    extra = dict(sbatch_option(line, "cluster.extra_sbatch") for line in cluster.extra_sbatch)
    if extra:
        parameters["additional_parameters"] = extra
    return parameters


def estimate_device(cluster: Cluster, device: str) -> str:
    """The device a job will train on, for time estimates: --device when given, else cuda when
    the jobs ask for GPUs."""
    if device != "auto":
        return device
    return "cuda" if (cluster.gpus_per_node or 0) > 0 else "cpu"


def check_time(spec, cluster: Cluster, rungs, device: str, allow_chains: bool) -> None:
    """The time limit must cover the longest rung's estimated time (`ladders.spec.estimate` at
    ladder.flops_per_second); with `allow_chains`, the limit times (max_requeues + 1) must."""
    limit = minutes(cluster.time, f"{spec.path}: cluster.time")
    rows = estimate(rungs, device, spec.ladder.flops_per_second)
    longest = max(rows, key=lambda row: row["seconds"])
    need = longest["seconds"] / 60
    if need <= limit:
        return
    where = f"{spec.path}: cluster.time (--time)"
    if not allow_chains:
        raise SpecError(f"{where} = {limit} min is shorter than rung {longest['run']}'s "
                        f"estimated {need:.1f} min on {device}: raise the time limit, or pass "
                        "--allow-requeue-chains to let it time out and resume from its "
                        f"checkpoint (up to cluster.max_requeues = {cluster.max_requeues} times)")
    if need > limit * (cluster.max_requeues + 1):
        raise SpecError(f"{where} = {limit} min with cluster.max_requeues = "
                        f"{cluster.max_requeues}: {cluster.max_requeues + 1} jobs of {limit} min "
                        f"cannot cover rung {longest['run']}'s estimated {need:.1f} min on "
                        f"{device}; raise the time limit or max_requeues")


def waves(rungs) -> list[tuple[str, list, str | None]]:
    """The job arrays, in submission order: (what, rungs, stable run it waits for or None)."""
    first = [rung for rung in rungs if rung.parent is None]
    arrays = [("stable runs and unbranched rungs" if any(r.branch_points for r in first)
               else "rungs", first, None)]
    for stable in first:
        branches = [rung for rung in rungs if rung.parent == stable.run]
        if branches:
            arrays.append((f"branches of {stable.run}", branches, stable.run))
    return arrays


def sbatch_text(folder, parameters: dict, tasks: int, dependency: str | None) -> list[str]:
    """The #SBATCH lines submitit writes for an array of `tasks` jobs (one job: no --array)."""
    from submitit.slurm.slurm import _make_sbatch_string

    extra = {"map_count": tasks} if tasks > 1 else {}
    if dependency:
        extra["dependency"] = dependency
    text = _make_sbatch_string(command="", folder=str(folder), **parameters, **extra)
    return [line for line in text.splitlines() if line.startswith("#SBATCH")]


def dry_run_text(spec, rungs, cluster: Cluster, device: str, folder) -> str:
    """--dry-run with --slurm: the rungs' table, then each kind of job's sbatch lines."""
    lines = [dry_run_table(estimate(rungs, device, spec.ladder.flops_per_second), device), "",
             f"Slurm jobs (submitit SlurmExecutor, logs in {folder}; the device is resolved "
             "on each job's node):"]
    shown = set()
    for what, array, parent in waves(rungs):
        kind = "first" if parent is None else "branches"
        if kind in shown:
            continue
        shown.add(kind)
        dependency = None if parent is None else "afterok:<stable array id>_<index>"
        if parent:
            what = "branches (one array per stable run, after that run's task)"
        lines.append(f"  {what}: {len(array)} task(s)")
        lines += ["    " + line for line in sbatch_text(
            folder, sbatch_parameters(cluster, f"{spec.ladder.name}"), len(array), dependency)]
    return "\n".join(lines)


def run_command(args) -> int:
    """`scaling ladder run ... --slurm FOLDER`: check, then submit (or print, with --dry-run)."""
    from scaling.output.console import check_output

    if args.threads is not None and args.threads < 1:
        raise ScalingError(f"scaling ladder run: --threads must be at least 1, got {args.threads}")
    needs_torch()                     # the estimates build the models' configurations
    spec = load_spec(args.spec)
    cluster = cluster_settings(spec, args)
    rungs = expand(spec)
    check_corpus(spec)
    device = estimate_device(cluster, args.device)
    check_time(spec, cluster, rungs, device, args.allow_requeue_chains)
    if args.dry_run:
        print(dry_run_text(spec, rungs, cluster, device, args.slurm))
        return 0
    if not args.out:
        raise ScalingError("scaling ladder run: --out PATH is required (or use --dry-run)")
    check_output(args.out, "--out", {"parquet", "pq"}, "ladder.parquet")
    check_outputs(spec, args.out)
    if shutil.which("sbatch") is None or shutil.which("srun") is None:
        raise ScalingError(f"--slurm {args.slurm}: no Slurm here (sbatch and srun are not both "
                           "on PATH): submit from the cluster's login node (--dry-run works "
                           "anywhere)")
    with ladder_lock(args.out):
        check_existing_table(args.out, rungs, args.resume, args.force)
        work = work_dir(args.out)
        if not args.resume and work.exists() and any(work.iterdir()):
            raise SpecError(f"{work} already holds rungs: pass --resume to continue that "
                            "ladder, or remove it")
        record = submit(spec, rungs, cluster, args)
    print(f"submitted {len(record['jobs'])} rungs to Slurm (logs in {args.slurm}):")
    for run, job in record["jobs"].items():
        print(f"  {job:>14}  {run}")
    print(f"follow them with: scaling ladder status {args.out}")
    return 0


def submit(spec, rungs, cluster: Cluster, args) -> dict:
    """Submit the arrays of `waves` and write slurm.json (also when a later array fails to
    submit: what was submitted is recorded, then the error is raised)."""
    import submitit
    from submitit.core.utils import FailedSubmissionError

    from ladders.slurm_job import RungJob

    try:
        executor = submitit.SlurmExecutor(folder=str(args.slurm),
                                          max_num_timeout=cluster.max_requeues)
    except RuntimeError as exc:        # no srun: not on a Slurm cluster
        raise ScalingError(f"--slurm {args.slurm}: {exc}") from None
    work, out = work_dir(args.out).resolve(), Path(args.out).resolve()
    record = {"folder": str(Path(args.slurm).resolve()), "spec": str(Path(spec.path).resolve()),
              "out": str(out), "jobs": {},
              "submitted": datetime.datetime.now().astimezone().isoformat(timespec="seconds")}
    try:
        for what, array, parent in waves(rungs):
            dependency = f"afterok:{record['jobs'][parent]}" if parent else None
            executor.update_parameters(**sbatch_parameters(cluster, spec.ladder.name),
                                       dependency=dependency)
            jobs = executor.submit_array([
                RungJob(rung=rung, work=str(work), out=str(out), rungs=rungs, device=args.device,
                        resume=args.resume, threads=args.threads) for rung in array])
            record["jobs"].update({rung.run: job.job_id for rung, job in zip(array, jobs)})
    except (subprocess.SubprocessError, FailedSubmissionError, OSError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ScalingError(f"--slurm {args.slurm}: submission failed after "
                           f"{len(record['jobs'])} of {len(rungs)} rungs ({reason}); see "
                           f"{work / 'slurm.json'}") from None
    finally:
        work.mkdir(parents=True, exist_ok=True)
        write_text(work / "slurm.json", json.dumps(record, indent=1) + "\n")
    return record
