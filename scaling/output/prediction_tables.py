"""Readable tables and JSON-ready records of predictions: at given inputs (`scaling predict`),
the compute-optimal allocation at each budget (`--flops`, and the end of a fit's report), and the
compute-optimal vocabulary (`--optimal-vocab`).

Every predicted point states how far it reaches beyond the fitted data (the reach columns of
`scaling.output.prediction_columns`). Warnings (`scaling.engine.diagnostics`) follow the tables
as "WARNING: …" lines. `prediction_record`, `allocation_record` and `optimal_vocab_record` are
the same predictions as JSON-ready dicts (`scaling predict --json`).
"""

from __future__ import annotations

import numpy as np

from scaling.engine import diagnostics
from scaling.errors import ScalingError
from scaling.output.format import format_number, interval, json_number, table, with_interval
from scaling.output.prediction_columns import (interval_heading, interval_kind, point_fields,
                                               reach_cells, reach_note, reach_values, row_note)

COMPUTE_BUDGETS = (1e21, 1e22, 1e23, 1e24, 1e25)


def has_intervals(fit) -> bool:
    """Whether the fit has bootstrap intervals (the "law" and "run" kinds)."""
    return len(fit.bootstrap_theta_) > 0


# -- compute-optimal allocation --------------------------------------------------------------

def _allocation(fit, budgets, kind, level):
    """(the allocation {quantity: (point, lower, upper)} with the target's interval of `kind`,
    the kind shown (None: no intervals), the level)."""
    kind = interval_kind(fit, kind)
    level = fit.confidence if level is None else float(level)
    allocation = fit.compute_optimal(budgets)
    if kind is None:
        point = allocation[fit.target][0]
        allocation[fit.target] = (point, np.full_like(point, np.nan), np.full_like(point, np.nan))
    elif kind != "law":     # the target's interval of that kind at the allocated inputs
        inputs = {name: allocation[name][0] for name in fit.inputs}
        allocation[fit.target] = fit.interval_from_inputs(inputs, kind, level)
    elif level != fit.confidence:
        raise ScalingError("the allocation's bootstrap intervals are at the fit's confidence "
                           f"({fit.confidence:g}); give no other level")
    return allocation, kind, level


def allocation_record(fit, budgets=COMPUTE_BUDGETS, kind: str | None = None,
                      level: float | None = None, *, with_fit: bool = True) -> dict:
    """The compute-optimal allocation at each budget as a JSON-ready dict: {"law", "target",
    "interval": {"kind", "level"}, "predictions": [{"flops", <each allocated quantity>,
    "predicted", "lower", "upper" (the target and its interval of `kind`), "intervals":
    {quantity: [lower, upper] (bootstrap) or None}, "reach", "distance"}], "warnings"} (the
    allocation's warnings, and first the fit's with `with_fit`)."""
    budgets = np.atleast_1d(np.asarray(budgets, float))
    allocation, kind, level = _allocation(fit, budgets, kind, level)
    scales = reach_values(fit, {name: value[0] for name, value in allocation.items()})
    distance = fit.distance(scales) if scales else np.zeros(len(budgets))
    rows = []
    for k, flops in enumerate(budgets):
        row = {"flops": float(flops)}
        intervals = {}
        for key, (point, lower, upper) in allocation.items():
            if key != fit.target:
                row[key] = json_number(point[k])
                intervals[key] = (None if not np.isfinite(lower[k])
                                  else [json_number(lower[k]), json_number(upper[k])])
        point, lower, upper = allocation[fit.target]
        row.update(predicted=json_number(point[k]), lower=json_number(lower[k]),
                   upper=json_number(upper[k]), intervals=intervals,
                   **point_fields(fit, scales, k, distance))
        rows.append(row)
    warnings = diagnostics.allocation_warnings(fit, budgets, allocation)
    if with_fit:
        warnings = diagnostics.fit_warnings(fit) + warnings
    return {"law": fit.name, "target": fit.target, "interval": {"kind": kind, "level": level},
            "predictions": rows, "warnings": warnings}


