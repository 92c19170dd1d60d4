"""Readable text reports of fits and backtests."""

from __future__ import annotations

import numpy as np

COMPUTE_BUDGETS = (1e21, 1e22, 1e23, 1e24, 1e25)


def _number(value: float) -> str:
    if value is None or not np.isfinite(value):
        return "-"
    return f"{value:.5g}" if 1e-3 <= abs(value) < 1e5 else f"{value:.4g}"


def _interval(low, high) -> str:
    if low is None or not np.isfinite(low):
        return "(no bootstrap)"
    return f"[{_number(low)}, {_number(high)}]"


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
        rows = [(name, _number(law.params_[name]), _interval(*law.intervals_[name]),
                 _number(law.standard_errors_[name])) for name in law.reported_names]
        header = ("parameter", "value", f"{level} interval", "std err")
    else:                       # no bootstrap: no interval columns to head
        rows = [(name, _number(law.params_[name])) for name in law.reported_names]
        header = ("parameter", "value")
    lines += ["", table(header, rows, right=("value", "std err"))]
    lines += fit_warnings(law)
    notes = law.notes()
    if notes:
        lines += ([] if lines[-1] == "" or fit_warnings(law) else [""]) + notes
    if law.allocates_compute:
        lines += ["", compute_optimal_table(law, budgets)]
    return "\n".join(lines)


def calibration_line(law) -> str:
    """The error model of the calibrated intervals in words (scaling.calibration)."""
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
    """Warnings about the fit, in the names of the report's table."""
    out = []
    if not law.converged_:
        out.append(f"WARNING: the optimizer did not converge ({law.message_}); "
                   "treat the parameters as unreliable")
    for fit_name in law.at_bound_:
        name = law.reported_name(fit_name)
        low, high = law.reported_range(fit_name, law.theta_)
        out.append(f"WARNING: {name} = {_number(law.params_[name])} ended on a bound of its "
                   f"range [{low:.4g}, {high:.4g}]; the data do not pin it down (or the law does "
                   "not fit them)")
    level = f"{100 * law.confidence:g}%"
    for name in getattr(law, "outside_interval_", []):
        low, high = law.intervals_[name]
        out.append(f"WARNING: {name} = {_number(law.params_[name])} lies outside its own {level} "
                   f"interval [{_number(low)}, {_number(high)}]: the bootstrap refits disagree "
                   "with the fit (a biased or many-moded fit); read that interval with care")
    return [""] + out if out else []


def table(header, rows, right=()) -> str:
    """Columns padded to their widest cell; columns named in `right` are right-aligned."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]

    def line(cells):
        return "  ".join(f"{str(c):>{w}}" if h in right else f"{str(c):<{w}}"
                         for c, w, h in zip(cells, widths, header)).rstrip()

    return "\n".join([line(header), *(line(row) for row in rows)])


def has_intervals(law) -> bool:
    """Whether the fit has bootstrap intervals (else its tables have no interval columns)."""
    return len(law.bootstrap_theta_) > 0


def _with_interval(point, lower, upper) -> str:
    return _number(point) + ("" if not np.isfinite(lower)
                             else f" [{_number(lower)}, {_number(upper)}]")


def compute_optimal_table(law, budgets=COMPUTE_BUDGETS) -> str:
    """The law's compute-optimal allocation at each budget: every quantity it returns (its
    inputs, the target, and anything else it allocates), with intervals."""
    allocation = law.compute_optimal(np.asarray(budgets, float))
    level = f"{100 * law.confidence:g}%"
    keys = list(allocation)
    header = ("FLOPs", *(law.allocation_labels.get(key, key) for key in keys))
    rows = [(f"{flops:.3g}", *(_with_interval(*(v[k] for v in allocation[key])) for key in keys))
            for k, flops in enumerate(budgets)]
    heading = f"compute-optimal allocation ({law.compute_formula})" + \
        (f", {level} intervals" if has_intervals(law) else "")
    return heading + "\n" + table(header, rows, right=("FLOPs",))


def prediction_table(law, **values) -> str:
    """Predictions with the law's interval and the interval for one run's measured value."""
    level = f"{100 * law.confidence:g}%"
    inputs = law.broadcast_inputs(values)
    predicted, law_low, law_high = law.predict_interval(kind="law", **inputs)
    _, run_low, run_high = law.predict_interval(kind="run", **inputs)
    names = list(inputs)
    header = (*names, law.target, f"{level} law interval", f"{level} run interval")
    rows = [(*(f"{inputs[n][k]:.4g}" for n in names), _number(predicted[k]),
             _interval(law_low[k], law_high[k]), _interval(run_low[k], run_high[k]))
            for k in range(len(predicted))]
    if not has_intervals(law):                  # no bootstrap: no interval columns
        header, rows = header[:-2], [row[:-2] for row in rows]
    return table(header, rows, right=(*names, law.target))


def backtest_report(record: dict, law_inputs) -> str:
    """A backtest record (`scaling.backtest.backtest`) as text: relative errors in percent,
    absolute errors (linear-space targets) in the target's units."""
    relative = record.get("error_kind", "relative") == "relative"
    key, label = ("rel_error", "rel err") if relative else ("error", "error")

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
             *((_interval(np.nan if r["lower"] is None else r["lower"], r["upper"]),)
               if intervals else ()),
             f"{100 * r[key]:+.2f}%" if relative else f"{r[key]:+.4f}",
             _decades(r.get("distance"))) for r in record["test"]]
    lines.append(table(header, rows, right=(*law_inputs, "actual", "predicted", label,
                                            "beyond")))
    lines += ["", f"mean absolute {'relative ' if relative else ''}error "
                  f"{size(record['mean_abs_' + key])}"]
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


def _decades(value) -> str:
    """Distance beyond the fitted data: "-" inside it, else in decades."""
    if value is None or not np.isfinite(value) or value <= 0:
        return "-"
    return f"{value:.2f} dec"


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
