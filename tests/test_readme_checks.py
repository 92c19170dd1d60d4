"""The manual's list of checked inputs is true as written: every test it points at exists.

The list (docs/cli.md, "Bad input": "The inputs checked") names, beside each class of bad input, the test that pins
it: `test_x.py::test_name` (a test function), `::test_name` (another one of the same file), or
`test_cli_errors.py[id]` / `[id]` (a row of that file's table of cases). A renamed or deleted test
leaves the manual pointing at nothing; this test says which.
"""

from __future__ import annotations

import ast
import re

from conftest import ROOT

TESTS = ROOT / "tests"


def checked_inputs_list() -> str:
    text = (ROOT / "docs" / "cli.md").read_text()
    start = text.index("The inputs checked,")
    end = text.index("\n\n", text.index("\n- ", start))
    return text[start:end]


def references(text: str) -> list[tuple[str, str]]:
    """(file, test or [case]) for every back-quoted reference, in order."""
    found, current = [], None
    for token in re.findall(r"`([^`]+)`", text):
        match = re.fullmatch(r"(test_\w+\.py)?(::(\w+)|\[([\w-]+)\])?", token)
        if not match or not (match.group(1) or match.group(2)):
            continue
        current = match.group(1) or current
        if match.group(3):
            found.append((current, match.group(3)))
        elif match.group(4):
            found.append((current, f"[{match.group(4)}]"))
        else:
            found.append((current, ""))                   # the whole module
    return found


def functions_of(path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}


def case_ids(path) -> set[str]:
    return set(re.findall(r'^    \("([a-z0-9-]+)",', path.read_text(), re.MULTILINE))


def test_the_list_names_many_tests():
    pointed = references(checked_inputs_list())
    assert len(pointed) >= 60
    assert len({file for file, _ in pointed}) >= 10


def test_every_test_the_list_points_at_exists():
    missing = []
    for file, name in references(checked_inputs_list()):
        path = TESTS / file
        if not path.exists():
            missing.append(file)
        elif name.startswith("["):
            if name[1:-1] not in case_ids(path):
                missing.append(f"{file}{name}")
        elif name and name not in functions_of(path):
            missing.append(f"{file}::{name}")
    assert missing == []


def test_the_reader_finds_a_missing_test():
    text = "`test_runs.py::test_no_such_test`, `::test_where_filters_rows`, `test_cli_errors.py[nan-loss]`"
    assert references(text) == [("test_runs.py", "test_no_such_test"),
                                ("test_runs.py", "test_where_filters_rows"),
                                ("test_cli_errors.py", "[nan-loss]")]
    assert "test_no_such_test" not in functions_of(TESTS / "test_runs.py")
    assert "nan-loss" in case_ids(TESTS / "test_cli_errors.py")
