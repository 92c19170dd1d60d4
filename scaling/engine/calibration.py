"""Extrapolation-aware intervals, calibrated on the fit's own data.

A bootstrap interval says how much the parameters move when the runs are resampled. It knows
nothing of the systematic error of extrapolating: a law that fits 1e19-FLOP runs to 0.5% can miss
a 1e22-FLOP run by 3% while its bootstrap interval is ±0.5%. The calibrated interval learns from
the data how a prediction's error grows with its distance beyond the fitted data, and widens to
the distance asked for.

Method: rolling-origin calibration (forecasting's evaluation on a rolling origin, Tashman 2000)
with a distance-scaled split-conformal interval (Lei et al. 2018, "Distribution-free predictive
inference for regression", locally weighted residuals).

1. Splits of the fitted data, each refitted from scratch with the same settings:
   - laws of final rows: for each scale column (Chinchilla: params, tokens) and for their product,
     up to ORIGINS thresholds that keep 40% to 85% of the runs: fit on the runs at or below,
     predict the others (the larger ones); and FOLDS-fold cross-validation over runs (errors
     inside the fitted range);
   - laws of whole curves: cut every curve at CUTS of its steps, fit the earlier rows of every
     curve, predict the later ones; and leave each run (schedule) out in turn (2 or more runs);
     laws of every row without steps (task accuracy from task loss): the folds over runs.
2. Each held-out row gives a residual r in the law's space (log actual − log predicted: about the
   relative error) and its coordinates (`Fit.error_coordinates`): d_c, the decades beyond that
   refit's data, on either side, in each scale c (Chinchilla: params, tokens; curve laws: step,
   LR area and peak LR; data-constrained: also unique tokens and epochs) and, for
   laws of whole curves, the row's progress along its curve (log10 of step over the first fitted
   step) and its LR decay (decades below the highest LR so far): a held-out schedule's annealed,
   late rows miss by more than its early ones, even inside the fitted lengths.
3. The error's scale grows with them: s = sqrt(σ0² + Σ_c (κ_c·d_c)²), σ0 and the κ_c by maximum
   likelihood of r ~ Normal(0, s²), each split weighing the same however many rows it held out
   (the in-range folds would otherwise outweigh the extrapolations). σ0 is at least the full
   fit's robust residual scale and, where the table repeats seeds, their measured scatter
   (`noise_floor`). A slope is at least σ0 / (the farthest its splits reached, decades): growth
   slower than that would have hidden in the noise, so data that extrapolated only a little
   cannot claim a flat error (a 16-run ladder spanning 0.18 decades in params gets ≥ 5% a
   decade, not the 5e-9 that maximum likelihood finds). A column no split reached beyond grows
   at the steepest slope.
4. The interval at distance d and level q is point ± s(d)·z_q in the law's space, where z_q is
   the conformal (finite-sample) quantile q of the normalised residuals' sizes |r| / s(d).
   Symmetric on purpose: the sign of a law's bias inside its own data did not carry over to the
   held-out larger runs in our backtests (bench/calibration.py), its size did.

Beyond the largest calibrated distance the interval grows on the fitted line (κ·d): reports say
so. `bench/calibration.py` measures the coverage of these intervals against the bootstrap's on
every data set the project has.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from scaling.data.runs import final_rows
from scaling.engine import reach as geometry
from scaling.errors import ScalingError

ORIGINS = 12            # thresholds per scale column (laws of final rows; 4 gave the misfit Kaplan
#                         law's 80% intervals 92% coverage on the Chinchilla data, 12 give 88%)
FOLDS = 5               # cross-validation folds over runs (errors inside the fitted range)
CUTS = (0.5, 0.7)       # laws of whole curves: share of each curve's steps a refit sees
LEAVE_OUT_RUNS = 2      # laws of whole curves: leave each run out when there are this many
MIN_RESIDUALS = 10      # fewer held-out residuals give no calibration
SHARES = (0.4, 0.85)    # laws of final rows: the origins keep this share of the runs, at least
#                         and at most. The lower end matters: the smallest training sets make the
#                         longest extrapolations, where a misfit law's error grows fastest (from
#                         0.5, Kaplan's 80% intervals hold 54% on the Chinchilla data, not 88%)
QUANTILES = np.linspace(0.0, 1.0, 201)   # the stored quantiles of the normalised residuals
ERROR_LIMIT = 0.05      # warnings: the distance where the expected error passes 5%
MIN_REACH = 0.1         # decades: a shorter reach bounds no slope (see `calibrate`)


@dataclass
class ErrorModel:
    """How a fit's prediction error grows beyond its data, in the law's residual space:
    s = sqrt(noise² + Σ_c (slope_c · d_c)²), d_c the decades beyond the largest fitted value of
    scale column c, and the quantiles of the residuals' sizes normalised by s."""

    noise: float                 # σ0: the error scale inside the fitted range
    slopes: dict                 # {scale column: κ_c, growth of the error scale per decade}
    z_quantiles: np.ndarray      # quantiles QUANTILES of |r| / s
    n_residuals: int             # held-out residuals it was learned from
    max_distance: dict           # {scale column: the furthest calibrated distance, decades}
    splits: list = field(default_factory=list)   # [{"split", "n_test", "max_distance", "rms"}]

    def scale(self, distances: dict) -> np.ndarray:
        """The error scale at points `{scale column: decades beyond}` (columns the model has no
        slope for grow at its steepest slope: unseen directions are not free)."""
        steepest = max(self.slopes.values(), default=0.0)
        total = self.noise ** 2
        for name, value in distances.items():
            total = total + (self.slopes.get(name, steepest) * np.asarray(value, float)) ** 2
        return np.sqrt(total)

    def quantile(self, share) -> np.ndarray:
        return np.interp(share, QUANTILES, self.z_quantiles)

    def bounds(self, distances: dict, level: float):
        """(lower, upper) offsets in the law's space at points `{scale column: decades}`, for a
        central interval of `level`: ± s · the quantile of |z| at the conformal (finite-sample)
        rank ceil(level · (n + 1)) / n."""
        n = self.n_residuals
        rank = min(1.0, math.ceil(level * (n + 1)) / n)
        half = self.scale(distances) * self.quantile(rank)
        return -half, half

    def expected_error(self, distances: dict) -> np.ndarray:
        """The median size of the error at points (law space: about relative in log space)."""
        return float(self.quantile(0.5)) * self.scale(distances)

    def beyond_calibration(self, distances: dict) -> np.ndarray:
        """Whether points reach further in some scale column than any calibration split did
        (their interval grows on the fitted line, unchecked)."""
        out = np.zeros(np.broadcast(*distances.values()).shape if distances else (), bool)
        for name, value in distances.items():
            out = out | (np.asarray(value, float) > self.max_distance.get(name, 0.0) + 1e-9)
        return out

    def to_dict(self) -> dict:
        return {"noise": self.noise, "slopes": dict(self.slopes),
                "n_residuals": self.n_residuals, "max_distance": dict(self.max_distance),
                "z_quantiles": [float(v) for v in self.z_quantiles], "splits": self.splits}

    @classmethod
    def from_dict(cls, block) -> "ErrorModel":
        if not isinstance(block, dict):
            raise ScalingError(f"calibration: expected an object, got {type(block).__name__}")
        try:
            z = np.asarray(block["z_quantiles"], float)
            model = cls(float(block["noise"]),
                        {str(k): float(v) for k, v in dict(block["slopes"]).items()}, z,
                        int(block["n_residuals"]),
                        {str(k): float(v) for k, v in dict(block["max_distance"]).items()},
                        list(block.get("splits", [])))
        except (KeyError, TypeError, ValueError) as exc:
            raise ScalingError(f"calibration: missing or bad field ({exc})") from None
        numbers = [model.noise, *model.slopes.values(), *model.max_distance.values()]
        if (len(z) != len(QUANTILES) or not np.all(np.isfinite(z)) or np.any(np.diff(z) < 0)
                or not all(math.isfinite(v) and v >= 0 for v in numbers)
                or model.n_residuals < MIN_RESIDUALS):
            raise ScalingError("calibration: expected noise ≥ 0, slopes ≥ 0, "
                               f"n_residuals ≥ {MIN_RESIDUALS} and {len(QUANTILES)} increasing "
                               "z_quantiles; refit to recompute it")
        return model


