"""Run tables: read, validate, map columns, derive, filter, select final rows. The files
themselves (reading Parquet or CSV as they are, writing Parquet) are `scaling.data.table_files`'.

The contract is docs/run-table.md in the repository (version 1; its "At a glance" section is the
short version): one row per (run, evaluation point) with at
least `run`, `params`, `tokens`, `loss`. Rows are numbered from 1 in file order (the first data row
is row 1) and keep that number as the DataFrame index through every filter, so an error about a
row can always name the row of the file it came from.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from scaling.errors import ScalingError
from scaling.data.query import Query, parse as parse_query
from scaling.data.table_files import read_file

REQUIRED = ("run", "params", "tokens", "loss")
# Columns of the contract that hold numbers; `acc:<task>` and `loss:<task>` are numeric too.
NUMERIC = (
    "params", "tokens", "loss", "step", "flops", "lr", "params_nonembed", "vocab_size", "width",
    "depth", "characters", "loss_unigram", "tokens_per_char", "bits_per_char", "params_active",
    "seed", "unique_tokens", "epochs",
)
POSITIVE = ("params", "tokens", "flops")
# The contract's definition of `flops` when a table has none (docs/run-table.md): the
# 6·N·D training compute of Kaplan et al. 2020 (section 2.1). Laws with a compute model of their
# own say so (`Law.compute_formula`); none reads this column.
FLOPS_PER_PARAM_TOKEN = 6.0
STRING = ("run", "schedule", "dataset", "pruning")
# Physically sensible ranges: a value outside one is a unit, scale or parsing error (a loss of
# 5e-324 or 1e300, parameters in units of 1e-310), never a measurement, and it would move a fit
# without a word. `loss:<task>` columns take the loss's range in their own units.
SENSIBLE = {
    "params": (1.0, 1e15, "a parameter count (the largest models trained have about 2e12)"),
    "tokens": (1.0, 1e17, "training tokens (the largest runs have seen about 4e13)"),
    "unique_tokens": (1.0, 1e17, "distinct training tokens (the largest corpora hold about "
                                 "1e14)"),
    "flops": (1.0, 1e32, "training FLOPs (the largest runs have used about 5e25)"),
    "loss": (1e-6, 1e3, "a loss in nats per token (an untrained model's is about log V: "
                        "log 256 = 5.5, log 200,000 = 12.2; a trained one's lies below)"),
    "loss:": (1e-6, 1e3, "a task loss (the ladder's bits per byte of the correct option, or an "
                         "importer's ln perplexity)"),
}
DEDUPE = ("first", "last", "mean")


def _is_numeric_column(name: str) -> bool:
    return name in NUMERIC or name.startswith("acc:") or name.startswith("loss:")


def parse_mapping(items) -> dict[str, str]:
    """`["params=Model Size", ...]` → `{"params": "Model Size"}` (contract name = file column)."""
    mapping: dict[str, str] = {}
    for item in items or ():
        target, sep, source = str(item).partition("=")
        target, source = target.strip(), source.strip().strip("'\"")
        if not sep or not target or not source:
            raise ScalingError(f"bad --map {item!r}: expected CONTRACT_COLUMN=\"File column\"")
        if target in mapping and mapping[target] != source:        # the last does not win
            raise ScalingError(f"--map {target} given twice, {mapping[target]!r} and "
                               f"{source!r}: give it once")
        mapping[target] = source
    return mapping


def read_runs(path, mapping: dict[str, str] | None = None, where: str | None = None,
              columns=(), dedupe: str | None = None) -> pd.DataFrame:
    """Read a run table (Parquet or CSV), map, apply `where`, validate the rows it keeps,
    derive `flops` (and `epochs` where `unique_tokens` is given).

    `columns` names optional columns that the caller will use; they are validated like the
    required ones (present, numeric, finite, in a sensible range). Two rows of one run at one
    step (or, without a `step` column, at one `tokens`) are an error unless `dedupe` says which
    to keep: "first", "last" or "mean" (of every numeric column). The frame's `attrs["source"]`
    holds the path.
    `where` (a query, `scaling.data.query`; checked before the file is read) filters the file's rows
    first, reading the contract's numeric columns as numbers (a value that is not one, or is
    missing, is NaN there: a comparison with it is false) and `flops`/`epochs` as derived; the
    checks then hold the rows it keeps, so a bad row the query drops is no error, and an error
    about a kept row names the query. To filter after a law's derived columns (the LR areas of
    the curve laws), give the query to `Law.fit(runs, where=...)` instead.
    """
    path = Path(path)
    query = parse_query(where, "--where", path) if where else None
    frame = read_table(path, mapping)
    if query is not None:
        check_columns(frame, path, columns)
        searched = readable(frame, columns)
        keep = query_mask(searched, query, path)
        if not keep.any():
            raise ScalingError(f"{path}: --where {query.text!r} matches no rows")
        frame = frame[keep]
    try:
        frame = validate(frame, path, columns, dedupe)
    except ScalingError as error:
        if query is None:
            raise
        raise ScalingError(f"{error} (checked on the rows --where {query.text!r} keeps)") \
            from None
    frame = derive_columns(frame)
    frame.attrs["source"] = str(path)
    if query is not None:
        frame.attrs["where"] = query.text
        frame.attrs["cut_runs"] = cut_runs(_finals_of(searched), frame)
    return frame


def read_for_fit(path, mapping: dict[str, str] | None = None, *, queried: bool = False,
                 columns=(), dedupe: str | None = None) -> pd.DataFrame:
    """The run table a fit reads: as the file has it when queries pick the rows (`queried`: the
    law then checks only the rows they keep, `scaling.data.prepare`), else read and checked
    with the law's `columns` (`read_runs`). `scaling fit` and `scaling.fit` read through here."""
    if queried:
        return read_table(path, mapping)
    return read_runs(path, mapping=mapping, columns=columns, dedupe=dedupe)


