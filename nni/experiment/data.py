"""The data classes NNI users read from ``Experiment`` queries; their attribute names are NNI's.

Like NNI's, they are built from the REST wire format and decode it: a metric's ``data`` twice, each
``hyperParameters`` entry and an export row's ``value`` once. A value that is already decoded (a
dict, a number) is kept as it is, so they can also be built by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..storage.nni30 import decode_json_text

__all__ = ["TrialResult", "TrialMetricData", "TrialHyperParameters", "TrialJob"]

# These classes mirror NNI's public data classes, so their fields keep NNI's camelCase names.
# ruff: noqa: N815


@dataclass(init=False)
class TrialResult:
    """NNI's three fields; ``feasible`` and ``pareto`` are plain attributes, not dataclass fields, so
    ``repr``, ``==``, ``dataclasses.asdict`` and unpacking stay NNI's. Both are None unless the
    experiment has objectives or constraints (``feasible`` also when the result is unusable under them)."""

    parameter: dict[str, Any]
    value: Any
    trialJobId: str

    def __init__(self, parameter: dict[str, Any], value: Any, trialJobId: str, *, feasible: bool | None = None,
                 pareto: bool | None = None) -> None:
        self.parameter = parameter
        self.value = decode_json_text(value)
        self.trialJobId = trialJobId
        self.feasible: bool | None = feasible
        self.pareto: bool | None = pareto


@dataclass(init=False)
class TrialMetricData:
    timestamp: int
    trialJobId: str
    parameterId: Any
    type: str
    sequence: int
    data: Any

    def __init__(self, timestamp: int, trialJobId: str, parameterId: Any, type: str,  # noqa: A002 (NNI's name)
                 sequence: int, data: Any) -> None:
        self.timestamp = timestamp
        self.trialJobId = trialJobId
        self.parameterId = parameterId
        self.type = type
        self.sequence = sequence
        self.data = decode_json_text(decode_json_text(data))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrialMetricData:
        return cls(data["timestamp"], data["trialJobId"], data.get("parameterId"), data["type"], data["sequence"],
                   data["data"])


@dataclass
class TrialHyperParameters:
    parameter_id: Any
    parameter_source: str
    parameters: dict[str, Any]
    parameter_index: int
    placement_constraint: dict[str, Any] | None = None
    version_info: dict[str, Any] | None = None

    @classmethod
    def from_json(cls, data: Any) -> TrialHyperParameters:
        """From a wire entry (the record's JSON text) or the record itself."""
        record = decode_json_text(data)
        if not isinstance(record, dict):
            raise ValueError(f"a hyper-parameter record must be a JSON object, got {data!r}")
        return cls(record.get("parameter_id"), record.get("parameter_source", "algorithm"),
                   record.get("parameters", {}), record.get("parameter_index", 0),
                   record.get("placement_constraint"), record.get("version_info"))


@dataclass
class TrialJob:
    trialJobId: str
    status: str
    hyperParameters: list[TrialHyperParameters]
    logPath: str | None
    startTime: int | None
    endTime: int | None
    finalMetricData: list[TrialMetricData]
    stderrPath: str | None
    sequenceId: int | None = None
    message: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrialJob:
        return cls(
            trialJobId=data["trialJobId"], status=data["status"],
            hyperParameters=[TrialHyperParameters.from_json(h) for h in data.get("hyperParameters", [])],
            logPath=data.get("logPath"), startTime=data.get("startTime"), endTime=data.get("endTime"),
            finalMetricData=[TrialMetricData.from_json(m) for m in data.get("finalMetricData", [])],
            stderrPath=data.get("stderrPath"), sequenceId=data.get("sequenceId"), message=data.get("message"))
