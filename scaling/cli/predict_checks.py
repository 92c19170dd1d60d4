"""Which options of `scaling predict` go together: an option a prediction would not use is an
error naming it, never silently ignored; and the numbers the options give, checked."""

from __future__ import annotations

from scaling.data.runs import check_sensible_inputs
from scaling.errors import ScalingError


def positive(option: str, values, column: str) -> None:
    """Values of a number option: positive and finite, and in the column's sensible range."""
    if any(not (v > 0 and v < float("inf")) for v in values):
        raise ScalingError(f"{option} must be positive and finite")
    check_sensible_inputs(values, column, option)


def check_predict_options(law, args) -> None:
    """Options that this prediction would not use are errors, not silently ignored."""
    given = [name for name in args.input_names if getattr(args, name, None) is not None] + \
        list(named_inputs(args.input))
    if "unique_tokens" in given and not law.advises_data_limit:
        raise ScalingError(f"--unique-tokens: the {law.name} law has no data limit; it goes with "
                           "a fit of --law data-constrained (with --flops C: the best "
                           "allocation under a supply of U unique tokens)")
    if args.flops and "unique_tokens" in given:
        given.remove("unique_tokens")        # the data limit of `data_limited`
    if args.optimal_vocab:
        return _check_optimal_vocab_options(law, args, given)
    if args.sparsity is not None:
        return _check_pruning_advice_options(law, args, given)
    for option, value in (("--prunable", args.prunable), ("--pruning", args.pruning)):
        if value is not None:
            raise ScalingError(f"{option} goes with --sparsity S (the sparse law's pruning "
                               "advice)")
    if args.width is not None:
        raise ScalingError("--width goes with --optimal-vocab (the vocabulary law's optimal "
                           "vocabulary size); this prediction takes the law's inputs")
    curve = "--schedule" if args.schedule else "--compare" if args.compare else None
    if args.schedule and args.compare:
        raise ScalingError("give --schedule or --compare, not both")
    if curve is None:
        for option, value in (("--out", args.out), ("--plot", args.plot), ("--every", args.every)):
            if value is not None:
                raise ScalingError(f"{option} goes with --schedule or --compare (a predicted "
                                   "curve); this prediction prints a table")
    sizes = ["params"] if curve and "params" in law.inputs else []
    usable = sizes if curve else ([] if args.flops else list(law.inputs))
    for name in given:
        if name in usable:
            continue
        option = law.input_option(name)
        if curve:
            takes = f"{law.input_option(sizes[0])} alone" if sizes else "no input but the schedule"
            raise ScalingError(f"{option}: with {curve} the {law.name} law takes {takes}")
        if args.flops:
            raise ScalingError(f"{option}: --flops gives the inputs (the compute-optimal "
                               "allocation); give --flops or the inputs, not both")
        if law.predicts_schedules:
            raise ScalingError(f"{option}: the {law.name} law predicts whole curves: give "
                               "--schedule SPEC or --compare "
                               "peak=…,warmup=…,steps=…,final=…")
        raise ScalingError(f"{option}: the {law.name} law's inputs are "
                           + " and ".join(law.input_option(n) for n in law.inputs))
    if curve and args.flops:
        raise ScalingError(f"--flops: with {curve} the {law.name} law predicts a curve, not a "
                           "compute-optimal allocation")


def _check_optimal_vocab_options(law, args, given) -> None:
    """--optimal-vocab takes --params-nonembed, --width and --flops (and --json, --interval)."""
    if not law.optimizes_vocabulary:
        raise ScalingError(f"--optimal-vocab: the {law.name} law has no optimal vocabulary; fit "
                           "the vocabulary law (scaling fit RUNS --law vocab)")
    for option, value in (("--schedule", args.schedule), ("--compare", args.compare),
                          ("--out", args.out), ("--plot", args.plot), ("--every", args.every)):
        if value is not None:
            raise ScalingError(f"{option} does not go with --optimal-vocab")
    for name in given:
        if name != "params_nonembed":
            raise ScalingError(f"{law.input_option(name)}: with --optimal-vocab the {law.name} "
                               "law takes --params-nonembed N, --width d and --flops C")
    if args.params_nonembed is None or args.width is None:
        raise ScalingError("--optimal-vocab needs --params-nonembed N and --width d (and "
                           "--flops C for a budget of your own)")


def _check_pruning_advice_options(law, args, given) -> None:
    """--sparsity takes --params, --tokens, --prunable, --pruning (and --json, --interval)."""
    if law.name != "sparse":
        raise ScalingError(f"--sparsity: the {law.name} law has no pruning advice; fit the "
                           "sparse law (scaling fit RUNS --law sparse)")
    for option, value in (("--schedule", args.schedule), ("--compare", args.compare),
                          ("--out", args.out), ("--plot", args.plot), ("--every", args.every),
                          ("--flops", args.flops), ("--width", args.width)):
        if value is not None:
            raise ScalingError(f"{option} does not go with --sparsity")
    for name in given:
        if name not in ("params", "tokens"):
            raise ScalingError(f"{law.input_option(name)}: with --sparsity the {law.name} law "
                               "takes --params N (the dense model's) and --tokens D")
    for name in ("params", "tokens"):
        values = getattr(args, name, None)
        if values is None or len(values) != 1:
            raise ScalingError(f"--sparsity needs one --{name} value (the dense model's "
                               f"{'parameters' if name == 'params' else 'training tokens'})")


def named_inputs(items) -> dict[str, list[float]]:
    """`--input loss:hellaswag=0.9,0.8` → {"loss:hellaswag": [0.9, 0.8]}."""
    values = {}
    for item in items:
        name, sep, text = (part.strip() for part in item.partition("="))
        try:
            numbers = [float(v) for v in text.split(",")]
        except ValueError:
            numbers = None
        if not sep or not name or numbers is None:
            raise ScalingError(f"bad --input {item!r}: expected NAME=X or NAME=X,Y,…")
        values[name] = numbers
    return values
