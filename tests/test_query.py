"""Queries are data, never code (`scaling.data.query`): the whitelist gives pandas' rows on every
construct it allows; everything else — the injections of issue 24 among them — is a one-line
error, exit 2, before any work, and writes no file; every query the project's README, docs,
notebooks, Makefile and tests use still parses."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cli
from scaling.errors import ScalingError
from scaling.data.query import parse
from scaling.data.runs import filter_rows

REPO = Path(__file__).resolve().parents[1]


def sample() -> pd.DataFrame:
    """Text, numbers with NaN, integers, a boolean column, a name that needs back-quotes."""
    frame = pd.DataFrame({
        "run": ["a", "b", "train-1", "train-2", "c.d", "e"],
        "params": [1e8, np.nan, 3e9, 2e7, 5e8, 1e9],
        "tokens": [1e9, 2e9, 3e10, 4e8, 5e9, 2e10],
        "step": [100, 150, 200, 250, 300, 300],
        "Model Size": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        "acc:arc": [0.3, 0.4, np.nan, 0.6, 0.25, 0.5],
        "stable": [True, False, True, False, False, True],
        "schedule": ["constant", "cosine", "constant:peak=1", "wsd", "cosine", "wsd"],
    })
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="row")
    return frame


# Each allowed construct, as pandas' own query spells it.
PANDAS_QUERIES = [
    "params < 1e9", "params <= 1e9", "params > 1e8", "params >= 1e8", "params == 1e8",
    "params != 1e8",                                  # NaN != x is true, as in pandas
    "1e8 <= params < 3e9", "tokens > params * 10", "tokens / params >= 20",
    "step % 100 == 0", "step // 100 == 2", "params ** 0.5 > 2e4", "-params < -5e8",
    "+step > 150", "(params + tokens) - 1 > 1e10", "params < 1e9 and tokens > 1e9",
    "params < 1e9 or tokens > 1e10", "not stable", "not (params < 1e9)",
    "params < 1e9 & tokens > 1e9", "params < 1e9 | stable", "~stable", "stable",
    "stable == True", "stable != False", "run == 'a'", 'run != "a"', "run > 'b'",
    "run in ['a', 'e']", "run not in ('a', 'e')", "step in [100, 300]", "run == ['a', 'b']",
    "run != ['a', 'b']", "`Model Size` > 2", "`acc:arc` >= 0.4", "`acc:arc` != 0.4",
    "`Model Size` > 2 and `acc:arc` < 0.5", "run == 'a&b'", "run.str.startswith('train')",
    "run.str.endswith('2')", "schedule.str.contains('os')",
    "schedule.str.contains('e:p', regex=False)",
    "not run.str.endswith('-2')", "abs(step - 200) <= 50", "run == 1",
    "run != 1", "params == 'a'", "row > 3",          # the row number, the index's name
]


@pytest.mark.parametrize("text", PANDAS_QUERIES)
def test_every_allowed_construct_keeps_the_rows_pandas_keeps(text):
    frame = sample()
    expected = frame.query(text, engine="python").index.tolist()
    assert frame.index[parse(text).mask(frame)].tolist() == expected
    if expected:
        assert filter_rows(frame, text).index.tolist() == expected


# The function spellings pandas has no query syntax for: their pandas equivalent.
FUNCTION_QUERIES = {
    "startswith(run, 'train')": lambda f: f["run"].str.startswith("train"),
    "endswith(run, '2')": lambda f: f["run"].str.endswith("2"),
    "contains(run, '.')": lambda f: f["run"].str.contains(".", regex=False),
    "startswith(schedule, ('wsd', 'cos'))": lambda f: f["schedule"].str.startswith(
        ("wsd", "cos")),
    "log10(params) > 8.5": lambda f: np.log10(f["params"]) > 8.5,
    "log(tokens) < 21": lambda f: np.log(f["tokens"]) < 21,
    "abs(-params) > 1e8": lambda f: f["params"].abs() > 1e8,
}


@pytest.mark.parametrize("text", list(FUNCTION_QUERIES))
def test_the_whitelisted_functions(text):
    frame = sample()
    expected = frame.index[FUNCTION_QUERIES[text](frame).to_numpy(bool)].tolist()
    assert frame.index[parse(text).mask(frame)].tolist() == expected
    assert expected                                     # each keeps some rows, not all
    assert len(expected) < len(frame)


def test_a_missing_text_value_matches_nothing_and_nan_compares_false():
    frame = sample()
    frame.loc[2, "schedule"] = None
    assert frame.index[parse("startswith(schedule, 'cos')").mask(frame)].tolist() == [5]
    assert frame.index[parse("schedule != 'cosine'").mask(frame)].tolist() == [1, 2, 3, 4, 6]
    assert frame.index[parse("`acc:arc` > 0 or `acc:arc` <= 0").mask(frame)].tolist() == \
        [1, 2, 4, 5, 6]


def test_a_query_over_several_lines_reads_as_one():
    frame = sample()
    assert frame.index[parse("params < 1e9\n    and stable").mask(frame)].tolist() == [1]


def test_final_columns_and_cut_runs_still_work():
    frame = pd.DataFrame({"run": ["a", "a", "b", "b"], "tokens": [1e9, 2e9, 1e9, 2e9],
                          "loss": [3.0, 2.5, 3.2, 3.1], "Model Size": [1.0, 1.0, 2.0, 2.0]})
    frame.index = pd.RangeIndex(1, 5, name="row")
    kept = filter_rows(frame, "final_loss < 3 and tokens < 1.5e9")
    assert kept.index.tolist() == [1]
    assert kept.attrs["cut_runs"] == {"a": [1e9, 2e9]}
    assert filter_rows(frame, "`final_Model Size` > 1").index.tolist() == [3, 4]


ERRORS = {
    # construct: (query, words the one-line error must hold)
    "at-variable": ("loss < 3.44 + @pd.io.common.os.system('echo hi > pwned.txt')", "'@'"),
    "at-path": ("loss < 3 or @Path('pwned.txt').touch()", "'@'"),
    "at-frame": ("loss < 3 or @frame.to_csv('pwned.txt')", "'@'"),
    "dunder-import": ("__import__('os').system('echo hi > pwned.txt')", "'.system(...)'"),
    "import-call": ("__import__('os')", "'__import__'"),
    "class-attribute": ("().__class__", "'.__class__'"),
    "open": ("open('pwned.txt', 'w')", "'open'"),
    "eval": ("eval('1')", "'eval'"),
    "exec": ("exec('open(\"pwned.txt\", \"w\")')", "'exec'"),
    "getattr": ("getattr(run, 'upper')", "'getattr'"),
    "walrus": ("(x := 1) > 0", ":="),
    "list-comprehension": ("[x for x in run]", "comprehensions"),
    "generator": ("any(x for x in run)", "'any'"),
    "lambda": ("(lambda: 1)() > 0", "calls are not allowed"),
    "lambda-bare": ("lambda: 1", "lambda"),
    "f-string": ("run == f'{params}'", "f-strings"),
    "subscript": ("run[0] == 'a'", "subscripts"),
    "attribute": ("params.values > 0", "'.values'"),
    "method": ("run.upper() == 'A'", "'.upper(...)'"),
    "dunder-name": ("__builtins__ > 0", "'__builtins__'"),
    "dunder-quoted-attribute": ("`params`.__class__ > 0", "'.__class__'"),
    "starred": ("params in [*run]", "literals only"),
    "dict": ("{'a': 1} == run", "dicts"),
    "set": ("run in {'a'}", "literal list"),
    "is": ("run is None", "'is'"),
    "xor": ("params ^ 2 > 0", "'^'"),
    "shift": ("params << 2 > 0", "'<<'"),
    "in-column": ("'a' in run", "literal list"),
    "list-not-last": ("params in [1e8] < 3", "a list ends a comparison"),
    "other-str-method": ("run.str.upper() == 'A'", "'.upper(...)'"),
    "regex-contains": ("run.str.contains('^tr.*')", "regular expression"),
    "str-keyword": ("run.str.startswith('t', na=True)", "na="),
    "syntax": ("params <", "not a valid expression"),
    "unclosed-quote": ("run == 'a", "not closed"),
    "huge-number": ("params < 1" + "0" * 400, "literal"),
    "deep": ("not " * 150 + "stable", "nested"),
    "long": ("params > 0 or " * 1000 + "stable", "longer than"),
    "very-deep-parentheses": ("(" * 300 + "params" + ")" * 300, "not a valid expression"),
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_everything_else_is_refused_naming_the_construct(name):
    text, words = ERRORS[name]
    with pytest.raises(ScalingError) as error:
        parse(text, "--where", "runs.csv")
    message = str(error.value)
    assert "\n" not in message
    shown = repr(text) if len(text) <= 1000 else repr(text[:40] + "…")   # a long one: its start
    assert message.startswith(f"runs.csv: bad --where {shown}: ")
    assert words in message


def test_an_unknown_column_is_named_with_the_columns():
    with pytest.raises(ScalingError, match=r"bad --where 'loss < 3': no column 'loss' "
                                           r"\(columns: run, params, tokens, step, Model Size"):
        filter_rows(sample(), "loss < 3", "runs.csv")


@pytest.mark.parametrize("text, words", [
    ("run < 3", "cannot order text against a number"),
    ("params + run > 0", "arithmetic needs numbers"),
    ("params", "needs true/false values"),
    ("'params > 0'", "needs true/false values"),
    ("startswith(params, '1')", "needs a text column"),
    ("not params", "needs true/false values"),
])
def test_type_errors_are_one_line(text, words):
    with pytest.raises(ScalingError, match=re.escape(words)):
        filter_rows(sample(), text, "runs.csv")


# -- the commands: refused before any work, no file written ---------------------------------

INJECTIONS = [ERRORS[name] for name in (
    "at-variable", "at-path", "at-frame", "dunder-import", "import-call", "class-attribute",
    "open", "eval", "exec", "getattr", "walrus", "list-comprehension", "lambda", "f-string",
    "subscript", "attribute", "method", "dunder-name")]
# The same three with the names pandas' query resolved in `scaling.data.runs.filter_rows`, which
# wrote files on the code before `scaling.data.query`.
INJECTIONS += [("loss < 3.44 + @Path('pwned.txt').touch()", "'@'"),
               ("loss < 3.44 or @frame.to_csv('pwned.txt')", "'@'"),
               ("loss < 3.44 or @searched.to_csv('pwned.txt')", "'@'")]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A run table and a fit of it (for `plan`), outside the folder the commands run in."""
    folder = tmp_path_factory.mktemp("tables")
    rows = []
    for params in (1e7, 3e7, 1e8, 3e8):
        for tokens in (1e8, 3e8, 1e9, 3e9):
            rows.append({"run": f"r{len(rows):02d}", "params": params, "tokens": tokens,
                         "loss": 1.8 + 400 / params**0.34 + 2000 / tokens**0.37})
    runs = folder / "runs.csv"
    pd.DataFrame(rows).to_csv(runs, index=False)
    fit = folder / "fit.json"
    assert cli.main(["fit", str(runs), "--bootstrap", "0", "--jobs", "1", "--out",
                     str(fit)]) == 0
    return runs, fit


