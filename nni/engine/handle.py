"""The one contract between an experiment and what serves or drives it (REST, web UI, launcher, nnictl).

Both the live :class:`~nni.engine.engine.Engine` and the read-only
:class:`~nni.engine.view.ViewEngine` satisfy :class:`ExperimentHandle`, so callers need neither
attribute probes nor private calls. :data:`UPDATABLE` is the one table of settings that may change
while an experiment runs; every path that changes one goes through ``handle.update(field, value)``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..config import ExperimentConfig
from ..objectives import ObjectiveSpec
from ..records import Change, ExperimentStatus, MetricRecord, Trial
from ..storage.base import CurveSummary, Storage

__all__ = ["ExperimentHandle", "Setting", "UPDATABLE", "setting_named", "setting_of_update_type"]


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a whole number of at least 1, got {value!r}")
    return value


def _duration(name: str, value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)) or value in ("", 0):
        raise ValueError(f"{name} must look like '30m', '2h', '1d' or a number of seconds, got {value!r}")
    return value


def _search_space(name: str, value: Any) -> Any:
    if not isinstance(value, dict) or not value:
        raise ValueError(f"{name} must be a non-empty JSON object")
    return value


@dataclass(frozen=True)
class Setting:
    """One setting that may change while the experiment runs."""

    field: str
    """Its name in NNI's config JSON, and the ``field`` of ``update``."""
    update_type: str
    """NNI's REST ``PUT /experiment?update_type=`` for it."""
    attribute: str
    """The :class:`~nni.config.ExperimentConfig` attribute holding it."""
    check: Callable[[str, Any], Any]
    """The shape check of a value a person typed (the web UI's form); the engine checks limits itself."""


UPDATABLE: dict[str, Setting] = {s.field: s for s in (
    Setting("trialConcurrency", "TRIAL_CONCURRENCY", "trial_concurrency", _positive_int),
    Setting("maxTrialNumber", "MAX_TRIAL_NUM", "max_trial_number", _positive_int),
    Setting("maxExperimentDuration", "MAX_EXEC_DURATION", "max_experiment_duration", _duration),
    Setting("searchSpace", "SEARCH_SPACE", "search_space", _search_space),
)}


def setting_named(field: str) -> Setting:
    """The setting ``field``, or a ValueError naming the ones that can change."""
    setting = UPDATABLE.get(field)
    if setting is None:
        raise ValueError(f"cannot change {field} (changeable: {', '.join(UPDATABLE)})")
    return setting


def setting_of_update_type(update_type: str) -> Setting | None:
    """The setting NNI's REST ``update_type`` names, or None."""
    return next((s for s in UPDATABLE.values() if s.update_type == update_type), None)


class ExperimentHandle(Protocol):
    """What may be read and asked of one experiment, live or viewed; changes to a viewed one raise
    :class:`~nni.engine.view.ReadOnlyExperimentError` (a PermissionError)."""

    @property
    def experiment_id(self) -> str: ...

    @property
    def experiment_dir(self) -> Path: ...

    @property
    def config(self) -> ExperimentConfig: ...

    @property
    def storage(self) -> Storage: ...

    @property
    def status(self) -> ExperimentStatus: ...

    @property
    def error(self) -> str | None: ...

    @property
    def trials(self) -> dict[str, Trial]: ...

    @property
    def revision(self) -> int:
        """The sequence number of the last change (see ``wait_changes``)."""
        ...

    @property
    def start_time_ms(self) -> int: ...

    @property
    def end_time_ms(self) -> int | None: ...

    @property
    def finished(self) -> bool: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def fail(self, message: str) -> None:
        """Record that the experiment failed with ``message`` (status ERROR)."""
        ...

    async def wait_changes(self, after: int, timeout: float) -> list[Change]: ...

    def elapsed_seconds(self) -> float: ...

    def statistics(self) -> dict[str, int]: ...

    def live_tuner(self) -> dict[str, Any] | None: ...

    def optimize_mode(self) -> str: ...

    def objective_spec(self) -> ObjectiveSpec | None:
        """The config's objectives and constraints; None without them (NNI's ``default`` metric)."""
        ...

    def best_trial(self) -> Trial | None: ...

    def profile(self) -> dict[str, Any]: ...

    def imported_results(self) -> list[dict[str, Any]]: ...

    async def curves_loaded(self) -> None:
        """Return once the curves below can be answered (a view loads their summaries last)."""
        ...

    def curve(self, trial: Trial) -> list[MetricRecord]:
        """A trial's intermediate results (a view reads them from its database, not ``Trial.intermediate``)."""
        ...

    def curves(self, trials: Collection[Trial]) -> dict[str, list[MetricRecord]]: ...

    def curve_summary(self, trial: Trial) -> CurveSummary:
        """(count, last) of a trial's intermediate results."""
        ...

    def arrived_metrics(self, trials: Iterable[Trial] | None = None,
                        metric_type: str | None = None) -> Iterable[MetricRecord]:
        """Metrics in NNI's order (by arrival), optionally of some trials or one type."""
        ...

    def latest_metrics(self) -> Iterable[MetricRecord]:
        """Every final result, then each trial's latest intermediate one."""
        ...

    async def kill_trial(self, trial_id: str) -> None: ...

    async def add_customized_trial(self, parameters: dict[str, Any]) -> str: ...

    async def import_data(self, data: list[dict[str, Any]]) -> None: ...

    async def rerun_trials(self, trial_ids: list[str] | None) -> dict[str, str]:
        """Run finished trials again (``None``: every failed one); ``{old id: new id}``. KeyError for an
        unknown id, ValueError for one that cannot run again."""
        ...

    async def update(self, field: str, value: Any) -> None:
        """Change the setting ``field`` of :data:`UPDATABLE` (ValueError for any other name)."""
        ...
