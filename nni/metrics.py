"""The one tolerant reading of a reported metric, used by engine, storage, tuners' input, web UI and tools.

A trial may report any JSON value (as in NNI). Whatever needs a number asks :func:`metric_number`,
which answers a finite float or None ("not a number") and never raises: huge integers (``10**400``),
NaN and the infinities, strings, booleans, null, lists and dicts without a numeric key all give None.
The value itself is always kept and shown exactly as reported. Standard library only: the trial
side imports this module.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

__all__ = ["metric_number", "metric_default", "not_a_number_reason", "short_repr", "LOG_VALUE_LIMIT"]

LOG_VALUE_LIMIT = 500
"""Characters of a reported value or payload written into a log line or a trial message."""


def metric_number(value: Any, key: str = "default") -> float | None:
    """The finite float under ``key`` of a metric (a scalar counts as its 'default'), else None."""
    if isinstance(value, dict):
        value = value.get(key)
    elif key != "default":
        return None
    if isinstance(value, bool) or not isinstance(value, Real):
        return None
    try:
        number = float(value)
    except (OverflowError, ValueError, TypeError):  # an int past float's range, an odd Real subclass
        return None
    return number if math.isfinite(number) else None


def metric_default(value: Any) -> float | None:
    """The scalar a tuner optimises, or None when the metric has no finite number to offer."""
    return metric_number(value, "default")


def not_a_number_reason(value: Any) -> str | None:
    """Why ``value`` gives a tuner no number (for a trial's message), or None when it does."""
    if metric_default(value) is not None:
        return None
    if isinstance(value, dict):
        if "default" not in value:
            return f"it is a dict without a 'default' key: {short_repr(value)}"
        return f"its 'default' is not a finite number: {short_repr(value['default'])}"
    if isinstance(value, bool) or not isinstance(value, Real):
        kind = "null" if value is None else type(value).__name__
        return f"it is not a number ({kind}): {short_repr(value)}"
    return f"it is not a finite number: {short_repr(value)}"


def short_repr(value: Any, limit: int = LOG_VALUE_LIMIT) -> str:
    """``repr(value)`` cut to ``limit`` characters, saying how long it was, for logs and messages."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 4 * limit:
        return f"<an integer of about {int(value.bit_length() * 0.30103)} digits>"  # repr itself would cost
    try:
        text = repr(value)
    except (ValueError, RecursionError):  # an int past Python's digit limit, a self-containing list
        return f"<{type(value).__name__} that cannot be shown>"
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"
