"""Vocabulary: the unigram-normalised loss as a function of non-vocabulary parameters,
vocabulary parameters and training tokens, and the compute-optimal vocabulary size it implies.

    L_u(N_nv, N_v, D) = −E + A1 / N_nv^α1 + A2 / N_v^α2 + B / D^β,    α1 = β (as the paper fits)

fitted in linear space (L_u is usually negative: the loss less the unigram entropy of the
tokenizer, which makes losses of different vocabularies comparable): sum of Huber δ = 1e-3 on
L_u − L̂_u, a grid of exponent starts with −E, A1, A2, B solved in closed form, then L-BFGS-B.
`--set tie_exponents=false` fits a free β (with α1 = β tied, the model-size and data terms
decay alike: Chinchilla's α ≈ β; untied, the three terms trade off more freely and the
exponents are less well pinned on a small ladder).

Symbols: N_nv non-vocabulary parameters (`params_nonembed`), N_v = V·d vocabulary parameters
(`vocab_params`, derived from `vocab_size` V and `width` d), D training tokens (`tokens`, the
true count of the run's tokenizer), H training characters (`characters`, optional), L_u the
unigram-normalised loss (`loss_unigram`). E is the loss floor below the unigram entropy; A1, α1,
A2, α2, B, β the three power laws.

The compute-optimal vocabulary (`optimal_vocab`, `scaling predict FIT --optimal-vocab`), by the
paper's three approaches (formulas in `scaling/analysis/optimal_vocab.py`):
1. IsoFLOPs: power laws N_nv = e^k1·C^γ1, N_v = e^k2·C^γ2 on the frontier of minimum L_u over
   FLOPs of the fitted runs, C = 6·(N_nv + N_v)·D;
2. derivative: ∂C/∂V = 0 at fixed N_nv and H for C = 6·(N_nv + V·d)·H·f(V), f(V) the tokens per
   character, a quadratic in ln V fitted to the table's tokenizers (`tokens_per_char` column, else
   tokens / characters; `--set tokens_per_char=paper`: the paper's f); its exponent, anchored at
   the best vocabulary measured for the smallest model;
3. parametric: ∂L_u/∂V = 0 at fixed N_nv and C, with D = C/(6·(N_nv + V·d)).

`--set fit_tokens=paper` fits the authors' way: D = H·f(V/1000) (their code evaluates f with V in
thousands, so D ≈ H, about three times the true count and nearly flat in V), while predictions
use true tokens as theirs do. The published constants come from that convention; issue 13
reports that on the authors' data the optimal vocabulary of N_nv = 70B is about 219K with it and
about 88K with true tokens (not re-measured here). Paper-faithful, not the default.

Paper: Tao et al. 2024, "Scaling Laws with Vocabulary: Larger Models Deserve Larger
Vocabularies" (arXiv:2407.13623), approaches 1-3; the authors' code, sail-sg/scaling-with-vocab,
for the conventions. Fits of this law's first version (B/H^β in characters, exponents untied)
do not load: refit.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from scaling.analysis import optimal_vocab as V
from scaling.errors import ScalingError
from scaling.engine.fitting import Parameter
from scaling.laws.base import BASE_SETTINGS, Law, Setting
from scaling.laws.registry import register

EXPONENT_GRID = tuple(np.round(np.arange(0.1, 1.5001, 0.1), 2))
MIN_VOCAB = 2.0   # an optimal vocabulary below 2 tokens is no answer (see optimal_vocab)
TOKENS_PER_CHAR = ("auto", "measured", "paper")
FIT_TOKENS = ("measured", "paper")


def _one_of(choices):
    return lambda value: None if value in choices else f"must be one of {', '.join(choices)}"


@register
class Vocabulary(Law):
    name = "vocabulary"
    aliases = ("vocab",)
    space = "linear"
    target = "loss_unigram"
    positive_columns = ("params_nonembed", "vocab_size", "width", "characters", "tokens_per_char")
    settings_spec = (
        *BASE_SETTINGS,
        Setting("tie_exponents", True, "alpha1 = beta, as the paper fits (false: a free beta)",
                bool),
        Setting("tokens_per_char", "auto", "f(V) of the compute model: measured (a quadratic in "
                "ln V fitted to the table's tokenizers: column tokens_per_char, else tokens / "
                "characters), paper (Tao et al.'s f), or auto (measured when the table has 3 "
                "tokenizers or more, else paper)", str, _one_of(TOKENS_PER_CHAR)),
        Setting("fit_tokens", "measured", "the D the law is fitted on: measured (the table's "
                "tokens) or paper (characters x f(V/1000), the authors' convention)", str,
                _one_of(FIT_TOKENS)),
    )
    linear_parameters = ("e", "a1", "a2", "b")
    signed_linear_parameters = ("e",)
    reported_expressions = {"E": "e", "A1": "exp(a1)", "A2": "exp(a2)", "B": "exp(b)"}
    optimizes_vocabulary = True

    # -- what the settings change ----------------------------------------------------------------
    @property
    def tokens_column(self) -> str:
        """The law's D: the table's `tokens`, or `paper_tokens` = characters·f(V/1000)."""
        return "paper_tokens" if self.fit_tokens == "paper" else "tokens"

    @property
    def inputs(self):
        return ("params_nonembed", "vocab_params", self.tokens_column)

    @property
    def power_inputs(self):
        return self.inputs

    @property
    def derived_inputs(self):
        return ("vocab_params", "paper_tokens")

    @property
    def scale_columns(self):
        """Reach: the law's inputs (N_nv, N_v = V·d, D) and the vocabulary size V itself. The
        law reads V only through V·d, but the claim that it does (and the unigram entropy the
        target is normalised by, and f(V) of the compute model) was tested only on the fitted
        tokenizers: a vocabulary outside their sizes is an extrapolation even where a narrower
        or wider model brings V·d back inside. Counted where a point gives V (the optimum of
        `optimal_vocab`; a plain prediction gives N_v alone)."""
        return (*self.inputs, "vocab_size")

    @property
    def extra_columns(self):
        return ("vocab_size", "width", *(("characters",) if self.fit_tokens == "paper" else ()))

    @property
    def title(self):
        return "Vocabulary L_u(N_nv, N_v, D) (Tao et al. 2024, approaches 1-3)"

    @property
    def equation(self):
        beta = "alpha1" if self.tie_exponents else "beta"
        return (f"L_u = -E + A1/N_nv^alpha1 + A2/N_v^alpha2 + B/D^{beta}"
                + (" (beta = alpha1)" if self.tie_exponents else ""))

    @property
    def parameters(self):
        # fit-space: e = E (any sign), a1 = log A1, a2 = log A2, b = log B
        shared = (Parameter("e", -100.0, 100.0, (0.0,)),
                  Parameter("a1", -30.0, 60.0, (0.0,)),
                  Parameter("alpha1", 0.0, 3.0, EXPONENT_GRID),
                  Parameter("a2", -30.0, 60.0, (0.0,)),
                  Parameter("alpha2", 0.0, 3.0, EXPONENT_GRID),
                  Parameter("b", -30.0, 60.0, (0.0,)))
        return shared if self.tie_exponents else (*shared,
                                                  Parameter("beta", 0.0, 3.0, EXPONENT_GRID))

    @property
    def reported_names(self):
        names = ("E", "A1", "alpha1", "A2", "alpha2", "B")
        return names if self.tie_exponents else (*names, "beta")

    # -- data ----------------------------------------------------------------------------------
    def derive(self, table, lr_histories=None):
        """`vocab_params` = N_v = V·d; with `fit_tokens=paper`, `paper_tokens` = H·f(V/1000)."""
        table = table.copy()
        table["vocab_params"] = table["vocab_size"] * table["width"]
        if self.fit_tokens == "paper":
            table["paper_tokens"] = table["characters"] * V.PAPER_F(table["vocab_size"] / 1000.0)
        if self.tokens_per_char == "measured" and not {"characters", "tokens_per_char"} & \
                set(table.columns):
            source = table.attrs.get("source", "run table")
            raise ScalingError(f"{source}: --set tokens_per_char=measured needs column "
                               "'characters' (or 'tokens_per_char') to measure the tokenizers")
        return table

    # -- the law -------------------------------------------------------------------------------
    def _exponent_columns(self):
        """Fit-space columns of α1, α2 and β."""
        return 2, 4, (2 if self.tie_exponents else 6)

    def _terms(self, theta, inputs):
        """A1/N_nv^α1, A2/N_v^α2, B/D^β and the logs of their inputs, each (S, n)."""
        logs = [np.log(inputs[name])[None, :] for name in self.inputs]
        terms = [np.exp(theta[:, c:c + 1] - theta[:, x:x + 1] * log)
                 for c, x, log in zip((1, 3, 5), self._exponent_columns(), logs)]
        return terms, logs

    def predict_theta(self, theta, inputs):
        terms, _ = self._terms(theta, inputs)
        return -theta[:, 0:1] + terms[0] + terms[1] + terms[2]

    def predict_theta_grad(self, theta, inputs):
        terms, logs = self._terms(theta, inputs)
        value = -theta[:, 0:1] + terms[0] + terms[1] + terms[2]
        size, vocab, data = terms[0] * logs[0], terms[1] * logs[1], terms[2] * logs[2]
        columns = [-np.ones_like(value), terms[0], -size, terms[1], -vocab, terms[2]]
        if self.tie_exponents:
            columns[2] = -size - data
        else:
            columns.append(-data)
        return value, np.stack(np.broadcast_arrays(*columns), axis=-1)

    def linear_basis(self, theta, inputs):
        logs = [np.log(inputs[name])[None, :] for name in self.inputs]
        powers = [np.exp(-theta[:, x:x + 1] * log)
                  for x, log in zip(self._exponent_columns(), logs)]
        return np.stack(np.broadcast_arrays(-np.ones_like(powers[0]), *powers), axis=-1)

    def with_coefficients(self, theta, coefficients):
        theta = theta.copy()
        theta[:, 0] = coefficients[:, 0]
        with np.errstate(divide="ignore"):          # log 0 = −inf, clipped to the bound
            theta[:, [1, 3, 5]] = np.log(coefficients[:, 1:])
        return theta

    def reported(self, theta):
        theta = np.atleast_2d(theta)
        out = {"E": theta[:, 0], "A1": np.exp(theta[:, 1]), "alpha1": theta[:, 2],
               "A2": np.exp(theta[:, 3]), "alpha2": theta[:, 4], "B": np.exp(theta[:, 5])}
        if not self.tie_exponents:
            out["beta"] = theta[:, 6]
        return out

    def constants(self, theta) -> dict[str, np.ndarray]:
        """The law's constants of fit-space vectors (S, P), β included when tied: name → (S,)."""
        out = self.reported(theta)
        out.setdefault("beta", out["alpha1"])
        return out

    # -- extras: tokens per character, approaches 1 and 2 ----------------------------------------
    def fit_extras(self, points: pd.DataFrame) -> dict:
        """f(V), and approaches 1 and 2 from the fitted rows (each with the reason when the rows
        do not support it); FLOPs C = 6·(N_nv + V·d)·D with the rows' measured tokens."""
        f, fallback = self._tokens_per_char(points)
        out = {"tokens_per_char": {**f.to_dict(), "fallback": fallback} if f is not None
               else {"unsupported": fallback}}
        nonembed = points["params_nonembed"].to_numpy(float)
        vocab_params = points["vocab_params"].to_numpy(float)
        flops = V.training_flops(nonembed, vocab_params, points["tokens"].to_numpy(float))
        loss = points[self.target].to_numpy(float)
        isoflops = V.fit_isoflops(nonembed, vocab_params, flops, loss)
        out["approach1"] = isoflops.to_dict() if isinstance(isoflops, V.IsoFlops) \
            else {"unsupported": isoflops}
        derivative = self._derivative(points, f, fallback, flops, loss,
                                      isoflops if isinstance(isoflops, V.IsoFlops) else None)
        out["approach2"] = derivative.to_dict() if isinstance(derivative, V.Derivative) \
            else {"unsupported": derivative}
        return out

    def _tokens_per_char(self, points):
        """(f, why the paper's f stands in, or None) by the `tokens_per_char` setting; (None,
        reason) when a measured f is asked for and cannot be had."""
        if self.tokens_per_char == "paper":
            return V.PAPER_F, None
        if "tokens_per_char" in points:
            ratios = points["tokens_per_char"].to_numpy(float)
        elif "characters" in points:
            ratios = points["tokens"].to_numpy(float) / points["characters"].to_numpy(float)
        else:
            return V.PAPER_F, "the table has no characters or tokens_per_char column"
        f = V.fit_tokens_per_char(points["vocab_size"].to_numpy(float), ratios)
        if isinstance(f, V.TokensPerChar):
            return f, None
        return (None, f) if self.tokens_per_char == "measured" else (V.PAPER_F, f)

    @staticmethod
    def _derivative(points, f, fallback, flops, loss, isoflops):
        """Approach 2 from the fitted rows, or the reason it is not supported."""
        if f is None:
            return f"no tokens-per-character function ({fallback})"
        nonembed = points["params_nonembed"].to_numpy(float)
        sizes = np.unique(nonembed)
        if len(sizes) < 2:
            return "one model size; the derivative's exponent needs at least 2"
        widths = np.array([np.median(points["width"].to_numpy(float)[nonembed == n])
                           for n in sizes])
        smallest = nonembed == sizes[0]
        budget = float(isoflops.budget(sizes[0])) if isoflops is not None else None
        anchor = V.isoflop_anchor(points["vocab_size"].to_numpy(float)[smallest],
                                  flops[smallest], loss[smallest], budget)
        if isinstance(anchor, str):
            return anchor
        gamma = V.derivative_exponent(sizes, widths, f)
        return V.Derivative(gamma, float(sizes[0]), float(widths[0]), anchor[0], anchor[1],
                            anchor[2])

    def load_extras(self, block) -> dict:
        """The fit file's extras, every number checked (one-line errors naming the field)."""
        if not block:
            return {}
        if not isinstance(block, dict):
            raise ScalingError(f"extras: expected an object, got {block!r:.40}")
        fields = {"tokens_per_char": ("a", "b", "c", "cap"),
                  "approach1": ("k1", "gamma1", "k2", "gamma2"),
                  "approach2": ("gamma", "params_nonembed", "width", "vocab_size")}
        positive = {"cap", "params_nonembed", "width", "vocab_size", "gamma1"}
        for part, names in fields.items():
            entry = block.get(part)
            if entry is None or (isinstance(entry, dict) and isinstance(entry.get("unsupported"),
                                                                        str)):
                continue
            if not isinstance(entry, dict):
                raise ScalingError(f"extras.{part}: expected an object, got {entry!r:.40}")
            for name in names:
                value = entry.get(name)
                if (not isinstance(value, (int, float)) or isinstance(value, bool)
                        or not math.isfinite(value) or (name in positive and value <= 0)):
                    raise ScalingError(f"extras.{part}.{name}: expected a finite number"
                                       + (" > 0" if name in positive else "")
                                       + f", got {value!r:.40}")
        return block

    @staticmethod
    def _extra(fit, part):
        """(the fit's extra as its object, None) or (None, why it is not there)."""
        entry = (fit.extras_ or {}).get(part)
        if entry is None:
            return None, "the fit file holds none (fit with this version)"
        if "unsupported" in entry:
            return None, entry["unsupported"]
        if part == "tokens_per_char":
            return V.TokensPerChar(entry["a"], entry["b"], entry["c"], entry["cap"],
                                   entry.get("source", "measured"),
                                   tuple(entry["vocab_range"]) if entry.get("vocab_range")
                                   else None, entry.get("n_tokenizers", 0)), None
        if part == "approach1":
            return V.IsoFlops(entry["k1"], entry["gamma1"], entry["k2"], entry["gamma2"],
                              entry.get("n_frontier", 0)), None
        return V.Derivative(entry["gamma"], entry["params_nonembed"], entry["width"],
                            entry["vocab_size"], entry.get("anchor_flops"),
                            entry.get("anchor_budget", "")), None

    def extras_report(self, fit) -> list[str]:
        lines = ["", "compute-optimal vocabulary (scaling predict FIT --optimal-vocab "
                 "--params-nonembed N --width d):"]
        f, why = self._extra(fit, "tokens_per_char")
        if f is None:
            lines.append(f"  tokens per character: none ({why})")
        else:
            seen = (f", measured on {f.n_tokenizers} tokenizers, V {f.vocab_range[0]:.0f} to "
                    f"{f.vocab_range[1]:.0f}" if f.source == "measured" and f.vocab_range else
                    " (the paper's" + (f"; {why})" if why else ")"))
            lines.append(f"  tokens per character f(V) = {f.a:.6g}·ln²V {_signed(f.b)}·lnV "
                         f"{_signed(f.c)}, V capped at {f.cap:.4g}{seen}")
        isoflops, why = self._extra(fit, "approach1")
        lines.append(f"  approach 1 (IsoFLOPs): not supported ({why})" if isoflops is None else
                     f"  approach 1 (IsoFLOPs): N_nv = e^{isoflops.k1:.5g}·C^{isoflops.gamma1:.4g}"
                     f", N_v = e^{isoflops.k2:.5g}·C^{isoflops.gamma2:.4g} "
                     f"({isoflops.n_frontier} runs on the frontier of least loss over FLOPs)")
        derivative, why = self._extra(fit, "approach2")
        lines.append(f"  approach 2 (derivative): not supported ({why})" if derivative is None
                     else f"  approach 2 (derivative): N_v = "
                     f"{derivative.anchor_vocab_params:.4g}·(N_nv/{derivative.params_nonembed:.4g})"
                     f"^{derivative.gamma:.4g} (anchor: V = {derivative.vocab_size:.0f} best for "
                     f"the smallest model, at {_budget_words(derivative)})")
        lines.append("  approach 3 (parametric): dL_u/dV = 0 with D = C / (6 (N_nv + V d))")
        return lines

    # -- the compute-optimal vocabulary ------------------------------------------------------------
    def optimal_vocab(self, fit, params_nonembed, width, flops=None, kind: str | None = None,
                      level: float | None = None) -> dict:
        """The optimal vocabulary size of models of N_nv (`params_nonembed`) and width d at
        budgets C (`flops`; None: approach 1's compute-optimal budget for N_nv, or, where the
        data do not support approach 1, this law's own), by each approach the data support.

        Returns arrays (n,) and words: params_nonembed, width, flops, "budget" (how the budgets
        were chosen); "vocab": {"approach1", "approach2", "approach3"} (NaN where unsupported);
        "why": {approach: why it is missing, or None}; "interval3": (lower, upper) of
        approach 3's V over the bootstrap refits (NaN without); "vocab_params", "tokens",
        "characters" of approach 3's optimum; "loss": (point, lower, upper) of L_u there with
        the interval of `kind` (None: none)."""
        given = flops is not None
        nonembed, width, budget = np.broadcast_arrays(
            *(np.atleast_1d(np.asarray(v, float)) for v in
              (params_nonembed, width, flops if given else np.nan)))
        isoflops, why1 = self._extra(fit, "approach1")
        derivative, why2 = self._extra(fit, "approach2")
        point = self.constants(fit.theta_)
        if given:
            how = "the given budget"
        elif isoflops is not None:
            budget = isoflops.budget(nonembed)
            how = "approach 1's compute-optimal budget for N_nv"
        else:
            budget = V.parametric_budget(point, nonembed)["flops"][0]
            how = (f"approach 3's compute-optimal budget for N_nv (the law's own; approach 1 is "
                   f"not supported: {why1})")
        nonembed, width, budget = (np.array(a, float) for a in
                                   np.broadcast_arrays(nonembed, width, budget))
        nan = np.full(nonembed.shape, np.nan)
        vocab = {"approach1": nan, "approach2": nan, "approach3": nan}
        why = {"approach1": why1 and f"not supported by the data ({why1})",
               "approach2": why2 and f"not supported by the data ({why2})", "approach3": None}
        if given:
            for name in ("approach1", "approach2"):
                why[name] = ("answers for the compute-optimal budget of N_nv only (leave out "
                             "--flops)")
        else:
            if isoflops is not None:
                vocab["approach1"] = isoflops.vocab_params(budget) / width
            if derivative is not None:
                vocab["approach2"] = derivative.vocab_params(nonembed) / width
        vocab_params = V.parametric_vocab_params(point, nonembed, budget)[0]
        # a root below MIN_VOCAB tokens is no vocabulary: the fit's vocabulary term has vanished
        # (A2 on its bound), so the law sees no gain from any V and its "optimum" runs to 0
        tiny = np.isfinite(vocab_params) & (vocab_params / width < MIN_VOCAB)
        vocab_params = np.where(tiny, np.nan, vocab_params)
        vocab["approach3"] = vocab_params / width
        if np.any(tiny):
            why["approach3"] = (f"no optimum: the fitted law gains nothing from a larger "
                                f"vocabulary (its optimum falls below V = {MIN_VOCAB:g}; A2 = "
                                f"{fit.params_['A2']:.3g})")
        elif np.any(~np.isfinite(vocab_params)):
            why["approach3"] = "no interior optimum for the fitted parameters"
        interval = (nan, nan)
        if len(fit.bootstrap_theta_):
            samples = V.parametric_vocab_params(self.constants(fit.bootstrap_theta_), nonembed,
                                                budget) / width[None, :]
            samples = np.where(samples < MIN_VOCAB, np.nan, samples)
            tail = 100 * (1 - (self.confidence if level is None else level)) / 2
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)     # refits without an optimum
                interval = tuple(np.nanpercentile(samples, [tail, 100 - tail], axis=0))
        tokens = budget / (6.0 * (nonembed + vocab_params))
        f, _ = self._extra(fit, "tokens_per_char")
        characters = tokens / f(vocab["approach3"]) if f is not None else nan
        inputs = {"params_nonembed": nonembed, "vocab_params": vocab_params,
                  self.tokens_column: tokens}
        finite = np.isfinite(vocab_params)
        loss = (nan, nan, nan)
        # approach 3's V counts in the reach, the calibrated interval and the warnings beside
        # the law's inputs (`scale_columns`)
        scale = {"vocab_size": vocab["approach3"]}
        if finite.all():
            loss = (fit.interval_from_inputs(inputs, kind, level, scale) if kind is not None
                    else (fit.predict_inputs(inputs), nan, nan))
        return {"params_nonembed": nonembed, "width": width, "flops": budget, "budget": how,
                "vocab": vocab, "why": why, "interval3": interval, "vocab_params": vocab_params,
                "tokens": tokens, "characters": characters, "loss": loss, "inputs": inputs,
                "scale": scale}

    # -- fit files ---------------------------------------------------------------------------------
    @classmethod
    def check_record(cls, record: dict) -> None:
        """Fits of the first version (B/H^β in characters: no `tie_exponents` setting, and a
        `beta` parameter or a fitted range in characters) are a one-line error: their
        parameters mean another law."""
        settings = record.get("settings")
        params = record.get("params") if isinstance(record.get("params"), dict) else \
            record.get("theta") if isinstance(record.get("theta"), dict) else {}
        ranges = record.get("fitted_range") if isinstance(record.get("fitted_range"), dict) else {}
        if isinstance(settings, dict) and "tie_exponents" not in settings and (
                "beta" in params or "characters" in ranges):
            raise ScalingError("a fit of the vocabulary law's first version (B/H^beta in "
                               "training characters H); this version fits B/D^beta in tokens "
                               "D (Tao et al.'s approach 3): refit it with --law vocab")


def _signed(value: float) -> str:
    return f"{'-' if value < 0 else '+'} {abs(value):.6g}"


def _budget_words(derivative) -> str:
    what = derivative.anchor_budget or "its budget"
    return f"{what}, C = {derivative.anchor_flops:.3g}" if derivative.anchor_flops else what
