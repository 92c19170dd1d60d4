"""`scaling fit RUNS [--law NAME] ... [--out FIT.json] [--plot FIG.png]`: fit a law to a run
table and print its parameters with intervals (`--task` for the task laws, each task and
variant in turn)."""

from __future__ import annotations

from scaling import api
from scaling.cli.options import add_bootstrap, add_table_options, check_outputs
from scaling.cli.reading import law_and_runs, task_runs
from scaling.engine.fitting import check_bootstrap
from scaling.errors import ScalingError
from scaling.laws import get_law
from scaling.analysis.backtest import variant_law
from scaling.output.fit_figures import plot_fit
from scaling.output.format import table

BOOTSTRAP = 1000      # resamples of runs: the fit's parameter intervals are its output


def add_parser(commands) -> None:
    fit = commands.add_parser("fit", help="fit a law; print parameters with intervals")
    add_table_options(fit)
    add_bootstrap(fit, BOOTSTRAP, "of runs for intervals")
    fit.add_argument("--no-calibration", action="store_true",
                     help="skip the refits that calibrate the default intervals to the distance "
                          "beyond the fitted data (then intervals are the bootstrap's)")
    fit.add_argument("--out", metavar="FIT.json", help="save the fit (reloaded by `predict`)")
    fit.add_argument("--plot", metavar="FIG.png",
                     help="save observed-vs-fitted (and iso-target) plots")
    fit.set_defaults(run=run)


def run(args) -> int:
    check_bootstrap(args.bootstrap)
    check_outputs(args, [("RUNS", args.runs), ("--lr-file", args.lr_file)], "fit.json",
                  "fit.json")
    tasks = task_runs(args)
    if tasks is not None:
        return _fit_tasks(args, *tasks)
    law, _, runs, lr_file = law_and_runs(args)
    fit = fitted(args, law, runs, lr_file)
    print(fit.summary())
    _save_fit(args, fit)
    return 0


def fitted(args, law, runs, lr_file=None):
    """Fit `law` to the runs as the fit options say (`scaling.fit`): the `Fit`."""
    return api.fit(runs, law, where=args.where, lr_file=lr_file, bootstrap=args.bootstrap,
                   seed=args.seed, n_jobs=args.jobs, calibrate=not args.no_calibration,
                   dedupe=args.dedupe)


def _save_fit(args, fit) -> None:
    """--out and --plot of `scaling fit`."""
    if args.out:
        fit.save(args.out)
        print(f"\nsaved fit to {args.out}")
    if args.plot:
        plot_fit(fit, fit.data, args.plot)
        print(f"saved plot to {args.plot}")


def _fit_tasks(args, runs, tasks, variants, settings) -> int:
    """`scaling fit --task NAME|all [--variant V|all]`: the task law per task and variant."""
    several = len(tasks) * len(variants) > 1
    if several and (args.out or args.plot):
        raise ScalingError("--out and --plot save one fit: give one --task and one --variant")
    summary = []
    for task in tasks:
        for variant in variants:
            name, law_settings = variant_law(variant, {**settings, "task": task})
            fit = fitted(args, get_law(name, **law_settings), runs)
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
