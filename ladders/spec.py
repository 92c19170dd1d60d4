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
    return spec


def expand(spec: dict) -> list[Rung]:
    """Every rung of a spec (sizes × vocabularies × budgets × schedules × seeds)."""
    from ladders import model as gpt
    from ladders.schedules import ScheduleError, parse

    where = spec["path"]
    ladder, data, model, tokens, opt = (spec[k] for k in SECTIONS)
    for key in ("context", "batch_size", "eval_every", "eval_batches", "checkpoint_every"):
        _positive_int(ladder[key], f"ladder.{key}", where)
    _check_data(data, spec)
    if not model["sizes"]:
        raise SpecError(f"{where}: model.sizes is empty")
    if not (tokens["per_param"] or tokens["absolute"]):
        raise SpecError(f"{where}: give tokens.per_param or tokens.absolute")
    if tokens["params_basis"] not in ("total", "nonembedding"):
        raise SpecError(f"{where}: tokens.params_basis must be 'total' or 'nonembedding'")
    for key in ("lr", "base_width"):
        if not _is_positive(opt[key]):
            raise SpecError(f"{where}: optimizer.{key} must be positive, got {opt[key]!r}")
    for key in ("warmup_fraction", "final_fraction"):
        if not (isinstance(opt[key], (int, float)) and 0 <= opt[key] <= 1):
            raise SpecError(f"{where}: optimizer.{key} must be in [0, 1], got {opt[key]!r}")
    budgets = [("per_param", b) for b in tokens["per_param"]] + \
              [("absolute", b) for b in tokens["absolute"]]
    for kind, budget in budgets:
        if not _is_positive(budget):
            raise SpecError(f"{where}: tokens.{kind} values must be positive, got {budget!r}")
    rungs = []
    per_step = ladder["batch_size"] * ladder["context"]     # tokens per optimizer step
    for index, size in enumerate(model["sizes"]):
        for vocab_size in data["vocab_sizes"]:
            config = _config(size, index, vocab_size, ladder, model, opt, where, gpt)
            counts = gpt.parameter_counts(config)
            basis = counts["total"] if tokens["params_basis"] == "total" else counts["nonembedding"]
            for (kind, budget), schedule_text, seed in itertools.product(
                    budgets, opt["schedules"], ladder["seeds"]):
                wanted = budget * basis if kind == "per_param" else budget
                steps = max(1, math.ceil(wanted / per_step))
                peak = opt["lr"] * (opt["base_width"] / config.width) ** opt["lr_width_exponent"]
                try:
                    schedule = str(_schedule(schedule_text, peak, steps, opt, parse))
                except ScheduleError as exc:
                    raise SpecError(f"{where}: optimizer.schedules: {exc}") from None
                label = f"{budget:g}tpp" if kind == "per_param" else f"{budget:.3g}tok"
                run = (f"{ladder['name']}-w{config.width}-d{config.depth}-v{vocab_size}-{label}"
                       f"-{schedule_text.split(':')[0]}-s{seed}")
                rungs.append(Rung(
                    run=run, model=asdict(config), tokens=steps * per_step, steps=steps,
                    batch_size=ladder["batch_size"], context=ladder["context"],
                    schedule=schedule, seed=int(seed), weight_decay=float(opt["weight_decay"]),
                    beta1=float(opt["beta1"]), beta2=float(opt["beta2"]),
                    grad_clip=float(opt["grad_clip"]), eval_every=ladder["eval_every"],
                    eval_batches=ladder["eval_batches"],
                    checkpoint_every=ladder["checkpoint_every"], compile=bool(ladder["compile"]),
                    data={**_data_for_rung(data, spec), "vocab_size": int(vocab_size)}))
    names = [r.run for r in rungs]
    if len(set(names)) != len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise SpecError(f"{where}: two rungs would both be named {twice!r}; make sizes distinct")
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


def _schedule(text, peak, steps, opt, parse):
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
    """Params, tokens, FLOPs and estimated seconds of each rung, for --dry-run."""
    from ladders import model as gpt

    rate = flops_per_second or DEFAULT_FLOPS_PER_SECOND["cuda" if device == "cuda" else "cpu"]
    rows = []
    for rung in rungs:
        config = gpt.GPTConfig(**rung.model)
        counts = gpt.parameter_counts(config)
        flops = gpt.flops_per_token(config) * rung.tokens
        rows.append({"run": rung.run, "params": counts["total"],
                     "params_nonembed": counts["nonembedding"], "tokens": rung.tokens,
                     "steps": rung.steps, "flops": flops, "seconds": flops / rate})
    return rows
