"""The learning rate of every optimizer step of every run, for the LR-schedule laws.

Step convention. A run's updates are counted 1, 2, …; a row at step t was measured after t
updates, so it has seen the LRs of updates 1 … t. Per-step LRs come from, in order:

1. an LR file (`--lr-file`, `read_lr_file`), when it has the run: a table of run, step, lr with
   one row per update. Its steps may count from 1 (steps 1 … T: a row at step t has seen file
   steps 1 … t) or, as most trainers log them, from 0 (steps 0 … T−1: a row at step t has seen
   file steps 0 … t−1). An explicit file wins over the table's own columns;
2. the `lr` column, when a run has a row at every step 1 … last (the row at step t holds the LR
   of update t, the last it has seen, as the ladder runner writes it);
3. the `schedule` column: a `scaling.data.schedules` string (e.g. "cosine:peak=1e-3,warmup=100,
   steps=2000,final=1e-4"), rebuilt step by step;

otherwise a one-line error naming the file and the run.

`areas(frame, histories)` adds the columns the annealing law reads, at each row's step t:
`lr_area` = S1 = Σ_{i≤t} η_i (warmup included) and `anneal_area` = S2 = Σ_{i≤t} m_i with
m_i = λ·m_{i−1} + max(η_{i−1} − η_i, 0), m_1 = 0 (Tissue et al. 2024). Only decreases of the LR
count as annealing: the rises of a warmup add nothing to S2 (without the max, a warmup would leave
a negative momentum that takes thousands of steps to fade).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from scaling.errors import ScalingError
from scaling.data.runs import STRING, as_finite_numbers
from scaling.data.schedules import ScheduleError, lr_array, parse
from scaling.data.table_files import read_file

CONVENTION = ("a row at step t has seen updates 1 … t: LR-file steps 1 … t when the file counts "
              "from 1, 0 … t−1 when it counts from 0")


@dataclass
class LRFile:
    """An LR file read by `read_lr_file`: the LR of updates 1 … T of each run it holds."""

    path: str
    runs: dict[str, np.ndarray] = field(default_factory=dict)
    first_step: int = 1          # how the file numbers its steps: from 0 or from 1


def per_step_lr(frame: pd.DataFrame, source="run table", lr_file: LRFile | None = None,
                sources: dict | None = None) -> dict[str, np.ndarray]:
    """{run: LR of updates 1 … last step (array index 0 is update 1)}; see the module docstring
    for the sources and their order. `sources`, when given, receives {run: where its LRs came
    from} ("--lr-file PATH", "lr column", "schedule column"; an LR file that overrides a column
    the run also has says so), for the report."""
    sources = {} if sources is None else sources
    if "step" not in frame.columns:
        raise ScalingError(f"{source}: missing column 'step', which the LR-schedule laws need")
    unmatched = _unmatched(frame, source, lr_file)
    out = {}
    for run, rows in frame.groupby("run", sort=False):
        steps = rows["step"].to_numpy()
        bad = (steps != np.round(steps)) | (steps < 0)
        if np.any(bad):                        # the offending row, not the run's first
            row = rows.index[np.flatnonzero(bad)[0]]
            raise ScalingError(f"{source}: column 'step', row {row}: run {run!r} has step "
                               f"{steps[np.flatnonzero(bad)[0]]:g}; steps must be whole "
                               "non-negative numbers")
        if np.any(np.diff(steps) <= 0):
            bad = rows.index[1:][np.diff(steps) <= 0][0]
            raise ScalingError(f"{source}: column 'step', row {bad}: steps of run {run!r} do "
                               "not increase")
        last = int(steps.max())
        has_lr = "lr" in rows.columns and set(steps.astype(int)) >= set(range(1, last + 1))
        has_schedule = "schedule" in rows.columns and isinstance(rows["schedule"].iloc[0], str)
        if lr_file is not None and str(run) in lr_file.runs:
            lr = lr_file.runs[str(run)]
            if len(lr) < last:
                raise ScalingError(
                    f"{lr_file.path}: run {run!r} has LRs for {len(lr)} updates (steps "
                    f"{lr_file.first_step} … {len(lr) - 1 + lr_file.first_step}) but {source} "
                    f"has rows up to step {last} ({CONVENTION})")
            out[run] = lr[:last]
            sources[run] = f"--lr-file {lr_file.path}" + _overridden(rows, steps, last, has_lr,
                                                                      has_schedule, out[run])
            continue
        fallback = f", not in --lr-file {lr_file.path}" if run in unmatched else ""
        if has_lr:
            sources[run] = "lr column" + fallback
            values = _learning_rates(rows["lr"], source)
            out[run] = pd.Series(values, index=steps.astype(int)).loc[range(1, last + 1)] \
                .to_numpy(float)
            continue
        if has_schedule:
            sources[run] = "schedule column" + fallback
            try:
                schedule = parse(rows["schedule"].iloc[0])
            except ScheduleError as exc:
                hint = "; give --lr-file for runs whose schedule is not a scaling.data.schedules " \
                       "string" if lr_file is None else f"; {lr_file.path} has no run {run!r}"
                raise ScalingError(f"{source}: column 'schedule', row {rows.index[0]}: {exc}"
                                   f"{hint}") from None
            if schedule.steps < last:
                raise ScalingError(f"{source}: run {run!r} has rows up to step {last} but its "
                                   f"schedule has {schedule.steps} steps")
            out[run] = lr_array(schedule)[:last]       # a valid schedule's LRs are >= 0
            continue
        where = f" ({lr_file.path} has no run {run!r})" if lr_file is not None else ""
        raise ScalingError(f"{source}: run {run!r}: no per-step LR{where}: give an 'lr' column "
                           "at every step, a 'schedule' column or --lr-file")
    return out


def _unmatched(frame, source, lr_file) -> set:
    """The table's runs an LR file does not hold (they fall back to their own columns; the
    report's LR line names them). A file that holds none of them is an error naming both sides:
    its run names are not the table's, and every LR would silently come from the columns."""
    if lr_file is None:
        return set()
    runs = list(pd.unique(frame["run"]))
    unmatched = {run for run in runs if str(run) not in lr_file.runs}
    if len(unmatched) == len(runs):
        def named(names):
            names = [str(n) for n in names]
            return ", ".join(repr(n) for n in names[:3]) + (f" and {len(names) - 3} more"
                                                           if len(names) > 3 else "")

        raise ScalingError(f"{lr_file.path}: none of its runs ({named(lr_file.runs)}) is a run "
                           f"of {source} ({named(runs)}); an LR file's run column must hold "
                           "the table's run names")
    return unmatched


