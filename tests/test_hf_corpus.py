"""ladders.hf_corpus: a Hugging Face dataset (local shards here; the hub is not reachable from
the tests) streamed, split by its texts' sha256, tokenised into the token cache and trained on;
the fallback to the standard library when the hub or `datasets` is missing."""
import gzip
import hashlib
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tokenizers")
pa = pytest.importorskip("pyarrow")

import pyarrow.ipc as ipc  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from ladders import corpus as C  # noqa: E402
from ladders import hf_corpus as H  # noqa: E402
from ladders import tokenizer as T  # noqa: E402

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron".split()
# 40 distinct documents, a few with non-ASCII text
DOCS = [" ".join(WORDS[(k * 7 + j) % len(WORDS)] for j in range(25 + k)) + f" #{k}"
        + (" café 世界" if k % 9 == 0 else "") for k in range(40)]
FRACTION = 0.25


def write_shards(root: Path) -> Path:
    """DOCS over four shards of three kinds in root/{a,b,c}, plus empty and null rows (skipped)."""
    for sub in "abc":
        (root / sub).mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"text": DOCS[:15], "id": list(range(15))}),
                   root / "a" / "part-0.parquet", row_group_size=4)
    table = pa.table({"text": DOCS[15:25]})
    with ipc.new_file(str(root / "b" / "part-1.arrow"), table.schema) as writer:  # IPC file
        for batch in table.to_batches(max_chunksize=3):
            writer.write_batch(batch)
    table = pa.table({"text": [DOCS[25], None, DOCS[26], "", *DOCS[27:30]]})
    with ipc.new_stream(str(root / "b" / "part-2.arrow"), table.schema) as writer:  # datasets'
        writer.write_table(table)
    with gzip.open(root / "c" / "part-3.jsonl.gz", "wt", encoding="utf-8") as out:
        for text in DOCS[30:]:
            out.write(json.dumps({"text": text, "url": "x"}) + "\n\n")
    return root


def held_out(text: str) -> bool:
    """The split computed here from each document's id, the sha256 hex of its text."""
    return C.name_uniform(hashlib.sha256(text.encode()).hexdigest()) < FRACTION


@pytest.fixture
def shards(tmp_path):
    return write_shards(tmp_path / "corpus")


def test_shards_stream_every_text_in_order(shards):
    corpus = H.shard_corpus([f"{shards}/**/*"])
    assert list(corpus.documents()) == DOCS              # a, b (file, then stream), c; no empties
    assert corpus.name == "shards:a/part-0.parquet+3"
    capped = H.shard_corpus([f"{shards}/**/*"], max_bytes=sum(len(d.encode()) for d in DOCS[:7]))
    assert list(capped.documents()) == DOCS[:7]          # stops before the one that passes it
    assert capped.hash != corpus.hash


def test_another_text_column_and_a_missing_one(tmp_path):
    pq.write_table(pa.table({"content": DOCS[:5]}), tmp_path / "x.parquet")
    assert list(H.shard_corpus([str(tmp_path / "x.parquet")], "content").documents()) == DOCS[:5]
    with pytest.raises(ValueError, match=r"x\.parquet has no column 'text' \(data.text_column\); "
                                         r"it has 'content'"):
        list(H.shard_corpus([str(tmp_path / "x.parquet")]).documents())
    (tmp_path / "notes.txt").write_text("not a shard")
    with pytest.raises(ValueError, match="notes.txt is not a shard"):
        H.shard_corpus([str(tmp_path / "*")])


def test_the_same_shards_elsewhere_have_the_same_identity(shards, tmp_path):
    copy = tmp_path / "else" / "where"
    shutil.copytree(shards, copy)
    assert H.shard_corpus([f"{copy}/**/*"]).hash == H.shard_corpus([f"{shards}/**/*"]).hash
    (copy / "c" / "part-3.jsonl.gz").write_bytes(gzip.compress(b'{"text": "changed"}\n'))
    assert H.shard_corpus([f"{copy}/**/*"]).hash != H.shard_corpus([f"{shards}/**/*"]).hash


class Counting:
    """A tokenizer that counts the documents it encodes."""

    def __init__(self, inner):
        self.inner, self.encoded = inner, 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def encode_batch(self, texts):
        self.encoded += len(texts)
        return self.inner.encode_batch(texts)


