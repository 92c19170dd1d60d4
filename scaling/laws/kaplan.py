"""Kaplan: final loss as a function of parameters and training tokens.

    L(N, D) = ((N_c / N)^(α_N / α_D) + D_c / D)^α_D

fitted in log space as  log L̂ = α_D · LSE((α_N / α_D)·(n_c − log N), d_c − log D),
N_c = e^(n_c), D_c = e^(d_c).

Symbols: N parameters (`params`; Kaplan et al. count non-embedding parameters: `--map
params=params_nonembed` reads those), D training tokens (`tokens`), L loss (`loss`, nats/token);
α_N and α_D the exponents of the model-size and data terms, N_c and D_c their scales.

Paper: Kaplan et al. 2020, "Scaling Laws for Neural Language Models" (arXiv:2001.08361),
eq. (1.5); their fits give α_N = 0.076, α_D = 0.095, N_c = 8.8e13, D_c = 5.4e13 (eqs. 1.1–1.2).
"""

from __future__ import annotations

import numpy as np

from scaling.engine.fitting import Parameter
from scaling.laws.base import BASE_SETTINGS, Law, Setting
from scaling.laws.registry import register


@register
class Kaplan(Law):
    name = "kaplan"
    title = "Kaplan L(N, D) (Kaplan et al. 2020, eq. 1.5)"
    equation = "L = ((N_c/N)^(alpha_N/alpha_D) + D_c/D)^alpha_D"
    inputs = ("params", "tokens")
    power_inputs = ("params", "tokens")
    settings_spec = (*BASE_SETTINGS,
                     Setting("target", "loss", "the loss column it fits (positive)", str))
    parameters = (
        # fit-space: n_c = log N_c, d_c = log D_c
        Parameter("alpha_n", 1e-3, 2.0, tuple(np.round(np.arange(0.02, 0.301, 0.02), 2))),
        Parameter("alpha_d", 1e-3, 2.0, tuple(np.round(np.arange(0.02, 0.301, 0.02), 2))),
        Parameter("n_c", 0.0, 100.0, (10.0, 20.0, 30.0, 40.0, 50.0)),
        Parameter("d_c", 0.0, 100.0, (10.0, 20.0, 30.0, 40.0, 50.0)),
    )
    reported_names = ("alpha_N", "alpha_D", "N_c", "D_c")
    reported_expressions = {"alpha_N": "alpha_n", "alpha_D": "alpha_d", "N_c": "exp(n_c)",
                            "D_c": "exp(d_c)"}

    def _terms(self, theta, inputs):
        """log(N_c/N), u = (α_N/α_D)·log(N_c/N), LSE(u, log(D_c/D)) and the shares of u and
        log(D_c/D) in it (the softmax), each (S, n)."""
        alpha_n, alpha_d = theta[:, 0:1], theta[:, 1:2]
        size_gap = theta[:, 2:3] - np.log(inputs["params"])[None, :]      # log(N_c / N)
        u = alpha_n / alpha_d * size_gap
        v = theta[:, 3:4] - np.log(inputs["tokens"])[None, :]             # log(D_c / D)
        top = np.maximum(u, v)
        u_share, v_share = np.exp(u - top), np.exp(v - top)
        total = u_share + v_share
        return size_gap, u, top + np.log(total), u_share / total, v_share / total

    def predict_theta(self, theta, inputs):
        lse = self._terms(theta, inputs)[2]
        return theta[:, 1:2] * lse

    def predict_theta_grad(self, theta, inputs):
        size_gap, u, lse, u_share, v_share = self._terms(theta, inputs)
        alpha_n, alpha_d = theta[:, 0:1], theta[:, 1:2]
        jacobian = np.empty(lse.shape + (4,))
        jacobian[..., 0] = u_share * size_gap                       # ∂/∂α_N
        jacobian[..., 1] = lse - u_share * u                        # ∂/∂α_D
        jacobian[..., 2] = u_share * alpha_n                        # ∂/∂n_c
        jacobian[..., 3] = v_share * alpha_d                        # ∂/∂d_c
        return alpha_d * lse, jacobian

    def reported(self, theta):
        theta = np.atleast_2d(theta)
        return {"alpha_N": theta[:, 0], "alpha_D": theta[:, 1], "N_c": np.exp(theta[:, 2]),
                "D_c": np.exp(theta[:, 3])}
