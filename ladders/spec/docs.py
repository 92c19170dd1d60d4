"""The spec schema as documentation: every key of `ladders.spec.schema`, its type, default and
the comment on its line, as the Markdown table of docs/ladders.md (`python -m ladders.spec` prints it; a
test fails when the copy in docs/ladders.md differs)."""

from __future__ import annotations

import ast
import inspect
import io
import tokenize
import types
import typing
from dataclasses import fields
from typing import Literal

from ladders.spec.schema import SECTIONS, Size

def field_docs(cls) -> dict[str, str]:
    """Each field's comment in the source of `cls`: the comment on the field's (last) line and
    the comment-only lines right below it, joined."""
    source = inspect.getsource(cls)
    comments = {token.start[0]: token.string.lstrip("#").strip()
                for token in tokenize.generate_tokens(io.StringIO(source).readline)
                if token.type == tokenize.COMMENT}
    lines = source.splitlines()
    docs = {}
    for node in ast.parse(source).body[0].body:
        if isinstance(node, ast.AnnAssign):
            row, parts = node.end_lineno, []
            if row in comments:
                parts.append(comments[row])
                while row < len(lines) and lines[row].strip().startswith("#"):
                    row += 1
                    parts.append(comments[row])
            docs[node.target.id] = " ".join(parts)
    return docs


def schema_rows() -> list[tuple[str, str, str, str]]:
    """(key, type, default, meaning) of every key of every section, in declaration order;
    the keys of a model.sizes entry as model.sizes[].<key>."""
    rows = []

    def add(prefix, cls):
        hints, docs = typing.get_type_hints(cls), field_docs(cls)
        for f in fields(cls):
            if not docs.get(f.name):
                raise AssertionError(f"{cls.__name__}.{f.name} has no comment to document it")
            default = f.default_factory() if callable(f.default_factory) else f.default
            rows.append((f"{prefix}.{f.name}", _short_type(hints[f.name]), _toml(default),
                         docs[f.name]))
            if typing.get_args(hints[f.name]) == (Size,):
                add(f"{prefix}.{f.name}[]", Size)

    for name, cls in SECTIONS.items():
        add(name, cls)
    return rows


def schema_markdown() -> str:
    """The schema as a Markdown table: the key reference of docs/ladders.md."""
    def cell(text):
        return text.replace("|", "\\|")

    lines = ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
    lines += [f"| `{key}` | {cell(kind)} | {cell(default)} | {cell(doc)} |"
              for key, kind, default, doc in schema_rows()]
    return "\n".join(lines)


def _short_type(kind) -> str:
    """An annotation as the table shows it: int, float, list[int], "a" | "b", table."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        inner = [a for a in args if a is not type(None)]
        return " | ".join(_short_type(a) for a in inner)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_short_type(a) for a in args)
    if origin is list:
        return f"list[{_short_type(args[0])}]"
    if origin is Literal:
        return " | ".join(f"`{str(a).lower()}`" if isinstance(a, bool) else f'`"{a}"`'
                          for a in args)
    if isinstance(kind, type) and hasattr(kind, "__dataclass_fields__"):
        return "table"
    return kind.__name__


def _toml(value) -> str:
    """A default as TOML would write it; unset for None."""
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, list):
        return "`[" + ", ".join(_toml(v).strip("`") for v in value) + "]`"
    return f"`{value!r}`"
