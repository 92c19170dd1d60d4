"""Per-size optimizer recipes (`optimizer.recipe`): the batch, peak LR, warmup and AdamW beta2 of
each model size, from its non-embedding parameter count N.

"fixed" (the default) is the ladder as written: one global `ladder.batch_size`, the peak LR
`optimizer.lr` scaled by `lr_width_exponent`, a warmup of `warmup_fraction` of each rung's steps
and one `beta2`. The recipes replace those per size:

"olmo", OLMo's ladder (allenai/OLMo scripts/ladder.py; allenai/OLMo-core
src/olmo_core/model_ladder/wsds_chinchilla_run_configurator.py, which cites Porian et al. 2024,
"Resolving Discrepancies in Compute-Optimal Scaling of Language Models", arXiv 2406.19146):

    batch  = recipe_batch · (N / recipe_params)^(2/3) tokens  (OLMo: 2048 · 160 at N = 108M,
             `round(2048 * 160 * (num_params / 108_000_000) ** (2 / 3))`, the paper's fit for
             sequences of 2048), here in sequences of ladder.context, rounded to a whole number
             of at least 1, and to a multiple of ladder.micro_batch when it is set;
    lr     = recipe_lr · (N / recipe_params)^(-1/3)  (OLMo: `0.0047 * (N / 108M) ** (-1 / 3)`;
             OLMo-core halves it for its WSD-S schedule, OLMo's cosine ladder does not: the
             default here is the unhalved 0.0047);
    warmup = recipe_warmup_per_param · N tokens  (OLMo-core: "Warm up 1 token per parameter",
             after Porian et al., whose shorter warmup is one of the three fixes that bring
             Kaplan's exponent back to Chinchilla's);
    beta2  = recipe_beta2_below when the batch is below recipe_beta2_threshold tokens, else
             optimizer.beta2. Porian et al. find tuning AdamW's beta2 essential at small batch
             sizes (a larger beta2, 0.99 or 0.999, where the default 0.95 hurts); OLMo-core keeps
             0.95 with the note "paper above suggest using larger beta2 (~0.99) for small batch
             sizes", and AI2's allenai/olmix (olmix/model/transformer.py) sets
             `beta2 = 0.95 if batch_size_in_tokens >= 524_288 else 0.99`: the defaults here.

N is the non-embedding parameter count, as OLMo-core's ladder uses
(`num_params = model_config.num_non_embedding_params`), whatever `tokens.params_basis` the
budgets count.

"mup" (under model.parametrization = "mup"): the peak LR stays `optimizer.lr` at every size
(muP transfers it across widths), batch, warmup and beta2 as "olmo".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

RECIPES = ("fixed", "olmo", "mup")

# The fewest steps of any rung, with or without a recipe (`ladder.min_steps` unset): below this a
# model's loss is still in its first fall (see ladders/spec/rungs.py).
FLOOR_STEPS = 20


@dataclass(frozen=True)
class SizeRecipe:
    """What a recipe sets for one model size."""

    params: int          # N: the size's non-embedding parameters
    batch_size: int      # sequences per optimizer step (global)
    lr: float            # peak LR
    warmup_tokens: float  # linear warmup, tokens
    beta2: float         # AdamW beta2

    def warmup_steps(self, context: int) -> int:
        """The warmup in optimizer steps of batch_size × context tokens (rounded)."""
        return int(round(self.warmup_tokens / (self.batch_size * context)))


def batch_tokens(params, ref_tokens, ref_params) -> float:
    """OLMo's batch: ref_tokens · (params / ref_params)^(2/3) tokens."""
    return ref_tokens * (params / ref_params) ** (2 / 3)


def batch_sequences(params, ref_tokens, ref_params, context, multiple=None) -> int:
    """The batch in sequences of `context` tokens: rounded to a whole number of at least 1, or
    to the nearest multiple of `multiple` (at least one multiple)."""
    sequences = batch_tokens(params, ref_tokens, ref_params) / context
    step = multiple or 1
    return max(1, int(round(sequences / step))) * step


