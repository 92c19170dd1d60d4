"""The columns that every prediction table and record shares: which interval a table shows
(`interval_kind`, and a one-line error naming how to get a kind the fit lacks) and its heading,
and how far each predicted point reaches beyond the fitted data.

The reach is a column per scale column of the law ("× params", "× tokens", "× step"): "×4.3" for
4.3 times the largest fitted value, "inside" within the fitted range, "÷2" for half the smallest.
The tables of `scaling.output.prediction_tables`, `curve_tables` and the planning report read it
from here, so every command shows the same cells.
"""

from __future__ import annotations

import numpy as np

from scaling.engine import diagnostics
from scaling.errors import ScalingError
from scaling.output.format import json_number

HOW_TO_GET = {"calibrated": "refit without --no-calibration (the calibration needs at least "
                            "10 held-out points from refits of splits of the data)",
              "run": "refit with --bootstrap K (K ≥ 20)",
              "law": "refit with --bootstrap K (K ≥ 20)"}
WHAT_IT_LACKS = {"calibrated": "no error model (calibration)", "run": "no bootstrap",
                 "law": "no bootstrap"}


def interval_kind(fit, kind: str | None = None) -> str | None:
    """The interval kind a table shows: `kind` ("calibrated", "run" or "law"), or the fit's
    `default_interval`; None when the default is not there (the tables then have no interval
    columns). A kind asked for that the fit lacks is a one-line error saying how to get it."""
    if kind is None:
        kind = fit.default_interval
        return kind if kind in fit.interval_kinds else None
    if kind not in HOW_TO_GET:
        raise ScalingError(f"--interval must be one of {', '.join(HOW_TO_GET)}, got {kind!r}")
    if kind not in fit.interval_kinds:
        raise ScalingError(f"--interval {kind}: this fit has {WHAT_IT_LACKS[kind]}; "
                           f"{HOW_TO_GET[kind]}"
                           + (f", or ask for one it has: {', '.join(fit.interval_kinds)}"
                              if fit.interval_kinds else ""))
    return kind


def interval_heading(fit, kind: str | None, level: float | None = None) -> str:
    """"95% interval (calibrated)"."""
    level = fit.confidence if level is None else level
    return f"{100 * level:g}% interval ({kind})"


def reach_cell(value: float, low: float, high: float) -> str:
    """How far a value lies from the fitted range [low, high]: "×4.3" (4.3 times the largest
    fitted value), "inside", or "÷2" (half the smallest)."""
    if not np.isfinite(value):
        return "-"
    if value > high * (1 + 1e-9):
        return f"×{_times(value / high)}"
    if value < low * (1 - 1e-9):
        return f"÷{_times(low / value)}" if value > 0 else "below (≤ 0)"
    return "inside"


def _times(ratio: float) -> str:
    """Two significant digits, without exponents up to 1e5: 4.3, 78, 210, 3400, 1.2e+05."""
    if ratio < 10 or ratio >= 1e5:
        return f"{ratio:.2g}"
    return f"{float(f'{ratio:.2g}'):.0f}"


def reach_values(fit, values: dict) -> dict[str, np.ndarray]:
    """{scale: values} of points (`Law.scale_values`: the inputs and what the law derives from
    them, the peak LR of a schedule, epochs) for the scales the fit has a range for, in the
    law's order: what every command's reach columns and reach text read."""
    fitted = getattr(fit, "fitted_range_", {})
    return {name: value for name, value in fit.scale_values(values).items() if name in fitted}


def reach_cells(fit, values: dict) -> dict[str, list[str]]:
    """{scale: ["×4.3" | "inside" | "÷2", …]} of points: the one reach computation that
    `predict`, `plan` and the reports show (`reach_cell` on `reach_values`)."""
    out = {}
    for name, value in reach_values(fit, values).items():
        low, high = fit.fitted_range_[name]
        low = 0.0 if name in fit.one_sided_scales else low     # counted above only
        out[name] = [reach_cell(float(v), low, high) for v in np.ravel(value)]
    return out


def reach_text(fit, values: dict, k: int = 0) -> str:
    """Point k's reach in words: "×4.3 params, tokens inside, ÷2 peak_lr"."""
    parts = []
    for name, cells in reach_cells(fit, values).items():
        cell = cells[k]
        parts.append(f"{name} inside" if cell == "inside" else f"{cell} {name}")
    return ", ".join(parts)


def reach_note(names) -> str:
    columns = ", ".join(f"× {name}" for name in names)
    return (f"({columns}: the value over the largest fitted one; inside: within the fitted "
            "range; ÷: the smallest fitted one over the value, below it)")


def point_fields(fit, scales: dict, k: int, distance) -> dict:
    """The "reach" ({scale: value / largest fitted}) and "distance" fields of point k of a
    JSON-ready record."""
    return {"reach": {name: json_number(np.atleast_1d(value)[k] / fit.fitted_range_[name][1])
                      for name, value in scales.items()},
            "distance": json_number(np.atleast_1d(distance)[k])}


def row_note(k, checks, wide=()) -> str:
    """The note cell of a table row: what the warnings below say of it, shortly."""
    notes = [f"interval >{diagnostics.UNIDENTIFIED_FACTOR:g}×"] if k in wide else []
    return "; ".join(notes + checks.notes(k))
