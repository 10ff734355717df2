"""Parsed search space: parameter specs, sampling, a shared numeric encoding and config keys."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from numbers import Integral, Real
from typing import Any

import numpy as np

from ..errors import SearchSpaceError
from .validation import validate_search_space

__all__ = [
    "ParameterSpec", "SearchSpace", "ConfigHistory", "parse_search_space", "config_key", "check_supported_types",
    "NUMERIC_TYPES", "NORMAL_TYPES", "Key",
]

Key = tuple["str | int", ...]

NUMERIC_TYPES = frozenset({"randint", "uniform", "quniform", "loguniform", "qloguniform",
                           "normal", "qnormal", "lognormal", "qlognormal"})
NORMAL_TYPES = frozenset({"normal", "qnormal", "lognormal", "qlognormal"})

# Normal-type coordinates are Phi((x - mu) / sigma); clipping u keeps ndtri finite.
_U_EPS = 1e-12


@dataclass(frozen=True)
class ParameterSpec:
    """One parameter of a (possibly nested) search space.

    ``key`` is the path NNI uses: ``("lr",)`` at top level, ``("model", 1, "depth")`` for ``depth``
    inside option 1 of choice ``model``. ``index`` is the column of this parameter in encoded
    vectors. Numeric ranges are in internal scale: log of the value for log types.
    """

    key: Key
    type: str
    values: tuple[Any, ...]
    index: int
    is_categorical: bool
    n_choices: int = 0
    """Number of options of a choice; 0 for numeric parameters."""
    low: float = 0.0
    """Bounded types: lower end in internal scale (randint: the integer lower bound)."""
    high: float = 0.0
    """Bounded types: upper end in internal scale (randint: the exclusive integer upper bound)."""
    mu: float = 0.0
    """Normal types: mean in internal scale (lognormal's mu is already in log space)."""
    sigma: float = 1.0
    """Normal types: standard deviation in internal scale."""
    q: float | None = None
    clip: tuple[float, float] | None = None
    """q(log)uniform: the original [low, high] the rounded value is clipped to."""
    log: bool = False
    normal: bool = False
    integer: bool = False
    """randint: values are integers, ``low <= value < high``."""
    condition: tuple[int, int] | None = None
    """(column of the parent choice, option index) that must be chosen for this one to be active."""
    nested: tuple[bool, ...] = ()
    """choice: for each option, whether it is a nested sub-space (a dict carrying ``_name``)."""
    children: tuple[int, ...] = field(default=())
    """choice: columns of the parameters directly inside its nested options."""
    _scalar_options: dict[tuple[str, Any], int] = field(init=False, repr=False, compare=False)
    """choice: the index of each plain scalar option, by :func:`_scalar_key` (a replay of 100,000
    results looks options up 200,000 times)."""

    def __post_init__(self) -> None:
        lookup: dict[tuple[str, Any], int] = {}
        for index, option in enumerate(self.values if self.is_categorical else ()):
            key = None if self.nested[index] else _scalar_key(option)
            if key is not None:
                lookup.setdefault(key, index)
        object.__setattr__(self, "_scalar_options", lookup)

    @property
    def name(self) -> str:
        return str(self.key[-1])

    @property
    def path(self) -> str:
        """The key path as error messages print it, e.g. ``model[1].depth``."""
        text = ""
        for part in self.key:
            text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
        return text

    @property
    def is_nested_choice(self) -> bool:
        return any(self.nested)

    @property
    def bounded(self) -> bool:
        """Whether the value has a finite range (everything except the normal family)."""
        return not self.normal

    @property
    def grid(self) -> list[Any] | None:
        """All values this parameter can take when that set is finite, else None."""
        if self.is_categorical:
            return list(self.values)
        if self.integer:
            return list(range(int(self.low), int(self.high)))
        if self.bounded and self.low == self.high:  # a degenerate range, as NNI allows: one constant
            return [self.from_unit(0.0)]
        if self.q is not None and self.clip is not None:
            lo, hi = self.clip
            values = sorted({self.quantize(k * self.q) for k in range(round(lo / self.q), round(hi / self.q) + 1)})
            return values
        return None

    def quantize(self, value: float) -> float:
        """Apply this parameter's q-rounding and clipping to a value in the original scale."""
        if self.q is not None:
            value = _round_to(round(value / self.q), self.q)
        if self.clip is not None:
            value = min(max(value, self.clip[0]), self.clip[1])
        return float(value)

    def from_unit(self, u: float) -> Any:
        """Map a unit coordinate (or a categorical index) to this parameter's user value."""
        if self.is_categorical:
            return self.option_value(int(min(max(round(u), 0), self.n_choices - 1)))
        u = min(max(float(u), 0.0), 1.0)
        if self.integer:
            size = int(self.high - self.low)
            return int(self.low) + min(int(u * size), size - 1)
        if self.normal:
            from scipy.special import ndtri  # only normal types need scipy; the manager starts faster without

            x = self.mu + self.sigma * float(ndtri(min(max(u, _U_EPS), 1.0 - _U_EPS)))
        else:
            x = self.low + u * (self.high - self.low)
        if self.log:
            x = math.exp(x)
            if self.clip is None and not self.normal:
                x = min(max(x, self.values[0]), self.values[1])
        return self.quantize(x) if self.q is not None else float(x)

    def to_unit(self, value: Any) -> float:
        """Map a user value to its unit coordinate (or categorical index); ValueError if impossible."""
        if self.is_categorical:
            return float(self.option_index(value))
        if type(value) is not float and type(value) is not int and (  # the common types, without ABC checks
                not isinstance(value, Real) or isinstance(value, bool)):
            raise ValueError(f"{self.path}: expected a finite number, got {value!r}")
        x = float(value)
        if not math.isfinite(x):
            raise ValueError(f"{self.path}: expected a finite number, got {value!r}")
        if self.integer:
            size = self.high - self.low
            return min(max((x - self.low + 0.5) / size, 0.0), 1.0)
        if self.log:
            if x <= 0:
                raise ValueError(f"{self.path}: {self.type} values must be > 0, got {value!r}")
            x = math.log(x)
        if self.normal:
            from scipy.special import ndtr

            return float(ndtr((x - self.mu) / self.sigma))
        if self.high == self.low:
            return 0.0
        return min(max((x - self.low) / (self.high - self.low), 0.0), 1.0)

    def option_value(self, index: int) -> Any:
        """The user value for choice option ``index`` (a nested option gives its ``_name``)."""
        option = self.values[index]
        return option["_name"] if self.nested[index] else option

    def option_index(self, value: Any) -> int:
        """The option index of a user value of this choice; ValueError if it is not an option."""
        key = _scalar_key(value)
        if key is not None and key in self._scalar_options:
            return self._scalar_options[key]
        if isinstance(value, dict) and "_name" in value:
            value = value["_name"]
            for index, option in enumerate(self.values):
                if self.nested[index] and option["_name"] == value:
                    return index
        else:
            wanted = config_key(value)
            for index, option in enumerate(self.values):
                if not self.nested[index] and config_key(option) == wanted:
                    return index
        raise ValueError(f"{self.path}: {value!r} is not one of the choice options")


def _round_to(k: int, q: float) -> float:
    """``k * q`` without binary noise when q has a short decimal form (0.1 * 3 gives 0.3)."""
    value = k * q
    exponent = Decimal(repr(q)).as_tuple().exponent
    if isinstance(exponent, int) and -12 <= exponent < 0:
        value = round(value, -exponent)
    return value


def _scalar_key(value: Any) -> tuple[str, Any] | None:
    """A key equal for two scalars exactly when their :func:`config_key` is (None for others)."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, str)):
        return type(value).__name__, value
    if isinstance(value, (int, float)):
        return "number", repr(float(value))
    return None


def _normalize(value: Any) -> Any:
    kind = type(value)
    if kind is str or kind is float or kind is bool or value is None:  # the common cases, without ABC checks
        return value
    if kind is int:
        return float(value)
    if isinstance(value, dict):
        return {str(k): _normalize(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_normalize(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, Integral):
        return float(value)
    if isinstance(value, Real):
        return float(value)
    return repr(value)


def config_key(params: Any) -> str:
    """A canonical hashable key of a configuration, used for deduplication.

    Dict order does not matter; ``1`` and ``1.0`` are the same value; numpy scalars equal their
    Python counterparts.
    """
    return json.dumps(_normalize(params), sort_keys=True, separators=(",", ":"))


class SearchSpace:
    """A validated, parsed search space shared by all algorithms.

    ``params`` lists every parameter, nested ones included, parents before children; a
    parameter's ``index`` is its column in :meth:`encode` vectors.
    """

    def __init__(self, raw: dict[str, Any]) -> None:
        validate_search_space(raw)
        self.raw = raw
        self.params: list[ParameterSpec] = []
        self._add_space(raw, (), None)
        self.by_key: dict[Key, ParameterSpec] = {p.key: p for p in self.params}
        self.top_level = [p for p in self.params if p.condition is None]

    # -- parsing ---------------------------------------------------------------------------------

    def _add_space(self, space: dict[str, Any], prefix: Key, condition: tuple[int, int] | None) -> list[int]:
        columns = []
        for name, entry in space.items():
            if name == "_name":
                continue
            columns.append(self._add_param((*prefix, name), entry["_type"], list(entry["_value"]), condition))
        return columns

    def _add_param(self, key: Key, kind: str, values: list[Any], condition: tuple[int, int] | None) -> int:
        index = len(self.params)
        if kind == "choice":
            nested = tuple(isinstance(v, dict) and "_name" in v for v in values)
            self.params.append(ParameterSpec(key=key, type=kind, values=tuple(values), index=index,
                                             is_categorical=True, n_choices=len(values), condition=condition,
                                             nested=nested))
            children: list[int] = []
            for option, (value, is_nested) in enumerate(zip(values, nested, strict=True)):
                if is_nested:
                    children += self._add_space(value, (*key, option), (index, option))
            self.params[index] = replace(self.params[index], children=tuple(children))
            return index
        spec: dict[str, Any] = {"key": key, "type": kind, "values": tuple(values), "index": index,
                                "is_categorical": False, "condition": condition}
        if kind == "randint":
            spec.update(low=float(values[0]), high=float(values[1]), integer=True)
        elif kind in NORMAL_TYPES:
            spec.update(mu=float(values[0]), sigma=float(values[1]), normal=True, log=kind.endswith("lognormal"))
        else:
            log = kind.endswith("loguniform")
            low, high = float(values[0]), float(values[1])
            spec.update(low=math.log(low) if log else low, high=math.log(high) if log else high, log=log)
            if kind.startswith("q"):
                spec["clip"] = (low, high)
        if kind.startswith("q"):
            spec["q"] = float(values[2])
        self.params.append(ParameterSpec(**spec))
        return index

    # -- queries ---------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.params)

    @property
    def dim(self) -> int:
        """Length of encoded vectors."""
        return len(self.params)

    @property
    def types(self) -> set[str]:
        """Every ``_type`` used anywhere in the space."""
        return {p.type for p in self.params}

    @property
    def has_nested(self) -> bool:
        return any(p.is_nested_choice for p in self.params)

    @property
    def is_finite(self) -> bool:
        return self.size is not None

    @property
    def size(self) -> int | None:
        """Number of distinct configurations, or None when the space is continuous somewhere."""
        return self._size_of(self.top_level)

    def _size_of(self, specs: Sequence[ParameterSpec]) -> int | None:
        total = 1
        for spec in specs:
            if spec.is_categorical:
                count = 0
                for option in range(spec.n_choices):
                    sub = self._size_of([self.params[c] for c in spec.children
                                         if self.params[c].condition == (spec.index, option)])
                    if sub is None:
                        return None
                    count += sub
            else:
                grid = spec.grid
                if grid is None:
                    return None
                count = len(grid)
            total *= count
        return total

    def active_mask(self, vector: np.ndarray) -> np.ndarray:
        """Which columns of a (possibly partly filled) vector are active given its choices."""
        active = np.ones(self.dim, dtype=bool)
        for spec in self.params:
            if spec.condition is not None:
                parent, option = spec.condition
                value = vector[parent]
                active[spec.index] = bool(active[parent]) and not np.isnan(value) and int(round(value)) == option
        return active

    # -- sampling, encoding ------------------------------------------------------------------------

    def sample_vector(self, rng: np.random.Generator) -> np.ndarray:
        """A uniformly random encoded vector (the prior of every type), NaN where inactive."""
        return self.sample_vectors(rng, 1)[0]

    def sample_vectors(self, rng: np.random.Generator, n: int, mask: bool = True) -> np.ndarray:
        """``n`` random encoded vectors at once, shape (n, dim); ``mask=False`` leaves a value in
        every column (for callers that change choices before masking)."""
        out = rng.random((n, self.dim))
        for spec in self.params:
            if spec.is_categorical:
                out[:, spec.index] = rng.integers(spec.n_choices, size=n)
        return self.mask_inactive(out) if mask else out

    def fill_inactive(self, vector: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Give every NaN column a prior draw, then re-mask: a vector whose choices changed gets
        fresh values for the parameters that became active (and NaN for those that did not)."""
        fresh = rng.random(self.dim)
        for spec in self.params:
            if spec.is_categorical:
                fresh[spec.index] = rng.integers(spec.n_choices)
        filled = np.where(np.isnan(vector), fresh, vector)
        return self.mask_inactive(filled[None, :])[0]

    def mask_inactive(self, vectors: np.ndarray) -> np.ndarray:
        """Set inactive columns of a batch of vectors to NaN (in place) and return it."""
        for spec in self.params:
            if spec.condition is not None:
                parent, option = spec.condition
                column = vectors[:, parent]
                with np.errstate(invalid="ignore"):
                    inactive = np.isnan(column) | (np.round(column) != option)
                vectors[inactive, spec.index] = np.nan
        return vectors

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        """A random configuration in NNI's user format, drawn from each type's distribution."""
        return self.decode(self.sample_vector(rng))

    def decode(self, vector: Sequence[float] | np.ndarray) -> dict[str, Any]:
        """Turn an encoded vector into NNI's user format (nested choice gives ``{'_name': ...}``)."""
        vector = np.asarray(vector, dtype=float)
        if vector.shape != (self.dim,):
            raise ValueError(f"expected a vector of length {self.dim}, got shape {vector.shape}")
        return self._decode_level(self.top_level, vector)

    def _decode_level(self, specs: Sequence[ParameterSpec], vector: np.ndarray) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for spec in specs:
            u = vector[spec.index]
            if np.isnan(u):
                raise ValueError(f"{spec.path}: active parameter has no value (NaN) in the vector")
            value = spec.from_unit(u)
            if spec.is_categorical:
                option = int(min(max(round(u), 0), spec.n_choices - 1))
                if spec.nested[option]:
                    sub = [self.params[c] for c in spec.children if self.params[c].condition == (spec.index, option)]
                    value = {"_name": value, **self._decode_level(sub, vector)}
            out[str(spec.key[-1])] = value
        return out

    def encode(self, params: dict[str, Any]) -> np.ndarray:
        """Turn a user-format configuration into an encoded vector.

        Numeric parameters become unit-cube coordinates (log scale for log types, the normal CDF
        for the normal family, cell centres for randint); choices become their option index;
        inactive conditional parameters are NaN. Raises ValueError when the configuration does not
        fit the space (missing key, unknown option, non-number).
        """
        vector = np.full(self.dim, np.nan)
        self._encode_level(self.top_level, params, vector)
        return vector

    def _encode_level(self, specs: Sequence[ParameterSpec], params: Any, vector: np.ndarray) -> None:
        if not isinstance(params, dict):
            raise ValueError(f"expected a dict of parameters, got {params!r}")
        for spec in specs:
            name = str(spec.key[-1])
            if name not in params:
                raise ValueError(f"{spec.path}: missing from the configuration")
            value = params[name]
            u = spec.to_unit(value)
            vector[spec.index] = u
            if spec.is_categorical and spec.nested[int(u)]:
                sub = [self.params[c] for c in spec.children if self.params[c].condition == (spec.index, int(u))]
                self._encode_level(sub, value, vector)

    def snap(self, vector: np.ndarray) -> np.ndarray:
        """The encoding of what ``vector`` decodes to: q-rounding, integer cells and clipping applied."""
        return self.encode(self.decode(vector))

    def restrict(self, params: dict[str, Any]) -> dict[str, Any]:
        """The top-level parameters of this space in ``params``; other keys (e.g. a budget) dropped."""
        names = {str(spec.key[0]) for spec in self.top_level}
        return {key: value for key, value in params.items() if key in names}

    def contains(self, params: Any) -> bool:
        """Whether ``params`` is a configuration of this space."""
        try:
            self.encode(params)
        except ValueError:
            return False
        return True

    def iter_configs(self) -> Iterator[dict[str, Any]]:
        """Every configuration of a finite space, in a fixed order; ValueError if it is not finite."""
        if self.size is None:
            raise ValueError("the search space is not finite")
        yield from self._iter_level(self.top_level)

    def _iter_level(self, specs: Sequence[ParameterSpec]) -> Iterator[dict[str, Any]]:
        choices: list[list[Any]] = []
        for spec in specs:
            if spec.is_categorical:
                values: list[Any] = []
                for option in range(spec.n_choices):
                    if spec.nested[option]:
                        sub = [self.params[c] for c in spec.children if self.params[c].condition == (spec.index, option)]
                        values += [{"_name": spec.option_value(option), **s} for s in self._iter_level(sub)]
                    else:
                        values.append(spec.values[option])
                choices.append(values)
            else:
                choices.append(spec.grid or [])
        names = [str(s.key[-1]) for s in specs]
        for combo in itertools.product(*choices):
            yield dict(zip(names, combo, strict=True))


def parse_search_space(space: dict[str, Any]) -> SearchSpace:
    """Validate ``space`` (SearchSpaceError naming the key path) and parse it."""
    return SearchSpace(space)


def check_supported_types(space: SearchSpace, algorithm: str, supported: set[str] | frozenset[str],
                          nested: bool = True, suggestion: str = "TPE or Random") -> None:
    """Refuse a space using types an algorithm cannot handle, naming the type, key and an alternative."""
    for spec in space.params:
        if spec.type not in supported:
            raise SearchSpaceError(f"search space '{spec.path}': {algorithm} does not support _type "
                                   f"{spec.type!r} (it supports {', '.join(sorted(supported))}); "
                                   f"use {suggestion}, which support it")
        if spec.is_nested_choice and not nested:
            raise SearchSpaceError(f"search space '{spec.path}': {algorithm} does not support nested choice "
                                   f"(options with '_name'); use {suggestion}, which support it")


class ConfigHistory:
    """Keys of the configurations already proposed or imported, for deduplication.

    A tuner adds every configuration it hands out (and every imported or replayed one); for a
    finite space, :meth:`random_unseen` finds what is left and None means the space is exhausted.
    """

    ENUMERATION_LIMIT = 200_000
    """Finite spaces up to this size are enumerated to find unseen configurations."""

    def __init__(self, space: SearchSpace) -> None:
        self.space = space
        self.keys: set[str] = set()
        self._in_space = 0

    def __len__(self) -> int:
        return len(self.keys)

    def __contains__(self, params: Any) -> bool:
        return config_key(params) in self.keys

    def add(self, params: Any, fits: bool | None = None) -> bool:
        """Record ``params``; False when it had been seen before. ``fits`` says whether it is a
        configuration of the space, when the caller has just encoded it."""
        key = config_key(params)
        if key in self.keys:
            return False
        self.keys.add(key)
        if fits if fits is not None else self.space.contains(params):
            self._in_space += 1
        return True

    @property
    def exhausted(self) -> bool:
        """True when every configuration of a finite space has been seen."""
        size = self.space.size
        return size is not None and self._in_space >= size

    def random_unseen(self, rng: np.random.Generator) -> dict[str, Any] | None:
        """A random configuration not seen yet, or None when the finite space is exhausted.

        Only for finite spaces; spaces larger than ENUMERATION_LIMIT are sampled instead.
        """
        if self.exhausted:
            return None
        size = self.space.size
        # random draws find an unseen configuration fast unless the space is nearly used up
        tries = 1000 if size is None or size > self.ENUMERATION_LIMIT else 64
        for _ in range(tries):
            params = self.space.sample(rng)
            if config_key(params) not in self.keys:
                return params
        if size is None or size > self.ENUMERATION_LIMIT:
            return None
        unseen = [c for c in self.space.iter_configs() if config_key(c) not in self.keys]
        return unseen[int(rng.integers(len(unseen)))] if unseen else None
