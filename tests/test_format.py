"""scaling.output.format: every public format with its exact text (missing values, negatives,
tiny and huge numbers, rounding edges), the one JSON sanitizer, and the rule that no module
borrows another's private name."""

from __future__ import annotations

import ast
import json
import math
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT
from scaling.output.format import (accuracy_points, accuracy_points_interval, decades,
                                   decades_outside, format_number, interval, json_number,
                                   json_ready, significant, table, with_interval)

NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize("value, text", [
    (1.69344, "1.6934"), (-1.69344, "-1.6934"), (0.001, "0.001"), (0.00099999, "0.001"),
    (0.000999, "0.000999"), (1.23456e-7, "1.235e-07"), (99999.4, "99999"), (99999.9, "1e+05"),
    (100000.0, "1e+05"), (409600.0, "4.096e+05"), (-3.2e21, "-3.2e+21"), (0.0, "0"),
    (2.5, "2.5"), (np.float32(0.5), "0.5"), (np.int64(7), "7"),
    (None, "-"), (NAN, "-"), (INF, "-"), (-INF, "-"),
])
def test_format_number(value, text):
    assert format_number(value) == text


@pytest.mark.parametrize("value, digits, text", [
    (97183000000.0, 4, "9.718e+10"), (20.04, 3, "20"), (1234.5, 4, "1234"), (1234.6, 4, "1235"),
    (-0.000123456, 4, "-0.0001235"), (6.0e23, 4, "6e+23"), (None, 4, "-"), (NAN, 3, "-"),
    (-INF, 4, "-"),
])
def test_significant(value, digits, text):
    assert significant(value, digits) == text


def test_interval_needs_both_ends():
    assert interval(1.6, 1.75) == "[1.6, 1.75]"
    assert interval(-2.5e-5, 3e9) == "[-2.5e-05, 3e+09]"
    assert interval(2e10, 3e10, significant) == "[2e+10, 3e+10]"
    assert interval(NAN, 2.0) == "-" and interval(1.0, INF) == "-" and interval(None, None) == "-"
    assert interval(None, 1.0, missing="(no bootstrap)") == "(no bootstrap)"


def test_with_interval():
    assert with_interval(1.7, 1.6, 1.75) == "1.7 [1.6, 1.75]"
    assert with_interval(0.34999, 0.3, 0.41) == "0.34999 [0.3, 0.41]"
    assert with_interval(1.7, NAN, NAN) == "1.7" and with_interval(1.7, None, 2.0) == "1.7"
    assert with_interval(NAN, NAN, NAN) == "-"
    assert with_interval(6.9e10, 5.123e10, 9.87e10, significant) == "6.9e+10 [5.123e+10, 9.87e+10]"


@pytest.mark.parametrize("value, text", [
    (0.3512, "0.35"), (0.355, "0.35"), (0.365, "0.36"), (2.94, "2.9"), (0.97, "0.97"),
    (12.3, "12"), (0.0123, "0.012"), (0.0, "0"), (-0.5, "-0.5"), (None, "-"), (NAN, "-"),
    (INF, "-"),
])
def test_decades(value, text):
    assert decades(value) == text


@pytest.mark.parametrize("value, text", [
    (0.3512, "0.35 dec"), (2.94, "2.9 dec"), (12.3, "12 dec"), (1e-9, "1e-09 dec"),
    (0.0, "-"), (-0.4, "-"), (None, "-"), (NAN, "-"), (INF, "-"),
])
def test_decades_outside(value, text):
    assert decades_outside(value) == text


def test_a_table_cell_and_a_sentence_give_the_same_decades():
    for value in (0.0123, 0.3512, 1.2345, 2.94, 12.3):
        assert decades_outside(value) == f"{decades(value)} dec"


@pytest.mark.parametrize("fraction, text", [
    (0.6123, "61.2"), (0.61249, "61.2"), (0.61251, "61.3"), (1.0, "100.0"), (0.0, "0.0"),
    (-0.0123, "-1.2"), (0.00049, "0.0"), (np.float32(0.25), "25.0"), (None, "-"), (NAN, "-"),
    (INF, "-"),
])
def test_accuracy_points(fraction, text):
    assert accuracy_points(fraction) == text


def test_accuracy_points_interval():
    assert accuracy_points_interval(0.581, 0.64) == "[58.1, 64.0]"
    assert accuracy_points_interval(-0.01, 1.0) == "[-1.0, 100.0]"
    assert accuracy_points_interval(None, 0.64) == "-"
    assert accuracy_points_interval(0.5, NAN) == "-"


