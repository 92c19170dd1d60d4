"""A Hugging Face dataset as a ladder corpus (``data.corpus = "hf"``), streamed and tokenised on
the fly: no step holds the whole dataset in memory.

* Sources (:class:`HFCorpus`): local shards (:func:`shard_corpus`: globs of ``.parquet``,
  ``.arrow`` (Arrow IPC file or stream, as ``datasets`` saves them), ``.jsonl``, ``.jsonl.gz``
  and ``.json.gz`` files, read with pyarrow / json in batches of rows), or a hub dataset
  (:func:`hub_corpus`: ``datasets.load_dataset(..., streaming=True)``, imported only then; the
  optional extra ``scaling[hf]``). Documents are the rows' ``text_column``; empty and null texts
  are skipped. With ``max_bytes`` the stream stops before the first document that would take
  the UTF-8 bytes read past it (as the standard-library corpus caps its files).
* Identity (``HFCorpus.hash``, the rows' ``corpus_hash``): the sha256 of the hub name, config,
  split and revision (None unless given), or of the shards' names relative to their glob's
  folder (``ladders.corpus.glob_files``), sizes and contents (sha256); with the text column and
  ``max_bytes``. Token caches and the BPE are keyed by it, so a second load reads neither the
  shards' text nor the hub.
* Split: a document is held out when the split number (``ladders.corpus.name_uniform``) of
  its id is below ``valid_fraction``, its id being **the sha256 hex of its text**: not its
  shard or row, so the split does not depend on where the files lie, how rows are cut into
  shards or in what order they stream, and two copies of one text always fall on the same side.
  Unlike ``split_corpus`` no document moves across to fill an empty side (a stream is read
  once): a side too small for one sequence is an error when the rung starts.
* Tokens (:func:`load_hf_tokens`): documents are encoded a chunk at a time (``encode_batch``)
  and appended to each side's ``.bin`` (written atomically), the JSON sidecar last, in the
  format of ``ladders.data.load_tokens``. The tokenizer (:func:`hf_tokenizer`): bytes, a
  byte-level BPE trained on the streamed training side, or a pretrained ``tokenizer.json``.
* :func:`load_hf`: what ``ladders.train.load_data`` calls. When the hub is unreachable or
  ``datasets`` is missing, with ``fallback = "stdlib"`` it says so in one line on stderr and
  trains on the standard library (the rows' ``dataset`` then names it); without, a ValueError.
"""
from __future__ import annotations

import contextlib
import gzip
import hashlib
import itertools
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ladders.corpus import name_uniform, glob_files, stdlib_corpus
from ladders.data import (DOC_SEPARATOR, TokenData, memmap_tokens, read_cached, TOKEN_CACHE_FORMAT,
                          load_tokens)
from ladders.tokenizer import bpe_cache_path, get_tokenizer, train_bpe
from scaling.output.atomic import atomic_path, write_bytes

#: File name endings of the local shards read, and their readers (below).
SHARD_SUFFIXES = (".parquet", ".arrow", ".jsonl", ".jsonl.gz", ".json.gz")
#: Rows read from a shard at a time, and documents encoded per ``encode_batch``.
_ROWS_PER_BATCH = 1024
_DOCS_PER_CHUNK = 256
#: How documents are split, recorded in the token cache's sidecar.
SPLIT_BY = "text-sha256"


