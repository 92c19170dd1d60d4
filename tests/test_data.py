"""ladders.corpus, ladders.data and ladders.tokenizer: corpora, splits, tokenizers, token caches,
batches."""
import json
import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tokenizers")

from ladders import corpus as C  # noqa: E402
from ladders import data as D  # noqa: E402
from ladders import tokenizer as T  # noqa: E402

SAMPLE = "def f(x):\n    return x + 1  # héllo, 世界 🙂\n\n\tclass A: pass\r\n"


@pytest.fixture(scope="module")
def stdlib():
    return C.stdlib_corpus()


@pytest.fixture(scope="module")
def small():
    return C.stdlib_corpus(max_bytes=300_000)


@pytest.fixture(scope="module")
def bpe_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("bpe")


@pytest.fixture(scope="module")
def bpe512(small, bpe_dir):
    return T.get_tokenizer("bpe", 512, small, bpe_dir, valid_fraction=0.05)


# --- corpora -------------------------------------------------------------------------------------


def test_stdlib_corpus_is_deterministic(stdlib):
    again = C.stdlib_corpus()
    assert again.hash == stdlib.hash
    assert again.names == stdlib.names
    assert stdlib.names == sorted(stdlib.names)
    assert len(set(stdlib.names)) == len(stdlib.names) == len(stdlib.documents)
    assert "os.py" in stdlib.names
    assert "asyncio/events.py" in stdlib.names
    assert stdlib.name.startswith("python-stdlib-3.")
    excluded = {"test", "tests", "idlelib", "lib2to3", "site-packages"}
    assert not any(excluded & set(n.split("/")[:-1]) for n in stdlib.names)
    assert all(n.endswith(".py") for n in stdlib.names)
    assert len(stdlib.hash) == 64 and int(stdlib.hash, 16) >= 0


def test_stdlib_max_bytes(stdlib, small):
    assert 0 < small.n_bytes <= 300_000
    assert small.names == stdlib.names[: len(small.names)]  # a prefix of the sorted order
    nxt = stdlib.documents[len(small.names)]
    assert small.n_bytes + len(nxt.encode("utf-8")) > 300_000  # the longest prefix that fits
    assert small.hash != stdlib.hash
    assert C.stdlib_corpus(max_bytes=300_000).hash == small.hash


def test_corpus_hash_covers_names_and_contents():
    a = C.Corpus("x", ["ab", "c"], ["n1", "n2"])
    assert a.hash == C.Corpus("y", ["ab", "c"], ["n1", "n2"]).hash
    assert a.hash != C.Corpus("x", ["a", "bc"], ["n1", "n2"]).hash
    assert a.hash != C.Corpus("x", ["ab", "c"], ["n1", "n3"]).hash
    assert a.hash != C.Corpus("x", ["c", "ab"], ["n2", "n1"]).hash