def test_table_pads_and_aligns():
    text = table(("law", "loss", "note"), [("chinchilla", "1.69", ""), ("kaplan", "12.5", "x")],
                 right=("loss",))
    assert text.splitlines() == ["law         loss  note",
                                 "chinchilla  1.69",
                                 "kaplan      12.5  x"]


def test_table_of_numbers_and_no_rows():
    assert table(("n",), [(1,), (100,)], right=("n",)) == "  n\n  1\n100"
    assert table(("run", "params"), []) == "run  params"


def test_json_number():
    assert json_number(1.5) == 1.5 and isinstance(json_number(np.float32(0.5)), float)
    assert json_number(np.int64(3)) == 3.0 and isinstance(json_number(np.int64(3)), float)
    assert json_number(NAN) is None and json_number(INF) is None and json_number(-INF) is None
    assert json_number(np.float64(-1e300)) == -1e300


def test_json_ready_makes_strict_json():
    record = {"loss": np.float32(1.5), "n": np.int64(3), "flag": np.bool_(True),
              "name": np.str_("a"), "none": None, "nan": NAN, "inf": -INF,
              "array": np.array([1.0, np.nan, np.inf]), "grid": np.arange(4).reshape(2, 2),
              "scalar_array": np.array(2.5), "tuple": (1, 2.0, np.nan),
              "nested": [{"x": np.float64(0.1)}], "plain": True, "count": 2}
    ready = json_ready(record)
    assert ready == {"loss": 1.5, "n": 3, "flag": True, "name": "a", "none": None, "nan": None,
                     "inf": None, "array": [1.0, None, None], "grid": [[0, 1], [2, 3]],
                     "scalar_array": 2.5, "tuple": [1, 2.0, None], "nested": [{"x": 0.1}],
                     "plain": True, "count": 2}
    assert type(ready["n"]) is int and type(ready["flag"]) is bool and type(ready["loss"]) is float
    assert type(ready["grid"][0][0]) is int
    text = json.dumps(ready, allow_nan=False)      # strict JSON: raises on NaN
    assert json.loads(text) == ready
    assert record["array"][1] != record["array"][1]           # the input is left as it was


def test_json_ready_leaves_a_clean_record_as_it_is():
    record = {"a": [1, 2.5, "x", None, False], "b": {"c": -0.0}}
    assert json_ready(record) == record
    assert math.copysign(1, json_ready(record)["b"]["c"]) == -1


# -- no module borrows another's private name --------------------------------------------------

def _project_files():
    return [*sorted((ROOT / "scaling").rglob("*.py")), *sorted((ROOT / "ladders").rglob("*.py")),
            ROOT / "cli.py"]


def private_imports(path: Path, root: Path = ROOT) -> list[str]:
    """`from <project module> import _name` in a file (relative imports count too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.ImportFrom) or node.module == "__future__":
            continue
        project = node.level > 0 or (node.module or "").split(".")[0] in ("scaling", "ladders",
                                                                             "cli")
        if project:
            found += [f"{path.relative_to(root)}:{node.lineno}: {alias.name}"
                      for alias in node.names
                      if alias.name.startswith("_") and not alias.name.startswith("__")]
    return found


def test_no_module_imports_a_private_name_of_another():
    found = [hit for path in _project_files() for hit in private_imports(path)]
    assert found == []


def test_the_private_import_check_finds_one(tmp_path):
    module = tmp_path / "borrower.py"
    module.write_text("from __future__ import annotations\n"
                      "from scaling.output.prediction_columns import reach_cells\n"
                      "def f():\n"
                      "    from scaling.output.figure_style import _save as save\n"
                      "    from .sibling import _helper\n"
                      "    from numpy import _core\n")
    assert private_imports(module, tmp_path) == ["borrower.py:4: _save", "borrower.py:5: _helper"]


def test_format_imports_no_project_module_but_errors():
    tree = ast.parse((ROOT / "scaling" / "output" / "format.py").read_text())
    modules = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
               for alias in node.names}
    modules |= {node.module.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.module}
    assert modules <= {"__future__", "math", "collections", "numpy", "pandas", "scaling"}
    assert all(node.module == "scaling.errors" for node in ast.walk(tree)
               if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("scaling"))


def test_the_docstring_examples_hold():
    import doctest

    from scaling.output import format as formats

    failed, tried = doctest.testmod(formats)
    assert tried >= 11 and failed == 0
