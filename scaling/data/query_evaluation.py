"""Evaluating a checked row query over the columns of a table: the second half of
`scaling.data.query`, which parses and checks a query's text (refusing every construct outside its
whitelist before any table is read) and is where queries are used from.

The tree `scaling.data.query.parse` checked is walked here node by node over the columns' numpy
arrays (numbers as floats with NaN missing, booleans, text with None missing); nothing of it is
compiled or run as Python. What the operators and functions compute is declared here
(`ARITHMETIC`, `NUMBER_FUNCTIONS`), and so is a literal's value (`literal_value`) and the one
error line both halves give (`fail_query`).
"""

from __future__ import annotations

import ast
import operator

import numpy as np
import pandas as pd

from scaling.errors import ScalingError

NUMBER_FUNCTIONS = {"abs": np.abs, "log10": np.log10, "log": np.log}
ARITHMETIC = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply,
              ast.Div: np.true_divide, ast.FloorDiv: np.floor_divide, ast.Mod: np.mod,
              ast.Pow: np.power}
_COMPARE = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt,
            ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge}


def fail_query(text: str, option: str, path, reason: str):
    where = f"{path}: " if path else ""
    raise ScalingError(f"{where}bad {option} {text!r}: {reason}")


def evaluate(query, frame: pd.DataFrame, path=None) -> np.ndarray:
    """The boolean array of the rows of `frame` that `query` (a `scaling.data.query.Query`)
    keeps."""
    return _Evaluator(query, frame, path).mask()


def literal_value(node):
    """The value of a literal node (a number, a string, True/False; a negated number), else
    None."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = literal_value(node.operand)
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



class _Text:
    """A text column: an object array of str (missing values are None)."""

    def __init__(self, values: np.ndarray):
        self.values = values


class _Evaluator:
    def __init__(self, query, frame: pd.DataFrame, path):
        self.query, self.frame, self.path = query, frame, path
        self.n = len(frame)
        self.cache: dict[str, object] = {}

    def fail(self, reason: str):
        fail_query(self.query.text, self.query.option, self.path, reason)

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
        """The value of one node of the tree `parse` checked (`scaling.data.query` refused every
        node outside the whitelist before any table was read): walked here, never handed to
        Python."""
        if isinstance(node, ast.Constant):
            return literal_value(node)
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
                return ARITHMETIC[type(node.op)](np.asarray(left, float), np.asarray(right, float))
            except (OverflowError, ValueError, ZeroDivisionError) as exc:
                self.fail(f"arithmetic failed ({exc})")
        if isinstance(node, ast.Compare):
            out = None
            left = self.value_of(node.left)
            for op, right_node in zip(node.ops, node.comparators):
                if isinstance(right_node, (ast.List, ast.Tuple)):
                    members = [literal_value(e) for e in right_node.elts]
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
        self.fail(f"{type(node).__name__} is not allowed")   # parse refused it already

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
