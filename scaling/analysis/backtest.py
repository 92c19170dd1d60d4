"""Backtests: fit a law on one selection of runs, predict the final rows of others.

    record = backtest(runs, "chinchilla", train="params < 1e9")    # the JSON-ready record
    Backtest(record, law.inputs)        # as an object: rows, scores, summary(), to_html()

The training rows are those matching `train`; the test runs are those matching `test` (default:
every run with no training row), each judged at its final row. Errors are the law's kind
(`Law.error_kind`): relative, (predicted − actual) / actual, for positive targets fitted in log
space; absolute, predicted − actual, for linear-space targets (accuracies, unigram-normalised
losses).

Intervals are judged as well as points. For every interval kind the fit has ("calibrated": the
error model of `scaling.engine.calibration`, the default; "run" and "law": the bootstrap's) and each
nominal level in LEVELS: the coverage (share of held-out values inside) and the mean interval
score of Gneiting & Raftery (2007, "Strictly proper scoring rules, prediction, and estimation",
JASA, section 6.2): for a central interval [l, u] of level 1 − α and a value y,

    S = (u − l) + (2/α)·(l − y)·[y < l] + (2/α)·(y − u)·[y > u],

lower is better; a wide interval cannot pass by being wide. Scores are in the errors' units:
divided by the actual value (a fraction) for relative errors, in the target's units for absolute
ones. Laws of final rows are judged on the held-out final rows; laws of whole curves on every row
of the held-out curves.
"""

from __future__ import annotations

import html
import json

import numpy as np
import pandas as pd

from scaling.data import runs as run_tables
from scaling.data.prepare import prepare_rows
from scaling.data.query import parse
from scaling.errors import ScalingError
from scaling.laws import LAWS, Law, PreparedRuns, get_law
from scaling.output.atomic import write_text
from scaling.output.format import json_number
from scaling.output.backtest_report import backtest_report
from scaling.output.prediction_columns import interval_kind


LEVELS = (0.5, 0.8, 0.95)       # nominal levels every backtest scores


