"""Approach 3 of Hoffmann et al.'s compute-optimal allocation (`scaling.analysis.approaches`):
the parametric fit.

`approach3`: the `chinchilla` law fitted to final losses;
a = β/(α+β), b = α/(α+β), k_N = G·6^(−a), k_D = 6^(−b)/G with G = (αA/(βB))^(1/(α+β)).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from scaling.analysis.approaches import Approach, allocation_laws, check_level, unit_warnings
from scaling.engine.diagnostics import cut_run_warnings
from scaling.laws import get_law


def chinchilla_allocation(values: dict) -> np.ndarray:
    """(K, 4) log k_N, a, log k_D, b from the chinchilla law's reported parameters (arrays)."""
    A, B = np.asarray(values["A"], float), np.asarray(values["B"], float)
    alpha, beta = np.asarray(values["alpha"], float), np.asarray(values["beta"], float)
    with np.errstate(all="ignore"):
        log_g = (np.log(alpha * A) - np.log(beta * B)) / (alpha + beta)
        a, b = beta / (alpha + beta), alpha / (alpha + beta)
        return np.stack([log_g - a * np.log(6.0), a, -b * np.log(6.0) - log_g, b], axis=-1)


def approach3(runs, where: str | None = None, bootstrap: int = 0, seed: int = 0,
              n_jobs: int | None = None, level: float = 0.95) -> Approach:
    """Approach 3: the chinchilla law fitted to the runs' final rows (with its bootstrap)."""
    check_level(level)
    fit = get_law("chinchilla", confidence=level).fit(
        runs, where=where, bootstrap=bootstrap, seed=seed, n_jobs=n_jobs, calibrate=False)
    point = chinchilla_allocation({k: [v] for k, v in fit.params_.items()})[0]
    samples = None
    if len(fit.bootstrap_theta_):
        samples = chinchilla_allocation(fit.law.reported(fit.bootstrap_theta_))
        samples = samples[np.isfinite(samples).all(axis=1)]
    params_law, tokens_law = allocation_laws(point, samples, level)
    warnings = unit_warnings(runs, str(runs.attrs.get("source", "run table"))) \
        if isinstance(runs, pd.DataFrame) else []
    if not fit.converged_:
        warnings.append(f"the chinchilla fit did not converge: {fit.message_}")
    if fit.at_bound_:
        warnings.append(f"the chinchilla fit ends on a bound: {', '.join(fit.at_bound_)}")
    warnings += [w["message"] for w in cut_run_warnings(fit)]
    failed = bootstrap - (0 if samples is None else len(samples)) if bootstrap else 0
    return Approach(3, params_law, tokens_law, [], [], warnings, fit.n_runs_, bootstrap, failed,
                    level, samples,
                    {"fit": {k: float(v) for k, v in fit.params_.items()},
                     "where": fit.data_.get("where")})
