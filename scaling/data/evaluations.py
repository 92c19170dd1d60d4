"""How the task laws read a run table's evaluations (Bhagia et al. 2024, "Establishing Task
Scaling Laws via Compute-Efficient Model Ladders", arXiv:2412.04403, section 3 and its code,
allenai/OLMo ladder scripts `step1.py`, `step2.py`).

A downstream evaluation is noisy from one checkpoint to the next, so the paper smooths it:

- **Final value of a run** (step 1, single step, and every held-out prediction): the mean of its
  last k evaluations (k = 5), at the run's final N and D: `final_values`.
- **Points of step 2** (task loss → accuracy): every evaluation of a run after its first 10%
  (the first ⌈0.1·n⌉ of its n rows are dropped; `skip_by=tokens` drops the evaluations in the
  first 10% of its tokens instead, for checkpoints that are not evenly spaced), then a moving
  average of 5 evaluations over both the loss and the accuracy (the first 4 smoothed points
  average the 1, 2, 3, 4 rows so far): `smoothed_rows`. One more point is added, the ideal model: task loss 0, accuracy 1
  (`ideal_point`); it is in every bootstrap resample.

`CHANCE` is the accuracy of guessing for the tasks the paper names; the sigmoid's start is
a = chance − 1 (accuracy falls from 1 towards chance as the task loss grows). Other tasks: the
`chance` setting, else 1 / 4 (four options).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from scaling.data.runs import final_rows
from scaling.engine.warning_records import make_warning
from scaling.errors import ScalingError

LAST = 5            # evaluations averaged into a run's final value
NEAR_CHANCE = 0.05  # fitted accuracies no more than this above chance: the curve beyond them is
#                     the sigmoid's shape and the ideal point's pull, not the data's (Pythia's
#                     MMLU subjects stay within 3 points of chance at 1.4B, and step 2 fitted on
#                     them predicted 99-100% for 2.8B-12B)
NO_TREND = -0.5     # Spearman's rank correlation of accuracy with loss over the fitted points
#                     above this: no steady rise (Pythia: piqa, arc, sciq, lambada −0.98 to
#                     −1.0; MMLU's public_relations +0.07, prehistory +0.57, logiqa −0.23, and
#                     the step 2 fitted on them missed the 2.8B–12B models by 6–44 points)
SKIP = 0.1          # share of each run's first evaluations step 2 leaves out
SMOOTH = 5          # moving-average window of step 2's points
IDEAL_RUN = "(ideal point: task loss 0, accuracy 1)"
ANCHOR = "anchor"   # boolean column: a point every bootstrap resample keeps (the ideal point)

CHANCE = {           # the paper's chance levels (its `task_minimum`), by task name
    "piqa": 0.5, "winogrande": 0.5, "boolq": 0.5, "wsc": 0.5,
    "social_iqa": 1 / 3, "socialiqa": 1 / 3, "siqa": 1 / 3,
    "csqa": 0.2, "commonsense_qa": 0.2, "commonsenseqa": 0.2,
}
DEFAULT_CHANCE = 0.25


def chance_of(task: str | None, chance: float | None = None) -> float:
    """The chance accuracy of a task: `chance` when given, else the paper's, else 1/4."""
    if chance is not None:
        return float(chance)
    return CHANCE.get(str(task or "").lower(), DEFAULT_CHANCE)


def moving_average(values, window: int) -> np.ndarray:
    """The trailing mean of `window` values; the first window − 1 points average all so far."""
    values = np.asarray(values, float)
    total = np.cumsum(values)
    out = total / np.arange(1, len(values) + 1)
    if len(values) >= window:
        out[window:] = (total[window:] - total[:-window]) / window
        out[window - 1] = total[window - 1] / window
    return out


def _ordered(frame: pd.DataFrame) -> pd.DataFrame:
    keys = [c for c in ("tokens", "step") if c in frame.columns]
    return frame.sort_values(["run", *keys], kind="stable")


