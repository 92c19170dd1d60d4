"""LR transfer: the best peak LR per width, under the standard parametrization and under muP,
from the run table of an LR sweep (`optimizer.lrs`; e.g. the bundled specs cpu-mup-lr and
cpu-mup-lr-sp, whose tables data/cpu_mup_lr/runs.parquet holds together).

muP's promise (Yang et al. 2022): the LR that is best at the base width stays best at every
width, so the best LR moves by at most one grid step across widths; under the standard
parametrization with Adam it falls as the width grows (roughly as 1/width for the hidden
matrices).

    $ scaling ladder lr-transfer data/cpu_mup_lr/runs.parquet --out-dir out/lr-transfer

    from ladders.lr_transfer import best_lr_table, plot_lr_transfer
    runs = pd.read_parquet("data/cpu_mup_lr/runs.parquet")
    print(best_lr_table(runs)); plot_lr_transfer(runs, "lr-transfer.png")

The command reads one or more run tables (an SP sweep and a muP sweep may be two files), prints
the table, warns where a width's best LR is at an end of its grid (the optimum is not bracketed:
extend the sweep), and writes best-lr.csv and lr-transfer.png.

Two readings of "the best LR": `best_lr`, the grid point with the lowest mean final loss (what
the issue's criterion names), and `fitted_lr`, the vertex of a parabola in log LR fitted to the
mean losses at that grid point and the 2 on each side (clipped to them): on a flat optimum, where
neighbouring grid points differ by less than the seed scatter, the argmin jumps between them
while the vertex does not. `movement` measures either in grid steps.

Each run's loss is its final row's held-out `loss` (its row with the most steps); a run that
diverged (`diverged` true, or a non-finite loss) counts as infinitely bad. Runs that differ only
by their seed are averaged (`mean_losses`): the best LR is the argmin of the mean final loss on
the LR grid. The peak LR is the `lr_peak` column (the swept value), else the `peak=` of the
`schedule` string.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from scaling.output.atomic import atomic_path
from scaling.data.schedules import parse


def final_losses(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per run: parametrization, width, lr_peak, loss (final row; inf if diverged)."""
    last = runs.loc[runs.groupby("run", sort=False)["step"].idxmax()].copy()
    if "lr_peak" not in last.columns:
        last["lr_peak"] = peak_lrs(last)
    loss = last["loss"].astype(float)
    if "diverged" in last.columns:
        loss = loss.where(~last["diverged"].fillna(False).astype(bool), math.inf)
    last["loss"] = loss.where(np.isfinite(loss), math.inf)
    if "seed" not in last.columns:
        last["seed"] = 0
    return last[["run", "parametrization", "width", "lr_peak", "seed", "loss"]] \
        .reset_index(drop=True)


def peak_lrs(runs: pd.DataFrame) -> list[float]:
    """The peak LR of each row, read from its `schedule` string (a table without `lr_peak`)."""
    return [parse(schedule).peak for schedule in runs["schedule"]]


def mean_losses(runs: pd.DataFrame) -> pd.DataFrame:
    """Per parametrization, width and peak LR: the final loss averaged over seeds (inf when any
    seed diverged), `std` across seeds and the number of `seeds`."""
    finals = final_losses(runs)
    grouped = finals.groupby(["parametrization", "width", "lr_peak"], sort=True)["loss"]
    return grouped.agg(loss="mean", std="std", seeds="count").reset_index()


def fitted_optimum(lrs, losses, half: int = 2) -> float:
    """The vertex of a parabola in log LR through the mean losses at the grid argmin and the
    `half` grid points on each side, clipped to that window; the argmin itself when the window
    has fewer than 3 finite points or the parabola opens downwards."""
    x, y = np.log(np.asarray(lrs, float)), np.asarray(losses, float)
    order = np.argsort(x)
    x, y = x[order], y[order]
    i = int(np.argmin(y))
    window = slice(max(0, i - half), min(len(x), i + half + 1))
    xs, ys = x[window], y[window]
    keep = np.isfinite(ys)
    if keep.sum() < 3:
        return float(np.exp(x[i]))
    a, b, _ = np.polyfit(xs[keep], ys[keep], 2)
    if not a > 0:
        return float(np.exp(x[i]))
    return float(np.exp(np.clip(-b / (2 * a), xs[keep].min(), xs[keep].max())))


