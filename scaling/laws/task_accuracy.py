"""Task accuracy as a function of task loss: step 2 of the two-step task law.

    Acc(L) = a / (1 + exp(−k·(L − L0))) + b

fitted in linear space (accuracies are bounded: Acc − Âcc, not logs), with a > 0 and k < 0, so
accuracy falls from a + b towards b as the task loss L rises past L0.

Symbols: L the task loss (`loss:<task>`, e.g. bits per byte of the correct answer), Acc the
accuracy on the task (`acc:<task>`, in [0, 1]); `--set task=NAME` names the task. b is the
accuracy at high loss (chance level for multiple choice), a + b the accuracy at zero loss, L0 the
midpoint and k the steepness. Every row (every checkpoint of every run) is a point; the
bootstrap resamples whole runs.

Paper: Bhagia et al. 2024, "Establishing Task Scaling Laws via Compute-Efficient Model Ladders"
(arXiv:2412.04403), step 2; `task` chains it after step 1 (task loss from N and D).
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from scaling.fitting import Parameter
from scaling.laws.base import BASE_SETTINGS, Law, Setting
from scaling.laws.registry import register

TASK = Setting("task", None, "the task NAME: the law reads loss:NAME and acc:NAME", str,
               required=True)


@register
class TaskAccuracy(Law):
    name = "task-accuracy"
    title = "Task accuracy from task loss (Bhagia et al. 2024, step 2)"
    equation = "Acc = a/(1 + exp(-k (L - L0))) + b"
    space = "linear"
    rows = "all"
    scale_columns = ()    # its input, a task loss, falls with scale: no column grows beyond the
    #                       fitted data (the chained task law measures distance in params, tokens)
    target_range = (0.0, 1.0)
    settings_spec = (*BASE_SETTINGS, TASK)
    parameters = (
        Parameter("a", 1e-6, 10.0, (0.0,)),
        Parameter("b", -10.0, 10.0, (0.0,)),
        Parameter("k", -200.0, -1e-3,
                  tuple(-np.round(np.geomspace(0.25, 64.0, 17), 3))),
        Parameter("l0", -5.0, 20.0, tuple(np.round(np.arange(0.0, 5.001, 0.1), 2))),
    )
    linear_parameters = ("a", "b")
    signed_linear_parameters = ("b",)
    reported_names = ("a", "b", "k", "L0")
    reported_expressions = {"L0": "l0"}

    @property
    def inputs(self):
        return (f"loss:{self.task or '<task>'}",)

    @property
    def target(self):
        return f"acc:{self.task or '<task>'}"

    def _sigmoid(self, theta, inputs):
        loss = np.asarray(inputs[self.inputs[0]], float)
        gap = loss - theta[:, 3:4]                                      # L − L0, (S, n)
        return expit(theta[:, 2:3] * gap), gap

    def predict_theta(self, theta, inputs):
        share, _ = self._sigmoid(theta, inputs)
        return theta[:, 0:1] * share + theta[:, 1:2]

    def predict_theta_grad(self, theta, inputs):
        share, gap = self._sigmoid(theta, inputs)
        slope = theta[:, 0:1] * share * (1.0 - share)                   # a·σ·(1 − σ)
        jacobian = np.stack(np.broadcast_arrays(share, np.ones_like(share), slope * gap,
                                                -slope * theta[:, 2:3]), axis=-1)
        return theta[:, 0:1] * share + theta[:, 1:2], jacobian

    def predict_theta_input_grad(self, theta, inputs, name):
        share, _ = self._sigmoid(theta, inputs)
        return theta[:, 0:1] * share * (1.0 - share) * theta[:, 2:3]

    def linear_basis(self, theta, inputs):
        share, _ = self._sigmoid(theta, inputs)
        return np.stack([share, np.ones_like(share)], axis=-1)

    def with_coefficients(self, theta, coefficients):
        theta = theta.copy()
        theta[:, 0], theta[:, 1] = coefficients[:, 0], coefficients[:, 1]
        return theta

    def reported(self, theta):
        theta = np.atleast_2d(theta)
        return {"a": theta[:, 0], "b": theta[:, 1], "k": theta[:, 2], "L0": theta[:, 3]}
