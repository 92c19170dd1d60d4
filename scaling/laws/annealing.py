"""LR annealing: the loss curve of a run as a function of its learning-rate schedule.

    L(s) = L0 + A · S1(s)^(−α) − C · S2(s)

    S1(s) = Σ_{i≤s} η_i                     forward area (warmup included)
    S2(s) = Σ_{i≤s} m_i,  m_i = λ·m_{i−1} + (η_{i−1} − η_i)   annealing area with momentum
                                           (LR rises, as in warmup, count as 0; scaling/data/lr_history.py)

Symbols: s the optimizer step (`step`), η_i the LR of update i (from `lr` or `schedule`, see
scaling/data/lr_history.py), L the held-out loss at step s (`loss`); L0 the loss floor, A and α the power law
in forward area, C the gain per unit of annealing area; λ = 0.999 by default (`decay`).
Every row of every run is a point (a whole curve), so one or two runs fit it.

With the size term, over runs of several model sizes (`annealing-size`, N = `params`):

    L(s, N) = L0 + A · S1(s)^(−α) + B · N^(−β) − C · S2(s)

Paper: Tissue et al. 2024, "Scaling Law with Learning Rate Annealing" (eq. 1; the size term of
their section on model size).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from scaling.data import lr_history as lr_areas
from scaling.engine.fitting import Parameter
from scaling.errors import ScalingError
from scaling.laws.base import BASE_SETTINGS, LOSS_CLIP, Law, Setting
from scaling.laws.registry import register

EXPONENT_GRID = tuple(np.round(np.arange(0.02, 2.0001, 0.02), 2))


@register
class Annealing(Law):
    name = "annealing"
    title = "LR annealing L(s) (Tissue et al. 2024)"
    equation = "L = L0 + A*S1^-alpha - C*S2 (S1: forward LR area, S2: annealing area)"
    inputs = ("lr_area", "anneal_area")
    derived_inputs = ("lr_area", "anneal_area")
    power_inputs = ("lr_area",)
    extra_columns = ("step",)
    rows = "all"
    # the schedule's length, LR area S1, annealing area S2 (counted above the fitted range only:
    # below it the annealing term C*S2 vanishes, the law's own baseline) and peak LR
    scale_columns = ("step", "lr_area", "anneal_area", "peak_lr")
    one_sided_scales = ("anneal_area",)
    uncalibrated_scales = ("anneal_area",)    # S2 grows as the LR decays, which the error model
    #   reads (lr_decay): fitted on both, S2 would take the growth inside the fitted range that
    #   lr_decay measures (a cosine's annealed rows would get the interval of its first ones)
    floor_parameter = "L0"
    bootstrap_unit = "curve blocks"
    uses_lr_histories = True
    predicts_schedules = True
    settings_spec = (*BASE_SETTINGS, Setting(
        "decay", 0.999, "λ, the momentum of the annealing area", float,
        lambda v: None if 0 <= v < 1 else "(lambda) must be in [0, 1)"))
    parameters = (
        # fit-space: l0 = log L0, a = log A, c = log C
        Parameter("l0", -10.0, 5.0, (0.0,)),
        Parameter("a", -30.0, 30.0, (0.0,)),
        Parameter("c", -30.0, 30.0, (0.0,)),
        Parameter("alpha", 0.0, 5.0, EXPONENT_GRID),
    )
    linear_parameters = ("l0", "a", "c")
    reported_names = ("L0", "A", "C", "alpha")
    reported_expressions = {"L0": "exp(l0)", "A": "exp(a)", "C": "exp(c)"}

    def derive(self, table, lr_histories=None):
        """Rows after step 0, with `lr_area` (S1) and `anneal_area` (S2) at their step."""
        prepared = lr_areas.areas(table, lr_histories, self.decay)
        return prepared[prepared["step"] > 0]

    def predict_schedule(self, fit, schedule: str, every: int | None = None,
                         kind: str | None = None, level: float | None = None, **sizes):
        """The whole predicted curve of a schedule string (scaling.data.schedules syntax): a frame of
        step, lr, lr_area, anneal_area, lr_decay, the target (loss) and its interval of `kind`
        (lower, upper; None: the fit's `default_interval`). Laws with a size term take it as a
        keyword (`params=1e8`)."""
        lr, steps = lr_areas.schedule_rows(schedule, every or 1)
        forward, annealing = lr_areas.cumulative_areas(lr, self.decay)
        inputs = {"lr_area": forward[steps - 1], "anneal_area": annealing[steps - 1]}
        decay = lr_areas.lr_decay(lr, steps)
        peak = np.full(len(steps), float(lr.max()))
        value, lower, upper = fit.shown_interval(
            self.broadcast_inputs({**inputs, **sizes}), kind, level,
            scale={"step": steps, "peak_lr": peak, "lr_decay": decay})
        curve = pd.DataFrame({"step": steps, "lr": lr[steps - 1], **inputs, "peak_lr": peak,
                              **{k: np.full(len(steps), float(v)) for k, v in sizes.items()},
                              "lr_decay": decay, self.target: value, "lower": lower,
                              "upper": upper})
        curve.attrs.update(schedule=schedule, law=self.title)   # for scaling.output.curve_figures
        return curve

    def _terms(self, theta, inputs):
        forward = inputs["lr_area"][None, :]
        power = np.exp(theta[:, 1:2] - theta[:, 3:4] * np.log(forward))      # A S1^-α
        floor = np.exp(theta[:, 0:1])                                           # L0
        annealing = np.exp(theta[:, 2:3]) * inputs["anneal_area"][None, :]      # C S2
        return floor + power - annealing, floor, power, annealing, np.log(forward)

    def predict_theta(self, theta, inputs):
        return np.log(np.maximum(self._terms(theta, inputs)[0], LOSS_CLIP))

    def predict_theta_grad(self, theta, inputs):
        value, floor, power, annealing, log_forward = self._terms(theta, inputs)
        value = np.maximum(value, LOSS_CLIP)
        jacobian = np.stack(np.broadcast_arrays(floor, power, -annealing, -power * log_forward),
                            axis=-1) / value[..., None]
        return np.log(value), jacobian

    def linear_basis(self, theta, inputs):
        forward = inputs["lr_area"][None, :]
        power = np.exp(-theta[:, 3:4] * np.log(forward))
        return np.stack(np.broadcast_arrays(np.ones_like(power), power,
                                            -inputs["anneal_area"][None, :] + 0 * power), axis=-1)

    def with_coefficients(self, theta, coefficients):
        theta = theta.copy()
        with np.errstate(divide="ignore"):
            theta[:, :3] = np.log(coefficients)
        return theta

    def reported(self, theta):
        theta = np.atleast_2d(theta)
        return {"L0": np.exp(theta[:, 0]), "A": np.exp(theta[:, 1]), "C": np.exp(theta[:, 2]),
                "alpha": theta[:, 3]}


@register
class AnnealingSize(Annealing):
    name = "annealing-size"
    title = "LR annealing L(s, N) with a model-size term (Tissue et al. 2024)"
    equation = "L = L0 + A*S1^-alpha + B*N^-beta - C*S2"
    inputs = ("lr_area", "anneal_area", "params")
    power_inputs = ("lr_area", "params")
    scale_columns = ("step", "lr_area", "anneal_area", "peak_lr", "params")
    parameters = (
        # fit-space: l0 = log L0, a = log A, b = log B, c = log C
        Parameter("l0", -10.0, 5.0, (0.0,)),
        Parameter("a", -30.0, 30.0, (0.0,)),
        Parameter("c", -30.0, 30.0, (0.0,)),
        Parameter("alpha", 0.0, 5.0, EXPONENT_GRID[::2]),
        Parameter("b", -30.0, 60.0, (0.0,)),
        Parameter("beta", 0.0, 3.0, tuple(np.round(np.arange(0.04, 2.0001, 0.04), 2))),
    )
    linear_parameters = ("l0", "a", "c", "b")
    reported_names = ("L0", "A", "C", "alpha", "B", "beta")
    reported_expressions = {"L0": "exp(l0)", "A": "exp(a)", "C": "exp(c)", "B": "exp(b)"}

    def predict_schedule(self, fit, schedule: str, every: int | None = None,
                         kind: str | None = None, level: float | None = None, params=None):
        if params is None:
            raise ScalingError(f"the {self.name} law needs the model size: give --params N "
                               "with --schedule")
        return super().predict_schedule(fit, schedule, every, kind, level, params=params)

    def _terms(self, theta, inputs):
        value, floor, power, annealing, log_forward = super()._terms(theta, inputs)
        size = np.exp(theta[:, 4:5] - theta[:, 5:6] * np.log(inputs["params"][None, :]))
        return value + size, floor, power, annealing, log_forward, size

    def predict_theta(self, theta, inputs):
        return np.log(np.maximum(self._terms(theta, inputs)[0], LOSS_CLIP))

    def predict_theta_grad(self, theta, inputs):
        value, floor, power, annealing, log_forward, size = self._terms(theta, inputs)
        value = np.maximum(value, LOSS_CLIP)
        log_size = np.log(inputs["params"])[None, :]
        jacobian = np.stack(np.broadcast_arrays(floor, power, -annealing, -power * log_forward,
                                                size, -size * log_size), axis=-1)
        return np.log(value), jacobian / value[..., None]

    def linear_basis(self, theta, inputs):
        size = np.exp(-theta[:, 5:6] * np.log(inputs["params"][None, :]))
        return np.concatenate([super().linear_basis(theta, inputs), size[..., None]], axis=-1)

    def with_coefficients(self, theta, coefficients):
        theta = super().with_coefficients(theta, coefficients[:, :3])
        with np.errstate(divide="ignore"):
            theta[:, 4] = np.log(coefficients[:, 3])
        return theta

    def reported(self, theta):
        theta = np.atleast_2d(theta)
        return {**super().reported(theta), "B": np.exp(theta[:, 4]), "beta": theta[:, 5]}
