"""muP loss prediction: final loss across widths trained with muP-transferred hyperparameters.

    L(N) = a·N^b + c                    (terms "N": one token budget, Yao & Wang's setting)
    L(N, D) = a·N^b + d·D^e + c         (terms "ND": token budgets vary)

with b, e ≤ 0, fitted in log space as  log L̂ = LSE(log a + b·log N, [log d + e·log D,] log c)
by the engine's Huber objective (δ = 1e-3), the exponents walked on a grid and a, d, c solved in
closed form (variable projection). `--set terms=auto` (the default) picks "ND" when the runs'
final token counts take 3 or more values, else "N", and the fit file keeps the choice.

Symbols: N parameters (`params`), D training tokens (`tokens`), L final loss (`loss`,
nats/token); a and b the scale and (negative) exponent of the width term, d and e of the data
term, c the loss no width reaches. The runs must share every hyperparameter that muP transfers
(the learning rate, init and multipliers tuned once at the base width) and, for "N", one number
of steps: the law describes loss against width at a transferred optimum, and says nothing of
runs whose hyperparameters were searched per width.

Paper: Yao & Wang 2023, "Research without Re-search: Maximal Update Parametrization Yields
Accurate Loss Prediction across Scales" (arXiv:2304.06875), the power law in N with an offset
fitted across muP widths at fixed steps; the D term follows Hoffmann et al. 2022
(arXiv:2203.15556).
"""

from __future__ import annotations

import numpy as np

from scaling.engine.fitting import Parameter
from scaling.laws.base import BASE_SETTINGS, Law, Setting, distinct_positive
from scaling.laws.registry import register
from scaling.data.runs import final_rows

EXPONENT_GRID = tuple(-np.round(np.arange(0.0, 2.0001, 0.05), 2))
TERMS = ("auto", "N", "ND")


@register
class Mup(Law):
    name = "mup"
    title = "muP loss prediction across widths, L = a N^b + c (Yao & Wang 2023)"
    floor_parameter = "c"      # the loss no width reaches
    settings_spec = (*BASE_SETTINGS,
                     Setting("terms", "auto", "N: a N^b + c; ND: + d D^e; auto: ND when the "
                             "final token counts take 3+ values", str,
                             lambda v: None if v in TERMS else "must be auto, N or ND"))

    @property
    def with_tokens(self) -> bool:
        return self.terms == "ND"

    @property
    def equation(self):
        return "L = a N^b + d D^e + c" if self.with_tokens else "L = a N^b + c"

    @property
    def inputs(self):
        return ("params", "tokens") if self.with_tokens else ("params",)

    @property
    def read_columns(self):
        return ("params", "tokens", "loss")

    @property
    def power_inputs(self):
        return self.inputs

    @property
    def parameters(self):
        logs = (0.0, 5.0, 10.0, 15.0, 20.0)
        out = [Parameter("la", -20.0, 100.0, logs), Parameter("b", -5.0, 0.0, EXPONENT_GRID)]
        if self.with_tokens:
            out += [Parameter("ld", -20.0, 100.0, logs), Parameter("e", -5.0, 0.0, EXPONENT_GRID)]
        return (*out, Parameter("lc", -20.0, 5.0, (-1.0, 0.0, 0.5, 1.0)))

    @property
    def linear_parameters(self):
        return ("la", "ld", "lc") if self.with_tokens else ("la", "lc")

    @property
    def reported_names(self):
        return ("a", "b", "d", "e", "c") if self.with_tokens else ("a", "b", "c")

    @property
    def reported_expressions(self):
        out = {"a": "exp(la)", "c": "exp(lc)"}
        return {**out, "d": "exp(ld)"} if self.with_tokens else out

    def prepare(self, runs, lr_file=None):
        data = super().prepare(runs, lr_file)
        if self.terms == "auto":          # decided once, from the table; the fit file keeps it
            budgets = distinct_positive(final_rows(data.frame)["tokens"])
            self.terms = "ND" if len(budgets) >= 3 else "N"
        return data

    # -- the law ---------------------------------------------------------------------------------
    def _logs(self, theta, inputs):
        """The log of each term, (S, n) each: width, [data,] offset."""
        theta = np.atleast_2d(theta)
        log_params = np.log(np.asarray(inputs["params"], float))[None, :]
        terms = [theta[:, 0:1] + theta[:, 1:2] * log_params]
        if self.with_tokens:
            log_tokens = np.log(np.asarray(inputs["tokens"], float))[None, :]
            terms.append(theta[:, 2:3] + theta[:, 3:4] * log_tokens)
        terms.append(np.broadcast_to(theta[:, -1:], terms[0].shape))
        return terms

    def predict_theta(self, theta, inputs):
        terms = np.stack(self._logs(theta, inputs))
        top = terms.max(axis=0)
        return top + np.log(np.exp(terms - top).sum(axis=0))

    def predict_theta_grad(self, theta, inputs):
        terms = np.stack(self._logs(theta, inputs))
        top = terms.max(axis=0)
        weights = np.exp(terms - top)
        shares = weights / weights.sum(axis=0)                  # d LSE / d term
        log_params = np.log(np.asarray(inputs["params"], float))[None, :]
        columns = [shares[0], shares[0] * log_params]
        if self.with_tokens:
            log_tokens = np.log(np.asarray(inputs["tokens"], float))[None, :]
            columns += [shares[1], shares[1] * log_tokens]
        columns.append(shares[-1])
        value = top + np.log(weights.sum(axis=0))
        return value, np.stack(np.broadcast_arrays(*columns), axis=-1)

    # variable projection: with the exponents fixed, L is linear in (a, [d,] c)
    def linear_basis(self, theta, inputs):
        theta = np.atleast_2d(theta)
        log_params = np.log(np.asarray(inputs["params"], float))[None, :]
        basis = [np.exp(theta[:, 1:2] * log_params)]
        if self.with_tokens:
            log_tokens = np.log(np.asarray(inputs["tokens"], float))[None, :]
            basis.append(np.exp(theta[:, 3:4] * log_tokens))
        basis.append(np.ones_like(basis[0]))
        return np.stack(basis, axis=-1)

    def with_coefficients(self, theta, coefficients):
        theta = theta.copy()
        with np.errstate(divide="ignore"):
            logs = np.log(coefficients)                  # log 0 = -inf, clipped to the bound
        theta[:, 0] = logs[:, 0]
        if self.with_tokens:
            theta[:, 2] = logs[:, 1]
        theta[:, -1] = logs[:, -1]
        return theta

    def reported(self, theta):
        theta = np.atleast_2d(theta)
        out = {"a": np.exp(theta[:, 0]), "b": theta[:, 1], "c": np.exp(theta[:, -1])}
        if self.with_tokens:
            out.update({"d": np.exp(theta[:, 2]), "e": theta[:, 3]})
        return out
