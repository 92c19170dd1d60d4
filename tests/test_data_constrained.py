"""Certified values for the data-constrained law (scaling/laws/data_constrained.py).

Reference: Muennighoff et al. 2023, "Scaling Data-Constrained Language Models"
(arXiv:2305.16264): its abstract, its rounded C4 constants, and the law's formula, unrounded
constants, U_N rule and numbers as the authors' repository huggingface/datablations states them
in its README section "Parametric Fit" (Figure 1 (right) losses and the optimal-allocation
example). Every number below that the paper or that README states is cited beside its test; the
rest follow from the law's definitions and say so.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

import cli
from scaling.engine.fit import Fit
from scaling.errors import ScalingError
from scaling.laws import get_law, load_fit
from scaling.laws.data_constrained import PAPER, DataConstrained
from scaling.data.synthetic import chinchilla_ladder, data_constrained_ladder

FIVE = ("a", "b", "e", "alpha", "beta")


def paper_law(**settings) -> DataConstrained:
    """The law set to the paper's fit (no data fitted)."""
    law = get_law("data-constrained", **settings)
    theta = [PAPER[k] for k in FIVE]
    if law.fits_rd:
        theta.append(math.log(PAPER["rd_star"]))
    if law.fits_rn:
        theta.append(math.log(PAPER["rn_star"]))
    return Fit.with_parameters(law, theta)


def chinchilla_with(theta) -> object:
    return Fit.with_parameters(get_law("chinchilla"), theta[:5])


# -- the paper's numbers ------------------------------------------------------------------------

def test_paper_constants_are_the_rounded_ones_of_section_3():
    # The paper's fit on C4: A = 521, B = 1488, E = 1.87, alpha = beta = 0.353, R_D* = 15.4,
    # R_N* = 5.3; unrounded in the datablations README ("Parametric Fit").
    law = paper_law()
    assert law.params_["A"] == pytest.approx(521, abs=0.5)
    assert law.params_["B"] == pytest.approx(1488, abs=0.5)
    assert law.params_["E"] == pytest.approx(1.87, abs=0.005)
    assert law.params_["alpha"] == law.params_["beta"] == pytest.approx(0.353, abs=5e-4)
    assert float(law.rd_star) == pytest.approx(15.4, abs=0.05)
    assert float(law.rn_star) == pytest.approx(5.3, abs=0.05)


def test_the_u_n_rule_is_0051_unique_tokens_at_the_paper_fit():
    # U_N = min(N_opt(U_D), N) with the law's own Chinchilla allocation (README's D_to_N); with
    # alpha = beta it is (A/B)^(1/alpha)·U_D, the paper's U_N = min(0.051·U_D, N).
    law = paper_law()
    ratio = (law.params_["A"] / law.params_["B"]) ** (1 / law.params_["alpha"])
    assert ratio == pytest.approx(0.051, abs=5e-4)
    unique = np.array([1e9, 1e10, 1e11])
    log_base = law.law._log_base_params(law.theta_[None, :], np.log(unique)[None, :])[0]
    np.testing.assert_allclose(np.exp(log_base), ratio * unique, rtol=1e-12)
    # the compute-optimal model for D tokens is N_opt(D): where U = D, the rule's U_N is the
    # Chinchilla optimum whose data is D
    optimum = chinchilla_with(law.theta_).compute_optimal([1e21])
    n, d = optimum["params"][0][0], optimum["tokens"][0][0]
    assert n == pytest.approx(ratio * d, rel=1e-9)


def test_figure_1_right_losses():
    # datablations README, "Parametric Fit", the models of Figure 1 (right): 6.34B parameters
    # on 242B tokens of 25B unique gives 2.2256440889984477, 8.67B on 178B gives
    # 2.2269634075087867 ("This one is better": the smaller model with more epochs).
    law = paper_law()
    losses = law.predict_values(params=[6.34e9, 8.67e9], tokens=[242e9, 178e9], unique_tokens=25e9)
    assert losses[0] == pytest.approx(2.2256440889984477, rel=1e-13)
    assert losses[1] == pytest.approx(2.2269634075087867, rel=1e-13)
    assert losses[0] < losses[1]
    # the text's rounded rule, U_N = 0.051·U_D, moves them by under 1e-5
    rounded = paper_law(un_ratio="0.051").predict_values(params=[6.34e9, 8.67e9],
                                                  tokens=[242e9, 178e9], unique_tokens=25e9)
    np.testing.assert_allclose(rounded, losses, rtol=1e-5)


