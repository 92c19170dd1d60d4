"""Training throughput: our rung loop against a plain nanoGPT-style loop, same model and batch.

Ours: `ladders.train.train_rung` (LR schedule, per-step batch from (seed, step), gradient
accumulation, clipping, rows, checkpoints), timed by its own `seconds` column between two rows,
so compilation and warm-up steps stay out of it. Baseline, in the same run: the plainest loop a
user writes (nanoGPT's train.py): random batch, micro-batch forward/backward, AdamW step; timed
over the same number of steps after the same warm-up.

    python bench/train_throughput.py [--width 128 --depth 4 --heads 4 --context 128 --batch 16]
                                     [--micro-batch M] [--steps 60] [--warmup 5]
                                     [--device cpu|cuda] [--compile [MODE]] [--repeats 3]
                                     [--compare [--budget SECONDS]] [--json OUT]

--compile takes torch.compile's default mode, or a mode by name. --compare then times the plain
loop again, once each, with the other head loss (plain F.cross_entropy where the default
chunks it, `ladders.vocab_loss` chunks where it does not) and with the compile modes
"reduce-overhead" and "max-autotune-no-cudagraphs" (on CUDA, with --compile): side by side in
`variants`. Each variant is only started while the run's elapsed time plus the time the main
plain loop took (three times that for max-autotune) fits in --budget seconds; the others are
listed as skipped.

With --vocab 256 the tokens are bytes of the Python standard library; with a larger vocabulary,
token ids drawn uniformly (throughput does not depend on them, and no tokenizer is trained).
On CUDA it prints model FLOP utilisation (MFU): `ladders.model.flops_per_token` (Chinchilla's
accounting: 6 x (non-embedding params + head) + attention at full context) x tokens/s, against
the card's dense bf16 peak (`--peak`, or the card's datasheet value when the name is known).
The GPT-2 small shape (124M): --width 768 --depth 12 --heads 12 --context 1024 --vocab 50304.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from ladders.cores import set_threads  # noqa: E402
from ladders.model import GPT, GPTConfig, flops_per_token, parameter_counts  # noqa: E402
from ladders.vocab_loss import chunk_tokens, use_chunks  # noqa: E402
from ladders.spec import Rung  # noqa: E402
from ladders.train import load_data, train_rung  # noqa: E402

# Dense (no sparsity) bf16 tensor-core peaks from the vendors' datasheets, FLOP/s.
PEAK_BF16 = [("H100 PCIe", 756e12), ("H100 NVL", 835e12), ("H100", 989e12), ("H200", 989e12),
             ("GH200", 989e12), ("A100", 312e12), ("L40S", 362e12), ("L4", 121e12),
             ("A10G", 125e12)]


def card_peak(name: str) -> float | None:
    """The datasheet's dense bf16 peak for a CUDA device name, or None when unknown."""
    for key, peak in PEAK_BF16:
        if key in name:
            return peak
    return None


