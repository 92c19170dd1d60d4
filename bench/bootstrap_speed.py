"""Bootstrap speed: 4,000 run-level refits of Chinchilla on the 240 Epoch points, all cores.

Baseline, measured in the same run: a plain bootstrap that refits each resample from scratch
with the full fit (every projected start, 8 polished), one process, timed on a subset of
resamples and scaled to 4,000. Ours: `fit(..., bootstrap=4000)` (warm start from the full-data
optimum plus the best start of a stride-2 exponent grid, parallel over cores).

    python bench/bootstrap_speed.py [--resamples 4000] [--baseline-resamples 100]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scaling.engine import fitting  # noqa: E402
from scaling.laws import get_law  # noqa: E402
from scaling.data.runs import read_runs  # noqa: E402

EPOCH_INTERVALS = {"E": (1.769, 1.871), "alpha": (0.317, 0.373), "beta": (0.331, 0.415)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resamples", type=int, default=4000)
    parser.add_argument("--baseline-resamples", type=int, default=100)
    args = parser.parse_args(argv)

    runs = read_runs(ROOT / "data/chinchilla/runs.parquet", where="loss < 3.44")
    law = get_law("chinchilla")
    inputs, target = law.inputs_from(runs), np.log(runs["loss"].to_numpy())

    weights = fitting.resample_weights(runs["run"].to_numpy(), args.baseline_resamples, seed=0)
    began = time.perf_counter()
    for row in weights:
        fitting.minimize(law, inputs, target, weights=row)
    baseline = (time.perf_counter() - began) * args.resamples / args.baseline_resamples

    began = time.perf_counter()
    fit = get_law("chinchilla").fit(runs, bootstrap=args.resamples, seed=0, calibrate=False)
    ours = time.perf_counter() - began

    print(f"cores: {os.cpu_count()}")
    print(f"{'':<34} {'baseline':>12} {'ours':>12}")
    print(f"{'time for ' + str(args.resamples) + ' refits [s]':<34} {baseline:>12.1f} {ours:>12.1f}"
          f"   (baseline timed on {args.baseline_resamples}, scaled)")
    print(f"speed-up {baseline / ours:.1f}x; goal: ours <= 60 s on 2 cores")
    print("\n95% intervals (ours vs Besiroglu et al. 2024):")
    for name, (low, high) in EPOCH_INTERVALS.items():
        ours_low, ours_high = fit.intervals_[name]
        print(f"  {name:<6} ({ours_low:.4g}, {ours_high:.4g})   Epoch ({low}, {high})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