# -- splits ------------------------------------------------------------------------------------

def final_splits(law, data, seed: int = 0):
    """(name, train runs, test runs) of a law of final rows (or a chained law)."""
    finals = final_rows(data.frame)
    runs = finals["run"].to_numpy()
    keys = {}
    values = geometry.coordinate_values(law, finals)
    scales = [c for c in law.scales if c in values]
    for column in scales:
        with np.errstate(divide="ignore", invalid="ignore"):
            keys[column] = np.log(np.asarray(values[column], float))
    sizes = [c for c in scales if c in law.power_inputs]   # the product of the size columns
    if len(sizes) > 1:                                      # (N×D: compute)
        keys["×".join(sizes)] = np.sum([keys[c] for c in sizes], axis=0)
    out = []
    for name, key in keys.items():
        values = np.unique(np.round(key, 9))
        shares = np.array([np.mean(key <= v + 1e-9) for v in values])
        usable = values[(shares >= SHARES[0]) & (shares <= SHARES[1])]
        if not len(usable):
            continue
        picks = np.unique(np.linspace(0, len(usable) - 1, min(ORIGINS, len(usable))).astype(int))
        for value in usable[picks]:
            train = runs[key <= value + 1e-9]
            test = runs[key > value + 1e-9]
            if len(test):
                out.append((f"{name} ≤ {math.exp(value):.3g}", train, test))
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(runs))
    folds = min(FOLDS, len(runs))
    for k in range(folds):
        test = runs[order[k::folds]]
        train = runs[np.setdiff1d(order, order[k::folds])]
        out.append((f"fold {k + 1}/{folds}", train, test))
    return out


