"""ladders/vocab_loss.py: the chunked head + cross-entropy against the plain path (loss, every
gradient, a training step, evaluation), in fp32 and under CPU bf16 autocast, and its default."""
import copy

import pytest

torch = pytest.importorskip("torch")

from ladders import vocab_loss  # noqa: E402
from ladders.model import GPT, GPTConfig  # noqa: E402
from ladders.vocab_loss import chunk_tokens, use_chunks  # noqa: E402

CASES = [  # (tied, parametrization, output_mult): the muP multiplier is 2.5 / (48 / 16) here
    (True, "standard", 1.0), (False, "standard", 1.0), (True, "mup", 2.5), (False, "mup", 2.5)]


def pair(tie, parametrization, output_mult, vocab=97):
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=vocab, context=16, width=48, depth=2, heads=4,
                       tie_embeddings=tie, parametrization=parametrization, base_width=16,
                       output_mult=output_mult)
    model = GPT(config)
    x = torch.randint(0, vocab, (3, 16))
    y = torch.randint(0, vocab, (3, 16))
    return model, copy.deepcopy(model), x, y


def grads(model, x, y, chunk):
    model.zero_grad(set_to_none=True)
    logits, loss = model(x, y, chunk=chunk)
    loss.backward()
    return logits, loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}


def relative(a, b):
    return ((a - b).norm() / b.norm()).item()


@pytest.mark.parametrize("tie, parametrization, output_mult", CASES)
@pytest.mark.parametrize("chunk", [7, 48, 1000])   # uneven chunks, chunks of whole rows, one
def test_chunked_loss_and_every_gradient_equal_the_plain_path_fp32(tie, parametrization,
                                                                   output_mult, chunk):
    model, _, x, y = pair(tie, parametrization, output_mult)
    assert model.output_mult == (2.5 / 3 if parametrization == "mup" else 1.0)
    plain_logits, plain_loss, plain = grads(model, x, y, chunk=0)
    logits, loss, chunked = grads(model, x, y, chunk=chunk)
    assert plain_logits.shape == (3, 16, 97) and logits is None
    assert loss.dtype == torch.float32
    assert abs(loss.item() - plain_loss.item()) <= 1e-6 * plain_loss.item()
    assert plain.keys() == chunked.keys() and len(plain) == 2 * 7 + 2 + (not tie)
    for name in plain:
        assert relative(chunked[name], plain[name]) < 1e-6, name
    # the head's gradient is a real one: zero it and the check above would fail
    head = "wte.weight" if tie else "lm_head.weight"
    assert plain[head].norm() > 0


@pytest.mark.parametrize("tie, parametrization, output_mult", CASES[1:3])
def test_a_training_step_gives_the_same_parameters(tie, parametrization, output_mult):
    plain_model, chunked_model, x, y = pair(tie, parametrization, output_mult)
    start = copy.deepcopy(plain_model)
    after = []
    for model, chunk in ((plain_model, 0), (chunked_model, 10)):
        optimizer = torch.optim.AdamW(model.optimizer_groups(1e-3, 0.1))
        _, loss = model(x, y, chunk=chunk)
        loss.backward()
        optimizer.step()
        after.append(model(x, y, chunk=0)[1].item())
    assert abs(after[1] - after[0]) <= 1e-6 * after[0] and after[0] < loss.item()
    moved = 0.0
    for (name, a), (_, b) in zip(plain_model.named_parameters(),
                                 chunked_model.named_parameters()):
        # AdamW's first update is lr·g/(|g| + eps) per element: where |g| is near eps (1e-8),
        # the gradients' rounding-level difference (1e-6 of their norm) can move an element's
        # update by up to lr; the parameters as a whole agree to 1e-5, the loss to 1e-6
        assert relative(b, a) < 1e-5, name
        moved = max(moved, relative(a, start.get_parameter(name)))
    assert moved > 1e-2          # the step changed the parameters


def test_evaluation_without_grad_matches_and_keeps_no_graph():
    model, _, x, y = pair(False, "mup", 2.5)
    model.eval()
    with torch.no_grad():
        _, plain = model(x, y, chunk=0)
        _, chunked = model(x, y, chunk=5)
    assert not chunked.requires_grad
    assert abs(chunked.item() - plain.item()) <= 1e-6 * plain.item()


@pytest.mark.parametrize("tie", [True, False])
def test_chunked_path_under_cpu_bf16_autocast(tie):
    """Under bf16 autocast both paths compute the logits in bf16 and the softmax in fp32; they
    differ by bf16 rounding only (the head's gradient is summed over chunks in fp32)."""
    model, _, x, y = pair(tie, "mup", 2.5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        _, plain_loss, plain = grads(model, x, y, chunk=0)
        _, loss, chunked = grads(model, x, y, chunk=7)
    _, fp32_loss, _ = grads(model, x, y, chunk=0)
    assert loss.dtype == plain_loss.dtype == torch.float32
    assert abs(plain_loss.item() - fp32_loss.item()) > 0          # bf16 really ran
    assert abs(loss.item() - plain_loss.item()) <= 1e-6 * plain_loss.item()
    for name in plain:
        assert plain[name].dtype == chunked[name].dtype == torch.float32
        assert relative(chunked[name], plain[name]) < 1e-2, name


def test_default_chunks_only_large_logits(monkeypatch):
    assert chunk_tokens(50304) == 5120 and chunk_tokens(256) == 1048576
    assert chunk_tokens(10**9) == 256                               # at least 256 tokens
    assert use_chunks(32 * 1024, 50304)                             # GPT-2 small: 6.6 GB
    assert not use_chunks(32 * 64, 4096)                            # cpu-vocab: 33.5 MB
    assert use_chunks(334, 50304) and not use_chunks(333, 50304)    # 64 MiB
    model, _, x, y = pair(True, "standard", 1.0)
    logits, plain = model(x, y)                                     # 48 tokens x 97: plain
    assert logits is not None
    monkeypatch.setattr(vocab_loss, "CHUNK_ABOVE_BYTES", 48 * 97 * 4 - 1)
    monkeypatch.setattr(vocab_loss, "CHUNK_BYTES", 256 * 97 * 4)
    logits, chunked = model(x, y)
    assert logits is None and abs(chunked.item() - plain.item()) <= 1e-6 * plain.item()
    logits, _ = model(x)                          # no targets: logits, as before
    assert logits.shape == (3, 16, 97)
