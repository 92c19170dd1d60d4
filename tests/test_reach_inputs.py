"""Reach in the inputs beyond a law's own (issue 24, item 2): the sparsity of a pruned model (the
sparse law's density), the vocabulary size (the vocabulary law's V) and the width of a muP model
(through its params) count in the reach columns, the distance, the calibrated interval and the
warnings, ten times beyond the fitted range and ten times below it, as params and tokens do."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import cli
from scaling.laws import load_fit
from scaling.data.synthetic import vocabulary_ladder
from test_mup_law import widths_and_budgets
from test_sparse_law import synthetic_table
from test_vocabulary import CONSTANTS


def _fit(tmp_path, capsys, table, law, *extra):
    path, fit = tmp_path / "runs.parquet", tmp_path / "fit.json"
    table.to_parquet(path)
    assert cli.main(["fit", str(path), "--law", law, "--bootstrap", "0", "--jobs", "1",
                     "--out", str(fit), *extra]) == 0
    capsys.readouterr()
    return fit


def _predict(capsys, *argv):
    assert cli.main(["predict", *map(str, argv)]) == 0
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return out


def _column(out, heading):
    """The cells of a table column under `heading` (rows until the first blank line)."""
    lines = out.splitlines()
    top = next(k for k, line in enumerate(lines) if heading in line)
    start = lines[top].index(heading)
    cells = []
    for line in lines[top + 1:]:
        if not line.strip() or line.startswith("("):
            break
        cells.append(line[start:].split()[0] if len(line) > start else "")
    return cells


# -- (a) sparsity: the density a pruned model ends at -------------------------------------------

def test_sparsity_ten_times_below_the_fitted_density_is_reach_warns_and_widens(tmp_path, capsys):
    """Fitted on runs pruned to sparsity ≤ 0.5 (density ≥ 0.5), advice at sparsity 0.95
    (density 0.05, ten times below): every pruned window is ÷10 in density though its N̄ and D
    are inside, the prediction warns naming the density, and the calibrated interval of the
    model pruned at initialisation (N̄ = the final count) is wider than that of the dense model
    of the same size, at the same inputs."""
    table = synthetic_table(noise=0.003, seed=3, rows_per_run=2, sparsities=(0.0, 0.25, 0.5),
                            prunable_share=1.0)
    fit = _fit(tmp_path, capsys, table, "sparse")
    law = load_fit(fit)
    assert law.fitted_range_["density"] == pytest.approx([0.5, 1.0])
    assert law.calibration_ is not None
    advice = tmp_path / "advice.json"
    out = _predict(capsys, fit, "--params", "5e6", "--tokens", "1e8", "--sparsity", "0.95",
                   "--json", advice)
    cells = _column(out, "× density")
    assert cells[:2] == ["inside", "inside"]              # the two dense models
    assert cells[2:] == ["÷10"] * 8                       # pruned to density 0.05
    assert _column(out, "× params_average") == ["inside"] * 10
    warning = [line for line in out.splitlines() if line.startswith("WARNING")
               and "density 0.05" in line]
    assert warning and "decades outside the fitted data" in warning[0]
    record = json.loads(advice.read_text())
    rows = {(row["schedule"], row["start"], row["end"]): row for row in record["windows"]}
    dense_final, at_init = rows[("dense, final size", None, None)], rows[("geometric", 0, 0)]
    assert at_init["params_average"] == pytest.approx(dense_final["params_average"])
    assert at_init["reach"]["density"] == pytest.approx(0.05 / 1.0)
    assert at_init["distance"] == pytest.approx(1.0, abs=1e-9)
    assert dense_final["distance"] == 0.0
    width = {name: row["upper"] - row["lower"] for name, row in
             (("dense", dense_final), ("pruned", at_init))}
    assert width["pruned"] > 3 * width["dense"] > 0
    # inside the fitted densities (sparsity 0.5): no reach and no widening
    out = _predict(capsys, fit, "--params", "5e6", "--tokens", "1e8", "--sparsity", "0.5")
    assert _column(out, "× density") == ["inside"] * 10
    assert "WARNING" not in out and "CAUTION" not in out


def test_dense_after_a_fit_on_pruned_runs_alone_is_reach_above(tmp_path, capsys):
    """Fitted on runs pruned to sparsity 0.9 and 0.95 alone (density 0.05 to 0.1), the dense
    models of the advice are ten times the largest fitted density: ×10, and, without a
    calibration, an outside-data warning naming the density."""
    table = synthetic_table(noise=0.003, seed=4, rows_per_run=2, sparsities=(0.9, 0.95),
                            prunable_share=1.0)
    fit = _fit(tmp_path, capsys, table, "sparse", "--no-calibration")
    assert load_fit(fit).fitted_range_["density"] == pytest.approx([0.05, 0.1])
    out = _predict(capsys, fit, "--params", "5e6", "--tokens", "1e8", "--sparsity", "0.9")
    assert _column(out, "× density") == ["×10", "×10", *["inside"] * 8]
    warning = [line for line in out.splitlines() if line.startswith("WARNING: the prediction")]
    assert len(warning) == 1 and "density 1 reach" in warning[0]
    assert re.search(r"\(in [a-z_, ]*density\)", warning[0])


def test_a_density_column_must_agree_with_the_active_share(tmp_path, capsys):
    table = synthetic_table(rows_per_run=2)
    table["density"] = 0.5
    path = tmp_path / "runs.parquet"
    table.to_parquet(path)
    assert cli.main(["fit", str(path), "--law", "sparse", "--no-calibration"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "column 'density', row 1: 0.5 is not the active share" in err


# -- (b) vocabulary size -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def vocab_fit(tmp_path_factory):
    """A calibrated vocabulary fit on tokenizers of 8,192 to 32,768 tokens."""
    tmp = tmp_path_factory.mktemp("vocab")
    table = vocabulary_ladder(**CONSTANTS, noise=0.002, seed=1, vocab_sizes=(8192, 16384, 32768),
                              characters=(1e9, 1e10))
    table.to_parquet(tmp / "runs.parquet")
    assert cli.main(["fit", str(tmp / "runs.parquet"), "--law", "vocab", "--bootstrap", "0",
                     "--jobs", "1", "--out", str(tmp / "fit.json")]) == 0
    return tmp / "fit.json"


def _optimum(capsys, fit, width, tmp_path):
    path = tmp_path / f"v{width}.json"
    out = _predict(capsys, fit, "--optimal-vocab", "--params-nonembed", "1e9", "--width", width,
                   "--json", path)
    return out, json.loads(path.read_text())["predictions"][0]


@pytest.mark.parametrize("width, cell, side", [(8, "×", "above"), (65536, "÷", "below")])
def test_a_vocabulary_ten_times_outside_the_fitted_sizes_is_reach(vocab_fit, tmp_path, capsys,
                                                                 width, cell, side):
    """Approach 3's N_v = V·d does not depend on the width, so a narrow (wide) model moves its
    optimal V alone ten times above (below) the fitted tokenizers, at the N_v, N_nv and D of a
    model of ordinary width: V counts in the reach column, the distance, the warnings and the
    calibrated interval of its loss, which widens over that of the ordinary model."""
    capsys.readouterr()
    law = load_fit(vocab_fit)
    assert law.fitted_range_["vocab_size"] == [8192.0, 32768.0]
    out, row = _optimum(capsys, vocab_fit, width, tmp_path)
    out0, row0 = _optimum(capsys, vocab_fit, 1024, tmp_path)
    assert row["vocab_params"] == pytest.approx(row0["vocab_params"], rel=1e-6)
    assert row["tokens"] == pytest.approx(row0["tokens"], rel=1e-6)
    vocab = row["optimal_vocab"]["approach3"]
    ratio = vocab / 32768 if side == "above" else 8192 / vocab
    assert ratio > 10
    assert row["reach"]["vocab_size"] == pytest.approx(vocab / 32768)
    assert row["distance"] == pytest.approx(row0["distance"] + np.log10(ratio), abs=1e-6)
    shown = _column(out, "× vocab_size")[0]
    assert shown.startswith(cell) and float(shown[1:]) == pytest.approx(ratio, rel=0.05)
    assert row["upper"] - row["lower"] > 1.3 * (row0["upper"] - row0["lower"])
    warnings = [line for line in out.splitlines() if line.startswith("WARNING")]
    assert any("at approach 3's optimum" in line and "vocab_size" in line for line in warnings)
    assert any(line.startswith("WARNING: approach 2's optimal vocabulary") and
               "outside the fitted vocabulary sizes (8,192 to 32,768)" in line
               for line in warnings)


# -- (c) width of a muP model: its params ----------------------------------------------------

@pytest.mark.parametrize("params, cell", [(1e9, "×"), (1e3, "÷")])
def test_a_mup_width_ten_times_outside_is_reach_through_params(tmp_path, capsys, params, cell):
    """The muP law reads params alone (width enters through them, params ∝ width² at a fixed
    depth: ten times the width is a hundred times the params); `--width` is not one of its
    inputs and is refused. Ten times the fitted widths above or below: reach in params,
    a warning, and a calibrated interval wider than inside."""
    fit = _fit(tmp_path, capsys, widths_and_budgets(), "mup")
    law = load_fit(fit)
    low, high = law.fitted_range_["params"]
    assert law.calibration_ is not None and high / low < 1e3
    out = _predict(capsys, fit, "--params", params, np.sqrt(low * high), "--tokens", 1e7, 1e7)
    first = _column(out, "× params")
    assert first[0].startswith(cell) and first[1] == "inside"
    assert "WARNING: the prediction at params" in out
    inputs = {"params": np.array([params, np.sqrt(low * high)]), "tokens": np.full(2, 1e7)}
    _, lower, upper = law.interval_from_inputs(inputs, "calibrated")
    assert upper[0] - lower[0] > 2 * (upper[1] - lower[1])
    for argv in (["--width", "4096"], ["--input", "width=4096"]):
        assert cli.main(["predict", str(fit), "--params", "1e9", "--tokens", "1e7", *argv]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "width" in err and "Traceback" not in err