def final_values(frame: pd.DataFrame, columns, last: int = LAST) -> pd.DataFrame:
    """Each run's final row (`scaling.data.runs.final_rows`) with `columns` replaced by the mean of
    the run's last `last` rows (in token order, up to and including the final row)."""
    finals = final_rows(frame)
    columns = [c for c in dict.fromkeys(columns) if c in frame.columns]
    if last <= 1 or not columns:
        return finals
    ordered = _ordered(frame)
    if "tokens" in ordered:            # up to the final row (`final` may mark an earlier one)
        ends = finals.set_index("run")["tokens"]
        ordered = ordered[ordered["tokens"] <= ordered["run"].map(ends)]
    means = ordered.groupby("run", sort=False)[columns].apply(
        lambda rows: rows.apply(pd.to_numeric, errors="coerce").tail(last).mean())
    out = finals.copy()
    for column in columns:
        out[column] = out["run"].map(means[column]).to_numpy(float)
    return out


def smoothed_rows(frame: pd.DataFrame, columns, skip: float = SKIP, window: int = SMOOTH,
                  skip_by: str = "evaluations") -> pd.DataFrame:
    """Every run's rows after its first ⌈skip·n⌉ (`skip_by` "evaluations", the paper's rule)
    or after the first `skip` share of its tokens (`skip_by` "tokens": the same for evenly
    spaced evaluations, and robust to log-spaced early checkpoints, like Pythia's), with
    `columns` replaced by their moving average over `window` rows (restarted at the first kept
    row), in token order."""
    columns = [c for c in dict.fromkeys(columns) if c in frame.columns]
    parts = []
    for _, rows in _ordered(frame).groupby("run", sort=False):
        if skip_by == "tokens":
            tokens = rows["tokens"].to_numpy(float)
            kept = rows[tokens > skip * tokens.max()].copy() if skip > 0 else rows.copy()
        else:
            kept = rows.iloc[int(math.ceil(skip * len(rows) - 1e-12)):].copy()
        if not len(kept):
            continue
        for column in columns:
            values = pd.to_numeric(kept[column], errors="coerce").to_numpy(float)
            kept[column] = moving_average(values, window) if window > 1 else values
        parts.append(kept)
    return pd.concat(parts) if parts else frame.iloc[:0]


def ideal_point(frame: pd.DataFrame, loss_column: str, accuracy_column: str,
                accuracy: float = 1.0) -> pd.DataFrame:
    """`frame` plus the ideal model's point (task loss 0, accuracy 1), marked `anchor`."""
    row = {column: np.nan for column in frame.columns}
    row.update({"run": IDEAL_RUN, loss_column: 0.0, accuracy_column: accuracy, ANCHOR: True})
    out = frame.copy()
    out[ANCHOR] = False
    index = (int(np.nanmax(pd.to_numeric(pd.Series(out.index), errors="coerce"))) + 1
             if len(out) else 1)
    extra = pd.DataFrame([row], index=pd.Index([index], name=out.index.name))
    return pd.concat([out, extra.astype({ANCHOR: bool})])


def anchors(points: pd.DataFrame) -> np.ndarray:
    """Boolean mask of the points every bootstrap resample keeps."""
    if ANCHOR not in points.columns:
        return np.zeros(len(points), bool)
    return points[ANCHOR].fillna(False).to_numpy(bool)


