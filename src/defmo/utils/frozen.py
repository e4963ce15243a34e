"""Frozen, typed sections built from validated mappings: the machinery behind :mod:`defmo.settings`.

A :class:`Section` is a frozen dataclass built once from a plain mapping (:meth:`Section.from_dict`, which names
an unknown or missing key) and read by attribute; :meth:`Section.to_dict` gives the plain dict back. Lists
become :class:`FrozenList` (tuples equal to the list) and free-form tables (datasets, approaches, loss weights)
:class:`FrozenMap`, a read-only mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, fields, replace
from typing import Any, ClassVar, Iterator

from defmo.errors import UserError


class SettingsError(UserError):
    """A configuration that does not fit its section: the message names the key."""


class FrozenMap(Mapping):
    """A read-only mapping that keeps its keys' order (a section's free-form table: datasets, approaches)."""

    def __init__(self, data: Mapping | None = None) -> None:
        self._data = dict(data or {})

    def __getitem__(self, key):
        return self._data[key]

    def __iter__(self) -> Iterator:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __eq__(self, other) -> bool:
        return isinstance(other, Mapping) and plain(self) == plain(other)

    __hash__ = None

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"


class FrozenList(tuple):
    """A list of params.yaml, frozen: a tuple that still equals the list it came from (``== [3]``)."""

    def __eq__(self, other) -> bool:
        if isinstance(other, list):
            return tuple.__eq__(self, tuple(other))
        return tuple.__eq__(self, other)

    def __ne__(self, other) -> bool:
        return not self == other

    __hash__ = tuple.__hash__


def freeze(value: Any) -> Any:
    """``value`` with every list a :class:`FrozenList` and every mapping a :class:`FrozenMap` (recursively)."""
    if isinstance(value, Mapping):
        return FrozenMap({k: freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return FrozenList(freeze(v) for v in value)
    return value


def plain(value: Any) -> Any:
    """The plain YAML/JSON form of ``value``: sections and mappings as dicts, sequences as lists (recursively)."""
    if isinstance(value, Section):
        return value.to_dict()
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


class Section:
    """Base of the frozen section dataclasses: build from a mapping, read by attribute, give back a plain dict.

    Subclasses name the fields that hold another section in ``NESTED`` (field -> builder of its value).
    A field with ``metadata={"omit_none": True}`` is left out of the plain dict while it is None (an
    optional key of params.yaml that was not given).
    """

    NESTED: ClassVar[dict] = {}

    @classmethod
    def from_dict(cls, mapping: Mapping, where: str = "") -> "Section":
        """Build from ``mapping``; an unknown or missing key is a :class:`SettingsError` naming it."""
        prefix = f"{where}." if where else ""
        cls._check_keys(mapping, where, prefix)
        nested = cls.NESTED
        built = {k: nested[k](v, f"{prefix}{k}") if k in nested else freeze(v) for k, v in mapping.items()}
        return cls(**built)

    @classmethod
    def _check_keys(cls, mapping: Mapping, where: str, prefix: str) -> None:
        """The keys of ``mapping`` are exactly the fields (those with a default may be left out)."""
        if not isinstance(mapping, Mapping):
            raise SettingsError(f"key '{where or '<top level>'}' must be a mapping, not {mapping!r}")
        names = [f.name for f in fields(cls)]
        unknown = [k for k in mapping if k not in names]
        if unknown:
            allowed = ", ".join(sorted(names))
            raise SettingsError(f"key '{prefix}{unknown[0]}': unknown key (allowed here: {allowed})")
        missing = [k for k in cls._required() if k not in mapping]
        if missing:
            raise SettingsError(f"key '{prefix}{missing[0]}': missing")

    @classmethod
    def _required(cls) -> list[str]:
        """The fields without a default."""
        return [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING]

    def _names(self) -> list[str]:
        return [f.name for f in fields(self)
                if not (f.metadata.get("omit_none") and getattr(self, f.name) is None)]

    def __eq__(self, other) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None

    def to_dict(self) -> dict:
        """The plain dict this section was built from (lists, dicts; keys in the section's order)."""
        return {name: plain(getattr(self, name)) for name in self._names()}

    def replace(self, **changes) -> "Section":
        """A copy with ``changes`` applied (the frozen way to make a variant)."""
        return replace(self, **changes)


def table(builder):
    """Builder of a :class:`FrozenMap` of sections, one per key (``train.approach``)."""

    def build(mapping: Mapping, where: str) -> FrozenMap:
        if not isinstance(mapping, Mapping):
            raise SettingsError(f"key '{where}' must be a mapping, not {mapping!r}")
        return FrozenMap({name: builder.from_dict(spec, f"{where}.{name}") for name, spec in mapping.items()})

    return build
