"""Spec files: finding one (a path, or a bundled spec by name), reading its TOML into the
schema's dataclasses (`load_spec`), and writing a spec derived from another (`dump_toml`).

`load_spec` reads every key by the annotation of its field in `ladders.spec.schema` (unknown key,
wrong type: a one-line `SpecError` naming the file and the key), then runs each section's checks
and the checks that span sections, which the schema declares beside its keys.
"""

from __future__ import annotations

import glob
import tomllib
import types
import typing
from dataclasses import fields
from pathlib import Path
from typing import Literal

from ladders.spec.schema import SECTIONS, Spec, SpecError


def dump_toml(spec: dict) -> str:
    """A spec as TOML text, from {section: {key: value}} (numbers, strings, booleans, lists and
    inline tables: all a spec holds; None values are left out, as absent keys): for scripts that
    derive a spec from another one (`tomllib.loads`, change, `dump_toml`, write)."""
    import json

    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, str):
            return json.dumps(v)                # a JSON string is a TOML basic string
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"
        raise TypeError(f"cannot write {v!r} as TOML")

    lines = []
    for section, table in spec.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {value(v)}" for key, v in table.items() if v is not None]
        lines.append("")
    return "\n".join(lines)


def bundled_specs() -> dict[str, Path]:
    """{name: path} of the specs shipped in the package (`ladders/specs/*.toml`), found from any
    directory: `scaling ladder run cpu-tiny`."""
    from importlib.resources import files

    folder = Path(str(files("ladders") / "specs"))
    return {path.stem: path for path in sorted(folder.glob("*.toml"))}


def find_spec(name) -> Path:
    """A spec file by path, else a bundled spec by name (`cpu-tiny` or `cpu-tiny.toml`)."""
    path = Path(name)
    if path.exists():
        return path
    bundled = bundled_specs()
    key = path.stem if path.suffix == ".toml" else path.name
    if len(path.parts) == 1 and key in bundled:
        return bundled[key]
    raise SpecError(f"{path}: no such spec file, and no bundled spec of that name (bundled: "
                    f"{', '.join(bundled)}; `scaling ladder specs` lists them)")


def spec_summary(path: Path) -> str:
    """The first sentence of a spec file's leading comment (what `ladder specs` shows)."""
    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    sentence = " ".join(lines).split(". ")[0].rstrip(".")
    return sentence if len(sentence) <= 70 else sentence[:69].rstrip(" ,:;") + "…"


def load_spec(path) -> Spec:
    """Read and check a spec (a path, or a bundled spec's name): every section filled with
    defaults; unknown keys are errors."""
    path = find_spec(path)
    try:
        raw = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: not valid TOML ({exc})") from None
    for section in raw:
        if section not in SECTIONS:
            raise SpecError(f"{path}: unknown section [{section}]; known: {', '.join(SECTIONS)}")
    parts = {name: _table(cls, raw.get(name, {}), name, path) for name, cls in SECTIONS.items()}
    if "branches" not in raw:
        parts["branches"] = None
    for part in parts.values():
        if part is not None:
            part.check(path)
    spec = Spec(**parts, path=path)
    check_spec(spec)
    return spec


# --- the checks that span sections (after each section's own) ----------------------------------


def check_spec(spec: Spec) -> None:
    """The checks that span sections, and that the data files exist."""
    where, data = spec.path, spec.data
    if data.corpus == "files":
        for pattern in data.files:
            if not glob.glob(str(spec.resolve(pattern)), recursive=True):
                raise SpecError(f"{where}: data.files: {pattern!r} matches no file")
    if data.corpus == "bins":
        for key in ("train_bin", "valid_bin"):
            name = getattr(data, key)
            if not name or not spec.resolve(name).exists():
                raise SpecError(f"{where}: data.{key}: no such file {name!r}")
    if spec.branched:
        for kind in ("per_param", "absolute"):
            if getattr(spec.tokens, kind):
                raise SpecError(f"{where}: tokens.{kind}: a branched ladder takes its budgets "
                                f"from [branches] (branches.per_param, branches.absolute)")
        texts = spec.optimizer.schedules
        wrong = [t for t in texts if t.partition(":")[0].strip() != "wsd"]
        if wrong:
            raise SpecError(f"{where}: optimizer.schedules: branches need the WSD schedule "
                            f"(schedules = [\"wsd\"]), got {wrong[0]!r}")
        if texts != ["wsd"]:
            raise SpecError(f"{where}: optimizer.schedules: a branched ladder sets its decay "
                            f"in [branches]; give schedules = [\"wsd\"], got {texts!r}")
    if spec.branched and spec.pruning.sparsities:
        raise SpecError(f"{where}: pruning.sparsities: pruning is not supported in a "
                        "branched ladder ([branches]) yet: its events would fall in the "
                        "prefix the branches share; use dedicated runs ([tokens])")
    if spec.model.parametrization == "mup" and spec.optimizer.base_width is None:
        raise SpecError(f"{where}: model.parametrization = 'mup' needs optimizer.base_width "
                        "(the width whose hyperparameters muP transfers); give it, e.g. "
                        "base_width = 64")
    _check_tasks(spec)
    sizes = len(spec.model.sizes)
    if spec.ladder.repeat_sizes > sizes:
        raise SpecError(f"{where}: ladder.repeat_sizes = {spec.ladder.repeat_sizes} is more "
                        f"than the {sizes} size(s) of model.sizes")
    section = "branches" if spec.branched else "tokens"
    if not (spec.budgets.per_param or spec.budgets.absolute):
        raise SpecError(f"{where}: give {section}.per_param or {section}.absolute")
    if data.unique_tokens is not None and data.unique_tokens < spec.ladder.context:
        raise SpecError(f"{where}: data.unique_tokens = {data.unique_tokens:_} is fewer than "
                        f"one sequence of ladder.context = {spec.ladder.context} tokens")


