"""Multi-power law: the whole loss curve of a run from its learning-rate schedule.

    L(t) = L0 + A · (S1(t) + S_W)^(−α) − LD(t)

    LD(t) = B · Σ_{k=1..t} (η_{k−1} − η_k) · G(η_k^(−γ) · S_k(t)),   S_k(t) = Σ_{τ=k..t} η_τ
    G(x)  = 1 − (C·x + 1)^(−β)

Symbols: t the optimizer step (`step`), η_k the LR of update k (from `lr`, `schedule` or an LR
file, see scaling/lr.py), S1(t) + S_W the LR area of every update so far, warmup included
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
prediction use the exact pairs. tests/test_multipower.py checks the exact pass against a plain
double loop over steps to 1e-10.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from scaling import lr as learning_rates
from scaling.errors import ScalingError
from scaling.fitting import Parameter
from scaling.laws.base import Law
from scaling.laws.registry import register

EXACT_DISTANCE = 16     # LR changes closer than this many steps to a row are never merged
BLOCK_GROWTH = 1.1      # older blocks are at most 10% of their distance to the row wide
MAX_PAIRS = 30_000_000  # ~1 GB of exact pairs; beyond it, rows must be thinned


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
        return inputs["blocked"]

    def broadcast_inputs(self, values):
        raise ScalingError("the multipower law predicts whole curves from a schedule: use "
                           "`scaling predict FIT --schedule SPEC` (or predict_schedule)")

    def predict_schedule(self, schedule: str, every: int = 1):
        """The whole predicted curve of a schedule string (scaling.schedules syntax): a frame of
        step, lr, lr_area, the target (loss) and its 'law' interval (lower, upper)."""
        lr, steps = learning_rates.schedule_rows(schedule, every)
        inputs = curve_inputs(np.zeros(len(steps)), steps, {0.0: lr})
        value, lower, upper = self.interval_from_inputs(inputs)
        return pd.DataFrame({"step": steps, "lr": lr[steps - 1], "lr_area": np.cumsum(lr)[steps - 1],
                             self.target: value, "lower": lower, "upper": upper})

    # -- the law -------------------------------------------------------------------------------
    def _terms(self, theta, inputs, gradient=True):
        """L0, A·S^−α, B, the pair sums ΣdG (and those of its gradient), each (S, n)."""
        exact = inputs.get("exact", inputs)
        area = exact["lr_area"][None, :]
        floor = np.exp(theta[:, 0:1])
        power = np.exp(theta[:, 1:2] - theta[:, 2:3] * np.log(area))
        sums = drop_sums(exact, theta[:, 4], theta[:, 5], theta[:, 6], gradient)  # (4, S, n)
        scale = np.exp(theta[:, 3:4])
        return floor, power, scale, sums, np.log(area)

    def predict_theta(self, theta, inputs):
        floor, power, scale, sums, _ = self._terms(theta, inputs, gradient=False)
        return np.log(np.maximum(floor + power - scale * sums[0], 1e-12))

    def predict_theta_grad(self, theta, inputs):
        floor, power, scale, sums, log_area = self._terms(theta, inputs)
        value = np.maximum(floor + power - scale * sums[0], 1e-12)
        drop_g, drop_c, drop_beta, drop_gamma = (scale * s for s in sums)
        jacobian = np.stack(np.broadcast_arrays(
            floor, power, -power * log_area, -drop_g, -drop_c, -drop_beta, -drop_gamma),
            axis=-1) / value[..., None]
        return np.log(value), jacobian

    def linear_basis(self, theta, inputs):
        exact = inputs.get("exact", inputs)
        power = np.exp(-theta[:, 2:3] * np.log(exact["lr_area"][None, :]))
        drop_g = drop_sums(exact, theta[:, 4], theta[:, 5], theta[:, 6], gradient=False)[0]
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

def curve_inputs(runs, steps, histories: dict) -> dict:
    """The law's inputs for rows (run, step) given each run's per-step LR array
    (`{run: LR of updates 1 … last}`): the exact pairs and their blocked approximation,
    {"exact": {...}, "blocked": {...}}."""
    runs = np.asarray(runs)
    steps = np.asarray(steps).astype(np.int64)
    exact_parts, blocked_parts = [], []
    order, n_pairs = [], 0
    for run in pd.unique(runs):
        rows = np.flatnonzero(runs == run)
        lr = np.asarray(histories[run], float)
        if steps[rows].max() > len(lr):
            raise ScalingError(f"run {run!r} has rows up to step {steps[rows].max()} but LRs "
                               f"for {len(lr)} steps")
        changes = np.flatnonzero(_drops(lr) != 0) + 1
        n_pairs += int(np.searchsorted(changes, steps[rows], side="right").sum())
        if n_pairs > MAX_PAIRS:
            raise ScalingError(
                f"{len(runs)} rows make over {MAX_PAIRS:.0e} (row, LR-change) pairs for the "
                f"multi-power sum (run {run!r} has {len(rows)} rows); thin the rows, e.g. "
                f"--where 'step % 100 == 0'")
        exact_parts.append(exact_pairs(lr, steps[rows]))
        blocked_parts.append(blocked_pairs(lr, steps[rows]))
        order.append(rows)
    order = np.concatenate(order)
    return {"exact": _join(exact_parts, order), "blocked": _join(blocked_parts, order)}


def _join(parts, order) -> dict:
    """Concatenate per-run pair sets, renumbering rows back to the frame's order."""
    offset, joined = 0, {key: [] for key in parts[0]}
    for part in parts:
        for key, value in part.items():
            joined[key].append(value + offset if key == "pair_row" else value)
        offset += len(part["lr_area"])
    out = {key: np.concatenate(values) for key, values in joined.items()}
    out["pair_row"] = order[out["pair_row"]]            # concatenated row j is frame row order[j]
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


