"""The `scaling` command: one module per command, each a thin layer over the Python API.

    scaling fit RUNS [--law chinchilla] [--set NAME=VALUE] [--where Q] [--map COL="File col"]
                     [--bootstrap K] [--level P] [--out FIT.json] [--plot FIG.png]
    scaling predict FIT.json --params N --tokens D | --input NAME=X,… | --flops C | --schedule S
                     [--interval calibrated|run|law] [--level P] [--json OUT]
    scaling predict FIT.json --optimal-vocab --params-nonembed N --width d [--flops C]
                     [--json OUT]                               (the vocabulary law)
    scaling predict FIT.json --sparsity S --params N --tokens D [--prunable P]
                     [--pruning geometric|cubic] [--json OUT]   (the sparse law: pruning windows)
    scaling predict FIT.json --flops C [C ...] --unique-tokens U [--json OUT]
                                                   (the data-constrained law: a data limit)
    scaling backtest RUNS --law NAME --train Q [--test Q] [--level P] [--json OUT]
    scaling fit|backtest RUNS --task NAME|all [--variant two-step|lm-loss|gadre|single-step|all]
                     [--chance P] ...                     (the task laws: accuracy, in points)
    scaling optimal RUNS [--approach 1|2|3|all] [--bootstrap K] [--flops C ...] [--budgets C ...]
                     [--tolerance T] [--rows final|all] [--interpolation parabola|akima]
                     [--level P] [--json OUT]  (compute-optimal N and D, Hoffmann et al.'s approaches)
    scaling plan --flops C --fit FIT.json [FIT.json ...] [--runs RUNS] [--inference-tokens T]
                     [--unique-tokens U] [--schedule peak=…,warmup=…,final=… --tokens-per-step T]
                     --out-dir DIR | --out FILE.html|FILE.json     (the planning report)
    scaling laws
    scaling ladder run SPEC --out RUNS.parquet | --dry-run   (SPEC: a file, or a bundled spec's name)
    scaling ladder specs
    scaling ladder coord-check SPEC [--widths W ...] [--steps N] [--out-dir DIR] [--threads K]
    scaling ladder lr-transfer RUNS [RUNS ...] [--out-dir DIR]
    scaling import lm-eval PATH... --out RUNS.parquet [--preset pythia | --params MODEL=N ...
                     --tokens-per-step T] [--shots K] [--metric TASK=METRIC] [--step N]
    scaling import wandb EXPORT.csv... --out RUNS.parquet --map COL="File col" ...
                     [--params RUN=N ... | --params-file CSV] [--tokens-per-step T]
    scaling --version

Options mean one thing everywhere (`scaling.cli.options`): --flops a compute budget, --out a
file whose suffix says its format (folders are --out-dir), `--json -` JSON on stdout, --level
the intervals' level. Bad input prints one line, `scaling: error: ...`, and exits with status 2
(`scaling.output.console`).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from importlib.metadata import entry_points

import scaling
from scaling.cli import backtest, fit, import_runs, laws, optimal, plan, predict
from scaling.cli.options import (STDOUT, CommandParser, check_queries, check_repeated_names,
                                 refuse_twice)
from scaling.errors import ScalingError
from scaling.output.console import run_command

COMMANDS = (fit, predict, backtest, optimal, plan, laws, import_runs)
PLUGINS = "scaling.commands"    # entry points of commands other packages add: the trainer's
#                                 `ladder` (ladders/command.py), so scaling/ never imports it


def add_plugin_commands(commands) -> None:
    """Add the commands installed packages declare under the `scaling.commands` entry points
    (each a module with `add_parser` and `run`, as the built-in ones). One that cannot be
    imported still gets its name, and running it says why in one line."""
    seen = set()
    for point in sorted(entry_points(group=PLUGINS), key=lambda point: point.name):
        if point.name in seen:              # the same package installed twice
            continue
        seen.add(point.name)
        try:
            point.load().add_parser(commands)
        except ImportError as error:
            broken = commands.add_parser(point.name, help=f"(unavailable: {error})")
            broken.add_argument("arguments", nargs=argparse.REMAINDER)   # whatever follows
            broken.set_defaults(run=lambda args, name=point.name, why=error: _unavailable(name, why))


def _unavailable(name: str, why: ImportError):
    raise ScalingError(f"the {name} command could not be loaded ({why}); the ladder runner needs "
                       "its extra: pip install 'scaling-laws[ladder]'")


def build_parser() -> CommandParser:
    """The parser of `scaling` and of every command (each module's `add_parser`)."""
    parser = CommandParser(prog="scaling", description="Fit scaling laws to run tables.")
    parser.add_argument("--version", action="version", version=f"scaling {scaling.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(commands)
    add_plugin_commands(commands)
    refuse_twice(parser)
    return parser


def main(argv=None) -> int:
    """Run `scaling ARGV` (default: sys.argv[1:]); returns the exit status."""
    return run_command(lambda: _run(argv))


def _run(argv) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as done:             # --help, --version: printed, and nothing to run
        return done.code or 0
    check_queries(args)
    check_repeated_names(args)
    if getattr(args, "json", None) != STDOUT:
        return args.run(args)
    args.json_stream = sys.stdout          # the JSON's; the text report goes to stderr
    with contextlib.redirect_stdout(sys.stderr):
        return args.run(args)