class HubUnreachable(Exception):
    """The hub dataset cannot be opened (``reason``: one line)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class HFCorpus:
    """A streamed corpus: ``documents()`` opens a fresh stream of its texts each call."""

    name: str
    identity: dict
    open_texts: Callable[[], Iterator[str]]
    max_bytes: int | None = None
    _hash: str = ""

    @property
    def hash(self) -> str:
        """sha256 hex of the identity (for shards, their contents are hashed on first use)."""
        if not self._hash:
            identity = {k: (v() if callable(v) else v) for k, v in self.identity.items()}
            self._hash = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
        return self._hash

    def documents(self) -> Iterator[str]:
        """The texts in order, capped at ``max_bytes``; the stream is opened now (a hub that
        cannot be reached raises :class:`HubUnreachable` here, not at the first ``next``)."""
        texts = self.open_texts()
        return _capped(texts, self.max_bytes) if self.max_bytes is not None else texts


def _capped(texts: Iterator[str], max_bytes: int) -> Iterator[str]:
    total = 0
    for text in texts:
        total += len(text.encode("utf-8"))
        if total > max_bytes:
            return
        yield text


# --- local shards --------------------------------------------------------------------------------


def _column_error(path, column: str, names) -> ValueError:
    return ValueError(f"{path} has no column {column!r} (data.text_column); it has "
                      f"{', '.join(map(repr, names)) or 'none'}")


def _batch_texts(path, batch, column: str) -> list:
    if column not in batch.schema.names:
        raise _column_error(path, column, batch.schema.names)
    return batch.column(column).to_pylist()


def _parquet_texts(path, column: str) -> Iterator[list]:
    import pyarrow.parquet as pq

    shard = pq.ParquetFile(path)
    if column not in shard.schema_arrow.names:
        raise _column_error(path, column, shard.schema_arrow.names)
    for batch in shard.iter_batches(batch_size=_ROWS_PER_BATCH, columns=[column]):
        yield batch.column(0).to_pylist()


def _arrow_texts(path, column: str) -> Iterator[list]:
    import pyarrow as pa
    import pyarrow.ipc as ipc

    with pa.memory_map(str(path)) as source:
        try:
            reader = ipc.open_file(source)
            batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
        except pa.ArrowInvalid:          # not the file format: the stream format (datasets')
            source.seek(0)
            batches = ipc.open_stream(source)
        for batch in batches:
            yield _batch_texts(path, batch, column)


def _json_texts(path, column: str) -> Iterator[list]:
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as lines:
        batch = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise ValueError(f"{path}:{number}: not a JSON line ({exc})") from None
            if not isinstance(row, dict) or column not in row:
                raise ValueError(f"{path}:{number}: no {column!r} (data.text_column) in the row")
            batch.append(row[column])
            if len(batch) == _ROWS_PER_BATCH:
                yield batch
                batch = []
        if batch:
            yield batch


def shard_texts(path, column: str = "text") -> Iterator[str]:
    """The non-empty texts of one shard's ``column``, in row order, read in batches."""
    name = str(path)
    reader = (_parquet_texts if name.endswith(".parquet") else
              _arrow_texts if name.endswith(".arrow") else _json_texts)
    row = 0
    for batch in reader(path, column):
        for text in batch:
            if text is not None and not isinstance(text, str):
                raise ValueError(f"{path}: row {row}: column {column!r} holds "
                                 f"{type(text).__name__}, not text")
            row += 1
            if text:
                yield text


def shard_files(globs) -> list[tuple[str, str]]:
    """(name, path) of the shards the globs match (``ladders.corpus.glob_files``: names relative
    to each glob's folder); ValueError naming a file of another kind."""
    shards = glob_files(globs)
    for _, path in shards:
        if not path.endswith(SHARD_SUFFIXES):
            raise ValueError(f"{path} is not a shard ({', '.join(SHARD_SUFFIXES)})")
    return shards


def _file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def shard_corpus(globs, text_column: str = "text", max_bytes: int | None = None) -> HFCorpus:
    """Local shards as a corpus, named ``shards:<first shard>[+<more>]``. The globs are matched
    now (FileNotFoundError for one that matches nothing); the contents are hashed when the
    corpus's hash is first needed."""
    shards = shard_files(globs)

    def contents():
        return [[name, os.path.getsize(path), _file_sha256(path)] for name, path in shards]

    def texts():
        return itertools.chain.from_iterable(shard_texts(path, text_column) for _, path in shards)

    more = f"+{len(shards) - 1}" if len(shards) > 1 else ""
    identity = {"kind": "hf-files-v1", "shards": contents, "text_column": text_column,
                "max_bytes": max_bytes}
    return HFCorpus(f"shards:{shards[0][0]}{more}", identity, texts, max_bytes)


# --- the hub -------------------------------------------------------------------------------------


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def datasets_missing() -> str | None:
    """Why the hub cannot be streamed from here without trying it: the ``datasets`` library is
    not installed (a reason), else None."""
    try:
        import datasets  # noqa: F401
    except ImportError:
        return _NO_DATASETS
    return None


_NO_DATASETS = "the datasets library is not installed: pip install 'scaling[hf]'"


