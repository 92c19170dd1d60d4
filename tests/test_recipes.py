"""Per-size optimizer recipes (optimizer.recipe, ladders/spec/recipes.py): OLMo's formulas, the
"fixed" default leaving every rung as it was, the recipe rungs' batch/LR/warmup/beta2 per size,
the derived ladder.min_steps, and the recipe errors (one line, exit 2)."""

import math
import re
from pathlib import Path

import pytest

import cli
from ladders.model import GPTConfig, parameter_counts
from ladders.spec import SpecError, expand, load_spec
from ladders.spec.recipes import batch_sequences, batch_tokens, derived_min_steps, peak_lr
from scaling.data.schedules import parse

ROOT = Path(__file__).resolve().parents[1]

SPEC = """
[ladder]
name = "r"
context = 64
batch_size = 8
eval_batches = 4
[data]
corpus = "stdlib"
max_bytes = 300_000
[model]
sizes = [{ width = 32, depth = 2, heads = 2 }, { width = 64, depth = 2, heads = 4 }]
[optimizer]
recipe = "olmo"
schedules = ["wsd"]
[branches]
per_param = [4, 8]
"""


def write(tmp_path, text):
    path = tmp_path / "spec.toml"
    path.write_text(text)
    return path


def put(base, section, key, value):
    line = f"{key} = {value}"
    if re.search(rf"^{key} = ", base, flags=re.M):
        return re.sub(rf"^{key} = .*$", line, base, count=1, flags=re.M)
    return base.replace(f"[{section}]\n", f"[{section}]\n{line}\n", 1)


def test_olmo_formulas_at_the_reference_size_and_at_eight_times_it():
    # OLMo's 108M reference: 160 sequences of 2048 tokens and a peak LR of 0.0047
    assert batch_tokens(108e6, 327_680, 108e6) == 327_680
    assert batch_sequences(108e6, 327_680, 108e6, 2048) == 160
    assert peak_lr(108e6, 0.0047, 108e6) == pytest.approx(0.0047, rel=1e-12)
    # 8 x N: (8)^(2/3) = 4 x the batch, (8)^(-1/3) = half the LR
    assert batch_sequences(864e6, 327_680, 108e6, 2048) == 640
    assert peak_lr(864e6, 0.0047, 108e6) == pytest.approx(0.00235, rel=1e-12)
    # another context: the same tokens in sequences of that context, rounded
    assert batch_sequences(108e6, 327_680, 108e6, 1000) == 328
    # a multiple of micro_batch, and never below one sequence (or one micro-batch)
    assert batch_sequences(108e6, 327_680, 108e6, 2048, multiple=48) == 144
    assert batch_sequences(10, 327_680, 108e6, 2048) == 1
    assert batch_sequences(10, 327_680, 108e6, 2048, multiple=4) == 4
    assert derived_min_steps(3) == 20 and derived_min_steps(48) == 60
    assert derived_min_steps(17) == 22          # ceil(21.25)


def test_fixed_leaves_cpu_tiny_exactly_as_it_was():
    rungs = expand(load_spec(ROOT / "ladders/specs/cpu-tiny.toml"))
    assert len(rungs) == 25
    by_run = {r.run: r for r in rungs}
    # values of the ladder before optimizer.recipe existed
    first = by_run["cpu-tiny-w32-d2-v256-stable-wsd-s0"].to_dict()
    assert (first["steps"], first["tokens"], first["batch_size"], first["beta2"],
            first["eval_batches"]) == (210, 430080, 32, 0.95, 32)
    assert first["schedule"] == "constant:peak=0.008,warmup=2,steps=210"
    branch = by_run["cpu-tiny-w32-d2-v256-2tpp-wsd-s0"]
    assert (branch.steps, branch.branch_step) == (33, 26)
    assert branch.schedule == \
        "wsd:peak=0.008,warmup=2,steps=33,final=0.0008,decay_start=26,decay=linear"
    last = by_run["cpu-tiny-w96-d3-v256-16tpp-wsd-s0"]
    assert (last.steps, last.tokens, last.batch_size) == (2790, 5713920, 32)
    assert last.schedule == ("wsd:peak=0.00266667,warmup=17,steps=2790,final=0.000266667,"
                             "decay_start=2232,decay=linear")
    assert "pruning" not in first and set(first) >= {"beta2", "batch_size", "eval_batches"}


