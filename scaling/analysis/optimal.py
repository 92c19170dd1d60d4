"""Compute-optimal allocation by Hoffmann et al.'s approaches 1-3 as one result: `scaling optimal`
and `scaling.optimal` both call `compute_optimal`, so they give the same numbers.

    result = scaling.optimal("data/chinchilla/runs.parquet", approaches=(2, 3), flops=[1e21])
    result.exponents        # a, b, k_N, k_D per approach, with their intervals, and the paper's a
    result.allocation       # N_opt, D_opt and D/N at each budget of `flops`, per approach
    print(result.summary()) # what `scaling optimal` prints
    result.to_json()        # what `scaling optimal --json` writes
    result.plot()           # the isoFLOP profiles and N_opt against C, a matplotlib Figure

`compute_optimal` runs each approach asked for on a run table (`scaling.analysis.approaches`);
when more than one is asked, one the data do not support is named with its reason (`unsupported`)
instead of failing the others, as the command does.
"""

from __future__ import annotations

import html
import json

import numpy as np
import pandas as pd

from scaling.analysis import approaches as hoffmann
from scaling.analysis.approach1_envelope import approach1
from scaling.analysis.approach2_isoflop import TOLERANCE, approach2
from scaling.analysis.approach3_parametric import approach3
from scaling.data.runs import check_sensible_inputs
from scaling.engine.fitting import check_bootstrap
from scaling.errors import ScalingError
from scaling.output.atomic import write_text
from scaling.output.format import json_ready
from scaling.output.isoflop_figure import optimal_figure

BOOTSTRAP = 200                 # `scaling optimal --bootstrap`'s default (approach 3 refits)
APPROACHES = (1, 2, 3)
QUANTITIES = ("params", "tokens", "tokens_per_param")


def check_budgets(values, option: str) -> None:
    """Positive, finite FLOPs in the range `predict` and `plan` hold (`option` names them)."""
    if values is None:
        return
    if any(not (np.isfinite(c) and c > 0) for c in np.ravel(np.asarray(values, float))):
        raise ScalingError(f"{option}: budgets must be positive numbers")
    check_sensible_inputs(values, "flops", option)


def asked_approaches(approaches) -> tuple[int, ...]:
    """The approach numbers asked for (one number or several of 1, 2, 3), in order, once each."""
    asked = (approaches,) if isinstance(approaches, (int, np.integer)) else tuple(approaches)
    if not asked or any(a not in APPROACHES or isinstance(a, bool) for a in asked):
        raise ScalingError(f"approaches must be among 1, 2 and 3, got {approaches!r}")
    return tuple(dict.fromkeys(int(a) for a in asked))


def compute_optimal(runs: pd.DataFrame, approaches=APPROACHES, *, flops=None, budgets=None,
                    tolerance: float = TOLERANCE, rows: str = "final",
                    interpolation: str = "parabola", bootstrap: int = BOOTSTRAP, seed: int = 0,
                    n_jobs: int | None = None, level: float = 0.95, source="run table",
                    where: str | None = None) -> Optimal:
    """Each approach asked for on `runs` (a frame `read_runs` read, `where` already applied and
    named here for the report); `flops`: the allocation table's budgets (default 1e21 … 1e25);
    `budgets`, `tolerance`, `rows` and `interpolation`: approach 2's (`scaling optimal`'s
    options of those names). With one approach asked, its error is raised; with several, an
    approach the runs do not support is left out and named (all unsupported: an error)."""
    check_bootstrap(bootstrap)
    check_budgets(flops, "flops")
    check_budgets(budgets, "budgets")
    asked = asked_approaches(approaches)
    results, unsupported = {}, {}
    for number in asked:
        try:
            if number == 1:
                results[1] = approach1(runs, bootstrap=bootstrap, seed=seed,
                                                level=level, source=source)
            elif number == 2:
                results[2] = approach2(
                    runs, tolerance=tolerance, rows=rows, interpolation=interpolation,
                    budgets=budgets, bootstrap=bootstrap, seed=seed, level=level, source=source)
            else:
                results[3] = approach3(runs, bootstrap=bootstrap, seed=seed,
                                                n_jobs=n_jobs, level=level)
        except ScalingError as error:
            if len(asked) == 1:
                raise
            unsupported[number] = str(error).removeprefix(f"{source}: ")
    if not results:
        raise ScalingError(f"{source}: no approach is supported by these runs: "
                           + "; ".join(f"approach {k}: {v}" for k, v in unsupported.items()))
    budgets_shown = hoffmann.DEFAULT_BUDGETS if flops is None else \
        tuple(float(c) for c in np.ravel(np.asarray(flops, float)))
    return Optimal(results, unsupported, budgets_shown, str(source), where, runs)


