"""Ambiguity that used to be resolved silently (issue 24, item 3): an option given twice, a name
given twice in NAME=VALUE options and schedule strings, an LR file whose run names match none of
the table's, `--task all` with a law that has no tasks, a target that is an input; and
`optimal --flops` beyond the sensible range (item 2). Each is one line on stderr and exit 2,
naming both values where there are two."""

import numpy as np
import pandas as pd
import pytest

import cli
from scaling.analysis import plan_inputs
from scaling.cli import build_parser
from scaling.errors import ScalingError
from scaling.laws import get_law
from scaling.analysis.schedule_comparison import compare_schedules
from scaling.data.schedules import ScheduleError, parse
from scaling.data.synthetic import chinchilla_ladder, multipower_curves

FAST = ["--bootstrap", "0", "--jobs", "1", "--no-calibration"]


def one_line_error(capsys, argv) -> str:
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err and err.startswith("scaling: error: ")
    return err


@pytest.fixture(scope="module")
def runs_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("ambiguity") / "runs.csv"
    chinchilla_ladder(E=1.8, A=400, B=2000, alpha=0.34, beta=0.37, params=[1e7, 3e7, 1e8, 3e8],
                      tokens_per_param=[5, 10, 20, 40], noise=0.0).to_csv(path, index=False)
    return str(path)


# -- an option given twice -----------------------------------------------------------------------

@pytest.mark.parametrize("argv, both", [
    (["predict", "fit.json", "--params", "1e8", "--tokens", "1e9", "--params", "1e9"],
     "--params 1e+08 and --params 1e+09"),
    (["predict", "fit.json", "--params", "1e8", "2e8", "--tokens", "1e9", "--params", "1e8"],
     "--params 1e+08 2e+08 and --params 1e+08"),
    (["predict", "fit.json", "--flops", "1e21", "--flops=1e22"], "--flops 1e+21 and --flops 1e+22"),
    (["predict", "fit.json", "--optimal-vocab", "--width", "512", "--width", "1024"],
     "--width 512 and --width 1024"),
    (["optimal", "RUNS", "--budgets", "1e18", "1e19", "--budgets", "1e20"],
     "--budgets 1e+18 1e+19 and --budgets 1e+20"),
    (["optimal", "RUNS", "--flops", "1e21", "--flops", "1e23"], "--flops 1e+21 and --flops 1e+23"),
    (["plan", "--budget", "1e20", "--budget", "3e20", "--out-dir", "x"],
     "--budget 1e+20 and --budget 3e+20"),
    (["fit", "RUNS", "--where", "params < 1e9", "--where", "loss < 3"],
     "--where 'params < 1e9' and --where 'loss < 3'"),
    (["backtest", "RUNS", "--train", "params < 1e8", "--train", "params < 1e9"],
     "--train 'params < 1e8' and --train 'params < 1e9'"),
    (["fit", "RUNS", "--law", "chinchilla", "--law", "kaplan"],
     "--law 'chinchilla' and --law 'kaplan'"),
])
def test_an_option_given_twice_with_different_values(capsys, argv, both):
    err = one_line_error(capsys, argv)
    assert f"given twice, {both}: give it once" in err


def test_an_option_repeated_with_the_same_value_is_one_value():
    args = build_parser().parse_args(["optimal", "RUNS", "--flops", "1e21", "--flops", "1e21",
                                     "--where", "loss < 3", "--where", "loss < 3"])
    assert args.flops == [1e21] and args.where == "loss < 3"
    # and a different one is refused by the same parser
    with pytest.raises(ScalingError, match="given twice, --flops 1e"):
        build_parser().parse_args(["optimal", "RUNS", "--flops", "1e21", "--flops", "2e21"])


@pytest.mark.parametrize("argv, message", [
    (["predict", "fit.json", "--input", "params=1e8", "--input", "params=2e8"],
     "--input params given twice, 'params=1e8' and 'params=2e8': give it once"),
    (["predict", "fit.json", "--params", "1e8", "--tokens", "1e9", "--input", "params=1e9"],
     "--params 1e+08 and --input 'params=1e9': give params once"),
    (["predict", "fit.json", "--params", "1e8", "2e8", "--input", "params=1e8"],
     "--params 1e+08 2e+08 and --input 'params=1e8': give params once"),
    (["fit", "RUNS", "--set", "delta=0.01", "--set", "delta=0.1"],
     "--set delta given twice, 'delta=0.01' and 'delta=0.1': give it once"),
    (["fit", "RUNS", "--set", "n-polish=2", "--set", "n_polish=3"],
     "--set n_polish given twice, 'n-polish=2' and 'n_polish=3': give it once"),
    (["fit", "RUNS", "--map", "params=Size", "--map", "params=Model size"],
     "--map params given twice, 'params=Size' and 'params=Model size': give it once"),
    (["optimal", "RUNS", "--map", "loss=a", "--map", "loss=b"],
     "--map loss given twice, 'loss=a' and 'loss=b'"),
])
def test_a_name_given_twice_with_different_values(capsys, argv, message):
    assert message in one_line_error(capsys, argv)


