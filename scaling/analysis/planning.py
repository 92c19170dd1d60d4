"""The planning report (`scaling plan`): a decision for one compute budget, with its evidence and
its uncertainty on one page.

`plan(budget, fits, ...)` takes saved fits (`scaling fit --out`) and, optionally, the run table
they came from, and returns a `Plan`: a list of blocks (headings, paragraphs, tables, warnings,
figures) that `write` renders twice, as DIR/report.md (figures as PNG files beside it) and as
DIR/report.html (one self-contained file: the same figures embedded as base64 PNG, no external
reference). It holds:

- the fits used: law, equation, parameters with intervals, fitted range, calibration, warnings;
- the compute-optimal N and D at the budget by every approach the inputs support: approach 3 of
  each loss-law fit that allocates compute (each in its own compute model: C = 6ND, or
  C = 6·N_avg·D for the sparse law), and approaches 1 and 2 on the run table
  (`scaling.analysis.approaches`), side by side, with the primary fit's loss at each;
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

import base64
import html
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from scaling.analysis import approaches
from scaling.analysis.schedule_comparison import compare_schedules
from scaling.data.runs import check_sensible_inputs, sensible_range
from scaling.data.schedules import ScheduleError, key_values
from scaling.engine import diagnostics
from scaling.errors import ScalingError
from scaling.analysis.data_limit import ADVICE_COLUMNS
from scaling.output import plan_figures as plan_plots
from scaling.output.atomic import atomic_path, write_text
from scaling.output.format import (accuracy_points, accuracy_points_interval, format_number,
                                   significant, with_interval)
from scaling.output.plan_figures import LEVELS, inputs_at, loss_interval, size_name
from scaling.output.curve_tables import curve_points, curve_warning_records
from scaling.output.fit_report import calibration_line
from scaling.output.prediction_columns import interval_kind, reach_cells, reach_values
from scaling.output.prediction_columns import reach_text as reach_words

OVERTRAIN_FACTORS = (1.0, 0.75, 0.5, 0.35, 0.25)
REPORT_MD, REPORT_HTML = "report.md", "report.html"
PLOTS = {"isoflop": "isoflop.png", "frontier": "frontier.png",
         "extrapolation": "loss-vs-compute.png"}


def _json_value(value):
    """numpy numbers as Python's (NaN as None) for `Plan.to_json`."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value if isinstance(value, (int, float)) else str(value)


# -- the document ----------------------------------------------------------------------------

@dataclass
class Block:
    kind: str                   # "h1", "h2", "p", "table", "warnings", "figure", "pre"
    text: str = ""
    header: tuple = ()
    rows: list = field(default_factory=list)
    items: list = field(default_factory=list)
    name: str = ""              # a figure's file name


