"""The planning report (`scaling plan`): a decision for one compute budget, with its evidence and
its uncertainty on one page.

`plan(budget, fits, ...)` takes saved fits (`scaling fit --out`, as `PlanFit`s checked by
`scaling.analysis.plan_inputs`) and, optionally, the run table they came from, and returns a
`Plan` (`scaling.output.plan_document`): a list of blocks (headings, paragraphs, tables, warnings,
figures) that its `write` renders twice, as DIR/report.md (figures as PNG files beside it) and
as DIR/report.html (one self-contained file: the same figures embedded as base64 PNG, no
external reference). This module makes the recommendation and composes the report; the
sections after the recommendation are built by `scaling.analysis.plan_sections`. It holds:

- the fits used: law, equation, parameters with intervals, fitted range, calibration, warnings;
- the compute-optimal N and D at the budget by every approach the inputs support: approach 3 of
  each loss-law fit that allocates compute (each in its own compute model: C = 6ND, or
  C = 6·N_avg·D for the sparse law), and approaches 1 and 2 on the run table
  (`scaling.analysis.approach1_envelope`, `approach2_isoflop`), side by side, with the primary fit's loss at each;
- the recommended allocation (approach 3 of the first loss-law fit given) and its predicted loss
  with the fit's calibrated 80% and 95% intervals, how far it reaches beyond the fitted data
  and beyond the calibration's backtests, and what those backtests measured;
- downstream accuracy (task laws), a schedule comparison (LR-schedule laws), the optimal
  vocabulary (the vocabulary law), the best allocation under a data limit (the data-constrained
  law), when such fits are given;
- an over-training table: smaller models on more tokens at the same training budget, their loss
  and its cost, the inference FLOPs 2·N·T of T inference tokens and the total; and, for each
  size, the training that reaches the optimum's loss and the total compute of that plan, the
  least of which is marked (Sardana et al. 2024, "Beyond Chinchilla-Optimal");
- every warning of the fits and of the predictions, at the top;
- figures: isoFLOP curves, the compute-optimal frontier with its bootstrap band, and the loss
  against compute to the budget with the fitted range shaded and the calibrated bands.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scaling.analysis.approach1_envelope import approach1
from scaling.analysis.approach2_isoflop import approach2
from scaling.analysis.plan_inputs import PlanFit, allocates_loss, check_budget, check_plan_inputs
from scaling.analysis.plan_sections import (accuracy_row, add_warnings, calibration_text,
                                            data_limit_section, evidence_rows, fit_section,
                                            overtrain_section, schedule_section, vocab_section)
from scaling.data.runs import sensible_range
from scaling.engine import diagnostics
from scaling.errors import ScalingError
from scaling.output import plan_figures as plan_plots
from scaling.output.format import format_number, significant, with_interval
from scaling.output.plan_document import Plan
from scaling.output.plan_figures import LEVELS, inputs_at, loss_interval, size_name
from scaling.output.prediction_columns import interval_kind, reach_values
from scaling.output.prediction_columns import reach_text as reach_words

PLOTS = {"isoflop": "isoflop.png", "frontier": "frontier.png",
         "extrapolation": "loss-vs-compute.png"}


def _check_allocation(budget, law, allocation: dict) -> None:
    """A one-line error when the budget's compute-optimal model or data leaves the sensible
    range of its column (`scaling.data.runs.SENSIBLE`: a model under 1 parameter at a budget of a
    few FLOPs, over 1e15 at 1e32): nothing sensible can be planned there. Budgets below or above
    the fitted data but inside those ranges are planned, with their reach's warnings."""
    for name, value in allocation.items():
        bounds = sensible_range("params" if name == "params_average" else name)
        if bounds is None:
            continue
        low, high, what = bounds
        if not (np.isfinite(value) and low <= value <= high):
            raise ScalingError(
                f"--flops {budget:g}: the {law.name} fit's compute-optimal {name} there is "
                f"{value:.3g}, outside the sensible range [{low:g}, {high:g}] for {what}; "
                "nothing sensible can be planned at this budget")



