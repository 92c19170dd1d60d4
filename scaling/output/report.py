"""Readable text reports of fits, predictions and backtests.

Every predicted point states how far it reaches beyond the fitted data: a column per scale
column of the law ("× params", "× tokens", "× step"), "×4.3" for 4.3 times the largest fitted
value, "inside" within the fitted range, "÷2" for half the smallest. Warnings
(`scaling.engine.diagnostics`) follow the tables as "WARNING: …" lines. `prediction_record` and
`allocation_record` are the same predictions as JSON-ready dicts (`scaling predict --json`).
"""

from __future__ import annotations

import numpy as np

from scaling.engine import diagnostics
from scaling.errors import ScalingError
from scaling.output.format import (accuracy_points, accuracy_points_interval, decades_outside,
                                   format_number, interval, json_number, table, with_interval)

COMPUTE_BUDGETS = (1e21, 1e22, 1e23, 1e24, 1e25)


def fit_report(law, budgets=COMPUTE_BUDGETS) -> str:
    """Parameters with intervals, fit diagnostics, warnings and, where the law has one, the
    compute-optimal allocation at each budget."""
    level = f"{100 * law.confidence:g}%"
    lines = [law.title, f"  {law.equation}", ""]
    data = law.data_ or {}
    where = f" where {data['where']}" if data.get("where") else ""
    lines.append(f"data      {data.get('source', '?')}{where}: {law.n_runs_} runs, "
                 f"{law.n_points_} points")
    if data.get("lr_sources"):
        lines.append(f"LRs       {lr_sources_line(data['lr_sources'])}")
    starts = f"; {law.n_starts_} starts" if law.n_starts_ else ""
    lines.append(f"objective {law.objective_:.6g} ({law.objective_description}){starts}; "
                 f"{'converged' if law.converged_ else 'DID NOT CONVERGE'}")
    n_boot = len(law.bootstrap_theta_)
    what = "runs" if law.bootstrap_unit == "runs" else "blocks of rows within each curve"
    lines.append(f"bootstrap {n_boot} resamples of {what} (seed {law.bootstrap_seed_}), {level} "
                 "percentile intervals" if n_boot else
                 "bootstrap none (use --bootstrap K for parameter intervals)"
                 if getattr(law, "calibration_", None) is not None else
                 "bootstrap none (use --bootstrap K for intervals)")
    scatter = getattr(law, "seed_scatter_", None)
    if scatter:
        size = (f"{100 * scatter['sigma']:.2g}% of {law.target}" if law.space == "log"
                else f"{scatter['sigma']:.3g}")
        lines.append(f"seeds     repeated seeds scatter by {size} (pooled std, {scatter['dof']} "
                     f"dof, {scatter['n_groups']} groups): the calibrated intervals' floor")
    model = getattr(law, "calibration_", None)
    if model is not None:
        lines.append(f"calibrated {calibration_line(law)}")
    if law.residuals_ is not None and len(law.residuals_):
        residuals = np.asarray(law.residuals_)
        lines.append(f"residuals {law.residual_label}: RMS {np.sqrt(np.mean(residuals ** 2)):.4g}, "
                     f"max |r| {np.max(np.abs(residuals)):.4g}")
    if n_boot:
        rows = [(name, format_number(law.params_[name]),
                 interval(*law.intervals_[name], missing="(no bootstrap)"),
                 format_number(law.standard_errors_[name])) for name in law.reported_names]
        header = ("parameter", "value", f"{level} interval", "std err")
    else:                       # no bootstrap: no interval columns to head
        rows = [(name, format_number(law.params_[name])) for name in law.reported_names]
        header = ("parameter", "value")
    lines += ["", table(header, rows, right=("value", "std err"))]
    lines += fit_warnings(law)
    notes = law.notes()
    if notes:
        lines += ([] if lines[-1] == "" or fit_warnings(law) else [""]) + notes
    lines += law.extras_report()
    if law.allocates_compute:
        lines += ["", compute_optimal_table(law, budgets)]
    return "\n".join(lines)


def calibration_line(law) -> str:
    """The error model of the calibrated intervals in words (scaling.engine.calibration)."""
    model = law.calibration_
    relative = law.space == "log"

    def size(value):
        return f"{100 * value:.2g}%" if relative else f"{value:.2g}"

    growth = ", ".join(f"+{size(slope)} per decade of {name}"
                       for name, slope in model.slopes.items()) or "no growth measured"
    unseen = [name for name in law.fitted_range_ if name not in model.slopes]
    if unseen and model.slopes:
        growth += (f" ({', '.join(unseen)}: no split of the data reached beyond it, so it grows "
                   "at the steepest of those)")
    return (f"intervals (default): error scale {size(model.noise)} inside the fitted data, "
            f"{growth}; from {model.n_residuals} held-out rows of {len(model.splits)} refits "
            "on splits of the data")


