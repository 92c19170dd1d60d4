"""Task accuracy straight from model and data size: the single-step variant of the task law.

    Acc(N, D) = a / (1 + exp(−(A/N^α + B/D^β + E))) + b,    A, B, α, β ≥ 0, a ∈ [−1, 0], b ∈ [0, 1]

fitted as the paper's single-step baseline: L-BFGS-B on the sum of Huber (δ = 1e-3) of
log Acc − log Âcc (Âcc floored at 1e-6) over each run's final value (the mean of its last 5
accuracies), from the start (log A, log B, α, β, E, a, b) = (3, 5, 0.2, 0.3, 0, chance − 1, 1).

Symbols: N parameters (`params`), D training tokens (`tokens`), Acc the accuracy
(`acc:<task>`); the power-law sum plays the part of the task loss, a + b is the accuracy it
tends to at high loss (chance) and b at low.

Paper: Bhagia et al. 2024, "Establishing Task Scaling Laws via Compute-Efficient Model Ladders"
(arXiv:2412.04403), the single-step baseline (its code: allenai/OLMo, branch ladder-1xC,
scripts/scaling/single_step.py).
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from scaling.errors import ScalingError
from scaling.engine.fitting import Parameter
from scaling.laws.base import BASE_SETTINGS, Law
from scaling.laws.registry import register
from scaling.laws.task_accuracy import STEP2_SETTINGS
from scaling.laws.task_loss import LAST_SETTING
from scaling.data.evaluations import (accuracy_extras, accuracy_warnings, chance_of, final_values,
                               load_accuracy_extras, unidentified_accuracy)

FLOOR = 1e-6      # the paper floors the predicted accuracy here before its log


@register
class TaskSingle(Law):
    name = "task-single"
    title = "Task accuracy in one step from N, D (Bhagia et al. 2024, single-step baseline)"
    equation = "Acc = a/(1 + exp(-(A/N^alpha + B/D^beta + E))) + b"
    inputs = ("params", "tokens")
    power_inputs = ("params", "tokens")
    target_range = (0.0, 1.0)
    settings_spec = (*BASE_SETTINGS,
                     *[s for s in STEP2_SETTINGS if s.name in ("task", "chance")], LAST_SETTING)
    reported_names = ("A", "B", "alpha", "beta", "E", "a", "b")
    reported_expressions = {"A": "exp(la)", "B": "exp(lb)"}

    @property
    def target(self):
        return f"acc:{self.task or '<task>'}"

    @property
    def parameters(self):
        start = self._start()
        bounds = ((0.0, 200.0), (0.0, 200.0), (0.0, 10.0), (0.0, 10.0), (-100.0, 100.0),
                  (-1.0, 0.0), (0.0, 1.0))
        return tuple(Parameter(name, low, high, (value,)) for name, (low, high), value
                     in zip(("la", "lb", "alpha", "beta", "E", "a", "b"), bounds, start))

    @property
    def error_kind(self) -> str:
        return "absolute"        # accuracies: errors in points, like the other task laws

    def _start(self):
        return (3.0, 5.0, 0.2, 0.3, 0.0, chance_of(self.task, self.chance) - 1.0, 1.0)

    def check_settings(self):
        if self.task is None:
            raise ScalingError(f"the {self.name} law needs a task: --task NAME (it reads "
                               "acc:NAME)")
        super().check_settings()

    def fit_extras(self, points):
        return accuracy_extras(points, self.target, chance_of(self.task, self.chance))

    def load_extras(self, block):
        return load_accuracy_extras(block)

    def law_warnings(self, fit):
        return accuracy_warnings(fit.extras_, self.target)

    def unidentified_range(self, fit):
        return unidentified_accuracy(fit.extras_)

    def fit_rows(self, data):
        return final_values(data.frame, (self.target,), self.last)

    def target_rows(self, frame):
        return final_values(frame, (self.target,), self.last)

    def _parts(self, theta, inputs):
        theta = np.atleast_2d(theta)
        log_params = np.log(np.asarray(inputs["params"], float))
        log_tokens = np.log(np.asarray(inputs["tokens"], float))
        with np.errstate(over="ignore"):
            n_term = np.exp(theta[:, 0:1] - theta[:, 2:3] * log_params)
            d_term = np.exp(theta[:, 1:2] - theta[:, 3:4] * log_tokens)
        share = expit(n_term + d_term + theta[:, 4:5])
        accuracy = theta[:, 5:6] * share + theta[:, 6:7]
        return accuracy, share, n_term, d_term, log_params, log_tokens

    def predict_theta(self, theta, inputs):
        return np.log(np.maximum(self._parts(theta, inputs)[0], FLOOR))

    def predict_theta_grad(self, theta, inputs):
        theta = np.atleast_2d(theta)
        accuracy, share, n_term, d_term, log_params, log_tokens = self._parts(theta, inputs)
        floored = np.maximum(accuracy, FLOOR)
        live = (accuracy > FLOOR) / floored                       # d log Âcc / d Âcc
        slope = theta[:, 5:6] * share * (1.0 - share) * live      # d log Âcc / d x
        jacobian = np.stack(np.broadcast_arrays(
            slope * n_term, slope * d_term, -slope * n_term * log_params,
            -slope * d_term * log_tokens, slope, share * live, live), axis=-1)
        return np.log(floored), jacobian

    def reported(self, theta):
        theta = np.atleast_2d(theta)
        return {"A": np.exp(theta[:, 0]), "B": np.exp(theta[:, 1]), "alpha": theta[:, 2],
                "beta": theta[:, 3], "E": theta[:, 4], "a": theta[:, 5], "b": theta[:, 6]}
