"""The data classes NNI users read from ``Experiment`` queries; their attribute names are NNI's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["TrialResult", "TrialMetricData", "TrialHyperParameters", "TrialJob"]

# These classes mirror NNI's public data classes, so their fields keep NNI's camelCase names.
# ruff: noqa: N815


@dataclass
class TrialResult:
    parameter: dict[str, Any]
    value: Any
    trialJobId: str


@dataclass
class TrialMetricData:
    timestamp: int
    trialJobId: str
    parameterId: Any
    type: str
    sequence: int
    data: Any

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

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrialHyperParameters:
        return cls(data.get("parameter_id"), data.get("parameter_source", "algorithm"), data.get("parameters", {}),
                   data.get("parameter_index", 0))


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
