"""Shared assertions for tuner tests: a configuration is a legal member of an NNI search space."""

from __future__ import annotations

import math
from typing import Any

ALL_TYPES: dict[str, Any] = {
    "c": {"_type": "choice", "_value": ["relu", 3, 0.5, [1, 2], None]},
    "ri": {"_type": "randint", "_value": [-2, 3]},
    "u": {"_type": "uniform", "_value": [-1.5, 2.5]},
    "qu": {"_type": "quniform", "_value": [0.2, 2, 0.5]},
    "lu": {"_type": "loguniform", "_value": [1e-5, 1e-1]},
    "qlu": {"_type": "qloguniform", "_value": [1, 100, 5]},
    "n": {"_type": "normal", "_value": [3, 2]},
    "qn": {"_type": "qnormal", "_value": [0, 4, 2]},
    "ln": {"_type": "lognormal", "_value": [0, 1]},
    "qln": {"_type": "qlognormal", "_value": [1, 0.5, 0.5]},
}

NESTED: dict[str, Any] = {
    "model": {"_type": "choice", "_value": [
        {"_name": "linear", "alpha": {"_type": "loguniform", "_value": [1e-4, 1]}},
        {"_name": "tree", "depth": {"_type": "randint", "_value": [1, 5]},
         "split": {"_type": "choice", "_value": [
             {"_name": "gini"},
             {"_name": "entropy", "w": {"_type": "quniform", "_value": [0, 1, 0.25]}}]}},
        "none",
    ]},
    "lr": {"_type": "uniform", "_value": [0, 1]},
}


def _multiple(value: float, q: float) -> bool:
    return math.isclose(round(value / q) * q, value, rel_tol=1e-9, abs_tol=1e-9)


def check_config(params: Any, space: dict[str, Any]) -> None:
    """Assert ``params`` holds exactly the space's keys, each a legal value of its type."""
    assert isinstance(params, dict), params
    assert set(params) == {k for k in space if k != "_name"}, (params, list(space))
    for name, spec in space.items():
        if name == "_name":
            continue
        kind, v, value = spec["_type"], spec["_value"], params[name]
        if kind == "choice":
            nested = [o for o in v if isinstance(o, dict) and "_name" in o]
            if isinstance(value, dict):
                option = next(o for o in nested if o["_name"] == value["_name"])
                assert value["_name"] == option["_name"]
                check_config({k: x for k, x in value.items() if k != "_name"}, {k: s for k, s in option.items()})
            else:
                assert value in [o for o in v if not (isinstance(o, dict) and "_name" in o)], (name, value)
            continue
        assert isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value), (name, value)
        if kind == "randint":
            assert type(value) is int and v[0] <= value < v[1], (name, value)
        elif kind in ("uniform", "loguniform"):
            assert v[0] <= value <= v[1], (name, value)
        elif kind in ("quniform", "qloguniform"):
            assert v[0] <= value <= v[1] and (_multiple(value, v[2]) or value in (v[0], v[1])), (name, value)
        elif kind == "qnormal":
            assert _multiple(value, v[2]), (name, value)
        elif kind == "lognormal":
            assert value > 0, (name, value)
        elif kind == "qlognormal":
            assert value >= 0 and _multiple(value, v[2]), (name, value)


def numeric_sum(params: Any) -> float:
    """A deterministic objective over any configuration (numbers summed, nested included)."""
    if isinstance(params, dict):
        return sum(numeric_sum(v) for k, v in params.items() if k != "_name")
    if isinstance(params, (int, float)) and not isinstance(params, bool):
        return float(params)
    return 0.0


def check_exhausted(tuner: Any, parameter_id: int, seen: list[Any]) -> None:
    """NNI's exhaustion rule: GridSearch, Batch, Random and TPE end with NoMoreTrialError on a
    used-up finite space; every other tuner keeps proposing, repeating an earlier configuration."""
    import pytest

    from nni.errors import NoMoreTrialError
    from nni.search_space import config_key

    if getattr(tuner, "ends_when_exhausted", True):
        with pytest.raises(NoMoreTrialError):
            tuner.generate_parameters(parameter_id)
    else:
        keys = {p if isinstance(p, str) else config_key(p) for p in seen}  # configurations or their keys
        assert config_key(tuner.generate_parameters(parameter_id)) in keys
