"""The `scaling` command: parses arguments and calls the library; no logic of its own.

    scaling fit RUNS [--law chinchilla] [--set NAME=VALUE] [--where Q] [--map COL="File col"]
                     [--bootstrap K] [--out FIT.json] [--plot FIG.png]
    scaling predict FIT.json --params N --tokens D | --input NAME=X,… | --flops C | --schedule S
                     [--interval calibrated|run|law] [--json OUT]
    scaling predict FIT.json --optimal-vocab --params-nonembed N --width d [--flops C]
                     [--json OUT]                               (the vocabulary law)
    scaling predict FIT.json --sparsity S --params N --tokens D [--prunable P]
                     [--pruning geometric|cubic] [--json OUT]   (the sparse law: pruning windows)
    scaling predict FIT.json --flops C [C ...] --unique-tokens U [--json OUT]
                                                   (the data-constrained law: a data limit)
    scaling backtest RUNS --law NAME --train Q [--test Q] [--json OUT]
    scaling fit|backtest RUNS --task NAME|all [--variant two-step|lm-loss|gadre|single-step|all]
                     [--chance P] ...                     (the task laws: accuracy, in points)
    scaling optimal RUNS [--approach 1|2|3|all] [--bootstrap K] [--budgets C ...] [--tolerance T]
                     [--rows final|all] [--interpolation parabola|akima] [--flops C ...]
                     [--json OUT]        (compute-optimal N and D by Hoffmann et al.'s approaches)
    scaling plan --budget C --fit FIT.json [FIT.json ...] [--runs RUNS] [--inference-tokens T]
                     [--unique-tokens U] [--schedule peak=…,warmup=…,final=… --tokens-per-step T]
                     --out DIR                   (the planning report: DIR/report.md, report.html)
    scaling laws
    scaling ladder run SPEC --out PATH | --dry-run       (SPEC: a file, or a bundled spec's name)
    scaling ladder specs
    scaling ladder coord-check SPEC [--widths W ...] [--steps N] [--out DIR] [--threads K]
    scaling ladder lr-transfer RUNS [RUNS ...] [--out DIR]
    scaling import lm-eval PATH... --out RUNS.parquet [--preset pythia | --params MODEL=N ...
                     --tokens-per-step T] [--shots K] [--metric TASK=METRIC] [--step N]
    scaling import wandb EXPORT.csv... --out RUNS.parquet --map COL="File col" ...
                     [--params RUN=N ... | --params-file CSV] [--tokens-per-step T]

Bad input prints one line, `scaling: error: ...`, and exits with status 2 (`scaling.output.console`).
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from scaling.errors import ScalingError
from scaling.output.format import json_ready
from scaling.output.paths import check_distinct
from scaling.output.console import (OneLineParser, check_output, non_negative_int, plot_formats,
                             positive_int, run_command)


VARIANT_NAMES = ("two-step", "lm-loss", "gadre", "single-step")   # scaling.analysis.backtest.VARIANTS
INPUT_HELP = {"unique_tokens": "unique tokens U (data-constrained law; one or more values): an "
                               "input, or with --flops the supply of unique data: the best "
                               "allocation under it"}


class _StoreOnce(argparse._StoreAction):
    """An option that takes a value (or a list, nargs="+") and refuses a second, different one:
    `--params 1e8 ... --params 1e9` is an error naming both, not the last one winning."""

    def __call__(self, parser, namespace, values, option_string=None):
        given = vars(namespace).setdefault("_given_options", {})
        if self.dest in given and given[self.dest][1] != values:
            first_option, first = given[self.dest]
            raise argparse.ArgumentError(
                self, f"given twice, {first_option} {_shown(first)} and {option_string} "
                      f"{_shown(values)}: give it once")
        given[self.dest] = (option_string, values)
        super().__call__(parser, namespace, values, option_string)


def _shown(values) -> str:
    """An option's value(s) as given: 1e+09, 1e+08 2e+08, 'params < 1e9'."""
    if isinstance(values, list):
        return " ".join(_shown(v) for v in values)
    if isinstance(values, float):
        return f"{values:g}"
    return repr(values) if isinstance(values, str) else str(values)


