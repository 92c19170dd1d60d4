"""Ladder specs (TOML) and their expansion into rungs.

A spec names sizes × token budgets × vocabularies × schedules × seeds; every combination is one
rung, i.e. one training run. Example (ladders/specs/cpu-tiny.toml is a complete one):

    [ladder]
    name = "cpu-tiny"
    context = 64                    # sequence length
    batch_size = 16                 # sequences per optimizer step (global, over all ranks)
    eval_every = 25                 # steps between held-out evaluations
    eval_batches = 8                # batches per evaluation
    checkpoint_every = 100          # steps between checkpoints
    seeds = [0]

    [data]
    corpus = "stdlib"               # "stdlib" | "files" | "bins"
    max_bytes = 3_000_000           # stdlib: cap on corpus size
    files = ["notes/*.txt"]         # corpus = "files": globs
    train_bin = "train.bin"         # corpus = "bins": pre-tokenised uint16/uint32 files
    valid_bin = "valid.bin"
    bin_dtype = "uint16"
    tokenizer = "bytes"             # "bytes" (V = 256) | "bpe"
    vocab_sizes = [256]

    [model]
    sizes = [{ width = 32, depth = 2, heads = 2 }, { target_params = 2e5 }]
    mlp = "swiglu"
    tie_embeddings = true
    parametrization = "standard"    # "standard" | "mup"

    [tokens]
    per_param = [20]                # tokens per parameter (of `params_basis`) ...
    absolute = []                   # ... and/or absolute token budgets
    params_basis = "total"          # "total" | "nonembedding"

    [optimizer]
    lr = 3e-3                       # peak LR at base_width
    lr_width_exponent = 0.0         # peak LR = lr * (base_width / width) ** exponent
    base_width = 64
    weight_decay = 0.1
    beta1 = 0.9
    beta2 = 0.95
    grad_clip = 1.0
    warmup_fraction = 0.05
    final_fraction = 0.1            # cosine floor / WSD end, as a fraction of the peak
    schedules = ["cosine"]          # kinds, optionally with options: "wsd:decay_fraction=0.2"

Branches (cheap ladders: one warmup-stable run per size, a cooldown branch per budget; Hägele et
al. 2024, "Scaling Laws and Compute-Optimal Training Beyond Fixed Training Durations"). With a
[branches] section the budgets move from [tokens] to [branches], and `optimizer.schedules` must
be `["wsd"]` (plain: the decay is set here):

    [branches]
    per_param = [3, 6, 12]          # budgets (tokens per parameter of tokens.params_basis) ...
    absolute = []                   # ... and/or absolute token budgets
    decay_fraction = 0.2            # each branch decays over this fraction of its own budget
    decay = "linear"                # "linear" | "cosine" | "sqrt" (1 − sqrt) | "geometric"
    stable_per_param = 10           # optional: length of the stable run (tokens per parameter)
    stable_tokens = 2e6             # ... or in tokens; default: the last branch point

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

By default the stable run stops at the last branch point (the largest budget's decay start), not
at the largest budget: every step it trains is then the prefix of some branch, and running on at
constant LR to the largest budget would cost another decay_fraction of that budget for a curve
no law needs (its points are not annealed, so they are not Chinchilla points). Give
`stable_per_param` or `stable_tokens` to train it longer; a branch point beyond it is an error.

Rows of branched ladders carry `parent` (the stable run's id; null on the stable run),
`branch_step` (the branch point; 0 on the stable run) and `stable` (true on the stable run's
rows). Every row has `flops_own`, the FLOPs this run computed itself up to the row, while `flops`
counts from step 0 (a branch's shared prefix included, as the contract wants).

Unknown keys, impossible sizes and missing files are `SpecError`s: one line, exit 2 from the CLI.
"""

from __future__ import annotations

import glob
import itertools
import math
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

from scaling.errors import ScalingError

