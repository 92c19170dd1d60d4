"""Are the intervals honest? Coverage and interval score of every interval kind, on every data set
the project has, in backtests that fit on the smaller runs and predict the larger ones.

For each (law, data set) the backtests below run with a bootstrap and the calibrated error model
(`scaling.engine.calibration`); each held-out value (a final loss, or for laws of whole curves every row
of a held-out curve) is scored against the 50%, 80% and 95% intervals of each kind:

- calibrated: the default, the error model learned from refits of splits of the training runs;
- run: the bootstrap's interval for a new run's value (refits plus a drawn residual);
- law: the bootstrap's interval of the law's value (parameter uncertainty only).

Rows pool the backtests of a data set (every held-out value counts once). Coverage should be
near the nominal level; the interval score (Gneiting & Raftery 2007; mean, relative to the
actual value; lower is better) rewards narrow intervals only when they hold. The last column is
the bootstrap run interval's score over the calibrated one's (> 1: calibrated is better).

    python bench/calibration.py                 # everything (about 5 minutes on 2 cores)
    python bench/calibration.py --quick         # fewer synthetic seeds and resamples
    python bench/calibration.py --markdown      # also the table of docs/trust.md
    python bench/calibration.py --json out/calibration.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from scaling.analysis.backtest import LEVELS, backtest  # noqa: E402
from scaling.data.runs import read_runs  # noqa: E402
from scaling.data.synthetic import misspecified_ladder, multipower_backtest_curves  # noqa: E402

KINDS = ("calibrated", "run", "law")
CHINCHILLA = ROOT / "data" / "chinchilla" / "runs.parquet"
SCHEDULES = ROOT / "data" / "cpu_schedules" / "runs.parquet"
CPU_TINY = ROOT / "data" / "cpu_tiny" / "runs.parquet"
# The truth of the synthetic schedule curves (3 training curves of 24k steps, 6 held-out of
# 24k-72k steps): the multi-power parameters of bench/multipower_speed.py (a 25M model's, from
# the paper's released code; see there).
MULTIPOWER_TRUTH = {"L0": 3.04, "A": 0.525, "alpha": 0.508, "B": 363.8, "C": 2.066,
                    "beta": 0.583, "gamma": 0.641}


def cases(quick: bool):
    """(law, data set, [(runs, train, test, where)]) for every row of the table."""
    chinchilla = read_runs(CHINCHILLA)
    schedules = read_runs(SCHEDULES)
    kinds = {kind: next(r for r in schedules["run"].unique() if f"-{kind}-" in r)
             for kind in ("constant", "cosine", "wsd")}
    out = []
    for law in ("chinchilla", "kaplan"):
        out.append((law, "Chinchilla (Epoch), loss < 3.44, params < 3e8 / 1e9 / 3e9",
                    [(chinchilla, f"params < {c:g}", None, "loss < 3.44")
                     for c in (3e8, 1e9, 3e9)]))
    seeds = range(6 if quick else 20)
    out.append(("chinchilla", f"misspecified synthetic ladders ({len(seeds)} seeds), "
                              "params < 3e8",
                [(misspecified_ladder(seed), "params < 3e8", None, None) for seed in seeds]))
    if CPU_TINY.exists():
        tiny = read_runs(CPU_TINY)
        largest = "run.str.contains('-16tpp-')"
        out.append(("chinchilla", "cpu-tiny ladder (seeds repeated), width < 80 / 96, 16 tpp",
                    [(tiny, f"width < {w} and not stable", f"width >= {w} and not stable", None)
                     for w in (80, 96)]
                    + [(tiny, f"not stable and not {largest}", f"not stable and {largest}",
                        None)]))
    for law in ("multipower", "annealing"):
        out.append((law, "CPU schedules, each schedule held out",
                    [(schedules, f"run != '{run}' and step > 100",
                      f"run == '{run}' and step > 100", None) for run in kinds.values()]))
    curves = multipower_backtest_curves(MULTIPOWER_TRUTH, noise=0.003)
    curves = curves[(curves["step"] % 600 == 0) | curves["run"].str.startswith("test")]
    for law in ("multipower", "annealing"):
        out.append((law, "synthetic multi-power curves, 3 schedules → 6 (24k-72k steps)",
                    [(curves, "run.str.startswith('train')", None, None)]))
    return out


def pooled(records) -> dict:
    """Coverage, width and interval score of each kind and level, pooled over backtests
    (weighted by the values each scored)."""
    out = {}
    weights = np.array([r["scored"]["n"] for r in records], float)
    for kind in KINDS:
        if not all(kind in r["intervals"] for r in records):
            continue
        out[kind] = {}
        for level in LEVELS:
            key = f"{level:g}"
            out[kind][key] = {
                measure: float(np.average([r["intervals"][kind][measure][key] for r in records],
                                          weights=weights))
                for measure in ("coverage", "mean_width", "interval_score")}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer seeds and resamples")
    parser.add_argument("--bootstrap", type=int, default=None, help="resamples (default 200)")
    parser.add_argument("--markdown", action="store_true", help="also print the table of docs/trust.md")
    parser.add_argument("--json", help="write every number as JSON")
    args = parser.parse_args(argv)
    resamples = args.bootstrap or (50 if args.quick else 200)
    results = []
    print(f"{'law':<11} {'data set':<62} {'level':>5}  "
          f"{'calibrated: cover width score':>31}  {'run: cover width score':>26}  "
          f"{'law: cover':>10}  {'run/cal score':>13}")
    for law, name, backtests in cases(args.quick):
        start = time.perf_counter()
        records = [backtest(runs, law, train, test, where=where, bootstrap=resamples)
                   for runs, train, test, where in backtests]
        seconds = time.perf_counter() - start
        summary = pooled(records)
        errors = [abs(row.get("rel_error", np.nan)) for r in records for row in r["test"]]
        distance = [row["distance"] for r in records for row in r["test"]]
        results.append({"law": law, "data": name, "scores": summary, "seconds": seconds,
                        "per_backtest": [{"train": train, "test": test, "where": where,
                                          "coverage": {kind: scores["coverage"] for kind,
                                                       scores in r["intervals"].items()},
                                          "n": r["scored"]["n"]}
                                         for (_, train, test, where), r in
                                         zip(backtests, records)],
                        "backtests": len(records), "n_scored": int(sum(r["scored"]["n"]
                                                                       for r in records)),
                        "mean_abs_rel_error": float(np.nanmean(errors)),
                        "max_distance": float(np.max(distance))})
        for level in LEVELS:
            key = f"{level:g}"
            cal, run, bare = (summary.get(k, {}).get(key) for k in KINDS)
            print(f"{law:<11} {name[:62]:<62} {100 * level:>4.0f}%  "
                  f"{_cells(cal):>31}  {_cells(run):>26}  "
                  f"{_percent(bare['coverage'] if bare else None):>10}  "
                  f"{run['interval_score'] / cal['interval_score'] if cal and run else np.nan:>12.2f}x")
        print(f"{'':<11} ({len(records)} backtests, {results[-1]['n_scored']} values scored, "
              f"mean |error| {100 * results[-1]['mean_abs_rel_error']:.2f}%, up to "
              f"{results[-1]['max_distance']:.2f} decades beyond the fitted data; {seconds:.0f} s)")
    print()
    print(summary_lines(results))
    if args.markdown:
        print()
        print(markdown(results))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


def summary_lines(results) -> str:
    """The issue's bar, row by row: calibrated 80% intervals holding 70%-90%, 95% holding at
    least 88%, and the interval score against the bootstrap run interval's."""
    lines = []
    ratios = {f"{level:g}": [] for level in LEVELS}
    for result in results:
        cal, run = result["scores"].get("calibrated"), result["scores"].get("run")
        if not cal or not run:
            continue
        misses = []
        if not 0.7 <= cal["0.8"]["coverage"] <= 0.9:
            misses.append(f"80% holds {_percent(cal['0.8']['coverage'])}")
        if cal["0.95"]["coverage"] < 0.88:
            misses.append(f"95% holds {_percent(cal['0.95']['coverage'])}")
        for key in ratios:
            ratios[key].append(run[key]["interval_score"] / cal[key]["interval_score"])
        worse = [f"{100 * float(k):g}%" for k in ratios if ratios[k][-1] < 1]
        lines.append(f"{result['law']:<11} {result['data'][:62]:<62} "
                     + ("coverage in band" if not misses else "OUTSIDE: " + ", ".join(misses))
                     + ("" if not worse else f"; score worse than run at {', '.join(worse)}"))
    means = ", ".join(f"{100 * float(k):g}% {np.exp(np.mean(np.log(v))):.2f}x"
                      for k, v in ratios.items())
    lines.append(f"run/calibrated interval score, geometric mean over rows: {means}")
    return "\n".join(lines)


def _percent(value) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def _cells(scores) -> str:
    if not scores:
        return "-"
    return (f"{_percent(scores['coverage']):>5} {100 * scores['mean_width']:>6.2f}% "
            f"{100 * scores['interval_score']:>6.2f}%")


def markdown(results) -> str:
    lines = ["| law | data set | level | calibrated: coverage | width | score | "
             "bootstrap run: coverage | width | score |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for result in results:
        for level in LEVELS:
            key = f"{level:g}"
            cal = result["scores"].get("calibrated", {}).get(key)
            run = result["scores"].get("run", {}).get(key)

            def cells(s):
                return ("- | - | -" if not s else f"{_percent(s['coverage'])} | "
                        f"{100 * s['mean_width']:.2f}% | {100 * s['interval_score']:.2f}%")
            lines.append(f"| {result['law']} | {result['data']} | {100 * level:.0f}% | "
                         f"{cells(cal)} | {cells(run)} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
