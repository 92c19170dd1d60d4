"""Epoch AI's extraction of the Chinchilla runs (Besiroglu et al. 2024) to a run table.

The CSV (`svg_extracted_data.csv`) has one row per run with `Model Size` (N), `Training FLOP` (C)
and `loss`; like Epoch's analysis we take D = C / (6 N). Runs are named `chinchilla-NNN` in file
order.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from scaling.data import runs as run_tables
from scaling.data.table_files import read_file, write_runs
from scaling.errors import ScalingError

COLUMNS = {"params": "Model Size", "flops": "Training FLOP", "loss": "loss"}


def read_epoch_chinchilla(path) -> pd.DataFrame:
    """The Epoch CSV as a validated run table: run, params, tokens, flops, loss."""
    path = Path(path)
    raw = read_file(path, run_tables.STRING)
    missing = [c for c in COLUMNS.values() if c not in raw.columns]
    if missing:
        raise ScalingError(f"{path}: missing column {missing[0]!r}; not Epoch's Chinchilla CSV")
    table = pd.DataFrame({
        "run": [f"chinchilla-{k:03d}" for k in range(len(raw))],
        "params": raw[COLUMNS["params"]].astype(float),
        "tokens": raw[COLUMNS["flops"]].astype(float) / (6.0 * raw[COLUMNS["params"]].astype(float)),
        "flops": raw[COLUMNS["flops"]].astype(float),
        "loss": raw[COLUMNS["loss"]].astype(float),
    })
    table.index = pd.RangeIndex(1, len(table) + 1, name="row")
    table = run_tables.validate(table, path)
    table.attrs["source"] = str(path)
    return table



def convert(source, target) -> None:
    """Write the Epoch CSV at `source` as a contract Parquet run table at `target`."""
    write_runs(read_epoch_chinchilla(source), target)
