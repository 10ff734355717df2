"""``objectives`` and ``constraints``: several metrics to optimise at once, and bounds results must keep.

Each entry is a mapping (``{metric: accuracy, mode: maximize}``, ``{metric: memory_mb, max: 512}``)
or the matching :class:`nni.objectives.Objective` / :class:`nni.objectives.Constraint`. The lists
are checked here as a whole (not empty, no metric twice); which tuners can take them is checked by
:meth:`ExperimentConfig.validate`, which knows the tuner. See docs/multiobjective.md.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from pydantic import ValidationError, field_validator, model_validator

from ..metrics import short_repr
from ..objectives import MODES, Constraint, Objective
from .base import ConfigBase, config_error_from

__all__ = ["ObjectiveConfig", "ConstraintConfig", "parse_objectives", "parse_constraints"]


class _MetricEntry(ConfigBase):
    """What both entries share: the result key they read."""

    metric: Any

    @field_validator("metric", mode="before")
    @classmethod
    def _metric(cls, value: Any) -> str:
        # Any above, so that a number is refused here instead of being turned into a string
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"must be the name of a result key (a non-empty string), got {short_repr(value, 100)}")
        return value


class ObjectiveConfig(_MetricEntry):
    """One metric to optimise: ``{metric: latency_ms, mode: minimize}``."""

    mode: str = "maximize"

    @field_validator("mode")
    @classmethod
    def _mode(cls, value: str) -> str:
        if value.lower() not in MODES:
            raise ValueError(f"must be one of {', '.join(MODES)}, got {value!r}")
        return value.lower()

    def to_objective(self) -> Objective:
        return Objective(self.metric, self.mode)


class ConstraintConfig(_MetricEntry):
    """A metric that must stay within bounds: ``{metric: memory_mb, max: 512}`` (``min``, ``max`` or both)."""

    min: float | None = None
    max: float | None = None

    @field_validator("min", "max")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError(f"must be a finite number, got {value}")
        return value

    @model_validator(mode="after")
    def _bounds(self) -> ConstraintConfig:
        if self.min is None and self.max is None:
            raise ValueError(f"constraint on {self.metric!r} needs min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"constraint on {self.metric!r}: min {self.min:g} is above max {self.max:g}")
        return self

    def to_constraint(self) -> Constraint:
        return Constraint(self.metric, self.min, self.max)


def _entries(value: Any, kind: str) -> list[Any] | None:
    if value is None:
        return None
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"must be a list of {kind}, got {short_repr(value, 100)}")
    if not value:
        raise ValueError(f"must list at least one {kind[:-1]} (leave the key out for none)")
    return list(value)


def _no_repeats(entries: list[Any]) -> None:
    metrics = [entry.metric for entry in entries]
    repeated = sorted({m for m in metrics if metrics.count(m) > 1})
    if repeated:
        raise ValueError(f"each metric may appear once, {', '.join(map(repr, repeated))} is repeated")


def _parse(value: Any, kind: str, config_class: type[_MetricEntry],
           plain: type[Objective] | type[Constraint]) -> list[Any] | None:
    entries = _entries(value, kind)
    if entries is None:
        return None
    parsed = []
    for index, entry in enumerate(entries):
        if isinstance(entry, (Objective, Constraint)):
            if not isinstance(entry, plain):
                raise ValueError(f"[{index}]: a {type(entry).__name__} does not belong in {kind}")
            entry = dataclasses.asdict(entry)
        try:
            parsed.append(entry if isinstance(entry, config_class) else config_class.model_validate(entry))
        except ValidationError as error:
            # the nested message names the entry's key, the root's validator adds the list's name
            raise ValueError(str(config_error_from(error, prefix=f"[{index}]"))) from None
    _no_repeats(parsed)
    return parsed


def parse_objectives(value: Any) -> list[ObjectiveConfig] | None:
    """A list of mappings or :class:`Objective` objects as configs, refusing an empty list or a repeat."""
    return _parse(value, "objectives", ObjectiveConfig, Objective)


def parse_constraints(value: Any) -> list[ConstraintConfig] | None:
    """A list of mappings or :class:`Constraint` objects as configs, refusing an empty list or a repeat."""
    return _parse(value, "constraints", ConstraintConfig, Constraint)
