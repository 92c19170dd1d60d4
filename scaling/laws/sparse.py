"""Sparse pre-training: Chinchilla's law in the average parameter count over training.

    L(N̄, D) = E + A / N̄^α + B / D^β,      N̄ = (1/D) ∫₀^D N_active(t) dt

fitted like Chinchilla (log space, Huber δ = 1e-3, the exponents on a grid, A, B, E solved by
variable projection), one parameter set for dense and sparse runs alike: a dense run has
N̄ = N. A run pruned gradually from N to a final N_active has N_active < N̄ < N.

Symbols: N̄ the average over training of the non-zero parameter count, weighted by tokens
(`params_average`, derived); D training tokens (`tokens`); L the final loss (`loss`);
E, A, B, α, β as in Chinchilla. Compute-optimal allocation uses C = 6·N̄·D (training compute when
the sparsity is exploited) and Chinchilla's closed form in N̄.

Where N̄ comes from, per run (`--set count=average`, the default):
1. its `pruning` column (`scaling.data.pruning_schedules`: the schedule, with the run's steps and prunable
   weights, as the ladder runner writes it): exact, at every row (a row at step t averages the
   first t updates), so final rows alone suffice;
2. else its `params_active` column at each row (non-zero parameters at that step): the
   token-weighted mean, linear between rows from the dense `params` at token 0 (approximate by
   half a step of the schedule between rows; exact for dense runs, whose params_active =
   params). A sparse run with a single row and no schedule is an error: one count cannot say
   when it was pruned.

`--set count=final` (N = the final active count) and `count=initial` (N = params, the dense
count) fit the same form with another N: plain Chinchilla on the final or initial size, the
baselines the paper compares against.

Paper: Jin, Gale, Kim, … 2025, "The Journey Matters: Average Parameter Count over Pre-training
Unifies Sparse and Dense Scaling Laws" (ICLR 2025, arXiv:2501.12486), eq. 2 and section 4; the
form and fit of Hoffmann et al. 2022 / Besiroglu et al. 2024 (`scaling.laws.chinchilla`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from scaling.data import pruning_schedules as pruning
from scaling.data import runs as run_tables
from scaling.engine.diagnostics import render
from scaling.errors import ScalingError
from scaling.laws.base import BASE_SETTINGS, Setting
from scaling.laws.chinchilla import Chinchilla
from scaling.laws.registry import register
from scaling.output.format import format_number, interval, table
from scaling.output.prediction_columns import reach_cells, reach_note
from scaling.output.prediction_tables import prediction_record

COUNTS = ("average", "final", "initial")
# Pruning windows (start, end) as fractions of training compute, for `schedule_advice`: from
# initialisation (a smaller dense model's N̄), early, the paper's 25%–75%, late, to the end.
WINDOWS = ((0.0, 0.0), (0.0, 0.25), (0.0, 0.5), (0.25, 0.5), (0.25, 0.75), (0.5, 0.75),
           (0.5, 1.0), (0.75, 1.0))


def _settings_check(value):
    return None if value in COUNTS else f"must be one of {', '.join(COUNTS)}"


@register
class Sparse(Chinchilla):
    name = "sparse"
    aliases = ("average-params",)
    title = "Sparse L(N_avg, D): Chinchilla in the average parameter count (Jin et al. 2025)"
    settings_spec = (*BASE_SETTINGS,
                     Setting("target", "loss", "the loss column it fits (positive)", str),
                     Setting("count", "average", "N of each run: average (N̄ over training, "
                             "the law), final (the final active count) or initial (params): "
                             "plain Chinchilla baselines", str, _settings_check))
    inputs = ("params_average", "tokens")
    power_inputs = ("params_average", "tokens")
    derived_inputs = ("params_average",)
    # reach: N̄ and D, the law's inputs, and the density, the share of the run's parameters
    # still active at the row (params_active / params; 1 − sparsity when every weight is
    # prunable), which `derive` adds. N̄ folds the pruning's timing and depth into one count,
    # and the law's claim that it alone sets the loss (dense and sparse on one curve) was
    # tested only at the densities of the fitted runs: a model pruned further than any of them
    # (or dense, after a fit on pruned runs alone) is an extrapolation even at a fitted N̄.
    # In log, as N̄ and D are: ten times sparser is a decade whatever the fitted density.
    scale_columns = ("params_average", "tokens", "density")
    derives_from_runs = True             # N̄ of a row averages the run's rows before it
    compute_formula = "C = 6 N_avg D"
    allocation_labels = {"params_average": "avg params N_avg", "tokens": "tokens D",
                         "tokens_per_param": "tokens/avg param"}

    @property
    def equation(self):
        symbol = {"average": "N_avg", "final": "N_final", "initial": "N"}[self.count]
        return f"L = E + A/{symbol}^alpha + B/D^beta"

    # -- data ----------------------------------------------------------------------------------
    def derive(self, table, lr_histories=None):
        """`params_average`: N̄ at each row (or the final or initial count, by `count`); and
        `density`: the share of the run's parameters active at the row (a reach coordinate;
        a `density` column the table has must agree with it)."""
        source = table.attrs.get("source", "run table")
        table = table.copy()
        has_schedule = "pruning" in table.columns
        if "params_active" not in table.columns and not has_schedule:
            raise ScalingError(
                f"{source}: missing column 'params_active' (non-zero parameters at each row), "
                "which the sparse law needs unless a 'pruning' column gives each run's schedule "
                "(dense runs: params_active = params)")
        if "params_active" in table.columns:
            active = run_tables.as_finite_numbers(table["params_active"], "params_active",
                                                  source) if table["params_active"].notna().all() \
                else pd.to_numeric(table["params_active"], errors="coerce")
            negative = table.index[active < 0]
            if len(negative):
                raise ScalingError(f"{source}: column 'params_active', row {negative[0]}: must be "
                                   f"at least 0, got {active.at[negative[0]]:g}")
            above = table.index[active > table["params"] * (1 + 1e-9)]
            if len(above):
                row = above[0]
                raise ScalingError(f"{source}: column 'params_active', row {row}: "
                                   f"{active.at[row]:g} non-zero parameters, more than the "
                                   f"run's params {table.at[row, 'params']:g}")
            table["params_active"] = active
        given = pd.to_numeric(table["density"], errors="coerce") \
            if "density" in table.columns else None
        table["params_average"] = np.nan
        table["density"] = np.nan
        for run, rows in table.groupby("run", sort=False):
            average, active = self._run_average(rows, run, source, has_schedule)
            table.loc[rows.index, "params_average"] = average
            table.loc[rows.index, "density"] = active / rows["params"].to_numpy(float)
        if given is not None:
            off = table.index[~(np.abs(given - table["density"]) <= 0.01)]
            if len(off):
                row = off[0]
                raise ScalingError(f"{source}: column 'density', row {row}: {given.at[row]:g} is "
                                   f"not the active share of the run's parameters, "
                                   f"params_active / params = {table.at[row, 'density']:g}")
        return table

    def _run_average(self, rows, run, source, has_schedule):
        """(N̄ by `count`, the active parameters) at each of a run's rows."""
        params = float(rows["params"].iloc[0])
        schedule = None
        if has_schedule:
            texts = rows["pruning"].dropna().astype(str).unique()
            if len(texts) > 1:
                raise ScalingError(f"{source}: column 'pruning', run {run!r}: two schedules "
                                   f"({texts[0]!r} and {texts[1]!r})")
            try:
                schedule = pruning.parse(texts[0]) if len(texts) else None
                if schedule is not None and (schedule.steps is None or
                                             schedule.prunable is None):
                    raise pruning.PruningError(f"{texts[0]!r}: needs the run's steps= and "
                                               "prunable=")
                plan = schedule.plan(params) if schedule is not None else None
            except pruning.PruningError as exc:
                raise ScalingError(f"{source}: column 'pruning', row {rows.index[0]}: "
                                   f"{exc}") from None
        if schedule is not None:
            steps = self._steps(rows, schedule, source)
            if "params_active" in rows.columns and rows["params_active"].notna().all():
                # the schedule must describe the run: its count after each row's step is what
                # the row logged (a schedule string of another run would move N̄ silently)
                expected = plan.active_after(steps)
                off = np.abs(rows["params_active"].to_numpy(float) - expected) > 0.01 * params
                if off.any():
                    row = rows.index[np.argmax(off)]
                    raise ScalingError(
                        f"{source}: column 'params_active', row {row}: "
                        f"{rows.at[row, 'params_active']:g} non-zero parameters, but the run's "
                        f"pruning schedule gives {expected[np.argmax(off)]:g} at step "
                        f"{steps[np.argmax(off)]}: the 'pruning' column does not describe it")
            counts = {"average": lambda: plan.average_params(steps),
                      "final": lambda: np.full(len(rows), plan.active_after(schedule.steps)),
                      "initial": lambda: np.full(len(rows), params)}
            return (np.asarray(counts[self.count](), float),
                    np.asarray(plan.active_after(steps), float))
        if "params_active" not in rows.columns or rows["params_active"].isna().all():
            if has_schedule:                 # a dense run of a table with schedules
                return np.full(len(rows), params), np.full(len(rows), params)
            raise ScalingError(f"{source}: column 'params_active', run {run!r}: missing")
        missing = rows.index[rows["params_active"].isna()]
        if len(missing):
            raise ScalingError(f"{source}: column 'params_active', row {missing[0]}: missing "
                               "(the sparse law needs it at every row of a run without a "
                               "pruning schedule)")
        active = rows["params_active"].to_numpy(float)
        tokens = rows["tokens"].to_numpy(float)
        if self.count == "initial":
            return np.full(len(rows), params), active
        if self.count == "final":
            return np.full(len(rows), active[np.argmax(tokens)]), active
        if len(rows) == 1 and active[0] < params:
            raise ScalingError(
                f"{source}: run {run!r} (row {rows.index[0]}): one row with params_active "
                f"{active[0]:g} < params {params:g} and no 'pruning' schedule: its average "
                "parameter count needs params_active at each evaluation, or the schedule")
        return pruning.average_from_rows(tokens, active, params), active

    @staticmethod
    def _steps(rows, schedule, source) -> np.ndarray:
        """The rows' steps (from `step`, else from tokens as a fraction of the final row's)."""
        if "step" in rows.columns and rows["step"].notna().all():
            steps = rows["step"].to_numpy(float)
        else:
            tokens = rows["tokens"].to_numpy(float)
            steps = np.rint(tokens / tokens.max() * schedule.steps)
        bad = rows.index[(steps < 1) | (steps > schedule.steps)]
        if len(bad):
            raise ScalingError(f"{source}: column 'step', row {bad[0]}: outside 1 … "
                               f"{schedule.steps}, the steps of its pruning schedule")
        return steps.astype(np.int64)

    # -- the law: Chinchilla's, in N̄ -----------------------------------------------------------
    @staticmethod
    def _as_chinchilla(inputs):
        if "params_average" not in inputs:          # already renamed (Chinchilla's own calls)
            return inputs
        return {"params": inputs["params_average"], "tokens": inputs["tokens"]}

    def _shares(self, theta, inputs):
        return super()._shares(theta, self._as_chinchilla(inputs))

    def predict_theta_grad(self, theta, inputs):
        return super().predict_theta_grad(theta, self._as_chinchilla(inputs))

    def linear_basis(self, theta, inputs):
        return super().linear_basis(theta, self._as_chinchilla(inputs))

    def compute_optimal_theta(self, theta, flops):
        """Chinchilla's allocation, in N̄ (C = 6·N̄·D)."""
        allocation = super().compute_optimal_theta(theta, flops)
        allocation["params_average"] = allocation.pop("params")
        return allocation

    def training_compute(self, params_average=None, tokens=None, **_):
        """C = 6·N̄·D: the training compute of a run whose sparsity is exploited."""
        return 6.0 * np.asarray(params_average, float) * np.asarray(tokens, float)


