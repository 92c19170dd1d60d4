"""ladders/model.py: counts against real modules, causality, RoPE, muP, learning, validation."""
import math

import pytest

torch = pytest.importorskip("torch")

from ladders.model import (GPT, GPTConfig, apply_rotary, config_for_params,  # noqa: E402
                           flops_per_token, parameter_counts, rotary_tables)

TINY = dict(vocab_size=64, context=16, width=32, depth=2, heads=2)


def tiny(**overrides) -> GPTConfig:
    return GPTConfig(**{**TINY, **overrides})


@pytest.mark.parametrize("parametrization", ["standard", "mup"])
@pytest.mark.parametrize("mlp", ["swiglu", "gelu"])
@pytest.mark.parametrize("tie", [True, False])
def test_analytic_counts_equal_real_counts(tie, mlp, parametrization):
    config = tiny(tie_embeddings=tie, mlp=mlp, parametrization=parametrization, base_width=16)
    model = GPT(config)
    counts = parameter_counts(config)
    real_total = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    real_embedding = model.wte.weight.numel() + (0 if tie else model.lm_head.weight.numel())
    assert counts["total"] == model.num_parameters() == real_total
    assert counts["embedding"] == real_embedding
    assert real_embedding == config.vocab_size * config.width * (1 if tie else 2)
    assert counts["nonembedding"] == real_total - real_embedding
    assert counts["total"] == counts["embedding"] + counts["nonembedding"]


def test_mlp_hidden_defaults():
    assert GPTConfig(width=128, mlp="gelu").hidden == 512
    assert GPTConfig(width=128).hidden == 344  # 8*128/3 = 341.3, up to a multiple of 8
    assert GPTConfig(width=96).hidden == 256
    assert GPTConfig(width=128, mlp_hidden=100).hidden == 100


def test_forward_shapes_and_initial_loss():
    torch.manual_seed(0)
    config = tiny()
    model = GPT(config)
    idx = torch.randint(0, config.vocab_size, (4, config.context))
    targets = torch.randint(0, config.vocab_size, (4, config.context))
    logits, loss = model(idx)
    assert logits.shape == (4, config.context, config.vocab_size) and loss is None
    logits, loss = model(idx[:, :5], targets[:, :5])
    assert logits.shape == (4, 5, config.vocab_size) and loss.ndim == 0
    assert abs(loss.item() - math.log(config.vocab_size)) < 0.3
    with pytest.raises(ValueError, match="exceeds context"):
        model(torch.zeros(1, config.context + 1, dtype=torch.long))


@pytest.mark.parametrize("parametrization", ["standard", "mup"])
def test_causal_mask(parametrization):
    torch.manual_seed(0)
    config = tiny(parametrization=parametrization, tie_embeddings=False)
    model = GPT(config).eval()
    idx = torch.randint(0, config.vocab_size, (2, config.context))
    changed = idx.clone()
    t = 9
    changed[:, t] = (changed[:, t] + 1) % config.vocab_size
    with torch.no_grad():
        a, _ = model(idx)
        b, _ = model(changed)
    torch.testing.assert_close(a[:, :t], b[:, :t])
    assert not torch.allclose(a[:, t:], b[:, t:])


def test_rotary_scores_depend_only_on_relative_position():
    torch.manual_seed(0)
    head_dim, length = 16, 32
    cos, sin = rotary_tables(head_dim, length)
    q, k = torch.randn(head_dim), torch.randn(head_dim)

    def score(m, n):  # q at position m, k at position n
        qs = apply_rotary(q.expand(length, head_dim), cos, sin)[m]
        ks = apply_rotary(k.expand(length, head_dim), cos, sin)[n]
        return torch.dot(qs, ks).item()

    for m, n in [(5, 2), (7, 7), (3, 11)]:
        for shift in (1, 10, 20):
            assert score(m + shift, n + shift) == pytest.approx(score(m, n), abs=1e-4)
    assert score(5, 2) != pytest.approx(score(5, 4), abs=1e-3)
    # position 0 is the identity, and rotation keeps norms
    x = torch.randn(length, head_dim)
    torch.testing.assert_close(apply_rotary(x, cos, sin)[0], x[0])
    torch.testing.assert_close(apply_rotary(x, cos, sin).norm(dim=-1), x.norm(dim=-1))


def test_model_uses_positions():
    """Without RoPE, one causal block would give the last token the same logits after two
    earlier tokens swap (its attention sees them as a set); with RoPE they must differ."""
    torch.manual_seed(0)
    model = GPT(tiny(depth=1)).eval()
    with torch.no_grad():
        a, _ = model(torch.tensor([[5, 9, 12, 3]]))
        b, _ = model(torch.tensor([[9, 5, 12, 3]]))
    assert not torch.allclose(a[0, -1], b[0, -1], atol=1e-4)


