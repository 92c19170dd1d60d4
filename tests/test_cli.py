"""The `scaling` command end to end on the bundled data and on a synthetic ladder."""

import json
import subprocess
import sys

import numpy as np
import pytest

import cli
from conftest import CHINCHILLA, ROOT
from scaling.laws import load_fit
from scaling.data.table_files import write_runs
from scaling.data.synthetic import chinchilla_ladder

EPOCH_WHERE = "loss < 3.44"


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fit")
    fit_path, plot_path = folder / "fit.json", folder / "fit.png"
    code = cli.main(["fit", str(CHINCHILLA), "--where", EPOCH_WHERE, "--bootstrap", "100",
                     "--out", str(fit_path), "--plot", str(plot_path)])
    assert code == 0
    return fit_path, plot_path


def test_fit_writes_json_contract(fitted, capsys):
    fit_path, plot_path = fitted
    record = json.loads(fit_path.read_text())
    for key in ("law", "params", "intervals", "objective", "n_points", "converged", "at_bound"):
        assert key in record, key
    assert record["law"] == "chinchilla" and record["n_points"] == 240
    assert set(record["params"]) == {"E", "A", "B", "alpha", "beta"}
    assert record["params"]["alpha"] == pytest.approx(0.34731, rel=0.01)  # Epoch, see SOURCE.md
    for name, (low, high) in record["intervals"].items():
        assert low < record["params"][name] < high, name
    assert record["converged"] is True and record["at_bound"] == []
    assert record["format"] == 3 and "theta" not in record       # one source: params
    assert record["bootstrap"]["names"] == ["E", "A", "B", "alpha", "beta"]
    assert len(record["bootstrap"]["samples"]) == record["bootstrap"]["n"] == 100
    assert plot_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_fit_report_shows_intervals_and_compute_optimal_table(tmp_path, capsys):
    assert cli.main(["fit", str(CHINCHILLA), "--where", EPOCH_WHERE, "--bootstrap", "20"]) == 0
    out = capsys.readouterr().out
    assert "240 runs" in out and "95% interval" in out
    assert "compute-optimal allocation" in out
    for budget in ("1e+21", "1e+22", "1e+23", "1e+24", "1e+25"):
        assert budget in out


def test_predict_reloads_the_fit(fitted, capsys):
    fit_path, _ = fitted
    law = load_fit(fit_path)
    expected = law.predict_values(params=7e10, tokens=1.4e12)[0]
    assert cli.main(["predict", str(fit_path), "--params", "7e10", "1e9",
                     "--tokens", "1.4e12", "2e10"]) == 0
    out = capsys.readouterr().out
    assert f"{expected:.5g}" in out and "95% interval (calibrated)" in out
    assert "× params" in out and "×4.3" in out               # 7e10 over the largest run, 1.6e10
    assert len(out.strip().splitlines()) == 4                 # header, 2 rows, the reach note
    # the reloaded fit reproduces the saved parameters and its intervals
    record = json.loads(fit_path.read_text())
    assert law.params_ == pytest.approx(record["params"], rel=1e-12)
    for name, interval in record["intervals"].items():
        assert law.intervals_[name] == pytest.approx(interval, rel=1e-12)


def test_predict_at_compute_budget(fitted, capsys):
    fit_path, _ = fitted
    assert cli.main(["predict", str(fit_path), "--flops", "5.88e23"]) == 0
    out = capsys.readouterr().out
    optimum = load_fit(fit_path).compute_optimal(5.88e23)
    assert f"{optimum['params'][0][0]:.4g}" in out
    assert "tokens/param" in out


def test_backtest_json(tmp_path, capsys):
    runs = chinchilla_ladder(E=1.8, A=400, B=2000, alpha=0.34, beta=0.37,
                             params=[1e7, 2e7, 5e7, 1e8, 2e8, 5e8], tokens_per_param=[5, 10, 20, 40],
                             noise=0.003, seed=2)
    write_runs(runs, tmp_path / "ladder.parquet")
    out_json = tmp_path / "backtest.json"
    assert cli.main(["backtest", str(tmp_path / "ladder.parquet"), "--law", "chinchilla",
                     "--train", "params < 3e8", "--bootstrap", "50",
                     "--json", str(out_json)]) == 0
    record = json.loads(out_json.read_text())
    assert set(record) >= {"law", "train_runs", "test", "mean_abs_rel_error"}
    assert len(record["test"]) == 4 and len(record["train_runs"]) == 20
    assert set(record["test"][0]) >= {"run", "params", "tokens", "actual", "predicted", "lower",
                                      "upper", "rel_error"}
    errors = [abs(r["rel_error"]) for r in record["test"]]
    assert record["mean_abs_rel_error"] == pytest.approx(np.mean(errors))
    out = capsys.readouterr().out
    assert "mean absolute relative error" in out


def test_laws_lists_columns(capsys):
    assert cli.main(["laws"]) == 0
    out = capsys.readouterr().out
    assert "chinchilla" in out and "run, params, tokens, loss" in out


