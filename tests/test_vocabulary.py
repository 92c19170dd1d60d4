"""The vocabulary law (scaling/laws/vocabulary.py): a negative target, fitted in linear space,
through the CLI."""

import json

import numpy as np
import pytest

import cli
from scaling.synthetic import vocabulary_ladder

TRUE = {"E": 6.0, "A1": 2000.0, "alpha1": 0.45, "A2": 300.0, "alpha2": 0.4, "B": 4000.0,
        "beta": 0.35}


def test_cli_fits_negative_unigram_normalised_losses(tmp_path, capsys):
    runs = vocabulary_ladder(**TRUE, noise=0.002, seed=1)
    assert (runs["loss_unigram"] < 0).all()
    runs.to_csv(tmp_path / "runs.csv", index=False)
    code = cli.main(["fit", str(tmp_path / "runs.csv"), "--law", "vocabulary", "--bootstrap",
                     "40", "--out", str(tmp_path / "fit.json")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "on loss_unigram" in out and "residuals loss_unigram" in out   # linear space
    record = json.loads((tmp_path / "fit.json").read_text())
    assert record["space"] == "linear" and record["target"] == "loss_unigram"
    fitted = record["params"]
    for name, tolerance in (("E", 0.01), ("alpha1", 0.03), ("alpha2", 0.03), ("beta", 0.02),
                            ("A1", 0.15), ("A2", 0.15), ("B", 0.1)):
        assert fitted[name] == pytest.approx(TRUE[name], rel=tolerance), name
    low, high = record["intervals"]["E"]
    assert low <= TRUE["E"] <= high


def test_backtest_of_a_negative_target_reports_absolute_errors(tmp_path, capsys):
    vocabulary_ladder(**TRUE, noise=0.002, seed=2).to_csv(tmp_path / "runs.csv", index=False)
    code = cli.main(["backtest", str(tmp_path / "runs.csv"), "--law", "vocabulary", "--train",
                     "params_nonembed < 1e9", "--bootstrap", "20", "--json",
                     str(tmp_path / "record.json")])
    out, err = capsys.readouterr()
    assert code == 0, err
    record = json.loads((tmp_path / "record.json").read_text())
    assert record["error_kind"] == "absolute" and "mean_abs_error" in record
    errors = [row["error"] for row in record["test"]]
    assert record["mean_abs_error"] == pytest.approx(np.mean(np.abs(errors)))
    assert record["mean_abs_error"] < 0.02                  # the noise is 0.002
    assert "mean absolute error" in out and "relative" not in out


def test_the_vocabulary_parameters_are_derived_from_vocab_size_and_width():
    from scaling.laws import get_law

    runs = vocabulary_ladder(**TRUE, noise=0.0)
    law = get_law("vocabulary")
    prepared = law.prepare(runs).frame
    assert (prepared["vocab_params"] == runs["vocab_size"] * runs["width"]).all()
    fit = law.fit(runs)
    expected = (-6.0 + 2000 / 1e9 ** 0.45 + 300 / (32768 * 1024) ** 0.4 + 4000 / 1e12 ** 0.35)
    assert fit.predict(params_nonembed=1e9, vocab_params=32768 * 1024,
                       characters=1e12)[0] == pytest.approx(expected, abs=1e-6)
