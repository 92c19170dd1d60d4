"""Options the commands share: one function adds each (--where/--map/--dedupe, --bootstrap,
--seed, --level, --json, the run table's options), the argparse types they read with, and the
checks every command makes of its arguments before any work (queries, repeated names, outputs).

The meanings are the same in every command: --flops is a compute budget in FLOPs, --out a file
whose suffix says its format (a folder is --out-dir), --json writes JSON (`--json -`: to stdout,
the text report then goes to stderr), --level the two-sided level of the intervals shown.
"""

from __future__ import annotations

import argparse
import json
import sys

from scaling.analysis.backtest import VARIANT_NAMES
from scaling.data.query import parse as parse_query
from scaling.output.format import json_ready
from scaling.errors import ScalingError
from scaling.output.atomic import write_text
from scaling.output.console import (OneLineParser, check_output, non_negative_int, plot_formats,
                                    positive_int)
from scaling.output.paths import check_distinct

__all__ = ["CommandParser", "given_as", "add_bootstrap", "add_jobs", "add_json", "add_level",
           "add_reading_options", "add_seed", "add_table_options", "check_outputs", "check_queries",
           "check_repeated_names", "interval_level", "non_negative_int", "positive_int",
           "print_warnings", "refuse_twice", "shown", "write_json"]

STDOUT = "-"        # `--json -`


class CommandParser(OneLineParser):
    """The parser of `scaling` and its commands: an argparse error is the one line every error
    is, `scaling: error: argument --seed: must be 0 or more, got -1 (see scaling fit --help)`."""

    def error(self, message):
        raise ScalingError(f"{message} (see {self.prog} --help)")


class _StoreOnce(argparse._StoreAction):
    """An option that takes a value (or a list, nargs="+") and refuses a second, different one:
    `--params 1e8 ... --params 1e9` is an error naming both, not the last one winning."""

    def __call__(self, parser, namespace, values, option_string=None):
        given = vars(namespace).setdefault("_given_options", {})
        if self.dest in given and given[self.dest][1] != values:
            first_option, first = given[self.dest]
            raise argparse.ArgumentError(
                self, f"given twice, {first_option} {shown(first)} and {option_string} "
                      f"{shown(values)}: give it once")
        given[self.dest] = (option_string, values)
        super().__call__(parser, namespace, values, option_string)


def shown(values) -> str:
    """An option's value(s) as given: 1e+09, 1e+08 2e+08, 'params < 1e9'."""
    if isinstance(values, list):
        return " ".join(shown(v) for v in values)
    if isinstance(values, float):
        return f"{values:g}"
    return repr(values) if isinstance(values, str) else str(values)


def given_as(args, dest: str, default: str) -> str:
    """How the command line spelled an option that has aliases (`plan --flops` or `--budget`),
    for an error that names what the user typed."""
    return vars(args).get("_given_options", {}).get(dest, (default,))[0]


def refuse_twice(parser: argparse.ArgumentParser) -> None:
    """Every optional store action of `parser` and its subcommands refuses a second, different
    value (`_StoreOnce`)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for subparser in dict.fromkeys(action.choices.values()):
                refuse_twice(subparser)
        elif type(action) is argparse._StoreAction and action.option_strings:
            action.__class__ = _StoreOnce


def interval_level(text: str) -> float:
    """argparse type: a two-sided interval level in (0, 1) (`--level 0.9`)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid level: {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1), e.g. 0.9 for 90% intervals, "
                                         f"got {text}")
    return value


# -- options added by one function each ----------------------------------------------------------

def add_reading_options(command, where_help: str, of: str = "") -> None:
    """--where, --map and --dedupe: how a command reads its run table (`of`: which)."""
    command.add_argument("--where", help=where_help)
    command.add_argument("--map", action="append", default=[], metavar='COL="File col"',
                         help=f"read a file column{of} as a contract column (repeatable)")
    command.add_argument("--dedupe", choices=("first", "last", "mean"),
                         help="two rows of one run at one step: keep the first, the last or "
                              "their mean (default: an error naming both)")