SECTIONS = {
    "ladder": {"name": "cpu", "context": 64, "batch_size": 16, "eval_every": 25,
               "eval_batches": 8, "checkpoint_every": 100, "seeds": [0], "compile": False,
               "flops_per_second": None},
    "data": {"corpus": "stdlib", "max_bytes": None, "files": [], "train_bin": None,
             "valid_bin": None, "bin_dtype": "uint16", "tokenizer": "bytes", "vocab_sizes": [256],
             "valid_fraction": 0.05},
    "model": {"sizes": [], "mlp": "swiglu", "tie_embeddings": True,
              "parametrization": "standard"},
    "tokens": {"per_param": [], "absolute": [], "params_basis": "total"},
    "optimizer": {"lr": 3e-3, "lr_width_exponent": 0.0, "base_width": 64, "weight_decay": 0.1,
                  "beta1": 0.9, "beta2": 0.95, "grad_clip": 1.0, "warmup_fraction": 0.05,
                  "final_fraction": 0.1, "schedules": ["cosine"]},
    "branches": {"per_param": [], "absolute": [], "decay_fraction": 0.2, "decay": "linear",
                 "stable_per_param": None, "stable_tokens": None},
}
SIZE_KEYS = {"width", "depth", "heads", "target_params"}
# Assumed sustained training throughput for --dry-run time estimates, FLOP/s.
DEFAULT_FLOPS_PER_SECOND = {"cpu": 1.5e10, "cuda": 2.0e14}


class SpecError(ScalingError):
    """A ladder spec that cannot be run: one line naming the file and the key."""


@dataclass
class Rung:
    """One training run of the ladder: everything `train_rung` needs, and nothing else."""

    run: str                      # run id in the table
    model: dict                   # GPTConfig fields
    tokens: int                   # training tokens (= steps × batch_size × context)
    steps: int
    batch_size: int
    context: int
    schedule: str                 # ladders.schedules string, with this rung's steps
    seed: int
    weight_decay: float
    beta1: float
    beta2: float
    grad_clip: float
    eval_every: int
    eval_batches: int
    checkpoint_every: int
    compile: bool
    data: dict = field(default_factory=dict)   # corpus, tokenizer and vocab size
    parent: str | None = None     # a branch: run id of the stable run it starts from
    branch_step: int = 0          # a branch: the stable run's step it starts from
    branch_points: list[int] = field(default_factory=list)  # a stable run: steps to save
    #                               as branch-<step>.pt for its branches

    @property
    def branched(self) -> bool:
        """True for the runs of a branched ladder: a stable run or one of its branches."""
        return self.parent is not None or bool(self.branch_points)

    def to_dict(self) -> dict:
        return asdict(self)


def load_spec(path) -> dict:
    """Read and check a spec: every section filled with defaults; unknown keys are errors."""
    path = Path(path)
    if not path.exists():
        raise SpecError(f"{path}: no such spec file")
    try:
        raw = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: not valid TOML ({exc})") from None
    spec = {}
    for section in raw:
        if section not in SECTIONS:
            raise SpecError(f"{path}: unknown section [{section}]; known: {', '.join(SECTIONS)}")
    for section, defaults in SECTIONS.items():
        given = raw.get(section, {})
        if not isinstance(given, dict):
            raise SpecError(f"{path}: [{section}] must be a table")
        unknown = sorted(set(given) - set(defaults))
        if unknown:
            raise SpecError(f"{path}: unknown key {section}.{unknown[0]}; known: "
                            f"{', '.join(sorted(defaults))}")
        spec[section] = {**defaults, **given}
    spec["path"] = str(path)
    spec["root"] = str(path.parent)
    spec["branched"] = "branches" in raw
    return spec


