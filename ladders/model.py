"""A small modern decoder-only GPT for scaling ladders, in one file (after nanoGPT's model.py).

Pre-norm blocks with RMSNorm (a learned gain, no bias, no mean subtraction), rotary position
embeddings (RoPE) on queries and keys, causal attention through
torch.nn.functional.scaled_dot_product_attention, a SwiGLU or GELU MLP, no biases anywhere, and a
tied or untied output head. Positions come from RoPE alone: there is no learned position table.

Two parametrizations:
- "standard" (the default): every weight is drawn with std `init_std` (GPT-2), logits are
  multiplied by `output_mult` (1.0 by default: not rescaled), the attention scale is
  1/sqrt(head_dim), and one learning rate and one weight decay serve every matrix.
- "mup": the Maximal Update Parametrization of Yang et al. 2022, "Tensor Programs V: Tuning
  Large Neural Networks via Zero-Shot Hyperparameter Transfer" (muTransfer), for Adam(W), as
  Yao & Wang 2023 ("Research without Re-search: Maximal Update Parametrization Yields Accurate
  Loss Prediction across Scales", section 3) use it: relative to a reference width `base_width`,
  with width_mult = width / base_width, so that at width == base_width it is the standard
  model (up to the attention scale) and hyperparameters tuned there transfer to any width.

The muP rules, line by line: the rule of Yang et al. 2022 (Table 3, "muP for Adam", in the
muTransfer-friendly form of Table 8, which moves the readout's width factor from its init and
LR into a multiplier, as the `mup` package's `MuReadout` does), and the code that implements it:

  rule (Yang et al. 2022 / Yao & Wang 2023)             code here
  ---------------------------------------------------   -------------------------------------
  hidden weights: init Var ∝ 1/fan_in                    GPT._init_weights: std init_std /
    (Table 3/8 "hidden weights", init var 1/fan_in)        sqrt(width_mult) for qkv, MLP up/gate
  residual output projections also scaled by depth       GPT._init_weights: attention proj and
    (GPT-2's 1/sqrt(2 depth); not a muP rule, kept in      MLP down further / sqrt(2 * depth),
    both parametrizations, as Yao & Wang do)               both parametrizations
  input weights (embedding): init Var constant           GPT._init_weights: wte std init_std
    (Table 8 "input weights", init var 1/fan_in with       at every width
    fan_in = vocab, constant in width)
  output weights: init Var constant, multiplier          GPT.output_mult = output_mult /
    1/fan_in (Table 8 "output weights", MuReadout):        width_mult, applied in GPT.forward;
    logits × output_mult / width_mult                      GPTConfig.output_mult (alpha_output)
  attention logits q.k / d_head instead of               CausalSelfAttention.scale = 1/head_dim
    q.k / sqrt(d_head) (Yang et al. 2022's attention       (1/sqrt(head_dim) under "standard")
    rule for Transformers; Yao & Wang section 3)
  Adam LR of hidden (matrix-like) weights ∝ 1/fan_in:    GPT.optimizer_groups: group "hidden"
    lr / width_mult (Table 3/8 "hidden weights")           has lr / width_mult
  AdamW weight decay of hidden weights × width_mult,     GPT.optimizer_groups: group "hidden"
    so that lr · wd (the per-step shrink factor AdamW      has weight_decay * width_mult
    applies) does not change with width
  vector-like parameters (embedding, tied readout,       GPT.optimizer_groups: groups
    norm gains): Adam LR constant in width, no decay       "embedding" and "norm" keep lr, wd 0
    (Table 3/8 "input weights & all biases", and the
    output weights under the Table 8 multiplier)

The standard parametrization uses none of these (width_mult is 1.0 there), and at
output_mult = 1.0 computes exactly what it computed before muP was completed.

Counts are analytic from the config (`parameter_counts`, `flops_per_token`) so that a ladder can
be planned without building models; the tests check them against real modules.
"""
import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ladders.vocab_loss import chunk_tokens, chunked_head_loss, use_chunks

MLPS = ("swiglu", "gelu")
PARAMETRIZATIONS = ("standard", "mup")