def _overridden(rows, steps, last, has_lr, has_schedule, lr) -> str:
    """What an LR file overrides for a run: "" when the run has no usable LR column, else
    " (over its schedule column, which differs by up to 50%)" or "(..., which agrees)"."""
    if has_lr:
        name = "lr"
        values = pd.to_numeric(rows["lr"], errors="coerce").to_numpy(float)
        column = pd.Series(values, index=steps.astype(int)).loc[range(1, last + 1)].to_numpy()
    elif has_schedule:
        name = "schedule"
        try:
            schedule = parse(rows["schedule"].iloc[0])
        except ScheduleError:
            return ""                    # not a schedule string: nothing the file overrides
        if schedule.steps < last:
            return ""
        column = lr_array(schedule)[:last]
    else:
        return ""
    with np.errstate(all="ignore"):
        gap = np.nanmax(np.abs(column - lr) / np.maximum(np.abs(lr), 1e-300)) if last else 0.0
    agreement = "which agrees" if not gap > 1e-6 else f"which differs by up to {gap:.2%}"
    return f" (over its {name} column, {agreement})"


def read_lr_file(path) -> LRFile:
    """An LR file (Parquet or CSV with columns run, step, lr; rows numbered from 1). Every run
    needs one row at every step, counted from 0 (0 … T−1) or from 1 (1 … T); see the module
    docstring for which LRs a row at step t has seen."""
    path = Path(path)
    frame = read_file(path, STRING)
    frame.index = pd.RangeIndex(1, len(frame) + 1)
    for column in ("run", "step", "lr"):
        if column not in frame.columns:
            raise ScalingError(f"{path}: missing column {column!r} (an LR file has columns run, "
                               "step, lr)")
    if len(frame) == 0:
        raise ScalingError(f"{path}: the file has no rows")
    frame["step"] = as_finite_numbers(frame["step"], "step", path)
    frame["lr"] = _learning_rates(frame["lr"], path)
    first_step = 0 if frame["step"].min() == 0 else 1
    runs = {}
    for run, rows in frame.groupby(frame["run"].astype(str), sort=False):
        rows = rows.sort_values("step", kind="stable")
        steps = rows["step"].to_numpy()
        expected = np.arange(first_step, first_step + len(rows))
        if not np.array_equal(steps, expected):
            bad = rows.index[np.flatnonzero(steps != expected)[0]]
            raise ScalingError(
                f"{path}: column 'step', row {bad}: run {run!r} must have one row at every step "
                f"{first_step}, {first_step + 1}, … (the file counts steps from {first_step}; "
                f"got {frame.at[bad, 'step']:g}; {CONVENTION})")
        runs[run] = rows["lr"].to_numpy(float)
    return LRFile(str(path), runs, first_step)