def lr_sources_line(sources: dict) -> str:
    """Where each run's per-step LRs came from, grouped: "from --lr-file lr.csv (over its
    schedule column): cosine, wsd; from the schedule column: constant"."""
    groups: dict[str, list[str]] = {}
    for run, source in sources.items():
        groups.setdefault(source, []).append(str(run))
    parts = []
    for source, runs in groups.items():
        named = ", ".join(runs) if len(runs) <= 4 else f"{len(runs)} runs"
        parts.append(f"from {'the ' if not source.startswith('--') else ''}{source}: {named}")
    return "; ".join(parts)


def fit_warnings(law) -> list[str]:
    """Warnings about the fit (`scaling.engine.diagnostics.fit_warnings`), in the names of the report's
    table, after a blank line (none: no lines)."""
    out = diagnostics.render(diagnostics.fit_warnings(law))
    return [""] + out if out else []


def has_intervals(law) -> bool:
    """Whether the fit has bootstrap intervals (the "law" and "run" kinds)."""
    return len(law.bootstrap_theta_) > 0


# -- intervals and distance ------------------------------------------------------------------

HOW_TO_GET = {"calibrated": "refit without --no-calibration (the calibration needs at least "
                            "10 held-out points from refits of splits of the data)",
              "run": "refit with --bootstrap K (K ≥ 20)",
              "law": "refit with --bootstrap K (K ≥ 20)"}
WHAT_IT_LACKS = {"calibrated": "no error model (calibration)", "run": "no bootstrap",
                 "law": "no bootstrap"}


def interval_kind(law, kind: str | None = None) -> str | None:
    """The interval kind a table shows: `kind` ("calibrated", "run" or "law"), or the fit's
    `default_interval`; None when the default is not there (the tables then have no interval
    columns). A kind asked for that the fit lacks is a one-line error saying how to get it."""
    if kind is None:
        kind = law.default_interval
        return kind if kind in law.interval_kinds else None
    if kind not in HOW_TO_GET:
        raise ScalingError(f"--interval must be one of {', '.join(HOW_TO_GET)}, got {kind!r}")
    if kind not in law.interval_kinds:
        raise ScalingError(f"--interval {kind}: this fit has {WHAT_IT_LACKS[kind]}; "
                           f"{HOW_TO_GET[kind]}"
                           + (f", or ask for one it has: {', '.join(law.interval_kinds)}"
                              if law.interval_kinds else ""))
    return kind


def interval_heading(law, kind: str | None, level: float | None = None) -> str:
    """"95% interval (calibrated)"."""
    level = law.confidence if level is None else level
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


def reach_values(law, values: dict) -> dict[str, np.ndarray]:
    """{scale: values} of points (`Law.scale_values`: the inputs and what the law derives from
    them, the peak LR of a schedule, epochs) for the scales the fit has a range for, in the
    law's order: what every command's reach columns and reach text read."""
    fitted = getattr(law, "fitted_range_", {})
    return {name: value for name, value in law.scale_values(values).items() if name in fitted}


def reach_cells(law, values: dict) -> dict[str, list[str]]:
    """{scale: ["×4.3" | "inside" | "÷2", …]} of points: the one reach computation that
    `predict`, `plan` and the reports show (`reach_cell` on `reach_values`)."""
    out = {}
    for name, value in reach_values(law, values).items():
        low, high = law.fitted_range_[name]
        low = 0.0 if name in law.one_sided_scales else low     # counted above only
        out[name] = [reach_cell(float(v), low, high) for v in np.ravel(value)]
    return out


def reach_text(law, values: dict, k: int = 0) -> str:
    """Point k's reach in words: "×4.3 params, tokens inside, ÷2 peak_lr"."""
    parts = []
    for name, cells in reach_cells(law, values).items():
        cell = cells[k]
        parts.append(f"{name} inside" if cell == "inside" else f"{cell} {name}")
    return ", ".join(parts)


def reach_note(names) -> str:
    columns = ", ".join(f"× {name}" for name in names)
    return (f"({columns}: the value over the largest fitted one; inside: within the fitted "
            "range; ÷: the smallest fitted one over the value, below it)")


def _point_fields(law, scales: dict, k: int, distance) -> dict:
    return {"reach": {name: json_number(np.atleast_1d(value)[k] / law.fitted_range_[name][1])
                      for name, value in scales.items()},
            "distance": json_number(np.atleast_1d(distance)[k])}


def _notes(k, checks, wide=()) -> str:
    """The note cell of a table row: what the warnings below say of it, shortly."""
    notes = [f"interval >{diagnostics.UNIDENTIFIED_FACTOR:g}×"] if k in wide else []
    return "; ".join(notes + checks.notes(k))


# -- compute-optimal allocation --------------------------------------------------------------