def test_olmo_rungs_set_batch_lr_warmup_and_beta2_per_size(tmp_path):
    spec = load_spec(write(tmp_path, SPEC))
    rungs = expand(spec)
    assert len(rungs) == 2 * 3                  # per size: a stable run and two branches
    seen = {}
    for rung in rungs:
        config = GPTConfig(**rung.model)
        n = parameter_counts(config)["nonembedding"]
        total = parameter_counts(config)["total"]
        schedule = parse(rung.schedule)
        batch = max(1, round(327_680 * (n / 108e6) ** (2 / 3) / 64))
        assert rung.batch_size == batch
        assert schedule.peak == pytest.approx(0.0047 * (n / 108e6) ** (-1 / 3), rel=1e-5)
        assert schedule.warmup == round(n / (batch * 64))          # N tokens
        assert rung.beta2 == 0.99                 # every batch under 524,288 tokens
        assert rung.tokens == rung.steps * batch * 64
        assert rung.eval_batches == math.ceil(4 * 8 / batch)      # ~32 held-out sequences
        if "8tpp" in rung.run:
            assert 8 * total <= rung.tokens < 8 * total + batch * 64
            assert rung.branch_step == rung.steps - round(0.2 * rung.steps)
        seen[config.width] = (rung.batch_size, schedule.peak, schedule.warmup)
    # the cpu-tiny sizes: w32 has N = 25,248, w64 N = 100,672
    assert seen[32][:1] == (19,) and seen[64][:1] == (49,)
    assert seen[32][2] == 21 and seen[64][2] == 32
    assert seen[32][1] == pytest.approx(0.0763, abs=1e-4)
    assert seen[64][1] == pytest.approx(0.04811, abs=1e-5)


def test_beta2_at_or_above_the_threshold_is_optimizer_beta2(tmp_path):
    text = put(put(SPEC, "optimizer", "recipe_beta2_threshold", 20_000), "optimizer", "beta2",
               0.97)
    rungs = expand(load_spec(write(tmp_path, text)))
    beta2 = {r.model["width"]: r.beta2 for r in rungs}
    # w32: 19 x 64 = 1,216 tokens a batch (below 20,000); w64: 49 x 64 = 3,136 (below)
    assert beta2 == {32: 0.99, 64: 0.99}
    text = put(text, "optimizer", "recipe_beta2_threshold", 2000)
    beta2 = {r.model["width"]: r.beta2 for r in expand(load_spec(write(tmp_path, text)))}
    assert beta2 == {32: 0.99, 64: 0.97}


def test_micro_batch_rounds_the_recipe_batch(tmp_path):
    rungs = expand(load_spec(write(tmp_path, put(SPEC, "ladder", "micro_batch", 4))))
    assert {r.model["width"]: r.batch_size for r in rungs} == {32: 20, 64: 48}


def test_mup_recipe_holds_the_lr_and_sweeps_it(tmp_path):
    text = put(put(put(SPEC, "model", "parametrization", '"mup"'), "optimizer", "recipe",
                   '"mup"'), "optimizer", "base_width", 32)
    text = put(text, "optimizer", "lrs", "[1e-3, 4e-3]")
    rungs = expand(load_spec(write(tmp_path, text)))
    assert {parse(r.schedule).peak for r in rungs} == {1e-3, 4e-3}
    assert {r.model["width"]: r.batch_size for r in rungs} == {32: 19, 64: 49}


def test_min_steps_is_derived_from_the_recipe_and_an_explicit_value_wins(tmp_path):
    # w32 warms up over 21 steps: its rungs need 27 (ceil 26.25); 0.9 tokens per parameter
    # gives it 25, whose 20% decay (5 steps) would start at step 20, in the warmup
    tight = put(SPEC, "branches", "per_param", "[0.9, 8]")
    with pytest.raises(SpecError) as caught:
        expand(load_spec(write(tmp_path, tight)))
    message = str(caught.value)
    assert "r-w32-d2-v256-0.9tpp-wsd-s0 25 optimizer step(s)" in message
    assert "at least 27 (1.25 x the warmup of 21 steps" in message
    assert "ladder.min_steps overrides it" in message
    rungs = expand(load_spec(write(tmp_path, put(
        put(tight, "ladder", "min_steps", 5), "branches", "per_param", "[1.2, 8]"))))
    assert min(r.steps for r in rungs) == 33
    # unset and no recipe: 20, as before the recipes
    fixed = put(put(tight, "optimizer", "recipe", '"fixed"'), "branches", "per_param", "[0.2, 8]")
    with pytest.raises(SpecError, match=r"needs at least 20 \(ladder.min_steps\)"):
        expand(load_spec(write(tmp_path, fixed)))
    # gpu-check with the recipe: every budget at least 1.25 x its size's warmup
    for rung in expand(load_spec(ROOT / "ladders/specs/gpu-check.toml")):
        if rung.parent is not None:
            assert rung.steps >= 1.25 * parse(rung.schedule).warmup
            assert rung.branch_step >= parse(rung.schedule).warmup