def test_python_dash_m_scaling_and_no_torch():
    result = subprocess.run([sys.executable, "-m", "scaling", "laws"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "chinchilla" in result.stdout
    probe = ("import sys, scaling, scaling.output.fit_figures, scaling.output.curve_figures, cli; "
             "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.stdout.strip() == "False", result.stderr


def test_set_passes_settings_to_the_law_and_the_fit_file_keeps_them(tmp_path, capsys):
    runs = chinchilla_ladder(E=1.8, A=400, B=2000, alpha=0.34, beta=0.37,
                             params=[1e7, 3e7, 1e8, 3e8], tokens_per_param=[5, 10, 20],
                             noise=0.003, seed=1)
    write_runs(runs, tmp_path / "runs.parquet")
    assert cli.main(["fit", str(tmp_path / "runs.parquet"), "--bootstrap", "20", "--set",
                     "confidence=0.8", "--set", "n_polish=3", "--delta", "0.01", "--out",
                     str(tmp_path / "fit.json")]) == 0
    out = capsys.readouterr().out
    assert "80% interval" in out and "delta=0.01" in out
    record = json.loads((tmp_path / "fit.json").read_text())
    assert record["settings"] == {"delta": 0.01, "n_polish": 3, "confidence": 0.8,
                                  "target": "loss"}
    law = load_fit(tmp_path / "fit.json")
    assert (law.confidence, law.n_polish, law.delta) == (0.8, 3, 0.01)
    assert "80% interval (calibrated)" in (cli.main(["predict", str(tmp_path / "fit.json"),
                                                     "--params", "1e9", "--tokens", "2e10"]) == 0
                                           and capsys.readouterr().out)


def test_laws_lists_targets_spaces_and_settings(capsys):
    assert cli.main(["laws"]) == 0
    out = capsys.readouterr().out
    assert "target loss, log space, final rows; settings: delta=0.001, n_polish=8, " \
           "confidence=0.95, target=loss" in out
    assert "target loss_unigram, linear space, final rows" in out
    assert "task=(required)" in out and "decay=0.999" in out


def test_without_a_bootstrap_no_table_is_headed_with_intervals(tmp_path, capsys):
    """--bootstrap 0 --no-calibration gives no intervals, so no table has an interval column or a
    "95%" heading, in fit, predict (inputs, --flops, --schedule, --compare) and backtest."""
    runs = chinchilla_ladder(E=1.8, A=400, B=2000, alpha=0.34, beta=0.37,
                             params=[1e7, 3e7, 1e8, 3e8], tokens_per_param=[5, 10, 20],
                             noise=0.003, seed=1)
    write_runs(runs, tmp_path / "runs.parquet")
    curves = ROOT / "data" / "cpu_schedules" / "runs.parquet"
    fit, curve_fit = str(tmp_path / "fit.json"), str(tmp_path / "curve.json")
    commands = [
        ["fit", str(tmp_path / "runs.parquet"), "--bootstrap", "0", "--no-calibration",
         "--out", fit],
        ["predict", fit, "--params", "1e9", "--tokens", "2e10"],
        ["predict", fit, "--flops", "1e21"],
        ["backtest", str(tmp_path / "runs.parquet"), "--train", "params < 2e8",
         "--bootstrap", "0", "--no-calibration"],
        ["fit", str(curves), "--law", "annealing", "--where", "step > 100", "--bootstrap", "0",
         "--no-calibration", "--out", curve_fit],
        ["predict", curve_fit, "--schedule", "cosine:peak=3e-3,warmup=60,steps=1200,final=3e-4"],
        ["predict", curve_fit, "--compare", "peak=3e-3,warmup=60,steps=1200,final=3e-4"],
    ]
    for argv in commands:
        assert cli.main(argv) == 0, argv
        out = capsys.readouterr().out.replace("(use --bootstrap K for intervals)", "")
        out = "\n".join(line for line in out.splitlines()      # warnings may say "interval"
                         if not line.startswith("WARNING"))
        assert "interval" not in out and "95%" not in out, (argv, out)
    # the same with a bootstrap: the columns are there
    assert cli.main(["fit", str(tmp_path / "runs.parquet"), "--bootstrap", "20",
                     "--no-calibration", "--out", fit]) == 0
    assert cli.main(["predict", fit, "--params", "1e9", "--tokens", "2e10"]) == 0
    out = capsys.readouterr().out
    assert "95% interval" in out and "95% interval (run)" in out and "95% intervals" in out
    # and with a calibration but no bootstrap: the calibrated interval of the loss alone
    assert cli.main(["fit", str(tmp_path / "runs.parquet"), "--bootstrap", "0", "--out",
                     fit]) == 0
    assert "95% intervals (loss: calibrated)" in capsys.readouterr().out
    assert cli.main(["predict", fit, "--params", "1e9", "--tokens", "2e10"]) == 0
    assert "95% interval (calibrated)" in capsys.readouterr().out
