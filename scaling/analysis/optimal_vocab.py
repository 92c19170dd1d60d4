"""The compute-optimal vocabulary size: the compute model and the three approaches of Tao et al.
2024, "Scaling Laws with Vocabulary: Larger Models Deserve Larger Vocabularies"
(arXiv:2407.13623). The vocabulary law (`scaling/laws/vocabulary.py`) fits the loss; this module
holds the arithmetic that turns a fit, and the table it came from, into an optimal V. It reads
no files and knows no law: every function takes numbers, in any consistent units.

Symbols: N_nv non-vocabulary parameters, V vocabulary size, d model width, N_v = V·d vocabulary
parameters, H training characters, D training tokens, C training FLOPs, L_u the
unigram-normalised loss.

Compute model (FLOPs with vocabulary):

    C = 6·(N_nv + V·d)·H·f(V) = 6·(N_nv + N_v)·D,    f(V) = D/H, tokens per character,
    f(V) = a·ln²V + b·lnV + c  with V capped at V_cap (f is flat beyond it),

fitted to the measured tokenizers of a table (`fit_tokens_per_char`; V_cap is the quadratic's
minimum, where more vocabulary stops shortening the text), or the paper's own f (`PAPER_F`:
a, b, c = 0.00639222, −0.15811069, 1.20470122, V_cap = 200,000).

Approach 1 (IsoFLOPs; `fit_isoflops`): the runs on the frontier of minimum L_u over FLOPs (each
run kept when its loss is below that of every cheaper run), and power laws fitted to them by
least squares in log space:  N_nv = e^k1·C^γ1,  N_v = e^k2·C^γ2. The compute-optimal budget of a
model of N_nv is C = (N_nv / e^k1)^(1/γ1); its vocabulary V = e^k2·C^γ2 / d.

Approach 2 (derivative; `derivative_vocab`, `derivative_exponent`, `isoflop_anchor`): at fixed
N_nv and H, the V that trains on the characters at least compute solves ∂C/∂V = 0:

    ∂C/∂V = 6·H·[d·f(V) + (N_nv + V·d)·f'(V)] = 0,    f'(V) = (2a·lnV + b) / V,

one root below f's minimum (f' < 0 there; at V_cap the bracket is positive, or V = V_cap when
it is not). Its N_v = V·d grows as a power of N_nv; the paper fits that exponent γ on its model
sizes (Huber δ = 1e-3 on log(N_v/N_v0) = γ·log(N_nv/N_nv0), through its smallest size) and
anchors the power law at the vocabulary measured best at the smallest size:

    N_v = N_v0·(N_nv / N_nv0)^γ      (paper: N_v0 = 3,145,728 at N_nv0 = 33M, γ = 0.8353974).

Approach 3 (parametric; `parametric_vocab_params`, `parametric_budget`): the fitted law
L_u = −E + A1/N_nv^α1 + A2/N_v^α2 + B/D^β at fixed N_nv and C, with D = C/(6·(N_nv + N_v)):
∂L_u/∂V = 0 reads, with N_v = V·d,

    α2·A2·N_v^(−α2)·(N_nv + N_v)/N_v = β·B·D^(−β),

whose left side minus its right falls monotonically in N_v (for β ≥ 0): one root, found by
bisection in log N_v; V = N_v/d (d enters only there). The law's own compute-optimal point for
N_nv (∂L_u/∂N_nv = ∂L_u/∂N_v = 0 at one budget) is closed-form:

    N_v = [α2·A2/(α1·A1) · N_nv^(α1+1)]^(1/(α2+1)),
    D   = [β·B·N_nv / (α1·A1·N_nv^(−α1)·(N_nv + N_v))]^(1/β),    C = 6·(N_nv + N_v)·D.

Paper conventions (for comparing with its numbers): its code fits and solves in units of
millions of parameters (N_nv, N_v), thousands (V, d), billions of tokens and characters, and
1e15 FLOPs (so D = C/(6·(N_nv + V·d)) is in billions); `from_paper_units` converts its A1, A2, B
to plain counts. Its fit, though, computes the tokens of each run as D = H·f(V) with V in
thousands (f(16) ≈ 0.82 where f(16,384) ≈ 0.27: D ≈ H, about three times the true count and
nearly flat in V), while its prediction uses the true D = C/(6·(N_nv + V·d)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq, minimize_scalar

from scaling.engine.fitting import huber

PAPER_COEFFICIENTS = (0.00639222, -0.15811069, 1.20470122)
PAPER_VOCAB_CAP = 200_000.0
HUBER_DELTA = 1e-3          # the paper's Huber threshold for approach 2's exponent (log space)
MIN_FRONTIER = 3            # approach 1: frontier runs needed for its two power laws
BISECTIONS = 100            # approach 3: halvings of the log N_v bracket (ample for float64)


# -- the compute model -----------------------------------------------------------------------

@dataclass(frozen=True)
class TokensPerChar:
    """f(V) = a·ln²V + b·lnV + c with V capped at `cap`: tokens per character of a tokenizer of
    V entries. `source` is "measured" (fitted to a table's tokenizers, `vocab_range` their
    smallest and largest V) or "paper" (Tao et al.'s f)."""

    a: float
    b: float
    c: float
    cap: float
    source: str
    vocab_range: tuple[float, float] | None = None
    n_tokenizers: int = 0

    def __call__(self, vocab) -> np.ndarray:
        log_v = np.log(np.minimum(np.asarray(vocab, float), self.cap))
        return self.a * log_v ** 2 + self.b * log_v + self.c

    def slope(self, vocab) -> np.ndarray:
        """df/dV: (2a·lnV + b)/V below the cap, 0 beyond it."""
        vocab = np.asarray(vocab, float)
        return np.where(vocab < self.cap, (2 * self.a * np.log(vocab) + self.b) / vocab, 0.0)

    def to_dict(self) -> dict:
        return {"a": self.a, "b": self.b, "c": self.c, "cap": self.cap, "source": self.source,
                "vocab_range": None if self.vocab_range is None else list(self.vocab_range),
                "n_tokenizers": self.n_tokenizers}


PAPER_F = TokensPerChar(*PAPER_COEFFICIENTS, PAPER_VOCAB_CAP, "paper")


def fit_tokens_per_char(vocab_sizes, ratios) -> TokensPerChar | str:
    """f(V) fitted by least squares to one tokens-per-character value a tokenizer (the median of
    its rows'), or the reason it cannot be: fewer than 3 tokenizers, or a quadratic with no
    minimum (a ≤ 0: more vocabulary would shorten the text ever faster)."""
    vocab_sizes, ratios = np.asarray(vocab_sizes, float), np.asarray(ratios, float)
    sizes = np.unique(vocab_sizes)
    if len(sizes) < 3:
        return (f"{len(sizes)} tokenizer(s) measured; a quadratic in ln V needs at least 3 "
                "vocabulary sizes")
    values = np.array([np.median(ratios[vocab_sizes == v]) for v in sizes])
    log_v = np.log(sizes)
    a, b, c = np.linalg.lstsq(np.column_stack([log_v ** 2, log_v, np.ones_like(log_v)]), values,
                              rcond=None)[0]
    if not a > 0:
        return (f"the tokens per character of the {len(sizes)} tokenizers fit a quadratic in "
                f"ln V with no minimum (a = {a:.3g})")
    return TokensPerChar(float(a), float(b), float(c), float(math.exp(-b / (2 * a))), "measured",
                         (float(sizes[0]), float(sizes[-1])), len(sizes))


def training_flops(params_nonembed, vocab_params, tokens) -> np.ndarray:
    """C = 6·(N_nv + N_v)·D."""
    return 6.0 * (np.asarray(params_nonembed, float) + np.asarray(vocab_params, float)) \
        * np.asarray(tokens, float)


# -- approach 1: IsoFLOPs --------------------------------------------------------------------

@dataclass(frozen=True)
class IsoFlops:
    """N_nv = e^k1·C^γ1 and N_v = e^k2·C^γ2 on the frontier of minimum loss over FLOPs."""

    k1: float
    gamma1: float
    k2: float
    gamma2: float
    n_frontier: int = 0
    flops_range: tuple[float, float] | None = None

    def budget(self, params_nonembed) -> np.ndarray:
        """The compute-optimal budget of a model of N_nv: C = (N_nv / e^k1)^(1/γ1)."""
        return (np.asarray(params_nonembed, float) / math.exp(self.k1)) ** (1.0 / self.gamma1)

    def vocab_params(self, flops) -> np.ndarray:
        return math.exp(self.k2) * np.asarray(flops, float) ** self.gamma2

    def to_dict(self) -> dict:
        return {"k1": self.k1, "gamma1": self.gamma1, "k2": self.k2, "gamma2": self.gamma2,
                "n_frontier": self.n_frontier,
                "flops_range": None if self.flops_range is None else list(self.flops_range)}


def frontier(flops, loss) -> np.ndarray:
    """Indices of the points whose loss is below that of every point of less compute, in order
    of compute (the authors' selection of their approach 1)."""
    flops, loss = np.asarray(flops, float), np.asarray(loss, float)
    order = np.lexsort((loss, flops))
    kept, best = [], math.inf
    for k in order:
        if loss[k] < best:
            kept.append(k)
            best = loss[k]
    return np.array(kept, int)


def fit_isoflops(params_nonembed, vocab_params, flops, loss) -> IsoFlops | str:
    """Approach 1's power laws from the frontier, or the reason the points do not support them
    (fewer than MIN_FRONTIER frontier points, one value of N_nv or N_v on it, or N_nv that does
    not grow with compute)."""
    flops = np.asarray(flops, float)
    on = frontier(flops, loss)
    nonembed = np.asarray(params_nonembed, float)[on]
    vocab = np.asarray(vocab_params, float)[on]
    if len(on) < MIN_FRONTIER:
        return (f"{len(on)} run(s) on the frontier of minimum loss over FLOPs; its power laws "
                f"need at least {MIN_FRONTIER} (a sweep of budgets)")
    for name, values in (("non-vocabulary parameters", nonembed), ("vocabulary parameters", vocab)):
        if len(np.unique(values)) < 2:
            return f"the frontier's {len(on)} runs share one value of {name}"
    log_c = np.log(flops[on])
    gamma1, k1 = np.polyfit(log_c, np.log(nonembed), 1)
    gamma2, k2 = np.polyfit(log_c, np.log(vocab), 1)
    if not gamma1 > 0:
        return (f"the frontier's non-vocabulary parameters do not grow with compute "
                f"(exponent {gamma1:.3g})")
    return IsoFlops(float(k1), float(gamma1), float(k2), float(gamma2), len(on),
                    (float(flops[on].min()), float(flops[on].max())))


# -- approach 2: derivative ------------------------------------------------------------------

def derivative_vocab(params_nonembed, width, f: TokensPerChar, low: float = 2.0) -> np.ndarray:
    """The V of ∂C/∂V = 0 at fixed N_nv and H (the module docstring): the root of
    d·f(V) + (N_nv + V·d)·f'(V) in [low, V_cap], or V_cap when the bracket is still negative
    there (N_nv so large that the vocabulary saturates). Elementwise over broadcast inputs."""
    nonembed, width = np.broadcast_arrays(np.asarray(params_nonembed, float),
                                          np.asarray(width, float))
    out = np.empty(nonembed.shape)
    for index in np.ndindex(nonembed.shape):
        n, d = float(nonembed[index]), float(width[index])

        def bracket(v):
            return float(d * f(v) + (n + v * d) * f.slope(v))

        top = f.cap * (1 - 1e-12)
        out[index] = top if bracket(top) <= 0 else \
            low if bracket(low) >= 0 else brentq(bracket, low, top, xtol=1e-9, rtol=1e-13)
    return out


def huber_slope(x, y, delta: float = HUBER_DELTA) -> float:
    """γ minimising Σ Huber_δ(γ·x − y): a line through the origin (approach 2's exponent)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    scale = float(np.max(np.abs(y / np.where(x == 0, np.inf, x))) + 1.0)
    result = minimize_scalar(lambda g: float(np.sum(huber(g * x - y, delta))),
                             bounds=(-scale, scale), method="bounded",
                             options={"xatol": 1e-12})
    return float(result.x)


def derivative_exponent(params_nonembed, widths, f: TokensPerChar) -> float:
    """γ of N_v ∝ N_nv^γ from the derivative's solutions at the given sizes (each with its
    width), fitted as the paper does: Huber δ = 1e-3 on log ratios to the first (smallest)."""
    nonembed = np.asarray(params_nonembed, float)
    vocab_params = derivative_vocab(nonembed, widths, f) * np.asarray(widths, float)
    return huber_slope(np.log(nonembed[1:] / nonembed[0]),
                       np.log(vocab_params[1:] / vocab_params[0]))


@dataclass(frozen=True)
class Derivative:
    """Approach 2: N_v = N_v0·(N_nv / N_nv0)^γ, anchored at the vocabulary measured best for the
    smallest model (N_nv0, width d0, vocabulary V0, at budget `anchor_flops`)."""

    gamma: float
    params_nonembed: float
    width: float
    vocab_size: float
    anchor_flops: float | None = None
    anchor_budget: str = ""

    @property
    def anchor_vocab_params(self) -> float:
        return self.vocab_size * self.width

    def vocab_params(self, params_nonembed) -> np.ndarray:
        return self.anchor_vocab_params * (np.asarray(params_nonembed, float)
                                           / self.params_nonembed) ** self.gamma

    def to_dict(self) -> dict:
        return {"gamma": self.gamma, "params_nonembed": self.params_nonembed, "width": self.width,
                "vocab_size": self.vocab_size, "anchor_flops": self.anchor_flops,
                "anchor_budget": self.anchor_budget}


def isoflop_anchor(vocab_sizes, flops, loss, budget: float | None = None):
    """(V, C, how) of the smallest model's best vocabulary: each vocabulary's loss interpolated
    linearly in log C to one budget C that every vocabulary's runs span (the spanned budget
    nearest `budget`, the model's compute-optimal one, when given; else the largest spanned),
    the vocabulary of least loss, refined by a parabola in ln V through it and its neighbours;
    or the reason there is none."""
    vocab_sizes = np.asarray(vocab_sizes, float)
    flops, loss = np.asarray(flops, float), np.asarray(loss, float)
    sizes = np.unique(vocab_sizes)
    if len(sizes) < 3:
        return (f"the smallest model was trained with {len(sizes)} vocabulary size(s); its best "
                "vocabulary needs at least 3")
    lowest = max(flops[vocab_sizes == v].min() for v in sizes)
    highest = min(flops[vocab_sizes == v].max() for v in sizes)
    if highest < lowest * (1 - 1e-9):
        return ("the smallest model's vocabularies share no FLOPs budget (train each at two "
                "budgets or more, or at one common budget)")
    if budget is not None and lowest * (1 - 1e-9) <= budget <= highest * (1 + 1e-9):
        chosen, how = float(budget), "approach 1's compute-optimal budget"
    elif budget is not None:
        chosen = float(min(max(budget, lowest), highest))
        how = (f"the budget all its vocabularies reached nearest approach 1's compute-optimal "
               f"{budget:.3g}")
    else:
        chosen, how = float(highest), "the largest budget all its vocabularies reached"
    values = []
    for v in sizes:
        rows = vocab_sizes == v
        order = np.argsort(flops[rows])
        values.append(float(np.interp(np.log(chosen), np.log(flops[rows][order]),
                                      loss[rows][order])))
    values = np.array(values)
    best = int(np.argmin(values))
    vocab = float(sizes[best])
    if 0 < best < len(sizes) - 1:
        x = np.log(sizes[best - 1:best + 2])
        curve = np.polyfit(x, values[best - 1:best + 2], 2)
        if curve[0] > 0:
            vertex = -curve[1] / (2 * curve[0])
            vocab = float(np.exp(np.clip(vertex, x[0], x[2])))
    return vocab, chosen, how


# -- approach 3: parametric ------------------------------------------------------------------

def _columns(values: dict, names) -> list[np.ndarray]:
    """Parameters (S,) or scalars as (S, 1) columns."""
    return [np.asarray(values[name], float).reshape(-1, 1) for name in names]


def parametric_vocab_params(params: dict, params_nonembed, flops) -> np.ndarray:
    """N_v of ∂L_u/∂V = 0 at fixed N_nv and C (the module docstring), for the law's parameters
    `params` ({"A2", "alpha2", "B", "beta"}: scalars, or (S,) for S parameter sets): (S, n)."""
    a2, alpha2, b, beta = _columns(params, ("A2", "alpha2", "B", "beta"))
    nonembed = np.atleast_1d(np.asarray(params_nonembed, float))[None, :]
    flops = np.atleast_1d(np.asarray(flops, float))[None, :]
    shape = np.broadcast_shapes(a2.shape, nonembed.shape, flops.shape)

    def excess(log_x):      # log of the left side over the right: falls as N_v grows
        x = np.exp(log_x)
        tokens = flops / (6.0 * (nonembed + x))
        with np.errstate(all="ignore"):
            return (np.log(alpha2 * a2) - alpha2 * log_x + np.log(nonembed + x) - log_x
                    - np.log(beta * b) + beta * np.log(tokens))

    low = np.full(shape, math.log(1e-6))
    high = np.full(shape, math.log(1e20))
    for _ in range(BISECTIONS):
        middle = 0.5 * (low + high)
        above = excess(middle) > 0
        low = np.where(above, middle, low)
        high = np.where(above, high, middle)
    root = np.exp(0.5 * (low + high))
    # a parameter set without a root in the bracket (a term switched off) has no optimum
    bad = ~(np.isfinite(root) & (excess(np.log(root * 0.5)) > 0) & (excess(np.log(root * 2)) < 0))
    return np.where(bad, np.nan, root)


def parametric_budget(params: dict, params_nonembed) -> dict[str, np.ndarray]:
    """The law's own compute-optimal point for N_nv (both derivatives zero at one budget):
    {"vocab_params", "tokens", "flops"}, each (S, n); `params` holds A1, alpha1, A2, alpha2, B,
    beta (scalars or (S,))."""
    a1, alpha1, a2, alpha2, b, beta = _columns(
        params, ("A1", "alpha1", "A2", "alpha2", "B", "beta"))
    n = np.atleast_1d(np.asarray(params_nonembed, float))[None, :]
    with np.errstate(all="ignore"):
        vocab = (alpha2 * a2 / (alpha1 * a1) * n ** (alpha1 + 1)) ** (1.0 / (alpha2 + 1))
        tokens = (beta * b * n / (alpha1 * a1 * n ** -alpha1 * (n + vocab))) ** (1.0 / beta)
    return {"vocab_params": vocab, "tokens": tokens, "flops": 6.0 * (n + vocab) * tokens}


def from_paper_units(params: dict) -> dict:
    """The paper's fitted constants (N in millions, V·d in millions, D in billions) in plain
    counts: A1·1e6^α1, A2·1e6^α2, B·1e9^β (E and the exponents unchanged)."""
    out = dict(params)
    out["A1"] = params["A1"] * 1e6 ** params["alpha1"]
    out["A2"] = params["A2"] * 1e6 ** params["alpha2"]
    out["B"] = params["B"] * 1e9 ** params["beta"]
    return out
