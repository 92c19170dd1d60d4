"""The coordinate check of muP (Yang et al. 2022, "Tensor Programs V", section 7.3 / Figure 5):
train each width a few steps and watch the size of every layer's activations.

    scaling ladder coord-check SPEC [--widths 32 64 128 256] [--steps 10] [--out-dir DIR] [--threads K]

For each parametrization ("standard" and "mup") and each width (the spec's model.sizes, or
--widths with the depth of model.sizes[0] and the base's head size), a model is built from the
spec (its base_width, output_mult, mlp, ties, context and batch size), seeded with `seed`, and
trained `steps` AdamW steps at the spec's constant peak LR `optimizer.lr` (no warmup, no decay,
no width rule: the parametrization alone decides how the LR acts at each width) on the spec's
training tokens. Forward hooks record the root mean square of every element of

    embedding   the token embedding's output
    block<i>    each transformer block's output (the residual stream after block i)
    norm        the final RMSNorm's output
    logits      the output logits (after the logit multiplier)

in each training step's forward pass (step s: after s updates) and once more after the last
update (step = steps), on that step's batch. Under muP every one of them stays the same order of
magnitude at every width once the model has trained a few steps ("flat lines"); under the
standard parametrization with Adam the hidden activations and the logits grow with width: an
Adam update moves every entry of a width x width matrix by about the LR, and a width-long dot
product with correlated inputs adds those up. `slopes` fits log RMS against log width at the
last step: about 0 under muP, clearly positive under standard.

Output: a CSV of (parametrization, width, step, layer, rms) and a figure, one panel per
parametrization, RMS against width on log-log axes at the last step, a line per layer (both
written atomically).
"""

from __future__ import annotations

import math
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pandas as pd

from ladders.spec import SpecError, load_spec
from scaling.output.atomic import atomic_path

PARAMETRIZATIONS = ("standard", "mup")


