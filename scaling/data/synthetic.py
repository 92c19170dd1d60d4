"""Synthetic ladders with known parameters: for tests, backtests and trying the toolkit.

    runs = chinchilla_ladder(E=1.8, A=400, B=2000, alpha=0.34, beta=0.37,
                             params=[1e7, 3e7, 1e8, 3e8, 1e9], tokens_per_param=[5, 10, 20, 40],
                             noise=0.005, seed=0)
    curves = multipower_curves({"L0": 3.04, "A": 0.525, "alpha": 0.508, "B": 363.8, "C": 2.066,
                                "beta": 0.583, "gamma": 0.641},
                               {"cosine": ("cosine:peak=3e-4,warmup=2160,steps=24000,"
                                           "final=3e-5", 100)}, noise=0.002)

Each (params, tokens) pair is one run whose final loss is the law's value times exp(ε),
ε ~ Normal(0, noise): multiplicative noise, matching the log-space objective. Curves follow the
multi-power law at a row every so many steps, with the same noise.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from scaling.analysis.optimal_vocab import PAPER_F
from scaling.data.schedules import parse
from scaling.engine.fit import Fit
from scaling.laws import get_law


def chinchilla_ladder(*, E, A, B, alpha, beta, params, tokens_per_param, noise=0.005,
                      seed=0) -> pd.DataFrame:
    """A run table with one run per (params, tokens_per_param) pair."""
    rng = np.random.default_rng(seed)
    grid = [(n, n * r) for n in params for r in tokens_per_param]
    size = np.array([n for n, _ in grid], float)
    tokens = np.array([d for _, d in grid], float)
    loss = (E + A / size ** alpha + B / tokens ** beta) * np.exp(noise * rng.standard_normal(len(grid)))
    frame = pd.DataFrame({"run": [f"N{n:.3g}-D{d:.3g}" for n, d in grid], "params": size,
                          "tokens": tokens, "flops": 6 * size * tokens, "loss": loss})
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="row")
    frame.attrs["source"] = "synthetic ladder"
    return frame


def chinchilla_curves(*, E, A, B, alpha, beta, params, tokens, noise=0.0,
                      seed=0) -> pd.DataFrame:
    """Training curves of a Chinchilla law: one run per size in `params`, a row at each token
    count in `tokens` (the same checkpoints for every size), loss = E + A/N^α + B/D^β times
    exp(ε) as above (noiseless by default). Approach 1's envelope reads them; its true exponent
    is a = β/(α+β). Rows carry run, params, tokens, flops = 6·N·D and loss."""
    rng = np.random.default_rng(seed)
    grid = [(n, d) for n in params for d in tokens]
    size = np.array([n for n, _ in grid], float)
    count = np.array([d for _, d in grid], float)
    loss = (E + A / size ** alpha + B / count ** beta) \
        * np.exp(noise * rng.standard_normal(len(grid)))
    frame = pd.DataFrame({"run": [f"N{n:.3g}" for n, _ in grid], "params": size,
                          "tokens": count, "flops": 6 * size * count, "loss": loss})
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="row")
    frame.attrs["source"] = "synthetic curves"
    return frame


def data_constrained_ladder(*, E, A, B, alpha, beta, params, unique_per_param, epochs,
                            rd_star=15.387756, rn_star=5.309743, un_ratio="law", noise=0.005,
                            seed=0) -> pd.DataFrame:
    """A run table with one run per (params, unique tokens = params × unique_per_param, epochs)
    triple, tokens = unique tokens × epochs, whose final loss follows the data-constrained law
    (Muennighoff et al. 2023) with the given constants (times exp(ε), as above)."""
    rng = np.random.default_rng(seed)
    grid = [(n, n * u, e) for n in params for u in unique_per_param for e in epochs]
    size = np.array([g[0] for g in grid], float)
    unique = np.array([g[1] for g in grid], float)
    tokens = unique * np.array([g[2] for g in grid], float)
    law = get_law("data-constrained", rd_star=rd_star, rn_star=rn_star, un_ratio=un_ratio)
    theta = np.array([np.log(A), np.log(B), np.log(E), alpha, beta])
    exact = law.predict_theta(theta[None, :], {"params": size, "tokens": tokens,
                                               "unique_tokens": unique})[0]
    loss = np.exp(exact) * np.exp(noise * rng.standard_normal(len(grid)))
    frame = pd.DataFrame({"run": [f"N{n:.3g}-U{u:.3g}-x{e:g}" for n, u, e in grid],
                          "params": size, "tokens": tokens, "unique_tokens": unique,
                          "loss": loss})
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="row")
    frame.attrs["source"] = "synthetic data-constrained ladder"
    return frame


def multipower_curves(law_params: dict, curves: dict, noise: float = 0.002, seed: int = 0,
                      params: float = 25e6, tokens_per_step: float = 1.0) -> pd.DataFrame:
    """A run table of whole loss curves that follow the multi-power law (Luo et al. 2025) with
    the given parameters (L0, A, alpha, B, C, beta, gamma): `curves` maps each run to
    (schedule string, a row every so many steps); rows carry run, params, tokens, step, loss
    and schedule."""
    law = get_law("multipower")
    truth = Fit.with_parameters(law, [
        np.log(law_params["L0"]), np.log(law_params["A"]), law_params["alpha"],
        np.log(law_params["B"]), np.log(law_params["C"]), law_params["beta"],
        law_params["gamma"]])
    rng = np.random.default_rng(seed)
    frames = []
    for run, (schedule, every) in curves.items():
        steps = np.arange(every, parse(schedule).steps + 1, every)
        frame = pd.DataFrame({"run": run, "params": float(params),
                              "tokens": steps * float(tokens_per_step), "step": steps,
                              "loss": 1.0, "schedule": schedule})
        values = truth.predict_rows(law.prepare(frame))
        frame["loss"] = values * np.exp(noise * rng.standard_normal(len(frame)))
        frames.append(frame)
    frame = pd.concat(frames, ignore_index=True)
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="row")
    frame.attrs["source"] = "synthetic curves"
    return frame


def multipower_backtest_curves(law_params: dict, noise: float = 0.002,
                               seed: int = 0) -> pd.DataFrame:
    """The multi-power memory benchmark's curves: 3 training curves of 24,000 steps (constant,
    cosine, WSD; a row every 100 steps) and 6 held-out curves of 24,000, 48,000 and 72,000 steps
    (cosine and WSD; 240 rows each), peak LR 3e-4 with 2,160 warmup steps, following the law
    with `law_params` times `noise` (relative)."""
    def schedule(kind, steps):
        common = f"peak=3e-4,warmup=2160,steps={steps}"
        return {"constant": f"constant:{common}", "cosine": f"cosine:{common},final=3e-5",
                "wsd": f"wsd:{common},decay_start={int(0.8 * steps)},final=3e-5,decay=linear"}[kind]

    curves = {f"train-{kind}": (schedule(kind, 24000), 100)
              for kind in ("constant", "cosine", "wsd")}
    curves.update({f"test-{kind}-{steps}": (schedule(kind, steps), steps // 240)
                   for kind in ("cosine", "wsd") for steps in (24000, 48000, 72000)})
    return multipower_curves(law_params, curves, noise=noise, seed=seed)


def vocabulary_ladder(*, E, A1, alpha1, A2, alpha2, B, beta=None,
                      params_nonembed=(1e7, 3e7, 1e8, 3e8, 1e9),
                      vocab_sizes=(2048, 8192, 32768, 131072), characters=(1e9, 1e10, 1e11),
                      tokens_per_char=None, noise=0.002, seed=0) -> pd.DataFrame:
    """Unigram-normalised losses (usually negative) of the vocabulary law (Tao et al. 2024),
    L_u = −E + A1/N_nv^α1 + A2/(V·d)^α2 + B/D^β (β = α1 unless given), one run per
    (N_nv, V, H), plus additive Normal(0, noise): the law is fitted in linear space. A run on H
    characters sees D = H·f(V) tokens, f(V) the tokenizer's tokens per character
    (`tokens_per_char`: a function of V; default the paper's, scaling.analysis.optimal_vocab.PAPER_F). Width d is
    256 below 1e8 non-vocabulary parameters, 1024 from there. Rows carry `characters`, `tokens`,
    `tokens_per_char`, `flops` = 6·(N_nv + V·d)·D, and `params` (untied embeddings) and `loss`
    (L_u + 4) for the contract's required columns."""
    f = PAPER_F if tokens_per_char is None else tokens_per_char
    beta = alpha1 if beta is None else beta
    rng = np.random.default_rng(seed)
    rows = []
    for nonembed in params_nonembed:
        width = 256 if nonembed < 1e8 else 1024
        for vocab in vocab_sizes:
            ratio = float(f(vocab))
            for chars in characters:
                tokens = chars * ratio
                value = (-E + A1 / nonembed ** alpha1 + A2 / (vocab * width) ** alpha2
                         + B / tokens ** beta)
                rows.append({"run": f"n{nonembed:g}-v{vocab}-c{chars:g}",
                             "params": nonembed + 2 * vocab * width, "tokens": tokens,
                             "loss": np.nan, "params_nonembed": nonembed, "vocab_size": vocab,
                             "width": width, "characters": chars, "tokens_per_char": ratio,
                             "flops": 6 * (nonembed + vocab * width) * tokens,
                             "loss_unigram": value + noise * rng.standard_normal()})
    frame = pd.DataFrame(rows)
    frame["loss"] = frame["loss_unigram"] + 4.0      # a loss column, as the contract wants
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="row")
    frame.attrs["source"] = "synthetic vocabulary ladder"
    return frame