def test_text_corpus(tmp_path, monkeypatch):
    (tmp_path / "sub").mkdir()
    (tmp_path / "b.txt").write_text("bee\n", encoding="utf-8")
    (tmp_path / "a.txt").write_text("ay ü\n", encoding="utf-8")
    (tmp_path / "sub" / "c.txt").write_text("sea\n", encoding="utf-8")
    (tmp_path / "skip.md").write_text("no\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    c = C.text_corpus(["*.txt", "a.*", "**/*.txt"])  # overlapping patterns: deduplicated
    assert c.names == ["a.txt", "b.txt", "sub/c.txt"]
    assert c.documents == ["ay ü\n", "bee\n", "sea\n"]
    assert c.hash == C.text_corpus(["**/*.txt"]).hash
    assert c.name.startswith("text-")

    with pytest.raises(FileNotFoundError) as err:
        C.text_corpus(["*.txt", "nothing/*.json"])
    assert "nothing/*.json" in str(err.value) and "\n" not in str(err.value)

    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe\xfa")
    with pytest.raises(ValueError, match="bad.txt"):
        C.text_corpus(["*.txt"])


# --- splits --------------------------------------------------------------------------------------


def test_split_by_document(stdlib):
    # tag each document with its name so that equal files (e.g. empty __init__.py) stay distinct
    tagged = C.Corpus("tagged", [f"# {n}\n{d}" for n, d in zip(stdlib.names, stdlib.documents)], stdlib.names)
    train, valid = C.split_documents(tagged, 0.05)
    assert train and valid
    assert len(train) + len(valid) == len(tagged.documents)
    assert not set(train) & set(valid)
    assert set(train) | set(valid) == set(tagged.documents)  # whole documents, nothing cut
    assert train == [d for d in tagged.documents if d in set(train)]  # corpus order kept
    assert 0.01 < len(valid) / len(tagged.documents) < 0.12
    # deterministic, and decided by the name alone: a sub-corpus splits its documents the same way
    assert C.split_documents(tagged, 0.05) == (train, valid)
    sub = C.Corpus("sub", tagged.documents[::3], tagged.names[::3])
    sub_train, sub_valid = C.split_documents(sub, 0.05)
    assert set(sub_valid) <= set(valid) and set(sub_train) <= set(train)


def test_split_guarantees_both_sides():
    two = C.Corpus("two", ["a", "b"], ["x", "y"])
    for frac in (1e-9, 0.5, 1 - 1e-9):
        train, valid = C.split_documents(two, frac)
        assert len(train) == 1 and len(valid) == 1
    one = C.Corpus("one", ["a"], ["x"])
    assert sum(map(len, C.split_documents(one, 0.05))) == 1
    with pytest.raises(ValueError):
        C.split_documents(two, 0.0)


# --- tokenizers ----------------------------------------------------------------------------------


def test_byte_tokenizer_round_trip():
    tok = T.ByteTokenizer()
    ids = tok.encode(SAMPLE)
    assert ids.dtype == np.uint16 and tok.vocab_size == 256 and tok.name == "bytes"
    assert ids.tolist() == list(SAMPLE.encode("utf-8"))
    assert tok.decode(ids) == SAMPLE
    assert tok.decode(ids.tolist()) == SAMPLE
    assert T.get_tokenizer("bytes", None, None, None).name == "bytes"
    assert T.get_tokenizer("bytes", 256, None, None).vocab_size == 256
    with pytest.raises(ValueError):
        T.get_tokenizer("bytes", 512, None, None)
    with pytest.raises(ValueError):
        T.get_tokenizer("wordpiece", 512, None, None)


def test_bpe_round_trip_and_compression(bpe512, stdlib):
    assert bpe512.vocab_size == 512 and bpe512.name == "bpe512"
    assert len(bpe512.vocab) == 512
    ids = bpe512.encode(SAMPLE)
    assert ids.dtype == np.uint16 and ids.max() < 512
    assert bpe512.decode(ids) == SAMPLE
    assert bpe512.decode(ids.tolist()) == SAMPLE
    # any text encodes (all 256 bytes are in the alphabet), and round-trips
    odd = "".join(map(chr, range(0, 600, 7))) + "\U0001F600\u200b"
    assert bpe512.decode(bpe512.encode(odd)) == odd
    # fewer tokens than bytes on held-out stdlib text
    text = stdlib.documents[stdlib.names.index("os.py")]
    n_bpe, n_bytes = len(bpe512.encode(text)), len(T.ByteTokenizer().encode(text))
    assert n_bpe < 0.7 * n_bytes


def test_bpe_is_deterministic(small, bpe512, tmp_path):
    train, _ = C.split_documents(small)
    again = T.train_bpe(train, 512, small.hash, tmp_path)
    assert again.vocab == bpe512.vocab
    assert again.fingerprint == bpe512.fingerprint
    assert np.array_equal(again.encode(SAMPLE), bpe512.encode(SAMPLE))


def test_bpe_is_cached(small, bpe512, bpe_dir, monkeypatch):
    train, _ = C.split_corpus(small, 0.05)        # cached under its training documents' hash
    path = bpe_dir / f"bpe-{train.hash[:16]}-512.json"
    assert path.is_file() and bpe512.path == path
    assert not [p for p in os.listdir(bpe_dir) if p.endswith(".tmp")]
    mtime = path.stat().st_mtime_ns

    def no_training(*args, **kwargs):
        raise AssertionError("retrained despite the cache")

    monkeypatch.setattr(T, "_train_bpe_tokenizer", no_training)
    cached = T.get_tokenizer("bpe", 512, small, bpe_dir, valid_fraction=0.05)
    assert cached.vocab == bpe512.vocab
    assert path.stat().st_mtime_ns == mtime
    # a different V is a different cache entry, so it would train; so is a different split
    with pytest.raises(AssertionError, match="retrained"):
        T.get_tokenizer("bpe", 300, small, bpe_dir, valid_fraction=0.05)
    assert C.split_corpus(small, 0.5)[0].hash != train.hash
    with pytest.raises(AssertionError, match="retrained"):
        T.get_tokenizer("bpe", 512, small, bpe_dir, valid_fraction=0.5)
    with pytest.raises(ValueError, match="valid_fraction"):
        T.get_tokenizer("bpe", 512, small, bpe_dir)        # no default split to drift from


# --- BPE hygiene: the vocabulary is learned from training documents only -------------------------

TRAIN_TEXT = "the cat sat on the mat and the dog ran to the hat " * 40
VALID_ONLY = "qzqzqzqz " * 300       # byte pairs that appear in no training document
VALID_EVEN_AT_5 = "jxjxjxjx " * 300


def names_between(low, high, count, prefix="doc"):
    """`count` document names (prefix + number) whose split number lies in [low, high)."""
    found = []
    for i in range(100_000):
        name = f"{prefix}{i}.txt"
        if low <= C.name_uniform(name) < high:
            found.append(name)
            if len(found) == count:
                return found
    raise AssertionError("no such names")


def hygiene_corpus(prefix="doc") -> C.Corpus:
    """Ten training documents; one held out at valid_fraction 0.05 and 0.1 (jxjx...); one held
    out at 0.1 but trained on at 0.05 (qzqz...): the document that a 0.05 default leaked."""
    always, only_at_10 = names_between(0, 0.05, 1, prefix), names_between(0.05, 0.1, 1, prefix)
    train = names_between(0.1, 1, 10, prefix)
    texts = {always[0]: VALID_EVEN_AT_5, only_at_10[0]: VALID_ONLY}
    names = sorted(train + always + only_at_10)
    return C.Corpus("hygiene", [texts.get(n, TRAIN_TEXT) for n in names], names)


def learned(vocab, pair) -> bool:
    return any(pair in token for token in vocab)


@pytest.mark.parametrize("valid_fraction", [0.05, 0.1])
def test_bpe_learns_from_training_documents_only(tmp_path, valid_fraction):
    corpus = hygiene_corpus()
    train, valid = C.split_corpus(corpus, valid_fraction)
    assert len(train) == (11 if valid_fraction == 0.05 else 10)
    assert (VALID_ONLY in valid.documents) == (valid_fraction == 0.1)
    bpe = T.get_tokenizer("bpe", 300, corpus, tmp_path, valid_fraction=valid_fraction)
    assert bpe.path.name == f"bpe-{train.hash[:16]}-300.json"
    vocab = bpe.vocab
    assert learned(vocab, "the") and not learned(vocab, "jx")
    # the qzqz document shapes the vocabulary exactly when it is a training document
    assert learned(vocab, "qz") == (valid_fraction == 0.05)


def test_ladder_bpe_uses_the_rungs_valid_fraction(tmp_path, monkeypatch):
    """Through the trainer's data loading: a rung's valid_fraction of 0.1 holds the qzqz document
    out of the BPE's training documents as well as out of the training tokens."""
    import ladders.train

    folder = tmp_path / "corpus"
    folder.mkdir()
    corpus = hygiene_corpus()          # names relative to the glob's folder, as text_corpus gives
    for name, text in zip(corpus.names, corpus.documents):
        (folder / name).write_text(text)
    monkeypatch.setenv("SCALING_CACHE", str(tmp_path / "cache"))
    data = {"corpus": "files", "files": [f"{folder}/*.txt"], "tokenizer": "bpe",
            "vocab_size": 300, "valid_fraction": 0.1, "max_bytes": None, "bin_dtype": "uint16",
            "train_bin": None, "valid_bin": None}
    tokens = ladders.train.load_data(data)
    (path,) = (tmp_path / "cache").glob("bpe-*-300.json")
    vocab = json.loads(path.read_text())["model"]["vocab"]
    assert learned(vocab, "the") and not learned(vocab, "qz") and not learned(vocab, "jx")
    bpe = T.BPETokenizer(__import__("tokenizers").Tokenizer.from_file(str(path)), 300)
    assert "qzqz" in bpe.decode(tokens.valid) and "qzqz" not in bpe.decode(tokens.train)


def test_no_two_ladders_modules_import_each_other():
    """Imports between the runner's modules point one way (issue 9): no module imports one that
    imports it back, at the top or inside a function."""
    import ast

    root = Path(D.__file__).resolve().parents[1]
    modules = {}
    for path in (root / "ladders").rglob("*.py"):
        name = ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
        modules[name] = path
    imports = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                                    + ([base] if base else []))
                found.add(base)
                found |= {f"{base}.{alias.name}" for alias in node.names}
        imports[name] = {m for m in found if m in modules and m != name}
    assert imports["ladders.tokenizer"] >= {"ladders.corpus"}    # the scan sees real imports
    pairs = sorted((a, b) for a in imports for b in imports[a] if a < b and a in imports[b])
    assert pairs == []


