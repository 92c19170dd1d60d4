"""`scaling ladder run|status|specs|coord-check|lr-transfer`: train ladders of small proxy models.

The trainer plugs this command into `scaling` from its side: pyproject.toml declares it under
the `scaling.commands` entry points, and `scaling.cli` adds every command found there. So
`scaling/` never imports `ladders/` (a user fitting a downloaded table needs no trainer), and
`scaling --help` and every other command run where the trainer is not installed. Importing
this module does not import torch; training does (`pip install 'scaling-laws[ladder]'`)."""

from __future__ import annotations

from pathlib import Path

from ladders import coord_check, lr_transfer, slurm, status
from ladders.launch import add_run_arguments, run_command, specs_table
from ladders.spec import SpecError, find_spec
from scaling.output.console import positive_int
from scaling.output.paths import check_distinct


def add_parser(commands) -> None:
    ladder = commands.add_parser("ladder", help="train ladders of small proxy models")
    actions = ladder.add_subparsers(dest="ladder_command", required=True, metavar="ACTION")
    run_parser = actions.add_parser(
        "run", help="train every rung of a ladder spec (TOML, or a bundled spec's name)")
    add_run_arguments(run_parser)
    slurm.add_cluster_arguments(run_parser)
    status.add_arguments(actions.add_parser(
        "status", help="where every rung of a ladder stands: queued, running, done, diverged, "
                       "failed (local or Slurm; ladders/status.py)"))
    actions.add_parser("specs", help="list the bundled ladder specs")
    coord = actions.add_parser(
        "coord-check", help="muP coordinate check: activation RMS vs width after a few steps, "
                            "standard vs muP (ladders/coord_check.py)")
    coord.add_argument("spec", metavar="SPEC",
                       help="ladder spec (TOML, or a bundled spec's name: cpu-coord); needs "
                            "optimizer.base_width")
    coord.add_argument("--widths", nargs="+", metavar="W",
                       help="widths to check instead of the spec's sizes (multiples of the "
                            "base's head size)")
    coord.add_argument("--steps", type=positive_int, default=10, metavar="N",
                       help="AdamW steps per width at the spec's LR (default 10)")
    coord.add_argument("--out-dir", default="out/coord-check", metavar="DIR",
                       help="folder for coord-check.csv and coord-check.png "
                            "(default out/coord-check)")
    coord.add_argument("--threads", type=int, metavar="K", help="CPU threads")
    transfer = actions.add_parser(
        "lr-transfer", help="LR transfer: the best peak LR per width of an LR sweep, standard "
                            "vs muP, with a plot (ladders/lr_transfer.py)")
    transfer.add_argument("runs", nargs="+", metavar="RUNS",
                          help="run tables of the sweep (optimizer.lrs), e.g. "
                               "data/cpu_mup_lr/runs.parquet")
    transfer.add_argument("--out-dir", default="out/lr-transfer", metavar="DIR",
                          help="folder for best-lr.csv and lr-transfer.png "
                               "(default out/lr-transfer)")
    ladder.set_defaults(run=run)


def run(args) -> int:
    if args.ladder_command == "specs":
        print(specs_table())
        return 0
    if args.ladder_command == "status":
        return status.command(args)
    if args.ladder_command == "coord-check":
        try:
            spec = find_spec(args.spec)
        except SpecError:
            spec = None                     # the command says why
        _check_folder_outputs(args.out_dir, ("coord-check.csv", "coord-check.png"),
                              [("SPEC", spec)])
        return coord_check.command(args)
    if args.ladder_command == "lr-transfer":
        _check_folder_outputs(args.out_dir, ("best-lr.csv", "lr-transfer.png"),
                              [("RUNS", path) for path in args.runs])
        return lr_transfer.command(args)
    if args.slurm:                      # job arrays, submitted without waiting
        return slurm.run_command(args)
    return run_command(args)


def _check_folder_outputs(folder, names, inputs) -> None:
    """--out-dir DIR of a command that writes `names` in DIR: none of them is an input."""
    check_distinct([("--out-dir", Path(folder) / name) for name in names], inputs)
