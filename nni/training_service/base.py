"""The small interface every training service implements.

Life of a trial as a service sees it: the engine calls :meth:`TrainingService.submit`; the service
emits :class:`TrialWaiting` (with a reason) while it lacks resources, :class:`TrialStarted` once the
command runs, one :class:`TrialMetric` per line the trial appends to its metrics file
(:mod:`nni.runtime.protocol`), and exactly one :class:`TrialEnded`. Every event is delivered on the
engine's event loop through the :data:`EventSink` given to :meth:`TrainingService.start`.

:class:`ServiceBase` is the skeleton the built-in services share (events, the queue of trials
waiting for resources, one idempotent end per trial, tracked background tasks, stop); each service
adds only how it starts, follows and kills a trial where it runs.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import shutil
import tempfile
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from ._mirror import TrialMirror

__all__ = [
    "TrialSpec", "TrialWaiting", "TrialStarted", "TrialMetric", "TrialEnded", "TrialEvent", "EventSink",
    "TrainingService", "TrainingServiceError", "TrialRun", "ServiceBase",
]

_logger = logging.getLogger("nni.training_service")


class TrainingServiceError(RuntimeError):
    """A service cannot run trials (unreachable host, missing cluster, bad set-up); says which."""


@dataclass(frozen=True)
class TrialSpec:
    """Everything a service needs to run one trial."""

    trial_id: str
    sequence_id: int
    command: str
    code_dir: Path
    """Folder the command runs in (uploaded first by services that run elsewhere)."""
    trial_dir: Path
    """This machine's record folder for the trial: stdout, stderr and metrics land (or are copied) here."""
    parameter_record: dict[str, Any]
    """NNI's hyper-parameter record, written to ``parameter.cfg`` in the trial's folder."""
    gpu_number: int = 0
    env: dict[str, str] = field(default_factory=dict)
    """NNI_EXP_ID and the like; the service adds NNI_PLATFORM, NNI_SYS_DIR, NNI_OUTPUT_DIR and
    CUDA_VISIBLE_DEVICES for where the trial really runs."""


@dataclass(frozen=True)
class TrialWaiting:
    trial_id: str
    reason: str


@dataclass(frozen=True)
class TrialStarted:
    trial_id: str
    log_path: str
    """Where to find the trial's output, as NNI shows it (``file://localhost:/…``, ``ssh://host/…``)."""
    stdout_path: Path | None = None
    stderr_path: Path | None = None
    """Local copies the REST server can serve; None while they live only elsewhere."""
    host: str | None = None
    gpus: tuple[int, ...] = ()
    timestamp_ms: int | None = None
    handle: dict[str, Any] = field(default_factory=dict)
    """Service-specific facts to find the trial again after a manager restart (pid, job id, host);
    stored by the engine and given back to :meth:`TrainingService.adopt`."""


@dataclass(frozen=True)
class TrialMetric:
    trial_id: str
    record: dict[str, Any]
    """A decoded metrics line (see :mod:`nni.runtime.protocol`)."""


@dataclass(frozen=True)
class TrialEnded:
    trial_id: str
    exit_code: int | None
    """The command's exit status; negative for a signal; None when it never ran or was lost."""
    reason: str | None = None
    """Why it ended abnormally, in words a user understands (signal name, lost host, …)."""
    killed: bool = False
    """True when the end came from :meth:`TrainingService.kill` or :meth:`TrainingService.stop`."""
    timestamp_ms: int | None = None


TrialEvent = TrialWaiting | TrialStarted | TrialMetric | TrialEnded
EventSink = Callable[[TrialEvent], None]


