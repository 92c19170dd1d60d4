"""A run table made ready for one law: validated, the law's derived columns added, the rows a
query keeps picked (`PreparedRuns`), and the least-squares problems a fit solves (`Problem`).

The functions here are the data preparation every law shares; a law reaches them through its
`prepare` method (`scaling.laws.base.Law`), which a law may extend (the muP law decides its terms
from the table), and `prepare_where` and `prepare_rows` take the law and end in its `prepare`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd

from scaling.data import lr_history as learning_rates
from scaling.data import runs as run_tables
from scaling.data.evaluations import anchors
from scaling.engine import fitting
from scaling.errors import ScalingError


@dataclass
class PreparedRuns:
    """A run table made ready for one law: validated, with the columns the law derives, and the
    per-run learning rates (`{run: LR of updates 1 … last}`) when the law reads them.

    Filtering happens after deriving (`select`), so thinning rows never loses what the derived
    columns were computed from (the LR of every step, for example)."""

    frame: pd.DataFrame
    source: str
    lr_histories: dict[str, np.ndarray] | None = None
    where: tuple[str, ...] = field(default_factory=tuple)
    lr_sources: dict[str, str] | None = None   # {run: where its LRs came from}, for reports

    @property
    def cut_runs(self) -> dict[str, list[float]]:
        """{run: [tokens of its last row here, of its final row]}: the runs a query kept
        without their final rows (`scaling.data.runs.filter_rows`)."""
        held = set(self.frame["run"])
        return {run: tokens for run, tokens in (self.frame.attrs.get("cut_runs") or {}).items()
                if run in held}

    def with_frame(self, frame: pd.DataFrame) -> "PreparedRuns":
        """These runs' other rows (`frame`, rows of this table), with their learning rates."""
        return PreparedRuns(frame, self.source, self.lr_histories)

    def select(self, query: str, option: str = "--where") -> "PreparedRuns":
        kept = run_tables.filter_rows(self.frame, query, self.source, option)
        return PreparedRuns(kept, self.source, self.lr_histories, (*self.where, query),
                            self.lr_sources)

    def rows_at(self, kept: pd.DataFrame, query: str | None = None) -> "PreparedRuns":
        """The rows at the index of `kept` (rows a query picked, `scaling.data.runs.filter_rows`,
        whose `attrs["cut_runs"]` they take), recording `query`."""
        frame = self.frame[self.frame.index.isin(kept.index)]
        frame.attrs = {**self.frame.attrs, "cut_runs": dict(kept.attrs.get("cut_runs") or {})}
        return PreparedRuns(frame, self.source, self.lr_histories,
                            (*self.where, query) if query else self.where, self.lr_sources)

    def lr_sources_of_rows(self) -> dict[str, str] | None:
        """{run: LR source} of the runs these rows hold (None for laws without LRs)."""
        if self.lr_sources is None:
            return None
        return {run: self.lr_sources[run] for run in pd.unique(self.frame["run"])
                if run in self.lr_sources}


@dataclass
class Problem:
    """One least-squares problem of a fit: a model (the law, or one step of a chained law), the
    rows it fits, their inputs and the target in the model's residual space."""

    model: Any           # the law, or one step of a chained law
    points: pd.DataFrame
    inputs: dict
    target: np.ndarray


def distinct_positive(column) -> np.ndarray:
    """The distinct positive values of a column (equal to 6 digits of their log), sorted."""
    values = pd.to_numeric(column, errors="coerce").to_numpy(float)
    values = values[np.isfinite(values) & (values > 0)]
    return np.exp(np.unique(np.round(np.log(values), 6)))


def run_groups(points: pd.DataFrame, source) -> np.ndarray:
    """The bootstrap's group of each point: its run, or `fitting.ALWAYS` for anchor points
    (`scaling.data.evaluations.ANCHOR`), which every resample keeps; at least 2 runs."""
    runs = points["run"].astype(str).to_numpy()
    fixed = anchors(points)
    if len(set(runs[~fixed])) < 2:
        raise ScalingError(f"{source}: the bootstrap needs at least 2 runs")
    return np.where(fixed, fitting.ALWAYS, runs)


# -- preparing a run table for a law --------------------------------------------------------------


def prepare(law, runs, lr_file=None) -> PreparedRuns:
    """Validate a run table and add the derived columns; returns `PreparedRuns`.

    `lr_file` (`scaling.data.lr_history.read_lr_file`) gives the LR of every step of some runs, for the
    laws that read learning rates; it wins over a run's `lr` and `schedule` columns."""
    if isinstance(runs, PreparedRuns):
        return runs
    law.check_settings()
    return prepare_table(law, runs, lr_file)