@dataclass
class GPTConfig:
    vocab_size: int = 256           # tokens in the vocabulary (at least 2)
    context: int = 128              # maximum sequence length (length of the RoPE tables)
    width: int = 128                # d_model: the residual stream's width
    depth: int = 2                  # number of transformer blocks
    heads: int = 4                  # attention heads; head_dim = width / heads, must be even
    mlp: str = "swiglu"             # "swiglu" (gated SiLU, 3 matrices) or "gelu" (2 matrices)
    mlp_hidden: int | None = None   # MLP hidden width; None: 4*width (gelu), 8*width/3 (swiglu,
                                    #   rounded up to a multiple of 8); see `hidden`
    tie_embeddings: bool = True     # output head reuses the token embedding matrix
    parametrization: str = "standard"  # "standard" or "mup" (see the module docstring)
    init_std: float = 0.02          # std of weights at init (at base_width under muP)
    rope_base: float = 10000.0      # RoPE frequency base theta
    base_width: int = 128           # muP reference width: width_mult = width / base_width
    output_mult: float = 1.0        # logits multiplier (alpha_output); under muP the logits are
                                    #   multiplied by output_mult / width_mult

    def __post_init__(self):
        for name in ("vocab_size", "context", "width", "depth", "heads", "base_width"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"GPTConfig: {name} must be a positive integer, got {value!r}")
        if self.mlp_hidden is not None and (
                isinstance(self.mlp_hidden, bool) or not isinstance(self.mlp_hidden, int)
                or self.mlp_hidden <= 0):
            raise ValueError(f"GPTConfig: mlp_hidden must be a positive integer or None, "
                             f"got {self.mlp_hidden!r}")
        if isinstance(self.output_mult, bool) or not isinstance(self.output_mult, (int, float)) \
                or not (math.isfinite(self.output_mult) and self.output_mult > 0):
            raise ValueError(f"GPTConfig: output_mult must be a positive number, "
                             f"got {self.output_mult!r}")
        if not (self.init_std > 0 and self.rope_base > 0):
            raise ValueError(f"GPTConfig: init_std and rope_base must be positive, "
                             f"got {self.init_std!r} and {self.rope_base!r}")
        if self.vocab_size < 2:
            raise ValueError(f"GPTConfig: vocab_size must be at least 2, got {self.vocab_size}")
        if self.mlp not in MLPS:
            raise ValueError(f"GPTConfig: unknown mlp {self.mlp!r}; expected one of {MLPS}")
        if self.parametrization not in PARAMETRIZATIONS:
            raise ValueError(f"GPTConfig: unknown parametrization {self.parametrization!r}; "
                             f"expected one of {PARAMETRIZATIONS}")
        if self.width % self.heads:
            raise ValueError(f"GPTConfig: width={self.width} is not divisible by "
                             f"heads={self.heads}")
        if self.head_dim % 2:
            raise ValueError(f"GPTConfig: head_dim = width/heads = {self.head_dim} is odd; "
                             f"RoPE rotates pairs of dimensions and needs it even")

    @property
    def head_dim(self) -> int:
        return self.width // self.heads

    @property
    def hidden(self) -> int:
        """The MLP's hidden width, `mlp_hidden` or its default."""
        if self.mlp_hidden is not None:
            return self.mlp_hidden
        if self.mlp == "gelu":
            return 4 * self.width
        return 8 * math.ceil(self.width / 3)  # 8*width/3 rounded up to a multiple of 8

    @property
    def width_mult(self) -> float:
        """width / base_width under muP; 1.0 under the standard parametrization."""
        return self.width / self.base_width if self.parametrization == "mup" else 1.0


class RMSNorm(nn.Module):
    """x / rms(x) * gain, over the last dimension (Zhang & Sennrich 2019); no bias."""

    def __init__(self, width: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(width))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotary_tables(head_dim: int, length: int, base: float = 10000.0):
    """cos and sin of angle pos * base**(-2i/head_dim), each of shape (length, head_dim // 2)."""
    inv_freq = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    angles = torch.outer(torch.arange(length, dtype=torch.float32), inv_freq)
    return angles.cos(), angles.sin()


