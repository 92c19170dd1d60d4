"""Gradual magnitude pruning in the runner: masks, rows, resume, spec ([pruning])."""

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import torch

import cli
import ladders.train
from ladders.model import GPT, GPTConfig, parameter_counts
from ladders.pruning import Masks, prunable_count, prunable_parameters
from ladders.spec import expand, load_spec
from ladders.train import train_rung
from scaling.data.pruning_schedules import parse

SPEC = """
[ladder]
name = "p"
context = 32
batch_size = 8
eval_every = 5
eval_batches = 2
checkpoint_every = 20
min_steps = 5
[data]
corpus = "stdlib"
max_bytes = 300_000
[model]
sizes = [{ width = 32, depth = 2, heads = 2 }]
[tokens]
absolute = [12_800]
[optimizer]
lr = 3e-3
[pruning]
schedule = "SCHEDULE"
sparsities = [0, 0.6]
every = 3
"""


def spec(tmp_path, schedule="geometric", text=SPEC, name="spec.toml"):
    path = tmp_path / name
    path.write_text(text.replace("SCHEDULE", schedule))
    return path


def plan_of(rung):
    """The rung's pruning plan, at its model's real parameter count."""
    return parse(rung.pruning).plan(parameter_counts(GPTConfig(**rung.model))["total"])


def pruned_rung(tmp_path, schedule="geometric"):
    rungs = expand(load_spec(spec(tmp_path, schedule)))
    return next(r for r in rungs if "-sp0.6-" in r.run)


# --- masks on a model ----------------------------------------------------------------------------


@pytest.mark.parametrize("mlp, tie", [("swiglu", True), ("gelu", False)])
def test_prunable_weights_are_the_blocks_matrices(mlp, tie):
    config = GPTConfig(width=32, depth=2, heads=2, mlp=mlp, tie_embeddings=tie)
    model = GPT(config)
    names = [name for name, _ in prunable_parameters(model)]
    assert all(name.startswith("blocks.") and name.endswith(".weight") for name in names)
    assert not any("norm" in name or "wte" in name or "lm_head" in name for name in names)
    assert len(names) == 2 * (5 if mlp == "swiglu" else 4)
    assert prunable_count(config) == sum(p.numel() for _, p in prunable_parameters(model))
    hidden = model.optimizer_groups(1e-3, 0.1)[0]["params"]
    assert [id(p) for _, p in prunable_parameters(model)] == [id(p) for p in hidden]


