"""Seed scatter (scaling.engine.seeds): the pooled std between seeds of otherwise identical runs."""

import math

import pandas as pd
import pytest

from scaling.errors import ScalingError
from scaling.engine.seeds import SeedScatter, seed_scatter


def rows(run, params, tokens, seed, losses, schedule="cosine", acc=None):
    """A run's rows: one per loss, the last at `tokens` (its final row)."""
    n = len(losses)
    return [{"run": run, "params": params, "tokens": tokens * (i + 1) / n, "loss": loss,
             "step": 10 * (i + 1), "seed": seed, "schedule": schedule,
             "acc:task": acc if acc is not None and i == n - 1 else 0.25}
            for i, loss in enumerate(losses)]


def table():
    """Group A: 3 seeds (final losses 3.0, 3.1, 2.9); group B: 2 seeds (2.5, 2.6); a run of a
    third configuration with one seed; and a run that differs from A only in its schedule."""
    data = (rows("a-s0", 1000, 2000, 0, [5.0, 3.0], acc=0.40)
            + rows("a-s1", 1000, 2000, 1, [4.0, 3.1], acc=0.44)
            + rows("a-s2", 1000, 2000, 2, [6.0, 2.9], acc=0.42)
            + rows("b-s0", 2000, 4000, 0, [4.0, 3.0, 2.5], acc=0.5)
            + rows("b-s1", 2000, 4000, 1, [4.5, 3.5, 2.6], acc=0.5)
            + rows("c-s0", 4000, 8000, 0, [2.0])
            + rows("a-wsd-s0", 1000, 2000, 0, [5.0, 2.0], schedule="wsd"))
    return pd.DataFrame(data)


def test_pooled_log_scatter_matches_a_hand_computation():
    scatter = seed_scatter(table())
    a = [math.log(x) for x in (3.0, 3.1, 2.9)]
    mean = sum(a) / 3
    var_a = sum((x - mean) ** 2 for x in a) / 2                       # 0.0011120
    var_b = (math.log(2.6) - math.log(2.5)) ** 2 / 2                  # 0.00076913
    assert scatter.sigma == pytest.approx(math.sqrt((2 * var_a + 1 * var_b) / 3), rel=1e-12)
    assert scatter.sigma == pytest.approx(0.0315870, rel=1e-5)        # 3.16% of the loss
    assert scatter.dof == 3 and scatter.n_groups == 2
    assert scatter.keys == ("params", "tokens", "schedule")
    first, second = scatter.groups
    assert first.runs == ("a-s0", "a-s1", "a-s2") and first.seeds == (0, 1, 2)
    assert first.values == (3.0, 3.1, 2.9) and first.n_seeds == 3
    assert first.std == pytest.approx(math.sqrt(var_a))
    assert dict(first.key) == {"params": 1000, "tokens": 2000, "schedule": "cosine"}
    assert second.runs == ("b-s0", "b-s1") and second.std == pytest.approx(math.sqrt(var_b))
    assert first.description == "a-s0 (seeds 0, 1, 2)"
    assert "3.16%" in scatter.line() and "3 degrees of freedom" in scatter.line()


def test_linear_space_for_accuracies():
    scatter = seed_scatter(table(), target="acc:task", space="linear")
    # group A: std of 0.40, 0.44, 0.42 is 0.02; group B: 0.5, 0.5, std 0
    assert scatter.groups[0].std == pytest.approx(0.02)
    assert scatter.groups[1].std == 0
    assert scatter.sigma == pytest.approx(math.sqrt((2 * 0.02 ** 2 + 0) / 3))
    assert scatter.dof == 3


def test_keys_choose_what_makes_runs_identical():
    # without the schedule as a key, a-wsd-s0 joins group A and shares seed 0 with a-s0
    with pytest.raises(ScalingError, match="'a-s0' and 'a-wsd-s0' share seed 0"):
        seed_scatter(table(), keys=["params", "tokens"])
    # only the configuration's size: the wsd run is left out, the same groups remain
    frame = table()
    scatter = seed_scatter(frame[frame["schedule"] == "cosine"], keys=["params"])
    assert scatter.dof == 3 and scatter.n_groups == 2
    with pytest.raises(ScalingError, match="key 'width' is not a column"):
        seed_scatter(table(), keys=["width"])
    with pytest.raises(ScalingError, match="must not include 'seed'"):
        seed_scatter(table(), keys=["params", "seed"])


def test_no_repeated_seeds_give_nan_and_no_dof():
    frame = table()
    single = seed_scatter(frame[frame["seed"] == 0])
    assert math.isnan(single.sigma) and single.dof == 0 and single.n_groups == 0
    assert single.groups == () and "no runs repeated" in single.line()
    unseeded = seed_scatter(frame.drop(columns="seed"))
    assert isinstance(unseeded, SeedScatter)
    assert math.isnan(unseeded.sigma) and unseeded.dof == 0 and unseeded.n_groups == 0


def test_missing_seeds_and_targets_are_left_out():
    frame = table()
    frame["seed"] = frame["seed"].astype(float)
    frame.loc[frame["run"] == "a-s2", "seed"] = float("nan")
    scatter = seed_scatter(frame)
    assert [g.runs for g in scatter.groups] == [("a-s0", "a-s1"), ("b-s0", "b-s1")]
    assert scatter.groups[0].seeds == (0, 1) and scatter.dof == 2


def test_bad_input_is_one_line():
    with pytest.raises(ScalingError, match="no column 'acc:other'"):
        seed_scatter(table(), target="acc:other")
    with pytest.raises(ScalingError, match="space must be one of log, linear"):
        seed_scatter(table(), space="relative")
    frame = table()
    frame.loc[frame["run"] == "b-s1", "acc:task"] = 0.0
    with pytest.raises(ScalingError, match="has no log; use space='linear'"):
        seed_scatter(frame, target="acc:task")
