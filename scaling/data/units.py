"""Units of a run table: a `flops` column that is not FLOPs, tokens that are not tokens.

A table whose `flops` column is in PFLOPs, or whose `tokens` are in millions, passes every
range check (1e6 PFLOPs and 2e3 "tokens" are sensible numbers) and moves every answer by the
same factor without a word: approach 2 at 1e21 FLOPs read N = 5.5e17 from a PFLOPs column. Two
checks catch it, on the rows a command reads:

- flops-units: the median of flops / (6·params·tokens) (the contract's compute model,
  `scaling.data.runs.FLOPS_PER_PARAM_TOKEN`) outside [1/FLOPS_FACTOR, FLOPS_FACTOR]. Honest tables
  differ from 6·N·D by less: attention FLOPs (the bundled CPU ladders: 1.04 to 1.38), an `N`
  without embeddings, a vocabulary law's 6·(N_nv + V·d)·D. A mixture of experts whose `params`
  counts every expert while `flops` follows the active ones can sit below 1/3 (0.06 for 37e9
  active of 671e9); the message says so. Also where the ratio spans more than FLOPS_FACTOR² over
  the rows (a table joined from two sources in different units). Approaches 1 and 2, which read
  the column as training compute, refuse a median beyond ABSURD_FACTOR (`check_flops_column`).
- tokens-per-param: a run whose final row (its training horizon) has tokens / params outside
  TOKENS_PER_PARAM. Early checkpoints are not checked: Pythia's step-1 checkpoint of its 12e9
  model has seen 2e6 tokens, 1.7e-4 a parameter; its final rows hold 26 to 1.6e4.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from scaling.data.runs import FLOPS_PER_PARAM_TOKEN, final_rows
from scaling.errors import ScalingError

FLOPS_FACTOR = 3.0
ABSURD_FACTOR = 100.0
TOKENS_PER_PARAM = (0.01, 1e5)
MAX_NAMED = 3


def _numbers(frame: pd.DataFrame, column: str) -> np.ndarray:
    return pd.to_numeric(frame[column], errors="coerce").to_numpy(float)


def flops_ratio(frame: pd.DataFrame) -> dict | None:
    """{"median", "low", "high", "n_rows"} of flops / (6·params·tokens) over the rows that have
    all three as positive numbers; None where the table has no such rows."""
    if not {"flops", "params", "tokens"} <= set(frame.columns):
        return None
    with np.errstate(all="ignore"):
        ratio = _numbers(frame, "flops") / (FLOPS_PER_PARAM_TOKEN * _numbers(frame, "params")
                                            * _numbers(frame, "tokens"))
    ratio = ratio[np.isfinite(ratio) & (ratio > 0)]
    if not len(ratio):
        return None
    return {"median": float(np.median(ratio)), "low": float(ratio.min()),
            "high": float(ratio.max()), "n_rows": int(len(ratio))}


def facts(frame: pd.DataFrame) -> dict:
    """What is wrong with the table's units, as data (JSON-ready; empty: nothing):
    {"flops": flops_ratio(...) where it is off, "tokens_per_param": {"n_runs", "runs":
    {run: [row, tokens per param]}, "range"} where final rows are off}."""
    out = {}
    ratio = flops_ratio(frame)
    if ratio is not None and (not 1 / FLOPS_FACTOR <= ratio["median"] <= FLOPS_FACTOR
                              or ratio["high"] > FLOPS_FACTOR ** 2 * ratio["low"]):
        out["flops"] = ratio
    if {"run", "params", "tokens"} <= set(frame.columns) and len(frame):
        try:
            final = final_rows(frame)
        except (ScalingError, KeyError, TypeError, ValueError):
            final = frame.iloc[:0]         # a bad `final` column is the reader's to report
        with np.errstate(all="ignore"):
            per_param = _numbers(final, "tokens") / _numbers(final, "params")
        low, high = TOKENS_PER_PARAM
        off = np.isfinite(per_param) & (per_param > 0) & ((per_param < low) | (per_param > high))
        if off.any():
            runs = {str(run): [_row(row), float(value)] for run, row, value
                    in zip(final["run"][off], final.index[off], per_param[off])}
            out["tokens_per_param"] = {"n_runs": len(runs), "runs": runs,
                                       "range": [low, high]}
    return out


def _row(label):
    try:
        return int(label)
    except (TypeError, ValueError):
        return str(label)


def make_warning(code: str, message: str, **fields) -> dict:
    """A warning in `scaling.engine.diagnostics`' shape (code, severity, message on one line, fields);
    built here, since diagnostics reads this module (no import back)."""
    return {"code": code, "severity": "warning", "message": " ".join(message.split()), **fields}


def warnings(found: dict, source: str = "run table") -> list[dict]:
    """The warnings of `facts(...)` (codes flops-units and tokens-per-param;
    `scaling.engine.diagnostics`)."""
    out = []
    ratio = found.get("flops")
    if isinstance(ratio, dict):
        median, low, high = (float(ratio.get(k, math.nan)) for k in ("median", "low", "high"))
        if 1 / FLOPS_FACTOR <= median <= FLOPS_FACTOR:
            what = (f"ranges from {_factor(low)} to {_factor(high)} over the rows "
                    f"(median {_factor(median)}): a column in two units?")
        else:
            what = (f"is {_factor(median)} (median over {int(ratio.get('n_rows', 0))} rows; "
                    f"{_unit_hint(median)})")
        out.append(make_warning(
            "flops-units", f"{source}: column 'flops' against 6·params·tokens {what}; honest "
            f"tables differ by less than {FLOPS_FACTOR:g}x (attention FLOPs, embeddings); a "
            "mixture of experts whose params counts every expert sits lower", ratio=ratio))
    per_param = found.get("tokens_per_param")
    if isinstance(per_param, dict) and isinstance(per_param.get("runs"), dict):
        runs = per_param["runs"]
        named = ", ".join(f"{run!r} (row {row}: {value:.3g})"
                          for run, (row, value) in list(runs.items())[:MAX_NAMED])
        more = f" and {len(runs) - MAX_NAMED} more" if len(runs) > MAX_NAMED else ""
        low, high = TOKENS_PER_PARAM
        out.append(make_warning(
            "tokens-per-param", f"{source}: {len(runs)} run(s) end at a tokens per parameter "
            f"outside [{low:g}, {high:g}]: {named}{more}; tokens or params in other units "
            "(millions, thousands)? Every fit and allocation takes them as counts",
            n_runs=len(runs), runs=runs, range=[low, high]))
    return out


def messages(frame: pd.DataFrame, source: str = "run table") -> list[str]:
    """The warnings' messages for a run table (as `scaling optimal` and backtests print them)."""
    return [w["message"] for w in warnings(facts(frame), source)]


