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
    starts = f"; {law.n_starts_} starts" if law.n_starts_ else ""
    lines.append(f"objective {law.objective_:.6g} (sum of Huber, delta={law.delta:g}, on log loss)"
                 f"{starts}; {'converged' if law.converged_ else 'DID NOT CONVERGE'}")
    n_boot = len(law.bootstrap_theta_)
    lines.append(f"bootstrap {n_boot} resamples of runs (seed {law.bootstrap_seed_}), {level} "
                 "percentile intervals" if n_boot else "bootstrap none (use --bootstrap K for intervals)")
    if law.residuals_ is not None and len(law.residuals_):
        residuals = np.asarray(law.residuals_)
        lines.append(f"residuals log loss: RMS {np.sqrt(np.mean(residuals ** 2)):.4g}, "
                     f"max |r| {np.max(np.abs(residuals)):.4g}")
    lines += ["", f"{'parameter':<10} {'value':>12}   {level + ' interval':<26} {'std err':>10}"]
    for name in law.reported_names:
        low, high = law.intervals_.get(name, (np.nan, np.nan))
        error = law.standard_errors_.get(name, np.nan)
        lines.append(f"{name:<10} {_number(law.params_[name]):>12}   {_interval(low, high):<26} "
                     f"{_number(error):>10}")
    lines += warnings(law)
    if hasattr(law, "compute_optimal"):
        lines += ["", compute_optimal_table(law, budgets)]
    return "\n".join(lines)


def warnings(law) -> list[str]:
    out = []
    if not law.converged_:
        out.append(f"WARNING: the optimizer did not converge ({law.message_}); "
                   "treat the parameters as unreliable")
    bounds = {p.name: (p.lower, p.upper) for p in law.parameters}
    for name in law.at_bound_:
        low, high = bounds[name]
        out.append(f"WARNING: fit-space parameter {name!r} ended on its bound [{low:g}, {high:g}]; "
                   "the data do not pin it down (or the law does not fit them)")
    return [""] + out if out else []


def compute_optimal_table(law, budgets=COMPUTE_BUDGETS) -> str:
    allocation = law.compute_optimal(np.asarray(budgets, float))
    level = f"{100 * law.confidence:g}%"
    lines = [f"compute-optimal allocation (C = 6 N D), {level} intervals",
             f"{'FLOPs':>8}  {'params N':<30} {'tokens D':<30} {'tokens/param':<26} {'loss':<24}"]
    for k, flops in enumerate(budgets):
        cells = []
        for key, width in (("params", 30), ("tokens", 30), ("tokens_per_param", 26), ("loss", 24)):
            point, lower, upper = (v[k] for v in allocation[key])
            cell = _number(point) + ("" if not np.isfinite(lower)
                                     else f" [{_number(lower)}, {_number(upper)}]")
            cells.append(f"{cell:<{width}}")
        lines.append(f"{flops:>8.0e}  " + " ".join(cells))
    return "\n".join(lines)


def prediction_table(law, inputs: dict, predicted, lower, upper) -> str:
    level = f"{100 * law.confidence:g}%"
    names = list(inputs)
    lines = ["  ".join(f"{n:>12}" for n in names) + f"  {law.target:>10}  {level + ' interval':<24}"]
    for k in range(len(predicted)):
        lines.append("  ".join(f"{inputs[n][k]:>12.4g}" for n in names) +
                     f"  {_number(predicted[k]):>10}  {_interval(lower[k], upper[k]):<24}")
    return "\n".join(lines)


def backtest_report(record: dict, law_inputs) -> str:
    n_train = len(record["train_runs"])
    lines = [f"backtest {record['law']}: fit on {n_train} runs matching {record['train']!r}, "
             f"predict the final rows of {len(record['test'])} held-out runs", ""]
    header = (f"{'run':<20} " + " ".join(f"{n:>10}" for n in law_inputs) +
              f" {'actual':>9} {'predicted':>9}  {'interval':<22} {'rel err':>8}")
    lines.append(header)
    for row in record["test"]:
        lines.append(f"{str(row['run'])[:20]:<20} " +
                     " ".join(f"{row[n]:>10.4g}" for n in law_inputs) +
                     f" {row['actual']:>9.4f} {row['predicted']:>9.4f}  "
                     f"{_interval(row['lower'] if row['lower'] is not None else np.nan, row['upper']):<22}"
                     f" {100 * row['rel_error']:>+7.2f}%")
    lines += ["", f"mean absolute relative error {100 * record['mean_abs_rel_error']:.3f}%"]
    if record.get("coverage") is not None:
        lines.append(f"interval coverage {100 * record['coverage']:.0f}% of held-out runs "
                     "(intervals are for the fitted law, not for run-to-run noise)")
    return "\n".join(lines)
