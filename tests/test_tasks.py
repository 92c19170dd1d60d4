"""Downstream multiple-choice tasks (ladders/tasks.py): building, JSONL files, scoring, rows."""

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from ladders import tasks as T
from ladders.corpus import split_corpus, stdlib_corpus
from ladders.launch import run_ladder
from ladders.model import GPT, GPTConfig
from ladders.spec import SpecError, expand, load_spec
from ladders.tokenizer import ByteTokenizer

ROOT = Path(__file__).resolve().parents[1]
DATA = {"corpus": "stdlib", "max_bytes": 3_000_000, "valid_fraction": 0.05, "tokenizer": "bytes",
        "vocab_size": 256}

SPEC = """
[ladder]
name = "tiny"
context = 32
batch_size = 8
eval_every = 10
eval_batches = 2
checkpoint_every = 20
[data]
corpus = "stdlib"
max_bytes = 3_000_000
[model]
sizes = [{{ width = 32, depth = 2, heads = 2 }}]
{budgets}
[optimizer]
lr = 3e-3
schedules = ["{schedule}"]
[tasks]
names = ["next_chars", "same_file_chars", "identifier", "next_line"]
items = {items}
files = [{files}]
"""


def write_spec(tmp_path, budgets="[tokens]\nabsolute = [12_800]", schedule="cosine", items=12,
               files='"mine.jsonl"'):
    (tmp_path / "mine.jsonl").write_text(
        json.dumps({"context": "import o", "options": ["s", "x"], "answer": 0}) + "\n" +
        json.dumps({"context": "def f(", "options": ["self", ")", "x, y"], "answer": 1}) + "\n")
    path = tmp_path / "spec.toml"
    path.write_text(SPEC.format(budgets=budgets, schedule=schedule, items=items, files=files))
    return path


@pytest.fixture(scope="module")
def splits():
    return split_corpus(stdlib_corpus(max_bytes=DATA["max_bytes"]), DATA["valid_fraction"])


def tiny_model(seed=0, width=16, context=32):
    torch.manual_seed(seed)
    return GPT(GPTConfig(width=width, depth=1, heads=2, vocab_size=256, context=context))


# --- building --------------------------------------------------------------------------------


def test_builtin_tasks_are_deterministic_and_made_of_held_out_text(splits):
    train, valid = splits
    assert T.held_out(DATA)[1] == valid.documents
    for name in T.BUILTIN:
        task = T.build(name, valid.documents, 40, 32)
        again = T.build(name, valid.documents, 40, 32)
        assert task.items == again.items and len(task.items) == 40, name
        assert task.chance == 0.25
        for item in task.items:
            assert len(item.options) == 4 and 0 <= item.answer < 4
            assert len({o.strip() for o in item.options}) == 4 and all(o.strip()
                                                                       for o in item.options)
            assert all(len(o.encode()) <= T.option_bytes(32) for o in item.options)
            assert len(item.context) >= T.MIN_CONTEXT_CHARS
            # the context and its true continuation are held-out text
            assert any(item.context + item.options[item.answer] in doc
                       for doc in valid.documents), name
        # ... which the training documents do not hold
        in_training = [any(item.context[-200:] + item.options[item.answer] in doc
                           for doc in train.documents) for item in task.items]
        assert sum(in_training) <= 2, name
        other = T.build(name, valid.documents, 40, 64)      # another window: other limits
        assert all(len(o.encode()) <= T.option_bytes(64) for i in other.items for o in i.options)
    with pytest.raises(T.TaskError, match="unknown task 'nope'"):
        T.build("nope", valid.documents, 10, 32)


# --- your own tasks: JSONL -----------------------------------------------------------------------


