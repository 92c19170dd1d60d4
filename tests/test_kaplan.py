"""The Kaplan law (scaling/laws/kaplan.py), the manual's example of adding a law
(docs/adding-a-law.md): the CLI fits synthetic losses made with the paper's constants and gives
them back.

Certified constants: Kaplan et al. 2020, "Scaling Laws for Neural Language Models"
(arXiv:2001.08361), eqs. (1.1)-(1.2): alpha_N = 0.076, alpha_D = 0.095, N_c = 8.8e13,
D_c = 5.4e13, in the form of eq. (1.5).
"""

import json

import numpy as np
import pandas as pd
import pytest

import cli

KAPLAN = {"alpha_N": 0.076, "alpha_D": 0.095, "N_c": 8.8e13, "D_c": 5.4e13}


def kaplan_losses(params, tokens):
    return ((KAPLAN["N_c"] / params) ** (KAPLAN["alpha_N"] / KAPLAN["alpha_D"])
            + KAPLAN["D_c"] / tokens) ** KAPLAN["alpha_D"]


def test_cli_recovers_the_papers_constants(tmp_path, capsys):
    params = np.repeat([1e6, 3e6, 1e7, 3e7, 1e8, 3e8, 1e9], 5)
    tokens = np.tile([1e8, 1e9, 1e10, 1e11, 1e12], 7)
    noise = np.exp(0.0005 * np.random.default_rng(0).standard_normal(len(params)))
    pd.DataFrame({"run": [f"r{k}" for k in range(len(params))], "params": params,
                  "tokens": tokens, "loss": kaplan_losses(params, tokens) * noise}) \
        .to_csv(tmp_path / "runs.csv", index=False)
    code = cli.main(["fit", str(tmp_path / "runs.csv"), "--law", "kaplan", "--bootstrap", "40",
                     "--out", str(tmp_path / "fit.json")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "Kaplan" in out and "alpha_N" in out and "converged" in out
    record = json.loads((tmp_path / "fit.json").read_text())
    fitted = record["params"]
    assert fitted["alpha_N"] == pytest.approx(0.076, rel=0.01)
    assert fitted["alpha_D"] == pytest.approx(0.095, rel=0.02)
    assert fitted["N_c"] == pytest.approx(8.8e13, rel=0.1)
    assert fitted["D_c"] == pytest.approx(5.4e13, rel=0.2)
    for name, value in KAPLAN.items():
        low, high = record["intervals"][name]
        assert low <= value <= high, (name, low, high)
    # a prediction from the saved fit, at a size and data far beyond the runs
    assert cli.main(["predict", str(tmp_path / "fit.json"), "--params", "1e11",
                     "--tokens", "1e13"]) == 0
    predicted = float(capsys.readouterr().out.splitlines()[1].split()[2])
    assert predicted == pytest.approx(kaplan_losses(1e11, 1e13), rel=0.005)


def test_noiseless_losses_give_the_constants_exactly():
    from scaling.laws import get_law

    params = np.repeat([1e6, 1e7, 1e8, 1e9], 4)
    tokens = np.tile([1e8, 1e9, 1e10, 1e11], 4)
    runs = pd.DataFrame({"run": [f"r{k}" for k in range(16)], "params": params,
                         "tokens": tokens, "loss": kaplan_losses(params, tokens)})
    fit = get_law("kaplan").fit(runs)
    for name, value in KAPLAN.items():
        assert fit.params_[name] == pytest.approx(value, rel=1e-4), name


def test_the_manual_shows_the_law_file_as_it_is():
    """docs/adding-a-law.md shows scaling/laws/kaplan.py in full, less its docstring: the
    example cannot drift from the file."""
    from conftest import ROOT

    page = (ROOT / "docs" / "adding-a-law.md").read_text()
    section = page[page.index("# Adding a law"):]
    shown = section[section.index("```python\n") + len("```python\n"):]
    shown = shown[:shown.index("```\n")]
    source = (ROOT / "scaling" / "laws" / "kaplan.py").read_text()
    body = source[source.index("from __future__ import annotations\n\n")
                  + len("from __future__ import annotations\n\n"):]
    assert shown == body
