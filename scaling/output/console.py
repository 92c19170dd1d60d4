"""How the commands (`scaling`, `python -m ladders.launch`) end: bad input prints one line,
`scaling: error: ...`, and exits with status 2; a bug prints one line and exits 1 (the traceback
with SCALING_DEBUG=1); Ctrl-C exits 130.

    parser = OneLineParser(prog="scaling")
    sys.exit(run_command(lambda: handle(parser.parse_args(argv))))
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import warnings
from pathlib import Path

from scaling.errors import ScalingError

EXIT_BAD_INPUT = 2
EXIT_BUG = 1
EXIT_INTERRUPTED = 130


# A negative number in any notation argparse reads as a value, not an option: `--params -7e10`
# (argparse's own pattern knows only -7 and -7.5, so "-7e10" was "expected one argument").
NEGATIVE_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are `ScalingError`s (one line) instead of usage + exit,
    and that reads `-7e10` as a (negative) value."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = NEGATIVE_NUMBER

    def error(self, message):
        raise ScalingError(f"{self.prog}: {message} (see --help)")


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0 (`--seed`)."""
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (`--jobs`, `--every`)."""
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None


def check_output(path, option: str, formats=None, example: str = "out.json") -> Path:
    """A one-line error, before any work starts, unless `path` can be written: it is not a
    directory, its nearest existing folder takes a new file (missing folders are made by the write,
not here), and, with
    `formats` (extensions without the dot), its extension is one of them (no extension:
    matplotlib's default, PNG). Returns the path."""
    path = Path(path)
    if formats is not None and path.suffix:
        extension = path.suffix[1:].lower()
        if extension not in formats:
            raise ScalingError(f"{option} {path}: unknown format {path.suffix!r}; use one of "
                               + ", ".join(f".{f}" for f in sorted(formats)))
    if path.is_dir():
        raise ScalingError(f"{option} {path}: is a directory; give a file name, e.g. "
                           f"{path / example}")
    folder = path.parent
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise ScalingError(f"{option} {path}: {existing} is a file, not a folder")
    # the atomic write makes the missing folders; here nothing is made: the nearest existing
    # folder must take a new file (a command that then fails leaves no empty folder behind)
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise ScalingError(f"{option} {path}: cannot write in {existing} "
                           f"({exc.strerror or exc})") from None
    return path


def plot_formats() -> set[str]:
    """The file extensions matplotlib can save a figure as (png, pdf, svg, ...), without
    choosing a backend."""
    from matplotlib.backend_bases import FigureCanvasBase

    return set(FigureCanvasBase.get_supported_filetypes())


def run_command(command, name: str = "scaling") -> int:
    """Run `command()` and turn what it raises into one line on stderr and an exit status."""
    warnings.simplefilter("ignore", RuntimeWarning)  # fits report their own diagnostics
    try:
        return command()
    except ScalingError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:      # the reader left (`scaling laws | head`): not an error of ours
        try:                     # stdout is gone: point it at /dev/null so exiting can flush
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 0
    except OSError as exc:      # a write goes through scaling.output.atomic, which names its file
        where = "".join(f"{os.fsdecode(f)}: " for f in (exc.filename, exc.filename2)
                        if f is not None and not isinstance(f, int))
        print(f"{name}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug, not bad input: still one line unless asked for more
        if os.environ.get("SCALING_DEBUG"):
            raise
        print(f"{name}: internal error: {type(exc).__name__}: {exc} "
              "(rerun with SCALING_DEBUG=1 for the traceback)", file=sys.stderr)
        return EXIT_BUG
