"""Nothing lost (issue 24, item 6 and a write error of item 5): an output never replaces an
input or another output of the same command; a ladder never replaces a table that is not its
own, and two ladders never write one table; writes are flushed to the disk before they replace
anything and keep the replaced file's permission bits; a write the system refuses is one line
naming the file; and `ladder run --dry-run` rejects every data spec the real run would.

Each error case: `cli.main(argv)` in-process, exit 2, stderr exactly one line, no traceback,
and the inputs byte for byte as they were.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cli

REPO = Path(__file__).resolve().parents[1]
FAST = ["--bootstrap", "0", "--jobs", "1", "--no-calibration"]

SPEC = """
[ladder]
name = "t"
context = 32
batch_size = 8
[data]
corpus = "stdlib"
max_bytes = 200_000
[model]
sizes = [{ width = 32, depth = 2, heads = 2 }]
[tokens]
absolute = [100_000]
[optimizer]
lr = 1e-3
schedules = ["cosine"]
"""


def runs_table(tmp: Path, name: str = "runs.csv") -> Path:
    """A small Chinchilla-shaped run table (16 runs)."""
    rows = [{"run": f"r{4 * i + j:02d}", "params": n, "tokens": d,
             "loss": 1.8 + 400 / n**0.34 + 2000 / d**0.37}
            for i, n in enumerate((1e7, 3e7, 1e8, 3e8))
            for j, d in enumerate((1e8, 3e8, 1e9, 3e9))]
    path = tmp / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def one_line_error(capsys, argv) -> str:
    code = cli.main([str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def contents(paths) -> dict:
    return {Path(p): Path(p).read_bytes() for p in paths}


# -- atomic writes: the mode kept, the data flushed, a refused write named ------------------------

def test_a_replaced_file_keeps_its_permission_bits(tmp_path):
    from scaling.atomic import write_text

    private = tmp_path / "private.json"
    private.write_text("old")
    private.chmod(0o600)
    write_text(private, "new")
    assert private.read_text() == "new" and stat.S_IMODE(private.stat().st_mode) == 0o600
    shared = tmp_path / "shared.json"
    shared.write_text("old")
    shared.chmod(0o640)
    write_text(shared, "new")
    assert stat.S_IMODE(shared.stat().st_mode) == 0o640
    umask = os.umask(0o027)
    try:
        write_text(tmp_path / "new.json", "new")          # a new file: 0666 less the umask
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "new.json").stat().st_mode) == 0o640


def test_a_fit_over_a_private_fit_stays_private(tmp_path, capsys):
    runs = runs_table(tmp_path)
    out = tmp_path / "fit.json"
    out.write_text("{}")
    out.chmod(0o600)
    assert cli.main(["fit", str(runs), *FAST, "--out", str(out)]) == 0
    assert json.loads(out.read_text())["law"] == "chinchilla"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_a_write_is_flushed_before_the_rename_and_the_folder_after(tmp_path, monkeypatch):
    from scaling import atomic

    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(descriptor):
        kind = "folder" if stat.S_ISDIR(os.fstat(descriptor).st_mode) else "file"
        events.append((f"fsync {kind}", os.fstat(descriptor).st_size if kind == "file" else 0))
        real_fsync(descriptor)

    def replace(source, target):
        events.append(("replace", Path(target).name))
        real_replace(source, target)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    atomic.write_text(tmp_path / "fit.json", "x" * 100)
    assert events == [("fsync file", 100), ("replace", "fit.json"), ("fsync folder", 0)]
    events.clear()
    atomic.write_text(tmp_path / "a" / "b" / "fit.json", "y")   # new folders: their parents too
    assert events == [("fsync file", 1), ("replace", "fit.json"), ("fsync folder", 0),
                      ("fsync folder", 0), ("fsync folder", 0)]


def test_a_write_the_system_refuses_names_the_file(tmp_path, capsys, monkeypatch):
    """A full disk (ENOSPC at the flush): one line naming the file, the old file kept."""
    from scaling import atomic

    runs = runs_table(tmp_path)
    out = tmp_path / "fit.json"
    out.write_text("old")

    def full(descriptor):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    err = one_line_error(capsys, ["fit", runs, *FAST, "--out", out])
    assert err == f"scaling: error: {out}: cannot write: {os.strerror(errno.ENOSPC)}"
    assert out.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == \
        ["fit.json", "runs.csv"]
    with pytest.raises(atomic.ScalingError, match="runs.csv/x.json: cannot write: Not a directory$"):
        atomic.write_text(tmp_path / "runs.csv" / "x.json", "")   # a file where a folder goes


def test_a_file_size_limit_is_one_line_naming_the_file(tmp_path):
    """A real EFBIG: the process may write 512 bytes per file (RLIMIT_FSIZE, SIGXFSZ ignored);
    the fit file is larger. Was `scaling: error: : File too large`."""
    runs = runs_table(tmp_path)
    out = tmp_path / "fit.json"
    argv = ["fit", str(runs), *FAST, "--out", str(out)]
    child = textwrap.dedent(f"""
        import resource, signal, sys
        import cli
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (512, 512))
        sys.exit(cli.main({argv!r}))
    """)
    result = subprocess.run([sys.executable, "-c", child], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"scaling: error: {out}: cannot write: {os.strerror(errno.EFBIG)}"]
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["runs.csv"]


def test_an_os_error_without_a_file_is_not_an_empty_name(capsys):
    from scaling.console import run_command

    def fails():
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    assert run_command(fails) == 2
    assert capsys.readouterr().err == f"scaling: error: {os.strerror(errno.EIO)}\n"
