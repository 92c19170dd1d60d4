"""Warnings about fits and predictions, in one place: when each is raised, and its thresholds.
`scaling fit` and `scaling predict` print them as "WARNING: …" lines (scaling/output/fit_report.py
and prediction_tables.py render them) and write them as the structured `warnings` of their JSON (the fit file, `predict
--json`). A warning is a dict ({"code", "severity", "message", and the fields of its case}); the
codes, with their fields, are listed in `scaling.engine.warning_records`, which builds them
(`make_warning`) and words what their messages share.

Of a fit: `fit_warnings` (with a law's own, `Law.law_warnings`, and the units of the fitted
rows, `scaling.data.units`). Of predicted points: `prediction_warnings` (its parts
`outside_range`, `implausible_losses` and `uncalibrated_reach`), with a calibrated fit's error
model (scaling/engine/calibration.py) where there is one. Of a compute-optimal allocation:
`allocation_warnings`; of the compute-optimal vocabulary: `vocabulary_reach`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from scaling.data import units
from scaling.data.runs import sensible_range
from scaling.engine.calibration import ERROR_LIMIT
from scaling.engine.warning_records import (make_warning, named_points, reach_words, subject,
                                             value_span)
from scaling.errors import ScalingError
from scaling.output.format import decades, format_number, json_number

UNIDENTIFIED_FACTOR = 10.0
# A parameter whose interval spans more than a factor of 10 is not identified: a prediction that
# leans on it can be off by as much. For an interval of one sign the factor is |high| / |low|
# (exponents included: alpha in [0.05, 0.6] is as unknown as A in [5, 60]). An interval that
# reaches 0 or changes sign spans an unbounded factor: the data do not fix the parameter's sign,
# or, for a non-negative exponent or coefficient, whether its term is there at all; it warns too.

POINTS_PER_PARAMETER = 2
# Fewer than 2 points per parameter leave no more residual degrees of freedom (n − P) than
# parameters: the scatter, and with it every interval, is estimated from a handful of residuals
# (with n − P = 5 the residual RMS is itself uncertain by about 1/sqrt(2·5) ≈ 30%), and a
# misfit of the law's shape cannot show. Below P + 1 points a fit is refused (Law.check_points).

MIN_VALUES = 4
# A power law with an offset has three unknowns along its input (coefficient, exponent and the
# floor it shares), so three distinct values (the least a fit accepts, Law.check_points) are
# matched exactly, with no value left over to test the shape the law assumes: fewer than four
# distinct values of a power input (model sizes, token counts) warn.

FAR_FACTOR, FAR_MARGIN = 2.0, 0.3
# The calibrated interval grows on a line learned from backtests that reached some distance
# beyond their own data (ErrorModel.max_distance, per scale column). Extrapolating that line to
# twice its reach is where a fitted trend is commonly still trusted; beyond twice the reach, and
# at least 0.3 decades (a factor of 2) further, the interval is a guess and the caution becomes a
# warning. (A 16-run ladder whose splits reach 0.18 decades in params learns, by maximum
# likelihood, no growth with params at all; the error model's slope floor, noise / reach, lifts
# it to 5% a decade, so its compute-optimal points, 3 to 5.5 decades out, warn of errors over 5%.)

# Codes about predicted points or an allocation, not about the fit itself: a fit file keeps its
# compute-optimal allocation's (scaling.output.fit_file), which a backtest of the fit does not show.
POINT_CODES = frozenset({"error-over-limit", "far-beyond-calibration", "beyond-calibration",
                         "outside-range", "wide-interval", "loss-not-positive",
                         "loss-over-range", "loss-below-floor", "outside-data"})


def render(warnings) -> list[str]:
    """The report's lines: "WARNING: …" (or "CAUTION: …" for cautions)."""
    return [f"{'CAUTION' if w.get('severity') == 'caution' else 'WARNING'}: {w['message']}"
            for w in warnings]


# -- fits ----------------------------------------------------------------------------------------