def test_jsonl_tasks_load_and_each_bad_input_is_a_one_line_error(tmp_path):
    good = tmp_path / "my-qa.jsonl"
    good.write_text('{"context": "a", "options": ["b", "c"], "answer": 1}\n\n'
                    '{"context": "", "options": ["x", "y", "z"], "answer": 0}\n')
    task = T.load_jsonl(good)
    assert task.name == "my-qa" and len(task.items) == 2 and task.source == str(good)
    assert task.items[0] == T.Item("a", ("b", "c"), 1)
    assert T.load_jsonl(good, "other").name == "other"
    assert T.split_entry("qa=x/y.jsonl") == ("qa", "x/y.jsonl")
    assert T.split_entry("x/my_set.jsonl") == ("my_set", "x/my_set.jsonl")

    bad = {
        '{"context": "a", "options": ["b", "c"], "answer": 1': "2: not valid JSON",
        '{"options": ["b", "c"], "answer": 1}': "2: missing key 'context'",
        '{"context": "a", "options": ["b", "c"]}': "2: missing key 'answer'",
        '{"context": "a", "options": ["b", "c"], "answer": 2}': "2: answer 2 is not an index",
        '{"context": "a", "options": ["b", "c"], "answer": -1}': "2: answer -1 is not an index",
        '{"context": "a", "options": ["b", "c"], "answer": true}': "2: answer True is not",
        '{"context": "a", "options": ["b"], "answer": 0}': "2: 1 option(s); an item needs at "
                                                          "least 2",
        '{"context": "a", "options": ["b", ""], "answer": 0}': "2: option 1 is empty",
        '{"context": "a", "options": ["b", "b"], "answer": 0}': "2: two options are the same",
        '{"context": 3, "options": ["b", "c"], "answer": 0}': "2: context must be a string",
        '["a", ["b", "c"], 0]': "2: an item must be a JSON object",
    }
    path = tmp_path / "bad.jsonl"
    for line, message in bad.items():
        path.write_text('{"context": "a", "options": ["b", "c"], "answer": 0}\n' + line + "\n")
        with pytest.raises(T.TaskError) as caught:
            T.load_jsonl(path)
        text = str(caught.value)
        assert text.startswith(f"{path}:") and message in text and "\n" not in text, text
    path.write_text("\n")
    with pytest.raises(T.TaskError, match="no items"):
        T.load_jsonl(path)
    with pytest.raises(T.TaskError, match="task name 'Bad Name'"):
        T.load_jsonl(good, "Bad Name")


def test_spec_task_errors_name_the_file_and_key(tmp_path):
    path = write_spec(tmp_path)
    spec = load_spec(path)
    assert spec.tasks.names[0] == "next_chars" and spec.tasks.items == 12
    rung = expand(spec)[0]
    assert rung.tasks == spec.tasks.names and rung.task_items == 12
    assert rung.task_files == [f"mine={tmp_path / 'mine.jsonl'}"]

    def error(text):
        path.write_text(text)
        with pytest.raises(SpecError) as caught:
            load_spec(path)
        message = str(caught.value)
        assert message.startswith(str(path)) and "\n" not in message
        return message

    base = path.read_text()
    assert "tasks.names[1]: unknown task 'next_word'" in error(
        base.replace('"same_file_chars"', '"next_word"'))
    assert "tasks.files[0]: no such file 'none.jsonl'" in error(
        base.replace('"mine.jsonl"', '"none.jsonl"'))
    (tmp_path / "mine.jsonl").write_text('{"context": "a", "options": ["b"], "answer": 0}\n')
    assert f"tasks.files[0]: {tmp_path / 'mine.jsonl'}:1: 1 option(s)" in error(base)
    (tmp_path / "mine.jsonl").write_text('{"context": "a", "options": ["b", "c"], "answer": 0}\n')
    assert "two tasks are named 'identifier'" in error(
        base.replace('"mine.jsonl"', '"identifier=mine.jsonl"'))
    assert "tasks.items must be a positive integer" in error(base.replace("items = 12",
                                                                          "items = 0"))
    (tmp_path / "t.bin").write_bytes(np.arange(200, dtype=np.uint16).tobytes())
    assert "tasks need the corpus's text" in error(base.replace(
        'corpus = "stdlib"', 'corpus = "bins"\ntrain_bin = "t.bin"\nvalid_bin = "t.bin"'))


