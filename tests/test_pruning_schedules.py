"""The pruning schedules' math (scaling/data/pruning_schedules.py) against closed forms.

Geometric: Jin et al. 2025 ("The Journey Matters", ICLR 2025, arXiv:2501.12486), n events each
keeping 1 − s, s = 1 − (1 − S)^(1/n). Cubic: Zhu & Gupta 2017 (arXiv:1710.01878), eq. 1,
s_t = S_f + (S_i − S_f)(1 − (t − t0)/(nΔt))^3 with S_i = 0.
"""

from __future__ import annotations

import numpy as np
import pytest

from scaling.data.pruning_schedules import Pruning, PruningError, average_from_rows, parse


@pytest.mark.parametrize("sparsity, events", [(0.5, 1), (0.5, 7), (0.75, 20), (0.9, 3)])
def test_geometric_density_after_each_event(sparsity, events):
    s = 1 - (1 - sparsity) ** (1 / events)                  # each event prunes this fraction
    densities = Pruning("geometric", sparsity).densities(events)
    assert densities == pytest.approx([(1 - s) ** (k + 1) for k in range(events)], rel=1e-12)
    assert densities[-1] == pytest.approx(1 - sparsity, rel=1e-12)
    # each event keeps the same fraction 1 - s of what was left
    ratios = densities / np.concatenate([[1.0], densities[:-1]])
    assert ratios == pytest.approx(np.full(events, 1 - s), rel=1e-12)


@pytest.mark.parametrize("sparsity, events", [(0.5, 4), (0.75, 10)])
def test_cubic_density_is_zhu_and_gupta(sparsity, events):
    # Zhu & Gupta's t runs over t0, t0 + Δt, ..., t0 + nΔt; their first point (t = t0) has the
    # initial sparsity 0, so our k-th event is their t0 + (k + 1)Δt.
    zhu_gupta = [sparsity + (0 - sparsity) * (1 - (k + 1) / events) ** 3 for k in range(events)]
    assert 1 - Pruning("cubic", sparsity).densities(events) == pytest.approx(zhu_gupta, rel=1e-12)
    # cubic prunes fast early and slowly late: its steps shrink
    steps = -np.diff(np.concatenate([[1.0], Pruning("cubic", sparsity).densities(events)]))
    assert np.all(np.diff(steps) < 0)


def closed_form_average(params, prunable, events, kept, steps):
    """N̄ = params − prunable + [prunable·e_0 + Σ_k kept_k·(e_{k+1} − e_k)] / T, e_n = T: each
    update u is active with the weights kept after the last event before it."""
    bounds = list(events) + [steps]
    kept_weight_steps = prunable * events[0] + sum(
        kept[k] * (bounds[k + 1] - bounds[k]) for k in range(len(kept)))
    return params - prunable + kept_weight_steps / steps


@pytest.mark.parametrize("kind", ["geometric", "cubic"])
@pytest.mark.parametrize("sparsity, start, end, every", [
    (0.5, 0.25, 0.75, 10), (0.75, 0.25, 0.75, 7), (0.75, 0.0, 0.5, 5), (0.9, 0.5, 1.0, 3)])
def test_plan_average_and_compute_fractions(kind, sparsity, start, end, every):
    params, prunable, steps = 50_000, 36_000, 600
    plan = Pruning(kind, sparsity, start, end, every).for_run(steps, prunable).plan(params)
    events, kept = plan.events, plan.kept
    assert np.all(np.diff(events) == every) and len(events) >= 1
    assert kept[-1] == round((1 - sparsity) * prunable)
    assert plan.average_params() == pytest.approx(
        closed_form_average(params, prunable, events, kept, steps), rel=1e-12)
    # the window is placed by compute (∝ active parameters), not by steps: the first event is
    # the first step by which the run has spent `start` of its compute
    compute = np.concatenate([[0.0], np.cumsum(plan.active_during())])
    a = events[0]
    assert compute[a] >= start * compute[-1] * (1 - 1e-12)
    if a > 0:
        assert compute[a - 1] < start * compute[-1]
    # the last event lies within `every` steps before the step where `end` is reached
    b = int(np.searchsorted(compute, end * compute[-1] * (1 - 1e-12)))
    assert b - every < events[-1] <= b
    if start > 0:   # pruning makes later steps cheaper, the whole run cheaper: the dense
        assert a < round(start * steps)     # prefix reaches a fraction of it at an earlier step
    # the logged count after a step
    assert plan.active_after(0) == (params - prunable + kept[0] if events[0] == 0 else params)
    assert plan.active_after(steps) == params - prunable + kept[-1]
    # running averages: the mean of the active counts so far
    during = plan.active_during()
    for t in (1, 100, 333, steps):
        assert plan.average_params(t) == pytest.approx(during[:t].mean(), rel=1e-12)


def test_pruned_from_initialisation_is_a_smaller_dense_model():
    plan = Pruning("geometric", 0.75, 0.0, 0.0).for_run(400, 30_000).plan(40_000)
    assert list(plan.events) == [0]
    assert plan.average_params() == 40_000 - 0.75 * 30_000


def test_dense_schedule_has_no_events():
    plan = Pruning("cubic", 0.0).for_run(100, 10).plan(50)
    assert len(plan.events) == 0 and plan.average_params() == 50


def test_string_round_trip_and_errors():
    text = "geometric:sparsity=0.5,start=0.25,end=0.75,every=10,steps=400,prunable=30000"
    assert str(parse(text)) == text and parse(str(parse(text))) == parse(text)
    assert parse("dense") is None and parse("") is None
    for bad, words in [("linear:sparsity=0.5", "expected one of"),
                       ("cubic:sparsity=1.0", "[0, 1)"),
                       ("cubic:sparsity=0.5,start=0.8,end=0.2", "start <= end"),
                       ("cubic:sparsity=0.5,every=0", "positive integer"),
                       ("cubic:sparsity=0.5,steps=1.5", "integer"),
                       ("cubic:start=0.2", "needs sparsity"),
                       ("cubic:sparsity=0.5,speed=2", "bad option")]:
        with pytest.raises(PruningError, match=words.replace("[", r"\[").replace(")", r"\)")):
            parse(bad)
    with pytest.raises(PruningError, match="needs steps= and prunable="):
        parse("cubic:sparsity=0.5").plan(100)
    with pytest.raises(PruningError, match="more than"):
        parse("cubic:sparsity=0.5,steps=10,prunable=200").plan(100)


def test_average_from_rows():
    # dense: the count itself
    assert average_from_rows([10, 20, 30], [5, 5, 5], 5) == pytest.approx([5, 5, 5])
    # a count falling linearly from 100 at 0 tokens to 40 at 60 tokens, logged every 20:
    # the trapezoid is exact for a linear path
    tokens = np.array([20.0, 40.0, 60.0])
    active = 100 - tokens
    assert average_from_rows(tokens, active, 100) == pytest.approx(100 - tokens / 2)
    # rows in any order
    assert average_from_rows(tokens[::-1], active[::-1], 100) == pytest.approx(
        (100 - tokens / 2)[::-1])


def test_a_key_given_twice_is_an_error_naming_both():
    """Issue 24 (said twice): the last of two values no longer wins; the same value twice is one."""
    with pytest.raises(PruningError, match=r"sparsity given twice, sparsity=0.5 and sparsity=0.75"):
        parse("cubic:sparsity=0.5,sparsity=0.75")
    assert parse("cubic:sparsity=0.5,every=10,every=1e1") == parse("cubic:sparsity=0.5,every=10")