BAD = [
    ("recipe-key-without-recipe", put(SPEC, "optimizer", "recipe", '"fixed"').replace(
        "[optimizer]\n", "[optimizer]\nrecipe_lr = 0.01\n"),
     ["optimizer.recipe_lr is set but optimizer.recipe = 'fixed' uses no recipe"]),
    ("recipe-and-width-exponent", put(put(SPEC, "optimizer", "lr_width_exponent", 1.0),
                                      "optimizer", "base_width", 32),
     ["optimizer.lr_width_exponent = 1.0 scales the LR by width", "recipe = 'olmo'"]),
    ("olmo-recipe-and-lr-sweep", put(SPEC, "optimizer", "lrs", "[1e-3]"),
     ["optimizer.lrs sweeps the peak LR, but optimizer.recipe = 'olmo'"]),
    ("mup-recipe-standard-model", put(put(SPEC, "optimizer", "recipe", '"mup"'), "optimizer",
                                      "base_width", 32),
     ["optimizer.recipe = 'mup'", "set model.parametrization = 'mup'"]),
    ("unknown-recipe", put(SPEC, "optimizer", "recipe", '"kaplan"'),
     ["optimizer.recipe", "kaplan"]),
    ("recipe-batch-zero", put(SPEC, "optimizer", "recipe_batch", 0),
     ["optimizer.recipe_batch must be positive, got 0"]),
    ("recipe-beta2-one", put(SPEC, "optimizer", "recipe_beta2_below", 1.0),
     ["optimizer.recipe_beta2_below must be in [0, 1), got 1.0"]),
    ("warmup-after-first-branch-point", put(put(SPEC, "optimizer", "recipe_warmup_per_param", 6),
                                            "ladder", "min_steps", 1),
     ["branches.per_param: the branch of 4tpp", "inside the warmup of",
      "recipe = 'olmo' warms up over 6 x 25,248 tokens", "recipe_warmup_per_param"]),
]


@pytest.mark.parametrize("text, expected", [pytest.param(t, e, id=i) for i, t, e in BAD])
def test_bad_recipe_is_one_line_exit_2(tmp_path, capsys, text, expected):
    code = cli.main(["ladder", "run", str(write(tmp_path, text)), "--dry-run"])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err and "spec.toml" in err
    for piece in expected:
        assert piece in err, (piece, err)


def test_cpu_tiny_recipe_has_cpu_tiny_sizes_and_budgets():
    tiny = expand(load_spec(ROOT / "ladders/specs/cpu-tiny.toml"))
    recipe = expand(load_spec(ROOT / "ladders/specs/cpu-tiny-recipe.toml"))
    # the same models (base_width, unused by a standard model, is the LR rule's in cpu-tiny)
    assert [{**r.model, "base_width": 0} for r in tiny] == \
        [{**r.model, "base_width": 0} for r in recipe]
    assert [r.run.replace("cpu-tiny-recipe", "cpu-tiny") for r in recipe] == [r.run for r in tiny]
    for a, b in zip(tiny, recipe):      # the same budgets: tokens within one step of each other
        if a.parent is not None:
            assert abs(a.tokens - b.tokens) < max(a.batch_size, b.batch_size) * a.context


def test_dry_run_rows_carry_the_recipe_per_size(tmp_path):
    from ladders.spec import estimate
    from ladders.spec.cost import recipe_cells

    rows = {r["run"]: r for r in estimate(expand(load_spec(write(tmp_path, SPEC))), "cpu")}
    small, large = rows["r-w32-d2-v256-4tpp-wsd-s0"], rows["r-w64-d2-v256-4tpp-wsd-s0"]
    assert (small["batch_size"], small["warmup"], small["beta2"]) == (19, 21, 0.99)
    assert (large["batch_size"], large["warmup"]) == (49, 32)
    assert small["lr_peak"] == pytest.approx(0.0763, abs=1e-4)
    assert recipe_cells(small) == ("19", "0.0763", "21", "0.99")


def test_a_recipe_ladder_trains_each_size_with_its_own_batch_and_lr(tmp_path):
    import pandas as pd

    from ladders.launch import run_ladder

    text = (SPEC.replace("context = 64", "context = 32").replace("eval_batches = 4",
                                                                "eval_batches = 1\neval_every = 5")
            .replace("{ width = 32, depth = 2, heads = 2 }, { width = 64, depth = 2, heads = 4 }",
                     "{ width = 16, depth = 1, heads = 2 }, { width = 32, depth = 1, heads = 2 }")
            .replace("per_param = [4, 8]", "per_param = [2, 4]"))
    path = write(tmp_path, text)
    rungs = {r.run: r for r in expand(load_spec(path))}
    table = run_ladder(path, tmp_path / "runs.parquet", device="cpu", progress=False)
    assert isinstance(table, pd.DataFrame) and set(table["run"]) == set(rungs)
    for run, rows in table.groupby("run"):
        rung = rungs[run]
        assert set(rows["batch_size"]) == {rung.batch_size}
        assert list(rows["lr_peak"]) == pytest.approx([parse(rung.schedule).peak] * len(rows))
        assert rows["tokens"].max() == rung.tokens
    batches = {r.model["width"]: r.batch_size for r in rungs.values()}
    assert batches == {16: 10, 32: 25}         # N = 3,376 and 12,640: 10.2 and 24.5 sequences
