"""Dependencies point one way: `ladders/` and the command layer (`scaling.cli`, with the root
`cli.py` shim over it) may import `scaling/`; the rest of `scaling/` imports neither, and no two
modules import each other (directly or through others). `scaling.cli` is the one part of
`scaling/` that may import `ladders` (only its `ladder` command, lazily: torch is an optional
extra).

The import graph is read from the source (every `import`, at module level or inside a function),
so a lazy import counts as much as a top-level one. A submodule's implicit import of its parent
package is not an edge (Python makes it for every submodule); `from scaling.laws import Law` is.
"""

from __future__ import annotations

import ast
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
    assert "ladders.launch" in edges["scaling.cli.ladder"]    # imported inside a function
    assert "scaling.data.schedules" in edges["ladders.train"]


def test_scaling_imports_neither_ladders_nor_the_command_layer():
    """Outside scaling/cli/ (and `python -m scaling`), no module of scaling/ imports `ladders`,
    the command layer or the root `cli` shim."""
    edges = graph()
    wrong = sorted((name, target) for name, targets in edges.items()
                   if name.startswith("scaling") and name not in ENTRY_POINTS
                   and not in_command_layer(name)
                   for target in targets if target == "cli" or target.startswith("ladders")
                   or in_command_layer(target))
    assert wrong == []


def test_only_the_ladder_command_imports_ladders_and_lazily():
    """Of the command layer, only scaling/cli/ladder.py imports `ladders`, and only inside its
    functions: torch is an optional extra (`scaling[ladder]`), and every other command, and
    building the parser, must run without it. Nothing in ladders/ imports the command layer."""
    modules = project_modules()
    edges = graph()
    importers = sorted(name for name in modules if in_command_layer(name)
                       and any(t.startswith("ladders") for t in edges[name]))
    assert importers == ["scaling.cli.ladder"]
    tree = ast.parse(modules["scaling.cli.ladder"].read_text())
    top_level = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    assert not [node for node in top_level
                if any(name.startswith("ladders") for name in
                       ([node.module or ""] if isinstance(node, ast.ImportFrom)
                        else [alias.name for alias in node.names]))]
    assert not sorted((name, target) for name, targets in edges.items()
                      if name.startswith("ladders") for target in targets
                      if target == "cli" or in_command_layer(target))


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
    "ladders": "torch, an optional extra: only `scaling ladder` (scaling/cli/ladder.py) loads it",
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
