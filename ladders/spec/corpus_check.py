"""What training would find out about a spec's data only when it loads it, checked before any
rung runs (and by --dry-run): `check_corpus`. The rungs themselves are `ladders.spec.rungs`.

The corpus is read as training reads it (`ladders.corpus`; .bin files through
`ladders.data.bin_summary`), not tokenised; built-in tasks are built from its held-out documents
(`ladders.tasks.build`). Every failure is a one-line `SpecError` naming the file and the key.
"""

from __future__ import annotations

import dataclasses

from ladders.corpus import split_corpus, stdlib_corpus, text_corpus
from ladders.data import DOC_SEPARATOR, bin_summary
from ladders.hf_corpus import datasets_missing, is_held_out, shard_corpus
from ladders.tokenizer import PretrainedTokenizer
from ladders.spec.rungs import data_for_rung, expand
from ladders.spec.schema import Spec, SpecError
from ladders.tasks import TaskError, build


def check_corpus(spec: Spec) -> None:
    """What training would find out only when it loads the data, found before any rung (and by
    --dry-run): a standard-library corpus capped below its first file; text files that cannot be
    read or are not UTF-8; a training or held-out split (documents split by a hash of their
    names, as training splits them) that cannot hold one sequence of ladder.context + 1 tokens;
    .bin files that are empty, of a size that is not a whole number of tokens, or hold a token
    id beyond a vocabulary size of the spec; a cap on unique tokens beyond the training split;
    held-out documents from which a built-in task (`tasks.names`) cannot be made. The corpus is
    read as training reads it (the standard library about 0.5 s; text files once; .bin files
    scanned once for their smallest and largest id), not tokenised: a split's tokens are its
    bytes (with the byte tokenizer exactly; a BPE's are fewer, so a split too small in bytes is
    too small in tokens too)."""
    where, data, need = spec.path, spec.data, spec.ladder.context + 1
    unique = _largest_unique_tokens(spec)
    if data.tokenizer == "file" and data.corpus != "bins":
        _check_tokenizer_file(spec)
    if data.corpus == "hf":
        if spec.tasks.names or spec.tasks.files:
            raise SpecError(f"{where}: tasks: tasks are not made from a streamed Hugging Face "
                            "corpus (data.corpus = 'hf') yet; drop [tasks] or use data.files")
        if data.hf_files:
            _check_shards(spec, need, unique)
            return
        missing = datasets_missing()
        if missing is None:            # the hub itself is reached only when a rung starts
            return
        if data.fallback != "stdlib":
            raise SpecError(f"{where}: data.hf_dataset: {data.hf_dataset} unreachable "
                            f"({missing}); set data.fallback = \"stdlib\" to train on the "
                            "standard library instead")
        data = dataclasses.replace(data, corpus="stdlib", hf_dataset=None, fallback=None)
        spec = dataclasses.replace(spec, data=data)     # what the rungs will train on
    if data.corpus in ("stdlib", "files"):
        if data.corpus == "stdlib":
            cap = (f"data.max_bytes = {data.max_bytes:_}" if data.max_bytes
                   else "the standard library")
            try:
                corpus = stdlib_corpus(max_bytes=data.max_bytes)
            except ValueError:
                raise SpecError(f"{where}: {cap} is smaller than the first standard-library "
                                "file; raise it (the bundled ladders use 10_000_000)") from None
            hint = "raise data.max_bytes (the bundled ladders use 10_000_000)"
        else:
            cap = "data.files"
            try:
                corpus = text_corpus(data_for_rung(spec)["files"])
            except (OSError, ValueError) as exc:     # unreadable, not UTF-8, no file matched
                raise SpecError(f"{where}: data.files: {_reason(exc)}") from None
            hint = "give more text"
        sides = split_corpus(corpus, data.valid_fraction)
        for side, part in zip(("training", "held-out"), sides):
            tokens = _stream_bytes(part)
            if tokens < need:
                none = (f"; documents are split by a hash of their names (data.valid_fraction "
                        f"= {data.valid_fraction!r}): give more files or raise "
                        "data.valid_fraction" if not len(part) else f"; {hint}")
                bound = "" if data.tokenizer == "bytes" else "at most "
                raise SpecError(
                    f"{where}: {cap} leaves the {side} split {bound}{tokens:,} tokens "
                    f"({part.n_bytes:,} bytes in {len(part)} of {len(corpus)} file(s)), fewer "
                    f"than one sequence of ladder.context + 1 = {need} tokens{none}")
        if unique and data.tokenizer == "bytes":        # a BPE's count is known once encoded
            _check_unique_tokens(spec, unique, _stream_bytes(sides[0]), cap)
        if spec.tasks.names:
            _check_builtin_tasks(spec, corpus)
    elif data.corpus == "bins":
        for key in ("train_bin", "valid_bin"):
            try:
                tokens, _, top = bin_summary(spec.resolve(getattr(data, key)), data.bin_dtype)
            except (OSError, ValueError) as exc:
                raise SpecError(f"{where}: data.{key}: {_reason(exc)}") from None
            if tokens < need:
                raise SpecError(f"{where}: data.{key}: {tokens:,} {data.bin_dtype} tokens, "
                                f"fewer than one sequence of ladder.context + 1 = {need}")
            too_small = [v for v in data.vocab_sizes if top >= v]
            if too_small:
                raise SpecError(f"{where}: data.{key}: holds token id {top:,}, not below "
                                f"data.vocab_sizes {too_small[0]:,}")
            if key == "train_bin" and unique:
                _check_unique_tokens(spec, unique, tokens, "data.train_bin")