def _allocation(law, budgets, kind, level):
    """(the allocation {quantity: (point, lower, upper)} with the target's interval of `kind`,
    the kind shown (None: no intervals), the level)."""
    kind = interval_kind(law, kind)
    level = law.confidence if level is None else float(level)
    allocation = law.compute_optimal(budgets)
    if kind is None:
        point = allocation[law.target][0]
        allocation[law.target] = (point, np.full_like(point, np.nan), np.full_like(point, np.nan))
    elif kind != "law":     # the target's interval of that kind at the allocated inputs
        inputs = {name: allocation[name][0] for name in law.inputs}
        allocation[law.target] = law.interval_from_inputs(inputs, kind, level)
    elif level != law.confidence:
        raise ScalingError("the allocation's bootstrap intervals are at the fit's confidence "
                           f"({law.confidence:g}); give no other level")
    return allocation, kind, level


def allocation_record(law, budgets=COMPUTE_BUDGETS, kind: str | None = None,
                      level: float | None = None, *, with_fit: bool = True) -> dict:
    """The compute-optimal allocation at each budget as a JSON-ready dict: {"law", "target",
    "interval": {"kind", "level"}, "predictions": [{"flops", <each allocated quantity>,
    "predicted", "lower", "upper" (the target and its interval of `kind`), "intervals":
    {quantity: [lower, upper] (bootstrap) or None}, "reach", "distance"}], "warnings"} (the
    allocation's warnings, and first the fit's with `with_fit`)."""
    budgets = np.atleast_1d(np.asarray(budgets, float))
    allocation, kind, level = _allocation(law, budgets, kind, level)
    scales = reach_values(law, {name: value[0] for name, value in allocation.items()})
    distance = law.distance(scales) if scales else np.zeros(len(budgets))
    rows = []
    for k, flops in enumerate(budgets):
        row = {"flops": float(flops)}
        intervals = {}
        for key, (point, lower, upper) in allocation.items():
            if key != law.target:
                row[key] = json_number(point[k])
                intervals[key] = (None if not np.isfinite(lower[k])
                                  else [json_number(lower[k]), json_number(upper[k])])
        point, lower, upper = allocation[law.target]
        row.update(predicted=json_number(point[k]), lower=json_number(lower[k]),
                   upper=json_number(upper[k]), intervals=intervals,
                   **_point_fields(law, scales, k, distance))
        rows.append(row)
    warnings = diagnostics.allocation_warnings(law, budgets, allocation)
    if with_fit:
        warnings = diagnostics.fit_warnings(law) + warnings
    return {"law": law.name, "target": law.target, "interval": {"kind": kind, "level": level},
            "predictions": rows, "warnings": warnings}


def compute_optimal_table(law, budgets=COMPUTE_BUDGETS, kind: str | None = None,
                          level: float | None = None) -> str:
    """The law's compute-optimal allocation at each budget: every quantity it returns (its
    inputs, the target, and anything else it allocates), with intervals (the target's of
    `kind`, default the fit's; the others the bootstrap's), how far each allocation reaches
    beyond the fitted data, and the allocation's warnings. When parameters are not identified
    (`scaling.engine.diagnostics.unidentified`), a WARNING line naming them comes first, and rows with
    an interval over a factor of 10 are noted."""
    budgets = np.atleast_1d(np.asarray(budgets, float))
    allocation, kind, level = _allocation(law, budgets, kind, level)
    level_text = f"{100 * level:g}%"
    keys = list(allocation)
    points = reach_values(law, {name: value[0] for name, value in allocation.items()})
    scales = list(points)
    cells = reach_cells(law, points)
    checks = diagnostics.point_checks(law, points)
    wide = diagnostics.wide_rows(law, allocation, len(budgets))
    notes = [_notes(k, checks, wide) for k in range(len(budgets))]
    header = ("FLOPs", *(law.allocation_labels.get(key, key) for key in keys),
              *(f"× {name}" for name in scales), *(("note",) if any(notes) else ()))
    rows = [(f"{flops:.3g}", *(with_interval(*(v[k] for v in allocation[key])) for key in keys),
             *(cells[name][k] for name in scales),
             *((notes[k],) if any(notes) else ()))
            for k, flops in enumerate(budgets)]
    if kind is None:
        what = ""
    elif kind == "law":
        what = f", {level_text} intervals (bootstrap)"
    else:
        what = f", {level_text} intervals ({law.target}: {kind}" + \
            ("; the allocation: bootstrap)" if has_intervals(law) else ")")
    lines = [f"compute-optimal allocation ({law.compute_formula}){what}"]
    names = diagnostics.unidentified(law)
    if names:
        lines.append(f"WARNING: {', '.join(names)} {'is' if len(names) == 1 else 'are'} not "
                     f"identified by these data ({level_text} intervals spanning more than a "
                     f"factor of {diagnostics.UNIDENTIFIED_FACTOR:g}): this allocation rests on "
                     f"{'it' if len(names) == 1 else 'them'}; read it as a guess, not a plan"
                     + (f" (rows noted interval >{diagnostics.UNIDENTIFIED_FACTOR:g}×)"
                        if wide else ""))
    lines.append(table(header, rows, right=("FLOPs",)))
    if scales:
        lines.append(reach_note(scales))
    lines += diagnostics.render(diagnostics.allocation_warnings(law, budgets, allocation))
    return "\n".join(lines)


