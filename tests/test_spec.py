"""Ladder specs: expansion into rungs, dry runs, and bad specs (one line, exit 2)."""

import dataclasses
import re
from pathlib import Path

import pytest

import cli
from ladders.model import GPTConfig, parameter_counts
from ladders.spec import expand, load_spec, schema_markdown
from ladders.spec.docs import field_docs
from ladders.spec.schema import SECTIONS
from scaling.data.schedules import parse

ROOT = Path(__file__).resolve().parents[1]

GOOD = """
[ladder]
name = "t"
context = 32
batch_size = 8
seeds = [0, 1]
[data]
corpus = "stdlib"
max_bytes = 200_000
[model]
sizes = [{ width = 32, depth = 2, heads = 2 }, { width = 64, depth = 2, heads = 4 },
         { target_params = 3e5 }]
[tokens]
per_param = [5]
absolute = [100_000]
[optimizer]
lr = 1e-3
base_width = 32
lr_width_exponent = 1.0
schedules = ["cosine", "wsd:decay_fraction=0.3,decay=sqrt"]
"""


# A branched ladder: one stable run per size, a cooldown branch per budget.
BRANCHED = GOOD.replace("per_param = [5]\nabsolute = [100_000]\n", "").replace(
    'schedules = ["cosine", "wsd:decay_fraction=0.3,decay=sqrt"]', 'schedules = ["wsd"]') + """
[branches]
per_param = [3, 6, 12]
decay_fraction = 0.2
decay = "sqrt"
"""


