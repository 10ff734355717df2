"""Small helpers shared by tuners and assessors (NNI's ``nni.utils``)."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from enum import Enum
from numbers import Real
from pathlib import Path
from typing import Any, get_args

from . import typehint
from .metrics import metric_number

__all__ = [
    "OptimizeMode", "parse_optimize_mode", "MetricType", "NodeType", "ClassArgsValidator", "extract_scalar_reward",
    "extract_scalar_history", "is_finite_number", "merge_parameter", "split_index", "convert_dict2tuple",
    "json2space", "json2parameter",
]


_MINIMIZE, _MAXIMIZE = get_args(typehint.OptimizeMode)


class OptimizeMode(str, Enum):
    """NNI's optimize modes; the values are those of :data:`nni.typehint.OptimizeMode`.

    A ``str`` Enum, so a member also equals its value (``mode == "maximize"``), as code written
    against the plain strings of ``classArgs`` expects.
    """

    Minimize = _MINIMIZE
    Maximize = _MAXIMIZE


def parse_optimize_mode(mode: Any, owner: str | None = None) -> OptimizeMode:
    """'minimize' / 'maximize' (any case) as an OptimizeMode; ValueError naming the valid values.

    ``owner`` (e.g. ``"GP"``) starts the message, so a refused ``classArgs`` says whose it was.
    """
    if isinstance(mode, OptimizeMode):
        return mode
    if isinstance(mode, str):
        for member in OptimizeMode:
            if member.value == mode.lower():
                return member
    prefix = f"{owner}: " if owner else ""
    raise ValueError(f"{prefix}optimize_mode must be 'minimize' or 'maximize', got {mode!r}")


class NodeType:
    """The keys of NNI's search-space JSON and of the indexed form used by Evolution-style tuners."""

    ROOT = "root"
    TYPE = "_type"
    VALUE = "_value"
    INDEX = "_index"
    NAME = "_name"


class MetricType:
    """Kinds of metric a trial reports."""

    FINAL = "FINAL"
    PERIODICAL = "PERIODICAL"
    REQUEST_PARAMETER = "REQUEST_PARAMETER"


def is_finite_number(value: Any) -> bool:
    """True for a real, finite number (bools excluded)."""
    return not isinstance(value, dict) and metric_number(value) is not None


def extract_scalar_reward(value: Any, scalar_key: str = "default") -> float:
    """Reduce a metric (number or dict holding ``scalar_key``) to a float."""
    if isinstance(value, dict) and isinstance(value.get(scalar_key), Real) and not isinstance(value[scalar_key], bool):
        value = value[scalar_key]
    if isinstance(value, Real) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:  # an integer past float's range: an infinity, which tuners skip
            return -math.inf if value < 0 else math.inf
    raise RuntimeError(f"Incorrect final result: the final result should be a number or a dict with a "
                       f"numeric '{scalar_key}' key, got {value!r}")


def extract_scalar_history(trial_history: list[Any], scalar_key: str = "default") -> list[float]:
    """Reduce every intermediate result of a trial to a float."""
    return [extract_scalar_reward(item, scalar_key) for item in trial_history]


def split_index(params: Any) -> Any:
    """Strip the ``{"_index": i, "_value": v}`` wrappers from indexed parameters, keeping ``v``."""
    if isinstance(params, dict):
        if NodeType.INDEX in params:
            return split_index(params[NodeType.VALUE])
        return {key: split_index(value) for key, value in params.items()}
    return params


def convert_dict2tuple(value: Any) -> Any:
    """Turn (nested) dicts into sorted tuples of items, so they can be hashed.

    As in NNI, the dicts inside ``value`` are converted in place.
    """
    if isinstance(value, dict):
        for key in value:
            value[key] = convert_dict2tuple(value[key])
        return tuple(sorted(value.items()))
    return value


def _require_names(options: list[Any]) -> None:
    if any(isinstance(option, dict) and NodeType.NAME not in option for option in options):
        raise RuntimeError("'_name' key is not found in this nested search space.")


def json2space(x: Any, oldy: Any = None, name: str = NodeType.ROOT) -> list[str]:
    """The names of the parameters in a search space, NNI's ``root[key]-type`` paths.

    With ``oldy`` (an indexed parameter set from :func:`json2parameter`), only the branches its
    choices took are listed.
    """
    names: list[str] = []
    if isinstance(x, dict):
        if NodeType.TYPE in x:
            name = f"{name}-{x[NodeType.TYPE]}"
            if x[NodeType.TYPE] == "choice":
                if oldy is not None:
                    index = oldy[NodeType.INDEX]
                    names += json2space(x[NodeType.VALUE][index], oldy[NodeType.VALUE], f"{name}[{index}]")
                else:
                    names += json2space(x[NodeType.VALUE], None, name)
            names.append(name)
        else:
            for key in x:
                names += json2space(x[key], oldy[key] if oldy else None, f"{name}[{key}]")
    elif isinstance(x, list):
        _require_names(x)
        for i, item in enumerate(x):
            names += json2space(item, oldy[i] if oldy else None, f"{name}[{i}]")
    return names


def _clip(value: float, low: float, high: float) -> float:
    return float(min(max(value, low), high))


def _quantize(value: float, q: float) -> float:
    # round() alone gives an int; NNI's q-types are floats
    return float(round(value / q)) * q


