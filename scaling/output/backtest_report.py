"""Readable reports of backtests (`scaling.analysis.backtest`): each held-out run's actual and
predicted value, its error and how far it lies outside the training data, the mean errors, the
fit's warnings, and the coverage and scores of each interval kind; accuracies in points, and the
task law's backtests over tasks and variants.
"""

from __future__ import annotations

import numpy as np

from scaling.engine import diagnostics
from scaling.output.fit_report import lr_sources_line
from scaling.output.format import (accuracy_points, accuracy_points_interval, decades_outside,
                                   interval, table)


def fit_warning_lines(record: dict) -> list[str]:
    """The "WARNING (fit): …" lines of a backtest record's fit: its warnings about the fit (not
    cautions, not those of the compute-optimal allocation its fit file keeps)."""
    warnings = (record.get("fit") or {}).get("warnings") or []
    return [f"WARNING (fit): {w['message']}" for w in warnings
            if w.get("severity", "warning") == "warning"
            and w.get("code") not in diagnostics.POINT_CODES]


def backtest_report(record: dict, law_inputs) -> str:
    """A backtest record (`scaling.analysis.backtest.backtest`) as text: relative errors in percent,
    absolute errors (linear-space targets) in the target's units."""
    if "records" in record:                      # several tasks or variants of the task law
        return task_backtest_report(record)
    relative = record.get("error_kind", "relative") == "relative"
    key, label = ("rel_error", "rel err") if relative else ("error", "error")
    points = accuracy_in_points(record)
    if points:
        return _accuracy_backtest_report(record, law_inputs)

    def size(value):
        return f"{100 * value:.3f}%" if relative else f"{value:.4g}"

    n_train = len(record["train_runs"])
    lines = [f"backtest {record['law']}: fit on {n_train} runs matching {record['train']!r}, "
             f"predict the final rows of {len(record['test'])} held-out runs"]
    if record.get("lr_sources"):
        lines.append(f"LRs {lr_sources_line(record['lr_sources'])}")
    lines.append("")
    intervals = record.get("coverage") is not None     # the fit gave intervals
    shown = (record.get("interval") or {}).get("kind")
    header = ("run", *law_inputs, "actual", "predicted",
              *((f"{shown} interval",) if intervals else ()), label, "beyond")
    rows = [(str(r["run"]), *(f"{r[n]:.4g}" for n in law_inputs), f"{r['actual']:.4f}",
             f"{r['predicted']:.4f}",
             *((interval(r["lower"], r["upper"], missing="(no bootstrap)"),)
               if intervals else ()),
             f"{100 * r[key]:+.2f}%" if relative else f"{r[key]:+.4f}",
             decades_outside(r.get("distance"))) for r in record["test"]]
    lines.append(table(header, rows, right=(*law_inputs, "actual", "predicted", label,
                                            "beyond")))
    lines += ["", f"mean absolute {'relative ' if relative else ''}error "
                  f"{size(record['mean_abs_' + key])}"]
    lines += fit_warning_lines(record)
    if record.get("test_curves"):
        lines += ["", table(("curve", "PredE", "WorstE"),
                            [(str(c["run"]), size(c["pred_e"]), size(c["worst_e"]))
                             for c in record["test_curves"]],
                            right=("PredE", "WorstE")),
                  f"mean PredE {size(record['mean_pred_e'])}, "
                  f"mean WorstE {size(record['mean_worst_e'])}"]
    if record.get("intervals"):
        lines += ["", interval_table(record)]
    return "\n".join(lines)


def accuracy_in_points(record: dict) -> bool:
    """Whether a backtest predicts accuracies (shown in points: 100 × the fraction)."""
    target = (record.get("fit") or {}).get("target", "")
    return bool(record.get("task")) or str(target).startswith("acc:")


def _accuracy_backtest_report(record: dict, law_inputs) -> str:
    """A backtest of accuracies: actual, predicted, interval and error in points."""
    n_train = len(record["train_runs"])
    task = record.get("task")
    what = f" on {task}" if task else ""
    lines = [f"backtest {record['law']}{what}: fit on {n_train} runs matching "
             f"{record['train']!r}, predict the final accuracy (mean of the last evaluations) "
             f"of {len(record['test'])} held-out runs; accuracies in points (%)", ""]
    shown = (record.get("interval") or {}).get("kind")
    level = (record.get("interval") or {}).get("level")
    first = record["test"][0] if record["test"] else {}
    extra = [c for c in ("params", "tokens", *law_inputs, *first) if c in first
             and (c in ("params", "tokens", *law_inputs) or str(c).startswith("loss"))]
    extra = list(dict.fromkeys(extra))
    interval_label = f"{shown} {100 * level:g}%" if shown and level else "interval"
    header = ("run", *extra, "actual", "predicted", interval_label, "error pt", "beyond")
    rows = [(str(r["run"]), *(f"{r[c]:.4g}" for c in extra), accuracy_points(r["actual"]),
             accuracy_points(r["predicted"]),
             accuracy_points_interval(r.get("lower"), r.get("upper")),
             f"{100 * r['error']:+.1f}", decades_outside(r.get("distance")))
            for r in record["test"]]
    lines.append(table(header, rows, right=(*extra, "actual", "predicted", "error pt",
                                            "beyond")))
    lines += ["", f"mean absolute error {100 * record['mean_abs_error']:.2f} points"]
    lines += fit_warning_lines(record)
    if record.get("intervals"):
        lines += ["", interval_table(record)]
    return "\n".join(lines)


