"""Weights & Biases CSV exports to the run table, with a column mapping.

Two kinds of export are read (the kind is told by the header):

- a history table ("tidy"): one row per run and logged step, a run-name column (`Name`, as the
  W&B table export names it, or `run`; any other with `--map run=COLUMN`), a step column
  (`_step`, `Step` or `step`; or `--map step=COLUMN`) and metric columns such as
  `eval/downstream/hellaswag_len_norm`;
- a panel export (a chart's "Export CSV"): `Step` and, per run, `<run> - <metric>` with the
  smoothing band's `<run> - <metric>__MIN` and `__MAX`, one metric a file. Several panel files
  (one per metric) are joined on run and step; each becomes a history table with the columns
  `run`, `Step`, `<metric>` (`<metric>__MIN`, `<metric>__MAX` carried along).

The mapping names the file column of each contract column: `loss="train/CELoss"`,
`acc:hellaswag="eval/downstream/hellaswag_len_norm"`, `tokens="throughput/total_tokens"`,
`params="model/params"`. Without a `tokens` column, tokens = step × `tokens_per_step`. Without a
`params` column, each run's params come from `params` (run → N; the `--params RUN=N` and
`--params-file` options; a run given two counts is an error). Two rows of one run at one
step (a resumed run logs its steps again) are an error unless `dedupe` (`--dedupe`) says which
to keep. History rows without a `loss` (or a mapped `tokens`) value are rows
where W&B logged other metrics only: they are dropped, with a note. Unmapped columns are carried
along. The result is validated (`scaling.data.runs.validate`), `acc:` columns also for [0, 1].
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from scaling.data import runs as run_tables
from scaling.data import table_files
from scaling.errors import ScalingError

RUN_COLUMNS = ("run", "Name", "name")
STEP_COLUMNS = ("step", "_step", "Step")
PANEL_STEP = "Step"
PANEL_SEPARATOR = " - "
BAND = ("__MIN", "__MAX")


def read_panel(path: Path, frame: pd.DataFrame) -> pd.DataFrame | None:
    """A panel export as a history table (run, Step, metric, metric__MIN, metric__MAX), or None
    when the file is not one."""
    columns = [str(c) for c in frame.columns]
    if PANEL_STEP not in columns or len(columns) < 2:
        return None
    others = [c for c in columns if c != PANEL_STEP]
    if not all(PANEL_SEPARATOR in c for c in others):
        return None
    series = {}
    for column in others:
        base, suffix = column, ""
        for band in BAND:
            if column.endswith(band):
                base, suffix = column[: -len(band)], band
        run, _, metric = base.rpartition(PANEL_SEPARATOR)
        series[column] = (run, metric, suffix)
    metrics = sorted({metric for _, metric, _ in series.values()})
    if len(metrics) > 1:
        raise ScalingError(f"{path}: a panel export holds one metric, this one has "
                           f"{', '.join(map(repr, metrics))}")
    metric = metrics[0]
    parts = []
    for run in dict.fromkeys(run for run, _, _ in series.values()):
        part = pd.DataFrame({"run": run, PANEL_STEP: frame[PANEL_STEP]}, index=frame.index)
        for column, (owner, _, suffix) in series.items():
            if owner == run:
                part[metric + suffix] = frame[column]
        part = part[part[metric].notna()] if metric in part.columns else part.iloc[:0]
        parts.append(part)
    return pd.concat(parts)


def _read_export(path: Path) -> tuple[pd.DataFrame, bool]:
    """(the file as a history table with rows numbered from 1 in file order, is it a panel)."""
    frame = table_files.read_file(path, run_tables.STRING)
    if len(frame) == 0:
        raise ScalingError(f"{path}: the file has no rows")
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="row")
    panel = read_panel(path, frame)
    return (frame, False) if panel is None else (panel, True)


def _join_panels(panels: list[tuple[Path, pd.DataFrame]]) -> pd.DataFrame:
    joined = None
    for path, frame in panels:
        frame = frame.reset_index(drop=True)
        if joined is None:
            joined = frame
            continue
        twice = [c for c in frame.columns if c in joined.columns and c not in ("run", PANEL_STEP)]
        if twice:
            raise ScalingError(f"{path}: metric {twice[0]!r} is also in another panel export")
        joined = joined.merge(frame, on=["run", PANEL_STEP], how="outer", sort=False)
    joined = joined.sort_values(["run", PANEL_STEP], kind="stable")
    return joined


def read_params_file(path) -> dict[str, float]:
    """A CSV (or Parquet) with columns `run` and `params`: run → N."""
    path = Path(path)
    frame = table_files.read_file(path, run_tables.STRING)
    for column in ("run", "params"):
        if column not in frame.columns:
            raise ScalingError(f"{path}: --params-file needs columns run and params; it has "
                               f"{', '.join(map(str, frame.columns))}")
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="row")
    values = run_tables.as_finite_numbers(frame["params"], "params", path)
    bad = values.index[values <= 0]
    if len(bad):
        raise ScalingError(f"{path}: column 'params', row {bad[0]}: must be positive, got "
                           f"{values.at[bad[0]]:g}")
    run_tables.check_sensible(values, "params", path)
    runs = frame["run"].astype(str)
    out: dict[str, float] = {}
    first_row: dict[str, int] = {}
    for row, run, value in zip(frame.index, runs, values):
        if run in out and out[run] != value:
            raise ScalingError(f"{path}: rows {first_row[run]} and {row} both give run {run!r}, "
                               f"params {out[run]:g} and {value:g}: keep one")
        out.setdefault(run, float(value))
        first_row.setdefault(run, row)
    return out


def merge_params(path, given: dict[str, float]) -> dict[str, float]:
    """The `--params-file` counts with the `--params` ones; a run both give, with two counts,
    is an error naming both."""
    from_file = read_params_file(path)
    for run, value in given.items():
        if run in from_file and from_file[run] != value:
            raise ScalingError(f"--params {run}={value:g}, but {path} gives run {run!r} params "
                               f"{from_file[run]:g}: give one")
    return {**from_file, **given}


def read_wandb(paths, mapping: dict[str, str] | None = None,
               params: dict[str, float] | None = None,
               tokens_per_step: float | None = None, dedupe: str | None = None) -> pd.DataFrame:
    """W&B CSV exports (see the module's docstring) as one validated run table.
    `frame.attrs["notes"]` says what was dropped. Two rows of one run at one step (a resumed
    run logs its steps again) are an error naming both, unless `dedupe` ("first", "last",
    "mean"; `--dedupe`) says which to keep."""
    mapping = dict(mapping or {})
    params = dict(params or {})
    if not paths:
        raise ScalingError("no W&B export files given")
    if tokens_per_step is not None and not (math.isfinite(tokens_per_step)
                                            and tokens_per_step > 0):
        raise ScalingError(f"--tokens-per-step must be a positive number, got {tokens_per_step:g}")
    notes: list[str] = []
    tables: list[tuple[Path, pd.DataFrame]] = []
    panels: list[tuple[Path, pd.DataFrame]] = []
    for path in map(Path, paths):
        frame, panel = _read_export(path)
        (panels if panel else tables).append((path, frame))
    if panels:
        label = panels[0][0] if len(panels) == 1 else Path(
            " + ".join(str(p) for p, _ in panels))
        joined = _join_panels(panels)
        joined.index = pd.RangeIndex(1, len(joined) + 1, name="row")
        tables.append((label, joined))

    frames = [_contract(path, frame, mapping, params, tokens_per_step, notes, dedupe)
              for path, frame in tables]
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="row")
    label = tables[0][0] if len(tables) == 1 else Path(" + ".join(str(p) for p, _ in tables))
    rows = len(frame)
    frame = run_tables.validate(frame, label, dedupe=dedupe)
    if len(frame) < rows:
        notes.append(f"{label}: --dedupe {dedupe} kept 1 of the rows of each run at each step "
                     f"in two files ({rows - len(frame)} dropped)")
    frame.attrs.update({"notes": notes, "files": len(paths), "source": str(label)})
    return frame


def _contract(path: Path, frame: pd.DataFrame, mapping: dict[str, str],
              params: dict[str, float], tokens_per_step: float | None,
              notes: list[str], dedupe: str | None = None) -> pd.DataFrame:
    """One history table in contract names, checked, with the rows numbered as in its file."""
    mapping = dict(mapping)
    for target, candidates in (("run", RUN_COLUMNS), ("step", STEP_COLUMNS)):
        if target not in mapping and target not in frame.columns:
            found = next((c for c in candidates if c in frame.columns), None)
            if found is not None:
                mapping[target] = found
    columns = ", ".join(map(str, frame.columns))
    frame = run_tables.apply_mapping(frame, {t: s for t, s in mapping.items() if s != t}, path)
    if "run" not in frame.columns:
        raise ScalingError(f"{path}: no run-name column (Name or run): give --map run=COLUMN "
                           f"(columns: {columns})")
    if "loss" not in frame.columns:
        raise ScalingError(f"{path}: no column for the required 'loss': give --map "
                           f"loss=\"COLUMN\" (columns: {columns})")

    has_tokens = "tokens" in frame.columns
    if not has_tokens:
        if "step" not in frame.columns:
            raise ScalingError(f"{path}: no tokens: give --map tokens=COLUMN, or "
                               f"--tokens-per-step T with a step column (columns: {columns})")
        if tokens_per_step is None:
            raise ScalingError(f"{path}: no tokens column: give --tokens-per-step T (tokens = "
                               "step × T) or --map tokens=COLUMN")
    present = ["loss"] + (["tokens"] if has_tokens else [])
    empty = frame[present].isna().any(axis=1)
    if empty.any():
        notes.append(f"{path}: dropped {int(empty.sum())} rows without "
                     f"{' or '.join(present)} (W&B logged other metrics at those steps)")
        frame = frame[~empty]
        if len(frame) == 0:
            raise ScalingError(f"{path}: no row has a {' and '.join(present)} value")
    if not has_tokens:
        step = run_tables.as_finite_numbers(frame["step"], "step", path)
        frame = frame.assign(tokens=step * tokens_per_step)
    tokens = run_tables.as_finite_numbers(frame["tokens"], "tokens", path)
    zero = frame.index[tokens == 0]
    if len(zero):
        notes.append(f"{path}: dropped {len(zero)} rows with 0 tokens (step 0: the run table "
                     "needs tokens > 0)")
        frame = frame.drop(index=zero)
        if len(frame) == 0:
            raise ScalingError(f"{path}: every row has 0 tokens; nothing left to import")
    if "params" not in frame.columns:
        runs = frame["run"].astype(str)
        unknown = frame.index[~runs.isin(list(params))]
        if len(unknown):
            row = unknown[0]
            raise ScalingError(f"{path}: row {row}: run {runs.at[row]!r} has no parameter "
                               f"count: give --params {runs.at[row]}=N, a --params-file row or "
                               "--map params=COLUMN")
        frame = frame.assign(params=runs.map(params).astype(float))
    for column in [c for c in frame.columns if str(c).startswith("acc:")]:
        values = run_tables.as_finite_numbers(frame[column].dropna(), column, path)
        outside = values.index[(values < 0) | (values > 1)]
        if len(outside):
            row = outside[0]
            raise ScalingError(f"{path}: column {column!r}, row {row}: accuracy "
                               f"{values.at[row]:g} is outside [0, 1] (a percentage? map a "
                               "column of fractions)")
    order = ["run", "params", "tokens", "loss", "step"]
    leading = [c for c in order if c in frame.columns]
    frame = frame[leading + [c for c in frame.columns if c not in leading]]
    rows = len(frame)
    frame = run_tables.validate(frame, path, dedupe=dedupe)
    if len(frame) < rows:
        notes.append(f"{path}: --dedupe {dedupe} kept 1 row of each run at each step "
                     f"({rows - len(frame)} dropped)")
    return frame


def convert(paths, target, **options) -> pd.DataFrame:
    """Import W&B exports (see `read_wandb`) and write them as a Parquet run table."""
    frame = read_wandb(paths, **options)
    table_files.write_runs(frame, target)
    return frame

