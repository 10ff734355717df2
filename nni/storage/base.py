"""The one storage interface the engine writes through and everything else reads from."""

from __future__ import annotations

import abc
import json
from collections.abc import Callable, Collection, Iterable, Iterator
from typing import Any

from ..records import MetricRecord, Trial

__all__ = ["Storage", "StoredCurves", "StoredMetric", "CurveSummary", "TRIAL_FIELDS"]

CurveSummary = tuple[int, MetricRecord | None]
"""A trial's intermediate results in brief: how many, and the last one (None when there are none)."""

TRIAL_FIELDS = ("sequence_id", "parameter_id", "parameter_record", "status", "customized", "submit_time_ms",
                "start_time_ms", "end_time_ms", "exit_code", "log_path", "stdout_path", "stderr_path", "message")
"""A trial's stored attributes besides its id and metrics: what :meth:`Storage.write_trials` keeps."""


class Storage(abc.ABC):
    """Durable record of one experiment: its profile, an append-only log of events, and metrics.

    Every write returns only once the data is durable, so whatever the engine acknowledges
    survives a crash of the manager.
    """

    @abc.abstractmethod
    def save_profile(self, profile: dict[str, Any]) -> None:
        """Store the experiment's profile (id, config, start time, ...), replacing the old one."""

    @abc.abstractmethod
    def load_profile(self) -> dict[str, Any] | None:
        """The stored profile, or None for a new experiment."""

    @abc.abstractmethod
    def append_experiment_event(self, kind: str, data: dict[str, Any]) -> None:
        """Record an experiment-level event (status change, config update, imported data)."""

    @abc.abstractmethod
    def experiment_events(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Events in order, each ``{'seq', 'timestamp', 'kind', 'data'}``."""

    @abc.abstractmethod
    def append_trial_event(self, trial: Trial, kind: str, fields: dict[str, Any]) -> None:
        """Record a change of ``trial``: ``fields`` holds the attributes that changed."""

    @abc.abstractmethod
    def add_metric(self, metric: MetricRecord) -> bool:
        """Store a metric; False (and nothing stored) when that trial already has it (type, sequence)."""

    @abc.abstractmethod
    def load_trials(self) -> list[Trial]:
        """Rebuild every trial, with its metrics, by replaying the stored events."""

    def write_trials(self, trials: Iterable[Trial]) -> None:
        """Store whole trials (their attributes and every metric) at once: for conversions and
        imports of finished experiments. Backends write them in one transaction where they can."""
        for trial in trials:
            self.append_trial_event(trial, "created", {name: getattr(trial, name) for name in TRIAL_FIELDS})
            for metric in [*trial.intermediate, *([trial.final] if trial.final is not None else [])]:
                self.add_metric(metric)

    def load_trials_deferred(self) -> tuple[list[Trial], Callable[[], None]]:
        """Every trial with its final result, and a function that attaches their intermediate results.

        At 100,000 trials the curves are most of the rows: a viewer shows the table first and calls
        the function off the event loop. This default loads everything at once.
        """
        return self.load_trials(), lambda: None

    def stored_curves(self) -> StoredCurves | None:
        """A reader answering intermediate results from the database as they are asked for, so a viewer
        never holds every curve (a million records at 100,000 trials x 10); None where the backend
        cannot, and a viewer attaches them to the trials instead."""
        return None

    @abc.abstractmethod
    def close(self) -> None:
        """Release the database."""


class StoredMetric(MetricRecord):
    """A metric read from a database with its stored JSON text (Python's ``json.dumps`` of the value,
    NaN kept as a name: the form a trial reports), decoded only when ``value`` is read: a list of a
    million metrics sends the text as it is instead of decoding and re-encoding each."""

    def __init__(self, trial_id: str, parameter_id: int | None, type: str, sequence: int, timestamp_ms: int,
                 text: str) -> None:
        self.trial_id, self.parameter_id, self.type = trial_id, parameter_id, type
        self.sequence, self.timestamp_ms = sequence, timestamp_ms
        self.text: str | None = text

    @property  # type: ignore[override]
    def value(self) -> Any:
        if "_value" not in self.__dict__:
            self._value = json.loads(self.text or "null")
        return self._value

    @value.setter
    def value(self, value: Any) -> None:
        self._value, self.text = value, None  # a changed value no longer has the stored text

    def __eq__(self, other: object) -> bool:
        """Equal to a plain record of the same fields (a view's metrics before and after its curves are
        attached)."""
        if not isinstance(other, MetricRecord):
            return NotImplemented
        return (self.trial_id, self.parameter_id, self.type, self.sequence, self.timestamp_ms, self.value) == (
            other.trial_id, other.parameter_id, other.type, other.sequence, other.timestamp_ms, other.value)


class StoredCurves(abc.ABC):
    """Intermediate results read from the database per request; "arrival order" is NNI's table order:
    by timestamp, then by the trial's first event, each trial's intermediate results before its final."""

    @abc.abstractmethod
    def summaries(self) -> dict[str, CurveSummary]:
        """Each trial with intermediate results: their count and the last one stored."""

    @abc.abstractmethod
    def curve(self, trial_id: str) -> list[MetricRecord]:
        """One trial's intermediate results in the order they were stored."""

    @abc.abstractmethod
    def curves(self, trial_ids: Collection[str]) -> dict[str, list[MetricRecord]]:
        """The intermediate results of several trials at once (a chart's chosen curves)."""

    @abc.abstractmethod
    def metrics(self, trial_ids: Collection[str] | None = None, metric_type: str | None = None) -> Iterator[MetricRecord]:
        """The metrics of ``trial_ids`` (every trial when None), optionally of one type, in arrival
        order, read in chunks (the list never sits in memory whole), as :class:`StoredMetric` where the
        backend keeps JSON text. A row whose data is not JSON is left out and logged: these feed
        lists already being sent, which cannot fail halfway."""

    @abc.abstractmethod
    def latest_metrics(self) -> Iterator[MetricRecord]:
        """Every non-periodical metric in arrival order, then each trial's periodical one of the highest
        sequence (the last such to arrive), trials in the order their first periodical one arrived."""
