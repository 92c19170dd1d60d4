"""The issue's check on a CPU ladder with tasks: the two-step task law (Bhagia et al. 2024,
arXiv:2412.04403) fitted on the bundled cpu-tasks ladder below width 96 (4 sizes × 4 cooldown
budgets) predicts the width-96 rung's 4 budgets, for every task the runner logs
(data/cpu_tasks/SOURCE.md, ladders/tasks.py). Errors in points are this project's measurements,
pinned so a change of method shows; with 150 items a task, one accuracy's standard error is
about 4 points, which is the scale of these errors."""

import pytest

from scaling import read_runs
from scaling.analysis.backtest import task_backtests, task_names

TRAIN, TEST = "width < 96 and not stable", "width == 96 and not stable"

# predicted − actual, points, for the 2, 4, 8, 16 tokens-per-parameter branches of width 96
ERRORS = {"identifier": [-4.30, -2.78, -0.75, 2.44], "next_chars": [-0.77, -1.48, -0.64, -0.89],
          "next_line": [-1.85, -0.88, -0.77, 6.67],
          "same_file_chars": [-1.54, -0.86, -1.40, 1.44]}


def test_the_two_step_law_backtests_the_largest_rung_on_every_task():
    runs = read_runs("data/cpu_tasks/runs.parquet")
    tasks = task_names(runs)
    assert tasks == sorted(ERRORS)
    record = task_backtests(runs, tasks, ["two-step"], TRAIN, TEST, bootstrap=0,
                            calibrate=False)
    assert record["mean_abs_error"] == pytest.approx(0.0184, abs=2e-4)
    for summary, task_record in zip(record["summary"], record["records"]):
        rows = sorted(task_record["test"], key=lambda row: row["tokens"])
        assert [row["run"].split("-")[-3] for row in rows] == ["2tpp", "4tpp", "8tpp", "16tpp"]
        errors = [round(100 * row["error"], 2) for row in rows]
        assert errors == pytest.approx(ERRORS[summary["task"]], abs=0.02), summary["task"]
        # the actual accuracy is the mean of the branch's last 5 evaluations (its cooldown)
        assert all(0.25 < row["actual"] < 1 for row in rows)