def _sample(kind: str, values: list[Any], random_state: Any) -> Any:
    """Draw one value of a non-choice parameter from a ``numpy.random.RandomState``."""
    if kind == "randint":
        return random_state.randint(values[0], values[1])
    if kind in ("uniform", "quniform"):
        value = random_state.uniform(values[0], values[1])
        return value if kind == "uniform" else _clip(_quantize(value, values[2]), values[0], values[1])
    if kind in ("loguniform", "qloguniform"):
        value = math.exp(random_state.uniform(math.log(values[0]), math.log(values[1])))
        return value if kind == "loguniform" else _clip(_quantize(value, values[2]), values[0], values[1])
    if kind in ("normal", "qnormal", "lognormal", "qlognormal"):
        value = random_state.normal(values[0], values[1])
        if kind.endswith("lognormal"):
            value = math.exp(value)
        return value if kind in ("normal", "lognormal") else _quantize(value, values[2])
    raise RuntimeError(f"unknown search space type {kind!r}")


def json2parameter(x: Any, is_rand: dict[str, bool], random_state: Any, oldy: Any = None,
                   Rand: bool = False, name: str = NodeType.ROOT) -> Any:  # noqa: N803 - NNI's name
    """Sample an indexed parameter set from a search space (what NNI's Evolution tuner mutates).

    ``is_rand`` maps each :func:`json2space` name to whether it is drawn afresh; the others are
    copied from ``oldy``. A choice becomes ``{"_index": i, "_value": option}``; :func:`split_index`
    gives the plain parameters back.
    """
    if isinstance(x, dict):
        if NodeType.TYPE not in x:
            return {key: json2parameter(x[key], is_rand, random_state, oldy[key] if oldy else None, Rand,
                                        f"{name}[{key}]") for key in x}
        kind, values = x[NodeType.TYPE], x[NodeType.VALUE]
        name = f"{name}-{kind}"
        Rand = Rand or is_rand[name]  # noqa: N806 - NNI's name
        if not Rand:
            return copy.deepcopy(oldy)
        if kind == "choice":
            index = random_state.randint(len(values))
            return {NodeType.INDEX: index,
                    NodeType.VALUE: json2parameter(values[index], is_rand, random_state, None, Rand,
                                                   f"{name}[{index}]")}
        return _sample(kind, values, random_state)
    if isinstance(x, list):
        _require_names(x)
        return [json2parameter(item, is_rand, random_state, oldy[i] if oldy else None, Rand, f"{name}[{i}]")
                for i, item in enumerate(x)]
    return copy.deepcopy(x)


def merge_parameter(base_params: Any, override_params: dict[str, Any] | None) -> Any:
    """Update ``base_params`` (an argparse namespace or a dict) in place with ``override_params``.

    Typical use: ``merge_parameter(parser.parse_args(), nni.get_next_parameter())``. Every key must
    already exist in ``base_params``, and its value keep the type there (an int may replace a float);
    a mismatch is a ``ValueError`` naming the key. Returns ``base_params`` for convenience.
    """
    if override_params is None:
        return base_params
    is_dict = isinstance(base_params, dict)
    for key, value in override_params.items():
        present = key in base_params if is_dict else hasattr(base_params, key)
        if not present:
            raise ValueError(f"Key '{key}' not found in base parameters.")
        base = base_params[key] if is_dict else getattr(base_params, key)
        value = _compatible(key, base, value)
        if is_dict:
            base_params[key] = value
        else:
            setattr(base_params, key, value)
    return base_params


def _compatible(key: str, base: Any, override: Any) -> Any:
    if base is None or isinstance(override, type(base)):
        return override
    if isinstance(base, float) and isinstance(override, int):
        return float(override)
    raise ValueError(f'Expected "{key}" in override parameters to have type {type(base).__name__}, '
                     f"but found {type(override).__name__}")


class _Check:
    """A predicate with a message: calling it returns True or raises ``ValueError(message)``.

    Being a plain callable, it also works inside ``schema.Schema``/``schema.And``, which is how NNI's
    validators use these helpers.
    """

    def __init__(self, predicate: Callable[[Any], bool], message: str) -> None:
        self.predicate, self.message = predicate, message

    def __call__(self, value: Any) -> bool:
        try:
            ok = self.predicate(value)
        except ValueError:
            raise
        except Exception:  # e.g. comparing a str with an int: just an invalid value
            ok = False
        if not ok:
            raise ValueError(self.message)
        return True

    def validate(self, value: Any) -> Any:
        """Return ``value`` when it passes (``schema``'s validator protocol)."""
        self(value)
        return value


class ClassArgsValidator:
    """Checks a custom algorithm's ``classArgs`` before the experiment starts (NNI's interface).

    Subclass it, override :meth:`validate_class_args` and raise an exception (an ``AssertionError``
    is fine) whose message says which key is wrong; the start is then refused with that message.
    """

    def validate_class_args(self, **kwargs: Any) -> None:
        """Raise if ``kwargs`` (the ``classArgs`` given to the constructor) are invalid."""

    def choices(self, key: str, *args: Any) -> _Check:
        """A check that a value is one of ``args``."""
        return _Check(lambda value: value in args, f"{key} should be in [{args}]!")

    def range(self, key: str, keyType: type, start: Any, end: Any) -> _Check:  # noqa: N803 - NNI's name
        """A check that a value has type ``keyType`` and lies in ``[start, end]``."""
        def predicate(value: Any) -> bool:
            if not isinstance(value, keyType):
                raise ValueError(f"{key} should be {keyType.__name__} type!")
            return start <= value <= end

        return _Check(predicate, f"{key} should be in range of ({start}, {end})!")

    def path(self, key: str) -> _Check:
        """A check that a value is a string naming an existing path."""
        return _Check(lambda value: isinstance(value, str) and Path(value).exists(),
                      f"{key} path does not exist!")
