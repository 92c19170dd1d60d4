"""The front door and the manual hold together.

The manual's list of checked inputs (docs/cli.md, "Bad input": "The inputs checked") is true as
written: every test it points at exists. The list names, beside each class of bad input, the test
that pins it: `test_x.py::test_name` (a test function), `::test_name` (another one of the same
file), or `test_cli_errors.py[id]` / `[id]` (a row of that file's table of cases). A renamed or
deleted test leaves the manual pointing at nothing; this test says which.

The README stays a front door (300 lines at most), and every relative link of the README and of
docs/ points at a file that exists (and, into a Markdown page, at a heading it has), so the links
work on GitHub as in the built site (`make docs` checks the site's own links with --strict).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

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


# -- the README is a front door; links point at files that exist -------------------------------

README_MOST_LINES = 300
LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"(`+).+?\1", re.DOTALL)


def manual_pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def prose(text: str) -> str:
    """The text less its fenced code blocks and code spans, where brackets are code, not links."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def relative_links(text: str) -> list[str]:
    """Every link and image target that is neither a URL nor an anchor of the page itself."""
    return [target for target in LINK.findall(prose(text))
            if not re.match(r"[a-z][a-z0-9+.-]*:", target) and not target.startswith("#")]


def heading_anchors(text: str) -> set[str]:
    """The anchors GitHub (and MkDocs' toc, for these headings) gives a page's headings."""
    anchors = set()
    for line in FENCE.sub("", text).splitlines():
        match = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            title = re.sub(r"[`*_]", "", match.group(1)).lower()
            anchors.add(re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", title)))
    return anchors


def broken_links(page: Path) -> list[str]:
    text = page.read_text()
    broken = []
    for target in relative_links(text):
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve()
        if not resolved.exists():
            broken.append(target)
        elif anchor and resolved.suffix == ".md" and anchor not in heading_anchors(resolved.read_text()):
            broken.append(target)
    return broken


def test_the_readme_is_a_front_door():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= README_MOST_LINES
    text = "\n".join(lines)
    assert "make demo\nmake test\n" in text              # the two commands of "Set up"


def test_every_relative_link_points_at_a_file_that_exists():
    pages = manual_pages()
    assert len(pages) >= 15
    assert sum(len(relative_links(page.read_text())) for page in pages) >= 60
    broken = {page.relative_to(ROOT).as_posix(): links for page in pages
              if (links := broken_links(page))}
    assert broken == {}


def test_the_link_reader_finds_a_broken_link(tmp_path):
    text = ("See [the laws](laws.md), ![a figure](img/fit.png \"title\"), [a heading](laws.md#fits),\n"
            "[elsewhere](https://example.org/x.md), [here](#top) and `[code](not-a-link.md)`.\n"
            "```\n[also code](nor-this.md)\n```\n")
    assert relative_links(text) == ["laws.md", "img/fit.png", "laws.md#fits"]
    (tmp_path / "laws.md").write_text("# Laws\n\n## How fits are made\n")
    page = tmp_path / "page.md"
    page.write_text(text)
    assert broken_links(page) == ["img/fit.png", "laws.md#fits"]
    assert heading_anchors("## Compute-optimal allocation by approaches 1–3\n## scaling `plan`\n") \
        == {"compute-optimal-allocation-by-approaches-13", "scaling-plan"}