@dataclass
class Plan:
    """The report's blocks, the figures ({file name: PNG bytes}) and the numbers a caller (or a
    test) reads: `summary_lines` (what `scaling plan` prints) and `record` (the recommended
    allocation). `summary()` is the report as Markdown, `to_html()` as one self-contained page,
    `tables` its tables as DataFrames, `to_json()` the record, the lines and the tables."""

    blocks: list = field(default_factory=list)
    figures: dict = field(default_factory=dict)
    summary_lines: list = field(default_factory=list)
    record: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"<Plan: {'; '.join(self.summary_lines[:1]) or 'empty'}>"

    def summary(self) -> str:
        """The report as Markdown (report.md, figures named by file)."""
        return self.markdown()

    def to_html(self) -> str:
        """The report as one self-contained HTML page (report.html)."""
        return self.html()

    def _repr_html_(self) -> str:
        return self.html()

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        """{the section's heading: its table as a DataFrame} (cells as the report shows them;
        a section with several tables numbers the later ones, "heading (2)")."""
        out, heading = {}, "report"
        for block in self.blocks:
            if block.kind in ("h1", "h2"):
                heading = block.text
            elif block.kind == "table":
                name, k = heading, 2
                while name in out:
                    name, k = f"{heading} ({k})", k + 1
                out[name] = pd.DataFrame([list(row) for row in block.rows],
                                         columns=list(block.header))
        return out

    def to_json(self, path=None) -> str:
        """{"record", "summary", "tables": {heading: [row, …]}} as JSON; written to `path`."""
        text = json.dumps({"record": self.record, "summary": self.summary_lines,
                           "tables": {name: frame.to_dict(orient="records")
                                      for name, frame in self.tables.items()}},
                          indent=1, default=_json_value)
        if path is not None:
            write_text(path, text)
        return text

    def h1(self, text):
        self.blocks.append(Block("h1", text))

    def h2(self, text):
        self.blocks.append(Block("h2", text))

    def p(self, text):
        self.blocks.append(Block("p", text))

    def pre(self, text):
        self.blocks.append(Block("pre", text))

    def table(self, header, rows):
        self.blocks.append(Block("table", header=tuple(header), rows=[tuple(r) for r in rows]))

    def warnings(self, items):
        self.blocks.append(Block("warnings", items=list(items)))

    def figure(self, name, png: bytes, caption: str):
        self.figures[name] = png
        self.blocks.append(Block("figure", caption, name=name))

    # -- rendering --------------------------------------------------------------------------
    def markdown(self) -> str:
        out = []
        for b in self.blocks:
            if b.kind == "h1":
                out.append(f"# {b.text}")
            elif b.kind == "h2":
                out.append(f"## {b.text}")
            elif b.kind == "p":
                out.append(b.text)
            elif b.kind == "pre":
                out.append("```\n" + b.text + "\n```")
            elif b.kind == "table":
                cell = lambda c: str(c).replace("|", "\\|")  # noqa: E731
                lines = ["| " + " | ".join(cell(h) for h in b.header) + " |",
                         "| " + " | ".join("---" for _ in b.header) + " |"]
                lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in b.rows]
                out.append("\n".join(lines))
            elif b.kind == "warnings":
                out.append("\n".join(f"> **{w['severity'].upper()}** ({w['source']}): "
                                     f"{w['message']}" for w in b.items)
                           if b.items else "No warnings.")
            elif b.kind == "figure":
                out.append(f"![{b.text}]({b.name})\n\n*{b.text}*")
        return "\n\n".join(out) + "\n"

    def html(self) -> str:
        e = html.escape
        body = []
        for b in self.blocks:
            if b.kind == "h1":
                body.append(f"<h1>{e(b.text)}</h1>")
            elif b.kind == "h2":
                body.append(f"<h2>{e(b.text)}</h2>")
            elif b.kind == "p":
                body.append(f"<p>{_inline(b.text)}</p>")
            elif b.kind == "pre":
                body.append(f"<pre>{e(b.text)}</pre>")
            elif b.kind == "table":
                head = "".join(f"<th>{_inline(str(h))}</th>" for h in b.header)
                rows = "".join("<tr>" + "".join(f"<td>{_inline(str(c))}</td>" for c in row)
                               + "</tr>" for row in b.rows)
                body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
            elif b.kind == "warnings":
                if not b.items:
                    body.append('<p class="ok">No warnings.</p>')
                else:
                    items = "".join(f'<li class="{e(w["severity"])}"><b>{e(w["severity"].upper())}'
                                    f"</b> ({e(w['source'])}): {e(w['message'])}</li>"
                                    for w in b.items)
                    body.append(f'<ul class="warnings">{items}</ul>')
            elif b.kind == "figure":
                data = base64.b64encode(self.figures[b.name]).decode("ascii")
                body.append(f'<figure><img src="data:image/png;base64,{data}" alt="{e(b.text)}">'
                            f"<figcaption>{e(b.text)}</figcaption></figure>")
        title = next((b.text for b in self.blocks if b.kind == "h1"), "scaling plan")
        return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                f"<title>{e(title)}</title><style>{CSS}</style></head><body>\n"
                + "\n".join(body) + "\n</body></html>\n")


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1100px;margin:24px auto;
padding:0 16px;color:#222;line-height:1.45}
h1{font-size:1.6em;border-bottom:2px solid #333;padding-bottom:4px}
h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #ccc;padding-bottom:2px}
table{border-collapse:collapse;margin:8px 0;font-size:0.88em;font-variant-numeric:tabular-nums}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f2f2f2}
tr:nth-child(even) td{background:#fafafa}
ul.warnings{list-style:none;padding:0}
ul.warnings li{margin:4px 0;padding:6px 10px;border-left:5px solid #d62728;background:#fdecea}
ul.warnings li.caution{border-left-color:#ff9f1a;background:#fff5e6}
p.ok{color:#2a7a2a}
code{background:#f2f2f2;padding:0 3px;border-radius:3px}
pre{background:#f6f6f6;padding:8px;overflow-x:auto;font-size:0.85em}
figure{margin:12px 0}
figure img{max-width:100%;border:1px solid #ddd}
figcaption{font-size:0.9em;color:#555}
"""


def _inline(text: str) -> str:
    """Markdown's **bold** and `code` in a cell or paragraph, as HTML (everything else escaped)."""
    out = html.escape(text)
    out = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", out)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", out)


# -- inputs ----------------------------------------------------------------------------------

@dataclass
class PlanFit:
    """A fit the report reads (`scaling.engine.fit.Fit`) and the file it came from."""

    path: str
    fit: object


def allocates_loss(law) -> bool:
    """Whether a fit can give the report's loss allocation: a law of the LM loss that allocates
    compute (chinchilla, overtrain, sparse, data-constrained)."""
    return bool(law.allocates_compute) and law.space == "log"


def check_budget(budget, option: str = "--flops") -> float:
    """The training budget in FLOPs, positive and in the sensible range (`option`: how the
    command line spelled it, --flops or --budget)."""
    try:
        budget = float(budget)
    except (TypeError, ValueError):
        raise ScalingError(f"{option} must be a number of FLOPs, got {budget!r}") from None
    if not (math.isfinite(budget) and budget > 0):
        raise ScalingError(f"{option} must be positive and finite, got {budget:g}")
    check_sensible_inputs([budget], "flops", option)
    return budget


def check_plan_inputs(fits: list[PlanFit], *, unique_tokens=None, schedule=None,
                      tokens_per_step=None, inference_tokens=0.0) -> None:
    """One-line errors for inputs the report cannot use, before any work."""
    if not any(allocates_loss(f.fit) for f in fits):
        names = ", ".join(f"{f.path} ({f.fit.name})" for f in fits) or "none"
        raise ScalingError(
            "scaling plan needs a fit of a loss law that allocates compute (chinchilla, "
            f"overtrain, sparse or data-constrained) as --fit; given: {names}; make one with "
            "`scaling fit RUNS --out FIT.json`")
    if not (math.isfinite(inference_tokens) and inference_tokens >= 0):
        raise ScalingError(f"--inference-tokens must be 0 or more and finite, got "
                           f"{inference_tokens:g}")
    if unique_tokens is not None:
        if not (math.isfinite(unique_tokens) and unique_tokens > 0):
            raise ScalingError(f"--unique-tokens must be positive and finite, got "
                               f"{unique_tokens:g}")
        if not any(f.fit.advises_data_limit for f in fits):
            raise ScalingError("--unique-tokens needs a fit of the data-constrained law "
                               "(`scaling fit RUNS --law data-constrained --out FIT.json`)")
    if tokens_per_step is not None and not (math.isfinite(tokens_per_step)
                                            and tokens_per_step > 0):
        raise ScalingError(f"--tokens-per-step must be positive and finite, got "
                           f"{tokens_per_step:g}")
    if schedule is not None:
        if not any(f.fit.predicts_schedules for f in fits):
            raise ScalingError("--schedule needs a fit of an LR-schedule law (multipower, "
                               "annealing, annealing-size)")
        try:
            keys = set(key_values(schedule, schedule, "--schedule"))
        except ScheduleError as exc:
            raise ScalingError(str(exc)) from None
        if "steps" in keys:
            raise ScalingError(f"--schedule {schedule!r}: give peak=…,warmup=…,final=… without "
                               "steps (the plan derives them from D and --tokens-per-step)")
        if not keys <= {"peak", "warmup", "final"} or "peak" not in keys:
            raise ScalingError(f"--schedule {schedule!r}: expected peak=…,warmup=…,final=…")


# -- helpers on laws -------------------------------------------------------------------------

def _warn(out, source, items):
    for w in items:
        out.append({"source": source, "severity": w.get("severity", "warning"),
                    "message": w["message"], "code": w.get("code")})


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


# -- the report ------------------------------------------------------------------------------

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
        _warn(warnings, f.path, diagnostics.fit_warnings(f.fit))
    _warn(warnings, f"{primary.path}: recommended allocation",
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
        for number, call in ((1, lambda: approaches.approach1(runs, bootstrap=bootstrap,
                                                              seed=seed, source=source)),
                             (2, lambda: approaches.approach2(runs, bootstrap=bootstrap,
                                                              seed=seed, source=source))):
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
    evidence = _evidence_rows(law, inputs, distances)
    doc.table(("", "value"), evidence)
    doc.p(_calibration_text(law, distances))

    # -- downstream accuracy ---------------------------------------------------------------------
    task_fits = [f for f in fits if str(f.fit.target).startswith("acc:")]
    if task_fits:
        doc.h2("Downstream accuracy at the recommended allocation")
        doc.table(("fit", "law", "task", "accuracy (%)", "80% interval", "95% interval", "how"),
                  [_accuracy_row(f, fits, law, n_opt, d_opt, intervals, warnings)
                   for f in task_fits])

    # -- schedule ----------------------------------------------------------------------------------
    schedule_fits = [f for f in fits if f.fit.predicts_schedules]
    if schedule_fits:
        doc.h2("Learning-rate schedule")
        for f in schedule_fits:
            _schedule_section(doc, f, schedule, tokens_per_step, d_opt, n_opt, warnings)

    # -- vocabulary ------------------------------------------------------------------------------
    for f in fits:
        if f.fit.optimizes_vocabulary:
            _vocab_section(doc, f, n_opt, budget, width)

    # -- over-training -------------------------------------------------------------------------
    doc.h2("Over-training: smaller models on more tokens")
    _overtrain_section(doc, law, budget, n_opt, loss_opt, inference_tokens, warnings, primary)

    # -- data limit --------------------------------------------------------------------------------
    if unique_tokens is not None:
        for f in fits:
            if f.fit.advises_data_limit:
                _data_limit_section(doc, f, budget, unique_tokens)

    # -- fits used ---------------------------------------------------------------------------------
    doc.h2("The fits used")
    for f in fits:
        _fit_section(doc, f, primary)

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


def _evidence_rows(law, inputs, distances) -> list:
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


def _calibration_text(law, distances) -> str:
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


def _accuracy_row(f, fits, law, n_opt, d_opt, intervals, warnings):
    task = f.fit
    name = Path(f.path).name
    if "params" in task.inputs and "tokens" in task.inputs:
        values = {"params": n_opt, "tokens": d_opt}
        i80 = _interval_at(task, values, 0.8)
        i95 = _interval_at(task, values, 0.95)
        _warn(warnings, f"{f.path}: accuracy", diagnostics.prediction_warnings(
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


def _schedule_section(doc, f, schedule, tokens_per_step, d_opt, n_opt, warnings):
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
    _warn(warnings, f"{f.path}: schedules", curve_warning_records(law, curves, False))


def _vocab_section(doc, f, n_opt, budget, width):
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


def _overtrain_section(doc, law, budget, n_opt, loss_opt, inference_tokens, warnings, primary):
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
    _warn(warnings, f"{primary.path}: over-training rows",
          diagnostics.prediction_warnings(law, inputs, labels, ("the over-training row",
                                                                 "the over-training rows")))


def _data_limit_section(doc, f, budget, unique_tokens):
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


def _fit_section(doc, f, primary):
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


def write(doc: Plan, out: Path) -> tuple[Path, Path]:
    """DIR/report.md with its PNGs beside it, and DIR/report.html (self-contained); atomically."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name, png in doc.figures.items():
        with atomic_path(out / name) as temporary:
            Path(temporary).write_bytes(png)
    write_text(out / REPORT_MD, doc.markdown())
    write_text(out / REPORT_HTML, doc.html())
    return out / REPORT_MD, out / REPORT_HTML
