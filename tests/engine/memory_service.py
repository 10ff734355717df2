"""An in-memory training service: a real TrainingService whose trials are scripts of steps run as
coroutines on the engine's loop (waiting, started, metrics, sleeps, holds, an exit code), so engine
tests need no subprocess and no port."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from nni.training_service import base as service_base
from nni.training_service.base import TrialSpec

__all__ = ["Queue", "Start", "Report", "Sleep", "Hold", "Exit", "Step", "Script", "MemoryService",
           "KILLED_EXIT_CODE"]

KILLED_EXIT_CODE = -15
"""What the in-memory service reports for a killed trial (SIGTERM, as the local service does)."""



@dataclass(frozen=True)
class Queue:
    """The service lacks resources for now (TrialWaiting with this reason)."""

    reason: str = "no free slot"


@dataclass(frozen=True)
class Start:
    """The trial's command runs (TrialStarted)."""

    host: str | None = None


@dataclass(frozen=True)
class Report:
    """One metric line: a final result, or an intermediate one numbered by the service."""

    value: Any
    final: bool = True


@dataclass(frozen=True)
class Sleep:
    """The trial takes this long before its next step."""

    seconds: float


@dataclass(frozen=True)
class Hold:
    """The trial waits here until the test calls :meth:`MemoryService.release` for it."""


@dataclass(frozen=True)
class Exit:
    """The command ends with this exit code (TrialEnded); a script without one runs until killed."""

    code: int | None = 0
    reason: str | None = None


Step = Queue | Start | Report | Sleep | Hold | Exit
Script = Callable[[TrialSpec], Sequence[Step]]


def _default_script(spec: TrialSpec) -> Sequence[Step]:
    return [Start(), Report(spec.parameter_record["parameters"].get("x", 0.5)), Exit(0)]


class MemoryService(service_base.TrainingService):
    """A real TrainingService whose trials are scripted coroutines on the engine's loop."""

    platform = "memory"

    def __init__(self, script: Script = _default_script, alive: set[str] | None = None,
                 stop_error: Exception | None = None) -> None:
        self.script = script
        self.alive = set(alive or ())
        """Trial ids a previous manager left running: :meth:`adopt` takes them over."""
        self.stop_error = stop_error
        self.submitted: list[TrialSpec] = []
        self.adopted: list[str] = []
        self.killed: list[str] = []
        self._events: service_base.EventSink | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._holds: dict[str, asyncio.Event] = {}
        self._crashed = False

    async def start(self, events: service_base.EventSink) -> None:
        self._events = events

    async def submit(self, spec: TrialSpec) -> None:
        self.submitted.append(spec)
        self._launch(spec, self.script(spec))

    async def adopt(self, spec: TrialSpec, handle: dict[str, Any]) -> bool:
        if handle.get("memory") not in self.alive:
            return False
        self.adopted.append(spec.trial_id)
        self._launch(spec, [step for step in self.script(spec) if not isinstance(step, (Queue, Start))])
        return True

    def release(self, trial_id: str) -> None:
        """Let a trial go past its :class:`Hold` step."""
        self._holds.setdefault(trial_id, asyncio.Event()).set()

    async def kill(self, trial_id: str) -> None:
        self.killed.append(trial_id)
        task = self._tasks.get(trial_id)
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def stop(self) -> None:
        for trial_id in list(self._tasks):
            await self.kill(trial_id)
        if self.stop_error is not None:
            raise self.stop_error

    def crash(self) -> None:
        """The manager dies: every trial is dropped without a word to the engine (a resume finds them)."""
        self._crashed = True
        for task in self._tasks.values():
            task.cancel()

    def _launch(self, spec: TrialSpec, steps: Sequence[Step]) -> None:
        self._tasks[spec.trial_id] = asyncio.ensure_future(self._run(spec, steps))

    def _emit(self, event: service_base.TrialEvent) -> None:
        assert self._events is not None, "submit before start"
        self._events(event)

    async def _run(self, spec: TrialSpec, steps: Sequence[Step]) -> None:
        trial_id = spec.trial_id
        sequence = 0
        try:
            for step in steps:
                if isinstance(step, Queue):
                    self._emit(service_base.TrialWaiting(trial_id, step.reason))
                elif isinstance(step, Start):
                    self._emit(service_base.TrialStarted(trial_id, f"memory://{trial_id}", host=step.host,
                                            handle={"memory": trial_id}))
                elif isinstance(step, Report):
                    kind = "FINAL" if step.final else "PERIODICAL"
                    self._emit(service_base.TrialMetric(trial_id, {
                        "type": kind, "sequence": sequence, "parameter_id": spec.parameter_record["parameter_id"],
                        "timestamp": int(time.time() * 1000), "value": step.value}))
                    sequence += 0 if step.final else 1
                elif isinstance(step, Sleep):
                    await asyncio.sleep(step.seconds)
                elif isinstance(step, Hold):
                    await self._holds.setdefault(trial_id, asyncio.Event()).wait()
                else:
                    self._emit(service_base.TrialEnded(trial_id, step.code, step.reason))
                    return
            await asyncio.Event().wait()  # no Exit step: it runs until killed
        except asyncio.CancelledError:
            if self._crashed:
                return
            self._emit(service_base.TrialEnded(trial_id, KILLED_EXIT_CODE, "killed", killed=True))
