"""The law interface: what a law declares, and the machinery every law shares.

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

Everything else (the objective, multi-start L-BFGS-B, variable projection, the bootstrap,
intervals, reports and JSON) is shared: here and in `scaling.engine.fitting`.

Contract (scikit-learn style): `law.fit(runs)` returns the fitted law; learned values end in `_`.

    from scaling.laws import get_law
    fit = get_law("chinchilla").fit(runs, bootstrap=1000)
    fit.params_["alpha"], fit.intervals_["alpha"], fit.predict(params=7e10, tokens=1.4e12)
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

import numpy as np
import pandas as pd

from scaling.engine import fitting
from scaling.data import runs as run_tables
from scaling.output.atomic import write_text
from scaling.errors import ScalingError
from scaling.output.fit_file import FIT_FORMAT, READABLE_FORMATS  # noqa: F401  (the fit file's)
from scaling.engine.fitting import Parameter
from scaling.data.evaluations import anchors

SPACES = ("log", "linear")
ROWS = ("final", "all", "both")
BOOTSTRAP_UNITS = ("runs", "curve blocks")
INTERVAL_KINDS = ("calibrated", "run", "law")   # see `Law.predict_interval`


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


@dataclass
class PreparedRuns:
    """A run table made ready for one law: validated, with the columns the law derives, and the
    per-run learning rates (`{run: LR of updates 1 … last}`) when the law reads them.

    Filtering happens after deriving (`select`), so thinning rows never loses what the derived
    columns were computed from (the LR of every step, for example)."""

    frame: pd.DataFrame
    source: str
    lr_histories: dict[str, np.ndarray] | None = None
    where: tuple[str, ...] = field(default_factory=tuple)
    lr_sources: dict[str, str] | None = None   # {run: where its LRs came from}, for reports

    @property
    def cut_runs(self) -> dict[str, list[float]]:
        """{run: [tokens of its last row here, of its final row]}: the runs a query kept
        without their final rows (`scaling.data.runs.filter_rows`)."""
        held = set(self.frame["run"])
        return {run: tokens for run, tokens in (self.frame.attrs.get("cut_runs") or {}).items()
                if run in held}

    def select(self, query: str, option: str = "--where") -> "PreparedRuns":
        kept = run_tables.filter_rows(self.frame, query, self.source, option)
        return PreparedRuns(kept, self.source, self.lr_histories, (*self.where, query),
                            self.lr_sources)

    def rows_at(self, kept: pd.DataFrame, query: str | None = None) -> "PreparedRuns":
        """The rows at the index of `kept` (rows a query picked, `scaling.data.runs.filter_rows`,
        whose `attrs["cut_runs"]` they take), recording `query`."""
        frame = self.frame[self.frame.index.isin(kept.index)]
        frame.attrs = {**self.frame.attrs, "cut_runs": dict(kept.attrs.get("cut_runs") or {})}
        return PreparedRuns(frame, self.source, self.lr_histories,
                            (*self.where, query) if query else self.where, self.lr_sources)

    def lr_sources_of_rows(self) -> dict[str, str] | None:
        """{run: LR source} of the runs these rows hold (None for laws without LRs)."""
        if self.lr_sources is None:
            return None
        return {run: self.lr_sources[run] for run in pd.unique(self.frame["run"])
                if run in self.lr_sources}


@dataclass
class Problem:
    """One least-squares problem of a fit: a model (the law, or one step of a chained law), the
    rows it fits, their inputs and the target in the model's residual space."""

    model: "Law"
    points: pd.DataFrame
    inputs: dict
    target: np.ndarray


def measured_seed_scatter(law, data) -> dict | None:
    """{"sigma", "dof", "n_groups"} of the run-to-run scatter of the law's target between runs
    that differ only in their seed (`scaling.engine.seeds`), in the law's residual space; None when the
    fitted rows repeat no seed (or cannot tell which runs are otherwise identical)."""
    from scaling.engine.seeds import seed_scatter

    try:
        scatter = seed_scatter(data.frame, law.target, space=law.space)
    except ScalingError:
        return None
    if not scatter.dof or not math.isfinite(scatter.sigma):
        return None
    return {"sigma": float(scatter.sigma), "dof": int(scatter.dof),
            "n_groups": int(scatter.n_groups)}


def fitted_range(points, columns) -> dict[str, list[float]]:
    """{column: [smallest, largest]} of the fitted rows (a frame, or {column: values}: a law's
    `coordinate_values`), for the scale columns they hold (positive values only)."""
    out = {}
    for name in columns:
        if name in points:
            values = pd.to_numeric(pd.Series(np.ravel(np.asarray(points[name]))),
                                   errors="coerce").to_numpy(float)
            values = values[np.isfinite(values) & (values > 0)]
            if len(values):
                out[name] = [float(values.min()), float(values.max())]
    return out


LOSS_CLIP = 1e-12
# Laws whose formula can go to or below 0 (the LR-schedule laws subtract an annealing term) fit
# the log of max(value, LOSS_CLIP); a prediction at that clip is a loss ≤ 0 by the formula, which
# `Law.predict_inputs` returns as NaN (tables print "-"; `scaling.engine.diagnostics` warns).


def distinct_positive(column) -> np.ndarray:
    """The distinct positive values of a column (equal to 6 digits of their log), sorted."""
    values = pd.to_numeric(column, errors="coerce").to_numpy(float)
    values = values[np.isfinite(values) & (values > 0)]
    return np.exp(np.unique(np.round(np.log(values), 6)))


def run_groups(points: pd.DataFrame, source) -> np.ndarray:
    """The bootstrap's group of each point: its run, or `fitting.ALWAYS` for anchor points
    (`scaling.data.evaluations.ANCHOR`), which every resample keeps; at least 2 runs."""
    runs = points["run"].astype(str).to_numpy()
    fixed = anchors(points)
    if len(set(runs[~fixed])) < 2:
        raise ScalingError(f"{source}: the bootstrap needs at least 2 runs")
    return np.where(fixed, fitting.ALWAYS, runs)


