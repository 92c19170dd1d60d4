"""A spec's rungs: every combination of sizes × vocabularies × budgets × schedules × seeds is one
rung, i.e. one training run (`expand`); with an LR sweep (`optimizer.lrs`) every combination
again for each peak LR, the run id gaining `-lr<value>` after the size.

muP (`model.parametrization = "mup"`) keeps the base model's head size at every width and
scales the number of heads (the 1/head_dim attention scale is then the base's at every width):
the base's head size is that of the model.sizes entry at optimizer.base_width, else that of
model.sizes[0], and every width (and base_width) must be a multiple of it, split into heads of
exactly that size.

Seed repeats: the `ladder.repeat_sizes` smallest sizes (by non-embedding parameters) also run
every one of their rungs (every budget, vocabulary and schedule; in a branched ladder the stable
run and all its branches) with each of `ladder.repeat_seeds`, run ids ending in `-s<seed>` as
for `ladder.seeds`: otherwise identical runs whose final losses differ only by the seed, for
`scaling.engine.seeds.seed_scatter` to measure the run-to-run scatter where it is cheap.

Pruning (a [pruning] section with `sparsities`): every rung again for each final sparsity S,
the run id gaining `-sp<S>` after the size (`-sp0` for S = 0, a dense rung of the same ladder),
and the rung carrying its resolved `scaling.data.pruning_schedules` schedule string (`pruning`: the schedule
with this rung's steps= and prunable= weights, `ladders.pruning.prunable_count`; "dense" for
S = 0). Not in a branched ladder (a SpecError for now: the branches would share a pruned
prefix). Without [pruning] rungs, run ids and rung dicts are exactly as before.

Branches (cheap ladders: one warmup-stable run per size, a cooldown branch per budget; Hägele et
al. 2024, "Scaling Laws and Compute-Optimal Training Beyond Fixed Training Durations"). With a
[branches] section the budgets move from [tokens] to [branches], and `optimizer.schedules` must
be `["wsd"]` (plain: the decay is set there).

For each size (× vocabulary × seed) this makes one stable run, `<...>-stable-wsd-s<seed>`, that
warms up and then holds the peak LR (`constant:` schedule), and one branch per budget,
`<...>-<budget>-wsd-s<seed>`. A budget of S steps decays over d = max(1, round(decay_fraction·S))
steps, so its branch starts from the stable run's state at step S − d (its branch point: the
stable run saves `branch-<step>.pt` there, never overwritten) and trains the last d steps with
the WSD decay to `final_fraction`·peak. The branch's schedule string is the full WSD schedule of
a dedicated run of S steps (warmup, stable, decay), so a branch is step for step the same run as
a dedicated WSD run of its budget; its rows start after the branch point. All branches of a size
share one warmup: `warmup_fraction` of the smallest budget's steps (the warmup a dedicated run of
that budget would have; every branch point must come after it).

Per-size recipes (`optimizer.recipe`, `ladders.spec.recipes`): "olmo" and "mup" set each size's
batch (so its tokens per step, steps and branch points), peak LR, warmup (N tokens, the same for
all of a size's branches, which must start after it) and beta2; the held-out evaluation keeps
about `ladder.eval_batches` × `ladder.batch_size` sequences at every size. "fixed" (the default)
leaves every rung, run id and rung dict as before the key.

By default the stable run stops at the last branch point (the largest budget's decay start), not
at the largest budget: every step it trains is then the prefix of some branch, and running on at
constant LR to the largest budget would cost another decay_fraction of that budget for a curve
no law needs (its points are not annealed, so they are not Chinchilla points). Give
`stable_per_param` or `stable_tokens` to train it longer; a branch point beyond it is an error.

Rows of branched ladders carry `parent` (the stable run's id; null on the stable run),
`branch_step` (the branch point; 0 on the stable run) and `stable` (true on the stable run's
rows). Every row has `flops_own`, the FLOPs this run computed itself up to the row, while `flops`
counts from step 0 (a branch's shared prefix included, as the contract wants).

What depends on a size (a branch point inside the warmup or beyond the stable run, heads that do
not divide the width, a schedule that does not parse) is a one-line `SpecError` here; what only
the data can tell (a split too small for one sequence, a cap beyond the training split) is
`ladders.spec.corpus_check`.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field
from fractions import Fraction

from scaling.data.pruning_schedules import Pruning, PruningError
from scaling.data.schedules import ScheduleError, parse
import ladders.spec.recipes as recipes
from ladders.spec.recipes import FLOOR_STEPS
from ladders.spec.schema import Size, Spec, SpecError

# The shortest rung (`ladder.min_steps`, default 20): below this many optimizer steps a model's
# loss is still in its first fall, set by its initialisation and warmup, not by its size and
# budget (and a 5% warmup rounds to nothing). The bundled ladders' shortest rungs have 27
# (gpu-check) and 33 (cpu-tiny) steps. Smoke tests lower it.


@dataclass
class Rung:
    """One training run of the ladder: everything `train_rung` needs, and nothing else."""

    run: str                      # run id in the table
    model: dict                   # GPTConfig fields
    tokens: int                   # training tokens (= steps × batch_size × context)
    steps: int
    batch_size: int               # sequences per optimizer step, over all ranks (global)
    context: int
    schedule: str                 # scaling.data.schedules string, with this rung's steps
    seed: int
    weight_decay: float
    beta1: float
    beta2: float
    grad_clip: float
    eval_every: int
    eval_batches: int
    checkpoint_every: int
    compile: bool | str           # ladder.compile: false, true or a torch.compile mode
    data: dict = field(default_factory=dict)   # corpus, tokenizer and vocab size
    micro_batch: int | None = None  # sequences per forward/backward pass on one device; None:
    #                               the whole batch of each rank at once (no accumulation)
    parent: str | None = None     # a branch: run id of the stable run it starts from
    branch_step: int = 0          # a branch: the stable run's step it starts from
    branch_points: list[int] = field(default_factory=list)  # a stable run: steps to save
    #                               as branch-<step>.pt for its branches
    tasks: list[str] = field(default_factory=list)       # built-in tasks scored at every row
    task_items: int = 0           # items per built-in task
    task_files: list[str] = field(default_factory=list)  # "NAME=path" JSONL task files
    pruning: str | None = None    # a rung of a pruning ladder: its scaling.data.pruning_schedules schedule with
    #                               steps= and prunable= ("dense" for sparsity 0); None: no
    #                               pruning (left out of to_dict, so older rung.json still match)
    threads: int = 1              # intra-op CPU threads (the numerics depend on them); 1 is left
    #                               out of to_dict, so older rung.json still match

    @property
    def branched(self) -> bool:
        """True for the runs of a branched ladder: a stable run or one of its branches."""
        return self.parent is not None or bool(self.branch_points)

    def to_dict(self) -> dict:
        out = asdict(self)
        if out["pruning"] is None:            # rungs of ladders without [pruning]: as before
            del out["pruning"]
        if out["threads"] == 1:               # the default: rung dicts as before the key
            del out["threads"]
        return out


def expand(spec: Spec) -> list[Rung]:
    """Every rung of a spec (sizes × vocabularies × budgets × schedules × seeds), and every rung
    of the `ladder.repeat_sizes` smallest sizes again for each of `ladder.repeat_seeds` (after
    that size's rungs of `ladder.seeds`).

    A branched spec (a [branches] section) gives, per size × vocabulary × seed, its stable run
    followed by its branches, in order of budget: the order in which they can be trained.
    """
    from ladders import model as gpt

    where, ladder, opt = spec.path, spec.ladder, spec.optimizer
    budgets = [("per_param", b) for b in spec.budgets.per_param] + \
              [("absolute", b) for b in spec.budgets.absolute]
    rungs = []
    repeated = repeated_sizes(spec)
    if spec.model.parametrization == "mup":
        check_mup_heads(spec)
    recipes.check_spec(spec, SpecError)
    lrs = opt.lrs or [opt.lr]
    for index, size in enumerate(spec.model.sizes):
        seeds = ladder.seeds + (ladder.repeat_seeds if index in repeated else [])
        for vocab_size in spec.data.vocab_sizes:
            config = model_config(size, index, vocab_size, spec, gpt)
            counts = gpt.parameter_counts(config)
            basis = counts["total"] if spec.tokens.params_basis == "total" \
                else counts["nonembedding"]
            for lr, seed in itertools.product(lrs, seeds):
                recipe = None if opt.recipe == "fixed" else \
                    recipes.for_size(spec, counts["nonembedding"], lr)
                if recipe is not None:
                    peak = recipe.lr
                elif opt.lr_width_exponent == 0:
                    peak = lr
                else:
                    peak = lr * (opt.base_width / config.width) ** opt.lr_width_exponent
                batch_size = ladder.batch_size if recipe is None else recipe.batch_size
                per_step = batch_size * ladder.context     # tokens per optimizer step
                prefix = f"{ladder.name}-w{config.width}-d{config.depth}-v{vocab_size}" + \
                    (f"-lr{lr:g}" if opt.lrs else "")
                common = dict(
                    model=asdict(config), batch_size=batch_size,
                    micro_batch=ladder.micro_batch, context=ladder.context, seed=int(seed),
                    weight_decay=float(opt.weight_decay), beta1=float(opt.beta1),
                    beta2=float(opt.beta2 if recipe is None else recipe.beta2),
                    grad_clip=float(opt.grad_clip), eval_every=ladder.eval_every,
                    eval_batches=_eval_batches(ladder, batch_size),
                    checkpoint_every=ladder.checkpoint_every, compile=ladder.compile,
                    threads=int(ladder.threads),
                    data={**data_for_rung(spec), "vocab_size": int(vocab_size)},
                    tasks=list(spec.tasks.names), task_items=int(spec.tasks.items),
                    task_files=spec.task_files())
                if spec.branched:
                    rungs += _branch_rungs(budgets, spec, peak, basis, per_step, prefix, common,
                                           recipe)
                    continue
                sparsities = spec.pruning.sparsities or [None]
                for sparsity, (kind, budget), schedule_text in itertools.product(
                        sparsities, budgets, opt.schedules):
                    steps = _steps(budget * basis if kind == "per_param" else budget, per_step)
                    sized = prefix if sparsity is None else f"{prefix}-sp{sparsity:g}"
                    run = f"{sized}-{_label(kind, budget)}-{schedule_text.split(':')[0]}-s{seed}"
                    _check_steps(spec, "tokens", kind, budget, steps, run, basis, per_step,
                                 recipe)
                    schedule = _schedule(schedule_text, peak, steps, spec,
                                         None if recipe is None else
                                         recipe.warmup_steps(ladder.context))
                    pruning = None if sparsity is None else \
                        _pruning(spec, sparsity, steps, config, counts, run)
                    rungs.append(Rung(run=run, tokens=steps * per_step, steps=steps,
                                      schedule=schedule, pruning=pruning, **common))
    _cap_unique_tokens(spec, rungs)
    names = [r.run for r in rungs]
    if len(set(names)) != len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise SpecError(f"{where}: two rungs would both be named {twice!r}; make sizes distinct")
    return rungs


def _cap_unique_tokens(spec: Spec, rungs: list[Rung]) -> None:
    """Repeated data: give every rung's `data` the key `unique_tokens` (the distinct training
    tokens it sees; `ladders.data.repeat_offsets`), a multiple of the context: data.unique_tokens
    rounded down, or the rung's tokens / data.max_epochs rounded up. Uncapped rungs' data has no
    such key (their rung dicts, and so --resume of older folders, are as before the keys)."""
    data, context = spec.data, spec.ladder.context
    if data.unique_tokens is None and data.max_epochs is None:
        return
    if data.max_epochs is not None and spec.branched:
        raise SpecError(f"{spec.path}: data.max_epochs gives every budget its own unique tokens, "
                        "but a branch trains on its stable run's data; give data.unique_tokens "
                        "(one repeated set for the whole ladder)")
    for rung in rungs:
        if data.unique_tokens is not None:
            unique = data.unique_tokens // context * context
        else:
            per_epoch = Fraction(rung.tokens) / Fraction(str(data.max_epochs))
            unique = math.ceil(per_epoch / context) * context
        rung.data = {**rung.data, "unique_tokens": int(unique)}


def check_mup_heads(spec: Spec) -> int:
    """Under muP, the base's head size (see the module docstring); a SpecError for a width that
    is not a multiple of it, or is split into heads of another size."""
    from ladders import model as gpt

    where, base = spec.path, spec.optimizer.base_width
    vocab_size = spec.data.vocab_sizes[0]
    configs = [model_config(size, index, vocab_size, spec, gpt)
               for index, size in enumerate(spec.model.sizes)]
    at_base = [c for c in configs if c.width == base]
    head = (at_base or configs)[0].head_dim
    source = "its entry in model.sizes" if at_base else "model.sizes[0], as no entry has it"
    if base % head:
        raise SpecError(f"{where}: optimizer.base_width = {base} is not a multiple of the "
                        f"base's head size {head} (from {source}); muP keeps one head size")
    for index, config in enumerate(configs):
        if config.width % head:
            raise SpecError(f"{where}: model.sizes[{index}]: muP needs every width a multiple "
                            f"of the base's head size {head} (optimizer.base_width = {base}, "
                            f"{source}), got width {config.width}")
        if config.head_dim != head:
            raise SpecError(f"{where}: model.sizes[{index}]: muP keeps the base's head size "
                            f"{head} at every width; width {config.width} with "
                            f"heads = {config.heads} has head size {config.head_dim}, give "
                            f"heads = {config.width // head}")
    return head


def repeated_sizes(spec: Spec) -> set[int]:
    """Indices into model.sizes of the `ladder.repeat_sizes` smallest sizes, by non-embedding
    parameters (the same at every vocabulary; ties: the earlier entry), which also run every
    rung with each of `ladder.repeat_seeds`. Empty when there are no repeat seeds."""
    from ladders import model as gpt

    if not spec.ladder.repeat_seeds:
        return set()
    vocab_size = spec.data.vocab_sizes[0]
    counts = [gpt.parameter_counts(model_config(size, index, vocab_size, spec, gpt))["nonembedding"]
              for index, size in enumerate(spec.model.sizes)]
    order = sorted(range(len(counts)), key=lambda index: (counts[index], index))
    return set(order[:spec.ladder.repeat_sizes])


def _steps(tokens, per_step) -> int:
    """Optimizer steps that train at least `tokens` tokens (at least one)."""
    return max(1, math.ceil(tokens / per_step))


def _eval_batches(ladder, batch_size) -> int:
    """Held-out batches per evaluation: ladder.eval_batches, or with a recipe's per-size batch as
    many as hold ladder.eval_batches x ladder.batch_size sequences (rounded up), so that every
    size is scored on about the same held-out windows."""
    if batch_size == ladder.batch_size:
        return ladder.eval_batches
    return max(1, math.ceil(ladder.eval_batches * ladder.batch_size / batch_size))


def min_steps(spec, recipe=None) -> tuple[int, str]:
    """The shortest rung allowed, and what sets it: ladder.min_steps, else 20, else with a
    recipe `recipes.derived_min_steps` of the size's warmup."""
    if spec.ladder.min_steps is not None:
        return spec.ladder.min_steps, "ladder.min_steps"
    if recipe is None:
        return FLOOR_STEPS, "ladder.min_steps"
    warmup = recipe.warmup_steps(spec.ladder.context)
    least = recipes.derived_min_steps(warmup)
    if least == FLOOR_STEPS:
        return least, "ladder.min_steps"
    return least, (f"1.25 x the warmup of {warmup} steps, so that a 20% decay starts after it; "
                   f"optimizer.recipe = {spec.optimizer.recipe!r}, ladder.min_steps overrides it")


