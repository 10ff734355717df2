"""A read-only engine for ``nnictl view`` / ``Experiment.view``: a stored experiment, served as is.

It exposes what the REST server and the web UI read from a live :class:`~nni.engine.engine.Engine`
(trials, profile, statistics, change feed) but runs nothing: no tuner, no training service. Every
command that would change the experiment raises :class:`ReadOnlyExperimentError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import threading
import time
from collections.abc import Callable, Collection, Iterable
from pathlib import Path
from typing import Any

from ..config import ExperimentConfig
from ..records import Change, ExperimentStatus, MetricRecord, Trial
from ..storage.base import CurveSummary, StoredCurves
from ..storage.nni30 import open_storage
from ..storage.sqlite import DB_FILE, database_dir
from .readout import ExperimentReadout

__all__ = ["ViewEngine", "ReadOnlyExperimentError", "load_stored_profile"]

_POLL_SECONDS = 0.05
"""How often waiters look whether the curves have landed (they come from another thread)."""


class ReadOnlyExperimentError(PermissionError):
    """A change was asked of an experiment opened with ``view``."""


def load_stored_profile(experiment_dir: Path) -> dict[str, Any] | None:
    """The profile an engine stored in ``<experiment_dir>/db``, or None if there is none."""
    db_dir = database_dir(experiment_dir)
    if not (db_dir / DB_FILE).is_file():
        return None
    storage = open_storage(db_dir, read_only=True)
    try:
        return storage.load_profile()
    finally:
        storage.close()


class ViewEngine(ExperimentReadout):
    """The stored state of one experiment, opened read-only; status is VIEWED while served.

    Where the storage answers curves itself (:meth:`~nni.storage.base.Storage.stored_curves`), they
    stay in the database: the view holds each trial's count and last intermediate result, and reads
    a curve when one is asked for, so 100,000 trials x 10 points fit in a few hundred MiB. Other
    backends attach every curve to the trials on a background thread.
    """

    def __init__(self, experiment_id: str, experiment_dir: Path) -> None:
        self.experiment_id = experiment_id
        self.experiment_dir = Path(experiment_dir)
        db_dir = database_dir(self.experiment_dir)
        if not (db_dir / DB_FILE).is_file():
            raise FileNotFoundError(f"experiment {experiment_id} has no database in {db_dir}")
        self.storage = open_storage(db_dir, read_only=True)
        profile = self.storage.load_profile()
        if profile is None:
            self.storage.close()
            raise FileNotFoundError(f"experiment {experiment_id} has no stored profile in {db_dir}")
        self.config = ExperimentConfig.model_validate(profile["config"])
        self.stored_status = ExperimentStatus(profile.get("status") or "STOPPED")
        self.status = ExperimentStatus.VIEWED
        self.error: str | None = profile.get("error")
        self.search_space: dict[str, Any] = self.config.search_space or {}
        self.start_time_ms: int = int(profile.get("start_time_ms") or 0)
        self.end_time_ms: int | None = profile.get("end_time_ms")
        self._elapsed_ms = int(profile.get("elapsed_ms") or 0)
        self._next_parameter_id = int(profile.get("next_parameter_id") or 0)
        self.revision = 0
        self.tuner = None
        self.assessor = None
        self.stored_live_tuner = profile.get("live_tuner")
        self._curves_error: Exception | None = None
        self._curves_done = threading.Event()
        self._summaries: dict[str, CurveSummary] = {}
        self._stored: StoredCurves | None = None
        self._attach_curves: Callable[[], None] = lambda: None
        self._load_trials()

    def _load_trials(self) -> None:
        """The trials with their final results now; the curves' summaries (or, for a backend that
        cannot answer curves, the curves themselves) on a background thread."""
        trials, self._attach_curves = self.storage.load_trials_deferred()
        self.trials = {t.trial_id: t for t in trials}
        # The trials live as long as the view and hold no cycles: out of the collector's reach, so its
        # passes stop rescanning 100,000 of them during every request.
        gc.freeze()
        self._stored = self.storage.stored_curves()
        self._curves_error = None
        self._curves_done.clear()
        load = self._attach_curves if self._stored is None else self._load_summaries
        threading.Thread(target=self._load_curves, args=(load,), name="nni-view-curves", daemon=True).start()

    def _load_summaries(self) -> None:
        assert self._stored is not None
        summaries = self._stored.summaries()
        self._summaries = {trial_id: summary for trial_id, summary in summaries.items() if trial_id in self.trials}

    def _load_curves(self, load: Callable[[], None]) -> None:
        try:
            load()
        except Exception as error:  # a damaged row: the routes that need curves report it
            self._curves_error = error
        self.revision += 1  # readers rebuild their tables with the curves in
        self._curves_done.set()

    async def curves_loaded(self) -> None:
        """Wait (off the event loop) until the curves can be answered (their counts and last results
        read, or the curves attached); re-raise a failure."""
        while not self._curves_done.is_set():
            await asyncio.sleep(_POLL_SECONDS)
        if self._curves_error is not None:
            raise self._curves_error

    def wait_for_curves(self) -> None:
        """Block until every intermediate result is attached to ``trials`` (readers of whole trials
        outside an event loop, such as ``Experiment.export_dataframe``); re-raise a failure."""
        self._curves_done.wait()
        if self._curves_error is not None:
            raise self._curves_error
        if self._stored is not None:
            self._attach_curves()
            self._stored = None  # the trials hold them now

    # -- curves (from the database while they are not attached) -----------------------------------

    def curve(self, trial: Trial) -> list[MetricRecord]:
        return super().curve(trial) if self._stored is None else self._stored.curve(trial.trial_id)

    def curves(self, trials: Collection[Trial]) -> dict[str, list[MetricRecord]]:
        if self._stored is None:
            return super().curves(trials)
        return self._stored.curves([t.trial_id for t in trials])

    def curve_summary(self, trial: Trial) -> CurveSummary:
        if self._stored is None:
            return super().curve_summary(trial)
        return self._summaries.get(trial.trial_id, (0, None))

    def arrived_metrics(self, trials: Iterable[Trial] | None = None,
                        metric_type: str | None = None) -> Iterable[MetricRecord]:
        if self._stored is None:
            return super().arrived_metrics(trials, metric_type)
        return self._stored.metrics(None if trials is None else [t.trial_id for t in trials], metric_type)

    def latest_metrics(self) -> Iterable[MetricRecord]:
        return super().latest_metrics() if self._stored is None else self._stored.latest_metrics()

    # -- life cycle (nothing runs) ----------------------------------------------------------------

    async def start(self) -> None:
        return None

    async def stop(self, status: ExperimentStatus | None = None) -> None:
        """End the view: the experiment keeps the status it had before it was viewed."""
        self.status = self.stored_status

    @property
    def finished(self) -> bool:
        return True

    def fail(self, message: str) -> None:
        self.error = message

    def wake(self) -> None:
        return None

    async def wait_changes(self, after: int, timeout: float) -> list[Change]:
        """A viewed experiment changes once, when its curves are loaded (a "reset"): report that, or wait
        out the timeout and report nothing."""
        deadline = time.monotonic() + timeout
        while after >= self.revision and not self._curves_done.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(min(_POLL_SECONDS, max(deadline - time.monotonic(), 0)))
        if after < self.revision:
            return [Change(self.revision, "reset")]
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.Event().wait(), max(deadline - time.monotonic(), 0))
        return []

    # -- queries ----------------------------------------------------------------------------------

    @property
    def next_parameter_id(self) -> int:
        return self._next_parameter_id

    def elapsed_seconds(self) -> float:
        return self._elapsed_ms / 1000

    # -- commands: refused ------------------------------------------------------------------------

    def _refuse(self, what: str) -> ReadOnlyExperimentError:
        return ReadOnlyExperimentError(
            f"experiment {self.experiment_id} is opened read-only (view): cannot {what}; "
            f"resume it to make changes (nnictl resume {self.experiment_id})")

    async def kill_trial(self, trial_id: str) -> None:
        raise self._refuse(f"kill trial {trial_id}")

    async def add_customized_trial(self, parameters: dict[str, Any]) -> str:
        raise self._refuse("add a trial")

    async def update_trial_concurrency(self, value: int) -> None:
        raise self._refuse("update trialConcurrency")

    async def update_max_trial_number(self, value: int) -> None:
        raise self._refuse("update maxTrialNumber")

    async def update_max_experiment_duration(self, value: str | int | float) -> None:
        raise self._refuse("update maxExperimentDuration")

    async def update_search_space(self, space: dict[str, Any]) -> None:
        raise self._refuse("update the search space")

    async def import_data(self, data: list[dict[str, Any]]) -> None:
        raise self._refuse("import data")

    async def rerun_trials(self, trial_ids: list[str] | None) -> dict[str, str]:
        raise self._refuse("rerun trials")
