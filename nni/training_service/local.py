"""The local training service: each trial is a subprocess in its own process group on this machine."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config.training_services import LocalConfig
from ..runtime import protocol
from .base import (
    EventSink,
    TrainingService,
    TrialEnded,
    TrialMetric,
    TrialSpec,
    TrialStarted,
    TrialWaiting,
)
from .gpu import GpuAllocator, query_local_gpus, same_session

__all__ = ["LocalTrainingService", "describe_exit"]

_POLL_SECONDS = 0.1
_KILL_GRACE_SECONDS = 3.0


def describe_exit(code: int | None) -> str:
    """Words for an exit status, naming the signal when there was one."""
    if code is None:
        return "the trial process was lost"
    signum = -code if code < 0 else code - 128 if code > 128 else None
    if signum is not None:
        with contextlib.suppress(ValueError):
            return f"killed by signal {signal.Signals(signum).name} (exit status {code})"
    if code == 127:
        return "command not found (exit status 127)"
    if code == 126:
        return "command not executable (exit status 126)"
    return f"exit status {code}"


@dataclass
class _Running:
    spec: TrialSpec
    process: asyncio.subprocess.Process | None = None
    pid: int | None = None
    tail: protocol.MetricTail | None = None
    killed: bool = False
    gpus: tuple[int, ...] = ()
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)


class LocalTrainingService(TrainingService):
    platform = "local"

    def __init__(self, config: LocalConfig, experiment_id: str, experiment_dir: Path) -> None:
        self.config = config
        self.experiment_id = experiment_id
        self.experiment_dir = Path(experiment_dir)
        self._events: EventSink | None = None
        self._queue: deque[TrialSpec] = deque()
        self._running: dict[str, _Running] = {}
        self._waiting_reason: dict[str, str] = {}
        self._retry_task: asyncio.Task[None] | None = None
        self._gpus = GpuAllocator(query_local_gpus, config.gpu_indices, config.max_trial_number_per_gpu,
                                  bool(config.use_active_gpu), same_session(self._session_ids))

    def _session_ids(self) -> set[int]:
        return {r.pid for r in self._running.values() if r.pid is not None}

    async def start(self, events: EventSink) -> None:
        self._events = events

    def _emit(self, event: Any) -> None:
        assert self._events is not None, "start() first"
        self._events(event)

    async def submit(self, spec: TrialSpec) -> None:
        self._queue.append(spec)
        self._dispatch()

    def _dispatch(self) -> None:
        """Start every queued trial whose resources are free, in submission order."""
        blocked: deque[TrialSpec] = deque()
        while self._queue:
            spec = self._queue.popleft()
            gpus: tuple[int, ...] = ()
            if spec.gpu_number > 0:
                allocation = self._gpus.allocate(spec.trial_id, spec.gpu_number)
                if isinstance(allocation, str):
                    if self._waiting_reason.get(spec.trial_id) != allocation:
                        self._waiting_reason[spec.trial_id] = allocation
                        self._emit(TrialWaiting(spec.trial_id, allocation))
                    blocked.append(spec)
                    continue
                gpus = allocation
            self._waiting_reason.pop(spec.trial_id, None)
            running = _Running(spec, gpus=gpus)
            self._running[spec.trial_id] = running
            running.tasks.append(asyncio.ensure_future(self._run(running)))
        self._queue = blocked
        if self._queue and (self._retry_task is None or self._retry_task.done()):
            self._retry_task = asyncio.ensure_future(self._retry_later())

    async def _retry_later(self) -> None:
        await asyncio.sleep(1.0)
        self._dispatch()

    def _environment(self, spec: TrialSpec, gpus: tuple[int, ...]) -> dict[str, str]:
        env = dict(os.environ)
        env.update(spec.env)
        trial_dir = str(spec.trial_dir)
        # The manager's own interpreter comes first so `python3 trial.py` finds this package.
        bin_dir = os.path.dirname(sys.executable)
        env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
        env.update({
            "NNI_PLATFORM": "local",
            "NNI_EXP_ID": self.experiment_id,
            "NNI_TRIAL_JOB_ID": spec.trial_id,
            "NNI_SYS_DIR": trial_dir,
            "NNI_OUTPUT_DIR": trial_dir,
            "NNI_TRIAL_SEQ_ID": str(spec.sequence_id),
            "NNI_CODE_DIR": str(spec.code_dir),
            "CUDA_VISIBLE_DEVICES": ",".join(map(str, gpus)),
        })
        return env

    async def _run(self, running: _Running) -> None:
        spec = running.spec
        trial_dir = Path(spec.trial_dir)
        (trial_dir / ".nni").mkdir(parents=True, exist_ok=True)
        protocol.write_parameter_file(trial_dir, spec.parameter_record)
        stdout_path, stderr_path = trial_dir / "stdout", trial_dir / "stderr"
        exit_file = trial_dir / protocol.EXIT_CODE_FILE
        # The shell records the exit status so a restarted manager can learn how an adopted trial ended.
        script = f"{spec.command}\n__nni_status=$?\necho $__nni_status > {shlex.quote(str(exit_file))}\nexit $__nni_status\n"
        running.tail = protocol.MetricTail(trial_dir / protocol.METRICS_FILE)
        if running.killed:
            self._finish(running, None, "canceled before it started")
            return
        try:
            with open(stdout_path, "ab") as out, open(stderr_path, "ab") as err:
                process = await asyncio.create_subprocess_exec(
                    "/bin/sh", "-c", script, cwd=str(spec.code_dir), env=self._environment(spec, running.gpus),
                    stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True)
        except OSError as error:
            self._finish(running, None, f"could not start the trial command: {error}")
            return
        running.process, running.pid = process, process.pid
        if running.killed:  # kill() arrived while the process was being created
            asyncio.ensure_future(_terminate_group(process.pid))
        self._emit(TrialStarted(spec.trial_id, log_path=f"file://localhost:{trial_dir}", stdout_path=stdout_path,
                                stderr_path=stderr_path, host="localhost", gpus=running.gpus,
                                timestamp_ms=int(time.time() * 1000), handle={"pid": process.pid}))
        poller = asyncio.ensure_future(self._poll_metrics(running))
        code = await process.wait()
        poller.cancel()
        self._finish(running, code, None)

    async def adopt(self, spec: TrialSpec, handle: dict[str, Any]) -> bool:
        pid = handle.get("pid")
        # A trial that ended while no manager watched it left its exit status: adopt it to collect
        # its results instead of running it again.
        ended_unwatched = (Path(spec.trial_dir) / protocol.EXIT_CODE_FILE).is_file()
        if not isinstance(pid, int) or not (_alive_session(pid) or ended_unwatched):
            return False
        running = _Running(spec, pid=pid, tail=protocol.MetricTail(Path(spec.trial_dir) / protocol.METRICS_FILE))
        self._running[spec.trial_id] = running
        running.tasks.append(asyncio.ensure_future(self._follow(running)))
        return True

    async def _follow(self, running: _Running) -> None:
        """Watch an adopted trial (not our child, so no wait()) until its process session is gone."""
        assert running.pid is not None
        while _alive_session(running.pid):
            self._drain(running)
            await asyncio.sleep(_POLL_SECONDS)
        exit_file = Path(running.spec.trial_dir) / protocol.EXIT_CODE_FILE
        try:
            code: int | None = int(exit_file.read_text().strip())
        except (OSError, ValueError):
            code = None
        self._finish(running, code, None if code is not None else "the trial's process ended while no manager watched it")

    def _drain(self, running: _Running) -> None:
        if running.tail is not None:
            for record in running.tail.read_new():
                self._emit(TrialMetric(running.spec.trial_id, record))

    async def _poll_metrics(self, running: _Running) -> None:
        while True:
            self._drain(running)
            await asyncio.sleep(_POLL_SECONDS)

    def _finish(self, running: _Running, code: int | None, reason: str | None) -> None:
        trial_id = running.spec.trial_id
        self._drain(running)
        self._running.pop(trial_id, None)
        self._gpus.release(trial_id)
        if reason is None and code != 0:
            reason = describe_exit(code)
        self._emit(TrialEnded(trial_id, code, reason, killed=running.killed, timestamp_ms=int(time.time() * 1000)))
        if self._queue:
            self._dispatch()

    async def kill(self, trial_id: str) -> None:
        for spec in list(self._queue):
            if spec.trial_id == trial_id:
                self._queue.remove(spec)
                self._waiting_reason.pop(trial_id, None)
                self._emit(TrialEnded(trial_id, None, "canceled before it started", killed=True,
                                      timestamp_ms=int(time.time() * 1000)))
                return
        running = self._running.get(trial_id)
        if running is None:
            return
        running.killed = True
        if running.pid is not None:
            await _terminate_group(running.pid)

    async def stop(self) -> None:
        for spec in list(self._queue):
            await self.kill(spec.trial_id)
        trials = list(self._running.values())
        await asyncio.gather(*(self.kill(r.spec.trial_id) for r in trials))
        for running in trials:
            for task in running.tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._retry_task is not None:
            self._retry_task.cancel()

    def describe(self) -> dict[str, Any]:
        gpus = self._gpus.gpus() if self.config.gpu_indices or self._gpus.assigned else None
        return {"platform": self.platform, "gpus": [g.index for g in gpus] if gpus else []}


def _alive_session(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def _terminate_group(pgid: int) -> None:
    """SIGTERM the trial's whole process group, then SIGKILL what is left after a grace period."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + _KILL_GRACE_SECONDS
    while time.monotonic() < deadline:
        if not _alive_session(pgid):
            return
        await asyncio.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
