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

Memory: a backtest of 9 curves (fit on constant, cosine and WSD curves of 24,000 steps; predict
cosine and WSD curves of 24,000, 48,000 and 72,000 steps; 240 rows a curve, 2,160 rows), run as
`scaling backtest` in a child process, with its time, its peak resident memory and the mean PredE
of the held-out curves (goal: peak <= 400 MB).

    python bench/multipower_speed.py [--every 100]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scaling.data.schedules import lr_array, parse  # noqa: E402
from scaling.engine import fitting  # noqa: E402
from scaling.laws import get_law  # noqa: E402
from scaling.laws.multipower import blocked_inputs  # noqa: E402
from scaling.data.synthetic import multipower_backtest_curves  # noqa: E402

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
    blocked = blocked_inputs(inputs)
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
        fitting.objective_and_gradient(law, theta(PAPER)[None, :], blocked, target_log)
        blocked_time = time.perf_counter() - start
    worst = np.max(np.abs(naive - truth) / truth)

    start = time.perf_counter()
    fit = get_law("multipower").fit(runs, bootstrap=0, calibrate=False)
    fit_time = time.perf_counter() - start
    predicted = fit.predict_rows(prepared)

    n_pairs = len(inputs.pairs["drop"])
    print(f"3 curves x 24,000 steps, {len(runs)} rows (every {args.every} steps); "
          f"{n_pairs:,} exact (row, LR-change) pairs, {len(blocked.pairs['drop']):,} blocked")
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
    seconds, peak, pred_e = backtest_memory()
    print(f"9-curve backtest (3 x 24k steps -> 6 of 24k-72k, 2,160 rows): {seconds:.1f} s, "
          f"peak RSS {peak:.0f} MB (goal <= 400), mean PredE {pred_e:.4%}")
    return 0


# A child process that runs the command and reports its own peak resident memory in KB: VmHWM
# of its address space (Linux; ru_maxrss can carry the forking parent's peak across exec).
MEASURED = """
import resource, runpy, sys
sys.argv = ["scaling", *sys.argv[1:]]
try:
    runpy.run_module("scaling", run_name="__main__")
finally:
    try:
        with open("/proc/self/status") as status:
            peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"peak_rss_kb {peak}", file=sys.stderr)
"""


def nine_curves() -> pd.DataFrame:
    """3 training curves of 24,000 steps and 6 held-out curves of 24,000 to 72,000 steps that
    follow the law (PAPER) times 0.2% noise (`scaling.data.synthetic.multipower_backtest_curves`)."""
    return multipower_backtest_curves(PAPER, noise=0.002, seed=0)


def backtest_memory(table: pd.DataFrame | None = None):
    """(seconds, peak RSS in MB, mean PredE) of `scaling backtest` on `nine_curves()`."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "curves.parquet"
        (nine_curves() if table is None else table).to_parquet(path)
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", MEASURED, "backtest", str(path), "--law",
                               "multipower", "--train", "run.str.startswith('train')",
                               "--bootstrap", "0", "--json", str(Path(folder) / "record.json")],
                              cwd=ROOT, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(done.stderr)
        peak = int(done.stderr.split("peak_rss_kb")[-1]) / 1024
        record = json.loads((Path(folder) / "record.json").read_text())
    return seconds, peak, record["mean_pred_e"]


if __name__ == "__main__":
    raise SystemExit(main())
