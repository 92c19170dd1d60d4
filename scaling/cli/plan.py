"""`scaling plan --flops C --fit FIT.json ... --out-dir DIR | --out FILE.html|FILE.json`: the
planning report for a training budget (`scaling.analysis.planning`): DIR/report.md with its
figures and DIR/report.html; or the one self-contained page, or the recommendation as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from scaling.analysis import plan_inputs, planning
from scaling.cli.options import add_bootstrap, add_reading_options, given_as
from scaling.data.runs import parse_mapping, read_runs
from scaling.output.format import json_ready
from scaling.engine.fitting import check_bootstrap
from scaling.errors import ScalingError
from scaling.laws import load_fit
from scaling.output import plan_document
from scaling.output.atomic import write_text
from scaling.output.console import check_output
from scaling.output.paths import check_distinct

BOOTSTRAP = 200
WHY_BOOTSTRAP = ("200, not fit's 1000: this bootstrap is approaches 1 and 2's, over --runs; the "
                 "predicted loss's intervals come from the saved fits' own bootstrap")
OUT_FORMATS = {"html": "the self-contained report page", "json": "the recommendation"}


def add_parser(commands) -> None:
    plan = commands.add_parser(
        "plan", help="a planning report for a compute budget: the allocation by every approach, "
                     "the predicted loss with its intervals, warnings and figures (Markdown and "
                     "one self-contained HTML file)",
        description="The planning report for a compute budget. Its intervals are at 80% and "
                    "95% side by side, so plan takes no --level.")
    plan.add_argument("--flops", "--budget", dest="flops", required=True, type=float,
                      metavar="C", help="the training budget, FLOPs (--budget: the same)")
    plan.add_argument("--fit", nargs="+", action="extend", default=[], metavar="FIT.json",
                      help="saved fits (`scaling fit --out`): at least one loss law that "
                           "allocates compute (the first is the recommendation's); task, "
                           "schedule, vocabulary and data-constrained fits add their sections")
    plan.add_argument("--runs", metavar="RUNS",
                      help="the run table: approaches 1 and 2, and the runs in the figures")
    add_reading_options(plan, "keep rows of --runs matching a query (scaling/data/query.py)",
                        of=" of --runs")
    plan.add_argument("--inference-tokens", type=float, default=0.0, metavar="T",
                      help="tokens the model will serve (over-training table; default 0)")
    plan.add_argument("--unique-tokens", type=float, metavar="U",
                      help="unique tokens available (with a data-constrained fit)")
    plan.add_argument("--schedule", metavar="peak=…,warmup=…,final=…",
                      help="with a schedule-law fit: the LR settings schedules share")
    plan.add_argument("--tokens-per-step", type=float, metavar="T",
                      help="tokens per optimizer step (batch × context): the schedule's steps")
    plan.add_argument("--width", type=float, metavar="d",
                      help="with a vocabulary fit: the model width (default: assumed)")
    add_bootstrap(plan, BOOTSTRAP, "for approaches 1 and 2", WHY_BOOTSTRAP)
    written = plan.add_mutually_exclusive_group(required=True)
    written.add_argument("--out-dir", metavar="DIR",
                         help="folder for report.md (with its PNGs) and report.html")
    written.add_argument("--out", metavar="FILE",
                         help="one file, its suffix the format: .html (the self-contained "
                              "report) or .json (the recommendation)")
    plan.set_defaults(run=run)


def run(args) -> int:
    budget = plan_inputs.check_budget(args.flops, given_as(args, "flops", "--flops"))
    check_bootstrap(args.bootstrap)
    inputs = [*(("--fit", path) for path in args.fit), ("--runs", args.runs)]
    if args.out_dir is not None:
        out = Path(args.out_dir)
        if out.exists() and not out.is_dir():
            raise ScalingError(f"--out-dir {out}: is a file; give a folder for report.md and "
                               "report.html")
        for name in (plan_document.REPORT_MD, plan_document.REPORT_HTML):
            check_output(out / name, "--out-dir")
        check_distinct([("--out-dir", out / name) for name in (
            plan_document.REPORT_MD, plan_document.REPORT_HTML, *planning.PLOTS.values())],
            inputs)
    else:
        suffix = Path(args.out).suffix[1:].lower()
        if suffix not in OUT_FORMATS:
            raise ScalingError(f"--out {args.out}: give a file whose suffix says the format, "
                               ".html or .json; the report folder (report.md, its figures and "
                               "report.html) is --out-dir DIR")
        check_output(args.out, "--out", set(OUT_FORMATS), "plan.html")
        check_distinct([("--out", args.out)], inputs)
    if not args.fit:
        raise ScalingError("give --fit FIT.json: a fit of a loss law that allocates compute "
                           "(make one with `scaling fit RUNS --out FIT.json`)")
    fits = [plan_inputs.PlanFit(path, load_fit(path)) for path in args.fit]
    plan_inputs.check_plan_inputs(fits, unique_tokens=args.unique_tokens,
                                  schedule=args.schedule, tokens_per_step=args.tokens_per_step,
                                  inference_tokens=args.inference_tokens)
    if args.width is not None and not (np.isfinite(args.width) and args.width > 0):
        raise ScalingError(f"--width must be positive and finite, got {args.width:g}")
    runs = None
    if args.runs:
        runs = read_runs(args.runs, mapping=parse_mapping(args.map), where=args.where,
                         dedupe=args.dedupe)
    elif args.where or args.map:
        raise ScalingError("--where and --map read --runs RUNS; give it")
    doc = planning.plan(budget, fits, runs=runs, runs_source=args.runs,
                        inference_tokens=args.inference_tokens, unique_tokens=args.unique_tokens,
                        schedule=args.schedule, tokens_per_step=args.tokens_per_step,
                        width=args.width, bootstrap=args.bootstrap)
    print("\n".join(doc.summary_lines))
    if args.out_dir is not None:
        md, page = plan_document.write(doc, Path(args.out_dir))
        print(f"\nwrote {md} (figures beside it) and {page} (self-contained)")
    else:
        text = doc.html() if args.out.lower().endswith(".html") else \
            json.dumps(json_ready(doc.record), indent=1, allow_nan=False)
        write_text(args.out, text)
        print(f"\nwrote {args.out} ({OUT_FORMATS[Path(args.out).suffix[1:].lower()]})")
    return 0
