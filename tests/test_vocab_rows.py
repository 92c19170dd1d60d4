"""The vocabulary columns of a ladder's rows: characters, tokens_per_char, loss_unigram and
bits_per_char (ladders/train.py's docstring, docs/run-table.md), checked against direct
computations on a tiny hand-made corpus."""

import math
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tokenizers")

from ladders import corpus as C  # noqa: E402
from ladders import data as D  # noqa: E402
from ladders import tokenizer as T  # noqa: E402

# Six small documents, two of them with non-ASCII characters (2-, 3- and 4-byte UTF-8).
DOCS = {
    "a.txt": "def add(x, y):\n    return x + y\n" * 12,
    "b.txt": "for i in range(10):\n    print(i * i)\n" * 12,
    "c.txt": "class Point:\n    x = 0  # café, naïve\n    y = 1\n" * 10,
    "d.txt": "s = '世界 🙂 ünïcödé'\nprint(s.upper())\n" * 10,
    "e.txt": "while True:\n    break\n" * 15,
    "f.txt": "import os\nos.path.join('a', 'b')\n" * 12,
}
# Documents are split by a hash of their names, relative to the glob's folder ("a.txt", ...): a
# and c are held out, so both splits have non-ASCII text.
VALID_FRACTION = 0.4


def write_corpus(tmp_path, monkeypatch, folder="docs", docs=DOCS):
    """The documents written to tmp_path/folder, read by a relative glob from tmp_path (the
    working directory from here on), so that their names and the split do not depend on
    tmp_path."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / folder).mkdir(parents=True, exist_ok=True)
    for name, text in docs.items():
        (tmp_path / folder / name).write_text(text, encoding="utf-8")
    return C.text_corpus(f"{folder}/*.txt")


# --- per-token characters, tokens per character -------------------------------------------------


def test_byte_tokens_start_a_character_unless_they_continue_one():
    chars = T.ByteTokenizer().token_characters()
    assert chars.shape == (256,)
    assert chars[:0x80].tolist() == [1] * 0x80 and chars[0xC0:].tolist() == [1] * 0x40
    assert chars[0x80:0xC0].tolist() == [0] * 0x40
    text = "x = 'héllo 世界 🙂'"
    ids = T.ByteTokenizer().encode(text)
    assert len(ids) == len(text.encode()) > len(text)
    assert chars[ids].sum() == len(text)


def test_bpe_token_characters_count_the_text(tmp_path, monkeypatch):
    corpus = write_corpus(tmp_path, monkeypatch)
    bpe = T.get_tokenizer("bpe", 300, corpus, tmp_path / "cache", valid_fraction=VALID_FRACTION)
    chars = bpe.token_characters()
    assert chars.shape == (300,)
    for text in DOCS.values():
        ids = bpe.encode(text)
        assert chars[ids].sum() == len(text)       # each character counted exactly once
        for i in ids[:40]:                         # and per token, as its bytes say
            piece = bpe._tok.id_to_token(int(i))
            raw = bytes(T.byte_level_alphabet()[c] for c in piece)
            assert chars[i] == sum(1 for b in raw if not 0x80 <= b < 0xC0)
    # the byte-level table is the one HF tokenizers uses: decoding agrees with it
    for i in range(256, 300):
        piece = bpe._tok.id_to_token(i)
        raw = bytes(T.byte_level_alphabet()[c] for c in piece)
        assert bpe.decode([i]) == raw.decode("utf-8", errors="replace")


def test_tokens_per_char_is_training_tokens_over_training_characters(tmp_path, monkeypatch):
    corpus = write_corpus(tmp_path, monkeypatch)
    assert C.split_corpus(corpus, VALID_FRACTION)[1].names == ["a.txt", "c.txt"]
    train_docs, valid_docs = C.split_documents(corpus, VALID_FRACTION)
    train_text, valid_text = "\n\n".join(train_docs), "\n\n".join(valid_docs)
    assert not train_text.isascii() and not valid_text.isascii()
    data = D.load_tokens(corpus, T.ByteTokenizer(), tmp_path / "cache", VALID_FRACTION)
    assert data.train_characters == len(train_text) and data.valid_characters == len(valid_text)
    # bytes: characters are code points, not bytes, so the non-ASCII text has more than 1
    assert data.tokens_per_char == len(train_text.encode()) / len(train_text) > 1
    bpe = T.get_tokenizer("bpe", 300, corpus, tmp_path / "cache", valid_fraction=VALID_FRACTION)
    data = D.load_tokens(corpus, bpe, tmp_path / "cache", VALID_FRACTION)
    assert data.tokens_per_char == len(bpe.encode(train_text)) / len(train_text) < 1
    assert data.token_characters[np.asarray(data.valid)].sum() == len(valid_text)
    # ASCII text: one byte token per character, exactly
    ascii_docs = {k: v for k, v in DOCS.items() if v.isascii()}
    ascii_corpus = write_corpus(tmp_path, monkeypatch, "ascii", ascii_docs)
    data = D.load_tokens(ascii_corpus, T.ByteTokenizer(), tmp_path / "cache", VALID_FRACTION)
    assert data.tokens_per_char == 1.0


def test_characters_are_cached_with_the_tokens(tmp_path, monkeypatch):
    corpus = write_corpus(tmp_path, monkeypatch)
    first = D.load_tokens(corpus, T.ByteTokenizer(), tmp_path / "cache", VALID_FRACTION)

    def no_tokenising(*args, **kwargs):
        raise AssertionError("tokenised again despite the cache")

    monkeypatch.setattr(D, "_tokenise_stream", no_tokenising)
    again = D.load_tokens(corpus, T.ByteTokenizer(), tmp_path / "cache", VALID_FRACTION)
    assert (again.train_characters, again.valid_characters) == \
        (first.train_characters, first.valid_characters)
    assert again.tokens_per_char == first.tokens_per_char


def test_bins_have_no_characters(tmp_path):
    np.arange(100, dtype=np.uint16).tofile(tmp_path / "t.bin")
    data = D.bin_tokens(tmp_path / "t.bin", tmp_path / "t.bin")
    assert data.tokens_per_char is None and data.token_characters is None


# --- unigram frequencies -------------------------------------------------------------------------


def test_unigram_log_probs_by_hand():
    train = np.array([0, 1, 1, 2, 2, 2, 0, 2], dtype=np.uint16)     # counts 2, 2, 4, 0 (V = 4)
    log_p = D.unigram_log_probs(train, 4)
    # add-one: (count + 1) / (8 tokens + 4 ids)
    assert np.allclose(np.exp(log_p), [3 / 12, 3 / 12, 5 / 12, 1 / 12], rtol=0, atol=1e-15)
    assert math.isclose(np.exp(log_p).sum(), 1.0, rel_tol=1e-15)
    with pytest.raises(ValueError, match="not below vocab_size"):
        D.unigram_log_probs(train, 2)


def test_held_out_statistics_by_hand():
    train = np.array([0, 1, 1, 2, 2, 2, 0, 2], dtype=np.uint16)
    valid = np.array([2, 0, 3, 2, 1, 2, 2, 0, 1], dtype=np.uint16)
    data = D.TokenData(train=train, valid=valid, vocab_size=4, dataset="hand", corpus_hash="0",
                       train_characters=8, valid_characters=9,
                       token_characters=np.array([1, 0, 1, 2]))
    evaluation = D.eval_batches(valid, batch_size=2, context=3, max_batches=1)
    targets = np.concatenate([y.ravel() for _, y in evaluation])
    assert targets.tolist() == [0, 3, 2, 2, 0, 1]          # x windows at tokens 0 and 5
    p = {0: 3 / 12, 1: 3 / 12, 2: 5 / 12, 3: 1 / 12}
    held = D.held_out_statistics(data, evaluation)
    assert held.tokens == 6 and held.characters == 1 + 2 + 1 + 1 + 1 + 0
    assert held.unigram_loss == pytest.approx(-np.mean([math.log(p[t]) for t in targets]),
                                              rel=0, abs=1e-12)


# --- the rows of a trained rung ------------------------------------------------------------------

SPEC = """
[ladder]
name = "voc"
context = 16
batch_size = 4
eval_every = 10
eval_batches = 3
checkpoint_every = 10
min_steps = 1
[data]
corpus = "files"
files = ["{folder}/*.txt"]
tokenizer = "{tokenizer}"
vocab_sizes = [{vocab}]
valid_fraction = {valid_fraction}
[model]
sizes = [{{ width = 16, depth = 1, heads = 2 }}]
[tokens]
absolute = [1920]
[optimizer]
lr = 1e-2
schedules = ["cosine"]
"""


def trained(tmp_path, monkeypatch, tokenizer="bytes", vocab=256):
    """(rung, rows, data) of one tiny rung trained for 30 steps on the hand-made corpus."""
    import ladders.train
    from ladders.spec import expand, load_spec
    from ladders.train import load_data, train_rung

    monkeypatch.setenv("SCALING_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(ladders.train, "_TOKEN_CACHE", {})
    corpus = write_corpus(tmp_path, monkeypatch)
    (tmp_path / "spec.toml").write_text(SPEC.format(folder="docs", tokenizer=tokenizer,
                                                    vocab=vocab, valid_fraction=VALID_FRACTION))
    rung = expand(load_spec(Path("spec.toml")))[0]        # files: the relative "docs/*.txt"
    assert rung.data["files"] == ["docs/*.txt"]
    assert rung.steps == 30
    rows = train_rung(rung, tmp_path / "work", device="cpu", threads=1)
    return rung, rows, load_data(rung.data), corpus


@pytest.mark.parametrize("tokenizer, vocab", [("bytes", 256), ("bpe", 300)])
def test_rows_carry_the_vocabulary_columns(tmp_path, monkeypatch, tokenizer, vocab):
    import torch

    from ladders.checkpoints import read_state
    from ladders.model import GPT, GPTConfig

    rung, rows, data, corpus = trained(tmp_path, monkeypatch, tokenizer, vocab)
    assert rows["step"].tolist() == [10, 20, 30]
    train_docs, valid_docs = C.split_documents(corpus, VALID_FRACTION)
    train_text = "\n\n".join(train_docs)

    # tokens per character: of the training split of this tokenizer, the same in every row
    per_char = len(np.asarray(data.train)) / len(train_text)
    assert np.allclose(rows["tokens_per_char"], per_char, rtol=1e-15)
    # characters grow by batch * context / tokens_per_char a step
    assert np.allclose(rows["characters"], rows["step"] * 4 * 16 / per_char, rtol=1e-12)
    assert np.allclose(np.diff(rows["characters"]), 10 * 4 * 16 / per_char, rtol=1e-12)

    # the unigram frequencies of the training tokens, counted here from the tokenised text
    if tokenizer == "bytes":
        tok = T.ByteTokenizer()
    else:
        tok = T.get_tokenizer("bpe", vocab, corpus, tmp_path / "cache",
                              valid_fraction=VALID_FRACTION)
    parts = []                     # documents encoded one by one, joined by the encoded "\n\n"
    for i, doc in enumerate(train_docs):
        parts += [tok.encode("\n\n")] * (i > 0) + [tok.encode(doc)]
    stream = np.concatenate(parts).astype(np.int64)
    assert np.array_equal(stream, np.asarray(data.train, dtype=np.int64))
    counts = np.array([(stream == w).sum() for w in range(vocab)])
    log_p = np.log((counts + 1) / (len(stream) + vocab))
    evaluation = D.eval_batches(data.valid, 4, 16, 3)
    targets = np.concatenate([y.ravel() for _, y in evaluation])
    assert len(targets) == 3 * 4 * 16
    unigram = -log_p[targets].mean()
    assert np.allclose(rows["loss_unigram"], rows["loss"] - unigram, rtol=0, atol=1e-9)
    assert (rows["loss_unigram"] < rows["loss"]).all()

    # L_u from its definition, -mean log[p(w | context) / p(w)], with the final model
    state = read_state(tmp_path / "work" / rung.run / "checkpoint.pt")
    assert state["step"] == 30
    model = GPT(GPTConfig(**rung.model))
    model.load_state_dict(state["model"])
    model.eval()
    ratios = []
    with torch.no_grad():
        for x, y in evaluation:
            logits, _ = model(torch.from_numpy(x))
            log_q = torch.log_softmax(logits.double(), dim=-1).numpy()
            picked = np.take_along_axis(log_q, y[..., None], axis=-1)[..., 0]
            ratios.append(picked - log_p[y])
    direct = -np.mean(np.concatenate([r.ravel() for r in ratios]))
    assert rows["loss_unigram"].iloc[-1] == pytest.approx(direct, rel=0, abs=1e-6)

    # bits per character: loss * T / (characters of the T target tokens) / ln 2
    if tokenizer == "bytes":       # a character starts at every byte but a continuation byte
        characters = int(((targets < 0x80) | (targets >= 0xC0)).sum())
    else:                          # the bytes of each token, from its byte-level spelling
        alphabet = T.byte_level_alphabet()
        characters = sum(sum(1 for c in tok._tok.id_to_token(int(t))
                             if not 0x80 <= alphabet[c] < 0xC0) for t in targets)
    assert characters < len(targets) if tokenizer == "bytes" else characters > len(targets)
    expected = rows["loss"] * len(targets) / characters / math.log(2)
    assert np.allclose(rows["bits_per_char"], expected, rtol=1e-12)


def test_bin_corpus_rows_have_loss_unigram_only(tmp_path, monkeypatch):
    """Pre-tokenised .bin files have no text: no characters, so no tokens_per_char, characters
    or bits_per_char; loss_unigram needs only the training tokens."""
    from ladders.spec import expand, load_spec
    from ladders.train import train_rung

    rng = np.random.default_rng(0)
    train = rng.integers(0, 50, 4000).astype(np.uint16)
    valid = rng.integers(0, 50, 600).astype(np.uint16)
    train.tofile(tmp_path / "train.bin")
    valid.tofile(tmp_path / "valid.bin")
    text = SPEC.replace('corpus = "files"\nfiles = ["{folder}/*.txt"]\ntokenizer = "{tokenizer}"\n',
                        f'corpus = "bins"\ntrain_bin = "{tmp_path}/train.bin"\n'
                        f'valid_bin = "{tmp_path}/valid.bin"\n')
    text = text.replace("valid_fraction = {valid_fraction}\n", "").replace("absolute = [1920]",
                                                                          "absolute = [640]")
    (tmp_path / "bins.toml").write_text(text.format(vocab=50))
    rung = expand(load_spec(tmp_path / "bins.toml"))[0]
    rows = train_rung(rung, tmp_path / "work", device="cpu", threads=1)
    assert rows["step"].tolist() == [10]
    assert not {"characters", "tokens_per_char", "bits_per_char"} & set(rows.columns)
    log_p = np.log((np.bincount(train, minlength=50) + 1) / (4000 + 50))
    targets = np.concatenate([y.ravel() for _, y in D.eval_batches(valid, 4, 16, 3)])
    assert rows["loss_unigram"].iloc[0] == pytest.approx(rows["loss"].iloc[0]
                                                         + log_p[targets].mean(), abs=1e-9)