@pytest.mark.parametrize("v", [256, 100, 0])
def test_bpe_vocab_must_exceed_bytes(tmp_path, v):
    with pytest.raises(ValueError, match="larger than the 256-byte alphabet"):
        T.train_bpe(["abc"], v, "0" * 64, tmp_path)


def test_ids_dtype():
    assert T.ids_dtype(65535) == np.uint16
    assert T.ids_dtype(65536) == np.uint32


# --- token caches --------------------------------------------------------------------------------


def test_load_tokens_caches_and_memmaps(small, tmp_path, monkeypatch):
    tok = T.ByteTokenizer()
    first = D.load_tokens(small, tok, tmp_path)
    assert first.dataset == f"{small.name}/bytes" and first.corpus_hash == small.hash
    assert first.vocab_size == 256
    train_docs, valid_docs = C.split_documents(small)
    assert first.n_train == sum(len(d.encode()) for d in train_docs) + 2 * (len(train_docs) - 1)
    assert first.n_valid == sum(len(d.encode()) for d in valid_docs) + 2 * (len(valid_docs) - 1)
    assert tok.decode(first.valid) == "\n\n".join(valid_docs)
    for split in ("train", "valid"):
        bin_path = tmp_path / f"tokens-{small.hash[:16]}-bytes-{split}.bin"
        meta = json.loads(bin_path.with_suffix(".json").read_text())
        assert meta["dtype"] == "uint16" and meta["length"] == getattr(first, f"n_{split}")
        assert bin_path.stat().st_size == 2 * meta["length"]

    def no_tokenising(*args, **kwargs):
        raise AssertionError("tokenised again despite the cache")

    monkeypatch.setattr(D, "_tokenise_stream", no_tokenising)
    second = D.load_tokens(small, tok, tmp_path)
    assert isinstance(second.train, np.memmap) and isinstance(second.valid, np.memmap)
    assert np.array_equal(np.asarray(second.train), np.asarray(first.train))
    assert np.array_equal(np.asarray(second.valid), np.asarray(first.valid))
    # a different split is a different stream: the sidecar notices and it is tokenised again
    with pytest.raises(AssertionError, match="tokenised again"):
        D.load_tokens(small, tok, tmp_path, valid_fraction=0.2)