def spread_factor(low: float, high: float) -> float:
    """How many times the larger end of an interval is the smaller, in size (inf when the
    interval reaches 0 or changes sign)."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return math.inf
    if low > 0 and high > 0 or low < 0 and high < 0:
        small, large = sorted((abs(low), abs(high)))
        return large / small
    return math.inf


def fit_warnings(fit) -> list[dict]:
    """The warnings of a fitted fit, recomputed from what it holds (so a loaded fit gives the
    same as the fit that wrote it)."""
    out = []
    if not fit.converged_:
        out.append(make_warning("not-converged", f"the optimizer did not converge "
                                f"({fit.message_}); treat the parameters as unreliable"))
    for fit_name in fit.at_bound_:
        if fit_name in fit.law.benign_bounds:  # a bound the law's method puts it on (its notes
            continue                           # say why)
        name = fit.reported_name(fit_name)
        low, high = fit.reported_range(fit_name, fit.theta_)
        out.append(make_warning(
            "at-bound", f"{name} = {format_number(fit.params_[name])} ended on a bound of its range "
            f"[{low:.4g}, {high:.4g}]; the data do not pin it down (or the law does not fit "
            "them)", parameter=name, value=json_number(fit.params_[name]),
            range=[json_number(low), json_number(high)]))
    out += fit.law.law_warnings(fit)
    level = f"{100 * fit.confidence:g}%"
    for name in getattr(fit, "outside_interval_", []):
        low, high = fit.intervals_[name]
        out.append(make_warning(
            "outside-interval", f"{name} = {format_number(fit.params_[name])} lies outside its own "
            f"{level} interval [{format_number(low)}, {format_number(high)}]: the bootstrap refits disagree "
            "with the fit (a biased or many-moded fit); read that interval with care",
            parameter=name, value=json_number(fit.params_[name]),
            interval=[json_number(low), json_number(high)]))
    bound = {fit.reported_name(fit_name) for fit_name in fit.at_bound_}
    for name in unidentified(fit):
        if name in bound:       # already said: a parameter on its bound is not pinned down
            continue
        low, high = fit.intervals_[name]
        factor = spread_factor(low, high)
        spans = (f"spans a factor of {factor:.3g} (over {UNIDENTIFIED_FACTOR:g})"
                 if math.isfinite(factor) else "reaches 0 (an unbounded factor)")
        out.append(make_warning(
            "unidentified", f"{name} = {format_number(fit.params_[name])} is not identified by the "
            f"data: its {level} interval [{format_number(low)}, {format_number(high)}] {spans}; "
            "predictions that lean on it are guesses",
            parameter=name, value=json_number(fit.params_[name]),
            interval=[json_number(low), json_number(high)],
            factor=json_number(factor)))
    out += cut_run_warnings(fit)
    # -- units of the fitted rows (scaling/data/units.py): flops-units, tokens-per-param ----------
    out += units.fit_warnings(fit)
    # ------------------------------------------------------------------------------------------
    n_parameters = len(fit.parameters)
    needed = POINTS_PER_PARAMETER * n_parameters
    if fit.n_points_ < needed:
        out.append(make_warning(
            "few-points", f"{fit.n_points_} points for the {fit.name} law's {n_parameters} "
            f"parameters (fewer than {POINTS_PER_PARAMETER} a parameter, {needed}): the scatter "
            "and every interval rest on a few residuals, and a misfit of the law's shape cannot "
            "show; add runs", n_points=int(fit.n_points_), n_parameters=n_parameters,
            needed=needed))
    for column, count in (getattr(fit, "n_values_", None) or {}).items():
        if count < MIN_VALUES:
            out.append(make_warning(
                "few-values", f"column {column!r} takes {count} distinct values: a power law "
                f"with an offset is matched exactly by 3, with none left to test its shape; "
                f"the {column} exponent needs at least {MIN_VALUES} to be checked by the data",
                column=column, values=int(count), needed=MIN_VALUES))
    return out


def cut_run_warnings(fit) -> list[dict]:
    """cut-runs: the fit read runs a query had cut short as if they ended there. A run stopped
    mid-schedule is not a shorter run (its learning rate had not decayed; Hoffmann et al. 2022,
    appendix B and figure A1), so such rows bias a law of final losses."""
    cut = (fit.data_ or {}).get("cut_runs") or {}
    if not cut:
        return []
    return [make_warning("cut-runs", cut_runs_message(cut, (fit.data_ or {}).get("where"),
                                                      f"the {fit.name} law"),
                         n_runs=len(cut), runs={str(k): [json_number(a), json_number(b)]
                                                for k, (a, b) in cut.items()})]


def cut_runs_message(cut: dict, where: str | None, reader: str) -> str:
    """The message of a cut-runs warning: `cut` {run: [tokens kept, final tokens]}, `reader`
    what reads each run's last row as its end ("the chinchilla law")."""
    run, (kept, final) = next(iter(cut.items()))
    return (f"{len(cut)} of the fitted runs lost their final rows to the query"
            f"{f' ({where})' if where else ''}, and {reader} reads each run's last row as its "
            f"end (e.g. {run!r} at {format_number(kept)} of its {format_number(final)} tokens): "
            "a run cut mid-schedule is not a shorter run; to select whole runs, query their "
            "final rows (final_<column>, e.g. final_epochs <= 4)")