def coordinates(law, data) -> list[str]:
    """The names of `Fit.error_coordinates`: the scale columns the data hold, and `progress`
    for laws of whole curves."""
    values = geometry.coordinate_values(law, data.frame, data.lr_histories)
    columns = [c for c in law.scales if c in values and c not in law.uncalibrated_scales]
    curves = law.rows == "all" and "step" in columns
    return columns + (["progress"] if curves else []) + \
        (["lr_decay"] if curves and law.uses_lr_histories else [])


def calibration_residuals(law, data, seed: int = 0):
    """Held-out residuals (law space, (n,)), distances (decades beyond each refit's data, (n, k)
    for the law's k scale columns) and a summary per split, from refits of the `law` on splits
    of `data` (`PreparedRuns`)."""
    residuals, distances, summary = [], [], []
    columns = coordinates(law, data)

    def score(name, train_frame, test_frame):
        try:
            sub = law.fit(data.with_frame(train_frame), bootstrap=0, calibrate=False)
        except ScalingError:
            return            # too few runs or sizes for this law: the split says nothing
        test_frame = law.held_out_rows(test_frame)
        if not len(test_frame):
            return
        test = data.with_frame(test_frame)
        predicted = np.asarray(sub.predict_rows(test), float)
        actual = test_frame[law.target].to_numpy(float)
        ok = np.isfinite(predicted) & np.isfinite(actual)
        if law.space == "log":
            ok &= (predicted > 0) & (actual > 0)
        if not ok.any():
            return
        r = law.to_space(actual[ok]) - law.to_space(predicted[ok])
        parts = sub.error_coordinates(geometry.coordinate_values(law, test_frame,
                                                                  data.lr_histories))
        d = np.column_stack([np.broadcast_to(parts[c], ok.shape)[ok] if c in parts
                             else np.zeros(ok.sum()) for c in columns]) if columns \
            else np.zeros((int(ok.sum()), 0))
        residuals.append(r)
        distances.append(d)
        summary.append({"split": name, "n_test": int(ok.sum()),
                        "max_distance": float(d.sum(axis=1).max()),
                        "rms": float(np.sqrt(np.mean(r ** 2)))})

    frame = data.frame
    if law.rows == "all" and "step" not in frame:     # rows of runs, not curves in steps
        for name, train, test in final_splits(law, data, seed):
            score(name, frame[frame["run"].isin(train)], frame[frame["run"].isin(test)])
    elif law.rows == "all":
        steps = frame.groupby("run")["step"].transform("max")
        for share in CUTS:
            early = frame["step"] <= share * steps
            score(f"steps ≤ {share:g} of each curve", frame[early], frame[~early])
        runs = pd.unique(frame["run"])
        if len(runs) >= LEAVE_OUT_RUNS:
            for run in runs:
                score(f"without {run}", frame[frame["run"] != run], frame[frame["run"] == run])
    else:
        for name, train, test in final_splits(law, data, seed):
            test_rows = law.target_rows(frame[frame["run"].isin(test)])
            score(name, frame[frame["run"].isin(train)], test_rows)
    if not residuals:
        return np.empty(0), np.empty((0, len(columns))), summary
    return np.concatenate(residuals), np.concatenate(distances), summary


