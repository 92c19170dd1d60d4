"""--dry-run's estimate counts the output head's memory traffic beside its FLOPs
(ladders/spec/cost.py), and ladder.bytes_per_second overrides the default bandwidth."""

import pytest

pytest.importorskip("torch")

import cli  # noqa: E402
from ladders.model import GPTConfig, flops_per_token  # noqa: E402
from ladders.spec import DEFAULT_BYTES_PER_SECOND, estimate, expand, load_spec  # noqa: E402
from ladders.spec.cost import head_bytes_per_logit  # noqa: E402

SPEC = """
[ladder]
name = "h"
context = 32
batch_size = 8
min_steps = 4
{extra}
[data]
corpus = "stdlib"
max_bytes = 100_000
tokenizer = "bpe"
vocab_sizes = [512, 8192]
[model]
sizes = [{{ width = 32, depth = 1, heads = 2 }}]
[tokens]
absolute = [8192]
[optimizer]
lr = 1e-3
schedules = ["cosine"]
"""


def write(tmp_path, extra=""):
    path = tmp_path / "spec.toml"
    path.write_text(SPEC.format(extra=extra))
    return path


def test_bytes_per_logit_by_device():
    assert head_bytes_per_logit("cuda") == 2 + 4 + 6 + 8 + 4 + 12 + 6 + 4 + 4 == 50
    assert head_bytes_per_logit("cpu") == 4 + 8 + 8 + 4 + 12 + 8 + 8 == 52


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_estimate_adds_the_heads_memory_time(tmp_path, device):
    rungs = expand(load_spec(write(tmp_path)))
    assert [GPTConfig(**r.model).vocab_size for r in rungs] == [512, 8192]
    rows = estimate(rungs, device, flops_per_second=1e10)
    for rung, row in zip(rungs, rows):
        vocab = rung.model["vocab_size"]
        assert row["head_bytes"] == rung.tokens * vocab * head_bytes_per_logit(device)
        assert row["seconds"] == pytest.approx(
            row["flops_own"] / 1e10 + row["head_bytes"] / DEFAULT_BYTES_PER_SECOND[device])
        assert row["flops"] == flops_per_token(GPTConfig(**rung.model)) * rung.tokens
    faster = estimate(rungs, device, flops_per_second=1e10, bytes_per_second=1e15)
    assert [r["head_bytes"] for r in faster] == [r["head_bytes"] for r in rows]
    assert faster[1]["seconds"] == pytest.approx(faster[1]["flops_own"] / 1e10, rel=1e-4)
    assert rows[1]["seconds"] - faster[1]["seconds"] > 16 * (rows[0]["seconds"]
                                                             - faster[0]["seconds"]) * 0.99


def test_bytes_per_second_is_a_positive_number(tmp_path, capsys):
    assert load_spec(write(tmp_path, "bytes_per_second = 5e11")).ladder.bytes_per_second == 5e11
    assert load_spec(write(tmp_path)).ladder.bytes_per_second is None
    for bad, message in (("0", "ladder.bytes_per_second must be positive"),
                         ('"fast"', "ladder.bytes_per_second must be a number")):
        code = cli.main(["ladder", "run", str(write(tmp_path, f"bytes_per_second = {bad}")),
                         "--dry-run"])
        err = capsys.readouterr().err.strip()
        assert code == 2 and len(err.splitlines()) == 1 and message in err, err
