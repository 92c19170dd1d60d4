"""Reading a fit file back (`scaling.output.fit_file`: its format, and writing it sealed), with
every field checked; `read_record` and `from_record` (which `Fit.load` calls) are the way in.

Loading checks: a known format; finite numbers; parameters and samples inside the law's bounds;
at least 20 samples, or none; intervals and standard errors that the samples give; each point
inside its interval, unless the fit itself found it outside (`outside_interval`, a warning of
its report). Any failure is one line naming the field.

The seal (`scaling.output.fit_file.seal`) is checked before anything else (`check_seal`): a
field edited, added or removed after the fit is a one-line error naming it. A file without a
seal loads only as hand-written constants: the fields a person can state (`HANDWRITTEN`: the
law, its settings, parameters and extras, as `data/vocabulary/tao2024-fit.json` holds the
published ones), with no interval and no fitted range; one that holds anything a fit derives
from its data (fit files written before the seal, or with the seal removed) is refused, with
the advice to refit.

Reading is guarded as a class: JSON nested deeper than `MAX_DEPTH`, an integer too large for a
float (`10**400`), a top-level field of the wrong type (`"law": [...]`), and any field that
fails to convert are one-line errors naming the field, never a RecursionError, OverflowError or
TypeError.
"""

from __future__ import annotations

import math
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from scaling.errors import ScalingError
from scaling.data.json_input import read_json
from scaling.engine.calibration import ErrorModel
from scaling.engine.fitting import MIN_BOOTSTRAP, at_bounds
from scaling.output.fit_file import FIT_FORMAT, READABLE_FORMATS, SEAL, digest

RELATIVE = 1e-9                 # a value read back must match what it is derived from
MAX_DEPTH = 32                  # a fit file nests 5 deep; JSON deeper than this is no fit file
# What a hand-written (unsealed) fit file may hold: what a person can state, as a paper does.
HANDWRITTEN = ("format", "law", "target", "space", "rows", "params", "theta", "settings",
               "extras", "objective", "converged", "n_points", "n_runs", "message", "data")
NUMBER, INTEGER, NULL = "number", "integer", type(None)
# Every top-level field a fit file may hold: (its JSON types, what the error says it expects).
FIELDS = {
    "format": ((INTEGER,), "an integer"),
    "law": ((str,), "a law's name"),
    "target": ((str,), "a column name"),
    "space": ((str,), "log or linear"),
    "rows": ((str,), "final or all"),
    "params": ((dict,), "an object of parameters"),
    "theta": ((dict,), "an object of parameters"),
    "intervals": ((dict,), "an object of [low, high]"),
    "standard_errors": ((dict,), "an object of numbers"),
    "outside_interval": ((list,), "a list of names"),
    "objective": ((NUMBER,), "a number"),
    "n_points": ((INTEGER,), "an integer"),
    "n_runs": ((INTEGER,), "an integer"),
    "converged": ((bool,), "true or false"),
    "message": ((str,), "text"),
    "at_bound": ((list,), "a list of names"),
    "settings": ((dict,), "an object"),
    "data": ((dict, NULL), "an object"),
    "fitted_range": ((dict,), "an object of [smallest, largest]"),
    "seed_scatter": ((dict, NULL), "an object or null"),
    "n_values": ((dict,), "an object of counts"),
    "extras": ((dict,), "an object"),
    "calibration": ((dict, NULL), "an object or null"),
    "residuals": ((list, NULL), "a list of finite numbers or null"),
    "bootstrap": ((dict,), "an object with n, seed and samples"),
    "warnings": ((list,), "a list"),
    SEAL: ((dict,), 'an object {"sha256": {field: digest}}'),
}
# What converting a malformed field can raise; reading turns each into a one-line error.
MALFORMED = (TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError,
             ZeroDivisionError, RecursionError)


def read_record(path) -> dict:
    """The record of a fit file: JSON (guarded: nesting, huge integers), an object with a
    `law` name and a readable `format`, or a one-line error naming the file."""
    path = Path(path)
    if not path.exists():
        raise ScalingError(f"{path}: no such fit file")
    record = read_json(path, "a fit file", MAX_DEPTH)
    if not isinstance(record, dict) or "law" not in record:
        raise ScalingError(f"{path}: not a fit file (no 'law' field)")
    if not isinstance(record["law"], str):
        raise ScalingError(f"{path}: law: expected a law's name, got {_show(record['law'])}")
    version = record.get("format")
    if not _is_integer(version) or version not in READABLE_FORMATS:
        raise ScalingError(f"{path}: fit format {version!r}, but this version of scaling reads "
                           f"formats {', '.join(map(str, READABLE_FORMATS))} (it writes "
                           f"{FIT_FORMAT}); refit, or use the scaling version that wrote it")
    return record