def apply_rotary(x, cos, sin):
    """Rotate x (..., T, head_dim) by position: dimension i pairs with i + head_dim/2 (NeoX style).

    cos and sin are (T, head_dim/2), the first T rows of `rotary_tables`. A dot product of a
    rotated query at position m with a rotated key at position n depends on m - n only.
    """
    x1, x2 = x.chunk(2, dim=-1)
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)


class CausalSelfAttention(nn.Module):

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.heads, self.head_dim = config.heads, config.head_dim
        self.qkv = nn.Linear(config.width, 3 * config.width, bias=False)
        self.proj = nn.Linear(config.width, config.width, bias=False)  # residual projection
        # muP (Yang et al. 2022): q.k grows like head_dim (not its sqrt) once q and k
        # correlate during training, so the scores are divided by head_dim
        self.scale = 1 / config.head_dim if config.parametrization == "mup" \
            else 1 / math.sqrt(config.head_dim)

    def forward(self, x, cos, sin):
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.heads, self.head_dim).transpose(1, 2) for t in (q, k, v))
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=self.scale)
        return self.proj(y.transpose(1, 2).contiguous().view(B, T, C))


class MLP(nn.Module):

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.gated = config.mlp == "swiglu"
        self.up = nn.Linear(config.width, config.hidden, bias=False)
        if self.gated:
            self.gate = nn.Linear(config.width, config.hidden, bias=False)
        self.proj = nn.Linear(config.hidden, config.width, bias=False)  # residual projection

    def forward(self, x):
        h = F.silu(self.gate(x)) * self.up(x) if self.gated else F.gelu(self.up(x))
        return self.proj(h)


class Block(nn.Module):

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.norm1 = RMSNorm(config.width)
        self.attn = CausalSelfAttention(config)
        self.norm2 = RMSNorm(config.width)
        self.mlp = MLP(config)

    def forward(self, x, cos, sin):
        x = x + self.attn(self.norm1(x), cos, sin)
        return x + self.mlp(self.norm2(x))


