"""The readable report of a fit (`scaling fit`, `Fit.summary`): its data, objective, bootstrap
and calibration, the parameters with their intervals, the warnings, the law's notes and, where
the law has one, the compute-optimal allocation at each budget
(`scaling.output.prediction_tables.compute_optimal_table`).
"""

from __future__ import annotations

import numpy as np

from scaling.engine import diagnostics
from scaling.output.format import format_number, interval, table
from scaling.output.prediction_tables import COMPUTE_BUDGETS, compute_optimal_table


def fit_report(fit, budgets=COMPUTE_BUDGETS) -> str:
    """Parameters with intervals, fit diagnostics, warnings and, where the law has one, the
    compute-optimal allocation at each budget."""
    level = f"{100 * fit.confidence:g}%"
    lines = [fit.title, f"  {fit.equation}", ""]
    data = fit.data_ or {}
    where = f" where {data['where']}" if data.get("where") else ""
    lines.append(f"data      {data.get('source', '?')}{where}: {fit.n_runs_} runs, "
                 f"{fit.n_points_} points")
    if data.get("lr_sources"):
        lines.append(f"LRs       {lr_sources_line(data['lr_sources'])}")
    starts = f"; {fit.n_starts_} starts" if fit.n_starts_ else ""
    lines.append(f"objective {fit.objective_:.6g} ({fit.objective_description}){starts}; "
                 f"{'converged' if fit.converged_ else 'DID NOT CONVERGE'}")
    n_boot = len(fit.bootstrap_theta_)
    what = "runs" if fit.bootstrap_unit == "runs" else "blocks of rows within each curve"
    lines.append(f"bootstrap {n_boot} resamples of {what} (seed {fit.bootstrap_seed_}), {level} "
                 "percentile intervals" if n_boot else
                 "bootstrap none (use --bootstrap K for parameter intervals)"
                 if getattr(fit, "calibration_", None) is not None else
                 "bootstrap none (use --bootstrap K for intervals)")
    scatter = getattr(fit, "seed_scatter_", None)
    if scatter:
        size = (f"{100 * scatter['sigma']:.2g}% of {fit.target}" if fit.space == "log"
                else f"{scatter['sigma']:.3g}")
        lines.append(f"seeds     repeated seeds scatter by {size} (pooled std, {scatter['dof']} "
                     f"dof, {scatter['n_groups']} groups): the calibrated intervals' floor")
    model = getattr(fit, "calibration_", None)
    if model is not None:
        lines.append(f"calibrated {calibration_line(fit)}")
    if fit.residuals_ is not None and len(fit.residuals_):
        residuals = np.asarray(fit.residuals_)
        lines.append(f"residuals {fit.residual_label}: RMS {np.sqrt(np.mean(residuals ** 2)):.4g}, "
                     f"max |r| {np.max(np.abs(residuals)):.4g}")
    if n_boot:
        rows = [(name, format_number(fit.params_[name]),
                 interval(*fit.intervals_[name], missing="(no bootstrap)"),
                 format_number(fit.standard_errors_[name])) for name in fit.reported_names]
        header = ("parameter", "value", f"{level} interval", "std err")
    else:                       # no bootstrap: no interval columns to head
        rows = [(name, format_number(fit.params_[name])) for name in fit.reported_names]
        header = ("parameter", "value")
    lines += ["", table(header, rows, right=("value", "std err"))]
    lines += fit_warnings(fit)
    notes = fit.law.notes(fit)
    if notes:
        lines += ([] if lines[-1] == "" or fit_warnings(fit) else [""]) + notes
    lines += fit.law.extras_report(fit)
    if fit.allocates_compute:
        lines += ["", compute_optimal_table(fit, budgets)]
    return "\n".join(lines)


def calibration_line(fit) -> str:
    """The error model of the calibrated intervals in words (scaling.engine.calibration)."""
    model = fit.calibration_
    relative = fit.space == "log"

    def size(value):
        return f"{100 * value:.2g}%" if relative else f"{value:.2g}"

    growth = ", ".join(f"+{size(slope)} per decade of {name}"
                       for name, slope in model.slopes.items()) or "no growth measured"
    unseen = [name for name in fit.fitted_range_ if name not in model.slopes]
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


def fit_warnings(fit) -> list[str]:
    """Warnings about the fit (`scaling.engine.diagnostics.fit_warnings`), in the names of the report's
    table, after a blank line (none: no lines)."""
    out = diagnostics.render(diagnostics.fit_warnings(fit))
    return [""] + out if out else []