def accuracy_extras(points: pd.DataFrame, target: str, chance: float,
                    loss_column: str | None = None) -> dict:
    """What a task law keeps of its fitted accuracies: their range (anchors left out), the
    task's chance level and, with `loss_column`, Spearman's rank correlation of accuracy with
    that loss over the fitted points; for the warnings `near_chance` and `no_trend`."""
    kept = points[~anchors(points)]
    values = pd.to_numeric(kept[target], errors="coerce").to_numpy(float)
    ok = np.isfinite(values)
    out = {"chance": float(chance)}
    if not ok.any():
        return out
    out["accuracy_range"] = [float(values[ok].min()), float(values[ok].max())]
    if loss_column is not None and loss_column in kept:
        loss = pd.to_numeric(kept[loss_column], errors="coerce").to_numpy(float)
        both = ok & np.isfinite(loss)
        if both.sum() >= 3 and np.ptp(values[both]) > 0 and np.ptp(loss[both]) > 0:
            out["rank_correlation"] = float(spearmanr(loss[both], values[both])[0])
    return out


def load_accuracy_extras(block) -> dict:
    """The extras of a task law's fit file, checked (one-line errors naming the field)."""
    if not block:
        return {}
    if not isinstance(block, dict):
        raise ScalingError(f"extras: expected an object, got {block!r:.40}")
    chance = block.get("chance")
    if not isinstance(chance, (int, float)) or not 0 <= chance < 1:
        raise ScalingError(f"extras.chance: expected a number in [0, 1), got {chance!r:.40}")
    span = block.get("accuracy_range")
    if span is not None and not (isinstance(span, list) and len(span) == 2
                                 and all(isinstance(v, (int, float)) and 0 <= v <= 1
                                         for v in span) and span[0] <= span[1]):
        raise ScalingError(f"extras.accuracy_range: expected [low, high] in [0, 1], "
                           f"got {span!r:.40}")
    rho = block.get("rank_correlation")
    if rho is not None and not (isinstance(rho, (int, float)) and -1 <= rho <= 1):
        raise ScalingError(f"extras.rank_correlation: expected a number in [-1, 1], "
                           f"got {rho!r:.40}")
    return {"chance": float(chance),
            **({"accuracy_range": [float(v) for v in span]} if span else {}),
            **({"rank_correlation": float(rho)} if rho is not None else {})}


def unidentified_accuracy(extras: dict) -> tuple[float, float] | None:
    """`Law.unidentified_range` of a task law: (the lower of chance and the smallest fitted
    accuracy, 1) when its fit warns near-chance or no-trend, else None."""
    if not any(w["code"] in ("near-chance", "no-trend")
               for w in accuracy_warnings(extras, "", "")):
        return None
    span, chance = (extras or {}).get("accuracy_range"), (extras or {}).get("chance")
    lows = [v for v in (chance, span[0] if span else None) if v is not None]
    return (float(min(lows)) if lows else 0.0), 1.0


def accuracy_warnings(extras: dict, target: str, loss_column: str | None = None) -> list[dict]:
    """A task law's own warnings: near-chance (every fitted accuracy within NEAR_CHANCE of
    chance) and no-trend (accuracy does not fall steadily with the loss over the fitted points:
    rank correlation above NO_TREND)."""
    out = []
    rho = (extras or {}).get("rank_correlation")
    if rho is not None and rho > NO_TREND:
        out.append(make_warning(
            "no-trend", f"the fitted {target} does not rise steadily as {loss_column} falls "
            f"(rank correlation {rho:+.2f}, over {NO_TREND:+g}): noise or a task the models "
            "cannot yet do; the law's curve is not the data's; treat predictions as guesses",
            rank_correlation=rho, limit=NO_TREND))
    span, chance = (extras or {}).get("accuracy_range"), (extras or {}).get("chance")
    if not span or chance is None or span[1] - chance > NEAR_CHANCE:
        return out
    return out + [make_warning(
        "near-chance", f"the fitted {target} stays near chance: at most {span[1]:.3f}, "
        f"{100 * (span[1] - chance):.1f} points above its chance level {chance:.3g} (under "
        f"{100 * NEAR_CHANCE:g}): the data show no rise for the law to follow, and the curve "
        "beyond them is the law's shape and the ideal point's pull; treat predictions as "
        "guesses", maximum=span[1], chance=chance, margin=NEAR_CHANCE)]