# -- the seal --------------------------------------------------------------------------------

def check_seal(record: dict) -> bool:
    """Whether the record is sealed (True) or hand-written (False); a field edited, added or
    removed after the fit, or an unsealed record that holds what only a fit derives, is a
    one-line error naming the fields."""
    if SEAL not in record:
        derived = [name for name in record if name not in HANDWRITTEN and name in FIELDS]
        unknown = [name for name in record if name not in FIELDS]
        if unknown:
            raise ScalingError(f"unknown field {unknown[0]!r} (a fit file's fields: "
                               f"{', '.join(FIELDS)})")
        if derived:
            raise ScalingError(
                f"no seal, but {_names(derived)} derived from a fit's data: a fit file written "
                "before scaling sealed its fit files, or one whose seal was removed, cannot show "
                "they were not edited; refit it (scaling fit ... --out), or keep only "
                f"{', '.join(HANDWRITTEN)} to load it as hand-written constants (no intervals)")
        return False
    block = record[SEAL]
    digests = block.get("sha256") if isinstance(block, dict) else None
    if (not isinstance(digests, dict) or set(block) != {"sha256"}
            or not all(isinstance(v, str) and len(v) == 64 for v in digests.values())):
        raise ScalingError(f"seal: expected {FIELDS[SEAL][1]} of 64-digit hex digests, got "
                           f"{_show(block)}")
    fields = [name for name in record if name != SEAL]
    edited = [n for n in fields if n in digests and digest(record[n]) != digests[n]]
    added = [n for n in fields if n not in digests]
    removed = [n for n in digests if n not in record]
    if edited or added or removed:
        parts = [f"{_names(names, verb)}" for names, verb in
                 ((edited, "edited"), (added, "added"), (removed, "removed")) if names]
        advice = "remove it" if not edited and not removed else "restore it"
        raise ScalingError(f"{' and '.join(parts)} after the fit (the file's seal, a SHA-256 of "
                           f"each field, does not match): refit (scaling fit ... --out), or "
                           f"{advice} as the fit wrote it")
    return True


def _names(names, verb=None) -> str:
    """"field 'a' was edited" / "fields 'a' and 'b' were edited" (verb None: "... are")."""
    quoted = [repr(n) for n in names]
    listed = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]
    plural = len(quoted) > 1
    if verb is None:
        return f"field{'s' if plural else ''} {listed} {'are' if plural else 'is'}"
    return f"field{'s' if plural else ''} {listed} {'were' if plural else 'was'} {verb}"


# -- reading guarded -------------------------------------------------------------------------

