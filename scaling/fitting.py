"""The fitting engine that every law uses.

Objective (Hoffmann et al. 2022, approach 3; Besiroglu et al. 2024):

    J(θ) = Σ_i w_i · Huber_δ( log y_i − log ŷ_i(θ) ),   Huber_δ(r) = ½r²       if |r| ≤ δ
                                                                  δ(|r| − ½δ) otherwise

with δ = 1e-3 by default and w_i = 1 (bootstrap resamples become integer weights). It is minimised
by bounded L-BFGS-B with the analytic gradient that each law supplies, from many starting points:

1. Candidates. Every point of the law's start grid, evaluated in one vectorised pass. Where the law
   is linear in some coefficients once its exponents are fixed (ŷ = Σ_k c_k φ_k(x; exponents),
   c_k ≥ 0), the engine uses variable projection instead: it walks only the grid of the exponents
   and solves the coefficients in closed form (weighted non-negative least squares in relative
   error, exact for small residuals), so a dense exponent grid costs milliseconds.
2. Polish. The best `n_polish` distinct candidates go to L-BFGS-B; the lowest objective wins
   and is restarted until a restart no longer lowers it.

A law is a `Model`: a tuple of `Parameter`s (fit-space names, bounds, start grid), `log_predict`
and `log_predict_grad` over a batch of parameter vectors, and optionally `linear_basis` and
`with_coefficients` for variable projection. Bootstrap refits resample runs with replacement and run
in parallel over cores, seeded so that the result does not depend on the number of workers.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize as scipy_minimize

DEFAULT_DELTA = 1e-3


@dataclass(frozen=True)
class Parameter:
    """One fit-space parameter: its bounds for L-BFGS-B and the values its start grid walks."""

    name: str
    lower: float
    upper: float
    grid: tuple[float, ...]


@dataclass
class Solution:
    """The best optimum found by `minimize`."""

    theta: np.ndarray          # fit-space parameter vector
    objective: float           # J at theta
    converged: bool            # L-BFGS-B reported convergence for the winning start
    message: str               # its message
    at_bound: list[str]        # names of parameters that ended on a bound
    n_candidates: int          # starting points scored


# -- objective ---------------------------------------------------------------------------------

def huber(residual, delta=DEFAULT_DELTA):
    """Huber loss, identical to scipy.special.huber(delta, residual)."""
    size = np.abs(residual)
    return np.where(size <= delta, 0.5 * residual ** 2, delta * (size - 0.5 * delta))


def huber_derivative(residual, delta=DEFAULT_DELTA):
    return np.clip(residual, -delta, delta)


def objective(model, theta, inputs, target_log, delta=DEFAULT_DELTA, weights=None):
    """J for a batch of parameter vectors theta (S, P): returns (S,)."""
    residual = target_log - model.log_predict(np.atleast_2d(theta), inputs)
    losses = huber(residual, delta)
    return (losses if weights is None else losses * weights).sum(axis=-1)


def objective_and_gradient(model, theta, inputs, target_log, delta=DEFAULT_DELTA, weights=None):
    """J and dJ/dθ for a batch theta (S, P): returns (S,) and (S, P)."""
    log_prediction, jacobian = model.log_predict_grad(np.atleast_2d(theta), inputs)
    residual = target_log - log_prediction
    losses, slopes = huber(residual, delta), huber_derivative(residual, delta)
    if weights is not None:
        losses, slopes = losses * weights, slopes * weights
    return losses.sum(axis=-1), -np.einsum("sn,snp->sp", slopes, jacobian)


# -- starting points ---------------------------------------------------------------------------

def grid_starts(model) -> np.ndarray:
    """Every combination of the parameters' grids, (S, P)."""
    return np.array(list(itertools.product(*(p.grid for p in model.parameters))), dtype=float)


