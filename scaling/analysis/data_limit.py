"""Compute under a data limit: the data-constrained law's advice for budgets C and a supply of
U unique tokens (`scaling predict FIT --flops C --unique-tokens U`, and the plan's data-limit
section), as numbers, a table and a JSON record.

The law (`scaling/laws/data_constrained.py`) declares the equation, fits it and finds the best
N at fixed compute (`best_params`, a 1-D search, and `losses`); this module asks it, for each
budget, three things: the compute-optimal allocation without the limit (one epoch of unique
data) and its loss, the loss that same allocation gets when it must repeat U unique tokens
(D/U epochs), and the best N, D = C/(6N) under the limit, each with its interval.
"""

from __future__ import annotations

import numpy as np

from scaling.engine import diagnostics
from scaling.errors import ScalingError
from scaling.output.format import json_number, table, with_interval


def advice_theta(law, theta, flops, unique):
    """The advice's quantities (S, n) for fit-space vectors theta (S, P), budgets `flops` and
    unique tokens `unique` (n,) (`data_limited`'s keys)."""
    theta = np.atleast_2d(theta)
    free = law.compute_optimal_theta(theta, flops)
    params, tokens = free["params"], free["tokens"]
    limit = unique[None, :]
    repeated = law.losses(theta, params[..., None], tokens[..., None],
                          limit[..., None])[..., 0]
    best = law.best_params(theta, flops, unique)
    best_tokens = flops[None, :] / (6.0 * best)
    best_loss = law.losses(theta, best[..., None], best_tokens[..., None],
                           limit[..., None])[..., 0]
    return {"params": params, "tokens": tokens, "epochs": tokens / limit,
            "loss": free[law.target], "repeated_loss": repeated,
            "best_params": best, "best_tokens": best_tokens,
            "best_epochs": best_tokens / limit, "best_loss": best_loss}


def data_limited(law, fit, flops, unique_tokens, kind: str | None = None,
                 level: float | None = None) -> dict:
    """Advice for budgets C (`flops`, C = 6ND) and a supply of U unique tokens each (one U,
    or one per budget): {"flops", "unique_tokens": (n,) arrays, "kind", "level",
    quantity: (point, lower, upper)} for
    - params, tokens, epochs (= D/U), loss: the compute-optimal allocation without the
      limit (one epoch of D unique tokens) and its loss;
    - repeated_loss: the loss that same allocation gets with U unique tokens (it repeats
      them D/U times where D > U);
    - best_params, best_tokens, best_epochs, best_loss: the best N (D = C/(6N)) under the
      limit, a 1-D search over N.
    Bounds: the bootstrap's percentiles (NaN without one); with `kind` "calibrated" or
    "run", the three losses have that kind's interval at their point's inputs instead;
    `kind` None: no intervals."""
    flops = np.atleast_1d(np.asarray(flops, float))
    unique = np.atleast_1d(np.asarray(unique_tokens, float))
    try:
        flops, unique = (np.array(x, float) for x in np.broadcast_arrays(flops, unique))
    except ValueError:
        raise ScalingError("--flops and --unique-tokens: give one value or lists of one "
                           "length") from None
    if np.any(~np.isfinite(unique) | (unique <= 0)):
        raise ScalingError("--unique-tokens must be positive and finite")
    if np.any(~np.isfinite(flops) | (flops <= 0)):
        raise ScalingError("--flops must be positive and finite")
    level = law.confidence if level is None else float(level)
    point = advice_theta(law, fit.theta_, flops, unique)
    if kind is not None and len(fit.bootstrap_theta_):
        samples = advice_theta(law, fit.bootstrap_theta_, flops, unique)
        out = {k: fit.interval(point[k][0], samples[k], level) for k in point}
    else:
        nan = np.full(len(flops), np.nan)
        out = {k: (point[k][0], nan, nan) for k in point}
    if kind in ("calibrated", "run"):
        where = {"loss": (out["params"][0], out["tokens"][0], out["tokens"][0]),
                 "repeated_loss": (out["params"][0], out["tokens"][0], unique),
                 "best_loss": (out["best_params"][0], out["best_tokens"][0], unique)}
        for key, (n, d, u) in where.items():
            inputs = {"params": n, "tokens": d, "unique_tokens": u}
            out[key] = fit.interval_from_inputs(inputs, kind, level)
    return {"flops": flops, "unique_tokens": unique, "kind": kind, "level": level, **out}


# -- the advice as a table and a record (`scaling predict FIT --flops C --unique-tokens U`) ------

ADVICE_COLUMNS = (("params", "N (no limit)"), ("tokens", "D (no limit)"),
                  ("epochs", "its epochs"), ("loss", "loss, unique data"),
                  ("repeated_loss", "loss at U"), ("best_params", "best N"),
                  ("best_tokens", "best D"), ("best_epochs", "best epochs"),
                  ("best_loss", "best loss"))


def advice_table(fit, advice) -> str:
    kind = advice["kind"]
    if kind is None:
        what = "no intervals (the fit has none)"
    elif kind == "law":
        what = f"{100 * advice['level']:g}% intervals (bootstrap)"
    else:
        what = (f"{100 * advice['level']:g}% intervals (losses: {kind}; the allocations: "
                "bootstrap, where the fit has one)")
    lines = [f"compute under a data limit (C = 6 N D; U unique tokens, repeated D/U times), "
             f"{what}"]
    header = ("FLOPs", "unique U", *(label for _, label in ADVICE_COLUMNS))
    rows = [(f"{flops:.3g}", f"{advice['unique_tokens'][k]:.3g}",
             *(with_interval(*(v[k] for v in advice[key])) for key, _ in ADVICE_COLUMNS))
            for k, flops in enumerate(advice["flops"])]
    lines.append(table(header, rows, right=("FLOPs", "unique U")))
    lines.append("(no limit: the compute-optimal allocation with unique data, and its loss; "
                 "loss at U: that allocation with U unique tokens, repeated where D > U; best: "
                 "the N, D = C/(6N) of least loss with U unique tokens)")
    return "\n".join(lines)


def advice_warnings(law, advice) -> list[dict]:
    """The warnings of the advice's points (`scaling.engine.diagnostics.prediction_warnings`: reach in
    N, D, U and epochs on either side of the fitted data, losses that are not losses): the
    allocation that repeats U unique tokens and the best one under the limit."""
    out = []
    labels = [f"{flops:.3g} FLOPs, U {u:.3g}" for flops, u in
              zip(advice["flops"], advice["unique_tokens"])]
    for what, n, d, loss in (("the allocation at", "params", "tokens", "repeated_loss"),
                             ("the best allocation at", "best_params", "best_tokens",
                              "best_loss")):
        points = {"params": advice[n][0], "tokens": advice[d][0],
                  "unique_tokens": advice["unique_tokens"]}
        out += diagnostics.prediction_warnings(law, points, labels, (what, what[:-3] + "s at"),
                                               predicted=advice[loss][0])
    return out


def advice_record(law, advice) -> dict:
    rows = []
    for k, flops in enumerate(advice["flops"]):
        row = {"flops": float(flops), "unique_tokens": float(advice["unique_tokens"][k])}
        for key, _ in ADVICE_COLUMNS:
            point, lower, upper = (v[k] for v in advice[key])
            row[key] = {"value": json_number(point), "lower": json_number(lower),
                        "upper": json_number(upper)}
        rows.append(row)
    return {"law": law.name, "target": law.target,
            "interval": {"kind": advice["kind"], "level": advice["level"]},
            "advice": rows, "warnings": advice_warnings(law, advice) +
            diagnostics.fit_warnings(law)}