def unidentified(fit) -> list[str]:
    """Reported parameters whose bootstrap interval spans more than UNIDENTIFIED_FACTOR."""
    return [name for name, (low, high) in getattr(fit, "intervals_", {}).items()
            if spread_factor(low, high) > UNIDENTIFIED_FACTOR]


# -- predictions ---------------------------------------------------------------------------------


@dataclass
class Checks:
    """What the warnings need to know of predicted points (each array (n,))."""

    distance: np.ndarray            # decades outside the fitted data (`Fit.distance`)
    parts: dict                     # {scale column: decades beyond in that column}
    expected: np.ndarray | None     # the calibrated error model's median error (None: no model)
    beyond: np.ndarray | None       # further than any calibration split reached
    far: np.ndarray | None          # more than FAR_FACTOR times as far, in some column

    def notes(self, k: int) -> list[str]:
        """Short notes for row k of a table ("error >5%", "beyond calibration")."""
        if self.expected is None:
            return []
        if self.expected[k] > ERROR_LIMIT:
            return [f"error >{100 * ERROR_LIMIT:g}%"]
        if self.far[k]:
            return ["far beyond calibration"]
        return ["beyond calibration"] if self.beyond[k] else []


def point_checks(fit, values: dict) -> Checks:
    """The `Checks` of points `{column: values}` (the law's inputs and scales, e.g. step, and
    what it derives its scales from: `Law.scale_values`)."""
    fitted = getattr(fit, "fitted_range_", {})
    scales = {name: value for name, value in fit.scale_values(values).items() if name in fitted}
    lengths = [np.size(v) for v in values.values() if v is not None]
    if not scales:
        return Checks(np.zeros(max(lengths, default=1)), {}, None, None, None)
    parts = fit.distances(scales)
    shape = np.broadcast(*parts.values()).shape
    parts = {name: np.atleast_1d(np.broadcast_to(value, shape)) for name, value in parts.items()}
    distance = np.sum(list(parts.values()), axis=0)
    model = getattr(fit, "calibration_", None)
    if model is None:
        return Checks(distance, parts, None, None, None)
    far = np.zeros(distance.shape, bool)
    for name, value in parts.items():
        reached = model.max_distance.get(name, 0.0)
        far |= value > max(FAR_FACTOR * reached, reached + FAR_MARGIN)
    # the error model reads the curve coordinates too (progress along a curve, LR decay)
    where = {**scales, **({"lr_decay": values["lr_decay"]}
                          if values.get("lr_decay") is not None else {})}
    coordinates = {name: np.atleast_1d(np.broadcast_to(value, shape))
                   for name, value in fit.error_coordinates(where).items()}
    return Checks(distance, parts, np.atleast_1d(model.expected_error(coordinates)),
                  np.atleast_1d(model.beyond_calibration(coordinates)), far)


