"""`scaling optimal RUNS [--approach 1|2|3|all] [--flops C ...] [--json OUT]`: compute-optimal
N_opt and D_opt by Hoffmann et al.'s approaches (`scaling.analysis.approaches`, and
`approach1_envelope`, `approach2_isoflop` and `approach3_parametric` beside it)."""

from __future__ import annotations

import numpy as np

from scaling.analysis import approaches
from scaling.analysis.approach1_envelope import approach1
from scaling.analysis.approach2_isoflop import approach2
from scaling.analysis.approach3_parametric import approach3
from scaling.cli.options import (add_bootstrap, add_json, add_level, add_reading_options,
                                 add_seed, check_outputs, positive_int, write_json)
from scaling.data.runs import check_sensible_inputs, parse_mapping, read_runs
from scaling.engine.fitting import check_bootstrap
from scaling.errors import ScalingError

BOOTSTRAP = 200
WHY_BOOTSTRAP = ("200, not fit's 1000, to keep it quick: approach 3 refits the chinchilla law "
                 "on every resample")
SAVED = "\nsaved compute-optimal allocation to {path}"


def add_parser(commands) -> None:
    optimal = commands.add_parser(
        "optimal", help="compute-optimal N_opt and D_opt by Hoffmann et al.'s approaches 1-3")
    optimal.add_argument("runs", metavar="RUNS", help="run table (.parquet or .csv)")
    optimal.add_argument("--approach", choices=("1", "2", "3", "all"), default="all",
                         help="1: envelope of the training curves; 2: isoFLOP profiles; 3: the "
                              "chinchilla fit; all (default): each the data support")
    add_bootstrap(optimal, BOOTSTRAP, "of runs for the intervals", WHY_BOOTSTRAP)
    optimal.add_argument("--flops", type=float, nargs="+", metavar="C",
                         help="compute budgets, FLOPs, of the allocation table (default "
                              "1e21 ... 1e25)")
    optimal.add_argument("--budgets", type=float, nargs="+", metavar="C",
                         help="approach 2: the isoFLOP budgets the runs were trained at "
                              "(default: found where the runs' FLOPs cluster); not the "
                              "table's budgets, which are --flops")
    optimal.add_argument("--tolerance", type=float, default=0.1, metavar="T",
                         help="approach 2: a run belongs to a budget within a factor 1 + T of "
                              "it (default 0.1)")
    optimal.add_argument("--rows", choices=("final", "all"), default="final",
                         help="approach 2: each run's final row (isoFLOP runs, default) or every "
                              "row (constant-LR runs whose checkpoints are the budgets)")
    optimal.add_argument("--interpolation", choices=("parabola", "akima"), default="parabola",
                         help="approach 2: a parabola in log N per budget (default) or Akima's "
                              "spline")
    add_reading_options(optimal, "keep rows matching a query (scaling/data/query.py; every "
                                 "approach)")
    add_seed(optimal)
    optimal.add_argument("--jobs", type=positive_int, default=None,
                         help="approach 3's bootstrap workers (default: all cores)")
    add_level(optimal, "the bootstrap intervals")
    add_json(optimal, "every approach's record")
    optimal.set_defaults(run=run)


def run(args) -> int:
    check_bootstrap(args.bootstrap)
    check_outputs(args, [("RUNS", args.runs)], "optimal.json", "optimal.json")
    for option, budgets in (("--flops", args.flops), ("--budgets", args.budgets)):
        if budgets is None:
            continue
        if any(not (np.isfinite(c) and c > 0) for c in budgets):
            raise ScalingError(f"{option}: budgets must be positive numbers")
        check_sensible_inputs(budgets, "flops", option)     # the range predict and plan hold
    runs = read_runs(args.runs, mapping=parse_mapping(args.map), where=args.where,
                     dedupe=args.dedupe)
    source = args.runs
    level = 0.95 if args.level is None else args.level
    asked = (1, 2, 3) if args.approach == "all" else (int(args.approach),)
    results, unsupported = {}, {}
    for number in asked:
        try:
            if number == 1:
                results[1] = approach1(runs, bootstrap=args.bootstrap, seed=args.seed,
                                       level=level, source=source)
            elif number == 2:
                results[2] = approach2(
                    runs, tolerance=args.tolerance, rows=args.rows,
                    interpolation=args.interpolation, budgets=args.budgets,
                    bootstrap=args.bootstrap, seed=args.seed, level=level, source=source)
            else:
                results[3] = approach3(runs, bootstrap=args.bootstrap, seed=args.seed,
                                       n_jobs=args.jobs, level=level)
        except ScalingError as error:
            if len(asked) == 1:
                raise
            unsupported[number] = str(error).removeprefix(f"{source}: ")
    if not results:
        raise ScalingError(f"{source}: no approach is supported by these runs: "
                           + "; ".join(f"approach {k}: {v}" for k, v in unsupported.items()))
    budgets = args.flops if args.flops is not None else approaches.DEFAULT_BUDGETS
    print(approaches.approaches_report(results, unsupported, budgets, source, args.where))
    write_json(args, lambda: approaches.approaches_record(results, unsupported, budgets, source,
                                                          args.where), SAVED)
    return 0