# -- predictions at given inputs -------------------------------------------------------------

def prediction_record(law, kind: str | None = None, level: float | None = None,
                      scale: dict | None = None, **values) -> dict:
    """Predictions at the given inputs as a JSON-ready dict: {"law", "target", "interval":
    {"kind", "level"}, "predictions": [{<inputs>, "predicted", "lower", "upper", "reach":
    {scale column: value / largest fitted}, "distance": decades outside the fitted data}],
    "warnings": the predictions' and the fit's}. `scale` holds the points' coordinates that are
    not among the law's inputs ({"density": …} of a pruned model, {"vocab_size": …}): they count
    in the reach, the distance, the calibrated interval and the warnings as the inputs do."""
    kind = interval_kind(law, kind)
    level = law.confidence if level is None else float(level)
    inputs = law.broadcast_inputs(values)
    extra = {name: np.atleast_1d(np.asarray(value, float)) for name, value in
             (scale or {}).items() if value is not None}
    if kind is None:
        predicted = law.predict_inputs(inputs)
        lower = upper = np.full_like(predicted, np.nan)
    else:
        predicted, lower, upper = law.interval_from_inputs(inputs, kind, level, extra or None)
    points = {**inputs, **{name: np.broadcast_to(value, predicted.shape)
                           for name, value in extra.items()}}
    scales = reach_values(law, points)
    distance = law.distance(scales) if scales else np.zeros(len(predicted))
    rows = [{**{name: float(inputs[name][k]) for name in inputs}, "predicted": json_number(value),
             "lower": json_number(lower[k]), "upper": json_number(upper[k]),
             **_point_fields(law, scales, k, distance)} for k, value in enumerate(predicted)]
    labels = [", ".join(f"{name} {points[name][k]:.3g}" for name in points)
              for k in range(len(predicted))]
    warnings = diagnostics.prediction_warnings(law, points, labels, predicted=predicted) + \
        diagnostics.fit_warnings(law)
    return {"law": law.name, "target": law.target, "interval": {"kind": kind, "level": level},
            "predictions": rows, "warnings": warnings}


def prediction_table(law, kind: str | None = None, level: float | None = None,
                     **values) -> str:
    """Predictions with the interval of `kind` (default: the fit's, "calibrated" when it has an
    error model, else "run"; no interval column when the fit has none), how far each point
    reaches beyond the fitted data, and the warnings."""
    record = prediction_record(law, kind, level, **values)
    kind = record["interval"]["kind"]
    names = list(law.inputs)
    inputs = {name: np.array([row[name] for row in record["predictions"]]) for name in names}
    cells = reach_cells(law, inputs) if record["predictions"] else {}
    scales = list(cells)
    checks = diagnostics.point_checks(law, inputs)
    notes = [_notes(k, checks) for k in range(len(record["predictions"]))]
    header = (*names, law.target,
              *((interval_heading(law, kind, record["interval"]["level"]),) if kind else ()),
              *(f"× {name}" for name in scales), *(("note",) if any(notes) else ()))
    rows = [(*(f"{row[n]:.4g}" for n in names), format_number(row["predicted"]),
             *((interval(row["lower"], row["upper"], missing="(no bootstrap)"),) if kind else ()),
             *(cells[name][k] for name in scales),
             *((notes[k],) if any(notes) else ()))
            for k, row in enumerate(record["predictions"])]
    lines = [table(header, rows, right=(*names, law.target))]
    if scales:
        lines.append(reach_note(scales))
    lines += diagnostics.render(record["warnings"])
    return "\n".join(lines)


# -- predicted curves ------------------------------------------------------------------------

def curve_points(law, curve) -> dict:
    """{column: values} of a predicted curve's rows: its columns (step, LR area, peak LR, …)."""
    return {name: curve[name].to_numpy(float) for name in curve.columns
            if isinstance(name, str) and name not in ("lower", "upper")}


def _value(value, digits: int = 4) -> str:
    """A curve's value: fixed digits, "-" for NaN (a loss ≤ 0 by the law's formula)."""
    return "-" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def curve_table(law, curve, kind: str | None, level: float | None = None) -> str:
    """Rows of a predicted curve (step, lr, the target, its interval of `kind` when there is one,
    and how far each row reaches outside the fitted data in each of the law's scales: steps,
    LR area, peak LR, …)."""
    cells = reach_cells(law, curve_points(law, curve))
    header = ("step", "lr", law.target, *((interval_heading(law, kind, level),) if kind else ()),
              *(f"× {name}" for name in cells))
    rows = [(f"{row.step}", f"{row.lr:.4g}", _value(getattr(row, law.target)),
             *((f"[{_value(row.lower)}, {_value(row.upper)}]",) if kind else ()),
             *(cells[name][k] for name in cells))
            for k, row in enumerate(curve.itertuples(index=False))]
    return table(header, rows, right=("step", "lr", law.target))


