"""Token caches, deterministic batches and vocabulary statistics for the ladder runner (numpy
only); the corpora they are made of and their split are ``ladders.corpus``.

* :func:`load_tokens` tokenises both splits of a corpus once and caches them as raw ``.bin``
  files with JSON sidecars; later calls memory-map them. :func:`bin_tokens` reads pre-tokenised
  ``.bin`` files.
* :func:`batch_at` gives the training batch of an optimizer step as a pure function of
  ``(seed, step)``, which makes resuming exact and independent of the number of DDP ranks
  (:func:`rank_slice`); :func:`eval_batches` gives fixed validation windows. With a cap on the
  distinct training tokens (``unique_tokens``, repeated data) it draws epochs over a fixed set of
  windows spread over the training stream instead (:func:`repeat_offsets`).
* Vocabulary statistics for the run table: each split's characters (cached with its tokens, so
  :attr:`TokenData.tokens_per_char` is the tokenizer's tokens per character on the training
  text), the unigram frequencies of the training tokens (:func:`unigram_log_probs`), and for a
  fixed evaluation set its token and character counts and unigram cross-entropy
  (:func:`held_out_statistics`).

This module imports neither torch (the trainer turns the int64 arrays into tensors) nor the
tokenizers: :func:`load_tokens` takes any object with ``name``, ``vocab_size``, ``dtype``,
``fingerprint`` and ``encode_batch``, and uses ``token_characters`` when it has one
(``ladders.tokenizer``). Hugging Face datasets are streamed into the same cache by
``ladders.hf_corpus``.
"""
from __future__ import annotations

import functools
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ladders.corpus import Corpus, split_documents
from scaling.output.atomic import write_bytes

#: Text placed between consecutive documents when a split is flattened into one token stream.
DOC_SEPARATOR = "\n\n"
#: Documents tokenised per call to ``encode_batch`` (bounds the memory of BPE encodings).
_ENCODE_CHUNK = 64
TOKEN_CACHE_FORMAT = 2          # 2: the sidecar records the split's characters


@dataclass
class TokenData:
    """Token streams of the two splits (1-D arrays, possibly read-only ``np.memmap``).

    ``train_characters`` and ``valid_characters``: the characters of each split's text (the
    documents joined with ``DOC_SEPARATOR``), counted as Python counts a ``str``: Unicode code
    points, not UTF-8 bytes. ``token_characters[i]``: the characters that start in token ``i``'s
    bytes (``ladders.tokenizer``). All three are None for pre-tokenised ``.bin`` files, whose
    text is unknown.
    """

    train: np.ndarray
    valid: np.ndarray
    vocab_size: int
    dataset: str
    corpus_hash: str
    paths: dict[str, Path] = field(default_factory=dict)
    train_characters: int | None = None
    valid_characters: int | None = None
    token_characters: np.ndarray | None = field(default=None, repr=False)
    _unigram: np.ndarray | None = field(default=None, init=False, repr=False)

    @property
    def n_train(self) -> int:
        return int(self.train.shape[0])

    @property
    def n_valid(self) -> int:
        return int(self.valid.shape[0])

    @property
    def tokens_per_char(self) -> float | None:
        """The tokenizer's tokens per character on the training text (f(V) of Tao et al. 2024):
        training tokens / training characters; None when the characters are unknown."""
        if not self.train_characters:
            return None
        return self.n_train / self.train_characters

    def unigram_log_probs(self) -> np.ndarray:
        """:func:`unigram_log_probs` of the training tokens (computed once, then kept)."""
        if self._unigram is None:
            self._unigram = unigram_log_probs(self.train, self.vocab_size)
        return self._unigram

    def __repr__(self) -> str:
        return (f"TokenData(dataset={self.dataset!r}, train={self.n_train}, valid={self.n_valid}, "
                f"vocab_size={self.vocab_size}, corpus_hash={self.corpus_hash[:16]!r})")


def _tokenise_stream(documents: Sequence[str], tokenizer, dtype: np.dtype) -> np.ndarray:
    """Documents encoded one by one and joined with the encoded ``DOC_SEPARATOR``."""
    sep = np.asarray(tokenizer.encode(DOC_SEPARATOR), dtype=dtype)
    parts: list[np.ndarray] = []
    for start in range(0, len(documents), _ENCODE_CHUNK):
        for i, ids in enumerate(tokenizer.encode_batch(documents[start:start + _ENCODE_CHUNK])):
            if start + i:
                parts.append(sep)
            parts.append(np.asarray(ids, dtype=dtype))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