class GPT(nn.Module):

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.width)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.depth))
        self.norm = RMSNorm(config.width)
        # tied: the logits use wte.weight itself, so there is no separate head module at all
        self.lm_head = None if config.tie_embeddings else \
            nn.Linear(config.width, config.vocab_size, bias=False)
        # muP (Table 8 "output weights", MuReadout): logits x output_mult / width_mult; the
        # standard parametrization has width_mult 1.0, and output_mult 1.0 by default
        self.output_mult = config.output_mult / config.width_mult
        cos, sin = rotary_tables(config.head_dim, config.context, config.rope_base)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self._init_weights()

    @torch.no_grad()
    def _init_weights(self):
        c = self.config
        # muP hidden weights: Var ∝ 1/fan_in, relative to the base width (== init_std under
        # "standard", where width_mult is 1.0)
        hidden_std = c.init_std / math.sqrt(c.width_mult)
        # muP input (and output) weights: constant variance in width
        nn.init.normal_(self.wte.weight, std=c.init_std)
        if self.lm_head is not None:
            nn.init.normal_(self.lm_head.weight, std=c.init_std)
        for block in self.blocks:
            linears = [block.attn.qkv, block.mlp.up] + ([block.mlp.gate] if block.mlp.gated else [])
            for linear in linears:
                nn.init.normal_(linear.weight, std=hidden_std)
            for linear in (block.attn.proj, block.mlp.proj):  # residual projections: GPT-2 depth
                nn.init.normal_(linear.weight, std=hidden_std / math.sqrt(2 * c.depth))

    def forward(self, idx, targets=None, chunk=None):
        """Logits (B, T, vocab) for token ids idx (B, T), and the mean cross-entropy in nats
        against targets (B, T) when they are given (else loss is None).

        With targets, `chunk` picks how the head's loss is computed: 0 the plain path (full
        logits, F.cross_entropy); a number of tokens, `ladders.vocab_loss` in chunks of that
        many, returning no logits (None); None (the default) chunks, in chunks of
        `chunk_tokens(vocab)`, only when the micro batch's fp32 logits would exceed 64 MiB
        (`use_chunks`): at V = 50304 from 334 tokens on, never for the bundled CPU ladders."""
        B, T = idx.shape
        if T > self.config.context:
            raise ValueError(f"sequence length {T} exceeds context {self.config.context}")
        cos, sin = self.rope_cos[:T], self.rope_sin[:T]
        x = self.wte(idx)
        for block in self.blocks:
            x = block(x, cos, sin)
        x = self.norm(x)
        head = self.wte.weight if self.lm_head is None else self.lm_head.weight
        if chunk is None and targets is not None:
            chunk = chunk_tokens(self.config.vocab_size) \
                if use_chunks(B * T, self.config.vocab_size) else 0
        if targets is not None and chunk:
            return None, chunked_head_loss(x, head, targets, self.output_mult, chunk)
        logits = F.linear(x, head) * self.output_mult
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)).float(), targets.reshape(-1))
        return logits, loss

    def num_parameters(self) -> int:
        """The real number of unique parameters (a tied head is counted once)."""
        return sum(p.numel() for p in self.parameters())

    def optimizer_groups(self, lr: float, weight_decay: float) -> list[dict]:
        """AdamW parameter groups: `torch.optim.AdamW(model.optimizer_groups(lr, wd))`.

        - "hidden": the matrices inside the blocks (qkv, attention and MLP projections):
          under muP lr / width_mult and weight_decay * width_mult (AdamW shrinks a weight by
          lr * weight_decay each step: that product stays the same at every width); under
          standard lr and weight_decay.
        - "embedding": the token embedding and the untied output head: lr, no weight decay.
          (Under muP the head's output_mult / width_mult logit multiplier stands in for an lr
          change, as with the muTransfer `MuReadout`.)
        - "norm": the RMSNorm gains: lr, no weight decay.
        """
        embedding = [self.wte.weight] + ([] if self.lm_head is None else [self.lm_head.weight])
        norm = [p for p in self.parameters() if p.dim() == 1]
        hidden = [p for block in self.blocks for p in block.parameters() if p.dim() == 2]
        assert len(embedding) + len(norm) + len(hidden) == len(list(self.parameters()))
        return [
            {"name": "hidden", "params": hidden, "lr": lr / self.config.width_mult,
             "weight_decay": weight_decay * self.config.width_mult},
            {"name": "embedding", "params": embedding, "lr": lr, "weight_decay": 0.0},
            {"name": "norm", "params": norm, "lr": lr, "weight_decay": 0.0},
        ]


def parameter_counts(config: GPTConfig) -> dict:
    """Parameter counts from the config alone: {"total", "embedding", "nonembedding"}.

    embedding = vocab_size * width for the token embedding, plus vocab_size * width again for
    the output head only when it is untied. With tie_embeddings the head *is* the embedding
    matrix and is counted once, here. nonembedding = everything else: per block two RMSNorm
    gains (2 * width), attention 4 * width^2 (qkv and output), MLP 3 * width * hidden (swiglu) or
    2 * width * hidden (gelu); plus the final RMSNorm gain (width). total = the sum of the two.
    RoPE tables are buffers, not parameters.
    """
    w, h = config.width, config.hidden
    mlp = (3 if config.mlp == "swiglu" else 2) * w * h
    nonembedding = config.depth * (2 * w + 4 * w * w + mlp) + w
    embedding = config.vocab_size * w * (1 if config.tie_embeddings else 2)
    return {"total": embedding + nonembedding, "embedding": embedding,
            "nonembedding": nonembedding}


# The version of `flops_per_token`'s accounting: 1 (until this change) counted matmuls and
# attention only; 2 adds the head's softmax cross-entropy, 9 FLOPs per logit. The bundled run
# tables of data/ were written under version 1 (`flops_per_token(config, cross_entropy=False)`).
FLOPS_VERSION = 2
CROSS_ENTROPY_FLOPS_PER_LOGIT = 9     # 3 forward (Chinchilla's softmax) + 6 backward (twice)