def hub_corpus(dataset: str, config: str | None = None, split: str = "train",
               revision: str | None = None, text_column: str = "text",
               max_bytes: int | None = None) -> HFCorpus:
    """A hub dataset, streamed with ``datasets`` when its documents are read (nothing is
    imported or fetched before)."""
    name = f"{dataset}:{config or 'default'}:{split}" + (f"@{revision}" if revision else "")

    def texts():
        try:
            import datasets
        except ImportError:
            raise HubUnreachable(_NO_DATASETS) from None
        try:
            rows = iter(datasets.load_dataset(dataset, config, split=split, streaming=True,
                                              revision=revision))
            first = next(rows, None)
        except Exception as exc:       # offline, no such dataset, refused: the reason in one line
            raise HubUnreachable(_first_line(exc)) from None
        return _hub_texts(name, rows if first is None else itertools.chain([first], rows),
                          text_column)

    identity = {"kind": "hf-hub-v1", "dataset": dataset, "config": config, "split": split,
                "revision": revision, "text_column": text_column, "max_bytes": max_bytes}
    return HFCorpus(name, identity, texts, max_bytes)


def _hub_texts(name: str, rows, column: str) -> Iterator[str]:
    count = 0
    try:
        for row in rows:
            if column not in row:
                raise ValueError(f"{name}: no column {column!r} (data.text_column); it has "
                                 f"{', '.join(map(repr, row))}")
            count += 1
            if row[column]:
                yield row[column]
    except ValueError:
        raise
    except Exception as exc:
        raise ValueError(f"{name}: reading stopped after {count:,} rows "
                         f"({_first_line(exc)})") from None


# --- split, tokenizer, tokens --------------------------------------------------------------------


def is_held_out(text: str, valid_fraction: float) -> bool:
    """Whether a document is held out: the split number of its text's sha256 hex."""
    return name_uniform(hashlib.sha256(text.encode("utf-8")).hexdigest()) < valid_fraction


def split_side(corpus: HFCorpus, valid_fraction: float, held_out: bool) -> Iterator[str]:
    """The documents of one side of the split, streamed (the stream is opened now)."""
    texts = corpus.documents()
    return (t for t in texts if is_held_out(t, valid_fraction) == held_out)


def hf_tokenizer(kind: str, vocab_size: int | None, corpus: HFCorpus, cache_dir: Path,
                 valid_fraction: float, path=None):
    """Bytes, a pretrained tokenizer.json at ``path``, or a byte-level BPE trained on the
    streamed training side and cached under a hash of (corpus, valid_fraction): a cached BPE
    opens no stream."""
    if kind in ("bytes", "file"):
        return get_tokenizer(kind, vocab_size, corpus, cache_dir, path=path)
    if kind != "bpe":
        raise ValueError(f"unknown tokenizer kind {kind!r}; expected 'bytes', 'bpe' or 'file'")
    key = hashlib.sha256(json.dumps({"training side of": corpus.hash, "split_by": SPLIT_BY,
                                     "valid_fraction": float(valid_fraction)}).encode()).hexdigest()
    cached = bpe_cache_path(cache_dir, key, int(vocab_size)).is_file()
    documents = [] if cached else split_side(corpus, valid_fraction, held_out=False)
    return train_bpe(documents, vocab_size, key, cache_dir)


def _chunks(texts: Iterator[str], size: int) -> Iterator[list[str]]:
    while chunk := list(itertools.islice(texts, size)):
        yield chunk


def load_hf_tokens(corpus: HFCorpus, tokenizer, cache_dir: Path,
                   valid_fraction: float = 0.05) -> TokenData:
    """Both sides of a streamed corpus tokenised into ``ladders.data.load_tokens``'s cache
    (``tokens-<hash[:16]>-<tokenizer>-<split>.bin`` and sidecars), one chunk of documents at a
    time, and memory-mapped; a cache whose sidecars match opens no stream."""
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    expect = {"format": TOKEN_CACHE_FORMAT, "corpus_hash": corpus.hash,
              "tokenizer": tokenizer.name,
              "tokenizer_fingerprint": getattr(tokenizer, "fingerprint", tokenizer.name),
              "vocab_size": int(tokenizer.vocab_size), "valid_fraction": float(valid_fraction),
              "separator": DOC_SEPARATOR, "split_by": SPLIT_BY}
    stem = f"tokens-{corpus.hash[:16]}-{tokenizer.name}"
    paths = {s: cache_dir / f"{stem}-{s}.bin" for s in ("train", "valid")}
    found = {s: read_cached(paths[s], paths[s].with_suffix(".json"), expect) for s in paths}
    if all(v is not None for v in found.values()):
        arrays = {s: found[s][0] for s in paths}
        characters = {s: found[s][1] for s in paths}
    else:
        arrays, characters = _tokenise(corpus, tokenizer, paths, expect, valid_fraction)
    per_token = getattr(tokenizer, "token_characters", None)
    per_token = per_token() if per_token is not None else None
    return TokenData(train=arrays["train"], valid=arrays["valid"],
                     vocab_size=int(tokenizer.vocab_size),
                     dataset=f"{corpus.name}/{tokenizer.name}", corpus_hash=corpus.hash,
                     paths=paths, train_characters=characters["train"],
                     valid_characters=characters["valid"],
                     token_characters=None if per_token is None else np.asarray(per_token))


