"""Figures (matplotlib, Agg): observed vs fitted, iso-target contours over (N, D), curves."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scaling.atomic import atomic_path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_fit(law, data, path) -> Path:
    """Save a figure of a fitted law against the rows it was fitted on (`PreparedRuns`, or a run
    table that `law.prepare` accepts).

    Laws of whole curves: each run's observed target against step, with the fitted curve.
    Others: observed vs fitted target on the rows the law fits (`law.fit_rows`), and for laws of
    params and tokens the iso-target contours of the fitted surface over (N, D), the points
    coloured by their target, and, where the law allocates compute, iso-compute lines and the
    compute-optimal frontier.
    """
    plt = _pyplot()
    data = law.prepare(data)
    if law.rows == "all" and "step" in data.frame.columns:
        return _plot_curve_fit(plt, law, data, path)
    points = law.fit_rows(data)
    inputs = law.inputs_from(points, data.lr_histories)
    actual = points[law.target].to_numpy(float)
    fitted = law.predict_inputs(inputs)
    surface = set(law.inputs) == {"params", "tokens"}
    figure, axes = plt.subplots(1, 2 if surface else 1, figsize=(12 if surface else 6, 5),
                                squeeze=False)
    _observed_vs_fitted(axes[0, 0], law, actual, fitted, inputs)
    if surface:
        _iso_target(axes[0, 1], law, inputs, actual)
    figure.suptitle(law.title, fontsize=10)
    figure.tight_layout()
    return _save(figure, plt, path)


def _plot_curve_fit(plt, law, data, path) -> Path:
    """Laws of whole curves: each run's observed target against step, with the fitted curve."""
    figure, ax = plt.subplots(figsize=(8, 5))
    rows = data.frame
    fitted = law.predict_rows(data)
    for k, (run, curve) in enumerate(rows.groupby("run", sort=False)):
        colour = f"C{k % 10}"
        where = rows.index.get_indexer(curve.index)
        ax.plot(curve["step"], curve[law.target], ".", ms=3, color=colour, alpha=0.6)
        ax.plot(curve["step"], fitted[where], color=colour, lw=1.2, label=str(run))
    ax.set_xlabel("step")
    ax.set_ylabel(f"{law.target} (dots: observed, lines: fitted)")
    ax.set_title(f"{law.title}: {len(rows)} points, objective {law.objective_:.3g}", fontsize=9)
    ax.legend(fontsize=7)
    figure.tight_layout()
    return _save(figure, plt, path)


def _observed_vs_fitted(ax, law, actual, fitted, inputs):
    colour = np.log10(inputs[law.inputs[0]])
    scatter = ax.scatter(fitted, actual, c=colour, s=14, cmap="viridis", alpha=0.8)
    low, high = min(actual.min(), fitted.min()), max(actual.max(), fitted.max())
    ax.plot([low, high], [low, high], color="black", lw=1, ls="--", label="y = x")
    ax.set_xlabel(f"fitted {law.target}")
    ax.set_ylabel(f"observed {law.target}")
    ax.set_title(f"observed vs fitted ({len(actual)} points, objective {law.objective_:.3g})",
                 fontsize=9)
    ax.figure.colorbar(scatter, ax=ax, label=f"log10 {law.inputs[0]}")
    ax.legend(loc="upper left")


