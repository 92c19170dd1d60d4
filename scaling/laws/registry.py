"""The registry of laws: found without an import list.

Every module of the `scaling.laws` package is imported on the first look-up, and each law class
in it registers itself with `@register`; so adding a law is adding one file. Laws of other
distributions register through the `scaling.laws` entry-point group
(`[project.entry-points."scaling.laws"] mylaw = "mypackage.mylaw"`: the module is imported).

    from scaling.laws import LAWS, get_law, load_fit
    sorted(LAWS)                          # every registered law's name (aliases not listed)
    LAWS["vocab"] is LAWS["vocabulary"]   # a law's `aliases` find it too
    get_law("annealing", decay=0.995)     # a fresh law with its settings
    load_fit("fit.json")                  # a fit (`scaling.engine.fit.Fit`) from its JSON
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from importlib.metadata import entry_points
from pathlib import Path

from scaling.engine.fit import Fit
from scaling.errors import ScalingError
from scaling.output.fit_file_reading import read_record
from scaling.laws.base import Law

ENTRY_POINT_GROUP = "scaling.laws"
MACHINERY = {"base", "registry", "chain"}     # modules of scaling.laws that hold no law


class Registry(Mapping):
    """name → law class; discovers the laws on first use."""

    def __init__(self):
        self._laws: dict[str, type[Law]] = {}
        self._aliases: dict[str, str] = {}        # alias → name (not iterated: one entry a law)
        self._discovered = False

    def add(self, cls: type[Law]) -> None:
        for name in (cls.name, *cls.aliases):
            known = self._laws.get(self._aliases.get(name, name))
            if known is not None and (known.__module__, known.__qualname__) != \
                    (cls.__module__, cls.__qualname__):
                raise ValueError(f"two laws are named {name!r}: {known.__module__}."
                                 f"{known.__qualname__} and {cls.__module__}.{cls.__qualname__}")
        self._laws[cls.name] = cls
        self._aliases.update({alias: cls.name for alias in cls.aliases})

    def discover(self) -> None:
        if self._discovered:
            return
        self._discovered = True
        package = __name__.rpartition(".")[0]                   # scaling.laws
        for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
            if module.name not in MACHINERY and not module.name.startswith("_"):
                importlib.import_module(f"{package}.{module.name}")
        for entry in entry_points(group=ENTRY_POINT_GROUP):
            entry.load()

    def __getitem__(self, name: str) -> type[Law]:
        """The law of a name or an alias (`vocab` is the `vocabulary` law)."""
        self.discover()
        return self._laws[self._aliases.get(name, name)]

    def __iter__(self):
        self.discover()
        return iter(dict(self._laws))

    def __len__(self) -> int:
        self.discover()
        return len(self._laws)


LAWS = Registry()


def register(cls: type[Law]) -> type[Law]:
    """Class decorator: make a law known by its `name`."""
    LAWS.add(cls)
    return cls


def get_law(name: str, **settings) -> Law:
    """A fresh, unfitted law by registry name, with its settings (values or text)."""
    if name not in LAWS:
        raise ScalingError(f"unknown law {name!r}; known laws: {', '.join(sorted(LAWS))}")
    return LAWS[name](**settings)


def load_fit(path) -> Fit:
    """A fit from the JSON that `Fit.save` wrote (`scaling.output.fit_file_reading`: read guarded,
    its seal and every field checked)."""
    path = Path(path)
    record = read_record(path)
    if record["law"] not in LAWS:
        raise ScalingError(f"{path}: a fit of the unknown law {record['law']!r}; known laws: "
                           f"{', '.join(sorted(LAWS))}")
    try:
        return Fit.from_dict(LAWS[record["law"]], record)
    except ScalingError as exc:
        raise ScalingError(f"{path}: {exc}") from None
