"""JSON from a file the user hands us, read as data: one line naming the file for anything that
is not a JSON document the caller can use.

`json.loads` alone turns such a file into a traceback: nesting deeper than the parser's recursion
limit (RecursionError), an integer no float holds (`10**400`: OverflowError where it meets a
float), bytes that are not text. `read_json` turns each into a `ScalingError`.
"""

from __future__ import annotations

import json
from pathlib import Path

from scaling.errors import ScalingError

FLOAT_DIGITS = 309        # an integer of more digits is beyond any float (1.8e308)


class _TooLarge(Exception):
    """An integer literal that no float holds (raised by the parser's hook)."""


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > FLOAT_DIGITS:    # also before Python's 4300-digit int limit
        raise _TooLarge(text)
    value = int(text)
    try:
        float(value)
    except OverflowError:
        raise _TooLarge(text) from None
    return value


def _shown(number: str) -> str:
    return number if len(number) <= 30 else number[:27] + "..."


def read_json(path, what: str, max_depth: int | None = None):
    """The JSON document in `path`, or a one-line error naming the file and saying it is not
    `what` ("a fit file", "an lm-eval-harness result file"): not text, not JSON, nested too
    deeply for the parser, or holding an integer too large for a float (with its line).
    `max_depth`, where the caller has one, is named in the nesting error."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ScalingError(f"{path}: not {what} (not text)") from None
    except OSError as exc:
        raise ScalingError(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
    try:
        return json.loads(text, parse_int=_parse_int)
    except json.JSONDecodeError as exc:
        raise ScalingError(f"{path}: not {what} (invalid JSON: {exc.msg}, line "
                           f"{exc.lineno})") from None
    except RecursionError:
        limit = f"; {what} nests at most {max_depth} levels" if max_depth else ""
        raise ScalingError(f"{path}: not {what} (JSON nested too deeply{limit})") from None
    except _TooLarge as exc:
        number = str(exc)
        line = text.count("\n", 0, max(text.find(number), 0)) + 1
        raise ScalingError(f"{path}: line {line}: the number {_shown(number)} ({len(number)} "
                           f"digits) is too large for a float; not {what}") from None
