"""Atomic, durable file writes: finished data is never half-written, and a power cut loses at
most the write in flight.

    with atomic_path("out/fit.json") as temporary:
        temporary.write_text(text)        # or any writer that takes a path

The temporary file lives beside the target. On success it is flushed to the disk (`fsync`),
given the target's permission bits (those of the file it replaces, else the usual 0666 less the
umask), and replaces the target in one `os.replace`; then the folder is flushed too, so the
rename itself survives a crash. On failure the temporary file is removed and the target is
untouched. A write that the system refuses (a full disk, a file size limit, a read-only or
forbidden folder) is a `ScalingError` naming the target: one line, never ": File too large".
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from pathlib import Path

from scaling.errors import ScalingError

# A folder's fsync that the file system does not support (some network and FUSE file systems,
# or a folder that cannot be opened for reading) is skipped: the data itself was flushed.
_UNSUPPORTED = {errno.EINVAL, errno.ENOTSUP, errno.EBADF, errno.EISDIR, errno.EACCES,
                errno.EPERM, getattr(errno, "EOPNOTSUPP", errno.ENOTSUP)}


@contextlib.contextmanager
def atomic_path(path):
    path = Path(path)
    temporary = None
    try:
        made = _make_folders(path.parent)
        handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.",
                                        suffix=path.suffix or ".tmp")
        os.close(handle)
        temporary = Path(name)
        yield temporary
        _fsync_file(temporary)
        os.chmod(temporary, _mode(path))    # mkstemp makes 0600: the target's, or the usual
        os.replace(temporary, path)
        for folder in (path.parent, *(folder.parent for folder in made)):
            fsync_folder(folder)
    except OSError as exc:
        raise ScalingError(f"{path}: cannot write: {_reason(exc, path)}") from None
    finally:
        if temporary is not None:
            temporary.unlink(missing_ok=True)


def _make_folders(folder: Path) -> list[Path]:
    """`folder` and its missing parents, made; returns those made (outermost first)."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    made = []
    for folder in reversed(missing):
        try:
            folder.mkdir()
        except FileExistsError:
            if not folder.is_dir():
                raise
            continue
        made.append(folder)
    return made


def _mode(path: Path) -> int:
    """The permission bits the new file gets: those of the file it replaces (a 0600 file stays
    0600), else 0666 less the umask."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _fsync_file(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def fsync_folder(folder) -> None:
    """Flush a folder's entries (a rename or a new file in it) to the disk, where the file
    system supports it."""
    try:
        descriptor = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError as exc:
        if exc.errno in _UNSUPPORTED:
            return
        raise
    try:
        os.fsync(descriptor)
    except OSError as exc:
        if exc.errno not in _UNSUPPORTED:
            raise
    finally:
        os.close(descriptor)


def _reason(exc: OSError, path: Path) -> str:
    """The system's reason, and the file it names when that is neither the target nor a file
    beside it (our temporary file): a folder above it that cannot be made, say."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    for named in (exc.filename, exc.filename2):
        if named is None or isinstance(named, int):
            continue
        named = Path(os.fsdecode(named))
        if named != path and named.parent != path.parent:
            return f"{reason} ({named})"
    return reason


def write_text(path, text: str) -> Path:
    with atomic_path(path) as temporary:
        temporary.write_text(text)
    return Path(path)


def write_bytes(path, data: bytes) -> Path:
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)
    return Path(path)