def read_table(path, mapping: dict[str, str] | None = None) -> pd.DataFrame:
    """A run table as the file has it, mapped, with rows numbered from 1 and
    `attrs["source"]`, but not yet validated: for a caller that checks only the rows its
    queries keep (`scaling.data.prepare.prepare_where`); `read_runs` is this, then the checks."""
    path = Path(path)
    frame = read_file(path, _text_columns(mapping or {}))
    frame = apply_mapping(frame, mapping or {}, path)
    if len(frame) == 0:
        raise ScalingError(f"{path}: the file has no rows")
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="row")
    frame.attrs["source"] = str(path)
    return frame


def readable(frame: pd.DataFrame, columns=()) -> pd.DataFrame:
    """An unvalidated table as a query reads it (`_searchable`), with `flops` and `epochs`
    derived where the table has none; a validated table comes back with the same values."""
    return derive_columns(_searchable(frame, columns))


def derive_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """`flops` (6·N·D) and `epochs` (tokens / unique_tokens) where the table has none (in
    place; `params` and `tokens` must be numbers)."""
    if "flops" not in frame.columns:
        frame["flops"] = FLOPS_PER_PARAM_TOKEN * frame["params"] * frame["tokens"]
    if "epochs" not in frame.columns and "unique_tokens" in frame.columns:
        unique = pd.to_numeric(frame["unique_tokens"], errors="coerce")
        frame["epochs"] = frame["tokens"] / unique       # NaN on rows without a cap
    return frame


def _searchable(frame: pd.DataFrame, columns=()) -> pd.DataFrame:
    """The unvalidated table as a query reads it: run ids as text, the contract's numeric
    columns (and `columns`) as numbers, NaN where a cell is not one; `final` as true/false."""
    searched = frame.copy()
    searched["run"] = frame["run"].where(frame["run"].isna(), frame["run"].astype(str))
    for column in searched.columns:
        if column in STRING or column == "final" or searched[column].dtype == bool:
            continue
        if _is_numeric_column(column) or column in columns:
            searched[column] = pd.to_numeric(searched[column], errors="coerce").astype(float)
    if "final" in searched.columns and searched["final"].dtype != bool:
        words = searched["final"].astype(str).str.strip().str.lower()
        searched["final"] = words.isin(["true", "1", "1.0"]).to_numpy()
    return searched.copy()           # one block per dtype (a column at a time fragments it)


