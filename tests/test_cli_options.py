"""Options that mean one thing in every command (scaling/cli/options.py): --version, --flops
(plan's --budget an alias), --out a file and --out-dir a folder, `--json -` on stdout, --level,
argparse's errors as `scaling: error:` lines, and names given twice."""

import json

import pytest

import cli
import scaling
from scaling.data.table_files import write_runs
from scaling.data.synthetic import chinchilla_ladder

FAST = ["--bootstrap", "0", "--jobs", "1"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    path = tmp_path_factory.mktemp("runs") / "runs.parquet"
    write_runs(chinchilla_ladder(E=1.8, A=400, B=2000, alpha=0.34, beta=0.37,
                                 params=[1e7, 2e7, 5e7, 1e8, 2e8, 5e8],
                                 tokens_per_param=[5, 10, 20, 40], noise=0.003, seed=2), path)
    return path


@pytest.fixture(scope="module")
def fit(runs, tmp_path_factory):
    """A calibrated fit with a bootstrap: every interval kind is there."""
    path = tmp_path_factory.mktemp("fit") / "fit.json"
    assert cli.main(["fit", str(runs), "--bootstrap", "40", "--jobs", "1", "--out",
                     str(path)]) == 0
    return path


def one_line_error(capsys, argv) -> str:
    capsys.readouterr()
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("scaling: error: "), err
    assert "Traceback" not in err and out == ""
    return lines[0]


def test_version(capsys):
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out == f"scaling {scaling.__version__}\n"
    assert scaling.__version__ == "0.1.0"


def test_help_returns_0(capsys):
    assert cli.main(["plan", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--flops C, --budget C" in out and "--out-dir DIR" in out
    assert "takes no --level" in out


# -- --flops, and plan's --budget alias -----------------------------------------------------------

def test_plan_budget_is_an_alias_of_flops(fit, tmp_path, capsys):
    outputs = {}
    for option in ("--flops", "--budget"):
        folder = tmp_path / option.strip("-")
        capsys.readouterr()
        assert cli.main(["plan", option, "1e21", "--fit", str(fit), "--out-dir",
                         str(folder)]) == 0
        printed = capsys.readouterr().out.replace(str(folder), "DIR")
        outputs[option] = (printed, (folder / "report.md").read_text())
    assert outputs["--flops"] == outputs["--budget"]
    printed, markdown = outputs["--flops"]
    assert "recommended (chinchilla" in printed and "wrote DIR/report.md" in printed
    assert "1e+21 FLOPs" in markdown


def test_plan_names_the_spelling_given(fit, tmp_path, capsys):
    for option in ("--flops", "--budget"):
        err = one_line_error(capsys, ["plan", option, "-1", "--fit", str(fit), "--out-dir",
                                      str(tmp_path / "o")])
        assert f"{option} must be positive and finite, got -1" in err
    err = one_line_error(capsys, ["plan", "--flops", "1e21", "--budget", "2e21", "--fit",
                                  str(fit), "--out-dir", str(tmp_path / "o")])
    assert "given twice, --flops 1e+21 and --budget 2e+21" in err
    assert not (tmp_path / "o").exists()


# -- --out is a file, --out-dir a folder ----------------------------------------------------------

def test_plan_out_file_html_and_json(fit, tmp_path, capsys):
    assert cli.main(["plan", "--flops", "1e21", "--fit", str(fit), "--out-dir",
                     str(tmp_path / "dir")]) == 0
    assert cli.main(["plan", "--flops", "1e21", "--fit", str(fit), "--out",
                     str(tmp_path / "plan.html")]) == 0
    assert "wrote " + str(tmp_path / "plan.html") in capsys.readouterr().out
    page = (tmp_path / "plan.html").read_text()
    assert page == (tmp_path / "dir" / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") or page.lstrip().startswith("<")
    assert cli.main(["plan", "--flops", "1e21", "--fit", str(fit), "--out",
                     str(tmp_path / "plan.json")]) == 0
    record = json.loads((tmp_path / "plan.json").read_text())
    assert record["budget"] == 1e21 and record["law"] == "chinchilla"
    assert record["params"] * record["tokens"] * 6 == pytest.approx(1e21, rel=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir", "plan.html", "plan.json"]


@pytest.mark.parametrize("out", ["plan", "report.md", "plan.csv"])
def test_plan_out_without_a_file_format_points_to_out_dir(fit, tmp_path, capsys, out):
    err = one_line_error(capsys, ["plan", "--flops", "1e21", "--fit", str(fit), "--out",
                                  str(tmp_path / out)])
    assert f"--out {tmp_path / out}: give a file whose suffix says the format" in err
    assert ".html or .json" in err and "--out-dir DIR" in err
    assert list(tmp_path.iterdir()) == []


def test_plan_needs_one_output(fit, tmp_path, capsys):
    err = one_line_error(capsys, ["plan", "--flops", "1e21", "--fit", str(fit)])
    assert "one of the arguments --out-dir --out is required" in err
    err = one_line_error(capsys, ["plan", "--flops", "1e21", "--fit", str(fit), "--out-dir",
                                  str(tmp_path / "d"), "--out", str(tmp_path / "p.html")])
    assert "not allowed with argument" in err


def test_ladder_folders_are_out_dir(tmp_path, capsys):
    """coord-check and lr-transfer write folders: --out-dir (the old `--out DIR` still reads as
    its argparse abbreviation)."""
    (tmp_path / "file").write_text("x")
    sweep = tmp_path / "sweep.csv"
    sweep.write_text("run,params,tokens,loss\n")
    for option in ("--out-dir", "--out"):
        err = one_line_error(capsys, ["ladder", "lr-transfer", str(sweep), option,
                                      str(tmp_path / "file")])
        assert err == f"scaling: error: --out-dir {tmp_path / 'file'}: is a file; give a folder"


# -- --json - -------------------------------------------------------------------------------------

def test_json_dash_writes_the_record_to_stdout(fit, runs, tmp_path, capsys):
    """`--json -`: stdout is the JSON alone (the same record as --json FILE), the text report
    is on stderr; for predict, backtest and optimal."""
    cases = {"predict": ["predict", str(fit), "--params", "1e9", "3e9", "--tokens", "2e10",
                         "6e10"],
             "backtest": ["backtest", str(runs), "--train", "params < 3e8", *FAST],
             "optimal": ["optimal", str(runs), "--approach", "3", *FAST]}
    for name, argv in cases.items():
        capsys.readouterr()
        assert cli.main([*argv, "--json", str(tmp_path / f"{name}.json")]) == 0
        text_report = capsys.readouterr().out
        assert cli.main([*argv, "--json", "-"]) == 0
        out, err = capsys.readouterr()
        assert json.loads(out) == json.loads((tmp_path / f"{name}.json").read_text()), name
        saved = next(line for line in text_report.splitlines() if line.startswith("saved"))
        assert err.strip() == text_report.replace(saved, "").strip(), name
    record = json.loads(out)
    assert record["allocation"][0]["flops"] == 1e21 and "3" in record["approaches"]


# -- --level --------------------------------------------------------------------------------------

def test_level_narrows_the_predicted_interval(fit, capsys):
    records = {}
    for level in (None, "0.95", "0.8"):
        capsys.readouterr()
        argv = ["predict", str(fit), "--params", "1e9", "--tokens", "2e10", "--json", "-"]
        assert cli.main(argv + (["--level", level] if level else [])) == 0
        out, err = capsys.readouterr()
        records[level] = json.loads(out)
        heading = f"{100 * float(level or 0.95):g}% interval (calibrated)"
        assert heading in err
    assert records[None] == records["0.95"]
    wide, narrow = records["0.95"]["predictions"][0], records["0.8"]["predictions"][0]
    assert records["0.8"]["interval"]["level"] == 0.8
    assert narrow["predicted"] == wide["predicted"]
    assert wide["lower"] < narrow["lower"] < narrow["predicted"] < narrow["upper"] < wide["upper"]


def test_level_of_fit_is_its_confidence(runs, tmp_path, capsys):
    assert cli.main(["fit", str(runs), "--bootstrap", "20", "--jobs", "1", "--no-calibration",
                     "--level", "0.8", "--out", str(tmp_path / "fit.json")]) == 0
    assert "80% interval" in capsys.readouterr().out
    assert json.loads((tmp_path / "fit.json").read_text())["settings"]["confidence"] == 0.8
    err = one_line_error(capsys, ["fit", str(runs), *FAST, "--level", "0.8", "--set",
                                  "confidence=0.9"])
    assert "--level 0.8 and --set confidence=0.9: give it once" in err


def test_level_of_optimal(runs, capsys):
    bounds = {}
    for level in ("0.95", "0.5"):
        capsys.readouterr()
        assert cli.main(["optimal", str(runs), "--approach", "3", "--bootstrap", "20",
                         "--jobs", "1", "--level", level, "--json", "-"]) == 0
        out, err = capsys.readouterr()
        assert f"{100 * float(level):g}% percentile" in err
        params = json.loads(out)["approaches"]["3"]["params"]
        bounds[level] = params["exponent_interval"]
    (low95, high95), (low50, high50) = bounds["0.95"], bounds["0.5"]
    assert low95 < low50 < high50 < high95


@pytest.mark.parametrize("level", ["1.5", "0", "1", "-0.2", "ninety"])
@pytest.mark.parametrize("command", ["fit", "backtest", "optimal", "predict"])
def test_a_level_outside_0_1_is_one_line(fit, runs, capsys, command, level):
    argv = {"fit": ["fit", str(runs), *FAST],
            "backtest": ["backtest", str(runs), "--train", "params < 3e8", *FAST],
            "optimal": ["optimal", str(runs), *FAST],
            "predict": ["predict", str(fit), "--params", "1e9", "--tokens", "2e10"]}[command]
    err = one_line_error(capsys, [*argv, f"--level={level}"])
    assert err.startswith("scaling: error: argument --level: ")
    assert ("must be in (0, 1)" in err) if level != "ninety" else "invalid level: 'ninety'" in err
    assert err.endswith(f"(see scaling {command} --help)")


# -- argparse's own errors, and names given twice ----------------------------------------------

def test_argparse_errors_are_scaling_error_lines(runs, capsys):
    err = one_line_error(capsys, ["fit", str(runs), "--seed", "-1"])
    assert err == ("scaling: error: argument --seed: must be 0 or more, got -1 "
                   "(see scaling fit --help)")
    err = one_line_error(capsys, ["fitt", str(runs)])
    assert err.startswith("scaling: error: argument COMMAND: invalid choice: 'fitt'")
    assert one_line_error(capsys, []).startswith("scaling: error: the following arguments are "
                                                 "required: COMMAND")


@pytest.mark.parametrize("options, message", [
    (["--set", "delta=0.1", "--set", "delta=0.2"],
     "--set delta given twice, 'delta=0.1' and 'delta=0.2': give it once"),
    (["--map", "loss=a", "--map", "loss=b"],
     "--map loss given twice, 'loss=a' and 'loss=b': give it once"),
    (["--delta", "0.1", "--set", "delta=0.2"], "--delta 0.1 and --set delta=0.2: give it once"),
    (["--seed", "1", "--seed", "2"], "given twice, --seed 1 and --seed 2: give it once"),
])
def test_repeated_names_are_refused(runs, capsys, options, message):
    assert message in one_line_error(capsys, ["fit", str(runs), *FAST, *options])


def test_repeated_inputs_are_refused_and_identical_repeats_pass(fit, capsys):
    err = one_line_error(capsys, ["predict", str(fit), "--params", "1e9", "--tokens", "2e10",
                                  "--input", "params=2e9"])
    assert "--params 1e+09 and --input 'params=2e9': give params once" in err
    capsys.readouterr()
    assert cli.main(["predict", str(fit), "--params", "1e9", "--tokens", "2e10", "--input",
                     "params=1e9", "--input", "tokens=2e10", "--input", "tokens=2e10"]) == 0
    repeated = capsys.readouterr().out
    assert cli.main(["predict", str(fit), "--params", "1e9", "--tokens", "2e10"]) == 0
    assert capsys.readouterr().out == repeated


def test_a_plugin_command_that_cannot_load_says_why_in_one_line(monkeypatch, capsys):
    """`scaling ladder` comes from the trainer's entry point (ladders/command.py); where the
    trainer cannot be imported, the command still exists and says why, exit 2."""
    import scaling.cli

    class Broken:
        name = "ladder"

        def load(self):
            raise ImportError("No module named 'torch'")

    monkeypatch.setattr(scaling.cli, "entry_points", lambda group: [Broken()])
    assert cli.main(["ladder", "specs"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("scaling: error: the ladder command could not be loaded (No module named "
                   "'torch'); the ladder runner needs its extra: pip install "
                   "'scaling-laws[ladder]'")
    assert cli.main(["laws"]) == 0            # every other command runs
