"""Chinchilla: final loss as a function of parameters and training tokens.

    L(N, D) = E + A / N^α + B / D^β

fitted in log space as  log L̂ = LSE(a − α·log N, b − β·log D, e),  A = e^a, B = e^b, E = e^e.

Symbols: N parameters (`params`), D training tokens (`tokens`), L final loss (`loss`, nats/token;
`--set target=loss:<task>` fits a task loss instead; the `task` law's step 1 is `task-loss`,
the same form as its paper fits it); E the
irreducible loss, A/N^α the finite-model term, B/D^β the finite-data term.

Compute-optimal allocation for C = 6·N·D (minimise L subject to C):

    G = (αA / (βB))^(1/(α+β)),   N_opt = G·(C/6)^(β/(α+β)),   D_opt = (C/6)^(α/(α+β)) / G

Papers: Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models" (arXiv:2203.15556),
approach 3; Besiroglu, Erdil, Barnett, You 2024, "Chinchilla Scaling: A replication attempt"
(arXiv:2404.10102), whose grid of starts and objective (sum of Huber δ=1e-3) this fit follows.
"""

from __future__ import annotations

import numpy as np

from scaling.engine.fitting import Parameter
from scaling.laws.base import BASE_SETTINGS, Law, Setting, log_coefficients
from scaling.laws.registry import register

EXPONENT_GRID = tuple(np.round(np.arange(0.0, 2.0001, 0.05), 2))


@register
class Chinchilla(Law):
    name = "chinchilla"
    title = "Chinchilla L(N, D) (Hoffmann et al. 2022, approach 3; Besiroglu et al. 2024)"
    equation = "L = E + A/N^alpha + B/D^beta"
    inputs = ("params", "tokens")
    power_inputs = ("params", "tokens")
    settings_spec = (*BASE_SETTINGS,
                     Setting("target", "loss", "the loss column it fits (positive)", str))
    allocates_compute = True
    compute_formula = "C = 6 N D"
    allocation_labels = {"params": "params N", "tokens": "tokens D",
                         "tokens_per_param": "tokens/param"}
    parameters = (
        # fit-space: a = log A, b = log B, e = log E. With variable projection (the default) only
        # the exponent grid is walked and a, b, e are solved; the a, b, e grids are Besiroglu
        # et al.'s, for a plain grid search (`fitting.grid_starts`) over the same parameters.
        Parameter("a", -20.0, 100.0, (0.0, 5.0, 10.0, 15.0, 20.0, 25.0)),
        Parameter("b", -20.0, 100.0, (0.0, 5.0, 10.0, 15.0, 20.0, 25.0)),
        Parameter("e", -20.0, 5.0, (-1.0, -0.5, 0.0, 0.5, 1.0)),
        Parameter("alpha", 0.0, 5.0, EXPONENT_GRID),
        Parameter("beta", 0.0, 5.0, EXPONENT_GRID),
    )
    linear_parameters = ("a", "b", "e")
    reported_names = ("E", "A", "B", "alpha", "beta")
    floor_parameter = "E"
    reported_expressions = {"E": "exp(e)", "A": "exp(a)", "B": "exp(b)"}

    def _shares(self, theta, inputs):
        """The three terms' log values and their softmax shares (d LSE / d term), each (S, n)."""
        log_params = np.log(inputs["params"])
        log_tokens = np.log(inputs["tokens"])
        n_term = theta[:, 0:1] - theta[:, 3:4] * log_params      # log(A / N^alpha)
        d_term = theta[:, 1:2] - theta[:, 4:5] * log_tokens      # log(B / D^beta)
        e_term = theta[:, 2:3]                                    # log E
        top = np.maximum(np.maximum(n_term, d_term), e_term)
        n_share, d_share, e_share = np.exp(n_term - top), np.exp(d_term - top), np.exp(e_term - top)
        total = n_share + d_share + e_share
        return top + np.log(total), n_share / total, d_share / total, e_share / total

    def predict_theta(self, theta, inputs):
        return self._shares(theta, inputs)[0]

    def predict_theta_grad(self, theta, inputs):
        log_prediction, n_share, d_share, e_share = self._shares(theta, inputs)
        jacobian = np.empty(log_prediction.shape + (5,))
        jacobian[..., 0] = n_share
        jacobian[..., 1] = d_share
        jacobian[..., 2] = e_share
        jacobian[..., 3] = -n_share * np.log(inputs["params"])
        jacobian[..., 4] = -d_share * np.log(inputs["tokens"])
        return log_prediction, jacobian

    # variable projection: with α, β fixed, L = A·N^-α + B·D^-β + E is linear in (A, B, E)
    def linear_basis(self, theta, inputs):
        alpha, beta = theta[:, [3]], theta[:, [4]]
        n_term = np.exp(-alpha * np.log(inputs["params"])[None, :])
        d_term = np.exp(-beta * np.log(inputs["tokens"])[None, :])
        return np.stack([n_term, d_term, np.ones_like(n_term)], axis=-1)

    def with_coefficients(self, theta, coefficients):
        return log_coefficients(theta, coefficients, (0, 1, 2))

    def reported(self, theta):
        theta = np.atleast_2d(theta)
        return {"E": np.exp(theta[:, 2]), "A": np.exp(theta[:, 0]), "B": np.exp(theta[:, 1]),
                "alpha": theta[:, 3], "beta": theta[:, 4]}

    # -- compute-optimal allocation ----------------------------------------------------------
    def compute_optimal_theta(self, theta, flops):
        """N_opt, D_opt and the loss there, for fit-space vectors theta (S, P): each (S, n)."""
        theta = np.atleast_2d(theta)
        values = self.reported(theta)
        A, B, alpha, beta = (values[k][:, None] for k in ("A", "B", "alpha", "beta"))
        flops = np.atleast_1d(np.asarray(flops, float))[None, :]
        with np.errstate(all="ignore"):
            G = (alpha * A / (beta * B)) ** (1.0 / (alpha + beta))
            params = G * (flops / 6.0) ** (beta / (alpha + beta))
            tokens = (flops / 6.0) ** (alpha / (alpha + beta)) / G
        loss = values["E"][:, None] + A / params ** alpha + B / tokens ** beta
        return {"params": params, "tokens": tokens, "tokens_per_param": tokens / params,
                self.target: loss}

    def training_compute(self, params, tokens, **_):
        """C = 6·N·D (Kaplan et al. 2020, section 2.1; Hoffmann et al. 2022)."""
        return 6.0 * np.asarray(params, float) * np.asarray(tokens, float)