def expand(spec: dict) -> list[Rung]:
    """Every rung of a spec (sizes × vocabularies × budgets × schedules × seeds).

    A branched spec (a [branches] section) gives, per size × vocabulary × seed, its stable run
    followed by its branches, in order of budget: the order in which they can be trained.
    """
    from ladders import model as gpt

    where = spec["path"]
    ladder, data, model, tokens, opt, branches = (spec[k] for k in SECTIONS)
    for key in ("context", "batch_size", "eval_every", "eval_batches", "checkpoint_every"):
        _positive_int(ladder[key], f"ladder.{key}", where)
    _check_data(data, spec)
    if not model["sizes"]:
        raise SpecError(f"{where}: model.sizes is empty")
    branched = spec.get("branched", False)
    if branched:
        for kind in ("per_param", "absolute"):
            if tokens[kind]:
                raise SpecError(f"{where}: tokens.{kind}: a branched ladder takes its budgets "
                                f"from [branches] (branches.per_param, branches.absolute)")
        budget_section = branches
        _check_branches(branches, opt, where)
    else:
        budget_section = tokens
    section = "branches" if branched else "tokens"
    if not (budget_section["per_param"] or budget_section["absolute"]):
        raise SpecError(f"{where}: give {section}.per_param or {section}.absolute")
    if tokens["params_basis"] not in ("total", "nonembedding"):
        raise SpecError(f"{where}: tokens.params_basis must be 'total' or 'nonembedding'")
    for key in ("lr", "base_width"):
        if not _is_positive(opt[key]):
            raise SpecError(f"{where}: optimizer.{key} must be positive, got {opt[key]!r}")
    for key in ("warmup_fraction", "final_fraction"):
        if not (isinstance(opt[key], (int, float)) and 0 <= opt[key] <= 1):
            raise SpecError(f"{where}: optimizer.{key} must be in [0, 1], got {opt[key]!r}")
    budgets = [("per_param", b) for b in budget_section["per_param"]] + \
              [("absolute", b) for b in budget_section["absolute"]]
    for kind, budget in budgets:
        if not _is_positive(budget):
            raise SpecError(f"{where}: {section}.{kind} values must be positive, got {budget!r}")
    rungs = []
    per_step = ladder["batch_size"] * ladder["context"]     # tokens per optimizer step
    for index, size in enumerate(model["sizes"]):
        for vocab_size in data["vocab_sizes"]:
            config = _config(size, index, vocab_size, ladder, model, opt, where, gpt)
            counts = gpt.parameter_counts(config)
            basis = counts["total"] if tokens["params_basis"] == "total" else counts["nonembedding"]
            peak = opt["lr"] * (opt["base_width"] / config.width) ** opt["lr_width_exponent"]
            prefix = f"{ladder['name']}-w{config.width}-d{config.depth}-v{vocab_size}"
            for seed in ladder["seeds"]:
                common = dict(
                    model=asdict(config), batch_size=ladder["batch_size"],
                    context=ladder["context"], seed=int(seed),
                    weight_decay=float(opt["weight_decay"]), beta1=float(opt["beta1"]),
                    beta2=float(opt["beta2"]), grad_clip=float(opt["grad_clip"]),
                    eval_every=ladder["eval_every"], eval_batches=ladder["eval_batches"],
                    checkpoint_every=ladder["checkpoint_every"], compile=bool(ladder["compile"]),
                    data={**_data_for_rung(data, spec), "vocab_size": int(vocab_size)})
                if branched:
                    rungs += _branch_rungs(budgets, branches, opt, peak, basis, per_step,
                                           prefix, common, where)
                    continue
                for (kind, budget), schedule_text in itertools.product(budgets,
                                                                       opt["schedules"]):
                    steps = _steps(budget * basis if kind == "per_param" else budget, per_step)
                    schedule = _schedule(schedule_text, peak, steps, opt, where)
                    run = f"{prefix}-{_label(kind, budget)}-{schedule_text.split(':')[0]}-s{seed}"
                    rungs.append(Rung(run=run, tokens=steps * per_step, steps=steps,
                                      schedule=schedule, **common))
    names = [r.run for r in rungs]
    if len(set(names)) != len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise SpecError(f"{where}: two rungs would both be named {twice!r}; make sizes distinct")
    return rungs


def _steps(tokens, per_step) -> int:
    """Optimizer steps that train at least `tokens` tokens (at least one)."""
    return max(1, math.ceil(tokens / per_step))


def _label(kind, budget) -> str:
    return f"{budget:g}tpp" if kind == "per_param" else f"{budget:.3g}tok"


