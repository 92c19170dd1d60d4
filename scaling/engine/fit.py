"""A fitted law: `Fit`, what `Law.fit` returns (the fit itself: `scaling.engine.fit_procedure`).

A `Law` (`scaling.laws.base`) only declares: its equation, parameters, inputs and the hooks its
subclasses override. Everything about one fit of it lives here: the law (a copy of the one fitted,
so a law can be fitted twice and a fit never changes under its owner), the data it saw
(`PreparedRuns`; None for a fit read from a file), the fitted values (their names end in `_`, in
scikit-learn's way: `theta_`, `params_`, `intervals_`, `standard_errors_`, `bootstrap_theta_`,
`calibration_`, `fitted_range_`, `at_bound_`, `converged_`, ...) and what they answer:
predictions with intervals, the reach of a point beyond the fitted data
(`scaling.engine.reach`), warnings (`scaling.engine.diagnostics`), the compute-optimal
allocation, the report and the fit file (`scaling.output.fit_file`, read back by
`scaling.output.fit_file_reading`).

    fit = scaling.fit("data/chinchilla/runs.parquet", where="loss < 3.44")
    fit.params                           # value, lower, upper, std_err, at_bound per parameter
    fit.predict(params=7e10, tokens=1.4e12)      # a DataFrame: point, interval, reach, warnings
    print(fit.summary())                 # the report `scaling fit` prints
    fit.save("fit.json"); scaling.load("fit.json")

Interval kinds: "law" (bootstrap of the law's value), "run" (the bootstrap plus a residual of the
fit: one new run's value) and "calibrated" (the error model: widens with the distance beyond the
fitted data). A fit has the kinds its bootstrap and calibration give (`interval_kinds`); asking
for another is a one-line `ScalingError` naming those it has, never NaN.
"""

from __future__ import annotations

import html
import json
import math

import numpy as np
import pandas as pd

from scaling.analysis import schedule_comparison
from scaling.data.prepare import PreparedRuns
from scaling.engine import diagnostics, fitting
from scaling.engine import reach as geometry
from scaling.engine.fitting import LOSS_CLIP
from scaling.errors import ScalingError
from scaling.output import fit_file, fit_figures, fit_report, prediction_columns, prediction_tables
from scaling.output.atomic import write_text
from scaling.output.fit_file_reading import from_record

INTERVAL_KINDS = ("calibrated", "run", "law")

# What a Fit answers for its law: the law's declaration (names, columns, abilities, and its pure
# functions of parameters and inputs), read from `fit.law`. Nothing fitted is among them, and the
# fit's own methods are never the law's: `fit.law.X` for anything else.
DECLARATION = frozenset({
    "name", "aliases", "title", "equation", "inputs", "target", "space", "rows", "columns",
    "read_columns", "target_range", "power_inputs", "parameters", "reported_names",
    "reported_expressions", "scales", "one_sided_scales", "uncalibrated_scales",
    "floor_parameter", "bootstrap_unit", "settings_spec", "residual_label",
    "objective_description", "error_kind", "judged_on_curves", "linear_parameters",
    "allocates_compute", "compute_formula", "allocation_labels", "predicts_schedules",
    "optimizes_vocabulary", "advises_data_limit", "uses_lr_histories",
    "settings", "training_compute", "input_option", "reported", "reported_name",
    "reported_range", "fit_space", "to_space", "from_space", "scale_values", "broadcast_inputs",
})