def _tokenise(corpus, tokenizer, paths, expect, valid_fraction):
    dtype = np.dtype(tokenizer.dtype)
    for path in paths.values():                    # a stale sidecar never vouches for new tokens
        path.with_suffix(".json").unlink(missing_ok=True)
    separator = np.asarray(tokenizer.encode(DOC_SEPARATOR), dtype=dtype).tobytes()
    count = {s: {"length": 0, "documents": 0, "characters": 0} for s in paths}
    texts = corpus.documents()
    with contextlib.ExitStack() as stack:
        temporary = {s: stack.enter_context(atomic_path(p)) for s, p in paths.items()}
        out = {s: stack.enter_context(open(temporary[s], "wb")) for s in paths}
        for chunk in _chunks(texts, _DOCS_PER_CHUNK):
            sides = {"train": [], "valid": []}
            for text in chunk:
                sides["valid" if is_held_out(text, valid_fraction) else "train"].append(text)
            for split, docs in sides.items():
                if not docs:
                    continue
                c = count[split]
                for text, ids in zip(docs, tokenizer.encode_batch(docs)):
                    if c["documents"]:
                        out[split].write(separator)
                        c["length"] += len(separator) // dtype.itemsize
                        c["characters"] += len(DOC_SEPARATOR)
                    out[split].write(np.asarray(ids, dtype=dtype).tobytes())
                    c["length"] += len(ids)
                    c["characters"] += len(text)
                    c["documents"] += 1
        for handle in out.values():
            handle.close()
    arrays, characters = {}, {}
    for split, path in paths.items():
        meta = dict(expect, split=split, dtype=dtype.name, **count[split])
        write_bytes(path.with_suffix(".json"),
                    (json.dumps(meta, indent=1, sort_keys=True) + "\n").encode())
        arrays[split] = memmap_tokens(path, dtype, count[split]["length"])
        characters[split] = count[split]["characters"]
    return arrays, characters


# --- a rung's data -------------------------------------------------------------------------------


def data_corpus(data: dict) -> HFCorpus:
    """The corpus of a rung's data settings (``ladders.spec.rungs.data_for_rung``)."""
    column = data.get("text_column") or "text"
    if data.get("hf_files"):
        return shard_corpus(data["hf_files"], column, data.get("max_bytes"))
    return hub_corpus(data["hf_dataset"], data.get("hf_config"), data.get("hf_split") or "train",
                      data.get("hf_revision"), column, data.get("max_bytes"))


def load_hf(data: dict, cache_dir: Path) -> TokenData:
    """Tokens of a rung's hf corpus, or of the standard library when the hub cannot be reached
    and ``data["fallback"] == "stdlib"`` (one line on stderr says so). ValueError (one line)
    for anything else that goes wrong, an unreachable hub without fallback included."""
    valid_fraction = data.get("valid_fraction", 0.05)
    kind, vocab_size = data["tokenizer"], data["vocab_size"]
    try:
        corpus = data_corpus(data)
        tokenizer = hf_tokenizer(kind, vocab_size, corpus, cache_dir, valid_fraction,
                                 data.get("tokenizer_file"))
        return load_hf_tokens(corpus, tokenizer, cache_dir, valid_fraction)
    except HubUnreachable as exc:
        name = data["hf_dataset"]
        if data.get("fallback") != "stdlib":
            raise ValueError(f"{name} unreachable ({exc.reason}); set data.fallback = "
                             "\"stdlib\" to train on the standard library instead") from None
        print(f"data: {name} unreachable ({exc.reason}); training on the standard library "
              "(fallback)", file=sys.stderr, flush=True)
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        raise ValueError(f"{where}{exc.strerror or _first_line(exc)}") from None
    corpus = stdlib_corpus(max_bytes=data.get("max_bytes"))
    tokenizer = get_tokenizer(kind, vocab_size, corpus, cache_dir, valid_fraction=valid_fraction,
                              path=data.get("tokenizer_file"))
    return load_tokens(corpus, tokenizer, cache_dir, valid_fraction=valid_fraction)