class Optimal:
    """The compute-optimal allocation by each approach that ran: `results` ({approach:
    `scaling.analysis.approaches.Approach`}), `unsupported` ({approach: why not}), the budgets of
    the allocation table (`flops`), and their tables as DataFrames."""

    def __init__(self, results: dict, unsupported: dict, flops, source: str,
                 where: str | None = None, runs: pd.DataFrame | None = None):
        self.results = dict(results)
        self.unsupported = dict(unsupported)
        self.flops = tuple(flops)
        self.source = source
        self.where = where
        self.runs = runs

    def __repr__(self) -> str:
        found = ", ".join(f"{k}: a={r.params.exponent:.3f}" for k, r in self.results.items())
        return f"<Optimal {self.source}: {found}>"

    @property
    def exponents(self) -> pd.DataFrame:
        """One row per approach: N_opt = k_N·C^a and D_opt = k_D·C^b (each value with its
        bootstrap interval, `_lower` and `_upper`; NaN without a bootstrap), the paper's a and b
        (Hoffmann et al. 2022, Table 2) and the runs each rests on."""
        rows = []
        for number, result in self.results.items():
            row = {"name": result.name}
            for label, law in (("a", result.params), ("b", result.tokens)):
                key = "k_N" if label == "a" else "k_D"
                row.update({label: law.exponent, f"{label}_lower": law.exponent_interval[0],
                            f"{label}_upper": law.exponent_interval[1],
                            key: law.coefficient, f"{key}_lower": law.coefficient_interval[0],
                            f"{key}_upper": law.coefficient_interval[1]})
            row.update({"paper_a": hoffmann.PAPER[number]["a"],
                        "paper_b": hoffmann.PAPER[number]["b"], "n_runs": result.n_runs})
            rows.append(row)
        return pd.DataFrame(rows, index=pd.Index(list(self.results), name="approach"))

    @property
    def allocation(self) -> pd.DataFrame:
        """One row per budget of `flops` and approach: N_opt (`params`), D_opt (`tokens`) and
        D/N (`tokens_per_param`), each with its interval (`_lower`, `_upper`)."""
        return self.allocation_at(self.flops)

    def allocation_at(self, flops) -> pd.DataFrame:
        """`allocation` at other budgets (FLOPs)."""
        check_budgets(flops, "flops")
        flops = np.atleast_1d(np.asarray(flops, float))
        found = {k: result.allocation(flops) for k, result in self.results.items()}
        rows = [{"flops": float(c), "approach": k,
                 **{f"{q}{suffix}": float(values[part][i])
                    for q, values in found[k].items()
                    for part, suffix in enumerate(("", "_lower", "_upper"))}}
                for i, c in enumerate(flops) for k in found]
        return pd.DataFrame(rows)

    @property
    def minima(self) -> pd.DataFrame:
        """The points approaches 1 and 2 fit their exponents to: approach 2's minimum of each
        budget it used, approach 1's envelope points (with the run that leads there)."""
        rows = [{"approach": k, "flops": m.flops, "params": m.params, "tokens": m.tokens,
                 "loss": m.loss, "n_points": m.n_points, "run": m.run}
                for k, result in self.results.items() for m in result.minima]
        return pd.DataFrame(rows, columns=["approach", "flops", "params", "tokens", "loss",
                                           "n_points", "run"])

    @property
    def warnings(self) -> list[str]:
        """Each approach's warnings, "approach K: …"."""
        return [f"approach {k}: {w}" for k, result in self.results.items()
                for w in result.warnings]

    def summary(self) -> str:
        """The report `scaling optimal` prints."""
        return hoffmann.approaches_report(self.results, self.unsupported, self.flops,
                                          self.source, self.where)

    def to_dict(self) -> dict:
        """The record `scaling optimal --json` writes (NaN left as it is)."""
        return hoffmann.approaches_record(self.results, self.unsupported, self.flops,
                                          self.source, self.where)

    def to_json(self, path=None) -> str:
        """The record as JSON, exactly as `scaling optimal --json` writes it (NaN as null);
        written atomically to `path` when given."""
        text = json.dumps(json_ready(self.to_dict()), indent=1, allow_nan=False)
        if path is not None:
            write_text(path, text)
        return text

    def _repr_html_(self) -> str:
        unsupported = "".join(f"<li>approach {k} not supported: {html.escape(why)}</li>"
                              for k, why in self.unsupported.items())
        warnings = "".join(f"<li>{html.escape(w)}</li>" for w in self.warnings)
        return ("<div>" + self.exponents.to_html(float_format="{:.4g}".format, na_rep="-")
                + self.allocation.to_html(index=False, float_format="{:.4g}".format,
                                          na_rep="-")
                + (f"<ul>{unsupported}{warnings}</ul>" if unsupported or warnings else "")
                + "</div>")

    def plot(self):
        """A matplotlib Figure (nothing written, pyplot untouched): approach 2's isoFLOP
        profiles with each budget's minimum, when it ran, and N_opt against C by each approach
        (`scaling.output.isoflop_figure`)."""
        if self.runs is None:
            raise ScalingError("this result keeps no runs to plot")
        return optimal_figure(self.runs, self.results, self.flops)