def commands(runs, fit, text):
    common = ["--bootstrap", "0"]
    return {
        "fit --where": ["fit", str(runs), "--where", text, *common, "--jobs", "1"],
        "backtest --train": ["backtest", str(runs), "--train", text, *common, "--jobs", "1"],
        "backtest --test": ["backtest", str(runs), "--train", "params < 1e8", "--test", text,
                            *common, "--jobs", "1"],
        "optimal --where": ["optimal", str(runs), "--approach", "3", "--where", text, *common,
                            "--jobs", "1"],
        "plan --where": ["plan", "--flops", "1e20", "--fit", str(fit), "--runs", str(runs),
                         "--where", text, "--out-dir", "plan", *common],
    }


@pytest.mark.parametrize("text, words", INJECTIONS)
@pytest.mark.parametrize("command", ["fit --where", "backtest --train", "backtest --test",
                                     "optimal --where", "plan --where"])
def test_commands_refuse_a_query_that_is_code_and_write_nothing(command, text, words, workspace,
                                                                tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    runs, fit = workspace
    capsys.readouterr()
    status = cli.main(commands(runs, fit, text)[command])
    captured = capsys.readouterr()
    assert status == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err
    option = command.split()[1]
    assert lines[0].startswith(f"scaling: error: {runs}: bad {option} {text!r}: ")
    assert words in lines[0]                            # it names the construct
    assert captured.out == ""                           # refused before any work
    assert list(tmp_path.iterdir()) == []               # no pwned.txt, no plan folder


# -- every query the project uses still parses ---------------------------------------------

QUOTED = r"""(?:"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')"""
PATTERNS = [
    # --where "q" (shell, Markdown), "--where", "q" (argv lists), where="q" (Python; adjacent
    # literals are one string, as Python joins them)
    re.compile(rf"--(?:where|train|test)[ =]+({QUOTED})"),
    re.compile(rf"""["']--(?:where|train|test)["'],\s*({QUOTED})"""),
    re.compile(rf"\b(?:where|train|test)=((?:{QUOTED}\s*)+)"),
]
# Test files whose queries are bad on purpose (the catalogue of bad inputs, this module).
SKIPPED = ("tests/test_cli_errors.py", "tests/test_query.py")


def project_texts():
    files = [REPO / "README.md", REPO / "Makefile", *sorted((REPO / "docs").rglob("*.md")),
             *sorted((REPO / "notebooks").glob("*.py")),
             *sorted((REPO / "notebooks").glob("*.ipynb")), *sorted((REPO / "tests").glob("*.py"))]
    for path in files:
        name = path.relative_to(REPO).as_posix()
        if name in SKIPPED:
            continue
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".ipynb":
            text = "\n".join("".join(cell["source"]) for cell in json.loads(text)["cells"])
        yield name, text


def literal(group: str) -> str:
    parts = re.findall(QUOTED, group)
    return "".join(part[1:-1].replace("\\'", "'").replace('\\"', '"') for part in parts)


def project_queries() -> list[tuple[str, str]]:
    found = {}
    for name, text in project_texts():
        for pattern in PATTERNS:
            for match in pattern.finditer(text):
                query = literal(match.group(1))
                if "{" in query:                # a Python format string's template
                    continue
                found.setdefault(query, name)
    return sorted((name, query) for query, name in found.items())


def test_the_project_queries_are_collected():
    queries = {query for _, query in project_queries()}
    assert len(queries) >= 30
    for expected in ("loss < 3.44", "width < 96 and not stable", "step % 100 == 0",
                     "final_epochs <= 4", "width == 80 and pruning != 'dense'",
                     "run.str.startswith('train')",
                     "schedule.str.startswith('constant') or schedule.str.startswith('cosine')"):
        assert expected in queries


@pytest.mark.parametrize("name, text", project_queries())
def test_every_query_the_project_uses_parses(name, text):
    query = parse(text, "--where", name)
    assert query.columns                                 # it reads a column of the table