def _check_tasks(spec: Spec) -> None:
    """Task files exist and hold valid items; task names are unique; tasks need text."""
    from ladders.tasks import TaskError, load_jsonl, split_entry

    where, tasks = spec.path, spec.tasks
    if not (tasks.names or tasks.files):
        return
    if spec.data.corpus == "bins":
        raise SpecError(f"{where}: tasks: tasks need the corpus's text and tokenizer; "
                        "data.corpus = 'bins' has neither")
    names = list(tasks.names)
    for index, entry in enumerate(tasks.files):
        name, path = split_entry(entry)
        if not spec.resolve(path).is_file():
            raise SpecError(f"{where}: tasks.files[{index}]: no such file {path!r}")
        try:
            load_jsonl(spec.resolve(path), name)
        except TaskError as exc:
            raise SpecError(f"{where}: tasks.files[{index}]: {exc}") from None
        names.append(name)
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise SpecError(f"{where}: tasks: two tasks are named {twice[0]!r} (give a file "
                        "another name with \"NAME=path\")")


# --- reading a table into a dataclass, by its annotations ----------------------------------------


def _table(cls, given, label, where):
    """`cls` from the TOML table `given`: unknown keys and wrong types are `SpecError`s."""
    if not isinstance(given, dict):
        what = label if "[" in label else f"[{label}]"
        raise SpecError(f"{where}: {what} must be {type_name(cls)}, got {given!r}")
    known = [f.name for f in fields(cls)]
    unknown = sorted(set(given) - set(known))
    if unknown:
        if "[" in label:            # an inline table in a list, e.g. model.sizes[0]
            raise SpecError(f"{where}: {label}: unknown key {unknown[0]!r}; known: "
                            f"{', '.join(sorted(known))}")
        raise SpecError(f"{where}: unknown key {label}.{unknown[0]}; known: "
                        f"{', '.join(sorted(known))}")
    hints = typing.get_type_hints(cls)
    values = {key: _value(value, hints[key], f"{label}.{key}", where)
              for key, value in given.items()}
    return cls(**values)


def _value(value, kind, label, where):
    """`value` if it has the annotation's type `kind` (an int is a valid float), else a
    SpecError naming `label`."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        if value is None:           # TOML has no null; only a default can be None
            return None
        inner = [a for a in args if a is not type(None)]
        return _value(value, inner[0] if len(inner) == 1 else typing.Union[tuple(inner)],
                      label, where)
    if origin in (typing.Union, types.UnionType):   # several types: the first that fits
        for inner in args:
            try:
                return _value(value, inner, label, where)
            except SpecError:
                pass
        raise SpecError(f"{where}: {label} must be {type_name(kind)}, got {value!r}")
    if origin is list:
        if not isinstance(value, list):
            raise SpecError(f"{where}: {label} must be {type_name(kind)}, got {value!r}")
        (inner,) = args
        return [_value(item, inner, f"{label}[{index}]", where)
                for index, item in enumerate(value)]
    if origin is Literal:               # strings, or true/false where the Literal lists them
        if value not in args or not isinstance(value, (str, bool)):
            raise SpecError(f"{where}: {label} must be {type_name(kind)}, got {value!r}")
        return value
    if isinstance(kind, type) and hasattr(kind, "__dataclass_fields__"):
        return _table(kind, value, label, where)
    if kind is float:           # an int is a float too, kept as written (for messages)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SpecError(f"{where}: {label} must be {type_name(kind)}, got {value!r}")
        return value
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise SpecError(f"{where}: {label} must be {type_name(kind)}, got {value!r}")
    return value


def type_name(kind) -> str:
    """An annotation in words: "an integer", "a list of numbers", "one of 'a', 'b'"."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        inner = [a for a in args if a is not type(None)]
        return type_name(inner[0] if len(inner) == 1 else typing.Union[tuple(inner)])
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_name(a) for a in args)
    if origin is list:
        inner = type_name(args[0])
        plural = {"an integer": "integers", "a number": "numbers", "a string": "strings"}
        return "a list of " + plural.get(inner, "tables like " + inner.removeprefix("a table "))
    if origin is Literal:
        return "one of " + ", ".join(str(a).lower() if isinstance(a, bool) else repr(a)
                                     for a in args)
    if isinstance(kind, type) and hasattr(kind, "__dataclass_fields__"):
        return "a table { " + ", ".join(f.name for f in fields(kind)) + " }"
    return {int: "an integer", float: "a number", bool: "true or false",
            str: "a string"}[kind]