def test_byte_tokens_split_by_text_and_are_cached(shards, tmp_path):
    corpus = H.shard_corpus([f"{shards}/**/*"])
    train = [d for d in DOCS if not held_out(d)]
    valid = [d for d in DOCS if held_out(d)]
    assert 5 <= len(valid) <= 15 and len(train) + len(valid) == len(DOCS)
    tok = Counting(T.ByteTokenizer())
    data = H.load_hf_tokens(corpus, tok, tmp_path / "cache", FRACTION)
    assert tok.encoded == len(DOCS)
    for tokens, docs in ((data.train, train), (data.valid, valid)):
        text = "\n\n".join(docs)
        assert len(tokens) == len(text.encode()) == sum(len(d.encode()) for d in docs) + 2 * (len(docs) - 1)
        assert np.asarray(tokens).astype(np.uint8).tobytes().decode() == text
    assert data.train_characters == len("\n\n".join(train))
    assert data.valid_characters == len("\n\n".join(valid))
    assert data.dataset == "shards:a/part-0.parquet+3/bytes" and data.corpus_hash == corpus.hash
    # a second load maps the cache: nothing encoded, no shard read
    again_tok = Counting(T.ByteTokenizer())
    unread = H.HFCorpus(corpus.name, corpus.identity, lambda: pytest.fail("read"), None, corpus.hash)
    again = H.load_hf_tokens(unread, again_tok, tmp_path / "cache", FRACTION)
    assert again_tok.encoded == 0 and isinstance(again.train, np.memmap)
    assert np.array_equal(again.train, data.train) and np.array_equal(again.valid, data.valid)
    # another valid_fraction: tokenised again
    other = H.load_hf_tokens(corpus, Counting(T.ByteTokenizer()), tmp_path / "cache", 0.5)
    assert other.n_valid > data.n_valid


def test_bpe_trains_on_the_training_side_only(shards, tmp_path):
    corpus = H.shard_corpus([f"{shards}/**/*"])
    bpe = H.hf_tokenizer("bpe", 300, corpus, tmp_path / "cache", FRACTION)
    assert bpe.vocab_size == 300 and bpe.path.is_file()
    reference = T._train_bpe_tokenizer([d for d in DOCS if not held_out(d)], 300)
    assert bpe._tok.to_str() == reference.to_str()        # the streamed training side, exactly
    data = H.load_hf_tokens(corpus, bpe, tmp_path / "cache", FRACTION)
    train = [d for d in DOCS if not held_out(d)]
    sep = len(bpe.encode("\n\n"))
    assert data.n_train == sum(len(bpe.encode(d)) for d in train) + sep * (len(train) - 1)
    assert data.n_train < len("\n\n".join(train).encode())
    assert bpe.decode(data.valid) == "\n\n".join(d for d in DOCS if held_out(d))
    assert data.token_characters[np.asarray(data.train)].sum() == len("\n\n".join(train))
    # cached: a second call opens no stream
    unread = H.HFCorpus(corpus.name, corpus.identity, lambda: pytest.fail("read"), None, corpus.hash)
    assert H.hf_tokenizer("bpe", 300, unread, tmp_path / "cache", FRACTION).fingerprint == bpe.fingerprint


@pytest.fixture
def tokenizer_json(tmp_path):
    """A tokenizer.json saved from `tokenizers` (a byte-level BPE of 280 tokens)."""
    path = tmp_path / "tokenizer.json"
    T._train_bpe_tokenizer(DOCS + ["some other text to learn from, " * 40], 280).save(str(path))
    return path


def test_a_pretrained_tokenizer_file(shards, tmp_path, tokenizer_json):
    tok = T.get_tokenizer("file", 280, None, tmp_path, path=tokenizer_json)
    assert tok.vocab_size == 280 and tok.name.startswith("file280-")
    data = H.load_hf_tokens(H.shard_corpus([f"{shards}/**/*"]), tok, tmp_path / "cache", FRACTION)
    valid = [d for d in DOCS if held_out(d)]
    assert data.n_valid == sum(len(tok.encode(d)) for d in valid) + (len(valid) - 1) * len(tok.encode("\n\n"))
    assert tok.decode(data.valid) == "\n\n".join(valid)
    with pytest.raises(ValueError, match=r"has a vocabulary of 280 tokens, not vocab_size = 300; "
                                         r"set data.vocab_sizes = \[280\]"):
        T.get_tokenizer("file", 300, None, tmp_path, path=tokenizer_json)
    # a files corpus takes it too
    (tmp_path / "t").mkdir()
    for k, text in enumerate(DOCS):
        (tmp_path / "t" / f"{k}.txt").write_text(text)
    from ladders.data import load_tokens
    corpus = C.text_corpus(str(tmp_path / "t" / "*.txt"))
    files = load_tokens(corpus, tok, tmp_path / "cache", FRACTION)
    assert files.dataset == f"{corpus.name}/{tok.name}" and files.tokens_per_char < 1


