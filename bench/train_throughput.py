"""Training throughput: our rung loop against a minimal plain PyTorch loop, same model and batch.

Ours: `ladders.train.train_rung` (schedule, per-step batch from (seed, step), gradient clipping,
loss sync, progress bookkeeping), timed by its own `seconds` column over the training steps.
Baseline: the plainest loop written here: random batch, forward, backward, AdamW step.

    python bench/train_throughput.py [--width 128 --depth 4 --heads 4 --context 128 --batch 16]
                                     [--steps 60] [--device cpu|cuda] [--compile]
On CUDA it also prints model FLOP utilisation against --peak (dense bf16 FLOP/s of the card).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from ladders.model import GPT, GPTConfig, flops_per_token, parameter_counts  # noqa: E402
from ladders.spec import Rung  # noqa: E402
from ladders.train import load_data, train_rung  # noqa: E402


def plain_loop(config, batch, steps, device, compile_model, train_tokens):
    torch.manual_seed(0)
    model = GPT(config).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=device == "cuda")
    step_fn = torch.compile(model) if compile_model else model
    data = torch.from_numpy(train_tokens[: 1 << 22].astype("int64"))
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device == "cuda" \
        else torch.autocast("cpu", enabled=False)

    def one_step():
        starts = torch.randint(0, len(data) - config.context - 1, (batch,))
        x = torch.stack([data[s:s + config.context] for s in starts]).to(device)
        y = torch.stack([data[s + 1:s + 1 + config.context] for s in starts]).to(device)
        with autocast:
            _, loss = step_fn(x, y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(5):
        one_step()
    if device == "cuda":
        torch.cuda.synchronize()
    began = time.perf_counter()
    for _ in range(steps):
        one_step()
    if device == "cuda":
        torch.cuda.synchronize()
    return steps * batch * config.context / (time.perf_counter() - began)


def our_loop(config, batch, steps, device, compile_model, data):
    rung = Rung(run="bench", model=asdict(config), tokens=steps * batch * config.context,
                steps=steps, batch_size=batch, context=config.context,
                schedule=f"cosine:peak=0.001,warmup=0,steps={steps},final=0.0001", seed=0,
                weight_decay=0.1, beta1=0.9, beta2=0.95, grad_clip=1.0, eval_every=steps,
                eval_batches=1, checkpoint_every=steps, compile=compile_model, data=data)
    with tempfile.TemporaryDirectory() as work:
        warm = Rung(**{**asdict(rung), "steps": 5, "eval_every": 5, "checkpoint_every": 5,
                       "schedule": "constant:peak=0.001,steps=5"})
        train_rung(warm, Path(work), device=device)
        rows = train_rung(rung, Path(work), device=device)
    return steps * batch * config.context / rows["seconds"].iloc[-1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--context", type=int, default=128)
    parser.add_argument("--vocab", type=int, default=256)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--peak", type=float, default=989e12,
                        help="dense bf16 peak FLOP/s for MFU (default: H100 SXM, 989e12)")
    args = parser.parse_args(argv)

    config = GPTConfig(vocab_size=args.vocab, context=args.context, width=args.width,
                       depth=args.depth, heads=args.heads)
    data = {"corpus": "stdlib", "max_bytes": 2_000_000, "tokenizer": "bytes" if args.vocab == 256
            else "bpe", "bin_dtype": "uint16", "valid_fraction": 0.05, "files": [],
            "train_bin": None, "valid_bin": None, "vocab_size": args.vocab}
    tokens = load_data(data)
    plain = plain_loop(config, args.batch, args.steps, args.device, args.compile, tokens.train)
    ours = our_loop(config, args.batch, args.steps, args.device, args.compile, data)
    counts = parameter_counts(config)
    print(f"model: width {args.width}, depth {args.depth}, {counts['total']:,} parameters; "
          f"batch {args.batch} x {args.context} tokens; {args.steps} steps on {args.device}"
          f"{' (compiled)' if args.compile else ''}; {torch.get_num_threads()} threads")
    print(f"{'':<12} {'plain loop':>14} {'ours':>14}")
    print(f"{'tokens/s':<12} {plain:>14,.0f} {ours:>14,.0f}")
    print(f"ratio ours/plain: {ours / plain:.3f} (goal >= 1.0 on CPU)")
    if args.device == "cuda":
        per_token = flops_per_token(config)
        print(f"MFU: plain {per_token * plain / args.peak:.1%}, ours {per_token * ours / args.peak:.1%}"
              f" of {args.peak:.3g} FLOP/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