def plan(budget: float, fits: list[PlanFit], *, runs=None, runs_source: str | None = None,
         inference_tokens: float = 0.0, unique_tokens: float | None = None,
         schedule: str | None = None, tokens_per_step: float | None = None,
         width: float | None = None, bootstrap: int = 200, seed: int = 0) -> Plan:
    """The planning report for a training budget of `budget` FLOPs (see the module docstring).
    `fits`: the loaded fits, in the order given (the first loss-law fit is the primary one);
    `runs`: a run table (`scaling.data.runs.read_runs`) for approaches 1 and 2 and the figures."""
    budget = check_budget(budget)
    check_plan_inputs(fits, unique_tokens=unique_tokens, schedule=schedule,
                      tokens_per_step=tokens_per_step, inference_tokens=inference_tokens)
    loss_fits = [f for f in fits if allocates_loss(f.fit)]
    primary = loss_fits[0]
    law = primary.fit
    doc = Plan()
    warnings: list[dict] = []
    size = size_name(law)
    size_label = "avg params N_avg" if size == "params_average" else "params N"

    # -- the recommended allocation ---------------------------------------------------------
    alloc = law.compute_optimal([budget])
    n_opt = float(alloc[size][0][0])
    d_opt = float(alloc["tokens"][0][0])
    _check_allocation(budget, law, {size: n_opt, "tokens": d_opt})
    inputs = {name: np.atleast_1d(alloc[name][0]) for name in law.inputs if name in alloc}
    kind = interval_kind(law)
    intervals = {level: loss_interval(law, inputs, level) for level in LEVELS}
    loss_opt = float(intervals[0.95][0][0])
    scales = reach_values(law, inputs)          # the one reach computation `predict` uses
    reach = law.reach(scales)
    distances = law.distances(scales)
    for f in fits:
        add_warnings(warnings, f.path, diagnostics.fit_warnings(f.fit))
    add_warnings(warnings, f"{primary.path}: recommended allocation",
          diagnostics.allocation_warnings(law, [budget], alloc))

    # -- approaches, side by side -----------------------------------------------------------
    rows = []
    for f in loss_fits:
        a = f.fit.compute_optimal([budget])
        s = size_name(f.fit)
        n, d = (a[s][0][0], a[s][1][0], a[s][2][0]), (a["tokens"][0][0], a["tokens"][1][0],
                                                      a["tokens"][2][0])
        own = loss_interval(f.fit, {k: np.atleast_1d(a[k][0]) for k in f.fit.inputs}, 0.8)
        by_primary = float(law.predict_inputs(inputs_at(law, n[0], d[0]))[0])
        rows.append((f"3 parametric: {f.fit.name} ({Path(f.path).name})" +
                     (" **recommended**" if f is primary else ""), f.fit.compute_formula,
                     with_interval(*n, fmt=significant), with_interval(*d, fmt=significant),
                     significant(d[0] / n[0], 3),
                     with_interval(own[0][0], own[1][0], own[2][0]), format_number(by_primary)))
    unsupported = {}
    approach_results = {}
    if runs is not None:
        source = runs_source or "run table"
        for number, call in ((1, lambda: approach1(runs, bootstrap=bootstrap, seed=seed,
                                                   source=source)),
                             (2, lambda: approach2(runs, bootstrap=bootstrap, seed=seed,
                                                   source=source))):
            try:
                approach_results[number] = call()
            except ScalingError as error:
                unsupported[number] = str(error).removeprefix(f"{source}: ")
        for number, result in approach_results.items():
            a = result.allocation([budget])
            n = tuple(float(v[0]) for v in a["params"])
            d = tuple(float(v[0]) for v in a["tokens"])
            by_primary = float(law.predict_inputs(inputs_at(law, n[0], d[0]))[0])
            rows.append((f"{number} {result.name} (runs)", "C = 6 N D (flops column)",
                         with_interval(*n, fmt=significant), with_interval(*d, fmt=significant),
                         significant(d[0] / n[0], 3), "-", format_number(by_primary)))
            for w in result.warnings:
                warnings.append({"source": f"approach {number}", "severity": "warning",
                                 "message": w, "code": None})
    else:
        unsupported = {1: "no run table given (--runs RUNS)", 2: "no run table given (--runs RUNS)"}

    # -- header and the decision --------------------------------------------------------------
    doc.h1(f"Training plan for {budget:.3g} FLOPs")
    low80, high80 = intervals[0.8][1][0], intervals[0.8][2][0]
    low95, high95 = intervals[0.95][1][0], intervals[0.95][2][0]
    reach_text = reach_words(law, scales)
    kind_text = kind or "no"
    doc.p(f"**Recommendation** (approach 3 of `{Path(primary.path).name}`, the {law.name} law, "
          f"{law.compute_formula}): train **{significant(n_opt)}** "
          f"{'average ' if size != 'params' else ''}parameters on **{significant(d_opt)}** tokens "
          f"({significant(d_opt / n_opt, 3)} tokens a parameter); predicted {law.target} "
          f"**{format_number(loss_opt)}**, 80% interval [{format_number(low80)}, "
          f"{format_number(high80)}], 95% [{format_number(low95)}, {format_number(high95)}] "
          f"({kind_text} intervals); reach beyond the fitted data: {reach_text}.")
    def boot(key):
        low, high = alloc[key][1][0], alloc[key][2][0]
        return (f"[{significant(low)}, {significant(high)}] (95%, bootstrap)" if np.isfinite(low)
                else "- (no bootstrap)")

    doc.table(("quantity", "value", "interval"),
              [(size_label, significant(n_opt), boot(size)),
               ("tokens D", significant(d_opt), boot("tokens")),
               ("tokens/param", significant(d_opt / n_opt), boot("tokens_per_param")),
               (law.target, format_number(loss_opt),
                f"[{format_number(low80)}, {format_number(high80)}] (80%, {kind_text})"),
               (law.target, format_number(loss_opt),
                f"[{format_number(low95)}, {format_number(high95)}] (95%, {kind_text})")])
    doc.record = {"budget": budget, "law": law.name, "fit": primary.path, size: n_opt,
                  "tokens": d_opt, "loss": loss_opt, "interval_kind": kind,
                  "loss_80": [float(low80), float(high80)], "loss_95": [float(low95),
                                                                         float(high95)],
                  "reach": {k: float(v[0]) for k, v in reach.items()}}
    doc.summary_lines = [f"recommended ({law.name}, {law.compute_formula}): {size_label} "
                   f"{significant(n_opt)}, tokens D {significant(d_opt)} "
                   f"({significant(d_opt / n_opt, 3)} tokens/param)",
                   f"predicted {law.target} {format_number(loss_opt)}, 80% "
                   f"[{format_number(low80)}, {format_number(high80)}], 95% "
                   f"[{format_number(low95)}, {format_number(high95)}] ({kind_text}); "
                   f"reach {reach_text}"]

    doc.h2("Warnings")
    doc.warnings([])            # filled in at the end, with every section's warnings
    warning_block = doc.blocks[-1]

    # -- compute-optimal allocation by every approach ----------------------------------------
    doc.h2(f"Compute-optimal allocation at {budget:.3g} FLOPs, by every approach")
    doc.table(("approach", "compute model", "N [95%]", "D [95%]", "tokens/param",
               f"{law.target} by its own law [80%]", f"{law.target} by {law.name} (primary)"),
              rows)
    notes = ["Approach 3 solves each fitted law for its optimum in its own compute model; "
             "approaches 1 and 2 fit N_opt = k·C^a to the run table's envelope or isoFLOP "
             "minima and extrapolate that power law to the budget. The last column puts every "
             "allocation into the primary fit's law: how much each disagreement would cost."]
    for number, why in unsupported.items():
        notes.append(f"Approach {number} not supported: {why}.")
    doc.p(" ".join(notes))

    # -- predicted loss and the evidence ------------------------------------------------------
    doc.h2("Predicted loss and how far to trust it")
    evidence = evidence_rows(law, inputs, distances)
    doc.table(("", "value"), evidence)
    doc.p(calibration_text(law, distances))

    # -- downstream accuracy ---------------------------------------------------------------------
    task_fits = [f for f in fits if str(f.fit.target).startswith("acc:")]
    if task_fits:
        doc.h2("Downstream accuracy at the recommended allocation")
        doc.table(("fit", "law", "task", "accuracy (%)", "80% interval", "95% interval", "how"),
                  [accuracy_row(f, fits, law, n_opt, d_opt, intervals, warnings)
                   for f in task_fits])

    # -- schedule ----------------------------------------------------------------------------------
    schedule_fits = [f for f in fits if f.fit.predicts_schedules]
    if schedule_fits:
        doc.h2("Learning-rate schedule")
        for f in schedule_fits:
            schedule_section(doc, f, schedule, tokens_per_step, d_opt, n_opt, warnings)

    # -- vocabulary ------------------------------------------------------------------------------
    for f in fits:
        if f.fit.optimizes_vocabulary:
            vocab_section(doc, f, n_opt, budget, width)

    # -- over-training -------------------------------------------------------------------------
    doc.h2("Over-training: smaller models on more tokens")
    overtrain_section(doc, law, budget, n_opt, loss_opt, inference_tokens, warnings, primary)

    # -- data limit --------------------------------------------------------------------------------
    if unique_tokens is not None:
        for f in fits:
            if f.fit.advises_data_limit:
                data_limit_section(doc, f, budget, unique_tokens)

    # -- fits used ---------------------------------------------------------------------------------
    doc.h2("The fits used")
    for f in fits:
        fit_section(doc, f, primary)

    # -- figures -----------------------------------------------------------------------------------
    doc.h2("Figures")
    frame = runs
    doc.figure(PLOTS["isoflop"], plan_plots.isoflop_png(law, budget, frame),
               f"isoFLOP curves of the {law.name} fit: {law.target} against N at budgets up to "
               f"{budget:.3g} FLOPs (lines), each curve's optimum (x)"
               + (", and the runs' final rows (markers, coloured by their compute)"
                  if frame is not None else ""))
    doc.figure(PLOTS["frontier"], plan_plots.frontier_png(law, budget, approach_results),
               "the compute-optimal frontier: N_opt(C) and D_opt(C) with their 95% bootstrap "
               "band; shaded: the compute of the fitted data's (N, D) box" +
               (f"; approach{'es' if len(approach_results) > 1 else ''} "
                + " and ".join(str(k) for k in approach_results) + " dashed"
                if approach_results else ""))
    doc.figure(PLOTS["extrapolation"], plan_plots.extrapolation_png(law, budget, frame),
               f"{law.target} at the compute-optimal allocation against compute, extrapolated to "
               f"{budget:.3g} FLOPs, with the {kind_text} 80% and 95% bands; shaded: the compute "
               "of the fitted data's (N, D) box"
               + ("; markers: every run's final row (the optimum is their lower envelope)"
                  if frame is not None else ""))

    unique = list({(w["source"], w["message"]): w for w in warnings}.values())
    serious = [w for w in unique if w["severity"] != "caution"]
    cautions = [w for w in unique if w["severity"] == "caution"]
    warning_block.items = serious + cautions
    doc.summary_lines.append(f"{len(serious)} warning(s), {len(cautions)} caution(s)"
                       + "".join(f"\n  WARNING ({w['source']}): {w['message']}"
                                 for w in serious))
    return doc
