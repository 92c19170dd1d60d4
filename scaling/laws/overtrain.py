"""Over-training: final loss as a function of compute and the token multiplier (Gadre et al.).

    L(C, M) = E + (a·M^η + b·M^(−η))·C^(−η),     M = D/N,  C = 6·N·D

fitted in log space as  log L̂ = LSE(log a + η·(log M − log C), log b − η·(log M + log C),
log E)  by the engine's Huber objective (δ = 1e-3), η walked on a grid and a, b, E solved in
closed form at each η (variable projection: L is linear in them once η is fixed), then the best
starts polished by L-BFGS-B with the analytic gradient.

Symbols: N parameters (`params`), D training tokens (`tokens`), M = D/N the token multiplier
(20 is about Chinchilla-optimal; over-trained runs have M of hundreds), C = 6ND the training
compute, L the final loss (`loss`, nats/token; `--set target=loss:<task>` fits another loss
column). It is Chinchilla's L = E + A/N^α + B/D^β with α = β: α = 2η, A = a·6^(−η), B = b·6^(−η)
(substitute N = (C/(6M))^½, D = (CM/6)^½). With the multiplier fixed the reducible loss is a
power law in compute, (a·M^η + b·M^(−η))·C^(−η), with one exponent η for every M: over-training
shifts the line, it does not bend it.

Compute-optimal allocation: at fixed C only the bracket depends on M; its derivative
η·(a·M^(η−1) − b·M^(−η−1)) vanishes at

    M* = (b/a)^(1/(2η)),   N_opt = (C/(6·M*))^½,   D_opt = (C·M*/6)^½,   L* = E + 2·√(ab)·C^(−η)

(a minimum: the bracket is convex in log M). The optimal multiplier does not depend on the
budget, so N_opt and D_opt both grow as C^0.5: the law, by its form, takes Hoffmann et al.'s
approaches 1 and 2 (a ≈ b ≈ 0.5) over approach 3.

Downstream error: Gadre et al.'s second law, Err(L) = ε − k·exp(−γL) on the average top-1 error,
is the `task-error` law (`scaling/laws/task_error.py`) read on the LM loss: `--law task-error
--task NAME --set input=loss` with `acc:NAME` = 1 − the average error (see its docstring).

Paper: Gadre et al. 2024, "Language models scale reliably with over-training and on downstream
tasks" (arXiv:2403.08540), eq. (4); its code (github.com/mlfoundations/scaling, `scaling/laws.py`,
`powlaw_ours`) fits the same family as α·N^(−2η) + β·6^(−η)·D^(−2η) + E (β = b, α = a·6^(−η)) by
least squares on the loss, on 5 runs (4 sizes at M = 20 and the 11M model at M = 320).
"""

from __future__ import annotations

import numpy as np

from scaling.engine.fitting import Parameter
from scaling.laws.base import BASE_SETTINGS, Law, Setting, log_coefficients
from scaling.laws.registry import register

ETA_GRID = tuple(np.round(np.arange(0.01, 1.0001, 0.01), 2))


