"""Data-constrained: Chinchilla's law with effective data and parameters, for repeated data.

    L(N, D, U) = E + A / N′^α + B / D′^β

    U_D = min(U, D),   R_D = D / U_D − 1,   D′ = U_D + U_D·R_D*·(1 − e^(−R_D / R_D*))
    U_N = min(N_opt(U_D), N),   R_N = N / U_N − 1,   N′ = U_N + U_N·R_N*·(1 − e^(−R_N / R_N*))

fitted in log space as  log L̂ = LSE(a − α·log N′, b − β·log D′, e),  A = e^a, B = e^b, E = e^e,
by the engine's Huber objective (δ = 1e-3) from many starts: the exponents (and R_D*, R_N* when
fitted) walked on a grid, A, B, E solved in closed form (variable projection: given N′ and D′,
L is linear in A, B, E), then L-BFGS-B.

Symbols: N parameters (`params`), D training tokens (`tokens`), U the distinct tokens the run
could see (`unique_tokens`, the paper's U_D; a row with U > D saw less than one epoch, and the
law reads U_D = min(U, D), so R_D = 0 there), `epochs` = D / U (derived when absent), L final
loss (`loss`, nats/token). R_D is the number of repetitions (epochs − 1) and D′ the effective
data: repeated tokens are worth less and less, a token seen after R_D repetitions worth
e^(−R_D/R_D*) of a unique one (dD′/dD = e^(−R_D/R_D*)), so R_D* is the e-folding count of
repeated data's value (its "half-life", as summaries of the paper call it): at R_D = R_D*, a
further epoch is worth 1/e of a unique one; at R_D = R_D*·ln 2 ≈ 10.7, half. However many
epochs, D′ < (1 + R_D*)·U_D.
U_N is the model size that U_D unique tokens justify: the compute-optimal size whose optimal data
is U_D, N_opt(U_D) = G^(1+β/α)·U_D^(β/α) with G = (αA / (βB))^(1/(α+β)) (Chinchilla's
allocation of this law's own A, B, α, β; `--set un_ratio=law`, the default, as the authors' code
computes it), or a fixed ratio `--set un_ratio=0.051`, U_N = 0.051·U_D (the paper's fit, where
α = β makes N_opt(U_D) = (A/B)^(1/α)·U_D = 0.05098·U_D). Parameters beyond U_N, R_N = N/U_N − 1,
are excess parameters, worth less and less with the same form and their own R_N*.

It reduces to Chinchilla, L = E + A/N^α + B/D^β, exactly where R_D = 0 and R_N = 0: runs of at
most one epoch (D ≤ U) whose model is no larger than U_N (N ≤ N_opt(min(U, D)): with the
default rule, no larger than the compute-optimal model for its tokens, so every compute-optimal
allocation of unique data). A one-epoch run of a larger model (N > N_opt(D), over-parameterised
for its data) still has its excess parameters discounted, N′ < N, and loses more than Chinchilla
says (tests/test_data_constrained.py checks both).

Settings: `rd_star`, `rn_star`: a number (fixed; default the paper's 15.387756 and 5.309743) or
`fit` (a fit-space parameter log R*; R_D* is only identified by runs repeated well beyond ~4
epochs, where the decay shows; R_N* by runs with N well above U_N); `un_ratio`: `law` or a
number, as above. Advice: `data_limited(flops, unique_tokens)` (`scaling predict FIT --flops C
--unique-tokens U`): the compute-optimal allocation without a data limit, the loss it gets when
its D exceeds U and repeats, and the best (N, D = C/(6N)) under the limit, worked out from this
law's `best_params` and `losses` by `scaling.analysis.data_limit`, which also renders it.

Paper: Muennighoff, Rush, Barak, Le Scao, Piktus, Tazi, Pyysalo, Wolf, Raffel 2023, "Scaling
Data-Constrained Language Models" (arXiv:2305.16264; NeurIPS 2023): the data-constrained
scaling law (its section 3) and its fit on C4, rounded A = 521, B = 1488, E = 1.87,
α = β = 0.353, R_D* ≈ 15.4, R_N* ≈ 5.3. What this file uses was checked against the authors'
repository huggingface/datablations, README section "Parametric Fit" (read for the facts; no
code copied): the law's formula, the unrounded constants (a, b, e, α, β, R_D*, R_N* =
6.255414, 7.3049974, 0.6254804, 0.3526596, 0.3526596, 15.387756, 5.309743, with A = e^a,
B = e^b, E = e^e, which round to the paper's), the U_N rule (U_N = min(N, D_to_N(U)), D_to_N
the Chinchilla allocation above), R_D = max(D/U − 1, 0), R_N = max(N/U_N − 1, 0), the Figure 1
(right) losses and the optimal-allocation example; the paper's own text was not in the stored
corpus, so section and equation numbers are not re-checked. The abstract (checked): "training
with up to 4 epochs of repeated data yields negligible changes to loss compared to having
unique data. However, with more repetition, the value of adding compute eventually decays to
zero."
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from scaling.analysis import data_limit
from scaling.engine.warning_records import make_warning
from scaling.errors import ScalingError
from scaling.engine.fitting import Parameter
from scaling.laws.base import BASE_SETTINGS, Law, Setting, log_coefficients
from scaling.laws.registry import register

# The paper's fit (huggingface/datablations README, "Parametric Fit"): fit-space a, b, e.
PAPER = {"a": 6.255414, "b": 7.3049974, "e": 0.6254804, "alpha": 0.3526596,
         "beta": 0.3526596, "rd_star": 15.387756, "rn_star": 5.309743}
PAPER_UN_RATIO = 0.051          # the paper's U_N = min(0.051·U_D, N) (text, rounded)
EXPONENT_GRID = tuple(np.round(np.arange(0.05, 1.5001, 0.05), 2))
STAR_GRID = tuple(np.log([1.0, 4.0, 15.0, 60.0]))
STAR_BOUNDS = (math.log(0.01), math.log(1e4))
SEARCH_POINTS = 321             # the 1-D search over log N: a grid of step 0.05 …
SEARCH_SPAN = 8.0               # … ±8 in ln N around Chinchilla's optimum, then golden section
GOLDEN_STEPS = 40


def _number_or(word):
    def check(value):
        if value == word:
            return None
        try:
            number = float(value)
        except ValueError:
            return f"must be a positive number or {word}"
        return None if number > 0 and math.isfinite(number) else \
            f"must be a positive number or {word}"
    return check


def _effective(unique, repeats, star):
    """U + U·R*·(1 − e^(−R/R*)) and d log(it) / d log R*, elementwise (R ≥ 0)."""
    s = repeats / star
    decayed = -np.expm1(-s)                              # 1 − e^(−s), exact for small s
    value = unique * (1.0 + star * decayed)
    d_log_star = unique * star * (decayed - s * np.exp(-s)) / value
    return value, d_log_star


@register
class DataConstrained(Law):
    name = "data-constrained"
    title = "Data-constrained L(N, D, U) (Muennighoff et al. 2023, repeated data)"
    inputs = ("params", "tokens", "unique_tokens")
    power_inputs = ("params", "tokens")
    extra_columns = ()
    positive_columns = ("unique_tokens", "epochs")
    # reach: N and D, the unique tokens U and the epochs the law reads, D / min(U, D) (`scale_values`)
    scale_columns = ("params", "tokens", "unique_tokens", "epochs")
    floor_parameter = "E"
    settings_spec = (
        *BASE_SETTINGS,
        Setting("rd_star", str(PAPER["rd_star"]), "R_D*, the decay of repeated data's value "
                "in repetitions: a number (fixed; default the paper's) or fit (needs runs "
                "repeated well beyond 4 epochs)", str, _number_or("fit")),
        Setting("rn_star", str(PAPER["rn_star"]), "R_N*, the decay of excess parameters' value: "
                "a number (fixed; default the paper's) or fit", str, _number_or("fit")),
        Setting("un_ratio", "law", "U_N, the parameters U_D unique tokens justify: law (the "
                "compute-optimal N for D = U_D by this law's own A, B, alpha, beta, as the "
                "authors' code) or a number r (U_N = r U_D; the paper's fit: 0.051)", str,
                _number_or("law")),
    )
    allocates_compute = True
    compute_formula = "C = 6 N D"
    allocation_labels = {"params": "params N", "tokens": "tokens D",
                         "unique_tokens": "unique U (= D)", "tokens_per_param": "tokens/param"}
    linear_parameters = ("a", "b", "e")
    advises_data_limit = True

    # -- what the settings change --------------------------------------------------------------
    @property
    def fits_rd(self) -> bool:
        return self.rd_star == "fit"

    @property
    def fits_rn(self) -> bool:
        return self.rn_star == "fit"

    @property
    def ratio(self) -> float | None:
        """The fixed U_N / U_D ratio, or None for the law's own N_opt(U_D)."""
        return None if self.un_ratio == "law" else float(self.un_ratio)

    @property
    def equation(self):
        return ("L = E + A/N'^alpha + B/D'^beta, D' = U_D + U_D R_D* (1 - exp(-R_D/R_D*)), "
                "N' likewise with U_N, R_N*")

    @property
    def parameters(self):
        logs = (0.0, 5.0, 10.0, 15.0, 20.0, 25.0)
        out = [Parameter("a", -20.0, 100.0, logs), Parameter("b", -20.0, 100.0, logs),
               Parameter("e", -20.0, 5.0, (-1.0, -0.5, 0.0, 0.5, 1.0)),
               Parameter("alpha", 1e-3, 5.0, EXPONENT_GRID),
               Parameter("beta", 1e-3, 5.0, EXPONENT_GRID)]
        if self.fits_rd:
            out.append(Parameter("lrd", *STAR_BOUNDS, STAR_GRID))
        if self.fits_rn:
            out.append(Parameter("lrn", *STAR_BOUNDS, STAR_GRID))
        return tuple(out)

    @property
    def reported_names(self):
        return ("E", "A", "B", "alpha", "beta", *(("rd_star",) if self.fits_rd else ()),
                *(("rn_star",) if self.fits_rn else ()))

    @property
    def reported_expressions(self):
        out = {"E": "exp(e)", "A": "exp(a)", "B": "exp(b)"}
        if self.fits_rd:
            out["rd_star"] = "exp(lrd)"
        if self.fits_rn:
            out["rn_star"] = "exp(lrn)"
        return out

    def extra_starts(self):
        """The paper's fit, so its optimum is always among the starts polished."""
        start = [PAPER["a"], PAPER["b"], PAPER["e"], PAPER["alpha"], PAPER["beta"]]
        if self.fits_rd:
            start.append(math.log(PAPER["rd_star"]))
        if self.fits_rn:
            start.append(math.log(PAPER["rn_star"]))
        return np.array([start])

    # -- data ----------------------------------------------------------------------------------
    def derive(self, table: pd.DataFrame, lr_histories=None) -> pd.DataFrame:
        """`epochs` = tokens / unique_tokens where the table has none; one it has must agree."""
        table = table.copy()
        epochs = table["tokens"] / table["unique_tokens"]
        if "epochs" in table.columns:
            given = pd.to_numeric(table["epochs"], errors="coerce")
            bad = table.index[~(np.abs(given - epochs) <= 1e-6 * epochs)]
            if len(bad):
                source = table.attrs.get("source", "run table")
                row = bad[0]
                raise ScalingError(f"{source}: column 'epochs', row {row}: {given.at[row]:g} is "
                                   f"not tokens / unique_tokens = {epochs.at[row]:g}")
        table["epochs"] = epochs
        return table

    def scale_values(self, values):
        """The scales of points, with `epochs` as the law reads it, D / min(U, D) (at least 1:
        a run of U > D unique tokens sees each once), from their tokens and unique tokens."""
        out = super().scale_values(values)
        tokens, unique = values.get("tokens"), values.get("unique_tokens")
        if tokens is not None and unique is not None:
            tokens, unique = np.broadcast_arrays(np.atleast_1d(np.asarray(tokens, float)),
                                                 np.atleast_1d(np.asarray(unique, float)))
            with np.errstate(divide="ignore", invalid="ignore"):
                out["epochs"] = tokens / np.minimum(unique, tokens)
        elif "epochs" in out:
            out["epochs"] = np.maximum(out["epochs"], 1.0)
        return out

    # -- the law -------------------------------------------------------------------------------
    def _stars(self, theta):
        """R_D*, R_N* (S, 1) each: fixed settings or exp of their fit-space columns."""
        column = 5
        if self.fits_rd:
            rd = np.exp(theta[:, column:column + 1])
            column += 1
        else:
            rd = np.full((len(theta), 1), float(self.rd_star))
        rn = np.exp(theta[:, column:column + 1]) if self.fits_rn else \
            np.full((len(theta), 1), float(self.rn_star))
        return rd, rn

    def _log_base_params(self, theta, log_unique):
        """log U_N before the min with N: log of N_opt(U_D) or of the ratio times U_D, (S, n)."""
        if self.ratio is not None:
            return np.broadcast_to(math.log(self.ratio) + log_unique, (len(theta),
                                                                      log_unique.shape[-1]))
        a, b, alpha, beta = (theta[:, k:k + 1] for k in (0, 1, 3, 4))
        with np.errstate(all="ignore"):
            return (a - b + np.log(alpha / beta) + beta * log_unique) / alpha

    def _effective_inputs(self, theta, inputs):
        """N′, D′ (S, n), and what the gradient needs of them."""
        params = np.asarray(inputs["params"], float)[None, :]
        tokens = np.asarray(inputs["tokens"], float)[None, :]
        unique = np.minimum(np.asarray(inputs["unique_tokens"], float)[None, :], tokens)
        rd, rn = self._stars(theta)
        data, d_data = _effective(unique, np.maximum(tokens / unique - 1.0, 0.0), rd)
        log_base = self._log_base_params(theta, np.log(unique))
        binds = log_base < np.log(params)                   # U_N < N: excess parameters
        base = np.where(binds, np.exp(np.minimum(log_base, np.log(params))), params)
        repeats = np.maximum(params / base - 1.0, 0.0)
        model, d_model = _effective(base, repeats, rn)
        # d log N′ / d log U_N where U_N = N_opt(U_D) binds (0 where U_N = N)
        s = repeats / rn
        d_base = np.where(binds, base * (1.0 + rn * -np.expm1(-s) - np.exp(-s) * params / base)
                          / model, 0.0)
        return {"model": model, "data": data, "d_model_rn": d_model, "d_data_rd": d_data,
                "d_model_base": d_base, "log_unique": np.log(unique), "binds": binds}

    def _terms(self, theta, effective):
        n_term = theta[:, 0:1] - theta[:, 3:4] * np.log(effective["model"])
        d_term = theta[:, 1:2] - theta[:, 4:5] * np.log(effective["data"])
        e_term = np.broadcast_to(theta[:, 2:3], n_term.shape)
        top = np.maximum(np.maximum(n_term, d_term), e_term)
        shares = [np.exp(term - top) for term in (n_term, d_term, e_term)]
        total = shares[0] + shares[1] + shares[2]
        return top + np.log(total), [share / total for share in shares]

    def predict_theta(self, theta, inputs):
        theta = np.atleast_2d(theta)
        return self._terms(theta, self._effective_inputs(theta, inputs))[0]

    def predict_theta_grad(self, theta, inputs):
        theta = np.atleast_2d(theta)
        effective = self._effective_inputs(theta, inputs)
        value, (n_share, d_share, e_share) = self._terms(theta, effective)
        alpha, beta = theta[:, 3:4], theta[:, 4:5]
        log_model, log_data = np.log(effective["model"]), np.log(effective["data"])
        columns = [n_share, d_share, e_share, -n_share * log_model, -d_share * log_data]
        if self.ratio is None:                # U_N = N_opt(U_D) moves with a, b, alpha, beta
            chain = -n_share * alpha * effective["d_model_base"]     # d value / d log U_N
            log_base = self._log_base_params(theta, effective["log_unique"])
            columns[0] = columns[0] + chain / alpha
            columns[1] = columns[1] - chain / alpha
            columns[3] = columns[3] + chain * (1.0 / alpha - log_base) / alpha
            columns[4] = columns[4] + chain * (effective["log_unique"] - 1.0 / beta) / alpha
        if self.fits_rd:
            columns.append(-d_share * beta * effective["d_data_rd"])
        if self.fits_rn:
            columns.append(-n_share * alpha * effective["d_model_rn"])
        return value, np.stack(np.broadcast_arrays(*columns), axis=-1)

    # variable projection: with the exponents and R* fixed, L = A·N′^-α + B·D′^-β + E is linear
    # in (A, B, E). With un_ratio=law, U_N reads A/B too: the projected starts then use the
    # candidate's a, b as they stand (a rough U_N), and the polish is exact.
    def linear_basis(self, theta, inputs):
        theta = np.atleast_2d(theta)
        effective = self._effective_inputs(theta, inputs)
        n_term = np.exp(-theta[:, 3:4] * np.log(effective["model"]))
        d_term = np.exp(-theta[:, 4:5] * np.log(effective["data"]))
        return np.stack([n_term, d_term, np.ones_like(n_term)], axis=-1)

    def with_coefficients(self, theta, coefficients):
        return log_coefficients(theta, coefficients, (0, 1, 2))

    def reported(self, theta):
        theta = np.atleast_2d(theta)
        out = {"E": np.exp(theta[:, 2]), "A": np.exp(theta[:, 0]), "B": np.exp(theta[:, 1]),
               "alpha": theta[:, 3], "beta": theta[:, 4]}
        rd, rn = self._stars(theta)
        if self.fits_rd:
            out["rd_star"] = rd[:, 0]
        if self.fits_rn:
            out["rn_star"] = rn[:, 0]
        return out

    # -- what the fitted rows say of R_D*, R_N* -------------------------------------------------
    def fit_extras(self, points: pd.DataFrame) -> dict:
        """The most epochs of the fitted rows, for the warning on a fitted R_D*."""
        epochs = pd.to_numeric(points["epochs"], errors="coerce").to_numpy(float)
        return {"max_epochs": float(np.nanmax(epochs)) if len(epochs) else 1.0}

    def load_extras(self, block) -> dict:
        if not block:
            return {}
        value = block.get("max_epochs") if isinstance(block, dict) else None
        if (not isinstance(value, (int, float)) or isinstance(value, bool)
                or not math.isfinite(value) or value <= 0):
            raise ScalingError(f"extras.max_epochs: expected a finite number > 0, got "
                               f"{value!r:.40}")
        return {"max_epochs": float(value)}

    def notes(self, fit) -> list[str]:
        """What the fit held fixed, and how far its runs repeated their data."""
        fixed = [f"{name} = {float(value):.6g}" for name, value in
                 (("R_D*", self.rd_star), ("R_N*", self.rn_star)) if value != "fit"]
        rule = ("U_N = N_opt(U_D) by this law's own A, B, alpha, beta" if self.ratio is None
                else f"U_N = {self.ratio:g} U_D")
        most = (fit.extras_ or {}).get("max_epochs")
        lines = [f"{', '.join(fixed)} held fixed (--set rd_star=fit / rn_star=fit fits them); "
                 f"{rule}" if fixed else rule]
        if most is not None:
            lines.append(f"the fitted runs repeat their data up to {most:.3g} epochs")
        return lines

    def law_warnings(self, fit) -> list[dict]:
        most = (fit.extras_ or {}).get("max_epochs")
        if self.fits_rd and most is not None and most < 4.0:
            return [make_warning(
                "repeats-unidentified",
                f"R_D* is fitted, but no fitted run repeats its data more than {most:.3g} epochs: "
                "below about 4 epochs repeated data is worth nearly as much as unique data "
                "whatever R_D* is, so the fit cannot pin it (keep the paper's value: leave out "
                "--set rd_star=fit)")]
        return []

    # -- a 1-D search over N at fixed compute -----------------------------------------------
    def _constants(self, theta):
        theta = np.atleast_2d(theta)
        values = self.reported(theta)
        return {k: values[k][:, None, None] for k in ("E", "A", "B", "alpha", "beta")}

    def losses(self, theta, params, tokens, unique):
        """L for each fit-space vector (S, P) at params, tokens, unique (S, n, K) or broadcast;
        unique = inf: no data limit."""
        theta = np.atleast_2d(theta)
        c = self._constants(theta)
        rd, rn = (x[:, :, None] for x in self._stars(theta))
        u_d = np.minimum(unique, tokens)
        data, _ = _effective(u_d, np.maximum(tokens / u_d - 1.0, 0.0), rd)
        if self.ratio is None:
            a, b = np.log(c["A"]), np.log(c["B"])
            with np.errstate(all="ignore"):
                log_base = (a - b + np.log(c["alpha"] / c["beta"]) + c["beta"] * np.log(u_d)) \
                    / c["alpha"]
        else:
            log_base = math.log(self.ratio) + np.log(u_d)
        base = np.minimum(np.exp(np.minimum(log_base, 700.0)), params)
        model, _ = _effective(base, np.maximum(params / base - 1.0, 0.0), rn)
        return c["E"] + c["A"] / model ** c["alpha"] + c["B"] / data ** c["beta"]

    def best_params(self, theta, flops, unique=None):
        """The N that minimises L(N, C/(6N), U) for each vector theta (S, P) and budget C (n,),
        with U unique tokens (n,) (None: no data limit): (S, n). A grid of SEARCH_POINTS over
        ±SEARCH_SPAN in ln N around Chinchilla's closed-form optimum, then golden section on
        the best cell's neighbours."""
        theta = np.atleast_2d(theta)
        flops = np.atleast_1d(np.asarray(flops, float))
        unique = np.full_like(flops, np.inf) if unique is None else \
            np.broadcast_to(np.asarray(unique, float), flops.shape)
        c = self._constants(theta)
        A, B, alpha, beta = (c[k][:, :, 0] for k in ("A", "B", "alpha", "beta"))
        with np.errstate(all="ignore"):
            G = (alpha * A / (beta * B)) ** (1.0 / (alpha + beta))
            centre = np.log(G) + beta / (alpha + beta) * np.log(flops[None, :] / 6.0)
        centre = np.where(np.isfinite(centre), centre, np.log(np.sqrt(flops / 6.0))[None, :])
        budget, limit = flops[None, :, None], unique[None, :, None]

        def loss_at(log_params):
            params = np.exp(log_params)
            return self.losses(theta, params, budget / (6.0 * params), limit)

        offsets = np.linspace(-SEARCH_SPAN, SEARCH_SPAN, SEARCH_POINTS)
        grid = centre[:, :, None] + offsets[None, None, :]
        with np.errstate(all="ignore"):
            values = loss_at(grid)
        values = np.where(np.isfinite(values), values, np.inf)
        best = np.argmin(values, axis=-1)
        step = offsets[1] - offsets[0]
        low = np.take_along_axis(grid, best[..., None], -1)[..., 0] - step
        high = low + 2 * step
        ratio = (math.sqrt(5.0) - 1.0) / 2.0
        with np.errstate(all="ignore"):
            for _ in range(GOLDEN_STEPS):
                left, right = high - ratio * (high - low), low + ratio * (high - low)
                lower = loss_at(left[..., None])[..., 0] <= loss_at(right[..., None])[..., 0]
                high = np.where(lower, right, high)
                low = np.where(lower, low, left)
        return np.exp((low + high) / 2.0)

    # -- compute-optimal allocation (no data limit) ---------------------------------------------
    def compute_optimal_theta(self, theta, flops):
        """The compute-optimal allocation at each budget `flops` (C = 6ND) with unique data
        (U = D: one epoch). With un_ratio=law this is Chinchilla's closed form for this law's
        A, B, E, α, β (N ≤ N_opt(D) there, so R_N = 0); with a fixed ratio, the 1-D search's
        optimum."""
        theta = np.atleast_2d(theta)
        flops = np.atleast_1d(np.asarray(flops, float))
        params = self.best_params(theta, flops)
        tokens = flops[None, :] / (6.0 * params)
        loss = self.losses(theta, params[..., None], tokens[..., None], np.inf)[..., 0]
        return {"params": params, "tokens": tokens, "unique_tokens": tokens,
                "tokens_per_param": tokens / params, self.target: loss}

    def training_compute(self, params, tokens, **_):
        """C = 6·N·D (Kaplan et al. 2020, section 2.1), repeated tokens counted each time."""
        return 6.0 * np.asarray(params, float) * np.asarray(tokens, float)

    # -- advice under a data limit (`scaling.analysis.data_limit`) -------------------------------
    def data_limited(self, fit, flops, unique_tokens, kind: str | None = None,
                     level: float | None = None) -> dict:
        """Advice for budgets C (`flops`, C = 6ND) and a supply of U unique tokens each: the
        allocation without the limit, its loss when it repeats U, and the best N under the
        limit, with intervals of `kind` (`scaling.analysis.data_limit.data_limited`)."""
        return data_limit.data_limited(self, fit, flops, unique_tokens, kind, level)