def peak_lr(params, ref_lr, ref_params) -> float:
    """OLMo's peak LR: ref_lr · (params / ref_params)^(-1/3)."""
    return ref_lr * (params / ref_params) ** (-1 / 3)


def for_size(spec, params: int, lr: float | None = None) -> SizeRecipe:
    """The recipe of a size of `params` non-embedding parameters (spec.optimizer.recipe is not
    "fixed"); `lr` is the LR a "mup" recipe holds (optimizer.lr or an entry of optimizer.lrs)."""
    opt, ladder = spec.optimizer, spec.ladder
    batch = batch_sequences(params, opt.recipe_batch, opt.recipe_params, ladder.context,
                            ladder.micro_batch)
    peak = float(lr if opt.recipe == "mup" else peak_lr(params, opt.recipe_lr,
                                                          opt.recipe_params))
    below = batch * ladder.context < opt.recipe_beta2_threshold
    return SizeRecipe(params=int(params), batch_size=batch, lr=peak,
                      warmup_tokens=float(opt.recipe_warmup_per_param * params),
                      beta2=float(opt.recipe_beta2_below if below else opt.beta2))


def derived_min_steps(warmup_steps: int) -> int:
    """The shortest rung a recipe allows when ladder.min_steps is unset: its warmup plus a decay
    of a fifth of the rung (the WSD default and the bundled branches' decay_fraction), i.e.
    S >= warmup + 0.2 S, S >= 1.25 x warmup (and at least FLOOR_STEPS). A shorter rung would
    start its decay before reaching its peak LR: its final loss would measure the recipe's ramp,
    not the size and budget."""
    return max(FLOOR_STEPS, math.ceil(1.25 * warmup_steps))


def check(opt, where, error) -> None:
    """The checks of the recipe keys (called by `Optimizer.check`); `error` is SpecError."""
    if opt.recipe == "fixed":
        for key in RECIPE_KEYS:                 # the class attribute: the key's default
            if getattr(opt, key) != getattr(type(opt), key):
                raise error(f"{where}: optimizer.{key} is set but optimizer.recipe = 'fixed' "
                            "uses no recipe; set optimizer.recipe = 'olmo' or 'mup', or remove "
                            "the key")
        return
    for key in ("recipe_batch", "recipe_params", "recipe_lr", "recipe_beta2_threshold"):
        value = getattr(opt, key)
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise error(f"{where}: optimizer.{key} must be positive, got {value!r}")
    value = opt.recipe_warmup_per_param
    if not (math.isfinite(value) and value >= 0):
        raise error(f"{where}: optimizer.recipe_warmup_per_param must be at least 0, "
                    f"got {value!r}")
    if not 0 <= opt.recipe_beta2_below < 1:
        raise error(f"{where}: optimizer.recipe_beta2_below must be in [0, 1), "
                    f"got {opt.recipe_beta2_below!r}")
    if opt.lr_width_exponent != 0:
        raise error(f"{where}: optimizer.lr_width_exponent = {opt.lr_width_exponent!r} scales "
                    f"the LR by width, but optimizer.recipe = {opt.recipe!r} sets it per size; "
                    "remove one of the two")
    if opt.recipe == "olmo" and opt.lrs:
        raise error(f"{where}: optimizer.lrs sweeps the peak LR, but optimizer.recipe = 'olmo' "
                    "sets it per size; remove one of the two (a 'mup' recipe sweeps lrs)")


def check_spec(spec, error) -> None:
    """The recipe's checks that span sections (called by `ladders.spec.rungs.expand`)."""
    if spec.optimizer.recipe == "mup" and spec.model.parametrization != "mup":
        raise error(f"{spec.path}: optimizer.recipe = 'mup' holds optimizer.lr at every width, "
                    "which only muP transfers; set model.parametrization = 'mup' or use recipe "
                    "'olmo'")


RECIPE_KEYS = ("recipe_batch", "recipe_params", "recipe_lr", "recipe_warmup_per_param",
               "recipe_beta2_below", "recipe_beta2_threshold")