def test_an_option_beside_its_setting(capsys, runs_csv):
    err = one_line_error(capsys, ["fit", runs_csv, "--delta", "0.01", "--set", "delta=0.1",
                                  *FAST])
    assert err == "scaling: error: --delta 0.01 and --set delta=0.1: give it once"
    err = one_line_error(capsys, ["fit", runs_csv, "--law", "task", "--task", "hellaswag",
                                  "--set", "task=arc_easy", *FAST])
    assert err == "scaling: error: --task 'hellaswag' and --set task=arc_easy: give it once"
    # the same value both ways is one value
    assert cli.main(["fit", runs_csv, "--delta", "0.01", "--set", "delta=1e-2", *FAST]) == 0
    assert "delta=0.01" in capsys.readouterr().out


# -- schedule strings --------------------------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ("cosine:peak=1e-3,steps=100,steps=200", "steps given twice, steps=100 and steps=200"),
    ("cosine:peak=1e-3,peak=3e-3,steps=100", "peak given twice, peak=1e-3 and peak=3e-3"),
    ("cosine:peak=1e-3,steps=100.5", "steps=100.5 is not a whole number of steps"),
    ("cosine:peak=1e-3,steps=100,warmup=2.5", "warmup=2.5 is not a whole number of steps"),
    ("wsd:peak=1e-3,steps=100,decay_start=80.2", "decay_start=80.2 is not a whole number"),
    ("multistep:peak=1e-3,steps=100,milestones=50/70.5", "milestones=70.5 is not a whole number"),
])
def test_a_schedule_string_is_unambiguous(text, message):
    with pytest.raises(ScheduleError, match=message):
        parse(text)
    # written once (or whole), the same schedule parses; 1e3 is a whole number of steps
    assert parse("cosine:peak=1e-3,steps=1e3,steps=1000").steps == 1000


def test_a_schedule_column_with_a_step_count_that_is_not_whole(tmp_path, capsys):
    curves = multipower_curves({"L0": 3.0, "A": 0.5, "alpha": 0.5, "B": 300.0, "C": 2.0,
                                "beta": 0.6, "gamma": 0.6},
                               {"a": ("cosine:peak=1e-3,warmup=10,steps=200,final=1e-4", 20)})
    curves["schedule"] = "cosine:peak=1e-3,warmup=10,steps=200.5,final=1e-4"
    curves.to_csv(tmp_path / "runs.csv", index=False)
    err = one_line_error(capsys, ["fit", str(tmp_path / "runs.csv"), "--law", "multipower",
                                  *FAST])
    assert "column 'schedule', row 1" in err and "steps=200.5 is not a whole number" in err


def test_compare_and_plan_schedules_refuse_a_key_twice():
    law = get_law("multipower")
    with pytest.raises(ScalingError, match=r"--compare 'peak=1e-3,steps=100,steps=200': steps "
                                           "given twice, steps=100 and steps=200"):
        compare_schedules(law, "peak=1e-3,steps=100,steps=200")
    fits = [plan_inputs.PlanFit("chinchilla.json", get_law("chinchilla")),
            plan_inputs.PlanFit("mp.json", law)]
    with pytest.raises(ScalingError, match=r"--schedule 'peak=1e-3,final=1e-4,peak=3e-4': peak "
                                           "given twice, peak=1e-3 and peak=3e-4"):
        plan_inputs.check_plan_inputs(fits, schedule="peak=1e-3,final=1e-4,peak=3e-4",
                                      tokens_per_step=1000)


# -- an LR file that names other runs ------------------------------------------------------------

def _lr_table(tmp_path):
    schedules = {"cos": "cosine:peak=1e-3,warmup=10,steps=400,final=1e-4",
                 "wsd": "wsd:peak=1e-3,warmup=10,steps=400,final=1e-4,decay_fraction=0.2",
                 "const": "constant:peak=1e-3,warmup=10,steps=400"}
    curves = multipower_curves({"L0": 3.0, "A": 0.5, "alpha": 0.5, "B": 300.0, "C": 2.0,
                                "beta": 0.6, "gamma": 0.6},
                               {run: (text, 20) for run, text in schedules.items()})
    curves.to_csv(tmp_path / "runs.csv", index=False)
    return str(tmp_path / "runs.csv"), schedules


def _lr_file(path, schedules, names):
    from scaling.data.schedules import lr_array

    pd.concat([pd.DataFrame({"run": name, "step": np.arange(1, 401),
                             "lr": lr_array(parse(schedules[run]))})
               for run, name in names.items()]).to_csv(path, index=False)
    return str(path)