def test_readme_optimal_allocation_of_the_8b7_model():
    # datablations README, "Parametric Fit": at the compute of 8.67B parameters on 178B tokens
    # with 25B unique tokens, the optimal allocation is "227B tokens, 9.1 epochs, 6.8B
    # parameters" (their grid search; ours is a 1-D search over N at D = C/(6N)).
    law = paper_law()
    advice = law.data_limited(6 * 8.67e9 * 178e9, 25e9)
    assert round(advice["best_tokens"][0][0] / 1e9) == 227
    assert round(advice["best_epochs"][0][0], 1) == 9.1
    assert round(advice["best_params"][0][0] / 1e9, 1) == 6.8


def test_repeated_data_value_decays_with_e_folding_r_d_star():
    # The law's D′ = U_D + U_D·R_D*·(1 − e^(−R_D/R_D*)): the marginal value of a repeated
    # token, dD′/dD, is e^(−R_D/R_D*) (1 for unique data), so at R_D = R_D* a further epoch is
    # worth 1/e of unique data and at R_D* ln 2 half ("half-life" of repeated data); its total
    # can never exceed (1 + R_D*)·U_D: the value of adding compute eventually decays to zero
    # (abstract).
    law = paper_law()
    unique, rd = 1e10, float(law.rd_star)

    def effective(tokens):
        return law.law._effective_inputs(law.theta_[None, :], {
            "params": np.array([1e6]), "tokens": np.array([tokens]),
            "unique_tokens": np.array([unique])})["data"][0, 0]

    for repeats, worth in ((0.0, 1.0), (rd * math.log(2), 0.5), (rd, math.exp(-1))):
        tokens, h = unique * (1 + repeats), unique * 1e-4
        slope = (effective(tokens + h) - effective(tokens - h)) / (2 * h) if repeats else \
            (effective(tokens + h) - effective(tokens)) / h
        assert slope == pytest.approx(worth, rel=1e-4)
    assert effective(unique * 100) < (1 + rd) * unique
    assert effective(unique * 1e6) == pytest.approx((1 + rd) * unique, rel=1e-9)
    assert effective(unique * 0.5) == pytest.approx(unique * 0.5)      # under one epoch: D′ = D


def test_four_epochs_are_nearly_as_good_as_unique_data():
    # Abstract: "training with up to 4 epochs of repeated data yields negligible changes to loss
    # compared to having unique data"; with more repetition the returns decay. In the law: 4
    # epochs of U are worth 93% of 4U unique tokens (D′ = 3.73 U), and at the paper's largest
    # budgets (~1e22 FLOPs) the best allocation with a quarter of the compute-optimal data loses
    # under 1% of loss, against over 5% with a fortieth.
    rd = PAPER["rd_star"]
    assert (1 + rd * -math.expm1(-3 / rd)) / 4 == pytest.approx(0.931, abs=5e-4)
    law = paper_law()
    flops = 1e22
    data = law.compute_optimal([flops])["tokens"][0][0]
    four, forty = (law.data_limited(flops, data / epochs) for epochs in (4, 40))
    assert four["best_loss"][0][0] / four["loss"][0][0] - 1 < 0.01
    assert forty["best_loss"][0][0] / forty["loss"][0][0] - 1 > 0.05


def test_excess_parameters_decay_faster_than_repeated_data():
    # From the constants, R_N* = 5.3 < R_D* = 15.4: parameters beyond U_N lose value faster
    # than repeated tokens. At the same repetition (10 times the base) N′/N < D′/D.
    rd, rn = PAPER["rd_star"], PAPER["rn_star"]
    ratio = 10.0
    assert (1 + rn * -math.expm1(-(ratio - 1) / rn)) < (1 + rd * -math.expm1(-(ratio - 1) / rd))