def test_mup_optimizer_groups_and_init():
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=64, context=16, width=256, depth=2, heads=4,
                       parametrization="mup", base_width=64, tie_embeddings=False)
    model = GPT(config)
    assert config.width_mult == 4.0
    groups = {g["name"]: g for g in model.optimizer_groups(lr=1e-2, weight_decay=0.1)}
    assert groups["hidden"]["lr"] == pytest.approx(1e-2 / 4)
    assert groups["embedding"]["lr"] == groups["norm"]["lr"] == 1e-2
    assert groups["hidden"]["weight_decay"] == pytest.approx(0.1 * 4)  # x width_mult
    assert groups["embedding"]["weight_decay"] == groups["norm"]["weight_decay"] == 0.0
    ids = lambda ps: {id(p) for p in ps}  # noqa: E731
    block = model.blocks[0]
    assert ids(block.parameters()) - ids([block.norm1.weight, block.norm2.weight]) <= \
        ids(groups["hidden"]["params"])
    assert ids(groups["embedding"]["params"]) == ids([model.wte.weight, model.lm_head.weight])
    assert all(p.dim() == 1 for p in groups["norm"]["params"])
    assert sum(len(g["params"]) for g in groups.values()) == len(list(model.parameters()))
    # init: hidden std 0.02/sqrt(4), residual projections further / sqrt(2*depth); logits / 4
    assert block.attn.qkv.weight.std().item() == pytest.approx(0.01, rel=0.02)
    assert block.mlp.proj.weight.std().item() == pytest.approx(0.01 / 2, rel=0.03)
    assert model.wte.weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert model.output_mult == 0.25 and block.attn.scale == 1 / 64
    torch.optim.AdamW(model.optimizer_groups(1e-3, 0.1))  # accepted as is


def test_standard_optimizer_groups_share_lr():
    model = GPT(tiny())
    groups = model.optimizer_groups(lr=3e-3, weight_decay=0.1)
    assert all(g["lr"] == 3e-3 for g in groups)
    assert model.blocks[0].attn.scale == pytest.approx(1 / math.sqrt(16))
    assert model.output_mult == 1.0


