"""Nothing lost: a command's outputs never replace its inputs or each other.

    check_distinct(outputs=[("--out", "fit.json"), ("--plot", "fit.png")],
                   inputs=[("RUNS", "runs.csv"), ("--lr-file", None)])

Each entry is (the option that names it, the path; None: not given). Two paths are the same
file when both exist and are one file (`os.path.samefile`: the same device and inode, so hard
links, symbolic links and `a/../b` spellings all count), or, where one does not exist yet, when
they resolve to the same path (symbolic links followed). A clash is a `ScalingError` naming both
options and paths: one line, before any work.
"""

from __future__ import annotations

import os
from pathlib import Path

from scaling.errors import ScalingError


def same_file(a, b) -> bool:
    """Whether the paths `a` and `b` name one file (existing or to be written)."""
    try:
        return os.path.samefile(a, b)
    except OSError:                     # one (or both) does not exist yet: compare the paths
        pass
    return _resolved(a) == _resolved(b)


def _resolved(path) -> str:
    return os.path.normcase(os.path.realpath(os.path.abspath(os.fspath(path))))


def check_distinct(outputs, inputs=()) -> None:
    """A one-line error when an output is one of the inputs, or two outputs are one file.
    `outputs`, `inputs`: iterables of (option, path or None)."""
    outputs = [(option, Path(path)) for option, path in outputs if path is not None]
    inputs = [(option, Path(path)) for option, path in inputs if path is not None]
    for option, path in outputs:
        for source, read in inputs:
            if same_file(path, read):
                raise ScalingError(f"{option} {path}: is the input {source}"
                                   f"{_named(path, read)}; writing it would replace the input: "
                                   "give the output another name")
    for index, (option, path) in enumerate(outputs):
        for other, second in outputs[index + 1:]:
            if same_file(path, second):
                raise ScalingError(f"{option} {path} and {other} {second}: the same file; one "
                                   "output would replace the other: give each its own name")


def _named(path: Path, read: Path) -> str:
    """The input's own spelling where it differs (a link, another spelling of the path)."""
    return "" if os.fspath(path) == os.fspath(read) else f" ({read}, the same file)"
