"""How far points reach outside a fit's data: the extrapolation geometry every law shares.

A law names its scales (`Law.scales`: the coordinates where a point outside the fitted range,
above or below it, is extrapolation) and derives them from a point's values (`Law.scale_values`).
A fit keeps the range of each scale it saw (`Fit.fitted_range_`, from `fitted_range`); these
functions measure a point against it: its reach (value over the largest fitted value), its
distance in decades outside the range on either side, and the coordinates the calibrated error
model reads (`scaling.engine.calibration`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from scaling.data.lr_history import lr_decay_of_rows, peak_lr_of_rows


def fitted_range(points, columns) -> dict[str, list[float]]:
    """{column: [smallest, largest]} of the fitted rows (a frame, or {column: values}: a law's
    `coordinate_values`), for the scale columns they hold (positive values only)."""
    out = {}
    for name in columns:
        if name in points:
            values = pd.to_numeric(pd.Series(np.ravel(np.asarray(points[name]))),
                                   errors="coerce").to_numpy(float)
            values = values[np.isfinite(values) & (values > 0)]
            if len(values):
                out[name] = [float(values.min()), float(values.max())]
    return out


def coordinate_values(law, frame: pd.DataFrame, lr_histories=None) -> dict:
    """The values `error_coordinates` reads, for the rows of a prepared frame: the law's scales
    (`Law.scale_values` of its columns) and, for laws of LRs, `lr_decay` (how far each row's LR
    has been annealed, decades below the highest LR so far; `scaling.data.lr_history.lr_decay`)
    and the run's peak LR (`peak_lr`)."""
    columns = {name: frame[name].to_numpy(float) for name in frame.columns
               if isinstance(name, str) and name in (*law.scales, *law.inputs,
                                                     *law.scale_inputs)}
    if law.uses_lr_histories and lr_histories is not None and "step" in frame:
        columns["lr_decay"] = lr_decay_of_rows(frame, lr_histories)
        columns["peak_lr"] = peak_lr_of_rows(frame, lr_histories)
    values = law.scale_values(columns)
    if "lr_decay" in columns:
        values["lr_decay"] = columns["lr_decay"]
    return values


def reach(fit, values: dict) -> dict[str, np.ndarray]:
    """{scale: value / the largest fitted value} for the scales of `values` that the fit has a
    range for (> 1: beyond its largest; see `distances` for both sides)."""
    return {name: value / fit.fitted_range_[name][1]
            for name, value in fit.law.scale_values(values).items()
            if name in fit.fitted_range_}


def distances(fit, values: dict) -> dict[str, np.ndarray]:
    """{scale: decades outside the fitted range [smallest, largest]}, on either side:
    log10(value / largest) above it, log10(smallest / value) below it (for the law's
    `one_sided_scales`, above only), 0 inside; for the scales of `values` the fit has a range
    for. A value ≤ 0 of a scale is below any positive range: infinitely far."""
    scales = {name: value for name, value in fit.law.scale_values(values).items()
              if name in fit.fitted_range_}
    arrays = np.broadcast_arrays(*scales.values()) if scales else []
    out = {}
    for name, value in zip(scales, arrays):
        low, high = fit.fitted_range_[name]
        with np.errstate(divide="ignore", invalid="ignore"):
            above = np.maximum(0.0, np.log10(value / high))
            below = np.maximum(0.0, np.log10(low / np.maximum(value, 0.0)))
        if name in fit.law.one_sided_scales:
            below = np.zeros_like(above)
        out[name] = np.where(np.isnan(value), np.nan, above + below)
    return out


def error_coordinates(fit, values: dict) -> dict[str, np.ndarray]:
    """Where the calibrated error model (`scaling.engine.calibration`) reads a point: its
    `distances` outside the fitted data and, for laws of whole curves, its `progress` along the
    curve, log10(step / the first fitted step), and for laws of LRs its `lr_decay`: a curve
    law's error accumulates with the schedule behind a row and is largest where the LR has been
    annealed, so a held-out schedule's late, annealed rows miss by more than its early ones even
    at lengths inside the fitted range."""
    out = distances(fit, values)
    if fit.law.rows == "all" and "step" in fit.fitted_range_ and values.get("step") is not None:
        first = fit.fitted_range_["step"][0]
        step = np.atleast_1d(np.asarray(values["step"], float))
        out["progress"] = np.maximum(0.0, np.log10(np.maximum(step, 1e-300) / first))
    if fit.law.uses_lr_histories and values.get("lr_decay") is not None:
        out["lr_decay"] = np.atleast_1d(np.asarray(values["lr_decay"], float))
    return out


def distance(fit, values: dict) -> np.ndarray:
    """How far points reach outside the fitted data, in decades: the sum of `distances` over
    the scales; 0 inside the fitted range. For Chinchilla, 1.0 is ten times the largest fitted
    params (or tokens, or a tenth of the smallest), or about ten times the largest fitted
    compute when both grow."""
    parts = distances(fit, values)
    if not parts:
        lengths = [np.size(v) for v in values.values() if v is not None]
        return np.zeros(max(lengths, default=1))
    return np.sum(list(parts.values()), axis=0)