def schedule_advice(law, params, tokens, sparsity, prunable=None, kind: str = "geometric",
                    windows=WINDOWS, interval: str | None = None, level: float | None = None,
                    steps: int = 1000, every: int = 5) -> dict:
    """The predicted final loss of a model of `params` parameters (`prunable` of them prunable;
    default all) trained on `tokens` tokens and pruned to `sparsity` in each window (start, end)
    of training compute, by the fitted sparse law; with the dense model and the dense model of
    the final active size for reference. The schedules are placed on `steps` steps with an event
    every `every` (N̄ barely depends on either).

    Returns a JSON-ready record: {"law", "target", "params", "tokens", "sparsity", "prunable",
    "schedule", "interval": {"kind", "level"}, "windows": [{"schedule", "start", "end",
    "params_average", "final_active", "density", "predicted", "lower", "upper", "reach",
    "distance"}], "warnings"} (the rows as
    `scaling.output.prediction_tables.prediction_record` gives them; the density, final_active /
    params, counts in the reach, the distance, the calibrated interval and the warnings, as N̄
    and D do: `Sparse.scale_columns`)."""
    if law.name != "sparse":
        raise ScalingError(f"--sparsity (pruning advice) needs a fit of the sparse law, not "
                           f"{law.name}; fit one with `scaling fit RUNS --law sparse`")
    if law.count != "average":
        raise ScalingError(f"--sparsity (pruning advice) needs the sparse law in N_avg "
                           f"(count=average); this fit uses count={law.count}")
    params = float(params)
    tokens = float(tokens)
    prunable = params if prunable is None else float(prunable)
    if not (0 < params < np.inf and 0 < tokens < np.inf):
        raise ScalingError("pruning advice: --params and --tokens must be positive and finite")
    if not 0 <= prunable <= params:
        raise ScalingError(f"pruning advice: --prunable must be in [0, params = {params:g}], "
                           f"got {prunable:g}")
    if not 0 < sparsity < 1:
        raise ScalingError(f"pruning advice: --sparsity must be in (0, 1), got {sparsity:g}")
    final_active = params - sparsity * prunable
    rows = [("dense", None, None, params), ("dense, final size", None, None, final_active)]
    # the schedule math counts whole weights: work on a model scaled to a million weights and
    # scale N̄ back (the shares of steps, not the count, decide the average)
    unit = 1e6 / params
    for start, end in windows:
        schedule = pruning.Pruning(kind, sparsity, start, end, every).for_run(
            steps, int(round(prunable * unit)))
        rows.append((kind, start, end, float(schedule.plan(1e6).average_params()) / unit))
    averages = np.array([row[3] for row in rows])
    # the density each row ends at (a reach coordinate: `Sparse.scale_columns`): 1 for the
    # two dense models, final_active / params for the pruned ones
    densities = np.array([1.0 if start is None else final_active / params
                          for _, start, _, _ in rows])
    record = prediction_record(law, interval, level, scale={"density": densities},
                               params_average=averages, tokens=np.full(len(rows), tokens))
    windows_out = []
    for (name, start, end, average), density, prediction in zip(rows, densities,
                                                               record["predictions"]):
        windows_out.append({"schedule": name, "start": start, "end": end,
                            "params_average": average,
                            "final_active": params if name == "dense" else final_active,
                            "density": float(density),
                            **{k: v for k, v in prediction.items()
                               if k not in ("params_average", "tokens")}})
    return {"law": law.name, "target": law.target, "params": params, "tokens": tokens,
            "sparsity": float(sparsity), "prunable": prunable, "schedule": kind,
            "interval": record["interval"], "windows": windows_out,
            "warnings": record["warnings"]}


