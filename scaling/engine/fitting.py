"""The fitting engine that every law uses.

Objective (Hoffmann et al. 2022, approach 3; Besiroglu et al. 2024):

    J(θ) = Σ_i w_i · Huber_δ( z(y_i) − z(ŷ_i(θ)) ),   Huber_δ(r) = ½r²       if |r| ≤ δ
                                                                δ(|r| − ½δ) otherwise

where z is the law's residual space: z = log for positive losses (the papers' choice), z = the
identity for targets that can be ≤ 0 or are bounded (unigram-normalised losses, accuracies).
δ = 1e-3 by default and w_i = 1 (bootstrap resamples become integer weights). It is minimised
by bounded L-BFGS-B with the analytic gradient that each law supplies, from many starting points:

1. Candidates. Every point of the law's start grid, evaluated in one vectorised pass. Where the law
   is linear in some coefficients once its exponents are fixed (ŷ = Σ_k c_k φ_k(x; exponents),
   c_k ≥ 0 unless the law declares them signed), the engine uses variable projection instead: it
   walks only the grid of the exponents and solves the coefficients in closed form (weighted
   least squares with the sign constraints, in relative error for log space, exact for small
   residuals, and in plain error for linear space), so a dense exponent grid costs milliseconds.
2. Polish. The best `n_polish` distinct candidates go to L-BFGS-B; the lowest objective wins
   and is restarted until a restart no longer lowers it.

A model (a law, `scaling.laws.base.Law`) is a tuple of `Parameter`s (fit-space names, bounds,
start grid), `predict_theta` and `predict_theta_grad` (the prediction in its residual space and
its Jacobian, over a batch of parameter vectors), its `space`, and the optional abilities the
base class declares: `linear_parameters` with `linear_basis` and `with_coefficients` (variable
projection), `search_inputs` (a cheap approximate objective) and `bootstrap_search`. Bootstrap
refits resample runs with replacement and run in parallel over cores, seeded so that the result
does not depend on the number of workers.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy.optimize import OptimizeResult
from scipy.optimize import minimize as scipy_minimize
from threadpoolctl import threadpool_limits

from scaling.errors import ScalingError

DEFAULT_DELTA = 1e-3
ALWAYS = "\0always"        # a bootstrap group label: rows every resample keeps once (an anchor
#                             point of a law, like the ideal model of the task law's step 2)
MIN_BOOTSTRAP = 20          # fewer resamples give no interval: a 95% percentile interval of
#                             fewer than 20 samples is just their extremes (of 1: a point)
CONFIRMED_GRADIENT = 1e-6   # an exact projected gradient this small confirms an optimum
LOSS_CLIP = 1e-12           # laws whose formula can go to or below 0 (the LR-schedule laws
#                             subtract an annealing term) fit the log of max(value, LOSS_CLIP); a
#                             prediction at that clip is a loss ≤ 0 by the formula, which
#                             `Fit.predict_inputs` returns as NaN (tables print "-";
#                             `scaling.engine.diagnostics` warns)
PROJECTION_ELEMENTS = 2**21  # variable projection solves a block of grid points at a time
#                             whose (points, rows, coefficients) arrays hold at most this many


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


def objective(model, theta, inputs, target, delta=DEFAULT_DELTA, weights=None):
    """J for a batch of parameter vectors theta (S, P), the target in the model's residual
    space: returns (S,)."""
    residual = target - model.predict_theta(np.atleast_2d(theta), inputs)
    losses = huber(residual, delta)
    return (losses if weights is None else losses * weights).sum(axis=-1)


def objective_and_gradient(model, theta, inputs, target, delta=DEFAULT_DELTA, weights=None):
    """J and dJ/dθ for a batch theta (S, P): returns (S,) and (S, P)."""
    prediction, jacobian = model.predict_theta_grad(np.atleast_2d(theta), inputs)
    residual = target - prediction
    losses, slopes = huber(residual, delta), huber_derivative(residual, delta)
    if weights is not None:
        losses, slopes = losses * weights, slopes * weights
    return losses.sum(axis=-1), -np.einsum("sn,snp->sp", slopes, jacobian)


# -- starting points ---------------------------------------------------------------------------

def grid_starts(model) -> np.ndarray:
    """Every combination of the parameters' grids, (S, P)."""
    return np.array(list(itertools.product(*(p.grid for p in model.parameters))), dtype=float)


