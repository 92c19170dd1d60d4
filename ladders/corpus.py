"""Corpora and their split, for the ladder runner (no numpy, no torch).

* A :class:`Corpus` is an ordered list of named documents with a content hash: the running
  Python's standard library (:func:`stdlib_corpus`) or the user's text files (:func:`text_corpus`,
  each named by its path relative to its glob's folder, :func:`glob_files`).
* :func:`split_corpus` splits a corpus by document, from a hash of each document's name, into a
  training and a validation corpus (:func:`split_documents`: their documents); a BPE trains on
  the training corpus only (``ladders.tokenizer.get_tokenizer``), and ``ladders.data`` tokenises
  both sides.
"""
from __future__ import annotations

import glob as _glob
import hashlib
import os
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

#: Directory names skipped anywhere under the standard library.
STDLIB_EXCLUDED_DIRS = frozenset({"site-packages", "dist-packages", "test", "tests", "idlelib", "lib2to3"})


def corpus_hash(names: Sequence[str], documents: Sequence[str]) -> str:
    """sha256 hex of the names and contents in order (each length-prefixed, so it is unambiguous)."""
    h = hashlib.sha256()
    h.update(b"corpus-v1\0")
    for name, text in zip(names, documents, strict=True):
        for part in (name.encode("utf-8"), text.encode("utf-8")):
            h.update(len(part).to_bytes(8, "little"))
            h.update(part)
    return h.hexdigest()


@dataclass
class Corpus:
    """Named documents in a fixed order; ``hash`` identifies names and contents."""

    name: str
    documents: list[str]
    names: list[str]
    hash: str = ""

    def __post_init__(self):
        if len(self.names) != len(self.documents):
            raise ValueError(f"{len(self.names)} names for {len(self.documents)} documents")
        if not self.hash:
            self.hash = corpus_hash(self.names, self.documents)

    @property
    def n_bytes(self) -> int:
        return sum(len(d.encode("utf-8")) for d in self.documents)

    def __len__(self) -> int:
        return len(self.documents)

    def __repr__(self) -> str:
        return f"Corpus(name={self.name!r}, documents={len(self.documents)}, hash={self.hash[:16]!r})"


