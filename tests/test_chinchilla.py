"""Certified values for the Chinchilla law.

Reference: Besiroglu, Erdil, Barnett, You 2024, "Chinchilla Scaling: A replication attempt"
(arXiv:2404.10102), on Epoch AI's extraction of Hoffmann et al. 2022 Figure 4 (bundled in
data/chinchilla). Numbers from Epoch's `data_analysis.ipynb` at commit 92258837 (see
data/chinchilla/SOURCE.md).
"""

import numpy as np
import pytest

from scaling.engine.fit import Fit
from scaling.laws import get_law
from scaling.laws.chinchilla import Chinchilla

# Epoch's grid + L-BFGS-B fit on the 240 rows (data_analysis.ipynb): objective 1.01827e-3.
EPOCH_GRID_FIT = {"A": 477.84, "B": 2143.86, "E": 1.8172, "alpha": 0.34731, "beta": 0.36718}
EPOCH_GRID_OBJECTIVE = 1.01827e-3
# Epoch's reported estimate and its bootstrap 95% intervals, as the paper reports them
# (copied in data/chinchilla/SOURCE.md).
EPOCH_ESTIMATE = {"A": 482.01, "B": 2085.43, "E": 1.8169, "alpha": 0.34781, "beta": 0.36585}
EPOCH_INTERVALS = {"E": (1.769, 1.871), "alpha": (0.317, 0.373), "beta": (0.331, 0.415)}


def law_with(values: dict) -> Chinchilla:
    """A Chinchilla law set to given reported values (no data fitted)."""
    return Fit.with_parameters(get_law("chinchilla"), [
        np.log(values["A"]), np.log(values["B"]), np.log(values["E"]), values["alpha"],
        values["beta"]])


def test_fit_reproduces_epoch_grid_fit(chinchilla_240):
    fit = get_law("chinchilla").fit(chinchilla_240, bootstrap=0, calibrate=False)
    for name, expected in EPOCH_GRID_FIT.items():
        assert fit.params_[name] == pytest.approx(expected, rel=0.01), name
    # our optimum is at least as good as Epoch's (to the 6 digits they printed)
    assert fit.objective_ <= EPOCH_GRID_OBJECTIVE * (1 + 1e-5)
    assert fit.objective_ == pytest.approx(EPOCH_GRID_OBJECTIVE, rel=1e-4)
    assert fit.converged_ and fit.at_bound_ == []
    assert fit.n_points_ == 240 and fit.n_runs_ == 240


def test_compute_optimal_tokens_per_parameter_epoch_estimate():
    # Besiroglu et al. 2024: with their estimate the compute-optimal ratio is ~20 tokens per
    # parameter: 18.3 at the Chinchilla budget (5.88e23 FLOPs) and 21.5 at 1e21 FLOPs.
    law = law_with(EPOCH_ESTIMATE)
    ratio = law.compute_optimal([5.88e23, 1e21])["tokens_per_param"][0]
    assert ratio[0] == pytest.approx(18.3, abs=0.1)
    assert ratio[1] == pytest.approx(21.5, abs=0.1)


def test_compute_optimal_matches_brute_force_minimum():
    # The closed form is the minimiser of L(N, C/(6N)) over N: check against a dense search.
    law = law_with(EPOCH_ESTIMATE)
    flops = 1e22
    sizes = np.logspace(8, 12, 200001)
    losses = law.predict_values(params=sizes, tokens=flops / (6 * sizes))
    optimum = law.compute_optimal(flops)
    assert optimum["params"][0][0] == pytest.approx(sizes[np.argmin(losses)], rel=1e-3)
    # a closed form against a grid 2e-5 decades apart: the loss is flat at its minimum, so the
    # grid's error is second order (~1e-11); no optimizer or library release enters
    assert optimum["loss"][0][0] == pytest.approx(losses.min(), rel=1e-9)
    assert optimum["params"][0][0] * optimum["tokens"][0][0] * 6 == pytest.approx(flops)


def test_hoffmann_published_allocation():
    # Hoffmann et al. 2022, Table 2, approach 3: N_opt ∝ C^a with a = 0.46, which follows from
    # their fitted E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28 (unrounded values from the
    # paper's TeX source, see data/chinchilla/SOURCE.md) as a = beta / (alpha + beta).
    law = law_with({"E": 1.69337, "A": 406.401, "B": 410.723, "alpha": 0.339171,
                    "beta": 0.284908})
    low, high = law.compute_optimal([1e21, 1e23])["params"][0]
    assert np.log(high / low) / np.log(100) == pytest.approx(0.284908 / (0.339171 + 0.284908))
    assert np.log(high / low) / np.log(100) == pytest.approx(0.46, abs=0.005)


@pytest.mark.slow
def test_bootstrap_4000_overlaps_epoch_intervals(chinchilla_240):
    # 4,000 refits as in the paper; our 95% percentile intervals must overlap Epoch's.
    fit = get_law("chinchilla").fit(chinchilla_240, bootstrap=4000, seed=0, calibrate=False)
    assert len(fit.bootstrap_theta_) == 4000
    for name, (low, high) in EPOCH_INTERVALS.items():
        ours_low, ours_high = fit.intervals_[name]
        assert ours_low < high and low < ours_high, (name, fit.intervals_[name])
        assert ours_low < fit.params_[name] < ours_high
    # and they are not trivially wide: within 30% of Epoch's widths
    for name, (low, high) in EPOCH_INTERVALS.items():
        ours_low, ours_high = fit.intervals_[name]
        assert (ours_high - ours_low) == pytest.approx(high - low, rel=0.3), name


def test_analytic_jacobian_matches_finite_differences():
    law = get_law("chinchilla")
    rng = np.random.default_rng(1)
    inputs = {"params": 10 ** rng.uniform(7, 10, 30), "tokens": 10 ** rng.uniform(8, 11, 30)}
    theta = np.array([[6.0, 7.5, 0.6, 0.34, 0.37], [2.0, 12.0, -0.5, 0.1, 0.9]])
    value, jacobian = law.predict_theta_grad(theta, inputs)
    assert np.allclose(value, law.predict_theta(theta, inputs))
    step = 1e-6
    for k in range(5):
        shifted = theta.copy()
        shifted[:, k] += step
        numeric = (law.predict_theta(shifted, inputs) - law.predict_theta(theta - (shifted - theta),
                                                                      inputs)) / (2 * step)
        assert np.allclose(jacobian[..., k], numeric, atol=1e-7), k


def test_prediction_is_the_equation():
    law = law_with(EPOCH_ESTIMATE)
    n, d = np.array([1e9, 7e10]), np.array([2e10, 1.4e12])
    expected = 1.8169 + 482.01 / n ** 0.34781 + 2085.43 / d ** 0.36585
    assert np.allclose(law.predict_values(params=n, tokens=d), expected, rtol=1e-12)


def test_lmfit_parameters_carry_values_bounds_and_errors(chinchilla_240):
    fit = get_law("chinchilla").fit(chinchilla_240, bootstrap=30, calibrate=False)
    parameters = fit.to_lmfit()
    for name in fit.reported_names:
        assert parameters[name].value == pytest.approx(fit.params_[name], rel=1e-12), name
    assert parameters["alpha"].min == 0.0 and parameters["alpha"].stderr > 0
    assert parameters["E"].expr == "exp(e)"