def test_load_tokens_bpe(small, bpe512, tmp_path):
    td = D.load_tokens(small, bpe512, tmp_path)
    assert td.train.dtype == np.uint16 and td.dataset.endswith("/bpe512")
    assert td.vocab_size == 512 and int(np.max(td.train)) < 512
    _, valid_docs = C.split_documents(small)
    assert bpe512.decode(td.valid) == "\n\n".join(valid_docs)
    assert td.n_train < 0.7 * sum(len(d.encode()) for d in small.documents)


def test_bin_tokens(tmp_path):
    rng = np.random.default_rng(0)
    train = rng.integers(0, 1000, 5000).astype(np.uint16)
    valid = rng.integers(0, 1000, 700).astype(np.uint16)
    valid[3] = 1233
    train.tofile(tmp_path / "train.bin")
    valid.tofile(tmp_path / "valid.bin")
    td = D.bin_tokens(tmp_path / "train.bin", tmp_path / "valid.bin")
    assert isinstance(td.train, np.memmap) and td.train.dtype == np.uint16
    assert np.array_equal(td.train, train) and np.array_equal(td.valid, valid)
    assert td.vocab_size == 1234
    assert D.bin_tokens(tmp_path / "train.bin", tmp_path / "valid.bin").corpus_hash == td.corpus_hash
    assert D.bin_tokens(tmp_path / "train.bin", tmp_path / "valid.bin", vocab_size=50257).vocab_size == 50257
    with pytest.raises(ValueError, match="valid.bin"):
        D.bin_tokens(tmp_path / "train.bin", tmp_path / "valid.bin", vocab_size=1000)

    (tmp_path / "odd.bin").write_bytes(b"\x01\x00\x02")
    with pytest.raises(ValueError, match="odd.bin"):
        D.bin_tokens(tmp_path / "odd.bin", tmp_path / "valid.bin")
    (tmp_path / "empty.bin").write_bytes(b"")
    with pytest.raises(ValueError, match="empty.bin"):
        D.bin_tokens(tmp_path / "train.bin", tmp_path / "empty.bin")
    wide = np.arange(70_000, dtype=np.uint32)
    wide.tofile(tmp_path / "wide.bin")
    td32 = D.bin_tokens(tmp_path / "wide.bin", tmp_path / "wide.bin", dtype="uint32")
    assert td32.vocab_size == 70_000 and td32.train.dtype == np.uint32


