"""Run every notebook top to bottom and store its outputs in the .ipynb, so a reader on GitHub or
in the docs sees the tables and figures without running anything (`make notebooks`).

The `.py` of each jupytext pair (`NN_name.py`, percent format) is the source: its cells are read,
then the notebook runs in a fresh kernel from the notebooks folder, as nbmake runs
it in `make test`. Outputs are written atomically; a notebook that fails is left as it was and the
script exits 1 naming it.

    python notebooks/store_outputs.py              # all of them
    python notebooks/store_outputs.py 01_chinchilla.py
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent


def store(script: Path) -> None:
    path = script.with_suffix(".ipynb")
    notebook = jupytext.read(script)            # the cells of the .py (the .py is not rewritten)
    notebook.metadata = {"jupytext": {"formats": "ipynb,py:percent"},
                         "kernelspec": {"display_name": "Python 3", "language": "python",
                                        "name": "python3"}}
    NotebookClient(notebook, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": str(HERE)}}).execute()
    for cell in notebook.cells:                 # no run times: a rerun changes only what changed
        cell.metadata.pop("execution", None)
    handle, temporary = tempfile.mkstemp(dir=HERE, suffix=".ipynb")
    with os.fdopen(handle, "w") as out:
        nbformat.write(notebook, out)
    os.chmod(temporary, 0o644)
    os.replace(temporary, path)


def main(names) -> int:
    scripts = [HERE / name for name in names] or sorted(HERE.glob("[0-9][0-9]_*.py"))
    failed = []
    for script in scripts:
        print(f"running {script.name}", flush=True)
        try:
            store(script)
        except Exception as error:              # noqa: BLE001  (name it, go on with the others)
            print(f"{script.name}: {type(error).__name__}: {str(error).splitlines()[-1:]}")
            failed.append(script.name)
    if failed:
        print("failed: " + ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
