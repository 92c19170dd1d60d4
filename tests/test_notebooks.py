"""The notebooks are kept as jupytext pairs: `notebooks/NN_name.py` (percent format, the one to
review and edit) and `NN_name.ipynb` (what nbmake executes in `make test`). Both must hold the
same cells; the notebooks use only the public API (`import scaling`), and each .ipynb holds the
outputs of a run, figures included (`python notebooks/store_outputs.py`)."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

import scaling

jupytext = pytest.importorskip("jupytext")
nbformat = pytest.importorskip("nbformat")

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


# What a notebook may import: `scaling` (its public names only), the libraries a reader has
# with it, and the standard library.
LIBRARIES = {"numpy", "pandas", "matplotlib"}


def imported_modules(tree) -> list[tuple[str, list[str]]]:
    """(module, names taken from it) of every import of a parsed script."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append(("." * node.level + (node.module or ""),
                          [alias.name for alias in node.names]))
    return found


def private_uses(script: Path) -> list[str]:
    """What a notebook's script reaches of scaling beyond its public API (`scaling.__all__`): an
    import of a submodule (`from scaling.analysis import approaches`), a name `from scaling
    import` that is not public, an attribute `scaling.X` that is not, and any import outside
    scaling, numpy, pandas, matplotlib and the standard library."""
    tree = ast.parse(script.read_text())
    wrong = []
    for module, names in imported_modules(tree):
        top = module.split(".")[0]
        if top == "scaling":
            wrong += ([f"imports {module}"] if module != "scaling" else
                      [f"imports scaling.{name}" for name in names
                       if name not in scaling.__all__])
        elif not (top in LIBRARIES or top in sys.stdlib_module_names):
            wrong.append(f"imports {module}")
    wrong += [f"uses scaling.{node.attr}" for node in ast.walk(tree)
              if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
              and node.value.id == "scaling" and node.attr not in scaling.__all__]
    return wrong


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_notebooks_use_only_the_public_api(script):
    assert private_uses(script) == []


def test_the_public_api_check_sees_internals(tmp_path):
    script = tmp_path / "n.py"
    script.write_text("import scaling\nimport numpy as np\nfrom pathlib import Path\n"
                      "from scaling.analysis import approaches\nfrom scaling import fit, "
                      "approaches\nimport scipy\nscaling.fit\nscaling.analysis.approaches\n")
    assert private_uses(script) == ["imports scaling.analysis", "imports scaling.approaches",
                                    "imports scipy", "uses scaling.analysis"]


def draws_a_figure(notebook) -> bool:
    """Whether a notebook's code draws: matplotlib's pyplot, or a scaling figure (`.plot()`,
    `plot_schedules`)."""
    code = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    return bool(re.search(r"\bplt\.|\.plot\(|plot_schedules\(", code))


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_notebooks_hold_the_outputs_of_a_run(script):
    """Every code cell ran, in order, in one kernel (`python notebooks/store_outputs.py`), so a
    reader sees the tables and figures without running anything; a notebook that draws holds
    its figures as images."""
    notebook = nbformat.read(script.with_suffix(".ipynb"), as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert [cell.execution_count for cell in code] == list(range(1, len(code) + 1)), (
        f"{script.with_suffix('.ipynb').name} holds no complete run: "
        f"python notebooks/store_outputs.py {script.name}")
    outputs = [output for cell in code for output in cell.outputs]
    assert outputs and not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert bool(images) == draws_a_figure(notebook)


def test_the_figure_check_reads_the_code():
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("result.plot()")])
    assert draws_a_figure(notebook)
    notebook.cells[0].source = "print(result.summary())"
    assert not draws_a_figure(notebook)
