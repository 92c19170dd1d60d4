"""The fit file (`scaling fit --out FIT.json`, reloaded by `scaling predict`): its format, and
writing a fit as a sealed record; reading it back, every field checked, is
`scaling.output.fit_file_reading`'s.

Format 3 keeps each fact once. The parameters are in `params`, under the names of the report's
table (E, A, B, alpha, beta); the bootstrap's refits are in `bootstrap.samples` under the same
names (`bootstrap.names`). Everything else about them is derived and recomputed on loading:
`intervals`, `standard_errors` and `at_bound` are there for a reader of the file, and loading
checks that they still agree with `params` and the samples, so an edit to one of them is an
error, never a value silently ignored. (Formats 1 and 2 also kept the fit-space `theta`, which
`predict` read while a reader saw `params`; they still load when the two agree.)

`warnings` (`scaling.engine.diagnostics`: {"code", "severity", "message", ...}) are the fit's warnings
and, for laws that allocate compute, those of its allocation at the report's budgets: written for
a reader, recomputed on loading (never read back). `n_values` (distinct values of each power
input in the fitted data) is what the few-values warning needs of the data. `extras` is what a
law learns from its fitted rows beside its parameters (`Law.fit_extras`: the vocabulary law's
tokens per character and its approaches 1 and 2), checked by the law on loading; files without
it load with none.

The seal. Most of what a fit learns cannot be recomputed without its data (the calibration's
error model, the fitted range, the residuals, the bootstrap refits), so a hand edit of them
would pass every check of loading and change the answers: zeroed `z_quantiles` give a zero-width
interval, a widened `fitted_range` marks an extrapolation as inside. `to_record` therefore
seals the record: `seal.sha256` holds the SHA-256 of each top-level field's canonical JSON
(sorted keys, no spaces: `digest`), and loading checks it before anything else
(`scaling.output.fit_file_reading.check_seal`); a field edited, added or removed after the fit
is a one-line error naming it. The seal guards against edits by mistake, not against forgery
(anyone can recompute it): the field checks of loading stand behind it.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

from scaling.engine import diagnostics
from scaling.output.prediction_tables import COMPUTE_BUDGETS

FIT_FORMAT = 3                  # 3: parameters only under the report's names (no `theta`)
READABLE_FORMATS = (1, 2, 3)    # what `load_fit` reads
SEAL = "seal"                   # {"sha256": {field: hex digest of its canonical JSON}}


def to_record(fit) -> dict:
    """A fit (`scaling.engine.fit.Fit`) as the JSON-ready dict of format 3."""
    names = list(fit.reported_names)
    samples = fit.reported(fit.bootstrap_theta_) if len(fit.bootstrap_theta_) else {}
    record = {
        "format": FIT_FORMAT,
        "law": fit.name,
        "target": fit.target,
        "space": fit.space,
        "rows": fit.rows,
        "params": fit.params_,
        "intervals": {k: list(v) for k, v in fit.intervals_.items()},
        "standard_errors": fit.standard_errors_,
        "outside_interval": list(fit.outside_interval_),
        "objective": fit.objective_,
        "n_points": fit.n_points_,
        "n_runs": fit.n_runs_,
        "converged": fit.converged_,
        "message": fit.message_,
        "at_bound": [fit.law.reported_name(name) for name in fit.at_bound_],
        "settings": fit.settings(),
        "data": fit.data_,
        "fitted_range": fit.fitted_range_,
        "seed_scatter": fit.seed_scatter_,
        "n_values": dict(fit.n_values_ or {}),
        "extras": dict(fit.extras_ or {}),
        "calibration": None if fit.calibration_ is None else fit.calibration_.to_dict(),
        "residuals": None if fit.residuals_ is None else np.asarray(fit.residuals_).tolist(),
        "bootstrap": {"n": len(fit.bootstrap_theta_), "seed": fit.bootstrap_seed_,
                      "names": names,
                      "samples": np.column_stack([samples[n] for n in names]).tolist()
                      if len(fit.bootstrap_theta_) else []},
        "warnings": warnings_of(fit),
    }
    return seal(record)


def warnings_of(fit) -> list[dict]:
    """The fit's warnings, and for a law that allocates compute those of its allocation at the
    report's budgets (`scaling.engine.diagnostics`): for a reader of the file; loading recomputes
    them."""
    out = diagnostics.fit_warnings(fit)
    if fit.allocates_compute:
        out += diagnostics.allocation_warnings(fit, COMPUTE_BUDGETS)
    return out


# -- the seal --------------------------------------------------------------------------------

def seal(record: dict) -> dict:
    """The record as it reads back from its JSON, with its seal: the SHA-256 of each top-level
    field's canonical JSON (any seal it had is replaced)."""
    body = json.loads(json.dumps({k: v for k, v in record.items() if k != SEAL}))
    return {**body, SEAL: {"sha256": {name: digest(value) for name, value in body.items()}}}


def digest(value) -> str:
    """The SHA-256 (hex) of a value's canonical JSON: sorted keys, no spaces, ASCII."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()