def prepare_table(law, runs, lr_file=None, dedupe: str | None = None) -> PreparedRuns:
    """`prepare` of a run table: every row checked (duplicates resolved by `dedupe`)."""
    source = str(runs.attrs.get("source", "run table"))
    table = run_tables.validate(runs, source, law.read_columns, dedupe)
    check_positive(law, table, source)
    check_range(law, table, source)
    histories, sources = lr_histories(law, table, source, lr_file)
    frame = law.derive(table, histories)
    frame.attrs["source"] = source
    frame.attrs["cut_runs"] = dict(runs.attrs.get("cut_runs") or {})
    where = runs.attrs.get("where")
    return PreparedRuns(frame, source, histories, (where,) if where else (), sources)


def lr_histories(law, table, source, lr_file):
    """(per-step LRs of the runs, {run: their source}) for the LR-schedule laws, else
    (None, None); an LR file for another law is an error."""
    if law.uses_lr_histories:
        sources = {}
        return learning_rates.per_step_lr(table, source, lr_file, sources), sources
    if lr_file is not None:
        raise ScalingError(f"--lr-file: the {law.name} law does not read learning rates "
                           "(only the LR-schedule laws do; see `scaling laws`)")
    return None, None


def prepare_where(law, runs, where, lr_file=None, *, dedupe: str | None = None) -> PreparedRuns:
    """`prepare`, then the rows the query `where` keeps, with the checks of `prepare` held
    on those rows only (`prepare_rows`): a bad row the query drops is no error, and an
    error about a row it keeps names the query. `dedupe` as in `scaling.data.runs.read_runs`."""
    if isinstance(runs, PreparedRuns):
        return law.prepare(runs).select(where)
    source = str(runs.attrs.get("source", "run table"))
    query = run_tables.parse_query(where, "--where", source)
    data, _ = prepare_rows(law, runs, lr_file, (query,),
                           lambda frame: run_tables.filter_rows(frame, query, source),
                           f"the rows --where {query.text!r} keeps", dedupe)
    data.where = (*data.where, query.text)
    return law.prepare(data)             # a law's own step on prepared rows (mup's terms)


def prepare_rows(law, runs: pd.DataFrame, lr_file, queries, pick: Callable, checked: str,
                 dedupe: str | None = None):
    """The rows of a run table that `pick` keeps, checked and with the derived columns:
    (`PreparedRuns` of those rows, the frame `pick` returned).

    `pick(frame)` gets every row of the table as `queries` read it (`scaling.data.runs.readable`:
    numbers where a cell is one, NaN where not; `flops` and `epochs` derived) and returns
    the rows it keeps (`scaling.data.runs.filter_rows`). Only those rows are checked (the rules
    of `prepare`; an error names `checked`, "the rows --where 'q' keeps"), so a bad or
    duplicate row the queries drop is no error. The derived columns are computed after the
    checks: from the kept rows, and for a law whose `derive` reads other rows of a run (the
    LR-schedule laws' per-step LRs; `derives_from_runs`: the sparse law's N̄) from every row
    of the kept rows' runs too, each checked in every column but the target (the kept rows
    win over another row at their step; a row at no step, or at one a row before it holds,
    is left out). A query that names a column only the law derives (`lr_area`) reads every
    row's value of it: then every row is checked, as by `prepare`."""
    law.check_settings()
    source = str(runs.attrs.get("source", "run table"))
    run_tables.check_columns(runs, source, law.read_columns)
    plain = run_tables.readable(runs, law.read_columns)
    names = {column for query in queries if query is not None for column in query.columns}
    if any(name not in plain.columns and not (
            name.startswith(run_tables.FINAL_PREFIX)
            and name[len(run_tables.FINAL_PREFIX):] in plain.columns) for name in names):
        data = prepare_table(law, runs, lr_file, dedupe)
        picked = pick(data.frame)
        return data.rows_at(picked), picked
    picked = pick(plain)
    try:
        table = run_tables.validate(runs.loc[picked.index], source, law.read_columns,
                                    dedupe)
        check_positive(law, table, source)
        check_range(law, table, source)
    except ScalingError as error:
        raise ScalingError(f"{error} (checked on {checked})") from None
    table = run_tables.derive_columns(table)                 # flops, epochs
    if law.uses_lr_histories or law.derives_from_runs:
        full = pd.concat([table, run_rows(law, runs, plain, picked, table, source,
                                                checked)]).sort_index()
        full.attrs = dict(table.attrs)
        try:
            histories, sources = lr_histories(law, full, source, lr_file)
            frame = law.derive(full, histories)
        except ScalingError as error:
            raise ScalingError(f"{error} ({whole_runs(law, checked)})") from None
    else:
        histories, sources = lr_histories(law, table, source, lr_file)
        frame = law.derive(table, histories)
    frame = frame[frame.index.isin(table.index)]
    frame = frame.astype({column: table[column].dtype for column in table.columns
                          if column in frame.columns
                          and frame[column].dtype != table[column].dtype})
    frame.attrs = {**frame.attrs, "source": source,
                   "cut_runs": dict(picked.attrs.get("cut_runs") or {})}
    where = runs.attrs.get("where")
    return PreparedRuns(frame, source, histories, (where,) if where else (), sources), \
        picked


