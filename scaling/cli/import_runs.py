"""`scaling import lm-eval|wandb SOURCES --out RUNS.parquet`: foreign results read into a run
table (`scaling.data.importers`). The module is import_runs: `import` is a Python keyword."""

from __future__ import annotations

from scaling.cli.options import non_negative_int
from scaling.data.importers.lm_eval import parse_pairs, read_lm_eval
from scaling.data.importers.wandb import merge_params, read_wandb
from scaling.data.runs import parse_mapping
from scaling.data.table_files import write_runs
from scaling.output.console import check_output
from scaling.output.paths import check_distinct


def add_parser(commands) -> None:
    importer = commands.add_parser("import", help="read foreign results into a run table")
    formats = importer.add_subparsers(dest="import_format", required=True, metavar="FORMAT")
    lm_eval = formats.add_parser(
        "lm-eval", help="lm-eval-harness result JSONs (files, or folders searched recursively)")
    lm_eval.add_argument("paths", nargs="+", metavar="PATH", help="result JSONs or folders")
    wandb = formats.add_parser("wandb", help="W&B CSV exports (history tables or chart panels)")
    wandb.add_argument("paths", nargs="+", metavar="EXPORT.csv", help="W&B CSV exports")
    for command in (lm_eval, wandb):
        command.add_argument("--out", required=True, metavar="RUNS.parquet",
                             help="the run table to write (Parquet)")
        command.add_argument("--params", action="append", default=[],
                             metavar="MODEL=N" if command is lm_eval else "RUN=N",
                             help="parameter count of a model/run (repeatable)")
        command.add_argument("--tokens-per-step", type=float, metavar="T",
                             help="tokens = step × T")
    lm_eval.add_argument("--preset", help="a known suite: pythia (params and tokens per step)")
    lm_eval.add_argument("--shots", type=non_negative_int, metavar="K",
                         help="keep the files with num_fewshot K (needed when they mix)")
    lm_eval.add_argument("--step", type=non_negative_int, metavar="N",
                         help="checkpoint step of files whose model_args has no revision=stepN")
    lm_eval.add_argument("--metric", action="append", default=[], metavar="TASK=METRIC",
                         help="the metric that is acc:TASK (default acc; *=acc_norm for every "
                              "task that has it; repeatable)")
    lm_eval.add_argument("--loss-task", metavar="TASK",
                         help="the task whose ln(perplexity) stands in for the required loss "
                              "(default lambada_openai)")
    lm_eval.add_argument("--no-stderr", action="store_true",
                         help="leave out the *_stderr metrics")
    wandb.add_argument("--map", action="append", default=[], metavar='COL="File col"',
                       help='contract column from a file column, e.g. loss="train/CELoss", '
                            'acc:hellaswag="eval/downstream/hellaswag_len_norm" (repeatable)')
    wandb.add_argument("--params-file", metavar="PARAMS.csv",
                       help="parameter counts: a CSV with columns run, params")
    wandb.add_argument("--dedupe", choices=("first", "last", "mean"),
                       help="two rows of one run at one step (a resumed run logs its steps "
                            "again): keep the first, the last or their mean (default: an error "
                            "naming both)")
    importer.set_defaults(run=run)


def run(args) -> int:
    check_output(args.out, "--out", {"parquet", "pq"}, "runs.parquet")
    check_distinct([("--out", args.out)],
                   [*(("PATH" if args.import_format == "lm-eval" else "EXPORT.csv", path)
                      for path in args.paths),
                    ("--params-file", getattr(args, "params_file", None))])
    params = parse_pairs(args.params, "--params", float)
    if args.import_format == "lm-eval":
        runs = read_lm_eval(args.paths, params=params, preset=args.preset,
                            tokens_per_step=args.tokens_per_step, shots=args.shots,
                            metrics=parse_pairs(args.metric, "--metric"), step=args.step,
                            loss_task=args.loss_task, stderr=not args.no_stderr)
    else:
        if args.params_file:
            params = merge_params(args.params_file, params)
        runs = read_wandb(args.paths, mapping=parse_mapping(args.map), params=params,
                          tokens_per_step=args.tokens_per_step, dedupe=args.dedupe)
    write_runs(runs, args.out)
    for note in runs.attrs.get("notes", ()):
        print(f"note: {note}")
    print(_summary(runs, args.out))
    return 0


def _summary(runs, out) -> str:
    tasks = sorted({c.partition(":")[2] for c in runs.columns if ":" in c})
    accuracies = [c for c in runs.columns if c.startswith("acc:")]
    stand_in = ""
    if "loss_task" in runs.columns:
        stand_in = (f"; loss stands in for loss:{runs['loss_task'].iloc[0]} (the task's "
                    "ln perplexity: lm-eval reports no LM loss)")
    shown = ", ".join(tasks[:6]) + (", …" if len(tasks) > 6 else "")
    return (f"wrote {out}: {runs['run'].nunique()} runs, {len(runs)} rows from "
            f"{runs.attrs.get('files', '?')} files; {len(tasks)} tasks"
            + (f" ({shown})" if tasks else "")
            + f", {len(accuracies)} acc: columns, {len(runs.columns)} columns; tokens "
            f"{runs['tokens'].min():.4g} to {runs['tokens'].max():.4g}, params "
            f"{runs['params'].min():.4g} to {runs['params'].max():.4g}{stand_in}")