def test_a_task_the_held_out_text_cannot_make_is_a_spec_error_before_training(tmp_path, capsys):
    """Built-in tasks take their distractors from other held-out documents, so one held-out
    document makes none: --dry-run says so in one line (it used to surface as a TaskError when
    the first rung started scoring)."""
    import cli
    from ladders.corpus import name_uniform, text_corpus

    sources = sorted(p for p in Path(json.__file__).parent.parent.glob("*.py")
                     if 20_000 < p.stat().st_size < 60_000)[:12]
    # documents split by a hash of their paths relative to the glob's folder: the first file
    # prefix whose 12 documents hold out 3 or more at 0.5 and at most 1 at 0.01
    corpus = tmp_path / "corpus"
    for attempt in range(1000):
        names = [f"doc{attempt}-{k:02d}.txt" for k in range(len(sources))]
        held = {f: sum(name_uniform(n) < f for n in names) for f in (0.5, 0.01)}
        if held[0.5] >= 3 and held[0.01] <= 1:     # none below 0.01: the closest moves across
            break
    corpus.mkdir()
    for name, source in zip(names, sources):             # 12 standard-library modules
        (corpus / name).write_text(source.read_text(encoding="utf-8"))
    for fraction, held_out, code in ((0.5, None, 0), (0.01, 1, 2)):
        path = tmp_path / f"files-{fraction}.toml"
        path.write_text(write_spec(tmp_path).read_text().replace(
            'corpus = "stdlib"\nmax_bytes = 3_000_000',
            f'corpus = "files"\nfiles = ["{corpus}/*.txt"]\nvalid_fraction = {fraction}'))
        documents = split_corpus(text_corpus([f"{corpus}/*.txt"]), fraction)[1].documents
        assert len(documents) == held_out if held_out else len(documents) >= 3
        assert cli.main(["ladder", "run", str(path), "--dry-run"]) == code
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(path) in err[0]
    assert "tasks.names[0]: task next_chars: the held-out documents hold no candidate item" \
        in err[0] and "(1 held-out document(s)" in err[0] and "valid_fraction" in err[0]


# --- scoring -------------------------------------------------------------------------------------


def test_scores_match_an_explicit_loop():
    """acc and bits per byte against a hand computation, one sequence at a time."""
    window = 16
    task = T.Task("hand", [
        T.Item("def main(args):\n    return", (" 0", " args", "ü!"), 1),
        T.Item("x = 1\n", ("y = 2", "import os, re"), 0),        # context truncated
        T.Item("", ("abc", "é", "zz top"), 2),                         # empty context
    ])
    tokenizer, model = ByteTokenizer(), tiny_model(context=window)
    encoded = T.encode(task, tokenizer, window)
    got = T.option_log_likelihoods(model, encoded, batch=3)

    model.eval()
    expected, right, bits, size = [], 0, 0.0, 0
    with torch.no_grad():
        for item in task.items:
            context = list(item.context.encode()) or list(b"\n\n")
            per_char = []
            for j, option in enumerate(item.options):
                ids = list(option.encode())
                sequence = (context + ids)[-(window + 1):]
                logits, _ = model(torch.tensor([sequence[:-1]]))
                log_p = torch.log_softmax(logits[0].double(), -1)
                first = len(sequence) - len(ids)
                total = sum(float(log_p[t - 1, sequence[t]]) for t in range(first, len(sequence)))
                expected.append(total)
                per_char.append(total / len(option))
                if j == item.answer:
                    bits += -total / math.log(2)
                    size += len(option.encode())
            right += int(np.argmax(per_char)) == item.answer
    assert np.allclose(got, expected, rtol=1e-5, atol=1e-5)
    columns = T.score(model, [encoded])
    assert columns["acc:hand"] == right / 3
    assert columns["loss:hand"] == pytest.approx(bits / size, rel=1e-5)
    assert set(columns) == {"acc:hand", "loss:hand"}
    # ties go to the lower index; an option too long for the window is an error
    tied = T.metrics(encoded, np.zeros(len(encoded.x)))
    assert tied["acc:hand"] == pytest.approx(1 / 3)         # only item 1's answer is option 0
    with pytest.raises(T.TaskError, match="option 0 has 17 tokens; a window of 16 tokens scores at most 15"):
        T.encode(T.Task("long", [T.Item("a", ("x" * 17, "y"), 0)]), tokenizer, window)


def test_bpe_encoding_keeps_the_option_whole_and_truncates_the_context(splits, tmp_path):
    from ladders.tokenizer import train_bpe

    train, valid = splits
    tokenizer = train_bpe(train.documents[:20], 400, "test-tasks", tmp_path)
    window = 24
    task = T.build("identifier", valid.documents, 20, window)
    encoded = T.encode(task, tokenizer, window)
    assert encoded.x.shape == (80, window)
    for row in range(len(encoded.x)):
        item = task.items[encoded.item[row]]
        option = list(tokenizer.encode(item.options[encoded.option[row]]))
        scored = np.flatnonzero(encoded.mask[row])
        n = scored[-1] + 1                                   # the sequence's real length - 1
        sequence = [*encoded.x[row][:n].tolist(), int(encoded.y[row][n - 1])]
        assert encoded.y[row][scored].tolist() == option == sequence[-len(option):]
        context = list(tokenizer.encode(item.context))
        kept = sequence[:-len(option)]
        assert len(sequence) == min(window + 1, len(context) + len(option))
        assert kept == context[-len(kept):]                  # left-truncated, never empty


