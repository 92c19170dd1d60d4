"""Compute-optimal allocation by Hoffmann et al.'s approaches 1-3 (scaling/analysis/approaches.py,
approach1_envelope.py, approach2_isoflop.py, approach3_parametric.py).

Synthetic runs from a Chinchilla law, whose N_opt exponent is known, a = β/(α+β); and the
bundled Chinchilla runs (Epoch AI's extraction of Hoffmann et al. 2022, Figure 4), compared with
the paper's Table 2: a = 0.50 (approach 1), 0.49 (approach 2), 0.46 (approach 3).
"""

import json

import numpy as np
import pandas as pd
import pytest

import cli
from scaling.analysis.approach1_envelope import approach1
from scaling.analysis.approach2_isoflop import approach2
from scaling.analysis.approach3_parametric import approach3
from scaling.errors import ScalingError
from scaling.data.runs import filter_rows

# Hoffmann et al. 2022's fitted law (unrounded, data/chinchilla/SOURCE.md): a = 0.4565
TRUE = {"E": 1.69337, "A": 406.401, "B": 410.723, "alpha": 0.339171, "beta": 0.284908}
A_TRUE = TRUE["beta"] / (TRUE["alpha"] + TRUE["beta"])
HOFFMANN_BUDGETS = [6e18, 1e19, 3e19, 6e19, 1e20, 3e20, 6e20, 1e21, 3e21]
# Hoffmann et al. 2022, Table 2. On Epoch's reading of the figure's points (losses quantised to
# 0.015 nats by the colour bar, FLOPs scattered around the budgets) both approaches land above
# them; Epoch's refit of approach 3 on the same points gives a = 0.51, as ours does
PAPER_A = {2: 0.49, 3: 0.46}


def loss(params, tokens, true=TRUE):
    return true["E"] + true["A"] / params ** true["alpha"] + true["B"] / tokens ** true["beta"]


def optimum(flops, true=TRUE):
    alpha, beta = true["alpha"], true["beta"]
    g = (alpha * true["A"] / (beta * true["B"])) ** (1 / (alpha + beta))
    return g * (flops / 6) ** (beta / (alpha + beta))


def isoflop_runs(noise=0.005, seed=0, budgets=(1e18, 3e18, 1e19, 3e19, 1e20, 3e20, 1e21)):
    """9 sizes a budget, spread ×/÷ 4.5 around its optimum, final rows, relative noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for flops in budgets:
        for k, params in enumerate(optimum(flops) * np.exp(np.linspace(-1.5, 1.5, 9))):
            tokens = flops / (6 * params)
            rows.append({"run": f"c{flops:g}-{k}", "params": params, "tokens": tokens,
                         "flops": flops * np.exp(0.02 * rng.standard_normal()),
                         "loss": loss(params, tokens) * np.exp(noise * rng.standard_normal())})
    return pd.DataFrame(rows)


def curve_runs(sizes=np.geomspace(1e7, 3e9, 25), points=60):
    """One long run a size (every row a checkpoint), D from 1e8 to 1e12 tokens."""
    rows = []
    for k, params in enumerate(sizes):
        for tokens in np.geomspace(1e8, 1e12, points):
            rows.append({"run": f"n{k:02d}", "params": params, "tokens": tokens,
                         "loss": loss(params, tokens)})
    return pd.DataFrame(rows)


def test_approach2_recovers_the_exponent_within_its_interval():
    result = approach2(isoflop_runs(), bootstrap=200, seed=1)
    low, high = result.params.exponent_interval
    assert low < A_TRUE < high
    assert result.params.exponent == pytest.approx(A_TRUE, abs=0.02)
    assert result.tokens.exponent == pytest.approx(1 - result.params.exponent)
    assert len(result.minima) == 7 and result.dropped == []
    # the allocation at a budget: N_opt and D_opt with 6 N D = C
    allocation = result.allocation([1e22])
    assert 6 * allocation["params"][0][0] * allocation["tokens"][0][0] == pytest.approx(1e22)
    assert allocation["params"][1][0] < allocation["params"][0][0] < allocation["params"][2][0]


def test_approach2_akima_and_exact_profiles():
    exact = approach2(isoflop_runs(noise=0.0))
    assert exact.params.exponent == pytest.approx(A_TRUE, abs=0.01)
    akima = approach2(isoflop_runs(noise=0.0), interpolation="akima")
    assert akima.params.exponent == pytest.approx(A_TRUE, abs=0.02)


def test_approach2_on_checkpoints_of_constant_lr_runs():
    # rows="all": every row of every run at a budget (the checkpoints are the budgets)
    sizes = optimum(1e19) * np.exp(np.linspace(-3, 3, 13))
    rows = []
    for k, params in enumerate(sizes):
        for flops in (1e18, 3e18, 1e19, 3e19, 1e20):
            tokens = flops / (6 * params)
            rows.append({"run": f"n{k}", "params": params, "tokens": tokens,
                         "loss": loss(params, tokens)})
    result = approach2(pd.DataFrame(rows), rows="all", budgets=[1e18, 3e18, 1e19,
                                                              3e19, 1e20])
    assert result.params.exponent == pytest.approx(A_TRUE, abs=0.02)
    assert [m.flops for m in result.minima] == pytest.approx([1e18, 3e18, 1e19, 3e19, 1e20])


def test_approach2_warns_of_runs_a_query_cut_short():
    """Runs of two rows, the second at twice the tokens: `step == 1` keeps each run's first
    row, which approach 2 (final rows) would read as the run's end: it says so."""
    first = isoflop_runs(noise=0.0).assign(step=1)
    second = first.assign(step=2, tokens=2 * first["tokens"], flops=2 * first["flops"],
                          loss=0.99 * first["loss"])
    table = pd.concat([first, second], ignore_index=True)
    cut = approach2(filter_rows(table, "step == 1"))
    (warning,) = [w for w in cut.warnings if "lost their final rows" in w]
    assert warning.startswith("63 of the fitted runs lost their final rows to the query, and "
                              "approach 2 reads each run's last row as its end")
    assert cut.params.exponent == pytest.approx(approach2(first).params.exponent)
    assert not any("lost their final rows" in w for w in approach2(table).warnings)
    assert not any("lost their final rows" in w for w in approach2(
        filter_rows(table, "step == 1"), rows="all").warnings)