def projected_starts(model, inputs, target_log, weights=None, stride=1) -> np.ndarray:
    """Variable projection: walk the grid of the non-linear parameters, solve the rest.

    For each exponent combination, the coefficients c ≥ 0 of ŷ = Σ_k c_k φ_k minimise
    Σ_i w_i (1 − ŷ_i / y_i)², the small-residual form of the log-space objective. Non-negativity
    is exact: every subset of basis functions is solved and the best feasible one kept.
    """
    linear = set(model.linear_parameters)
    grids = [p.grid[::stride] if p.name not in linear else (0.0,) for p in model.parameters]
    theta = np.array(list(itertools.product(*grids)), dtype=float)
    basis = model.linear_basis(theta, inputs)                     # (S, n, K)
    scale = np.exp(-np.asarray(target_log))
    if weights is not None:
        scale = scale * np.sqrt(weights)
    design = basis * scale[None, :, None]                          # rows divided by y_i
    response = np.ones_like(scale) if weights is None else np.sqrt(weights)
    n_basis = design.shape[2]
    best_error = np.full(len(theta), np.inf)
    best_coefs = np.zeros((len(theta), n_basis))
    for size in range(1, n_basis + 1):
        for subset in itertools.combinations(range(n_basis), size):
            columns = design[:, :, subset]                         # (S, n, k)
            gram = np.einsum("snk,snl->skl", columns, columns)
            rhs = np.einsum("snk,n->sk", columns, response)
            ridge = 1e-12 * np.einsum("skk->s", gram)[:, None, None] * np.eye(size)
            with np.errstate(all="ignore"):
                try:
                    coefs = np.linalg.solve(gram + ridge, rhs[..., None])[..., 0]
                except np.linalg.LinAlgError:
                    coefs = np.einsum("skl,sl->sk", np.linalg.pinv(gram), rhs)
                fitted = np.einsum("snk,sk->sn", columns, coefs)
                error = ((response - fitted) ** 2).sum(axis=1)
            feasible = np.all(coefs > 0, axis=1) & np.isfinite(error) & (error < best_error)
            best_error = np.where(feasible, error, best_error)
            full = np.zeros((len(theta), n_basis))
            full[:, subset] = coefs
            best_coefs[feasible] = full[feasible]
    return clip_to_bounds(model, model.with_coefficients(theta, best_coefs))


def clip_to_bounds(model, theta):
    lower = np.array([p.lower for p in model.parameters])
    upper = np.array([p.upper for p in model.parameters])
    return np.clip(theta, lower, upper)


def candidate_starts(model, inputs, target_log, weights=None, stride=1) -> np.ndarray:
    """Variable-projection starts where the law allows it, else its full start grid."""
    if getattr(model, "linear_parameters", ()):
        return projected_starts(model, inputs, target_log, weights, stride)
    return grid_starts(model)


# -- optimisation ------------------------------------------------------------------------------

