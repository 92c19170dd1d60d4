"""The ladder spec's schema: one typed dataclass per TOML section, one commented line per key,
and each section's checks of its values.

`load_spec(path)` (`ladders.spec.loading`) reads a TOML file into a `Spec`: every key is checked
against its section's dataclass (unknown key, wrong type, impossible value: a one-line
`SpecError` naming the file and the key), absent keys take the defaults written here, and the
checks that span sections run once all are read. What depends on a model size (a branch point
inside the warmup, heads that do not divide the width) is checked when the spec expands into
rungs (`ladders.spec.rungs`).

The comment after a field is its documentation: `ladders.spec.docs` renders every key, its type,
default and comment as the table in docs/ladders.md, so a key is documented where it is declared or not at
all. A comment line right below a field continues that field's comment.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from scaling.data.pruning_schedules import KINDS as PRUNING_KINDS
from scaling.data.schedules import DECAYS
import ladders.spec.recipes as recipes
from ladders.spec.cluster import Cluster
from ladders.spec.errors import SpecError
from ladders.spec.value_checks import positive_budgets, is_positive, positive, positive_int
from ladders.spec.recipes import RECIPES


def _list(*values):
    """A list default (each instance gets its own copy)."""
    return field(default_factory=lambda: list(values))


Corpus = Literal["stdlib", "files", "bins", "hf"]
BinDtype = Literal["uint16", "uint32"]
TokenizerKind = Literal["bytes", "bpe", "file"]
Fallback = Literal["stdlib"]
Mlp = Literal["swiglu", "gelu"]
Parametrization = Literal["standard", "mup"]
ParamsBasis = Literal["total", "nonembedding"]
Recipe = Literal[RECIPES]
Decay = Literal[DECAYS]
PruningKind = Literal[PRUNING_KINDS]
# ladder.compile: false (eager), true (= "default"), or a torch.compile mode
CompileMode = Literal[False, True, "default", "reduce-overhead", "max-autotune-no-cudagraphs"]


@dataclass
class Ladder:
    """[ladder]: what every rung shares."""

    name: str = "cpu"                  # prefix of every run id (cpu-tiny-w32-d2-v256-2tpp-wsd-s0)
    context: int = 64                  # sequence length, tokens
    batch_size: int = 16               # sequences per optimizer step over all ranks (global; a
    #                                    scaling variable, unchanged by micro_batch)
    micro_batch: int | None = None     # sequences per forward/backward pass on one device; unset:
    #                                    batch_size per rank (no accumulation)
    eval_every: int = 25               # steps between held-out evaluations (one row each)
    eval_batches: int = 8              # batches of batch_size sequences per evaluation
    checkpoint_every: int = 100        # steps between checkpoints (for --resume)
    seeds: list[int] = _list(0)        # one rung per seed (initialisation and batch order)
    repeat_seeds: list[int] = _list()  # extra seeds run only for the repeat_sizes smallest sizes
    #                                    (every rung of such a size; measures seed scatter)
    repeat_sizes: int = 1              # how many of the smallest sizes (by non-embedding
    #                                    parameters) get repeat_seeds
    compile: CompileMode = False       # torch.compile the model: true (= "default") or a mode;
    #                                    "reduce-overhead" (CUDA graphs: less host time per
    #                                    kernel) and "max-autotune-no-cudagraphs" (tuned
    #                                    kernels) compile for longer
    flops_per_second: float | None = None  # sustained training FLOP/s for --dry-run time
    #                                        estimates; unset: a rough figure per device
    bytes_per_second: float | None = None  # memory bandwidth of the output head's passes over
    #                                        the logits, for --dry-run (added to the FLOPs'
    #                                        time); unset: a rough figure per device
    min_steps: int | None = None       # shortest rung allowed, optimizer steps (fewer: the loss
    #                                    is still in its first fall); unset: 20, or with an
    #                                    optimizer.recipe 1.25 x each size's warmup if more (a
    #                                    20% decay then starts after the warmup);
    #                                    lower only for smoke tests (their rungs may round the
    #                                    warmup to no step)
    threads: int = 1                   # intra-op CPU threads of one rung (part of the rung: its
    #                                    numerics depend on it; the CPU trains cores // threads
    #                                    rungs at once); --threads / SCALING_THREADS override it
    devices_per_rung: int = 1          # devices one rung is split over with DDP (CPU: slots of
    #                                    `threads` cores, gloo); the pool trains devices //
    #                                    devices_per_rung rungs at once

    def check(self, where):
        for key in ("context", "batch_size", "eval_every", "eval_batches", "checkpoint_every",
                    "threads", "devices_per_rung"):
            positive_int(self, "ladder", key, where)
        if self.min_steps is not None:
            positive_int(self, "ladder", "min_steps", where)
        if not re.fullmatch(r"[\w.-]+", self.name):
            raise SpecError(f"{where}: ladder.name must be letters, digits, '.', '_' or '-' (it "
                            f"names the rungs' folders), got {self.name!r}")
        if self.micro_batch is not None:
            positive_int(self, "ladder", "micro_batch", where)
            if self.batch_size % self.micro_batch:
                raise SpecError(f"{where}: ladder.batch_size = {self.batch_size} is not a multiple "
                                f"of ladder.micro_batch = {self.micro_batch}")
        if not self.seeds:
            raise SpecError(f"{where}: ladder.seeds is empty")
        for key in ("seeds", "repeat_seeds"):
            values = getattr(self, key)
            for seed in values:
                if seed < 0:
                    raise SpecError(f"{where}: ladder.{key} must be non-negative, got {seed!r}")
            twice = sorted({seed for seed in values if values.count(seed) > 1})
            if twice:
                raise SpecError(f"{where}: ladder.{key} lists seed {twice[0]!r} twice")
        both = sorted(set(self.seeds) & set(self.repeat_seeds))
        if both:
            raise SpecError(f"{where}: ladder.repeat_seeds repeats seed {both[0]!r} of "
                            "ladder.seeds (every size runs those already); give other seeds")
        positive_int(self, "ladder", "repeat_sizes", where)
        if self.flops_per_second is not None:
            positive(self, "ladder", "flops_per_second", where)
        if self.bytes_per_second is not None:
            positive(self, "ladder", "bytes_per_second", where)


@dataclass
class Data:
    """[data]: the corpus, its split and its tokenizer."""

    corpus: Corpus = "stdlib"          # "stdlib": this Python's standard library; "files": your
    #                                    text files (data.files); "bins": pre-tokenised .bin
    #                                    files; "hf": a Hugging Face dataset, streamed (hub:
    #                                    data.hf_dataset; local shards: data.hf_files)
    max_bytes: int | None = None       # stdlib, hf: cap on the corpus size, bytes (hf: reading
    #                                    stops before the document that would pass it)
    files: list[str] = _list()         # corpus = "files": globs (relative paths: to the working
    #                                    directory, else to the spec's folder); a document is
    #                                    named by its path relative to its glob's folder
    hf_dataset: str | None = None      # corpus = "hf": hub name ("HuggingFaceFW/fineweb-edu"),
    #                                    streamed with `datasets` (pip install 'scaling[hf]')
    hf_files: list[str] = _list()      # corpus = "hf": instead, globs of local shards (.parquet,
    #                                    .arrow, .jsonl, .jsonl.gz, .json.gz; paths as data.files)
    hf_config: str | None = None       # corpus = "hf": the hub dataset's config ("sample-10BT")
    hf_split: str = "train"            # corpus = "hf": the hub dataset's split
    hf_revision: str | None = None     # corpus = "hf": the hub dataset's revision (commit or
    #                                    tag; part of the token cache's key); unset: the latest
    text_column: str = "text"          # corpus = "hf": the column holding each document's text
    fallback: Fallback | None = None   # corpus = "hf" with hf_dataset: "stdlib" trains on the
    #                                    standard library when the hub or `datasets` is missing
    #                                    (one line on stderr says so); unset: an error
    train_bin: str | None = None       # corpus = "bins": training tokens, raw uint16/uint32
    valid_bin: str | None = None       # corpus = "bins": held-out tokens, raw uint16/uint32
    bin_dtype: BinDtype = "uint16"     # corpus = "bins": dtype of the .bin files
    tokenizer: TokenizerKind = "bytes"  # "bytes" (V = 256), "bpe" (byte-level, trained on the
    #                                     training documents only) or "file" (a pretrained
    #                                     tokenizer.json, data.tokenizer_file)
    tokenizer_file: str | None = None  # tokenizer = "file": its tokenizer.json (any corpus but
    #                                    bins); data.vocab_sizes must be [its vocabulary size]
    vocab_sizes: list[int] = _list(256)  # one rung per vocabulary size V
    valid_fraction: float = 0.05       # share of documents held out (split by a hash of the name)
    unique_tokens: int | None = None   # repeated data: every rung trains on the same
    #                                    unique_tokens tokens (rounded down to a multiple of
    #                                    ladder.context): windows of context tokens spread
    #                                    evenly over the training split, each epoch visiting
    #                                    them once in a seeded order, as many epochs as its
    #                                    budget needs; rows gain unique_tokens and epochs
    #                                    (= tokens / unique_tokens). Unset: no cap
    max_epochs: float | None = None    # instead: each rung's unique tokens are its budget /
    #                                    max_epochs (rounded up to a multiple of
    #                                    ladder.context), so no rung sees its data more than
    #                                    max_epochs times (give one of the two at most)

    def check(self, where):
        if self.max_bytes is not None:
            positive_int(self, "data", "max_bytes", where)
        if self.unique_tokens is not None and self.max_epochs is not None:
            raise SpecError(f"{where}: give data.unique_tokens or data.max_epochs, not both")
        if self.unique_tokens is not None:
            positive_int(self, "data", "unique_tokens", where)
        if self.max_epochs is not None:
            positive(self, "data", "max_epochs", where)
        if self.corpus == "files" and not self.files:
            raise SpecError(f"{where}: data.corpus = 'files' needs data.files (globs)")
        self._check_hf(where)
        if not 0 < self.valid_fraction < 1:
            raise SpecError(f"{where}: data.valid_fraction must be in (0, 1), "
                            f"got {self.valid_fraction!r}")
        if not self.vocab_sizes:
            raise SpecError(f"{where}: data.vocab_sizes is empty")
        for vocab_size in self.vocab_sizes:
            if vocab_size <= 0:
                raise SpecError(f"{where}: data.vocab_sizes must be positive integers, "
                                f"got {vocab_size!r}")
            if self.corpus == "bins":
                continue
            if self.tokenizer == "bytes" and vocab_size != 256:
                raise SpecError(f"{where}: data.vocab_sizes: the bytes tokenizer has V = 256, "
                                f"got {vocab_size!r}")
            if self.tokenizer == "bpe" and vocab_size <= 256:
                raise SpecError(f"{where}: data.vocab_sizes: a BPE vocabulary must be larger "
                                f"than the 256-byte alphabet, got {vocab_size!r}")

    def _check_hf(self, where):
        """The hf corpus's keys and the pretrained tokenizer's."""
        if self.corpus == "hf" and bool(self.hf_dataset) == bool(self.hf_files):
            raise SpecError(f"{where}: data.corpus = 'hf' needs data.hf_dataset (a hub name) or "
                            "data.hf_files (globs of local shards), one of the two")
        if self.corpus != "hf" and (self.hf_dataset or self.hf_files):
            key = "hf_dataset" if self.hf_dataset else "hf_files"
            raise SpecError(f"{where}: data.{key} is for data.corpus = 'hf', not "
                            f"{self.corpus!r}")
        if self.fallback is not None and not self.hf_dataset:
            raise SpecError(f"{where}: data.fallback is for a hub dataset (data.hf_dataset)")
        if (self.tokenizer == "file") != (self.tokenizer_file is not None):
            raise SpecError(f"{where}: data.tokenizer = 'file' goes with data.tokenizer_file "
                            "(a tokenizer.json), one needs the other")


@dataclass
class Size:
    """An entry of model.sizes: width, depth and heads, or target_params alone."""

    width: int | None = None           # d_model, the residual stream's width
    depth: int | None = None           # transformer blocks
    heads: int | None = None           # attention heads (width / heads must be even)
    target_params: float | None = None  # instead: the default-shaped model whose non-embedding
    #                                     parameters are closest to this

    def check(self, label, where):
        if self.target_params is not None:
            if any(v is not None for v in (self.width, self.depth, self.heads)):
                raise SpecError(f"{where}: {label}: give target_params alone or width, depth "
                                "and heads")
            if not is_positive(self.target_params):
                raise SpecError(f"{where}: {label}.target_params must be positive")
            return
        for key in ("width", "depth", "heads"):
            if getattr(self, key) is None:
                raise SpecError(f"{where}: {label}: missing {key!r}")
            positive_int(self, label, key, where)


@dataclass
class Model:
    """[model]: the sizes of the ladder and what they share."""

    sizes: list[Size] = _list()        # one rung per size: { width = 64, depth = 2, heads = 2 }
    #                                    or { target_params = 1e5 }
    mlp: Mlp = "swiglu"                # "swiglu" (gated, 3 matrices) or "gelu" (2 matrices)
    tie_embeddings: bool = True        # the output head reuses the token embedding
    parametrization: Parametrization = "standard"  # "standard" or "mup" (muP relative to
    #                                                optimizer.base_width, which it needs; every
    #                                                width a multiple of the base's head size)
    output_mult: float = 1.0           # logits multiplier; under muP logits x output_mult /
    #                                    width_mult (width_mult = width / optimizer.base_width)

    def check(self, where):
        if not self.sizes:
            raise SpecError(f"{where}: model.sizes is empty")
        for index, size in enumerate(self.sizes):
            size.check(f"model.sizes[{index}]", where)
        positive(self, "model", "output_mult", where)


@dataclass
class Tokens:
    """[tokens]: the token budgets of an unbranched ladder (a branched one sets them in
    [branches])."""

    per_param: list[float] = _list()   # budgets in tokens per parameter (of params_basis); one
    #                                    rung each
    absolute: list[float] = _list()    # budgets in tokens; one rung each
    params_basis: ParamsBasis = "total"  # the parameters per_param counts: "total" or
    #                                      "nonembedding" (also for branches.per_param)

    def check(self, where):
        positive_budgets(self, "tokens", where)


@dataclass
class Optimizer:
    """[optimizer]: AdamW, the peak LR rule and the LR schedules."""

    lr: float = 3e-3                   # peak LR at base_width
    lrs: list[float] = _list()         # an LR sweep: one rung per peak LR at base_width, in
    #                                    place of lr (run ids gain -lr<value>; rows carry lr_peak)
    lr_width_exponent: float = 0.0     # peak LR = lr * (base_width / width) ** lr_width_exponent
    base_width: int | None = None      # reference width of the LR rule and of muP; required by
    #                                    muP and by lr_width_exponent != 0
    weight_decay: float = 0.1          # AdamW decoupled weight decay (matrices only)
    beta1: float = 0.9                 # AdamW beta1
    beta2: float = 0.95                # AdamW beta2
    grad_clip: float = 1.0             # clip the gradient's global norm to this; 0: no clipping
    warmup_fraction: float = 0.05      # linear warmup, as a fraction of the rung's steps
    final_fraction: float = 0.1        # cosine floor / WSD end, as a fraction of the peak LR
    schedules: list[str] = _list("cosine")  # one rung per schedule: "constant", "cosine",
    #                                         "wsd", "multistep", each with options, e.g.
    #                                         "wsd:decay_fraction=0.2,decay=sqrt"
    recipe: Recipe = "fixed"           # per-size batch, LR, warmup and beta2
    #                                    (ladders/spec/recipes.py): "fixed" (the keys above as
    #                                    written), "olmo" (OLMo's ladder: all four from each
    #                                    size's non-embedding parameters N; ladder.batch_size,
    #                                    lr, warmup_fraction and beta2 below the threshold are
    #                                    then unused, ladder.batch_size x eval_batches still sets
    #                                    the held-out sequences) or "mup" (as "olmo", the peak LR
    #                                    held at lr: muP only)
    recipe_batch: float = 327_680      # recipe: batch at recipe_params, tokens (OLMo: 160 x 2048);
    #                                    scales as N^(2/3), in sequences of ladder.context
    recipe_params: float = 108e6       # recipe: the reference size N (non-embedding parameters)
    recipe_lr: float = 0.0047          # recipe "olmo": peak LR at recipe_params; scales as N^(-1/3)
    recipe_warmup_per_param: float = 1.0  # recipe: warmup, tokens per parameter N (OLMo: 1)
    recipe_beta2_below: float = 0.99   # recipe: AdamW beta2 of batches under
    #                                    recipe_beta2_threshold tokens (Porian et al. 2024);
    #                                    larger batches use beta2
    recipe_beta2_threshold: float = 524_288  # recipe: the batch, tokens, from which beta2 applies

    def check(self, where):
        positive(self, "optimizer", "lr", where)
        for index, lr in enumerate(self.lrs):
            if not is_positive(lr):
                raise SpecError(f"{where}: optimizer.lrs[{index}] must be positive, got {lr!r}")
        twice = sorted({lr for lr in self.lrs if self.lrs.count(lr) > 1})
        if twice:
            raise SpecError(f"{where}: optimizer.lrs lists {twice[0]!r} twice")
        if self.base_width is not None:
            positive_int(self, "optimizer", "base_width", where)
        if not math.isfinite(self.lr_width_exponent):
            raise SpecError(f"{where}: optimizer.lr_width_exponent must be finite, "
                            f"got {self.lr_width_exponent!r}")
        if self.lr_width_exponent != 0 and self.base_width is None:
            raise SpecError(f"{where}: optimizer.lr_width_exponent = {self.lr_width_exponent!r} "
                            "scales the LR from optimizer.base_width, which is not set; give "
                            "base_width")
        for key in ("weight_decay", "grad_clip"):
            value = getattr(self, key)
            if not (math.isfinite(value) and value >= 0):
                raise SpecError(f"{where}: optimizer.{key} must be at least 0, got {value!r}")
        for key in ("beta1", "beta2"):
            value = getattr(self, key)
            if not 0 <= value < 1:
                raise SpecError(f"{where}: optimizer.{key} must be in [0, 1), got {value!r}")
        for key in ("warmup_fraction", "final_fraction"):
            value = getattr(self, key)
            if not 0 <= value <= 1:
                raise SpecError(f"{where}: optimizer.{key} must be in [0, 1], got {value!r}")
        if not self.schedules:
            raise SpecError(f"{where}: optimizer.schedules is empty")
        recipes.check(self, where, SpecError)


@dataclass
class Branches:
    """[branches]: a branched ladder, one warmup-stable run per size and a cooldown branch per
    budget (see ladders/spec/rungs.py)."""

    per_param: list[float] = _list()   # budgets in tokens per parameter (of
    #                                    tokens.params_basis); one branch each
    absolute: list[float] = _list()    # budgets in tokens; one branch each
    decay_fraction: float = 0.2        # each branch decays over this fraction of its own budget
    decay: Decay = "linear"            # decay shape: "linear", "cosine", "geometric" or "sqrt"
    #                                    (1 - sqrt)
    stable_per_param: float | None = None  # length of the stable run, tokens per parameter;
    #                                        unset: it stops at the last branch point
    stable_tokens: float | None = None  # ... or in tokens (give one of the two at most)

    def check(self, where):
        if not 0 < self.decay_fraction <= 1:
            raise SpecError(f"{where}: branches.decay_fraction must be in (0, 1], "
                            f"got {self.decay_fraction!r}")
        given = [k for k in ("stable_per_param", "stable_tokens") if getattr(self, k) is not None]
        if len(given) > 1:
            raise SpecError(f"{where}: give branches.stable_per_param or branches.stable_tokens, "
                            "not both")
        for key in given:
            positive(self, "branches", key, where)
        positive_budgets(self, "branches", where)


@dataclass
class Tasks:
    """[tasks]: downstream multiple-choice tasks, scored at every evaluation row as acc:<task>
    and loss:<task> columns (ladders/tasks.py)."""

    names: list[str] = _list()         # built-in tasks, made from the held-out documents:
    #                                    "next_chars", "same_file_chars", "identifier",
    #                                    "next_line"
    items: int = 200                   # items per built-in task (4 options each)
    files: list[str] = _list()         # your tasks: JSONL files of {"context", "options",
    #                                    "answer"} lines (relative paths: to the working
    #                                    directory, else to the spec's folder); "NAME=path" names
    #                                    one, else its file's stem

    def check(self, where):
        from ladders.tasks import BUILTIN

        positive_int(self, "tasks", "items", where)
        for index, name in enumerate(self.names):
            if name not in BUILTIN:
                raise SpecError(f"{where}: tasks.names[{index}]: unknown task {name!r}; "
                                f"built-in: {', '.join(BUILTIN)}")


@dataclass
class Pruning:
    """[pruning]: gradual magnitude pruning of the linear layers' matrices during training
    (scaling/data/pruning_schedules.py, ladders/pruning.py); one rung per final sparsity."""

    schedule: PruningKind = "geometric"  # "geometric" (Jin et al. 2025: each event keeps the
    #                                      same fraction) or "cubic" (Zhu & Gupta 2017)
    sparsities: list[float] = _list()  # one rung per final sparsity of the prunable weights, in
    #                                    [0, 1); 0: a dense rung (run ids gain -sp<sparsity>);
    #                                    empty: no pruning
    start: float = 0.25                # fraction of a rung's training compute where pruning
    #                                    starts (compute counts active parameters)
    end: float = 0.75                  # ... and where it ends (the last event)
    every: int = 10                    # optimizer steps between pruning events

    def check(self, where):
        for index, sparsity in enumerate(self.sparsities):
            if not (math.isfinite(sparsity) and 0 <= sparsity < 1):
                raise SpecError(f"{where}: pruning.sparsities[{index}] must be in [0, 1), "
                                f"got {sparsity!r}")
        twice = sorted({s for s in self.sparsities if self.sparsities.count(s) > 1})
        if twice:
            raise SpecError(f"{where}: pruning.sparsities lists {twice[0]!r} twice")
        for key in ("start", "end"):
            value = getattr(self, key)
            if not (math.isfinite(value) and 0 <= value <= 1):
                raise SpecError(f"{where}: pruning.{key} must be in [0, 1], got {value!r}")
        if self.start > self.end:
            raise SpecError(f"{where}: pruning.start = {self.start!r} is after pruning.end = "
                            f"{self.end!r}")
        positive_int(self, "pruning", "every", where)


SECTIONS = {"ladder": Ladder, "data": Data, "model": Model, "tokens": Tokens,
            "optimizer": Optimizer, "branches": Branches, "tasks": Tasks, "pruning": Pruning,
            "cluster": Cluster}


@dataclass
class Spec:
    """A checked ladder spec: one object per section, defaults filled in."""

    ladder: Ladder
    data: Data
    model: Model
    tokens: Tokens
    optimizer: Optimizer
    branches: Branches | None          # None: no [branches] section, not a branched ladder
    tasks: Tasks
    pruning: Pruning
    path: Path                         # the TOML file (error messages name it)
    cluster: Cluster = field(default_factory=Cluster)  # [cluster]: Slurm resources (--slurm)

    @property
    def branched(self) -> bool:
        return self.branches is not None

    @property
    def budgets(self) -> Tokens | Branches:
        """The section that holds the token budgets: [branches] when branched, else [tokens]."""
        return self.branches if self.branches is not None else self.tokens

    def resolve(self, name) -> Path:
        """A data path as given: absolute or found from the working directory, else relative
        to the spec's folder."""
        path = Path(name)
        return path if path.is_absolute() or path.exists() else self.path.parent / path

    def task_files(self) -> list[str]:
        """tasks.files as "NAME=path" entries, the paths resolved (what a rung carries)."""
        from ladders.tasks import split_entry

        return [f"{name}={self.resolve(path)}" for name, path in map(split_entry,
                                                                     self.tasks.files)]