def _learning_rates(values: pd.Series, source) -> np.ndarray:
    """An `lr` column as finite numbers >= 0 (the run table's checks; one-line errors)."""
    numbers = as_finite_numbers(values, "lr", source)
    negative = numbers.index[numbers < 0]
    if len(negative):
        raise ScalingError(f"{source}: column 'lr', row {negative[0]}: learning rates must be "
                           f">= 0, got {numbers.at[negative[0]]:g}")
    return numbers.to_numpy(float)


def areas(frame: pd.DataFrame, histories: dict[str, np.ndarray],
          decay: float = 0.999) -> pd.DataFrame:
    """The frame with `lr_area` (S1) and `anneal_area` (S2) at every row's step, from the runs'
    per-step LRs (`per_step_lr`)."""
    cumulative = {run: cumulative_areas(histories[run], decay) for run in frame["run"].unique()}
    out = frame.copy()
    s1 = np.zeros(len(frame))
    s2 = np.zeros(len(frame))
    for k, (run, step) in enumerate(zip(frame["run"], frame["step"].astype(int))):
        if step > 0:
            s1[k], s2[k] = cumulative[run][0][step - 1], cumulative[run][1][step - 1]
    out["lr_area"], out["anneal_area"] = s1, s2
    return out


def schedule_rows(schedule: str, every: int = 1):
    """For predicting a curve: the per-step LR of a schedule string (`--schedule`) and the steps
    to predict (every `every`-th step and the last)."""
    try:
        lr = lr_array(parse(schedule))
    except ScheduleError as exc:
        raise ScalingError(f"--schedule: {exc}") from None
    if not 1 <= every <= len(lr):
        raise ScalingError(f"--every {every:g}: the schedule has {len(lr)} steps; give --every "
                           f"from 1 to {len(lr)} (the last step is always a row)")
    every = int(every)
    return lr, np.unique(np.append(np.arange(every, len(lr) + 1, every), len(lr)))


def cumulative_areas(lr: np.ndarray, decay: float):
    """S1 and S2 after each update of a per-step LR array."""
    drops = np.concatenate([[0.0], lr[:-1] - lr[1:]])          # η_{i−1} − η_i, 0 at i = 1
    drops = np.maximum(drops, 0.0)                              # warmup's rises anneal nothing
    momentum = _linear_recurrence(drops, decay)                 # m_i = λ m_{i−1} + drop_i
    return np.cumsum(lr), np.cumsum(momentum)


def _linear_recurrence(values: np.ndarray, decay: float) -> np.ndarray:
    return lfilter([1.0], [1.0, -decay], values)


def lr_decay(lr: np.ndarray, steps) -> np.ndarray:
    """How far the LR has been annealed at each step: log10(the highest LR so far / the LR of
    that step), 0 while it has not decayed (a per-step LR array, steps counted from 1)."""
    lr = np.asarray(lr, float)
    peak = np.maximum.accumulate(lr)
    index = np.asarray(steps, int) - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = peak[index] / np.maximum(lr[index], 1e-300)
    return np.log10(np.maximum(ratio, 1.0))


def peak_lr_of_rows(frame: pd.DataFrame, histories: dict) -> np.ndarray:
    """The peak LR of each row's run (the highest of its per-step LRs): a coordinate of the
    LR-schedule laws' reach (`Law.scale_values`), as a schedule's peak is of its prediction."""
    out = np.zeros(len(frame))
    runs = frame["run"].to_numpy()
    for run in pd.unique(runs):
        history = np.asarray(histories[run], float)
        out[runs == run] = float(history.max()) if len(history) else np.nan
    return out


def lr_decay_of_rows(frame: pd.DataFrame, histories: dict) -> np.ndarray:
    """`lr_decay` at every row of a frame of curves (run, step), from the runs' per-step LRs."""
    out = np.zeros(len(frame))
    runs, steps = frame["run"].to_numpy(), frame["step"].to_numpy(int)
    for run in pd.unique(runs):
        rows = np.flatnonzero(runs == run)
        out[rows] = lr_decay(histories[run], np.maximum(steps[rows], 1))
    return out
