"""Planning (scaling/analysis/schedule_comparison.py): comparing LR schedules with a fitted curve law."""

import numpy as np
import pytest

from scaling.errors import ScalingError
from scaling.laws import get_law
from scaling.analysis.schedule_comparison import VARIANTS, compare_schedules
from scaling.data.synthetic import chinchilla_ladder, multipower_curves

TRUE = {"L0": 2.0, "A": 0.8, "alpha": 0.45, "B": 300.0, "C": 2.0, "beta": 0.6, "gamma": 0.6}


@pytest.fixture(scope="module")
def law():
    runs = multipower_curves(TRUE, {
        "constant": ("constant:peak=0.001,warmup=100,steps=3000", 50),
        "cosine": ("cosine:peak=0.001,warmup=100,steps=3000,final=0.0001", 50),
        "wsd": ("wsd:peak=0.001,warmup=100,steps=3000,final=0.0001,decay_fraction=0.2,"
                "decay=linear", 50)}, noise=1e-4)
    return get_law("multipower").fit(runs, bootstrap=0, calibrate=False)


def test_each_variant_shares_the_common_settings(law):
    curves = compare_schedules(law, "peak=0.001,warmup=100,steps=3000,final=0.0001", every=100)
    assert list(curves) == list(VARIANTS)
    for curve in curves.values():
        assert curve["step"].iloc[-1] == 3000 and curve["lr"].iloc[0] == pytest.approx(1e-3)
    ends = {name: curve["loss"].iloc[-1] for name, curve in curves.items()}
    truth = multipower_curves(TRUE, {"wsd": ("wsd:peak=0.001,warmup=100,steps=3000,"
                                             "final=0.0001,decay_fraction=0.2,decay=linear",
                                             3000)}, noise=0.0)["loss"].iloc[-1]
    assert ends["wsd 20%"] == pytest.approx(truth, rel=1e-3)
    assert ends["constant"] > max(ends["cosine"], ends["wsd 10%"], ends["wsd 20%"])
    assert np.all(curves["constant"]["lr"].iloc[1:] == 1e-3)


def test_final_defaults_to_zero_and_warmup_to_none(law):
    curves = compare_schedules(law, "peak=0.001,steps=3000", every=500)
    assert curves["cosine"]["lr"].iloc[-1] == pytest.approx(0.0, abs=1e-12)
    assert curves["constant"]["lr"].iloc[0] == pytest.approx(1e-3)


@pytest.mark.parametrize("spec, message", [
    ("steps=3000", "needs at least peak= and steps="),
    ("peak=0.001,steps=3000,colour=red", "expected peak=…,warmup=…,steps=…,final=…"),
    ("peak=0.001;steps=3000", "needs at least peak= and steps="),
    ("peak=0.001,steps=3000,final=0.01", r"final LR must be in \[0, peak\], got 0.01"),
])
def test_bad_specs_are_one_line_errors(law, spec, message):
    with pytest.raises(ScalingError, match=message) as error:
        compare_schedules(law, spec)
    assert "\n" not in str(error.value)


def test_a_law_without_curves_cannot_compare_schedules():
    runs = chinchilla_ladder(E=1.8, A=400, B=2000, alpha=0.34, beta=0.37,
                             params=[1e7, 3e7, 1e8], tokens_per_param=[5, 10, 20], noise=0.0)
    with pytest.raises(ScalingError, match="the chinchilla law does not predict curves"):
        compare_schedules(get_law("chinchilla").fit(runs, bootstrap=0, calibrate=False), "peak=0.001,steps=3000")