def random_bins(folder: Path, vocab: int, train_tokens: int, seed: int = 0) -> dict:
    """Uniform random token ids as a pre-tokenised corpus: the `data` settings of a rung."""
    rng = np.random.default_rng(seed)
    dtype = np.uint16 if vocab <= 1 << 16 else np.uint32
    paths = {}
    for split, count in (("train", train_tokens), ("valid", max(train_tokens // 20, 1 << 16))):
        paths[split] = folder / f"random-{split}.bin"
        rng.integers(0, vocab, size=count, dtype=np.int64).astype(dtype).tofile(paths[split])
    return {"corpus": "bins", "max_bytes": None, "tokenizer": "bytes", "files": [],
            "bin_dtype": np.dtype(dtype).name, "valid_fraction": 0.05,
            "train_bin": str(paths["train"]), "valid_bin": str(paths["valid"]),
            "vocab_size": vocab}


def compile_mode(compile_model):
    """torch.compile's mode for a --compile value: None for True (its default mode)."""
    return None if compile_model is True else compile_model


def plain_loop(config, batch, micro, steps, warmup, device, compile_model, train_tokens,
               chunk=None):
    """nanoGPT's loop: tokens/s over `steps` steps after `warmup` steps. `compile_model`:
    False, True or a torch.compile mode; `chunk`: the model's head loss (None: its default,
    0: plain cross-entropy, a number: chunks of that many tokens)."""
    torch.manual_seed(0)
    model = GPT(config).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=True)
    step_fn = torch.compile(model, mode=compile_mode(compile_model)) if compile_model else model
    data = torch.from_numpy(np.asarray(train_tokens[: 1 << 24]).astype(np.int64))
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device == "cuda" \
        else torch.autocast("cpu", enabled=False)
    passes = batch // micro

    def one_step():
        for _ in range(passes):
            starts = torch.randint(0, len(data) - config.context - 1, (micro,))
            x = torch.stack([data[s:s + config.context] for s in starts])
            y = torch.stack([data[s + 1:s + 1 + config.context] for s in starts])
            if device == "cuda":
                x = x.pin_memory().to(device, non_blocking=True)
                y = y.pin_memory().to(device, non_blocking=True)
            with autocast:
                _, loss = step_fn(x, y, chunk=chunk)
            (loss / passes).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(warmup):
        one_step()
    if device == "cuda":
        torch.cuda.synchronize()
    began = time.perf_counter()
    for _ in range(steps):
        one_step()
    if device == "cuda":
        torch.cuda.synchronize()
    return steps * batch * config.context / (time.perf_counter() - began)


def our_loop(config, batch, micro, steps, warmup, device, compile_model, data):
    """`train_rung`: tokens/s between its rows at step `warmup` and step `warmup + steps`."""
    total = warmup + steps
    rung = Rung(run="bench", model=asdict(config), tokens=total * batch * config.context,
                steps=total, batch_size=batch, context=config.context,
                schedule=f"cosine:peak=0.001,warmup=0,steps={total},final=0.0001", seed=0,
                weight_decay=0.1, beta1=0.9, beta2=0.95, grad_clip=1.0, eval_every=warmup,
                eval_batches=1, checkpoint_every=total, compile=compile_model,
                micro_batch=micro, data=data)
    with tempfile.TemporaryDirectory() as work:
        rows = train_rung(rung, Path(work), device=device).set_index("step")
    return steps * batch * config.context / (rows.loc[total, "seconds"] - rows.loc[warmup, "seconds"])


def variants(config, micro, device, compile_model) -> list[dict]:
    """The plain loop's runs that --compare adds: the other head loss, then the compile modes
    (CUDA and --compile only); `cost`: its expected time in units of the main plain run's."""
    chunked = use_chunks(micro * config.context, config.vocab_size)
    out = [{"name": "loss plain" if chunked else "loss chunked",
            "chunk": 0 if chunked else chunk_tokens(config.vocab_size),
            "compile": compile_model, "cost": 1.0}]
    if device == "cuda" and compile_model:
        out += [{"name": mode, "chunk": None, "compile": mode, "cost": cost}
                for mode, cost in (("reduce-overhead", 1.0), ("max-autotune-no-cudagraphs", 3.0))
                if mode != compile_model]
    return out


def measure(width=128, depth=4, heads=4, context=128, vocab=256, batch=16, micro_batch=None,
            steps=60, warmup=5, device=None, compile_model=False, peak=None,
            repeats=3, compare=False, budget=None) -> dict:
    """Both loops on one model, `repeats` times each in turn; the medians, as a record of the
    figures (also printed). With `compare`, the plain loop's `variants` after them, as many
    as fit in `budget` seconds."""
    began = time.perf_counter()
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        set_threads()       # both loops with the threads our runner would take
    micro = micro_batch or batch
    if batch % micro:
        raise SystemExit(f"--batch {batch} is not a multiple of --micro-batch {micro}")
    config = GPTConfig(vocab_size=vocab, context=context, width=width, depth=depth, heads=heads)
    with tempfile.TemporaryDirectory() as scratch:
        if vocab == 256:
            data = {"corpus": "stdlib", "max_bytes": 2_000_000, "tokenizer": "bytes",
                    "bin_dtype": "uint16", "valid_fraction": 0.05, "files": [],
                    "train_bin": None, "valid_bin": None, "vocab_size": vocab}
        else:
            data = random_bins(Path(scratch), vocab, max(1 << 22, 4 * batch * context))
        tokens = load_data(data)
        plains, ourss = [], []
        for _ in range(repeats):        # alternating, so a busy spell hits both alike
            started = time.perf_counter()
            plains.append(plain_loop(config, batch, micro, steps, warmup, device,
                                     compile_model, tokens.train))
            plain_seconds = time.perf_counter() - started
            ourss.append(our_loop(config, batch, micro, steps, warmup, device, compile_model,
                                  data))
        plain, ours = float(np.median(plains)), float(np.median(ourss))
        compared = []
        for variant in variants(config, micro, device, compile_model) if compare else []:
            name, cost = variant["name"], variant["cost"] * plain_seconds
            if budget is not None and time.perf_counter() - began + cost > budget:
                compared.append({"name": name, "skipped": f"about {cost:.0f} s more would pass "
                                 f"the budget of {budget:.0f} s"})
                continue
            started = time.perf_counter()
            try:
                rate = plain_loop(config, batch, micro, steps, warmup, device,
                                  variant["compile"], tokens.train, chunk=variant["chunk"])
            except Exception as exc:  # noqa: BLE001 - a failing mode is a finding, not a crash
                compared.append({"name": name, "error": f"{type(exc).__name__}: {exc}"[:300]})
                continue
            compared.append({"name": name, "compile": variant["compile"],
                             "chunk": variant["chunk"], "tokens_per_s": rate,
                             "ratio_to_plain": rate / plain,
                             "seconds": round(time.perf_counter() - started, 1)})
    record = {"device": device, "card": torch.cuda.get_device_name() if device == "cuda" else "cpu",
              "params": parameter_counts(config)["total"], "width": width, "depth": depth,
              "heads": heads, "context": context, "vocab": vocab, "batch": batch,
              "micro_batch": micro, "steps": steps, "warmup": warmup, "compiled": compile_model,
              "threads": torch.get_num_threads(), "plain_tokens_per_s": plain,
              "ours_tokens_per_s": ours, "ratio": ours / plain, "repeats": repeats,
              "plain_runs": plains, "ours_runs": ourss,
              "loss": "chunked" if use_chunks(micro * context, vocab) else "plain"}
    if compare:
        record["variants"] = compared
    print(f"model: width {width}, depth {depth}, {record['params']:,} parameters; batch {batch} "
          f"x {context} tokens in passes of {micro}; {steps} steps after {warmup} on {device}"
          f"{' (compiled: ' + str(compile_mode(compile_model) or 'default') + ')' if compile_model else ''}"
          f"; {record['loss']} head loss; {record['threads']} threads; median of "
          f"{repeats} runs each")
    print(f"{'':<12} {'plain loop':>14} {'ours':>14}")
    print(f"{'tokens/s':<12} {plain:>14,.0f} {ours:>14,.0f}")
    print(f"ratio ours/plain: {ours / plain:.3f} (goal >= 1.0)")
    if device == "cuda":
        peak = peak or card_peak(record["card"])
        per_token = flops_per_token(config)
        record.update(flops_per_token=per_token, peak_flops=peak)
        if peak:
            record.update(mfu_plain=per_token * plain / peak, mfu_ours=per_token * ours / peak)
            for variant in record.get("variants", []):
                if "tokens_per_s" in variant:
                    variant["mfu"] = per_token * variant["tokens_per_s"] / peak
            print(f"MFU on {record['card']}: plain {record['mfu_plain']:.1%}, ours "
                  f"{record['mfu_ours']:.1%} of {peak:.4g} FLOP/s (dense bf16 peak)")
        else:
            print(f"MFU: unknown peak for {record['card']}; pass --peak")
    for variant in record.get("variants", []):
        figure = f"{variant['tokens_per_s']:,.0f} tokens/s ({variant['ratio_to_plain']:.3f} of " \
                 f"the plain loop)" + (f", MFU {variant['mfu']:.1%}" if "mfu" in variant else "") \
            if "tokens_per_s" in variant else variant.get("skipped") or variant.get("error")
        print(f"plain loop, {variant['name']}: {figure}")
    return record


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--context", type=int, default=128)
    parser.add_argument("--vocab", type=int, default=256)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--micro-batch", type=int, default=None)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--compile", nargs="?", const=True, default=False,
                        choices=[True, "default", "reduce-overhead", "max-autotune-no-cudagraphs"],
                        help="torch.compile both loops (default mode, or MODE)")
    parser.add_argument("--compare", action="store_true",
                        help="time the plain loop again with the other head loss and the "
                             "other compile modes")
    parser.add_argument("--budget", type=float, default=None,
                        help="seconds for the whole run: --compare skips what would not fit")
    parser.add_argument("--peak", type=float, default=None,
                        help="dense bf16 peak FLOP/s for MFU (default: the card's datasheet)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs of each loop, alternating; the medians are reported")
    parser.add_argument("--json", metavar="OUT", help="write the figures as JSON")
    args = parser.parse_args(argv)
    record = measure(args.width, args.depth, args.heads, args.context, args.vocab, args.batch,
                     args.micro_batch, args.steps, args.warmup, args.device, args.compile,
                     args.peak, args.repeats, args.compare, args.budget)
    if args.json:
        Path(args.json).write_text(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
