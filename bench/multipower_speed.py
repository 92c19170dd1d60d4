"""Multi-power law speed: one fit on 3 curves of 24,000 steps, beside one naive evaluation.

Curves: constant, cosine and WSD (20% linear decay) of 24,000 steps at peak LR 3e-4 with 2,160
warmup steps (the schedule of the issue's example), following the law with the parameters of a
published 25M-model fit (the README table of a public MPL code repository,
github.com/Morphorxz/dlt25-final: L0 3.04, A 0.525, α 0.508, B 363.8, C 2.066, β 0.583,
γ 0.641) times 0.2% noise, a row every `--every` steps (default 100: 240 rows per curve).

Baseline: the naive O(T²) evaluation of the loss drop, as in the paper's reference code: for
each row, a numpy sum over every earlier step of (η_{k−1} − η_k)·G(η_k^−γ·S_k(t)), S_k(t) from
a cumulative sum (one vector operation per row; a pure-Python double loop would be ~100x slower
again). Ours: the vectorised exact evaluation (with its gradient), and the whole fit (grid
search and multi-start polish on the blocked approximation, deferred correction, exact polish).

    python bench/multipower_speed.py [--every 100]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scaling.schedules import lr_array, parse  # noqa: E402
from scaling import fitting  # noqa: E402
from scaling.laws import get_law  # noqa: E402

PAPER = {"L0": 3.04, "A": 0.525, "alpha": 0.508, "B": 363.8, "C": 2.066, "beta": 0.583,
         "gamma": 0.641}
SCHEDULES = {
    "constant": "constant:peak=3e-4,warmup=2160,steps=24000",
    "cosine": "cosine:peak=3e-4,warmup=2160,steps=24000,final=3e-5",
    "wsd": "wsd:peak=3e-4,warmup=2160,steps=24000,decay_start=19200,final=3e-5,decay=linear",
}


def theta(params):
    return np.array([np.log(params["L0"]), np.log(params["A"]), params["alpha"],
                     np.log(params["B"]), np.log(params["C"]), params["beta"], params["gamma"]])


def naive_loss(lr, steps, params):
    """The O(T²) evaluation: one numpy sum over all earlier steps for every row."""
    drops = np.concatenate([[0.0], lr[:-1] - lr[1:]])
    first = np.flatnonzero(drops > 0)
    drops[: first[0] if len(first) else len(drops)] = 0.0
    out = np.empty(len(steps))
    for i, t in enumerate(steps):
        remaining = np.cumsum(lr[:t][::-1])[::-1]            # S_k(t) for k = 1 … t
        x = lr[:t] ** -params["gamma"] * remaining
        realised = 1.0 - (params["C"] * x + 1.0) ** -params["beta"]
        drop = params["B"] * np.sum(drops[:t] * realised)
        out[i] = params["L0"] + params["A"] * lr[:t].sum() ** -params["alpha"] - drop
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=int, default=100, help="a row every k steps")
    args = parser.parse_args(argv)
    law = get_law("multipower")
    rng = np.random.default_rng(0)
    frames = []
    for name, schedule in SCHEDULES.items():
        steps = np.arange(args.every, 24001, args.every)
        frames.append(pd.DataFrame({"run": name, "params": 25e6, "tokens": steps * 1.0,
                                    "step": steps, "loss": 1.0, "schedule": schedule}))
    runs = pd.concat(frames, ignore_index=True)
    runs.index = pd.RangeIndex(1, len(runs) + 1)
    runs.attrs["source"] = "bench"
    prepared = law.prepare(runs)
    start = time.perf_counter()
    inputs = law.inputs_from(prepared.frame, prepared.lr_histories)
    build = time.perf_counter() - start
    truth = np.exp(law.predict_theta(theta(PAPER)[None, :], inputs)[0])
    runs["loss"] = truth * np.exp(0.002 * rng.standard_normal(len(runs)))

    start = time.perf_counter()
    naive = np.concatenate([naive_loss(lr_array(parse(s)), np.arange(args.every, 24001,
                                                                     args.every), PAPER)
                            for s in SCHEDULES.values()])
    naive_time = time.perf_counter() - start
    target_log = np.log(runs["loss"].to_numpy())
    with fitting.one_blas_thread():
        start = time.perf_counter()
        law.predict_theta(theta(PAPER)[None, :], inputs)
        loss_time = time.perf_counter() - start
        start = time.perf_counter()
        fitting.objective_and_gradient(law, theta(PAPER)[None, :], inputs, target_log)
        ours_time = time.perf_counter() - start
        start = time.perf_counter()
        fitting.objective_and_gradient(law, theta(PAPER)[None, :], inputs["blocked"],
                                       target_log)
        blocked_time = time.perf_counter() - start
    worst = np.max(np.abs(naive - truth) / truth)

    start = time.perf_counter()
    fit = get_law("multipower").fit(runs)
    fit_time = time.perf_counter() - start
    predicted = fit.predict_rows(prepared)

    n_pairs = len(inputs["exact"]["drop"])
    print(f"3 curves x 24,000 steps, {len(runs)} rows (every {args.every} steps); "
          f"{n_pairs:,} exact (row, LR-change) pairs, {len(inputs['blocked']['drop']):,} blocked")
    print(f"{'':34}{'seconds':>10}")
    print(f"{'naive O(T^2) loss, one evaluation':34}{naive_time:10.3f}")
    print(f"{'ours: exact loss':34}{loss_time:10.3f}   ({naive_time / loss_time:.1f}x faster)")
    print(f"{'ours: exact loss + gradient':34}{ours_time:10.3f}   "
          f"({naive_time / ours_time:.1f}x)")
    print(f"{'ours: blocked loss + gradient':34}{blocked_time:10.4f}   "
          f"({naive_time / blocked_time:.0f}x faster)")
    print(f"{'ours: building the pairs, once':34}{build:10.3f}")
    print(f"{'ours: the whole fit':34}{fit_time:10.2f}   (goal <= 10 s on 2 cores)")
    print(f"naive and vectorised losses agree to {worst:.1e} (relative)")
    print(f"fit: converged {fit.converged_}, at bound {fit.at_bound_ or 'none'}, "
          f"curves within {np.max(np.abs(predicted / truth - 1)):.2%} of the truth; "
          + ", ".join(f"{k} {v:.4g}" for k, v in fit.params_.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