def curve_warnings(law, curves: dict, with_fit: bool = False) -> list[str]:
    """The report's warning lines of predicted curves ({name: curve}): the distance of each
    curve's furthest row (its last, or one further outside the data), losses that are not
    losses at any row, and the fit's own warnings with `with_fit`."""
    return diagnostics.render(curve_warning_records(law, curves, with_fit))


def _furthest_row(law, curve) -> int:
    """The row of a curve that reaches furthest outside the fitted data (its last on ties)."""
    distance = np.atleast_1d(law.distance(reach_values(law, curve_points(law, curve))))
    if not len(distance) or not np.isfinite(distance).any():
        return len(curve) - 1
    distance = np.where(np.isfinite(distance), distance, -1.0)
    return int(len(distance) - 1 - np.argmax(distance[::-1]))


def curve_warning_records(law, curves: dict, with_fit: bool) -> list[dict]:
    # each curve's last row, and its furthest outside the data where that is another (the
    # first steps of a curve whose fit began later)
    picked, labels = [], []
    for name, curve in curves.items():
        rows = sorted({_furthest_row(law, curve), len(curve) - 1})
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
              for name in picked[0].index if name not in ("lower", "upper", law.target)
              and all(name in row for row in picked)}
    out = diagnostics.prediction_warnings(law, points, labels, what,
                                          predicted=np.ones(len(picked)))
    out = [w for w in out if w["code"] not in LOSS_CODES]
    # losses that are not losses, at any row of any curve
    rows, values, names = [], [], []
    for name, curve in curves.items():
        value = curve[law.target].to_numpy(float)
        bad = diagnostics.implausible_losses(law, {}, [""] * len(value), ("", ""), value)
        flagged = sorted({k for w in bad for k in w["rows"]})
        for k in flagged:
            rows.append(len(values))
            values.append(value[k])
            names.append(f"step {int(curve['step'].iloc[k])}" if len(curves) == 1
                         else f"{name} at step {int(curve['step'].iloc[k])}")
    if rows:
        out = diagnostics.implausible_losses(
            law, {}, names, ("the predicted curve at",) * 2 if len(curves) == 1 else
            ("the predicted curves at",) * 2, np.array(values)) + out
    return (diagnostics.fit_warnings(law) if with_fit else []) + out


LOSS_CODES = ("loss-not-positive", "loss-over-range", "loss-below-floor")


def final_rows_table(law, curves: dict, kind: str | None, level: float | None = None) -> str:
    """The final row of each predicted curve ({name: curve}): its value, interval and reach in
    each of the law's scales (`scaling predict --compare`, the plan's schedule comparison)."""
    last = {name: curve.iloc[[-1]] for name, curve in curves.items()}
    cells = {name: reach_cells(law, curve_points(law, row)) for name, row in last.items()}
    scales = list(next(iter(cells.values()), {}))
    final = f"final {law.target}"
    header = ("schedule", final, *((interval_heading(law, kind, level),) if kind else ()),
              *(f"× {name}" for name in scales))
    rows = []
    for name, row in last.items():
        row = row.iloc[0]
        rows.append((name, _value(row[law.target]),
                     *((f"[{_value(row.lower)}, {_value(row.upper)}]",) if kind else ()),
                     *(cells[name][scale][0] for scale in scales)))
    return table(header, rows, right=(final,))


def curve_record(law, curves: dict, kind: str | None, level: float | None = None) -> dict:
    """Predicted curves ({name: curve}, as `predict_schedule` made them with intervals of `kind`)
    as a JSON-ready dict: {"law", "target", "interval", "predictions": [{"schedule", "step",
    "lr", "predicted", "lower", "upper", "reach", "distance"} for every row of every curve],
    "warnings"}."""
    level = law.confidence if level is None else float(level)
    rows = []
    for name, curve in curves.items():
        steps = curve["step"].to_numpy(float)
        scales = reach_values(law, curve_points(law, curve))
        distance = law.distance(scales) if scales else np.zeros(len(steps))
        for k, row in enumerate(curve.itertuples(index=False)):
            rows.append({"schedule": str(name), "step": int(row.step), "lr": json_number(row.lr),
                         "predicted": json_number(getattr(row, law.target)),
                         "lower": json_number(row.lower) if kind else None,
                         "upper": json_number(row.upper) if kind else None,
                         **_point_fields(law, scales, k, distance)})
    return {"law": law.name, "target": law.target, "interval": {"kind": kind, "level": level},
            "predictions": rows, "warnings": curve_warning_records(law, curves, True)}


def fit_warning_lines(record: dict) -> list[str]:
    """The "WARNING (fit): …" lines of a backtest record's fit: its warnings about the fit (not
    cautions, not those of the compute-optimal allocation its fit file keeps)."""
    warnings = (record.get("fit") or {}).get("warnings") or []
    return [f"WARNING (fit): {w['message']}" for w in warnings
            if w.get("severity", "warning") == "warning"
            and w.get("code") not in diagnostics.POINT_CODES]