def backtest(runs, law: str | Law, train: str, test: str | None = None, *,
             where: str | None = None, lr_file=None, bootstrap: int = 200, seed: int = 0,
             n_jobs: int | None = None, calibrate: bool = True, interval: str | None = None,
             noise_floor: float = 0.0, dedupe: str | None = None, **settings) -> dict:
    """Fit `law` (a `Law`, used as given, or a name with its `settings`) on the rows matching
    `train`, predict the held-out runs; returns the record.

    `runs` is a run table; `where`, `train` and `test` select rows, and only the rows `where`
    keeps that `train` or `test` select are checked (`prepare_rows`: a bad row the queries
    drop is no error; an error about a checked row names the queries); the law's derived
    columns still read whole runs (so a query may thin a curve whose LRs come from an `lr`
    column). `dedupe` resolves duplicate rows (`scaling.data.runs.read_runs`). `settings` are
    the law's (`decay=0.995`); `calibrate` learns the calibrated intervals' error model from
    the training rows; `interval` picks the kind the test rows show (default: the fit's).
    The record: {"law", "settings", "error_kind", "train_runs", "test": [{"run", <inputs>,
    "actual", "predicted", "lower", "upper", <error>, "distance"}], <mean error>, "interval":
    {"kind", "level"}, "coverage": {"0.5", "0.8", "0.95"}, "interval_score": {…},
    "intervals": {kind: {"coverage", "interval_score", "mean_width"}}, "scored": {"rows", "n"},
    "fit"}, where <error> is "rel_error" (relative errors) or "error" (absolute), <mean error>
    "mean_abs_rel_error" or "mean_abs_error", and "distance" the decades beyond the training
    data (`Fit.distance`); "coverage" and "interval_score" are the shown kind's (None without
    intervals). Laws of whole curves (`rows = "all"`) also give {"test_curves": [{"run",
    "pred_e", "worst_e"}], "mean_pred_e", "mean_worst_e"} (fractions, or target units).
    """
    if isinstance(law, Law):
        if settings:
            raise ScalingError(f"settings ({', '.join(settings)}) go with a law's name; this "
                               f"{law.name} law was built with its own")
        model = law
    else:
        model = get_law(law, **settings)
    data, train_data, test_data = _selected(model, runs, lr_file, where, train, test, dedupe)
    fit = model.fit(train_data, bootstrap=bootstrap, seed=seed, n_jobs=n_jobs,
                    calibrate=calibrate, noise_floor=noise_floor)
    model = fit.law                  # the fitted copy (a law's prepare may settle a setting)
    kinds = fit.interval_kinds
    shown = interval_kind(fit, interval)      # an --interval the fit lacks: a one-line error
    targets = model.target_rows(test_data.frame)
    target_data = PreparedRuns(targets, data.source, data.lr_histories)
    predicted = fit.predict_rows(target_data)
    lower = upper = np.full(len(targets), np.nan)
    if shown:
        _, lower, upper = fit.predict_rows(target_data, kind=shown)
    actual = targets[model.target].to_numpy(float)
    errors = prediction_errors(model, predicted, actual)
    error_key = "rel_error" if model.error_kind == "relative" else "error"
    distance = fit.distance({c: targets[c].to_numpy(float) for c in fit.fitted_range_
                             if c in targets})
    distance = np.broadcast_to(distance, actual.shape)
    task = getattr(model, "task", None)
    sizes = [c for c in ("params", "tokens") if c in targets and c not in model.inputs]
    rows = []
    for k, (_, row) in enumerate(targets.iterrows()):
        rows.append({"run": row["run"], **({"task": task} if task else {}),
                     **{n: float(row[n]) for n in (*sizes, *model.inputs)},
                     "actual": float(actual[k]), "predicted": float(predicted[k]),
                     "lower": json_number(lower[k]), "upper": json_number(upper[k]),
                     error_key: float(errors[k]),
                     **({"abs_error": float(abs(errors[k]))} if error_key == "error" else {}),
                     "distance": float(distance[k])})
    scored = test_data if model.judged_on_curves else target_data
    scores = {kind: interval_scores(fit, scored, kind) for kind in kinds}
    record = {
        "law": model.name,
        **({"task": task} if task else {}),
        "settings": model.settings(),
        "error_kind": model.error_kind,
        "train": train,
        "test_query": test,
        "where": where,
        "train_runs": sorted(train_data.frame["run"].unique().tolist()),
        "test": rows,
        f"mean_abs_{error_key}": float(np.mean(np.abs(errors))),
        "interval": {"kind": shown, "level": model.confidence},
        "coverage": scores[shown]["coverage"] if shown else None,
        "interval_score": scores[shown]["interval_score"] if shown else None,
        "intervals": scores,
        "scored": {"rows": "every row of the held-out curves" if model.judged_on_curves
                   else "final rows", "n": len(scored.frame)},
        "fit": fit.to_dict(),
    }
    if data.lr_sources is not None:      # laws of LRs: where each run's LRs came from
        runs = [*record["train_runs"], *(r["run"] for r in rows)]
        record["lr_sources"] = {run: data.lr_sources[run] for run in runs}
    if model.judged_on_curves:  # laws of whole curves are also judged on every row of each curve
        record.update(curve_errors(fit, test_data))
    return record


def prediction_errors(law, predicted, actual) -> np.ndarray:
    """The law's errors of predictions (`Law.error_kind`): relative, (predicted − actual) /
    actual, or absolute, predicted − actual."""
    predicted, actual = np.asarray(predicted, float), np.asarray(actual, float)
    return (predicted - actual) / actual if law.error_kind == "relative" \
        else predicted - actual


