"""What every tracker shares: the experiment it logs, the metric and parameter forms the tools take,
and :class:`Trackers`, which runs them off the manager's event loop so none can slow or fail it."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

from ..errors import ConfigError
from ..metrics import metric_number
from ..records import ExperimentStatus, MetricRecord, Trial

__all__ = ["ExperimentInfo", "Tracker", "Trackers", "require", "metric_values", "final_step", "steps"]

_logger = logging.getLogger("nni.integrations")


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
    before the first call is run."""

    def __init__(self, trackers: Sequence[Tracker]) -> None:
        self.trackers = list(trackers)
        self._broken: set[str] = set()
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nni-trackers")
        self._opened = False

    def _queue(self, tracker: Tracker, what: str, call: Callable[[], None]) -> None:
        if not self._opened:  # at the first call, once the manager logs to its files: their errors go there
            self._opened = True
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
        try:
            self._thread.submit(guarded)
        except RuntimeError:  # closed already: nothing more is logged
            _logger.warning("tracker %s: %s after close is dropped", tracker.name, what)

    def trial_finished(self, trial: Trial) -> None:
        """Log ``trial`` (a copy the engine no longer changes) with every tracker."""
        for tracker in self.trackers:
            self._queue(tracker, f"logging trial {trial.trial_id}", partial(tracker.log_trial, trial))

    def experiment_status(self, status: ExperimentStatus) -> None:
        for tracker in self.trackers:
            self._queue(tracker, f"status {status.value}", partial(tracker.experiment_status, status))

    def close(self) -> None:
        """Finish every queued call, close the trackers and end the thread (blocks: call it off the loop)."""
        for tracker in self.trackers:
            self._queue(tracker, "close", tracker.close)
        self._thread.shutdown(wait=True)