@register
class Overtrain(Law):
    name = "overtrain"
    title = "Over-training L(C, M) (Gadre et al. 2024, eq. 4)"
    equation = "L = E + (a M^eta + b M^-eta) C^-eta, M = D/N, C = 6 N D"
    inputs = ("params", "tokens")
    power_inputs = ("params", "tokens")
    settings_spec = (*BASE_SETTINGS,
                     Setting("target", "loss", "the loss column it fits (positive)", str))
    allocates_compute = True
    compute_formula = "C = 6 N D"
    allocation_labels = {"params": "params N", "tokens": "tokens D",
                         "tokens_per_param": "tokens/param M"}
    parameters = (
        # fit-space: la = log a, lb = log b, e = log E; with variable projection only η is
        # walked (the la, lb, e grids serve a plain grid search)
        Parameter("la", -20.0, 100.0, (0.0, 5.0, 10.0, 15.0, 20.0)),
        Parameter("lb", -20.0, 100.0, (0.0, 5.0, 10.0, 15.0, 20.0)),
        Parameter("e", -20.0, 5.0, (-1.0, 0.0, 0.5, 1.0)),
        Parameter("eta", 0.0, 5.0, ETA_GRID),
    )
    linear_parameters = ("la", "lb", "e")
    reported_names = ("E", "a", "b", "eta")
    floor_parameter = "E"
    reported_expressions = {"E": "exp(e)", "a": "exp(la)", "b": "exp(lb)"}

    @staticmethod
    def _logs(inputs):
        """log M and log C of the points, each (1, n)."""
        log_params = np.log(np.asarray(inputs["params"], float))[None, :]
        log_tokens = np.log(np.asarray(inputs["tokens"], float))[None, :]
        return log_tokens - log_params, np.log(6.0) + log_params + log_tokens

    def _shares(self, theta, inputs):
        """log L̂ and the softmax shares of the three terms (d LSE / d term), each (S, n)."""
        theta = np.atleast_2d(theta)
        log_m, log_c = self._logs(inputs)
        eta = theta[:, 3:4]
        over = theta[:, 0:1] + eta * (log_m - log_c)          # log(a M^η C^-η)
        under = theta[:, 1:2] - eta * (log_m + log_c)         # log(b M^-η C^-η)
        floor = np.broadcast_to(theta[:, 2:3], over.shape)    # log E
        top = np.maximum(np.maximum(over, under), floor)
        weights = np.exp(over - top), np.exp(under - top), np.exp(floor - top)
        total = weights[0] + weights[1] + weights[2]
        return (top + np.log(total), *(w / total for w in weights)), (log_m, log_c)

    def predict_theta(self, theta, inputs):
        return self._shares(theta, inputs)[0][0]

    def predict_theta_grad(self, theta, inputs):
        (value, over, under, floor), (log_m, log_c) = self._shares(theta, inputs)
        jacobian = np.empty(value.shape + (4,))
        jacobian[..., 0] = over
        jacobian[..., 1] = under
        jacobian[..., 2] = floor
        jacobian[..., 3] = over * (log_m - log_c) - under * (log_m + log_c)
        return value, jacobian

    # variable projection: with η fixed, L = a·M^η C^-η + b·M^-η C^-η + E is linear in (a, b, E)
    def linear_basis(self, theta, inputs):
        theta = np.atleast_2d(theta)
        log_m, log_c = self._logs(inputs)
        eta = theta[:, 3:4]
        over = np.exp(eta * (log_m - log_c))
        under = np.exp(-eta * (log_m + log_c))
        return np.stack([over, under, np.ones_like(over)], axis=-1)

    def with_coefficients(self, theta, coefficients):
        return log_coefficients(theta, coefficients, (0, 1, 2))

    def reported(self, theta):
        theta = np.atleast_2d(theta)
        return {"E": np.exp(theta[:, 2]), "a": np.exp(theta[:, 0]), "b": np.exp(theta[:, 1]),
                "eta": theta[:, 3]}

    # -- compute-optimal allocation ----------------------------------------------------------
    def compute_optimal_theta(self, theta, flops):
        """N_opt, D_opt, M* and the loss there, for fit-space vectors theta (S, P): (S, n)."""
        values = self.reported(np.atleast_2d(theta))
        a, b, eta, floor = (values[k][:, None] for k in ("a", "b", "eta", "E"))
        flops = np.atleast_1d(np.asarray(flops, float))[None, :]
        with np.errstate(all="ignore"):
            multiplier = (b / a) ** (1.0 / (2.0 * eta)) * np.ones_like(flops)
            params = np.sqrt(flops / (6.0 * multiplier))
            tokens = np.sqrt(flops * multiplier / 6.0)
            loss = floor + 2.0 * np.sqrt(a * b) * flops ** -eta
        return {"params": params, "tokens": tokens, "tokens_per_param": multiplier,
                self.target: loss}

    def training_compute(self, params, tokens, **_):
        """C = 6·N·D (Kaplan et al. 2020; the paper's compute model)."""
        return 6.0 * np.asarray(params, float) * np.asarray(tokens, float)