def stdlib_corpus(max_bytes: int | None = None) -> Corpus:
    """The running Python's standard-library source as a corpus.

    All ``*.py`` files under ``sysconfig.get_paths()["stdlib"]``, skipping ``site-packages`` and the
    ``test``/``tests``/``idlelib``/``lib2to3`` directories, read as UTF-8 (files that fail to decode
    are skipped), in sorted relative-path order. With ``max_bytes``, the longest prefix of that order
    whose total UTF-8 size is at most ``max_bytes`` (at least one document, else ValueError).
    """
    if max_bytes is not None and max_bytes <= 0:
        raise ValueError(f"max_bytes must be positive, got {max_bytes}")
    root = Path(sysconfig.get_paths()["stdlib"])
    rels = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in STDLIB_EXCLUDED_DIRS and d != "__pycache__"]
        rel_dir = Path(dirpath).relative_to(root)
        for fn in filenames:
            if fn.endswith(".py"):
                rels.append((rel_dir / fn).as_posix())
    rels.sort()
    names, documents, total = [], [], 0
    for rel in rels:
        try:
            raw = (root / rel).read_bytes()
            text = raw.decode("utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if max_bytes is not None and total + len(raw) > max_bytes:
            break
        names.append(rel)
        documents.append(text)
        total += len(raw)
    if not documents:
        raise ValueError(f"max_bytes={max_bytes} is smaller than the first standard-library file")
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    return Corpus(name=f"python-stdlib-{version}", documents=documents, names=names)


def glob_root(pattern: str) -> str:
    """The folder a glob pattern's matches are named relative to: its longest directory prefix
    without a wildcard (``*``, ``?``, ``[``), ``~`` expanded (``"docs/**/*.txt"`` -> ``"docs"``;
    ``"/data/a.txt"`` -> ``"/data"``; ``"*.txt"`` -> ``"."``)."""
    parts = Path(os.path.expanduser(os.fspath(pattern))).parts
    fixed = []
    for part in parts[:-1]:
        if _glob.has_magic(part):
            break
        fixed.append(part)
    return os.path.join(*fixed) if fixed else "."


def glob_files(globs: Sequence[str] | str) -> list[tuple[str, str]]:
    """(name, path) of the files that glob patterns match (``**`` recursive), sorted by name and
    deduplicated (a file matched twice keeps its smallest name). A file's name is its path
    relative to :func:`glob_root` of its pattern, with ``/`` separators, so the same files
    copied to another folder have the same names. Raises FileNotFoundError naming the first
    pattern that matches no file, and ValueError when two files get the same name (patterns
    with different roots holding the same relative path)."""
    if isinstance(globs, (str, os.PathLike)):
        globs = [globs]
    globs = [os.fspath(g) for g in globs]
    if not globs:
        raise ValueError("a corpus of files needs at least one glob pattern")
    by_real: dict[str, str] = {}
    for pattern in globs:
        root = glob_root(pattern)
        matches = [m for m in _glob.glob(os.path.expanduser(pattern), recursive=True) if os.path.isfile(m)]
        if not matches:
            raise FileNotFoundError(f"no files match the pattern {pattern!r}")
        for m in matches:
            real = os.path.realpath(m)
            name = Path(os.path.relpath(m, root)).as_posix()
            if real not in by_real or name < by_real[real]:
                by_real[real] = name
    paths = sorted(by_real.items(), key=lambda kv: (kv[1], kv[0]))
    for (real, name), (other, same) in zip(paths, paths[1:]):
        if name == same:
            raise ValueError(f"{real} and {other} are both named {name!r} relative to their "
                             "patterns' folders; use one pattern over their common folder")
    return [(name, real) for real, name in paths]


def text_corpus(globs: Sequence[str] | str) -> Corpus:
    """User text files matched by glob patterns (``**`` recursive), sorted and deduplicated.

    Document names are the files' paths relative to the folder of their pattern
    (:func:`glob_files`), so the split and the corpus hash do not depend on where the files lie.
    Raises FileNotFoundError naming the first pattern that matches no file, and ValueError naming
    a file that is not valid UTF-8 or two files of the same name.
    """
    names, documents = [], []
    for name, path in glob_files(globs):
        try:
            documents.append(Path(path).read_bytes().decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise ValueError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        names.append(name)
    h = corpus_hash(names, documents)
    return Corpus(name=f"text-{h[:12]}", documents=documents, names=names, hash=h)


def name_uniform(name: str) -> float:
    """A number in [0, 1) fixed by the document name (sha256, first 8 bytes)."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def split_corpus(corpus: Corpus, valid_fraction: float = 0.05) -> tuple[Corpus, Corpus]:
    """Split a corpus by document into (train, valid) corpora, each in corpus order.

    A document goes to validation when a hash of its name, as a uniform number in [0, 1), is below
    ``valid_fraction``; so the split does not depend on the other documents or on the order. With
    two or more documents each side gets at least one: if a side is empty, the document whose
    number is closest to the threshold moves across. Each side's ``hash`` identifies exactly its
    documents (a BPE trained on the training side is cached under it).
    """
    if not 0.0 < float(valid_fraction) < 1.0:
        raise ValueError(f"valid_fraction must lie in (0, 1), got {valid_fraction}")
    u = [name_uniform(n) for n in corpus.names]
    is_valid = [x < valid_fraction for x in u]
    n = len(u)
    if n >= 2:
        if not any(is_valid):
            is_valid[min(range(n), key=lambda i: (u[i], corpus.names[i]))] = True
        elif all(is_valid):
            is_valid[max(range(n), key=lambda i: (u[i], corpus.names[i]))] = False

    def side(valid: bool, label: str) -> Corpus:
        keep = [i for i in range(n) if is_valid[i] == valid]
        return Corpus(name=f"{corpus.name}/{label}", documents=[corpus.documents[i] for i in keep],
                      names=[corpus.names[i] for i in keep])

    return side(False, "train"), side(True, "valid")


def split_documents(corpus: Corpus, valid_fraction: float = 0.05) -> tuple[list[str], list[str]]:
    """The documents of :func:`split_corpus`: (train_docs, valid_docs), in corpus order."""
    train, valid = split_corpus(corpus, valid_fraction)
    return train.documents, valid.documents