def _once(parser: argparse.ArgumentParser) -> None:
    """Every optional store action of `parser` and its subcommands refuses a second, different
    value (`_StoreOnce`)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for subparser in dict.fromkeys(action.choices.values()):
                _once(subparser)
        elif type(action) is argparse._StoreAction and action.option_strings:
            action.__class__ = _StoreOnce


def _parser() -> OneLineParser:
    from ladders.launch import add_run_arguments
    from scaling.laws import LAWS

    parser = OneLineParser(prog="scaling", description="Fit scaling laws to run tables.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def reading_options(command, where_help, of=""):
        """--where, --map and --dedupe: how a command reads its run table (`of`: which)."""
        command.add_argument("--where", help=where_help)
        command.add_argument("--map", action="append", default=[], metavar='COL="File col"',
                             help=f"read a file column{of} as a contract column (repeatable)")
        command.add_argument("--dedupe", choices=("first", "last", "mean"),
                             help="two rows of one run at one step: keep the first, the last or "
                                  "their mean (default: an error naming both)")

    def table_options(command):
        command.add_argument("runs", metavar="RUNS", help="run table (.parquet or .csv)")
        command.add_argument("--law", default=None,
                             help="law name (see `scaling laws`; default chinchilla, or task "
                                  "with --task)")
        command.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                             dest="settings",
                             help="a setting of the law, e.g. decay=0.995 (repeatable; "
                                  "`scaling laws` lists them); saved with the fit")
        command.add_argument("--task", metavar="NAME",
                             help="task laws: the task (reads acc:NAME, loss:NAME); all: every "
                                  "task the table holds, one after another")
        command.add_argument("--variant", choices=(*VARIANT_NAMES, "all"),
                             help="task law: two-step (default), lm-loss (the LM loss between "
                                  "the steps), gadre (step 2 Err = eps - k exp(-gamma L)), "
                                  "single-step; all: each in turn, compared")
        command.add_argument("--chance", type=float, metavar="P",
                             help="task laws: the task's chance accuracy (the sigmoid's start; "
                                  "default: the paper's for its tasks, else 0.25)")
        reading_options(command, "keep rows matching a query (scaling/data/query.py), e.g. "
                                 "'params < 1e9' (after the law's derived columns)")
        command.add_argument("--seed", type=non_negative_int, default=0,
                             help="bootstrap seed (default 0)")
        command.add_argument("--jobs", type=positive_int, default=None,
                             help="bootstrap workers (default: all cores)")
        command.add_argument("--delta", type=float, default=None,
                             help="Huber delta, short for --set delta=… (default 1e-3)")
        command.add_argument("--lr-file", metavar="LR.csv",
                             help="LR-schedule laws: run, step, lr at every step (steps from 0 or "
                                  "1); wins over the table's lr and schedule columns")

    fit = commands.add_parser("fit", help="fit a law; print parameters with intervals")
    table_options(fit)
    fit.add_argument("--bootstrap", type=non_negative_int, default=1000, metavar="K",
                     help="bootstrap resamples of runs for intervals (default 1000; at least "
                          "20; 0: none)")
    fit.add_argument("--no-calibration", action="store_true",
                     help="skip the refits that calibrate the default intervals to the distance "
                          "beyond the fitted data (then intervals are the bootstrap's)")
    fit.add_argument("--out", metavar="FIT.json", help="save the fit (reloaded by `predict`)")
    fit.add_argument("--plot", metavar="FIG.png", help="save observed-vs-fitted (and iso-target) plots")

    predict = commands.add_parser("predict", help="predict from a saved fit, with intervals")
    predict.add_argument("fit", metavar="FIT.json")
    inputs = sorted({name for law in LAWS.values() for name in law().inputs
                     if name.isidentifier()})
    for name in inputs:
        predict.add_argument(f"--{name.replace('_', '-')}", dest=name, type=float, nargs="+",
                             metavar="X", help=INPUT_HELP.get(name, f"{name} (one or more "
                                                                    "values)"))
    predict.add_argument("--input", action="append", default=[], metavar="NAME=X,…",
                         help="any input by its column name, e.g. loss:hellaswag=0.9,0.8")
    predict.set_defaults(input_names=inputs)
    predict.add_argument("--flops", type=float, nargs="+", metavar="C",
                         help="compute budgets: predict at the compute-optimal allocation "
                              "(with --optimal-vocab: the budgets of the models)")
    predict.add_argument("--optimal-vocab", action="store_true",
                         help="the compute-optimal vocabulary size by each approach the fit "
                              "supports (vocabulary law): give --params-nonembed N and --width "
                              "d; without --flops, the budget is the compute-optimal one for N")
    predict.add_argument("--width", type=float, nargs="+", metavar="D",
                         help="--optimal-vocab: the model width d (one or more values)")
    predict.add_argument("--sparsity", type=float, metavar="S",
                         help="sparse law: the predicted final loss of a model (--params N, "
                              "--tokens D) pruned to sparsity S in each of several windows of "
                              "training compute, beside the dense model and a dense model of "
                              "the final size")
    predict.add_argument("--prunable", type=float, metavar="P",
                         help="--sparsity: the model's prunable weights (default: all of "
                              "--params; the runner prunes the linear layers' matrices)")
    predict.add_argument("--pruning", choices=("geometric", "cubic"), default=None,
                         help="--sparsity: the pruning schedule (default geometric, Jin et al.)")
    predict.add_argument("--schedule", metavar="SPEC",
                         help='the whole curve of an LR schedule, e.g. "wsd:peak=3e-4,'
                              'warmup=2160,decay_start=20000,steps=24000,final=3e-5"')
    predict.add_argument("--compare", metavar="peak=…,warmup=…,steps=…,final=…",
                         help="final value of constant, cosine and WSD 10%%/20%% schedules")
    predict.add_argument("--every", type=positive_int, default=None, metavar="K",
                         help="--schedule/--compare: a row every K steps and at the last "
                              "(default: every step, or as few as keep the multi-power law's "
                              "prediction to about a second)")
    predict.add_argument("--out", metavar="CURVE.csv",
                         help="--schedule/--compare: write the curve(s) as CSV")
    predict.add_argument("--plot", metavar="FIG.png",
                         help="--schedule/--compare: plot the curve(s)")
    predict.add_argument("--interval", choices=("calibrated", "run", "law"),
                         help="the interval shown: calibrated (the fit's error model: widens "
                              "with the distance beyond the fitted data), run (bootstrap plus "
                              "the fit's scatter) or law (bootstrap of the law's value); "
                              "default: calibrated where the fit has it, else run")
    predict.add_argument("--json", metavar="OUT",
                         help="write the predictions (with intervals, distance beyond the fitted "
                              "data and warnings) as JSON")

    backtest = commands.add_parser("backtest", help="fit on some runs, predict the held-out ones")
    table_options(backtest)
    backtest.add_argument("--train", required=True, help="query selecting the training rows")
    backtest.add_argument("--test", help="query selecting the test runs (default: all others)")
    backtest.add_argument("--bootstrap", type=non_negative_int, default=200, metavar="K",
                          help="bootstrap resamples for the intervals (default 200; at least "
                               "20; 0: none)")
    backtest.add_argument("--interval", choices=("calibrated", "run", "law"), default=None,
                          help="the interval the test rows show (default: calibrated, else "
                               "run); every kind's coverage is scored")
    backtest.add_argument("--no-calibration", action="store_true",
                          help="skip the calibrated intervals (only the bootstrap's)")
    backtest.add_argument("--json", metavar="OUT", help="write the backtest record as JSON")

    optimal = commands.add_parser(
        "optimal", help="compute-optimal N_opt and D_opt by Hoffmann et al.'s approaches 1-3")
    optimal.add_argument("runs", metavar="RUNS", help="run table (.parquet or .csv)")
    optimal.add_argument("--approach", choices=("1", "2", "3", "all"), default="all",
                         help="1: envelope of the training curves; 2: isoFLOP profiles; 3: the "
                              "chinchilla fit; all (default): each the data support")
    optimal.add_argument("--bootstrap", type=non_negative_int, default=200, metavar="K",
                         help="bootstrap resamples of runs for the intervals (default 200; at "
                              "least 20; 0: none)")
    optimal.add_argument("--budgets", type=float, nargs="+", metavar="C",
                         help="approach 2: the isoFLOP budgets (default: found where the runs' "
                              "FLOPs cluster)")
    optimal.add_argument("--tolerance", type=float, default=0.1, metavar="T",
                         help="approach 2: a run belongs to a budget within a factor 1 + T of "
                              "it (default 0.1)")
    optimal.add_argument("--rows", choices=("final", "all"), default="final",
                         help="approach 2: each run's final row (isoFLOP runs, default) or every "
                              "row (constant-LR runs whose checkpoints are the budgets)")
    optimal.add_argument("--interpolation", choices=("parabola", "akima"), default="parabola",
                         help="approach 2: a parabola in log N per budget (default) or Akima's "
                              "spline")
    optimal.add_argument("--flops", type=float, nargs="+", metavar="C",
                         help="budgets for the allocation table (default 1e21 ... 1e25)")
    reading_options(optimal, "keep rows matching a query (scaling/data/query.py; every approach)")
    optimal.add_argument("--seed", type=non_negative_int, default=0,
                         help="bootstrap seed (default 0)")
    optimal.add_argument("--jobs", type=positive_int, default=None,
                         help="approach 3's bootstrap workers (default: all cores)")
    optimal.add_argument("--json", metavar="OUT", help="write every approach's record as JSON")

    plan = commands.add_parser(
        "plan", help="a planning report for a compute budget: the allocation by every approach, "
                     "the predicted loss with its intervals, warnings and figures (Markdown and "
                     "one self-contained HTML file)")
    plan.add_argument("--budget", required=True, type=float, metavar="C",
                      help="the training budget, FLOPs")
    plan.add_argument("--fit", nargs="+", action="extend", default=[], metavar="FIT.json",
                      help="saved fits (`scaling fit --out`): at least one loss law that "
                           "allocates compute (the first is the recommendation's); task, "
                           "schedule, vocabulary and data-constrained fits add their sections")
    plan.add_argument("--runs", metavar="RUNS",
                      help="the run table: approaches 1 and 2, and the runs in the figures")
    reading_options(plan, "keep rows of --runs matching a query (scaling/data/query.py)",
                    of=" of --runs")
    plan.add_argument("--inference-tokens", type=float, default=0.0, metavar="T",
                      help="tokens the model will serve (over-training table; default 0)")
    plan.add_argument("--unique-tokens", type=float, metavar="U",
                      help="unique tokens available (with a data-constrained fit)")
    plan.add_argument("--schedule", metavar="peak=…,warmup=…,final=…",
                      help="with a schedule-law fit: the LR settings schedules share")
    plan.add_argument("--tokens-per-step", type=float, metavar="T",
                      help="tokens per optimizer step (batch × context): the schedule's steps")
    plan.add_argument("--width", type=float, metavar="d",
                      help="with a vocabulary fit: the model width (default: assumed)")
    plan.add_argument("--bootstrap", type=non_negative_int, default=200, metavar="K",
                      help="approaches 1 and 2: bootstrap resamples (default 200; 0: none)")
    plan.add_argument("--out", required=True, metavar="DIR",
                      help="folder for report.md (with its PNGs) and report.html")

    commands.add_parser("laws", help="list the laws, the columns each needs and its settings")

    ladder = commands.add_parser("ladder", help="train ladders of small proxy models")
    ladder_commands = ladder.add_subparsers(dest="ladder_command", required=True, metavar="ACTION")
    add_run_arguments(ladder_commands.add_parser(
        "run", help="train every rung of a ladder spec (TOML, or a bundled spec's name)"))
    ladder_commands.add_parser("specs", help="list the bundled ladder specs")
    coord = ladder_commands.add_parser(
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
    coord.add_argument("--out", default="out/coord-check", metavar="DIR",
                       help="folder for coord-check.csv and coord-check.png "
                            "(default out/coord-check)")
    coord.add_argument("--threads", type=int, metavar="K", help="CPU threads")
    transfer = ladder_commands.add_parser(
        "lr-transfer", help="LR transfer: the best peak LR per width of an LR sweep, standard "
                            "vs muP, with a plot (ladders/lr_transfer.py)")
    transfer.add_argument("runs", nargs="+", metavar="RUNS",
                          help="run tables of the sweep (optimizer.lrs), e.g. "
                               "data/cpu_mup_lr/runs.parquet")
    transfer.add_argument("--out", default="out/lr-transfer", metavar="DIR",
                          help="folder for best-lr.csv and lr-transfer.png "
                               "(default out/lr-transfer)")
    _import_parser(commands)
    _once(parser)
    return parser


def _import_parser(commands) -> None:
    """`scaling import lm-eval|wandb SOURCES --out RUNS.parquet`: foreign results to a run table
    (`scaling.data.importers`)."""
    importer = commands.add_parser("import", help="read foreign results into a run table")
    formats = importer.add_subparsers(dest="import_format", required=True, metavar="FORMAT")
    lm_eval = formats.add_parser(
        "lm-eval", help="lm-eval-harness result JSONs (files, or folders searched recursively)")
    lm_eval.add_argument("paths", nargs="+", metavar="PATH", help="result JSONs or folders")
    wandb = formats.add_parser("wandb", help="W&B CSV exports (history tables or chart panels)")
    wandb.add_argument("paths", nargs="+", metavar="EXPORT.csv", help="W&B CSV exports")
    for command in (lm_eval, wandb):
        command.add_argument("--out", required=True, metavar="RUNS.parquet",
                             help="the run table to write (Parquet)")
        command.add_argument("--params", action="append", default=[],
                             metavar="MODEL=N" if command is lm_eval else "RUN=N",
                             help="parameter count of a model/run (repeatable)")
        command.add_argument("--tokens-per-step", type=float, metavar="T",
                             help="tokens = step × T")
    lm_eval.add_argument("--preset", help="a known suite: pythia (params and tokens per step)")
    lm_eval.add_argument("--shots", type=non_negative_int, metavar="K",
                         help="keep the files with num_fewshot K (needed when they mix)")
    lm_eval.add_argument("--step", type=non_negative_int, metavar="N",
                         help="checkpoint step of files whose model_args has no revision=stepN")
    lm_eval.add_argument("--metric", action="append", default=[], metavar="TASK=METRIC",
                         help="the metric that is acc:TASK (default acc; *=acc_norm for every "
                              "task that has it; repeatable)")
    lm_eval.add_argument("--loss-task", metavar="TASK",
                         help="the task whose ln(perplexity) stands in for the required loss "
                              "(default lambada_openai)")
    lm_eval.add_argument("--no-stderr", action="store_true",
                         help="leave out the *_stderr metrics")
    wandb.add_argument("--map", action="append", default=[], metavar='COL="File col"',
                       help='contract column from a file column, e.g. loss="train/CELoss", '
                            'acc:hellaswag="eval/downstream/hellaswag_len_norm" (repeatable)')
    wandb.add_argument("--params-file", metavar="PARAMS.csv",
                       help="parameter counts: a CSV with columns run, params")
    wandb.add_argument("--dedupe", choices=("first", "last", "mean"),
                       help="two rows of one run at one step (a resumed run logs its steps "
                            "again): keep the first, the last or their mean (default: an error "
                            "naming both)")


def main(argv=None) -> int:
    return run_command(lambda: _run(argv))


def _run(argv) -> int:
    args = _parser().parse_args(argv)
    _check_queries(args)
    _check_repeated_names(args)
    return _COMMANDS[args.command](args)


def _check_queries(args) -> None:
    """--where, --train and --test checked before anything is read or fitted: a query is data
    (`scaling.data.query`), and one outside its whitelist is a one-line error."""
    from scaling.data.query import parse

    for option in ("where", "train", "test"):
        text = getattr(args, option, None)
        if text is not None:
            parse(text, f"--{option}", getattr(args, "runs", None))


def _check_repeated_names(args) -> None:
    """`--set NAME=…`, `--input NAME=…` and `--map COL=…` given twice for one name with
    different values: an error naming both, not the last one winning (identical repeats pass)."""
    if args.command == "import":
        return                         # the importers read their own pairs
    for option, attribute in (("--set", "settings"), ("--input", "input"), ("--map", "map")):
        seen = {}
        for item in getattr(args, attribute, None) or ():
            name, sep, value = (part.strip() for part in str(item).partition("="))
            if not sep:
                continue                     # malformed: the option's own parser says so
            if option == "--set":
                name = name.replace("-", "_")
            key = value.strip("'\"") if option == "--map" else value
            if option == "--input":
                try:
                    key = tuple(float(v) for v in value.split(","))
                except ValueError:
                    continue
            if name in seen and seen[name][0] != key:
                raise ScalingError(f"{option} {name} given twice, {seen[name][1]!r} and "
                                   f"{item!r}: give it once")
            seen.setdefault(name, (key, item))
            option_value = getattr(args, name, None) \
                if option == "--input" and name in getattr(args, "input_names", ()) else None
            if option_value is not None and [float(v) for v in option_value] != list(key):
                raise ScalingError(f"--{name.replace('_', '-')} {_shown(option_value)} and "
                                   f"--input {item!r}: give {name} once")


def _settings(args) -> dict:
    from scaling.laws import parse_settings

    settings = parse_settings(args.settings)
    if args.chance is not None and not 0 <= args.chance < 1:
        raise ScalingError(f"--chance must be in [0, 1), got {args.chance:g}")
    options = {"delta": args.delta, "chance": args.chance,
               "task": args.task if args.task != "all" else None}
    for name, value in options.items():
        if value is None:
            continue
        if name in settings and not _same_setting(settings[name], value):
            raise ScalingError(f"--{name} {_shown(value)} and --set {name}={settings[name]}: "
                               "give it once")
        settings[name] = value
    return settings


def _same_setting(text: str, value) -> bool:
    """Whether a --set value (text) says what an option's value says."""
    if isinstance(value, str):
        return text.strip() == value.strip()
    try:
        return float(text) == float(value)
    except ValueError:
        return False


