"""Type aliases for the public API (NNI's ``nni.typehint``)."""

from __future__ import annotations

from typing import Any, Literal, TypedDict

__all__ = [
    "Parameters", "SearchSpace", "TrialMetric", "TrialRecord", "ParameterRecord", "ParameterChoice",
    "OptimizeMode",
]

Parameters = dict[str, Any]
SearchSpace = dict[str, Any]
TrialMetric = float | dict[str, Any]
OptimizeMode = Literal["minimize", "maximize"]
"""NNI's type of an optimize mode; :class:`nni.utils.OptimizeMode` takes its values from here."""


class ParameterChoice(TypedDict):
    _type: str
    _value: list[Any]


class ParameterRecord(TypedDict):
    """What a trial receives: NNI's hyper-parameter record."""

    parameter_id: int | None
    parameter_source: str
    parameters: Parameters
    parameter_index: int


class TrialRecord(TypedDict):
    parameter: Parameters
    value: TrialMetric