def _finals_of(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows `final_rows` can read (a run id, a number of tokens): on a validated table,
    every row."""
    usable = frame["run"].notna() & np.isfinite(pd.to_numeric(frame["tokens"], errors="coerce")
                                                .to_numpy(float))
    return frame if usable.all() else frame[usable.to_numpy()]


def _text_columns(mapping: dict[str, str]) -> tuple[str, ...]:
    """The file columns read as text (`STRING`: id-like columns), under their file names."""
    return tuple(dict.fromkeys([*STRING, *(source for target, source in mapping.items()
                                           if target in STRING)]))



def apply_mapping(frame: pd.DataFrame, mapping: dict[str, str], path) -> pd.DataFrame:
    """Rename file columns to contract names; a contract column already present is replaced."""
    for target, source in mapping.items():
        if source not in frame.columns:
            raise ScalingError(f"{path}: --map {target}={source!r}: the file has no column "
                               f"{source!r} (it has {', '.join(map(str, frame.columns))})")
    renamed = frame.drop(columns=[t for t in mapping if t in frame.columns
                                  and t not in mapping.values()])
    return renamed.rename(columns={source: target for target, source in mapping.items()})


def check_columns(frame: pd.DataFrame, path, columns=()) -> None:
    """The required columns, and `columns` (but `flops`, and `epochs` beside `unique_tokens`:
    derived when absent), are in the table."""
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise ScalingError(f"{path}: missing required column {missing[0]!r} (columns: "
                           f"{', '.join(map(str, frame.columns))}; map one with --map "
                           f"{missing[0]}=\"Your column\")")
    for column in columns:
        if column not in frame.columns and not (
                column == "flops" or (column == "epochs" and "unique_tokens" in frame.columns)):
            raise ScalingError(f"{path}: missing column {column!r}, which this law needs")


def validate(frame: pd.DataFrame, path, columns=(), dedupe: str | None = None,
             skip=()) -> pd.DataFrame:
    """Check the contract's rules on the required columns and on `columns`; return a clean copy
    (with duplicate rows of a run resolved by `dedupe`, see `read_runs`). The columns in `skip`
    are left unchecked (a law's target on rows it derives from but does not fit)."""
    check_columns(frame, path, columns)
    frame = frame.copy()
    frame["run"] = _as_run_ids(frame["run"], path)
    checked = list(dict.fromkeys([*REQUIRED[1:], *columns,
                                  *[c for c in frame.columns if c in POSITIVE]]))
    for column in [c for c in checked if c not in skip]:
        if column not in frame.columns:
            continue  # flops, epochs: derived when absent (check_columns)
        if column in STRING or not (_is_numeric_column(column) or column in columns):
            continue
        frame[column] = as_finite_numbers(frame[column], column, path)
        if column in POSITIVE:
            bad = frame.index[frame[column] <= 0]
            if len(bad):
                raise ScalingError(f"{path}: column {column!r}, row {bad[0]}: "
                                   f"must be positive, got {frame.at[bad[0], column]:g}")
        check_sensible(frame[column], column, path)
    _check_constant_per_run(frame, "params", path)
    frame = _duplicates(frame, path, dedupe)
    if "final" in frame.columns:
        frame["final"] = _as_booleans(frame["final"], path)
    return frame


def sensible_range(column: str):
    """(low, high, what the column holds) of a column with a sensible range, else None."""
    return SENSIBLE.get("loss:" if column.startswith("loss:") else column)


def check_sensible(values: pd.Series, column: str, path) -> None:
    """A one-line error at the first positive value outside the column's sensible range
    (`SENSIBLE`); values <= 0 are left to the checks that say what they must be."""
    bounds = sensible_range(column)
    if bounds is None:
        return
    low, high, what = bounds
    bad = values.index[(values > 0) & ((values < low) | (values > high))]
    if len(bad):
        raise ScalingError(f"{path}: column {column!r}, row {bad[0]}: {values.at[bad[0]]:g} is "
                           f"outside the sensible range [{low:g}, {high:g}] for {what}; check "
                           "the column's units")


def check_measured_target(target: str, inputs, law_name: str) -> None:
    """A law's target (`--set target=…`) must be a measured column: not one of the law's
    `inputs`, nor a column of the contract that describes the run (its id, size, tokens,
    compute, step, LR, text columns); a non-numeric column of the file is the reader's
    one-line error."""
    measured = {"loss", "loss_unigram", "bits_per_char"}
    if target in inputs:
        why = f"is one of the {law_name} law's inputs ({', '.join(inputs)})"
    elif target in STRING or target == "final":
        why = "is not a number (the contract's column of text)"
    elif target in NUMERIC and target not in measured:
        why = "describes the run rather than measuring it (a column of the contract)"
    else:
        return
    raise ScalingError(f"--set target={target}: {target!r} {why}; the target is what the law "
                       "predicts: a measured column such as loss, loss:<task> or acc:<task>")


def check_sensible_inputs(values, column: str, option: str) -> None:
    """`check_sensible` for the values of a command-line option (`--params 1e-310`)."""
    bounds = sensible_range(column)
    if bounds is None:
        return
    low, high, what = bounds
    for value in np.ravel(np.asarray(values, float)):
        if value > 0 and not low <= value <= high:
            raise ScalingError(f"{option} {value:g} is outside the sensible range "
                               f"[{low:g}, {high:g}] for {what}")


def _duplicates(frame: pd.DataFrame, path, dedupe: str | None) -> pd.DataFrame:
    """Two rows of one run at one step (at one `tokens` without a usable `step` column): an
    error naming both rows, or resolved by `dedupe` ("first", "last" or "mean")."""
    step = pd.to_numeric(frame["step"], errors="coerce") if "step" in frame.columns else None
    at = "step" if step is not None and step.notna().all() else "tokens"
    keys = pd.DataFrame({"run": frame["run"],
                         at: step if at == "step" else frame["tokens"]}, index=frame.index)
    twice = keys.duplicated(keep=False)
    if not twice.any():
        return frame
    if dedupe is None:
        first = keys.index[twice][0]
        same = keys.index[twice & (keys["run"] == keys.at[first, "run"])
                          & (keys[at] == keys.at[first, at])]
        second = same[1]
        if "loss" in frame.columns and frame.at[first, "loss"] != frame.at[second, "loss"]:
            values = f"losses {frame.at[first, 'loss']:g} and {frame.at[second, 'loss']:g}"
        else:
            values = "the same loss"
        raise ScalingError(f"{path}: rows {first} and {second} are both run "
                           f"{keys.at[first, 'run']!r} at {at} {keys.at[first, at]:g} "
                           f"({values}); a run has one row per evaluation: remove one, or give "
                           "--dedupe first|last|mean")
    if dedupe not in DEDUPE:
        raise ScalingError(f"--dedupe must be one of {', '.join(DEDUPE)}, got {dedupe!r}")
    if dedupe in ("first", "last"):
        return frame[~keys.duplicated(keep=dedupe)]
    kept = frame[~keys.duplicated(keep="first")].copy()
    numeric = [c for c in frame.columns if c not in ("run", at) and frame[c].dtype != bool
               and pd.api.types.is_numeric_dtype(frame[c])]
    means = frame[numeric].groupby([keys["run"], keys[at]], sort=False).transform("mean")
    kept[numeric] = means.loc[kept.index]
    return kept


def _as_run_ids(values: pd.Series, path) -> pd.Series:
    empty = values.isna() | (values.astype(str).str.strip() == "")
    if empty.any():
        raise ScalingError(f"{path}: column 'run', row {values.index[empty][0]}: empty run id")
    return values.astype(str)


def as_finite_numbers(values: pd.Series, column: str, path) -> pd.Series:
    if values.dtype == bool:
        raise ScalingError(f"{path}: column {column!r}: holds booleans, expected numbers")
    numbers = pd.to_numeric(values, errors="coerce")
    not_number = numbers.isna() & values.notna()
    if not_number.any():
        row = values.index[not_number][0]
        text = str(values.at[row])
        hint = "; a decimal comma? write numbers with a decimal point" \
            if re.fullmatch(r"\s*-?\d+,\d+\s*", text) else ""
        raise ScalingError(f"{path}: column {column!r}, row {row}: not a number "
                           f"({text[:40]!r}){hint}")
    numbers = numbers.astype(float)
    bad = ~np.isfinite(numbers.to_numpy())
    if bad.any():
        row = values.index[bad][0]
        what = "missing value (NaN)" if np.isnan(numbers.at[row]) else f"{numbers.at[row]} (not finite)"
        raise ScalingError(f"{path}: column {column!r}, row {row}: {what}")
    return numbers


def _as_booleans(values: pd.Series, path) -> pd.Series:
    if values.dtype == bool:
        return values
    words = values.astype(str).str.strip().str.lower()
    known = {"true": True, "1": True, "1.0": True, "false": False, "0": False, "0.0": False,
             "nan": False, "none": False, "": False}
    unknown = ~words.isin(list(known))
    if unknown.any():
        row = values.index[unknown][0]
        raise ScalingError(f"{path}: column 'final', row {row}: expected true/false, "
                           f"got {values.at[row]!r}")
    return words.map(known).astype(bool)


def _check_constant_per_run(frame: pd.DataFrame, column: str, path) -> None:
    first = frame.groupby("run", sort=False)[column].transform("first")
    changed = ~np.isclose(frame[column], first, rtol=1e-9, atol=0)
    if changed.any():
        row = frame.index[changed][0]
        raise ScalingError(f"{path}: column {column!r}, row {row}: run {frame.at[row, 'run']!r} "
                           f"changes {column} from {first.at[row]:g} to {frame.at[row, column]:g}")


def filter_rows(frame: pd.DataFrame, where, path=None, option: str = "--where") -> pd.DataFrame:
    """Keep the rows matching a query (`params < 1e9 and tokens > 1e10`; `scaling.data.query` says
    what a query may hold: it is data, checked and evaluated without running any code).

    `final_<column>` in a query is each run's value of `<column>` on its final row (the table
    has no such column of its own), so `final_epochs <= 4` keeps whole runs, where
    `epochs <= 4` keeps the early rows of every run. `attrs["cut_runs"]` gains the runs the
    query kept without their final rows: {run: [tokens of the last row kept, of the final row]}
    (a final-row law would read such a run as if it ended there; `scaling.engine.diagnostics`)."""
    path = path or frame.attrs.get("source", "run table")
    query = where if isinstance(where, Query) else parse_query(where, option, path)
    kept = frame[query_mask(frame, query, path)]
    if len(kept) == 0:
        raise ScalingError(f"{path}: {option} {query.text!r} matches no rows")
    kept.attrs = dict(frame.attrs)
    kept.attrs["cut_runs"] = cut_runs(_finals_of(frame), kept)
    return kept


def query_mask(frame: pd.DataFrame, query: Query, path) -> np.ndarray:
    """The rows of `frame` a checked query keeps (with its `final_<column>` columns)."""
    return query.mask(_with_final_columns(frame, query.columns), path)


FINAL_PREFIX = "final_"


def _with_final_columns(frame: pd.DataFrame, names) -> pd.DataFrame:
    """`frame` with the `final_<column>` columns a query names (each run's final-row value)."""
    wanted = {name[len(FINAL_PREFIX):] for name in names
              if name.startswith(FINAL_PREFIX) and name not in frame.columns
              and name[len(FINAL_PREFIX):] in frame.columns}
    if not wanted:
        return frame
    last = final_rows(_finals_of(frame)).set_index("run")
    return frame.assign(**{f"{FINAL_PREFIX}{name}": frame["run"].map(last[name])
                           for name in sorted(wanted)})


def cut_runs(frame: pd.DataFrame, kept: pd.DataFrame) -> dict[str, list[float]]:
    """{run: [tokens of its last kept row, of its final row]} for the runs `kept` (rows of
    `frame`) holds without their final row; a run `frame` had already cut
    (`frame.attrs["cut_runs"]`) keeps the final tokens of the table it was cut from."""
    finals = final_rows(frame).set_index("run")["tokens"].to_dict()
    finals.update({run: tokens[1] for run, tokens in (frame.attrs.get("cut_runs") or {}).items()})
    last_kept = kept.groupby("run", sort=False)["tokens"].max()
    return {str(run): [float(tokens), float(finals[run])] for run, tokens in last_kept.items()
            if run in finals and tokens < finals[run]}


def final_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per run: the row marked `final`, else the row with the most tokens."""
    marked = frame[frame["final"]] if "final" in frame.columns else frame.iloc[:0]
    if len(marked):
        path = frame.attrs.get("source", "run table")
        twice = marked["run"].duplicated()
        if twice.any():
            row = marked.index[twice][0]
            raise ScalingError(f"{path}: column 'final', row {row}: run "
                               f"{marked.at[row, 'run']!r} has more than one final row")
    unmarked = frame[~frame["run"].isin(marked["run"])]
    by_tokens = unmarked.loc[unmarked.groupby("run", sort=False)["tokens"].idxmax()]
    chosen = pd.concat([marked, by_tokens]).sort_index()
    chosen.attrs = dict(frame.attrs)
    return chosen
