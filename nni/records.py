"""The engine's records of an experiment and its trials: the one source of trial state.

Only :class:`~nni.engine.engine.Engine` changes these objects; the server, the web UI and the
``Experiment`` client read them (or their JSON forms from :mod:`nni.server.serialize`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

__all__ = [
    "TrialStatus", "ExperimentStatus", "MetricRecord", "Trial", "Change", "FINISHED_STATUSES",
]


class TrialStatus(str, Enum):
    WAITING = "WAITING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    USER_CANCELED = "USER_CANCELED"
    SYS_CANCELED = "SYS_CANCELED"
    EARLY_STOPPED = "EARLY_STOPPED"


FINISHED_STATUSES = frozenset({TrialStatus.SUCCEEDED, TrialStatus.FAILED, TrialStatus.USER_CANCELED,
                               TrialStatus.SYS_CANCELED, TrialStatus.EARLY_STOPPED})


class ExperimentStatus(str, Enum):
    INITIALIZED = "INITIALIZED"
    RUNNING = "RUNNING"
    ERROR = "ERROR"
    STOPPING = "STOPPING"
    STOPPED = "STOPPED"
    DONE = "DONE"
    NO_MORE_TRIAL = "NO_MORE_TRIAL"
    TUNER_NO_MORE_TRIAL = "TUNER_NO_MORE_TRIAL"
    VIEWED = "VIEWED"


@dataclass
class MetricRecord:
    """One reported metric, kept exactly as the trial reported it (NaN included)."""

    trial_id: str
    parameter_id: int | None
    type: str
    """'PERIODICAL' (intermediate) or 'FINAL'."""
    sequence: int
    timestamp_ms: int
    value: Any


@dataclass
class Trial:
    trial_id: str
    sequence_id: int
    parameter_id: int
    parameter_record: dict[str, Any]
    """NNI's hyper-parameter record: parameter_id, parameter_source, parameters, parameter_index."""
    status: TrialStatus = TrialStatus.WAITING
    customized: bool = False
    submit_time_ms: int = 0
    start_time_ms: int | None = None
    end_time_ms: int | None = None
    log_path: str | None = None
    stdout_path: str | None = None
    stderr_path: str | None = None
    host: str | None = None
    gpus: tuple[int, ...] = ()
    message: str | None = None
    """Why it waits, why it failed, or why it was stopped."""
    exit_code: int | None = None
    handle: dict[str, Any] = field(default_factory=dict)
    """What the training service needs to find the trial again after a manager restart."""
    final: MetricRecord | None = None
    intermediate: list[MetricRecord] = field(default_factory=list)
    retry_of: str | None = None
    """The trial this one runs again (same parameters and parameter id): a retry or a user's rerun."""
    attempt: int = 0
    """0 for a first run or a rerun; n for the n-th automatic retry (``maxTrialRetries``)."""

    @property
    def parameters(self) -> dict[str, Any]:
        return self.parameter_record["parameters"]

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_STATUSES


@dataclass(frozen=True)
class Change:
    """One entry of the engine's change feed (the web UI's live updates)."""

    seq: int
    kind: str
    """'trial' (status/fields of a trial), 'metric' (a new metric), 'experiment' (status, config)."""
    trial_id: str | None = None
