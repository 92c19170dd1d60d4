"""LR-schedule laws on a real ladder: fit on two schedules, predict the third, both laws.

Reads the run table of `ladders/specs/cpu-schedules.toml` (one model, constant / cosine / WSD
schedules; train it with `scaling ladder run ladders/specs/cpu-schedules.toml --out
out/schedules.parquet`, ~8 minutes on 2 cores) and prints, for each law and each held-out
schedule, PredE (mean over the held-out curve's rows of |L − L̂|/L) and WorstE (the maximum),
with the fit judged from step `--from-step` on (the laws describe the curve after warmup).
It also shows how the annealing law's fit moves with its momentum λ.

    python bench/schedule_laws.py out/schedules.parquet [--from-step 100]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scaling.analysis.backtest import backtest  # noqa: E402
from scaling.laws import get_law  # noqa: E402
from scaling.data.runs import read_runs  # noqa: E402

KINDS = ("constant", "cosine", "wsd")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", help="run table of the cpu-schedules ladder")
    parser.add_argument("--from-step", type=int, default=0,
                        help="fit and judge rows after this step (default 0: every row)")
    args = parser.parse_args(argv)
    runs = read_runs(args.runs)
    names = {kind: next(r for r in runs["run"].unique() if r.endswith(f"-{kind}-s0"))
             for kind in KINDS}
    after = f"step > {args.from_step}"
    print(f"{len(runs)} rows, {runs['run'].nunique()} runs; rows after step {args.from_step}")
    print(f"{'law':<12}{'held out':<10}{'PredE':>8}{'WorstE':>8}{'fit s':>7}  parameters")
    means = {}
    for law in ("annealing", "multipower"):
        errors = []
        for kind in KINDS:
            start = time.perf_counter()
            record = backtest(runs, law, train=f"run != '{names[kind]}' and {after}",
                              test=f"run == '{names[kind]}' and {after}", bootstrap=0)
            curve = record["test_curves"][0]
            errors.append(curve["pred_e"])
            params = ", ".join(f"{k} {v:.3g}" for k, v in record["fit"]["params"].items())
            bound = f" (at bound: {', '.join(record['fit']['at_bound'])})" \
                if record["fit"]["at_bound"] else ""
            print(f"{law:<12}{kind:<10}{curve['pred_e']:8.2%}{curve['worst_e']:8.2%}"
                  f"{time.perf_counter() - start:7.1f}  {params}{bound}")
        means[law] = sum(errors) / len(errors)
    print("mean PredE: " + ", ".join(f"{law} {value:.2%}" for law, value in means.items()))
    print("\nannealing law on all three curves, by momentum λ (decay):")
    for decay in (0.99, 0.995, 0.999, 0.9995):
        fit = get_law("annealing", decay=decay).fit(runs, where=after, bootstrap=0, calibrate=False)
        print(f"  λ = {decay:<7} objective {fit.objective_:.3e}  "
              + ", ".join(f"{k} {v:.4g}" for k, v in fit.params_.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