def compute_optimal_table(fit, budgets=COMPUTE_BUDGETS, kind: str | None = None,
                          level: float | None = None) -> str:
    """The law's compute-optimal allocation at each budget: every quantity it returns (its
    inputs, the target, and anything else it allocates), with intervals (the target's of
    `kind`, default the fit's; the others the bootstrap's), how far each allocation reaches
    beyond the fitted data, and the allocation's warnings. When parameters are not identified
    (`scaling.engine.diagnostics.unidentified`), a WARNING line naming them comes first, and rows with
    an interval over a factor of 10 are noted."""
    budgets = np.atleast_1d(np.asarray(budgets, float))
    allocation, kind, level = _allocation(fit, budgets, kind, level)
    level_text = f"{100 * level:g}%"
    keys = list(allocation)
    points = reach_values(fit, {name: value[0] for name, value in allocation.items()})
    scales = list(points)
    cells = reach_cells(fit, points)
    checks = diagnostics.point_checks(fit, points)
    wide = diagnostics.wide_rows(fit, allocation, len(budgets))
    notes = [row_note(k, checks, wide) for k in range(len(budgets))]
    header = ("FLOPs", *(fit.allocation_labels.get(key, key) for key in keys),
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
        what = f", {level_text} intervals ({fit.target}: {kind}" + \
            ("; the allocation: bootstrap)" if has_intervals(fit) else ")")
    lines = [f"compute-optimal allocation ({fit.compute_formula}){what}"]
    names = diagnostics.unidentified(fit)
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
    lines += diagnostics.render(diagnostics.allocation_warnings(fit, budgets, allocation))
    return "\n".join(lines)


# -- predictions at given inputs -------------------------------------------------------------

def prediction_record(fit, kind: str | None = None, level: float | None = None,
                      scale: dict | None = None, **values) -> dict:
    """Predictions at the given inputs as a JSON-ready dict: {"law", "target", "interval":
    {"kind", "level"}, "predictions": [{<inputs>, "predicted", "lower", "upper", "reach":
    {scale column: value / largest fitted}, "distance": decades outside the fitted data}],
    "warnings": the predictions' and the fit's}. `scale` holds the points' coordinates that are
    not among the law's inputs ({"density": …} of a pruned model, {"vocab_size": …}): they count
    in the reach, the distance, the calibrated interval and the warnings as the inputs do."""
    kind = interval_kind(fit, kind)
    level = fit.confidence if level is None else float(level)
    inputs = fit.broadcast_inputs(values)
    extra = {name: np.atleast_1d(np.asarray(value, float)) for name, value in
             (scale or {}).items() if value is not None}
    if kind is None:
        predicted = fit.predict_inputs(inputs)
        lower = upper = np.full_like(predicted, np.nan)
    else:
        predicted, lower, upper = fit.interval_from_inputs(inputs, kind, level, extra or None)
    points = {**inputs, **{name: np.broadcast_to(value, predicted.shape)
                           for name, value in extra.items()}}
    scales = reach_values(fit, points)
    distance = fit.distance(scales) if scales else np.zeros(len(predicted))
    rows = [{**{name: float(inputs[name][k]) for name in inputs}, "predicted": json_number(value),
             "lower": json_number(lower[k]), "upper": json_number(upper[k]),
             **point_fields(fit, scales, k, distance)} for k, value in enumerate(predicted)]
    labels = [", ".join(f"{name} {points[name][k]:.3g}" for name in points)
              for k in range(len(predicted))]
    warnings = diagnostics.prediction_warnings(fit, points, labels, predicted=predicted) + \
        diagnostics.fit_warnings(fit)
    return {"law": fit.name, "target": fit.target, "interval": {"kind": kind, "level": level},
            "predictions": rows, "warnings": warnings}


def prediction_table(fit, kind: str | None = None, level: float | None = None,
                     **values) -> str:
    """Predictions with the interval of `kind` (default: the fit's, "calibrated" when it has an
    error model, else "run"; no interval column when the fit has none), how far each point
    reaches beyond the fitted data, and the warnings."""
    record = prediction_record(fit, kind, level, **values)
    kind = record["interval"]["kind"]
    names = list(fit.inputs)
    inputs = {name: np.array([row[name] for row in record["predictions"]]) for name in names}
    cells = reach_cells(fit, inputs) if record["predictions"] else {}
    scales = list(cells)
    checks = diagnostics.point_checks(fit, inputs)
    notes = [row_note(k, checks) for k in range(len(record["predictions"]))]
    header = (*names, fit.target,
              *((interval_heading(fit, kind, record["interval"]["level"]),) if kind else ()),
              *(f"× {name}" for name in scales), *(("note",) if any(notes) else ()))
    rows = [(*(f"{row[n]:.4g}" for n in names), format_number(row["predicted"]),
             *((interval(row["lower"], row["upper"], missing="(no bootstrap)"),) if kind else ()),
             *(cells[name][k] for name in scales),
             *((notes[k],) if any(notes) else ()))
            for k, row in enumerate(record["predictions"])]
    lines = [table(header, rows, right=(*names, fit.target))]
    if scales:
        lines.append(reach_note(scales))
    lines += diagnostics.render(record["warnings"])
    return "\n".join(lines)


# -- the compute-optimal vocabulary ----------------------------------------------------------

APPROACHES = {"approach1": "approach 1 (IsoFLOPs)", "approach2": "approach 2 (derivative)",
              "approach3": "approach 3 (parametric)"}


def _vocab(value) -> str:
    return "-" if value is None or not np.isfinite(value) else f"{value:,.0f}"


def _optimum_points(result) -> dict:
    """{column: values} of approach 3's optima: the law's inputs there and its V (`scale`)."""
    return {**result["inputs"], **result.get("scale", {})}


def _optimal_vocab_warnings(fit, result) -> list[dict]:
    """The warnings of L_u at approach 3's optimum (its inputs and its V count in the reach:
    `Vocabulary.scale_columns`), of the other approaches' V outside the fitted vocabularies,
    and the fit's."""
    inputs = result["inputs"]
    finite = np.all([np.isfinite(v) for v in inputs.values()], axis=0)
    labels = [f"N_nv {n:.3g}" for n in result["params_nonembed"]]
    points = {name: values[finite] for name, values in _optimum_points(result).items()}
    what = (f"the {fit.target} at approach 3's optimum for",) * 2
    out = diagnostics.prediction_warnings(fit, points, [labels[k] for k in np.flatnonzero(finite)],
                                          what) if finite.any() else []
    return out + diagnostics.vocabulary_reach(fit, result, labels) + diagnostics.fit_warnings(fit)


def optimal_vocab_record(fit, result: dict, kind: str | None, level: float | None = None) -> dict:
    """`Law.optimal_vocab`'s result as a JSON-ready dict: {"law", "target", "budget" (how the
    budgets were chosen), "interval": {"kind" (of L_u), "level"}, "predictions": [{
    "params_nonembed", "width", "flops", "optimal_vocab": {"approach1", "approach2",
    "approach3"} (null where not supported), "why": {approach: reason} (the missing ones),
    "intervals": {"approach3": [lower, upper] (bootstrap) or null}, "vocab_params", "tokens",
    "characters", "predicted", "lower", "upper" (L_u at approach 3's optimum), "reach", "distance"
    (of that optimum: N_nv, N_v, D and V)}], and for one
    point "optimal_vocab" (its approaches again, at the top), "warnings"}."""
    level = fit.confidence if level is None else float(level)
    rows = []
    low3, high3 = result["interval3"]
    point, lower, upper = result["loss"]
    scales = reach_values(fit, _optimum_points(result))
    with np.errstate(invalid="ignore"):
        distance = fit.distance(scales) if scales else np.zeros(len(result["params_nonembed"]))
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
            "upper": json_number(upper[k]), **point_fields(fit, scales, k, distance)})
    record = {"law": fit.name, "target": fit.target, "budget": result["budget"],
              "interval": {"kind": kind, "level": level}, "predictions": rows}
    if len(rows) == 1:
        record["optimal_vocab"] = rows[0]["optimal_vocab"]
    record["warnings"] = _optimal_vocab_warnings(fit, result)
    return record


def optimal_vocab_table(fit, result: dict, kind: str | None, level: float | None = None) -> str:
    """The optimal vocabulary of each approach side by side, approach 3's bootstrap interval,
    the optimum's tokens, characters and L_u (with the interval of `kind`), why an approach is
    missing, and the warnings."""
    level = fit.confidence if level is None else float(level)
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
    cells = reach_cells(fit, _optimum_points(result))     # N_nv, N_v, D and V
    header = ("N_nv", "V", "N_v", "tokens D", "characters H", fit.target,
              *((interval_heading(fit, kind, level),) if shown else ()),
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
    lines += diagnostics.render(_optimal_vocab_warnings(fit, result))
    return "\n".join(lines)