def _check_steps(spec, section, kind, budget, steps, run, basis, per_step, recipe=None) -> None:
    """A budget too short for a scaling-law point, or a warmup that rounds to no step: a
    SpecError naming the budget and the rung."""
    opt = spec.optimizer
    least, source = min_steps(spec, recipe)
    key = f"{section}.{kind}"
    if steps < least:
        needed = least * per_step / (basis if kind == "per_param" else 1)
        unit = " tokens per parameter" if kind == "per_param" else " tokens"
        raise SpecError(
            f"{spec.path}: {key} = {budget:g} gives rung {run} {steps} optimizer step(s) of "
            f"{per_step:,} tokens; a scaling-law point needs at least {least} "
            f"({source}): over fewer, the loss is still in its first fall, set by the "
            "initialisation and the warmup, not by the model's size and budget; raise it to at "
            f"least {needed:.3g}{unit}")
    if recipe is not None:
        return
    warmup = int(round(opt.warmup_fraction * steps))
    smoke_test = steps < FLOOR_STEPS                  # below the default: min_steps lowered
    if opt.warmup_fraction > 0 and warmup == 0 and not smoke_test:
        raise SpecError(
            f"{spec.path}: {key} = {budget:g}: optimizer.warmup_fraction = "
            f"{opt.warmup_fraction:g} of rung {run}'s {steps} steps rounds to no warmup step; "
            "raise the budget or the warmup fraction (or set it to 0 for no warmup)")


