"""The README's Python tour runs as written, on the run table its command-line tour uses (the
bundled Chinchilla runs with loss < 3.44 as `runs.csv`), and gives the numbers that tour prints: the same
defaults and the same numbers from both faces of the library."""

from __future__ import annotations

import contextlib
import io
import re

import pandas as pd
import pytest

from conftest import CHINCHILLA, ROOT

README = (ROOT / "README.md").read_text()


def block(after: str, fence: str) -> str:
    start = README.index(fence, README.index(after)) + len(fence)
    return README[start:README.index("```", start)]


def numbers(text: str) -> list[float]:
    return [float(x) for x in re.findall(r"-?\d+\.\d+(?:e[+-]\d+)?", text)]


@pytest.fixture(scope="module")
def tour(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tour")
    runs = pd.read_parquet(CHINCHILLA)          # as the README makes runs.csv
    assert "read_parquet('data/chinchilla/runs.parquet').query('loss < 3.44')" in README
    runs[runs["loss"] < 3.44].to_csv(folder / "runs.csv", index=False)
    code = block("The same from Python", "```python\n")
    namespace, out = {}, io.StringIO()
    with contextlib.chdir(folder), contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), namespace)   # the README's own code
    return namespace, out.getvalue(), folder


@pytest.mark.slow
def test_the_fit_gives_the_command_lines_parameters(tour):
    namespace, _, _ = tour
    shown = block("$ scaling fit runs.csv", "parameter    value")
    for line in shown.strip().splitlines()[1:]:
        if not line.strip():
            break
        name, value, *_ = line.split()
        # the README prints 5 significant digits
        assert namespace["fit"].params.loc[name, "value"] == pytest.approx(float(value), rel=1e-4)


@pytest.mark.slow
def test_the_prediction_is_the_command_lines(tour):
    namespace, _, _ = tour
    line = block("$ scaling predict fit.json", "× tokens\n").strip()
    params, tokens, loss, lower, upper = numbers(line.replace("7e+10", "7.0e+10"))[:5]
    assert (params, tokens) == (7e10, 1.4e12)
    row = namespace["fit"].predict(params=7e10, tokens=1.4e12).iloc[0]
    assert (row["loss"], row["lower"], row["upper"]) == pytest.approx((loss, lower, upper),
                                                                      rel=1e-4)


@pytest.mark.slow
def test_the_backtest_and_the_plan_are_the_command_lines(tour):
    namespace, printed, folder = tour
    shown = re.search(r"mean absolute relative error (\S+)%", README).group(1)
    assert f"mean absolute relative error {shown}%" in printed
    recommended = re.search(r"predicted loss (\S+), 80% \[(\S+), (\S+)\], 95% \[(\S+), (\S+)\]",
                            README).groups()
    assert f"{float(recommended[0]):.4f}" in namespace["plan"].summary()
    assert (folder / "fit.json").exists()