def _iso_target(ax, law, inputs, actual):
    params, tokens = inputs["params"], inputs["tokens"]
    n_grid = np.logspace(np.log10(params.min()) - 0.5, np.log10(params.max()) + 1.5, 160)
    d_grid = np.logspace(np.log10(tokens.min()) - 0.5, np.log10(tokens.max()) + 1.5, 160)
    n_mesh, d_mesh = np.meshgrid(n_grid, d_grid)
    surface = law.predict(params=n_mesh.ravel(), tokens=d_mesh.ravel()).reshape(n_mesh.shape)
    surface = np.where(np.isfinite(surface), surface, np.nan)
    from matplotlib.colors import Normalize

    norm = Normalize(actual.min(), actual.max())       # one colour scale for runs and contours
    levels = np.unique(np.round(np.linspace(np.nanmin(surface), np.nanmax(surface), 16)[1:-1], 3))
    contours = ax.contour(n_mesh, d_mesh, surface, levels=levels, cmap="viridis_r", norm=norm,
                          linewidths=0.8)
    ax.clabel(contours, fontsize=6, fmt="%.2f")
    points = ax.scatter(params, tokens, c=actual, cmap="viridis_r", norm=norm, s=12,
                        edgecolors="black", linewidths=0.3, label="runs")
    ax.figure.colorbar(points, ax=ax, label=law.target)
    title = f"iso-{law.target} contours of the fit"
    if law.allocates_compute:        # iso-compute lines and the frontier, in the law's model
        flops_low = float(law.training_compute(params=n_grid.min(), tokens=d_grid.min()))
        flops_high = float(law.training_compute(params=n_grid.max(), tokens=d_grid.max()))
        per_token = law.training_compute(params=n_grid, tokens=np.ones_like(n_grid))
        for flops in 10.0 ** np.arange(np.ceil(np.log10(flops_low)), np.log10(flops_high), 2):
            ax.plot(n_grid, flops / per_token, color="grey", lw=0.5, ls=":")
            ax.annotate(f"{flops:.0e}", (n_grid[0], flops / per_token[0]), fontsize=6,
                        color="grey")
        budgets = np.logspace(np.log10(flops_low), np.log10(flops_high), 200)
        frontier = law.compute_optimal(budgets)
        ax.plot(frontier["params"][0], frontier["tokens"][0], color="crimson", lw=1.5,
                label="compute-optimal frontier")
        title += f"; dotted: iso-compute ({law.compute_formula})"
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(n_grid.min(), n_grid.max())
    ax.set_ylim(d_grid.min(), d_grid.max())
    ax.set_xlabel("parameters N")
    ax.set_ylabel("tokens D")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper left", fontsize=8)


def plot_curve(curve, label, path, *, target: str, observed=None) -> Path:
    """A predicted curve (step, lr, `target`, lower, upper) with its LR below, and optionally an
    observed curve (step, `target`) on top."""
    plt = _pyplot()
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True,
                                         gridspec_kw={"height_ratios": [3, 1]})
    top.plot(curve["step"], curve[target], color="crimson", label="predicted")
    if np.isfinite(curve["lower"]).any():
        top.fill_between(curve["step"], curve["lower"], curve["upper"], color="crimson",
                         alpha=0.2, label="interval")
    if observed is not None:
        top.plot(observed["step"], observed[target], ".", color="black", ms=3, label="observed")
    top.set_ylabel(target)
    top.legend()
    top.set_title(label, fontsize=8)
    bottom.plot(curve["step"], curve["lr"], color="grey")
    bottom.set_xlabel("step")
    bottom.set_ylabel("LR")
    figure.tight_layout()
    return _save(figure, plt, path)


def plot_curves(curves: dict, label, path, *, target: str) -> Path:
    """Several predicted curves ({name: curve}) with their LRs below."""
    plt = _pyplot()
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True,
                                         gridspec_kw={"height_ratios": [3, 1]})
    for name, curve in curves.items():
        line, = top.plot(curve["step"], curve[target], label=name)
        bottom.plot(curve["step"], curve["lr"], color=line.get_color())
    low = min(c[target].iloc[-1] for c in curves.values())
    top.set_ylim(low - 0.02 * abs(low), low + 0.3 * abs(low))     # the ends, where they differ
    top.set_ylabel(f"predicted {target}")
    top.legend()
    top.set_title(str(label), fontsize=8)
    bottom.set_xlabel("step")
    bottom.set_ylabel("LR")
    figure.tight_layout()
    return _save(figure, plt, path)


def _save(figure, plt, path) -> Path:
    try:
        with atomic_path(path) as temporary:
            figure.savefig(temporary, dpi=120, format=Path(path).suffix[1:] or "png")
    finally:
        plt.close(figure)
    return Path(path)
