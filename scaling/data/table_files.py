"""Run-table files as they are: reading a Parquet or CSV file (a CSV's separator found, its
header and separators checked, its id-like columns kept as text), and writing a run table as
Parquet with the contract's metadata key. What the rows must hold (the contract,
docs/run-table.md) is `scaling.data.runs`', which reads its tables through `read_file`.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from scaling.errors import ScalingError
from scaling.output.atomic import atomic_path

CONTRACT_VERSION = "1"
METADATA_KEY = b"scaling.run_table"
SEPARATORS = (",", ";", "\t", "|")


def read_file(path: Path, text_columns) -> pd.DataFrame:
    """A Parquet or CSV file as it is; a CSV's `text_columns` (the contract's id-like columns,
    `scaling.data.runs.STRING`, under the file's names) are read as text, so run `01` stays
    `01` (not the number 1, which run `1` is too) and `1e3` stays apart from `1000`."""
    if not path.exists():
        raise ScalingError(f"{path}: no such file")
    if path.is_dir():
        raise ScalingError(f"{path}: is a directory, not a run table")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            _check_unique(path, pq.read_schema(path).names)
            return pd.read_parquet(path)
        if suffix in (".csv", ".tsv", ".txt"):
            if path.stat().st_size == 0:
                raise ScalingError(f"{path}: the file is empty")
            separator = "\t" if suffix == ".tsv" else _separator(path)
            _check_header(path, separator)
            _check_separators(path, separator)
            return pd.read_csv(path, sep=separator,
                               dtype={column: str for column in text_columns})
    except ScalingError:
        raise
    except pd.errors.EmptyDataError:
        raise ScalingError(f"{path}: the file is empty") from None
    except Exception as exc:  # corrupt Parquet, malformed CSV: the reader's reason, one line
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ScalingError(f"{path}: cannot read as {suffix[1:]} ({reason})") from None
    raise ScalingError(f"{path}: unknown file type {suffix or '(none)'!r}; use .parquet or .csv")


def _separator(path: Path) -> str:
    """The CSV's separator: of , ; tab and |, the one its header line holds most of (a comma
    when tied), so a `;`-separated export reads as it is."""
    with open(path, newline="", encoding="utf-8", errors="replace") as handle:
        header = handle.readline()
    counts = {separator: header.count(separator) for separator in SEPARATORS}
    best = max(SEPARATORS, key=lambda separator: counts[separator])
    return best if counts[best] > counts[","] else ","


def _check_separators(path: Path, separator: str, sample: int = 50) -> None:
    """A header separated by one character and data rows by another (`run;params;...` over
    `a,1e8,...`) is an error naming both: read with the header's, every row would be one field
    and its other columns missing. Checked on the first `sample` non-blank data rows: none of
    them holds the header's separator, and every one holds the same other one."""
    with open(path, newline="", encoding="utf-8", errors="replace") as handle:
        header = handle.readline()
        if separator not in header:
            return                                   # one column: nothing to disagree
        rows = []
        for line in handle:
            if line.strip():
                rows.append(line)
            if len(rows) >= sample:
                break
    if not rows or any(separator in row for row in rows):
        return
    others = [s for s in SEPARATORS if s != separator and all(s in row for row in rows)]
    if not others:
        return
    other = max(others, key=lambda s: rows[0].count(s))
    raise ScalingError(f"{path}: the separators disagree: the header is separated by "
                       f"{separator!r} but the data rows by {other!r} (the first data row: "
                       f"{rows[0].strip()[:60]!r}); use one separator throughout")


def _check_header(path: Path, separator: str) -> None:
    """A column named twice is an error (pandas would rename the second to `name.1`)."""
    with open(path, newline="", encoding="utf-8", errors="replace") as handle:
        header = next(csv.reader(handle, delimiter=separator), [])
    _check_unique(path, header)


def _check_unique(path: Path, header) -> None:
    seen: dict[str, int] = {}
    for position, name in enumerate(header, start=1):
        if name in seen:
            raise ScalingError(f"{path}: column {name!r} appears twice in the header (columns "
                               f"{seen[name]} and {position}); rename or drop one")
        seen[name] = position


def write_runs(frame: pd.DataFrame, path) -> Path:
    """Write a run table as Parquet, atomically, with the contract's metadata key."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
    metadata = dict(table.schema.metadata or {})
    metadata[METADATA_KEY] = CONTRACT_VERSION.encode()
    table = table.replace_schema_metadata(metadata)
    with atomic_path(path) as temporary:
        pq.write_table(table, temporary)
    return Path(path)


def contract_version(path) -> str | None:
    """The `scaling.run_table` metadata value of a Parquet file, or None."""
    import pyarrow.parquet as pq

    metadata = pq.read_schema(path).metadata or {}
    value = metadata.get(METADATA_KEY)
    return value.decode() if value is not None else None