def exact_pairs(lr: np.ndarray, steps: np.ndarray, only_zero_lr: bool = False) -> dict:
    """Every (row, k) with k ≤ the row's step and η_{k−1} ≠ η_k: its drop, log η_k, log S_k(t).

    Pairs whose η_k is 0 have G = 1 whatever the parameters (x = ∞) and go to `saturated`;
    pairs with S_k(t) = 0 (no LR left after the change) have G = 0 and are dropped.
    `only_zero_lr` keeps just the changes to a zero LR (for `blocked_pairs`)."""
    drops = _drops(lr)
    area = np.concatenate([[0.0], np.cumsum(lr)])         # area[j] = Σ_{i≤j} η_i (1-based)
    changes = np.flatnonzero((drops != 0) & ((lr == 0) | (not only_zero_lr))) + 1   # k, 1-based
    counts = np.searchsorted(changes, steps, side="right")
    pair_row = np.repeat(np.arange(len(steps)), counts)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    k = changes[np.arange(counts.sum()) - np.repeat(first, counts)]
    remaining = area[steps[pair_row]] - area[k - 1]      # S_k(t)
    lr_k = lr[k - 1]
    drop = drops[k - 1]
    saturated = np.bincount(pair_row, drop * ((lr_k == 0) & (remaining > 0)), len(steps))
    keep = (lr_k > 0) & (remaining > 0)
    return {"lr_area": area[steps], "saturated": saturated, "pair_row": pair_row[keep],
            "drop": drop[keep], "log_lr": np.log(lr_k[keep]), "log_area": np.log(remaining[keep])}


def blocked_pairs(lr: np.ndarray, steps: np.ndarray) -> dict:
    """Like `exact_pairs`, with the LR changes older than EXACT_DISTANCE steps merged into
    blocks that widen geometrically with distance: each block's drop is the sum of its drops,
    its log η and area the drop-weighted means. Exact pairs where drops change sign."""
    drops = _drops(lr)
    if np.any(drops < 0):
        return exact_pairs(lr, steps)
    area = np.concatenate([[0.0], np.cumsum(lr)])
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
    row = np.broadcast_to(np.arange(len(steps))[:, None], drop.shape)[keep]
    drop = drop[keep]
    mean_log_lr = (mass_log[upper] - mass_log[lower])[keep] / drop
    mean_area_before = (mass_area[upper] - mass_area[lower])[keep] / drop
    remaining = area[steps[row]] - mean_area_before
    saturated = exact_pairs(lr, steps, only_zero_lr=True)["saturated"]
    return {"lr_area": area[steps], "saturated": saturated, "pair_row": row,
            "drop": drop, "log_lr": mean_log_lr, "log_area": np.log(remaining)}


def drop_sums(pairs: dict, log_c, beta, gamma, gradient: bool = True) -> np.ndarray:
    """Per parameter vector s and row i: Σ d·G and, with `gradient`, Σ d·∂G/∂log C,
    Σ d·∂G/∂β, Σ d·∂G/∂γ. Returns (4, S, n) (or (1, S, n)).

    z = C·η^−γ·S_k(t) is computed in logs; G = −expm1(−β·log(1 + z)) keeps full precision when
    z is small. A row's pairs are contiguous, so the sums are segment sums (`np.add.reduceat`).
    Parameter vectors that share (C, β, γ) are computed once."""
    log_c, beta, gamma = (np.atleast_1d(np.asarray(v, float)) for v in (log_c, beta, gamma))
    n = len(pairs["lr_area"])
    keys = np.stack([log_c, beta, gamma], axis=1)
    unique, inverse = np.unique(keys, axis=0, return_inverse=True)
    out = np.zeros((4 if gradient else 1, len(unique), n))
    drop, log_lr, log_area = (pairs[k] for k in ("drop", "log_lr", "log_area"))
    starts, rows = _segments(pairs["pair_row"])

    def sums(values):
        return np.add.reduceat(values, starts) if len(starts) else 0.0

    for u, (c, b, g) in enumerate(unique):
        log_z = np.minimum(c - g * log_lr + log_area, 700.0)    # z beyond e^700: G = 1 anyway
        log1p_z = np.log1p(np.exp(log_z))                        # log(1 + z)
        unrealised = np.expm1(-b * log1p_z)                      # −G = (1 + z)^−β − 1
        out[0, u] = pairs["saturated"]
        out[0, u, rows] -= sums(drop * unrealised)
        if gradient:
            remaining = drop * (1.0 + unrealised)                # d·(1 + z)^−β
            slope = remaining * b * np.exp(log_z - log1p_z)      # d·∂G/∂log C = d·β·z/(1+z)^(1+β)
            out[1, u, rows] = sums(slope)
            out[2, u, rows] = sums(remaining * log1p_z)
            out[3, u, rows] = -sums(slope * log_lr)
    return out[:, inverse.reshape(-1)]


def _segments(pair_row):
    """Start index and row of each run of equal `pair_row` values."""
    if not len(pair_row):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate([[True], pair_row[1:] != pair_row[:-1]]))
    return starts, pair_row[starts]