def _task_runs(args):
    """The task law's runs, tasks and variants for --task/--variant (None when neither is given):
    (runs, tasks, variants, settings)."""
    from scaling.analysis.backtest import task_names
    from scaling.data.runs import parse_mapping, read_runs, read_table

    if args.task is None and args.variant is None:
        return None
    task_law = args.law in (None, "task")
    if not task_law and args.variant is not None:
        raise ScalingError(f"--variant is the task law's; --law {args.law} has none")
    if not task_law and args.task != "all":
        return None                                  # one task of another law: its setting
    if not task_law:
        from scaling.laws import get_law

        get_law(args.law, task="all")   # a law without tasks: the error --task NAME gives
    if args.lr_file:
        raise ScalingError("--lr-file: the task laws do not read learning rates")
    settings = _settings(args)
    if not task_law:
        variants = [args.law]
    else:
        variants = list(VARIANT_NAMES) if args.variant == "all" else [args.variant or "two-step"]
    if args.task is None:
        raise ScalingError("--variant: give the task too, --task NAME (or --task all)")
    if args.where or args.command == "backtest":     # the law checks the rows they keep
        runs = read_table(args.runs, parse_mapping(args.map))
    else:
        runs = read_runs(args.runs, mapping=parse_mapping(args.map), dedupe=args.dedupe)
    if args.task == "all":
        reads_task_loss = {"two-step", "gadre", "task", "task-accuracy", "task-error",
                           "task-loss"}
        needs_loss = any(v in reads_task_loss for v in variants) and \
            not (settings.get("intermediate") or settings.get("input")
                 or settings.get("target"))
        tasks = task_names(runs, needs_loss)
        if not tasks:
            raise ScalingError(f"{args.runs}: --task all finds no task: no acc:NAME column"
                               + (" with a loss:NAME column beside it" if needs_loss else ""))
    else:
        tasks = [args.task]
    settings.pop("task", None)
    from scaling.analysis.backtest import variant_law
    from scaling.laws import get_law

    for variant in variants:                       # every variant's target, before any fit
        name, law_settings = variant_law(variant, {**settings, "task": tasks[0]})
        _check_target(get_law(name, **law_settings))
    return runs, tasks, variants, settings


