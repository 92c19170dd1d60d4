"""Fit speed: our Chinchilla fit against the replication's procedure, same data, same process.

Baseline (Besiroglu et al. 2024, `data_analysis.ipynb`): scipy L-BFGS-B with finite-difference
gradients from every one of the 4,500 grid starts α, β ∈ {0, 0.5, …, 2}, e ∈ {−1, −0.5, …, 1},
a, b ∈ {0, 5, …, 25}, keeping the lowest objective. Ours: `get_law("chinchilla").fit(...)`
(variable-projection starts on a 41×41 exponent grid, analytic gradients, 8 polished starts).
Data: the bundled Chinchilla runs less the 5 highest-loss ones (240 points).

    python bench/fit_speed.py [--starts K]   # K < 4500 times a random subset of the baseline grid
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import numpy as np
from scipy.optimize import minimize
from scipy.special import huber, logsumexp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scaling.laws import get_law  # noqa: E402
from scaling.data.runs import read_runs  # noqa: E402

DELTA = 1e-3


def baseline_objective(theta, log_params, log_tokens, log_loss):
    a, b, e, alpha, beta = theta
    prediction = logsumexp([a - alpha * log_params, b - beta * log_tokens,
                            np.full_like(log_params, e)], axis=0)
    return np.sum(huber(DELTA, log_loss - prediction))


def baseline_fit(log_params, log_tokens, log_loss, starts):
    best = None
    for start in starts:
        result = minimize(baseline_objective, start, args=(log_params, log_tokens, log_loss),
                          method="L-BFGS-B")
        if best is None or result.fun < best.fun:
            best = result
    return best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=4500,
                        help="baseline starts to run (default: all 4,500)")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats of our fit")
    args = parser.parse_args(argv)

    runs = read_runs(ROOT / "data/chinchilla/runs.parquet", where="loss < 3.44")
    log_params, log_tokens = np.log(runs["params"].to_numpy()), np.log(runs["tokens"].to_numpy())
    log_loss = np.log(runs["loss"].to_numpy())

    grid = np.array(list(itertools.product(
        np.arange(0, 30, 5), np.arange(0, 30, 5), np.arange(-1, 1.5, 0.5),
        np.arange(0, 2.5, 0.5), np.arange(0, 2.5, 0.5))), dtype=float)   # a, b, e, alpha, beta
    assert len(grid) == 4500
    if args.starts < len(grid):
        grid = grid[np.random.default_rng(0).choice(len(grid), args.starts, replace=False)]

    get_law("chinchilla").fit(runs, bootstrap=0, calibrate=False)                       # warm-up (imports, caches)
    ours_times = []
    for _ in range(args.repeats):
        began = time.perf_counter()
        ours = get_law("chinchilla").fit(runs, bootstrap=0, calibrate=False)
        ours_times.append(time.perf_counter() - began)
    ours_time = min(ours_times)

    began = time.perf_counter()
    base = baseline_fit(log_params, log_tokens, log_loss, grid)
    base_time = time.perf_counter() - began
    if args.starts < 4500:
        print(f"(baseline ran {args.starts} of 4,500 starts; its time is scaled up to 4,500)")
        base_time *= 4500 / args.starts

    base_params = get_law("chinchilla").reported(base.x[None, :])
    rows = [("", "baseline (replication)", "ours"),
            ("time [s]", f"{base_time:.2f}", f"{ours_time:.4f} (best of {args.repeats})"),
            ("objective", f"{base.fun:.8e}", f"{ours.objective_:.8e}")]
    for name in ("E", "A", "B", "alpha", "beta"):
        rows.append((name, f"{float(base_params[name][0]):.5g}", f"{ours.params_[name]:.5g}"))
    for row in rows:
        print(f"{row[0]:<10} {row[1]:>26} {row[2]:>26}")
    print(f"\nspeed-up: {base_time / ours_time:.0f}x  (goal >= 100x); "
          f"objective ours - baseline = {ours.objective_ - base.fun:+.3e} (goal <= 0)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