def coord_configs(spec, widths=None) -> list:
    """GPTConfigs (muP, the spec's base width) of the spec's sizes, or of `widths` with the depth
    of model.sizes[0] and heads of the base's head size; a SpecError for a width muP cannot
    take (not a multiple of the base's head size) or a spec without optimizer.base_width."""
    from ladders import model as gpt
    from ladders.spec.rungs import check_mup_heads, model_config

    if spec.optimizer.base_width is None:
        raise SpecError(f"{spec.path}: the coordinate check compares muP with the standard "
                        "parametrization and muP needs optimizer.base_width; give it")
    mup = replace(spec, model=replace(spec.model, parametrization="mup"))
    head = check_mup_heads(mup)
    vocab_size = spec.data.vocab_sizes[0]
    configs = [model_config(size, index, vocab_size, mup, gpt)
               for index, size in enumerate(spec.model.sizes)]
    if widths:
        first = configs[0]
        configs = []
        for width in widths:
            if width % head:
                raise SpecError(f"--widths: muP needs every width a multiple of the base's head "
                                f"size {head} (optimizer.base_width = "
                                f"{spec.optimizer.base_width}), got {width}")
            configs.append(gpt.GPTConfig(**{**asdict(first), "width": int(width),
                                            "heads": int(width) // head}))
    widths = [c.width for c in configs]
    if len(set(widths)) != len(widths):
        raise SpecError(f"{spec.path}: the coordinate check needs distinct widths, got {widths}")
    if len(widths) < 2:
        raise SpecError(f"{spec.path}: the coordinate check needs at least 2 widths to fit a "
                        f"slope, got {widths}")
    return sorted(configs, key=lambda c: c.width)


def coord_check(spec_path, widths=None, steps: int = 10, seed: int = 0,
                threads: int | None = None, parametrizations=PARAMETRIZATIONS) -> pd.DataFrame:
    """The activation RMS table (parametrization, width, step, layer, rms); see the module
    docstring."""
    import torch

    from ladders import data as token_data
    from ladders.cores import set_threads
    from ladders.model import GPT
    from ladders.spec.rungs import data_for_rung
    from ladders.train import load_data

    if steps < 1:
        raise SpecError(f"--steps must be at least 1, got {steps}")
    spec = load_spec(spec_path)
    configs = coord_configs(spec, widths)
    set_threads(threads)
    opt, ladder = spec.optimizer, spec.ladder
    tokens = load_data({**data_for_rung(spec), "vocab_size": int(spec.data.vocab_sizes[0])})
    records = []
    for parametrization in parametrizations:
        for config in configs:
            config = replace(config, parametrization=parametrization)
            torch.manual_seed(seed)
            model = GPT(config)
            optimizer = torch.optim.AdamW(model.optimizer_groups(opt.lr, opt.weight_decay),
                                          betas=(opt.beta1, opt.beta2))
            current = {"step": 0}

            def hook(layer):
                def record(module, inputs, output):
                    value = output[0] if isinstance(output, tuple) else output
                    rms = value.detach().float().pow(2).mean().sqrt().item()
                    records.append((parametrization, config.width, current["step"], layer, rms))
                return record

            handles = [model.wte.register_forward_hook(hook("embedding"))]
            handles += [block.register_forward_hook(hook(f"block{i}"))
                        for i, block in enumerate(model.blocks)]
            handles += [model.norm.register_forward_hook(hook("norm")),
                        model.register_forward_hook(hook("logits"))]
            for step in range(steps + 1):
                current["step"] = step
                x, y = token_data.batch_at(tokens.train, step, ladder.batch_size, ladder.context,
                                           seed)
                x, y = torch.from_numpy(x), torch.from_numpy(y)
                if step == steps:                    # after the last update: look only
                    with torch.no_grad():
                        model(x, y)
                    break
                _, loss = model(x, y)
                loss.backward()
                if opt.grad_clip:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), opt.grad_clip)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                if not math.isfinite(loss.item()):
                    raise SpecError(f"{spec.path}: {parametrization} width {config.width} "
                                    f"diverged at step {step}; lower optimizer.lr")
            for handle in handles:
                handle.remove()
    return pd.DataFrame(records, columns=["parametrization", "width", "step", "layer", "rms"])


def _layer_order(layers) -> list[str]:
    def key(name):
        if name == "embedding":
            return (0, 0)
        if name.startswith("block"):
            return (1, int(name[5:]))
        return (2, 0) if name == "norm" else (3, 0)
    return sorted(set(layers), key=key)


def slopes(table: pd.DataFrame, step: int | None = None) -> pd.DataFrame:
    """The least-squares slope of log RMS against log width, per parametrization and layer, at
    `step` (default: the last step): rows (parametrization, layer, slope)."""
    step = int(table["step"].max()) if step is None else step
    at = table[table["step"] == step]
    rows = []
    for parametrization in [p for p in PARAMETRIZATIONS if p in set(at["parametrization"])]:
        part = at[at["parametrization"] == parametrization]
        for layer in _layer_order(part["layer"]):
            points = part[part["layer"] == layer]
            slope = np.polyfit(np.log(points["width"]), np.log(points["rms"]), 1)[0]
            rows.append((parametrization, layer, float(slope)))
    return pd.DataFrame(rows, columns=["parametrization", "layer", "slope"])


def slopes_text(table: pd.DataFrame) -> str:
    """The slopes as a table: a row per layer, a column per parametrization."""
    from scaling.output.format import table as text_table

    fitted = slopes(table)
    wide = fitted.pivot(index="layer", columns="parametrization", values="slope")
    columns = [p for p in PARAMETRIZATIONS if p in wide.columns]
    body = [(layer, *(f"{wide.loc[layer, p]:+.3f}" for p in columns))
            for layer in _layer_order(wide.index)]
    widths = sorted(set(table["width"]))
    header = ("layer", *(f"slope {p}" for p in columns))
    return (text_table(header, body, right=header[1:])
            + f"\n(log-log slope of activation RMS vs width at step {int(table['step'].max())}, "
              f"widths {', '.join(map(str, widths))}; muP: flat is 0)")


def plot_coord_check(table: pd.DataFrame, path) -> Path:
    """RMS against width (log-log) at the last step: a panel per parametrization, a line per
    layer; saved atomically."""
    from scaling.output.figure_style import figure_style, new_figure

    last = int(table["step"].max())
    at = table[table["step"] == last]
    present = [p for p in PARAMETRIZATIONS if p in set(at["parametrization"])]
    fitted = slopes(table)
    with figure_style():
        figure = new_figure(4.2 * len(present), 3.6)
        axes = figure.subplots(1, len(present), sharey=True, squeeze=False)[0]
        for ax, parametrization in zip(axes, present):
            part = at[at["parametrization"] == parametrization]
            for layer in _layer_order(part["layer"]):
                points = part[part["layer"] == layer].sort_values("width")
                slope = fitted[(fitted["parametrization"] == parametrization)
                               & (fitted["layer"] == layer)]["slope"].iloc[0]
                ax.plot(points["width"], points["rms"], marker="o",
                        label=f"{layer} ({slope:+.2f})")
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xlabel("width")
            ax.set_title(f"{'muP' if parametrization == 'mup' else 'standard'}, step {last}")
            ax.legend(fontsize="small", title="layer (slope)", title_fontsize="small")
        axes[0].set_ylabel("activation RMS")
        with atomic_path(path) as temporary:
            figure.savefig(temporary, format=Path(path).suffix[1:] or "png")
    return Path(path)


def write_csv(table: pd.DataFrame, path) -> Path:
    with atomic_path(path) as temporary:
        table.to_csv(temporary, index=False)
    return Path(path)


def command(args) -> int:
    """`scaling ladder coord-check` with parsed arguments."""
    from scaling.output.console import check_output

    from ladders.launch import needs_torch

    if args.threads is not None and args.threads < 1:
        raise SpecError(f"--threads must be at least 1, got {args.threads}")
    widths = None
    if args.widths:
        try:
            widths = [int(w) for item in args.widths for w in str(item).split(",") if w]
        except ValueError:
            raise SpecError(f"--widths: give positive integers, got {' '.join(args.widths)}") \
                from None
        if any(w <= 0 for w in widths):
            raise SpecError(f"--widths: give positive integers, got {widths}")
    out = Path(args.out_dir)
    csv_path, plot_path = out / "coord-check.csv", out / "coord-check.png"
    if out.exists() and not out.is_dir():
        raise SpecError(f"--out-dir {out}: is a file; give a folder")
    check_output(csv_path, "--out-dir", {"csv"}, "coord-check.csv")
    check_output(plot_path, "--out-dir", {"png"}, "coord-check.png")
    needs_torch()
    table = coord_check(args.spec, widths=widths, steps=args.steps, threads=args.threads)
    write_csv(table, csv_path)
    plot_coord_check(table, plot_path)
    print(slopes_text(table))
    print(f"wrote {csv_path} ({len(table)} rows) and {plot_path}")
    return 0