def backtest_report(record: dict, law_inputs) -> str:
    """A backtest record (`scaling.analysis.backtest.backtest`) as text: relative errors in percent,
    absolute errors (linear-space targets) in the target's units."""
    if "records" in record:                      # several tasks or variants of the task law
        return task_backtest_report(record)
    relative = record.get("error_kind", "relative") == "relative"
    key, label = ("rel_error", "rel err") if relative else ("error", "error")
    points = accuracy_in_points(record)
    if points:
        return _accuracy_backtest_report(record, law_inputs)

    def size(value):
        return f"{100 * value:.3f}%" if relative else f"{value:.4g}"

    n_train = len(record["train_runs"])
    lines = [f"backtest {record['law']}: fit on {n_train} runs matching {record['train']!r}, "
             f"predict the final rows of {len(record['test'])} held-out runs"]
    if record.get("lr_sources"):
        lines.append(f"LRs {lr_sources_line(record['lr_sources'])}")
    lines.append("")
    intervals = record.get("coverage") is not None     # the fit gave intervals
    shown = (record.get("interval") or {}).get("kind")
    header = ("run", *law_inputs, "actual", "predicted",
              *((f"{shown} interval",) if intervals else ()), label, "beyond")
    rows = [(str(r["run"]), *(f"{r[n]:.4g}" for n in law_inputs), f"{r['actual']:.4f}",
             f"{r['predicted']:.4f}",
             *((interval(r["lower"], r["upper"], missing="(no bootstrap)"),)
               if intervals else ()),
             f"{100 * r[key]:+.2f}%" if relative else f"{r[key]:+.4f}",
             decades_outside(r.get("distance"))) for r in record["test"]]
    lines.append(table(header, rows, right=(*law_inputs, "actual", "predicted", label,
                                            "beyond")))
    lines += ["", f"mean absolute {'relative ' if relative else ''}error "
                  f"{size(record['mean_abs_' + key])}"]
    lines += fit_warning_lines(record)
    if record.get("test_curves"):
        lines += ["", table(("curve", "PredE", "WorstE"),
                            [(str(c["run"]), size(c["pred_e"]), size(c["worst_e"]))
                             for c in record["test_curves"]],
                            right=("PredE", "WorstE")),
                  f"mean PredE {size(record['mean_pred_e'])}, "
                  f"mean WorstE {size(record['mean_worst_e'])}"]
    if record.get("intervals"):
        lines += ["", interval_table(record)]
    return "\n".join(lines)


def accuracy_in_points(record: dict) -> bool:
    """Whether a backtest predicts accuracies (shown in points: 100 × the fraction)."""
    target = (record.get("fit") or {}).get("target", "")
    return bool(record.get("task")) or str(target).startswith("acc:")


def _accuracy_backtest_report(record: dict, law_inputs) -> str:
    """A backtest of accuracies: actual, predicted, interval and error in points."""
    n_train = len(record["train_runs"])
    task = record.get("task")
    what = f" on {task}" if task else ""
    lines = [f"backtest {record['law']}{what}: fit on {n_train} runs matching "
             f"{record['train']!r}, predict the final accuracy (mean of the last evaluations) "
             f"of {len(record['test'])} held-out runs; accuracies in points (%)", ""]
    shown = (record.get("interval") or {}).get("kind")
    level = (record.get("interval") or {}).get("level")
    first = record["test"][0] if record["test"] else {}
    extra = [c for c in ("params", "tokens", *law_inputs, *first) if c in first
             and (c in ("params", "tokens", *law_inputs) or str(c).startswith("loss"))]
    extra = list(dict.fromkeys(extra))
    interval_label = f"{shown} {100 * level:g}%" if shown and level else "interval"
    header = ("run", *extra, "actual", "predicted", interval_label, "error pt", "beyond")
    rows = [(str(r["run"]), *(f"{r[c]:.4g}" for c in extra), accuracy_points(r["actual"]),
             accuracy_points(r["predicted"]),
             accuracy_points_interval(r.get("lower"), r.get("upper")),
             f"{100 * r['error']:+.1f}", decades_outside(r.get("distance")))
            for r in record["test"]]
    lines.append(table(header, rows, right=(*extra, "actual", "predicted", "error pt",
                                            "beyond")))
    lines += ["", f"mean absolute error {100 * record['mean_abs_error']:.2f} points"]
    lines += fit_warning_lines(record)
    if record.get("intervals"):
        lines += ["", interval_table(record)]
    return "\n".join(lines)


def _warning_codes(record: dict) -> str:
    codes = [w["code"] for w in (record.get("fit") or {}).get("warnings") or []
             if w.get("severity", "warning") == "warning"]
    return ", ".join(dict.fromkeys(codes)) or "-"


