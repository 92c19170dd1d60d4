"""Readable tables and JSON-ready records of predicted curves (`law.predict_schedule`;
`scaling predict --schedule` and `--compare`, the planning report's schedule section): every row
with its interval and reach, each curve's final row, and the warnings of the curves (each curve's
furthest row outside the fitted data, losses that are not losses).
"""

from __future__ import annotations

import numpy as np

from scaling.engine import diagnostics
from scaling.output.format import json_number, table
from scaling.output.prediction_columns import (interval_heading, point_fields, reach_cells,
                                               reach_values)


def curve_points(fit, curve) -> dict:
    """{column: values} of a predicted curve's rows: its columns (step, LR area, peak LR, …)."""
    return {name: curve[name].to_numpy(float) for name in curve.columns
            if isinstance(name, str) and name not in ("lower", "upper")}


def _value(value, digits: int = 4) -> str:
    """A curve's value: fixed digits, "-" for NaN (a loss ≤ 0 by the law's formula)."""
    return "-" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def curve_table(fit, curve, kind: str | None, level: float | None = None) -> str:
    """Rows of a predicted curve (step, lr, the target, its interval of `kind` when there is one,
    and how far each row reaches outside the fitted data in each of the law's scales: steps,
    LR area, peak LR, …)."""
    cells = reach_cells(fit, curve_points(fit, curve))
    header = ("step", "lr", fit.target, *((interval_heading(fit, kind, level),) if kind else ()),
              *(f"× {name}" for name in cells))
    rows = [(f"{row.step}", f"{row.lr:.4g}", _value(getattr(row, fit.target)),
             *((f"[{_value(row.lower)}, {_value(row.upper)}]",) if kind else ()),
             *(cells[name][k] for name in cells))
            for k, row in enumerate(curve.itertuples(index=False))]
    return table(header, rows, right=("step", "lr", fit.target))


def curve_warnings(fit, curves: dict, with_fit: bool = False) -> list[str]:
    """The report's warning lines of predicted curves ({name: curve}): the distance of each
    curve's furthest row (its last, or one further outside the data), losses that are not
    losses at any row, and the fit's own warnings with `with_fit`."""
    return diagnostics.render(curve_warning_records(fit, curves, with_fit))


def _furthest_row(fit, curve) -> int:
    """The row of a curve that reaches furthest outside the fitted data (its last on ties)."""
    distance = np.atleast_1d(fit.distance(reach_values(fit, curve_points(fit, curve))))
    if not len(distance) or not np.isfinite(distance).any():
        return len(curve) - 1
    distance = np.where(np.isfinite(distance), distance, -1.0)
    return int(len(distance) - 1 - np.argmax(distance[::-1]))


def curve_warning_records(fit, curves: dict, with_fit: bool) -> list[dict]:
    # each curve's last row, and its furthest outside the data where that is another (the
    # first steps of a curve whose fit began later)
    picked, labels = [], []
    for name, curve in curves.items():
        rows = sorted({_furthest_row(fit, curve), len(curve) - 1})
        for k in rows:
            row = curve.iloc[k]
            picked.append(row)
            step = f"step {int(row['step'])}"
            labels.append(step if len(curves) == 1 else
                          str(name) if k == len(curve) - 1 else f"{name} at {step}")
    if len(curves) == 1:
        what = ("the predicted curve at", "the predicted curve at")
    elif len(picked) == len(curves):
        what = ("the final value of", "the final values of")
    else:
        what = ("the curve of", "the curves of")
    points = {name: np.array([float(row[name]) for row in picked])
              for name in picked[0].index if name not in ("lower", "upper", fit.target)
              and all(name in row for row in picked)}
    out = diagnostics.prediction_warnings(fit, points, labels, what,
                                          predicted=np.ones(len(picked)))
    out = [w for w in out if w["code"] not in LOSS_CODES]
    # losses that are not losses, at any row of any curve
    rows, values, names = [], [], []
    for name, curve in curves.items():
        value = curve[fit.target].to_numpy(float)
        bad = diagnostics.implausible_losses(fit, {}, [""] * len(value), ("", ""), value)
        flagged = sorted({k for w in bad for k in w["rows"]})
        for k in flagged:
            rows.append(len(values))
            values.append(value[k])
            names.append(f"step {int(curve['step'].iloc[k])}" if len(curves) == 1
                         else f"{name} at step {int(curve['step'].iloc[k])}")
    if rows:
        out = diagnostics.implausible_losses(
            fit, {}, names, ("the predicted curve at",) * 2 if len(curves) == 1 else
            ("the predicted curves at",) * 2, np.array(values)) + out
    return (diagnostics.fit_warnings(fit) if with_fit else []) + out


LOSS_CODES = ("loss-not-positive", "loss-over-range", "loss-below-floor")


def final_rows_table(fit, curves: dict, kind: str | None, level: float | None = None) -> str:
    """The final row of each predicted curve ({name: curve}): its value, interval and reach in
    each of the law's scales (`scaling predict --compare`, the plan's schedule comparison)."""
    last = {name: curve.iloc[[-1]] for name, curve in curves.items()}
    cells = {name: reach_cells(fit, curve_points(fit, row)) for name, row in last.items()}
    scales = list(next(iter(cells.values()), {}))
    final = f"final {fit.target}"
    header = ("schedule", final, *((interval_heading(fit, kind, level),) if kind else ()),
              *(f"× {name}" for name in scales))
    rows = []
    for name, row in last.items():
        row = row.iloc[0]
        rows.append((name, _value(row[fit.target]),
                     *((f"[{_value(row.lower)}, {_value(row.upper)}]",) if kind else ()),
                     *(cells[name][scale][0] for scale in scales)))
    return table(header, rows, right=(final,))


def curve_record(fit, curves: dict, kind: str | None, level: float | None = None) -> dict:
    """Predicted curves ({name: curve}, as `predict_schedule` made them with intervals of `kind`)
    as a JSON-ready dict: {"law", "target", "interval", "predictions": [{"schedule", "step",
    "lr", "predicted", "lower", "upper", "reach", "distance"} for every row of every curve],
    "warnings"}."""
    level = fit.confidence if level is None else float(level)
    rows = []
    for name, curve in curves.items():
        steps = curve["step"].to_numpy(float)
        scales = reach_values(fit, curve_points(fit, curve))
        distance = fit.distance(scales) if scales else np.zeros(len(steps))
        for k, row in enumerate(curve.itertuples(index=False)):
            rows.append({"schedule": str(name), "step": int(row.step), "lr": json_number(row.lr),
                         "predicted": json_number(getattr(row, fit.target)),
                         "lower": json_number(row.lower) if kind else None,
                         "upper": json_number(row.upper) if kind else None,
                         **point_fields(fit, scales, k, distance)})
    return {"law": fit.name, "target": fit.target, "interval": {"kind": kind, "level": level},
            "predictions": rows, "warnings": curve_warning_records(fit, curves, True)}