@pytest.mark.parametrize("parametrization", ["standard", "mup"])
def test_learns_a_repeated_batch(parametrization):
    torch.manual_seed(0)
    config = tiny(parametrization=parametrization, base_width=16)
    model = GPT(config)
    optimizer = torch.optim.AdamW(model.optimizer_groups(lr=1e-2, weight_decay=0.0))
    idx = torch.randint(0, config.vocab_size, (4, config.context + 1))
    x, y = idx[:, :-1], idx[:, 1:]
    losses = []
    for _ in range(15):
        _, loss = model(x, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 1.0


@pytest.mark.parametrize("bad, message", [
    (dict(width=30, heads=4), "not divisible"),
    (dict(width=36, heads=4), "odd"),
    (dict(depth=0), "depth must be a positive"),
    (dict(width=-8), "width must be a positive"),
    (dict(vocab_size=1), "at least 2"),
    (dict(mlp="relu"), "unknown mlp"),
    (dict(parametrization="ntk"), "unknown parametrization"),
    (dict(mlp_hidden=0), "mlp_hidden"),
])
def test_config_validation(bad, message):
    with pytest.raises(ValueError, match=message):
        tiny(**bad)


@pytest.mark.parametrize("tie", [True, False])
def test_flops_per_token_matches_documented_formula(tie):
    config = GPTConfig(vocab_size=100, context=24, width=48, depth=3, heads=2, mlp="gelu",
                       tie_embeddings=tie)
    model = GPT(config)
    V, d, L, T = 100, 48, 3, 24
    nonembedding = model.num_parameters() - V * d * (1 if tie else 2)
    assert nonembedding == L * (2 * d + 4 * d * d + 2 * d * 4 * d) + d
    assert flops_per_token(config) == 6 * (nonembedding + V * d) + 12 * L * T * d + 9 * V
    # version 1 (the bundled tables' flops): no cross-entropy term
    assert flops_per_token(config, cross_entropy=False) == \
        6 * (nonembedding + V * d) + 12 * L * T * d


def test_bundled_tables_keep_version_1_flops():
    """data/cpu_vocab's flops were written before the cross-entropy term (FLOPS_VERSION 1):
    every row is flops_per_token(config, cross_entropy=False) x tokens, 9·V less per token than
    the current formula, and the tables are not rewritten."""
    from pathlib import Path

    import pandas as pd

    from ladders.model import FLOPS_VERSION
    from ladders.spec import expand, load_spec

    root = Path(__file__).resolve().parents[1]
    rows = pd.read_parquet(root / "data" / "cpu_vocab" / "runs.parquet")
    rungs = {r.run: r for r in expand(load_spec(root / "ladders" / "specs" / "cpu-vocab.toml"))}
    assert FLOPS_VERSION == 2
    for run, group in rows.groupby("run"):
        config = GPTConfig(**rungs[run].model)
        old = flops_per_token(config, cross_entropy=False)
        assert (group["flops"] == old * group["tokens"]).all(), run
        assert flops_per_token(config) - old == 9 * config.vocab_size


@pytest.mark.parametrize("target", [1e5, 1e6, 1e7])
def test_config_for_params_lands_near_target(target):
    config = config_for_params(target, vocab_size=256, context=64)
    nonembedding = parameter_counts(config)["nonembedding"]
    assert target / 1.5 <= nonembedding <= target * 1.5
    assert config.head_dim % 2 == 0 and config.width % 16 == 0
    assert config.vocab_size == 256 and config.context == 64
    gelu = config_for_params(target, vocab_size=256, context=64, mlp="gelu")
    assert gelu.mlp == "gelu"
    assert target / 1.5 <= parameter_counts(gelu)["nonembedding"] <= target * 1.5


# Real models of a few shapes: (vocab, context, width, depth, heads, mlp, tied, parametrization).
FLOP_SHAPES = [
    (64, 16, 32, 2, 2, "swiglu", True, "standard"),
    (64, 16, 32, 2, 2, "gelu", False, "standard"),
    (100, 32, 48, 3, 4, "swiglu", False, "standard"),
    (50, 8, 64, 1, 2, "gelu", True, "mup"),
]


def counted_flops(config, batch, backend=None):
    """FLOPs torch.utils.flop_counter.FlopCounterMode counts on one forward + backward pass of
    `batch` full-length sequences (per op), and the ATen ops that ran."""
    from contextlib import nullcontext

    from torch.nn.attention import sdpa_kernel
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import FlopCounterMode

    ran = set()

    class Ops(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            ran.add(func.overloadpacket)
            return func(*args, **(kwargs or {}))

    torch.manual_seed(0)
    model = GPT(config)
    x = torch.randint(0, config.vocab_size, (batch, config.context))
    y = torch.randint(0, config.vocab_size, (batch, config.context))
    counter = FlopCounterMode(display=False)
    with sdpa_kernel(backend) if backend is not None else nullcontext(), counter, Ops():
        _, loss = model(x, y)
        loss.backward()
    return counter.get_flop_counts()["Global"], ran


@pytest.mark.parametrize("vocab, context, width, depth, heads, mlp, tie, parametrization",
                         FLOP_SHAPES)
def test_flops_per_token_against_torch_flop_counter(vocab, context, width, depth, heads, mlp,
                                                    tie, parametrization):
    """`flops_per_token` against what torch counts on real models, exactly.

    The formula differs from the counted matmuls by three known terms per token:
    - the head's softmax cross-entropy, 9·vocab (element-wise: FlopCounterMode counts matmuls
      and attention only);
    - the RMSNorm gains, 6·(2·depth + 1)·width: they are in N (6N) but are no matmul;
    - attention, 12·depth·context·width (q.K^T and A.V at the full context, forward and
      backward, not halved for the causal mask). On CPU, scaled_dot_product_attention runs the
      fused kernel aten._scaled_dot_product_flash_attention_for_cpu (and its backward), for
      which FlopCounterMode has no formula: it counts 0 for attention. With the MATH backend
      attention is plain batched matmuls over the full context x context scores (the mask is
      applied to them, not skipped), which it counts: exactly 12·depth·context·width a token.
    Everything else it counts (every linear layer and the head, tied or not, forward and both
    backward matmuls) is 6·(N - norm gains + vocab·width) a token, as the formula says.
    """
    from torch.nn.attention import SDPBackend
    from torch.utils.flop_counter import flop_registry

    aten = torch.ops.aten
    config = GPTConfig(vocab_size=vocab, context=context, width=width, depth=depth, heads=heads,
                       mlp=mlp, tie_embeddings=tie, parametrization=parametrization,
                       base_width=32)
    batch = 2
    tokens = batch * context
    formula = flops_per_token(config) * tokens
    norm_gains = 6 * (2 * depth + 1) * width * tokens
    attention = 12 * depth * context * width * tokens
    cross_entropy = 9 * vocab * tokens

    counts, ran = counted_flops(config, batch)
    assert aten._scaled_dot_product_flash_attention_for_cpu in ran
    assert aten._scaled_dot_product_flash_attention_for_cpu not in flop_registry
    assert set(counts) == {aten.mm}                       # linear layers only
    assert formula - sum(counts.values()) == attention + norm_gains + cross_entropy

    counts, ran = counted_flops(config, batch, SDPBackend.MATH)
    assert aten._scaled_dot_product_flash_attention_for_cpu not in ran
    assert counts[aten.bmm] == attention                  # q.K^T, A.V: full context, fwd + bwd
    assert formula - sum(counts.values()) == norm_gains + cross_entropy