def whole_runs(law, checked: str) -> str:
    return (f"the {law.name} law derives its inputs from every row of the runs of "
            f"{checked}")


def run_rows(law, runs, plain, picked, table, source, checked) -> pd.DataFrame:
    """The rows of the runs of `table` (the checked kept rows) that `picked` left out, for a
    `derive` that reads whole runs: checked in every column but the target (its value is
    NaN where not a number); a row at no step (no `step`: no tokens), or at the step of a
    kept row or of a row before it, is left out."""
    others = plain[plain["run"].isin(set(table["run"])) & ~plain.index.isin(picked.index)]
    if len(others) == 0:
        return others.iloc[:0]
    at = "step" if "step" in plain.columns else "tokens"
    position = np.isfinite(others[at].to_numpy(float))
    kept = set(zip(table["run"], table[at]))
    clash = np.array([(run, value) in kept for run, value in zip(others["run"], others[at])])
    others = others[position & ~clash & ~others.duplicated(["run", at]).to_numpy()]
    raw = runs.loc[others.index]
    try:
        checked_rows = run_tables.validate(raw, source, law.read_columns, None,
                                           skip=(law.target,))
        check_positive(law, checked_rows, source)
    except ScalingError as error:
        raise ScalingError(f"{error} ({whole_runs(law, checked)})") from None
    checked_rows[law.target] = others[law.target] if law.target in others.columns \
        else np.nan
    return run_tables.derive_columns(checked_rows)  # the other columns as the file has them


def check_positive(law, table: pd.DataFrame, source) -> None:
    """The `positive_columns` the table has, as finite numbers > 0 (converted in place), or
    a one-line error naming the file, the column and the first bad row."""
    for column in law.positive_columns:
        if column not in table.columns:
            continue
        values = run_tables.as_finite_numbers(table[column], column, source)
        bad = table.index[values <= 0]
        if len(bad):
            raise ScalingError(f"{source}: column {column!r}, row {bad[0]}: must be positive "
                               f"for the {law.name} law, got {values.at[bad[0]]:g}")
        table[column] = values


def check_range(law, table: pd.DataFrame, source) -> None:
    """Every row's target inside `target_range` (an accuracy in [0, 1]), checked on the raw
    table: a law that averages rows (the task laws) must not smooth a bad value away."""
    low, high = law.target_range
    if law.target not in table.columns or not (math.isfinite(low) or math.isfinite(high)):
        return
    values = pd.to_numeric(table[law.target], errors="coerce")
    bad = table.index[(values < low) | (values > high)]
    if len(bad):
        raise ScalingError(f"{source}: column {law.target!r}, row {bad[0]}: must be in "
                           f"[{low:g}, {high:g}] for the {law.name} law, got "
                           f"{values.at[bad[0]]:g}")


def check_points(law, points: pd.DataFrame, source) -> None:
    """One-line errors for rows a law cannot fit (`Law.check_points`)."""
    values = points[law.target]
    if law.space == "log":
        bad = points.index[values <= 0]
        if len(bad):
            raise ScalingError(f"{source}: column {law.target!r}, row {bad[0]}: must be "
                               f"positive for a fit in log space, got "
                               f"{points.at[bad[0], law.target]:g}")
    # (the target's range was checked on every row of the table: `check_range`)
    if points["run"].nunique() < 2 and law.rows == "final":
        raise ScalingError(f"{source}: only one run ({points['run'].iloc[0]!r}); "
                           f"the {law.name} law needs several runs to fit")
    needed = len(law.parameters) + 1
    if len(points) < needed:
        raise ScalingError(f"{source}: {len(points)} points for {len(law.parameters)} "
                           f"parameters; the {law.name} law needs at least {needed}")
    for column in law.power_inputs:
        distinct = distinct_positive(points[column])
        if len(distinct) < 3:
            values = ", ".join(f"{v:.4g}" for v in distinct)
            raise ScalingError(
                f"{source}: column {column!r} takes {len(distinct)} distinct value(s) "
                f"({values}); the {law.name} law cannot identify its {column} exponent "
                f"without at least 3")
