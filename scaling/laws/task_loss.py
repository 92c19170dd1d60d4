"""Task loss from model and data size: step 1 of the two-step task law.

    L(N, D) = A / N^α + B / D^β + E

fitted as the paper does: the parameters (a, b, α, β, E) with A = e^a, B = e^b, all ≥ 0; one
start, (a, b, α, β, E) = (3, 6, 0.1, 0.2, 1); L-BFGS-B on the sum of Huber (δ = 1e-3) of
log L − log L̂ over each run's final value, the mean of its last k = 5 evaluations (at the run's
final N and D; `scaling.data.evaluations.final_values`). `--set starts=grid` adds a grid of starts (the
lowest objective wins; it can differ from the paper's single start when that one stops at a
local optimum).

Symbols: N parameters (`params`; the paper counts non-embedding parameters), D training tokens
(`tokens`), L the task loss (`loss:<task>`, bits per byte of the correct answer; `--set
target=loss` fits the LM loss instead, the "LM loss as the intermediate" variant).

Paper: Bhagia et al. 2024, "Establishing Task Scaling Laws via Compute-Efficient Model Ladders"
(arXiv:2412.04403), step 1 (its code: allenai/OLMo, branch ladder-1xC, scripts/scaling/step1.py).
"""

from __future__ import annotations

import numpy as np

from scaling.engine.fitting import Parameter
from scaling.errors import ScalingError
from scaling.laws.base import BASE_SETTINGS, Law, Setting
from scaling.laws.registry import register
from scaling.data.evaluations import LAST, final_values

PAPER_START = (3.0, 6.0, 0.1, 0.2, 1.0)          # (a, b, alpha, beta, E), the paper's p0


def _at_least_one(value):
    return None if value >= 1 else "must be 1 or more"


TASK = Setting("task", None, "the task NAME: the law reads loss:NAME and acc:NAME", str)
LAST_SETTING = Setting("last", LAST, "evaluations averaged into each run's final value", int,
                       _at_least_one)
STARTS = Setting("starts", "paper", "paper: the paper's single start; grid: a grid as well",
                 str, lambda v: None if v in ("paper", "grid") else "must be paper or grid")


@register
class TaskLoss(Law):
    name = "task-loss"
    title = "Task loss L(N, D) (Bhagia et al. 2024, step 1)"
    equation = "L = A/N^alpha + B/D^beta + E"
    power_inputs = ("params", "tokens")
    inputs = ("params", "tokens")
    settings_spec = (*BASE_SETTINGS, TASK,
                     Setting("target", None, "the loss column it fits (default loss:<task>)",
                             str),
                     LAST_SETTING, STARTS)
    reported_names = ("A", "B", "alpha", "beta", "E")
    floor_parameter = "E"
    reported_expressions = {"A": "exp(a)", "B": "exp(b)"}
    carry: tuple[str, ...] = ()       # other columns averaged like the target (a chain's target)

    def __init__(self, **settings):
        super().__init__(**settings)
        if self.target is None:
            self.target = f"loss:{self.task or '<task>'}"

    def check_settings(self):
        if self.target == "loss:<task>":
            raise self._missing_task()
        super().check_settings()

    def _missing_task(self):
        return ScalingError(f"the {self.name} law needs a task: --task NAME (it reads "
                            "loss:NAME), or --set target=COLUMN")

    @property
    def parameters(self):
        if self.starts == "grid":
            grid = (tuple(np.round(np.arange(0.0, 25.01, 5.0), 1)),) * 2 + \
                (tuple(np.round(np.arange(0.1, 1.01, 0.1), 2)),) * 2 + ((0.0, 0.5, 1.0, 2.0),)
        else:
            grid = tuple((value,) for value in PAPER_START)
        bounds = ((0.0, 200.0), (0.0, 200.0), (0.0, 10.0), (0.0, 10.0), (0.0, 100.0))
        return tuple(Parameter(name, low, high, values) for name, (low, high), values
                     in zip(("a", "b", "alpha", "beta", "E"), bounds, grid))

    def extra_starts(self):
        return np.array([PAPER_START]) if self.starts == "grid" else None

    def check_points(self, points, source):
        needed = len(self.parameters) + 1
        if len(points) < needed:
            raise ScalingError(f"{source}: {len(points)} runs for the {len(self.parameters)} "
                               f"parameters of {self.target}(N, D); the {self.name} law (step 1 "
                               f"of the task law) needs at least {needed} runs")
        super().check_points(points, source)

    def fit_rows(self, data):
        return final_values(data.frame, (self.target, *self.carry), self.last)

    def target_rows(self, frame):
        return final_values(frame, (self.target, *self.carry), self.last)

    def _terms(self, theta, inputs):
        log_params = np.log(np.asarray(inputs["params"], float))
        log_tokens = np.log(np.asarray(inputs["tokens"], float))
        with np.errstate(over="ignore"):
            n_term = np.exp(theta[:, 0:1] - theta[:, 2:3] * log_params)    # A / N^alpha
            d_term = np.exp(theta[:, 1:2] - theta[:, 3:4] * log_tokens)    # B / D^beta
        return n_term, d_term, n_term + d_term + theta[:, 4:5], log_params, log_tokens

    def predict_theta(self, theta, inputs):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(self._terms(np.atleast_2d(theta), inputs)[2])

    def predict_theta_grad(self, theta, inputs):
        theta = np.atleast_2d(theta)
        n_term, d_term, total, log_params, log_tokens = self._terms(theta, inputs)
        with np.errstate(divide="ignore", invalid="ignore"):
            jacobian = np.stack([n_term / total, d_term / total,
                                 -n_term * log_params / total, -d_term * log_tokens / total,
                                 np.broadcast_to(1.0 / total, total.shape)], axis=-1)
            return np.log(total), jacobian

    def reported(self, theta):
        theta = np.atleast_2d(theta)
        return {"A": np.exp(theta[:, 0]), "B": np.exp(theta[:, 1]), "alpha": theta[:, 2],
                "beta": theta[:, 3], "E": theta[:, 4]}
