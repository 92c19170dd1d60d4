"""The warning record, which `scaling fit` and `scaling predict` print as "WARNING: …" lines and
write as the structured `warnings` of their JSON (the fit file, `predict --json`): its shape, its
codes with their fields, and the phrases its messages share (the points named, a span of values,
the reach beyond the fitted data). When each is raised is `scaling.engine.diagnostics`' (its
thresholds, in capitals below, are there too), a task law's and a unit check's their modules'.

A warning is a dict: {"code": a short id, "severity": "warning" or "caution", "message": one
line, and the fields of its case}. The codes, with their fields:

of a fit (`fit_warnings`):
- not-converged: the optimizer did not converge.
- at-bound: a parameter ended on a bound of its range (parameter, value, range).
- outside-interval: a parameter lies outside its own bootstrap interval (parameter, value,
  interval).
- unidentified: a parameter's bootstrap interval spans more than UNIDENTIFIED_FACTOR, or reaches
  0: the data do not pin it down (parameter, value, interval, factor: null when unbounded); not
  repeated for a parameter already at its bound.
- few-points: fewer than POINTS_PER_PARAMETER points a parameter (n_points, n_parameters,
  needed).
- few-values: a power input with fewer than MIN_VALUES distinct values (column, values, needed).
- cut-runs: a query (--where, --train) kept runs without their final rows, and this law reads
  each run's last row as its end (n_runs, runs: {run: [tokens kept, final tokens]}).
- flops-units, tokens-per-param: the fitted rows' units (`scaling.data.units`, kept by `scaling fit`
  in the fit file's data.units): the `flops` column's median ratio to 6·params·tokens outside
  [1/3, 3] (ratio: median, low, high, n_rows), runs whose final tokens per parameter lie outside
  [0.01, 1e5] (n_runs, runs: {run: [row, tokens per parameter]}, range). `scaling optimal` and
  backtests show them for the table they read.
- a law's own (`Law.law_warnings`): near-chance, a task law's fitted accuracies all within
  5 points of chance (maximum, chance, margin; `scaling.data.evaluations`), and no-trend, its
  accuracies not rising as the loss falls (both also widen every interval beyond the fitted
  data to chance..1: `Law.beyond_a_trend`); repeats-unidentified, the
  data-constrained law's R_D* fitted on runs of under 4 epochs (`scaling.laws.data_constrained`).

of predicted points (`prediction_warnings`; compute-optimal ones in `allocation_warnings`), with
a calibrated fit (the error model of scaling/engine/calibration.py, learned from backtests on splits of
the fit's own data); each point gets the first that applies:
- error-over-limit: the error model expects an error over ERROR_LIMIT there (rows, distance,
  expected_error, limit, error_kind: relative in log space, absolute for linear-space laws).
- far-beyond-calibration: more than FAR_FACTOR times as far in some scale column as the
  calibration's splits reached, and FAR_MARGIN decades further: the error model's growth was
  learned on a much shorter reach (rows, distance, column, calibrated).
- beyond-calibration (a caution): further than the splits reached (rows, distance).
and, with or without calibration:
- outside-range: the predicted value leaves the range its target can take, e.g. an accuracy
  over 1 (rows, predicted, range).
and of predicted losses and reach (`implausible_losses`, `uncalibrated_reach`):
- loss-not-positive: a loss ≤ 0 by the law's formula, printed as - (NaN) (rows).
- loss-over-range: a loss over the sensible 1000 nats (rows, predicted, limit).
- loss-below-floor: a loss below the fit's irreducible loss E or L0 (rows, predicted, floor).
- outside-data: a fit without calibration, points outside its fitted data on either side of
  any scale (a warning beyond FAR_MARGIN decades, a caution nearer) (rows, distance, columns).
"Beyond the fitted data" is on either side: a tenth of the smallest fitted size is a decade
out, as ten times the largest is (`scaling.engine.reach.distances`).
and of an allocation:
- wide-interval: compute-optimal rows with an interval spanning more than UNIDENTIFIED_FACTOR
  (rows, flops, quantities).
and of the compute-optimal vocabulary (`vocabulary_reach`):
- vocab-outside-data: approach 1's or 2's optimal vocabulary V outside the fitted vocabulary
  sizes, on either side (a warning beyond FAR_MARGIN decades, a caution nearer) (approach,
  rows, vocab, range); approach 3's V counts as a scale of its loss (`prediction_warnings`).

`rows` are 0-based indices into the points (the prediction table's or the allocation's rows).
"""

from __future__ import annotations

import numpy as np

from scaling.output.format import decades

MAX_NAMED = 3       # points named in a message before "and N more"


def make_warning(code: str, message: str, severity: str = "warning", **fields) -> dict:
    """A warning record: its message on one line (the text's whitespace collapsed)."""
    return {"code": code, "severity": severity, "message": " ".join(message.split()),
            **fields}


def named_points(labels, rows) -> str:
    """The labels of `rows`: the first MAX_NAMED of them, then "and N more"."""
    shown = [labels[k] for k in rows[:MAX_NAMED]]
    more = len(rows) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more else "")


def subject(what, labels, rows) -> str:
    """"the prediction at X reaches" / "the predictions at X, Y reach"."""
    one = len(rows) == 1
    return f"{what[0] if one else what[1]} {named_points(labels, rows)} {'reaches' if one else 'reach'}"


def value_span(values, fmt) -> str:
    """"low–high" of the values as `fmt` shows them, or one value where both ends show alike."""
    low, high = float(np.min(values)), float(np.max(values))
    return fmt(low) if fmt(low) == fmt(high) else f"{fmt(low)}–{fmt(high)}"


def reach_words(distance) -> str:
    """"0.52 decades outside the fitted data" (above or below it), or "inside the fitted
    data" (a point the error model reads as far along its curve, or as annealed)."""
    if float(np.nanmax(distance)) <= 0:
        return "inside the fitted data"
    return f"{value_span(distance, decades)} decades outside the fitted data"
