"""Gradual magnitude pruning in the runner: the prunable weights, their masks, and how pruned
weights stay exactly zero. The schedule (when, and how many weights each event keeps) is
`scaling.data.pruning_schedules`'s; this module only carries it out on a `ladders.model.GPT`.

Prunable weights: the matrices of the linear layers inside the blocks (attention qkv and
proj; MLP up, gate and proj) — `prunable_parameters`, exactly the "hidden" AdamW group of
`GPT.optimizer_groups`. Never the token embedding (nor the tied head, which is the embedding,
nor an untied head), the RMSNorm gains, or biases (the model has none). Their count is
`prunable_count(config)` = depth · (4·width² + (3 or 2)·width·hidden), from the config alone.

An event keeps `k` weights by global magnitude over all prunable matrices together: each weight
scores |w|, weights already pruned score −inf (never revived), and the k best are kept, ties
broken deterministically by position (a stable sort over the matrices in
`prunable_parameters` order, each flattened row-major: the earlier weight wins).

How pruned weights stay zero, exactly (`Masks`):
1. at an event, the pruned weights are set to zero, and so are their AdamW moments (exp_avg,
   exp_avg_sq: every optimizer-state tensor of the weight's shape);
2. after each backward pass (before gradient clipping) the gradients of pruned weights are
   zeroed, so the clipping norm counts only live weights and the moments of pruned weights stay
   zero: AdamW's update of such a weight is then 0 / (sqrt(0) + eps) = 0 and its weight decay
   shrinks 0;
3. after every optimizer step the weights are multiplied by the mask anyway (a no-op by 1 and
   2, kept as a guarantee whatever the optimizer does).
Until the first event the masks are all ones and steps 2 and 3 are skipped (nothing to mask).
Under CUDA bf16 autocast the masks apply to the fp32 master weights, which are the parameters.

Masks are saved in every checkpoint (`state_dict`: one bool tensor per prunable matrix) and
restored on --resume, so a resumed run prunes and masks exactly as an uninterrupted one.
"""

from __future__ import annotations

import torch

from ladders.model import GPT, GPTConfig


def prunable_parameters(model: GPT) -> list[tuple[str, torch.nn.Parameter]]:
    """(name, parameter) of every prunable matrix: the 2-D weights inside the blocks, in
    `named_parameters` order (attn.qkv, attn.proj, mlp.up, mlp.gate, mlp.proj per block)."""
    return [(name, p) for name, p in model.named_parameters()
            if name.startswith("blocks.") and p.dim() == 2]


def prunable_count(config: GPTConfig) -> int:
    """How many weights `prunable_parameters` holds, from the config alone."""
    mlp = (3 if config.mlp == "swiglu" else 2) * config.width * config.hidden
    return config.depth * (4 * config.width * config.width + mlp)


class Masks:
    """The keep-masks of a model's prunable matrices (see the module docstring)."""

    def __init__(self, model: GPT):
        named = prunable_parameters(model)
        self.names = [name for name, _ in named]
        self.params = [p for _, p in named]
        self.masks = [torch.ones_like(p, dtype=torch.bool) for p in self.params]
        self.pruned = False                  # has any event pruned yet (else nothing to mask)
        self.live = self.total               # weights kept (known without reading the device)
        self._factors: list[torch.Tensor] = []

    @property
    def total(self) -> int:
        return sum(p.numel() for p in self.params)

    def count(self) -> int:
        """Weights kept, counted from the masks (one read-back; the rows use it)."""
        return int(torch.stack([m.sum() for m in self.masks]).sum())

    @torch.no_grad()
    def prune_to(self, k: int, optimizer: torch.optim.Optimizer | None = None):
        """Keep the `k` largest live weights by magnitude; zero the rest and their optimizer
        moments. `k` may not exceed the live weights (pruned ones are never revived)."""
        if not 0 <= k <= self.live:
            raise ValueError(f"cannot keep {k} weights: {self.live} are live (of {self.total}); "
                             "pruned weights are never revived")
        scores = torch.cat([p.detach().abs().float().masked_fill(~m, -torch.inf).flatten()
                            for p, m in zip(self.params, self.masks)])
        order = torch.sort(scores, descending=True, stable=True).indices
        keep = torch.zeros_like(scores, dtype=torch.bool)
        keep[order[:k]] = True
        self.masks = [part.view_as(p) for part, p in
                      zip(keep.split([p.numel() for p in self.params]), self.params)]
        self.pruned, self.live = True, int(k)
        self._refresh()
        self.apply()
        if optimizer is not None:
            for p, factor in zip(self.params, self._factors):
                for value in optimizer.state.get(p, {}).values():
                    if torch.is_tensor(value) and value.shape == p.shape:
                        value.mul_(factor.to(value.dtype))

    def _refresh(self):
        self._factors = [m.to(p.dtype) for m, p in zip(self.masks, self.params)]

    @torch.no_grad()
    def apply(self):
        """Zero the pruned weights (after every optimizer step)."""
        if self.pruned:
            torch._foreach_mul_([p.data for p in self.params], self._factors)

    @torch.no_grad()
    def mask_gradients(self):
        """Zero the pruned weights' gradients (after backward, before clipping)."""
        if self.pruned:
            grads = [p.grad for p in self.params if p.grad is not None]
            factors = [f for p, f in zip(self.params, self._factors) if p.grad is not None]
            if grads:
                torch._foreach_mul_(grads, factors)

    def state_dict(self) -> dict:
        return {"names": list(self.names), "masks": [m.cpu() for m in self.masks],
                "pruned": self.pruned}

    def load_state_dict(self, state: dict):
        if list(state["names"]) != self.names or any(
                tuple(m.shape) != tuple(p.shape) for m, p in zip(state["masks"], self.params)):
            raise ValueError("the saved masks are not this model's prunable matrices")
        self.masks = [m.to(device=p.device, dtype=torch.bool)
                      for m, p in zip(state["masks"], self.params)]
        self.pruned = bool(state["pruned"])
        self.live = self.count()
        self._refresh()
