"""How numbers read in text and in JSON: the one home of every report's number formats.

Text (each returns a string; a missing value, None, NaN or an infinity, reads "-"):

- `format_number`: a fitted or predicted value, 5 significant digits ("1.6934", "4.096e+05");
- `significant`: a quantity such as N or D, 4 significant digits by default ("9.718e+10");
- `interval` / `with_interval`: "[lo, hi]" and "value [lo, hi]";
- `decades` / `decades_outside`: a distance in decades, "0.35" for a sentence that names the
  unit itself ("0.35 decades outside the fitted data") and "0.35 dec" for a table cell;
- `accuracy_points` / `accuracy_points_interval`: an accuracy (a fraction) in points, 100 ×
  the fraction with one decimal ("61.2", "[58.1, 64.0]"); the table's heading or sentence
  names the unit ("points (%)", "accuracy (%)");
- `table`: a plain-text table, columns padded to their widest cell.

JSON: `json_number` (one number: a float, None for NaN and infinities) and `json_ready` (a
whole record: numpy scalars and arrays as Python numbers and lists, NaN and infinities as None),
so every JSON file the project writes is strict JSON (`json.dumps(..., allow_nan=False)`).

Records stay apart from their text: a record holds numbers (`json_ready`), a report formats
them here. This module imports only the standard library and numpy, so every layer of `scaling`
and `ladders/` can use it.

The table is hand-written, not tabulate's or rich's: its text is exact and stable (tests and
users diff reports, and a dependency's rendering, padding or box characters change across its
releases), it is ten lines, and the project adds a dependency only where a well-kept library
does a job better; aligning columns of strings is not such a job.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

MISSING = "-"


def _is_missing(value) -> bool:
    return value is None or not np.isfinite(value)


# -- numbers -------------------------------------------------------------------------------------

def format_number(value) -> str:
    """A fitted or predicted value: 5 significant digits from 1e-3 to 1e5, 4 outside (where an
    exponent takes the room); "-" for None, NaN and infinities.

    >>> format_number(1.69344), format_number(-0.0123456), format_number(409600.0)
    ('1.6934', '-0.012346', '4.096e+05')
    >>> format_number(float("nan")), format_number(None)
    ('-', '-')
    """
    if _is_missing(value):
        return MISSING
    return f"{value:.5g}" if 1e-3 <= abs(value) < 1e5 else f"{value:.4g}"


def significant(value, digits: int = 4) -> str:
    """A quantity such as N, D or FLOPs: `digits` significant digits; "-" when missing.

    >>> significant(97183000000.0), significant(20.04, 3), significant(None)
    ('9.718e+10', '20', '-')
    """
    if _is_missing(value):
        return MISSING
    return f"{value:.{digits}g}"


# -- intervals -----------------------------------------------------------------------------------

def interval(low, high, fmt: Callable[[float], str] = format_number, missing: str = MISSING) -> str:
    """An interval "[low, high]" in `fmt`; `missing` when either end is None, NaN or infinite
    (an interval with a missing end is no interval).

    >>> interval(1.6, 1.75), interval(0.25, 0.5, accuracy_points), interval(float("nan"), 2.0)
    ('[1.6, 1.75]', '[25.0, 50.0]', '-')
    """
    if _is_missing(low) or _is_missing(high):
        return missing
    return f"[{fmt(low)}, {fmt(high)}]"


def with_interval(point, low, high, fmt: Callable[[float], str] = format_number) -> str:
    """A value and its interval: "point [low, high]", or the point alone when the interval is
    missing (`interval`).

    >>> with_interval(1.7, 1.6, 1.75), with_interval(1.7, None, None)
    ('1.7 [1.6, 1.75]', '1.7')
    >>> with_interval(2e10, 1e10, 3e10, significant)
    '2e+10 [1e+10, 3e+10]'
    """
    bounds = interval(low, high, fmt, missing="")
    return fmt(point) + (f" {bounds}" if bounds else "")


# -- decades -------------------------------------------------------------------------------------

def decades(value) -> str:
    """A distance in decades (powers of ten), 2 significant digits, for a sentence that says
    "decades" itself; "-" when missing.

    >>> decades(0.3512), decades(2.94), decades(12.3)
    ('0.35', '2.9', '12')
    """
    if _is_missing(value):
        return MISSING
    return f"{value:.2g}"


def decades_outside(value) -> str:
    """A table cell of the distance beyond the fitted data: `decades` with its unit, "dec";
    "-" inside the data (a distance ≤ 0) or when missing.

    >>> decades_outside(0.3512), decades_outside(0.0), decades_outside(None)
    ('0.35 dec', '-', '-')
    """
    if _is_missing(value) or value <= 0:
        return MISSING
    return f"{decades(value)} dec"


# -- accuracies ----------------------------------------------------------------------------------

def accuracy_points(fraction) -> str:
    """An accuracy (a fraction) in points: 100 × the fraction, one decimal, no "%" (the table's
    heading or sentence names the unit); "-" when missing.

    >>> accuracy_points(0.6123), accuracy_points(1.0), accuracy_points(float("nan"))
    ('61.2', '100.0', '-')
    """
    if _is_missing(fraction):
        return MISSING
    return f"{100 * fraction:.1f}"


def accuracy_points_interval(low, high) -> str:
    """An interval of accuracies in points; "-" when missing.

    >>> accuracy_points_interval(0.581, 0.64), accuracy_points_interval(None, 0.64)
    ('[58.1, 64.0]', '-')
    """
    return interval(low, high, accuracy_points)


# -- tables --------------------------------------------------------------------------------------

def table(header, rows, right=()) -> str:
    """Columns padded to their widest cell, two spaces apart; the columns named in `right` are
    right-aligned; no trailing spaces.

    >>> print(table(("law", "loss"), [("chinchilla", "1.69"), ("kaplan", "12.5")], right=("loss",)))
    law         loss
    chinchilla  1.69
    kaplan      12.5
    """
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]

    def line(cells):
        return "  ".join(f"{str(c):>{w}}" if h in right else f"{str(c):<{w}}"
                         for c, w, h in zip(cells, widths, header)).rstrip()

    return "\n".join([line(header), *(line(row) for row in rows)])


# -- JSON ----------------------------------------------------------------------------------------

def json_number(value) -> float | None:
    """One number for a JSON record: a Python float, None for NaN and infinities.

    >>> json_number(np.float32(0.5)), json_number(np.int64(3)), json_number(float("inf"))
    (0.5, 3.0, None)
    """
    value = float(value)
    return value if math.isfinite(value) else None


def json_ready(value):
    """A JSON-ready copy of a record: dicts, lists, tuples and numpy arrays walked (arrays and
    tuples become lists), numpy scalars as Python's (integers stay integers), NaN and
    infinities as None; strings, booleans and None as they are. Write it with
    `json.dumps(json_ready(record), allow_nan=False)`.

    >>> json_ready({"loss": np.float32(1.5), "n": np.int64(3), "x": np.array([1.0, np.nan])})
    {'loss': 1.5, 'n': 3, 'x': [1.0, None]}
    """
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, np.ndarray):
        return json_ready(value.tolist())
    if isinstance(value, (list, tuple)):
        return [json_ready(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    return json_number(value)