def test_an_lr_file_matching_no_run_is_an_error(tmp_path, capsys):
    runs, schedules = _lr_table(tmp_path)
    lr = _lr_file(tmp_path / "lr.csv", schedules, {"cos": "run-1", "wsd": "run-2"})
    err = one_line_error(capsys, ["fit", runs, "--law", "annealing", "--lr-file", lr, *FAST])
    assert err == (f"scaling: error: {lr}: none of its runs ('run-1', 'run-2') is a run of "
                   f"{runs} ('cos', 'wsd', 'const'); an LR file's run column must hold the "
                   "table's run names")


def test_runs_an_lr_file_lacks_are_named_in_the_lr_line(tmp_path, capsys):
    runs, schedules = _lr_table(tmp_path)
    lr = _lr_file(tmp_path / "lr.csv", schedules, {"cos": "cos", "wsd": "wsd"})
    assert cli.main(["fit", runs, "--law", "annealing", "--lr-file", lr, *FAST]) == 0
    (line,) = [x for x in capsys.readouterr().out.splitlines() if x.startswith("LRs")]
    assert line.endswith(f"from the schedule column, not in --lr-file {lr}: const")


# -- task laws, targets ----------------------------------------------------------------------------

def test_task_all_with_a_law_without_tasks_is_the_error_of_one_task(capsys):
    table = "data/cpu_tasks/runs.parquet"
    one = one_line_error(capsys, ["fit", table, "--task", "hellaswag", "--law", "chinchilla",
                                  *FAST])
    every = one_line_error(capsys, ["fit", table, "--task", "all", "--law", "chinchilla",
                                    *FAST])
    assert every == one == ("scaling: error: the chinchilla law has no setting 'task'; its "
                            "settings: delta, n_polish, confidence, target")
    assert one_line_error(capsys, ["backtest", table, "--task", "all", "--law", "kaplan",
                                   "--train", "params < 1e5", *FAST[:2]]) == \
        one.replace("chinchilla", "kaplan")


@pytest.mark.parametrize("target, why", [
    ("tokens", "'tokens' is one of the chinchilla law's inputs (params, tokens)"),
    ("params", "'params' is one of the chinchilla law's inputs (params, tokens)"),
    ("flops", "'flops' describes the run rather than measuring it"),
    ("step", "'step' describes the run rather than measuring it"),
    ("run", "'run' is not a number"),
    ("schedule", "'schedule' is not a number"),
])
def test_a_target_must_be_a_measured_column(capsys, runs_csv, target, why):
    err = one_line_error(capsys, ["fit", runs_csv, "--set", f"target={target}", *FAST])
    assert err.startswith(f"scaling: error: --set target={target}: {why}")
    assert err.endswith("the target is what the law predicts: a measured column such as loss, "
                        "loss:<task> or acc:<task>")


def test_a_target_of_text_outside_the_contract_names_its_row(tmp_path, capsys, runs_csv):
    frame = pd.read_csv(runs_csv).assign(note="x")
    frame.to_csv(tmp_path / "notes.csv", index=False)
    err = one_line_error(capsys, ["fit", str(tmp_path / "notes.csv"), "--set", "target=note",
                                  *FAST])
    assert "column 'note', row 1: not a number ('x')" in err
    # a task law's target too, in every command that fits it
    err = one_line_error(capsys, ["backtest", runs_csv, "--law", "task-loss", "--task", "x",
                                  "--set", "target=tokens", "--train", "params < 1e8", *FAST])
    assert "'tokens' is one of the task-loss law's inputs" in err


# -- optimal's budgets -----------------------------------------------------------------------------

@pytest.mark.parametrize("option, value", [("--flops", "1e300"), ("--flops", "1e-5"),
                                           ("--budgets", "1e40")])
def test_optimal_holds_budgets_to_the_sensible_range(capsys, runs_csv, option, value):
    err = one_line_error(capsys, ["optimal", runs_csv, option, value])
    assert err == (f"scaling: error: {option} {float(value):g} is outside the sensible range "
                   "[1, 1e+32] for training FLOPs (the largest runs have used about 5e25)")


def test_the_python_api_refuses_a_name_given_twice_too():
    """`parse_settings` and `parse_mapping` (what `--set` and `--map` become in the library) refuse
    one name with two values themselves, so a notebook gets the command's error; the same value
    twice is one."""
    from scaling.laws import parse_settings
    from scaling.data.runs import parse_mapping

    with pytest.raises(ScalingError, match=r"--set delta given twice, delta=0.001 and delta=0.01"):
        parse_settings(["delta=0.001", "delta=0.01"])
    with pytest.raises(ScalingError, match=r"--map loss given twice, 'a' and 'b'"):
        parse_mapping(["loss=a", "loss=b"])
    assert parse_settings(["delta=0.01", "delta=0.01"]) == {"delta": "0.01"}
    assert parse_mapping(["loss=a", "loss='a'"]) == {"loss": "a"}