def test_global_magnitude_pruning_keeps_exactly_k_and_never_revives():
    torch.manual_seed(0)
    model = GPT(GPTConfig(width=32, depth=2, heads=2))
    others = {n: p.detach().clone() for n, p in model.named_parameters()
              if n not in dict(prunable_parameters(model))}
    masks = Masks(model)
    total = masks.total
    scores = torch.cat([p.detach().abs().flatten() for _, p in prunable_parameters(model)])
    masks.prune_to(total // 2)
    assert masks.count() == total // 2
    kept = torch.cat([m.flatten() for m in masks.masks])
    # global: every kept weight is at least as large as every pruned one
    assert scores[kept].min() >= scores[~kept].max()
    first = [m.clone() for m in masks.masks]
    # a weight pruned earlier that has grown large again (it cannot, but say so) stays pruned
    with torch.no_grad():
        for p, m in zip(masks.params, masks.masks):
            p[~m] = 100.0
    masks.prune_to(total // 4)
    assert all(not (m & ~old).any() for m, old in zip(masks.masks, first))
    assert sum(int((p != 0).sum()) for p in masks.params) == masks.count() == total // 4
    with pytest.raises(ValueError, match="never revived"):
        masks.prune_to(total // 2)
    for name, p in model.named_parameters():      # embedding, norms: untouched
        if name in others:
            assert torch.equal(p, others[name]), name


def test_ties_break_by_position_deterministically():
    model = GPT(GPTConfig(width=32, depth=1, heads=2))
    with torch.no_grad():
        for _, p in prunable_parameters(model):
            p.fill_(0.5)
    masks = Masks(model)
    masks.prune_to(10)
    flat = torch.cat([m.flatten() for m in masks.masks])
    assert flat[:10].all() and not flat[10:].any()      # the first 10 in parameter order


def test_pruning_zeroes_the_optimizer_moments_of_pruned_weights():
    torch.manual_seed(0)
    model = GPT(GPTConfig(width=32, depth=1, heads=2))
    optimizer = torch.optim.AdamW(model.optimizer_groups(1e-2, 0.1), fused=True)
    x = torch.randint(0, 256, (2, 16))
    model(x, x)[1].backward()
    optimizer.step()
    masks = Masks(model)
    masks.prune_to(masks.total // 3, optimizer)
    for p, m in zip(masks.params, masks.masks):
        state = optimizer.state[p]
        assert not state["exp_avg"][~m].any() and not state["exp_avg_sq"][~m].any()
        assert state["exp_avg_sq"][m].any()


# --- in the runner -------------------------------------------------------------------------------


class Watched(Masks):
    """Masks that check, after every optimizer step, that no pruned weight moved off zero and
    that no event revived a weight."""

    history: list = []
    steps = 0
    pruning = False

    def apply(self):
        if self.pruned and not self.pruning:
            Watched.steps += 1
        for p, m in zip(self.params, self.masks):
            if self.pruned and not self.pruning:
                # before the post-step mask: gradient masking and zeroed moments already held
                assert not p.detach()[~m].any(), "a pruned weight moved before the mask"
        super().apply()

    def prune_to(self, k, optimizer=None):
        before = [m.clone() for m in self.masks]
        self.pruning = True
        super().prune_to(k, optimizer)
        self.pruning = False
        assert all(not (m & ~old).any() for m, old in zip(self.masks, before))
        Watched.history.append(k)


@pytest.mark.parametrize("schedule", ["geometric", "cubic"])
def test_rows_log_the_planned_active_parameters(tmp_path, monkeypatch, schedule):
    Watched.history, Watched.steps = [], 0
    monkeypatch.setattr(ladders.train, "Masks", Watched)
    rung = pruned_rung(tmp_path, schedule)
    work = tmp_path / "w"
    rows = train_rung(rung, work, threads=1)
    plan = plan_of(rung)
    assert parse(rung.pruning).kind == schedule
    assert len(plan.events) >= 5 and Watched.history == plan.kept.tolist()
    assert Watched.steps == rung.steps - plan.events[0]      # checked after every later step
    assert rows["params_active"].tolist() == plan.active_after(rows["step"]).tolist()
    assert rows["params_active"].iloc[-1] < rows["params_active"].iloc[0]
    assert (rows["pruning"] == rung.pruning).all()
    # the final weights: zero exactly where the masks prune, counted from the weights too
    state = torch.load(work / rung.run / "checkpoint.pt", weights_only=True)
    config = GPTConfig(**rung.model)
    model = GPT(config)
    model.load_state_dict(state["model"])
    nonzero = sum(int((p != 0).sum()) for p in model.parameters())
    assert nonzero == rows["params_active"].iloc[-1] == plan.active_after(rung.steps)
    for (name, p), m in zip(prunable_parameters(model), state["masks"]["masks"]):
        assert not p[~m].any() and p[m].all(), name
    assert rows["loss"].iloc[-1] < rows["loss"].iloc[0] - 0.5       # it still learns


def test_dense_rung_of_a_pruning_ladder_logs_the_total(tmp_path):
    rung = next(r for r in expand(load_spec(spec(tmp_path))) if "-sp0-" in r.run)
    assert rung.pruning == "dense" and parse(rung.pruning) is None
    rows = train_rung(replace(rung, steps=10, tokens=10 * 256, eval_every=5,
                              schedule="cosine:peak=0.003,warmup=1,steps=10,final=0.0003"),
                      tmp_path / "w", threads=1)
    assert (rows["params_active"] == rows["params"]).all() and (rows["pruning"] == "dense").all()
    state = torch.load(tmp_path / "w" / rung.run / "checkpoint.pt", weights_only=True)
    assert "masks" not in state


def test_resume_with_masks_replays_an_uninterrupted_run(tmp_path, monkeypatch):
    rung = pruned_rung(tmp_path)
    events = plan_of(rung).events
    assert events.min() < 20 < events.max()      # events before the checkpoint and after it
    clean = train_rung(rung, tmp_path / "clean", threads=1)

    real = ladders.train.token_data.batch_at

    def killed_at_27(tokens, step, *args, **kwargs):
        if step == 27:                     # after the checkpoint at 20 and events past it
            raise KeyboardInterrupt
        return real(tokens, step, *args, **kwargs)

    monkeypatch.setattr(ladders.train.token_data, "batch_at", killed_at_27)
    with pytest.raises(KeyboardInterrupt):
        train_rung(rung, tmp_path / "killed", threads=1)
    state = torch.load(tmp_path / "killed" / rung.run / "checkpoint.pt", weights_only=True)
    assert state["step"] == 20 and "masks" in state
    assert pd.read_parquet(tmp_path / "killed" / rung.run / "rows.parquet")["step"].max() == 25
    monkeypatch.setattr(ladders.train.token_data, "batch_at", real)
    resumed = train_rung(rung, tmp_path / "killed", resume=True, threads=1)
    columns = ["step", "loss", "train_loss", "params_active", "lr", "pruning"]
    pd.testing.assert_frame_equal(resumed[columns], clean[columns])
    a = torch.load(tmp_path / "clean" / rung.run / "checkpoint.pt", weights_only=True)
    b = torch.load(tmp_path / "killed" / rung.run / "checkpoint.pt", weights_only=True)
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert all(torch.equal(x, y) for x, y in zip(a["masks"]["masks"], b["masks"]["masks"]))


def test_a_checkpoint_without_masks_is_refused_on_resume(tmp_path):
    from ladders.checkpoints import CheckpointError

    rung = pruned_rung(tmp_path)
    short = replace(rung, checkpoint_every=5)
    with pytest.raises(KeyboardInterrupt):
        real = ladders.train.token_data.batch_at
        try:
            def stop(tokens, step, *args, **kwargs):
                if step == 7:
                    raise KeyboardInterrupt
                return real(tokens, step, *args, **kwargs)
            ladders.train.token_data.batch_at = stop
            train_rung(short, tmp_path / "w", threads=1)
        finally:
            ladders.train.token_data.batch_at = real
    path = tmp_path / "w" / rung.run / "checkpoint.pt"
    state = torch.load(path, weights_only=True)
    del state["masks"]
    torch.save(state, path)
    with pytest.raises(CheckpointError, match="holds no pruning masks"):
        train_rung(short, tmp_path / "w", resume=True, threads=1)


# --- the spec ------------------------------------------------------------------------------------

PLAIN = SPEC.replace('[pruning]\nschedule = "SCHEDULE"\nsparsities = [0, 0.6]\nevery = 3\n', "")


def test_without_pruning_rungs_are_as_before(tmp_path):
    rungs = expand(load_spec(spec(tmp_path, text=PLAIN)))
    assert [r.run for r in rungs] == ["p-w32-d2-v256-1.28e+04tok-cosine-s0"]
    assert "pruning" not in rungs[0].to_dict() and rungs[0].pruning is None
    empty = expand(load_spec(spec(tmp_path, text=PLAIN + "[pruning]\nsparsities = []\n",
                                  name="empty.toml")))
    assert [r.to_dict() for r in empty] == [r.to_dict() for r in rungs]


def test_pruning_rungs_gain_a_sparsity_part_and_their_schedule(tmp_path):
    rungs = expand(load_spec(spec(tmp_path, "cubic")))
    assert [r.run for r in rungs] == ["p-w32-d2-v256-sp0-1.28e+04tok-cosine-s0",
                                      "p-w32-d2-v256-sp0.6-1.28e+04tok-cosine-s0"]
    schedule = parse(rungs[1].pruning)
    config = GPTConfig(**rungs[1].model)
    assert (schedule.kind, schedule.sparsity, schedule.start, schedule.end, schedule.every) == \
        ("cubic", 0.6, 0.25, 0.75, 3)
    assert schedule.steps == rungs[1].steps and schedule.prunable == prunable_count(config)
    assert rungs[1].to_dict()["pruning"] == rungs[1].pruning


BAD = [
    ("sparsities = [0, 1.0]", "pruning.sparsities[1] must be in [0, 1), got 1.0"),
    ("sparsities = [0.5, 0.5]", "pruning.sparsities lists 0.5 twice"),
    ("sparsities = [0.5]\nstart = 0.8\nend = 0.5", "pruning.start = 0.8 is after pruning.end"),
    ("sparsities = [0.5]\nend = 1.5", "pruning.end must be in [0, 1], got 1.5"),
    ("sparsities = [0.5]\nevery = 0", "pruning.every must be a positive integer, got 0"),
    ('sparsities = [0.5]\nschedule = "linear"', "pruning.schedule must be one of 'geometric', "
     "'cubic', got 'linear'"),
    ("sparsities = 0.5", "pruning.sparsities must be a list of numbers, got 0.5"),
    ("sparsity = 0.5", "unknown key pruning.sparsity"),
]


@pytest.mark.parametrize("body, expected", BAD)
def test_bad_pruning_is_one_line_exit_2(tmp_path, capsys, body, expected):
    path = spec(tmp_path, text=PLAIN + "[pruning]\n" + body + "\n")
    assert cli.main(["ladder", "run", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "spec.toml" in err and expected in err, err


def test_pruning_in_a_branched_ladder_is_a_spec_error(tmp_path, capsys):
    branched = PLAIN.replace("[tokens]\nabsolute = [12_800]\n", "").replace(
        "lr = 3e-3", 'lr = 3e-3\nschedules = ["wsd"]') + \
        "[branches]\nabsolute = [12_800, 25_600]\n[pruning]\nsparsities = [0.5]\n"
    assert cli.main(["ladder", "run", str(spec(tmp_path, text=branched)), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not supported in a branched ladder" in err, err


def test_bundled_sparse_ladder():
    root = Path(__file__).resolve().parents[1]
    rungs = expand(load_spec(root / "ladders/specs/cpu-sparse.toml"))
    sparsities = {parse(r.pruning).sparsity if r.pruning != "dense" else 0.0 for r in rungs}
    assert sparsities == {0.0, 0.5, 0.75}
    assert len({r.model["width"] for r in rungs}) >= 4
    assert len({r.run.split("-sp")[1].split("-")[1] for r in rungs}) >= 2       # budgets
    for rung in rungs:
        if rung.pruning != "dense":
            assert len(plan_of(rung).events) >= 10, rung.run


def test_pruning_events_read_nothing_back(tmp_path):
    """Events (a sort and a few masks on the device) do not wait for the device: the read-backs
    of a pruned rung do not grow with the events between two rows."""
    from scaling.data.pruning_schedules import Pruning
    from test_train import _CountReadBacks

    base = pruned_rung(tmp_path)
    prunable = prunable_count(GPTConfig(**base.model))
    counts = {}
    for steps in (8, 40):
        schedule = Pruning("geometric", 0.5, every=1).for_run(steps, prunable)
        rung = replace(base, steps=steps, tokens=steps * 256, eval_every=steps,
                       checkpoint_every=steps, pruning=str(schedule),
                       schedule=f"cosine:peak=0.003,warmup=1,steps={steps},final=0.0003")
        with _CountReadBacks() as reads:
            train_rung(rung, tmp_path / f"s{steps}", device="cpu", threads=1)
        counts[steps] = (reads.count, len(plan_of(rung).events))
    assert counts[8][1] < counts[40][1]
    # the losses, the evaluation, the row's mask count, and the checkpoint's masks (one copy
    # to the host each, as torch.save copies the model): the same for 2 and for 30 events
    assert counts[8][0] == counts[40][0]


def test_bundled_cpu_sparse_table():
    """data/cpu_sparse/runs.parquet (its SOURCE.md): every rung of cpu-sparse, whole, with
    params_active as planned at every row and every sparse run above its dense twin."""
    from scaling.data.runs import final_rows, read_runs

    root = Path(__file__).resolve().parents[1]
    runs = read_runs(root / "data/cpu_sparse/runs.parquet", columns=("step", "params_active"))
    rungs = {r.run: r for r in expand(load_spec(root / "ladders/specs/cpu-sparse.toml"))}
    assert sorted(runs["run"].unique()) == sorted(rungs)
    final = final_rows(runs)
    assert dict(zip(final["run"], final["step"])) == {r.run: r.steps for r in rungs.values()}
    for run, rows in runs.groupby("run"):
        assert (rows["pruning"] == rungs[run].pruning).all()
        if rungs[run].pruning == "dense":
            assert (rows["params_active"] == rows["params"]).all()
        else:
            assert rows["params_active"].tolist() == \
                plan_of(rungs[run]).active_after(rows["step"]).tolist()
    loss = final.set_index("run")["loss"]
    for run in loss.index:
        if "-sp0-" not in run:
            assert loss[run] > loss[run.replace("-sp0.75-", "-sp0-").replace("-sp0.5-", "-sp0-")]
