"""Base of every config class: snake_case in Python, camelCase in YAML/JSON, translated here alone.

Keys are matched ignoring case and underscores (as NNI does), unknown keys are refused by name, and
every validation error is turned into a :class:`~nni.errors.ConfigError` that names the key (and
the file, when the config came from one).
"""

from __future__ import annotations

import os.path
import re
import types
import typing
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import to_jsonable_python

from ..errors import ConfigError
from ..metrics import metric_number, short_repr

__all__ = ["ConfigBase", "normalize_key", "config_error_from", "parse_duration", "camel_path", "real_path"]


def normalize_key(key: str) -> str:
    return key.replace("_", "").replace("-", "").lower()


def camel_path(loc: tuple[Any, ...]) -> str:
    parts = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + to_camel(str(item)))
    return "".join(parts)


def config_error_from(error: ValidationError, source: str | None = None, prefix: str = "") -> ConfigError:
    """Turn pydantic's report into one readable message naming each bad key in camelCase."""
    lines = []
    for item in error.errors():
        loc = tuple(x for x in item["loc"] if not (isinstance(x, str) and x.endswith("Config") and x[0].isupper()))
        key = camel_path(loc)
        key = (f"{prefix}.{key}" if key else prefix) if prefix else key or "config"
        message = item["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, "):]
        lines.append(f"{key}: {message}")
    where = f"{source}: " if source else ""
    return ConfigError(where + "; ".join(lines))


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_MAX_DURATION = 1e12
"""Past this an event loop's timer stops being exact; no experiment runs that long anyway."""


def parse_duration(value: str | int | float) -> float:
    """Seconds in '30s', '10m', '2h', '1d' or a plain number of seconds (finite, at most ~31,700 years)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = metric_number(value)
        if seconds is None or seconds <= 0:
            raise ValueError(f"duration must be a positive finite number, got {short_repr(value, 100)}")
    else:
        match = _DURATION.match(str(value))
        seconds = float(match.group(1)) * _UNIT[match.group(2)] if match else 0.0
        if seconds <= 0:
            raise ValueError(f"duration must look like '30s', '10m', '2h', '1d' or a number of seconds, "
                             f"got {short_repr(value, 100)}")
    if seconds > _MAX_DURATION:
        raise ValueError(f"duration must be at most {_MAX_DURATION:.0f} seconds, got {short_repr(value, 100)}")
    return seconds


def _numeric_only(annotation: Any) -> bool:
    """Whether a field typed ``annotation`` takes numbers but not booleans (``int | None``, not ``bool | int``)."""
    leaves: set[Any] = set()
    pending = [annotation]
    while pending:
        item = pending.pop()
        origin = typing.get_origin(item)
        if origin in (typing.Union, types.UnionType, typing.Annotated):
            pending.extend(typing.get_args(item)[:1] if origin is typing.Annotated else typing.get_args(item))
        else:
            leaves.add(item)
    return bool(leaves & {int, float}) and bool not in leaves and Any not in leaves


def _list_item(annotation: Any) -> Any:
    """The item type of the ``list[...]`` member of ``annotation``, if it has one."""
    members = typing.get_args(annotation) if typing.get_origin(annotation) in (typing.Union, types.UnionType) else (annotation,)
    for member in members:
        if typing.get_origin(member) is list and typing.get_args(member):
            return typing.get_args(member)[0]
    return None


_Config = TypeVar("_Config", bound="ConfigBase")


def real_path(path: str | Path, base: Path | None = None) -> Path:
    """``path`` with ``~`` expanded, made absolute against ``base`` (default: the current folder), links resolved."""
    expanded = os.path.expanduser(path)
    return Path(os.path.realpath(os.path.join(base or os.getcwd(), expanded)))


def _json_value(value: Any) -> Any:
    if isinstance(value, ConfigBase):
        return value._json_dict()
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return to_jsonable_python(value)


class ConfigBase(BaseModel):
    """Shared behaviour: key matching, camelCase output, readable errors."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        validate_assignment=True,
        arbitrary_types_allowed=True,
    )

    @model_validator(mode="before")
    @classmethod
    def _match_keys(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        known = {}
        for name, field in cls.model_fields.items():
            known[normalize_key(name)] = name
            if field.alias:
                known[normalize_key(field.alias)] = name
        result: dict[str, Any] = {}
        for key, value in data.items():
            target = known.get(normalize_key(str(key)))
            if target is None:
                raise ValueError(f"unknown key {key!r} (known keys: {', '.join(sorted(to_camel(n) for n in cls.model_fields))})")
            result[target] = value
        return result

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_number(cls, value: Any, info: ValidationInfo) -> Any:
        # pydantic's lax mode reads True as 1: `trialConcurrency: true` must be refused, not run one trial
        field = cls.model_fields.get(info.field_name or "")
        if field is None:
            return value
        item = _list_item(field.annotation)
        values = value if isinstance(value, list) and item is not None else [value]
        annotation = item if isinstance(value, list) and item is not None else field.annotation
        if any(isinstance(v, bool) for v in values) and _numeric_only(annotation):
            raise ValueError(f"must be a number, not the boolean {next(v for v in values if isinstance(v, bool))}")
        return value

    _omit_unless_set: ClassVar[frozenset[str]] = frozenset()
    """Fields left out of :meth:`json` unless given (NNI omits an unset ``classArgs``; our extensions
    stay out of a config that does not use them, so its canonical form is NNI's)."""

    def json(self) -> dict[str, Any]:  # type: ignore[override]
        """NNI's ``config.json()``: the canonical form as a JSON-ready dict, camelCase keys, None left out.

        Unlike NNI's it does not also validate (``validate()`` does): a half-built config still renders.
        """
        return self.canonical_copy()._json_dict()

    def canonical_copy(self: _Config) -> _Config:
        """A deep copy in NNI's canonical form: absolute real paths, defaults and shortcuts filled in."""
        copy = self.model_copy(deep=True)
        copy._canonicalize([])
        return copy

    def _canonicalize(self, parents: list[ConfigBase]) -> None:
        """Resolve path fields against the current folder, then canonicalise the nested configs.

        ``parents`` are the enclosing configs, nearest first (a training service reads the root's
        shortcut fields from them).
        """
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, Path):
                setattr(self, name, real_path(value))
            for child in value if isinstance(value, list) else [value]:
                if isinstance(child, ConfigBase):
                    child._canonicalize([self, *parents])

    def _json_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if value is None or (name in self._omit_unless_set and name not in self.model_fields_set):
                continue
            out[field.alias or name] = _json_value(value)
        return out

    @classmethod
    def from_dict(cls, data: Any, source: str | None = None, base_path: Path | None = None) -> Any:
        """Build and validate from plain data (YAML/JSON), naming ``source`` in errors."""
        try:
            config = cls.model_validate(data, context={"base_path": base_path})
        except ValidationError as error:
            raise config_error_from(error, source) from None
        return config

    def __setattr__(self, name: str, value: Any) -> None:
        try:
            super().__setattr__(name, value)
        except ValidationError as error:
            raise config_error_from(error) from None
