"""config.json's fields, each read once through a typed reader that checks it, when a model
is opened.

    config = Config(raw, "model/config.json")
    n_heads = config.integer("num_attention_heads")                 # a whole number >= 1
    eps = config.number("layer_norm_eps", above=0, high=1, default=1e-12)
    causal = config.boolean("is_decoder", default=False)

A reader refuses a value of the wrong type or outside its range with one AttnError that names
the field: "model/config.json: 'layer_norm_eps' must be a number above 0 and at most 1, got -1".
Each reader also records the field, its kind and its bounds (Field): after a family's
configure, `Config.fields` is its table of validated fields (Model.fields), which the tests
sweep with hostile values. A family keeps what the readers return and never the dict itself,
so no field is read later, unchecked.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

from attncli.errors import AttnError

# no size, count, length or token id in a checkpoint comes near this; above it, products of
# two such numbers would leave int64
INT_MAX = 2**31 - 1
# a model's layers: lists with one entry per layer (sliding windows, layer kinds) are built
# when it is opened, before any weight is read
MAX_LAYERS = 65_536


@dataclass(frozen=True)
class Field:
    """One config.json field as a family reads it: where it sits, its kind and its bounds."""

    path: tuple[str, ...]  # ("rope_parameters", "factor"): keys from the top of config.json
    kind: str  # integer, number, boolean, choice, numbers, choices, strings or section
    low: float | None = None  # the least value allowed (or, with above, the bound below it)
    high: float | None = None  # the largest value allowed
    above: bool = False  # low itself is refused
    options: tuple[str, ...] = ()  # a choice's (or each of choices') allowed values
    length: int | None = None  # a list's required length

    @property
    def name(self) -> str:
        return ".".join(self.path)


def shown(value: object) -> str:
    """A config value as config.json writes it, on one line and at most 60 characters."""
    try:
        text = json.dumps(value, ensure_ascii=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _range(low: float | None, high: float | None, above: bool) -> str:
    """'from 1 to 10', 'above 0 and at most 1', 'of at least 0', ..."""
    lo = None if low is None else f"{low:,}" if isinstance(low, int) else f"{low:g}"
    hi = None if high is None else f"{high:,}" if isinstance(high, int) else f"{high:g}"
    if lo is not None and hi is not None:
        return f"above {lo} and at most {hi}" if above else f"from {lo} to {hi}"
    if lo is not None:
        return f"above {lo}" if above else f"of at least {lo}"
    return "" if hi is None else f"of at most {hi}"


class Bounds(TypedDict, total=False):
    """A number's range, as number() and optional_number() take it (**bounds)."""

    low: float
    high: float
    above: bool