def write(tmp_path, text, name="spec.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_expansion_covers_every_combination(tmp_path):
    rungs = expand(load_spec(write(tmp_path, GOOD)))
    assert len(rungs) == 3 * 2 * 2 * 2       # sizes x budgets x schedules x seeds
    assert len({r.run for r in rungs}) == len(rungs)
    for rung in rungs:
        config = GPTConfig(**rung.model)
        schedule = parse(rung.schedule)
        assert rung.tokens == rung.steps * 8 * 32 and schedule.steps == rung.steps
        # LR rule: peak = lr * (base_width / width) ** 1
        assert schedule.peak == pytest.approx(1e-3 * 32 / config.width)
        if "5tpp" in rung.run:
            wanted = 5 * parameter_counts(config)["total"]
            assert wanted <= rung.tokens < wanted + 8 * 32
    targeted = [r for r in rungs if r.model["width"] not in (32, 64)]
    assert targeted, "target_params produced a distinct size"
    nonembed = parameter_counts(GPTConfig(**targeted[0].model))["nonembedding"]
    assert 3e5 / 1.5 <= nonembed <= 3e5 * 1.5
    assert any(r.schedule.startswith("wsd:") and "decay=sqrt" in r.schedule for r in rungs)


def test_bundled_specs_expand():
    tiny = expand(load_spec(ROOT / "ladders/specs/cpu-tiny.toml"))
    sizes = sorted({parameter_counts(GPTConfig(**r.model))["total"] for r in tiny})
    assert len(sizes) >= 5 and sizes[-1] / sizes[0] >= 10
    small = expand(load_spec(ROOT / "ladders/specs/gpu-small.toml"))
    totals = sorted({parameter_counts(GPTConfig(**r.model))["total"] for r in small})
    assert 1.5e7 <= totals[0] and totals[-1] <= 4e8


def test_dry_run_lists_rungs(tmp_path, capsys):
    assert cli.main(["ladder", "run", str(write(tmp_path, GOOD)), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "24 rungs" in out and "est. s" in out and "t-w32-d2-v256-5tpp-cosine-s0" in out


def put(base, section, key, value):
    """`base` with `key = value` in [section]: the key's line replaced, or added to the section."""
    line = f"{key} = {value}"
    if re.search(rf"^{key} = ", base, flags=re.M):
        return re.sub(rf"^{key} = .*$", line, base, count=1, flags=re.M)
    return base.replace(f"[{section}]\n", f"[{section}]\n{line}\n", 1)


BAD = [
    ("unknown-key", GOOD.replace("seeds = [0, 1]", "seeds = [0, 1]\nspeed = 3"),
     ["unknown key ladder.speed"]),
    ("unknown-section", GOOD + "\n[extras]\nx = 1\n", ["unknown section [extras]"]),
    ("negative-size", GOOD.replace("width = 32, depth = 2", "width = -32, depth = 2"),
     ["model.sizes[0].width", "positive"]),
    ("heads-not-dividing", GOOD.replace("width = 64, depth = 2, heads = 4",
                                        "width = 64, depth = 2, heads = 5"),
     ["model.sizes[1]", "heads"]),
    ("missing-corpus-path", GOOD.replace('corpus = "stdlib"',
                                         'corpus = "files"\nfiles = ["nowhere/*.txt"]'),
     ["data.files", "nowhere/*.txt", "matches no file"]),
    ("vocab-below-bytes", GOOD.replace('max_bytes = 200_000',
                                       'max_bytes = 200_000\ntokenizer = "bpe"\nvocab_sizes = [200]'),
     ["vocab_sizes", "256-byte alphabet"]),
    ("bytes-vocab-not-256", GOOD.replace('max_bytes = 200_000',
                                         'max_bytes = 200_000\nvocab_sizes = [512]'),
     ["bytes tokenizer has V = 256"]),
    ("bad-schedule", GOOD.replace('"cosine", ', '"cosine:decay=cubic", '), ["schedules"]),
    ("unknown-schedule", GOOD.replace('"cosine", ', '"triangle", '), ["unknown schedule"]),
    ("empty-sizes", re.sub(r"sizes = \[.*?\]\n", "sizes = []\n", GOOD, flags=re.S),
     ["model.sizes is empty"]),
    ("no-budget", GOOD.replace("per_param = [5]\nabsolute = [100_000]", ""),
     ["tokens.per_param or tokens.absolute"]),
    ("negative-budget", GOOD.replace("per_param = [5]", "per_param = [-5]"),
     ["tokens.per_param", "positive"]),
    ("bad-size-key", GOOD.replace("{ target_params = 3e5 }", "{ target = 3e5 }"),
     ["unknown key 'target'"]),
    ("not-toml", "[ladder\nname=", ["not valid TOML"]),
    ("bad-context", GOOD.replace("context = 32", "context = 0"), ["ladder.context"]),
    ("branch-beyond-stable", BRANCHED.replace("decay = ", "stable_per_param = 8\ndecay = "),
     ["branches.per_param", "12tpp", "beyond the stable phase", "branches.stable_per_param = 8"]),
    ("branch-decay-zero", BRANCHED.replace("decay_fraction = 0.2", "decay_fraction = 0"),
     ["branches.decay_fraction must be in (0, 1], got 0"]),
    ("branch-decay-above-one", BRANCHED.replace("decay_fraction = 0.2", "decay_fraction = 1.5"),
     ["branches.decay_fraction must be in (0, 1], got 1.5"]),
    ("branches-on-cosine", BRANCHED.replace('schedules = ["wsd"]', 'schedules = ["cosine"]'),
     ["optimizer.schedules", "branches need the WSD schedule", "'cosine'"]),
    ("branches-with-wsd-options", BRANCHED.replace('["wsd"]', '["wsd:decay=linear"]'),
     ["optimizer.schedules", "sets its decay in [branches]"]),
    ("branch-inside-warmup", BRANCHED.replace("[optimizer]", "[optimizer]\nwarmup_fraction = 0.9"),
     ["branches.per_param", "inside the warmup"]),
    # a budget of one step trained a meaningless point and zeroed its size's warmup (issue 10)
    ("budget-of-one-step", GOOD.replace("per_param = [5]", "per_param = [0.001]"),
     ["tokens.per_param = 0.001 gives rung t-w32-d2-v256-0.001tpp-cosine-s0 1 optimizer step(s) "
      "of 256 tokens", "at least 20 (ladder.min_steps)", "first fall"]),
    ("branch-of-one-step", BRANCHED.replace("per_param = [3, 6, 12]", "per_param = [0.001, 6]"),
     ["branches.per_param = 0.001 gives rung t-w32-d2-v256-0.001tpp-wsd-s0 1 optimizer step(s)",
      "raise it to at least"]),
    ("absolute-budget-too-short", GOOD.replace("absolute = [100_000]", "absolute = [4_000]"),
     ["tokens.absolute = 4000", "16 optimizer step(s)", "raise it to at least 5.12e+03 tokens"]),
    ("warmup-rounds-to-nothing", put(GOOD.replace("absolute = [100_000]", "absolute = [5_000]"),
                                     "optimizer", "warmup_fraction", 0.02),
     ["tokens.absolute = 5000", "warmup_fraction = 0.02", "20 steps rounds to no warmup step"]),
    # repeated data (data.unique_tokens, data.max_epochs)
    ("repeat-cap-and-epochs", put(put(GOOD, "data", "unique_tokens", 100_000), "data",
                                  "max_epochs", 4),
     ["give data.unique_tokens or data.max_epochs, not both"]),
    ("repeat-cap-zero", put(GOOD, "data", "unique_tokens", 0),
     ["data.unique_tokens must be a positive integer, got 0"]),
    ("repeat-cap-not-an-integer", put(GOOD, "data", "unique_tokens", 1.5e5),
     ["data.unique_tokens must be an integer, got 150000.0"]),
    ("repeat-epochs-negative", put(GOOD, "data", "max_epochs", -1),
     ["data.max_epochs must be positive, got -1"]),
    ("repeat-cap-below-context", put(GOOD, "data", "unique_tokens", 31),
     ["data.unique_tokens = 31 is fewer than one sequence of ladder.context = 32 tokens"]),
    ("repeat-cap-beyond-split", put(GOOD, "data", "unique_tokens", 1_000_000),
     ["data.unique_tokens = 1_000_000 needs 1,000,001 distinct training tokens, but "
      "data.max_bytes = 200_000 leaves the training split"]),
    ("repeat-epochs-beyond-split", put(GOOD, "data", "max_epochs", 0.1),
     ["data.max_epochs = 0.1 needs", "distinct training tokens, but data.max_bytes = 200_000 "
      "leaves the training split"]),
    ("repeat-epochs-on-branches", put(BRANCHED, "data", "max_epochs", 4),
     ["data.max_epochs gives every budget its own unique tokens", "give data.unique_tokens"]),
    # found only by training before (an internal error, exit 1, after --dry-run passed)
    ("max-bytes-below-first-file", GOOD.replace("max_bytes = 200_000", "max_bytes = 1000"),
     ["data.max_bytes = 1_000 is smaller than the first standard-library file"]),
    ("held-out-split-too-small", put(put(GOOD.replace("context = 32", "context = 4096")
                                         .replace("max_bytes = 200_000", "max_bytes = 20_000"),
                                         "ladder", "min_steps", 1), "optimizer",
                                     "warmup_fraction", 0),
     ["data.max_bytes = 20_000 leaves the held-out split", "fewer than one sequence of "
      "ladder.context + 1 = 4097 tokens"]),
]


@pytest.mark.parametrize("text, expected", [pytest.param(t, e, id=i) for i, t, e in BAD])
def test_bad_spec_is_one_line_exit_2(tmp_path, capsys, text, expected):
    code = cli.main(["ladder", "run", str(write(tmp_path, text)), "--dry-run"])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "spec.toml" in err or "TOML" in err
    for piece in expected:
        assert piece in err, (piece, err)


# Per section, a bad key, a bad type and a bad value: each a one-line error naming the key.
BAD_BY_SECTION = [
    ("ladder-key", put(GOOD, "ladder", "batch", 8), ["unknown key ladder.batch", "batch_size"]),
    ("ladder-type", put(GOOD, "ladder", "context", '"64"'),
     ["ladder.context must be an integer, got '64'"]),
    ("ladder-type-list", put(GOOD, "ladder", "seeds", 0),
     ["ladder.seeds must be a list of integers, got 0"]),
    ("ladder-value", put(GOOD, "ladder", "eval_every", 0),
     ["ladder.eval_every must be a positive integer, got 0"]),
    ("ladder-value-micro-batch", put(GOOD, "ladder", "micro_batch", 3),
     ["ladder.batch_size = 8 is not a multiple of ladder.micro_batch = 3"]),
    ("ladder-value-micro-batch-zero", put(GOOD, "ladder", "micro_batch", 0),
     ["ladder.micro_batch must be a positive integer, got 0"]),
    ("ladder-value-name", put(GOOD, "ladder", "name", '"my ladder"'),
     ["ladder.name must be letters, digits", "'my ladder'"]),
    ("ladder-type-repeat-seeds", put(GOOD, "ladder", "repeat_seeds", 2),
     ["ladder.repeat_seeds must be a list of integers, got 2"]),
    ("ladder-value-repeat-seed-negative", put(GOOD, "ladder", "repeat_seeds", "[2, -1]"),
     ["ladder.repeat_seeds must be non-negative, got -1"]),
    ("ladder-value-repeat-seed-in-seeds", put(GOOD, "ladder", "repeat_seeds", "[2, 1]"),
     ["ladder.repeat_seeds repeats seed 1 of ladder.seeds"]),
    ("ladder-value-repeat-seed-twice", put(GOOD, "ladder", "repeat_seeds", "[2, 3, 2]"),
     ["ladder.repeat_seeds lists seed 2 twice"]),
    ("ladder-value-seed-twice", put(GOOD, "ladder", "seeds", "[0, 0]"),
     ["ladder.seeds lists seed 0 twice"]),
    ("ladder-value-repeat-sizes-zero", put(GOOD, "ladder", "repeat_sizes", 0),
     ["ladder.repeat_sizes must be a positive integer, got 0"]),
    ("ladder-value-repeat-sizes-too-many", put(GOOD, "ladder", "repeat_sizes", 4),
     ["ladder.repeat_sizes = 4 is more than the 3 size(s) of model.sizes"]),
    ("data-key", put(GOOD, "data", "shuffle", "true"), ["unknown key data.shuffle"]),
    ("data-type", put(GOOD, "data", "max_bytes", '"2MB"'),
     ["data.max_bytes must be an integer, got '2MB'"]),
    ("data-type-item", put(GOOD, "data", "vocab_sizes", "[256.0]"),
     ["data.vocab_sizes[0] must be an integer, got 256.0"]),
    ("data-value", put(GOOD, "data", "corpus", '"web"'),
     ["data.corpus must be one of 'stdlib', 'files', 'bins', 'hf', got 'web'"]),
    ("data-value-fraction", put(GOOD, "data", "valid_fraction", 1.0),
     ["data.valid_fraction must be in (0, 1), got 1.0"]),
    ("model-key", put(GOOD, "model", "dropout", 0.1), ["unknown key model.dropout"]),
    ("model-type", put(GOOD, "model", "tie_embeddings", '"yes"'),
     ["model.tie_embeddings must be true or false, got 'yes'"]),
    ("model-type-size", GOOD.replace("width = 32, depth", "width = 32.5, depth"),
     ["model.sizes[0].width must be an integer, got 32.5"]),
    ("model-type-sizes", re.sub(r"sizes = \[.*?\]\n", "sizes = 3\n", GOOD, flags=re.S),
     ["model.sizes must be a list of tables", "got 3"]),
    ("model-value", put(GOOD, "model", "mlp", '"relu"'),
     ["model.mlp must be one of 'swiglu', 'gelu', got 'relu'"]),
    ("model-value-size", GOOD.replace("{ width = 32, depth = 2, heads = 2 }",
                                      "{ width = 32, depth = 2 }"),
     ["model.sizes[0]: missing 'heads'"]),
    ("model-value-size-both", GOOD.replace("{ target_params = 3e5 }",
                                           "{ target_params = 3e5, width = 64 }"),
     ["model.sizes[2]: give target_params alone"]),
    ("tokens-key", put(GOOD, "tokens", "per_token", "[5]"), ["unknown key tokens.per_token"]),
    ("tokens-type", put(GOOD, "tokens", "per_param", 5),
     ["tokens.per_param must be a list of numbers, got 5"]),
    ("tokens-value", put(GOOD, "tokens", "params_basis", '"all"'),
     ["tokens.params_basis must be one of 'total', 'nonembedding', got 'all'"]),
    ("optimizer-key", put(GOOD, "optimizer", "momentum", 0.9), ["unknown key optimizer.momentum"]),
    ("optimizer-type", put(GOOD, "optimizer", "lr", '"1e-3"'),
     ["optimizer.lr must be a number, got '1e-3'"]),
    ("optimizer-type-bool", put(GOOD, "optimizer", "grad_clip", "false"),
     ["optimizer.grad_clip must be a number, got False"]),
    ("optimizer-value", put(GOOD, "optimizer", "lr", 0), ["optimizer.lr must be positive, got 0"]),
    ("optimizer-value-nan", put(GOOD, "optimizer", "lr", "nan"),
     ["optimizer.lr must be positive, got nan"]),
    ("optimizer-value-beta", put(GOOD, "optimizer", "beta2", 1.0),
     ["optimizer.beta2 must be in [0, 1), got 1.0"]),
    ("optimizer-value-warmup", put(GOOD, "optimizer", "warmup_fraction", 2),
     ["optimizer.warmup_fraction must be in [0, 1], got 2"]),
    ("branches-key", put(BRANCHED, "branches", "decay_shape", '"sqrt"'),
     ["unknown key branches.decay_shape"]),
    ("branches-type", put(BRANCHED, "branches", "decay_fraction", '"20%"'),
     ["branches.decay_fraction must be a number, got '20%'"]),
    ("branches-value", put(BRANCHED, "branches", "decay", '"cubic"'),
     ["branches.decay must be one of 'linear', 'cosine', 'geometric', 'sqrt', got 'cubic'"]),
    ("branches-value-stable", put(put(BRANCHED, "branches", "stable_tokens", 1e6), "branches",
                                  "stable_per_param", 20),
     ["give branches.stable_per_param or branches.stable_tokens, not both"]),
    ("tasks-key", put(GOOD + "[tasks]\n", "tasks", "tasks", '["next_line"]'), ["unknown key tasks.tasks"]),
    ("tasks-type", put(GOOD + "[tasks]\n", "tasks", "items", '"200"'),
     ["tasks.items must be an integer, got '200'"]),
    ("tasks-value", put(GOOD + "[tasks]\n", "tasks", "names", '["next_line", "hellaswag"]'),
     ["tasks.names[1]: unknown task 'hellaswag'; built-in: next_chars"]),
    ("pruning-key", put(GOOD + "[pruning]\n", "pruning", "sparsity", 0.5),
     ["unknown key pruning.sparsity", "sparsities"]),
    ("pruning-type", put(GOOD + "[pruning]\n", "pruning", "every", 2.5),
     ["pruning.every must be an integer, got 2.5"]),
    ("pruning-value", put(GOOD + "[pruning]\n", "pruning", "sparsities", "[0.5, 1]"),
     ["pruning.sparsities[1] must be in [0, 1), got 1"]),
    ("cluster-key", put(GOOD + "[cluster]\n", "cluster", "gres", '"gpu:1"'),
     ["unknown key cluster.gres", "gpus_per_node"]),
    ("cluster-type", put(GOOD + "[cluster]\n", "cluster", "time", 1.5),
     ["cluster.time must be an integer or a string, got 1.5"]),
    ("cluster-value", put(GOOD + "[cluster]\n", "cluster", "time", '"90 min"'),
     ["cluster.time: cannot read '90 min' as a time limit"]),
    ("section-not-a-table", "branches = 3\n" + GOOD, ["[branches] must be a table", "got 3"]),
]


def test_every_section_has_a_bad_key_type_and_value_case():
    ids = {i for i, _, _ in BAD_BY_SECTION}
    for section in SECTIONS:
        for kind in ("key", "type", "value"):
            assert f"{section}-{kind}" in ids, (section, kind)


@pytest.mark.parametrize("text, expected",
                         [pytest.param(t, e, id=i) for i, t, e in BAD_BY_SECTION])
def test_bad_key_type_or_value_in_each_section(tmp_path, capsys, text, expected):
    test_bad_spec_is_one_line_exit_2(tmp_path, capsys, text, expected)


def test_micro_batch_is_carried_on_every_rung_and_changes_nothing_else(tmp_path):
    plain = expand(load_spec(write(tmp_path, GOOD, "plain.toml")))
    split = expand(load_spec(write(tmp_path, put(GOOD, "ladder", "micro_batch", 2), "split.toml")))
    assert [r.micro_batch for r in plain] == [None] * 24
    assert [r.micro_batch for r in split] == [2] * 24
    assert [{**r.to_dict(), "micro_batch": 2} for r in plain] == [r.to_dict() for r in split]
    assert all(r.batch_size == 8 for r in split)          # batch_size stays the global batch
    branched = expand(load_spec(write(tmp_path, put(BRANCHED, "ladder", "micro_batch", 8),
                                      "branched.toml")))
    assert {r.micro_batch for r in branched} == {8}


# 2 sizes (the smaller listed second) x 2 budgets, one schedule, seed 0
TWO_SIZES = put(put(put(GOOD, "ladder", "seeds", "[0]"), "ladder", "repeat_seeds", "[1, 2]"),
                "optimizer", "schedules", '["cosine"]').replace(
    "{ width = 32, depth = 2, heads = 2 }, { width = 64, depth = 2, heads = 4 },\n"
    "         { target_params = 3e5 }", "{ width = 64, depth = 2, heads = 4 }, "
    "{ width = 32, depth = 2, heads = 2 }")


def test_repeat_seeds_repeat_every_rung_of_the_smallest_sizes(tmp_path, capsys):
    rungs = expand(load_spec(write(tmp_path, TWO_SIZES)))
    assert len(rungs) == 2 * 2 + 2 * 2              # sizes x budgets, + repeats x budgets
    assert [r.run for r in rungs] == [
        "t-w64-d2-v256-5tpp-cosine-s0", "t-w64-d2-v256-1e+05tok-cosine-s0",
        "t-w32-d2-v256-5tpp-cosine-s0", "t-w32-d2-v256-1e+05tok-cosine-s0",
        "t-w32-d2-v256-5tpp-cosine-s1", "t-w32-d2-v256-1e+05tok-cosine-s1",
        "t-w32-d2-v256-5tpp-cosine-s2", "t-w32-d2-v256-1e+05tok-cosine-s2"]
    assert [r.seed for r in rungs] == [0, 0, 0, 0, 1, 1, 2, 2]
    # a repeat is its rung with another seed, and nothing else
    by_run = {r.run: r.to_dict() for r in rungs}
    for seed in (1, 2):
        repeat = by_run[f"t-w32-d2-v256-5tpp-cosine-s{seed}"]
        assert {**repeat, "run": "", "seed": 0} == \
            {**by_run["t-w32-d2-v256-5tpp-cosine-s0"], "run": "", "seed": 0}
    # repeat_sizes = 2: both sizes; the dry run counts the repeats
    both = expand(load_spec(write(tmp_path, put(TWO_SIZES, "ladder", "repeat_sizes", 2),
                                  "both.toml")))
    assert len(both) == 2 * 2 * 3 and {r.seed for r in both if "w64" in r.run} == {0, 1, 2}
    assert cli.main(["ladder", "run", str(tmp_path / "spec.toml"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "8 rungs" in out and "t-w32-d2-v256-1e+05tok-cosine-s2" in out
    # no repeat seeds: repeat_sizes changes nothing
    plain = put(TWO_SIZES, "ladder", "repeat_seeds", "[]")
    assert len(expand(load_spec(write(tmp_path, put(plain, "ladder", "repeat_sizes", 2),
                                      "plain.toml")))) == 4


def test_branched_ladders_repeat_the_stable_run_and_every_branch(tmp_path):
    text = put(put(BRANCHED, "ladder", "repeat_seeds", "[7]"), "ladder", "repeat_sizes", 2)
    rungs = expand(load_spec(write(tmp_path, text)))
    assert len(rungs) == 3 * 2 * 4 + 2 * 4          # sizes x seeds x (stable + 3 branches)
    repeats = [r for r in rungs if r.seed == 7]
    assert [r.run for r in repeats] == [
        "t-w32-d2-v256-stable-wsd-s7", "t-w32-d2-v256-3tpp-wsd-s7", "t-w32-d2-v256-6tpp-wsd-s7",
        "t-w32-d2-v256-12tpp-wsd-s7", "t-w64-d2-v256-stable-wsd-s7",
        "t-w64-d2-v256-3tpp-wsd-s7", "t-w64-d2-v256-6tpp-wsd-s7", "t-w64-d2-v256-12tpp-wsd-s7"]
    assert {r.parent for r in repeats if r.parent} == {"t-w32-d2-v256-stable-wsd-s7",
                                                        "t-w64-d2-v256-stable-wsd-s7"}
    # the target_params size is the largest: it runs seeds 0 and 1 only
    widths = {r.model["width"] for r in rungs} - {32, 64}
    assert {r.seed for r in rungs if r.model["width"] in widths} == {0, 1}


def test_the_ladders_page_lists_every_spec_key():
    text = (ROOT / "docs" / "ladders.md").read_text()
    begin = text.index("<!-- spec keys")
    table = text[text.index("\n", begin) + 1:text.index("<!-- end of spec keys -->")].strip()
    assert table == schema_markdown(), \
        "docs/ladders.md's spec key table is stale: paste `python -m ladders.spec` between its markers"
    for name, cls in SECTIONS.items():
        for key in field_docs(cls):
            assert f"| `{name}.{key}` |" in table


def test_field_comments_document_the_schema():
    docs = field_docs(SECTIONS["ladder"])
    assert docs["context"] == "sequence length, tokens"
    # a comment line below a field continues its comment
    assert docs["micro_batch"] == ("sequences per forward/backward pass on one device; unset: "
                                   "batch_size per rank (no accumulation)")
    assert all(docs.values())
    assert list(docs) == [f.name for f in dataclasses.fields(SECTIONS["ladder"])]


def test_branched_spec_expands_to_stable_runs_and_branches(tmp_path):
    rungs = expand(load_spec(write(tmp_path, BRANCHED)))
    assert len(rungs) == 3 * 2 * (1 + 3)     # sizes x seeds x (stable + 3 branches)
    stable = [r for r in rungs if r.branch_points]
    assert len(stable) == 6 and all(r.schedule.startswith("constant:") for r in stable)
    for rung in stable:
        branches = [r for r in rungs if r.parent == rung.run]
        assert len(branches) == 3
        assert rung.branch_points == [b.branch_step for b in branches]
        assert rung.steps == branches[-1].branch_step           # stops at the last branch point
        for branch in branches:
            schedule = parse(branch.schedule)
            assert schedule.kind == "wsd" and schedule.decay == "sqrt"
            assert schedule.decay_start == branch.branch_step
            assert schedule.steps - branch.branch_step == round(0.2 * schedule.steps)
            assert schedule.final == pytest.approx(0.1 * schedule.peak, rel=1e-5)


def test_bundled_specs_by_name_from_any_directory(tmp_path, capsys, monkeypatch):
    """`scaling ladder run cpu-tiny` finds the packaged spec wherever it runs, and `scaling
    ladder specs` lists the bundled specs with their rungs and FLOPs."""
    monkeypatch.chdir(tmp_path)
    assert cli.main(["ladder", "run", str(ROOT / "ladders/specs/cpu-tiny.toml"),
                     "--dry-run"]) == 0
    by_path = capsys.readouterr().out
    for name in ("cpu-tiny", "cpu-tiny.toml"):
        assert cli.main(["ladder", "run", name, "--dry-run"]) == 0
        assert capsys.readouterr().out == by_path
    assert cli.main(["ladder", "specs"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["spec", "rungs", "FLOPs", "what"]
    rows = {line.split()[0]: line.split()[1:3] for line in lines[1:] if line.strip()
            and not line.startswith("(")}
    assert rows == {"cpu-coord": ["4", "7.22e+11"], "cpu-mup": ["27", "1.37e+14"],
                    "cpu-mup-lr": ["162", "6.35e+13"], "cpu-mup-lr-sp": ["81", "3.17e+13"],
                    "cpu-repeat": ["18", "6.35e+12"],
                    "cpu-schedules": ["3", "1.18e+13"], "cpu-sparse": ["36", "2.88e+13"],
                    "cpu-tasks": ["25", "2.66e+13"],
                    "cpu-tiny": ["25", "2.66e+13"], "cpu-tiny-recipe": ["25", "2.66e+13"],
                    "cpu-tiny-seeds": ["45", "2.81e+13"], "cpu-vocab": ["64", "2.71e+13"],
                    "gpu-check": ["25", "7.61e+15"], "gpu-small": ["25", "2.46e+19"]}
    write(tmp_path, GOOD, "cpu-tiny.toml")          # a file of that name here wins
    assert cli.main(["ladder", "run", "cpu-tiny.toml", "--dry-run"]) == 0
    assert "24 rungs" in capsys.readouterr().out


def test_missing_spec_and_missing_out(tmp_path, capsys):
    assert cli.main(["ladder", "run", str(tmp_path / "none.toml"), "--dry-run"]) == 2
    assert "no such spec file" in capsys.readouterr().err
    assert cli.main(["ladder", "run", str(write(tmp_path, GOOD))]) == 2
    assert "--out" in capsys.readouterr().err


def test_dump_toml_writes_back_what_it_read():
    import tomllib

    from ladders.spec import dump_toml

    spec = tomllib.loads((ROOT / "ladders/specs/cpu-tiny.toml").read_text())
    spec["data"]["files"] = ['odd "name"\\.txt']
    assert tomllib.loads(dump_toml(spec)) == spec


def test_a_corpus_too_small_stops_the_run_before_any_rung(tmp_path, capsys):
    """`max_bytes = 1000` passed --dry-run and died in training with an internal error (exit
    1); now the run stops at once, exit 2, one line, before any rung's folder exists."""
    spec = write(tmp_path, GOOD.replace("max_bytes = 200_000", "max_bytes = 1000"))
    out = tmp_path / "out" / "ladder.parquet"
    assert cli.main(["ladder", "run", str(spec), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "data.max_bytes = 1_000 is smaller than the first" in err
    assert not (tmp_path / "out" / "ladder.rungs").exists() and not out.exists()