def minimize(model, inputs, target_log, *, delta=DEFAULT_DELTA, weights=None, starts=None,
             extra_starts=None, n_polish=8, grid_stride=1, ftol=1e-15, max_iter=2000,
             max_restarts=3, exact=True) -> Solution:
    """Multi-start bounded L-BFGS-B on the Huber-in-log objective; see the module docstring.

    `starts` replaces the candidate grid; `extra_starts` are polished in addition to the best
    `n_polish` candidates; `grid_stride` thins the exponent grid (the bootstrap uses 2).
    A law whose exact objective is expensive may define `search_inputs(inputs)`, a cheaper
    approximation of its inputs: the grid and the multi-start polish run on it and the winner
    is polished again on the exact inputs (unless `exact=False`, as in bootstrap refits).
    """
    target_log = np.asarray(target_log, dtype=float)
    search = model.search_inputs(inputs) if hasattr(model, "search_inputs") else inputs
    candidates = candidate_starts(model, search, target_log, weights, grid_stride) \
        if starts is None \
        else np.atleast_2d(np.asarray(starts, dtype=float))
    scores = np.concatenate([objective(model, chunk, search, target_log, delta, weights)
                             for chunk in np.array_split(candidates, max(1, len(candidates) // 512))])
    scores = np.where(np.isfinite(scores), scores, np.inf)
    chosen = _distinct_best(candidates, scores, n_polish)
    if extra_starts is not None:
        chosen = np.vstack([np.atleast_2d(extra_starts), chosen])
    bounds = [(p.lower, p.upper) for p in model.parameters]

    def polish(start, data, target=target_log):
        def fun(theta):
            value, gradient = objective_and_gradient(model, theta[None, :], data, target,
                                                     delta, weights)
            if not np.isfinite(value[0]):
                return 1e300, np.zeros_like(theta)
            return float(value[0]), gradient[0]

        with np.errstate(all="ignore"):
            return scipy_minimize(fun, start, jac=True, method="L-BFGS-B", bounds=bounds,
                                  options={"maxiter": max_iter, "ftol": ftol, "gtol": 1e-12,
                                           "maxls": 50})

    def restarted(best, data, target=target_log):
        # L-BFGS-B can stop early on a kink of the Huber objective (where residuals cross ±δ):
        # restarting from its answer drops the stale curvature memory and goes on downhill.
        for _ in range(max_restarts):
            again = polish(best.x, data, target)
            if not again.fun < best.fun - 1e-13 * abs(best.fun):
                break
            best = again
        return best

    results = [polish(start, search) for start in chosen]
    best = restarted(results[int(np.argmin([r.fun for r in results]))], search)
    if exact and search is not inputs:
        best = _exact_polish(model, best, inputs, search, target_log, polish, restarted)
    return Solution(
        theta=np.asarray(best.x, dtype=float),
        objective=float(best.fun),
        converged=_converged(best),
        message=str(best.message),
        at_bound=at_bounds(model, best.x),
        n_candidates=len(candidates),
    )


def _exact_polish(model, best, inputs, search, target_log, polish, restarted):
    """From the optimum of the approximate inputs to the optimum of the exact ones.

    Deferred correction: shift the target by the approximation's error at the current answer,
    log ŷ_exact(θ) − log ŷ_search(θ), and re-polish on the cheap inputs; the error's change with
    θ is tiny, so two or three rounds reach the exact optimum up to second-order terms, at one
    exact evaluation a round. A last L-BFGS-B polish on the exact inputs confirms it."""
    theta = best.x
    for _ in range(4):
        offset = (model.log_predict(theta[None, :], inputs)[0]
                  - model.log_predict(theta[None, :], search)[0])
        moved = restarted(polish(theta, search, target_log - offset), search,
                          target_log - offset)
        step = np.max(np.abs(moved.x - theta) / (1.0 + np.abs(theta)))
        theta = moved.x
        if step < 1e-8:
            break
    return restarted(polish(theta, inputs, target_log), inputs, target_log)


def _converged(result) -> bool:
    # L-BFGS-B stops on a tiny relative reduction or projected gradient; a line search that
    # cannot improve at an optimum of a piecewise-quadratic objective counts as converged when
    # the projected gradient is small.
    if result.success:
        return True
    return "ABNORMAL" in str(result.message) and np.max(np.abs(result.jac)) < 1e-6


def at_bounds(model, theta, tolerance=1e-6) -> list[str]:
    names = []
    for parameter, value in zip(model.parameters, theta):
        span = tolerance * max(1.0, parameter.upper - parameter.lower)
        if value <= parameter.lower + span or value >= parameter.upper - span:
            names.append(parameter.name)
    return names


def _distinct_best(candidates, scores, count):
    """Indices of the `count` best candidates, skipping near-duplicates of ones already taken."""
    order = np.argsort(scores, kind="stable")
    chosen: list[np.ndarray] = []
    for index in order:
        if not np.isfinite(scores[index]):
            break
        candidate = candidates[index]
        if any(np.allclose(candidate, other, rtol=1e-3, atol=1e-3) for other in chosen):
            continue
        chosen.append(candidate)
        if len(chosen) == count:
            break
    if not chosen:  # every candidate was non-finite: start from the middle of the grid
        chosen.append(candidates[len(candidates) // 2])
    return np.array(chosen)


# -- bootstrap ---------------------------------------------------------------------------------

def resample_weights(groups, n_resamples, seed, strata=None) -> np.ndarray:
    """(K, n) integer row weights: each resample draws the groups (runs) with replacement.

    With `strata` (one label per row, constant within a group), each stratum's groups are drawn
    from that stratum only, so every stratum keeps its number of groups (curve blocks within
    their run, see `curve_blocks`)."""
    codes, uniques = _codes(groups)
    rng = np.random.default_rng(seed)
    counts = np.zeros((n_resamples, len(uniques)))
    rows = np.arange(n_resamples)[:, None]
    if strata is None:
        draws = rng.integers(0, len(uniques), size=(n_resamples, len(uniques)))
        np.add.at(counts, (rows, draws), 1)
        return counts[:, codes]
    stratum_of_group = np.empty(len(uniques), dtype=object)
    stratum_of_group[codes] = np.asarray(strata).astype(str)
    for stratum in sorted(set(stratum_of_group)):
        members = np.flatnonzero(stratum_of_group == stratum)
        draws = members[rng.integers(0, len(members), size=(n_resamples, len(members)))]
        np.add.at(counts, (rows, draws), 1)
    return counts[:, codes]


def curve_blocks(runs, steps, n_blocks: int = 10) -> np.ndarray:
    """Labels "run#b" cutting each run's rows, in step order, into `n_blocks` contiguous blocks.

    For laws fitted to whole curves: resampling whole runs when there are two or three of them
    gives degenerate refits (a resample of one curve twice cannot see the others' schedules), and
    resampling single rows ignores that a curve's deviations from a law are correlated over
    many steps. Blocks of consecutive rows resampled within each run (a block bootstrap) keep
    every schedule in every refit and keep the correlation inside each block."""
    runs = np.asarray(runs).astype(str)
    labels = np.empty(len(runs), dtype=object)
    for run in np.unique(runs):
        rows = np.flatnonzero(runs == run)
        rows = rows[np.argsort(np.asarray(steps)[rows], kind="stable")]
        block = np.arange(len(rows)) * min(n_blocks, len(rows)) // len(rows)
        labels[rows] = [f"{run}#{b}" for b in block]
    return labels


def _codes(groups):
    uniques, codes = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    return codes, uniques


def bootstrap(model, inputs, target_log, groups, *, n_resamples, seed=0, delta=DEFAULT_DELTA,
              start=None, n_polish=1, n_jobs=None, strata=None) -> np.ndarray:
    """Refit on `n_resamples` resamples of `groups` (runs, or curve blocks within `strata`);
    returns the (K, P) fitted parameter vectors.

    Each refit polishes the full-data optimum `start` and the `n_polish` best starts of its own
    resample (exponent grid at stride 2; only `start` for laws with `bootstrap_search = False`).
    Resamples are drawn up front from `seed`, so results do not depend on `n_jobs` (default:
    every core).
    """
    weights = resample_weights(groups, n_resamples, seed, strata)
    n_jobs = max(1, min(n_jobs or os.cpu_count() or 1, n_resamples))
    job = (model, inputs, np.asarray(target_log, float), delta, start, n_polish)
    if n_jobs == 1 or n_resamples < 8:
        return _refit_many(job, weights)
    chunks = np.array_split(weights, n_jobs * 4)
    context = multiprocessing.get_context("fork" if "fork" in
                                          multiprocessing.get_all_start_methods() else "spawn")
    with ProcessPoolExecutor(n_jobs, mp_context=context, initializer=_one_blas_thread) as pool:
        parts = list(pool.map(_refit_many, [job] * len(chunks), chunks))
    return np.vstack(parts)


def _one_blas_thread():
    # A forked worker inherits BLAS's thread pool; n workers × n BLAS threads on n cores spin
    # against each other (measured: 4.6x slower on 2 cores). One thread per worker.
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def one_blas_thread():
    """A context in which BLAS runs on one thread. The engine's linear algebra is tiny (L-BFGS-B
    on a handful of parameters), where BLAS threads only spin: on a loaded 2-core machine a
    multi-power fit took 24.7 s with them and 2.5 s without."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, user_api="blas")


def _refit_many(job, weights) -> np.ndarray:
    model, inputs, target_log, delta, start, n_polish = job
    out = np.empty((len(weights), len(model.parameters)))
    search = getattr(model, "bootstrap_search", True)
    for k, row_weights in enumerate(weights):
        solution = minimize(model, inputs, target_log, delta=delta, weights=row_weights,
                            extra_starts=start if search else None,
                            starts=None if search else start, n_polish=n_polish,
                            grid_stride=2, exact=False)
        out[k] = solution.theta
    return out