def _label(kind, budget) -> str:
    return f"{budget:g}tpp" if kind == "per_param" else f"{budget:.3g}tok"


def _branch_rungs(budgets, spec, peak, basis, per_step, prefix, common,
                  recipe=None) -> list[Rung]:
    """One size's stable run and its branches (see the module docstring)."""
    where, branches, opt = spec.path, spec.branches, spec.optimizer
    seed = common["seed"]
    plan = []                                   # (kind, budget, steps, branch point)
    for kind, budget in budgets:
        steps = _steps(budget * basis if kind == "per_param" else budget, per_step)
        _check_steps(spec, "branches", kind, budget, steps,
                     f"{prefix}-{_label(kind, budget)}-wsd-s{seed}", basis, per_step, recipe)
        decay_steps = max(1, int(round(branches.decay_fraction * steps)))
        plan.append((kind, budget, steps, steps - decay_steps))
    plan.sort(key=lambda item: (item[2], item[3]))
    if recipe is None:
        warmup = int(round(opt.warmup_fraction * plan[0][2]))
        lower = "lower optimizer.warmup_fraction or branches.decay_fraction"
    else:
        warmup = recipe.warmup_steps(spec.ladder.context)
        lower = (f"optimizer.recipe = {opt.recipe!r} warms up over "
                 f"{opt.recipe_warmup_per_param:g} x {recipe.params:,} tokens (N = the size's "
                 "non-embedding parameters); raise the budget, or lower "
                 "optimizer.recipe_warmup_per_param or branches.decay_fraction")
    if branches.stable_per_param is not None:
        stable_key, stable_steps = "stable_per_param", \
            _steps(branches.stable_per_param * basis, per_step)
    elif branches.stable_tokens is not None:
        stable_key, stable_steps = "stable_tokens", _steps(branches.stable_tokens, per_step)
    else:
        stable_key, stable_steps = None, max(point for *_, point in plan)
    final = opt.final_fraction * peak
    for kind, budget, steps, point in plan:
        what = f"branches.{kind}: the branch of {_label(kind, budget)} ({steps} steps)"
        if point > stable_steps:
            raise SpecError(f"{where}: {what} starts at step {point}, beyond the stable phase "
                            f"of {stable_steps} steps (branches.{stable_key} = "
                            f"{getattr(branches, stable_key)!r})")
        if point < warmup:
            raise SpecError(f"{where}: {what} starts at step {point}, inside the warmup of "
                            f"{warmup} steps; {lower}")
    if stable_steps < 1:
        raise SpecError(f"{where}: branches.decay_fraction = {branches.decay_fraction!r} "
                        "leaves no stable phase to share")
    try:
        stable_schedule = str(parse(f"constant:peak={peak!r},warmup={warmup},"
                                    f"steps={stable_steps}"))
        branch_schedules = [str(parse(
            f"wsd:peak={peak!r},warmup={warmup},steps={steps},final={final!r},"
            f"decay_start={point},decay={branches.decay}")) for _, _, steps, point in plan]
    except ScheduleError as exc:
        raise SpecError(f"{where}: branches: {exc}") from None
    stable = Rung(run=f"{prefix}-stable-wsd-s{seed}", tokens=stable_steps * per_step,
                  steps=stable_steps, schedule=stable_schedule,
                  branch_points=sorted({point for *_, point in plan}), **common)
    rungs = [stable]
    for (kind, budget, steps, point), schedule in zip(plan, branch_schedules):
        rungs.append(Rung(run=f"{prefix}-{_label(kind, budget)}-wsd-s{seed}",
                          tokens=steps * per_step, steps=steps, schedule=schedule,
                          parent=stable.run, branch_step=point, **common))
    return rungs