def prediction_warnings(fit, values: dict, labels=None,
                        what=("the prediction at", "the predictions at"),
                        predicted=None) -> list[dict]:
    """Warnings about predicted points `{column: values}`: a value outside its target's range,
    a loss that is not one (`implausible_losses`), beyond the distance where the fit's
    calibrated error passes ERROR_LIMIT, far beyond or beyond its calibrated distances, and,
    for a fit without calibration, any reach outside the fitted data (`uncalibrated_reach`).
    `labels` name the points in messages ("params 7e+10, tokens 1.4e+12"); `what` introduces
    one point and several; `predicted`, when given, holds the predictions (else they are
    computed from the law's inputs in `values`, where it has them)."""
    checks = point_checks(fit, values)
    distance = checks.distance
    labels = list(labels) if labels is not None else \
        [f"row {k + 1}" for k in range(len(distance))]
    out = outside_range(fit, values, labels, what, predicted)
    out += implausible_losses(fit, values, labels, what, predicted)
    if checks.expected is None:
        return out + uncalibrated_reach(fit, checks, labels, what)
    expected = checks.expected
    over = expected > ERROR_LIMIT
    rows = np.flatnonzero(over)
    if len(rows):
        relative = fit.error_kind == "relative"
        size = (lambda v: f"{100 * v:.2g}%") if relative else (lambda v: f"{v:.2g}")
        kind = (f"a median error of {value_span(expected[rows], size)} of the {fit.target}"
                if relative else
                f"a median absolute error of {value_span(expected[rows], size)} in "
                f"{fit.target} "
                f"(absolute: this law fits {fit.target} in linear space)")
        limit = f"{100 * ERROR_LIMIT:g}%" if relative else f"{ERROR_LIMIT:g}"
        out.append(make_warning(
            "error-over-limit", f"{subject(what, labels, rows)} "
            f"{reach_words(distance[rows])}, where this "
            f"fit's backtests (its calibration) expect {kind}, over the {limit} limit: treat "
            f"{'it' if len(rows) == 1 else 'them'} as a guess", rows=[int(k) for k in rows],
            distance=[json_number(v) for v in distance[rows]],
            expected_error=[json_number(v) for v in expected[rows]], limit=ERROR_LIMIT,
            error_kind=fit.error_kind))
    far = checks.far & ~over
    rows = np.flatnonzero(far)
    if len(rows):
        reached = fit.calibration_.max_distance
        ratio = {name: np.max(value[rows]) / max(reached.get(name, 0.0), 1e-3)
                 for name, value in checks.parts.items()}
        column = max(ratio, key=ratio.get)
        out.append(make_warning(
            "far-beyond-calibration", f"{subject(what, labels, rows)} "
            f"{reach_words(distance[rows])}, far past the "
            f"{decades(reached.get(column, 0.0))} decades in {column} that the fit's backtests (its "
            "calibration) reached: the calibrated interval there extrapolates an error growth "
            f"learned on a much shorter reach; treat {'it' if len(rows) == 1 else 'them'} as a "
            "guess", rows=[int(k) for k in rows],
            distance=[json_number(v) for v in distance[rows]], column=column,
            calibrated=json_number(reached.get(column, 0.0))))
    rows = np.flatnonzero(checks.beyond & ~over & ~far)
    if len(rows):
        out.append(make_warning(
            "beyond-calibration", f"{subject(what, labels, rows)} "
            f"{reach_words(distance[rows])}, further than "
            "any backtest of the fit on splits of its data reached (its calibration): the error "
            "expected there is itself extrapolated", severity="caution",
            rows=[int(k) for k in rows], distance=[json_number(v) for v in distance[rows]]))
    return out


def _predicted(fit, values: dict, predicted):
    """The predictions at points (`predicted` as given, else from the law's inputs in
    `values`), or None when neither is there."""
    if predicted is not None:
        return np.atleast_1d(np.asarray(predicted, float))
    inputs = {name: values.get(name) for name in fit.inputs}
    if any(v is None for v in inputs.values()):
        return None
    try:            # the points as given (no range checks: a warning must not refuse them)
        arrays = np.broadcast_arrays(*[np.atleast_1d(np.asarray(inputs[n], float))
                                       for n in fit.inputs])
        with np.errstate(all="ignore"):
            return np.atleast_1d(fit.predict_inputs(dict(zip(fit.inputs, arrays))))
    except (ValueError, ScalingError):
        return None


def outside_range(fit, values: dict, labels, what, predicted=None) -> list[dict]:
    """The outside-range warning: points whose prediction leaves the range the target can take
    (an accuracy above 1): the law's form has stopped describing the data there."""
    low, high = fit.target_range
    if not (math.isfinite(low) or math.isfinite(high)):
        return []
    predicted = _predicted(fit, values, predicted)
    if predicted is None:
        return []
    with np.errstate(invalid="ignore"):
        rows = np.flatnonzero((predicted < low) | (predicted > high))
    if not len(rows):
        return []
    return [make_warning(
        "outside-range", f"{what[0] if len(rows) == 1 else what[1]} "
        f"{named_points(labels, rows)} {'is' if len(rows) == 1 else 'are'} "
        f"{value_span(predicted[rows], lambda v: f'{v:.4g}')}, "
        f"outside [{low:g}, {high:g}], the range "
        f"{fit.target} can take: the law's form no longer holds there: treat "
        f"{'it' if len(rows) == 1 else 'them'} as a failure of the fit, not a forecast", rows=[int(k) for k in rows],
        predicted=[json_number(v) for v in predicted[rows]], range=[low, high])]


