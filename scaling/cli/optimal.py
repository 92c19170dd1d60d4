"""`scaling optimal RUNS [--approach 1|2|3|all] [--flops C ...] [--json OUT]`: compute-optimal
N_opt and D_opt by Hoffmann et al.'s approaches (`scaling.analysis.approaches`), run by
`scaling.analysis.optimal.compute_optimal` as `scaling.optimal` runs them."""

from __future__ import annotations

from scaling.analysis.optimal import BOOTSTRAP, check_budgets, compute_optimal
from scaling.cli.options import (add_bootstrap, add_jobs, add_json, add_level,
                                 add_reading_options, add_seed, check_outputs,
                                 write_json)
from scaling.data.runs import parse_mapping, read_runs
from scaling.engine.fitting import check_bootstrap

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
    add_jobs(optimal, "approach 3's bootstrap workers")
    add_level(optimal, "the bootstrap intervals")
    add_json(optimal, "every approach's record")
    optimal.set_defaults(run=run)


def run(args) -> int:
    check_bootstrap(args.bootstrap)
    check_outputs(args, [("RUNS", args.runs)], "optimal.json", "optimal.json")
    for option, budgets in (("--flops", args.flops), ("--budgets", args.budgets)):
        check_budgets(budgets, option)
    runs = read_runs(args.runs, mapping=parse_mapping(args.map), where=args.where,
                     dedupe=args.dedupe)
    asked = (1, 2, 3) if args.approach == "all" else (int(args.approach),)
    result = compute_optimal(runs, asked, flops=args.flops, budgets=args.budgets,
                             tolerance=args.tolerance, rows=args.rows,
                             interpolation=args.interpolation, bootstrap=args.bootstrap,
                             seed=args.seed, n_jobs=args.jobs,
                             level=0.95 if args.level is None else args.level,
                             source=args.runs, where=args.where)
    print(result.summary())
    write_json(args, result.to_dict, SAVED)
    return 0
