"""Seed noise: the run-to-run scatter of otherwise identical runs that differ only in their seed.

A new run measures its loss with this scatter on top of whatever a law predicts, so an interval
for a new run's loss must include it (issue 12, part 4). A ladder spec can repeat its smallest
sizes with more seeds (`ladder.repeat_seeds`, `ladder.repeat_sizes`); `seed_scatter` measures
the scatter from such a table:

    from scaling import read_runs
    from scaling.engine.seeds import seed_scatter
    scatter = seed_scatter(read_runs("data/cpu_tiny/runs.parquet"))
    scatter.sigma          # pooled std of log(loss) between seeds: 0.01 is 1% of the loss

Each run contributes its final row (`scaling.data.runs.final_rows`). Final rows that share the value
of every key column (by default the columns of `DEFAULT_KEYS` the table has) form a group; a group
with at least two distinct seeds gives a sample standard deviation s_g of the target over its
n_g seeds (in log space by default: a relative scatter, the same at every loss scale; `space=
"linear"` for accuracies). The groups pool into one variance weighted by their degrees of freedom,

    sigma² = Σ_g (n_g − 1) s_g² / Σ_g (n_g − 1),     dof = Σ_g (n_g − 1),

which assumes one scatter for every group (it mixes sizes and budgets; `groups` has each one's
own std to check that). No group with two seeds (a table without a `seed` column, or without
repeats) gives sigma = nan and dof = 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from scaling.errors import ScalingError
from scaling.data.runs import final_rows

# Columns that identify a run's configuration apart from its seed (those the table has).
DEFAULT_KEYS = ("params", "tokens", "vocab_size", "width", "depth", "heads", "context",
                "batch_size", "schedule", "dataset", "parametrization", "params_active")
SPACES = ("log", "linear")


@dataclass(frozen=True)
class SeedGroup:
    """Final rows of runs that share every key and differ in their seed."""

    key: tuple                    # ((column, value), ...) shared by the group's runs
    runs: tuple                   # run ids, in seed order
    seeds: tuple                  # their seeds
    values: tuple                 # their targets at the final row (as in the table)
    std: float                    # sample std (ddof 1) of the targets, in the scatter's space

    @property
    def n_seeds(self) -> int:
        return len(self.seeds)

    @property
    def description(self) -> str:
        """The group in words: its first run's id and its seeds."""
        return f"{self.runs[0]} (seeds {', '.join(str(s) for s in self.seeds)})"


@dataclass(frozen=True)
class SeedScatter:
    """The pooled seed scatter of a run table (`seed_scatter`)."""

    sigma: float                  # pooled std between seeds (log space: relative, 0.01 = 1%)
    dof: int                      # pooled degrees of freedom, Σ (n_g − 1)
    n_groups: int                 # groups with at least two seeds
    groups: tuple                 # the SeedGroups, in table order
    target: str = "loss"
    space: str = "log"
    keys: tuple = ()              # the columns that define a group

    def line(self) -> str:
        """One line: the scatter, its degrees of freedom and its groups."""
        if not self.dof:
            return f"seed scatter of {self.target}: no runs repeated with another seed"
        what = f"log({self.target})" if self.space == "log" else self.target
        size = f"{self.sigma:.3g} ({100 * self.sigma:.2f}%)" if self.space == "log" \
            else f"{self.sigma:.3g}"
        return (f"seed scatter of {what}: sigma {size}, {self.dof} degrees of freedom from "
                f"{self.n_groups} group(s) of runs that differ only in their seed")


def seed_scatter(frame: pd.DataFrame, target: str = "loss", keys=None,
                 space: str = "log") -> SeedScatter:
    """The pooled standard deviation of `target` (of its log with `space="log"`) between the
    final rows of runs that share every column of `keys` and differ in `seed`.

    `keys`: the columns that make runs otherwise identical (default: those of `DEFAULT_KEYS` the
    table has). Final rows whose seed or target is missing are left out. Two runs of one group
    with the same seed differ in something the keys leave out: an error (pass `keys`)."""
    if space not in SPACES:
        raise ScalingError(f"seed scatter: space must be one of {', '.join(SPACES)}, "
                           f"got {space!r}")
    source = frame.attrs.get("source", "run table")
    if target not in frame.columns:
        raise ScalingError(f"{source}: no column {target!r} to measure the seed scatter of")
    if keys is None:
        keys = tuple(k for k in DEFAULT_KEYS if k in frame.columns)
    else:
        keys = tuple([keys] if isinstance(keys, str) else keys)
        missing = [k for k in keys if k not in frame.columns]
        if missing:
            raise ScalingError(f"{source}: seed scatter key {missing[0]!r} is not a column")
        if "seed" in keys:
            raise ScalingError(f"{source}: seed scatter keys must not include 'seed'")
    empty = SeedScatter(math.nan, 0, 0, (), target, space, keys)
    if "seed" not in frame.columns or not len(frame):
        return empty
    final = final_rows(frame)
    final = final[final["seed"].notna() & final[target].notna()]
    if not len(final):
        return empty
    values = final[target].astype(float)
    if space == "log":
        bad = values[~(values > 0)]
        if len(bad):
            raise ScalingError(f"{source}: column {target!r}, row {bad.index[0]}: "
                               f"{bad.iloc[0]!r} has no log; use space='linear'")
    groups = []
    grouped = final.groupby(list(keys), sort=False, dropna=False) if keys \
        else [((), final)]
    for key, rows in grouped:
        seeds = rows["seed"]
        if seeds.nunique() < 2:
            continue
        twice = seeds[seeds.duplicated(keep=False)]
        if len(twice):
            runs = rows.loc[twice.index, "run"].tolist()
            raise ScalingError(
                f"{source}: runs {runs[0]!r} and {runs[1]!r} share seed {twice.iloc[0]:g} and "
                f"every seed scatter key ({', '.join(keys) or 'none'}): they differ in "
                "something else; pass the keys that tell them apart")
        rows = rows.sort_values("seed", kind="stable")
        measured = rows[target].astype(float).to_numpy()
        spread = np.log(measured) if space == "log" else measured
        key = key if isinstance(key, tuple) else (key,)
        groups.append(SeedGroup(
            key=tuple(zip(keys, (_plain(v) for v in key))), runs=tuple(rows["run"]),
            seeds=tuple(_plain(s) for s in rows["seed"]),
            values=tuple(float(v) for v in measured), std=float(np.std(spread, ddof=1))))
    if not groups:
        return empty
    dof = sum(g.n_seeds - 1 for g in groups)
    pooled = sum((g.n_seeds - 1) * g.std ** 2 for g in groups) / dof
    return SeedScatter(float(math.sqrt(pooled)), int(dof), len(groups), tuple(groups), target,
                       space, keys)


def _plain(value):
    """A numpy scalar as a Python one (integral floats as int), for readable keys."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