# -- reduction to Chinchilla ----------------------------------------------------------------------

def test_one_epoch_without_excess_parameters_is_chinchilla_exactly():
    """R_D = 0 (D ≤ U, one epoch or less) and R_N = 0 (N ≤ U_N = N_opt(min(U, D))): the law is
    Chinchilla's, to rounding. With the default rule that is every model no larger than the
    compute-optimal one for its tokens."""
    law = paper_law()
    chinchilla = chinchilla_with(law.theta_)
    ratio = (law.params_["A"] / law.params_["B"]) ** (1 / law.params_["alpha"])
    tokens = np.logspace(8, 13, 11)
    params = ratio * tokens * np.linspace(0.05, 1.0, 11)       # N ≤ N_opt(D)
    for unique in (tokens, 3 * tokens):                        # one epoch, and less than one
        np.testing.assert_allclose(law.predict_values(params=params, tokens=tokens,
                                               unique_tokens=unique),
                                   chinchilla.predict_values(params=params, tokens=tokens), rtol=1e-14)


def test_one_epoch_with_excess_parameters_is_not_chinchilla():
    """At one epoch a model above N_opt(D) still has its excess parameters discounted: N′ < N,
    so the law predicts more loss than Chinchilla, the more the larger the model; the fixed-
    ratio rule reduces exactly where N ≤ ratio·D."""
    law = paper_law()
    chinchilla = chinchilla_with(law.theta_)
    ratio = (law.params_["A"] / law.params_["B"]) ** (1 / law.params_["alpha"])
    tokens = np.full(4, 1e10)
    params = ratio * tokens * np.array([1.5, 3.0, 10.0, 100.0])
    gap = law.predict_values(params=params, tokens=tokens, unique_tokens=tokens) \
        - chinchilla.predict_values(params=params, tokens=tokens)
    assert np.all(gap > 0) and np.all(np.diff(gap) > 0)
    fixed = paper_law(un_ratio="0.02")
    below = 0.02 * tokens * np.array([0.1, 0.5, 1.0, 1.0])
    np.testing.assert_allclose(fixed.predict_values(params=below, tokens=tokens, unique_tokens=tokens),
                               chinchilla.predict_values(params=below, tokens=tokens), rtol=1e-14)
    assert fixed.predict_values(params=[0.03 * 1e10], tokens=[1e10], unique_tokens=[1e10])[0] > \
        chinchilla.predict_values(params=[0.03 * 1e10], tokens=[1e10])[0]


def test_a_one_epoch_fit_is_chinchillas_fit():
    """On runs of one epoch whose models are no larger than compute-optimal for their data, the
    law's fit is Chinchilla's (same objective at every point the fits visit near the optimum)."""
    runs = chinchilla_ladder(E=1.87, A=521.0, B=1488.0, alpha=0.353, beta=0.353,
                             params=[1e7, 3e7, 1e8, 3e8, 1e9], tokens_per_param=[25, 50, 100, 200],
                             noise=0.002, seed=2)
    chinchilla = get_law("chinchilla").fit(runs, bootstrap=0, calibrate=False)
    constrained = get_law("data-constrained").fit(runs.assign(unique_tokens=runs["tokens"]), bootstrap=0, calibrate=False)
    assert constrained.objective_ == pytest.approx(chinchilla.objective_, rel=1e-6)
    for name, value in chinchilla.params_.items():
        assert constrained.params_[name] == pytest.approx(value, rel=1e-4), name


def test_compute_optimal_is_chinchillas_closed_form():
    law = paper_law()
    chinchilla = chinchilla_with(law.theta_)
    ours, theirs = law.compute_optimal([1e19, 1e22, 1e25]), chinchilla.compute_optimal(
        [1e19, 1e22, 1e25])
    for key in ("params", "tokens", "loss"):
        np.testing.assert_allclose(ours[key][0], theirs[key][0], rtol=1e-6)
    np.testing.assert_allclose(ours["unique_tokens"][0], ours["tokens"][0])