SPEC = """
[ladder]
name = "hf"
context = 16
batch_size = 4
eval_every = 10
eval_batches = 2
checkpoint_every = 10
min_steps = 1
[data]
corpus = "hf"
{source}
tokenizer = "{tokenizer}"
vocab_sizes = [{vocab}]
valid_fraction = {fraction}
{extra}
[model]
sizes = [{{ width = 16, depth = 1, heads = 2 }}]
[tokens]
absolute = [1280]
[optimizer]
lr = 1e-2
schedules = ["cosine"]
"""


def write_spec(tmp_path, source, tokenizer="bytes", vocab=256, extra=""):
    path = tmp_path / "spec.toml"
    path.write_text(SPEC.format(source=source, tokenizer=tokenizer, vocab=vocab,
                                fraction=FRACTION, extra=extra))
    return path


@pytest.mark.parametrize("tokenizer, vocab", [("bytes", 256), ("bpe", 300)])
def test_a_rung_trains_on_shards(shards, tmp_path, monkeypatch, tokenizer, vocab):
    import ladders.train
    from ladders.spec import expand, load_spec

    monkeypatch.setenv("SCALING_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(ladders.train, "_TOKEN_CACHE", {})
    monkeypatch.chdir(tmp_path)
    spec = load_spec(write_spec(tmp_path, 'hf_files = ["corpus/**/*"]', tokenizer, vocab))
    (rung,) = expand(spec)
    assert rung.data["hf_files"] == [f"{tmp_path}/corpus/**/*"] and rung.steps == 20
    rows = ladders.train.train_rung(rung, tmp_path / "work", device="cpu", threads=1)
    corpus = H.shard_corpus([f"{shards}/**/*"])
    assert rows["step"].tolist() == [10, 20]
    assert set(rows["dataset"]) == {f"shards:a/part-0.parquet+3/{tokenizer}{'' if vocab == 256 else vocab}"}
    assert set(rows["corpus_hash"]) == {corpus.hash}
    assert np.isfinite(rows["loss"]).all() and (rows["loss"] < np.log(vocab) + 1).all()


def hub_data(**extra):
    return {"corpus": "hf", "hf_dataset": "HuggingFaceFW/fineweb-edu", "hf_config": "sample-10BT",
            "hf_split": "train", "tokenizer": "bytes", "vocab_size": 256, "max_bytes": 200_000,
            "valid_fraction": 0.05, **extra}


def test_an_unreachable_hub_falls_back_to_the_standard_library(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "datasets", None)   # `import datasets` fails
    data = H.load_hf(hub_data(fallback="stdlib"), tmp_path / "cache")
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["data: HuggingFaceFW/fineweb-edu unreachable (the datasets library is not "
                   "installed: pip install 'scaling[hf]'); training on the standard library "
                   "(fallback)"]
    stdlib = C.stdlib_corpus(max_bytes=200_000)
    assert data.dataset == f"{stdlib.name}/bytes" and data.corpus_hash == stdlib.hash
    with pytest.raises(ValueError) as error:
        H.load_hf(hub_data(), tmp_path / "cache")
    assert str(error.value) == ("HuggingFaceFW/fineweb-edu unreachable (the datasets library is "
                                "not installed: pip install 'scaling[hf]'); set data.fallback = "
                                "\"stdlib\" to train on the standard library instead")


def test_a_hub_that_refuses_falls_back_too(tmp_path, monkeypatch, capsys):
    """`datasets` installed but the hub unreachable: its error's first line is the reason."""
    import types

    def load_dataset(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'HuggingFaceFW/fineweb-edu' on the Hub (LocalEntryNotFoundError)\nmore")

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    H.load_hf(hub_data(fallback="stdlib"), tmp_path / "cache")
    assert capsys.readouterr().err.strip() == (
        "data: HuggingFaceFW/fineweb-edu unreachable (Couldn't reach 'HuggingFaceFW/fineweb-edu' "
        "on the Hub (LocalEntryNotFoundError)); training on the standard library (fallback)")


def test_a_hub_dataset_streams_through_datasets(tmp_path, monkeypatch):
    """With `datasets` (a stand-in here) the hub's rows are tokenised, named by the hub name."""
    import types

    calls = []

    def load_dataset(name, config, split, streaming, revision):
        calls.append((name, config, split, streaming, revision))
        return iter([{"text": d, "id": k} for k, d in enumerate(DOCS)])

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    data = H.load_hf(hub_data(), tmp_path / "cache")
    assert calls == [("HuggingFaceFW/fineweb-edu", "sample-10BT", "train", True, None)]
    assert data.dataset == "HuggingFaceFW/fineweb-edu:sample-10BT:train/bytes"
    assert data.n_train + data.n_valid == sum(len(d.encode()) for d in DOCS) + 2 * (len(DOCS) - 2)
    H.load_hf(hub_data(), tmp_path / "cache")             # cached: the hub is not asked again
    assert len(calls) == 1
