"""The planning report's sections after its recommendation, which `scaling.analysis.planning.plan`
composes: the evidence for the predicted loss and its calibration, downstream accuracy, the
schedule comparison, the optimal vocabulary, over-training, the data limit and the fits used.
Each adds its blocks to the `scaling.output.plan_document.Plan` (or returns its rows) and its
warnings to the report's list (`add_warnings`).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from scaling.analysis.plan_inputs import allocates_loss
from scaling.analysis.schedule_comparison import compare_schedules
from scaling.engine import diagnostics
from scaling.errors import ScalingError
from scaling.analysis.data_limit import ADVICE_COLUMNS
from scaling.output.format import (accuracy_points, accuracy_points_interval, format_number,
                                   significant, with_interval)
from scaling.output.plan_figures import LEVELS, inputs_at, loss_interval, size_name
from scaling.output.curve_tables import curve_points, curve_warning_records
from scaling.output.fit_report import calibration_line
from scaling.output.prediction_columns import interval_kind, reach_cells, reach_values

OVERTRAIN_FACTORS = (1.0, 0.75, 0.5, 0.35, 0.25)


# -- helpers on laws -------------------------------------------------------------------------

def add_warnings(out, source, items):
    for w in items:
        out.append({"source": source, "severity": w.get("severity", "warning"),
                    "message": w["message"], "code": w.get("code")})



def _iso_loss_tokens(law, size, target):
    """D at which a model of `size` reaches loss `target` (bisection in log D); NaN when it
    cannot within 1e17 tokens."""
    low, high = 0.0, math.log(1e17)

    def loss(log_d):
        return float(law.predict_inputs(inputs_at(law, size, math.exp(log_d)))[0])

    if loss(high) > target:
        return math.nan
    for _ in range(80):
        mid = (low + high) / 2
        if loss(mid) > target:
            low = mid
        else:
            high = mid
    return math.exp(high)



# -- the sections ------------------------------------------------------------------------

def evidence_rows(law, inputs, distances) -> list:
    rows = []
    scales = reach_values(law, inputs)
    cells = reach_cells(law, scales)
    for name, value in scales.items():
        low, high = law.fitted_range_[name]
        cell = cells[name][0]
        where = ("inside the fitted range" if cell == "inside" else
                 f"{cell} the largest fitted" if cell.startswith("×") else
                 f"{cell}: the smallest fitted over this value, below the fitted range")
        rows.append((f"{name}: fitted range", f"{significant(low)} to {significant(high)}"))
        rows.append((f"{name}: reach", f"{where} ({float(distances[name][0]):.2f} decades "
                     "outside)"))
    model = getattr(law, "calibration_", None)
    if model is not None:
        for name in scales:
            reached = model.max_distance.get(name, 0.0)
            here = float(distances[name][0])
            ratio = f"{here / reached:.1f}× that" if reached > 0 else "no split reached beyond"
            rows.append((f"{name}: calibration reached", f"{reached:.2f} decades "
                         f"(this point: {here:.2f}, {ratio})"))
        coords = {k: np.atleast_1d(v) for k, v in law.error_coordinates(scales).items()}
        expected = float(np.atleast_1d(model.expected_error(coords))[0])
        rows.append(("expected error here (median, calibrated)",
                     f"{100 * expected:.2g}%" if law.space == "log" else f"{expected:.3g}"))
        rows.append(("beyond the calibration",
                     "yes" if bool(np.atleast_1d(model.beyond_calibration(coords))[0]) else "no"))
    else:
        rows.append(("calibration", "none in this fit (refit without --no-calibration)"))
    return rows


def calibration_text(law, distances) -> str:
    model = getattr(law, "calibration_", None)
    if model is None:
        return ("This fit has no calibrated error model: its intervals are the bootstrap's, which "
                "know nothing of the error of extrapolating (README, \"How far to trust a "
                "prediction\"). Refit without --no-calibration.")
    splits = [s for s in model.splits if s.get("max_distance", 0) > 0]
    far = sorted(splits, key=lambda s: s["max_distance"])[-3:]
    held = "; ".join(f"{s['split']}: {s['n_test']} held-out rows up to "
                     f"{s['max_distance']:.2f} decades out, RMS error "
                     f"{100 * s['rms']:.2g}%" if law.space == "log" else
                     f"{s['split']}: RMS {s['rms']:.3g}" for s in far)
    coords = {k: np.atleast_1d(v) for k, v in distances.items()}
    scale = float(np.atleast_1d(model.scale(coords))[0])
    text = (f"The calibrated {law.target} intervals come from this fit's own backtests: "
            f"{calibration_line(law)}. At the recommended point the error scale is "
            f"{100 * scale:.2g}%" if law.space == "log" else f"{scale:.3g}")
    text += (f". How well intervals like it held: the fit file keeps each split's RMS error, "
             f"not per-row coverage; its farthest extrapolating splits were {held}. ") if held \
        else ". No split of the data extrapolated, so the growth of the error is a floor. "
    text += ("Across the project's backtests (README, bench/calibration.py) calibrated 80% "
             "intervals held 71–90% of held-out runs and 95% intervals 93–98%, pooled; a single "
             "ladder's runs miss together, so one plan's interval can miss outright.")
    return text


def accuracy_row(f, fits, law, n_opt, d_opt, intervals, warnings):
    task = f.fit
    name = Path(f.path).name
    if "params" in task.inputs and "tokens" in task.inputs:
        values = {"params": n_opt, "tokens": d_opt}
        i80 = _interval_at(task, values, 0.8)
        i95 = _interval_at(task, values, 0.95)
        add_warnings(warnings, f"{f.path}: accuracy", diagnostics.prediction_warnings(
            task, task.broadcast_inputs(values), ["the recommended allocation"]))
        how = f"{task.name} at N = {significant(n_opt)}, D = {significant(d_opt)}"
        return (name, task.name, task.target, accuracy_points(i95[0]),
                accuracy_points_interval(*i80[1:]), accuracy_points_interval(*i95[1:]), how)
    source = task.inputs[0]
    if source == law.target:
        point = float(intervals[0.95][0][0])
        out = {}
        for level in LEVELS:
            _, lo, hi = intervals[level]
            ends = [_interval_at(task, {source: v}, level) for v in (lo[0], hi[0])]
            finite = [e for e in ends if np.isfinite(e[1])]
            out[level] = (float(task.predict_inputs(task.broadcast_inputs({source: point}))[0]),
                          min((e[1] for e in finite), default=math.nan),
                          max((e[2] for e in finite), default=math.nan))
        how = (f"{task.name} at the predicted {source} {format_number(point)}; the intervals: "
               f"its own at both ends of the {source} interval (propagated)")
        return (name, task.name, task.target, accuracy_points(out[0.95][0]),
                accuracy_points_interval(*out[0.8][1:]),
                accuracy_points_interval(*out[0.95][1:]), how)
    feeders = [g for g in fits if g.fit.target == source and "params" in g.fit.inputs
               and "tokens" in g.fit.inputs]
    if feeders:
        feed = feeders[0].fit
        values = {"params": n_opt, "tokens": d_opt}
        loss_i = {level: _interval_at(feed, values, level) for level in LEVELS}
        point = float(loss_i[0.95][0])
        out = {}
        for level in LEVELS:
            ends = [_interval_at(task, {source: v}, level) for v in loss_i[level][1:]]
            out[level] = (float(task.predict_inputs(task.broadcast_inputs({source: point}))[0]),
                          min(e[1] for e in ends), max(e[2] for e in ends))
        how = (f"{feed.name} ({Path(feeders[0].path).name}) gives {source} "
               f"{format_number(point)}, then {task.name}")
        return (name, task.name, task.target, accuracy_points(out[0.95][0]),
                accuracy_points_interval(*out[0.8][1:]),
                accuracy_points_interval(*out[0.95][1:]), how)
    return (name, task.name, task.target, "-", "-", "-",
            f"reads {source}, which no given fit predicts from N and D: give a fit of "
            f"{source} (e.g. `--law task-loss`), or fit this law with --set input="
            f"{law.target}")


def _interval_at(law, values, level):
    inputs = law.broadcast_inputs(values)
    kind = interval_kind(law)
    if kind is None:
        p = float(law.predict_inputs(inputs)[0])
        return p, math.nan, math.nan
    if kind == "law":
        kind = "run"
    p, lo, hi = law.interval_from_inputs(inputs, kind, level)
    return float(p[0]), float(lo[0]), float(hi[0])


def schedule_section(doc, f, schedule, tokens_per_step, d_opt, n_opt, warnings):
    law = f.fit
    name = Path(f.path).name
    if schedule is None or tokens_per_step is None:
        missing = [opt for opt, v in (("--schedule \"peak=…,warmup=…,final=…\"", schedule),
                                      ("--tokens-per-step T (tokens in one optimizer step: "
                                       "batch × context)", tokens_per_step)) if v is None]
        doc.p(f"`{name}` ({law.name}) can compare constant, cosine and WSD schedules at the "
              f"recommended length, which needs {' and '.join(missing)}: the steps are D / T.")
        return
    steps = max(1, int(round(d_opt / tokens_per_step)))
    sizes = {"params": n_opt} if "params" in law.inputs else {}
    try:
        curves = compare_schedules(law, f"{schedule},steps={steps}",
                                   kind=interval_kind(law), **sizes)
    except ScalingError as error:
        doc.p(f"`{name}` ({law.name}): no schedule comparison: {error}")
        return
    rows, scales = [], []
    for variant, curve in curves.items():
        last = curve.iloc[-1]
        cells = reach_cells(law, curve_points(law, curve.iloc[[-1]]))
        scales = list(cells)
        rows.append((variant, format_number(last[law.target]),
                     f"[{format_number(last.lower)}, {format_number(last.upper)}]"
                     if np.isfinite(last.lower) else "- (the fit has no intervals)",
                     *(cells[name][0] for name in scales)))
    finals = {v: curves[v].iloc[-1][law.target] for v in curves}
    best = min(curves, key=lambda v: finals[v] if np.isfinite(finals[v]) else math.inf)
    doc.p(f"`{name}` ({law.name}) at {steps:,} steps (D = {significant(d_opt)} tokens / "
          f"{significant(tokens_per_step)} tokens a step), common settings {schedule}: the lowest "
          f"final {law.target} is **{best}**. The schedule law was fitted on the ladder's curves: "
          "read the differences between schedules, not the level of the loss.")
    doc.table(("schedule", f"final {law.target}", f"{100 * law.confidence:g}% interval",
               *(f"× {name}" for name in scales)), rows)
    add_warnings(warnings, f"{f.path}: schedules", curve_warning_records(law, curves, False))


def vocab_section(doc, f, n_opt, budget, width):
    law = f.fit
    doc.h2("Vocabulary size")
    assumed = width is None
    if assumed:      # aspect ratio d / depth = 128: N = 12·d²·depth = 12·d³/128
        width = round((n_opt * 128 / 12) ** (1 / 3) / 64) * 64
    try:
        result = law.optimal_vocab([n_opt], [width], flops=[budget], kind=interval_kind(law))
    except ScalingError as error:
        doc.p(f"`{Path(f.path).name}`: no optimal vocabulary: {error}")
        return
    v3 = float(result["vocab"]["approach3"][0])
    low, high = (float(x[0]) for x in result["interval3"])
    doc.p(f"`{Path(f.path).name}` ({law.name}, approach 3 at {budget:.3g} FLOPs, N_nv taken as "
          f"the recommended N {significant(n_opt)}, width d = {width:g}"
          + (" assumed from an aspect ratio d/depth = 128; give --width d" if assumed else "")
          + "): " + ("no optimum: " + str(result["why"]["approach3"]) if not np.isfinite(v3)
                     else f"V = **{v3:,.0f}**" + (f" [{low:,.0f}, {high:,.0f}] (95%, bootstrap)"
                                                  if np.isfinite(low) else ""))
          + ". Approaches 1 and 2 answer for a model's own compute-optimal budget only.")


def overtrain_section(doc, law, budget, n_opt, loss_opt, inference_tokens, warnings, primary):
    size = size_name(law)
    t = float(inference_tokens)
    rows, totals, labels = [], [], []
    sizes = np.array([n_opt * f for f in OVERTRAIN_FACTORS])
    tokens = np.array([budget / float(law.training_compute(**{size: n, "tokens": 1.0}))
                       for n in sizes])
    inputs = inputs_at(law, sizes, tokens)
    point, low, high = loss_interval(law, inputs, 0.8)
    for k, (factor, n, d) in enumerate(zip(OVERTRAIN_FACTORS, sizes, tokens)):
        inference = 2.0 * n * t
        iso_d = _iso_loss_tokens(law, n, loss_opt)
        iso_train = (float(law.training_compute(**{size: n, "tokens": iso_d}))
                     if np.isfinite(iso_d) else math.nan)
        iso_total = iso_train + inference
        totals.append(iso_total)
        labels.append(f"N_opt × {factor:g}")
        rows.append([f"×{factor:g}", significant(n), significant(d), significant(d / n, 3),
                     with_interval(point[k], low[k], high[k]), f"+{point[k] - point[0]:.4f}"
                     if k else "0", significant(inference, 3), significant(budget + inference, 3),
                     significant(iso_d), significant(iso_train, 3), significant(iso_total, 3), ""])
    best = int(np.nanargmin(totals)) if np.isfinite(totals).any() else None
    if best is not None:
        rows[best][-1] = "**least total**"
    doc.p(f"At the same training budget ({budget:.3g} FLOPs, {law.compute_formula}), smaller "
          f"models on more tokens lose a little {law.target} and cost less to serve: inference "
          f"costs 2·N FLOPs a token, {t:.3g} inference tokens here"
          + (" (none given: --inference-tokens T; the table still shows the loss cost)"
             if t == 0 else "") + ". The right-hand columns hold the optimum's "
          f"{law.target} ({format_number(loss_opt)}) fixed instead: the tokens each size needs to "
          "reach it, that training's FLOPs, and training + inference; the least total is marked "
          "(Sardana et al. 2024). With no inference it is the compute-optimal row.")
    doc.table(("N_opt ×", size if size != "params" else "params N", "tokens D", "tokens/param",
               f"{law.target} [80%]", "loss cost", "inference FLOPs 2NT",
               "total FLOPs (train + inf.)", "D for the optimum's loss", "its training FLOPs",
               "its total FLOPs", "mark"), rows)
    add_warnings(warnings, f"{primary.path}: over-training rows",
          diagnostics.prediction_warnings(law, inputs, labels, ("the over-training row",
                                                                 "the over-training rows")))


def data_limit_section(doc, f, budget, unique_tokens):
    law = f.fit
    advice = law.data_limited([budget], unique_tokens, kind=interval_kind(law))
    doc.h2(f"Under a data limit of {unique_tokens:.3g} unique tokens")
    doc.table(("FLOPs", "unique U", *(label for _, label in ADVICE_COLUMNS)),
              [(f"{budget:.3g}", f"{unique_tokens:.3g}",
                *(with_interval(*(v[0] for v in advice[key]),
                               fmt=format_number if "loss" in key else significant)
                  for key, _ in ADVICE_COLUMNS))])
    doc.p(f"`{Path(f.path).name}` ({law.name}): no limit: the compute-optimal allocation with "
          "unique data; loss at U: that allocation repeating U unique tokens; best: the N, "
          "D = C/(6N) of least loss under the limit.")


def fit_section(doc, f, primary):
    law = f.fit
    data = law.data_ or {}
    where = f" where {data['where']}" if data.get("where") else ""
    role = ("primary: the recommendation" if f is primary else
            "approach 3 beside the primary" if allocates_loss(law) else
            "downstream accuracy" if str(law.target).startswith("acc:") else
            "schedules" if law.predicts_schedules else
            "vocabulary" if law.optimizes_vocabulary else "shown, not used")
    doc.p(f"**{f.path}** ({role}): {law.title}; `{law.equation}`; data "
          f"{data.get('source', '?')}{where}: {law.n_runs_} runs, {law.n_points_} points; "
          + (f"{len(law.bootstrap_theta_)} bootstrap refits" if len(law.bootstrap_theta_)
             else "no bootstrap"))
    level = f"{100 * law.confidence:g}%"
    doc.table(("parameter", "value", f"{level} interval (bootstrap)"),
              [(name, format_number(law.params_[name]),
                (lambda iv: f"[{format_number(iv[0])}, {format_number(iv[1])}]" if iv else "-")(
                    law.intervals_.get(name))) for name in law.reported_names])
    ranges = "; ".join(f"{k} {significant(lo)} to {significant(hi)}"
                       for k, (lo, hi) in law.fitted_range_.items())
    lines = [f"fitted range: {ranges or '-'}"]
    if getattr(law, "calibration_", None) is not None:
        lines.append(f"calibrated {calibration_line(law)}")
    fit_w = diagnostics.render(diagnostics.fit_warnings(law))
    lines += fit_w or ["no warnings of the fit"]
    doc.pre("\n".join(lines))