def _law_and_runs(args):
    from scaling.laws import get_law
    from scaling.data.runs import parse_mapping, read_runs, read_table

    settings = _settings(args)
    law = get_law(args.law or "chinchilla", **settings)
    law.check_settings()
    _check_target(law)
    if args.where or args.command == "backtest":
        # the law checks the rows the queries keep (`Law.prepare_rows`), so a bad row a query
        # drops is no error: read the table as it is
        runs = read_table(args.runs, parse_mapping(args.map))
    else:
        runs = read_runs(args.runs, mapping=parse_mapping(args.map), columns=law.read_columns,
                         dedupe=args.dedupe)
    lr_file = None
    if args.lr_file:
        from scaling.data.lr_history import read_lr_file

        lr_file = read_lr_file(args.lr_file)
    return law, settings, runs, lr_file


def _check_target(law) -> None:
    """The law's target (`--set target=…`) must be a measured column: not one of the law's
    inputs, nor a column of the contract that describes the run (its id, size, tokens, compute,
    step, LR, text columns); a non-numeric column of the file is the reader's one-line error."""
    from scaling.data.runs import NUMERIC, STRING

    target = law.target
    measured = {"loss", "loss_unigram", "bits_per_char"}
    if target in law.inputs:
        why = f"is one of the {law.name} law's inputs ({', '.join(law.inputs)})"
    elif target in STRING or target == "final":
        why = "is not a number (the contract's column of text)"
    elif target in NUMERIC and target not in measured:
        why = "describes the run rather than measuring it (a column of the contract)"
    else:
        return
    raise ScalingError(f"--set target={target}: {target!r} {why}; the target is what the law "
                       "predicts: a measured column such as loss, loss:<task> or acc:<task>")


def _check_outputs(args) -> None:
    """Every output path and format checked before the work starts, so a typo never costs a
    finished fit: --out, --json (a writable file, not a folder) and --plot (also a format
    matplotlib writes); and none is an input or another output (`scaling.output.paths`)."""
    examples = {"out": "curve.csv" if args.command == "predict" else "fit.json",
                "json": "predictions.json" if args.command == "predict" else "backtest.json"}
    for attribute, example in examples.items():
        if getattr(args, attribute, None):
            check_output(getattr(args, attribute), f"--{attribute}", example=example)
    if getattr(args, "plot", None):
        check_output(args.plot, "--plot", plot_formats(), "fig.png")
    check_distinct([(f"--{name}", getattr(args, name, None)) for name in ("out", "plot", "json")],
                   [("FIT.json", args.fit)] if args.command == "predict" else
                   [("RUNS", args.runs), ("--lr-file", args.lr_file)])


def _fit(args) -> int:
    from scaling.engine.fitting import check_bootstrap

    check_bootstrap(args.bootstrap)
    _check_outputs(args)
    tasks = _task_runs(args)
    if tasks is not None:
        return _fit_tasks(args, *tasks)
    law, _, runs, lr_file = _law_and_runs(args)
    fit = _fitted(args, law, runs, lr_file)
    print(fit.summary())
    _save_fit(args, fit)
    return 0


def _fitted(args, law, runs, lr_file=None):
    """Fit `law` to the runs as the fit options say (`scaling.api.fit_prepared`); the `Fit`."""
    from scaling.api import fit_prepared

    if args.where:      # only the rows the query keeps are checked
        data = law.prepare_where(runs, args.where, lr_file, dedupe=args.dedupe)
    else:
        data = law.prepare(runs, lr_file)
    return fit_prepared(law, data, bootstrap=args.bootstrap, seed=args.seed, n_jobs=args.jobs,
                        calibrate=not args.no_calibration)