def projected_starts(model, inputs, target, weights=None, stride=1) -> np.ndarray:
    """Variable projection: walk the grid of the non-linear parameters, solve the rest.

    For each exponent combination, the coefficients c of ŷ = Σ_k c_k φ_k minimise
    Σ_i w_i (1 − ŷ_i / y_i)² in log space (the small-residual form of the log objective) and
    Σ_i w_i (y_i − ŷ_i)² in linear space. Coefficients are > 0 except those the law declares
    signed (`signed_linear_parameters`); the constraint is exact: every subset of basis
    functions is solved and the best feasible one kept.
    """
    linear = list(model.linear_parameters)
    grids = [p.grid[::stride] if p.name not in linear else (0.0,) for p in model.parameters]
    theta = np.array(list(itertools.product(*grids)), dtype=float)
    # a block of the grid at a time: the (S, n, K) arrays stay under PROJECTION_ELEMENTS
    per_point = len(np.asarray(target)) * len(linear)
    blocks = np.array_split(theta, max(1, -(-len(theta) * per_point // PROJECTION_ELEMENTS)))
    return np.vstack([_project(model, block, inputs, target, weights) for block in blocks])


def _project(model, theta, inputs, target, weights) -> np.ndarray:
    """`projected_starts` for one block of grid points theta (S, P)."""
    linear = list(model.linear_parameters)
    basis = model.linear_basis(theta, inputs)                     # (S, n, K)
    target = np.asarray(target, float)
    root_weights = np.ones_like(target) if weights is None else np.sqrt(weights)
    if model.space == "log":
        scale = np.exp(-target) * root_weights                     # rows divided by y_i
        response = root_weights
    else:
        scale = root_weights
        response = target * root_weights
    design = basis * scale[None, :, None]
    n_basis = design.shape[2]
    positive = np.array([name not in model.signed_linear_parameters for name in linear])
    # the normal equations of every subset are sub-blocks of one Gram matrix G = DᵀD and one
    # b = Dᵀr, and at the solution of G c = b a subset's squared error is r·r − c·b: the
    # (S, n, K) design is read twice, not once per subset
    with np.errstate(all="ignore"):
        gram_all = design.transpose(0, 2, 1) @ design               # (S, K, K)
        rhs_all = response @ design                                 # (S, K)
    total = float(response @ response)
    best_error = np.full(len(theta), np.inf)
    best_coefs = np.zeros((len(theta), n_basis))
    for size in range(1, n_basis + 1):
        for subset in itertools.combinations(range(n_basis), size):
            chosen = list(subset)
            gram = gram_all[:, chosen][:, :, chosen]
            rhs = rhs_all[:, chosen]
            ridge = 1e-12 * np.einsum("skk->s", gram)[:, None, None] * np.eye(size)
            with np.errstate(all="ignore"):
                try:
                    coefs = np.linalg.solve(gram + ridge, rhs[..., None])[..., 0]
                except np.linalg.LinAlgError:
                    coefs = np.einsum("skl,sl->sk", np.linalg.pinv(gram), rhs)
                error = total - np.einsum("sk,sk->s", coefs, rhs)
            feasible = (np.all((coefs > 0) | ~positive[chosen], axis=1)
                        & np.isfinite(error) & (error < best_error))
            best_error = np.where(feasible, error, best_error)
            full = np.zeros((len(theta), n_basis))
            full[:, subset] = coefs
            best_coefs[feasible] = full[feasible]
    return clip_to_bounds(model, model.with_coefficients(theta, best_coefs))


def clip_to_bounds(model, theta):
    lower = np.array([p.lower for p in model.parameters])
    upper = np.array([p.upper for p in model.parameters])
    return np.clip(theta, lower, upper)


def candidate_starts(model, inputs, target, weights=None, stride=1) -> np.ndarray:
    """Variable-projection starts where the law allows it, else its full start grid."""
    if model.linear_parameters:
        return projected_starts(model, inputs, target, weights, stride)
    return grid_starts(model)


# -- optimisation ------------------------------------------------------------------------------

def minimize(model, inputs, target, *, delta=DEFAULT_DELTA, weights=None, starts=None,
             extra_starts=None, n_polish=8, grid_stride=1, ftol=1e-15, max_iter=2000,
             max_restarts=3, exact=True) -> Solution:
    """Multi-start bounded L-BFGS-B on the Huber objective; see the module docstring. `target`
    is in the model's residual space (log y for `space = "log"`).

    `starts` replaces the candidate grid; `extra_starts` are polished in addition to the best
    `n_polish` candidates; `grid_stride` thins the exponent grid (the bootstrap uses 2).
    A law whose exact objective is expensive returns a cheaper approximation of its inputs from
    `search_inputs(inputs)` (the base class returns the inputs themselves): the grid and the
    multi-start polish run on it and the winner is polished again on the exact inputs (unless
    `exact=False`, as in bootstrap refits).
    """
    target_z = np.asarray(target, dtype=float)
    search = model.search_inputs(inputs)
    candidates = candidate_starts(model, search, target_z, weights, grid_stride) \
        if starts is None \
        else np.atleast_2d(np.asarray(starts, dtype=float))
    scores = np.concatenate([objective(model, chunk, search, target_z, delta, weights)
                             for chunk in np.array_split(candidates, max(1, len(candidates) // 512))])
    scores = np.where(np.isfinite(scores), scores, np.inf)
    chosen = _distinct_best(candidates, scores, n_polish)
    if extra_starts is not None:
        chosen = np.vstack([np.atleast_2d(extra_starts), chosen])
    bounds = [(p.lower, p.upper) for p in model.parameters]

    def polish(start, data, target=target_z):
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

    def restarted(best, data, target=target_z):
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
        best = _exact_polish(model, best, inputs, search, target_z, polish, restarted)
    return Solution(
        theta=np.asarray(best.x, dtype=float),
        objective=float(best.fun),
        converged=_converged(best),
        message=str(best.message),
        at_bound=at_bounds(model, best.x),
        n_candidates=len(candidates),
    )


def _exact_polish(model, best, inputs, search, target_z, polish, restarted):
    """From the optimum of the approximate inputs to the optimum of the exact ones.

    Deferred correction: shift the target by the approximation's error at the current answer,
    z(ŷ_exact(θ)) − z(ŷ_search(θ)) in the residual space z, and re-polish on the cheap inputs;
    the error's change with θ is tiny, so two or three rounds reach the exact optimum up to
    second-order terms, at one exact evaluation a round. The exact objective's gradient there
    confirms it: when the rounds have converged and its projected gradient is below
    CONFIRMED_GRADIENT (the size `_converged` accepts at an optimum), the answer stands;
    otherwise a last L-BFGS-B polish on the exact inputs goes on from it. (That polish, started
    at an optimum of a flat objective, spent up to 50 exact evaluations on line searches that
    cannot see a decrease below rounding.)"""
    theta, step = best.x, np.inf
    for _ in range(4):
        offset = (model.predict_theta(theta[None, :], inputs)[0]
                  - model.predict_theta(theta[None, :], search)[0])
        moved = restarted(polish(theta, search, target_z - offset), search,
                          target_z - offset)
        step = np.max(np.abs(moved.x - theta) / (1.0 + np.abs(theta)))
        theta = moved.x
        if step < 1e-8:
            break
    value, gradient = objective_and_gradient(model, theta[None, :], inputs, target_z)
    projected = projected_gradient(model, theta, gradient[0])
    if step < 1e-8 and np.max(np.abs(projected)) < CONFIRMED_GRADIENT:
        return OptimizeResult(x=theta, fun=float(value[0]), jac=gradient[0], success=True,
                              nit=0, nfev=1, message="CONVERGENCE: DEFERRED CORRECTION, "
                              f"EXACT PROJECTED GRADIENT {np.max(np.abs(projected)):.1e}")
    return restarted(polish(theta, inputs, target_z), inputs, target_z)


def projected_gradient(model, theta, gradient) -> np.ndarray:
    """The gradient with the components that push out of an active bound set to zero."""
    lower = np.array([p.lower for p in model.parameters])
    upper = np.array([p.upper for p in model.parameters])
    blocked = ((theta <= lower) & (gradient > 0)) | ((theta >= upper) & (gradient < 0))
    return np.where(blocked, 0.0, gradient)


def _converged(result) -> bool:
    # L-BFGS-B stops on a tiny relative reduction or projected gradient; a line search that
    # cannot improve at an optimum of a piecewise-quadratic objective counts as converged when
    # the projected gradient is small.
    if result.success:
        return True
    return "ABNORMAL" in str(result.message) and np.max(np.abs(result.jac)) < CONFIRMED_GRADIENT


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

def check_bootstrap(n_resamples, option: str = "--bootstrap") -> int:
    """0 (no intervals) or at least MIN_BOOTSTRAP resamples; a one-line error otherwise."""
    if n_resamples < 0:
        raise ScalingError(f"{option} must be 0 or more, got {n_resamples}")
    if 0 < n_resamples < MIN_BOOTSTRAP:
        raise ScalingError(f"{option} {n_resamples}: intervals need at least {MIN_BOOTSTRAP} "
                           f"resamples (a percentile interval of {n_resamples} is only their "
                           f"extremes); give {option} {MIN_BOOTSTRAP} or more, or 0 for none")
    return n_resamples


def resample_weights(groups, n_resamples, seed, strata=None) -> np.ndarray:
    """(K, n) integer row weights: each resample draws the groups (runs) with replacement.

    With `strata` (one label per row, constant within a group), each stratum's groups are drawn
    from that stratum only, so every stratum keeps its number of groups (curve blocks within
    their run, see `curve_blocks`). Rows labelled `ALWAYS` have weight 1 in every resample."""
    groups = np.asarray(groups).astype(str)
    always = groups == ALWAYS
    if always.any():                 # anchors: weight 1 in every resample, never drawn
        out = np.ones((n_resamples, len(groups)))
        out[:, ~always] = resample_weights(groups[~always], n_resamples, seed,
                                           None if strata is None
                                           else np.asarray(strata)[~always])
        return out
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


def bootstrap(model, inputs, target_z, groups, *, n_resamples, seed=0, delta=DEFAULT_DELTA,
              start=None, n_polish=1, n_jobs=None, strata=None) -> np.ndarray:
    """Refit on `n_resamples` resamples of `groups` (runs, or curve blocks within `strata`);
    returns the (K, P) fitted parameter vectors. `resample_weights` and `refit` in one call."""
    weights = resample_weights(groups, n_resamples, seed, strata)
    return refit(model, inputs, target_z, weights, delta=delta, start=start, n_polish=n_polish,
                 n_jobs=n_jobs)


def refit(model, inputs, target_z, weights, *, delta=DEFAULT_DELTA, start=None, n_polish=1,
          n_jobs=None) -> np.ndarray:
    """One refit per row of `weights` (K, n), the bootstrap's resamples; returns (K, P).

    Each refit polishes the full-data optimum `start` and the `n_polish` best starts of its own
    resample (exponent grid at stride 2; only `start` for laws with `bootstrap_search = False`).
    The weights are drawn up front (`resample_weights`), so results do not depend on `n_jobs`
    (default: every core); a chained law refits each step on its columns of the same draws.
    """
    n_resamples = len(weights)
    n_jobs = max(1, min(n_jobs or os.cpu_count() or 1, n_resamples))
    job = (model, inputs, np.asarray(target_z, float), delta, start, n_polish)
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
    threadpool_limits(1)


def one_blas_thread():
    """A context in which BLAS runs on one thread. The engine's linear algebra is tiny (L-BFGS-B
    on a handful of parameters), where BLAS threads only spin: on a loaded 2-core machine a
    multi-power fit took 24.7 s with them and 2.5 s without."""
    return threadpool_limits(1, user_api="blas")


def _refit_many(job, weights) -> np.ndarray:
    model, inputs, target_z, delta, start, n_polish = job
    out = np.empty((len(weights), len(model.parameters)))
    search = model.bootstrap_search
    for k, row_weights in enumerate(weights):
        solution = minimize(model, inputs, target_z, delta=delta, weights=row_weights,
                            extra_starts=start if search else None,
                            starts=None if search else start, n_polish=n_polish,
                            grid_stride=2, exact=False)
        out[k] = solution.theta
    return out
