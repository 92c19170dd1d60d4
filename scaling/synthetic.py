"""Synthetic ladders with known parameters: for tests, backtests and trying the toolkit.

    runs = chinchilla_ladder(E=1.8, A=400, B=2000, alpha=0.34, beta=0.37,
                             params=[1e7, 3e7, 1e8, 3e8, 1e9], tokens_per_param=[5, 10, 20, 40],
                             noise=0.005, seed=0)

Each (params, tokens) pair is one run whose final loss is the law's value times exp(ε),
ε ~ Normal(0, noise): multiplicative noise, matching the log-space objective.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


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
