"""Row queries (`--where`, `--train`, `--test`, and `where=`/`train=`/`test=` of the Python API):
data, never code.

A query is a small expression over the columns of a run table, written as for pandas'
`DataFrame.query` (`params < 1e9 and tokens > 1e10`). It is parsed with Python's `ast` and
evaluated here, node by node, over the columns' numpy arrays; nothing of the query is ever
compiled or run as Python, and nothing outside the table is reachable (no module, no caller's
variable, no attribute, no function beyond the list below).

What a query may hold:

- column names: bare (`params`), or back-quoted like pandas for names that are not
  identifiers (`` `Model Size` ``, `` `acc:arc_easy` ``); `final_<column>` is each run's value
  of `<column>` on its final row (`scaling.data.runs.filter_rows`); the row number's name (`row`);
- literals: numbers (`1e9`, `-3`), strings (`'dense'`, `"a"`), `True`, `False`;
- arithmetic: `+ - * / // % **` and unary `-`/`+` (on numbers only);
- comparisons `== != < <= > >=`, chained too (`1e8 <= params < 1e9`); a number compared with
  NaN is false, as in pandas; `in` / `not in` a literal list or tuple
  (`run in ['a', 'b']`), and `==` / `!=` a literal list (pandas' spelling of the same);
- booleans: `and`, `or`, `not`, and pandas' `&`, `|`, `~` (read as `and`, `or`, `not`, with
  their precedence, as pandas does); a boolean column stands alone (`not stable`);
- functions (the whole list): `startswith(COLUMN, 'text')`, `endswith(COLUMN, 'text')`,
  `contains(COLUMN, 'text')` on text columns (literal text, no regular expressions; a tuple of
  strings for startswith/endswith means any of them; a missing value matches nothing);
  `abs(x)`, `log10(x)`, `log(x)` (natural) on numbers. pandas' spelling of the text tests is
  accepted as a named exception: `COLUMN.str.startswith('text')`, `COLUMN.str.endswith('text')`
  and `COLUMN.str.contains('text')` (pandas reads the last as a regular expression: one
  holding a regular expression's special characters is refused unless `regex=False` is given,
  so it never matches other rows than pandas would).

Everything else is refused with one line naming the construct: `@name` (a Python variable),
attribute access, any other call, subscripts, lambdas, f-strings, names with double
underscores, `:=`, comprehensions, `*`/`**` unpacking, dicts and sets, `is`, bitwise `^`,
`<<`, `>>`, `@`. `parse` checks the text alone (so a command refuses a bad query before it
reads or fits anything); `Query.mask` evaluates it on a table (`scaling.data.query_evaluation`;
an unknown column is an error naming it and listing the table's columns).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from scaling.data.query_evaluation import (ARITHMETIC, NUMBER_FUNCTIONS, evaluate, fail_query,
                                           literal_value)

MAX_LENGTH = 10_000          # characters of a query
MAX_DEPTH = 100              # nesting of its expression
TEXT_FUNCTIONS = ("startswith", "endswith", "contains")
FUNCTIONS = (*TEXT_FUNCTIONS, *NUMBER_FUNCTIONS)
REGEX_SPECIAL = set(".^$*+?{}[]\\|()")
_PLACEHOLDER = "qcol{}_"     # back-quoted names become these identifiers (made unique below)

_OPERATOR_NAMES = {ast.BitXor: "'^'", ast.LShift: "'<<'", ast.RShift: "'>>'",
                   ast.MatMult: "'@'", ast.BitAnd: "'&'", ast.BitOr: "'|'"}
_NODE_NAMES = {
    ast.Attribute: "attribute access", ast.Subscript: "subscripts ([...])",
    ast.Lambda: "lambda", ast.JoinedStr: "f-strings", ast.FormattedValue: "f-strings",
    ast.NamedExpr: "assignment (:=)", ast.ListComp: "comprehensions",
    ast.SetComp: "comprehensions", ast.DictComp: "comprehensions",
    ast.GeneratorExp: "comprehensions", ast.Starred: "unpacking (*)", ast.Dict: "dicts",
    ast.Set: "sets", ast.IfExp: "conditional expressions (x if c else y)",
    ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield", ast.Slice: "slices",
    ast.List: "lists (except after in / not in / == / !=)",
    ast.Tuple: "tuples (except after in / not in / == / !=)",
}


@dataclass(frozen=True)
class Query:
    """A checked query: its text, its tree and the columns it names (see the module)."""

    text: str
    option: str
    tree: ast.Expression
    quoted: dict           # placeholder identifier -> the back-quoted column name
    columns: tuple         # every column name the query reads, in order of first use

    def mask(self, frame: pd.DataFrame, path=None) -> np.ndarray:
        """The boolean array of the rows of `frame` the query keeps."""
        return evaluate(self, frame, path)


def parse(text, option: str = "--where", path=None) -> Query:
    """Check a query's text (nothing of the table is needed); a one-line `ScalingError`
    naming the first construct outside the whitelist (see the module)."""
    if not isinstance(text, str):
        fail_query(str(text), option, path, f"a query is text, got {type(text).__name__}")
    if not text.strip():
        fail_query(text, option, path, "the query is empty")
    if len(text) > MAX_LENGTH:
        fail_query(text[:40] + "…", option, path, f"longer than {MAX_LENGTH:,} characters")
    source, quoted = _tokenize(text, option, path)
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        fail_query(text, option, path, f"not a valid expression ({exc.msg})")
    except (ValueError, RecursionError, MemoryError) as exc:
        fail_query(text, option, path, f"not a valid expression ({type(exc).__name__})")
    columns: list[str] = []
    _check(tree.body, text, option, path, quoted, columns, 0)
    return Query(text, option, tree, quoted, tuple(dict.fromkeys(columns)))


def _tokenize(text: str, option: str, path) -> tuple[str, dict]:
    """The text with each back-quoted name replaced by a placeholder identifier, and pandas'
    `&` / `|` by ` and ` / ` or ` (outside string literals); `@` is refused here, since Python
    would read `@name` as an operator."""
    taken = set(re.findall(r"[A-Za-z_]\w*", text))
    quoted: dict[str, str] = {}
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char in "'\"":
            end = _string_end(text, i)
            if end < 0:
                fail_query(text, option, path, "a string is not closed")
            out.append(text[i:end + 1])
            i = end + 1
        elif char == "`":
            end = text.find("`", i + 1)
            if end < 0:
                fail_query(text, option, path, "a back-quoted name is not closed")
            name = text[i + 1:end]
            if not name.strip():
                fail_query(text, option, path, "an empty back-quoted name")
            number = len(quoted)
            while _PLACEHOLDER.format(number) in taken:
                number += 1
            placeholder = _PLACEHOLDER.format(number)
            taken.add(placeholder)
            quoted[placeholder] = name
            out.append(f" {placeholder} ")
            i = end + 1
        elif char == "@":
            fail_query(text, option, path, "'@' (a Python variable of the caller) is not allowed: "
                                      "a query reads the table's columns only")
        elif char in "&|":
            out.append(" and " if char == "&" else " or ")
            i += 1
        elif char in "\r\n\t":
            out.append(" ")                          # a query written over several lines
            i += 1
        else:
            out.append(char)
            i += 1
    return "".join(out), quoted


def _string_end(text: str, start: int) -> int:
    """Index of the quote closing the string literal that opens at `start` (-1 when none)."""
    quote = text[start]
    if text.startswith(quote * 3, start):
        end = text.find(quote * 3, start + 3)
        return end + 2 if end >= 0 else -1
    i = start + 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == quote:
            return i
        if text[i] == "\n":
            return -1
        i += 1
    return -1


def _display(name: str, quoted: dict) -> str:
    return quoted.get(name, name)


def _check(node, text, option, path, quoted, columns, depth) -> None:
    """Refuse the first node outside the whitelist; collect the column names."""
    def fail(reason):
        fail_query(text, option, path, reason)

    def check(child):
        _check(child, text, option, path, quoted, columns, depth + 1)

    if depth > MAX_DEPTH:
        fail(f"nested more than {MAX_DEPTH} deep")
    if isinstance(node, ast.BoolOp):
        for value in node.values:
            check(value)
    elif isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, (ast.Not, ast.USub, ast.UAdd, ast.Invert)):
            fail(f"the operator {type(node.op).__name__} is not allowed")
        check(node.operand)
    elif isinstance(node, ast.BinOp):
        if type(node.op) not in ARITHMETIC:
            fail(f"the operator {_OPERATOR_NAMES.get(type(node.op), type(node.op).__name__)} "
                 "is not allowed")
        check(node.left)
        check(node.right)
    elif isinstance(node, ast.Compare):
        check(node.left)
        for position, (op, right) in enumerate(zip(node.ops, node.comparators)):
            if isinstance(op, (ast.Is, ast.IsNot)):
                fail("'is' is not allowed; use == or !=")
            if isinstance(op, (ast.In, ast.NotIn)) or (
                    isinstance(op, (ast.Eq, ast.NotEq)) and isinstance(right, (ast.List,
                                                                               ast.Tuple))):
                word = {ast.In: "in", ast.NotIn: "not in", ast.Eq: "==", ast.NotEq: "!="}[
                    type(op)]
                if not isinstance(right, (ast.List, ast.Tuple)):
                    fail(f"'{word}' needs a literal list after it, e.g. run {word} ['a', 'b']")
                if position < len(node.ops) - 1:
                    fail(f"a list ends a comparison: nothing may follow {word} [...]")
                for element in right.elts:
                    if literal_value(element) is None:
                        fail(f"the list after '{word}' holds literals only (numbers, strings, "
                             "True, False)")
            else:
                check(right)
    elif isinstance(node, ast.Call):
        _check_call(node, fail, check, quoted)
    elif isinstance(node, ast.Name):
        name = _display(node.id, quoted)
        if node.id not in quoted and node.id.startswith("__"):
            fail(f"names with double underscores ({node.id!r}) are not allowed")
        columns.append(name)
    elif isinstance(node, ast.Constant):
        if literal_value(node) is None:
            fail(f"the literal {node.value!r} is not allowed (numbers, strings, True, False)")
    else:
        what = _NODE_NAMES.get(type(node))
        if isinstance(node, ast.Attribute):
            what = f"attribute access ('.{node.attr}')"
        fail(f"{what or type(node).__name__ + ' expressions'}: not allowed in a query")


def _check_call(node: ast.Call, fail, check, quoted) -> None:
    func = node.func
    allowed = ", ".join(FUNCTIONS) + " and COLUMN.str.startswith/endswith/contains"
    if isinstance(func, ast.Attribute):
        inner = func.value
        if not (isinstance(inner, ast.Attribute) and inner.attr == "str"
                and isinstance(inner.value, ast.Name) and func.attr in TEXT_FUNCTIONS):
            fail(f"calls of methods ('.{func.attr}(...)') are not allowed (allowed functions: "
                 f"{allowed})")
        check(inner.value)
        name = f"{_display(inner.value.id, quoted)}.str.{func.attr}"
        _check_text_arguments(node, name, func.attr, fail, pandas_style=True)
        return
    if not isinstance(func, ast.Name) or func.id in quoted:
        fail(f"calls are not allowed except of the functions {allowed}")
    if func.id not in FUNCTIONS:
        fail(f"calls of {func.id!r} are not allowed (allowed functions: {allowed})")
    if func.id in TEXT_FUNCTIONS:
        if len(node.args) != 2 or node.keywords:
            fail(f"{func.id}() takes a column and a string: {func.id}(run, 'text')")
        check(node.args[0])
        _check_text_arguments(ast.Call(func, node.args[1:], []), func.id, func.id, fail,
                              pandas_style=False)
        return
    if len(node.args) != 1 or node.keywords:
        fail(f"{func.id}() takes one number: {func.id}(params)")
    check(node.args[0])


def _check_text_arguments(node: ast.Call, name: str, function: str, fail,
                          pandas_style: bool) -> None:
    """The one literal argument of startswith/endswith/contains (a tuple of strings for the
    first two); `regex=False` only for pandas' `.str.contains`."""
    if len(node.args) != 1:
        fail(f"{name}() takes one string")
    argument = node.args[0]
    strings = argument.elts if isinstance(argument, ast.Tuple) and function != "contains" \
        else [argument]
    if not strings or not all(isinstance(s, ast.Constant) and isinstance(s.value, str)
                              for s in strings):
        fail(f"{name}() takes a literal string, e.g. {name}('text')")
    literal = False
    for keyword in node.keywords:
        if pandas_style and function == "contains" and keyword.arg == "regex" \
                and isinstance(keyword.value, ast.Constant) and keyword.value.value is False:
            literal = True
            continue
        fail(f"{name}() takes no {keyword.arg or '**'}= argument"
             + (" (only regex=False)" if pandas_style and function == "contains" else ""))
    if pandas_style and function == "contains" and not literal \
            and REGEX_SPECIAL & set(strings[0].value):
        fail(f"{name}({strings[0].value!r}) would be a regular expression in pandas; queries "
             "match literal text: write contains(COLUMN, 'text') or add regex=False")



def check(text, option: str = "--where", path=None) -> None:
    """`parse` for its error only."""
    parse(text, option, path)


def mask(frame: pd.DataFrame, text, option: str = "--where", path=None) -> np.ndarray:
    """The rows of `frame` the query `text` keeps, as a boolean array."""
    return parse(text, option, path).mask(frame, path)


__all__ = ["Query", "parse", "check", "mask", "FUNCTIONS"]
