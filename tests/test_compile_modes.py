"""ladder.compile: false, true or a torch.compile mode; checked in the spec, passed to
torch.compile by the runner, and a "default"-compiled rung trains as the eager one on the CPU."""

import shutil
from dataclasses import replace

import numpy as np
import pytest

import cli
from ladders.spec import expand, load_spec

SPEC = """
[ladder]
name = "c"
context = 16
batch_size = 4
eval_every = 4
eval_batches = 1
checkpoint_every = 100
min_steps = 4
{compile}
[data]
corpus = "stdlib"
max_bytes = 100_000
[model]
sizes = [{{ width = 32, depth = 1, heads = 2 }}]
[tokens]
absolute = [512]
[optimizer]
lr = 3e-3
schedules = ["cosine"]
"""


def write(tmp_path, compile_line=""):
    path = tmp_path / "spec.toml"
    path.write_text(SPEC.format(compile=compile_line))
    return path


@pytest.mark.parametrize("line, value", [("", False), ("compile = false", False),
                                         ("compile = true", True),
                                         ('compile = "default"', "default"),
                                         ('compile = "reduce-overhead"', "reduce-overhead"),
                                         ('compile = "max-autotune-no-cudagraphs"',
                                          "max-autotune-no-cudagraphs")])
def test_compile_takes_a_bool_or_a_mode(tmp_path, line, value):
    spec = load_spec(write(tmp_path, line))
    assert spec.ladder.compile == value and type(spec.ladder.compile) is type(value)


@pytest.mark.parametrize("line", ['compile = "fast"', "compile = 1", "compile = 0",
                                  'compile = "max-autotune"'])
def test_a_bad_compile_mode_is_one_line(tmp_path, capsys, line):
    code = cli.main(["ladder", "run", str(write(tmp_path, line)), "--dry-run"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert "spec.toml" in err and "ladder.compile must be one of false, true, 'default', " \
        "'reduce-overhead', 'max-autotune-no-cudagraphs'" in err, err


@pytest.mark.parametrize("compile_value, mode", [(True, None), ("default", "default"),
                                                 ("reduce-overhead", "reduce-overhead"),
                                                 ("max-autotune-no-cudagraphs",
                                                  "max-autotune-no-cudagraphs")])
def test_the_runner_passes_the_mode_to_torch_compile(tmp_path, monkeypatch, compile_value, mode):
    import torch

    from ladders.train import train_rung

    seen = []

    def fake_compile(model, **kwargs):         # records the call, trains eagerly
        seen.append(kwargs)
        return model

    monkeypatch.setattr(torch, "compile", fake_compile)
    rung = replace(expand(load_spec(write(tmp_path)))[0], compile=compile_value)
    train_rung(rung, tmp_path / "run", device="cpu")
    assert seen == [{"mode": mode}]


def test_a_default_compiled_rung_trains_as_the_eager_one(tmp_path):
    """torch.compile on the CPU (inductor writes C++ and needs a compiler): the same losses as
    eager mode to 1e-4 at every row."""
    if not (shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")):
        pytest.skip("torch.compile on the CPU needs a C++ compiler (c++, g++ or clang++); "
                    "none is on PATH")
    from ladders.train import train_rung

    rung = expand(load_spec(write(tmp_path)))[0]
    assert rung.steps == 8 and rung.compile is False
    eager = train_rung(rung, tmp_path / "eager", device="cpu")
    compiled = train_rung(replace(rung, compile="default"), tmp_path / "compiled", device="cpu")
    assert eager["step"].tolist() == compiled["step"].tolist() == [4, 8]
    assert eager["loss"].iloc[-1] < eager["loss"].iloc[0]
    assert np.allclose(compiled["loss"], eager["loss"], rtol=1e-4, atol=0)
    assert np.allclose(compiled["train_loss"], eager["train_loss"], rtol=1e-4, atol=0)
