"""Learning-rate schedules (scaling/data/schedules.py)."""

import numpy as np
import pytest

from scaling.data.schedules import ScheduleError, lr_array, lr_at, parse


def test_round_trip_through_the_string():
    for text in ("constant:peak=0.001,warmup=10,steps=100",
                 "cosine:peak=0.001,warmup=10,steps=100,final=0.0001",
                 "wsd:peak=0.0003,warmup=10,steps=100,final=3e-05,decay_start=80,decay=linear",
                 "multistep:peak=0.001,warmup=0,steps=100,milestones=50/75,gamma=0.1"):
        schedule = parse(text)
        assert str(schedule) == text
        assert parse(str(schedule)) == schedule


def test_warmup_is_linear_to_the_peak():
    lr = lr_array(parse("constant:peak=1,warmup=4,steps=10"))
    assert lr.tolist() == [0.25, 0.5, 0.75, 1, 1, 1, 1, 1, 1, 1]


def test_cosine_reaches_its_floor():
    lr = lr_array(parse("cosine:peak=1,warmup=0,steps=101,final=0.1"))
    assert lr[0] == 1 and lr[-1] == pytest.approx(0.1) and lr[50] == pytest.approx(0.55)
    assert np.all(np.diff(lr) <= 0)


@pytest.mark.parametrize("decay", ["linear", "cosine", "geometric", "sqrt"])
def test_wsd_is_stable_then_decays_to_final(decay):
    lr = lr_array(parse(f"wsd:peak=1,warmup=10,steps=100,final=0.01,decay_fraction=0.2,"
                        f"decay={decay}"))
    assert np.all(lr[10:80] == 1)
    assert lr[-1] == pytest.approx(0.01)
    assert np.all(np.diff(lr[79:]) <= 1e-15)


def test_wsd_linear_values():
    # decay over steps 80..99: after update k of the decay the LR is peak - (peak-final)·k/20
    lr = lr_array(parse("wsd:peak=1,warmup=0,steps=100,final=0,decay_start=80,decay=linear"))
    assert lr[80] == pytest.approx(1 - 1 / 20) and lr[89] == pytest.approx(0.5)


def test_multistep_drops_at_milestones():
    lr = lr_array(parse("multistep:peak=1,steps=10,milestones=4/7,gamma=0.5"))
    assert lr.tolist() == [1, 1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25]
    assert lr_at(parse("multistep:peak=1,steps=10,milestones=4/7,gamma=0.5"), 7) == 0.25


@pytest.mark.parametrize("text", [
    "linear:peak=1,steps=10", "cosine:steps=10", "cosine:peak=1", "cosine:peak=-1,steps=10",
    "cosine:peak=1,steps=10,final=2", "wsd:peak=1,steps=10", "wsd:peak=1,steps=10,decay_fraction=1.5",
    "wsd:peak=1,steps=10,decay_fraction=0.5,decay=cubic", "cosine:peak=1,steps=10,warmup=20",
    "cosine:peak=one,steps=10", "cosine:peak=1,steps=10,colour=red", "cosine:peak=1;steps=10",
    "multistep:peak=1,steps=10,milestones=12",
])
def test_bad_schedules_are_one_line_errors(text):
    with pytest.raises(ScheduleError) as error:
        parse(text)
    assert "\n" not in str(error.value)