# -- the advice -----------------------------------------------------------------------------------

def test_advice_orders_and_brute_force():
    """best ≤ the unlimited allocation's loss at U, best ≥ the unlimited loss; with enough
    unique data all three agree; the best N is the minimum of a dense search."""
    law = paper_law()
    flops = np.array([1e20, 1e21, 1e22])
    advice = law.data_limited(flops, 1e10)
    unlimited, repeated, best = (advice[k][0] for k in ("loss", "repeated_loss", "best_loss"))
    assert np.all(best <= repeated + 1e-12) and np.all(best >= unlimited - 1e-12)
    np.testing.assert_allclose(advice["epochs"][0], advice["tokens"][0] / 1e10)
    plenty = law.data_limited(flops, 1e15)
    np.testing.assert_allclose(plenty["best_loss"][0], plenty["loss"][0], rtol=1e-9)
    np.testing.assert_allclose(plenty["repeated_loss"][0], plenty["loss"][0], rtol=1e-14)
    sizes = np.logspace(8, 11, 300001)
    losses = law.predict_values(params=sizes, tokens=1e21 / (6 * sizes), unique_tokens=1e10)
    assert advice["best_params"][0][1] == pytest.approx(sizes[np.argmin(losses)], rel=1e-3)
    # the law's own 1-D search against a dense grid, both flat at the minimum (second-order
    # error); numpy arithmetic only, no optimizer whose result moves between releases
    assert advice["best_loss"][0][1] == pytest.approx(losses.min(), rel=1e-10)


def test_advice_rejects_bad_supplies():
    law = paper_law()
    with pytest.raises(ScalingError, match="--unique-tokens must be positive"):
        law.data_limited(1e21, 0.0)
    with pytest.raises(ScalingError, match="one value or lists of one length"):
        law.data_limited([1e21, 1e22], [1e10, 2e10, 3e10])
    with pytest.raises(ScalingError, match="has no data limit"):
        chinchilla_with(law.theta_).data_limited(1e21, 1e10)


# -- fitting ----------------------------------------------------------------------------------------

TRUE = {"E": 1.87, "A": 521.0, "B": 1488.0, "alpha": 0.353, "beta": 0.353}
# relative tolerances of the recovery at 0.1% noise (72 runs)
TOLERANCE = {"E": 0.01, "A": 0.1, "B": 0.05, "alpha": 0.02, "beta": 0.02, "rd_star": 0.05,
             "rn_star": 0.1}


@pytest.mark.parametrize("un_ratio", ["law", "0.051"])
def test_synthetic_recovery_with_both_decays_fitted(un_ratio):
    """Runs of 1 to 32 epochs of 2, 6 and 20 unique tokens per parameter (the smallest pools
    leave models above U_N: excess parameters) from known constants, R_D* = 12 and R_N* = 4;
    both decays fitted, every constant back within TOLERANCE."""
    runs = data_constrained_ladder(**TRUE, rd_star=12.0, rn_star=4.0, un_ratio=un_ratio,
                                   params=[1e7, 3e7, 1e8, 3e8], unique_per_param=[2, 6, 20],
                                   epochs=[1, 2, 4, 8, 16, 32], noise=0.001, seed=7)
    law = get_law("data-constrained", rd_star="fit", rn_star="fit", un_ratio=un_ratio).fit(runs, bootstrap=0, calibrate=False)
    assert law.converged_ and law.at_bound_ == []
    truth = {**TRUE, "rd_star": 12.0, "rn_star": 4.0}
    for name, value in truth.items():
        assert law.params_[name] == pytest.approx(value, rel=TOLERANCE[name]), name


@pytest.mark.parametrize("settings", [{}, {"rd_star": "fit"}, {"rn_star": "fit"},
                                      {"rd_star": "fit", "rn_star": "fit", "un_ratio": "0.05"}])