def _check_depth(record: dict) -> None:
    """No deeper than MAX_DEPTH (walked without recursion)."""
    stack = [(record, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ScalingError(f"nested deeper than {MAX_DEPTH} levels: not a fit file scaling "
                               "wrote")
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, (list, tuple)):
            stack.extend((v, depth + 1) for v in value)


def _check_types(record: dict) -> None:
    """Every top-level field of its JSON type."""
    for name, value in record.items():
        if name not in FIELDS:
            continue
        kinds, what = FIELDS[name]
        if not any(_is_integer(value) if kind == INTEGER else
                   (_is_real(value) if kind == NUMBER else
                    isinstance(value, kind) and not (kind is not bool and isinstance(value, bool)))
                   for kind in kinds):
            raise ScalingError(f"{name}: expected {what}, got {_show(value)}")


@contextmanager
def _field(name: str):
    """Conversion failures of a field (a wrong type deep inside it) as one line naming it."""
    try:
        yield
    except ScalingError:
        raise
    except MALFORMED as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ScalingError(f"{name}: malformed ({_show(detail)})") from None



def from_record(cls, record: dict, fit_class):
    """A fit of a law of class `cls` from a fit file's record (formats 1-3), every field
    checked, as a `fit_class` (`scaling.engine.fit.Fit`, which calls this: given, not imported,
    since it imports this module); `ScalingError`s name the field (the caller adds the file)."""
    if not isinstance(record, dict):
        raise ScalingError(f"expected a fit file's record (an object), got {_show(record)}")
    _check_depth(record)
    check_seal(record)
    _check_types(record)
    with _field("settings"):
        settings = record.get("settings", {})
        law = cls(**settings)
    for field in ("target", "space", "rows"):
        if field in record and record[field] != getattr(law, field):
            raise ScalingError(f"{field}: {record[field]!r}, but the {law.name} law with these "
                               f"settings has {getattr(law, field)!r}")
    version = record.get("format")
    fit = fit_class(law)
    with _field("params"):
        if version == 3:
            fit.theta_ = _point(law, _numbers(record.get("params"), "params",
                                              law.reported_names))
        else:
            fit.theta_ = _old_point(law, record)
        fit.params_ = _reported_values(law, fit.theta_)
    fit.objective_ = _number(record, "objective", low=0.0)
    fit.converged_ = _boolean(record, "converged")
    fit.message_ = str(record.get("message", ""))
    fit.at_bound_ = at_bounds(law, fit.theta_)
    _check_at_bound(fit, record.get("at_bound"))
    fit.n_points_ = _count(record, "n_points")
    fit.n_runs_ = _count(record, "n_runs") if "n_runs" in record else fit.n_points_
    fit.n_starts_ = None
    fit.data_ = record.get("data") or {}
    fit.residuals_ = _residuals(record.get("residuals"))
    fit.fitted_range_ = _fitted_range(law, record.get("fitted_range", {}))
    fit.seed_scatter_ = _seed_scatter(record.get("seed_scatter"))
    fit.n_values_ = _n_values(record.get("n_values", {}))
    with _field("extras"):
        fit.extras_ = law.load_extras(record.get("extras", {}))
    fit.calibration_ = None
    if record.get("calibration") is not None:
        with _field("calibration"):
            fit.calibration_ = ErrorModel.from_dict(record["calibration"])
    with _field("bootstrap"):
        fit.bootstrap_theta_, fit.bootstrap_seed_ = _bootstrap(law, record.get("bootstrap"),
                                                               version)
    with _field("bootstrap"):
        fit.intervals_, fit.standard_errors_ = fit.parameter_intervals()
        fit.outside_interval_ = fit.points_outside_intervals()
    with _field("intervals"):
        _check_derived(fit, record)
    return fit


def _reported_values(law, theta) -> dict[str, float]:
    values = law.reported(np.atleast_2d(theta))
    return {name: float(values[name][0]) for name in law.reported_names}


def _check_at_bound(fit, given) -> None:
    """The file's `at_bound` (for a reader; recomputed) names the parameters on a bound."""
    if given is None:
        return
    bound = [fit.law.reported_name(name) for name in fit.at_bound_]
    if sorted(map(str, given)) != sorted(bound):
        raise ScalingError(f"at_bound: {_show(given)}, but the parameters put "
                           f"{', '.join(bound) or 'none'} on a bound of their range; refit, or "
                           "remove at_bound to recompute it")


# -- the point -------------------------------------------------------------------------------

def _point(law, values: dict) -> np.ndarray:
    """Fit-space vector of the reported values, inside the law's bounds."""
    with np.errstate(all="ignore"):
        theta = law.fit_space({name: np.array([value]) for name, value in values.items()})[0]
    _check_theta(law, theta, values, "params")
    return theta


def _old_point(law, record) -> np.ndarray:
    """Formats 1-2: the fit-space `theta` (what `predict` read), which must agree with the
    `params` a reader saw."""
    fit_names = [p.name for p in law.parameters]
    theta = np.array([v for v in _numbers(record.get("theta"), "theta", fit_names).values()])
    values = _reported_values(law, theta)
    _check_theta(law, theta, values, "theta")
    if "params" in record:
        shown = _numbers(record["params"], "params", law.reported_names)
        for name, value in shown.items():
            if not math.isclose(value, values[name], rel_tol=RELATIVE, abs_tol=1e-300):
                raise ScalingError(
                    f"params.{name} = {value:g}, but theta gives {name} = {values[name]:g}: the "
                    f"file was edited in one place and not the other (format {record['format']} "
                    "kept both); refit, or make them agree")
    return theta


def _check_theta(law, theta, values, field) -> None:
    """Finite and inside the bounds, or an error naming the reported parameter."""
    tolerance = 1e-9
    for k, parameter in enumerate(law.parameters):
        span = tolerance * max(1.0, parameter.upper - parameter.lower)
        value = theta[k]
        if np.isfinite(value) and parameter.lower - span <= value <= parameter.upper + span:
            continue
        name = law.reported_name(parameter.name)
        low, high = law.reported_range(parameter.name, theta)
        shown = values.get(name, value) if field == "params" else value
        label = f"params.{name}" if field == "params" else f"theta.{parameter.name} ({name})"
        raise ScalingError(f"{label} = {_show(shown)} is outside the {law.name} law's range "
                           f"[{low:.4g}, {high:.4g}] for {name}")


# -- the bootstrap ---------------------------------------------------------------------------

def _bootstrap(law, block, version):
    """(samples as fit-space vectors (K, P), seed) from the bootstrap block."""
    width = len(law.parameters)
    if block is None or block == {}:
        return np.empty((0, width)), 0
    if not isinstance(block, dict):
        raise ScalingError(f"bootstrap: expected an object with n, seed and samples, got "
                           f"{_show(block)}")
    n = _count(block, "n", "bootstrap.n", low=0)
    seed = _count(block, "seed", "bootstrap.seed", low=0) if "seed" in block else 0
    key = "samples" if version == 3 else "theta"
    rows = block.get(key, [])
    if not isinstance(rows, list) or len(rows) != n:
        count = len(rows) if isinstance(rows, list) else _show(rows)
        raise ScalingError(f"bootstrap.{key}: expected a list of n = {n} samples, got {count}")
    if 0 < n < MIN_BOOTSTRAP:
        raise ScalingError(f"bootstrap.n = {n}: intervals need at least {MIN_BOOTSTRAP} "
                           "resamples; refit with --bootstrap 20 or more, or remove the "
                           "bootstrap block to predict without intervals")
    if n == 0:
        return np.empty((0, width)), seed
    names = list(law.reported_names) if version == 3 else [p.name for p in law.parameters]
    if version == 3 and block.get("names", names) != names:
        raise ScalingError(f"bootstrap.names: {_show(block.get('names'))}, but the {law.name} "
                           f"law's parameters are {', '.join(names)}")
    samples = np.empty((n, len(names)))
    for k, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != len(names) or not all(_is_number(v)
                                                                             for v in row):
            raise ScalingError(f"bootstrap.{key}[{k}]: expected {len(names)} finite numbers "
                               f"({', '.join(names)}), got {_show(row)}")
        samples[k] = row
    if version != 3:
        theta = samples
    else:
        with np.errstate(all="ignore"):
            theta = law.fit_space({name: samples[:, j] for j, name in enumerate(names)})
    for k, row in enumerate(theta):
        try:
            _check_theta(law, row, dict(zip(names, samples[k])) if version == 3 else {},
                         "params" if version == 3 else "theta")
        except ScalingError as exc:
            raise ScalingError(f"bootstrap.{key}[{k}]: {exc}") from None
    return theta, seed


# -- what is derived -------------------------------------------------------------------------

def _check_derived(fit, record) -> None:
    """The file's intervals and standard errors are the samples', and every point lies inside
    its interval unless the fit itself found it outside."""
    intervals = record.get("intervals")
    if intervals is not None:
        if not isinstance(intervals, dict):
            raise ScalingError(f"intervals: expected an object, got {_show(intervals)}")
        if set(intervals) != set(fit.intervals_):
            raise ScalingError("intervals: they are for " + (", ".join(intervals) or "none")
                               + ", but the bootstrap samples give intervals for "
                               + (", ".join(fit.intervals_) or "none")
                               + "; remove the intervals to recompute them")
        for name, (low, high) in fit.intervals_.items():
            given = intervals[name]
            if (not isinstance(given, list) or len(given) != 2
                    or not all(_is_number(v) for v in given)
                    or not all(math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-300)
                               for a, b in zip(given, (low, high)))):
                raise ScalingError(f"intervals.{name}: {_show(given)}, but the bootstrap samples "
                                   f"give [{low:.6g}, {high:.6g}]; remove the intervals to "
                                   "recompute them")
    flagged = record.get("outside_interval", [])
    if not isinstance(flagged, list):
        raise ScalingError(f"outside_interval: expected a list of names, got {_show(flagged)}")
    for name in fit.outside_interval_:
        if name not in flagged:
            low, high = fit.intervals_[name]
            raise ScalingError(
                f"params.{name} = {fit.params_[name]:.6g} lies outside its interval "
                f"[{low:.6g}, {high:.6g}] from the bootstrap samples: the parameters were "
                "edited after the fit; refit, or remove the bootstrap block (and the "
                "intervals) to predict from edited parameters without intervals")


