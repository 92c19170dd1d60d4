"""The Python API: the commands of the CLI as functions that return result objects.

    import scaling
    fit = scaling.fit("data/chinchilla/runs.parquet", where="loss < 3.44")
    fit.params; fit.predict(params=7e10, tokens=1.4e12); print(fit.summary()); fit.plot()
    fit.save("fit.json"); scaling.load("fit.json")
    scaling.backtest("data/chinchilla/runs.parquet", train="params < 2e8")
    scaling.plan(1e22, fits=[fit], runs="data/chinchilla/runs.parquet")
    scaling.optimal("data/chinchilla/runs.parquet", approaches=(2, 3), flops=[1e21]).exponents

Each takes what its command takes, with the command's defaults (`scaling fit`: 1000 bootstrap
resamples and the calibrated intervals), and gives the same numbers: a `Fit`
(`scaling.engine.fit`), a `Backtest` (`scaling.analysis.backtest`), a `Plan`
(`scaling.output.plan_document`) or an `Optimal` (`scaling.analysis.optimal`), each with
`summary()` (the command's text) and tables as DataFrames.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from scaling.analysis import plan_inputs, planning
from scaling.analysis.backtest import Backtest, backtest as backtest_record
from scaling.analysis.optimal import BOOTSTRAP as OPTIMAL_BOOTSTRAP, Optimal, compute_optimal
from scaling.data import units
from scaling.data.lr_history import read_lr_file
from scaling.data.prepare import prepare_where
from scaling.data.runs import filter_rows, read_for_fit, read_runs, read_table
from scaling.engine.fit import Fit
from scaling.errors import ScalingError
from scaling.laws.base import Law, PreparedRuns
from scaling.laws.registry import get_law, load_fit
from scaling.output.plan_document import Plan

DEFAULT_BOOTSTRAP = 1000        # `scaling fit --bootstrap`'s default
BACKTEST_BOOTSTRAP = 200        # `scaling backtest --bootstrap`'s and `scaling plan`'s


def _law(law, settings: dict) -> Law:
    """A law by name (with its settings) or the law given (then no settings)."""
    if isinstance(law, Law):
        if settings:
            raise ScalingError(f"settings ({', '.join(settings)}) go with a law's name; this "
                               f"{law.name} law was built with its own")
        return law
    if not isinstance(law, str):
        raise ScalingError(f"law must be a law's name or a Law, got {type(law).__name__}")
    return get_law(law, **settings)


def _table(runs, law: Law, where: str | None, mapping, dedupe):
    """A run table as the CLI reads it: every row as it is when a query picks the rows (the law
    checks the rows the query keeps), else the law's columns, checked."""
    if isinstance(runs, (PreparedRuns, pd.DataFrame)):
        return runs
    if not isinstance(runs, (str, Path)):
        raise ScalingError(f"runs must be a path or a DataFrame, got {type(runs).__name__}")
    return read_for_fit(runs, mapping, queried=bool(where), columns=law.read_columns,
                        dedupe=dedupe)


def fit(runs, law="chinchilla", *, where: str | None = None, lr_file=None,
        bootstrap: int = DEFAULT_BOOTSTRAP, calibrate: bool = True, seed: int = 0,
        n_jobs: int | None = None, noise_floor: float = 0.0, mapping: dict | None = None,
        dedupe: str | None = None, **settings) -> Fit:
    """Fit a law to runs, as `scaling fit` does; returns the `Fit`.

    `runs`: a run table's path (.parquet or .csv) or a DataFrame; `law`: a law's name (its
    settings as keywords: `scaling.fit(runs, "annealing", decay=0.995)`) or a `Law`; `where`:
    a query keeping rows (`scaling.data.query`); `lr_file`: a path or the frame
    `scaling.data.lr_history.read_lr_file` reads; `bootstrap` resamples (0: none) and
    `calibrate` (the calibrated intervals) as `--bootstrap` and `--no-calibration`; `mapping`
    and `dedupe` as `--map` and `--dedupe`."""
    model = _law(law, settings)
    model.check_settings()
    table = _table(runs, model, where, mapping, dedupe)
    if isinstance(lr_file, (str, Path)):
        lr_file = read_lr_file(lr_file)
    if where:
        data = prepare_where(model, table, where, lr_file, dedupe=dedupe)
    else:
        data = model.prepare(table, lr_file)
    fitted = model.fit(data, bootstrap=bootstrap, seed=seed, n_jobs=n_jobs, calibrate=calibrate,
                       noise_floor=noise_floor)
    found = units.facts(data.frame)     # the fitted rows' units (flops, tokens per parameter)
    if found:
        fitted.data_["units"] = found
    return fitted


def load(path) -> Fit:
    """A saved fit (`Fit.save`, `scaling fit --out`), every field checked: what `scaling
    predict FIT.json` reads."""
    return load_fit(path)