def test_analytic_gradient_in_every_mode(settings):
    runs = data_constrained_ladder(**TRUE, params=[1e7, 1e8], unique_per_param=[2, 20],
                                   epochs=[1, 3, 30], noise=0.0)
    law = get_law("data-constrained", **settings)
    inputs = law.inputs_from(law.derive(runs))
    rng = np.random.default_rng(3)
    theta = np.array([PAPER[k] for k in FIVE] + [math.log(10.0)] * (len(law.parameters) - 5))
    theta = theta + 0.05 * rng.standard_normal(len(theta))
    _, jacobian = law.predict_theta_grad(theta[None, :], inputs)
    for p in range(len(theta)):
        step = np.zeros_like(theta)
        step[p] = 1e-6 * (1 + abs(theta[p]))
        numeric = (law.predict_theta((theta + step)[None, :], inputs)
                   - law.predict_theta((theta - step)[None, :], inputs))[0] / (2 * step[p])
        np.testing.assert_allclose(jacobian[0, :, p], numeric, rtol=1e-5, atol=1e-9,
                                   err_msg=law.parameters[p].name)


def test_epochs_are_derived_and_queried(tmp_path):
    runs = data_constrained_ladder(**TRUE, params=[1e7, 3e7, 1e8], unique_per_param=[5, 20],
                                   epochs=[0.5, 1, 4, 16], noise=0.0)
    law = get_law("data-constrained")
    data = law.prepare(runs)
    np.testing.assert_allclose(data.frame["epochs"], runs["tokens"] / runs["unique_tokens"])
    # under one epoch (unique > tokens) U_D = D: the law reads D′ = D
    under = data.frame[data.frame["epochs"] < 1]
    effective = law._effective_inputs(np.array([[PAPER[k] for k in FIVE]]),
                                      law.inputs_from(under))
    np.testing.assert_allclose(effective["data"][0], under["tokens"], rtol=1e-14)
    fit = get_law("data-constrained").fit(runs, where="epochs <= 4", bootstrap=0, calibrate=False)
    assert fit.n_runs_ == 18


def test_a_fitted_r_d_star_without_repeats_warns_and_survives_the_fit_file(tmp_path):
    runs = data_constrained_ladder(**TRUE, params=[1e7, 3e7, 1e8, 3e8], unique_per_param=[20],
                                   epochs=[1, 1.5, 2], noise=0.001, seed=3)
    law = get_law("data-constrained", rd_star="fit").fit(runs, bootstrap=0, calibrate=False)
    assert [w["code"] for w in law.law.law_warnings(law)] == ["repeats-unidentified"]
    law.to_json(tmp_path / "fit.json")
    again = load_fit(tmp_path / "fit.json")
    assert again.settings() == law.settings() and again.rd_star == "fit"
    assert [w["code"] for w in again.law.law_warnings(again)] == ["repeats-unidentified"]
    plain = get_law("data-constrained").fit(runs, bootstrap=0, calibrate=False)
    assert plain.law.law_warnings(plain) == []


def test_bad_settings_are_one_line_errors():
    with pytest.raises(ScalingError, match="setting rd_star must be a positive number or fit"):
        get_law("data-constrained", rd_star="-3")
    with pytest.raises(ScalingError, match="setting un_ratio must be a positive number or law"):
        get_law("data-constrained", un_ratio="paper")


# -- the command ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fit_path(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dc")
    runs = data_constrained_ladder(**TRUE, params=[1e7, 3e7, 1e8, 3e8], unique_per_param=[2, 20],
                                   epochs=[1, 4, 16], noise=0.002, seed=5)
    runs.to_csv(folder / "runs.csv", index=False)
    path = folder / "fit.json"
    assert cli.main(["fit", str(folder / "runs.csv"), "--law", "data-constrained",
                     "--bootstrap", "20", "--jobs", "1", "--no-calibration",
                     "--out", str(path)]) == 0
    return path