# -- fields ----------------------------------------------------------------------------------

def _is_real(value) -> bool:
    """A JSON number (not a boolean) that a float holds (NaN and infinities included)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return not isinstance(value, int) or abs(value) <= sys.float_info.max


def _is_integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return _is_real(value) and math.isfinite(value)


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _numbers(block, field, names) -> dict:
    """{name: finite number} for exactly `names`, from a JSON object."""
    if not isinstance(block, dict):
        raise ScalingError(f"{field}: expected an object of {', '.join(names)}, got "
                           f"{_show(block)}")
    missing = [n for n in names if n not in block]
    unknown = [n for n in block if n not in names]
    if missing or unknown:
        what = f"missing {missing[0]!r}" if missing else f"unknown parameter {unknown[0]!r}"
        raise ScalingError(f"{field}: {what} (the law's: {', '.join(names)})")
    for name in names:
        if not _is_number(block[name]):
            raise ScalingError(f"{field}.{name}: not a finite number ({_show(block[name])})")
    return {name: float(block[name]) for name in names}


def _number(record, field, low=-math.inf) -> float:
    value = record.get(field)
    if not _is_number(value) or value < low:
        raise ScalingError(f"{field}: expected a finite number"
                           + (f" >= {low:g}" if low > -math.inf else "") + f", got {_show(value)}")
    return float(value)


def _count(record, field, label=None, low=1) -> int:
    value = record.get(field)
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ScalingError(f"{label or field}: expected an integer >= {low}, got {_show(value)}")
    return value


def _boolean(record, field) -> bool:
    value = record.get(field)
    if not isinstance(value, bool):
        raise ScalingError(f"{field}: expected true or false, got {_show(value)}")
    return value


def _fitted_range(law, block) -> dict:
    """{scale column: [smallest, largest]} of the fitted data (empty in files before it), for
    the law's scale columns only."""
    if not isinstance(block, dict):
        raise ScalingError(f"fitted_range: expected an object of [smallest, largest], got "
                           f"{_show(block)}")
    known = dict.fromkeys([*law.scales, *law.columns, *law.read_columns])
    out = {}
    for name, pair in block.items():
        if name not in known:
            raise ScalingError(f"fitted_range.{name}: not a column the {law.name} law reads "
                               f"({', '.join(known) or 'none'})")
        if (not isinstance(pair, list) or len(pair) != 2 or not all(_is_number(v) for v in pair)
                or not 0 < pair[0] <= pair[1]):
            raise ScalingError(f"fitted_range.{name}: expected [smallest, largest], positive "
                               f"and in order, got {_show(pair)}")
        out[str(name)] = [float(pair[0]), float(pair[1])]
    return out