def _check_branches(branches, opt, where):
    """The [branches] settings that do not depend on a size; one-line `SpecError`s."""
    fraction = branches["decay_fraction"]
    if not (isinstance(fraction, (int, float)) and not isinstance(fraction, bool)
            and 0 < fraction <= 1):
        raise SpecError(f"{where}: branches.decay_fraction must be in (0, 1], got {fraction!r}")
    from scaling.schedules import DECAYS

    if branches["decay"] not in DECAYS:
        raise SpecError(f"{where}: branches.decay must be one of {', '.join(DECAYS)}, "
                        f"got {branches['decay']!r}")
    texts = [str(t) for t in opt["schedules"]]
    wrong = [t for t in texts if t.partition(":")[0].strip() != "wsd"]
    if wrong:
        raise SpecError(f"{where}: optimizer.schedules: branches need the WSD schedule "
                        f"(schedules = [\"wsd\"]), got {wrong[0]!r}")
    if texts != ["wsd"]:
        raise SpecError(f"{where}: optimizer.schedules: a branched ladder sets its decay in "
                        f"[branches]; give schedules = [\"wsd\"], got {texts!r}")
    given = [k for k in ("stable_per_param", "stable_tokens") if branches[k] is not None]
    if len(given) > 1:
        raise SpecError(f"{where}: give branches.stable_per_param or branches.stable_tokens, "
                        "not both")
    for key in given:
        if not _is_positive(branches[key]):
            raise SpecError(f"{where}: branches.{key} must be positive, got {branches[key]!r}")


def _branch_rungs(budgets, branches, opt, peak, basis, per_step, prefix, common,
                  where) -> list[Rung]:
    """One size's stable run and its branches (see the module docstring)."""
    from scaling.schedules import ScheduleError, parse

    seed = common["seed"]
    plan = []                                   # (kind, budget, steps, branch point)
    for kind, budget in budgets:
        steps = _steps(budget * basis if kind == "per_param" else budget, per_step)
        decay_steps = max(1, int(round(branches["decay_fraction"] * steps)))
        plan.append((kind, budget, steps, steps - decay_steps))
    plan.sort(key=lambda item: (item[2], item[3]))
    warmup = int(round(opt["warmup_fraction"] * plan[0][2]))
    if branches["stable_per_param"] is not None:
        stable_key, stable_steps = "stable_per_param", \
            _steps(branches["stable_per_param"] * basis, per_step)
    elif branches["stable_tokens"] is not None:
        stable_key, stable_steps = "stable_tokens", _steps(branches["stable_tokens"], per_step)
    else:
        stable_key, stable_steps = None, max(point for *_, point in plan)
    final = opt["final_fraction"] * peak
    for kind, budget, steps, point in plan:
        what = f"branches.{kind}: the branch of {_label(kind, budget)} ({steps} steps)"
        if point > stable_steps:
            raise SpecError(f"{where}: {what} starts at step {point}, beyond the stable phase "
                            f"of {stable_steps} steps (branches.{stable_key} = "
                            f"{branches[stable_key]!r})")
        if point < warmup:
            raise SpecError(f"{where}: {what} starts at step {point}, inside the warmup of "
                            f"{warmup} steps; lower optimizer.warmup_fraction or "
                            "branches.decay_fraction")
    if stable_steps < 1:
        raise SpecError(f"{where}: branches.decay_fraction = {branches['decay_fraction']!r} "
                        "leaves no stable phase to share")
    try:
        stable_schedule = str(parse(f"constant:peak={peak!r},warmup={warmup},"
                                    f"steps={stable_steps}"))
        branch_schedules = [str(parse(
            f"wsd:peak={peak!r},warmup={warmup},steps={steps},final={final!r},"
            f"decay_start={point},decay={branches['decay']}")) for _, _, steps, point in plan]
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


