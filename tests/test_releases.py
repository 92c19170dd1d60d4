"""`make test` checks the fitted numbers against the releases a fresh install gets.

A tolerance on a fitted or optimized value comes from the optimizer's convergence and from its
spread across library releases (each such test says which, beside the assertion). That holds only
while the suite runs on the newest releases: nothing may pin the libraries below them. These
tests read the project's own files; the releases in use head every run (conftest.py).
"""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version

import pytest

from conftest import ROOT

# The libraries whose releases move fitted numbers; the Makefile upgrades exactly these.
FITTING = ("numpy", "scipy", "pandas", "pyarrow", "lmfit", "matplotlib")


def requirements() -> dict[str, str]:
    """{name: version specifier} of pyproject's core dependencies."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    out = {}
    for line in project["dependencies"]:
        name, specifier = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*(.*)", line.strip()).groups()
        out[name.lower()] = specifier
    return out


def release(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


@pytest.mark.parametrize("name", FITTING)
def test_no_fitting_library_is_pinned_below_its_newest_release(name):
    specifier = requirements()[name]
    clauses = [c.strip() for c in specifier.split(",") if c.strip()]
    assert clauses, f"{name} has no lower bound"
    assert all(c.startswith(">=") for c in clauses), f"{name}{specifier}: only lower bounds"


def test_the_makefile_upgrades_exactly_the_fitting_libraries():
    makefile = (ROOT / "Makefile").read_text()
    newest = re.search(r"^NEWEST\s*:=\s*(.+)$", makefile, re.MULTILINE).group(1).split()
    assert tuple(newest) == FITTING
    assert re.search(r"pip install .*--upgrade \$\(NEWEST\)", makefile)
    # and no install line pins one of them (torch alone is pinned: see the Makefile)
    for line in makefile.splitlines():
        if "pip install" in line:
            assert not re.search(rf"\b({'|'.join(FITTING)})\s*[=<>~!]=", line), line


@pytest.mark.parametrize("name", FITTING)
def test_the_installed_release_meets_the_requirement(name):
    lowest = release(requirements()[name])
    assert release(version(name)) >= lowest, (name, version(name))