def _save_fit(args, fit) -> None:
    """--out and --plot of `scaling fit`."""
    from scaling.output.plots import plot_fit

    if args.out:
        fit.save(args.out)
        print(f"\nsaved fit to {args.out}")
    if args.plot:
        plot_fit(fit, fit.data, args.plot)
        print(f"saved plot to {args.plot}")


def _fit_tasks(args, runs, tasks, variants, settings) -> int:
    """`scaling fit --task NAME|all [--variant V|all]`: the task law per task and variant."""
    from scaling.analysis.backtest import variant_law
    from scaling.laws import get_law
    from scaling.output.format import table

    several = len(tasks) * len(variants) > 1
    if several and (args.out or args.plot):
        raise ScalingError("--out and --plot save one fit: give one --task and one --variant")
    summary = []
    for task in tasks:
        for variant in variants:
            name, law_settings = variant_law(variant, {**settings, "task": task})
            law = get_law(name, **law_settings)
            fit = _fitted(args, law, runs)
            if several:
                print(f"== task {task}, variant {variant} ==")
            print(fit.summary())
            if several:
                print()
            summary.append((task, variant, str(fit.n_runs_),
                            "yes" if fit.converged_ else "NO",
                            ", ".join(f"{k}={v:.4g}" for k, v in fit.params_.items())))
    if several:
        print(table(("task", "variant", "runs", "converged", "parameters"), summary,
                    right=("runs",)))
    _save_fit(args, fit)
    return 0


def _predict(args) -> int:
    from scaling.errors import ScalingError
    from scaling.laws import load_fit
    from scaling.engine.diagnostics import fit_warnings, render
    from scaling.output.report import (allocation_record, compute_optimal_table, interval_kind,
                                prediction_record, prediction_table)
    from scaling.data.runs import check_sensible_inputs

    _check_outputs(args)
    law = load_fit(args.fit)
    _check_predict_options(law, args)
    interval_kind(law, args.interval)          # a kind the fit lacks: an error before any work
    if args.optimal_vocab:
        return _predict_optimal_vocab(law, args)
    if args.sparsity is not None:
        return _predict_pruning_advice(law, args)
    if args.schedule:
        return _predict_schedule(law, args)
    if args.compare:
        return _compare_schedules(law, args)
    if args.flops and getattr(args, "unique_tokens", None) is not None:
        return _predict_data_limited(law, args)
    if args.flops:
        if not law.allocates_compute:
            raise ScalingError(f"the {law.name} law has no compute-optimal allocation; "
                               "give its inputs instead of --flops"
                               + (" (or --optimal-vocab --params-nonembed N --width d --flops C "
                                  "for the optimal vocabulary at a budget)"
                                  if law.optimizes_vocabulary else ""))
        if any(not (c > 0 and c < float("inf")) for c in args.flops):
            raise ScalingError("--flops must be positive and finite")
        check_sensible_inputs(args.flops, "flops", "--flops")
        print(compute_optimal_table(law, args.flops, args.interval))
        _print_warnings(render(fit_warnings(law)))
        _write_json(args, lambda: allocation_record(law, args.flops, args.interval))
        return 0
    values = {name: getattr(args, name, None) for name in law.inputs if name.isidentifier()}
    values.update(_named_inputs(args.input))
    values = {name: values.get(name) for name in law.inputs}
    if all(v is None for v in values.values()) and law.predicts_schedules:
        raise ScalingError(f"the {law.name} law predicts whole curves: give --schedule SPEC "
                           "or --compare peak=…,warmup=…,steps=…,final=…")
    if all(v is None for v in values.values()):
        raise ScalingError(f"give {' and '.join(law.input_option(n) for n in law.inputs)}"
                           + (" or --flops" if law.allocates_compute else ""))
    try:
        print(prediction_table(law, args.interval, **values))
    except ValueError as exc:
        if isinstance(exc, ScalingError):
            raise
        raise ScalingError(f"input lists of different lengths ({exc})") from None
    _write_json(args, lambda: prediction_record(law, args.interval, **values))
    return 0


def _print_warnings(lines) -> None:
    if lines:
        print("\n" + "\n".join(lines))


def _write_json(args, record) -> None:
    """--json: the predictions' record (`record()`), written atomically."""
    from scaling.output.atomic import write_text

    if args.json:
        write_text(args.json, json.dumps(json_ready(record()), indent=1, allow_nan=False))
        print(f"saved predictions to {args.json}")


def _check_predict_options(law, args) -> None:
    """Options that this prediction would not use are errors, not silently ignored."""
    from scaling.errors import ScalingError

    given = [name for name in args.input_names if getattr(args, name, None) is not None] + \
        list(_named_inputs(args.input))
    if "unique_tokens" in given and not law.advises_data_limit:
        raise ScalingError(f"--unique-tokens: the {law.name} law has no data limit; it goes with "
                           "a fit of --law data-constrained (with --flops C: the best "
                           "allocation under a supply of U unique tokens)")
    if args.flops and "unique_tokens" in given:
        given.remove("unique_tokens")        # the data limit of `data_limited`
    if args.optimal_vocab:
        return _check_optimal_vocab_options(law, args, given)
    if args.sparsity is not None:
        return _check_pruning_advice_options(law, args, given)
    for option, value in (("--prunable", args.prunable), ("--pruning", args.pruning)):
        if value is not None:
            raise ScalingError(f"{option} goes with --sparsity S (the sparse law's pruning "
                               "advice)")
    if args.width is not None:
        raise ScalingError("--width goes with --optimal-vocab (the vocabulary law's optimal "
                           "vocabulary size); this prediction takes the law's inputs")
    curve = "--schedule" if args.schedule else "--compare" if args.compare else None
    if args.schedule and args.compare:
        raise ScalingError("give --schedule or --compare, not both")
    if curve is None:
        for option, value in (("--out", args.out), ("--plot", args.plot), ("--every", args.every)):
            if value is not None:
                raise ScalingError(f"{option} goes with --schedule or --compare (a predicted "
                                   "curve); this prediction prints a table")
    sizes = ["params"] if curve and "params" in law.inputs else []
    usable = sizes if curve else ([] if args.flops else list(law.inputs))
    for name in given:
        if name in usable:
            continue
        option = law.input_option(name)
        if curve:
            takes = f"{law.input_option(sizes[0])} alone" if sizes else "no input but the schedule"
            raise ScalingError(f"{option}: with {curve} the {law.name} law takes {takes}")
        if args.flops:
            raise ScalingError(f"{option}: --flops gives the inputs (the compute-optimal "
                               "allocation); give --flops or the inputs, not both")
        if law.predicts_schedules:
            raise ScalingError(f"{option}: the {law.name} law predicts whole curves: give "
                               "--schedule SPEC or --compare "
                               "peak=…,warmup=…,steps=…,final=…")
        raise ScalingError(f"{option}: the {law.name} law's inputs are "
                           + " and ".join(law.input_option(n) for n in law.inputs))
    if curve and args.flops:
        raise ScalingError(f"--flops: with {curve} the {law.name} law predicts a curve, not a "
                           "compute-optimal allocation")


