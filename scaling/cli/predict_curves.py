"""`scaling predict FIT.json --schedule SPEC | --compare peak=…,warmup=…,steps=…,final=…`: the
whole predicted curve of an LR schedule, or the final values of constant, cosine and WSD
schedules, as a table (--out CURVE.csv, --plot FIG.png, --json OUT)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from scaling.analysis.schedule_comparison import compare_schedules
from scaling.cli.options import print_warnings, write_json
from scaling.errors import ScalingError
from scaling.output.atomic import atomic_path
from scaling.output.curve_figures import plot_curve, plot_curves
from scaling.output.curve_tables import curve_record, curve_table, curve_warnings, final_rows_table
from scaling.output.prediction_columns import interval_kind

SAVED = "saved predictions to {path}"


def schedule(law, args) -> int:
    """--schedule SPEC: eleven rows of the curve (all of it in --out/--json)."""
    if not law.predicts_schedules:
        raise ScalingError(f"the {law.name} law does not predict curves; --schedule needs "
                           "an LR-schedule law (see `scaling laws`)")
    kind = interval_kind(law, args.interval)
    curve = law.predict_schedule(args.schedule, every=args.every, kind=kind,
                                 level=args.level, **_sizes(law, args))
    shown = curve.iloc[np.unique(np.linspace(0, len(curve) - 1, 11).astype(int))]
    print(curve_table(law, shown, kind, args.level))
    _every_note(args, curve)
    print_warnings(curve_warnings(law, {args.schedule: curve}, with_fit=True))
    if args.out:
        with atomic_path(args.out) as temporary:
            curve.to_csv(temporary, index=False)
        print(f"saved curve to {args.out}")
    if args.plot:
        plot_curve(curve, args.schedule, args.plot, target=law.target, interval=kind,
                   level=_level(law, args), fitted_steps=_fitted_steps(law))
        print(f"saved plot to {args.plot}")
    write_json(args, lambda: curve_record(law, {args.schedule: curve}, kind, args.level), SAVED)
    return 0


def compare(law, args) -> int:
    """--compare peak=…,warmup=…,steps=…,final=…: constant, cosine and WSD schedules."""
    kind = interval_kind(law, args.interval)
    curves = compare_schedules(law, args.compare, every=args.every, kind=kind,
                               level=args.level, **_sizes(law, args))
    print(final_rows_table(law, curves, kind, args.level))
    _every_note(args, *curves.values())
    print_warnings(curve_warnings(law, curves, with_fit=True))
    if args.out:
        with atomic_path(args.out) as temporary:
            pd.concat([curve.assign(schedule=name) for name, curve in curves.items()],
                      ignore_index=True).to_csv(temporary, index=False)
        print(f"saved curves to {args.out}")
    if args.plot:
        plot_curves(curves, args.compare, args.plot, target=law.target, interval=kind,
                    level=_level(law, args), fitted_steps=_fitted_steps(law))
        print(f"saved plot to {args.plot}")
    write_json(args, lambda: curve_record(law, curves, kind, args.level), SAVED)
    return 0


def _level(law, args) -> float:
    return law.confidence if args.level is None else args.level


def _sizes(law, args) -> dict:
    """--params for curve laws with a size term (one value)."""
    if "params" not in law.inputs or args.params is None:
        return {}
    if len(args.params) != 1 or not 0 < args.params[0] < float("inf"):
        raise ScalingError("--params: give one positive model size with --schedule/--compare")
    return {"params": args.params[0]}


def _fitted_steps(law):
    """(first, last) fitted step of a curve law (the plots shade it), or None."""
    steps = getattr(law, "fitted_range_", {}).get("step")
    return tuple(steps) if steps else None


def _every_note(args, *curves) -> None:
    """Say so when the default --every left steps out of a predicted curve."""
    gaps = sorted({int(c["step"].iloc[1] - c["step"].iloc[0]) for c in curves if len(c) > 1})
    if args.every is None and gaps and gaps[-1] > 1:
        every = f"{gaps[0]}" if len(gaps) == 1 else f"{gaps[0]} to {gaps[-1]}"
        print(f"(a row every {every} steps and at the last step, the default for "
              f"{'this schedule' if len(curves) == 1 else 'these schedules'} and this fit; "
              "--every K sets it)")
