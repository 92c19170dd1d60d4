"""`scaling predict FIT.json ...`: predictions of a saved fit with intervals: at inputs
(--params N --tokens D, --input NAME=X), at compute budgets (--flops C), whole LR-schedule curves
(--schedule, --compare: `scaling.cli.predict_curves`), the optimal vocabulary (--optimal-vocab),
pruning windows (--sparsity) and a data limit (--flops C --unique-tokens U). Which options go
together is `scaling.cli.predict_checks`."""

from __future__ import annotations

from scaling.cli import predict_curves
from scaling.cli.options import (add_json, add_level, check_outputs, positive_int,
                                 print_warnings, write_json)
from scaling.cli.predict_checks import check_predict_options, named_inputs, positive
from scaling.data.runs import check_sensible_inputs
from scaling.engine.diagnostics import fit_warnings, render
from scaling.errors import ScalingError
from scaling.laws import LAWS, load_fit
from scaling.analysis.data_limit import advice_record, advice_table, advice_warnings
from scaling.laws.sparse import schedule_advice, schedule_advice_table
from scaling.output.prediction_columns import interval_kind
from scaling.output.prediction_tables import (allocation_record, compute_optimal_table,
                                              optimal_vocab_record, optimal_vocab_table,
                                              prediction_record, prediction_table)

INPUT_HELP = {"unique_tokens": "unique tokens U (data-constrained law; one or more values): an "
                               "input, or with --flops the supply of unique data: the best "
                               "allocation under it"}
SAVED = "saved predictions to {path}"


def add_parser(commands) -> None:
    predict = commands.add_parser("predict", help="predict from a saved fit, with intervals")
    predict.add_argument("fit", metavar="FIT.json")
    inputs = sorted({name for law in LAWS.values() for name in law().inputs
                     if name.isidentifier()})
    for name in inputs:
        predict.add_argument(f"--{name.replace('_', '-')}", dest=name, type=float, nargs="+",
                             metavar="X", help=INPUT_HELP.get(name, f"{name} (one or more "
                                                                    "values)"))
    predict.add_argument("--input", action="append", default=[], metavar="NAME=X,…",
                         help="any input by its column name, e.g. loss:hellaswag=0.9,0.8")
    predict.set_defaults(input_names=inputs, run=run)
    predict.add_argument("--flops", type=float, nargs="+", metavar="C",
                         help="compute budgets, FLOPs: predict at the compute-optimal "
                              "allocation (with --optimal-vocab: the budgets of the models)")
    predict.add_argument("--optimal-vocab", action="store_true",
                         help="the compute-optimal vocabulary size by each approach the fit "
                              "supports (vocabulary law): give --params-nonembed N and --width "
                              "d; without --flops, the budget is the compute-optimal one for N")
    predict.add_argument("--width", type=float, nargs="+", metavar="D",
                         help="--optimal-vocab: the model width d (one or more values)")
    predict.add_argument("--sparsity", type=float, metavar="S",
                         help="sparse law: the predicted final loss of a model (--params N, "
                              "--tokens D) pruned to sparsity S in each of several windows of "
                              "training compute, beside the dense model and a dense model of "
                              "the final size")
    predict.add_argument("--prunable", type=float, metavar="P",
                         help="--sparsity: the model's prunable weights (default: all of "
                              "--params; the runner prunes the linear layers' matrices)")
    predict.add_argument("--pruning", choices=("geometric", "cubic"), default=None,
                         help="--sparsity: the pruning schedule (default geometric, Jin et al.)")
    predict.add_argument("--schedule", metavar="SPEC",
                         help='the whole curve of an LR schedule, e.g. "wsd:peak=3e-4,'
                              'warmup=2160,decay_start=20000,steps=24000,final=3e-5"')
    predict.add_argument("--compare", metavar="peak=…,warmup=…,steps=…,final=…",
                         help="final value of constant, cosine and WSD 10%%/20%% schedules")
    predict.add_argument("--every", type=positive_int, default=None, metavar="K",
                         help="--schedule/--compare: a row every K steps and at the last "
                              "(default: every step, or as few as keep the multi-power law's "
                              "prediction to about a second)")
    predict.add_argument("--out", metavar="CURVE.csv",
                         help="--schedule/--compare: write the curve(s) as CSV")
    predict.add_argument("--plot", metavar="FIG.png",
                         help="--schedule/--compare: plot the curve(s)")
    predict.add_argument("--interval", choices=("calibrated", "run", "law"),
                         help="the interval shown: calibrated (the fit's error model: widens "
                              "with the distance beyond the fitted data), run (bootstrap plus "
                              "the fit's scatter) or law (bootstrap of the law's value); "
                              "default: calibrated where the fit has it, else run")
    add_level(predict, "the intervals shown (default: the fit's confidence, 0.95)")
    add_json(predict, "the predictions (with intervals, distance beyond the fitted data and "
                      "warnings)")