def best_lr_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per parametrization and width: the best peak LR on the grid, its mean final loss and its
    std across seeds, its index on the parametrization's LR grid and `shift`, its grid steps
    from the best LR of the smallest width; `fitted_lr` (see the module docstring) and
    `fitted_shift`, its distance in grid steps (a float) from the smallest width's."""
    finals = mean_losses(runs)
    rows = []
    for parametrization, part in finals.groupby("parametrization", sort=True):
        grid = sorted(set(part["lr_peak"]))
        step = float(np.median(np.diff(np.log(grid)))) if len(grid) > 1 else 1.0
        first = first_fitted = None
        for width, at in part.groupby("width", sort=True):
            best = at.loc[at["loss"].idxmin()]
            index = grid.index(best["lr_peak"])
            fitted = fitted_optimum(at["lr_peak"], at["loss"])
            first = index if first is None else first
            first_fitted = fitted if first_fitted is None else first_fitted
            rows.append({"parametrization": parametrization, "width": int(width),
                         "best_lr": float(best["lr_peak"]), "loss": float(best["loss"]),
                         "std": float(best["std"]), "grid_index": index,
                         "shift": index - first, "fitted_lr": fitted,
                         "fitted_shift": math.log(fitted / first_fitted) / step,
                         "lrs": len(at), "seeds": int(best["seeds"])})
    return pd.DataFrame(rows)


def movement(table: pd.DataFrame, fitted: bool = False) -> dict[str, float]:
    """Per parametrization: how many grid steps the best LR spans across the widths (max grid
    index - min grid index; with `fitted`, the same of the fitted optima, a float)."""
    column = "fitted_shift" if fitted else "grid_index"
    spans = {p: float(part[column].max() - part[column].min())
             for p, part in table.groupby("parametrization")}
    return spans if fitted else {p: int(v) for p, v in spans.items()}


def best_lr_text(runs: pd.DataFrame) -> str:
    """`best_lr_table` as text, with how far each parametrization's best LR moves."""
    from scaling.output.format import table as text_table

    best = best_lr_table(runs)
    header = ("parametrization", "width", "best lr", "log2", "final loss", "seed std", "shift",
              "fitted lr", "log2 ", "shift ")
    body = [(r.parametrization, r.width, f"{r.best_lr:.4g}", f"{math.log2(r.best_lr):+.0f}",
             f"{r.loss:.4f}", f"{r.std:.4f}", f"{r.shift:+d}", f"{r.fitted_lr:.4g}",
             f"{math.log2(r.fitted_lr):+.2f}", f"{r.fitted_shift:+.2f}")
            for r in best.itertuples()]
    spans = ", ".join(f"{p}: {k} grid step(s)" for p, k in movement(best).items())
    fitted = ", ".join(f"{p}: {k:.2f}" for p, k in movement(best, fitted=True).items())
    return (text_table(header, body, right=header[1:])
            + f"\nbest LR on the grid moves across widths by: {spans}"
            + f"\nfitted best LR moves across widths by (grid steps): {fitted}")


def plot_lr_transfer(runs: pd.DataFrame, path) -> Path:
    """Mean final loss against peak LR (log2 axis), a line per width, a panel per
    parametrization; each width's best grid LR marked by a star, its fitted optimum by a dotted
    vertical line. Saved atomically."""
    from scaling.output.figure_style import figure_style, new_figure

    finals = mean_losses(runs)
    best = best_lr_table(runs)
    present = [p for p in ("standard", "mup") if p in set(finals["parametrization"])]
    shown = finals[np.isfinite(finals["loss"])]
    low, high = shown["loss"].min(), shown["loss"].quantile(0.9)
    with figure_style():
        figure = new_figure(4.2 * len(present), 3.6)
        axes = figure.subplots(1, len(present), sharey=True, squeeze=False)[0]
        for ax, parametrization in zip(axes, present):
            part = finals[finals["parametrization"] == parametrization]
            for k, (width, at) in enumerate(part.groupby("width", sort=True)):
                at = at.sort_values("lr_peak")
                line, = ax.plot(at["lr_peak"], at["loss"].where(np.isfinite(at["loss"])),
                                marker="o", ms=3, label=f"width {width}")
                mark = best[(best["parametrization"] == parametrization)
                            & (best["width"] == width)].iloc[0]
                ax.plot([mark["best_lr"]], [mark["loss"]], marker="*", ms=12,
                        color=line.get_color())
                ax.axvline(mark["fitted_lr"], color=line.get_color(), lw=0.8, ls=":")
            ax.set_xscale("log", base=2)
            ax.set_ylim(low - 0.02 * (high - low), high)
            ax.set_xlabel("peak LR" + (" (at the base width)" if parametrization == "mup" else ""))
            ax.set_title("muP" if parametrization == "mup" else "standard")
            ax.legend(fontsize="small")
        axes[0].set_ylabel("final held-out loss, mean over seeds")
        with atomic_path(path) as temporary:
            figure.savefig(temporary, format=Path(path).suffix[1:] or "png")
    return Path(path)


