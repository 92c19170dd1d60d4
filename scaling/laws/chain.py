"""Chained laws: step 1 predicts an intermediate column from the inputs, step 2 predicts the
target from that column.

    ŷ = f₂(θ₂; f₁(θ₁; x))

Each step is a law of its own (its target, residual space, rows and engine settings): step 1 is
fitted on its rows (e.g. each run's final row) against the observed intermediate column, step 2
on its rows (e.g. every checkpoint) against the observed target with the observed intermediate
column as its input. A prediction chains them: step 2 at step 1's prediction. The bootstrap
resamples runs once for both steps, so each of its refits is a pair (θ₁, θ₂) fitted on the same
runs, and the intervals of a chained prediction carry both steps' uncertainty and their
correlation.

A chained law is a subclass that names its steps in `make_steps` (from its own settings):

    @register
    class Task(Chain):
        name = "task"
        ...
        def make_steps(self):
            return Chinchilla(target=f"loss:{self.task}"), TaskAccuracy(task=self.task)

Step 2 must read step 1's target as an input, accept it as an (S, n) array (one row of inputs
per parameter vector) and give `predict_theta_input_grad` for it.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from scaling.engine.fit import Fit
from scaling.engine.fitting import Parameter
from scaling.laws.base import Law, Problem, run_groups


class Chain(Law):
    """Base class of chained laws (two steps); see the module docstring."""

    rows = "both"
    step_names: tuple[str, str] = ("step1", "step2")     # prefixes of the steps' fit-space names

    def __init__(self, **settings):
        super().__init__(**settings)
        self.steps = tuple(self.make_steps())
        first, second = self.steps
        if first.target not in second.inputs:
            raise ValueError(f"{self.name}: step 2 ({second.name}) does not read step 1's "
                             f"target {first.target!r}")
        self.link = first.target
        self._names = self._reported_name_map()

    def make_steps(self) -> tuple[Law, Law]:
        raise NotImplementedError

    # -- what the chain declares, from its steps -----------------------------------------------
    @property
    def inputs(self):
        first, second = self.steps
        return (*first.inputs, *[name for name in second.inputs if name != self.link])

    @property
    def target(self):
        return self.steps[1].target

    @property
    def space(self):
        return self.steps[1].space

    @property
    def power_inputs(self):
        return self.steps[0].power_inputs

    @property
    def target_range(self):
        return self.steps[1].target_range

    @property
    def read_columns(self):
        columns = [column for step in self.steps for column in step.read_columns]
        return tuple(dict.fromkeys(columns))

    @property
    def parameters(self):
        return tuple(Parameter(f"{prefix}_{p.name}", p.lower, p.upper, p.grid)
                     for prefix, step in zip(self.step_names, self.steps)
                     for p in step.parameters)

    @property
    def reported_names(self):
        return tuple(self._names[(k, name)] for k, step in enumerate(self.steps)
                     for name in step.reported_names)

    @property
    def reported_expressions(self):
        out = {}
        for k, (prefix, step) in enumerate(zip(self.step_names, self.steps)):
            fit_names = [p.name for p in step.parameters]
            for name, expression in step.reported_expressions.items():
                for fit_name in fit_names:
                    expression = re.sub(rf"\b{re.escape(fit_name)}\b", f"{prefix}_{fit_name}",
                                        expression)
                out[self._names[(k, name)]] = expression
        return out

    @property
    def objective_description(self) -> str:
        return "; ".join(f"{prefix}: {step.objective_description}"
                         for prefix, step in zip(self.step_names, self.steps))

    def _reported_name_map(self) -> dict:
        """(step index, name) → the chain's name: the step's own, prefixed where they clash."""
        counts: dict[str, int] = {}
        for step in self.steps:
            for name in step.reported_names:
                counts[name] = counts.get(name, 0) + 1
        return {(k, name): name if counts[name] == 1 else f"{prefix}_{name}"
                for k, (prefix, step) in enumerate(zip(self.step_names, self.steps))
                for name in step.reported_names}

    def _split(self, theta):
        cut = len(self.steps[0].parameters)
        theta = np.atleast_2d(theta)
        return theta[:, :cut], theta[:, cut:]

    # -- the chained prediction ----------------------------------------------------------------
    def _second_inputs(self, inputs, intermediate):
        return {**{name: inputs[name] for name in self.steps[1].inputs if name != self.link},
                self.link: intermediate}

    def predict_theta(self, theta, inputs):
        first, second = self.steps
        theta_1, theta_2 = self._split(theta)
        intermediate = first.from_space(first.predict_theta(theta_1, inputs))      # (S, n)
        return second.predict_theta(theta_2, self._second_inputs(inputs, intermediate))

    def predict_theta_grad(self, theta, inputs):
        first, second = self.steps
        theta_1, theta_2 = self._split(theta)
        z_1, jacobian_1 = first.predict_theta_grad(theta_1, inputs)
        intermediate = first.from_space(z_1)
        if first.space == "log":                      # d x / d θ₁ = x · d log x / d θ₁
            jacobian_1 = jacobian_1 * intermediate[..., None]
        second_inputs = self._second_inputs(inputs, intermediate)
        value, jacobian_2 = second.predict_theta_grad(theta_2, second_inputs)
        slope = second.predict_theta_input_grad(theta_2, second_inputs, self.link)
        return value, np.concatenate([slope[..., None] * jacobian_1, jacobian_2], axis=-1)

    @property
    def benign_bounds(self):
        return tuple(f"{prefix}_{name}" for prefix, step in zip(self.step_names, self.steps)
                     for name in step.benign_bounds)

    def reported_names_of(self):
        return {f"{prefix}_{fit_name}": self._names[(k, name)]
                for k, (prefix, step) in enumerate(zip(self.step_names, self.steps))
                for fit_name, name in step.reported_names_of().items()}

    def fit_space(self, values):
        return np.concatenate([
            step.fit_space({name: values[self._names[(k, name)]] for name in step.reported_names})
            for k, step in enumerate(self.steps)], axis=-1)

    def reported(self, theta):
        out = {}
        for k, (step, part) in enumerate(zip(self.steps, self._split(theta))):
            for name, values in step.reported(part).items():
                out[self._names[(k, name)]] = values
        return out

    # -- fitting: one problem per step, one bootstrap over runs --------------------------------
    def fit_rows(self, data):
        return self.steps[1].fit_rows(data)

    def problems(self, data):
        out = []
        for step in self.steps:
            points = step.fit_rows(data)
            step.check_points(points, data.source)
            out.append(Problem(step, points, step.inputs_from(points, data.lr_histories),
                               step.to_space(points[step.target].to_numpy(float))))
        return out

    def fit_residuals(self, theta, problems):
        """Residuals of the chained prediction at step 2's points."""
        points = problems[1].points
        inputs = {name: points[name].to_numpy(float) for name in self.inputs}
        return problems[1].target - self.predict_theta(theta[None, :], inputs)[0]

    def bootstrap_groups(self, problems, source):
        return run_groups(pd.concat([problem.points for problem in problems]), source), None

    # -- a fit's steps ------------------------------------------------------------------------
    def step_fits(self, fit) -> tuple[Fit, Fit]:
        """Each step of a fit of this chain as a `Fit` of its own: the step's slice of the
        fitted parameters and of the bootstrap refits (one resample refitted both, so each
        step's intervals are its marginal ones), its own reported names; no data, calibration
        or fitted range (the chain's error model is of the chained prediction)."""
        out = []
        for part, point, samples in zip(self.steps, self._split(fit.theta_),
                                        self._split(fit.bootstrap_theta_)):
            step = Fit.with_parameters(part, point[0])
            step.bootstrap_theta_ = samples
            step.bootstrap_seed_ = fit.bootstrap_seed_
            step.intervals_, step.standard_errors_ = step.parameter_intervals()
            step.outside_interval_ = step.points_outside_intervals()
            step.n_runs_, step.converged_, step.message_ = fit.n_runs_, fit.converged_, \
                fit.message_
            out.append(step)
        return tuple(out)
