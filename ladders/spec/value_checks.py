"""The checks of single spec values that every section of `ladders.spec.schema` shares: a
positive number, a positive integer, positive token budgets; each a one-line SpecError naming
the file and the key."""

from __future__ import annotations

import math

from ladders.spec.errors import SpecError


def is_positive(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and \
        math.isfinite(value) and value > 0


def positive(part, label, key, where):
    value = getattr(part, key)
    if not is_positive(value):
        raise SpecError(f"{where}: {label}.{key} must be positive, got {value!r}")


def positive_int(part, label, key, where):
    value = getattr(part, key)
    if not (isinstance(value, int) and not isinstance(value, bool) and value > 0):
        raise SpecError(f"{where}: {label}.{key} must be a positive integer, got {value!r}")


def positive_budgets(part, label, where):
    for kind in ("per_param", "absolute"):
        for budget in getattr(part, kind):
            if not is_positive(budget):
                raise SpecError(f"{where}: {label}.{kind} values must be positive, "
                                f"got {budget!r}")