def schedule_advice_table(law, record: dict) -> str:
    """`schedule_advice`'s record as the table `scaling predict --sparsity` prints."""
    kind, level = record["interval"]["kind"], record["interval"]["level"]
    windows = record["windows"]
    # the one reach computation of every command (`scaling.output.prediction_columns.reach_cells`):
    # N̄, D and the density each model ends at (a fit file without a density range shows none)
    cells = reach_cells(law, {
        "params_average": np.array([row["params_average"] for row in windows]),
        "tokens": np.full(len(windows), record["tokens"]),
        "density": np.array([row.get("density", np.nan) for row in windows])})
    header = ("schedule", "window (compute)", "avg params N_avg", "final active",
              record["target"],
              *((f"{100 * level:g}% interval ({kind})",) if kind else ()),
              *(f"× {name}" for name in cells))
    rows = []
    for k, row in enumerate(windows):
        window = "" if row["start"] is None else f"{row['start']:g}–{row['end']:g}"
        rows.append((row["schedule"], window, f"{row['params_average']:.4g}",
                     f"{row['final_active']:.4g}", format_number(row["predicted"]),
                     *((interval(row["lower"], row["upper"], missing="(no bootstrap)"),)
                       if kind else ()),
                     *(cells[name][k] for name in cells)))
    lines = [f"pruning to sparsity {record['sparsity']:g} ({record['prunable']:.4g} of "
             f"{record['params']:.4g} parameters prunable), {record['tokens']:.4g} tokens; "
             f"{record['schedule']} schedules, windows as fractions of training compute",
             table(header, rows, right=("avg params N_avg", "final active", record["target"])),
             reach_note(list(cells)),
             "(Jin et al. prune from 25% to 75% of compute; 0–0: pruned at initialisation)"]
    lines += render(record["warnings"])
    return "\n".join(lines)