def _warning_codes(record: dict) -> str:
    codes = [w["code"] for w in (record.get("fit") or {}).get("warnings") or []
             if w.get("severity", "warning") == "warning"]
    return ", ".join(dict.fromkeys(codes)) or "-"


def _coverage_at(coverage, level) -> str:
    """A backtest's coverage ({"0.95": share, …}) at `level`, in percent."""
    if not coverage or level is None or f"{level:g}" not in coverage:
        return "-"
    return f"{100 * coverage[f'{level:g}']:.0f}%"


def task_backtest_report(record: dict) -> str:
    """Backtests of the task law over tasks and variants (`scaling.analysis.backtest.task_backtests`):
    every held-out run, then mean absolute errors and coverage per task and variant, in points."""
    shown = (record.get("interval") or {}).get("kind")
    level = (record.get("interval") or {}).get("level")
    several = len(record["variants"]) > 1
    lines = [f"backtest of the task law on {len(record['tasks'])} task(s)"
             + (f" x {len(record['variants'])} variants" if several else
                f" ({record['variants'][0]})")
             + f": fit on the runs matching {record['train']!r}, predict the final accuracy of "
             "the held-out runs; accuracies in points (%)", ""]
    interval_label = f"{shown} {100 * level:g}%" if shown and level else "interval"
    header = ("task", *(("variant",) if several else ()), "run", "params", "tokens", "actual",
              "predicted", interval_label, "error pt")
    rows = [(str(r["task"]), *((r["variant"],) if several else ()), str(r["run"]),
             f"{r.get('params', np.nan):.4g}", f"{r.get('tokens', np.nan):.4g}",
             accuracy_points(r["actual"]), accuracy_points(r["predicted"]),
             accuracy_points_interval(r.get("lower"), r.get("upper")),
             f"{100 * r['error']:+.1f}") for r in record["test"]]
    lines.append(table(header, rows, right=("params", "tokens", "actual", "predicted",
                                            "error pt")))
    cover = f"coverage {100 * level:g}%" if level else "coverage"
    summary = [(str(s["task"]), *((s["variant"],) if several else ()), str(s["n"]),
                f"{100 * s['mean_abs_error']:.2f}",
                _coverage_at(s.get("coverage"), level), _warning_codes(r))
               for s, r in zip(record["summary"], record["records"])]
    lines += ["", table(("task", *(("variant",) if several else ()), "runs", "mean abs err pt",
                         cover, "fit warnings"), summary,
                        right=("runs", "mean abs err pt", cover))]
    if several:
        lines += ["", "mean absolute error by variant: " + ", ".join(
            f"{variant} {100 * value:.2f} pt" for variant, value in record["by_variant"].items())]
    else:
        lines += ["", f"mean absolute error {100 * record['mean_abs_error']:.2f} points"]
    return "\n".join(lines)


def interval_table(record: dict) -> str:
    """Coverage, mean width and mean interval score of each interval kind at each level."""
    relative = record.get("error_kind", "relative") == "relative"
    scored = record.get("scored", {})
    shown = (record.get("interval") or {}).get("kind")
    rows = []
    for kind, scores in record["intervals"].items():
        for level, coverage in scores["coverage"].items():
            width, score = scores["mean_width"][level], scores["interval_score"][level]
            rows.append((kind + (" (shown)" if kind == shown else ""),
                         f"{100 * float(level):g}%", f"{100 * coverage:.0f}%",
                         f"{100 * width:.2f}%" if relative else f"{width:.4g}",
                         f"{100 * score:.2f}%" if relative else f"{score:.4g}"))
    what = scored.get("rows", "held-out rows")
    heading = (f"intervals on {scored.get('n', '?')} {what} (coverage: share inside; width and "
               "interval score" + (" relative to the actual value" if relative else "")
               + "; lower score is better)")
    return heading + "\n" + table(("interval", "level", "coverage", "mean width",
                                   "interval score"), rows,
                                  right=("level", "coverage", "mean width", "interval score"))