def _factor(ratio: float) -> str:
    if not math.isfinite(ratio) or ratio <= 0:
        return "-"
    return f"{ratio:.3g}x" if ratio >= 1 else f"1/{1 / ratio:.3g}"


def _unit_hint(ratio: float) -> str:
    """What a factor between `flops` and 6·N·D suggests."""
    for power, unit in ((15, "PFLOPs"), (12, "TFLOPs"), (9, "GFLOPs"), (18, "EFLOPs"),
                        (21, "ZFLOPs")):
        if abs(math.log10(ratio) + power) < 0.5:
            return f"flops in {unit}?"
    if abs(math.log10(ratio) + math.log10(86400 * 1e15)) < 0.5:
        return "flops in PF-days?"
    return "flops, params or tokens in other units?"


def check_flops_column(frame: pd.DataFrame, source, reader: str) -> None:
    """A one-line error where the `flops` column is more than ABSURD_FACTOR off 6·params·tokens
    (median): `reader` takes the column as training FLOPs and its answer would be off as much."""
    ratio = flops_ratio(frame)
    if ratio is None or 1 / ABSURD_FACTOR <= ratio["median"] <= ABSURD_FACTOR:
        return
    raise ScalingError(
        f"{source}: column 'flops' is {_factor(ratio['median'])} of 6·params·tokens (median over "
        f"{ratio['n_rows']} rows; {_unit_hint(ratio['median'])}), and {reader} takes it as "
        "training FLOPs: convert it to FLOPs, or drop the column (then flops = 6·params·tokens)")


def fit_warnings(fit) -> list[dict]:
    """The unit warnings a fit keeps (`fit.data_["units"]`, set by `scaling fit`)."""
    found = (fit.data_ or {}).get("units")
    if not found:
        return []
    if not isinstance(found, dict):
        raise ScalingError(f"data.units: expected an object, got {type(found).__name__}")
    try:
        return warnings(found, str((fit.data_ or {}).get("source") or "run table"))
    except (TypeError, ValueError, AttributeError):
        raise ScalingError("data.units: not the record `scaling fit` writes (ratio, runs: "
                           "{run: [row, tokens per parameter]})") from None
