"""The law interface and the registry.

A law is a small class: its equation and paper in the docstring, the run-table columns it reads
(`inputs`, `target`), its fit-space `parameters` (bounds and start grid), a vectorised prediction
with its Jacobian, and `reported`, which turns fit-space vectors into the paper's parameters.
Everything else (the objective, multi-start L-BFGS-B, variable projection, the bootstrap,
intervals, reports and JSON) is shared and lives here and in `scaling.fitting`.

Contract (scikit-learn style): `law.fit(runs)` returns the fitted law; learned values end in `_`.

    from scaling.laws import get_law
    fit = get_law("chinchilla").fit(runs, bootstrap=1000)
    fit.params_["alpha"], fit.intervals_["alpha"], fit.predict(params=7e10, tokens=1.4e12)
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from scaling import fitting
from scaling.atomic import write_text
from scaling.errors import ScalingError
from scaling.fitting import Parameter

FIT_FORMAT = 1


class Law:
    """Base class: subclasses define the class attributes and the four law methods below."""

    name: ClassVar[str]
    title: ClassVar[str]                       # one line: the law and its paper
    equation: ClassVar[str]                    # the equation in plain text
    inputs: ClassVar[tuple[str, ...]]          # run-table columns the law reads as inputs
    power_inputs: ClassVar[tuple[str, ...]] = ()  # inputs under a power law: need ≥ 3 values
    derived_inputs: ClassVar[tuple[str, ...]] = ()  # inputs that `prepare` computes
    extra_columns: ClassVar[tuple[str, ...]] = ()   # other columns `prepare` reads
    target: ClassVar[str] = "loss"             # the column it predicts
    rows: ClassVar[str] = "final"              # "final": one row per run; "all": every row
    parameters: ClassVar[tuple[Parameter, ...]]
    linear_parameters: ClassVar[tuple[str, ...]] = ()  # solved in closed form (see fitting.py)
    reported_names: ClassVar[tuple[str, ...]]
    reported_expressions: ClassVar[dict[str, str]] = {}  # reported name → lmfit expression

    def __init__(self, delta: float = fitting.DEFAULT_DELTA, n_polish: int = 8,
                 confidence: float = 0.95):
        self.delta = float(delta)            # Huber threshold, in log-loss units
        self.n_polish = int(n_polish)        # starting points polished by L-BFGS-B
        self.confidence = float(confidence)  # two-sided level of every interval

    # -- what each law defines -----------------------------------------------------------------
    def log_predict(self, theta: np.ndarray, inputs: dict) -> np.ndarray:
        """log of the prediction for a batch of fit-space vectors theta (S, P): (S, n)."""
        raise NotImplementedError

    def log_predict_grad(self, theta: np.ndarray, inputs: dict):
        """log prediction (S, n) and its Jacobian with respect to theta (S, n, P)."""
        raise NotImplementedError

    def reported(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        """The paper's parameters from fit-space vectors theta (S, P): name → (S,)."""
        raise NotImplementedError

    # -- fitting -------------------------------------------------------------------------------
    def settings(self) -> dict:
        """The constructor arguments, saved with the fit."""
        return {"delta": self.delta, "n_polish": self.n_polish, "confidence": self.confidence}

    def prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Add the derived inputs to a validated run table (identity for most laws)."""
        return frame

    @property
    def columns(self) -> tuple[str, ...]:
        return (*self.inputs, self.target)

    @property
    def read_columns(self) -> tuple[str, ...]:
        """The columns a run table must hold for this law (before `prepare`)."""
        return (*[c for c in self.columns if c not in self.derived_inputs], *self.extra_columns)

    def fit(self, runs: pd.DataFrame, *, bootstrap: int = 0, seed: int = 0,
            n_jobs: int | None = None) -> "Law":
        """Fit to a run table (validated by `scaling.runs`); returns self, fitted."""
        from scaling import runs as run_tables

        source = runs.attrs.get("source", "run table")
        if bootstrap < 0:
            raise ScalingError(f"--bootstrap must be 0 or more, got {bootstrap}")
        table = run_tables.validate(runs, source, self.read_columns)
        table.attrs = dict(runs.attrs)
        table = self.prepare(table)
        points = run_tables.final_rows(table) if self.rows == "final" else table
        self._check_data(points, source)
        inputs = self.inputs_from(points)
        target_log = np.log(points[self.target].to_numpy(float))
        with fitting.one_blas_thread():
            solution = fitting.minimize(self, inputs, target_log, delta=self.delta,
                                        n_polish=self.n_polish)
        self.theta_ = solution.theta
        self.params_ = self._reported_dict(solution.theta)
        self.objective_ = solution.objective
        self.converged_ = solution.converged
        self.message_ = solution.message
        self.at_bound_ = solution.at_bound
        self.n_points_ = len(points)
        self.n_runs_ = int(points["run"].nunique())
        self.n_starts_ = solution.n_candidates
        self.data_ = {"source": str(source), "where": runs.attrs.get("where"),
                      "n_rows": len(table)}
        self.residuals_ = target_log - self.log_predict(solution.theta[None, :], inputs)[0]
        self.bootstrap_theta_ = np.empty((0, len(self.parameters)))
        self.bootstrap_seed_ = seed
        if bootstrap:
            if self.rows == "all":       # whole curves: blocks of each curve, within the curve
                groups = fitting.curve_blocks(points["run"], points["step"])
                strata = points["run"].to_numpy()
            elif self.n_runs_ < 2:
                raise ScalingError(f"{source}: the bootstrap needs at least 2 runs")
            else:                        # one point per run: whole runs
                groups, strata = points["run"].to_numpy(), None
            with fitting.one_blas_thread():
                self.bootstrap_theta_ = fitting.bootstrap(
                    self, inputs, target_log, groups, n_resamples=bootstrap, seed=seed,
                    delta=self.delta, start=solution.theta, n_jobs=n_jobs, strata=strata)
        self.intervals_, self.standard_errors_ = self._parameter_intervals()
        return self

    def _check_data(self, points: pd.DataFrame, source) -> None:
        bad = points.index[points[self.target] <= 0]
        if len(bad):
            raise ScalingError(f"{source}: column {self.target!r}, row {bad[0]}: must be positive "
                               f"for a fit in log space, got {points.at[bad[0], self.target]:g}")
        if points["run"].nunique() < 2 and self.rows == "final":
            raise ScalingError(f"{source}: only one run ({points['run'].iloc[0]!r}); "
                               f"the {self.name} law needs several runs to fit")
        needed = len(self.parameters) + 1
        if len(points) < needed:
            raise ScalingError(f"{source}: {len(points)} points for {len(self.parameters)} "
                               f"parameters; the {self.name} law needs at least {needed}")
        for column in self.power_inputs:
            distinct = np.unique(np.round(np.log(points[column].to_numpy(float)), 6))
            if len(distinct) < 3:
                values = ", ".join(f"{math.exp(v):.4g}" for v in distinct)
                raise ScalingError(
                    f"{source}: column {column!r} takes {len(distinct)} distinct value(s) "
                    f"({values}); the {self.name} law cannot identify its {column} exponent "
                    f"without at least 3")

    def inputs_from(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        return {name: frame[name].to_numpy(float) for name in self.inputs}

    # -- fitted values -------------------------------------------------------------------------
    def _check_fitted(self):
        if not hasattr(self, "theta_"):
            raise ScalingError(f"the {self.name} law has not been fitted yet")

    def _reported_dict(self, theta) -> dict[str, float]:
        values = self.reported(np.atleast_2d(theta))
        return {name: float(values[name][0]) for name in self.reported_names}

    def _quantiles(self):
        tail = (1 - self.confidence) / 2
        return 100 * tail, 100 * (1 - tail)

    def _parameter_intervals(self):
        if not len(self.bootstrap_theta_):
            return {}, {}
        samples = self.reported(self.bootstrap_theta_)
        low, high = self._quantiles()
        intervals = {n: tuple(float(v) for v in np.nanpercentile(samples[n], [low, high]))
                     for n in self.reported_names}
        errors = {n: float(np.nanstd(samples[n], ddof=1)) for n in self.reported_names}
        return intervals, errors

    def broadcast_inputs(self, values: dict) -> dict[str, np.ndarray]:
        missing = [name for name in self.inputs if values.get(name) is None]
        if missing:
            raise ScalingError(f"the {self.name} law needs --{missing[0].replace('_', '-')} "
                               f"to predict")
        arrays = np.broadcast_arrays(*[np.atleast_1d(np.asarray(values[n], float))
                                       for n in self.inputs])
        for name, array in zip(self.inputs, arrays):
            if not np.all(np.isfinite(array)):
                raise ScalingError(f"--{name.replace('_', '-')} must be finite")
            if name in self.power_inputs and np.any(array <= 0):
                raise ScalingError(f"--{name.replace('_', '-')} must be positive and finite")
        return dict(zip(self.inputs, arrays))

    def predict(self, **values) -> np.ndarray:
        """Point prediction of the target, e.g. `predict(params=7e10, tokens=1.4e12)`."""
        return self.predict_inputs(self.broadcast_inputs(values))

    def predict_interval(self, kind: str = "law", **values):
        """(prediction, lower, upper); the bounds are NaN without a bootstrap.

        kind="law": the interval of the fitted law's value (parameter uncertainty only).
        kind="run": the interval for one new run's measured value: each bootstrap prediction
        times exp(a residual of the fit drawn at random), so run-to-run scatter is included.
        """
        return self.interval_from_inputs(self.broadcast_inputs(values), kind)

    def predict_rows(self, frame: pd.DataFrame, kind: str | None = None):
        """Predictions for the rows of a run table (prepared by `prepare`, as the fit's were):
        the point prediction, or with `kind` ("law" | "run") (prediction, lower, upper)."""
        inputs = self.inputs_from(frame)
        return self.predict_inputs(inputs) if kind is None \
            else self.interval_from_inputs(inputs, kind)

    def predict_inputs(self, inputs: dict) -> np.ndarray:
        self._check_fitted()
        return np.exp(self.log_predict(self.theta_[None, :], inputs)[0])

    def interval_from_inputs(self, inputs: dict, kind: str = "law"):
        if kind not in ("law", "run"):
            raise ScalingError(f"interval kind must be 'law' or 'run', got {kind!r}")
        point = self.predict_inputs(inputs)
        if not len(self.bootstrap_theta_):
            samples = np.empty((0, len(point)))
        else:
            samples = np.exp(self.log_predict(self.bootstrap_theta_, inputs))
        if kind == "run":
            samples = self.with_scatter(samples)
        return self.interval(point, samples)

    def with_scatter(self, samples):
        """Bootstrap predictions (K, n) times exp(residual), residuals drawn with replacement."""
        if not len(samples) or self.residuals_ is None or not len(self.residuals_):
            return samples
        rng = np.random.default_rng(self.bootstrap_seed_ + 1)
        draws = rng.choice(np.asarray(self.residuals_, float), size=samples.shape)
        return samples * np.exp(draws)

    def interval(self, point, samples):
        """A point estimate with the percentile interval of its bootstrap samples (K, n)."""
        point = np.asarray(point, float)
        if not len(samples):
            nan = np.full_like(point, np.nan)
            return point, nan, nan
        low, high = self._quantiles()
        lower, upper = np.nanpercentile(samples, [low, high], axis=0)
        return point, lower, upper

    # -- output --------------------------------------------------------------------------------
    def report(self) -> str:
        from scaling.report import fit_report

        self._check_fitted()
        return fit_report(self)

    def to_lmfit(self):
        """The fit as lmfit `Parameters`: fit-space values with their bounds and bootstrap
        standard errors, and the paper's parameters as expressions of them (`E = exp(e)`)."""
        import lmfit

        self._check_fitted()
        parameters = lmfit.Parameters()
        spread = (np.nanstd(self.bootstrap_theta_, axis=0, ddof=1)
                  if len(self.bootstrap_theta_) > 1 else [None] * len(self.parameters))
        for parameter, value, error in zip(self.parameters, self.theta_, spread):
            parameters.add(parameter.name, value=float(value), min=parameter.lower,
                           max=parameter.upper)
            parameters[parameter.name].stderr = None if error is None else float(error)
        for name, expression in self.reported_expressions.items():
            parameters.add(name, expr=expression)
        return parameters

    def to_dict(self) -> dict:
        self._check_fitted()
        return {
            "format": FIT_FORMAT,
            "law": self.name,
            "params": self.params_,
            "intervals": {k: list(v) for k, v in self.intervals_.items()},
            "standard_errors": self.standard_errors_,
            "objective": self.objective_,
            "n_points": self.n_points_,
            "n_runs": self.n_runs_,
            "converged": self.converged_,
            "message": self.message_,
            "at_bound": self.at_bound_,
            "settings": self.settings(),
            "data": self.data_,
            "theta": dict(zip([p.name for p in self.parameters], self.theta_.tolist())),
            "residuals": None if self.residuals_ is None else np.asarray(self.residuals_).tolist(),
            "bootstrap": {"n": len(self.bootstrap_theta_), "seed": self.bootstrap_seed_,
                          "theta": self.bootstrap_theta_.tolist()},
        }

    def to_json(self, path=None) -> str:
        """The fit as JSON; written atomically to `path` when given."""
        text = json.dumps(self.to_dict(), indent=1)
        if path is not None:
            write_text(path, text)
        return text

    @classmethod
    def from_dict(cls, record: dict) -> "Law":
        law = cls(**record.get("settings", {}))
        names = [p.name for p in cls.parameters]
        law.theta_ = np.array([float(record["theta"][n]) for n in names])
        law.params_ = law._reported_dict(law.theta_)
        law.objective_ = float(record["objective"])
        law.converged_ = bool(record["converged"])
        law.message_ = record.get("message", "")
        law.at_bound_ = list(record.get("at_bound", []))
        law.n_points_ = int(record["n_points"])
        law.n_runs_ = int(record.get("n_runs", law.n_points_))
        law.n_starts_ = None
        law.data_ = record.get("data", {})
        residuals = record.get("residuals")
        law.residuals_ = None if residuals is None else np.asarray(residuals, float)
        boot = record.get("bootstrap", {}) or {}
        law.bootstrap_theta_ = np.array(boot.get("theta", []), float).reshape(-1, len(names))
        law.bootstrap_seed_ = boot.get("seed", 0)
        law.intervals_, law.standard_errors_ = law._parameter_intervals()
        return law


# -- registry ----------------------------------------------------------------------------------

LAWS: dict[str, type[Law]] = {}


def register(cls: type[Law]) -> type[Law]:
    LAWS[cls.name] = cls
    return cls


def get_law(name: str, **settings) -> Law:
    """A fresh, unfitted law by registry name."""
    if name not in LAWS:
        raise ScalingError(f"unknown law {name!r}; known laws: {', '.join(sorted(LAWS))}")
    return LAWS[name](**settings)


def load_fit(path) -> Law:
    """A fitted law from the JSON that `Law.to_json` wrote."""
    path = Path(path)
    if not path.exists():
        raise ScalingError(f"{path}: no such fit file")
    try:
        record = json.loads(path.read_text())
        law_class = LAWS[record["law"]]
    except json.JSONDecodeError as exc:
        raise ScalingError(f"{path}: not a fit file (invalid JSON: {exc.msg}, line {exc.lineno})") \
            from None
    except (KeyError, TypeError) as exc:
        raise ScalingError(f"{path}: not a fit file (unknown or missing law {exc})") from None
    try:
        return law_class.from_dict(record)
    except (KeyError, TypeError, ValueError) as exc:
        raise ScalingError(f"{path}: not a fit file for {record['law']!r} "
                           f"(missing or bad field {exc})") from None


from scaling.laws.chinchilla import Chinchilla  # noqa: E402  (each registers itself)
from scaling.laws.annealing import Annealing, AnnealingSize  # noqa: E402
from scaling.laws.multipower import MultiPower  # noqa: E402

__all__ = ["LAWS", "Law", "Parameter", "get_law", "load_fit", "register", "Annealing",
           "AnnealingSize", "Chinchilla", "MultiPower"]