def _selected(model, runs, lr_file, where, train, test, dedupe):
    """(the rows `where` keeps that `train` or `test` select, the training rows, the test rows)
    as `PreparedRuns`; the test rows without `test`: every row `where` keeps of the runs with
    no training row."""
    if isinstance(runs, PreparedRuns):
        source = runs.source
    else:
        source = str(runs.attrs.get("source", "run table"))
    kept = parse(where, "--where", source) if where else None
    picks = parse(train, "--train", source), parse(test, "--test", source) if test else None
    chosen = {}

    def pick(frame):
        base = run_tables.filter_rows(frame, kept, source) if kept is not None else frame
        train_rows = run_tables.filter_rows(base, picks[0], source, "--train")
        trained = set(train_rows["run"].dropna())
        if picks[1] is not None:
            test_rows = run_tables.filter_rows(base, picks[1], source, "--test")
            shared = [run for run in pd.unique(test_rows["run"].dropna()) if run in trained]
            if shared:
                named = ", ".join(repr(str(run)) for run in shared[:3]) + \
                    (f" and {len(shared) - 3} more" if len(shared) > 3 else "")
                raise ScalingError(f"{source}: --train {train!r} and --test {test!r} share "
                                   f"{len(shared)} run(s) ({named}): a backtest scores runs the "
                                   "fit never saw; make the two queries select different runs")
        else:
            held_out = sorted(set(base["run"].dropna()) - trained)
            if not held_out:
                raise ScalingError(f"{source}: --train {train!r} selects every run; nothing is "
                                   f"left to test (give --test)")
            test_rows = base[base["run"].isin(held_out)]
            test_rows.attrs = dict(base.attrs)
        chosen.update(train=train_rows, test=test_rows)
        picked = base[base.index.isin(train_rows.index.union(test_rows.index))]
        picked.attrs = dict(base.attrs)
        return picked

    if isinstance(runs, PreparedRuns):
        data = model.prepare(runs)
        data = data.rows_at(pick(data.frame))
    else:
        selects = f"--train {train!r} or --test {test!r} select" if test else \
            f"--train {train!r} selects and the runs it leaves to test"
        checked = f"the rows --where {where!r} keeps that {selects}" if where else \
            f"the rows {selects}"
        data, _ = prepare_rows(model, runs, lr_file, (kept, *picks), pick, checked, dedupe)
        data = model.prepare(data)            # a law's own step on prepared rows (mup's terms)
    if where:
        data.where = (*data.where, where)
    train_data = data.rows_at(chosen["train"], train)
    test_data = data.rows_at(chosen["test"], test)
    return data, train_data, test_data


def interval_scores(fit, data, kind: str, levels=LEVELS) -> dict:
    """Coverage, mean interval score and mean width of a fit's `kind` intervals at each level,
    over the rows of `data` (`PreparedRuns`), in the errors' units (see the module docstring)."""
    actual = data.frame[fit.target].to_numpy(float)
    out = {"coverage": {}, "interval_score": {}, "mean_width": {}}
    for level in levels:
        _, lower, upper = fit.predict_rows(data, kind=kind, level=level)
        alpha = 1.0 - level
        below, above = np.maximum(lower - actual, 0.0), np.maximum(actual - upper, 0.0)
        score = (upper - lower) + (2.0 / alpha) * (below + above)
        width = upper - lower
        if fit.error_kind == "relative":
            score, width = score / actual, width / actual
        key = f"{level:g}"
        out["coverage"][key] = float(np.mean((actual >= lower) & (actual <= upper)))
        out["interval_score"][key] = float(np.mean(score))
        out["mean_width"][key] = float(np.mean(width))
    return out


def curve_errors(fit, data) -> dict:
    """Per test curve: PredE = mean over its rows of the error's size (|L − L̂| / L for relative
    errors), WorstE = the max."""
    curves = []
    for run, curve in data.frame.groupby("run", sort=False):
        predicted = fit.predict_rows(data.with_frame(curve))
        error = np.abs(prediction_errors(fit.law, predicted, curve[fit.target].to_numpy(float)))
        curves.append({"run": run, "pred_e": float(np.mean(error)),
                       "worst_e": float(np.max(error))})
    return {"test_curves": curves,
            "mean_pred_e": float(np.mean([c["pred_e"] for c in curves])),
            "mean_worst_e": float(np.mean([c["worst_e"] for c in curves]))}



