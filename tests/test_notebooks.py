"""The notebooks are kept as jupytext pairs: `notebooks/NN_name.py` (percent format, the one to
review and edit) and `NN_name.ipynb` (what nbmake executes in `make test`). Both must hold the
same cells."""

from __future__ import annotations

from pathlib import Path

import pytest

jupytext = pytest.importorskip("jupytext")

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
SCRIPTS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))


def cells(notebook):
    return [(cell.cell_type, cell.source.strip()) for cell in notebook.cells]


def test_there_are_notebooks():
    assert len(SCRIPTS) >= 2


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_script_and_notebook_hold_the_same_cells(script):
    notebook = script.with_suffix(".ipynb")
    assert notebook.exists(), f"{notebook.name} missing: jupytext --to notebook {script.name}"
    assert cells(jupytext.read(script)) == cells(jupytext.read(notebook)), (
        f"{script.name} and {notebook.name} differ: after editing the .py, run "
        f"`jupytext --sync {script.name}`")