def task_ladder(*, loss_params: dict, accuracy_params: dict, task: str = "hellaswag",
                params=(1e7, 3e7, 1e8, 3e8, 1e9), tokens_per_param=(5, 10, 20, 40),
                checkpoints=(0.25, 0.5, 0.75, 1.0), loss_noise=0.002, accuracy_noise=0.003,
                form: str = "sigmoid", seed=0) -> pd.DataFrame:
    """Checkpoints of runs for the task laws (Bhagia et al. 2024): task loss `loss:<task>` =
    A/N^α + B/D^β + E (loss_params) times exp(Normal(0, loss_noise)), and accuracy `acc:<task>`
    from the noiseless task loss L, plus Normal(0, accuracy_noise), cut to [0, 1], by `form`:
    "sigmoid" a/(1 + exp(−k·(L − L0))) + b (accuracy_params a, b, k, L0; the paper's form,
    a < 0 < k); "exponential" 1 − (ε − k·exp(−γL)) (eps, k, gamma; Gadre et al.); "single"
    a/(1 + exp(−L)) + b (a, b; the single-step law, L its power-law sum, E of any sign).
    One run per (params, tokens per param), a row at each checkpoint fraction of its tokens."""
    rng = np.random.default_rng(seed)
    p, q = loss_params, accuracy_params
    rows = []
    for size in params:
        for ratio in tokens_per_param:
            for fraction in checkpoints:
                tokens = size * ratio * fraction
                loss = p["E"] + p["A"] / size ** p["alpha"] + p["B"] / tokens ** p["beta"]
                if form == "sigmoid":
                    accuracy = q["a"] / (1 + np.exp(-q["k"] * (loss - q["L0"]))) + q["b"]
                elif form == "exponential":
                    accuracy = 1.0 - q["eps"] + q["k"] * np.exp(-q["gamma"] * loss)
                elif form == "single":
                    accuracy = q["a"] / (1 + np.exp(-loss)) + q["b"]
                else:
                    raise ValueError(f"unknown form {form!r}")
                rows.append({"run": f"N{size:g}-{ratio}tpp", "params": size, "tokens": tokens,
                             "loss": 2.5,
                             f"loss:{task}": loss * np.exp(loss_noise * rng.standard_normal()),
                             f"acc:{task}": float(np.clip(
                                 accuracy + accuracy_noise * rng.standard_normal(), 0.0, 1.0))})
    frame = pd.DataFrame(rows)
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="row")
    frame.attrs["source"] = "synthetic task ladder"
    return frame