def model_config(size: Size, index, vocab_size, spec, gpt):
    """The GPTConfig of model.sizes[index] at this vocabulary size."""
    model, ladder = spec.model, spec.ladder
    common = dict(vocab_size=int(vocab_size), context=ladder.context, mlp=model.mlp,
                  tie_embeddings=model.tie_embeddings, parametrization=model.parametrization)
    if spec.optimizer.base_width is not None:      # unset: standard only, where it is unused
        common["base_width"] = spec.optimizer.base_width
    if model.output_mult != 1.0:                   # the default: rungs as before the key
        common["output_mult"] = float(model.output_mult)
    try:
        if size.target_params is not None:
            config = gpt.config_for_params(size.target_params, vocab_size=int(vocab_size),
                                           context=ladder.context)
            return gpt.GPTConfig(**{**asdict(config), **common})
        return gpt.GPTConfig(width=size.width, depth=size.depth, heads=size.heads, **common)
    except ValueError as exc:
        raise SpecError(f"{spec.path}: model.sizes[{index}]: {exc}") from None


def _schedule(text, peak, steps, spec, warmup=None) -> str:
    """The schedule string of a rung of `steps` steps, from an `optimizer.schedules` entry;
    `warmup` steps (a recipe's), else optimizer.warmup_fraction of the steps."""
    opt = spec.optimizer
    kind, _, options = str(text).partition(":")
    if warmup is None:
        warmup = int(round(opt.warmup_fraction * steps))
    final = opt.final_fraction * peak
    parts = [f"peak={peak!r}", f"steps={steps}", f"warmup={warmup}"]
    if kind in ("cosine", "wsd"):
        parts.append(f"final={final!r}")
    if kind == "wsd" and "decay_start" not in options and "decay_fraction" not in options:
        parts.append("decay_fraction=0.2")
    if options:
        parts.append(options)
    try:
        return str(parse(f"{kind}:{','.join(parts)}"))
    except ScheduleError as exc:
        raise SpecError(f"{spec.path}: optimizer.schedules: {exc}") from None