class Fit:
    """One fit of a law: the law, the data it saw, the fitted values, and what they answer."""

    def __init__(self, law, data: PreparedRuns | None = None):
        self.law = law
        self.data = data

    def __getattr__(self, name):
        """The law's declaration (`DECLARATION`) and its settings' values (`fit.confidence`)."""
        law = self.__dict__.get("law")
        if law is not None and (name in DECLARATION
                                or name in {s.name for s in law.settings_spec}):
            return getattr(law, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @classmethod
    def with_parameters(cls, law, theta) -> "Fit":
        """A fit that holds given fit-space parameters (a paper's published values, a law's
        truth in a simulation): no data, no bootstrap, no calibration, no fitted range."""
        fit = cls(law)
        fit.theta_ = np.asarray(theta, float)
        fit.params_ = fit.reported_values(fit.theta_)
        fit.bootstrap_theta_ = np.empty((0, len(law.parameters)))
        fit.bootstrap_seed_ = 0
        fit.intervals_, fit.standard_errors_ = {}, {}
        fit.outside_interval_, fit.at_bound_ = [], fitting.at_bounds(law, fit.theta_)
        fit.calibration_ = fit.residuals_ = fit.seed_scatter_ = None
        fit.fitted_range_, fit.n_values_, fit.extras_, fit.data_ = {}, {}, {}, {}
        fit.objective_, fit.converged_, fit.message_ = math.nan, True, "given parameters"
        fit.n_points_ = fit.n_runs_ = fit.n_starts_ = 0
        return fit

    # -- the Python view: lmfit's ModelResult, statsmodels' Results ----------------------------
    def __repr__(self) -> str:
        values = ", ".join(f"{name}={value:.4g}" for name, value in self.params_.items())
        return (f"<Fit {self.name}: {values}; {self.n_runs_} runs, {self.n_points_} points, "
                f"{'converged' if self.converged_ else 'NOT converged'}, intervals: "
                f"{', '.join(self.interval_kinds) or 'none'}>")

    @property
    def params(self) -> pd.DataFrame:
        """The reported parameters: value, lower and upper (bootstrap percentile interval at the
        fit's confidence; NaN without a bootstrap), std_err and at_bound."""
        bound = {self.law.reported_name(name) for name in self.at_bound_}
        rows = [(self.params_[name], *self.intervals_.get(name, (np.nan, np.nan)),
                 self.standard_errors_.get(name, np.nan), name in bound)
                for name in self.reported_names]
        frame = pd.DataFrame(rows, index=pd.Index(list(self.reported_names), name="parameter"),
                             columns=["value", "lower", "upper", "std_err", "at_bound"])
        return frame.astype({"value": float, "lower": float, "upper": float, "std_err": float,
                             "at_bound": bool})

    @property
    def warnings(self) -> list[dict]:
        """The fit's warnings (`scaling.engine.diagnostics`: {"code", "severity", "message"})."""
        return diagnostics.fit_warnings(self)

    def summary(self) -> str:
        """The fit's report: exactly what `scaling fit` prints."""
        return fit_report.fit_report(self)

    def _repr_html_(self) -> str:
        params = self.params
        cells = "".join(
            f"<tr><th>{html.escape(name)}</th>"
            + "".join(f"<td>{diagnostics.format_number(row[c])}</td>"
                      for c in ("value", "lower", "upper", "std_err"))
            + f"<td>{'yes' if row['at_bound'] else ''}</td></tr>"
            for name, row in params.iterrows())
        data = self.data_ or {}
        facts = [("law", f"{self.title}"), ("equation", self.equation),
                 ("data", f"{data.get('source', '?')}"
                  + (f" where {data['where']}" if data.get("where") else "")
                  + f": {self.n_runs_} runs, {self.n_points_} points"),
                 ("converged", "yes" if self.converged_ else "NO"),
                 ("bootstrap", f"{len(self.bootstrap_theta_)} resamples"),
                 ("intervals", ", ".join(self.interval_kinds) or "none"),
                 ("default interval", f"{100 * self.confidence:g}% "
                  f"{prediction_columns.interval_kind(self) or 'none'}")]
        facts_html = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
                             for k, v in facts)
        warnings = "".join(f"<li>{html.escape(w['message'])}</li>" for w in self.warnings)
        return (f"<div><table>{facts_html}</table><table><tr><th>parameter</th><th>value</th>"
                f"<th>lower</th><th>upper</th><th>std err</th><th>at bound</th></tr>{cells}"
                "</table>" + (f"<ul>{warnings}</ul>" if warnings else "") + "</div>")

    def plot(self, ax=None):
        """The observed-vs-fitted figure `scaling fit --plot` saves (and, for laws of params and
        tokens, the iso-loss panel), as a matplotlib Figure; nothing is written. `ax`: draw the
        observed-vs-fitted panel on this Axes instead (its figure is returned)."""
        return fit_figures.fit_figure(self, self._data_or_error("plot"), ax=ax)

    def _data_or_error(self, what: str) -> PreparedRuns:
        if self.data is None:
            raise ScalingError(f"a fit read from a file keeps no data to {what}; refit it")
        return self.data

    # -- fitted values -------------------------------------------------------------------------
    def reported_values(self, theta) -> dict[str, float]:
        """{reported name: value} of one fit-space vector."""
        values = self.law.reported(np.atleast_2d(theta))
        return {name: float(values[name][0]) for name in self.reported_names}

    def quantiles(self, level: float | None = None) -> tuple[float, float]:
        """The percentiles of a two-sided interval at `level` (default: the fit's confidence)."""
        tail = (1 - (self.confidence if level is None else level)) / 2
        return 100 * tail, 100 * (1 - tail)

    def parameter_intervals(self):
        """({name: (lower, upper)}, {name: std err}) of the reported parameters over the
        bootstrap (both empty without one)."""
        if not len(self.bootstrap_theta_):
            return {}, {}
        samples = self.law.reported(self.bootstrap_theta_)
        low, high = self.quantiles()
        intervals = {n: tuple(float(v) for v in np.nanpercentile(samples[n], [low, high]))
                     for n in self.reported_names}
        errors = {n: float(np.nanstd(samples[n], ddof=1)) for n in self.reported_names}
        return intervals, errors

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

    def loss_floor(self) -> float | None:
        """The fitted irreducible loss (the law's `floor_parameter`: E, L0), or None."""
        name = self.law.floor_parameter
        return None if name is None or name not in self.params_ else float(self.params_[name])

    @property
    def interval_kinds(self) -> tuple[str, ...]:
        """The interval kinds this fit can give (none without a bootstrap or calibration)."""
        kinds = ("law", "run") if len(self.bootstrap_theta_) else ()
        return (*(("calibrated",) if self.calibration_ is not None else ()), *kinds)

    @property
    def default_interval(self) -> str:
        """The kind reports and predictions use: "calibrated" with an error model, else "run"."""
        return "calibrated" if self.calibration_ is not None else "run"

    # -- predictions ---------------------------------------------------------------------------
    def predict(self, frame: pd.DataFrame | None = None, /, *, level: float | None = None,
                kind: str | None = None, **columns) -> pd.DataFrame:
        """Predictions as a DataFrame, one row a point: the inputs, the point (a column named
        after the target, e.g. `loss`), `lower` and `upper` of the interval of `kind` (default:
        the fit's, "calibrated" when it has an error model, else "run"; NaN when the fit has
        none) at `level`, `interval` (its kind), the reach per scale (`reach:params`: the value
        over the largest fitted one), `distance` (decades outside the fitted data) and
        `warnings` (what `scaling predict` warns of the row). Give the inputs as a frame of
        their columns or as keywords: `fit.predict(params=[1e9, 7e10], tokens=2e10)`."""
        values = dict(columns)
        if frame is not None:
            values = {**{name: frame[name].to_numpy(float) for name in self.inputs
                         if name in frame}, **values}
        record = prediction_tables.prediction_record(self, kind, level, **values)
        shown = record["interval"]["kind"]
        rows = record["predictions"]
        out = pd.DataFrame({name: [row[name] for row in rows] for name in self.inputs})
        out[self.target] = [_number(row["predicted"]) for row in rows]
        out["lower"] = [_number(row["lower"]) for row in rows]
        out["upper"] = [_number(row["upper"]) for row in rows]
        out["interval"] = shown
        for scale in (rows[0]["reach"] if rows else {}):
            out[f"reach:{scale}"] = [_number(row["reach"][scale]) for row in rows]
        out["distance"] = [_number(row["distance"]) for row in rows]
        out["warnings"] = [
            "; ".join(w["message"] for w in record["warnings"] if k in (w.get("rows") or ()))
            for k in range(len(rows))]
        return out

    def predict_values(self, **values) -> np.ndarray:
        """Point predictions of the target as an array: `predict_values(params=7e10,
        tokens=1.4e12)`."""
        return self.predict_inputs(self.law.broadcast_inputs(values))

    def predict_interval(self, kind: str | None = None, level: float | None = None, **values):
        """(point, lower, upper) arrays at the given inputs, the interval of `kind` (default:
        the fit's `default_interval`, NaN bounds when it has none) at `level` (default: the
        fit's confidence)."""
        return self.shown_interval(self.law.broadcast_inputs(values), kind, level)

    def shown_interval(self, inputs: dict, kind: str | None = None, level: float | None = None,
                       scale: dict | None = None):
        """(point, lower, upper) at the law's inputs with the interval tables show: of `kind`,
        or (None) the fit's default where it has it, else none (NaN bounds)."""
        kind = prediction_columns.interval_kind(self, kind)
        if kind is None:
            point = self.predict_inputs(inputs)
            return point, np.full_like(point, np.nan), np.full_like(point, np.nan)
        return self.interval_from_inputs(inputs, kind, level, scale)

    def predict_rows(self, data, kind: str | None = None, level: float | None = None):
        """Predictions for the rows of `PreparedRuns` (or of a frame that `prepare` made): the
        point prediction, or with `kind` (prediction, lower, upper)."""
        frame = data.frame if isinstance(data, PreparedRuns) else data
        histories = data.lr_histories if isinstance(data, PreparedRuns) else None
        inputs = self.law.inputs_from(frame, histories)
        if kind is None:
            return self.predict_inputs(inputs)
        scale = geometry.coordinate_values(self.law, frame, histories)
        return self.interval_from_inputs(inputs, kind, level, scale)

    def predict_inputs(self, inputs: dict) -> np.ndarray:
        """Point predictions at the law's inputs; NaN where a law of positive targets is at or
        below 0 by its formula (its fit reads the clip LOSS_CLIP there): a number would be a
        confident answer where the law's form has failed (`scaling.engine.diagnostics` warns)."""
        return self.formula_failed(self.law.from_space(
            self.law.predict_theta(self.theta_[None, :], inputs)[0]))

    def formula_failed(self, values) -> np.ndarray:
        """`values` with NaN where a log-space law's prediction sits on its clip (≤ 0 by the
        formula)."""
        values = np.asarray(values, float)
        if self.space != "log":
            return values
        with np.errstate(invalid="ignore"):
            return np.where(values <= LOSS_CLIP * (1 + 1e-6), np.nan, values)

    def interval_from_inputs(self, inputs: dict, kind: str, level: float | None = None,
                             scale: dict | None = None):
        """(point, lower, upper) at the law's inputs, the interval of `kind` (one the fit has:
        else a one-line error naming those it has). `scale` holds the points' scale columns
        that are not among the inputs (steps of a curve), for calibrated intervals."""
        if kind not in INTERVAL_KINDS:
            raise ScalingError(f"interval kind must be one of {', '.join(INTERVAL_KINDS)}, "
                               f"got {kind!r}")
        prediction_columns.interval_kind(self, kind)   # a kind the fit lacks: the CLI's error
        level = self.confidence if level is None else float(level)
        point = self.predict_inputs(inputs)
        where = {**(inputs if isinstance(inputs, dict) else {}), **(scale or {})}
        if kind == "calibrated":
            distances = {name: np.broadcast_to(value, point.shape)
                         for name, value in self.error_coordinates(where).items()}
            low, high = self.calibration_.bounds(distances, level)
            centre = self.law.to_space(point)
            with np.errstate(all="ignore"):
                return self.beyond_a_trend(where, *self.within_range(
                    point, self.law.from_space(centre + low),
                    self.law.from_space(centre + high)))
        samples = self.law.from_space(self.law.predict_theta(self.bootstrap_theta_, inputs))
        if kind == "run":
            samples = self.with_scatter(samples)
        point, lower, upper = self.interval(point, samples, level)
        failed = ~np.isfinite(point)           # ≤ 0 by the formula: no interval either
        lower, upper = np.where(failed, np.nan, lower), np.where(failed, np.nan, upper)
        return self.beyond_a_trend(where, *self.within_range(point, lower, upper))

    def beyond_a_trend(self, where: dict, point, lower, upper):
        """Intervals of the points beyond the fitted data widened to the law's
        `unidentified_range`: a fit to data with no trend cannot say where the trend starts,
        and its bootstrap refits, all as flat as the data, agree on a rise the next sizes need
        not show (a sigmoid through the ideal point predicted 99% for Pythia-2.8B on an MMLU
        subject it scores 25% on, inside a 95% interval of [77%, 100%]). Points without an
        interval keep none."""
        span = self.law.unidentified_range(self)
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
        its n points: each point's interval is then the same whichever other points are
        predicted with it (a curve at --every 25 or 100 has the same interval at its last
        step)."""
        if not len(samples) or self.residuals_ is None or not len(self.residuals_):
            return samples
        rng = np.random.default_rng(self.bootstrap_seed_ + 1)
        draws = rng.choice(np.asarray(self.residuals_, float), size=(len(samples), 1))
        return self.law.from_space(self.law.to_space(samples) + draws)

    def interval(self, point, samples, level: float | None = None):
        """A point estimate with the percentile interval of its bootstrap samples (K, n)."""
        point = np.asarray(point, float)
        if not len(samples):
            nan = np.full_like(point, np.nan)
            return point, nan, nan
        low, high = self.quantiles(level)
        lower, upper = np.nanpercentile(samples, [low, high], axis=0)
        return point, lower, upper

    # -- reach beyond the fitted data (scaling.engine.reach) -----------------------------------
    def reach(self, values: dict) -> dict[str, np.ndarray]:
        return geometry.reach(self, values)

    def distances(self, values: dict) -> dict[str, np.ndarray]:
        return geometry.distances(self, values)

    def distance(self, values: dict) -> np.ndarray:
        return geometry.distance(self, values)

    def error_coordinates(self, values: dict) -> dict[str, np.ndarray]:
        return geometry.error_coordinates(self, values)

    # -- the law's abilities that read fitted values -------------------------------------------
    def compute_optimal(self, flops) -> dict:
        """{quantity: (point, lower, upper)} at each compute budget, for laws that allocate
        compute (`allocates_compute`); the intervals are the bootstrap's (NaN without)."""
        if not self.allocates_compute:
            raise ScalingError(f"the {self.name} law has no compute-optimal allocation; give its "
                               "inputs instead of --flops")
        flops = np.atleast_1d(np.asarray(flops, float))
        point = self.law.compute_optimal_theta(self.theta_, flops)
        samples = (self.law.compute_optimal_theta(self.bootstrap_theta_, flops)
                   if len(self.bootstrap_theta_) else {k: np.empty((0, len(flops)))
                                                       for k in point})
        return {k: self.interval(point[k][0], samples[k]) for k in point}

    def predict_schedule(self, schedule: str, every: int | None = None, kind: str | None = None,
                         level: float | None = None, **sizes) -> pd.DataFrame:
        """The whole predicted curve of an LR schedule (LR-schedule laws): `Law.predict_schedule`."""
        return self.law.predict_schedule(self, schedule, every, kind, level, **sizes)

    def compare_schedules(self, base: str, every: int | None = None, kind: str | None = None,
                          level: float | None = None, **sizes) -> pd.DataFrame:
        """The predicted curves of constant, cosine and WSD schedules sharing `base`'s
        "peak=…,warmup=…,steps=…,final=…" (`scaling predict FIT --compare`;
        `scaling.analysis.schedule_comparison`), one DataFrame: variant, step, lr, the target,
        lower and upper (the interval of `kind`, default the fit's, at `level`)."""
        kind = prediction_columns.interval_kind(self, kind)
        curves = schedule_comparison.compare_schedules(self, base, every, kind, level, **sizes)
        columns = ["step", "lr", self.target, "lower", "upper"]
        table = pd.concat([curve[columns].assign(variant=name) for name, curve in curves.items()],
                          ignore_index=True)[["variant", *columns]]
        table.attrs = {"law": self.title, "target": self.target, "base": base, "interval": kind,
                       "level": self.confidence if level is None else float(level),
                       "schedules": {name: c.attrs.get("schedule") for name, c in curves.items()}}
        return table

    def optimal_vocab(self, params_nonembed, width, flops=None, kind: str | None = None,
                      level: float | None = None) -> dict:
        """The compute-optimal vocabulary (the vocabulary law): `Law.optimal_vocab`."""
        return self.law.optimal_vocab(self, params_nonembed, width, flops, kind, level)

    def data_limited(self, flops, unique_tokens, kind: str | None = None,
                     level: float | None = None) -> dict:
        """Compute allocation under a supply of unique tokens (the data-constrained law):
        `Law.data_limited`."""
        return self.law.data_limited(self, flops, unique_tokens, kind, level)

    def step_fits(self) -> tuple["Fit", ...]:
        """A chained law's steps, each as a `Fit` (`scaling.laws.chain.Chain.step_fits`)."""
        if self.law.rows != "both":            # the chained laws' rows (`Law.rows`)
            raise ScalingError(f"the {self.name} law is not chained: it has no steps")
        return self.law.step_fits(self)

    # -- fit files -----------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """The fit file's record (format 3, `scaling.output.fit_file`)."""
        return fit_file.to_record(self)

    def to_json(self, path=None) -> str:
        """The fit as JSON; written atomically to `path` when given."""
        text = json.dumps(self.to_dict(), indent=1)
        if path is not None:
            write_text(path, text)
        return text

    def save(self, path) -> None:
        """Write the sealed fit file, exactly as `scaling fit --out` does (`scaling.load` reads
        it back)."""
        self.to_json(path)

    @classmethod
    def from_dict(cls, law_class, record: dict) -> "Fit":
        """A fit of a law of `law_class` from a fit file's record, every field checked."""
        law_class.check_record(record)
        return from_record(law_class, record, cls)

    def to_lmfit(self):
        """The fit as lmfit `Parameters`: fit-space values with their bounds and bootstrap
        standard errors, and the paper's parameters as expressions of them (`E = exp(e)`)."""
        import lmfit                          # an optional dependency: only here

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


def _number(value) -> float:
    return np.nan if value is None else float(value)