# -- task laws: every task, every variant ------------------------------------------------------

VARIANTS = {            # the task law's variants (Bhagia et al. 2024 and the baselines it compares)
    "two-step": ("task", {}),                           # N, D → task loss → accuracy
    "lm-loss": ("task", {"intermediate": "loss"}),      # N, D → LM loss → accuracy
    "gadre": ("task", {"step2": "exponential"}),        # step 2 Err = ε − k·exp(−γL)
    "single-step": ("task-single", {}),                 # N, D → accuracy
}


VARIANT_NAMES = tuple(VARIANTS)
# the variants and task laws whose two steps read a task's loss (`loss:NAME`) between them
READS_TASK_LOSS = {"two-step", "gadre", "task", "task-accuracy", "task-error", "task-loss"}


def task_variants(law: str | None, variant: str | None) -> list[str]:
    """The task-law variants `--law`/`--variant` ask for: the named law itself (another law
    with `--task all`), every variant (`all`) or one (default two-step)."""
    if law not in (None, "task"):
        if variant is not None:
            raise ScalingError(f"--variant is the task law's; --law {law} has none")
        return [law]
    return list(VARIANT_NAMES) if variant == "all" else [variant or "two-step"]


def tasks_to_fit(runs: pd.DataFrame, task: str, variants, settings: dict, source) -> list[str]:
    """The tasks of `--task NAME|all`: NAME, or every task the table holds (`task_names`: with
    a `loss:NAME` column beside the accuracy where a variant reads the task's loss and no
    setting names another intermediate)."""
    if task != "all":
        return [task]
    needs_loss = any(v in READS_TASK_LOSS for v in variants) and \
        not (settings.get("intermediate") or settings.get("input") or settings.get("target"))
    tasks = task_names(runs, needs_loss)
    if not tasks:
        raise ScalingError(f"{source}: --task all finds no task: no acc:NAME column"
                           + (" with a loss:NAME column beside it" if needs_loss else ""))
    return tasks


def variant_law(variant: str, settings: dict) -> tuple[str, dict]:
    """The law and settings of a task-law variant (or of a law named instead); settings the
    variant's law lacks (step 2's smoothing for the single-step law) are left out."""
    if variant in LAWS and variant not in VARIANTS:     # a law by name: itself
        name, fixed = variant, {}
    elif variant not in VARIANTS:
        raise ScalingError(f"--variant must be one of {', '.join(VARIANTS)} or all, "
                           f"got {variant!r}")
    else:
        name, fixed = VARIANTS[variant]
    known = {s.name for s in LAWS[name].settings_spec}
    return name, {**{k: v for k, v in settings.items() if k in known}, **fixed}


def task_names(frame: pd.DataFrame, needs_loss: bool = True) -> list[str]:
    """The tasks a run table holds: NAME for every `acc:NAME` column (with a `loss:NAME` column
    too when `needs_loss`)."""
    columns = set(frame.columns)
    return sorted(c[4:] for c in columns if c.startswith("acc:") and len(c) > 4
                  and (not needs_loss or f"loss:{c[4:]}" in columns))


