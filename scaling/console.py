"""How the commands (`scaling`, `python -m ladders.launch`) end: bad input prints one line,
`scaling: error: ...`, and exits with status 2; a bug prints one line and exits 1 (the traceback
with SCALING_DEBUG=1); Ctrl-C exits 130.

    parser = OneLineParser(prog="scaling")
    sys.exit(run_command(lambda: handle(parser.parse_args(argv))))
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

from scaling.errors import ScalingError

EXIT_BAD_INPUT = 2
EXIT_BUG = 1
EXIT_INTERRUPTED = 130


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are `ScalingError`s (one line) instead of usage + exit."""

    def error(self, message):
        raise ScalingError(f"{self.prog}: {message} (see --help)")


def run_command(command, name: str = "scaling") -> int:
    """Run `command()` and turn what it raises into one line on stderr and an exit status."""
    warnings.simplefilter("ignore", RuntimeWarning)  # fits report their own diagnostics
    try:
        return command()
    except ScalingError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:
        print(f"{name}: error: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
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