def _seed_scatter(block):
    """{"sigma", "dof", "n_groups"} of repeated seeds, or None."""
    if block is None:
        return None
    if (not isinstance(block, dict) or not _is_number(block.get("sigma"))
            or block["sigma"] < 0 or not isinstance(block.get("dof"), int)
            or block["dof"] < 1 or not isinstance(block.get("n_groups"), int)):
        raise ScalingError(f"seed_scatter: expected {{sigma ≥ 0, dof ≥ 1, n_groups}}, got "
                           f"{_show(block)}")
    return {"sigma": float(block["sigma"]), "dof": block["dof"], "n_groups": block["n_groups"]}


def _n_values(block) -> dict:
    """{power input: distinct values in the fitted data} (empty in files before it)."""
    if not isinstance(block, dict):
        raise ScalingError(f"n_values: expected an object of counts, got {_show(block)}")
    for name, count in block.items():
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise ScalingError(f"n_values.{name}: expected an integer >= 1, got {_show(count)}")
    return {str(name): count for name, count in block.items()}


def _residuals(values):
    if values is None:
        return None
    if not isinstance(values, list) or not all(_is_number(v) for v in values):
        raise ScalingError(f"residuals: expected a list of finite numbers, got {_show(values)}")
    return np.asarray(values, float)
