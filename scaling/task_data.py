"""How the task laws read a run table's evaluations (Bhagia et al. 2024, "Establishing Task
Scaling Laws via Compute-Efficient Model Ladders", arXiv:2412.04403, section 3 and its code,
allenai/OLMo ladder scripts `step1.py`, `step2.py`).

A downstream evaluation is noisy from one checkpoint to the next, so the paper smooths it:

- **Final value of a run** (step 1, single step, and every held-out prediction): the mean of its
  last k evaluations (k = 5), at the run's final N and D: `final_values`.
- **Points of step 2** (task loss → accuracy): every evaluation of a run after its first 10%
  (the first ⌈0.1·n⌉ of its n rows are dropped; `skip_by=tokens` drops the evaluations in the
  first 10% of its tokens instead, for checkpoints that are not evenly spaced), then a moving average of 5 evaluations over both
  the loss and the accuracy (the first 4 smoothed points average the 1, 2, 3, 4 rows so far):
  `smoothed_rows`. One more point is added, the ideal model: task loss 0, accuracy 1
  (`ideal_point`); it is in every bootstrap resample.

`CHANCE` is the accuracy of guessing for the tasks the paper names; the sigmoid's start is
a = chance − 1 (accuracy falls from 1 towards chance as the task loss grows). Other tasks: the
`chance` setting, else 1 / 4 (four options).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from scaling.runs import final_rows

LAST = 5            # evaluations averaged into a run's final value
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
    """Each run's final row (`scaling.runs.final_rows`) with `columns` replaced by the mean of
    the run's last `last` rows (in token order, up to and including the final row)."""
    finals = final_rows(frame)
    columns = [c for c in dict.fromkeys(columns) if c in frame.columns]
    if last <= 1 or not columns:
        return finals
    out = finals.copy()
    ordered = _ordered(frame)
    for index, row in finals.iterrows():
        rows = ordered[ordered["run"] == row["run"]]
        rows = rows[rows["tokens"] <= row["tokens"]] if "tokens" in rows else rows
        for column in columns:
            values = pd.to_numeric(rows[column], errors="coerce").to_numpy(float)[-last:]
            out.at[index, column] = float(np.mean(values))
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