def _check_optimal_vocab_options(law, args, given) -> None:
    """--optimal-vocab takes --params-nonembed, --width and --flops (and --json, --interval)."""
    from scaling.errors import ScalingError

    if not law.optimizes_vocabulary:
        raise ScalingError(f"--optimal-vocab: the {law.name} law has no optimal vocabulary; fit "
                           "the vocabulary law (scaling fit RUNS --law vocab)")
    for option, value in (("--schedule", args.schedule), ("--compare", args.compare),
                          ("--out", args.out), ("--plot", args.plot), ("--every", args.every)):
        if value is not None:
            raise ScalingError(f"{option} does not go with --optimal-vocab")
    for name in given:
        if name != "params_nonembed":
            raise ScalingError(f"{law.input_option(name)}: with --optimal-vocab the {law.name} "
                               "law takes --params-nonembed N, --width d and --flops C")
    if args.params_nonembed is None or args.width is None:
        raise ScalingError("--optimal-vocab needs --params-nonembed N and --width d (and "
                           "--flops C for a budget of your own)")


def _check_pruning_advice_options(law, args, given) -> None:
    """--sparsity takes --params, --tokens, --prunable, --pruning (and --json, --interval)."""
    from scaling.errors import ScalingError

    if law.name != "sparse":
        raise ScalingError(f"--sparsity: the {law.name} law has no pruning advice; fit the "
                           "sparse law (scaling fit RUNS --law sparse)")
    for option, value in (("--schedule", args.schedule), ("--compare", args.compare),
                          ("--out", args.out), ("--plot", args.plot), ("--every", args.every),
                          ("--flops", args.flops), ("--width", args.width)):
        if value is not None:
            raise ScalingError(f"{option} does not go with --sparsity")
    for name in given:
        if name not in ("params", "tokens"):
            raise ScalingError(f"{law.input_option(name)}: with --sparsity the {law.name} law "
                               "takes --params N (the dense model's) and --tokens D")
    for name in ("params", "tokens"):
        values = getattr(args, name, None)
        if values is None or len(values) != 1:
            raise ScalingError(f"--sparsity needs one --{name} value (the dense model's "
                               f"{'parameters' if name == 'params' else 'training tokens'})")


def _predict_pruning_advice(law, args) -> int:
    from scaling.laws.sparse import schedule_advice, schedule_advice_table
    from scaling.output.report import interval_kind
    from scaling.data.runs import check_sensible_inputs

    check_sensible_inputs(args.params, "params", "--params")
    check_sensible_inputs(args.tokens, "tokens", "--tokens")
    record = schedule_advice(law, args.params[0], args.tokens[0], args.sparsity, args.prunable,
                             args.pruning or "geometric", interval=interval_kind(law,
                                                                                 args.interval))
    print(schedule_advice_table(law, record))
    _write_json(args, lambda: record)
    return 0


def _predict_optimal_vocab(law, args) -> int:
    from scaling.errors import ScalingError
    from scaling.output.report import interval_kind, optimal_vocab_record, optimal_vocab_table
    from scaling.data.runs import check_sensible_inputs

    values = {"--params-nonembed": args.params_nonembed, "--width": args.width,
              "--flops": args.flops}
    for option, numbers in values.items():
        if numbers is None:
            continue
        if any(not (v > 0 and v < float("inf")) for v in numbers):
            raise ScalingError(f"{option} must be positive and finite")
        check_sensible_inputs(numbers, {"--params-nonembed": "params", "--width": "width",
                                        "--flops": "flops"}[option], option)
    lengths = {len(v) for v in values.values() if v is not None} - {1}
    if len(lengths) > 1:
        raise ScalingError("--params-nonembed, --width and --flops: give one value or lists of "
                           "one length")
    kind = interval_kind(law, args.interval)
    result = law.optimal_vocab(args.params_nonembed, args.width, args.flops, kind)
    print(optimal_vocab_table(law, result, kind))
    _write_json(args, lambda: optimal_vocab_record(law, result, kind))
    return 0


def _predict_data_limited(law, args) -> int:
    """--flops C … --unique-tokens U: the data-constrained law's advice under a data limit."""
    from scaling.engine.diagnostics import fit_warnings, render
    from scaling.laws.data_constrained import advice_record, advice_table, advice_warnings
    from scaling.output.report import interval_kind
    from scaling.data.runs import check_sensible_inputs

    for option, numbers, column in (("--flops", args.flops, "flops"),
                                    ("--unique-tokens", args.unique_tokens, "tokens")):
        if any(not (v > 0 and v < float("inf")) for v in numbers):
            raise ScalingError(f"{option} must be positive and finite")
        check_sensible_inputs(numbers, column, option)
    if len(args.flops) != len(args.unique_tokens) and 1 not in (len(args.flops),
                                                                  len(args.unique_tokens)):
        raise ScalingError("--flops and --unique-tokens: give one value or lists of one length")
    kind = interval_kind(law, args.interval)
    advice = law.data_limited(args.flops, args.unique_tokens, kind)
    print(advice_table(law, advice))
    _print_warnings(render(advice_warnings(law, advice) + fit_warnings(law)))
    _write_json(args, lambda: advice_record(law, advice))
    return 0


def _named_inputs(items) -> dict[str, list[float]]:
    """`--input loss:hellaswag=0.9,0.8` → {"loss:hellaswag": [0.9, 0.8]}."""
    from scaling.errors import ScalingError

    values = {}
    for item in items:
        name, sep, text = (part.strip() for part in item.partition("="))
        try:
            numbers = [float(v) for v in text.split(",")]
        except ValueError:
            numbers = None
        if not sep or not name or numbers is None:
            raise ScalingError(f"bad --input {item!r}: expected NAME=X or NAME=X,Y,…")
        values[name] = numbers
    return values


def _predict_schedule(law, args) -> int:
    from scaling.output.atomic import atomic_path
    from scaling.errors import ScalingError
    from scaling.output.plots import plot_curve
    from scaling.output.report import curve_record, curve_table, curve_warnings, interval_kind

    if not law.predicts_schedules:
        raise ScalingError(f"the {law.name} law does not predict curves; --schedule needs "
                           "an LR-schedule law (see `scaling laws`)")
    kind = interval_kind(law, args.interval)
    curve = law.predict_schedule(args.schedule, every=args.every, kind=kind,
                                 **_sizes(law, args))
    shown = curve.iloc[np.unique(np.linspace(0, len(curve) - 1, 11).astype(int))]
    print(curve_table(law, shown, kind))
    _every_note(args, curve)
    _print_warnings(curve_warnings(law, {args.schedule: curve}, with_fit=True))
    if args.out:
        with atomic_path(args.out) as temporary:
            curve.to_csv(temporary, index=False)
        print(f"saved curve to {args.out}")
    if args.plot:
        plot_curve(curve, args.schedule, args.plot, target=law.target, interval=kind,
                   level=law.confidence, fitted_steps=_fitted_steps(law))
        print(f"saved plot to {args.plot}")
    _write_json(args, lambda: curve_record(law, {args.schedule: curve}, kind))
    return 0


