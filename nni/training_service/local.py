"""The local training service: each trial is a subprocess in its own process group on this machine."""

from __future__ import annotations

import asyncio
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ..config.training_services import LocalConfig
from ..runtime import protocol
from ..runtime.function_worker import function_of
from ._process import exit_reason, exit_wrapper, process_alive, read_exit_code, signal_group
from .base import CANCELED_BEFORE_START, ServiceBase, TrialRun, TrialSpec
from .function_pool import FunctionPool, FunctionPoolError, FunctionTrial
from .gpu import GpuAllocator, query_local_gpus, same_session

__all__ = ["LocalTrainingService"]


def _python3_imports_nni(env: dict[str, str], cwd: str) -> bool:
    """Whether the ``python3`` trials would find on PATH can ``import nni`` where they run.

    As in NNI, trials run with the user's ``python3`` (an activated environment, a system Python
    with its own torch); only when that one cannot import this package does the manager's own
    interpreter go first on PATH, so ``nnictl`` called by its full path still runs trials.
    """
    found = shutil.which("python3", path=env.get("PATH"))
    if found is None:
        return False
    if os.path.dirname(os.path.abspath(found)) == os.path.dirname(os.path.abspath(sys.executable)):
        return True  # this very environment (not resolved: a venv's python links to its base one)
    try:
        probe = subprocess.run([found, "-c", "import nni"], env=env, cwd=cwd, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return probe.returncode == 0

_POLL_SECONDS = 0.1
_STARTER_THREADS = 4
"""Threads that prepare trial folders and start processes: enough to overlap their system calls."""
_INLINE_COST_SECONDS = 0.003
_INLINE_BUDGET_SECONDS = 0.1
_INLINE_WINDOW_SECONDS = 1.0
"""A start runs on the loop itself while starts have been cheap (a moving average under
``_INLINE_COST_SECONDS``), none waits in the pool and those on the loop took under
``_INLINE_BUDGET_SECONDS`` of it over about the last ``_INLINE_WINDOW_SECONDS``: on an idle machine a
start costs about 1 ms, less than the pool's two thread hand-offs, but on a busy one 15 ms or more,
and a loop making a hundred of those a second would hear no ends."""
_T = TypeVar("_T")
_KILL_GRACE_SECONDS = 3.0


@dataclass
class _Running(TrialRun):
    process: subprocess.Popen[bytes] | None = None
    function: FunctionTrial | None = None
    pid: int | None = None
    tail: protocol.MetricTail | None = None
    polled: bool = False
    """Started by this manager: the shared poller reads its metrics (adopted ones follow themselves)."""


class LocalTrainingService(ServiceBase[LocalConfig, _Running]):
    platform = "local"

    def __init__(self, config: LocalConfig, experiment_id: str, experiment_dir: Path) -> None:
        super().__init__(config, experiment_id, experiment_dir)
        self._retry_task: asyncio.Task[None] | None = None
        self._gpus = GpuAllocator(query_local_gpus, config.gpu_indices, config.max_trial_number_per_gpu,
                                  bool(config.use_active_gpu), same_session(self._session_ids))
        self._functions = FunctionPool(self.experiment_dir / "log" / "function_server.log")
        self._put_own_python_first: bool | None = None
        self._poller: asyncio.Task[None] | None = None
        self._starter: ThreadPoolExecutor | None = None
        self._pooled_starts = 0
        self._start_cost = 0.0
        self._inline_spent = 0.0
        self._inline_at = time.monotonic()

    def _session_ids(self) -> set[int]:
        return {r.pid for r in self._trials.values() if r.pid is not None}

    async def submit(self, spec: TrialSpec) -> None:
        self._pending.append(spec)
        self._dispatch()

    def _dispatch(self) -> None:
        """Start every queued trial whose resources are free, in submission order."""
        blocked: deque[TrialSpec] = deque()
        while self._pending:
            spec = self._pending.popleft()
            gpus: tuple[int, ...] = ()
            if spec.gpu_number > 0:
                allocation = self._gpus.allocate(spec.trial_id, spec.gpu_number)
                if isinstance(allocation, str):
                    self._set_waiting(spec.trial_id, allocation)
                    blocked.append(spec)
                    continue
                gpus = allocation
            self._waiting.pop(spec.trial_id, None)
            running = _Running(spec, gpus=gpus)
            self._trials[spec.trial_id] = running
            self._spawn(self._run(running), f"running trial {spec.trial_id}", running)
        self._pending = blocked
        if self._pending and (self._retry_task is None or self._retry_task.done()):
            self._retry_task = self._spawn(self._retry_later(), "retrying to place waiting trials")

    async def _retry_later(self) -> None:
        await asyncio.sleep(1.0)
        self._dispatch()

    def _environment(self, spec: TrialSpec, gpus: tuple[int, ...]) -> dict[str, str]:
        env = dict(os.environ)
        env.update(spec.env)
        if self._put_own_python_first is None:
            self._put_own_python_first = not _python3_imports_nni(env, str(spec.code_dir))
        if self._put_own_python_first:
            env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
        env.update(self._trial_env(spec, str(spec.trial_dir), str(spec.code_dir)))
        env["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, gpus))
        return env

    async def _run(self, running: _Running) -> None:
        spec = running.spec
        trial_dir = Path(spec.trial_dir)
        stdout_path, stderr_path = trial_dir / "stdout", trial_dir / "stderr"
        running.tail = protocol.MetricTail(trial_dir / protocol.METRICS_FILE)
        function = function_of(spec.command)
        env = self._environment(spec, running.gpus)
        # The folder, its files and the fork-exec are blocking system calls (milliseconds each on a
        # busy disk): one call per trial, on the loop while that is cheap, else on a small pool.
        try:
            if function is not None:  # a function trial: forked from a warm server, see function_pool
                await self._start_call(_prepare_trial_dir, trial_dir, spec.parameter_record)
                if not running.killed:
                    running.function = await self._functions.start(function, spec.code_dir, env, spec.trial_id,
                                                                   trial_dir)
                    running.pid = running.function.pid
            else:
                script = exit_wrapper(spec.command, trial_dir / protocol.EXIT_CODE_FILE)
                running.process = await self._start_call(_launch, running, script, env, stdout_path, stderr_path)
                running.pid = None if running.process is None else running.process.pid
        except (OSError, FunctionPoolError) as error:
            self._finish(running, None, f"could not start the trial command: {error}")
            return
        if running.pid is None:
            self._finish(running, None, CANCELED_BEFORE_START)
            return
        if running.killed:  # kill() arrived while the process was being created
            self._spawn(_terminate_group(running.pid), f"killing trial {spec.trial_id}")
        self._emit_started(running, f"file://localhost:{trial_dir}", stdout_path=stdout_path,
                           stderr_path=stderr_path, host="localhost", handle={"pid": running.pid})
        running.polled = True
        if self._poller is None or self._poller.done():
            self._poller = self._spawn(self._poll_metrics(), "reading the running trials' metrics")
        if running.function is not None:
            code = await running.function.wait()
        else:
            assert running.process is not None
            code = await _wait_exit(running.process)
        self._finish(running, code, "the trial's process was lost" if code is None else exit_reason(code))

    async def adopt(self, spec: TrialSpec, handle: dict[str, Any]) -> bool:
        pid = handle.get("pid")
        # A trial that ended while no manager watched it left its exit status: adopt it to collect
        # its results instead of running it again.
        ended_unwatched = (Path(spec.trial_dir) / protocol.EXIT_CODE_FILE).is_file()
        if not isinstance(pid, int) or not (process_alive(pid, group=True) or ended_unwatched):
            return False
        running = _Running(spec, pid=pid, tail=protocol.MetricTail(Path(spec.trial_dir) / protocol.METRICS_FILE))
        self._trials[spec.trial_id] = running
        self._spawn(self._follow(running), f"following trial {spec.trial_id}", running)
        return True

    async def _follow(self, running: _Running) -> None:
        """Watch an adopted trial (not our child, so no wait()) until its process session is gone."""
        assert running.pid is not None
        while process_alive(running.pid, group=True):
            self._drain(running)
            await asyncio.sleep(_POLL_SECONDS)
        code = read_exit_code(running.spec.trial_dir)
        self._finish(running, code, exit_reason(code) if code is not None
                     else "the trial's process ended while no manager watched it")

    def _drain(self, running: _Running) -> None:
        if running.tail is not None:
            for record in running.tail.read_new():
                self._metric(running, record)

    async def _poll_metrics(self) -> None:
        """One task reads every started trial's new metrics each tick (one task per trial would wake
        the loop thousands of times a second at hundreds of trials); it ends with the last trial."""
        # sleep first: a trial just started has reported nothing yet, and its end drains the file anyway
        while any(run.polled for run in self._trials.values()):
            await asyncio.sleep(_POLL_SECONDS)
            for run in list(self._trials.values()):
                if run.polled:
                    self._drain(run)

    def _release(self, run: _Running) -> None:
        self._drain(run)
        self._trials.pop(run.trial_id, None)
        self._gpus.release(run.trial_id)

    def _after_end(self) -> None:
        if self._pending:
            self._dispatch()

    async def kill(self, trial_id: str) -> None:
        if self._cancel_pending(trial_id):
            return
        running = self._trials.get(trial_id)
        if running is None:
            return
        running.killed = True
        if running.pid is not None:
            await _terminate_group(running.pid)

    async def _kill_all(self, trials: list[_Running]) -> None:
        await asyncio.gather(*(self.kill(r.trial_id) for r in trials))

    async def _start_call(self, fn: Callable[..., _T], *args: Any) -> _T:
        """``fn(*args)`` on the loop while starts are cheap and few (see ``_INLINE_COST_SECONDS``), else on
        the pool."""
        now = time.monotonic()
        self._inline_spent *= math.exp((self._inline_at - now) / _INLINE_WINDOW_SECONDS)
        self._inline_at = now
        if (self._pooled_starts == 0 and self._start_cost < _INLINE_COST_SECONDS
                and self._inline_spent < _INLINE_BUDGET_SECONDS):
            try:
                return fn(*args)
            finally:
                took = time.monotonic() - now
                self._inline_spent += took
                self._note_start_cost(took)
        if self._starter is None:
            self._starter = ThreadPoolExecutor(_STARTER_THREADS, thread_name_prefix="nni-trial-start")
        self._pooled_starts += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._starter, self._timed, fn, *args)
        finally:
            self._pooled_starts -= 1

    def _timed(self, fn: Callable[..., _T], *args: Any) -> _T:
        """Run ``fn`` on a pool thread, noting how long it took."""
        started = time.monotonic()
        try:
            return fn(*args)
        finally:
            self._note_start_cost(time.monotonic() - started)

    def _note_start_cost(self, seconds: float) -> None:
        """A moving average of start times (updated from pool threads too: a lost update only blurs it)."""
        self._start_cost += 0.2 * (seconds - self._start_cost)

    async def _close(self) -> None:
        await self._functions.close()
        if self._starter is not None:
            self._starter.shutdown(wait=False)

    def describe(self) -> dict[str, Any]:
        gpus = self._gpus.gpus() if self.config.gpu_indices or self._gpus.assigned else None
        return {"platform": self.platform, "gpus": [g.index for g in gpus] if gpus else []}


def _prepare_trial_dir(trial_dir: Path, parameter_record: dict[str, Any]) -> None:
    (trial_dir / ".nni").mkdir(parents=True, exist_ok=True)
    protocol.write_parameter_file(trial_dir, parameter_record)


def _launch(running: _Running, script: str, env: dict[str, str], stdout_path: Path,
            stderr_path: Path) -> subprocess.Popen[bytes] | None:
    """Prepare the trial's folder and start its shell in a session of its own (its process group is
    what a kill signals); None when the trial was killed before it could start."""
    spec = running.spec
    _prepare_trial_dir(Path(spec.trial_dir), spec.parameter_record)
    if running.killed:
        return None
    # Popen, not asyncio's subprocess: its child watcher on 3.11 starts a thread per child
    with open(stdout_path, "ab") as out, open(stderr_path, "ab") as err:
        return subprocess.Popen(["/bin/sh", "-c", script], cwd=str(spec.code_dir), env=env,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True)


async def _wait_exit(process: subprocess.Popen[bytes]) -> int:
    """The exit status of a child, noticed through a pidfd on the event loop (no thread, no polling).

    Where pidfds are missing (not Linux, or a kernel before 5.3) a thread waits instead.
    """
    try:
        pidfd = os.pidfd_open(process.pid)
    except (AttributeError, OSError):
        return await asyncio.to_thread(process.wait)
    loop = asyncio.get_running_loop()
    exited: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        if not exited.done():
            exited.set_result(None)
    loop.add_reader(pidfd, readable)
    try:
        await exited
    finally:
        loop.remove_reader(pidfd)
        os.close(pidfd)
    return process.wait()  # readable means it exited: this only reaps it


async def _terminate_group(pgid: int) -> None:
    """SIGTERM the trial's whole process group, then SIGKILL what is left after a grace period."""
    signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + _KILL_GRACE_SECONDS
    while time.monotonic() < deadline:
        if not process_alive(pgid, group=True):
            return
        await asyncio.sleep(0.05)
    signal_group(pgid, signal.SIGKILL)
