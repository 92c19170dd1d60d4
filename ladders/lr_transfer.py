"""LR transfer: the best peak LR per width, under the standard parametrization and under muP,
from the run table of an LR sweep (`optimizer.lrs`; e.g. the bundled specs cpu-mup-lr and
cpu-mup-lr-sp, whose tables data/cpu_mup_lr/runs.parquet holds together).

muP's promise (Yang et al. 2022): the LR that is best at the base width stays best at every
width, so the best LR moves by at most one grid step across widths; under the standard
parametrization with Adam it falls as the width grows (roughly as 1/width for the hidden
matrices).

    from ladders.lr_transfer import best_lr_table, plot_lr_transfer
    runs = pd.read_parquet("data/cpu_mup_lr/runs.parquet")
    print(best_lr_table(runs)); plot_lr_transfer(runs, "lr-transfer.png")

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

from scaling.atomic import atomic_path
from scaling.schedules import parse


def final_losses(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per run: parametrization, width, lr_peak, loss (final row; inf if diverged)."""
    last = runs.loc[runs.groupby("run", sort=False)["step"].idxmax()].copy()
    if "lr_peak" not in last.columns:
        last["lr_peak"] = [parse(s).peak for s in last["schedule"]]
    loss = last["loss"].astype(float)
    if "diverged" in last.columns:
        loss = loss.where(~last["diverged"].fillna(False).astype(bool), math.inf)
    last["loss"] = loss.where(np.isfinite(loss), math.inf)
    if "seed" not in last.columns:
        last["seed"] = 0
    return last[["run", "parametrization", "width", "lr_peak", "seed", "loss"]] \
        .reset_index(drop=True)


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
    from scaling.report import table as text_table

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
    from scaling.plots import _figure, _style

    finals = mean_losses(runs)
    best = best_lr_table(runs)
    present = [p for p in ("standard", "mup") if p in set(finals["parametrization"])]
    shown = finals[np.isfinite(finals["loss"])]
    low, high = shown["loss"].min(), shown["loss"].quantile(0.9)
    with _style():
        figure = _figure(4.2 * len(present), 3.6)
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