def _coverage_at(coverage, level) -> str:
    """A backtest's coverage ({"0.95": share, …}) at `level`, in percent."""
    if not coverage or level is None or f"{level:g}" not in coverage:
        return "-"
    return f"{100 * coverage[f'{level:g}']:.0f}%"


def task_backtest_report(record: dict) -> str:
    """Backtests of the task law over tasks and variants (`scaling.analysis.backtest.task_backtests`):
    every held-out run, then mean absolute errors and coverage per task and variant, in points."""
    shown = (record.get("interval") or {}).get("kind")
    level = (record.get("interval") or {}).get("level")
    several = len(record["variants"]) > 1
    lines = [f"backtest of the task law on {len(record['tasks'])} task(s)"
             + (f" x {len(record['variants'])} variants" if several else
                f" ({record['variants'][0]})")
             + f": fit on the runs matching {record['train']!r}, predict the final accuracy of "
             "the held-out runs; accuracies in points (%)", ""]
    interval_label = f"{shown} {100 * level:g}%" if shown and level else "interval"
    header = ("task", *(("variant",) if several else ()), "run", "params", "tokens", "actual",
              "predicted", interval_label, "error pt")
    rows = [(str(r["task"]), *((r["variant"],) if several else ()), str(r["run"]),
             f"{r.get('params', np.nan):.4g}", f"{r.get('tokens', np.nan):.4g}",
             accuracy_points(r["actual"]), accuracy_points(r["predicted"]),
             accuracy_points_interval(r.get("lower"), r.get("upper")),
             f"{100 * r['error']:+.1f}") for r in record["test"]]
    lines.append(table(header, rows, right=("params", "tokens", "actual", "predicted",
                                            "error pt")))
    cover = f"coverage {100 * level:g}%" if level else "coverage"
    summary = [(str(s["task"]), *((s["variant"],) if several else ()), str(s["n"]),
                f"{100 * s['mean_abs_error']:.2f}",
                _coverage_at(s.get("coverage"), level), _warning_codes(r))
               for s, r in zip(record["summary"], record["records"])]
    lines += ["", table(("task", *(("variant",) if several else ()), "runs", "mean abs err pt",
                         cover, "fit warnings"), summary,
                        right=("runs", "mean abs err pt", cover))]
    if several:
        lines += ["", "mean absolute error by variant: " + ", ".join(
            f"{variant} {100 * value:.2f} pt" for variant, value in record["by_variant"].items())]
    else:
        lines += ["", f"mean absolute error {100 * record['mean_abs_error']:.2f} points"]
    return "\n".join(lines)


def interval_table(record: dict) -> str:
    """Coverage, mean width and mean interval score of each interval kind at each level."""
    relative = record.get("error_kind", "relative") == "relative"
    scored = record.get("scored", {})
    shown = (record.get("interval") or {}).get("kind")
    rows = []
    for kind, scores in record["intervals"].items():
        for level, coverage in scores["coverage"].items():
            width, score = scores["mean_width"][level], scores["interval_score"][level]
            rows.append((kind + (" (shown)" if kind == shown else ""),
                         f"{100 * float(level):g}%", f"{100 * coverage:.0f}%",
                         f"{100 * width:.2f}%" if relative else f"{width:.4g}",
                         f"{100 * score:.2f}%" if relative else f"{score:.4g}"))
    what = scored.get("rows", "held-out rows")
    heading = (f"intervals on {scored.get('n', '?')} {what} (coverage: share inside; width and "
               "interval score" + (" relative to the actual value" if relative else "")
               + "; lower score is better)")
    return heading + "\n" + table(("interval", "level", "coverage", "mean width",
                                   "interval score"), rows,
                                  right=("level", "coverage", "mean width", "interval score"))


# -- the compute-optimal vocabulary ----------------------------------------------------------

APPROACHES = {"approach1": "approach 1 (IsoFLOPs)", "approach2": "approach 2 (derivative)",
              "approach3": "approach 3 (parametric)"}


def _vocab(value) -> str:
    return "-" if value is None or not np.isfinite(value) else f"{value:,.0f}"


def _optimum_points(result) -> dict:
    """{column: values} of approach 3's optima: the law's inputs there and its V (`scale`)."""
    return {**result["inputs"], **result.get("scale", {})}


def _optimal_vocab_warnings(law, result) -> list[dict]:
    """The warnings of L_u at approach 3's optimum (its inputs and its V count in the reach:
    `Vocabulary.scale_columns`), of the other approaches' V outside the fitted vocabularies,
    and the fit's."""
    inputs = result["inputs"]
    finite = np.all([np.isfinite(v) for v in inputs.values()], axis=0)
    labels = [f"N_nv {n:.3g}" for n in result["params_nonembed"]]
    points = {name: values[finite] for name, values in _optimum_points(result).items()}
    what = (f"the {law.target} at approach 3's optimum for",) * 2
    out = diagnostics.prediction_warnings(law, points, [labels[k] for k in np.flatnonzero(finite)],
                                          what) if finite.any() else []
    return out + diagnostics.vocabulary_reach(law, result, labels) + diagnostics.fit_warnings(law)


