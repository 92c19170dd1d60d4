"""Multi-power law: the whole loss curve of a run from its learning-rate schedule.

    L(t) = L0 + A · (S1(t) + S_W)^(−α) − LD(t)

    LD(t) = B · Σ_{k=1..t} (η_{k−1} − η_k) · G(η_k^(−γ) · S_k(t)),   S_k(t) = Σ_{τ=k..t} η_τ
    G(x)  = 1 − (C·x + 1)^(−β)

Symbols: t the optimizer step (`step`), η_k the LR of update k (from `lr`, `schedule` or an LR
file, see scaling/data/lr_history.py), S1(t) + S_W the LR area of every update so far, warmup included
(`lr_area`), L the held-out loss at step t (`loss`). L0 is the loss floor, A and α the power law
in LR area, B the loss drop per unit of LR decrease once fully realised, C, β and γ the shape of
how a decrease is realised over the following area (G rises from 0 to 1). The sum runs over the
steps after warmup (the LR's rises before its first decrease add nothing, as S_W holds them);
later rises (re-warming) enter with their sign, as in the paper's definition.

Paper: Luo et al. 2025, "A Multi-Power Law for Loss Curve Prediction Across Learning Rate
Schedules" (ICLR 2025), eq. (1)–(2).

Computation. LD at every row is a sum over (row, step-with-an-LR-change) pairs, all evaluated in
one vectorised pass: the pairs' drop, log η_k and log S_k(t) are built once per fit from
cumulative sums (`exact_pairs`), and each evaluation costs a few elementwise operations and one
segment sum per pair array; no Python loop over steps. A cosine curve of T steps with rows every r
steps has about T²/(2r) pairs, so the fit's searches run on an approximation with far fewer pairs
(`blocked_pairs`: for each row, LR changes within 16 steps are kept exactly and older ones are
merged into blocks whose width grows geometrically with their distance, each block at its
drop-weighted mean log η and area; LD within ~1e-3 of its size), and the fit's final polish and every
prediction use the exact pairs. Memory stays bounded: up to STORED_PAIRS exact pairs are built once
and kept; beyond (long curves with many rows, typically a backtest's held-out curves) every
evaluation builds them BUILD_PAIRS at a time, and every sum works through CHUNK_PAIRS pairs at a
time, which also keeps its arrays in cache (a multi-power backtest of 9 curves of 24k–72k steps, 2,160 rows, peaked at
0.85 GB before and 0.2 GB after; bench/multipower_speed.py). tests/test_multipower.py checks the
exact pass against a plain double loop over steps to 1e-10.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from scaling.data import lr_history as learning_rates
from scaling.errors import ScalingError
from scaling.engine.fitting import Parameter
from scaling.laws.base import LOSS_CLIP, Law
from scaling.laws.registry import register

EXACT_DISTANCE = 16     # LR changes closer than this many steps to a row are never merged
BLOCK_GROWTH = 1.1      # older blocks are at most 10% of their distance to the row wide
MAX_PAIRS = 30_000_000  # beyond this many exact pairs an evaluation is too slow: thin the rows
EVALUATIONS = 200_000_000  # predicting a schedule: pairs × parameter vectors (the point and each
#                           bootstrap sample) that the default --every allows, about 1 s
NICE_EVERY = (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000,
              20000, 25000, 50000, 100000)
STORED_PAIRS = 4_000_000  # up to this many exact pairs (~110 MB) are built once and kept;
#                          beyond, every evaluation builds them a chunk of rows at a time
BUILD_PAIRS = 250_000     # pairs built at once: bounds the temporaries of building (2 MB arrays)
CHUNK_PAIRS = 65_536      # pairs summed at once: arrays of 512 KB stay in cache (measured
#                          fastest: 1.7x faster than one pass over 2.5M pairs)


@register
class MultiPower(Law):
    name = "multipower"
    title = "Multi-power law L(t) (Luo et al. 2025)"
    equation = ("L = L0 + A*(S1+S_W)^-alpha - B*sum_k (eta_{k-1}-eta_k)*(1-(C*eta_k^-gamma*S_k(t)"
                "+1)^-beta)")
    inputs = ("lr_area",)
    derived_inputs = ("lr_area",)
    power_inputs = ("lr_area",)
    extra_columns = ("step",)
    rows = "all"
    scale_columns = ("step", "lr_area", "peak_lr")   # the schedule's length, LR area and peak
    floor_parameter = "L0"
    bootstrap_unit = "curve blocks"
    bootstrap_search = False   # bootstrap refits start from the fit; no grid search per resample
    uses_lr_histories = True
    predicts_schedules = True
    parameters = (
        # fit-space: l0 = log L0, a = log A, b = log B, c = log C
        Parameter("l0", -10.0, 5.0, (0.0,)),
        Parameter("a", -30.0, 30.0, (0.0,)),
        Parameter("alpha", 0.0, 5.0, tuple(np.round(np.arange(0.1, 1.51, 0.1), 2))),
        Parameter("b", -30.0, 30.0, (0.0,)),
        Parameter("c", -30.0, 30.0, (-6.0, -4.0, -2.0, 0.0, 2.0, 4.0, 6.0)),
        Parameter("beta", 0.01, 5.0, (0.3, 0.6, 1.0, 1.6)),
        Parameter("gamma", 0.0, 3.0, (0.2, 0.4, 0.6, 0.9)),
    )
    linear_parameters = ("l0", "a", "b")
    reported_names = ("L0", "A", "alpha", "B", "C", "beta", "gamma")
    reported_expressions = {"L0": "exp(l0)", "A": "exp(a)", "B": "exp(b)", "C": "exp(c)"}

    # -- data ----------------------------------------------------------------------------------
    def derive(self, table, lr_histories=None):
        """Rows after step 0, with `lr_area` (the LR area of every update so far)."""
        prepared = table[table["step"] > 0].copy()
        area = {run: np.cumsum(lr_histories[run]) for run in prepared["run"].unique()}
        prepared["lr_area"] = [area[run][int(step) - 1]
                               for run, step in zip(prepared["run"], prepared["step"])]
        return prepared

    def inputs_from(self, frame, lr_histories=None):
        """The (row, LR-change) pairs of the rows' curves, from the runs' per-step LRs."""
        if lr_histories is None:
            raise ScalingError(f"the {self.name} law needs the LR of every step of each run: "
                               "fit or predict prepared runs (`law.prepare(runs)`)")
        try:
            return curve_inputs(frame["run"].to_numpy(), frame["step"].to_numpy(), lr_histories)
        except ScalingError as exc:
            raise ScalingError(f"{frame.attrs.get('source', 'run table')}: {exc}") from None

    def search_inputs(self, inputs):
        """The cheaper approximation used for grid search and bootstrap refits."""
        return blocked_inputs(inputs)

    def broadcast_inputs(self, values):
        raise ScalingError("the multipower law predicts whole curves from a schedule: use "
                           "`scaling predict FIT --schedule SPEC` (or predict_schedule)")

    def predict_schedule(self, fit, schedule: str, every: int | None = None,
                         kind: str | None = None, level: float | None = None):
        """The whole predicted curve of a schedule string (scaling.data.schedules syntax): a frame of
        step, lr, lr_area, lr_decay (scaling.data.lr_history.lr_decay), the target (loss) and its interval of
        `kind` (lower, upper; None: the fit's `default_interval`), a row every `every` steps and at the last (default:
        `default_every`)."""
        lr, _ = learning_rates.schedule_rows(schedule, 1)
        schedule_lr = RunLR(lr)
        if every is None:
            every = min(self.default_every(schedule_lr, len(fit.bootstrap_theta_)), len(lr))
        lr, steps = learning_rates.schedule_rows(schedule, every)
        n_pairs = int(schedule_lr.n_pairs(steps).sum())
        if n_pairs > MAX_PAIRS:
            raise ScalingError(
                f"--every {every}: {len(steps)} rows of this schedule make {n_pairs:.2g} (row, "
                f"LR-change) pairs for the multi-power sum, over its {MAX_PAIRS:.0e}; give a "
                f"larger --every, e.g. --every {self.default_every(schedule_lr, len(fit.bootstrap_theta_))} (or leave it "
                "out: the default fits)")
        inputs = curve_inputs(np.zeros(len(steps)), steps, {0.0: lr})
        decay = learning_rates.lr_decay(lr, steps)
        peak = np.full(len(steps), float(lr.max()))
        value, lower, upper = fit.shown_interval(
            inputs, kind, level,
            scale={"step": steps, "lr_area": inputs.lr_area, "peak_lr": peak, "lr_decay": decay})
        curve = pd.DataFrame({"step": steps, "lr": lr[steps - 1],
                              "lr_area": np.cumsum(lr)[steps - 1], "peak_lr": peak,
                              "lr_decay": decay, self.target: value, "lower": lower,
                              "upper": upper})
        curve.attrs.update(schedule=schedule, law=self.title)   # for scaling.output.curve_figures
        return curve

    def default_every(self, schedule: "RunLR", n_bootstrap: int = 0) -> int:
        """The smallest round step between predicted rows (1, 2, 5, 10, 20, 25, 50, …) whose
        (row, LR-change) pairs, times the parameter vectors evaluated (the point and each of a
        fit's `n_bootstrap` samples), stay within EVALUATIONS (a prediction of about 1 s) and
        MAX_PAIRS. The last step is always a row, so the final value does not depend on it."""
        vectors = 1 + n_bootstrap
        steps = len(schedule.lr)
        for every in NICE_EVERY:
            rows = np.unique(np.append(np.arange(every, steps + 1, every), steps))
            pairs = int(schedule.n_pairs(rows).sum())
            if pairs <= MAX_PAIRS and pairs * vectors <= EVALUATIONS:
                return every
            if every >= steps:
                break
        return max(1, steps)

    def notes(self, fit) -> list[str]:
        """When the curves pin the loss-drop term only as a whole (a decay parameter on its
        bound, or B's or C's interval over two decades), one line that says so: the bundled CPU
        ladder's fit ends with beta on its bound and C in [2e-8, 1.7], which reads as broken."""
        decay = ("b", "c", "beta", "gamma")
        on_bound = [self.reported_name(n) for n in fit.at_bound_ if n in decay]
        wide = [name for name in ("B", "C") if name in fit.intervals_
                and fit.intervals_[name][1] > 100 * max(fit.intervals_[name][0], 1e-300)]
        if not on_bound and not wide:
            return []
        spans = [f"{name}'s interval spans {np.log10(high / max(low, 1e-300)):.0f} decades"
                 for name in wide for low, high in [fit.intervals_[name]]]
        why = "; ".join(([f"{', '.join(on_bound)} ended on a bound"] if on_bound else [])
                        + ([" and ".join(spans)] if spans else []))
        return [f"NOTE: these curves pin the loss-drop term LD(t) only as a whole: B, C, beta and "
                f"gamma trade off against one another ({why}), so each alone is uncertain; the "
                "predicted curves carry that uncertainty in their own intervals, from the same "
                "refits: read those (`scaling predict FIT --compare ...`)"]

    # -- the law -------------------------------------------------------------------------------
    def _terms(self, theta, inputs, gradient=True):
        """L0, A·S^−α, B, the pair sums ΣdG (and those of its gradient), each (S, n)."""
        area = inputs.lr_area[None, :]
        floor = np.exp(theta[:, 0:1])
        power = np.exp(theta[:, 1:2] - theta[:, 2:3] * np.log(area))
        sums = loss_drop_sums(inputs, theta[:, 4], theta[:, 5], theta[:, 6], gradient)  # (4, S, n)
        scale = np.exp(theta[:, 3:4])
        return floor, power, scale, sums, np.log(area)

    def predict_theta(self, theta, inputs):
        floor, power, scale, sums, _ = self._terms(theta, inputs, gradient=False)
        return np.log(np.maximum(floor + power - scale * sums[0], LOSS_CLIP))

    def predict_theta_grad(self, theta, inputs):
        floor, power, scale, sums, log_area = self._terms(theta, inputs)
        value = np.maximum(floor + power - scale * sums[0], LOSS_CLIP)
        drop_g, drop_c, drop_beta, drop_gamma = (scale * s for s in sums)
        jacobian = np.stack(np.broadcast_arrays(
            floor, power, -power * log_area, -drop_g, -drop_c, -drop_beta, -drop_gamma),
            axis=-1) / value[..., None]
        return np.log(value), jacobian

    def linear_basis(self, theta, inputs):
        power = np.exp(-theta[:, 2:3] * np.log(inputs.lr_area[None, :]))
        drop_g = loss_drop_sums(inputs, theta[:, 4], theta[:, 5], theta[:, 6], gradient=False)[0]
        return np.stack(np.broadcast_arrays(np.ones_like(power), power, -drop_g), axis=-1)

    def with_coefficients(self, theta, coefficients):
        theta = theta.copy()
        with np.errstate(divide="ignore"):
            theta[:, [0, 1, 3]] = np.log(coefficients)
        return theta

    def reported(self, theta):
        theta = np.atleast_2d(theta)
        return {"L0": np.exp(theta[:, 0]), "A": np.exp(theta[:, 1]), "alpha": theta[:, 2],
                "B": np.exp(theta[:, 3]), "C": np.exp(theta[:, 4]), "beta": theta[:, 5],
                "gamma": theta[:, 6]}


# -- the loss-drop sum -------------------------------------------------------------------------

@dataclass
class CurveInputs:
    """The law's inputs for rows (run, step) of curves: each row's LR area (`lr_area`), each
    run's per-step LRs with its rows (`curves`), and the (row, LR-change) pairs of the loss-drop
    sum: `pairs` when they are stored, None when each evaluation builds them BUILD_PAIRS at a
    time from `curves` (more than STORED_PAIRS of them). `blocked` caches the approximation that
    the fit's searches use (`search_inputs`), itself a `CurveInputs` with stored pairs."""

    lr_area: np.ndarray
    curves: list            # [(rows of the run, its RunLR, the rows' steps)]
    pairs: dict | None
    blocked: "CurveInputs | None" = None

    def __len__(self) -> int:
        return len(self.lr_area)

    # read as a mapping of the law's one plain input ({"lr_area": …}), as other laws' inputs
    # are: what the shared interval code reads of them (`{**inputs, **scale}`)
    def keys(self):
        return ("lr_area",)

    def __getitem__(self, name):
        if name != "lr_area":
            raise KeyError(name)
        return self.lr_area


class RunLR:
    """One run's per-step LRs with what the pair sets are built from: the drops d_k, the LR area
    before each update, and the updates k where the LR changes."""

    def __init__(self, lr: np.ndarray):
        self.lr = np.asarray(lr, float)
        self.drops = _drops(self.lr)
        self.area = np.concatenate([[0.0], np.cumsum(self.lr)])   # area[j] = Σ_{i≤j} η_i
        self.changes = np.flatnonzero(self.drops != 0) + 1          # k, 1-based

    def n_pairs(self, steps) -> np.ndarray:
        return np.searchsorted(self.changes, steps, side="right")


def curve_inputs(runs, steps, histories: dict) -> CurveInputs:
    """The law's inputs for rows (run, step) given each run's per-step LR array
    (`{run: LR of updates 1 … last}`); the exact pairs are stored when there are at most
    STORED_PAIRS of them."""
    runs = np.asarray(runs)
    steps = np.asarray(steps).astype(np.int64)
    curves, n_pairs = [], 0
    lr_area = np.empty(len(steps))
    for run in pd.unique(runs):
        rows = np.flatnonzero(runs == run)
        schedule = RunLR(histories[run])
        if steps[rows].max() > len(schedule.lr):
            raise ScalingError(f"run {run!r} has rows up to step {steps[rows].max()} but LRs "
                               f"for {len(schedule.lr)} steps")
        n_pairs += int(schedule.n_pairs(steps[rows]).sum())
        if n_pairs > MAX_PAIRS:
            raise ScalingError(
                f"{len(runs)} rows make over {MAX_PAIRS:.0e} (row, LR-change) pairs for the "
                f"multi-power sum (run {run!r} has {len(rows)} rows); thin the rows, e.g. "
                f"--where 'step % 100 == 0'")
        lr_area[rows] = schedule.area[steps[rows]]
        curves.append((rows, schedule, steps[rows]))
    pairs = _stored_pairs(curves, len(steps), n_pairs) if n_pairs <= STORED_PAIRS else None
    return CurveInputs(lr_area, curves, pairs)


def _row_chunks(schedule: RunLR, steps):
    """Positions of `steps` in groups whose exact pairs number about BUILD_PAIRS at most."""
    chunk_of_row = np.cumsum(schedule.n_pairs(steps)) // BUILD_PAIRS
    bounds = np.flatnonzero(np.diff(chunk_of_row)) + 1
    return np.split(np.arange(len(steps)), bounds)


def _stored_pairs(curves, n_rows: int, n_pairs: int) -> dict:
    """The exact pairs of every row, built a chunk of rows at a time into arrays of their final
    size (no concatenation: the peak is the pairs themselves plus one chunk's temporaries)."""
    out = {"lr_area": np.empty(n_rows), "saturated": np.zeros(n_rows),
           "pair_row": np.empty(n_pairs, np.int32), "drop": np.empty(n_pairs),
           "log_lr": np.empty(n_pairs), "log_area": np.empty(n_pairs)}
    position = 0
    for rows, schedule, run_steps in curves:
        for members in _row_chunks(schedule, run_steps):
            part = exact_pairs(schedule, run_steps[members])
            end = position + len(part["drop"])
            out["pair_row"][position:end] = rows[members][part["pair_row"]]
            for key in ("drop", "log_lr", "log_area"):
                out[key][position:end] = part[key]
            out["lr_area"][rows[members]] = part["lr_area"]
            out["saturated"][rows[members]] = part["saturated"]
            position = end
    for key in ("pair_row", "drop", "log_lr", "log_area"):   # less the pairs with G fixed
        out[key] = out[key][:position]
    return out


def blocked_inputs(inputs: CurveInputs) -> CurveInputs:
    """The blocked approximation of `inputs` (built once, then cached on them)."""
    if inputs.blocked is None:
        parts = [blocked_pairs(schedule, run_steps) for _, schedule, run_steps in inputs.curves]
        pairs = _join(parts, np.concatenate([rows for rows, _, _ in inputs.curves]))
        inputs.blocked = CurveInputs(inputs.lr_area, inputs.curves, pairs)
    return inputs.blocked


def loss_drop_sums(inputs: CurveInputs, log_c, beta, gamma, gradient: bool = True):
    """`drop_sums` over every row of `inputs`: from the stored pairs, or from pairs built a
    chunk of rows at a time (at most about BUILD_PAIRS pairs in memory at once)."""
    if inputs.pairs is not None:
        return drop_sums(inputs.pairs, log_c, beta, gamma, gradient)
    n_parameters = len(np.atleast_1d(log_c))
    out = np.zeros((4 if gradient else 1, n_parameters, len(inputs)))
    for rows, schedule, run_steps in inputs.curves:
        for members in _row_chunks(schedule, run_steps):
            pairs = exact_pairs(schedule, run_steps[members])
            out[:, :, rows[members]] = drop_sums(pairs, log_c, beta, gamma, gradient)
    return out


def _join(parts, order) -> dict:
    """Concatenate per-run pair sets, renumbering rows back to the frame's order."""
    offset, joined = 0, {key: [] for key in parts[0]}
    for part in parts:
        for key, value in part.items():
            joined[key].append(value + offset if key == "pair_row" else value)
        offset += len(part["lr_area"])
    out = {key: np.concatenate(values) for key, values in joined.items()}
    out["pair_row"] = order.astype(np.int32)[out["pair_row"]]   # row j is frame row order[j]
    for key in ("lr_area", "saturated"):
        values = np.empty_like(out[key])
        values[order] = out[key]
        out[key] = values
    return out


def _drops(lr: np.ndarray) -> np.ndarray:
    """d_k = η_{k−1} − η_k for updates k = 1 … T (index k−1), zero during warmup."""
    drops = np.concatenate([[0.0], lr[:-1] - lr[1:]])
    decreasing = np.flatnonzero(drops > 0)
    drops[: decreasing[0] if len(decreasing) else len(drops)] = 0.0   # the warmup's rises
    return drops


def exact_pairs(lr, steps: np.ndarray, only_zero_lr: bool = False) -> dict:
    """Every (row, k) with k ≤ the row's step and η_{k−1} ≠ η_k: its drop, log η_k, log S_k(t).
    `lr` is a per-step LR array or its `RunLR`.

    Pairs whose η_k is 0 have G = 1 whatever the parameters (x = ∞) and go to `saturated`;
    pairs with S_k(t) = 0 (no LR left after the change) have G = 0 and are dropped.
    `only_zero_lr` keeps just the changes to a zero LR (for `blocked_pairs`)."""
    schedule = lr if isinstance(lr, RunLR) else RunLR(lr)
    lr, drops, area = schedule.lr, schedule.drops, schedule.area
    steps = np.asarray(steps).astype(np.int64)
    changes = schedule.changes
    if only_zero_lr:
        changes = changes[lr[changes - 1] == 0]
    counts = np.searchsorted(changes, steps, side="right")
    pair_row = np.repeat(np.arange(len(steps), dtype=np.int32), counts)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    k = changes[np.arange(counts.sum()) - np.repeat(first, counts)]
    remaining = area[steps[pair_row]] - area[k - 1]      # S_k(t)
    lr_k = lr[k - 1]
    drop = drops[k - 1]
    del k, first
    saturated = np.bincount(pair_row, drop * ((lr_k == 0) & (remaining > 0)), len(steps))
    keep = (lr_k > 0) & (remaining > 0)
    return {"lr_area": area[steps], "saturated": saturated, "pair_row": pair_row[keep],
            "drop": drop[keep], "log_lr": np.log(lr_k[keep]), "log_area": np.log(remaining[keep])}


def blocked_pairs(lr, steps: np.ndarray) -> dict:
    """Like `exact_pairs`, with the LR changes older than EXACT_DISTANCE steps merged into
    blocks that widen geometrically with distance: each block's drop is the sum of its drops,
    its log η and area the drop-weighted means. Exact pairs where drops change sign."""
    schedule = lr if isinstance(lr, RunLR) else RunLR(lr)
    steps = np.asarray(steps).astype(np.int64)
    drops, lr, area = schedule.drops, schedule.lr, schedule.area
    if np.any(drops < 0):
        return exact_pairs(schedule, steps)
    positive = lr > 0                      # changes to a zero LR are saturated: kept exactly
    drops = np.where(positive, drops, 0.0)
    log_lr = np.log(np.where(positive, lr, 1.0))
    # prefix sums over k = 1 … T of d_k, d_k·log η_k and d_k·Σ_{i<k} η_i
    mass = np.concatenate([[0.0], np.cumsum(drops)])
    mass_log = np.concatenate([[0.0], np.cumsum(drops * log_lr)])
    mass_area = np.concatenate([[0.0], np.cumsum(drops * area[:-1])])
    longest = int(steps.max())
    edges = [float(d) for d in range(EXACT_DISTANCE + 1)]
    while edges[-1] < longest:
        edges.append(max(edges[-1] + 1, np.floor(edges[-1] * BLOCK_GROWTH)))
    distance = np.array(edges, dtype=np.int64)                        # block j: distances
    upper = np.clip(steps[:, None] - distance[None, :-1], 0, None)   # k ≤ t − d_j
    lower = np.clip(steps[:, None] - distance[None, 1:], 0, None)    # k > t − d_{j+1}
    drop = mass[upper] - mass[lower]
    keep = drop > 0
    row = np.broadcast_to(np.arange(len(steps), dtype=np.int32)[:, None], drop.shape)[keep]
    drop = drop[keep]
    mean_log_lr = (mass_log[upper] - mass_log[lower])[keep] / drop
    mean_area_before = (mass_area[upper] - mass_area[lower])[keep] / drop
    remaining = area[steps[row]] - mean_area_before
    saturated = exact_pairs(schedule, steps, only_zero_lr=True)["saturated"]
    return {"lr_area": area[steps], "saturated": saturated, "pair_row": row,
            "drop": drop, "log_lr": mean_log_lr, "log_area": np.log(remaining)}


def drop_sums(pairs: dict, log_c, beta, gamma, gradient: bool = True) -> np.ndarray:
    """Per parameter vector s and row i: Σ d·G and, with `gradient`, Σ d·∂G/∂log C,
    Σ d·∂G/∂β, Σ d·∂G/∂γ. Returns (4, S, n) (or (1, S, n)).

    z = C·η^−γ·S_k(t) is computed in logs; G = −expm1(−β·log(1 + z)) keeps full precision when
    z is small. A row's pairs are contiguous, so the sums are segment sums (`np.add.reduceat`),
    taken over about CHUNK_PAIRS pairs at a time (whole rows), which bounds the temporaries.
    Parameter vectors that share (C, β, γ) are computed once."""
    log_c, beta, gamma = (np.atleast_1d(np.asarray(v, float)) for v in (log_c, beta, gamma))
    n = len(pairs["lr_area"])
    keys = np.stack([log_c, beta, gamma], axis=1)
    unique, inverse = np.unique(keys, axis=0, return_inverse=True)
    out = np.zeros((4 if gradient else 1, len(unique), n))
    out[0] = pairs["saturated"]
    starts, rows = _segments(pairs["pair_row"])
    ends = np.append(starts[1:], len(pairs["pair_row"]))
    bounds = np.flatnonzero(np.diff(starts // CHUNK_PAIRS)) + 1       # chunks of whole rows
    for i0, i1 in zip(np.r_[0, bounds], np.r_[bounds, len(starts)]):
        if i1 <= i0:
            continue
        first, last = starts[i0], ends[i1 - 1]
        drop, log_lr, log_area = (pairs[k][first:last] for k in ("drop", "log_lr", "log_area"))
        offsets, chunk_rows = starts[i0:i1] - first, rows[i0:i1]

        def sums(values):
            return np.add.reduceat(values, offsets)

        for u, (c, b, g) in enumerate(unique):
            log_z = np.minimum(c - g * log_lr + log_area, 700.0)  # z beyond e^700: G = 1 anyway
            log1p_z = np.log1p(np.exp(log_z))                      # log(1 + z)
            unrealised = np.expm1(-b * log1p_z)                    # −G = (1 + z)^−β − 1
            out[0, u, chunk_rows] -= sums(drop * unrealised)
            if gradient:
                remaining = drop * (1.0 + unrealised)              # d·(1 + z)^−β
                slope = remaining * b * np.exp(log_z - log1p_z)    # d·∂G/∂log C = d·β·z/(1+z)^(1+β)
                out[1, u, chunk_rows] = sums(slope)
                out[2, u, chunk_rows] = sums(remaining * log1p_z)
                out[3, u, chunk_rows] = -sums(slope * log_lr)
    return out[:, inverse.reshape(-1)]


def _segments(pair_row):
    """Start index and row of each run of equal `pair_row` values."""
    if not len(pair_row):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate([[True], pair_row[1:] != pair_row[:-1]]))
    return starts, pair_row[starts]