def flops_per_token(config: GPTConfig, cross_entropy: bool = True) -> float:
    """Training FLOPs per token, forward plus backward, for sequences of full length `context`
    (accounting version FLOPS_VERSION = 2):

        C = 6 * (N + vocab_size * width) + 12 * depth * context * width + 9 * vocab_size

    N is parameter_counts(config)["nonembedding"] (norm gains included, a negligible overcount);
    vocab_size * width is the output head's matmul (counted whether tied or not); the embedding
    lookup costs nothing. Each multiply-add is 2 FLOPs, and the backward pass costs twice the
    forward. The attention term counts, per layer and token, the scores q.K^T (2 * context *
    width) and the weighted sum of values (2 * context * width) at the full context, NOT halved
    for the causal mask: 4 * context * width forward, times 3 = 12. This is the accounting of
    Hoffmann et al. 2022 (Chinchilla), Appendix F. Kaplan et al. 2020, Table 1, counts only
    2 * n_layer * n_ctx * d forward for attention (C = 6N + 6 * n_layer * n_ctx * d per token)
    and leaves the head out of N.

    The last term is the softmax cross-entropy over the vocabulary, element-wise work on each
    of the token's vocab_size logits: 3 FLOPs per logit forward, as Chinchilla's Appendix F
    counts a softmax ("3 x num_heads x seq_len x seq_len" for attention's: here subtracting the
    max, the exp and the sum of the logsumexp; the target's pick and the log are per token, not
    per logit), and twice that backward, Chinchilla's rule for every term (op by op the
    gradient softmax - onehot recomputes the softmax, subtract and exp, and scales it: about
    3), so 9 per logit. It is 9 / (6 * width) of the head's matmul (0.2% at width 768) and
    matters for FLOPs hardly at all; large-V heads cost time because they are memory-bound,
    which `ladders.spec.cost` estimates separately. Softmax in attention, norms, activations
    and the muP multiplier are not counted. `cross_entropy=False` leaves the term out: version
    1 of this formula, with which the bundled run tables' `flops` were computed.
    """
    n = parameter_counts(config)["nonembedding"]
    v, w = config.vocab_size, config.width
    head_softmax = CROSS_ENTROPY_FLOPS_PER_LOGIT * v if cross_entropy else 0
    return float(6 * (n + v * w) + 12 * config.depth * config.context * w + head_softmax)


def default_depth(width: int) -> int:
    """Aspect ratio width ~= 64 * depth: depth = width / 64 rounded half up, at least 1."""
    return max(1, (width + 32) // 64)


def default_heads(width: int) -> int:
    """Head dim 32 below width 256, 64 from 256 up: width // 32 or width // 64 heads."""
    return max(1, width // 32 if width < 256 else width // 64)


def config_for_params(target_params: float, *, vocab_size: int, context: int,
                      depth_rule=default_depth, heads_rule=default_heads,
                      max_width: int = 16384, **config_kwargs) -> GPTConfig:
    """The config whose NON-embedding parameter count is closest to target_params in log.

    Candidates are the widths 16, 32, ..., max_width with depth = depth_rule(width) and
    heads = heads_rule(width); a width that these heads do not split into an even head_dim is
    skipped (with the defaults 80 = 2 x 40 and 544 = 8 x 68 stay, 112 and 560 go). Other
    GPTConfig fields (mlp, tie_embeddings, parametrization, ...) pass through config_kwargs and
    enter the count. Ties go to the smaller width. With the default rules (swiglu) the grid is
    coarse only at the depth 1 -> 2 step, from 7.8e4 (width 80) to 2.2e5 (width 96); above
    2e5 neighbours are within 1.9x, so the pick is within 1.37x of any target up to max_width.
    """
    if not target_params > 0:
        raise ValueError(f"target_params must be positive, got {target_params!r}")
    best, best_gap = None, math.inf
    for width in range(16, max_width + 1, 16):
        depth, heads = depth_rule(width), heads_rule(width)
        if width % heads or (width // heads) % 2:
            continue
        config = GPTConfig(vocab_size=vocab_size, context=context, width=width, depth=depth,
                           heads=heads, **config_kwargs)
        gap = abs(math.log(parameter_counts(config)["nonembedding"] / target_params))
        if gap < best_gap:
            best, best_gap = config, gap
    if best is None:
        raise ValueError("config_for_params: heads_rule gives no valid head split up to max_width")
    return best
