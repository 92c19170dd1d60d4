"""Planning with fitted laws.

`compare_schedules`: for a fitted LR-schedule law, the predicted curves (and so the final value of
its target) of constant, cosine and WSD (10% and 20% linear decay) schedules that share peak LR,
warmup, steps and final LR.
"""

from __future__ import annotations

from scaling.errors import ScalingError
from scaling.data.schedules import ScheduleError, key_values, parse

VARIANTS = {
    "constant": "constant:{common}",
    "cosine": "cosine:{common},final={final}",
    "wsd 10%": "wsd:{common},final={final},decay_fraction=0.1,decay=linear",
    "wsd 20%": "wsd:{common},final={final},decay_fraction=0.2,decay=linear",
}


def compare_schedules(law, base: str, every: int | None = None, kind: str | None = None,
                      level: float | None = None, **sizes) -> dict:
    """{variant: predicted curve} for `base` = "peak=…,warmup=…,steps=…,final=…" (laws with a
    size term take it as a keyword, `params=1e8`), each with the interval of `kind` (None: the
    fit's default) at `level` in `lower` and `upper`."""
    if not law.predicts_schedules:
        raise ScalingError(f"the {law.name} law does not predict curves; schedule "
                           "comparison needs an LR-schedule law")
    try:
        values = key_values(base, base, "--compare")
    except ScheduleError as exc:
        raise ScalingError(str(exc)) from None
    if not set(values) <= {"peak", "warmup", "steps", "final"}:
        raise ScalingError(f"--compare {base!r}: expected peak=…,warmup=…,steps=…,final=…")
    if "peak" not in values or "steps" not in values:
        raise ScalingError(f"--compare {base!r}: needs at least peak= and steps=")
    common = f"peak={values['peak']},warmup={values.get('warmup', 0)},steps={values['steps']}"
    final = values.get("final", "0")
    schedules = {name: template.format(common=common, final=final)
                 for name, template in VARIANTS.items()}
    for schedule in schedules.values():       # every variant checked before any is predicted
        try:
            parse(schedule)
        except ScheduleError as exc:
            raise ScalingError(f"--compare {base!r}: {exc}") from None
    return {name: law.predict_schedule(schedule, every, kind, level, **sizes)
            for name, schedule in schedules.items()}
