"""The fit every law shares: `fit_law(law, runs, ...)`, what `Law.fit` calls, returns a new `Fit`
(`scaling.engine.fit`).

Objective: multi-start L-BFGS-B of the Huber loss in the law's residual space
(`scaling.engine.fitting`), one problem per step of a chained law (`Law.problems`); the
bootstrap resamples runs (or blocks of curves) once for every problem; calibration
(`scaling.engine.calibration`) refits splits of the data to learn how the error grows beyond it.
The law is copied first: the caller's law is never changed, so one law fits twice.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd

from scaling.data.evaluations import anchors
from scaling.data.prepare import Problem, distinct_positive, prepare_where
from scaling.engine import fitting
from scaling.engine import reach as geometry
from scaling.engine.calibration import calibrate as learn_errors
from scaling.engine.fit import Fit
from scaling.engine.seeds import seed_scatter
from scaling.errors import ScalingError


def fit_law(law, runs, *, where: str | None = None, lr_file=None, bootstrap: int = 1000,
            seed: int = 0, n_jobs: int | None = None, calibrate: bool = True,
            noise_floor: float = 0.0) -> Fit:
    """Fit `law` to a run table (or `PreparedRuns`); returns a new `Fit` (the law is copied:
    the caller's law is not changed). See `Law.fit`."""
    fitting.check_bootstrap(bootstrap)
    if seed < 0:
        raise ScalingError(f"--seed must be 0 or more, got {seed}")
    law = copy.deepcopy(law)           # the fit's own (a law's prepare may settle a setting)
    data = prepare_where(law, runs, where, lr_file) if where else law.prepare(runs, lr_file)
    problems = law.problems(data)
    fit = Fit(law, data)
    with fitting.one_blas_thread():
        solutions = [fitting.minimize(p.model, p.inputs, p.target, delta=p.model.delta,
                                      n_polish=p.model.n_polish,
                                      extra_starts=p.model.extra_starts())
                     for p in problems]
    fit.theta_ = np.concatenate([solution.theta for solution in solutions])
    fit.params_ = fit.reported_values(fit.theta_)
    fit.objective_ = float(sum(solution.objective for solution in solutions))
    fit.converged_ = all(solution.converged for solution in solutions)
    fit.message_ = "; ".join(dict.fromkeys(solution.message for solution in solutions))
    fit.at_bound_ = fitting.at_bounds(law, fit.theta_)
    fit.n_points_ = sum(len(p.points) for p in problems)
    fit.n_runs_ = int(pd.concat([p.points["run"][~anchors(p.points)]
                                 for p in problems]).nunique())
    fit.n_starts_ = sum(solution.n_candidates for solution in solutions)
    fit.data_ = {"source": data.source, "where": " and ".join(data.where) or None,
                 "n_rows": len(data.frame)}
    if data.lr_sources is not None:
        fit.data_["lr_sources"] = data.lr_sources_of_rows()
    if law.rows != "all" and data.cut_runs:   # read as if they ended there: a warning
        fit.data_["cut_runs"] = data.cut_runs
    fit.residuals_ = law.fit_residuals(fit.theta_, problems)
    fit.fitted_range_ = geometry.fitted_range(
        geometry.coordinate_values(law, pd.concat([p.points for p in problems]),
                                   data.lr_histories), law.scales)
    fit.n_values_ = distinct_values(problems)
    fit.extras_ = law.fit_extras(pd.concat([p.points for p in problems]))
    fit.bootstrap_theta_ = np.empty((0, len(law.parameters)))
    fit.bootstrap_seed_ = seed
    if bootstrap:
        groups, strata = law.bootstrap_groups(problems, data.source)
        weights = fitting.resample_weights(groups, bootstrap, seed, strata)
        parts, offset = [], 0
        with fitting.one_blas_thread():
            for problem, solution in zip(problems, solutions):
                columns = weights[:, offset:offset + len(problem.points)]
                offset += len(problem.points)
                parts.append(fitting.refit(problem.model, problem.inputs, problem.target,
                                           columns, delta=problem.model.delta,
                                           start=solution.theta, n_jobs=n_jobs))
        fit.bootstrap_theta_ = np.hstack(parts)
    fit.intervals_, fit.standard_errors_ = fit.parameter_intervals()
    fit.outside_interval_ = fit.points_outside_intervals()
    fit.seed_scatter_ = measured_seed_scatter(law, data)
    fit.calibration_ = None
    if calibrate:
        floor = noise_floor
        if fit.seed_scatter_ is not None:      # repeated seeds: a new run scatters so
            floor = max(floor, fit.seed_scatter_["sigma"])
        with fitting.one_blas_thread():
            fit.calibration_ = learn_errors(fit, data, noise_floor=floor, seed=seed)
    return fit


def distinct_values(problems: list[Problem]) -> dict[str, int]:
    """{power input: its fewest distinct values over the problems that read it} (warnings: a
    power law needs a few sizes beyond the three a fit accepts, `scaling.engine.diagnostics`)."""
    out: dict[str, int] = {}
    for problem in problems:
        for column in problem.model.power_inputs:
            if column in problem.points:
                count = len(distinct_positive(problem.points[column]))
                out[column] = min(out.get(column, count), count)
    return out


def measured_seed_scatter(law, data) -> dict | None:
    """{"sigma", "dof", "n_groups"} of the run-to-run scatter of the law's target between runs
    that differ only in their seed (`scaling.engine.seeds`), in the law's residual space; None
    when the fitted rows repeat no seed (or cannot tell which runs are otherwise identical)."""
    try:
        scatter = seed_scatter(data.frame, law.target, space=law.space)
    except ScalingError:
        return None
    if not scatter.dof or not math.isfinite(scatter.sigma):
        return None
    return {"sigma": float(scatter.sigma), "dof": int(scatter.dof),
            "n_groups": int(scatter.n_groups)}
