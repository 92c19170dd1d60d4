"""Dependencies point one way: `ladders/` and the command layer (`scaling.cli`, with the root
`cli.py` shim over it) may import `scaling/`; nothing in `scaling/` imports `ladders` (a user
fitting a downloaded table needs no trainer), the rest of `scaling/` does not import the command
layer, and no two modules import each other (directly or through others). The trainer's
`scaling ladder` command plugs in from its side: ladders/command.py, declared under the
`scaling.commands` entry points in pyproject.toml.

The import graph is read from the source (every `import`, at module level or inside a function),
so a lazy import counts as much as a top-level one. A submodule's implicit import of its parent
package is not an edge (Python makes it for every submodule); `from scaling.laws import Law` is.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

from conftest import ROOT

# `python -m scaling` is the command itself: it runs scaling.cli.main, and nothing imports it.
ENTRY_POINTS = {"scaling.__main__"}
COMMAND_LAYER = "scaling.cli"      # scaling/cli/: the `scaling` command, one module per command


def in_command_layer(name: str) -> bool:
    return name == COMMAND_LAYER or name.startswith(COMMAND_LAYER + ".")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    files = [ROOT / "cli.py", *sorted((ROOT / "scaling").rglob("*.py")),
             *sorted((ROOT / "ladders").rglob("*.py"))]
    return {module_name(path): path for path in files}


def imports_of(name: str, path: Path, known) -> set[str]:
    """The project modules that module `name` imports."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module
            # `from p import m` imports module p.m when there is one, else a name of p
            targets = [f"{prefix}.{alias.name}" if f"{prefix}.{alias.name}" in known
                       else prefix for alias in node.names]
        else:
            continue
        for target in targets:
            # `import a.b.c` imports a, a.b and a.b.c; keep the deepest project module
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def cycles(edges: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in edges.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                out.append(frozenset(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return out


def test_the_graph_sees_lazy_imports():
    edges = graph()
    assert "scaling.data.runs" in edges["scaling.laws.base"]
    assert "ladders.train" in edges["ladders.coord_check"]              # imported inside a function
    assert "scaling.data.schedules" in edges["ladders.train"]


def test_scaling_imports_neither_ladders_nor_the_command_layer():
    """No module of scaling/ imports `ladders`; outside scaling/cli/ (and `python -m scaling`),
    none imports the command layer or the root `cli` shim; nothing in ladders/ imports them."""
    edges = graph()
    wrong = sorted((name, target) for name, targets in edges.items()
                   if name.startswith("scaling") for target in targets
                   if target.startswith("ladders"))
    wrong += sorted((name, target) for name, targets in edges.items()
                    if name not in ENTRY_POINTS and not in_command_layer(name) and name != "cli"
                    for target in targets if target == "cli" or in_command_layer(target))
    assert wrong == []


def test_nothing_in_scaling_loads_ladders_by_name():
    """Nor by a string the graph cannot see (`importlib.import_module("ladders...")`)."""
    pattern = re.compile(r"""(import_module|__import__)\(\s*f?["']ladders""")
    wrong = [str(path.relative_to(ROOT)) for path in sorted((ROOT / "scaling").rglob("*.py"))
             if pattern.search(path.read_text())]
    assert wrong == []


def test_the_trainer_plugs_its_command_in_from_its_side():
    """`scaling ladder` is found through the entry point ladders declares, and is there."""
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]
    assert declared == {"scaling.commands": {"ladder": "ladders.command"}}
    command = project_modules()["ladders.command"]
    names = {node.name for node in ast.parse(command.read_text()).body
             if isinstance(node, ast.FunctionDef)}
    assert {"add_parser", "run"} <= names
    from scaling.cli import build_parser
    actions = [a for a in build_parser()._actions if a.dest == "command"]
    assert "ladder" in actions[0].choices


def test_the_root_cli_is_a_shim_over_the_command_layer():
    assert graph()["cli"] == {"scaling.cli"}
    assert len((ROOT / "cli.py").read_text().strip().splitlines()) == 3


def test_no_import_cycles():
    found = cycles(graph())
    assert found == [], [sorted(cycle) for cycle in found]


def test_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [frozenset("abc")]


# Imports inside functions of scaling/ are allowed only for these modules, each for its reason:
LAZY_IMPORTS = {
    "matplotlib": "figures only: `import scaling` must not load a plotting backend",
    "lmfit": "`Fit.to_lmfit` only: a heavy import the rest never needs",
    "pyarrow": "Parquet files only: CSV tables and fits never need it",
}


def function_level_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import inside a function of the module at `path`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import):
                    found += [(inner.lineno, alias.name) for alias in inner.names]
                elif isinstance(inner, ast.ImportFrom):
                    found.append((inner.lineno, "." * inner.level + (inner.module or "")))
    return found


def test_scaling_imports_at_module_level():
    """A function-level import in scaling/ hides an edge of the graph from a reader (and, where
    it dodged a cycle, the cycle from the test above): only the allowlisted heavy imports wait
    for the function that needs them."""
    wrong = [f"{path.relative_to(ROOT)}:{line} imports {module}"
             for path in sorted((ROOT / "scaling").rglob("*.py"))
             for line, module in function_level_imports(path)
             if module.split(".")[0] not in LAZY_IMPORTS]
    assert wrong == []


def test_the_import_check_sees_an_import_in_a_function(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("import os\n\ndef f():\n    from scaling.engine import fit\n"
                      "    import matplotlib.pyplot\n")
    assert function_level_imports(module) == [(4, "scaling.engine"), (5, "matplotlib.pyplot")]
