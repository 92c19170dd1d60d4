"""The `scaling` command: parses arguments and calls the library; no logic of its own.

    scaling fit RUNS [--law chinchilla] [--where Q] [--map COL="File col"] [--bootstrap K]
                     [--out FIT.json] [--plot FIG.png]
    scaling predict FIT.json --params N --tokens D | --flops C
    scaling backtest RUNS --law NAME --train Q [--test Q] [--json OUT]
    scaling laws

Bad input prints one line, `scaling: error: ...`, and exits with status 2.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import os
import sys
import warnings

EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, instead of usage + message
        raise _UsageError(f"{self.prog}: {message} (see --help)")


class _UsageError(Exception):
    pass


def _parser() -> argparse.ArgumentParser:
    from scaling.laws import LAWS

    parser = _Parser(prog="scaling", description="Fit scaling laws to run tables.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def table_options(command):
        command.add_argument("runs", metavar="RUNS", help="run table (.parquet or .csv)")
        command.add_argument("--law", default="chinchilla", help="law name (see `scaling laws`)")
        command.add_argument("--where", help="keep rows matching a pandas query, e.g. 'params < 1e9'")
        command.add_argument("--map", action="append", default=[], metavar='COL="File col"',
                             help="read a file column as a contract column (repeatable)")
        command.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
        command.add_argument("--jobs", type=int, default=None, help="bootstrap workers (default: all cores)")
        command.add_argument("--delta", type=float, default=1e-3, help="Huber delta (default 1e-3)")
        command.add_argument("--lr-file", metavar="LR.csv",
                             help="LR-schedule laws: run, step, lr at every step, for runs "
                                  "without an lr column at every step or a schedule")

    fit = commands.add_parser("fit", help="fit a law; print parameters with intervals")
    table_options(fit)
    fit.add_argument("--bootstrap", type=int, default=1000, metavar="K",
                     help="bootstrap resamples of runs for intervals (default 1000; 0: none)")
    fit.add_argument("--out", metavar="FIT.json", help="save the fit (reloaded by `predict`)")
    fit.add_argument("--plot", metavar="FIG.png", help="save observed-vs-fitted and iso-loss plots")

    predict = commands.add_parser("predict", help="predict from a saved fit, with intervals")
    predict.add_argument("fit", metavar="FIT.json")
    inputs = sorted({name for law in LAWS.values() for name in law.inputs})
    for name in inputs:
        predict.add_argument(f"--{name.replace('_', '-')}", dest=name, type=float, nargs="+",
                             metavar="X", help=f"{name} (one or more values)")
    predict.add_argument("--flops", type=float, nargs="+", metavar="C",
                         help="compute budgets: predict at the compute-optimal allocation")
    predict.add_argument("--schedule", metavar="SPEC",
                         help='whole loss curve of an LR schedule, e.g. "wsd:peak=3e-4,'
                              'warmup=2160,decay_start=20000,steps=24000,final=3e-5"')
    predict.add_argument("--compare", metavar="peak=…,warmup=…,steps=…,final=…",
                         help="final loss of constant, cosine and WSD 10%%/20%% schedules")
    predict.add_argument("--every", type=int, default=1, help="--schedule: a row every k steps")
    predict.add_argument("--out", metavar="CURVE.csv", help="--schedule: write the curve")
    predict.add_argument("--plot", metavar="FIG.png", help="--schedule: plot the curve")

    backtest = commands.add_parser("backtest", help="fit on some runs, predict the held-out ones")
    table_options(backtest)
    backtest.add_argument("--train", required=True, help="query selecting the training rows")
    backtest.add_argument("--test", help="query selecting the test runs (default: all others)")
    backtest.add_argument("--bootstrap", type=int, default=200, metavar="K",
                          help="bootstrap resamples for the intervals (default 200)")
    backtest.add_argument("--json", metavar="OUT", help="write the backtest record as JSON")

    commands.add_parser("laws", help="list the laws and the columns each needs")

    ladder = commands.add_parser("ladder", help="train ladders of small proxy models")
    ladder_commands = ladder.add_subparsers(dest="ladder_command", required=True, metavar="ACTION")
    run = ladder_commands.add_parser("run", help="train every rung of a ladder spec (TOML)")
    run.add_argument("spec", metavar="SPEC", help="ladder spec, e.g. ladders/specs/cpu-tiny.toml")
    run.add_argument("--out", metavar="PATH", help="run table to write (.parquet)")
    run.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    run.add_argument("--resume", action="store_true", help="continue an interrupted ladder")
    run.add_argument("--dry-run", action="store_true",
                     help="list every rung with params, tokens, FLOPs and estimated time")
    run.add_argument("--slurm", metavar="FOLDER",
                     help="submit one Slurm job per rung with submitit (logs in FOLDER)")
    run.add_argument("--no-progress", action="store_true",
                     help="no progress output (bars on a terminal, else a line every 30 s)")
    run.add_argument("--threads", type=int, metavar="N",
                     help="CPU threads per training process (default: this process's share of "
                          "the cores among the ladders running on the machine)")
    return parser


def main(argv=None) -> int:
    warnings.simplefilter("ignore", RuntimeWarning)  # fits report their own diagnostics
    try:
        from scaling.errors import ScalingError
    except ImportError as exc:  # pragma: no cover - broken install
        print(f"scaling: error: cannot import the library ({exc})", file=sys.stderr)
        return 1
    try:
        args = _parser().parse_args(argv)
        return _COMMANDS[args.command](args)
    except (ScalingError, _UsageError) as exc:
        print(f"scaling: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:
        print(f"scaling: error: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("scaling: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, not bad input: still one line unless asked for more
        if os.environ.get("SCALING_DEBUG"):
            raise
        print(f"scaling: internal error: {type(exc).__name__}: {exc} "
              "(rerun with SCALING_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1


def _read(args):
    from scaling.laws import get_law
    from scaling.runs import parse_mapping, read_runs

    law = get_law(args.law, delta=args.delta)
    runs = read_runs(args.runs, mapping=parse_mapping(args.map), where=args.where,
                     columns=law.read_columns)
    if args.lr_file:
        from scaling.lr import read_lr_file

        runs.attrs["lr_file"] = read_lr_file(args.lr_file)
    return law, runs


def _fit(args) -> int:
    from scaling.plots import plot_fit
    from scaling.runs import final_rows

    law, runs = _read(args)
    law.fit(runs, bootstrap=args.bootstrap, seed=args.seed, n_jobs=args.jobs)
    print(law.report())
    if args.out:
        law.to_json(args.out)
        print(f"\nsaved fit to {args.out}")
    if args.plot:
        points = final_rows(runs) if law.rows == "final" else runs
        plot_fit(law, points, args.plot)
        print(f"saved plot to {args.plot}")
    return 0


def _predict(args) -> int:
    from scaling.errors import ScalingError
    from scaling.laws import load_fit
    from scaling.report import compute_optimal_table, prediction_table

    law = load_fit(args.fit)
    if args.schedule:
        return _predict_schedule(law, args)
    if args.compare:
        return _compare_schedules(law, args)
    if args.flops:
        if not hasattr(law, "compute_optimal"):
            raise ScalingError(f"the {law.name} law has no compute-optimal allocation; "
                               "give its inputs instead of --flops")
        if any(not (c > 0 and c < float("inf")) for c in args.flops):
            raise ScalingError("--flops must be positive and finite")
        print(compute_optimal_table(law, args.flops))
        return 0
    values = {name: getattr(args, name, None) for name in law.inputs}
    if all(v is None for v in values.values()) and hasattr(law, "predict_schedule"):
        raise ScalingError(f"the {law.name} law predicts loss curves: give --schedule SPEC "
                           "or --compare peak=…,warmup=…,steps=…,final=…")
    if all(v is None for v in values.values()):
        raise ScalingError(f"give {' and '.join('--' + n.replace('_', '-') for n in law.inputs)}"
                           + (" or --flops" if hasattr(law, "compute_optimal") else ""))
    try:
        print(prediction_table(law, **values))
    except ValueError as exc:
        if isinstance(exc, ScalingError):
            raise
        raise ScalingError(f"input lists of different lengths ({exc})") from None
    return 0


def _predict_schedule(law, args) -> int:
    from scaling.atomic import atomic_path
    from scaling.errors import ScalingError
    from scaling.plots import plot_curve
    from scaling.report import table

    if not hasattr(law, "predict_schedule"):
        raise ScalingError(f"the {law.name} law does not predict loss curves; --schedule needs "
                           "an LR-schedule law (see `scaling laws`)")
    if args.every < 1:
        raise ScalingError(f"--every must be at least 1, got {args.every}")
    curve = law.predict_schedule(args.schedule, every=args.every, **_sizes(law, args))
    shown = curve.iloc[np.unique(np.linspace(0, len(curve) - 1, 11).astype(int))]
    print(table(("step", "lr", "loss", "interval"),
                [(f"{r.step}", f"{r.lr:.4g}", f"{r.loss:.4f}",
                  "-" if not np.isfinite(r.lower) else f"[{r.lower:.4f}, {r.upper:.4f}]")
                 for r in shown.itertuples()], right=("step", "lr", "loss")))
    if args.out:
        with atomic_path(args.out) as temporary:
            curve.to_csv(temporary, index=False)
        print(f"saved curve to {args.out}")
    if args.plot:
        plot_curve(curve, args.schedule, args.plot)
        print(f"saved plot to {args.plot}")
    return 0


def _sizes(law, args) -> dict:
    """--params for curve laws with a size term (one value)."""
    from scaling.errors import ScalingError

    if "params" not in law.inputs or args.params is None:
        return {}
    if len(args.params) != 1 or not 0 < args.params[0] < float("inf"):
        raise ScalingError("--params: give one positive model size with --schedule/--compare")
    return {"params": args.params[0]}


def _compare_schedules(law, args) -> int:
    from scaling.plan import compare_schedules
    from scaling.plots import plot_curves
    from scaling.report import table

    curves = compare_schedules(law, args.compare, every=max(1, args.every), **_sizes(law, args))
    rows = []
    for name, curve in curves.items():
        last = curve.iloc[-1]
        interval = "-" if not np.isfinite(last.lower) else f"[{last.lower:.4f}, {last.upper:.4f}]"
        rows.append((name, f"{last.loss:.4f}", interval))
    print(table(("schedule", "final loss", "interval"), rows, right=("final loss",)))
    if args.plot:
        plot_curves(curves, args.compare, args.plot)
        print(f"saved plot to {args.plot}")
    return 0


def _backtest(args) -> int:
    from scaling.atomic import write_text
    from scaling.backtest import backtest
    from scaling.report import backtest_report

    law, runs = _read(args)
    record = backtest(runs, law.name, args.train, args.test, bootstrap=args.bootstrap,
                      seed=args.seed, n_jobs=args.jobs, delta=args.delta)
    print(backtest_report(record, law.inputs))
    if args.json:
        write_text(args.json, json.dumps(record, indent=1))
        print(f"\nsaved backtest to {args.json}")
    return 0


def _laws(args) -> int:
    from scaling.laws import LAWS

    for name, law in sorted(LAWS.items()):
        print(f"{name:<14} columns: {', '.join(('run', *law().read_columns))}"
              + (" (+ lr at every step, a schedule or --lr-file)" if law.derived_inputs else ""))
        print(f"{'':<14} {law.title}")
        print(f"{'':<14} {law.equation}")
    return 0


def _ladder(args) -> int:
    from scaling.errors import ScalingError

    try:
        from ladders.launch import run_ladder, slurm_executor
    except ImportError as exc:
        raise ScalingError(f"the ladder runner needs torch: pip install 'scaling[ladder]' ({exc})") \
            from None
    if args.threads is not None and args.threads < 1:
        raise ScalingError(f"scaling ladder run: --threads must be at least 1, got {args.threads}")
    if not args.dry_run and not args.out:
        raise ScalingError("scaling ladder run: --out PATH is required (or use --dry-run)")
    executor = slurm_executor(args.slurm) if args.slurm else None
    result = run_ladder(args.spec, args.out, device=args.device, resume=args.resume,
                        dry_run=args.dry_run, executor=executor, progress=not args.no_progress,
                        threads=args.threads)
    if args.dry_run:
        print(result)
    elif result is not None:
        print(f"wrote {len(result)} rows of {result['run'].nunique()} runs to {args.out}")
        if "stable" in result.columns:      # a branched ladder: what it cost
            from ladders.launch import compute_summary
            from ladders.spec import compute_line

            print(compute_line(compute_summary(result)))
    return 0


_COMMANDS = {"fit": _fit, "predict": _predict, "backtest": _backtest, "laws": _laws,
             "ladder": _ladder}

if __name__ == "__main__":
    sys.exit(main())