def implausible_losses(fit, values: dict, labels, what, predicted=None) -> list[dict]:
    """Predicted losses that are not losses (laws fitted in log space, whose targets are
    losses), worst first, each point in the first that applies:
    - loss-not-positive: the law's formula gives a loss ≤ 0 there (a LR-schedule law whose
      annealing term outgrew the rest): the prediction is NaN ("-" in tables, null in JSON);
    - loss-over-range: over the sensible range of a loss (`scaling.data.runs.SENSIBLE`, 1000 nats),
      the law evaluated far below the sizes it was fitted on;
    - loss-below-floor: below the fit's own irreducible loss (`Fit.loss_floor`: E, L0), which
      the law's form does not reach with the data it was fitted on."""
    if fit.space != "log":
        return []
    predicted = _predicted(fit, values, predicted)
    if predicted is None or not len(predicted):
        return []
    bounds = sensible_range(str(fit.target))
    high = bounds[1] if bounds else math.inf
    floor = fit.loss_floor()
    with np.errstate(invalid="ignore"):
        failed = ~np.isfinite(predicted) | (predicted <= 0)
        over = ~failed & (predicted > high)
        below = ~failed & ~over & (predicted < floor * (1 - 1e-9)) if floor is not None \
            else np.zeros(len(predicted), bool)
    out = []
    rows = np.flatnonzero(failed)
    if len(rows):
        out.append(make_warning(
            "loss-not-positive", f"{subject(what, labels, rows)} a {fit.target} of 0 or less "
            "by the law's formula, shown as - (not a number): the law's form has failed there; "
            f"treat {'it' if len(rows) == 1 else 'them'} as a failure of the fit, not a "
            "forecast", rows=[int(k) for k in rows]))
    rows = np.flatnonzero(over)
    if len(rows):
        out.append(make_warning(
            "loss-over-range", f"{subject(what, labels, rows)} a {fit.target} of "
            f"{value_span(predicted[rows], format_number)}, over the {high:g} nats a loss can "
            "sensibly be: the law is evaluated far outside the sizes it was fitted on; treat "
            f"{'it' if len(rows) == 1 else 'them'} as a failure of the fit, not a forecast",
            rows=[int(k) for k in rows], predicted=[json_number(v) for v in predicted[rows]],
            limit=high))
    rows = np.flatnonzero(below)
    if len(rows):
        out.append(make_warning(
            "loss-below-floor", f"{subject(what, labels, rows)} a {fit.target} of "
            f"{value_span(predicted[rows], format_number)}, below the fit's irreducible loss "
            f"{fit.floor_parameter} = {format_number(floor)}: the law's form has left the "
            f"data it was fitted on; treat {'it' if len(rows) == 1 else 'them'} as a guess",
            rows=[int(k) for k in rows], predicted=[json_number(v) for v in predicted[rows]],
            floor=json_number(floor)))
    return out


def uncalibrated_reach(fit, checks: Checks, labels, what) -> list[dict]:
    """outside-data: points outside the fitted data (above or below its range in any scale)
    of a fit without a calibrated error model: nothing measured how the error grows there, and
    its intervals (the bootstrap's) know nothing of it. A warning from FAR_MARGIN decades (a
    factor of 2) out, a caution nearer."""
    distance = checks.distance
    with np.errstate(invalid="ignore"):
        reached = np.flatnonzero(distance > 0)
    if not len(reached):
        return []
    out = []
    for severity, rows in (("warning", reached[distance[reached] > FAR_MARGIN]),
                           ("caution", reached[distance[reached] <= FAR_MARGIN])):
        if not len(rows):
            continue
        columns = [name for name, part in checks.parts.items() if np.nanmax(part[rows]) > 0]
        out.append(make_warning(
            "outside-data", f"{subject(what, labels, rows)} "
            f"{value_span(distance[rows], decades)} decades outside the fitted data (in "
            f"{', '.join(columns)}), and this fit has no calibrated error model (it was saved "
            "with --no-calibration, or its data gave too few held-out points): nothing "
            "measured how its error grows there, and its intervals (the bootstrap's) do not "
            f"widen for it; treat {'it' if len(rows) == 1 else 'them'} as "
            + ("a guess" if severity == "warning" else "an extrapolation")
            + " (refit without --no-calibration)", severity=severity,
            rows=[int(k) for k in rows], distance=[json_number(v) for v in distance[rows]],
            columns=columns))
    return out


