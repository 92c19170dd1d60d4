"""The output head and its cross-entropy in chunks of tokens, without the full logits.

The plain head (`GPT.forward` with chunking off) computes logits = x·Wᵀ·mult for every token of
a micro batch, casts them to fp32 and takes F.cross_entropy: at GPT-2 small (V = 50304) one
micro batch of 32 × 1024 tokens holds 6.6 GB of fp32 logits, kept for the backward pass with
their log-softmax, and every element-wise pass over them is memory-bound. `ChunkedHeadLoss`
(the approach of Liger Kernel's fused linear cross-entropy and of Wijmans et al. 2024, "Cut
Your Losses in Large-Vocabulary Language Models") takes the tokens `chunk` at a time: for each
chunk it computes the chunk's logits in the compute dtype, their logsumexp in fp32, the chunk's
share of the mean loss, and right there, in the forward pass, the gradient of the loss with
respect to the chunk's hidden states and its contribution to the head's gradient. The backward
pass only scales the saved gradients by the incoming one. Peak memory for the head is one
chunk's logits (and the saved gradients, the size of x and W), not the micro batch's.

It computes what the plain path computes, step by step in the same dtypes: logits in the
compute dtype (bf16 under autocast), multiplied by `scale` (muP's output multiplier) in that
dtype, then fp32 for the log-softmax; the fp32 gradient softmax - onehot, over the number of
tokens, cast back to the compute dtype and multiplied by `scale` there, then the two matmuls.
In fp32 it equals the plain path to rounding; under bf16 autocast to bf16 rounding (the head's
gradient is summed over chunks in fp32, where the plain path's single matmul sums in its own
order).

Which path runs: `use_chunks(tokens, vocab)`: chunked when the fp32 logits of one micro batch
would exceed CHUNK_ABOVE_BYTES (64 MiB), in chunks of `chunk_tokens(vocab)` tokens (fp32
logits of at most CHUNK_BYTES, 1 GiB, a multiple of 256 tokens). The ladders' bundled CPU specs
(V <= 4096, a few thousand tokens per pass) stay on the plain path; GPT-2 small's head
(V = 50304, 32k tokens per pass) runs in chunks of 5,120 tokens.
"""
import torch

CHUNK_ABOVE_BYTES = 64 * 2**20    # chunked when one micro batch's fp32 logits exceed this
CHUNK_BYTES = 2**30               # fp32 logits of one chunk, at most (rounded to 256 tokens)


def use_chunks(tokens: int, vocab: int) -> bool:
    """The default: chunk when the fp32 logits of `tokens` tokens exceed CHUNK_ABOVE_BYTES."""
    return tokens * vocab * 4 > CHUNK_ABOVE_BYTES


def chunk_tokens(vocab: int) -> int:
    """Tokens per chunk: fp32 logits of at most CHUNK_BYTES, a multiple of 256 (at least 256)."""
    return max(256, CHUNK_BYTES // (4 * vocab) // 256 * 256)


class ChunkedHeadLoss(torch.autograd.Function):
    """mean cross-entropy(x·Wᵀ·scale, targets), chunk tokens at a time; see the module docstring.

    x (N, d) and weight (V, d) in the compute dtype, targets (N,) token ids; returns the fp32
    mean loss over the N tokens. The gradients with respect to x and weight are computed in the
    forward pass when either needs one (not under torch.no_grad: evaluation computes the loss
    alone).
    """

    @staticmethod
    def forward(ctx, x, weight, targets, scale: float, chunk: int):
        n = x.shape[0]
        wants_grad = ctx.needs_input_grad[0] or ctx.needs_input_grad[1]
        total = torch.zeros((), dtype=torch.float32, device=x.device)
        grad_x = torch.empty_like(x) if wants_grad else None
        grad_w = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device) \
            if wants_grad else None
        with torch.autocast(x.device.type, enabled=False):   # the dtypes are set by the caller
            for start in range(0, n, chunk):
                h, t = x[start:start + chunk], targets[start:start + chunk]
                logits = (h @ weight.t() * scale).float()
                lse = torch.logsumexp(logits, dim=-1)
                total += (lse - logits.gather(1, t[:, None]).squeeze(1)).sum()
                if not wants_grad:
                    continue
                # d(mean loss)/d(logits) = (softmax - onehot) / n, in fp32, in place
                grad = logits.sub_(lse[:, None]).exp_()
                grad.scatter_add_(1, t[:, None], grad.new_full((len(t), 1), -1.0))
                grad = (grad / n).to(x.dtype) * scale
                grad_x[start:start + chunk] = grad @ weight
                grad_w += (grad.t() @ h).float()
        if wants_grad:
            ctx.save_for_backward(grad_x, grad_w.to(weight.dtype))
        return total / n

    @staticmethod
    def backward(ctx, grad_loss):
        grad_x, grad_w = ctx.saved_tensors
        return grad_x * grad_loss.to(grad_x.dtype), grad_w * grad_loss.to(grad_w.dtype), \
            None, None, None


def chunked_head_loss(x, weight, targets, scale: float, chunk: int):
    """The mean cross-entropy of the head over x (..., d) against targets (...), in chunks of
    `chunk` tokens; under autocast x and weight are cast to its dtype first (as F.linear would),
    so the gradients reach the fp32 parameters through those casts."""
    device = x.device.type
    if torch.is_autocast_enabled(device):
        dtype = torch.get_autocast_dtype(device)
        x, weight = x.to(dtype), weight.to(dtype)
    return ChunkedHeadLoss.apply(x.reshape(-1, x.shape[-1]), weight, targets.reshape(-1),
                                 float(scale), int(chunk))
