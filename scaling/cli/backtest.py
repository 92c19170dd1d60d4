"""`scaling backtest RUNS --law NAME --train Q [--test Q] [--json OUT]`: fit on some runs,
predict the held-out ones, and score the points and the intervals (`scaling.analysis.backtest`)."""

from __future__ import annotations

from scaling.analysis.backtest import backtest, task_backtests
from scaling.cli.options import (add_bootstrap, add_json, add_table_options, check_outputs,
                                 print_warnings, write_json)
from scaling.cli.reading import law_and_runs, task_runs
from scaling.data import units
from scaling.engine.fitting import check_bootstrap
from scaling.output.backtest_report import backtest_report

BOOTSTRAP = 200
WHY_BOOTSTRAP = ("200, not fit's 1000, to keep backtests quick: the law is refitted on every "
                 "resample, once per task and variant with --task all --variant all; give "
                 "--bootstrap 1000 for fit's intervals")
SAVED = "\nsaved backtest to {path}"


def add_parser(commands) -> None:
    command = commands.add_parser("backtest", help="fit on some runs, predict the held-out ones")
    add_table_options(command)
    command.add_argument("--train", required=True, help="query selecting the training rows")
    command.add_argument("--test", help="query selecting the test runs (default: all others)")
    add_bootstrap(command, BOOTSTRAP, "for the intervals", WHY_BOOTSTRAP)
    command.add_argument("--interval", choices=("calibrated", "run", "law"), default=None,
                         help="the interval the test rows show (default: calibrated, else "
                              "run); every kind's coverage is scored")
    command.add_argument("--no-calibration", action="store_true",
                         help="skip the calibrated intervals (only the bootstrap's)")
    add_json(command, "the backtest record")
    command.set_defaults(run=run)


def run(args) -> int:
    check_bootstrap(args.bootstrap)
    check_outputs(args, [("RUNS", args.runs), ("--lr-file", args.lr_file)], "fit.json",
                  "backtest.json")
    options = dict(where=args.where, dedupe=args.dedupe, bootstrap=args.bootstrap,
                   seed=args.seed, n_jobs=args.jobs, calibrate=not args.no_calibration,
                   interval=args.interval)
    tasks = task_runs(args)
    if tasks is not None:
        runs, names, variants, settings = tasks
        record = task_backtests(runs, names, variants, args.train, args.test, settings,
                                **options)
        inputs = record.get("fit", {}).get("inputs", ())
    else:
        law, _, runs, lr_file = law_and_runs(args)
        record = backtest(runs, law, args.train, args.test, lr_file=lr_file, **options)
        inputs = law.inputs
    print(backtest_report(record, inputs))
    found = units.warnings(units.facts(runs), args.runs)    # flops-units, tokens-per-param
    print_warnings([f"WARNING (run table): {w['message']}" for w in found])
    record["table_warnings"] = found
    write_json(args, lambda: record, SAVED)
    return 0