def misspecified_ladder(seed: int = 0, *, params=(2e7, 5e7, 1e8, 2e8, 5e8, 1e9, 2e9),
                        tokens_per_param=(5, 10, 20, 40, 80), embedding: float = 5e6,
                        noise: float = 0.004) -> pd.DataFrame:
    """A ladder that Chinchilla's law misdescribes: the loss follows the law in the non-embedding
    parameters, L = E + A/(N − N_emb)^α + B/D^β, while the table's `params` counts the total N,
    embeddings included (the discrepancy behind Kaplan's and Chinchilla's different exponents;
    Pearce & Song 2024, "Reconciling Kaplan and Chinchilla Scaling Laws"). A fit of
    E + A/N^α + B/D^β on the small sizes extrapolates with a bias that grows with size. The true
    E, A, B, α, β are drawn per seed (E in [1.6, 2.0], α and β in [0.28, 0.40]); the noise is
    multiplicative, Normal(0, noise) in log space."""
    rng = np.random.default_rng(10_000 + seed)
    E, alpha, beta = rng.uniform(1.6, 2.0), rng.uniform(0.28, 0.40), rng.uniform(0.28, 0.40)
    A, B = rng.uniform(200, 600), rng.uniform(800, 3000)
    grid = [(n, n * r) for n in params for r in tokens_per_param]
    size = np.array([n for n, _ in grid], float)
    tokens = np.array([d for _, d in grid], float)
    truth = E + A / (size - embedding) ** alpha + B / tokens ** beta
    loss = truth * np.exp(noise * rng.standard_normal(len(grid)))
    frame = pd.DataFrame({"run": [f"N{n:.3g}-D{d:.3g}" for n, d in grid], "params": size,
                          "tokens": tokens, "flops": 6 * size * tokens, "loss": loss,
                          "seed": 0})
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="row")
    frame.attrs["source"] = f"misspecified synthetic ladder (seed {seed})"
    return frame
