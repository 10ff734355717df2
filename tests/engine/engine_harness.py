"""What the engine unit tests drive the real Engine with: an in-memory training service that "runs"
each trial by a script of events, a tuner that proposes a fixed list and logs every call, and a real
SQLite storage in the test's folder. No subprocess, no port: each test runs in well under a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nni.assessor import Assessor, AssessResult
from nni.config import ExperimentConfig
from nni.engine.engine import Engine
from nni.errors import NoMoreTrialError
from nni.records import Trial
from nni.storage.sqlite import DB_FILE, SqliteStorage
from nni.training_service.base import (
    EventSink,
    TrainingService,
    TrialEnded,
    TrialMetric,
    TrialSpec,
    TrialStarted,
    TrialWaiting,
)
from nni.tuner import Tuner

__all__ = [
    "Start", "Report", "Sleep", "Hold", "Exit", "Queue", "Step", "Script", "MemoryService", "ScriptedTuner",
    "ScriptedAssessor", "make_engine", "run", "wait_for", "finish", "by_parameter", "stored_statuses", "SPACE",
    "KILLED_EXIT_CODE",
]

SPACE = {"x": {"_type": "uniform", "_value": [0, 1]}}
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


class MemoryService(TrainingService):
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
        self._events: EventSink | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._holds: dict[str, asyncio.Event] = {}
        self._crashed = False

    async def start(self, events: EventSink) -> None:
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

    def _emit(self, event: TrialWaiting | TrialStarted | TrialMetric | TrialEnded) -> None:
        assert self._events is not None, "submit before start"
        self._events(event)

    async def _run(self, spec: TrialSpec, steps: Sequence[Step]) -> None:
        trial_id = spec.trial_id
        sequence = 0
        try:
            for step in steps:
                if isinstance(step, Queue):
                    self._emit(TrialWaiting(trial_id, step.reason))
                elif isinstance(step, Start):
                    self._emit(TrialStarted(trial_id, f"memory://{trial_id}", host=step.host,
                                            handle={"memory": trial_id}))
                elif isinstance(step, Report):
                    kind = "FINAL" if step.final else "PERIODICAL"
                    self._emit(TrialMetric(trial_id, {
                        "type": kind, "sequence": sequence, "parameter_id": spec.parameter_record["parameter_id"],
                        "timestamp": int(time.time() * 1000), "value": step.value}))
                    sequence += 0 if step.final else 1
                elif isinstance(step, Sleep):
                    await asyncio.sleep(step.seconds)
                elif isinstance(step, Hold):
                    await self._holds.setdefault(trial_id, asyncio.Event()).wait()
                else:
                    self._emit(TrialEnded(trial_id, step.code, step.reason))
                    return
            await asyncio.Event().wait()  # no Exit step: it runs until killed
        except asyncio.CancelledError:
            if self._crashed:
                return
            self._emit(TrialEnded(trial_id, KILLED_EXIT_CODE, "killed", killed=True))


class ScriptedTuner(Tuner):
    """Proposes ``proposals`` in order (NoMoreTrialError after the last) and logs every call.

    Results and ends reach it in the background: read them after the engine stopped (stop waits for them).

    ``fail`` names a method that raises RuntimeError, after ``fail_after`` successful calls of it.
    """

    def __init__(self, proposals: list[dict[str, Any]] | None = None, fail: str | None = None,
                 fail_after: int = 0) -> None:
        self.proposals = list(proposals if proposals is not None else [{"x": i / 10} for i in range(10)])
        self.fail = fail
        self.fail_after = fail_after
        self.calls: list[tuple[Any, ...]] = []
        self.asked: list[int] = []
        """Every parameter id asked for, answered or not."""
        self.exited = False
        self._given = 0

    def _log(self, name: str, *args: Any) -> None:
        if name == self.fail:
            if self.fail_after <= 0:
                raise RuntimeError(f"scripted failure in {name}")
            self.fail_after -= 1
        self.calls.append((name, *args))

    def update_search_space(self, search_space: dict[str, Any]) -> None:
        self._log("space", search_space)

    def generate_parameters(self, parameter_id: int, **kwargs: Any) -> dict[str, Any]:
        self.asked.append(parameter_id)
        if self._given >= len(self.proposals):
            raise NoMoreTrialError("scripted tuner: nothing left")
        self._log("generate", parameter_id)
        self._given += 1
        return self.proposals[self._given - 1]

    def receive_trial_result(self, parameter_id: int, parameters: dict[str, Any], value: Any,
                             **kwargs: Any) -> None:
        self._log("result", parameter_id, value, kwargs.get("customized", False))

    def trial_end(self, parameter_id: int, success: bool, **kwargs: Any) -> None:
        self._log("end", parameter_id, success)

    def import_data(self, data: list[dict[str, Any]]) -> None:
        self._log("import", data)

    def _on_exit(self) -> None:
        self.exited = True
        if self.fail == "_on_exit":
            raise RuntimeError("scripted failure in _on_exit")

    def named(self, name: str) -> list[tuple[Any, ...]]:
        """The logged calls of one method, in order."""
        return [call for call in self.calls if call[0] == name]


class ScriptedAssessor(Assessor):
    """Early-stops every trial once it has reported ``patience`` intermediate results."""

    def __init__(self, patience: int = 2) -> None:
        self.patience = patience
        self.ended: list[tuple[str, bool]] = []

    def assess_trial(self, trial_job_id: str, trial_history: list[Any]) -> AssessResult:
        return AssessResult.Bad if len(trial_history) >= self.patience else AssessResult.Good

    def trial_end(self, trial_job_id: str, success: bool) -> None:
        self.ended.append((trial_job_id, success))


def make_engine(folder: Path, service: TrainingService, tuner: Tuner, assessor: Assessor | None = None,
                **config: Any) -> Engine:
    """An Engine on a real SQLite file under ``folder/db`` (the same file again for a resume)."""
    settings: dict[str, Any] = {"search_space": SPACE, "trial_command": "scripted",
                                "trial_code_directory": folder, "trial_concurrency": 1} | config
    experiment_config = ExperimentConfig("local", **settings)
    return Engine("memexp", experiment_config, folder, SqliteStorage(folder / "db"), service, tuner, assessor)


def run(test: Callable[[], Coroutine[Any, Any, None]], limit: float = 20) -> None:
    """Run an async test body on a fresh loop; ``limit`` only stops a hung test, nothing is timed."""
    asyncio.run(asyncio.wait_for(test(), limit))


async def wait_for(engine: Engine, condition: Callable[[], bool], limit: float = 10) -> None:
    """Wait on the engine's change feed until ``condition()`` holds; fail after ``limit`` seconds."""
    seen = engine.revision
    deadline = asyncio.get_running_loop().time() + limit
    while not condition():
        left = deadline - asyncio.get_running_loop().time()
        assert left > 0, f"condition not reached; experiment {engine.status.value}, trials " \
                         f"{[(t.parameter_id, t.status.value) for t in engine.trials.values()]}"
        changes = await engine.wait_changes(seen, min(left, 0.05))
        seen = changes[-1].seq if changes else seen


async def finish(engine: Engine, stop: Awaitable[None] | None = None) -> None:
    """Stop the engine (or await ``stop``) and close its database."""
    await (stop if stop is not None else engine.stop())
    engine.storage.close()


def by_parameter(engine: Engine) -> list[Trial]:
    """The engine's trials in the order they were created."""
    return sorted(engine.trials.values(), key=lambda t: t.parameter_id)


def stored_statuses(folder: Path, trial_id: str) -> list[str]:
    """Every status a trial went through, read back from the SQLite file itself."""
    with contextlib.closing(sqlite3.connect(folder / "db" / DB_FILE)) as conn:
        rows = conn.execute("SELECT data FROM trial_events WHERE trial_id = ? ORDER BY seq", (trial_id,)).fetchall()
    return [fields["status"] for fields in (json.loads(data) for (data,) in rows) if "status" in fields]