def _config(size, index, vocab_size, ladder, model, opt, where, gpt):
    if not isinstance(size, dict) or not size:
        raise SpecError(f"{where}: model.sizes[{index}] must be a table like "
                        "{ width = 64, depth = 2, heads = 2 } or { target_params = 1e5 }")
    unknown = sorted(set(size) - SIZE_KEYS)
    if unknown:
        raise SpecError(f"{where}: model.sizes[{index}]: unknown key {unknown[0]!r}; known: "
                        f"{', '.join(sorted(SIZE_KEYS))}")
    if not _is_positive(vocab_size) or int(vocab_size) != vocab_size:
        raise SpecError(f"{where}: data.vocab_sizes must be positive integers, got {vocab_size!r}")
    common = dict(vocab_size=int(vocab_size), context=ladder["context"], mlp=model["mlp"],
                  tie_embeddings=model["tie_embeddings"],
                  parametrization=model["parametrization"], base_width=opt["base_width"])
    try:
        if "target_params" in size:
            if set(size) != {"target_params"}:
                raise SpecError(f"{where}: model.sizes[{index}]: give target_params alone or "
                                "width, depth and heads")
            if not _is_positive(size["target_params"]):
                raise SpecError(f"{where}: model.sizes[{index}].target_params must be positive")
            config = gpt.config_for_params(size["target_params"], vocab_size=int(vocab_size),
                                           context=ladder["context"])
            return gpt.GPTConfig(**{**asdict(config), **common})
        missing = sorted({"width", "depth", "heads"} - set(size))
        if missing:
            raise SpecError(f"{where}: model.sizes[{index}]: missing {missing[0]!r}")
        for key in ("width", "depth", "heads"):
            _positive_int(size[key], f"model.sizes[{index}].{key}", where)
        return gpt.GPTConfig(width=size["width"], depth=size["depth"], heads=size["heads"],
                             **common)
    except (ValueError, TypeError) as exc:
        if isinstance(exc, SpecError):
            raise
        raise SpecError(f"{where}: model.sizes[{index}]: {exc}") from None


def _schedule(text, peak, steps, opt, where) -> str:
    """The schedule string of a rung of `steps` steps, from an `optimizer.schedules` entry."""
    from scaling.schedules import ScheduleError, parse

    try:
        return str(_parse_schedule(text, peak, steps, opt, parse))
    except ScheduleError as exc:
        raise SpecError(f"{where}: optimizer.schedules: {exc}") from None


def _parse_schedule(text, peak, steps, opt, parse):
    kind, _, options = str(text).partition(":")
    warmup = int(round(opt["warmup_fraction"] * steps))
    final = opt["final_fraction"] * peak
    parts = [f"peak={peak!r}", f"steps={steps}", f"warmup={warmup}"]
    if kind in ("cosine", "wsd"):
        parts.append(f"final={final!r}")
    if kind == "wsd" and "decay_start" not in options and "decay_fraction" not in options:
        parts.append("decay_fraction=0.2")
    if options:
        parts.append(options)
    return parse(f"{kind}:{','.join(parts)}")


def _check_data(data, spec):
    where, root = spec["path"], Path(spec["root"])
    corpus = data["corpus"]
    if corpus not in ("stdlib", "files", "bins"):
        raise SpecError(f"{where}: data.corpus must be 'stdlib', 'files' or 'bins', got {corpus!r}")
    if corpus == "files":
        if not data["files"]:
            raise SpecError(f"{where}: data.corpus = 'files' needs data.files (globs)")
        for pattern in data["files"]:
            if not glob.glob(str(_resolve(root, pattern))):
                raise SpecError(f"{where}: data.files: {pattern!r} matches no file")
    if corpus == "bins":
        for key in ("train_bin", "valid_bin"):
            if not data[key] or not _resolve(root, data[key]).exists():
                raise SpecError(f"{where}: data.{key}: no such file {data[key]!r}")
        if data["bin_dtype"] not in ("uint16", "uint32"):
            raise SpecError(f"{where}: data.bin_dtype must be 'uint16' or 'uint32'")
    if data["tokenizer"] not in ("bytes", "bpe"):
        raise SpecError(f"{where}: data.tokenizer must be 'bytes' or 'bpe', got {data['tokenizer']!r}")
    if not data["vocab_sizes"]:
        raise SpecError(f"{where}: data.vocab_sizes is empty")
    for vocab_size in data["vocab_sizes"]:
        if data["tokenizer"] == "bytes" and corpus != "bins" and vocab_size != 256:
            raise SpecError(f"{where}: data.vocab_sizes: the bytes tokenizer has V = 256, "
                            f"got {vocab_size!r}")
        if data["tokenizer"] == "bpe" and corpus != "bins" and \
                (not isinstance(vocab_size, int) or vocab_size <= 256):
            raise SpecError(f"{where}: data.vocab_sizes: a BPE vocabulary must be larger than "
                            f"the 256-byte alphabet, got {vocab_size!r}")