def test_approach2_drops_a_budget_whose_minimum_is_at_an_edge():
    runs = isoflop_runs(noise=0.0)
    below = [{"run": f"edge-{k}", "params": p, "tokens": 3e21 / (6 * p), "flops": 3e21,
              "loss": loss(p, 3e21 / (6 * p))}
             for k, p in enumerate(optimum(3e21) * np.array([0.05, 0.1, 0.2]))]
    result = approach2(pd.concat([runs, pd.DataFrame(below)], ignore_index=True))
    assert len(result.minima) == 7
    (dropped,) = result.dropped
    assert dropped.flops == pytest.approx(3e21)
    assert "largest model" in dropped.reason
    assert any("not bracketed" in w for w in result.warnings)


def test_approach2_needs_three_budgets():
    runs = isoflop_runs(budgets=(1e18, 1e19))
    with pytest.raises(ScalingError, match="approach 2 needs 3 budgets with an interior minimum, "
                                           "found 2"):
        approach2(runs)


def test_approach1_follows_the_envelope_of_the_curves():
    result = approach1(curve_runs(), bootstrap=100, seed=2)
    # the envelope picks among 25 discrete sizes (a factor 1.27 apart): the exponent is close
    assert result.params.exponent == pytest.approx(A_TRUE, abs=0.03)
    low, high = result.params.exponent_interval
    assert low <= result.params.exponent <= high
    assert result.tokens.exponent == pytest.approx(1 - result.params.exponent)
    for point in result.minima:          # each envelope point is the best run at its budget
        assert 6 * point.params * point.tokens == pytest.approx(point.flops)


def test_approach1_needs_curves():
    with pytest.raises(ScalingError, match="approach 1 needs training curves"):
        approach1(isoflop_runs())


def test_approach3_is_the_chinchilla_exponent():
    runs = isoflop_runs(noise=0.001)
    result = approach3(runs, bootstrap=0)
    fit = result.details["fit"]
    assert result.params.exponent == pytest.approx(fit["beta"] / (fit["alpha"] + fit["beta"]))
    assert result.params.exponent == pytest.approx(A_TRUE, abs=0.02)
    # k_N·C^a is the law's own compute-optimal N
    assert result.params(1e21) == pytest.approx(optimum(1e21), rel=0.1)