MIN_LRS = 3     # a parabola's vertex, and an argmin that is not at an end, need 3 LRs a width


def read_sweep(paths) -> pd.DataFrame:
    """The run tables of an LR sweep, read, checked and joined: one-line `ScalingError`s name
    the file and column (no parametrization, width or peak LR), or the parametrization and
    width with fewer than MIN_LRS peak LRs."""
    from scaling.errors import ScalingError
    from scaling.data.runs import read_runs

    tables = []
    for number, path in enumerate(paths):
        runs = read_runs(path)
        for column in ("parametrization", "width", "step"):
            if column not in runs.columns:
                raise ScalingError(f"{path}: missing column {column!r}: an LR sweep's table "
                                   "comes from `scaling ladder run` with optimizer.lrs")
        if "lr_peak" not in runs.columns:
            if "schedule" not in runs.columns:
                raise ScalingError(f"{path}: missing column 'lr_peak' (and no 'schedule' to "
                                   "read the peak LR from)")
            try:
                runs["lr_peak"] = peak_lrs(runs)
            except ValueError as exc:
                raise ScalingError(f"{path}: column 'schedule': {exc}") from None
        tables.append(runs.assign(source_table=str(path), table_number=number))
    runs = pd.concat(tables, ignore_index=True)
    once = runs.drop_duplicates(["table_number", "run"])
    twice = once["run"][once["run"].duplicated()]
    if len(twice):
        raise ScalingError(f"run {twice.iloc[0]!r} is in more than one of the tables; give "
                           "each sweep once")
    counts = runs.groupby(["parametrization", "width"])["lr_peak"].nunique()
    for (parametrization, width), count in counts.items():
        if count < MIN_LRS:
            path = runs.loc[(runs["parametrization"] == parametrization)
                            & (runs["width"] == width), "source_table"].iloc[0]
            raise ScalingError(f"{path}: width {width} ({parametrization}) has {count} peak "
                               f"LR(s); an LR sweep needs at least {MIN_LRS} a width "
                               "(optimizer.lrs)")
    return runs


def edge_warnings(table: pd.DataFrame, runs: pd.DataFrame) -> list[str]:
    """A line for each width whose best grid LR is the lowest or highest it was run at."""
    lines = []
    for row in table.itertuples():
        grid = sorted(set(runs.loc[(runs["parametrization"] == row.parametrization)
                                   & (runs["width"] == row.width), "lr_peak"]))
        if row.best_lr in (grid[0], grid[-1]):
            end = "lowest" if row.best_lr == grid[0] else "highest"
            lines.append(f"WARNING: width {row.width} ({row.parametrization}): the best LR "
                         f"{row.best_lr:.4g} is the {end} of the {len(grid)} it was run at; the "
                         "optimum is not bracketed, so how far the best LR moves is not known: "
                         "extend the sweep")
    return lines


def command(args) -> int:
    """`scaling ladder lr-transfer RUNS [RUNS ...] --out-dir DIR` with parsed arguments."""
    from scaling.output.console import check_output
    from scaling.errors import ScalingError

    out = Path(args.out_dir)
    if out.exists() and not out.is_dir():
        raise ScalingError(f"--out-dir {out}: is a file; give a folder")
    csv_path, plot_path = out / "best-lr.csv", out / "lr-transfer.png"
    check_output(csv_path, "--out-dir", {"csv"}, "best-lr.csv")
    check_output(plot_path, "--out-dir", {"png"}, "lr-transfer.png")
    runs = read_sweep(args.runs)
    table = best_lr_table(runs)
    print(best_lr_text(runs))
    for line in edge_warnings(table, runs):
        print(line)
    with atomic_path(csv_path) as temporary:
        table.to_csv(temporary, index=False)
    plot_lr_transfer(runs, plot_path)
    print(f"wrote {csv_path} ({len(table)} rows) and {plot_path}")
    return 0