def _fitted_steps(law):
    """(first, last) fitted step of a curve law (the plots shade it), or None."""
    steps = getattr(law, "fitted_range_", {}).get("step")
    return tuple(steps) if steps else None


def _every_note(args, *curves) -> None:
    """Say so when the default --every left steps out of a predicted curve."""
    gaps = sorted({int(c["step"].iloc[1] - c["step"].iloc[0]) for c in curves if len(c) > 1})
    if args.every is None and gaps and gaps[-1] > 1:
        every = f"{gaps[0]}" if len(gaps) == 1 else f"{gaps[0]} to {gaps[-1]}"
        print(f"(a row every {every} steps and at the last step, the default for "
              f"{'this schedule' if len(curves) == 1 else 'these schedules'} and this fit; "
              "--every K sets it)")


def _sizes(law, args) -> dict:
    """--params for curve laws with a size term (one value)."""
    from scaling.errors import ScalingError

    if "params" not in law.inputs or args.params is None:
        return {}
    if len(args.params) != 1 or not 0 < args.params[0] < float("inf"):
        raise ScalingError("--params: give one positive model size with --schedule/--compare")
    return {"params": args.params[0]}


def _compare_schedules(law, args) -> int:
    from scaling.analysis.schedule_comparison import compare_schedules
    from scaling.output.plots import plot_curves
    from scaling.output.report import (curve_record, curve_warnings, final_rows_table, interval_kind)

    kind = interval_kind(law, args.interval)
    curves = compare_schedules(law, args.compare, every=args.every, kind=kind,
                               **_sizes(law, args))
    print(final_rows_table(law, curves, kind))
    _every_note(args, *curves.values())
    _print_warnings(curve_warnings(law, curves, with_fit=True))
    if args.out:
        import pandas as pd

        from scaling.output.atomic import atomic_path

        with atomic_path(args.out) as temporary:
            pd.concat([curve.assign(schedule=name) for name, curve in curves.items()],
                      ignore_index=True).to_csv(temporary, index=False)
        print(f"saved curves to {args.out}")
    if args.plot:
        plot_curves(curves, args.compare, args.plot, target=law.target, interval=kind,
                    level=law.confidence, fitted_steps=_fitted_steps(law))
        print(f"saved plot to {args.plot}")
    _write_json(args, lambda: curve_record(law, curves, kind))
    return 0


def _backtest(args) -> int:
    from scaling.output.atomic import write_text
    from scaling.analysis.backtest import backtest
    from scaling.output.report import backtest_report

    from scaling.engine.fitting import check_bootstrap

    check_bootstrap(args.bootstrap)
    _check_outputs(args)
    tasks = _task_runs(args)
    if tasks is not None:
        from scaling.analysis.backtest import task_backtests

        runs, names, variants, settings = tasks
        record = task_backtests(runs, names, variants, args.train, args.test, settings,
                                where=args.where, dedupe=args.dedupe,
                                bootstrap=args.bootstrap, seed=args.seed,
                                n_jobs=args.jobs, calibrate=not args.no_calibration,
                                interval=args.interval)
        print(backtest_report(record, record.get("fit", {}).get("inputs", ())))
        _table_warnings(args, runs, record)
        if args.json:
            write_text(args.json, json.dumps(json_ready(record), indent=1, allow_nan=False))
            print(f"\nsaved backtest to {args.json}")
        return 0
    law, settings, runs, lr_file = _law_and_runs(args)
    record = backtest(runs, law, args.train, args.test, where=args.where, lr_file=lr_file,
                      dedupe=args.dedupe, bootstrap=args.bootstrap, seed=args.seed,
                      n_jobs=args.jobs, calibrate=not args.no_calibration,
                      interval=args.interval)
    print(backtest_report(record, law.inputs))
    _table_warnings(args, runs, record)
    if args.json:
        write_text(args.json, json.dumps(json_ready(record), indent=1, allow_nan=False))
        print(f"\nsaved backtest to {args.json}")
    return 0


def _table_warnings(args, runs, record) -> None:
    """A backtest's run-table warnings (`scaling.data.units`: flops-units, tokens-per-param): printed,
    and kept in the record's table_warnings."""
    from scaling.data import units

    found = units.warnings(units.facts(runs), args.runs)
    _print_warnings([f"WARNING (run table): {w['message']}" for w in found])
    record["table_warnings"] = found


def _optimal(args) -> int:
    from scaling.analysis import approaches
    from scaling.output.atomic import write_text
    from scaling.engine.fitting import check_bootstrap
    from scaling.analysis.approaches import approaches_report
    from scaling.data.runs import parse_mapping, read_runs

    check_bootstrap(args.bootstrap)
    if args.json:
        check_output(args.json, "--json", example="optimal.json")
    check_distinct([("--json", args.json)], [("RUNS", args.runs)])
    from scaling.data.runs import check_sensible_inputs

    for option, budgets in (("--flops", args.flops), ("--budgets", args.budgets)):
        if budgets is None:
            continue
        if any(not (np.isfinite(c) and c > 0) for c in budgets):
            raise ScalingError(f"{option}: budgets must be positive numbers")
        check_sensible_inputs(budgets, "flops", option)     # the range predict and plan hold
    runs = read_runs(args.runs, mapping=parse_mapping(args.map), where=args.where,
                     dedupe=args.dedupe)
    source = args.runs
    asked = (1, 2, 3) if args.approach == "all" else (int(args.approach),)
    results, unsupported = {}, {}
    for number in asked:
        try:
            if number == 1:
                results[1] = approaches.approach1(runs, bootstrap=args.bootstrap, seed=args.seed,
                                                  source=source)
            elif number == 2:
                results[2] = approaches.approach2(
                    runs, tolerance=args.tolerance, rows=args.rows,
                    interpolation=args.interpolation, budgets=args.budgets,
                    bootstrap=args.bootstrap, seed=args.seed, source=source)
            else:
                results[3] = approaches.approach3(runs, bootstrap=args.bootstrap, seed=args.seed,
                                                  n_jobs=args.jobs)
        except ScalingError as error:
            if len(asked) == 1:
                raise
            unsupported[number] = str(error).removeprefix(f"{source}: ")
    if not results:
        raise ScalingError(f"{source}: no approach is supported by these runs: "
                           + "; ".join(f"approach {k}: {v}" for k, v in unsupported.items()))
    budgets = args.flops if args.flops is not None else (1e21, 1e22, 1e23, 1e24, 1e25)
    print(approaches_report(results, unsupported, budgets, source, args.where))
    if args.json:
        allocations = {k: result.allocation(budgets) for k, result in results.items()}
        record = {"source": source, "where": args.where,
                  "approaches": {str(k): v.to_dict() for k, v in results.items()},
                  "unsupported": {str(k): v for k, v in unsupported.items()},
                  "allocation": [
                      {"flops": float(c), "approach": k,
                       **{q: {"value": v[0][i], "lower": v[1][i], "upper": v[2][i]}
                          for q, v in allocations[k].items()}}
                      for i, c in enumerate(budgets) for k in allocations]}
        write_text(args.json, json.dumps(json_ready(record), indent=1, allow_nan=False))
        print(f"\nsaved compute-optimal allocation to {args.json}")
    return 0