def test_an_untrained_model_is_near_chance(splits):
    _, valid = splits
    model = tiny_model(seed=3, width=32, context=64)
    encoded = [T.encode(T.build(name, valid.documents, 100, 64), ByteTokenizer(), 64)
               for name in T.BUILTIN]
    columns = T.score(model, encoded)
    accuracies = [columns[f"acc:{name}"] for name in T.BUILTIN]
    assert all(0.1 <= a <= 0.42 for a in accuracies), accuracies
    assert 0.18 <= np.mean(accuracies) <= 0.32, accuracies
    # an untrained byte model: about 8 bits per byte
    assert all(6.5 < columns[f"loss:{name}"] < 9.5 for name in T.BUILTIN)


# --- rows of the runner ------------------------------------------------------------------------


TASK_COLUMNS = [f"{kind}:{name}" for name in [*T.BUILTIN, "mine"] for kind in ("acc", "loss")]


def test_rows_of_a_branched_ladder_carry_every_task(tmp_path):
    path = write_spec(tmp_path, budgets="[branches]\nabsolute = [8_000, 12_800]", schedule="wsd")
    table = run_ladder(path, tmp_path / "l.parquet", device="cpu", progress=False)
    assert set(TASK_COLUMNS) <= set(table.columns)
    assert table["parent"].notna().any() and table["stable"].any()
    values = table[TASK_COLUMNS]
    assert np.isfinite(values.to_numpy()).all()
    for column in TASK_COLUMNS:
        if column.startswith("acc:"):
            assert table[column].between(0, 1).all()
        else:
            assert (table[column] > 0).all()
    assert set(table["acc:mine"]) <= {0, 0.5, 1}


def test_resume_with_tasks_is_exact(tmp_path, monkeypatch):
    """Killed after its first checkpoint and resumed: the same rows, task columns included."""
    import ladders.train as train

    rung = expand(load_spec(write_spec(tmp_path)))[0]
    rung = replace(rung, checkpoint_every=20)
    clean = train.train_rung(rung, tmp_path / "clean", device="cpu")
    original = train.token_data.batch_at

    def crash(tokens, step, *args, **kwargs):
        if step == 25:
            raise KeyboardInterrupt
        return original(tokens, step, *args, **kwargs)

    monkeypatch.setattr(train.token_data, "batch_at", crash)
    with pytest.raises(KeyboardInterrupt):
        train.train_rung(rung, tmp_path / "killed", device="cpu")
    monkeypatch.setattr(train.token_data, "batch_at", original)
    assert len(pd.read_parquet(tmp_path / "killed" / rung.run / "rows.parquet")) == 2
    resumed = train.train_rung(rung, tmp_path / "killed", device="cpu", resume=True)
    assert resumed["step"].tolist() == clean["step"].tolist() == [10, 20, 30, 40, 50]
    for column in ["loss", "train_loss", *TASK_COLUMNS]:
        assert np.allclose(resumed[column], clean[column], rtol=1e-6, atol=0), column


def test_dry_run_counts_the_task_scoring(tmp_path):
    from ladders.spec import estimate
    from ladders.spec.cost import row_steps, task_sequences

    rung = expand(load_spec(write_spec(tmp_path)))[0]
    assert task_sequences(rung) == 4 * 12 * 4 + 5 and row_steps(rung) == [10, 20, 30, 40, 50]
    with_tasks = estimate([rung], "cpu", 1e9)[0]
    without = estimate([replace(rung, tasks=[], task_files=[])], "cpu", 1e9)[0]
    assert without["flops_tasks"] == 0
    assert with_tasks["seconds"] == pytest.approx(
        without["seconds"] + with_tasks["flops_tasks"] / 1e9)
    assert with_tasks["flops_tasks"] == pytest.approx(
        with_tasks["flops"] / rung.tokens / 3 * 197 * 32 * 5)


# --- the bundled table ---------------------------------------------------------------------------


def test_bundled_cpu_tasks_table():
    from scaling.data.runs import read_runs

    table = read_runs(ROOT / "data" / "cpu_tasks" / "runs.parquet")
    for name in T.BUILTIN:
        assert table[f"acc:{name}"].between(0, 1).all()
        assert (table[f"loss:{name}"] > 0).all() and np.isfinite(table[f"loss:{name}"]).all()
    largest = table[(table["width"] == table["width"].max()) & ~table["stable"].astype(bool)]
    final = largest.loc[largest["tokens"].idxmax()]
    for name in T.BUILTIN:
        assert final[f"acc:{name}"] > 0.25 + 0.05, name