class TrainingService(abc.ABC):
    """Runs trial commands; one instance per experiment, driven from the engine's event loop."""

    platform: str = ""

    @abc.abstractmethod
    async def start(self, events: EventSink) -> None:
        """Check the service can run trials (raise TrainingServiceError naming what is wrong) and
        remember where to send events."""

    @abc.abstractmethod
    async def submit(self, spec: TrialSpec) -> None:
        """Queue a trial; it starts as soon as resources allow. Returns without waiting for it."""

    @abc.abstractmethod
    async def kill(self, trial_id: str) -> None:
        """End a trial and everything it started; its TrialEnded carries ``killed=True``."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Kill every trial, wait for their TrialEnded events, and release all resources."""

    async def adopt(self, spec: TrialSpec, handle: dict[str, Any]) -> bool:
        """Take over a trial a previous manager started (resume after a crash).

        Return True when the trial is still alive and will now be followed (its metrics, read from
        the start of its metrics file, and its end are reported as usual); False when it is gone,
        in which case the engine runs it again. The default adopts nothing.
        """
        return False

    def describe(self) -> dict[str, Any]:
        """What the web UI shows about this service (hosts, GPUs, cluster address)."""
        return {"platform": self.platform}


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class TrialRun:
    """What every service tracks about one trial it runs; services subclass it for their own facts."""

    spec: TrialSpec
    gpus: tuple[int, ...] = ()
    started: bool = False
    killed: bool = False
    """kill() or stop() asked for its end: its TrialEnded says ``killed=True``."""
    ended: bool = False
    """Its TrialEnded was emitted; nothing more is reported for it."""

    @property
    def trial_id(self) -> str:
        return self.spec.trial_id


ConfigT = TypeVar("ConfigT")
RunT = TypeVar("RunT", bound=TrialRun)
ResultT = TypeVar("ResultT")

CANCELED_BEFORE_START = "canceled before it started"