@pytest.fixture(scope="module")
def chinchilla(chinchilla_240):
    kept = chinchilla_240
    return {2: approach2(kept, budgets=HOFFMANN_BUDGETS, tolerance=0.25,
                         bootstrap=200, seed=0),
            3: approach3(kept, bootstrap=200, seed=0, n_jobs=1)}


def test_bundled_chinchilla_side_by_side_with_the_paper(chinchilla):
    # Measured (docs/planning.md, "scaling optimal"): approach 2 a = 0.546
    # [0.525, 0.562] on 8 budgets (3e21 dropped: its lowest loss is at its smallest model),
    # approach 3 a = 0.514 [0.481, 0.557]; the paper: 0.49 and 0.46
    for number, result in chinchilla.items():
        low, high = result.params.exponent_interval
        assert low < result.params.exponent < high
        # the disagreement with the paper, reported in docs/planning.md: above it, by more than the
        # bootstrap interval
        assert low > PAPER_A[number], number
    assert chinchilla[2].params.exponent == pytest.approx(0.546, abs=0.005)
    assert chinchilla[3].params.exponent == pytest.approx(0.514, abs=0.005)
    assert [d.flops for d in chinchilla[2].dropped] == pytest.approx([3e21])
    # both approaches put the 1e21-FLOP model near 3e9 parameters
    assert chinchilla[2].params(1e21) == pytest.approx(chinchilla[3].params(1e21), rel=0.2)


def test_cli_optimal_prints_and_writes_every_supported_approach(tmp_path, capsys):
    runs = tmp_path / "iso.csv"
    isoflop_runs().to_csv(runs, index=False)
    out = tmp_path / "optimal.json"
    assert cli.main(["optimal", str(runs), "--bootstrap", "20", "--jobs", "1",
                     "--flops", "1e21", "1e23", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "2 isoFLOP profiles" in text and "3 parametric fit (chinchilla)" in text
    assert "approach 1 not supported: approach 1 needs training curves" in text
    record = json.loads(out.read_text())
    assert set(record["approaches"]) == {"2", "3"} and "1" in record["unsupported"]
    assert record["approaches"]["2"]["params"]["exponent"] == pytest.approx(A_TRUE, abs=0.02)
    assert [row["flops"] for row in record["allocation"]] == [1e21, 1e21, 1e23, 1e23]


# The chinchilla_ladder example's law (scaling/data/synthetic.py): a = β/(α+β) = 0.37/0.71 = 0.5211
CURVE_LAW = {"E": 1.8, "A": 400, "B": 2000, "alpha": 0.34, "beta": 0.37}


def test_approach1_drops_the_envelope_led_by_the_smallest_or_largest_model():
    """Noiseless curves of 9 sizes (1e7 to 1e9, a factor 1.78 apart), each from 1e6 to 1e11
    tokens: below about 1e17 FLOPs the optimum is smaller than 1e7, and the smallest model leads
    the envelope over 4 decades of budgets; above 4e19 the largest does. Those points bracket no
    optimum; fitted, they pulled a to 0.359 (issue 24). Dropped, the 7 inner sizes remain."""
    from scaling.data.synthetic import chinchilla_curves

    true_a = CURVE_LAW["beta"] / (CURVE_LAW["alpha"] + CURVE_LAW["beta"])
    runs = chinchilla_curves(**CURVE_LAW, params=np.geomspace(1e7, 1e9, 9),
                             tokens=np.geomspace(1e6, 1e11, 60))
    result = approach1(runs)
    # a least-squares line through the staircase of 7 whole steps (one size each) has slope
    # (1 - 1/7²) of the steps' own, 2% low (0.511): within 0.02 of the law's a
    assert result.params.exponent == pytest.approx(true_a, abs=0.02)
    (warning,) = [w for w in result.warnings if "envelope points dropped" in w]
    assert "led by the smallest model (N1e+07)" in warning
    assert "led by the largest model (N1e+09)" in warning
    assert "not bracketed" in warning
    assert {span["edge"] for span in result.details["dropped_envelope"]} == {"smallest",
                                                                             "largest"}
    assert 1e7 < min(m.params for m in result.minima) < max(m.params for m in result.minima) < 1e9