def _check_tokenizer_file(spec: Spec) -> None:
    """data.tokenizer_file exists, loads, and its vocabulary is every data.vocab_sizes entry."""
    name = spec.data.tokenizer_file
    path = spec.resolve(name)
    if not path.is_file():
        raise SpecError(f"{spec.path}: data.tokenizer_file: no such file {str(path)!r}")
    try:
        vocab_size = PretrainedTokenizer(path).vocab_size
    except ValueError as exc:
        raise SpecError(f"{spec.path}: data.tokenizer_file: {exc}") from None
    if any(v != vocab_size for v in spec.data.vocab_sizes):
        raise SpecError(f"{spec.path}: data.vocab_sizes: {name} has a vocabulary of "
                        f"{vocab_size:,} tokens; set data.vocab_sizes = [{vocab_size}]")


def _check_shards(spec: Spec, need: int, unique: int | None) -> None:
    """Local shards exist, hold the text column, and each side of their split holds one
    sequence (and the training side a byte-tokenised cap on unique tokens); read until both
    sides are known to suffice, not tokenised (a split's bytes bound its tokens)."""
    where, data = spec.path, spec.data
    globs = [str(spec.resolve(p)) for p in data.hf_files]
    counted = {False: [0, 0], True: [0, 0]}           # held out? -> [stream bytes, documents]
    enough_train = max(need, unique + 1 if unique and data.tokenizer == "bytes" else 0)
    try:
        for text in shard_corpus(globs, data.text_column, data.max_bytes).documents():
            side = counted[is_held_out(text, data.valid_fraction)]
            side[0] += len(text.encode("utf-8")) + (len(DOC_SEPARATOR) if side[1] else 0)
            side[1] += 1
            if counted[False][0] >= enough_train and counted[True][0] >= need:
                return
    except (OSError, ValueError) as exc:   # no shard matched, unreadable, no such column
        raise SpecError(f"{where}: data.hf_files: {_reason(exc)}") from None
    bound = "" if data.tokenizer == "bytes" else "at most "
    for held_out, label in ((False, "training"), (True, "held-out")):
        tokens, documents = counted[held_out]
        if tokens < need:
            raise SpecError(f"{where}: data.hf_files leaves the {label} split {bound}{tokens:,} "
                            f"tokens ({documents} document(s)), fewer than one sequence of "
                            f"ladder.context + 1 = {need} tokens; give more text or change "
                            "data.valid_fraction")
    if unique and data.tokenizer == "bytes":       # a BPE's count is known once encoded
        _check_unique_tokens(spec, unique, counted[False][0], "data.hf_files")


def _stream_bytes(corpus) -> int:
    """The bytes of a split's token stream (its documents joined by `DOC_SEPARATOR`): its
    tokens with the byte tokenizer, as many or more than a BPE makes of it."""
    if not len(corpus):
        return 0
    return corpus.n_bytes + len(DOC_SEPARATOR.encode()) * (len(corpus) - 1)


def _reason(exc: Exception) -> str:
    """An error reading the data, with the file it names (one line)."""
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _check_builtin_tasks(spec: Spec, corpus) -> None:
    """Each built-in task can be made from the held-out documents of `corpus` (a one-line
    SpecError before any rung, not a TaskError when the first rung starts scoring)."""
    documents = split_corpus(corpus, spec.data.valid_fraction)[1].documents
    for index, name in enumerate(spec.tasks.names):
        try:
            build(name, documents, spec.tasks.items, spec.ladder.context)
        except TaskError as exc:
            raise SpecError(f"{spec.path}: tasks.names[{index}]: {exc} ({len(documents)} "
                            f"held-out document(s), {sum(map(len, documents)):,} characters); "
                            "use a larger corpus or a larger data.valid_fraction, or drop the "
                            "task") from None


def _largest_unique_tokens(spec: Spec) -> int | None:
    """The most distinct training tokens a rung of a capped spec sees (None: no cap)."""
    if spec.data.unique_tokens is None and spec.data.max_epochs is None:
        return None
    return max(rung.data["unique_tokens"] for rung in expand(spec))


def _check_unique_tokens(spec: Spec, unique: int, available: int, what: str) -> None:
    """A repeated set needs unique + 1 tokens of the training split (its windows overlap by
    their boundary token): a SpecError when the split is smaller."""
    if unique + 1 <= available:
        return
    key = f"data.unique_tokens = {spec.data.unique_tokens:_}" \
        if spec.data.unique_tokens is not None else \
        f"data.max_epochs = {spec.data.max_epochs!r}"
    raise SpecError(f"{spec.path}: {key} needs {unique + 1:,} distinct training tokens, but "
                    f"{what} leaves the training split {available:,} tokens; lower the cap or "
                    "raise the corpus")
