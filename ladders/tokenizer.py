"""Tokenizers for the ladder runner: raw UTF-8 bytes, a byte-level BPE trained locally, or a
pretrained Hugging Face ``tokenizer.json`` (:class:`PretrainedTokenizer`).

All share one small interface, which is all `ladders.data` relies on:

* ``name``: a short string that identifies the vocabulary in cache file names and run tables
  (``"bytes"`` or ``"bpe<V>"``);
* ``vocab_size``: every id is in ``[0, vocab_size)``; the model's embedding size;
* ``fingerprint``: a hex string that changes whenever the id mapping changes (token caches check it);
* ``dtype``: the numpy dtype of encoded ids (uint16 when ``vocab_size <= 65535``, else uint32);
* ``encode(text) -> np.ndarray``, ``encode_batch(texts) -> list[np.ndarray]``, ``decode(ids) -> str``;
* ``token_characters() -> np.ndarray``: for every id, the characters that *start* in its bytes
  (its UTF-8 bytes that are not continuation bytes ``10xxxxxx``). Summed over any stretch of a
  token stream it counts exactly the characters whose first byte lies in the stretch; over a
  whole stream, the characters of its text (``len`` of the Python string: code points).

The BPE is trained with Hugging Face `tokenizers` (a ByteLevel pre-tokenizer and decoder, an
initial alphabet of all 256 bytes so that any text encodes, no special tokens) on the training
documents of the corpus only (``ladders.corpus.split_corpus`` at the run's ``valid_fraction``), so
no validation text shapes the vocabulary, and cached as JSON under
``cache_dir/bpe-<training split hash[:16]>-<V>.json``; a second call with the same training
documents and V loads the file instead of training. Training is deterministic: the same
documents and V give the same vocabulary and merges.

This module imports ``ladders.corpus`` (for the split), never the other way round, and not torch.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ladders.corpus import split_corpus
from scaling.output.atomic import write_bytes

BYTE_VOCAB = 256


def ids_dtype(vocab_size: int) -> np.dtype:
    """The dtype token ids are stored in: uint16 when ``vocab_size <= 65535``, else uint32."""
    return np.dtype(np.uint16) if vocab_size <= 65535 else np.dtype(np.uint32)


def characters_started(data: bytes) -> int:
    """Characters whose first UTF-8 byte is in ``data``: its bytes that are not continuation
    bytes (``0b10xxxxxx``). Additive over concatenation, and ``len(text)`` for
    ``text.encode("utf-8")``."""
    return sum(1 for b in data if b & 0xC0 != 0x80)


def byte_level_alphabet() -> dict[str, int]:
    """The byte-level BPE's printable stand-in for each byte (GPT-2's byte-to-unicode table,
    which HF ``tokenizers``' ByteLevel uses): character -> byte. Printable Latin-1 bytes
    (``!``..``~``, ``¡``..``¬``, ``®``..``ÿ``) stand for themselves; the other 68 bytes, in
    increasing order, for the characters U+0100, U+0101, ..."""
    kept = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
            *range(ord("®"), ord("ÿ") + 1)]
    table = {chr(b): b for b in kept}
    shifted = 0
    for b in range(256):
        if b not in table.values():
            table[chr(256 + shifted)] = b
            shifted += 1
    return table


def _as_ids(ids: Iterable[int]) -> np.ndarray:
    """Token ids (array, list, tuple or any iterable of ints) as a flat int64 array."""
    if not isinstance(ids, np.ndarray):
        ids = list(ids)
    return np.asarray(ids, dtype=np.int64).ravel()


class ByteTokenizer:
    """UTF-8 bytes as tokens: vocabulary of 256, no training, no cache."""

    name = "bytes"
    vocab_size = BYTE_VOCAB
    fingerprint = "bytes"
    dtype = np.dtype(np.uint16)

    def encode(self, text: str) -> np.ndarray:
        return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.uint16)

    def encode_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        return [self.encode(t) for t in texts]

    def decode(self, ids: Iterable[int]) -> str:
        arr = _as_ids(ids)
        if arr.size and (arr.min() < 0 or arr.max() >= BYTE_VOCAB):
            raise ValueError("byte token ids must lie in [0, 256)")
        return arr.astype(np.uint8).tobytes().decode("utf-8", errors="replace")

    def token_characters(self) -> np.ndarray:
        """1 for every byte but the UTF-8 continuation bytes 0x80..0xBF, which start none."""
        return np.array([characters_started(bytes([b])) for b in range(BYTE_VOCAB)], dtype=np.int64)

    def __repr__(self) -> str:
        return "ByteTokenizer()"


class BPETokenizer:
    """A byte-level BPE backed by a Hugging Face ``tokenizers.Tokenizer``.

    ``vocab_size`` is the requested V: every id is below it (on a small corpus the trainer may run
    out of merges and learn fewer, so ``len(vocab)`` can be smaller).
    """

    def __init__(self, tokenizer, vocab_size: int, path: Path | None = None):
        self._tok = tokenizer
        self.vocab_size = int(vocab_size)
        self.name = f"bpe{self.vocab_size}"
        self.dtype = ids_dtype(self.vocab_size)
        self.path = Path(path) if path is not None else None
        self.fingerprint = hashlib.sha256(tokenizer.to_str().encode("utf-8")).hexdigest()
        actual = tokenizer.get_vocab_size(with_added_tokens=True)
        if actual > self.vocab_size:
            raise ValueError(f"BPE vocabulary has {actual} tokens, more than V={self.vocab_size}")

    @property
    def vocab(self) -> dict[str, int]:
        return self._tok.get_vocab(with_added_tokens=True)

    def encode(self, text: str) -> np.ndarray:
        return np.asarray(self._tok.encode(text, add_special_tokens=False).ids, dtype=self.dtype)

    def encode_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        encodings = self._tok.encode_batch(list(texts), add_special_tokens=False)
        return [np.asarray(e.ids, dtype=self.dtype) for e in encodings]

    def decode(self, ids: Iterable[int]) -> str:
        return self._tok.decode(_as_ids(ids).tolist(), skip_special_tokens=False)

    def token_characters(self) -> np.ndarray:
        """For every id below ``vocab_size``, the characters that start in its bytes (ids the
        trainer did not learn: 0; they never occur)."""
        alphabet = byte_level_alphabet()
        counts = np.zeros(self.vocab_size, dtype=np.int64)
        for piece, index in self.vocab.items():
            counts[index] = characters_started(bytes(alphabet[c] for c in piece))
        return counts

    def __repr__(self) -> str:
        return f"BPETokenizer(vocab_size={self.vocab_size}, path={str(self.path)!r})"


def _new_bpe():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    return tok


def _train_bpe_tokenizer(documents: Iterable[str], vocab_size: int, length: int | None = None):
    """Train a byte-level BPE on ``documents`` (``length`` of them, when known); returns a
    ``tokenizers.Tokenizer``."""
    from tokenizers import pre_tokenizers, trainers

    tok = _new_bpe()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=0,
        show_progress=False,
        special_tokens=[],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(documents, trainer=trainer, length=length)
    return tok


def bpe_cache_path(cache_dir: Path, corpus_hash: str, vocab_size: int) -> Path:
    return Path(cache_dir) / f"bpe-{corpus_hash[:16]}-{int(vocab_size)}.json"


def _checked_vocab_size(vocab_size) -> int:
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, (int, np.integer)):
        raise TypeError(f"vocabulary size V must be an integer, got {vocab_size!r}")
    vocab_size = int(vocab_size)
    if vocab_size <= BYTE_VOCAB:
        raise ValueError(
            f"vocabulary size V must be larger than the 256-byte alphabet (got V={vocab_size})"
        )
    if vocab_size > 2**32:
        raise ValueError(f"vocabulary size V={vocab_size} is too large")
    return vocab_size


def train_bpe(documents: Iterable[str], vocab_size: int, corpus_hash: str,
              cache_dir: Path) -> BPETokenizer:
    """A byte-level BPE of vocabulary ``vocab_size`` trained on ``documents``, cached by corpus hash.

    The JSON at ``cache_dir/bpe-<corpus_hash[:16]>-<V>.json`` is loaded when present; otherwise the
    tokenizer is trained and written there atomically. ``corpus_hash`` must identify ``documents``,
    a list or any iterable (a stream is read once, never held whole: ``ladders.hf_corpus``).
    """
    vocab_size = _checked_vocab_size(vocab_size)
    path = bpe_cache_path(cache_dir, corpus_hash, vocab_size)
    if path.is_file():
        from tokenizers import Tokenizer

        return BPETokenizer(Tokenizer.from_file(str(path)), vocab_size, path)
    seen = [0]

    def counted(texts):
        for text in texts:
            seen[0] += 1
            yield text

    tok = _train_bpe_tokenizer(counted(documents), vocab_size,
                               len(documents) if isinstance(documents, Sequence) else None)
    if not seen[0]:
        raise ValueError("cannot train a BPE on an empty list of documents")
    write_bytes(path, tok.to_str(pretty=False).encode("utf-8"))
    return BPETokenizer(tok, vocab_size, path)


class PretrainedTokenizer(BPETokenizer):
    """A pretrained Hugging Face ``tokenizer.json`` (``data.tokenizer = "file"``), used as it
    is: ``vocab_size`` is its vocabulary (added tokens included, at least its largest id + 1),
    ``name`` is ``file<V>-<fingerprint[:8]>``. Texts are encoded without special tokens.
    ``token_characters`` is known for a byte-level vocabulary (GPT-2's and this runner's BPE) and
    None for any other (rows then lack characters and bits_per_char)."""

    def __init__(self, path):
        from tokenizers import Tokenizer

        path = Path(path)
        try:
            tok = Tokenizer.from_file(str(path))
        except Exception as exc:        # tokenizers raises a bare Exception on a bad file
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ValueError(f"{path}: not a tokenizer.json ({reason})") from None
        ids = tok.get_vocab(with_added_tokens=True).values()
        vocab_size = max(tok.get_vocab_size(with_added_tokens=True), max(ids, default=-1) + 1)
        super().__init__(tok, vocab_size, path)
        self.name = f"file{self.vocab_size}-{self.fingerprint[:8]}"

    def token_characters(self) -> np.ndarray | None:
        if not _byte_level(self._tok):
            return None
        try:
            return super().token_characters()
        except KeyError:               # a piece outside the byte-level alphabet
            return None

    def __repr__(self) -> str:
        return f"PretrainedTokenizer(vocab_size={self.vocab_size}, path={str(self.path)!r})"


def _byte_level(tok) -> bool:
    """Whether a ``tokenizers.Tokenizer`` decodes byte-level pieces (its decoder is ByteLevel,
    alone or in a Sequence)."""
    decoder = json.loads(tok.to_str()).get("decoder") or {}
    parts = decoder.get("decoders", [decoder]) if decoder.get("type") == "Sequence" else [decoder]
    return any(part.get("type") == "ByteLevel" for part in parts)


def tokenizer_file(path, vocab_size: int | None = None) -> PretrainedTokenizer:
    """The pretrained tokenizer at ``path``; ValueError when ``vocab_size`` is given and differs
    from its vocabulary."""
    tok = PretrainedTokenizer(path)
    if vocab_size is not None and int(vocab_size) != tok.vocab_size:
        raise ValueError(f"{path} has a vocabulary of {tok.vocab_size:,} tokens, not "
                         f"vocab_size = {int(vocab_size):,}; set data.vocab_sizes = "
                         f"[{tok.vocab_size}]")
    return tok


def get_tokenizer(kind: str, vocab_size: int | None, corpus, cache_dir: Path, *,
                  valid_fraction: float | None = None, path=None):
    """The tokenizer named by ``kind``: ``"bytes"`` (V must be 256 or None), ``"bpe"`` or
    ``"file"`` (the pretrained ``tokenizer.json`` at ``path``, :func:`tokenizer_file`).

    A BPE is trained on the training documents of ``split_corpus(corpus, valid_fraction)`` only,
    so validation text never shapes the vocabulary, and cached under that split's hash. Give it
    the ``valid_fraction`` the token streams are split with (``ladders.data.load_tokens``): there
    is no default, so the two cannot drift apart.
    """
    kind = str(kind).lower()
    if kind in ("bytes", "byte"):
        if vocab_size not in (None, BYTE_VOCAB):
            raise ValueError(f"the byte tokenizer has V=256; got vocab_size={vocab_size}")
        return ByteTokenizer()
    if kind == "bpe":
        if vocab_size is None:
            raise ValueError("a BPE tokenizer needs a vocabulary size V")
        if valid_fraction is None:
            raise ValueError("a BPE tokenizer needs the valid_fraction of the split: it trains "
                             "on the training documents only")
        train, _ = split_corpus(corpus, valid_fraction)
        return train_bpe(train.documents, vocab_size, train.hash, cache_dir)
    if kind == "file":
        if path is None:
            raise ValueError("a pretrained tokenizer needs its file (data.tokenizer_file)")
        return tokenizer_file(path, vocab_size)
    raise ValueError(f"unknown tokenizer kind {kind!r}; expected 'bytes', 'bpe' or 'file'")