def add_bootstrap(command, default: int, what: str, why: str = "") -> None:
    """--bootstrap K with this command's default (`why`: the reason it differs from fit's)."""
    command.add_argument("--bootstrap", type=non_negative_int, default=default, metavar="K",
                         help=f"bootstrap resamples {what} (default {default}; at least 20; "
                              f"0: none){'. ' + why if why else ''}")


def add_seed(command) -> None:
    command.add_argument("--seed", type=non_negative_int, default=0,
                         help="bootstrap seed (default 0)")


def add_jobs(command, workers: str = "bootstrap workers") -> None:
    command.add_argument("--jobs", type=positive_int, default=None,
                         help=f"{workers} (default: all cores)")


def add_level(command, what: str = "the intervals shown") -> None:
    """--level: the two-sided level of the intervals (default: the fit's confidence, 0.95)."""
    command.add_argument("--level", type=interval_level, metavar="P",
                         help=f"two-sided level of {what}, in (0, 1) (default 0.95)")


def add_json(command, what: str) -> None:
    command.add_argument("--json", metavar="OUT",
                         help=f"write {what} as JSON; `--json -`: to stdout (the text report "
                              "then goes to stderr)")


def add_table_options(command) -> None:
    """The options of the commands that fit a law to a run table (fit, backtest)."""
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
    add_reading_options(command, "keep rows matching a query (scaling/data/query.py), e.g. "
                                 "'params < 1e9' (after the law's derived columns)")
    add_seed(command)
    add_jobs(command)
    command.add_argument("--delta", type=float, default=None,
                         help="Huber delta, short for --set delta=… (default 1e-3)")
    add_level(command, "the intervals (short for --set confidence=P; saved with the fit)")
    command.add_argument("--lr-file", metavar="LR.csv",
                         help="LR-schedule laws: run, step, lr at every step (steps from 0 or "
                              "1); wins over the table's lr and schedule columns")


# -- checks before any work -----------------------------------------------------------------------

def check_queries(args) -> None:
    """--where, --train and --test checked before anything is read or fitted: a query is data
    (`scaling.data.query`), and one outside its whitelist is a one-line error."""
    for option in ("where", "train", "test"):
        text = getattr(args, option, None)
        if text is not None:
            parse_query(text, f"--{option}", getattr(args, "runs", None))


def check_repeated_names(args) -> None:
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
                raise ScalingError(f"--{name.replace('_', '-')} {shown(option_value)} and "
                                   f"--input {item!r}: give {name} once")


def check_outputs(args, inputs, out_example: str, json_example: str) -> None:
    """Every output path and format checked before the work starts, so a typo never costs a
    finished fit: --out, --json (a writable file, not a folder; `-` is stdout) and --plot (also
    a format matplotlib writes); and none is an input or another output
    (`scaling.output.paths`). `inputs`: [(option, path)]."""
    for attribute, example in (("out", out_example), ("json", json_example)):
        path = getattr(args, attribute, None)
        if path and not (attribute == "json" and path == STDOUT):
            check_output(path, f"--{attribute}", example=example)
    if getattr(args, "plot", None):
        check_output(args.plot, "--plot", plot_formats(), "fig.png")
    outputs = [(f"--{name}", getattr(args, name, None)) for name in ("out", "plot", "json")]
    check_distinct([(option, path) for option, path in outputs if path != STDOUT], inputs)


# -- what the commands print and write -----------------------------------------------------------

def print_warnings(lines) -> None:
    if lines:
        print("\n" + "\n".join(lines))


def write_json(args, record, saved: str) -> None:
    """--json: `record()` (NaN as null), written atomically to the file, or to stdout for
    `--json -`; `saved` is the line printed after a file is written ({path} in it)."""
    if not getattr(args, "json", None):
        return
    text = json.dumps(json_ready(record()), indent=1, allow_nan=False)
    if args.json == STDOUT:
        stream = getattr(args, "json_stream", None) or sys.stdout
        stream.write(text + "\n")
        stream.flush()
        return
    write_text(args.json, text)
    print(saved.format(path=args.json))