def allocation_warnings(fit, budgets, allocation=None) -> list[dict]:
    """Warnings about the compute-optimal allocation at `budgets`: rows whose interval spans more
    than UNIDENTIFIED_FACTOR, and the points' distance (as `prediction_warnings`)."""
    budgets = np.atleast_1d(np.asarray(budgets, float))
    allocation = fit.compute_optimal(budgets) if allocation is None else allocation
    labels = [f"{c:.3g}" for c in budgets]
    out = []
    wide = wide_rows(fit, allocation, len(budgets))
    if wide:
        rows = sorted(wide)
        quantities = sorted({q for k in rows for q in wide[k]}, key=list(allocation).index)
        level = f"{100 * fit.confidence:g}%"
        out.append(make_warning(
            "wide-interval", f"the compute-optimal allocation at {named_points(labels, rows)} "
            f"FLOPs has {level} intervals spanning more than a factor of {UNIDENTIFIED_FACTOR:g} "
            f"({', '.join(fit.allocation_labels.get(q, q) for q in quantities)}): the data do "
            "not fix it; read it as a guess, not a plan", rows=rows,
            flops=[float(budgets[k]) for k in rows], quantities=quantities))
    points = {name: allocation[name][0] for name in fit.inputs if name in allocation}
    out += prediction_warnings(fit, points, [f"{c:.3g} FLOPs" for c in budgets],
                               what=("the compute-optimal point at", "the compute-optimal "
                                     "points at"))
    return out


def wide_rows(fit, allocation, n: int) -> dict[int, list[str]]:
    """{row: [quantities whose interval spans more than UNIDENTIFIED_FACTOR]} of an allocation
    ({quantity: (point, lower, upper)})."""
    out: dict[int, list[str]] = {}
    for key, (_, lower, upper) in allocation.items():
        lower, upper = np.atleast_1d(lower), np.atleast_1d(upper)
        for k in range(n):
            if np.isfinite(lower[k]) and spread_factor(lower[k], upper[k]) > UNIDENTIFIED_FACTOR:
                out.setdefault(k, []).append(key)
    return out


# -- the compute-optimal vocabulary ------------------------------------------------------------

def vocabulary_reach(fit, result: dict, labels) -> list[dict]:
    """vocab-outside-data: approaches 1 and 2's optimal vocabulary (`Vocabulary.optimal_vocab`'s
    `result`) outside the fitted vocabulary sizes, above or below: a power law of the
    frontier's N_v (approach 1) or of the derivative's (approach 2) extrapolated past the
    tokenizers the fit saw. Approach 3's V is a scale of its predicted loss, in
    `prediction_warnings`. None for a fit without a vocabulary range (files before it)."""
    span = getattr(fit, "fitted_range_", {}).get("vocab_size")
    if span is None:
        return []
    low, high = span
    out = []
    for approach in ("approach1", "approach2"):
        vocab = np.atleast_1d(np.asarray(result["vocab"][approach], float))
        with np.errstate(divide="ignore", invalid="ignore"):
            distance = np.maximum(0.0, np.log10(vocab / high)) + \
                np.maximum(0.0, np.log10(low / vocab))
        reached = np.flatnonzero(np.isfinite(distance) & (distance > 0))
        if not len(reached):
            continue
        number = approach[-1]
        for severity, rows in (("warning", reached[distance[reached] > FAR_MARGIN]),
                               ("caution", reached[distance[reached] <= FAR_MARGIN])):
            if not len(rows):
                continue
            one = len(rows) == 1
            out.append(make_warning(
                "vocab-outside-data", f"approach {number}'s optimal vocabulary for "
                f"{named_points(labels, rows)} "
                f"({value_span(vocab[rows], lambda v: f'{v:,.0f}')}) "
                f"{'lies' if one else 'lie'} {value_span(distance[rows], decades)} decades "
                f"outside the fitted vocabulary sizes ({low:,.0f} to {high:,.0f}): its power law is "
                f"extrapolated there; treat {'it' if one else 'them'} as "
                + ("a guess" if severity == "warning" else "an extrapolation"),
                severity=severity, approach=approach, rows=[int(k) for k in rows],
                vocab=[json_number(v) for v in vocab[rows]], range=[low, high]))
    return out