def optimal_vocab_record(law, result: dict, kind: str | None, level: float | None = None) -> dict:
    """`Law.optimal_vocab`'s result as a JSON-ready dict: {"law", "target", "budget" (how the
    budgets were chosen), "interval": {"kind" (of L_u), "level"}, "predictions": [{
    "params_nonembed", "width", "flops", "optimal_vocab": {"approach1", "approach2",
    "approach3"} (null where not supported), "why": {approach: reason} (the missing ones),
    "intervals": {"approach3": [lower, upper] (bootstrap) or null}, "vocab_params", "tokens",
    "characters", "predicted", "lower", "upper" (L_u at approach 3's optimum), "reach", "distance"
    (of that optimum: N_nv, N_v, D and V)}], and for one
    point "optimal_vocab" (its approaches again, at the top), "warnings"}."""
    level = law.confidence if level is None else float(level)
    rows = []
    low3, high3 = result["interval3"]
    point, lower, upper = result["loss"]
    scales = reach_values(law, _optimum_points(result))
    with np.errstate(invalid="ignore"):
        distance = law.distance(scales) if scales else np.zeros(len(result["params_nonembed"]))
    for k, nonembed in enumerate(result["params_nonembed"]):
        vocab = {name: json_number(values[k]) for name, values in result["vocab"].items()}
        rows.append({
            "params_nonembed": float(nonembed), "width": float(result["width"][k]),
            "flops": json_number(result["flops"][k]), "optimal_vocab": vocab,
            "why": {name: result["why"][name] for name, value in vocab.items()
                    if value is None and result["why"][name]},
            "intervals": {"approach3": None if not np.isfinite(low3[k])
                          else [json_number(low3[k]), json_number(high3[k])]},
            "vocab_params": json_number(result["vocab_params"][k]),
            "tokens": json_number(result["tokens"][k]),
            "characters": json_number(result["characters"][k]),
            "predicted": json_number(point[k]), "lower": json_number(lower[k]),
            "upper": json_number(upper[k]), **_point_fields(law, scales, k, distance)})
    record = {"law": law.name, "target": law.target, "budget": result["budget"],
              "interval": {"kind": kind, "level": level}, "predictions": rows}
    if len(rows) == 1:
        record["optimal_vocab"] = rows[0]["optimal_vocab"]
    record["warnings"] = _optimal_vocab_warnings(law, result)
    return record


def optimal_vocab_table(law, result: dict, kind: str | None, level: float | None = None) -> str:
    """The optimal vocabulary of each approach side by side, approach 3's bootstrap interval,
    the optimum's tokens, characters and L_u (with the interval of `kind`), why an approach is
    missing, and the warnings."""
    level = law.confidence if level is None else float(level)
    text = f"{100 * level:g}%"
    low3, high3 = result["interval3"]
    boot = np.isfinite(low3).any()
    header = ("N_nv", "width", "FLOPs", *APPROACHES.values(),
              *((f"{text} interval (bootstrap)",) if boot else ()))
    rows = [(f"{n:.4g}", f"{result['width'][k]:.0f}", f"{result['flops'][k]:.4g}",
             *(_vocab(result["vocab"][name][k]) for name in APPROACHES),
             *((f"[{_vocab(low3[k])}, {_vocab(high3[k])}]",) if boot else ()))
            for k, n in enumerate(result["params_nonembed"])]
    lines = [f"optimal vocabulary size V (Tao et al. 2024), budget: {result['budget']}",
             table(header, rows, right=header[:-1] if boot else header)]
    for name, label in APPROACHES.items():
        if result["why"][name] and not np.isfinite(result["vocab"][name]).any():
            lines.append(f"{label}: {result['why'][name]}")
    point, lower, upper = result["loss"]
    shown = np.isfinite(lower).any()
    cells = reach_cells(law, _optimum_points(result))     # N_nv, N_v, D and V
    header = ("N_nv", "V", "N_v", "tokens D", "characters H", law.target,
              *((interval_heading(law, kind, level),) if shown else ()),
              *(f"× {name}" for name in cells))
    rows = [(f"{n:.4g}", _vocab(result["vocab"]["approach3"][k]),
             f"{result['vocab_params'][k]:.4g}", f"{result['tokens'][k]:.4g}",
             f"{result['characters'][k]:.4g}", format_number(point[k]),
             *((interval(lower[k], upper[k], missing="(no bootstrap)"),) if shown else ()),
             *(cells[name][k] for name in cells))
            for k, n in enumerate(result["params_nonembed"])]
    lines += ["", "approach 3's optimum (D = C / (6 (N_nv + V d)), H = D / f(V))",
              table(header, rows, right=header[:6])]
    if cells:
        lines.append(reach_note(list(cells)))
    lines += diagnostics.render(_optimal_vocab_warnings(law, result))
    return "\n".join(lines)
