"""How `scaling fit` and `scaling backtest` turn their options into a law, its settings and the
run table: --law/--set/--delta/--chance/--level, and --task/--variant for the task laws."""

from __future__ import annotations

from scaling.analysis.backtest import task_variants, tasks_to_fit, variant_law
from scaling.cli.options import shown
from scaling.data.lr_history import read_lr_file
from scaling.data.runs import check_measured_target, parse_mapping, read_for_fit
from scaling.errors import ScalingError
from scaling.laws import get_law, parse_settings


def law_settings(args) -> dict:
    """--set NAME=VALUE with the options that are short for one (--delta, --chance, --level as
    confidence, --task): an option and a --set of one setting that disagree are an error."""
    settings = parse_settings(args.settings)
    if args.chance is not None and not 0 <= args.chance < 1:
        raise ScalingError(f"--chance must be in [0, 1), got {args.chance:g}")
    options = {"delta": args.delta, "chance": args.chance, "confidence": args.level,
               "task": args.task if args.task != "all" else None}
    for name, value in options.items():
        if value is None:
            continue
        if name in settings and not _same_setting(settings[name], value):
            option = "--level" if name == "confidence" else f"--{name}"
            raise ScalingError(f"{option} {shown(value)} and --set {name}={settings[name]}: "
                               "give it once")
        settings[name] = value
    return settings


def _same_setting(text: str, value) -> bool:
    """Whether a --set value (text) says what an option's value says."""
    if isinstance(value, str):
        return text.strip() == value.strip()
    try:
        return float(text) == float(value)
    except ValueError:
        return False


def _table(args, columns=()):
    """The run table: as the file has it where a query picks the rows (the law checks the rows
    the queries keep, `scaling.data.prepare.prepare_rows`, so a bad row a query drops is no
    error), else read and checked."""
    return read_for_fit(args.runs, parse_mapping(args.map), columns=columns, dedupe=args.dedupe,
                        queried=bool(args.where) or args.command == "backtest")


def task_runs(args):
    """The task law's runs, tasks and variants for --task/--variant (None when neither is given,
    or --task NAME of another law: its setting): (runs, tasks, variants, settings)."""
    if args.task is None and args.variant is None:
        return None
    variants = task_variants(args.law, args.variant)
    if args.law not in (None, "task") and args.task != "all":
        return None                                  # one task of another law: its setting
    if args.law not in (None, "task"):
        get_law(args.law, task="all")   # a law without tasks: the error --task NAME gives
    if args.lr_file:
        raise ScalingError("--lr-file: the task laws do not read learning rates")
    settings = law_settings(args)
    if args.task is None:
        raise ScalingError("--variant: give the task too, --task NAME (or --task all)")
    runs = _table(args)
    tasks = tasks_to_fit(runs, args.task, variants, settings, args.runs)
    settings.pop("task", None)
    for variant in variants:                       # every variant's target, before any fit
        name, settings_of_variant = variant_law(variant, {**settings, "task": tasks[0]})
        law = get_law(name, **settings_of_variant)
        check_measured_target(law.target, law.inputs, law.name)
    return runs, tasks, variants, settings


def law_and_runs(args):
    """(law, settings, runs, lr_file) of --law/--set and RUNS (--lr-file read)."""
    settings = law_settings(args)
    law = get_law(args.law or "chinchilla", **settings)
    law.check_settings()
    check_measured_target(law.target, law.inputs, law.name)
    runs = _table(args, law.read_columns)
    lr_file = read_lr_file(args.lr_file) if args.lr_file else None
    return law, settings, runs, lr_file