# --- batches -------------------------------------------------------------------------------------


def test_batch_at_is_a_function_of_seed_and_step():
    tokens = np.arange(10_000, dtype=np.uint16)
    x, y = D.batch_at(tokens, step=7, batch_size=8, context=32, seed=1)
    assert x.shape == y.shape == (8, 32) and x.dtype == y.dtype == np.int64
    assert np.array_equal(x[:, 1:], y[:, :-1])
    assert np.array_equal(y, x + 1)  # arange tokens: y is x shifted by one
    x2, y2 = D.batch_at(tokens, step=7, batch_size=8, context=32, seed=1)
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    assert not np.array_equal(x, D.batch_at(tokens, 8, 8, 32, 1)[0])
    assert not np.array_equal(x, D.batch_at(tokens, 7, 8, 32, 2)[0])
    # offsets reach both ends of [0, len - context - 1] and never run past the end
    small = np.arange(40, dtype=np.uint16)
    starts = np.concatenate([D.batch_at(small, s, 64, 32, 0)[0][:, 0] for s in range(20)])
    assert starts.min() == 0 and starts.max() == 40 - 32 - 1
    with pytest.raises(ValueError):
        D.batch_at(np.arange(32), 0, 1, 32, 0)


def test_batch_at_from_memmap(tmp_path):
    arr = np.arange(5000, dtype=np.uint16)
    arr.tofile(tmp_path / "t.bin")
    mm = np.memmap(tmp_path / "t.bin", dtype=np.uint16, mode="r")
    assert np.array_equal(D.batch_at(mm, 3, 4, 16, 9)[0], D.batch_at(arr, 3, 4, 16, 9)[0])


def test_rank_slice_partitions_the_batch():
    tokens = np.arange(10_000, dtype=np.uint16)
    x, y = D.batch_at(tokens, 5, 12, 16, 0)
    slices = [D.rank_slice(12, r, 4) for r in range(4)]
    assert np.array_equal(np.concatenate([np.arange(12)[s] for s in slices]), np.arange(12))
    parts = [D.batch_at(tokens, 5, 12, 16, 0, rows=s) for s in slices]
    assert np.array_equal(np.concatenate([p[0] for p in parts]), x)
    assert np.array_equal(np.concatenate([p[1] for p in parts]), y)
    assert D.rank_slice(12, 0, 1) == slice(0, 12)
    with pytest.raises(ValueError):
        D.rank_slice(10, 0, 4)
    with pytest.raises(ValueError):
        D.rank_slice(12, 4, 4)


def test_eval_batches_are_fixed_and_disjoint():
    tokens = np.arange(3000, dtype=np.uint32)
    b1 = D.eval_batches(tokens, batch_size=4, context=50, max_batches=5)
    b2 = D.eval_batches(tokens, batch_size=4, context=50, max_batches=5)
    assert len(b1) == 5
    for (x1, y1), (x2, y2) in zip(b1, b2):
        assert x1.shape == (4, 50) and x1.dtype == np.int64
        assert np.array_equal(x1, x2) and np.array_equal(y1, y2)
        assert np.array_equal(y1, x1 + 1)
    starts = np.sort(np.concatenate([x[:, 0] for x, _ in b1]))
    assert np.all(np.diff(starts) >= 50)  # x windows never overlap
    assert starts[0] == 0 and starts[-1] + 50 == 3000 - 1  # spread over the whole stream
    # a short stream yields as many full batches as fit, or one smaller batch
    assert len(D.eval_batches(tokens, 4, 500, 100)) == 1
    few = D.eval_batches(np.arange(200), 8, 50, 3)
    assert len(few) == 1 and few[0][0].shape == (3, 50)
    with pytest.raises(ValueError):
        D.eval_batches(np.arange(50), 8, 50, 3)


