"""Refuse malformed search spaces before any trial starts, naming the key path."""

from __future__ import annotations

from typing import Any

from ..errors import SearchSpaceError
from ..utils import is_finite_number

__all__ = ["validate_search_space", "SEARCH_SPACE_TYPES"]

# type -> number of values it takes (choice takes a non-empty list of any length)
SEARCH_SPACE_TYPES: dict[str, int | None] = {
    "choice": None, "randint": 2, "uniform": 2, "quniform": 3, "loguniform": 2, "qloguniform": 3,
    "normal": 2, "qnormal": 3, "lognormal": 2, "qlognormal": 3,
}


def _check_entry(path: str, spec: Any) -> None:
    if not isinstance(spec, dict) or "_type" not in spec or "_value" not in spec:
        raise SearchSpaceError(f"search space '{path}': each entry must be a dict with '_type' and '_value', got {spec!r}")
    extra = set(spec) - {"_type", "_value"}
    if extra:
        raise SearchSpaceError(f"search space '{path}': unexpected keys {sorted(extra)} beside '_type' and '_value'")
    kind, value = spec["_type"], spec["_value"]
    if kind not in SEARCH_SPACE_TYPES:
        raise SearchSpaceError(f"search space '{path}': unknown _type {kind!r} "
                               f"(known: {', '.join(SEARCH_SPACE_TYPES)})")
    if not isinstance(value, (list, tuple)):
        raise SearchSpaceError(f"search space '{path}': _value of {kind} must be a list, got {value!r}")
    if kind == "choice":
        if not value:
            raise SearchSpaceError(f"search space '{path}': choice needs at least one option")
        names = set()
        for index, option in enumerate(value):
            if isinstance(option, dict):
                if "_name" not in option:
                    raise SearchSpaceError(f"search space '{path}[{index}]': a nested choice option must "
                                           f"carry '_name', got {option!r}")
                if option["_name"] in names:
                    raise SearchSpaceError(f"search space '{path}[{index}]': duplicate _name {option['_name']!r}")
                names.add(option["_name"])
                sub = {k: v for k, v in option.items() if k != "_name"}
                _check_space(sub, f"{path}[{index}]")
        return
    arity = SEARCH_SPACE_TYPES[kind]
    if len(value) != arity:
        raise SearchSpaceError(f"search space '{path}': {kind} takes {arity} values, got {len(value)}: {list(value)!r}")
    if not all(is_finite_number(v) for v in value):
        raise SearchSpaceError(f"search space '{path}': {kind} values must be finite numbers, got {list(value)!r}")
    if kind in ("normal", "qnormal", "lognormal", "qlognormal"):
        if value[1] <= 0:
            raise SearchSpaceError(f"search space '{path}': {kind} needs sigma > 0, got {value[1]!r}")
    elif kind == "randint" and value[0] >= value[1]:
        raise SearchSpaceError(f"search space '{path}': randint needs lower < upper (upper is excluded), "
                               f"got {list(value)!r}")
    elif value[0] > value[1]:  # low == high is NNI's degenerate range: that constant
        raise SearchSpaceError(f"search space '{path}': {kind} needs low <= high, got {list(value)!r}")
    if kind == "randint" and (int(value[0]) != value[0] or int(value[1]) != value[1]):
        raise SearchSpaceError(f"search space '{path}': randint bounds must be integers, got {list(value)!r}")
    if kind in ("loguniform", "qloguniform") and value[0] <= 0:
        raise SearchSpaceError(f"search space '{path}': {kind} needs low > 0, got {value[0]!r}")
    if arity == 3 and value[2] <= 0:
        raise SearchSpaceError(f"search space '{path}': {kind} needs q > 0, got {value[2]!r}")


def _check_space(space: Any, prefix: str) -> None:
    if not isinstance(space, dict):
        raise SearchSpaceError(f"search space{' ' + repr(prefix) if prefix else ''}: must be a dict of "
                               f"name -> {{'_type': ..., '_value': ...}}, got {type(space).__name__}")
    for name, spec in space.items():
        _check_entry(f"{prefix}.{name}" if prefix else str(name), spec)


def validate_search_space(space: Any) -> None:
    """Raise SearchSpaceError naming the first malformed entry's key path."""
    _check_space(space, "")
