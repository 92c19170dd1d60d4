"""The law interface: what a law declares (`Law`), and its settings (`Setting`).

A law is a small class in one file under `scaling/laws/` (the registry finds it; see
`scaling.laws.registry`). It declares:

- `inputs` and `target`: the run-table columns it reads and the one it predicts (any column:
  `loss`, `loss_unigram`, `acc:<task>`, `loss:<task>`, or one it derives in `derive`);
- `space`: where its residuals live, "log" (positive losses: log y − log ŷ, the papers' choice)
  or "linear" (targets that can be ≤ 0 or are bounded, like accuracies: y − ŷ);
- `rows`: the rows it fits, "final" (one per run), "all" (every row: whole curves) or "both"
  (a chained law whose steps fit different rows, `scaling.laws.chain`);
- `settings_spec`: its settings (`Setting`s), which the CLI passes through
  (`scaling fit RUNS --law annealing --set decay=0.995`) and the fit JSON keeps;
- its fit-space `parameters` (bounds and start grid), `predict_theta` / `predict_theta_grad`
  (the prediction in its residual space for a batch of parameter vectors, and its Jacobian) and
  `reported` (the paper's parameters from fit-space vectors);
- the optional abilities below, each a class attribute with a default here, never discovered
  with `hasattr`: linear coefficients (variable projection), a cheap search objective
  (`search_inputs`), per-step learning rates (`uses_lr_histories`), compute-optimal allocation
  (`allocates_compute`), schedule prediction (`predicts_schedules`), the compute-optimal
  vocabulary (`optimizes_vocabulary`) and allocation under a data limit (`advises_data_limit`);
- optionally `aliases` (other names the registry knows it by), `positive_columns` (columns that
  must be > 0 where a table has them: one-line errors before any fit) and `extras`: what a law
  learns from its fitted rows beside its parameters (`fit_extras`, kept in the fit file's
  `extras` and checked on loading by `load_extras`, reported by `extras_report`).

A law holds no fitted values. `law.fit(runs)` returns a new `Fit` (`scaling.engine.fit`) that
holds a copy of the law, the data it saw and what the fit learned (names ending in `_`); the
hooks that read fitted values (`notes`, `law_warnings`, `unidentified_range`, `extras_report`,
`predict_schedule`, `optimal_vocab`, `data_limited`) take that Fit. Everything else is shared:
data preparation (`scaling.data.prepare`), the objective, multi-start L-BFGS-B, variable
projection and the bootstrap (`scaling.engine.fitting`), intervals, reach, reports and JSON
(`scaling.engine.fit`, `scaling.engine.reach`, `scaling.output`).

    from scaling.laws import get_law
    fit = get_law("chinchilla").fit(runs, bootstrap=1000)
    fit.params_["alpha"], fit.intervals_["alpha"], fit.predict(params=7e10, tokens=1.4e12)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import numpy as np
import pandas as pd

from scaling.data import prepare as preparation
from scaling.data import runs as run_tables
from scaling.data.prepare import PreparedRuns, Problem, distinct_positive, run_groups
from scaling.engine import fitting
from scaling.engine.fit import INTERVAL_KINDS, Fit
from scaling.engine.fit_procedure import fit_law
from scaling.engine.fitting import LOSS_CLIP, Parameter
from scaling.errors import ScalingError
from scaling.output.fit_file import FIT_FORMAT, READABLE_FORMATS

# the names laws and callers import from here
__all__ = ["BASE_SETTINGS", "FIT_FORMAT", "INTERVAL_KINDS", "LOSS_CLIP", "READABLE_FORMATS",
           "Fit", "Law", "Parameter", "PreparedRuns", "Problem", "Setting", "distinct_positive",
           "log_coefficients", "parse_settings", "run_groups"]


@dataclass(frozen=True)
class Setting:
    """One setting of a law: a constructor argument with a default, saved with the fit.

    `kind` converts a value given as text (`--set decay=0.995`); `check` returns a message when
    a value is out of range (None when it is fine); a `required` setting has no default and
    must be given before the law reads a table (e.g. the task of a task law)."""

    name: str
    default: Any
    help: str
    kind: type = float
    check: Callable[[Any], str | None] | None = None
    required: bool = False

    def parse(self, value, law_name: str):
        if value is None:
            return None
        try:
            if self.kind is bool and isinstance(value, str):
                if value.strip().lower() not in ("true", "false", "1", "0"):
                    raise ValueError(value)
                parsed = value.strip().lower() in ("true", "1")
            elif self.kind is int and isinstance(value, float) and value == int(value):
                parsed = int(value)
            else:
                parsed = self.kind(value)
        except (TypeError, ValueError):
            raise ScalingError(f"the {law_name} law's setting {self.name} must be "
                               f"{self.kind.__name__}, got {value!r}") from None
        problem = self.check(parsed) if self.check is not None else None
        if problem:
            raise ScalingError(f"the {law_name} law's setting {self.name} {problem}, "
                               f"got {value!r}")
        return parsed


def _positive(value):
    return None if value > 0 and math.isfinite(value) else "must be positive"


BASE_SETTINGS = (
    Setting("delta", fitting.DEFAULT_DELTA,
            "Huber threshold, in the units of the law's residual space", float, _positive),
    Setting("n_polish", 8, "starting points polished by L-BFGS-B", int, _positive),
    Setting("confidence", 0.95, "two-sided level of every interval", float,
            lambda v: None if 0 < v < 1 else "must be in (0, 1)"),
)


def parse_settings(items) -> dict[str, str]:
    """`["decay=0.995", ...]` (the CLI's `--set`) → `{"decay": "0.995"}`; laws convert the text."""
    settings: dict[str, str] = {}
    for item in items or ():
        name, sep, value = str(item).partition("=")
        if not sep or not name.strip() or not value.strip():
            raise ScalingError(f"bad --set {item!r}: expected NAME=VALUE (see `scaling laws` for "
                               "each law's settings)")
        key = name.strip().replace("-", "_")
        if key in settings and settings[key] != value.strip():   # the last does not win
            raise ScalingError(f"--set {key} given twice, {key}={settings[key]} and "
                               f"{key}={value.strip()}: give it once")
        settings[key] = value.strip()
    return settings


def log_coefficients(theta: np.ndarray, coefficients: np.ndarray, columns) -> np.ndarray:
    """A copy of fit-space vectors `theta` (S, P) whose `columns` hold the log of the solved
    coefficients (S, K): `with_coefficients` of a law whose linear parameters are log-scale
    (log 0 = −inf, which the engine clips to the parameter's bound)."""
    theta = theta.copy()
    with np.errstate(divide="ignore"):
        theta[:, list(columns)] = np.log(coefficients)
    return theta


class Law:
    """Base class: a law sets the class attributes and defines the three law methods below."""

    name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()    # other names `get_law` accepts
    title: ClassVar[str]                       # one line: the law and its paper
    equation: ClassVar[str]                    # the equation in plain text
    inputs: tuple[str, ...] = ()               # run-table columns the law reads as inputs
    target: str = "loss"                       # the column it predicts
    space: ClassVar[str] = "log"               # residual space: "log" or "linear"
    rows: ClassVar[str] = "final"              # "final", "all" or "both" (chained laws)
    target_range: ClassVar[tuple[float, float]] = (-math.inf, math.inf)  # e.g. (0, 1): accuracy
    power_inputs: ClassVar[tuple[str, ...]] = ()    # inputs under a power law: need ≥ 3 values
    derived_inputs: ClassVar[tuple[str, ...]] = ()  # inputs that `derive` computes
    extra_columns: ClassVar[tuple[str, ...]] = ()   # other columns `derive` reads
    positive_columns: ClassVar[tuple[str, ...]] = ()  # must be > 0 where present (`prepare`)
    parameters: ClassVar[tuple[Parameter, ...]]
    reported_names: ClassVar[tuple[str, ...]]
    reported_expressions: ClassVar[dict[str, str]] = {}  # reported name → lmfit expression
    settings_spec: ClassVar[tuple[Setting, ...]] = BASE_SETTINGS
    bootstrap_unit: ClassVar[str] = "runs"     # resampled: "runs" or "curve blocks" (in runs)
    # where a point is extrapolation (`scaling.engine.reach`): `scales`, below
    scale_columns: ClassVar[tuple[str, ...] | None] = None  # None: the power inputs, or `step`
    scale_inputs: ClassVar[tuple[str, ...]] = ()  # columns `scale_values` reads beside inputs
    one_sided_scales: ClassVar[tuple[str, ...]] = ()  # counted above the fitted range only
    uncalibrated_scales: ClassVar[tuple[str, ...]] = ()  # no slope of their own in the error
    #                      model (`ErrorModel.scale`): its steepest, beyond the fitted range
    floor_parameter: ClassVar[str | None] = None  # the irreducible loss (E, L0): below warns

    # -- optional abilities (a law that has one sets it and defines the methods it names) ------
    linear_parameters: ClassVar[tuple[str, ...]] = ()  # closed form (`linear_basis`, fitting.py)
    signed_linear_parameters: ClassVar[tuple[str, ...]] = ()  # of those, the ones of any sign
    bootstrap_search: ClassVar[bool] = True    # False: bootstrap refits only polish the fit
    uses_lr_histories: ClassVar[bool] = False  # reads the LR of every step (data/lr_history.py)
    derives_from_runs: ClassVar[bool] = False  # `derive` reads other rows of a run
    allocates_compute: ClassVar[bool] = False  # `compute_optimal_theta`, `training_compute`
    compute_formula: ClassVar[str] = ""        # the compute model it allocates, e.g. "C = 6 N D"
    allocation_labels: ClassVar[dict[str, str]] = {}  # column headers of its allocation table
    predicts_schedules: ClassVar[bool] = False  # `predict_schedule(fit, schedule)`: curves
    optimizes_vocabulary: ClassVar[bool] = False  # `optimal_vocab(fit, params_nonembed, width)`
    advises_data_limit: ClassVar[bool] = False  # `data_limited(fit, flops, unique_tokens)`

    def __init__(self, **settings):
        known = {setting.name: setting for setting in self.settings_spec}
        unknown = [name for name in settings if name not in known]
        if unknown:
            raise ScalingError(f"the {self.name} law has no setting {unknown[0]!r}; its settings: "
                               f"{', '.join(known)}")
        for setting in self.settings_spec:
            value = settings.get(setting.name, setting.default)
            setattr(self, setting.name, setting.parse(value, self.name))

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in self.settings().items())
        return f"{type(self).__name__}({settings})"

    def fit(self, runs, *, where: str | None = None, lr_file=None, bootstrap: int = 1000,
            seed: int = 0, n_jobs: int | None = None, calibrate: bool = True,
            noise_floor: float = 0.0) -> Fit:
        """Fit to a run table (or `PreparedRuns`): a new `Fit`; this law is not changed. The
        options and their defaults are `scaling fit`'s (`scaling.engine.fit_procedure.fit_law`)."""
        return fit_law(self, runs, where=where, lr_file=lr_file, bootstrap=bootstrap, seed=seed,
                       n_jobs=n_jobs, calibrate=calibrate, noise_floor=noise_floor)

    # -- what each law defines -----------------------------------------------------------------
    def predict_theta(self, theta: np.ndarray, inputs: dict) -> np.ndarray:
        """The prediction in residual space (log ŷ, or ŷ) at fit-space theta (S, P): (S, n)."""
        raise NotImplementedError

    def predict_theta_grad(self, theta: np.ndarray, inputs: dict):
        """`predict_theta` (S, n) and its Jacobian with respect to theta (S, n, P)."""
        raise NotImplementedError

    def reported(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        """The paper's parameters from fit-space vectors theta (S, P): name → (S,)."""
        raise NotImplementedError

    # -- optional abilities: the defaults of laws that lack them -------------------------------
    def linear_basis(self, theta, inputs):       # (S, n, K) basis of the linear parameters
        raise NotImplementedError(f"the {self.name} law declares no linear_parameters")

    def with_coefficients(self, theta, coefficients):   # theta with solved coefficients (S, K)
        raise NotImplementedError(f"the {self.name} law declares no linear_parameters")

    def predict_theta_input_grad(self, theta, inputs, name: str) -> np.ndarray:  # (S, n)
        raise NotImplementedError(f"the {self.name} law has no derivative in its inputs")

    def extra_starts(self) -> np.ndarray | None:
        return None                 # (S, P) starts polished beside the grid's best

    def search_inputs(self, inputs: dict) -> dict:
        return inputs               # a cheaper approximation of the inputs for the grid search

    def compute_optimal_theta(self, theta, flops) -> dict:
        """{quantity, the target's among them: (S, n)} at each budget for theta (S, P)."""
        raise ScalingError(f"the {self.name} law has no compute-optimal allocation")

    def training_compute(self, **inputs) -> np.ndarray:    # in the allocation's compute model
        raise ScalingError(f"the {self.name} law has no compute model")

    def predict_schedule(self, fit, schedule: str, every: int | None = None,
                         kind: str | None = None, level: float | None = None, **sizes):
        """A schedule's curve: a row every `every` steps, the interval of `kind`."""
        raise ScalingError(f"the {self.name} law does not predict curves; --schedule needs "
                           "an LR-schedule law (see `scaling laws`)")

    def optimal_vocab(self, fit, params_nonembed, width, flops=None, kind: str | None = None,
                      level: float | None = None) -> dict:
        """The compute-optimal vocabulary size (`scaling predict --optimal-vocab`)."""
        raise ScalingError(f"the {self.name} law has no optimal vocabulary; --optimal-vocab "
                           "needs the vocabulary law (see `scaling laws`)")

    def data_limited(self, fit, flops, unique_tokens, kind: str | None = None,
                     level: float | None = None) -> dict:
        """Compute allocation under a supply of unique tokens (`--unique-tokens`)."""
        raise ScalingError(f"the {self.name} law has no data limit; --unique-tokens with --flops "
                           "needs the data-constrained law (see `scaling laws`)")

    # -- what a law says of a fit of it (none by default) --------------------------------------
    def fit_extras(self, points: pd.DataFrame) -> dict:
        """JSON-ready: what the law learns from its fitted rows beside its parameters (never
        raises: a quantity the rows do not support is recorded with the reason)."""
        return {}

    def load_extras(self, block) -> dict:
        """A fit file's extras, checked (one-line errors naming the field)."""
        if block not in (None, {}):
            raise ScalingError(f"extras: the {self.name} law keeps none, got {block!r:.40}")
        return {}

    @classmethod
    def check_record(cls, record: dict) -> None:
        """A one-line error for a fit file's record this law cannot read (none by default)."""

    def extras_report(self, fit) -> list[str]:
        return []                   # the report's lines about the fit's extras

    def notes(self, fit) -> list[str]:
        return []                   # the report's lines on a result that reads as broken

    def law_warnings(self, fit) -> list[dict]:
        """The law's own warnings about a fit, from what a fit file keeps (diagnostics codes)."""
        return []

    def unidentified_range(self, fit) -> tuple[float, float] | None:
        """(low, high) beyond data that show no trend (`Fit.beyond_a_trend`); None: a trend."""
        return None

    @property
    def benign_bounds(self) -> tuple[str, ...]:
        return ()                   # parameters the law's method means to end on a bound

    # -- residual space ------------------------------------------------------------------------
    def to_space(self, values) -> np.ndarray:
        values = np.asarray(values, float)
        return np.log(values) if self.space == "log" else values

    def from_space(self, values) -> np.ndarray:
        values = np.asarray(values, float)
        return np.exp(values) if self.space == "log" else values

    @property
    def residual_label(self) -> str:
        return f"log {self.target}" if self.space == "log" else self.target

    @property
    def objective_description(self) -> str:
        return f"sum of Huber, delta={self.delta:g}, on {self.residual_label}"

    @property
    def error_kind(self) -> str:             # how backtests measure an error
        return "relative" if self.space == "log" else "absolute"

    # -- settings ------------------------------------------------------------------------------
    def settings(self) -> dict:
        """The settings, saved with a fit (given back to the constructor on loading)."""
        return {setting.name: getattr(self, setting.name) for setting in self.settings_spec}

    def check_settings(self) -> None:
        """A one-line error when a required setting is missing."""
        for setting in self.settings_spec:
            if setting.required and getattr(self, setting.name) is None:
                raise ScalingError(f"the {self.name} law needs --set {setting.name}=… "
                                   f"({setting.help})")

    # -- data (`scaling.data.prepare`) ---------------------------------------------------------
    @property
    def columns(self) -> tuple[str, ...]:
        return (*self.inputs, self.target)

    @property
    def read_columns(self) -> tuple[str, ...]:
        """The columns a run table must hold for this law (before `derive`)."""
        return tuple(dict.fromkeys([*[c for c in self.columns if c not in self.derived_inputs],
                                    *self.extra_columns]))

    def prepare(self, runs, lr_file=None) -> PreparedRuns:
        """A run table validated with the derived columns (`scaling.data.prepare.prepare`)."""
        return preparation.prepare(self, runs, lr_file)

    def derive(self, table: pd.DataFrame, lr_histories=None) -> pd.DataFrame:
        return table                # a validated run table with the law's derived inputs

    def fit_rows(self, data: PreparedRuns) -> pd.DataFrame:
        """The rows the law fits: one per run ("final") or every row ("all")."""
        return run_tables.final_rows(data.frame) if self.rows == "final" else data.frame

    def target_rows(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The rows a held-out run is judged at, one per run: its final row."""
        return run_tables.final_rows(frame)

    def held_out_rows(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame                # held-out rows calibration scores, as the law reads them

    @property
    def judged_on_curves(self) -> bool:
        return self.rows == "all"   # backtests score every row of a held-out curve

    def inputs_from(self, frame: pd.DataFrame, lr_histories=None) -> dict[str, np.ndarray]:
        return {name: frame[name].to_numpy(float) for name in self.inputs}

    @staticmethod
    def input_option(name: str) -> str:
        """The CLI option that gives an input: `--params`, or `--input loss:task=…`."""
        return f"--{name.replace('_', '-')}" if name.isidentifier() else f"--input {name}=…"

    def broadcast_inputs(self, values: dict) -> dict[str, np.ndarray]:
        """The inputs of points, as arrays of one shape, checked (`checked_inputs`)."""
        return checked_inputs(self, values)

    # -- the problems a fit solves (`scaling.engine.fit`) --------------------------------------
    def problems(self, data: PreparedRuns) -> list[Problem]:
        """The least-squares problems of a fit: one for most laws, one per step when chained."""
        points = self.fit_rows(data)
        self.check_points(points, data.source)
        return [Problem(self, points, self.inputs_from(points, data.lr_histories),
                        self.to_space(points[self.target].to_numpy(float)))]

    def check_points(self, points: pd.DataFrame, source) -> None:
        """One-line errors for rows this law cannot fit (`scaling.data.prepare.check_points`)."""
        preparation.check_points(self, points, source)

    def fit_residuals(self, theta, problems: list[Problem]) -> np.ndarray:
        """Residuals of the fitted law (fit-space vector theta) in its residual space."""
        (problem,) = problems
        return problem.target - self.predict_theta(theta[None, :], problem.inputs)[0]

    def bootstrap_groups(self, problems: list[Problem], source):
        """The bootstrap's group of each point (all problems'), and its strata (None: one)."""
        (problem,) = problems
        points = problem.points
        if self.bootstrap_unit == "curve blocks":   # a few whole curves: blocks within each
            return fitting.curve_blocks(points["run"], points["step"]), points["run"].to_numpy()
        return run_groups(points, source), None

    # -- where a point lies (`scaling.engine.reach`) -------------------------------------------
    @property
    def scales(self) -> tuple[str, ...]:
        """The coordinates in which a point outside the fitted range is extrapolation."""
        if self.scale_columns is not None:
            return tuple(self.scale_columns)
        return ("step",) if self.rows == "all" else tuple(self.power_inputs)

    def scale_values(self, values: dict) -> dict[str, np.ndarray]:
        """{scale: values (1-D)} of points {column: values}: the `scales` they hold or give."""
        out = {}
        for name in self.scales:
            value = values.get(name) if hasattr(values, "get") else None
            if value is not None:
                out[name] = np.atleast_1d(np.asarray(value, float))
        return out

    # -- fit space and reported parameters -----------------------------------------------------
    def fit_space(self, values: dict) -> np.ndarray:
        """Fit-space vectors (S, P) of reported values {name: (S,)}, the inverse of `reported`."""
        return expression_fit_space(self, values)

    def reported_names_of(self) -> dict[str, str]:
        """{fit-space name: the reported name it appears in}: `a` → `A` for Chinchilla."""
        return names_in_expressions(self)

    def reported_name(self, fit_name: str) -> str:   # itself when no reported name reads it
        return self.reported_names_of().get(fit_name, fit_name)

    def reported_range(self, fit_name: str, theta) -> tuple[float, float]:
        """What the law can report of `fit_name` (`reported_range`)."""
        return reported_range(self, fit_name, theta)


# -- the defaults of the law methods above -------------------------------------------------------

def checked_inputs(law, values: dict) -> dict[str, np.ndarray]:
    """`Law.broadcast_inputs`: the law's inputs from {name: values}, broadcast to one shape;
    one-line errors for a missing, infinite, non-positive power or implausible input."""
    missing = [name for name in law.inputs if values.get(name) is None]
    if missing:
        raise ScalingError(f"the {law.name} law needs {law.input_option(missing[0])} "
                           f"to predict")
    arrays = np.broadcast_arrays(*[np.atleast_1d(np.asarray(values[n], float))
                                   for n in law.inputs])
    for name, array in zip(law.inputs, arrays):
        if not np.all(np.isfinite(array)):
            raise ScalingError(f"{law.input_option(name)} must be finite")
        if name in law.power_inputs and np.any(array <= 0):
            raise ScalingError(f"{law.input_option(name)} must be positive and finite")
        run_tables.check_sensible_inputs(array, name, law.input_option(name))
    return dict(zip(law.inputs, arrays))


def expression_fit_space(law, values: dict) -> np.ndarray:
    """`Law.fit_space` from `reported_expressions`: a reported name is its fit-space parameter
    itself, or `exp` of it; a law reported otherwise defines its own `fit_space`."""
    columns = []
    for parameter in law.parameters:
        name = law.reported_name(parameter.name)
        expression = law.reported_expressions.get(name, name)
        value = np.asarray(values[name], float)
        if expression == parameter.name:
            columns.append(value)
        elif expression == f"exp({parameter.name})":
            with np.errstate(all="ignore"):
                columns.append(np.where(value > 0, np.log(np.abs(value)), np.nan))
        else:
            raise NotImplementedError(f"the {law.name} law reports {name} = {expression}: "
                                      "define fit_space")
    return np.stack(columns, axis=-1)


def names_in_expressions(law) -> dict[str, str]:
    """{fit-space name: the first reported name whose expression reads it}."""
    out = {}
    for name in law.reported_names:
        expression = law.reported_expressions.get(name, name)
        for parameter in law.parameters:
            if re.search(rf"\b{re.escape(parameter.name)}\b", expression):
                out.setdefault(parameter.name, name)
    return out


def reported_range(law, fit_name: str, theta) -> tuple[float, float]:
    """The range of the reported parameter of `fit_name` when that fit-space parameter spans
    its bounds (the others at theta): what the law can report."""
    index = [p.name for p in law.parameters].index(fit_name)
    parameter = law.parameters[index]
    ends = np.tile(np.nan_to_num(np.asarray(theta, float)), (2, 1))
    ends[:, index] = parameter.lower, parameter.upper
    values = law.reported(ends)[law.reported_name(fit_name)]
    return float(np.min(values)), float(np.max(values))