def fit_error_model(residuals, distances, noise_floor: float = 0.0, weights=None):
    """σ0 > noise_floor and κ_c ≥ 0 of s = sqrt(σ0² + Σ_c (κ_c d_c)²) by maximum likelihood of
    r ~ Normal(0, s²); distances (n, k). A column no split reached beyond gets κ = None."""
    r2 = np.asarray(residuals, float) ** 2
    w = np.ones_like(r2) if weights is None else np.asarray(weights, float)
    d2 = np.asarray(distances, float).reshape(len(r2), -1) ** 2
    reached = np.any(d2 > 0, axis=0)
    d2 = d2[:, reached]
    floor = max(float(noise_floor), 1e-6)

    def negative_log_likelihood(x):
        s2 = (floor + math.exp(x[0])) ** 2 + d2 @ np.exp(2 * x[1:])
        return float(np.sum(w * (np.log(s2) + r2 / s2)))

    inside = r2[~np.any(d2 > 0, axis=1)] if d2.shape[1] else r2
    noise_start = math.sqrt(np.mean(inside)) if len(inside) else math.sqrt(np.mean(r2))
    slope_start = math.sqrt(np.mean(r2)) / max(math.sqrt(np.mean(d2)) if d2.size else 1.0, 1e-3)
    starts = [[math.log(max(noise_start - floor, 1e-6)) - a,
               *[math.log(max(slope_start, 1e-6)) - b] * d2.shape[1]]
              for a in (0, 3) for b in (0, 5)]
    best = min((minimize(negative_log_likelihood, start, method="Nelder-Mead",
                         options={"xatol": 1e-6, "fatol": 1e-9, "maxiter": 4000})
                for start in starts), key=lambda result: result.fun)
    noise = floor + math.exp(best.x[0])
    slopes = iter(np.exp(best.x[1:]))
    return noise, [float(next(slopes)) if seen else None for seen in reached]


def residual_floor(residuals) -> float:
    """The fit's own residual scale, a floor for σ0: robust (1.4826 × the median absolute
    residual), so a few outliers the Huber loss set aside do not widen every interval."""
    return float(1.4826 * np.median(np.abs(residuals)))


def split_weights(summary) -> np.ndarray:
    """Each split weighs as much as any other, whatever its number of held-out rows: the
    cross-validation folds (many rows inside the fitted range) would otherwise outweigh the
    origins (the extrapolations that matter), and a long held-out curve every other split."""
    return np.concatenate([np.full(split["n_test"], 1.0 / split["n_test"]) for split in summary])


def weighted_quantiles(values, weights, shares) -> np.ndarray:
    """Quantiles of weighted values (the inverse of their weighted empirical distribution, each
    value at the middle of its weight)."""
    order = np.argsort(values)
    values, weights = np.asarray(values, float)[order], np.asarray(weights, float)[order]
    cumulative = (np.cumsum(weights) - 0.5 * weights) / np.sum(weights)
    return np.interp(shares, cumulative, values)


def calibrate(fit, data, *, noise_floor: float = 0.0, seed: int = 0) -> ErrorModel | None:
    """A fit's error model (`scaling.engine.fit.Fit`), from refits of its law on splits of its
    data (`PreparedRuns`); None when the splits give fewer than MIN_RESIDUALS held-out
    residuals."""
    law = fit.law
    residuals, distances, summary = calibration_residuals(law, data, seed)
    if len(residuals) < MIN_RESIDUALS:
        return None
    columns = coordinates(law, data)
    floor = noise_floor
    if fit.residuals_ is not None and len(fit.residuals_):
        floor = max(floor, residual_floor(np.asarray(fit.residuals_, float)))
    weights = split_weights(summary)
    noise, fitted = fit_error_model(residuals, distances, floor, weights)
    slopes = {c: k for c, k in zip(columns, fitted) if k is not None}
    reach = {c: float(distances[:, j].max()) for j, c in enumerate(columns)}
    for column in law.scales:           # the steepest growth the splits could have missed
        if column in slopes and reach[column] > 0:
            slopes[column] = max(slopes[column], noise / max(reach[column], MIN_REACH))
    model = ErrorModel(noise, slopes, np.zeros(len(QUANTILES)), len(residuals),
                       {c: float(distances[:, j].max()) for j, c in enumerate(columns)}, summary)
    scale = model.scale({c: distances[:, j] for j, c in enumerate(columns)})
    model.z_quantiles = weighted_quantiles(np.abs(residuals) / scale, weights, QUANTILES)
    return model
