"""`SpecError`, the error of a spec that cannot be run: its own module, so that the schema and
the modules of its sections (`ladders.spec.cluster`) raise the same class without importing each
other."""

from __future__ import annotations

from scaling.errors import ScalingError


class SpecError(ScalingError):
    """A ladder spec that cannot be run: one line naming the file and the key."""
