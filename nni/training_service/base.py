"""The small interface every training service implements.

Life of a trial as a service sees it: the engine calls :meth:`TrainingService.submit`; the service
emits :class:`TrialWaiting` (with a reason) while it lacks resources, :class:`TrialStarted` once the
command runs, one :class:`TrialMetric` per line the trial appends to its metrics file
(:mod:`nni.runtime.protocol`), and exactly one :class:`TrialEnded`. Every event is delivered on the
engine's event loop through the :data:`EventSink` given to :meth:`TrainingService.start`.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "TrialSpec", "TrialWaiting", "TrialStarted", "TrialMetric", "TrialEnded", "TrialEvent", "EventSink",
    "TrainingService", "TrainingServiceError",
]


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
