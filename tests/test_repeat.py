"""Repeated data (data.unique_tokens, data.max_epochs; Muennighoff et al. 2023): the epoch order of
`ladders.data.repeat_offsets`, the caps a spec gives its rungs, and capped rungs' rows and resume."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ladders import data as D
from ladders.checkpoints import CheckpointError, check_same_rung
from ladders.spec import expand, load_spec
from scaling.errors import ScalingError
from scaling.data.runs import read_runs
from scaling.data.table_files import write_runs
from test_train import spec as train_spec

ROOT = Path(__file__).resolve().parents[1]



def spec(tmp_path, data="", tokens="12_800", name="spec.toml"):
    """test_train's one-size ladder spec, with more [data] lines (the cap)."""
    return train_spec(tmp_path, tokens=tokens, name=name, data=data)


def starts(tokens, steps, batch_size, context, seed, unique_tokens):
    """The window starts of steps 0 .. steps-1, in order."""
    return np.concatenate([D.batch_at(tokens, s, batch_size, context, seed,
                                      unique_tokens=unique_tokens)[0][:, 0]
                           for s in range(steps)]).astype(np.int64)


# --- the epoch order ----------------------------------------------------------------------------


def test_each_epoch_visits_every_window_once_in_its_own_order():
    tokens = np.arange(5_000, dtype=np.uint16)
    context, windows, batch = 16, 20, 8             # 8 does not divide 20: epochs end mid-batch
    unique, stride = windows * context, (5_000 - 1) // windows      # windows 249 tokens apart
    seen = starts(tokens, 15, batch, context, 3, unique)      # 120 windows: 6 epochs
    assert np.all(seen % stride == 0) and seen.max() + context + 1 <= 5_000
    epochs = seen.reshape(6, windows) // stride
    for order in epochs:
        assert sorted(order) == list(range(windows))           # every window once an epoch
    assert len({tuple(order) for order in epochs}) == 6        # each epoch its own order
    other_seed = starts(tokens, 15, batch, context, 4, unique).reshape(6, windows) // stride
    assert all(not np.array_equal(a, b) for a, b in zip(epochs, other_seed))
    # the same windows for every seed: only their order differs
    assert sorted(seen[:windows]) == sorted(starts(tokens, 3, batch, context, 9, unique)[:windows])
    x, y = D.batch_at(tokens, 7, batch, context, 3, unique_tokens=unique)
    assert np.array_equal(y, x + 1)
    # one epoch trains on exactly `unique` distinct target tokens, each once
    targets = np.concatenate([D.batch_at(tokens, s, 4, context, 3, unique_tokens=unique)[1]
                              for s in range(windows // 4)]).ravel()
    assert len(targets) == len(set(targets)) == unique
    # a split of just unique + 1 tokens: the windows tile it, context tokens apart
    tight = np.arange(unique + 1, dtype=np.uint16)
    assert sorted(starts(tight, 5, 4, context, 3, unique)) == list(range(0, unique, context))


def test_capped_batch_is_a_pure_function_of_seed_and_step(tmp_path):
    tokens = np.arange(10_000, dtype=np.uint16)
    unique = 50 * 32
    forward = [D.batch_at(tokens, s, 12, 32, 1, unique_tokens=unique)[0] for s in range(30)]
    D._epoch_order.cache_clear()                     # a fresh process: no cached permutation
    for s in (29, 3, 17, 0, 22):                     # any step, in any order
        assert np.array_equal(D.batch_at(tokens, s, 12, 32, 1, unique_tokens=unique)[0],
                              forward[s])
    assert not np.array_equal(forward[5], D.batch_at(tokens, 5, 12, 32, 2,
                                                     unique_tokens=unique)[0])
    # DDP ranks slice the same global batch; a memory map gives the same batch
    parts = [D.batch_at(tokens, 9, 12, 32, 1, rows=D.rank_slice(12, r, 3), unique_tokens=unique)[0]
             for r in range(3)]
    assert np.array_equal(np.concatenate(parts), forward[9])
    tokens.tofile(tmp_path / "t.bin")
    mapped = np.memmap(tmp_path / "t.bin", dtype=np.uint16, mode="r")
    assert np.array_equal(D.batch_at(mapped, 9, 12, 32, 1, unique_tokens=unique)[0], forward[9])
    # uncapped sampling is untouched: offsets uniform over the whole split, as before the cap
    rng = np.random.default_rng([1, 9])
    offsets = rng.integers(0, 10_000 - 32, size=12, dtype=np.int64)
    assert np.array_equal(D.batch_at(tokens, 9, 12, 32, 1)[0][:, 0], offsets)


def test_bad_caps_are_value_errors():
    tokens = np.arange(1_000, dtype=np.uint16)
    with pytest.raises(ValueError, match="multiple of the context 32"):
        D.batch_at(tokens, 0, 4, 32, 0, unique_tokens=100)
    with pytest.raises(ValueError, match="the training split has 1,000"):
        D.batch_at(tokens, 0, 4, 32, 0, unique_tokens=32 * 32)


# --- specs --------------------------------------------------------------------------------------


def test_spec_caps_give_each_rung_its_unique_tokens(tmp_path):
    plain = expand(load_spec(spec(tmp_path, tokens="12_800, 25_600", name="plain.toml")))
    assert all("unique_tokens" not in rung.data for rung in plain)   # rung dicts as before
    capped = expand(load_spec(spec(tmp_path, "unique_tokens = 3_210", "12_800, 25_600",
                                   name="capped.toml")))
    assert [rung.data["unique_tokens"] for rung in capped] == [3_200, 3_200]  # 100 windows
    assert [r.run for r in capped] == [r.run for r in plain]
    for a, b in zip(plain, capped):                 # the cap changes nothing else
        assert {**a.to_dict(), "data": None} == {**b.to_dict(), "data": None}
        assert {**b.data, "unique_tokens": None} == {**a.data, "unique_tokens": None}
    epochs = expand(load_spec(spec(tmp_path, "max_epochs = 3", "12_800, 25_600",
                                   name="epochs.toml")))
    # 12,800 / 3 = 4,266.7 tokens: 134 windows of 32 (rounded up, so at most 3 epochs)
    assert [rung.data["unique_tokens"] for rung in epochs] == [4_288, 8_544]
    assert all(rung.tokens / rung.data["unique_tokens"] <= 3 for rung in epochs)


def test_bundled_repeat_ladder():
    rungs = expand(load_spec(ROOT / "ladders/specs/cpu-repeat.toml"))
    assert len({rung.model["width"] for rung in rungs}) >= 3
    assert {rung.data["unique_tokens"] for rung in rungs} == {65_536}
    epochs = sorted({rung.tokens / rung.data["unique_tokens"] for rung in rungs})
    assert epochs[0] == 1 and epochs[-1] >= 16 and len([e for e in epochs if e <= 4]) >= 3


# --- training ------------------------------------------------------------------------------------


def _capped_rung(tmp_path, unique="unique_tokens = 3_200"):
    """One rung of 50 steps of 8 x 32 tokens on 3,200 unique tokens: 4 epochs."""
    return expand(load_spec(spec(tmp_path, unique)))[0]


def test_capped_rows_carry_unique_tokens_and_epochs(tmp_path):
    from ladders.train import train_rung

    rows = train_rung(_capped_rung(tmp_path), tmp_path / "work", device="cpu", threads=1)
    assert rows["step"].tolist() == [10, 20, 30, 40, 50]
    assert (rows["unique_tokens"] == 3_200).all()
    assert np.allclose(rows["epochs"], rows["tokens"] / 3_200)
    assert rows["epochs"].tolist() == [0.8, 1.6, 2.4, 3.2, 4.0]
    assert rows["loss"].iloc[-1] < rows["loss"].iloc[0]
    # the contract reads them as numbers, and derives epochs where a table has only unique_tokens
    write_runs(rows.drop(columns=["epochs"]), tmp_path / "rows.parquet")
    table = read_runs(tmp_path / "rows.parquet", columns=("unique_tokens", "epochs"))
    assert np.allclose(table["epochs"], rows["epochs"])


def test_resume_of_a_capped_rung_matches_an_uninterrupted_one(tmp_path, monkeypatch):
    from ladders import train

    rung = _capped_rung(tmp_path)
    clean = train.train_rung(rung, tmp_path / "clean", device="cpu", threads=1)
    original = train.token_data.batch_at

    def crash(tokens, step, *args, **kwargs):
        if step == 25:                    # after the checkpoint at 20, inside the 2nd epoch
            raise KeyboardInterrupt
        return original(tokens, step, *args, **kwargs)

    monkeypatch.setattr(train.token_data, "batch_at", crash)
    with pytest.raises(KeyboardInterrupt):
        train.train_rung(rung, tmp_path / "killed", device="cpu", threads=1)
    monkeypatch.setattr(train.token_data, "batch_at", original)
    D._epoch_order.cache_clear()          # as a new process would start
    resumed = train.train_rung(rung, tmp_path / "killed", device="cpu", resume=True, threads=1)
    assert resumed["step"].tolist() == clean["step"].tolist()
    assert np.array_equal(resumed["loss"], clean["loss"])
    assert np.array_equal(resumed["train_loss"], clean["train_loss"])
    assert np.array_equal(resumed["epochs"], clean["epochs"])


def test_resume_keeps_old_folders_and_refuses_a_changed_cap(tmp_path):
    plain = expand(load_spec(spec(tmp_path, name="plain.toml")))[0]
    folder = tmp_path / plain.run
    folder.mkdir()
    # a folder written before the keys existed: its rung.json has no unique_tokens
    (folder / "rung.json").write_text(json.dumps(plain.to_dict()))
    check_same_rung(plain, folder)
    capped = _capped_rung(tmp_path)
    with pytest.raises(CheckpointError, match="its data was"):
        check_same_rung(capped, folder)
    (folder / "rung.json").write_text(json.dumps(capped.to_dict()))
    recapped = replace(capped, data={**capped.data, "unique_tokens": 6_400})
    with pytest.raises(CheckpointError, match="its data was"):
        check_same_rung(recapped, folder)


def test_a_cap_beyond_the_split_found_at_rung_time_is_one_line(tmp_path):
    """What check_corpus cannot size before training (a BPE's tokens): the rung stops with one
    line naming it, before it trains."""
    from ladders.train import train_rung

    rung = _capped_rung(tmp_path)
    rung = replace(rung, data={**rung.data, "unique_tokens": 32 * 100_000})
    with pytest.raises(ScalingError) as error:
        train_rung(rung, tmp_path / "work", device="cpu", threads=1)
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"{rung.run}: data: unique_tokens = ")
    assert "training split has" in message
    assert not (tmp_path / "work" / rung.run / "rows.parquet").exists()


# --- the bundled table ---------------------------------------------------------------------------


def test_bundled_repeat_table_shows_repetition_hurting():
    """data/cpu_repeat (SOURCE.md): 3 sizes x 1-32 epochs of 65,536 unique tokens, and the same
    budgets on fresh data; repeated data is about as good as fresh up to 8 epochs, worse at 16
    and much worse at 32, the more so the larger the model."""
    import hashlib

    folder = ROOT / "data" / "cpu_repeat"
    source = (folder / "SOURCE.md").read_text()
    for name in ("runs.parquet", "fresh.parquet"):
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() in source
    runs = read_runs(folder / "runs.parquet", columns=("unique_tokens", "epochs"))
    fresh = read_runs(folder / "fresh.parquet")
    assert (runs["unique_tokens"] == 65_536).all() and "unique_tokens" not in fresh
    assert np.allclose(runs["epochs"], runs["tokens"] / 65_536)

    def final(table):
        last = table.sort_values("step").groupby("run").tail(1)
        return last.set_index(["width", "tokens"])["loss"].sort_index()

    repeated, new = final(runs), final(fresh)
    assert list(repeated.index) == list(new.index) and len(repeated) == 18
    ratio = repeated / new
    for width in (32, 48, 64):
        at = ratio.loc[width]
        # 1-8 epochs: as good as fresh, within single-run noise (batches of 8)
        assert (abs(at.loc[[65_536, 131_072, 262_144, 524_288]] - 1) < 0.06).all()
        assert at.loc[1_048_576] > 1.05 and at.loc[2_097_152] > 1.15         # 16, 32 epochs
        assert at.loc[2_097_152] > at.loc[1_048_576]
    at_32_epochs = ratio.xs(2_097_152, level="tokens")
    assert at_32_epochs.is_monotonic_increasing                 # larger models overfit more


def test_a_cap_beyond_a_bin_file_is_a_spec_error(tmp_path):
    from ladders.spec.corpus_check import check_corpus
    from ladders.spec.schema import SpecError

    np.arange(1_000, dtype=np.uint16).tofile(tmp_path / "train.bin")
    np.arange(500, dtype=np.uint16).tofile(tmp_path / "valid.bin")
    text = spec(tmp_path).read_text().replace(
        'corpus = "stdlib"\nmax_bytes = 300_000',
        'corpus = "bins"\ntrain_bin = "train.bin"\nvalid_bin = "valid.bin"\nvocab_sizes = [1000]\n'
        'unique_tokens = 1_280')
    (tmp_path / "bins.toml").write_text(text)
    with pytest.raises(SpecError) as error:
        check_corpus(load_spec(tmp_path / "bins.toml"))
    assert str(error.value).endswith("bins.toml: data.unique_tokens = 1_280 needs 1,281 distinct "
                                     "training tokens, but data.train_bin leaves the training "
                                     "split 1,000 tokens; lower the cap or raise the corpus")
