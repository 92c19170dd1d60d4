"""Vocabulary: the unigram-normalised loss as a function of non-vocabulary parameters,
vocabulary parameters and training characters.

    L_u(N_nv, N_v, H) = −E + A1 / N_nv^α1 + A2 / N_v^α2 + B / H^β

fitted in linear space (L_u is usually negative: the loss less the unigram entropy of the
tokenizer, which makes losses of different vocabularies comparable).

Symbols: N_nv non-vocabulary parameters (`params_nonembed`), N_v = V·d vocabulary parameters
(derived from `vocab_size` V and `width` d), H training characters (`characters`), L_u the
unigram-normalised loss (`loss_unigram`). E is the loss floor below the unigram entropy; A1, α1,
A2, α2, B, β the three power laws.

Paper: Tao et al. 2024, "Scaling Laws with Vocabulary: Larger Models Deserve Larger
Vocabularies" (arXiv:2407.13623), approach 3 (the parametric fit of the loss formula). The
compute-optimal vocabulary (their V_opt) is not here yet.
"""

from __future__ import annotations

import numpy as np

from scaling.fitting import Parameter
from scaling.laws.base import Law
from scaling.laws.registry import register

EXPONENT_GRID = tuple(np.round(np.arange(0.1, 1.5001, 0.1), 2))


@register
class Vocabulary(Law):
    name = "vocabulary"
    title = "Vocabulary L_u(N_nv, N_v, H) (Tao et al. 2024, approach 3)"
    equation = "L_u = -E + A1/N_nv^alpha1 + A2/N_v^alpha2 + B/H^beta"
    inputs = ("params_nonembed", "vocab_params", "characters")
    power_inputs = ("params_nonembed", "vocab_params", "characters")
    derived_inputs = ("vocab_params",)
    extra_columns = ("vocab_size", "width")
    target = "loss_unigram"
    space = "linear"
    parameters = (
        # fit-space: e = E (any sign), a1 = log A1, a2 = log A2, b = log B
        Parameter("e", -100.0, 100.0, (0.0,)),
        Parameter("a1", -30.0, 60.0, (0.0,)),
        Parameter("alpha1", 0.0, 3.0, EXPONENT_GRID),
        Parameter("a2", -30.0, 60.0, (0.0,)),
        Parameter("alpha2", 0.0, 3.0, EXPONENT_GRID),
        Parameter("b", -30.0, 60.0, (0.0,)),
        Parameter("beta", 0.0, 3.0, EXPONENT_GRID),
    )
    linear_parameters = ("e", "a1", "a2", "b")
    signed_linear_parameters = ("e",)
    reported_names = ("E", "A1", "alpha1", "A2", "alpha2", "B", "beta")
    reported_expressions = {"E": "e", "A1": "exp(a1)", "A2": "exp(a2)", "B": "exp(b)"}

    def derive(self, table, lr_histories=None):
        """`vocab_params` = N_v = V·d."""
        table = table.copy()
        table["vocab_params"] = table["vocab_size"] * table["width"]
        return table

    def _terms(self, theta, inputs):
        """A1/N_nv^α1, A2/N_v^α2, B/H^β and the logs of their inputs, each (S, n)."""
        logs = [np.log(inputs[name])[None, :] for name in self.inputs]
        terms = [np.exp(theta[:, c:c + 1] - theta[:, x:x + 1] * log)
                 for (c, x), log in zip(((1, 2), (3, 4), (5, 6)), logs)]
        return terms, logs

    def predict_theta(self, theta, inputs):
        terms, _ = self._terms(theta, inputs)
        return -theta[:, 0:1] + terms[0] + terms[1] + terms[2]

    def predict_theta_grad(self, theta, inputs):
        terms, logs = self._terms(theta, inputs)
        value = -theta[:, 0:1] + terms[0] + terms[1] + terms[2]
        jacobian = np.stack(np.broadcast_arrays(
            -np.ones_like(value), terms[0], -terms[0] * logs[0], terms[1], -terms[1] * logs[1],
            terms[2], -terms[2] * logs[2]), axis=-1)
        return value, jacobian

    def linear_basis(self, theta, inputs):
        logs = [np.log(inputs[name])[None, :] for name in self.inputs]
        powers = [np.exp(-theta[:, x:x + 1] * log) for x, log in zip((2, 4, 6), logs)]
        return np.stack(np.broadcast_arrays(-np.ones_like(powers[0]), *powers), axis=-1)

    def with_coefficients(self, theta, coefficients):
        theta = theta.copy()
        theta[:, 0] = coefficients[:, 0]
        with np.errstate(divide="ignore"):          # log 0 = −inf, clipped to the bound
            theta[:, [1, 3, 5]] = np.log(coefficients[:, 1:])
        return theta

    def reported(self, theta):
        theta = np.atleast_2d(theta)
        return {"E": theta[:, 0], "A1": np.exp(theta[:, 1]), "alpha1": theta[:, 2],
                "A2": np.exp(theta[:, 3]), "alpha2": theta[:, 4], "B": np.exp(theta[:, 5]),
                "beta": theta[:, 6]}
