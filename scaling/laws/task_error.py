"""Task error as an exponential of loss (Gadre et al.): the alternative step 2 of the task law.

    Err(L) = ε − k·exp(−γ·L),   Acc = 1 − Err,      ε ∈ [0, 1], k ≥ 0, γ ≥ 0

fitted by least squares on accuracy, on the same points as the sigmoid step 2 (`task-accuracy`:
each run's evaluations after its first 10%, a moving average of 5; no ideal point, which this
form need not pass through). ε is the error at infinite loss (chance error) and ε − k the error
at zero loss.

Symbols: L a loss (`loss:<task>`, or with `--set input=loss` the LM loss, Gadre et al.'s
choice: they read the average top-1 error of 17 tasks from the validation loss), Acc the
accuracy (`acc:<task>`).

Paper: Gadre et al. 2024, "Language models scale reliably with over-training and on downstream
tasks" (arXiv:2403.08540), equation (5); compared with the sigmoid as a step-2 variant of Bhagia
et al. 2024 (arXiv:2412.04403).
"""

from __future__ import annotations

import numpy as np

from scaling.engine.fitting import Parameter
from scaling.laws.registry import register
from scaling.laws.task_accuracy import AccuracyFromLoss


@register
class TaskError(AccuracyFromLoss):
    name = "task-error"
    title = "Task error from loss, Err = eps - k exp(-gamma L) (Gadre et al. 2024)"
    equation = "Acc = 1 - (eps - k exp(-gamma L))"
    parameters = (
        Parameter("eps", 0.0, 1.0, tuple(np.round(np.linspace(0.3, 1.0, 8), 3))),
        Parameter("k", 0.0, 100.0, tuple(np.round(np.geomspace(0.05, 5.0, 10), 4))),
        Parameter("gamma", 0.0, 50.0, tuple(np.round(np.geomspace(0.02, 10.0, 16), 4))),
    )
    reported_names = ("eps", "k", "gamma")

    def predict_theta(self, theta, inputs):
        theta = np.atleast_2d(theta)
        loss = np.asarray(inputs[self.inputs[0]], float)
        with np.errstate(over="ignore"):
            return 1.0 - theta[:, 0:1] + theta[:, 1:2] * np.exp(-theta[:, 2:3] * loss)

    def predict_theta_grad(self, theta, inputs):
        theta = np.atleast_2d(theta)
        loss = np.asarray(inputs[self.inputs[0]], float)
        with np.errstate(over="ignore"):
            decay = np.exp(-theta[:, 2:3] * loss)
        value = 1.0 - theta[:, 0:1] + theta[:, 1:2] * decay
        jacobian = np.stack(np.broadcast_arrays(-np.ones_like(decay), decay,
                                                -theta[:, 1:2] * loss * decay), axis=-1)
        return value, jacobian

    def predict_theta_input_grad(self, theta, inputs, name):
        theta = np.atleast_2d(theta)
        loss = np.asarray(inputs[self.inputs[0]], float)
        return -theta[:, 1:2] * theta[:, 2:3] * np.exp(-theta[:, 2:3] * loss)

    def reported(self, theta):
        theta = np.atleast_2d(theta)
        return {"eps": theta[:, 0], "k": theta[:, 1], "gamma": theta[:, 2]}
