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
reads or fits anything); `Query.mask` evaluates it on a table (an unknown column is an error
naming it and listing the table's columns).
"""

from __future__ import annotations

import ast
import operator
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from scaling.errors import ScalingError

MAX_LENGTH = 10_000          # characters of a query
MAX_DEPTH = 100              # nesting of its expression
TEXT_FUNCTIONS = ("startswith", "endswith", "contains")
NUMBER_FUNCTIONS = {"abs": np.abs, "log10": np.log10, "log": np.log}
FUNCTIONS = (*TEXT_FUNCTIONS, *NUMBER_FUNCTIONS)
REGEX_SPECIAL = set(".^$*+?{}[]\\|()")
_PLACEHOLDER = "qcol{}_"     # back-quoted names become these identifiers (made unique below)

_COMPARE = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt,
            ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge}
_ARITHMETIC = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply,
               ast.Div: np.true_divide, ast.FloorDiv: np.floor_divide, ast.Mod: np.mod,
               ast.Pow: np.power}
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


def _fail(text: str, option: str, path, reason: str):
    where = f"{path}: " if path else ""
    raise ScalingError(f"{where}bad {option} {text!r}: {reason}")


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
        return _Evaluator(self, frame, path).mask()


def parse(text, option: str = "--where", path=None) -> Query:
    """Check a query's text (nothing of the table is needed); a one-line `ScalingError`
    naming the first construct outside the whitelist (see the module)."""
    if not isinstance(text, str):
        _fail(str(text), option, path, f"a query is text, got {type(text).__name__}")
    if not text.strip():
        _fail(text, option, path, "the query is empty")
    if len(text) > MAX_LENGTH:
        _fail(text[:40] + "…", option, path, f"longer than {MAX_LENGTH:,} characters")
    source, quoted = _tokenize(text, option, path)
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        _fail(text, option, path, f"not a valid expression ({exc.msg})")
    except (ValueError, RecursionError, MemoryError) as exc:
        _fail(text, option, path, f"not a valid expression ({type(exc).__name__})")
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
                _fail(text, option, path, "a string is not closed")
            out.append(text[i:end + 1])
            i = end + 1
        elif char == "`":
            end = text.find("`", i + 1)
            if end < 0:
                _fail(text, option, path, "a back-quoted name is not closed")
            name = text[i + 1:end]
            if not name.strip():
                _fail(text, option, path, "an empty back-quoted name")
            number = len(quoted)
            while _PLACEHOLDER.format(number) in taken:
                number += 1
            placeholder = _PLACEHOLDER.format(number)
            taken.add(placeholder)
            quoted[placeholder] = name
            out.append(f" {placeholder} ")
            i = end + 1
        elif char == "@":
            _fail(text, option, path, "'@' (a Python variable of the caller) is not allowed: "
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
        _fail(text, option, path, reason)

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
        if type(node.op) not in _ARITHMETIC:
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
                    if _literal(element) is None:
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
        if _literal(node) is None:
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


def _literal(node):
    """The value of a literal node (a number, a string, True/False; a negated number), else
    None."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _literal(node.operand)
        if isinstance(value, float):
            return -value if isinstance(node.op, ast.USub) else value
        return None
    if not isinstance(node, ast.Constant):
        return None
    value = node.value
    if isinstance(value, bool) or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        try:
            return float(value)
        except OverflowError:
            return None
    return None


# -- evaluation ------------------------------------------------------------------------------

class _Text:
    """A text column: an object array of str (missing values are None)."""

    def __init__(self, values: np.ndarray):
        self.values = values


class _Evaluator:
    def __init__(self, query: Query, frame: pd.DataFrame, path):
        self.query, self.frame, self.path = query, frame, path
        self.n = len(frame)
        self.cache: dict[str, object] = {}

    def fail(self, reason: str):
        _fail(self.query.text, self.query.option, self.path, reason)

    def mask(self) -> np.ndarray:
        try:
            with np.errstate(all="ignore"):
                value = self.value_of(self.query.tree.body)
        except ScalingError:
            raise
        except (TypeError, ValueError, ArithmeticError, MemoryError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            self.fail(f"cannot evaluate it on this table ({reason[:200]})")
        truth = self.truth(value, "the query")
        return np.broadcast_to(truth, (self.n,)).copy()

    # values: float/bool numpy arrays (or scalars), _Text, str scalars
    def column(self, identifier: str):
        name = self.query.quoted.get(identifier, identifier)
        if name in self.cache:
            return self.cache[name]
        if name in self.frame.columns:
            series = self.frame[name]
        elif name == self.frame.index.name:
            series = self.frame.index.to_series()
        else:
            shown = [str(c) for c in self.frame.columns if not str(c).startswith("_")]
            listed = ", ".join(shown[:30]) + (f" and {len(shown) - 30} more"
                                              if len(shown) > 30 else "")
            hint = "" if identifier in self.query.quoted else \
                "; back-quote names that are not identifiers, e.g. `acc:arc_easy`"
            self.fail(f"no column {name!r} (columns: {listed}){hint}")
        value = _as_values(series, name, self.fail)
        self.cache[name] = value
        return value

    def value_of(self, node):
        """The value of one node of the tree `parse` checked (`_check` refused every node outside
        the whitelist before any table was read): walked here, never handed to Python."""
        if isinstance(node, ast.Constant):
            return _literal(node)
        if isinstance(node, ast.Name):
            return self.column(node.id)
        if isinstance(node, ast.BoolOp):
            values = [self.truth(self.value_of(v), "and/or") for v in node.values]
            combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
            out = values[0]
            for value in values[1:]:
                out = combine(out, value)
            return out
        if isinstance(node, ast.UnaryOp):
            operand = self.value_of(node.operand)
            if isinstance(node.op, (ast.Not, ast.Invert)):
                return np.logical_not(self.truth(operand, "not"))
            number = self.number(operand, "unary -")
            return -number if isinstance(node.op, ast.USub) else number
        if isinstance(node, ast.BinOp):
            left = self.number(self.value_of(node.left), "arithmetic")
            right = self.number(self.value_of(node.right), "arithmetic")
            try:
                return _ARITHMETIC[type(node.op)](np.asarray(left, float), np.asarray(right, float))
            except (OverflowError, ValueError, ZeroDivisionError) as exc:
                self.fail(f"arithmetic failed ({exc})")
        if isinstance(node, ast.Compare):
            out = None
            left = self.value_of(node.left)
            for op, right_node in zip(node.ops, node.comparators):
                if isinstance(right_node, (ast.List, ast.Tuple)):
                    members = [_literal(e) for e in right_node.elts]
                    result = self.isin(left, members)
                    if isinstance(op, (ast.NotIn, ast.NotEq)):
                        result = np.logical_not(result)
                    right = None
                else:
                    right = self.value_of(right_node)
                    result = self.compare(op, left, right)
                out = result if out is None else np.logical_and(out, result)
                left = right
            return out
        if isinstance(node, ast.Call):
            return self.call(node)
        self.fail(f"{type(node).__name__} is not allowed")   # _check refused it already

    def truth(self, value, where: str):
        if isinstance(value, (bool, np.bool_)):
            return np.bool_(value)
        if isinstance(value, np.ndarray) and value.dtype == bool:
            return value
        what = "text" if isinstance(value, (_Text, str)) else "numbers"
        self.fail(f"{where} needs true/false values, got {what}; compare them, e.g. x > 0")

    def number(self, value, where: str):
        if isinstance(value, (_Text, str)):
            self.fail(f"{where} needs numbers, got text")
        return value

    def compare(self, op, left, right):
        function = _COMPARE[type(op)]
        left_text = isinstance(left, (_Text, str))
        right_text = isinstance(right, (_Text, str))
        if not left_text and not right_text:
            return np.asarray(function(np.asarray(left, float) if not _is_bool(left) else left,
                                       np.asarray(right, float) if not _is_bool(right)
                                       else right))
        if left_text and right_text:
            a, b = _text_values(left, self.n), _text_values(right, self.n)
            return np.fromiter((x is not None and y is not None and function(x, y)
                                if not isinstance(op, ast.NotEq) else
                                (x is None or y is None or x != y)
                                for x, y in zip(a, b)), bool, self.n)
        if isinstance(op, (ast.Eq, ast.NotEq)):        # text == number: never equal (pandas)
            return np.full(self.n, isinstance(op, ast.NotEq))
        self.fail("cannot order text against a number; compare text with text "
                  "(e.g. run > 'b') or numbers with numbers")

    def isin(self, value, members):
        out = np.zeros(self.n, bool)
        numbers = [m for m in members if isinstance(m, float) or isinstance(m, bool)]
        strings = [m for m in members if isinstance(m, str)]
        if isinstance(value, (_Text, str)):
            texts = set(strings)
            return np.fromiter((x is not None and x in texts
                                for x in _text_values(value, self.n)), bool, self.n)
        array = np.broadcast_to(np.asarray(value, float), (self.n,))
        for member in numbers:
            out |= array == float(member)
        return out

    def call(self, node: ast.Call):
        func = node.func
        if isinstance(func, ast.Attribute):               # COLUMN.str.startswith('x')
            name, subject = func.attr, self.value_of(func.value.value)
            argument = node.args[0]
        else:
            name = func.id
            if name in NUMBER_FUNCTIONS:
                number = self.number(self.value_of(node.args[0]), f"{name}()")
                return NUMBER_FUNCTIONS[name](np.asarray(number, float))
            subject, argument = self.value_of(node.args[0]), node.args[1]
        if not isinstance(subject, (_Text, str)):
            self.fail(f"{name}() needs a text column, got numbers")
        needles = tuple(e.value for e in argument.elts) if isinstance(argument, ast.Tuple) \
            else argument.value
        if name == "contains":
            test = lambda x: needles in x                          # noqa: E731
        else:
            test = getattr(str, name)
            test = (lambda t: lambda x: t(x, needles))(test)
        return np.fromiter((x is not None and bool(test(x))
                            for x in _text_values(subject, self.n)), bool, self.n)


def _is_bool(value) -> bool:
    return isinstance(value, (bool, np.bool_)) or (isinstance(value, np.ndarray)
                                                   and value.dtype == bool)


def _text_values(value, n: int):
    return value.values if isinstance(value, _Text) else [value] * n


def _as_values(series: pd.Series, name: str, fail):
    """A column as what the evaluator computes with: a float array (numbers, NaN missing), a
    bool array, or `_Text` (str, None missing)."""
    if pd.api.types.is_bool_dtype(series.dtype):
        if series.isna().any():
            fail(f"the true/false column {name!r} has missing values; compare it explicitly "
                 f"(e.g. {name} == True)")
        return series.to_numpy(dtype=bool)
    if pd.api.types.is_numeric_dtype(series.dtype):
        return series.to_numpy(dtype=float, na_value=np.nan)
    values = series.to_numpy(dtype=object)
    missing = pd.isna(series).to_numpy()
    present = values[~missing]
    if len(present) and all(isinstance(v, (bool, np.bool_)) for v in present):
        if missing.any():
            fail(f"the true/false column {name!r} has missing values; compare it explicitly "
                 f"(e.g. {name} == True)")
        return values.astype(bool)
    if len(present) and all(isinstance(v, (int, float, np.integer, np.floating))
                            and not isinstance(v, (bool, np.bool_)) for v in present):
        return pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return _Text(np.array([None if m else str(v) for v, m in zip(values, missing)], object))


def check(text, option: str = "--where", path=None) -> None:
    """`parse` for its error only."""
    parse(text, option, path)


def mask(frame: pd.DataFrame, text, option: str = "--where", path=None) -> np.ndarray:
    """The rows of `frame` the query `text` keeps, as a boolean array."""
    return parse(text, option, path).mask(frame, path)


__all__ = ["Query", "parse", "check", "mask", "FUNCTIONS"]