def distinct_values(problems) -> dict[str, int]:
    """{power input: its fewest distinct values over the problems that read it} (warnings: a
    power law needs a few sizes beyond the three a fit accepts, `scaling.engine.diagnostics`)."""
    out: dict[str, int] = {}
    for problem in problems:
        for column in problem.model.power_inputs:
            if column in problem.points:
                count = len(distinct_positive(problem.points[column]))
                out[column] = min(out.get(column, count), count)
    return out


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
    aliases: ClassVar[tuple[str, ...]] = ()    # other names `get_law` accepts (`scaling laws`
    #                                            shows them; fit files keep `name`)
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
    bootstrap_unit: ClassVar[str] = "runs"     # what the bootstrap resamples: "runs" or
    #                                            "curve blocks" (blocks of rows within each run)
    scale_columns: ClassVar[tuple[str, ...] | None] = None  # the coordinates (run-table
    #                      columns or values the law derives from its inputs) where a point
    #                      outside the fitted range, above or below it, is extrapolation (None:
    #                      the power inputs; for laws of whole curves, `step`); see `distance`
    one_sided_scales: ClassVar[tuple[str, ...]] = ()  # of those, the ones counted only above the
    #                      fitted range (below it the term they feed vanishes: no extrapolation)
    uncalibrated_scales: ClassVar[tuple[str, ...]] = ()  # of those, the ones the error model
    #                      does not fit a slope for (a scale that moves with a coordinate it
    #                      reads inside the fitted range would take that growth from it): they
    #                      grow at its steepest slope (`ErrorModel.scale`) and count as beyond
    #                      its calibration once outside the fitted range
    floor_parameter: ClassVar[str | None] = None  # the reported parameter that is the law's
    #                      irreducible loss (E, L0): a prediction below it warns

    # -- optional abilities (a law that has one sets it and defines the methods it names) ------
    linear_parameters: ClassVar[tuple[str, ...]] = ()  # solved in closed form: `linear_basis`,
    #                                                   `with_coefficients` (see fitting.py)
    signed_linear_parameters: ClassVar[tuple[str, ...]] = ()  # of those, the ones of any sign
    bootstrap_search: ClassVar[bool] = True    # False: bootstrap refits only polish the fit
    uses_lr_histories: ClassVar[bool] = False  # reads the LR of every step (scaling/data/lr_history.py)
    derives_from_runs: ClassVar[bool] = False  # `derive` reads other rows of a run (beside the
    #                                            LR histories): see `prepare_rows`
    allocates_compute: ClassVar[bool] = False  # `compute_optimal(flops)`, `training_compute`
    compute_formula: ClassVar[str] = ""        # the compute model it allocates, e.g. "C = 6 N D"
    allocation_labels: ClassVar[dict[str, str]] = {}  # column headers of its allocation table
    predicts_schedules: ClassVar[bool] = False  # `predict_schedule(schedule)`: whole curves
    optimizes_vocabulary: ClassVar[bool] = False  # `optimal_vocab(params_nonembed, width)`
    advises_data_limit: ClassVar[bool] = False  # `data_limited(flops, unique_tokens)`

    def __init__(self, **settings):
        known = {setting.name: setting for setting in self.settings_spec}
        unknown = [name for name in settings if name not in known]
        if unknown:
            raise ScalingError(f"the {self.name} law has no setting {unknown[0]!r}; its settings: "
                               f"{', '.join(known)}")
        for setting in self.settings_spec:
            value = settings.get(setting.name, setting.default)
            setattr(self, setting.name, setting.parse(value, self.name))

    # -- what each law defines -----------------------------------------------------------------
    def predict_theta(self, theta: np.ndarray, inputs: dict) -> np.ndarray:
        """The prediction in the law's residual space (log ŷ for space "log", ŷ for "linear")
        for a batch of fit-space vectors theta (S, P): (S, n)."""
        raise NotImplementedError

    def predict_theta_grad(self, theta: np.ndarray, inputs: dict):
        """`predict_theta` (S, n) and its Jacobian with respect to theta (S, n, P)."""
        raise NotImplementedError

    def reported(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        """The paper's parameters from fit-space vectors theta (S, P): name → (S,)."""
        raise NotImplementedError

    # -- optional abilities: the defaults of laws that lack them -------------------------------
    def linear_basis(self, theta, inputs):
        """(S, n, K) basis functions of the `linear_parameters`, for variable projection."""
        raise NotImplementedError(f"the {self.name} law declares no linear_parameters")

    def with_coefficients(self, theta, coefficients):
        """theta with its linear parameters set from solved coefficients (S, K)."""
        raise NotImplementedError(f"the {self.name} law declares no linear_parameters")

    @property
    def judged_on_curves(self) -> bool:
        """Whether backtests score every row of a held-out run (laws of whole curves) rather
        than its `target_rows`."""
        return self.rows == "all"

    def extra_starts(self) -> np.ndarray | None:
        """Starting points polished beside the best of the start grid, (S, P) in fit space: a
        paper's own starting point, so its optimum is always among those compared (none)."""
        return None

    def target_rows(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The rows a held-out run is judged at, one per run: its final row (laws of noisy
        evaluations average the last few, `scaling.laws.task_loss`)."""
        return run_tables.final_rows(frame)

    def held_out_rows(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The rows of held-out runs (or of the late part of curves) that calibration scores
        the law on, as the law would read them: the rows themselves by default (laws of noisy
        evaluations drop and smooth them as they do their own points)."""
        return frame

    def search_inputs(self, inputs: dict) -> dict:
        """A cheaper approximation of the inputs for the grid search (the inputs themselves)."""
        return inputs

    def predict_theta_input_grad(self, theta, inputs, name: str) -> np.ndarray:
        """d predict_theta / d inputs[name], (S, n): what a chained law needs of its last step."""
        raise NotImplementedError(f"the {self.name} law has no derivative in its inputs")

    def compute_optimal(self, flops) -> dict:
        """{quantity: (point, lower, upper)} at each compute budget: laws that allocate
        compute (`allocates_compute`) return any quantities, the target's among them. Those
        that define `compute_optimal_theta(theta, flops)` ({quantity: (S, n)} for fit-space
        vectors theta (S, P)) get it here, with the bootstrap's percentile intervals (NaN
        without a bootstrap)."""
        if not self.allocates_compute:
            raise ScalingError(f"the {self.name} law has no compute-optimal allocation; give its "
                               "inputs instead of --flops")
        self._check_fitted()
        flops = np.atleast_1d(np.asarray(flops, float))
        point = self.compute_optimal_theta(self.theta_, flops)
        samples = (self.compute_optimal_theta(self.bootstrap_theta_, flops)
                   if len(self.bootstrap_theta_) else {k: np.empty((0, len(flops))) for k in point})
        return {k: self.interval(point[k][0], samples[k]) for k in point}

    def compute_optimal_theta(self, theta, flops) -> dict:
        """The allocation at each budget for fit-space vectors theta (S, P): {quantity: (S, n)}
        (laws that allocate compute define it; `compute_optimal` adds the intervals)."""
        raise ScalingError(f"the {self.name} law has no compute-optimal allocation")

    def training_compute(self, **inputs) -> np.ndarray:
        """The training compute of points, in the compute model the allocation assumes."""
        raise ScalingError(f"the {self.name} law has no compute model")

    def predict_schedule(self, schedule: str, every: int | None = None, kind: str | None = None,
                         level: float | None = None, **sizes) -> pd.DataFrame:
        """The whole predicted curve of an LR schedule (laws with `predicts_schedules`), a row
        every `every` steps and at the last (None: the law's default, every step unless that
        would be slow), with the interval of `kind` (None: `default_interval`) at `level` in
        its `lower` and `upper` columns."""
        raise ScalingError(f"the {self.name} law does not predict curves; --schedule needs "
                           "an LR-schedule law (see `scaling laws`)")

    def optimal_vocab(self, params_nonembed, width, flops=None, kind: str | None = None,
                      level: float | None = None) -> dict:
        """The compute-optimal vocabulary size of models of `params_nonembed` and `width`, at
        budgets `flops` (None: the law's own choice), by each approach the law knows (laws with
        `optimizes_vocabulary`; `scaling predict --optimal-vocab`)."""
        raise ScalingError(f"the {self.name} law has no optimal vocabulary; --optimal-vocab "
                           "needs the vocabulary law (see `scaling laws`)")

    def data_limited(self, flops, unique_tokens, kind: str | None = None,
                     level: float | None = None) -> dict:
        """Compute allocation under a supply of unique tokens (laws with `advises_data_limit`;
        `scaling predict FIT --flops C --unique-tokens U`)."""
        raise ScalingError(f"the {self.name} law has no data limit; --unique-tokens with --flops "
                           "needs the data-constrained law (see `scaling laws`)")

    # -- extras: what a law learns from its fitted rows beside its parameters -------------------
    def fit_extras(self, points: pd.DataFrame) -> dict:
        """A JSON-ready dict of what the law learns from its fitted rows beside the fitted
        parameters (none by default). It must not raise: a quantity the rows do not support is
        recorded with the reason."""
        return {}

    def load_extras(self, block) -> dict:
        """The extras of a fit file, checked: one-line `ScalingError`s name the field."""
        if block not in (None, {}):
            raise ScalingError(f"extras: the {self.name} law keeps none, got {block!r:.40}")
        return {}

    def extras_report(self) -> list[str]:
        """Lines of the fit report about the extras (none by default)."""
        return []

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
    def error_kind(self) -> str:
        """How backtests measure a prediction's error: relative for positive targets fitted in
        log space, absolute (in the target's units) for linear-space targets."""
        return "relative" if self.space == "log" else "absolute"

    def prediction_errors(self, predicted, actual) -> np.ndarray:
        predicted, actual = np.asarray(predicted, float), np.asarray(actual, float)
        return (predicted - actual) / actual if self.error_kind == "relative" \
            else predicted - actual

    # -- settings ------------------------------------------------------------------------------
    def settings(self) -> dict:
        """The settings, saved with the fit (and given back to the constructor on loading)."""
        return {setting.name: getattr(self, setting.name) for setting in self.settings_spec}

    def check_settings(self) -> None:
        """A one-line error when a required setting is missing."""
        for setting in self.settings_spec:
            if setting.required and getattr(self, setting.name) is None:
                raise ScalingError(f"the {self.name} law needs --set {setting.name}=… "
                                   f"({setting.help})")

    # -- data ----------------------------------------------------------------------------------
    @property
    def columns(self) -> tuple[str, ...]:
        return (*self.inputs, self.target)

    @property
    def read_columns(self) -> tuple[str, ...]:
        """The columns a run table must hold for this law (before `derive`)."""
        return tuple(dict.fromkeys([*[c for c in self.columns if c not in self.derived_inputs],
                                    *self.extra_columns]))

    def prepare(self, runs, lr_file=None) -> PreparedRuns:
        """Validate a run table and add the derived columns; returns `PreparedRuns`.

        `lr_file` (`scaling.data.lr_history.read_lr_file`) gives the LR of every step of some runs, for the
        laws that read learning rates; it wins over a run's `lr` and `schedule` columns."""
        if isinstance(runs, PreparedRuns):
            return runs
        self.check_settings()
        return self._prepare_table(runs, lr_file)

    def _prepare_table(self, runs, lr_file=None, dedupe: str | None = None) -> PreparedRuns:
        """`prepare` of a run table: every row checked (duplicates resolved by `dedupe`)."""
        source = str(runs.attrs.get("source", "run table"))
        table = run_tables.validate(runs, source, self.read_columns, dedupe)
        self.check_positive(table, source)
        self.check_range(table, source)
        histories, sources = self._lr_histories(table, source, lr_file)
        frame = self.derive(table, histories)
        frame.attrs["source"] = source
        frame.attrs["cut_runs"] = dict(runs.attrs.get("cut_runs") or {})
        where = runs.attrs.get("where")
        return PreparedRuns(frame, source, histories, (where,) if where else (), sources)

    def _lr_histories(self, table, source, lr_file):
        """(per-step LRs of the runs, {run: their source}) for the LR-schedule laws, else
        (None, None); an LR file for another law is an error."""
        from scaling.data import lr_history as learning_rates

        if self.uses_lr_histories:
            sources = {}
            return learning_rates.per_step_lr(table, source, lr_file, sources), sources
        if lr_file is not None:
            raise ScalingError(f"--lr-file: the {self.name} law does not read learning rates "
                               "(only the LR-schedule laws do; see `scaling laws`)")
        return None, None

    def prepare_where(self, runs, where, lr_file=None, *, dedupe: str | None = None
                      ) -> PreparedRuns:
        """`prepare`, then the rows the query `where` keeps, with the checks of `prepare` held
        on those rows only (`prepare_rows`): a bad row the query drops is no error, and an
        error about a row it keeps names the query. `dedupe` as in `scaling.data.runs.read_runs`."""
        if isinstance(runs, PreparedRuns):
            return self.prepare(runs).select(where)
        source = str(runs.attrs.get("source", "run table"))
        query = run_tables.parse_query(where, "--where", source)
        data, _ = self.prepare_rows(runs, lr_file, (query,),
                                    lambda frame: run_tables.filter_rows(frame, query, source),
                                    f"the rows --where {query.text!r} keeps", dedupe)
        data.where = (*data.where, query.text)
        return self.prepare(data)             # a law's own step on prepared rows (mup's terms)

    def prepare_rows(self, runs: pd.DataFrame, lr_file, queries, pick: Callable, checked: str,
                     dedupe: str | None = None):
        """The rows of a run table that `pick` keeps, checked and with the derived columns:
        (`PreparedRuns` of those rows, the frame `pick` returned).

        `pick(frame)` gets every row of the table as `queries` read it (`scaling.data.runs.readable`:
        numbers where a cell is one, NaN where not; `flops` and `epochs` derived) and returns
        the rows it keeps (`scaling.data.runs.filter_rows`). Only those rows are checked (the rules
        of `prepare`; an error names `checked`, "the rows --where 'q' keeps"), so a bad or
        duplicate row the queries drop is no error. The derived columns are computed after the
        checks: from the kept rows, and for a law whose `derive` reads other rows of a run (the
        LR-schedule laws' per-step LRs; `derives_from_runs`: the sparse law's N̄) from every row
        of the kept rows' runs too, each checked in every column but the target (the kept rows
        win over another row at their step; a row at no step, or at one a row before it holds,
        is left out). A query that names a column only the law derives (`lr_area`) reads every
        row's value of it: then every row is checked, as by `prepare`."""
        self.check_settings()
        source = str(runs.attrs.get("source", "run table"))
        run_tables.check_columns(runs, source, self.read_columns)
        plain = run_tables.readable(runs, self.read_columns)
        names = {column for query in queries if query is not None for column in query.columns}
        if any(name not in plain.columns and not (
                name.startswith(run_tables.FINAL_PREFIX)
                and name[len(run_tables.FINAL_PREFIX):] in plain.columns) for name in names):
            data = self._prepare_table(runs, lr_file, dedupe)
            picked = pick(data.frame)
            return data.rows_at(picked), picked
        picked = pick(plain)
        try:
            table = run_tables.validate(runs.loc[picked.index], source, self.read_columns,
                                        dedupe)
            self.check_positive(table, source)
            self.check_range(table, source)
        except ScalingError as error:
            raise ScalingError(f"{error} (checked on {checked})") from None
        table = run_tables.derive_columns(table)                 # flops, epochs
        if self.uses_lr_histories or self.derives_from_runs:
            full = pd.concat([table, self._run_rows(runs, plain, picked, table, source,
                                                    checked)]).sort_index()
            full.attrs = dict(table.attrs)
            try:
                histories, sources = self._lr_histories(full, source, lr_file)
                frame = self.derive(full, histories)
            except ScalingError as error:
                raise ScalingError(f"{error} ({self._whole_runs(checked)})") from None
        else:
            histories, sources = self._lr_histories(table, source, lr_file)
            frame = self.derive(table, histories)
        frame = frame[frame.index.isin(table.index)]
        frame = frame.astype({column: table[column].dtype for column in table.columns
                              if column in frame.columns
                              and frame[column].dtype != table[column].dtype})
        frame.attrs = {**frame.attrs, "source": source,
                       "cut_runs": dict(picked.attrs.get("cut_runs") or {})}
        where = runs.attrs.get("where")
        return PreparedRuns(frame, source, histories, (where,) if where else (), sources), \
            picked

    def _whole_runs(self, checked: str) -> str:
        return (f"the {self.name} law derives its inputs from every row of the runs of "
                f"{checked}")

    def _run_rows(self, runs, plain, picked, table, source, checked) -> pd.DataFrame:
        """The rows of the runs of `table` (the checked kept rows) that `picked` left out, for a
        `derive` that reads whole runs: checked in every column but the target (its value is
        NaN where not a number); a row at no step (no `step`: no tokens), or at the step of a
        kept row or of a row before it, is left out."""
        others = plain[plain["run"].isin(set(table["run"])) & ~plain.index.isin(picked.index)]
        if len(others) == 0:
            return others.iloc[:0]
        at = "step" if "step" in plain.columns else "tokens"
        position = np.isfinite(others[at].to_numpy(float))
        kept = set(zip(table["run"], table[at]))
        clash = np.array([(run, value) in kept for run, value in zip(others["run"], others[at])])
        others = others[position & ~clash & ~others.duplicated(["run", at]).to_numpy()]
        raw = runs.loc[others.index]
        try:
            checked_rows = run_tables.validate(raw, source, self.read_columns, None,
                                               skip=(self.target,))
            self.check_positive(checked_rows, source)
        except ScalingError as error:
            raise ScalingError(f"{error} ({self._whole_runs(checked)})") from None
        checked_rows[self.target] = others[self.target] if self.target in others.columns \
            else np.nan
        return run_tables.derive_columns(checked_rows)  # the other columns as the file has them

    def check_positive(self, table: pd.DataFrame, source) -> None:
        """The `positive_columns` the table has, as finite numbers > 0 (converted in place), or
        a one-line error naming the file, the column and the first bad row."""
        for column in self.positive_columns:
            if column not in table.columns:
                continue
            values = run_tables.as_finite_numbers(table[column], column, source)
            bad = table.index[values <= 0]
            if len(bad):
                raise ScalingError(f"{source}: column {column!r}, row {bad[0]}: must be positive "
                                   f"for the {self.name} law, got {values.at[bad[0]]:g}")
            table[column] = values

    def check_range(self, table: pd.DataFrame, source) -> None:
        """Every row's target inside `target_range` (an accuracy in [0, 1]), checked on the raw
        table: a law that averages rows (the task laws) must not smooth a bad value away."""
        low, high = self.target_range
        if self.target not in table.columns or not (math.isfinite(low) or math.isfinite(high)):
            return
        values = pd.to_numeric(table[self.target], errors="coerce")
        bad = table.index[(values < low) | (values > high)]
        if len(bad):
            raise ScalingError(f"{source}: column {self.target!r}, row {bad[0]}: must be in "
                               f"[{low:g}, {high:g}] for the {self.name} law, got "
                               f"{values.at[bad[0]]:g}")

    def derive(self, table: pd.DataFrame, lr_histories=None) -> pd.DataFrame:
        """Add the derived inputs to a validated run table (identity for most laws)."""
        return table

    def fit_rows(self, data: PreparedRuns) -> pd.DataFrame:
        """The rows the law fits: one per run ("final") or every row ("all")."""
        return run_tables.final_rows(data.frame) if self.rows == "final" else data.frame

    def inputs_from(self, frame: pd.DataFrame, lr_histories=None) -> dict[str, np.ndarray]:
        return {name: frame[name].to_numpy(float) for name in self.inputs}

    # -- fitting -------------------------------------------------------------------------------
    def problems(self, data: PreparedRuns) -> list[Problem]:
        """The least-squares problems of a fit: one for most laws, one per step when chained."""
        points = self.fit_rows(data)
        self.check_points(points, data.source)
        return [Problem(self, points, self.inputs_from(points, data.lr_histories),
                        self.to_space(points[self.target].to_numpy(float)))]

    def fit(self, runs, *, where: str | None = None, lr_file=None, bootstrap: int = 0,
            seed: int = 0, n_jobs: int | None = None, calibrate: bool = False,
            noise_floor: float = 0.0) -> "Law":
        """Fit to a run table (or `PreparedRuns`); returns self, fitted.

        `where` keeps the rows matching a query (`scaling.data.query`), and only those are checked
        (`prepare_where`; the derived columns still read whole runs where a law needs them);
        `bootstrap` resamples (runs, or curve blocks for laws of whole curves) give intervals;
        `calibrate` learns how the error grows beyond the fitted data from refits of splits of
        it (`scaling.engine.calibration`), for the default "calibrated" intervals; `noise_floor` is
        the run-to-run scatter (law space) those intervals never go below."""
        fitting.check_bootstrap(bootstrap)
        if seed < 0:
            raise ScalingError(f"--seed must be 0 or more, got {seed}")
        data = self.prepare_where(runs, where, lr_file) if where else \
            self.prepare(runs, lr_file)
        problems = self.problems(data)
        with fitting.one_blas_thread():
            solutions = [fitting.minimize(p.model, p.inputs, p.target, delta=p.model.delta,
                                          n_polish=p.model.n_polish,
                                          extra_starts=p.model.extra_starts())
                         for p in problems]
        self.theta_ = np.concatenate([solution.theta for solution in solutions])
        self.params_ = self._reported_dict(self.theta_)
        self.objective_ = float(sum(solution.objective for solution in solutions))
        self.converged_ = all(solution.converged for solution in solutions)
        self.message_ = "; ".join(dict.fromkeys(solution.message for solution in solutions))
        self.at_bound_ = fitting.at_bounds(self, self.theta_)
        self.n_points_ = sum(len(p.points) for p in problems)
        self.n_runs_ = int(pd.concat([p.points["run"][~anchors(p.points)]
                                      for p in problems]).nunique())
        self.n_starts_ = sum(solution.n_candidates for solution in solutions)
        self.data_ = {"source": data.source, "where": " and ".join(data.where) or None,
                      "n_rows": len(data.frame)}
        if data.lr_sources is not None:
            self.data_["lr_sources"] = data.lr_sources_of_rows()
        if self.rows != "all" and data.cut_runs:   # read as if they ended there: a warning
            self.data_["cut_runs"] = data.cut_runs
        self.residuals_ = self.fit_residuals(problems)
        self.fitted_range_ = fitted_range(
            self.coordinate_values(pd.concat([p.points for p in problems]), data.lr_histories),
            self.scales)
        self.n_values_ = distinct_values(problems)
        self.extras_ = self.fit_extras(pd.concat([p.points for p in problems]))
        self.bootstrap_theta_ = np.empty((0, len(self.parameters)))
        self.bootstrap_seed_ = seed
        if bootstrap:
            groups, strata = self.bootstrap_groups(problems, data.source)
            weights = fitting.resample_weights(groups, bootstrap, seed, strata)
            parts, offset = [], 0
            with fitting.one_blas_thread():
                for problem, solution in zip(problems, solutions):
                    columns = weights[:, offset:offset + len(problem.points)]
                    offset += len(problem.points)
                    parts.append(fitting.refit(problem.model, problem.inputs, problem.target,
                                               columns, delta=problem.model.delta,
                                               start=solution.theta, n_jobs=n_jobs))
            self.bootstrap_theta_ = np.hstack(parts)
        self.intervals_, self.standard_errors_ = self._parameter_intervals()
        self.outside_interval_ = self.points_outside_intervals()
        self.seed_scatter_ = measured_seed_scatter(self, data)
        self.calibration_ = None
        if calibrate:
            from scaling.engine.calibration import calibrate as learn_errors

            floor = noise_floor
            if self.seed_scatter_ is not None:      # repeated seeds: a new run scatters so
                floor = max(floor, self.seed_scatter_["sigma"])
            with fitting.one_blas_thread():
                self.calibration_ = learn_errors(self, data, noise_floor=floor, seed=seed)
        return self

    def fit_residuals(self, problems: list[Problem]) -> np.ndarray:
        """Residuals of the fitted law in its residual space (for 'run' intervals)."""
        (problem,) = problems
        return problem.target - self.predict_theta(self.theta_[None, :], problem.inputs)[0]

    def bootstrap_groups(self, problems: list[Problem], source):
        """The label of each point (all problems' points in order) that the bootstrap resamples,
        and the strata it resamples within (None: all together)."""
        (problem,) = problems
        points = problem.points
        if self.bootstrap_unit == "curve blocks":   # a few whole curves: blocks within each
            return fitting.curve_blocks(points["run"], points["step"]), points["run"].to_numpy()
        return run_groups(points, source), None

    def check_points(self, points: pd.DataFrame, source) -> None:
        """One-line errors for rows this law cannot fit."""
        values = points[self.target]
        if self.space == "log":
            bad = points.index[values <= 0]
            if len(bad):
                raise ScalingError(f"{source}: column {self.target!r}, row {bad[0]}: must be "
                                   f"positive for a fit in log space, got "
                                   f"{points.at[bad[0], self.target]:g}")
        # (the target's range was checked on every row of the table: `check_range`)
        if points["run"].nunique() < 2 and self.rows == "final":
            raise ScalingError(f"{source}: only one run ({points['run'].iloc[0]!r}); "
                               f"the {self.name} law needs several runs to fit")
        needed = len(self.parameters) + 1
        if len(points) < needed:
            raise ScalingError(f"{source}: {len(points)} points for {len(self.parameters)} "
                               f"parameters; the {self.name} law needs at least {needed}")
        for column in self.power_inputs:
            distinct = distinct_positive(points[column])
            if len(distinct) < 3:
                values = ", ".join(f"{v:.4g}" for v in distinct)
                raise ScalingError(
                    f"{source}: column {column!r} takes {len(distinct)} distinct value(s) "
                    f"({values}); the {self.name} law cannot identify its {column} exponent "
                    f"without at least 3")

    # -- extrapolation distance ----------------------------------------------------------------
    @property
    def scales(self) -> tuple[str, ...]:
        """The coordinates in which a point outside the fitted range, above or below it, is
        extrapolation (`scale_columns`): every input the law reads, or a value it derives from
        them (the schedule's peak LR of a curve law, the data-constrained law's epochs)."""
        if self.scale_columns is not None:
            return tuple(self.scale_columns)
        return ("step",) if self.rows == "all" else tuple(self.power_inputs)

    def scale_values(self, values: dict) -> dict[str, np.ndarray]:
        """{scale: values (1-D)} of points given as {column: values} (inputs, run-table columns,
        the coordinates a curve prediction passes): the `scales` the values hold or the law
        derives from them. Laws with derived coordinates extend it."""
        out = {}
        for name in self.scales:
            value = values.get(name) if hasattr(values, "get") else None
            if value is not None:
                out[name] = np.atleast_1d(np.asarray(value, float))
        return out

    def reach(self, values: dict) -> dict[str, np.ndarray]:
        """{scale: value / the largest fitted value} for the scales of `values` that the fit
        has a range for (> 1: beyond its largest; see `distances` for both sides)."""
        self._check_fitted()
        return {name: value / self.fitted_range_[name][1]
                for name, value in self.scale_values(values).items()
                if name in self.fitted_range_}

    def distances(self, values: dict) -> dict[str, np.ndarray]:
        """{scale: decades outside the fitted range [smallest, largest]}, on either side:
        log10(value / largest) above it, log10(smallest / value) below it (for the
        `one_sided_scales`, above only), 0 inside; for the scales of `values` the fit has a
        range for. A value ≤ 0 of a scale is below any positive range: infinitely far."""
        self._check_fitted()
        scales = {name: value for name, value in self.scale_values(values).items()
                  if name in self.fitted_range_}
        arrays = np.broadcast_arrays(*scales.values()) if scales else []
        out = {}
        for name, value in zip(scales, arrays):
            low, high = self.fitted_range_[name]
            with np.errstate(divide="ignore", invalid="ignore"):
                above = np.maximum(0.0, np.log10(value / high))
                below = np.maximum(0.0, np.log10(low / np.maximum(value, 0.0)))
            if name in self.one_sided_scales:
                below = np.zeros_like(above)
            out[name] = np.where(np.isnan(value), np.nan, above + below)
        return out

    def error_coordinates(self, values: dict) -> dict[str, np.ndarray]:
        """Where the calibrated error model (`scaling.engine.calibration`) reads a point: its
        `distances` outside the fitted data and, for laws of whole curves, its `progress` along
        the curve, log10(step / the first fitted step), and for laws of LRs its `lr_decay`: a
        curve law's error accumulates with the schedule behind a row and is largest where the
        LR has been annealed, so a held-out schedule's late, annealed rows miss by more than its
        early ones even at lengths inside the fitted range."""
        out = self.distances(values)
        if self.rows == "all" and "step" in self.fitted_range_ and values.get("step") is not None:
            first = self.fitted_range_["step"][0]
            step = np.atleast_1d(np.asarray(values["step"], float))
            out["progress"] = np.maximum(0.0, np.log10(np.maximum(step, 1e-300) / first))
        if self.uses_lr_histories and values.get("lr_decay") is not None:
            out["lr_decay"] = np.atleast_1d(np.asarray(values["lr_decay"], float))
        return out

    def coordinate_values(self, frame: pd.DataFrame, lr_histories=None) -> dict:
        """The values `error_coordinates` reads, for the rows of a prepared frame: the scales
        (`scale_values` of its columns) and, for laws of LRs, `lr_decay` (how far each row's LR
        has been annealed, decades below the highest LR so far; scaling.data.lr_history.lr_decay) and the
        run's peak LR (`peak_lr`)."""
        columns = {name: frame[name].to_numpy(float) for name in frame.columns
                   if isinstance(name, str) and name in (*self.scales, *self.inputs,
                                                         *self.scale_inputs)}
        if self.uses_lr_histories and lr_histories is not None and "step" in frame:
            from scaling.data.lr_history import lr_decay_of_rows, peak_lr_of_rows

            columns["lr_decay"] = lr_decay_of_rows(frame, lr_histories)
            columns["peak_lr"] = peak_lr_of_rows(frame, lr_histories)
        values = self.scale_values(columns)
        if "lr_decay" in columns:
            values["lr_decay"] = columns["lr_decay"]
        return values

    # columns a law's `scale_values` derives its coordinates from, beside its inputs
    scale_inputs: ClassVar[tuple[str, ...]] = ()

    def distance(self, values: dict) -> np.ndarray:
        """How far points reach outside the fitted data, in decades: the sum of `distances` over
        the scales; 0 inside the fitted range. For Chinchilla, 1.0 is ten times the largest
        fitted params (or tokens, or a tenth of the smallest), or about ten times the largest
        fitted compute when both grow."""
        parts = self.distances(values)
        if not parts:
            lengths = [np.size(v) for v in values.values() if v is not None]
            return np.zeros(max(lengths, default=1))
        return np.sum(list(parts.values()), axis=0)

    # -- fitted values -------------------------------------------------------------------------
    def _check_fitted(self):
        if not hasattr(self, "theta_"):       # the scikit-learn test for a fitted estimator
            raise ScalingError(f"the {self.name} law has not been fitted yet")

    def _reported_dict(self, theta) -> dict[str, float]:
        values = self.reported(np.atleast_2d(theta))
        return {name: float(values[name][0]) for name in self.reported_names}

    def notes(self) -> list[str]:
        """Lines a law adds to its report to explain a fitted result that reads as broken but is
        not (none by default)."""
        return []

    def law_warnings(self) -> list[dict]:
        """Warnings of this law's own about its fit (`scaling.engine.diagnostics` codes; none by
        default), from what a fit file keeps, so a loaded fit gives the same."""
        return []

    @property
    def benign_bounds(self) -> tuple[str, ...]:
        """Fit-space parameters whose bound is where the law's method means them to end (no
        at-bound warning; `notes` says why): none by default."""
        return ()

    def fit_space(self, values: dict) -> np.ndarray:
        """The fit-space vectors (S, P) of reported values ({name: (S,)}), the inverse of
        `reported`. This default reads `reported_expressions`: a reported name is its fit-space
        parameter itself, or `exp` of it; a law reported otherwise defines its own."""
        columns = []
        for parameter in self.parameters:
            name = self.reported_name(parameter.name)
            expression = self.reported_expressions.get(name, name)
            value = np.asarray(values[name], float)
            if expression == parameter.name:
                columns.append(value)
            elif expression == f"exp({parameter.name})":
                with np.errstate(all="ignore"):
                    columns.append(np.where(value > 0, np.log(np.abs(value)), np.nan))
            else:
                raise NotImplementedError(f"the {self.name} law reports {name} = {expression}: "
                                          "define fit_space")
        return np.stack(columns, axis=-1)

    def reported_names_of(self) -> dict[str, str]:
        """{fit-space name: the reported name it appears in}: `a` → `A` for Chinchilla."""
        out = {}
        for name in self.reported_names:
            expression = self.reported_expressions.get(name, name)
            for parameter in self.parameters:
                if re.search(rf"\b{re.escape(parameter.name)}\b", expression):
                    out.setdefault(parameter.name, name)
        return out

    def reported_name(self, fit_name: str) -> str:
        """The report's name of a fit-space parameter (itself when none reports it)."""
        return self.reported_names_of().get(fit_name, fit_name)

    def reported_range(self, fit_name: str, theta) -> tuple[float, float]:
        """The range of the reported parameter of `fit_name` when that fit-space parameter
        spans its bounds (the others at theta): what the law can report."""
        index = [p.name for p in self.parameters].index(fit_name)
        parameter = self.parameters[index]
        ends = np.tile(np.nan_to_num(np.asarray(theta, float)), (2, 1))
        ends[:, index] = parameter.lower, parameter.upper
        values = self.reported(ends)[self.reported_name(fit_name)]
        return float(np.min(values)), float(np.max(values))

    def points_outside_intervals(self) -> list[str]:
        """Reported parameters whose point lies outside its own bootstrap interval (a biased or
        many-moded bootstrap; the report warns)."""
        out = []
        for name, (low, high) in self.intervals_.items():
            value = self.params_[name]
            slack = 1e-9 * max(abs(low), abs(high), 1e-300)
            if not low - slack <= value <= high + slack:
                out.append(name)
        return out

    def _quantiles(self, level: float | None = None):
        tail = (1 - (self.confidence if level is None else level)) / 2
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

    @staticmethod
    def input_option(name: str) -> str:
        """The CLI option that gives an input: `--params`, or `--input loss:task=…`."""
        return f"--{name.replace('_', '-')}" if name.isidentifier() else f"--input {name}=…"

    def broadcast_inputs(self, values: dict) -> dict[str, np.ndarray]:
        missing = [name for name in self.inputs if values.get(name) is None]
        if missing:
            raise ScalingError(f"the {self.name} law needs {self.input_option(missing[0])} "
                               f"to predict")
        arrays = np.broadcast_arrays(*[np.atleast_1d(np.asarray(values[n], float))
                                       for n in self.inputs])
        for name, array in zip(self.inputs, arrays):
            if not np.all(np.isfinite(array)):
                raise ScalingError(f"{self.input_option(name)} must be finite")
            if name in self.power_inputs and np.any(array <= 0):
                raise ScalingError(f"{self.input_option(name)} must be positive and finite")
            run_tables.check_sensible_inputs(array, name, self.input_option(name))
        return dict(zip(self.inputs, arrays))

    def predict(self, **values) -> np.ndarray:
        """Point prediction of the target, e.g. `predict(params=7e10, tokens=1.4e12)`."""
        return self.predict_inputs(self.broadcast_inputs(values))

    def predict_interval(self, kind: str = "law", level: float | None = None, **values):
        """(prediction, lower, upper); the bounds are NaN when the fit has no such interval.

        kind="law": the interval of the fitted law's value (bootstrap: parameter uncertainty).
        kind="run": the interval for one new run's measured value: each bootstrap prediction
        plus a residual of the fit drawn at random, in the law's residual space (times
        exp(residual) in log space), so run-to-run scatter is included.
        kind="calibrated": the interval for a new run's measured value from the fit's error
        model (`scaling.engine.calibration`): it widens with the distance beyond the fitted data.
        `level` is the two-sided level (default: the law's `confidence`).
        """
        return self.interval_from_inputs(self.broadcast_inputs(values), kind, level)

    def predict_rows(self, data, kind: str | None = None, level: float | None = None):
        """Predictions for the rows of `PreparedRuns` (or of a frame that `prepare` made): the
        point prediction, or with `kind` ("law" | "run" | "calibrated") (prediction, lower,
        upper)."""
        frame = data.frame if isinstance(data, PreparedRuns) else data
        if isinstance(data, PreparedRuns):
            inputs = self.inputs_from(data.frame, data.lr_histories)
        else:
            inputs = self.inputs_from(data)
        if kind is None:
            return self.predict_inputs(inputs)
        scale = self.coordinate_values(frame, data.lr_histories
                                       if isinstance(data, PreparedRuns) else None)
        return self.interval_from_inputs(inputs, kind, level, scale)

    def predict_inputs(self, inputs: dict) -> np.ndarray:
        """Point predictions; NaN where a law of positive targets is at or below 0 by its
        formula (its fit reads the clip LOSS_CLIP there): a number would be a confident answer
        where the law's form has failed (`scaling.engine.diagnostics` warns of such points)."""
        self._check_fitted()
        return self.formula_failed(self.from_space(
            self.predict_theta(self.theta_[None, :], inputs)[0]))

    def formula_failed(self, values) -> np.ndarray:
        """`values` with NaN where a log-space law's prediction sits on its clip (≤ 0 by the
        formula)."""
        values = np.asarray(values, float)
        if self.space != "log":
            return values
        with np.errstate(invalid="ignore"):
            return np.where(values <= LOSS_CLIP * (1 + 1e-6), np.nan, values)

    def loss_floor(self) -> float | None:
        """The fitted irreducible loss (`floor_parameter`: E, L0), or None."""
        if self.floor_parameter is None or self.floor_parameter not in self.params_:
            return None
        return float(self.params_[self.floor_parameter])

    @property
    def interval_kinds(self) -> tuple[str, ...]:
        """The interval kinds this fit can give (none without a bootstrap or calibration)."""
        kinds = ("law", "run") if len(getattr(self, "bootstrap_theta_", ())) else ()
        return (*(("calibrated",) if getattr(self, "calibration_", None) else ()), *kinds)

    @property
    def default_interval(self) -> str:
        """The interval kind reports and predictions use: "calibrated" when the fit has an error
        model, else "run"."""
        return "calibrated" if getattr(self, "calibration_", None) else "run"

    def interval_from_inputs(self, inputs: dict, kind: str = "law", level: float | None = None,
                             scale: dict | None = None):
        """(point, lower, upper) at the law's inputs. `scale` holds the scale columns of the
        points when they are not among the inputs (steps of a curve), for calibrated intervals."""
        if kind not in INTERVAL_KINDS:
            raise ScalingError(f"interval kind must be one of {', '.join(INTERVAL_KINDS)}, "
                               f"got {kind!r}")
        level = self.confidence if level is None else float(level)
        point = self.predict_inputs(inputs)
        where = {**(inputs if isinstance(inputs, dict) else {}), **(scale or {})}
        if kind == "calibrated":
            if getattr(self, "calibration_", None) is None:
                nan = np.full_like(point, np.nan)
                return point, nan, nan
            distances = {name: np.broadcast_to(value, point.shape)
                         for name, value in self.error_coordinates(where).items()}
            low, high = self.calibration_.bounds(distances, level)
            centre = self.to_space(point)
            with np.errstate(all="ignore"):
                return self.beyond_a_trend(where, *self.within_range(
                    point, self.from_space(centre + low), self.from_space(centre + high)))
        if not len(self.bootstrap_theta_):
            samples = np.empty((0, len(point)))
        else:
            samples = self.from_space(self.predict_theta(self.bootstrap_theta_, inputs))
        if kind == "run":
            samples = self.with_scatter(samples)
        point, lower, upper = self.interval(point, samples, level)
        failed = ~np.isfinite(point)           # ≤ 0 by the formula: no interval either
        lower, upper = np.where(failed, np.nan, lower), np.where(failed, np.nan, upper)
        return self.beyond_a_trend(where, *self.within_range(point, lower, upper))

    def unidentified_range(self) -> tuple[float, float] | None:
        """(low, high): what the target may be anywhere beyond the fitted data when the fit's own
        warnings say its data show no trend to extrapolate (the task laws' near-chance and
        no-trend); None (the default) when they do."""
        return None

    def beyond_a_trend(self, where: dict, point, lower, upper):
        """Intervals of the points beyond the fitted data widened to `unidentified_range`: a fit
        to data with no trend cannot say where the trend starts, and its bootstrap refits and
        splits, all as flat as the data, agree on a rise the next sizes need not show (a
        sigmoid through the ideal point predicted 99% for Pythia-2.8B on an MMLU subject it
        scores 25% on, inside a 95% interval of [77%, 100%]). Points without an interval keep
        none."""
        span = self.unidentified_range()
        if span is None:
            return point, lower, upper
        beyond = np.broadcast_to(self.distance(where) > 0, np.shape(point))
        with np.errstate(invalid="ignore"):
            lower = np.where(beyond & np.isfinite(lower), np.minimum(lower, span[0]), lower)
            upper = np.where(beyond & np.isfinite(upper), np.maximum(upper, span[1]), upper)
        return point, lower, upper

    def within_range(self, point, lower, upper):
        """An interval cut to the range the target can take (`target_range`: [0, 1] for an
        accuracy), where the point is inside it. A point outside is left as predicted, with its
        interval (a warning says the law's form has failed there; a cut interval [1, 1] would
        read as certainty)."""
        low, high = self.target_range
        if math.isfinite(low) or math.isfinite(high):
            point = np.asarray(point, float)
            with np.errstate(invalid="ignore"):
                inside = (point >= low) & (point <= high)
                lower = np.where(inside, np.clip(lower, low, high), lower)
                upper = np.where(inside, np.clip(upper, low, high), upper)
        return point, lower, upper

    def with_scatter(self, samples):
        """Bootstrap predictions (K, n) plus a residual of the fit drawn with replacement, in the
        residual space (log space: times exp(residual)). One draw per bootstrap sample, shared by
        its n points: each point's interval is then the same whichever other points are predicted
        with it (a curve at --every 25 or 100 has the same interval at its last step)."""
        if not len(samples) or self.residuals_ is None or not len(self.residuals_):
            return samples
        rng = np.random.default_rng(self.bootstrap_seed_ + 1)
        draws = rng.choice(np.asarray(self.residuals_, float), size=(len(samples), 1))
        return self.from_space(self.to_space(samples) + draws)

    def interval(self, point, samples, level: float | None = None):
        """A point estimate with the percentile interval of its bootstrap samples (K, n)."""
        point = np.asarray(point, float)
        if not len(samples):
            nan = np.full_like(point, np.nan)
            return point, nan, nan
        low, high = self._quantiles(level)
        lower, upper = np.nanpercentile(samples, [low, high], axis=0)
        return point, lower, upper

    # -- output --------------------------------------------------------------------------------
    def report(self) -> str:
        from scaling.output.report import fit_report

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
        """The fit file's record (format 3, `scaling.output.fit_file`)."""
        from scaling.output.fit_file import to_record

        self._check_fitted()
        return to_record(self)

    def to_json(self, path=None) -> str:
        """The fit as JSON; written atomically to `path` when given."""
        text = json.dumps(self.to_dict(), indent=1)
        if path is not None:
            write_text(path, text)
        return text

    @classmethod
    def from_dict(cls, record: dict) -> "Law":
        """A fitted law from a fit file's record, every field checked (`scaling.output.fit_file`)."""
        from scaling.output.fit_file import from_record

        return from_record(cls, record)