def _plan(args) -> int:
    from pathlib import Path

    from scaling.analysis import planning
    from scaling.engine.fitting import check_bootstrap
    from scaling.laws import load_fit
    from scaling.data.runs import parse_mapping, read_runs

    budget = planning.check_budget(args.budget)
    check_bootstrap(args.bootstrap)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ScalingError(f"--out {out}: is a file; give a folder for report.md and report.html")
    for name in (planning.REPORT_MD, planning.REPORT_HTML):
        check_output(out / name, "--out")
    check_distinct([("--out", out / name) for name in (planning.REPORT_MD, planning.REPORT_HTML,
                                                         *planning.PLOTS.values())],
                   [*(("--fit", path) for path in args.fit), ("--runs", args.runs)])
    if not args.fit:
        raise ScalingError("give --fit FIT.json: a fit of a loss law that allocates compute "
                           "(make one with `scaling fit RUNS --out FIT.json`)")
    fits = [planning.PlanFit(path, load_fit(path)) for path in args.fit]
    planning.check_plan_inputs(fits, unique_tokens=args.unique_tokens, schedule=args.schedule,
                               tokens_per_step=args.tokens_per_step,
                               inference_tokens=args.inference_tokens)
    if args.width is not None and not (np.isfinite(args.width) and args.width > 0):
        raise ScalingError(f"--width must be positive and finite, got {args.width:g}")
    runs = None
    if args.runs:
        runs = read_runs(args.runs, mapping=parse_mapping(args.map), where=args.where,
                         dedupe=args.dedupe)
    elif args.where or args.map:
        raise ScalingError("--where and --map read --runs RUNS; give it")
    doc = planning.plan(budget, fits, runs=runs, runs_source=args.runs,
                        inference_tokens=args.inference_tokens, unique_tokens=args.unique_tokens,
                        schedule=args.schedule, tokens_per_step=args.tokens_per_step,
                        width=args.width, bootstrap=args.bootstrap)
    md, page = planning.write(doc, out)
    print("\n".join(doc.summary_lines))
    print(f"\nwrote {md} (figures beside it) and {page} (self-contained)")
    return 0


def _laws(args) -> int:
    from scaling.laws import LAWS

    for name, law_class in sorted(LAWS.items()):
        law = law_class()
        lr = " (+ lr at every step, a schedule or --lr-file)" if law.uses_lr_histories else ""
        print(f"{name:<16} columns: {', '.join(('run', *law.read_columns))}{lr}")
        if law.aliases:
            print(f"{'':<16} also --law {', '.join(law.aliases)}")
        print(f"{'':<16} {law.title}")
        print(f"{'':<16} {law.equation}")
        print(f"{'':<16} target {law.target}, {law.space} space, {law.rows} rows; settings: "
              + ", ".join(f"{s.name}=" + (("(required)" if s.required else "(auto)")
                                          if getattr(law, s.name) is None
                                          else f"{getattr(law, s.name)}")
                          for s in law.settings_spec))
    return 0


def _ladder(args) -> int:
    from ladders.launch import run_command as run_ladder_command, specs_table

    if args.ladder_command == "specs":
        print(specs_table())
        return 0
    if args.ladder_command == "coord-check":
        from ladders.coord_check import command
        from ladders.spec import SpecError, find_spec

        try:
            spec = find_spec(args.spec)
        except SpecError:
            spec = None                     # the command says why
        _check_folder_outputs(args.out, ("coord-check.csv", "coord-check.png"),
                              [("SPEC", spec)])
        return command(args)
    if args.ladder_command == "lr-transfer":
        from ladders.lr_transfer import command as lr_transfer_command

        _check_folder_outputs(args.out, ("best-lr.csv", "lr-transfer.png"),
                              [("RUNS", path) for path in args.runs])
        return lr_transfer_command(args)
    return run_ladder_command(args)


def _check_folder_outputs(folder, names, inputs) -> None:
    """--out DIR of a command that writes `names` in DIR: none of them is an input."""
    from pathlib import Path

    check_distinct([("--out", Path(folder) / name) for name in names], inputs)


def _import(args) -> int:
    from scaling.data.importers.lm_eval import parse_pairs
    from scaling.data.runs import write_runs

    check_output(args.out, "--out", {"parquet", "pq"}, "runs.parquet")
    check_distinct([("--out", args.out)],
                   [*(("PATH" if args.import_format == "lm-eval" else "EXPORT.csv", path)
                      for path in args.paths),
                    ("--params-file", getattr(args, "params_file", None))])
    params = parse_pairs(args.params, "--params", float)
    if args.import_format == "lm-eval":
        from scaling.data.importers.lm_eval import read_lm_eval

        runs = read_lm_eval(args.paths, params=params, preset=args.preset,
                            tokens_per_step=args.tokens_per_step, shots=args.shots,
                            metrics=parse_pairs(args.metric, "--metric"), step=args.step,
                            loss_task=args.loss_task, stderr=not args.no_stderr)
    else:
        from scaling.data.importers.wandb import merge_params, read_wandb
        from scaling.data.runs import parse_mapping

        if args.params_file:
            params = merge_params(args.params_file, params)
        runs = read_wandb(args.paths, mapping=parse_mapping(args.map), params=params,
                          tokens_per_step=args.tokens_per_step, dedupe=args.dedupe)
    write_runs(runs, args.out)
    for note in runs.attrs.get("notes", ()):
        print(f"note: {note}")
    print(_import_summary(runs, args.out))
    return 0


def _import_summary(runs, out) -> str:
    tasks = sorted({c.partition(":")[2] for c in runs.columns if ":" in c})
    accuracies = [c for c in runs.columns if c.startswith("acc:")]
    stand_in = ""
    if "loss_task" in runs.columns:
        stand_in = (f"; loss stands in for loss:{runs['loss_task'].iloc[0]} (the task's "
                    "ln perplexity: lm-eval reports no LM loss)")
    shown = ", ".join(tasks[:6]) + (", …" if len(tasks) > 6 else "")
    return (f"wrote {out}: {runs['run'].nunique()} runs, {len(runs)} rows from "
            f"{runs.attrs.get('files', '?')} files; {len(tasks)} tasks"
            + (f" ({shown})" if tasks else "")
            + f", {len(accuracies)} acc: columns, {len(runs.columns)} columns; tokens "
            f"{runs['tokens'].min():.4g} to {runs['tokens'].max():.4g}, params "
            f"{runs['params'].min():.4g} to {runs['params'].max():.4g}{stand_in}")


_COMMANDS = {"fit": _fit, "predict": _predict, "backtest": _backtest, "optimal": _optimal,
             "plan": _plan, "laws": _laws,
             "ladder": _ladder, "import": _import}

if __name__ == "__main__":
    sys.exit(main())
