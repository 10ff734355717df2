"""Plain forms of what trials report and receive: JSON-safe values, one level of parameter names,
and the text label a non-numeric value is grouped under."""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["json_safe", "JsonSafeEncoder", "flatten_parameters", "category_label"]


def json_safe(value: Any) -> Any:
    """A copy of ``value`` that strict JSON accepts: non-finite floats become their names, numpy
    scalars plain numbers, anything else unknown its ``str``."""
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if hasattr(value, "dtype") and hasattr(value, "item"):  # a numpy scalar
        return json_safe(value.item())
    return str(value)


def _not_plain(value: Any) -> Any:
    raise TypeError("not a plain JSON value")


class JsonSafeEncoder:
    """Strict JSON text of any value: plain JSON is encoded as it is, anything else (NaN, numpy
    scalars, unknown objects) through :func:`json_safe` first. Most values are plain, and skipping
    the copy halves the time of a large answer; the encoders are made once, as ``json.dumps`` with
    options builds one per call."""

    def __init__(self, **options: Any) -> None:
        self._plain = json.JSONEncoder(**options, allow_nan=False, default=_not_plain)
        self._safe = json.JSONEncoder(**options, allow_nan=False)

    def encode(self, value: Any) -> str:
        try:
            return self._plain.encode(value)
        except (TypeError, ValueError):
            return self._safe.encode(json_safe(value))


def flatten_parameters(parameters: Any) -> dict[str, Any]:
    """One level of names: a nested choice ``{"_name": n, ...}`` under ``p`` gives ``p`` and ``p/key``."""
    flat: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            if "_name" in value:
                flat[prefix] = value["_name"]
            for key, sub in value.items():
                if key != "_name":
                    walk(f"{prefix}/{key}" if prefix else str(key), sub)
        else:
            flat[prefix] = value

    if isinstance(parameters, dict):
        for key, value in parameters.items():
            walk(str(key), value)
    return flat


def category_label(value: Any) -> str:
    """The label a categorical value is shown and grouped under: a string as is, else its JSON."""
    return value if isinstance(value, str) else json.dumps(json_safe(value), sort_keys=True)