class Config:
    """A config.json object (or one of its sections) read through checking readers."""

    def __init__(self, raw: Mapping[str, Any], where: str = "config.json", *,
                 path: tuple[str, ...] = (), fields: list[Field] | None = None) -> None:
        self._raw = raw
        self.where = where
        self.path = path
        self.fields: list[Field] = [] if fields is None else fields  # shared with sections

    # ---- the readers ----

    def integer(self, *keys: str, low: int = 1, high: int = INT_MAX,
                default: int | None = None) -> int:
        """A whole number in [low, high] (a size or a count unless told: at least 1); the
        first of keys that is set (transformers renames some across versions), else default."""
        value = self.optional_integer(*keys, low=low, high=high)
        return self._default(keys, value, default)

    def optional_integer(self, *keys: str, low: int = 1, high: int = INT_MAX) -> int | None:
        """integer(), or None when none of keys is set."""
        key, value = self._first(keys)
        field = self._record(key, "integer", low=low, high=high)
        if value is None:
            return None
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # 2048.0 is 2048
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self._refuse(field, f"a whole number {_range(low, high, False)}", value)
        return value

    def number(self, *keys: str, low: float | None = None, high: float | None = None,
               above: bool = False, default: float | None = None) -> float:
        """A finite number in its range: from low (above low, with above) to high."""
        value = self.optional_number(*keys, low=low, high=high, above=above)
        return self._default(keys, value, default)

    def optional_number(self, *keys: str, low: float | None = None, high: float | None = None,
                        above: bool = False) -> float | None:
        """number(), or None when none of keys is set."""
        key, value = self._first(keys)
        field = self._record(key, "number", low=low, high=high, above=above)
        if value is None:
            return None
        if not _in_range(value, low, high, above):
            raise self._refuse(field, f"a number {_range(low, high, above)}".rstrip(), value)
        return float(value)

    def boolean(self, key: str, *, default: bool) -> bool:
        """true or false (default when not set)."""
        value = self._raw.get(key)
        field = self._record(key, "boolean")
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self._refuse(field, "true or false", value)
        return value

    def choice(self, *keys: str, options: Sequence[str], default: str | None = None) -> str:
        """One of options (default when none of keys is set)."""
        value = self.optional_choice(*keys, options=options)
        return self._default(keys, value, default)

    def optional_choice(self, *keys: str, options: Sequence[str]) -> str | None:
        """choice(), or None when none of keys is set."""
        key, value = self._first(keys)
        field = self._record(key, "choice", options=tuple(options))
        if value is None:
            return None
        if not isinstance(value, str) or value not in options:
            raise self._refuse(field, f"one of {', '.join(map(repr, options))}", value)
        return value

    def numbers(self, key: str, *, length: int, low: float, high: float) -> list[float]:
        """A list of length numbers, each from low to high."""
        value = self._raw.get(key)
        field = self._record(key, "numbers", low=low, high=high, length=length)
        if (not isinstance(value, list) or len(value) != length
                or not all(_in_range(v, low, high, False) for v in value)):
            raise self._refuse(field, f"a list of {length} numbers, each "
                               f"{_range(low, high, False)}", value)
        return [float(v) for v in value]

    def choices(self, key: str, *, options: Sequence[str], length: int) -> list[str] | None:
        """A list of length strings, each one of options, or None when not set (or empty)."""
        value = self._raw.get(key)
        field = self._record(key, "choices", options=tuple(options), length=length)
        if value is None or value == []:
            return None
        if (not isinstance(value, list) or len(value) != length
                or not all(isinstance(v, str) and v in options for v in value)):
            raise self._refuse(field, f"a list of {length} names, each one of "
                               f"{', '.join(map(repr, options))}", value)
        return list(value)

    def whole_numbers(self, key: str, *, low: int = 1, high: int = INT_MAX) -> list[int]:
        """One whole number or a list of them, each in [low, high] ([] when not set)."""
        value = self._raw.get(key)
        field = self._record(key, "whole numbers", low=low, high=high)
        if value is None:
            return []
        values = value if isinstance(value, list) else [value]
        if not all(isinstance(v, int) and not isinstance(v, bool) and low <= v <= high
                   for v in values):
            raise self._refuse(field, f"a whole number or a list of them, each "
                               f"{_range(low, high, False)}", value)
        return list(values)

    def strings(self, key: str) -> list[str]:
        """A list of strings ([] when not set)."""
        value = self._raw.get(key)
        field = self._record(key, "strings")
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._refuse(field, "a list of names", value)
        return list(value)

    def section(self, *keys: str) -> Config:
        """A nested object (rope_parameters): the first of keys that is set, else an empty one."""
        key, value = self._first(keys)
        field = self._record(key, "section")
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            raise self._refuse(field, "an object", value)
        return Config(value, self.where, path=(*self.path, key), fields=self.fields)

    def has(self, key: str) -> bool:
        """Whether key is set (not null): the form some families branch on; the value itself
        is read through a reader."""
        return self._raw.get(key) is not None

    def check(self, condition: bool, message: str) -> None:
        """Refuse a relation between fields that does not hold: message names them."""
        if not condition:
            raise AttnError(f"{self.where}: {message}")

    # ---- helpers ----

    def name(self, key: str) -> str:
        """A field's name as messages give it, with its section: 'rope_parameters.factor'."""
        return ".".join((*self.path, key))

    def _first(self, keys: Sequence[str]) -> tuple[str, Any]:
        for key in keys:
            value = self._raw.get(key)
            if value is not None:
                return key, value
        return keys[0], None

    def _default(self, keys: Sequence[str], value: Any, default: Any) -> Any:
        if value is None:
            if default is None:
                raise AttnError(f"{self.where}: no '{self.name(keys[0])}'")
            return default
        return value

    def _record(self, key: str, kind: str, **bounds: Any) -> Field:
        field = Field((*self.path, key), kind, **bounds)
        if field not in self.fields:
            self.fields.append(field)
        return field

    def _refuse(self, field: Field, what: str, value: object) -> AttnError:
        return AttnError(f"{self.where}: '{field.name}' must be {what}, got {shown(value)}")


def _in_range(value: object, low: float | None, high: float | None, above: bool) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if isinstance(value, float) and not math.isfinite(value):
        return False
    if low is not None and (value <= low if above else value < low):
        return False
    return high is None or value <= high


def as_config(config: Config | Mapping[str, Any]) -> Config:
    """config itself, or a plain dict (a test's, a section built in code) read as one."""
    return config if isinstance(config, Config) else Config(config)
