"""Task accuracy as a function of task loss: step 2 of the two-step task law.

    Acc(L) = a / (1 + exp(−k·(L − L0))) + b,     a ∈ [−1, 0], k ≥ 0, L0 ≥ 0, b ∈ [0, 1]

fitted as the paper does: least squares in linear space (accuracies are bounded: Acc − Âcc, not
logs; the engine's Huber with δ = 2 is exactly that, since no residual reaches 2), from the start
(a, L0, k, b) = (chance − 1, 0.9, 3, 1) and the paper's fallback starts, beside the engine's grid
over (k, L0) with a and b solved in closed form; the lowest sum of squares wins. The points are
every evaluation of each run after its first 10% (`--set skip_by=tokens`: after the first 10% of
its tokens, for checkpoints that are not evenly spaced), smoothed by a moving average of 5
evaluations (loss and accuracy alike), plus the ideal model (L = 0, Acc = 1), which every
bootstrap resample keeps (`scaling.data.evaluations`). A held-out run is judged at the mean of its
last 5 evaluations.

Symbols: L the task loss (`loss:<task>`, e.g. bits per byte of the correct answer; `--set
input=loss` reads the LM loss instead), Acc the accuracy (`acc:<task>`, in [0, 1]). b is the
accuracy at zero loss (near 1), a + b the accuracy at high loss (chance), L0 the midpoint and k
the steepness. chance: the paper's per task (0.5 PIQA, 1/3 Social IQa, 0.2 CommonsenseQA), else
`--set chance=…`, else 1/4; it only sets the start.

Paper: Bhagia et al. 2024, "Establishing Task Scaling Laws via Compute-Efficient Model Ladders"
(arXiv:2412.04403), step 2 (its code: allenai/OLMo, branch ladder-1xC, scripts/scaling/step2.py);
`task` chains it after step 1 (task loss from N and D).
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from scaling.errors import ScalingError
from scaling.engine.fitting import Parameter
from scaling.laws.base import BASE_SETTINGS, Law, Setting
from scaling.laws.registry import register
from scaling.data.evaluations import (SKIP, SMOOTH, accuracy_extras, accuracy_warnings, chance_of,
                               final_values, ideal_point, load_accuracy_extras, smoothed_rows,
                               unidentified_accuracy)


def _share(value):
    return None if 0 <= value < 1 else "must be in [0, 1)"


def _window(value):
    return None if value >= 1 else "must be 1 or more"


TASK = Setting("task", None, "the task NAME: the law reads loss:NAME and acc:NAME", str,
               required=True)
STEP2_SETTINGS = (
    TASK,
    Setting("input", None, "the loss column accuracy is read from (default loss:<task>; "
            "loss: the LM loss)", str),
    Setting("chance", None, "chance accuracy of the task (default: the paper's, else 1/4)",
            float, lambda v: None if 0 <= v < 1 else "must be in [0, 1)"),
    Setting("skip", SKIP, "share of each run's first evaluations left out", float, _share),
    Setting("smooth", SMOOTH, "moving-average window over evaluations", int, _window),
    Setting("skip_by", "evaluations", "skip the first share of each run's evaluations (the "
            "paper's) or of its tokens (for checkpoints not evenly spaced)", str,
            lambda v: None if v in ("evaluations", "tokens") else "must be evaluations or tokens"),
)
LEAST_SQUARES = Setting("delta", 2.0, "Huber threshold on accuracy residuals (2: least "
                        "squares, the paper's; residuals of accuracies never reach 2)", float,
                        lambda v: None if v > 0 else "must be positive")


def ideal_point_note(b) -> list[str]:
    """The report's line when step 2's b sits on its bound 1 (where the ideal point holds it)."""
    if b is None or b < 1.0 - 1e-6:
        return []
    return ["b = 1, its bound: a model of task loss 0 scores 1, as the ideal point (0, 1) asks; "
            "that is the paper's choice, not a failure of the fit"]


class AccuracyFromLoss(Law):
    """What the laws of accuracy from a loss share: their columns, settings and points."""

    space = "linear"
    rows = "all"
    target_range = (0.0, 1.0)
    settings_spec = (LEAST_SQUARES, *[s for s in BASE_SETTINGS if s.name != "delta"],
                     *STEP2_SETTINGS)
    uses_ideal_point = False

    def __init__(self, **settings):
        super().__init__(**settings)
        if self.input is None:
            self.input = f"loss:{self.task or '<task>'}"

    def check_settings(self):
        if self.task is None:
            raise ScalingError(f"the {self.name} law needs a task: --task NAME (it reads "
                               "acc:NAME and loss:NAME)")
        super().check_settings()

    @property
    def inputs(self):
        return (self.input,)

    @property
    def scale_columns(self):
        """Its input, a loss: extrapolation is to losses below the fitted ones (the direction
        larger models go) or above them (`scaling.engine.reach.distances` counts both sides)."""
        return (self.input,)

    @property
    def target(self):
        return f"acc:{self.task or '<task>'}"

    @property
    def chance_level(self) -> float:
        return chance_of(self.task, self.chance)

    def fit_extras(self, points):
        return accuracy_extras(points, self.target, self.chance_level, self.input)

    def load_extras(self, block):
        return load_accuracy_extras(block)

    def law_warnings(self, fit):
        return accuracy_warnings(fit.extras_, self.target, self.input)

    def unidentified_range(self, fit):
        return unidentified_accuracy(fit.extras_)

    @property
    def judged_on_curves(self) -> bool:
        return False        # a held-out run is judged at its final (smoothed) accuracy

    def fit_rows(self, data):
        points = smoothed_rows(data.frame, (self.input, self.target), self.skip, self.smooth,
                               self.skip_by)
        return ideal_point(points, self.input, self.target) if self.uses_ideal_point else points

    def target_rows(self, frame):
        return final_values(frame, (self.input, self.target), self.smooth)

    def held_out_rows(self, frame):
        return smoothed_rows(frame, (self.input, self.target), self.skip, self.smooth,
                             self.skip_by)


@register
class TaskAccuracy(AccuracyFromLoss):
    name = "task-accuracy"
    title = "Task accuracy from task loss (Bhagia et al. 2024, step 2)"
    equation = "Acc = a/(1 + exp(-k (L - L0))) + b"
    parameters = (
        Parameter("a", -1.0, 0.0, (0.0,)),
        Parameter("l0", 0.0, 100.0, tuple(np.round(np.arange(0.0, 10.001, 0.1), 2))),
        Parameter("k", 0.0, 500.0, tuple(np.round(np.geomspace(0.25, 64.0, 17), 3))),
        Parameter("b", 0.0, 1.0, (0.0,)),
    )
    linear_parameters = ("a", "b")
    signed_linear_parameters = ("a",)
    reported_names = ("a", "L0", "k", "b")
    reported_expressions = {"L0": "l0"}
    uses_ideal_point = True
    FALLBACK_STARTS = (        # the paper's further starts, tried when its first fails
        (-0.7, 0.6, 7.0, 1.0), (-0.7, 1.4, 3.2, 1.3), (-2.7, 1.4, 3.2, 1.3),
        (-0.09, 0.6, 6.5, 0.1), (-0.64, -0.41, 12.7, 1.05))

    @property
    def benign_bounds(self):
        return ("b",)

    def notes(self, fit):
        return ideal_point_note(fit.params_.get("b"))

    def extra_starts(self):
        starts = np.array([(self.chance_level - 1.0, 0.9, 3.0, 1.0), *self.FALLBACK_STARTS])
        low = np.array([p.lower for p in self.parameters])
        high = np.array([p.upper for p in self.parameters])
        return np.clip(starts, low, high)

    def _sigmoid(self, theta, inputs):
        loss = np.asarray(inputs[self.inputs[0]], float)
        gap = loss - theta[:, 1:2]                                      # L − L0, (S, n)
        return expit(theta[:, 2:3] * gap), gap

    def predict_theta(self, theta, inputs):
        theta = np.atleast_2d(theta)
        share, _ = self._sigmoid(theta, inputs)
        return theta[:, 0:1] * share + theta[:, 3:4]

    def predict_theta_grad(self, theta, inputs):
        theta = np.atleast_2d(theta)
        share, gap = self._sigmoid(theta, inputs)
        slope = theta[:, 0:1] * share * (1.0 - share)                   # a·σ·(1 − σ)
        jacobian = np.stack(np.broadcast_arrays(share, -slope * theta[:, 2:3], slope * gap,
                                                np.ones_like(share)), axis=-1)
        return theta[:, 0:1] * share + theta[:, 3:4], jacobian

    def predict_theta_input_grad(self, theta, inputs, name):
        theta = np.atleast_2d(theta)
        share, _ = self._sigmoid(theta, inputs)
        return theta[:, 0:1] * share * (1.0 - share) * theta[:, 2:3]

    def linear_basis(self, theta, inputs):
        share, _ = self._sigmoid(theta, inputs)
        return np.stack([share, np.ones_like(share)], axis=-1)

    def with_coefficients(self, theta, coefficients):
        theta = theta.copy()
        theta[:, 0], theta[:, 3] = coefficients[:, 0], coefficients[:, 1]
        return theta

    def reported(self, theta):
        theta = np.atleast_2d(theta)
        return {"a": theta[:, 0], "L0": theta[:, 1], "k": theta[:, 2], "b": theta[:, 3]}
