"""Ladder specs: expansion into rungs, dry runs, and bad specs (one line, exit 2)."""

import re
from pathlib import Path

import pytest

import cli
from ladders.model import GPTConfig, parameter_counts
from scaling.schedules import parse
from ladders.spec import expand, load_spec

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


def test_missing_spec_and_missing_out(tmp_path, capsys):
    assert cli.main(["ladder", "run", str(tmp_path / "none.toml"), "--dry-run"]) == 2
    assert "no such spec file" in capsys.readouterr().err
    assert cli.main(["ladder", "run", str(write(tmp_path, GOOD))]) == 2
    assert "--out" in capsys.readouterr().err