class ServiceBase(TrainingService, Generic[ConfigT, RunT]):
    """The lifecycle the built-in services share, so that each keeps only what differs.

    Subclasses keep their trials in ``_trials`` (queued ones, if they queue, in ``_pending``), end
    each through :meth:`_finish` and start background work with :meth:`_spawn`; :meth:`stop` kills
    every trial, waits ``stop_timeout`` seconds for their ends, then cancels what still runs.
    """

    stop_timeout: float | None = None
    """How long stop() waits for killed trials to end; None waits until they all have."""

    def __init__(self, config: ConfigT, experiment_id: str, experiment_dir: Path) -> None:
        self.config = config
        self.experiment_id = experiment_id
        self.experiment_dir = Path(experiment_dir)
        self.stopping = False
        """Set once stop() has seen its trials end: losses from here on are the service's own doing."""
        self._events: EventSink | None = None
        self._trials: dict[str, RunT] = {}
        self._pending: deque[TrialSpec] = deque()
        self._waiting: dict[str, str] = {}
        self._wake = asyncio.Event()
        """Set to make a background loop of the service look again now."""
        self._tasks: set[asyncio.Task[Any]] = set()
        self._scratch: Path | None = None

    # -- lifecycle --------------------------------------------------------------------------------

    async def start(self, events: EventSink) -> None:
        self._events = events

    async def stop(self) -> None:
        for spec in list(self._pending):
            await self.kill(spec.trial_id)
        trials = [t for t in self._trials.values() if not t.ended]
        await self._kill_all(trials)
        deadline = None if self.stop_timeout is None else time.monotonic() + self.stop_timeout
        while any(not t.ended for t in trials) and (deadline is None or time.monotonic() < deadline):
            self._wake.set()
            await asyncio.sleep(0.05)
        self.stopping = True
        for trial in trials:
            self._finish(trial, None, self._unconfirmed_kill(trial))
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._close()
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)

    async def _kill_all(self, trials: list[RunT]) -> None:
        """Ask every unfinished trial to end (stop() then waits for their ends)."""
        for trial in trials:
            await self.kill(trial.trial_id)

    def _unconfirmed_kill(self, trial: RunT) -> str:
        """The end reason of a trial that did not confirm its kill within ``stop_timeout``."""
        return "killed (its end was not confirmed)"

    async def _close(self) -> None:
        """Release what the service holds (connections, clusters) once every task has ended."""

    def _scratch_dir(self) -> Path:
        """A private temporary folder of this service, removed by stop()."""
        if self._scratch is None:
            self._scratch = Path(tempfile.mkdtemp(prefix=f"nni-{self.platform}-"))
        return self._scratch

    # -- background tasks -------------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, ResultT], what: str, run: RunT | None = None,
               awaited: bool = False) -> asyncio.Task[ResultT]:
        """Run ``coro`` in the background, kept so that stop() can cancel it.

        A failure is logged naming ``what`` and ends ``run``, whose end would otherwise never come;
        ``awaited`` tasks (caches) leave their failure to whoever awaits them.
        """
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._task_done(done, what, run, awaited))
        return task

    def _task_done(self, task: asyncio.Task[Any], what: str, run: RunT | None, awaited: bool) -> None:
        self._tasks.discard(task)
        if task.cancelled() or awaited:
            return
        error = task.exception()
        if error is None:
            return
        _logger.error("%s training service: %s failed: %s", self.platform, what, error, exc_info=error)
        if run is not None:
            self._finish(run, None, f"{what} failed: {type(error).__name__}: {error}")

    async def _wait_for_wake(self, timeout: float | None) -> None:
        """Sleep until ``_wake`` is set or ``timeout`` seconds pass; clears it for the next round."""
        try:
            await asyncio.wait_for(self._wake.wait(), timeout)
        except asyncio.TimeoutError:
            pass  # the timeout is the loop's regular round
        self._wake.clear()

    def _trial_env(self, spec: TrialSpec, sys_dir: str, code_dir: str) -> dict[str, str]:
        """The variables NNI's trial API reads, for a trial whose folder where it runs is ``sys_dir``."""
        return {
            "NNI_PLATFORM": self.platform,
            "NNI_EXP_ID": self.experiment_id,
            "NNI_TRIAL_JOB_ID": spec.trial_id,
            "NNI_SYS_DIR": sys_dir,
            "NNI_OUTPUT_DIR": sys_dir,
            "NNI_TRIAL_SEQ_ID": str(spec.sequence_id),
            "NNI_CODE_DIR": code_dir,
        }

    # -- events -----------------------------------------------------------------------------------

    def _emit(self, event: TrialEvent) -> None:
        assert self._events is not None, "start() first"
        self._events(event)

    def _set_waiting(self, trial_id: str, reason: str) -> None:
        """Say why a trial waits, once per distinct reason."""
        if self._waiting.get(trial_id) != reason:
            self._waiting[trial_id] = reason
            self._emit(TrialWaiting(trial_id, reason))

    def _cancel_pending(self, trial_id: str) -> bool:
        """End a trial still in ``_pending`` as canceled; False when it is not there."""
        spec = next((s for s in self._pending if s.trial_id == trial_id), None)
        if spec is None:
            return False
        self._pending.remove(spec)
        self._end(trial_id, None, CANCELED_BEFORE_START, killed=True)
        return True

    def _metric(self, run: RunT, record: dict[str, Any]) -> None:
        """Pass on one metrics record of a trial; nothing comes after its end."""
        if not run.ended:
            self._emit(TrialMetric(run.trial_id, record))

    def _mirror_message(self, run: RunT, mirror: TrialMirror, message: dict[str, Any], where: str) -> None:
        """Apply a trial runner's metric, output, exit or error message (see :mod:`._trial_runner`)."""
        kind = message.get("ev")
        if kind == "metric":
            record = mirror.metric(message)
            if record is not None:
                self._metric(run, record)
        elif kind == "out":
            mirror.output(message)
        elif kind == "exit":
            self._finish(run, *TrialMirror.exit_of(message))
        elif kind == "error":
            self._finish(run, None, f"{where}: {message.get('message')}")

    def _emit_started(self, run: RunT, log_path: str, *, stdout_path: Path | None, stderr_path: Path | None,
                      host: str | None, handle: dict[str, Any]) -> None:
        """Report that the trial's command runs (``handle`` finds it again after a manager restart)."""
        run.started = True
        self._waiting.pop(run.trial_id, None)
        self._emit(TrialStarted(run.trial_id, log_path=log_path, stdout_path=stdout_path, stderr_path=stderr_path,
                                host=host, gpus=run.gpus, timestamp_ms=_now_ms(), handle=handle))

    def _end(self, trial_id: str, code: int | None, reason: str | None, killed: bool = False) -> None:
        """Emit the end of a trial; for one with a :class:`TrialRun`, use :meth:`_finish`."""
        self._waiting.pop(trial_id, None)
        self._emit(TrialEnded(trial_id, code, reason, killed=killed, timestamp_ms=_now_ms()))

    def _finish(self, run: RunT, code: int | None, reason: str | None) -> None:
        """Report a trial's end exactly once, whichever path notices it first."""
        if run.ended:
            return
        self._release(run)
        run.ended = True
        self._end(run.trial_id, code, reason, killed=run.killed)
        self._after_end()

    def _release(self, run: RunT) -> None:
        """Just before a trial's end is reported: read its last metrics, free its resources."""

    def _after_end(self) -> None:
        """Just after a trial's end is reported: resources are free for waiting trials."""
