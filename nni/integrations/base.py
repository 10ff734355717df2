"""What every tracker shares: the experiment it logs, the metric and parameter forms the tools take,
and :class:`Trackers`, which runs them off the manager's event loop so none can slow or fail it."""

from __future__ import annotations

import importlib
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

from ..errors import ConfigError
from ..metrics import metric_number
from ..records import ExperimentStatus, MetricRecord, Trial

__all__ = ["ExperimentInfo", "Tracker", "Trackers", "require", "metric_values", "final_step", "steps",
           "CLOSE_TIMEOUT"]

_logger = logging.getLogger("nni.integrations")

CLOSE_TIMEOUT = 60.0
"""Seconds a stopping manager waits for the trackers to log what is queued."""


@dataclass(frozen=True)
class ExperimentInfo:
    """The experiment a tracker logs into, as the launcher knows it."""

    experiment_id: str
    experiment_dir: Path
    experiment_name: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    """The canonical config (camelCase JSON), recorded with the experiment's run where the tool has one."""

    @property
    def title(self) -> str:
        """The experiment's name, else its id: what a run or project is called by default."""
        return self.experiment_name or self.experiment_id


def require(module: str, extra: str, package: str) -> ModuleType:
    """Import ``module`` of an optional tool, or say how to install it (a ConfigError at start)."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ConfigError(f"trackers: {extra} needs the {package} package, which cannot be imported "
                          f"({error}); install it with pip install 'nni[{extra}]'") from None


def metric_values(value: Any) -> dict[str, float]:
    """Every finite number a reported metric holds, by key: a scalar is ``default``, a dict each numeric key."""
    keys = [str(k) for k in value] if isinstance(value, dict) else ["default"]
    return {key: number for key in keys if (number := metric_number(value, key)) is not None}


def final_step(trial: Trial) -> int:
    """The step the final result is logged at: after the last intermediate one, so tools show it as the latest."""
    return max((m.sequence for m in trial.intermediate), default=-1) + 1


def steps(trial: Trial) -> list[tuple[int, MetricRecord]]:
    """(step, metric) for each intermediate result and then the final one, in step order."""
    logged = [(m.sequence, m) for m in trial.intermediate]
    if trial.final is not None:
        logged.append((final_step(trial), trial.final))
    return logged


class Tracker:
    """One tool (a subclass gives ``log_trial``). Its methods run on the trackers' own thread, one call at a
    time, in order."""

    name: str
    module: str
    """Imported when the tracker is made: a missing tool is a ConfigError at start, naming its extra."""
    package: str

    def __init__(self, experiment: ExperimentInfo) -> None:
        self.tool: Any = require(self.module, self.name, self.package)
        self.experiment = experiment

    def open(self) -> None:
        """Connect and create the experiment's run or folder (first call; if it raises, the tracker is left out)."""

    def log_trial(self, trial: Trial) -> None:
        """Log one finished trial: parameters, every metric key, intermediate steps, status, times."""
        raise NotImplementedError

    def experiment_status(self, status: ExperimentStatus) -> None:
        """The experiment's status changed (RUNNING again after a resume, DONE, STOPPED, ERROR)."""

    def close(self) -> None:
        """The manager is stopping: flush and let go."""


class Trackers:
    """The configured trackers behind one worker thread: each call returns at once; a tracker that
    raises is logged and the experiment goes on (one that cannot open is left out). Trackers open
    before the first call is run.

    The thread is a daemon: a tool that hangs (a server that never answers) holds up neither the
    manager's stop, past ``close``'s timeout, nor the exit of the process.
    """

    def __init__(self, trackers: Sequence[Tracker], close_timeout: float = CLOSE_TIMEOUT) -> None:
        self.trackers = list(trackers)
        self.close_timeout = close_timeout
        self._broken: set[str] = set()
        self._calls: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name="nni-trackers", daemon=True)
        self._closed = False

    def _work(self) -> None:
        while (call := self._calls.get()) is not None:
            call()

    def _queue(self, tracker: Tracker, what: str, call: Callable[[], None]) -> None:
        if self._closed:
            _logger.warning("tracker %s: %s after close is dropped", tracker.name, what)
            return
        if not self._thread.is_alive() and self._thread.ident is None:
            # at the first call, once the manager logs to its files: open errors go there
            self._thread.start()
            for each in self.trackers:
                self._queue(each, "open", each.open)

        def guarded() -> None:
            if tracker.name in self._broken:
                return
            try:
                call()
            except Exception:  # a tool's failure is the tool's: the experiment must not notice
                _logger.exception("tracker %s: %s failed; the experiment goes on", tracker.name, what)
                if what == "open":
                    self._broken.add(tracker.name)
                    _logger.error("tracker %s is left out of this run", tracker.name)

        self._calls.put(guarded)

    def trial_finished(self, trial: Trial) -> None:
        """Log ``trial`` (a copy the engine no longer changes) with every tracker."""
        for tracker in self.trackers:
            self._queue(tracker, f"logging trial {trial.trial_id}", partial(tracker.log_trial, trial))

    def experiment_status(self, status: ExperimentStatus) -> None:
        for tracker in self.trackers:
            self._queue(tracker, f"status {status.value}", partial(tracker.experiment_status, status))

    def close(self) -> None:
        """Finish the queued calls and close the trackers, waiting up to ``close_timeout`` seconds
        (blocks: call it off the event loop)."""
        if self._closed:
            return
        if self._thread.ident is None:  # never used: nothing to open or close
            self._closed = True
            return
        for tracker in self.trackers:
            self._queue(tracker, "close", tracker.close)
        self._closed = True
        self._calls.put(None)
        self._thread.join(self.close_timeout)
        if self._thread.is_alive():
            _logger.warning("trackers still busy after %g s: the manager stops without waiting for them",
                            self.close_timeout)