def task_backtests(runs, tasks, variants, train: str, test: str | None = None,
                   settings: dict | None = None, **options) -> dict:
    """Backtests of the task law for each task and variant (`VARIANTS`). One of each: the plain
    backtest record. Several: {"law": "task", "tasks", "variants", "train", "test_query",
    "test": every held-out row with its "task" and "variant", "mean_abs_error" (over them all),
    "by_variant": {variant: mean absolute error}, "summary": [{"task", "variant", "n",
    "mean_abs_error", "coverage", "interval_score"}], "records": [each backtest record]}.
    Accuracies are fractions."""
    records = []
    for task in tasks:
        for variant in variants:
            name, law_settings = variant_law(variant, {**(settings or {}), "task": task})
            record = backtest(runs, name, train, test, **options, **law_settings)
            record["variant"] = variant
            records.append(record)
    if len(records) == 1:
        return records[0]
    rows = [{**row, "task": record.get("task"), "variant": record["variant"]}
            for record in records for row in record["test"]]
    summary = [{"task": record.get("task"), "variant": record["variant"],
                "n": len(record["test"]), "mean_abs_error": record.get("mean_abs_error"),
                "coverage": record.get("coverage"), "interval_score": record.get("interval_score")}
               for record in records]
    by_variant = {variant: float(np.mean([r["abs_error"] for r in rows
                                          if r["variant"] == variant]))
                  for variant in variants}
    return {"law": "task", "tasks": list(tasks), "variants": list(variants), "train": train,
            "test_query": test, "error_kind": "absolute",
            "interval": records[0].get("interval"), "test": rows,
            "mean_abs_error": float(np.mean([r["abs_error"] for r in rows])),
            "by_variant": by_variant, "summary": summary, "records": records}


# -- the result as an object (`scaling.backtest`) ---------------------------------------------

class Backtest:
    """A backtest's result: the record `backtest` returns (`record`, what `scaling backtest
    --json` writes), its held-out rows as a DataFrame (`rows`), its scores, and its report
    (`summary()`: what `scaling backtest` prints)."""

    def __init__(self, record: dict, law_inputs=()):
        self.record = record
        self.law_inputs = tuple(law_inputs)

    def __repr__(self) -> str:
        error = self.mean_error
        shown = self.record.get("interval", {}).get("kind")
        coverage = (self.record.get("coverage") or {}).get("0.95")
        return (f"<Backtest {self.record.get('law')}: {len(self.record['test'])} held-out rows, "
                f"mean |{'relative ' if self.error_kind == 'relative' else ''}error| "
                f"{error:.4g}" + (f", 95% {shown} coverage {coverage:.2f}"
                                  if coverage is not None else "") + ">")

    @property
    def error_kind(self) -> str:
        return self.record.get("error_kind", "relative")

    @property
    def mean_error(self) -> float:
        """The mean absolute error (relative for log-space laws, else in the target's units)."""
        key = "mean_abs_rel_error" if "mean_abs_rel_error" in self.record else "mean_abs_error"
        return float(self.record[key])

    @property
    def rows(self) -> pd.DataFrame:
        """One row per held-out point: the run, its inputs, actual, predicted, lower, upper (the
        shown interval), the error and the distance beyond the training data (decades)."""
        return pd.DataFrame(self.record["test"]).astype({"lower": float, "upper": float},
                                                        errors="ignore")

    @property
    def scores(self) -> pd.DataFrame:
        """Per interval kind the fit had and level: coverage, interval score, mean width."""
        rows = [{"kind": kind, "level": float(level), "coverage": scores["coverage"][level],
                 "interval_score": scores["interval_score"][level],
                 "mean_width": scores["mean_width"][level]}
                for kind, scores in (self.record.get("intervals") or {}).items()
                for level in scores["coverage"]]
        return pd.DataFrame(rows, columns=["kind", "level", "coverage", "interval_score",
                                           "mean_width"])

    def summary(self) -> str:
        """The report `scaling backtest` prints."""
        return backtest_report(self.record, self.law_inputs)

    def to_json(self, path=None) -> str:
        """The record as JSON (`scaling backtest --json`); written atomically to `path`."""
        text = json.dumps(self.record, indent=1)
        if path is not None:
            write_text(path, text)
        return text

    def to_html(self) -> str:
        """The report and the held-out rows as an HTML fragment."""
        return (f"<div><pre>{html.escape(self.summary())}</pre>"
                + self.rows.to_html(index=False, na_rep="-") + "</div>")

    def _repr_html_(self) -> str:
        return self.to_html()