def run(args) -> int:
    check_outputs(args, [("FIT.json", args.fit)], "curve.csv", "predictions.json")
    law = load_fit(args.fit)
    check_predict_options(law, args)
    interval_kind(law, args.interval)          # a kind the fit lacks: an error before any work
    if args.optimal_vocab:
        return _optimal_vocab(law, args)
    if args.sparsity is not None:
        return _pruning_advice(law, args)
    if args.schedule:
        return predict_curves.schedule(law, args)
    if args.compare:
        return predict_curves.compare(law, args)
    if args.flops and getattr(args, "unique_tokens", None) is not None:
        return _data_limited(law, args)
    if args.flops:
        return _compute_optimal(law, args)
    values = {name: getattr(args, name, None) for name in law.inputs if name.isidentifier()}
    values.update(named_inputs(args.input))
    values = {name: values.get(name) for name in law.inputs}
    if all(v is None for v in values.values()) and law.predicts_schedules:
        raise ScalingError(f"the {law.name} law predicts whole curves: give --schedule SPEC "
                           "or --compare peak=…,warmup=…,steps=…,final=…")
    if all(v is None for v in values.values()):
        raise ScalingError(f"give {' and '.join(law.input_option(n) for n in law.inputs)}"
                           + (" or --flops" if law.allocates_compute else ""))
    try:
        print(prediction_table(law, args.interval, args.level, **values))
    except ValueError as exc:
        if isinstance(exc, ScalingError):
            raise
        raise ScalingError(f"input lists of different lengths ({exc})") from None
    write_json(args, lambda: prediction_record(law, args.interval, args.level, **values), SAVED)
    return 0


def _compute_optimal(law, args) -> int:
    """--flops C ...: the prediction at the compute-optimal allocation of each budget."""
    if not law.allocates_compute:
        raise ScalingError(f"the {law.name} law has no compute-optimal allocation; "
                           "give its inputs instead of --flops"
                           + (" (or --optimal-vocab --params-nonembed N --width d --flops C "
                              "for the optimal vocabulary at a budget)"
                              if law.optimizes_vocabulary else ""))
    positive("--flops", args.flops, "flops")
    print(compute_optimal_table(law, args.flops, args.interval, args.level))
    print_warnings(render(fit_warnings(law)))
    write_json(args, lambda: allocation_record(law, args.flops, args.interval, args.level),
               SAVED)
    return 0


def _pruning_advice(law, args) -> int:
    check_sensible_inputs(args.params, "params", "--params")
    check_sensible_inputs(args.tokens, "tokens", "--tokens")
    record = schedule_advice(law, args.params[0], args.tokens[0], args.sparsity, args.prunable,
                             args.pruning or "geometric",
                             interval=interval_kind(law, args.interval), level=args.level)
    print(schedule_advice_table(law, record))
    write_json(args, lambda: record, SAVED)
    return 0


def _optimal_vocab(law, args) -> int:
    values = {"--params-nonembed": (args.params_nonembed, "params"),
              "--width": (args.width, "width"), "--flops": (args.flops, "flops")}
    for option, (numbers, column) in values.items():
        if numbers is not None:
            positive(option, numbers, column)
    lengths = {len(v) for v, _ in values.values() if v is not None} - {1}
    if len(lengths) > 1:
        raise ScalingError("--params-nonembed, --width and --flops: give one value or lists of "
                           "one length")
    kind = interval_kind(law, args.interval)
    result = law.optimal_vocab(args.params_nonembed, args.width, args.flops, kind, args.level)
    print(optimal_vocab_table(law, result, kind, args.level))
    write_json(args, lambda: optimal_vocab_record(law, result, kind, args.level), SAVED)
    return 0


def _data_limited(law, args) -> int:
    """--flops C … --unique-tokens U: the data-constrained law's advice under a data limit."""
    positive("--flops", args.flops, "flops")
    positive("--unique-tokens", args.unique_tokens, "tokens")
    if len(args.flops) != len(args.unique_tokens) and 1 not in (len(args.flops),
                                                                  len(args.unique_tokens)):
        raise ScalingError("--flops and --unique-tokens: give one value or lists of one length")
    kind = interval_kind(law, args.interval)
    advice = law.data_limited(args.flops, args.unique_tokens, kind, args.level)
    print(advice_table(law, advice))
    print_warnings(render(advice_warnings(law, advice) + fit_warnings(law)))
    write_json(args, lambda: advice_record(law, advice), SAVED)
    return 0