# --- the bundled cpu-tiny table ------------------------------------------------------------------


def test_bundled_cpu_tiny_table_has_the_seed_repeats():
    """data/cpu_tiny/runs.parquet (see its SOURCE.md): a valid run table of every rung of
    ladders/specs/cpu-tiny-seeds.toml, whose 2 smallest sizes ran seeds 0, 1 and 2."""
    import pyarrow.parquet as pq

    from ladders.spec import expand, load_spec
    from scaling.data.runs import final_rows, read_runs
    from scaling.engine.seeds import seed_scatter

    root = Path(__file__).resolve().parents[1]
    path = root / "data" / "cpu_tiny" / "runs.parquet"
    assert path.stat().st_size < 300_000
    assert pq.read_schema(path).metadata[b"scaling.run_table"] == b"1"
    runs = read_runs(path, columns=("step", "flops", "seed", "width", "depth", "schedule"))
    rungs = expand(load_spec(root / "ladders" / "specs" / "cpu-tiny-seeds.toml"))
    assert sorted(runs["run"].unique()) == sorted(r.run for r in rungs)     # every rung, whole
    final = final_rows(runs)
    assert dict(zip(final["run"], final["step"])) == {r.run: r.steps for r in rungs}
    assert not runs["diverged"].any()
    seeds = final.groupby("width")["seed"].apply(lambda s: sorted(set(s))).to_dict()
    assert seeds == {32: [0, 1, 2], 48: [0, 1, 2], 64: [0], 80: [0], 96: [0]}
    scatter = seed_scatter(runs)
    assert scatter.n_groups == 2 * 5 and scatter.dof == 2 * 5 * 2   # sizes x runs, 3 seeds each
    assert all(g.n_seeds == 3 and g.runs[0].endswith("-s0") for g in scatter.groups)
    assert scatter.sigma == pytest.approx(0.016797, abs=1e-6)       # 1.68% (its SOURCE.md)


# --- the bundled cpu-vocab table -----------------------------------------------------------------


def test_bundled_cpu_vocab_table_has_every_vocabulary_and_size():
    """data/cpu_vocab/runs.parquet (see its SOURCE.md): a valid run table of every rung of
    ladders/specs/cpu-vocab.toml, 4 BPE vocabularies x 3 sizes, with the vocabulary columns."""
    import pyarrow.parquet as pq

    from ladders.spec import expand, load_spec
    from scaling.data.runs import final_rows, read_runs

    root = Path(__file__).resolve().parents[1]
    path = root / "data" / "cpu_vocab" / "runs.parquet"
    assert path.stat().st_size < 300_000
    assert pq.read_schema(path).metadata[b"scaling.run_table"] == b"1"
    columns = ("step", "flops", "params_nonembed", "vocab_size", "width", "characters",
               "loss_unigram", "tokens_per_char", "bits_per_char")
    runs = read_runs(path, columns=columns)          # finite numbers, per the contract
    for column in columns:
        assert np.isfinite(runs[column].to_numpy(float)).all(), column
    rungs = expand(load_spec(root / "ladders" / "specs" / "cpu-vocab.toml"))
    assert sorted(runs["run"].unique()) == sorted(r.run for r in rungs)     # every rung, whole
    final = final_rows(runs)
    assert dict(zip(final["run"], final["step"])) == {r.run: r.steps for r in rungs}
    assert not runs["diverged"].any()
    assert sorted(runs["vocab_size"].unique()) == [512, 1024, 2048, 4096]
    assert runs.groupby("vocab_size")["width"].nunique().min() >= 3
    assert runs.groupby("width")["params_nonembed"].nunique().max() == 1   # V changes embeddings only
    assert (runs["params"] == runs["params_nonembed"] + runs["vocab_size"] * runs["width"]).all()
    # one tokens per character per V, falling with V (SOURCE.md), and characters = tokens / it
    per_char = runs.groupby("vocab_size")["tokens_per_char"].agg(["min", "max"])
    assert (per_char["min"] == per_char["max"]).all()
    assert per_char["min"].round(4).tolist() == [0.4826, 0.3845, 0.3273, 0.2897]
    assert np.allclose(runs["characters"], runs["tokens"] / runs["tokens_per_char"], rtol=1e-12)
    assert (runs["loss_unigram"] < 0).all() and (runs["loss_unigram"] < runs["loss"]).all()