def memmap_tokens(path: Path, dtype: np.dtype, length: int) -> np.ndarray:
    if length == 0:  # np.memmap cannot map an empty file
        return np.zeros(0, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r", shape=(length,))


def read_cached(bin_path: Path, meta_path: Path, expect: dict) -> tuple[np.ndarray, int] | None:
    """(tokens, characters) of the cached split when its sidecar matches ``expect`` and the
    file size agrees, else None."""
    try:
        meta = json.loads(meta_path.read_text())
        size = bin_path.stat().st_size
    except (OSError, ValueError):
        return None
    if any(meta.get(k) != v for k, v in expect.items()):
        return None
    try:
        dtype = np.dtype(meta["dtype"])
        length = int(meta["length"])
        characters = int(meta["characters"])
    except (KeyError, TypeError, ValueError):
        return None
    if size != length * dtype.itemsize:
        return None
    return memmap_tokens(bin_path, dtype, length), characters


def stream_characters(documents: Sequence[str]) -> int:
    """Characters (code points) of the documents joined with ``DOC_SEPARATOR``."""
    if not documents:
        return 0
    return sum(len(d) for d in documents) + len(DOC_SEPARATOR) * (len(documents) - 1)


def load_tokens(corpus: Corpus, tokenizer, cache_dir: Path, valid_fraction: float = 0.05) -> TokenData:
    """Both splits of ``corpus`` tokenised, cached under ``cache_dir`` and memory-mapped.

    Each split is one stream: its documents encoded separately and joined with the encoded
    ``"\\n\\n"``. It is stored raw (uint16 if V <= 65535, else uint32) at
    ``cache_dir/tokens-<corpus hash[:16]>-<tokenizer.name>-<split>.bin`` beside a JSON sidecar
    (dtype, length, the split's characters, and what produced it), both written atomically, the
    sidecar last. A later call whose corpus, tokenizer and ``valid_fraction`` match the sidecar
    memory-maps the file instead of tokenising again. Characters are those of the split's text
    (:func:`stream_characters`: code points, so the byte tokenizer's tokens per character exceed
    1 on non-ASCII text), counted once and cached with the tokens.
    """
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    dtype = np.dtype(tokenizer.dtype)
    expect = {
        "format": TOKEN_CACHE_FORMAT,
        "corpus_hash": corpus.hash,
        "tokenizer": tokenizer.name,
        "tokenizer_fingerprint": getattr(tokenizer, "fingerprint", tokenizer.name),
        "vocab_size": int(tokenizer.vocab_size),
        "valid_fraction": float(valid_fraction),
        "separator": DOC_SEPARATOR,
    }
    stem = f"tokens-{corpus.hash[:16]}-{tokenizer.name}"
    paths = {s: cache_dir / f"{stem}-{s}.bin" for s in ("train", "valid")}
    arrays: dict[str, np.ndarray] = {}
    characters: dict[str, int] = {}
    for split in ("train", "valid"):
        cached = read_cached(paths[split], paths[split].with_suffix(".json"), expect)
        if cached is None:
            break
        arrays[split], characters[split] = cached
    if len(arrays) < 2:
        docs = dict(zip(("train", "valid"), split_documents(corpus, valid_fraction)))
        for split in ("train", "valid"):
            stream = _tokenise_stream(docs[split], tokenizer, dtype)
            characters[split] = stream_characters(docs[split])
            write_bytes(paths[split], stream.tobytes())
            meta = dict(expect, split=split, dtype=dtype.name, length=int(stream.shape[0]),
                        documents=len(docs[split]), characters=characters[split])
            write_bytes(paths[split].with_suffix(".json"),
                               (json.dumps(meta, indent=1, sort_keys=True) + "\n").encode())
            arrays[split] = memmap_tokens(paths[split], dtype, int(stream.shape[0]))
    per_token = getattr(tokenizer, "token_characters", None)
    per_token = None if per_token is None else per_token()   # None: unknown for this vocabulary
    return TokenData(train=arrays["train"], valid=arrays["valid"], vocab_size=int(tokenizer.vocab_size),
                     dataset=f"{corpus.name}/{tokenizer.name}", corpus_hash=corpus.hash, paths=paths,
                     train_characters=characters["train"], valid_characters=characters["valid"],
                     token_characters=None if per_token is None else np.asarray(per_token))


def _open_bin(path: Path, dtype: np.dtype) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"token file not found: {path}")
    size = path.stat().st_size
    if size == 0:
        raise ValueError(f"token file {path} is empty")
    if size % dtype.itemsize:
        raise ValueError(f"token file {path} has {size} bytes, not a multiple of the {dtype.name} "
                         f"size ({dtype.itemsize} bytes)")
    return np.memmap(path, dtype=dtype, mode="r", shape=(size // dtype.itemsize,))


def _scan(arr: np.ndarray, h, chunk: int = 1 << 24) -> tuple[int, int]:
    """(min, max) of ``arr`` while feeding its bytes to the hash ``h``, chunk by chunk."""
    lo, hi = None, None
    for s in range(0, arr.shape[0], chunk):
        part = np.asarray(arr[s:s + chunk])
        h.update(part.tobytes())
        a, b = int(part.min()), int(part.max())
        lo = a if lo is None else min(lo, a)
        hi = b if hi is None else max(hi, b)
    return lo, hi


def bin_summary(path, dtype="uint16", chunk: int = 1 << 24) -> tuple[int, int, int]:
    """(tokens, smallest id, largest id) of a raw ``.bin`` token file, read chunk by chunk
    without hashing it: what :func:`bin_tokens` checks (ValueError naming the file when it is
    empty or its size is not a multiple of the dtype's; FileNotFoundError when it is missing),
    for a dry run."""
    arr = _open_bin(path, np.dtype(dtype))
    lo = hi = None
    for s in range(0, arr.shape[0], chunk):
        part = np.asarray(arr[s:s + chunk])
        a, b = int(part.min()), int(part.max())
        lo = a if lo is None else min(lo, a)
        hi = b if hi is None else max(hi, b)
    return int(arr.shape[0]), lo, hi


def bin_tokens(train_path, valid_path, dtype="uint16", vocab_size: int | None = None, *,
               name: str | None = None) -> TokenData:
    """Pre-tokenised raw ``.bin`` files (native byte order) memory-mapped read-only.

    ``vocab_size`` defaults to the largest token + 1; a given one must exceed every token.
    ``corpus_hash`` is the sha256 of the dtype and both files' contents. Raises ValueError naming
    the file when it is empty or its size is not a multiple of the dtype's size.
    """
    dt = np.dtype(dtype)
    if dt.kind not in "ui":
        raise ValueError(f"token dtype must be an integer type, got {dt.name}")
    train = _open_bin(train_path, dt)
    valid = _open_bin(valid_path, dt)
    h = hashlib.sha256(f"bin-v1\0{dt.str}\0".encode())
    lo_t, hi_t = _scan(train, h)
    h.update(b"\0valid\0")
    lo_v, hi_v = _scan(valid, h)
    if min(lo_t, lo_v) < 0:
        raise ValueError(f"negative token ids in {train_path if lo_t < 0 else valid_path}")
    top = max(hi_t, hi_v)
    if vocab_size is None:
        vocab_size = top + 1
    elif top >= vocab_size:
        raise ValueError(f"token id {top} in {train_path if hi_t >= hi_v else valid_path} is not below "
                         f"vocab_size={vocab_size}")
    digest = h.hexdigest()
    if name is None:
        name = f"bin-{Path(train_path).stem}"
    return TokenData(train=train, valid=valid, vocab_size=int(vocab_size), dataset=name,
                     corpus_hash=digest, paths={"train": Path(train_path), "valid": Path(valid_path)})


def batch_at(tokens: np.ndarray, step: int, batch_size: int, context: int, seed: int, *,
             rows: slice | None = None,
             unique_tokens: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The training batch of optimizer step ``step``: int64 ``(x, y)`` of shape (batch_size, context).

    A pure function of ``(seed, step)``: offsets come from ``np.random.default_rng([seed, step])``,
    uniform in ``[0, len(tokens) - context - 1]``, and ``y`` is ``x`` shifted by one token. ``rows``
    (e.g. :func:`rank_slice`) keeps only some rows of that global batch, without changing them.

    With ``unique_tokens`` (repeated data, a positive multiple of ``context``): the batch comes
    from the :func:`repeat_offsets` epochs over a fixed set of ``unique_tokens / context``
    windows spread over the tokens instead, still a pure function of ``(seed, step)``.
    """
    n = int(tokens.shape[0])
    if batch_size < 1 or context < 1:
        raise ValueError(f"batch_size and context must be positive, got {batch_size} and {context}")
    if n < context + 1:
        raise ValueError(f"{n} tokens are too few for a context of {context} (need at least {context + 1})")
    if unique_tokens is not None:
        offsets = repeat_offsets(n, step, batch_size, context, seed, unique_tokens)
    else:
        rng = np.random.default_rng([int(seed), int(step)])
        offsets = rng.integers(0, n - context, size=batch_size, dtype=np.int64)
    if rows is not None:
        offsets = offsets[rows]
    return _windows(tokens, offsets, context)


# Mixed into the seed of an epoch's permutation, so that it is not the stream of step `epoch`
# of `batch_at`'s uncapped sampling.
_EPOCH_STREAM = 0x45504F43          # "EPOC"


def repeat_windows(unique_tokens: int, context: int) -> int:
    """Windows of the repeated set: ``unique_tokens / context``, which must be a positive
    integer (ValueError otherwise)."""
    if unique_tokens < 1 or unique_tokens % context:
        raise ValueError(f"unique_tokens must be a positive multiple of the context {context}, "
                         f"got {unique_tokens}")
    return unique_tokens // context


def epoch_order(windows: int, seed: int, epoch: int) -> np.ndarray:
    """The order in which epoch ``epoch`` (0, 1, ...) visits the ``windows`` windows of the
    repeated set: a permutation of ``range(windows)`` from
    ``np.random.default_rng([seed, epoch, 0x45504F43])``, a pure function of (seed, epoch)."""
    return _epoch_order(int(windows), int(seed), int(epoch))


@functools.lru_cache(maxsize=4)
def _epoch_order(windows: int, seed: int, epoch: int) -> np.ndarray:
    order = np.random.default_rng([seed, epoch, _EPOCH_STREAM]).permutation(windows)
    order.setflags(write=False)             # shared by the cache: never changed in place
    return order


def repeat_offsets(n: int, step: int, batch_size: int, context: int, seed: int,
                   unique_tokens: int) -> np.ndarray:
    """Window starts of step ``step``'s batch on repeated data (data-constrained training,
    Muennighoff et al. 2023).

    The repeated set is W = unique_tokens / context windows of context + 1 tokens spread evenly
    over the training stream of ``n`` tokens: window w starts at token ``w·stride``, stride =
    (n − 1) // W (at least ``context``, so no two windows share an input or a target position;
    with stride = context they tile the stream's first unique_tokens + 1 tokens). An epoch
    therefore trains on exactly ``unique_tokens`` distinct target tokens (the row's
    ``unique_tokens``; tokens / unique_tokens is the number of passes over them), drawn from the
    whole split like uncapped batches rather than from its first documents (a prefix of a
    corpus sorted by file name is a few files: narrower data, worse on held-out text even
    unrepeated). The set depends only on ``n``, ``context`` and the cap: the same for every seed
    and every rung with the same cap. Epoch e visits every window once, in :func:`epoch_order`
    (seed, e); the epochs' orders are concatenated, and step s takes the ``batch_size`` windows
    at positions ``s·batch_size ... (s + 1)·batch_size − 1`` of that sequence (an epoch may end
    inside a batch). A pure function of (seed, step): resuming at any step is exact, and DDP
    ranks slice the same global batch.
    """
    windows = repeat_windows(unique_tokens, context)
    if unique_tokens + 1 > n:
        raise ValueError(f"unique_tokens = {unique_tokens:,} needs {unique_tokens + 1:,} training "
                         f"tokens, but the training split has {n:,}")
    positions = np.arange(int(step) * batch_size, (int(step) + 1) * batch_size, dtype=np.int64)
    epochs, index = np.divmod(positions, windows)
    picked = np.empty(batch_size, dtype=np.int64)
    for epoch in np.unique(epochs):
        here = epochs == epoch
        picked[here] = epoch_order(windows, seed, int(epoch))[index[here]]
    return picked * ((n - 1) // windows)


def _windows(tokens: np.ndarray, offsets: np.ndarray, context: int) -> tuple[np.ndarray, np.ndarray]:
    w = np.empty((offsets.shape[0], context + 1), dtype=np.int64)
    for i, o in enumerate(offsets):
        w[i] = tokens[o:o + context + 1]
    return np.ascontiguousarray(w[:, :-1]), np.ascontiguousarray(w[:, 1:])


def rank_slice(batch_size: int, rank: int, world: int) -> slice:
    """The rows of a global batch of ``batch_size`` that DDP rank ``rank`` of ``world`` owns."""
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"rank {rank} is not in a world of {world}")
    if batch_size % world:
        raise ValueError(f"batch size {batch_size} is not divisible by the world size {world}")
    per = batch_size // world
    return slice(rank * per, (rank + 1) * per)


def eval_batches(tokens: np.ndarray, batch_size: int, context: int,
                 max_batches: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Fixed validation batches: non-overlapping windows evenly spaced over ``tokens``.

    Up to ``max_batches`` full batches of int64 ``(x, y)``, shape (batch_size, context); the x
    windows never overlap, and the first starts at token 0 and the last ends at the last token.
    When the tokens hold fewer than ``batch_size`` windows, one smaller batch of all of them.
    """
    n = int(tokens.shape[0])
    if batch_size < 1 or context < 1 or max_batches < 1:
        raise ValueError("batch_size, context and max_batches must be positive")
    available = (n - 1) // context if n > 0 else 0
    if available < 1:
        raise ValueError(f"{n} validation tokens are too few for a context of {context} "
                         f"(need at least {context + 1})")
    if available >= batch_size:
        count = min(max_batches, available // batch_size) * batch_size
        rows = batch_size
    else:
        count = rows = available
    span = n - context - 1
    offsets = np.array([0] if count == 1 else [i * span // (count - 1) for i in range(count)],
                       dtype=np.int64)
    x, y = _windows(tokens, offsets, context)
    return [(x[s:s + rows], y[s:s + rows]) for s in range(0, count, rows)]


# --- vocabulary statistics -----------------------------------------------------------------------


def unigram_log_probs(train: np.ndarray, vocab_size: int) -> np.ndarray:
    """log p(w) for every id w < ``vocab_size``: the unigram frequency of w in the training
    tokens with add-one (Laplace) smoothing, p(w) = (count(w) + 1) / (len(train) + V), so a
    token the training split never holds has a small finite probability. Natural log, float64."""
    counts = np.zeros(int(vocab_size), dtype=np.int64)
    chunk = 1 << 24
    for start in range(0, int(train.shape[0]), chunk):
        part = np.asarray(train[start:start + chunk]).astype(np.int64)
        if part.size and int(part.max()) >= vocab_size:
            raise ValueError(f"token id {int(part.max())} is not below vocab_size={vocab_size}")
        counts += np.bincount(part, minlength=int(vocab_size))
    total = int(counts.sum()) + int(vocab_size)
    return np.log(counts + 1.0) - math.log(total)


@dataclass(frozen=True)
class HeldOut:
    """What a fixed evaluation set contributes to a row, beside the model's mean loss on it.

    ``tokens``: the evaluation's target tokens (every ``y`` of every batch: the tokens whose
    mean loss the runner reports). ``unigram_loss``: their mean of −log p(w) under
    :func:`unigram_log_probs` of the training tokens, nats per token. ``characters``: the
    characters that start in those target tokens (the sum of ``token_characters`` over them;
    None when unknown)."""

    tokens: int
    unigram_loss: float
    characters: int | None


def held_out_statistics(data: TokenData, evaluation) -> HeldOut:
    """:class:`HeldOut` of the evaluation batches ``evaluation`` (a list of ``(x, y)``, as
    :func:`eval_batches` gives) over ``data``'s training unigram frequencies."""
    targets = np.concatenate([np.asarray(y).ravel() for _, y in evaluation]).astype(np.int64)
    log_p = data.unigram_log_probs()
    unigram_loss = float(-np.mean(log_p[targets]))
    characters = None
    if data.token_characters is not None:
        characters = int(np.asarray(data.token_characters)[targets].sum())
    return HeldOut(tokens=int(targets.size), unigram_loss=unigram_loss, characters=characters)
