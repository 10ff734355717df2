"""Small helpers shared by tuners and assessors (NNI's ``nni.utils``)."""

from __future__ import annotations

import math
from enum import Enum
from numbers import Real
from typing import Any

__all__ = ["OptimizeMode", "MetricType", "extract_scalar_reward", "extract_scalar_history", "is_finite_number"]


class OptimizeMode(Enum):
    Minimize = "minimize"
    Maximize = "maximize"


class MetricType:
    """Kinds of metric a trial reports."""

    FINAL = "FINAL"
    PERIODICAL = "PERIODICAL"
    REQUEST_PARAMETER = "REQUEST_PARAMETER"


def is_finite_number(value: Any) -> bool:
    """True for a real, finite number (bools excluded)."""
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


def extract_scalar_reward(value: Any, scalar_key: str = "default") -> float:
    """Reduce a metric (number or dict holding ``scalar_key``) to a float."""
    if isinstance(value, Real) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, dict) and isinstance(value.get(scalar_key), Real):
        return float(value[scalar_key])
    raise RuntimeError(f"Incorrect final result: the final result should be a number or a dict with a "
                       f"numeric '{scalar_key}' key, got {value!r}")


def extract_scalar_history(trial_history: list[Any], scalar_key: str = "default") -> list[float]:
    """Reduce every intermediate result of a trial to a float."""
    return [extract_scalar_reward(item, scalar_key) for item in trial_history]