def test_predict_advice_table_and_json(fit_path, tmp_path, capsys):
    out = tmp_path / "advice.json"
    capsys.readouterr()
    assert cli.main(["predict", str(fit_path), "--flops", "1e19", "1e20", "--unique-tokens",
                     "1e9", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "compute under a data limit" in text and "best epochs" in text
    assert "95% intervals" in text
    record = json.loads(out.read_text())
    assert record["law"] == "data-constrained" and len(record["advice"]) == 2
    row = record["advice"][1]
    assert row["flops"] == 1e20 and row["unique_tokens"] == 1e9
    assert row["best_loss"]["lower"] <= row["best_loss"]["value"] <= row["best_loss"]["upper"]
    assert row["best_loss"]["value"] <= row["repeated_loss"]["value"]
    law = load_fit(fit_path)
    direct = law.data_limited([1e19, 1e20], 1e9, kind="run")
    assert row["best_params"]["value"] == pytest.approx(direct["best_params"][0][1], rel=1e-12)


def test_predict_with_unique_tokens_as_an_input(fit_path, capsys):
    capsys.readouterr()
    assert cli.main(["predict", str(fit_path), "--params", "1e8", "--tokens", "4e9",
                     "--unique-tokens", "1e9"]) == 0
    law = load_fit(fit_path)
    expected = law.predict_values(params=1e8, tokens=4e9, unique_tokens=1e9)[0]
    assert f" {expected:.5g} " in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--flops", "1e20", "--unique-tokens", "0"], "--unique-tokens must be positive and finite"),
    (["--flops", "1e20", "--unique-tokens=-5"], "--unique-tokens must be positive and finite"),
    (["--flops", "1e20", "1e21", "--unique-tokens", "1e9", "2e9", "3e9"],
     "--flops and --unique-tokens: give one value or lists of one length"),
])
def test_predict_advice_errors(fit_path, argv, message, capsys):
    capsys.readouterr()
    assert cli.main(["predict", str(fit_path), *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_unique_tokens_with_another_law_is_an_error(tmp_path, capsys):
    runs = chinchilla_ladder(**TRUE, params=[1e7, 3e7, 1e8], tokens_per_param=[10, 20, 40],
                             noise=0.002, seed=1)
    runs.to_csv(tmp_path / "runs.csv", index=False)
    assert cli.main(["fit", str(tmp_path / "runs.csv"), "--bootstrap", "0", "--no-calibration",
                     "--out", str(tmp_path / "fit.json")]) == 0
    for extra in (["--flops", "1e20"], ["--params", "1e8", "--tokens", "1e9"]):
        capsys.readouterr()
        assert cli.main(["predict", str(tmp_path / "fit.json"), *extra,
                         "--unique-tokens", "1e9"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1
        assert "--unique-tokens: the chinchilla law has no data limit" in err[0]
        assert "--law data-constrained" in err[0]


def test_non_positive_unique_tokens_name_file_column_and_row(tmp_path, capsys):
    runs = data_constrained_ladder(**TRUE, params=[1e7, 3e7, 1e8], unique_per_param=[5, 20],
                                   epochs=[1, 4], noise=0.0).reset_index(drop=True)
    runs.loc[4, "unique_tokens"] = -1.0
    runs.to_csv(tmp_path / "runs.csv", index=False)
    capsys.readouterr()
    assert cli.main(["fit", str(tmp_path / "runs.csv"), "--law", "data-constrained",
                     "--bootstrap", "0", "--no-calibration"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"scaling: error: {tmp_path / 'runs.csv'}: column 'unique_tokens', row 5: "
                   "must be positive for the data-constrained law, got -1")


def test_the_law_is_listed(capsys):
    assert cli.main(["laws"]) == 0
    out = capsys.readouterr().out
    assert "data-constrained" in out and "unique_tokens" in out and "rd_star=15.387756" in out


def test_missing_unique_tokens_column(tmp_path, capsys):
    frame = pd.DataFrame({"run": ["a", "b"], "params": [1e7, 2e7], "tokens": [1e8, 2e8],
                          "loss": [4.0, 3.8]})
    frame.to_csv(tmp_path / "runs.csv", index=False)
    capsys.readouterr()
    assert cli.main(["fit", str(tmp_path / "runs.csv"), "--law", "data-constrained",
                     "--bootstrap", "0"]) == 2
    assert "missing column 'unique_tokens'" in capsys.readouterr().err