def _data_for_rung(data, spec) -> dict:
    root = Path(spec["root"])
    out = {k: data[k] for k in ("corpus", "max_bytes", "tokenizer", "bin_dtype", "valid_fraction")}
    out["files"] = [str(_resolve(root, p)) for p in data["files"]]
    for key in ("train_bin", "valid_bin"):
        out[key] = str(_resolve(root, data[key])) if data[key] else None
    return out


def _resolve(root: Path, name) -> Path:
    path = Path(name)
    return path if path.is_absolute() or path.exists() else root / path


def _is_positive(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and \
        math.isfinite(value) and value > 0


def _positive_int(value, key, where):
    if not (isinstance(value, int) and not isinstance(value, bool) and value > 0):
        raise SpecError(f"{where}: {key} must be a positive integer, got {value!r}")


def estimate(rungs: list[Rung], device: str, flops_per_second: float | None = None) -> list[dict]:
    """Params, tokens, FLOPs and estimated seconds of each rung, for --dry-run.

    `tokens`, `steps` and `flops` count from step 0 (a branch's shared prefix included: what a
    dedicated run of that budget costs); `flops_own` and `seconds` count only what the rung
    trains itself (a branch: its steps after the branch point).
    """
    from ladders import model as gpt

    rate = flops_per_second or DEFAULT_FLOPS_PER_SECOND["cuda" if device == "cuda" else "cpu"]
    rows = []
    for rung in rungs:
        config = gpt.GPTConfig(**rung.model)
        counts = gpt.parameter_counts(config)
        per_token = gpt.flops_per_token(config)
        flops = per_token * rung.tokens
        flops_own = per_token * (rung.steps - rung.branch_step) * rung.batch_size * rung.context
        rows.append({"run": rung.run, "params": counts["total"],
                     "params_nonembed": counts["nonembedding"], "tokens": rung.tokens,
                     "steps": rung.steps, "flops": flops, "flops_own": flops_own,
                     "seconds": flops_own / rate, "stable": bool(rung.branch_points),
                     "branch": rung.parent is not None})
    return rows


def compute(rows: list[dict]) -> dict:
    """What a ladder costs against separate dedicated runs, from `estimate` rows or per-run
    dicts with `flops`, `flops_own`, `stable`: {"spent", "stable", "branches", "dedicated",
    "ratio"}. `spent` sums every run's own FLOPs (stable runs + branch decays); `dedicated` is
    the FLOPs of training every budget (every run but the stable ones) from scratch."""
    spent = sum(r["flops_own"] for r in rows)
    stable = sum(r["flops_own"] for r in rows if r["stable"])
    dedicated = sum(r["flops"] for r in rows if not r["stable"])
    return {"spent": spent, "stable": stable, "branches": spent - stable,
            "dedicated": dedicated, "ratio": spent / dedicated if dedicated else float("nan")}


def compute_line(summary: dict) -> str:
    """One line: the ladder's FLOPs spent against dedicated runs for the same budgets."""
    return (f"compute: {summary['spent']:.3g} FLOPs spent (stable runs {summary['stable']:.3g} "
            f"+ branches {summary['branches']:.3g}); dedicated runs for the same budgets: "
            f"{summary['dedicated']:.3g} FLOPs; ratio {summary['ratio']:.2f}")