def _pruning(spec, sparsity, steps, config, counts, run) -> str:
    """A pruning rung's schedule string, with its steps and prunable weights ("dense" for
    sparsity 0); a window that holds no pruning event for it is a SpecError."""
    from ladders.pruning import prunable_count

    if sparsity == 0:
        return "dense"
    settings = spec.pruning
    try:
        schedule = Pruning(settings.schedule, float(sparsity), float(settings.start),
                           float(settings.end), int(settings.every)).for_run(
            steps, prunable_count(config))
        plan = schedule.plan(counts["total"])
    except PruningError as exc:
        raise SpecError(f"{spec.path}: pruning: {exc}") from None
    if len(plan.events) == 0:
        raise SpecError(f"{spec.path}: pruning: the window start = {settings.start!r} … end = "
                        f"{settings.end!r} holds no pruning event for rung {run} ({steps} "
                        "steps); widen it or lower pruning.every")
    return str(schedule)


def data_for_rung(spec) -> dict:
    """A rung's data settings: data paths resolved, the keys `ladders.train.load_data` reads."""
    data = spec.data
    out = {"corpus": data.corpus, "max_bytes": data.max_bytes, "tokenizer": data.tokenizer,
           "bin_dtype": data.bin_dtype, "valid_fraction": data.valid_fraction}
    out["files"] = [str(spec.resolve(p)) for p in data.files]
    for key in ("train_bin", "valid_bin"):
        name = getattr(data, key)
        out[key] = str(spec.resolve(name)) if name else None
    if data.corpus == "hf":            # only then, so that other rungs' settings stay as they were
        out.update(hf_dataset=data.hf_dataset, hf_config=data.hf_config, hf_split=data.hf_split,
                   hf_revision=data.hf_revision, text_column=data.text_column,
                   fallback=data.fallback,
                   hf_files=[str(spec.resolve(p)) for p in data.hf_files])
    if data.tokenizer_file is not None:
        out["tokenizer_file"] = str(spec.resolve(data.tokenizer_file))
    return out