def backtest(runs, law="chinchilla", *, train: str, test: str | None = None,
             where: str | None = None, lr_file=None, bootstrap: int = BACKTEST_BOOTSTRAP,
             calibrate: bool = True, seed: int = 0, n_jobs: int | None = None,
             interval: str | None = None, noise_floor: float = 0.0,
             mapping: dict | None = None, dedupe: str | None = None, **settings) -> Backtest:
    """Fit on the rows `train` selects, predict the held-out runs, as `scaling backtest` does;
    returns a `Backtest` (its `summary()` is the command's text). `law`: a name (settings as
    keywords) or a `Law`, used as given."""
    model = _law(law, settings)
    model.check_settings()
    table = runs if isinstance(runs, (PreparedRuns, pd.DataFrame)) else \
        read_table(runs, mapping)
    if isinstance(lr_file, (str, Path)):
        lr_file = read_lr_file(lr_file)
    record = backtest_record(table, model, train, test, where=where, lr_file=lr_file,
                          bootstrap=bootstrap, seed=seed, n_jobs=n_jobs, calibrate=calibrate,
                          interval=interval, noise_floor=noise_floor, dedupe=dedupe)
    return Backtest(record, tuple(model.inputs))


def plan(budget: float, fits, *, runs=None, where: str | None = None,
         inference_tokens: float = 0.0, unique_tokens: float | None = None,
         schedule: str | None = None, tokens_per_step: float | None = None,
         width: float | None = None, bootstrap: int = BACKTEST_BOOTSTRAP) -> Plan:
    """The planning report for a training budget (FLOPs), as `scaling plan` makes it; returns
    the `Plan` (`summary()`: its Markdown; `to_html()`; `tables`: its tables as DataFrames).
    `fits`: `Fit`s or saved fits' paths (at least one loss law that allocates compute; the
    first is the recommendation's); `runs`: a run table's path or a DataFrame (approaches 1 and
    2, and the runs in the figures), with `where` keeping rows of it."""
    budget = plan_inputs.check_budget(budget)
    given = [fits] if isinstance(fits, (Fit, str, Path)) else list(fits)
    plan_fits = [plan_inputs.PlanFit(str(f), load_fit(f)) if isinstance(f, (str, Path))
                 else plan_inputs.PlanFit(f"fit {k + 1} ({f.name})", f)
                 for k, f in enumerate(given)]
    plan_inputs.check_plan_inputs(plan_fits, unique_tokens=unique_tokens, schedule=schedule,
                                  tokens_per_step=tokens_per_step,
                                  inference_tokens=inference_tokens)
    source = None
    if isinstance(runs, (str, Path)):
        source = str(runs)
        runs = read_runs(runs, where=where)
    elif runs is not None and where:
        runs = read_runs(runs, where=where)
    return planning.plan(budget, plan_fits, runs=runs, runs_source=source,
                         inference_tokens=inference_tokens, unique_tokens=unique_tokens,
                         schedule=schedule, tokens_per_step=tokens_per_step, width=width,
                         bootstrap=bootstrap)


def optimal(runs, *, approaches=(1, 2, 3), flops=None, where: str | None = None,
            budgets=None, tolerance: float = 0.1, rows: str = "final",
            interpolation: str = "parabola", bootstrap: int = OPTIMAL_BOOTSTRAP, seed: int = 0,
            n_jobs: int | None = None, level: float = 0.95, mapping: dict | None = None,
            dedupe: str | None = None) -> Optimal:
    """Compute-optimal N_opt and D_opt by Hoffmann et al.'s approaches, as `scaling optimal`
    gives them; returns an `Optimal` (`exponents`, `allocation` at `flops`, `summary()`,
    `to_json()`, `plot()`). `runs`: a run table's path or a DataFrame, with `where` keeping rows
    of it; `approaches`: 1, 2, 3 or several (those the runs do not support are named in
    `unsupported`); `budgets`, `tolerance`, `rows`, `interpolation`: approach 2's, as the
    command's options of those names; `mapping` and `dedupe` as `--map` and `--dedupe`."""
    if isinstance(runs, (str, Path)):
        source = str(runs)
        table = read_runs(runs, mapping=mapping, where=where, dedupe=dedupe)
    elif isinstance(runs, pd.DataFrame):
        source = str(runs.attrs.get("source", "run table"))
        table = runs
        if where:
            table = filter_rows(runs, where, source)
            table.attrs["where"] = where
    else:
        raise ScalingError(f"runs must be a path or a DataFrame, got {type(runs).__name__}")
    return compute_optimal(table, approaches, flops=flops, budgets=budgets, tolerance=tolerance,
                           rows=rows, interpolation=interpolation, bootstrap=bootstrap,
                           seed=seed, n_jobs=n_jobs, level=level, source=source, where=where)
