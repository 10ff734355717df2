"""Remote machines over SSH (NNI's ``platform: remote``), with asyncssh.

Before the first trial every machine is checked: it must accept the connection and its Python
(``pythonPath`` first on PATH) must import this package at a compatible version; otherwise
:class:`TrainingServiceError` names the host and what to fix. The trial runner
(:mod:`._trial_runner`) is uploaded once per machine, the code directory once per machine and code
version (``.nniignore`` honoured).

Each trial has one SSH channel to a runner on its machine: parameters go down it, metrics and output
come back up it, and a kill request goes down it too (a root SSH session cannot be signalled), so the
machine never connects back to the manager. Trials run detached in their own process group on the
machine: when a connection breaks the service reconnects and follows them again from where it was;
a machine that stays unreachable for ``reconnectSeconds`` fails its trials with the reason and the
experiment continues on the other machines.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shlex
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config.training_services import RemoteConfig
from ._code_archive import pack_code
from ._mirror import TrialMirror
from ._ssh import CONNECT_TIMEOUT_SECONDS, RUNNER_FILE, Connection, Machine, asyncssh_module, sh
from .base import CANCELED_BEFORE_START, EventSink, ServiceBase, TrainingServiceError, TrialRun, TrialSpec

__all__ = ["RemoteTrainingService"]

_logger = logging.getLogger("nni.training_service.remote")

_KILL_GRACE_SECONDS = 3.0


@dataclass(kw_only=True)
class _Trial(TrialRun):
    machine: Machine[_Trial]
    remote_dir: str = ""
    pgid: int | None = None
    process: Any = None
    connection: Connection | None = None
    mirror: TrialMirror = field(init=False)
    task: asyncio.Task[None] | None = None
    """The trial's runner channel (launching, then streaming)."""
    adopted: bool = False

    def __post_init__(self) -> None:
        self.mirror = TrialMirror(Path(self.spec.trial_dir), adopted=self.adopted)


class RemoteTrainingService(ServiceBase[RemoteConfig, _Trial]):
    platform = "remote"
    stop_timeout = _KILL_GRACE_SECONDS + 10

    def __init__(self, config: RemoteConfig, experiment_id: str, experiment_dir: Path) -> None:
        super().__init__(config, experiment_id, experiment_dir)
        self.machines: list[Machine[_Trial]] = [Machine(self, m, i, config.keepalive_seconds)
                                                for i, m in enumerate(config.machine_list)]
        self._killed_early: set[str] = set()
        self._archives: dict[str, asyncio.Task[tuple[Path, str]]] = {}

    # -- interface --------------------------------------------------------------------------------

    async def start(self, events: EventSink) -> None:
        await super().start(events)
        asyncssh_module()
        if not self.machines:
            raise TrainingServiceError("remote: machineList is empty; list the machines to run trials on "
                                       "(host, user, and sshKeyFile or password)")
        seen: set[tuple[str, int, str]] = set()
        for machine in self.machines:
            identity = (machine.config.host, machine.config.port, machine.config.user)
            if identity in seen:
                raise TrainingServiceError(f"remote: {machine.label} is listed twice in machineList")
            seen.add(identity)
        results = await asyncio.gather(*(m.preflight() for m in self.machines), return_exceptions=True)
        problems = []
        for machine, result in zip(self.machines, results, strict=True):
            if isinstance(result, TrainingServiceError):
                problems.append(str(result))
            elif isinstance(result, BaseException):
                problems.append(f"{machine.label}: {type(result).__name__}: {result}")
        if problems:
            for machine in self.machines:
                await machine.close()
            raise TrainingServiceError("remote machines failed the pre-flight check:\n  " + "\n  ".join(problems))
        if self.config.trial_code_directory is not None:
            code_dir = Path(self.config.trial_code_directory).expanduser().resolve()
            await asyncio.gather(*(m.ensure_code(code_dir) for m in self.machines))
        self._spawn(self._dispatch_loop(), "placing trials on the remote machines")

    async def submit(self, spec: TrialSpec) -> None:
        self._pending.append(spec)
        self._wake.set()

    async def kill(self, trial_id: str) -> None:
        if self._cancel_pending(trial_id):
            return
        trial = self._trials.get(trial_id)
        if trial is None:
            self._killed_early.add(trial_id)  # being placed right now: _dispatch cancels it
            return
        if trial.ended:
            return
        trial.killed = True
        if trial.process is not None:
            self._send_kill(trial, trial.process)
            return
        if trial.machine.state != "up" and trial.pgid is not None:
            # Unreachable now: report it ended, and end its processes when the machine answers.
            trial.machine.orphans.add(trial.pgid)
            self._finish(trial, None, f"killed while {trial.machine.label} was unreachable")

    def _send_kill(self, trial: _Trial, process: Any) -> None:
        """Ask the trial's runner to end its process group (best effort: the channel may be closing)."""
        try:
            process.stdin.write(json.dumps({"kill": True}) + "\n")
        except (OSError, asyncssh_module().Error) as error:
            _logger.warning("remote: could not send the kill request of trial %s to %s: %s", trial.trial_id,
                            trial.machine.label, error)

    def _unconfirmed_kill(self, trial: _Trial) -> str:
        return f"no answer from {trial.machine.label} to the kill request"

    async def _close(self) -> None:
        for machine in self.machines:
            await machine.close()

    async def adopt(self, spec: TrialSpec, handle: dict[str, Any]) -> bool:
        machine = next((m for m in self.machines if m.config.host == handle.get("host")
                        and m.config.port == handle.get("port") and m.config.user == handle.get("user")), None)
        if machine is None or machine.state != "up" or not handle.get("dir"):
            return False
        trial = _Trial(spec, machine=machine, gpus=tuple(handle.get("gpus") or ()), remote_dir=str(handle["dir"]),
                       pgid=handle.get("pgid"), started=True, adopted=True)
        if trial.gpus:
            machine.allocator.assigned[spec.trial_id] = trial.gpus
        self._trials[spec.trial_id] = trial
        machine.trials[spec.trial_id] = trial
        first = await self._open(trial, {"follow": self._follow_request(trial)})
        if first != "started":
            self._forget(trial)
            return False
        return True

    def describe(self) -> dict[str, Any]:
        return {"platform": self.platform, "machines": [m.describe() for m in self.machines]}

    # -- scheduling -------------------------------------------------------------------------------

    async def _dispatch_loop(self) -> None:
        while True:
            await self._wait_for_wake(1.0 if self._pending else None)
            if self._pending and not self.stopping:
                await self._dispatch()

    async def _dispatch(self) -> None:
        blocked: deque[TrialSpec] = deque()
        while self._pending:
            spec = self._pending.popleft()
            placed = await self._place(spec)
            if isinstance(placed, str):
                blocked.append(spec)
                self._set_waiting(spec.trial_id, placed)
                continue
            if placed is None:
                continue
            machine, gpus = placed
            if spec.trial_id in self._killed_early:
                self._killed_early.discard(spec.trial_id)
                machine.allocator.release(spec.trial_id)
                self._end(spec.trial_id, None, CANCELED_BEFORE_START, killed=True)
                continue
            self._waiting.pop(spec.trial_id, None)
            trial = _Trial(spec, machine=machine, gpus=gpus, remote_dir=f"{machine.base}/trials/{spec.trial_id}")
            self._trials[spec.trial_id] = trial
            machine.trials[spec.trial_id] = trial
            trial.task = self._spawn(self._launch(trial), f"launching trial {spec.trial_id} on {machine.label}",
                                     trial)
        self._pending.extendleft(reversed(blocked))

    async def _place(self, spec: TrialSpec) -> tuple[Machine[_Trial], tuple[int, ...]] | str | None:
        """The machine (and GPUs) for a trial, a reason to wait, or None when it was failed here."""
        up = sorted((m for m in self.machines if m.state == "up"), key=lambda m: (len(m.trials), m.index))
        if spec.gpu_number > 0:
            counts = [m.usable_gpu_count() or 0 for m in self.machines]
            if max(counts) < spec.gpu_number:
                listing = ", ".join(f"{m.label}: {c}" for m, c in zip(self.machines, counts, strict=True))
                self._end(spec.trial_id, None, f"needs {spec.gpu_number} GPU(s) but no remote machine has that "
                                               f"many usable GPUs ({listing})")
                return None
        if not up:
            states = "; ".join(f"{m.label}: {m.error or m.state}" for m in self.machines)
            return f"waiting for a reachable remote machine ({states})"
        if spec.gpu_number == 0:
            return up[0], ()
        reasons = []
        for machine in up:
            if not machine.usable_gpu_count():
                reasons.append(f"{machine.label}: no usable GPU")
                continue
            try:
                await machine.refresh_gpus()
            except (TrainingServiceError, OSError, asyncio.TimeoutError, asyncssh_module().Error) as error:
                reasons.append(f"{machine.label}: cannot read GPUs ({error})")
                continue
            allocation = machine.allocator.allocate(spec.trial_id, spec.gpu_number)
            if isinstance(allocation, tuple):
                return machine, allocation
            reasons.append(f"{machine.label}: {allocation}")
        return "; ".join(reasons)

    # -- one trial --------------------------------------------------------------------------------

    def _environment(self, trial: _Trial, code_dir: str) -> dict[str, str]:
        env = dict(trial.spec.env)
        env.update(self._trial_env(trial.spec, trial.remote_dir, code_dir))
        env["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, trial.gpus))
        return env

    def _follow_request(self, trial: _Trial) -> dict[str, Any]:
        return {"trial_dir": trial.remote_dir, "pgid": trial.pgid, "offsets": dict(trial.mirror.offsets), "detach": True,
                "kill_grace": _KILL_GRACE_SECONDS}

    async def _launch(self, trial: _Trial) -> None:
        spec = trial.spec
        machine = trial.machine
        trial.mirror.prepare(spec.parameter_record)
        if trial.killed:
            self._finish(trial, None, CANCELED_BEFORE_START)
            return
        try:
            code_dir = await machine.ensure_code(spec.code_dir)
        except TrainingServiceError as error:
            if machine.state == "up":
                self._finish(trial, None, str(error))
            else:
                self._requeue(trial)
            return
        request = {"launch": {"trial_dir": trial.remote_dir, "code_dir": code_dir, "command": spec.command,
                              "env": self._environment(trial, code_dir), "parameter_record": spec.parameter_record,
                              "detach": True, "kill_grace": _KILL_GRACE_SECONDS}}
        first = await self._open(trial, request)
        if first == "lost":
            self._requeue(trial)

    def _requeue(self, trial: _Trial) -> None:
        """A trial that never started because its machine went away goes back to the queue."""
        if trial.ended:
            return
        self._forget(trial)
        if trial.killed:
            self._end(trial.trial_id, None, CANCELED_BEFORE_START, killed=True)
            return
        self._pending.appendleft(trial.spec)
        self._wake.set()

    async def _open(self, trial: _Trial, request: dict[str, Any]) -> str:
        """Start a runner channel for the trial and stream it in the background.

        Returns the first message's kind ('started', 'gone', 'error', 'exit') or 'lost' when the
        machine could not be reached.
        """
        machine = trial.machine
        try:
            connection = await machine.acquire()
        except TrainingServiceError as error:
            machine.error = str(error)
            self.machine_lost(machine)
            return "lost"
        asyncssh = asyncssh_module()
        try:
            command = sh(machine.prefix + f"exec {shlex.quote(machine.python)} "
                         f"{shlex.quote(machine.base + '/' + RUNNER_FILE)}")
            process = await connection.conn.create_process(command, encoding="utf-8", errors="replace")
            process.stdin.write(json.dumps(request) + "\n")
            line = await process.stdout.readline()
        except (asyncssh.Error, OSError) as error:
            machine.release(connection)
            if not connection.usable():
                return "lost"
            self._finish(trial, None, f"cannot start the trial runner on {machine.label}: {error}")
            return "error"
        first = self._handle(trial, line) if line else None
        if first is None:
            machine.release(connection)
            if not connection.usable():
                return "lost"
            detail = await self._runner_stderr(trial, process)
            self._finish(trial, None, f"the trial runner on {machine.label} failed: {detail or 'no output'}")
            return "error"
        if first in ("gone", "error", "exit"):
            machine.release(connection)
            process.close()
            return first
        trial.process, trial.connection = process, connection
        if trial.killed:
            self._send_kill(trial, process)
        trial.task = self._spawn(self._stream(trial, connection, process),
                                 f"following trial {trial.trial_id} on {machine.label}", trial)
        return first

    @staticmethod
    async def _runner_stderr(trial: _Trial, process: Any) -> str:
        """The end of what a failed runner wrote to stderr, for the trial's end reason."""
        try:
            return str(await asyncio.wait_for(process.stderr.read(), 5)).strip()[-500:]
        except (OSError, asyncio.TimeoutError, asyncssh_module().Error) as error:
            _logger.warning("remote: could not read the trial runner's stderr of trial %s on %s: %s",
                            trial.trial_id, trial.machine.label, str(error) or type(error).__name__)
            return ""

    async def _stream(self, trial: _Trial, connection: Connection, process: Any) -> None:
        asyncssh = asyncssh_module()
        try:
            while not trial.ended:
                line = await process.stdout.readline()
                if not line:
                    break
                self._handle(trial, line)
        except (asyncssh.Error, OSError):
            pass  # the channel broke: below, a lost connection is distinguished from a dead runner
        finally:
            trial.machine.release(connection)
            trial.process = None
            trial.connection = None
            process.close()
        if trial.ended or self.stopping:
            return
        await asyncio.sleep(0)
        if not connection.usable():
            self.machine_lost(trial.machine)
            return
        # The channel ended but the connection lives: the runner itself died. Follow the trial again.
        first = await self._open(trial, {"follow": self._follow_request(trial)})
        if first == "gone":
            self._finish(trial, None, f"the trial's processes on {trial.machine.label} ended without an exit status")

    def _handle(self, trial: _Trial, line: str) -> str | None:
        """Apply one runner message; returns its kind, None for a line that is not one."""
        try:
            message = json.loads(line)
            kind = message["ev"]
        except (ValueError, KeyError, TypeError):
            return None
        if kind == "started":
            trial.pgid = int(message["pgid"])
            if not trial.started:
                machine = trial.machine
                cfg = machine.config
                self._emit_started(
                    trial, f"ssh://{machine.label}{trial.remote_dir}", stdout_path=trial.mirror.stdout,
                    stderr_path=trial.mirror.stderr, host=cfg.host,
                    handle={"host": cfg.host, "port": cfg.port, "user": cfg.user, "dir": trial.remote_dir,
                            "pgid": trial.pgid, "gpus": list(trial.gpus)})
        else:
            self._mirror_message(trial, trial.mirror, message, trial.machine.label)
        return kind

    def _release(self, run: _Trial) -> None:
        run.machine.trials.pop(run.trial_id, None)
        run.machine.allocator.release(run.trial_id)

    def _forget(self, trial: _Trial) -> None:
        """Drop a trial without reporting an end: it goes back to the queue, or was never ours."""
        self._release(trial)
        trial.ended = True
        self._trials.pop(trial.trial_id, None)

    def _after_end(self) -> None:
        self._wake.set()

    # -- lost machines ----------------------------------------------------------------------------

    def machine_lost(self, machine: Machine[Any]) -> None:
        if self.stopping or machine.state in ("reconnecting", "down"):
            return
        machine.state = "reconnecting"
        self._spawn(self._reconnect(machine), f"reconnecting to {machine.label}")

    async def _reconnect(self, machine: Machine[_Trial]) -> None:
        lost_at = time.monotonic()
        while not self.stopping:
            timeout = CONNECT_TIMEOUT_SECONDS
            if machine.state == "reconnecting":
                left = lost_at + self.config.reconnect_seconds - time.monotonic()
                timeout = max(1.0, min(timeout, left))
            try:
                await machine.connect(timeout)
            except TrainingServiceError as error:
                machine.error = str(error)
            else:
                await self._machine_back(machine)
                return
            if machine.state == "reconnecting" and time.monotonic() - lost_at >= self.config.reconnect_seconds:
                machine.state = "down"
                self._give_up(machine)
                self._wake.set()
            await asyncio.sleep(1.0 if machine.state == "reconnecting" else 5.0)

    async def _machine_back(self, machine: Machine[_Trial]) -> None:
        machine.state = "up"
        machine.error = None
        machine.gpu_time = 0.0
        for pgid in list(machine.orphans):
            try:
                await machine.run(f"kill -9 -{pgid} 2>/dev/null || true")
            except (TrainingServiceError, OSError, asyncio.TimeoutError, asyncssh_module().Error) as error:
                _logger.warning("remote: could not kill the left-over process group %s on %s: %s", pgid,
                                machine.label, str(error) or type(error).__name__)
            machine.orphans.discard(pgid)
        for trial in list(machine.trials.values()):
            if _detached(trial) and trial.task is not None and not trial.task.done():
                await asyncio.wait([trial.task], timeout=2)  # its stream is noticing the old connection died
            if trial.process is None and trial.started and not trial.ended:
                first = await self._open(trial, {"follow": self._follow_request(trial)})
                if first == "gone":
                    self._finish(trial, None, f"the trial's processes on {machine.label} ended while the "
                                              f"connection was down")
                elif first == "lost":
                    return
        self._wake.set()

    def _give_up(self, machine: Machine[_Trial]) -> None:
        for trial in list(machine.trials.values()):
            if not _detached(trial) or trial.ended:
                continue
            if trial.pgid is not None:
                machine.orphans.add(trial.pgid)
            if not trial.started:
                self._requeue(trial)
                continue
            self._finish(trial, None, f"lost {machine.label} ({machine.error or 'connection lost'}) and could not "
                                      f"reconnect within {self.config.reconnect_seconds:g}s")

    async def code_archive(self, code_dir: Path) -> tuple[Path, str]:
        """The code directory packed once for every machine: (tarball, digest)."""
        key = str(code_dir)
        task = self._archives.get(key)
        if task is None:
            archive = self._scratch_dir() / f"code-{len(self._archives)}.tar.gz"

            async def build() -> tuple[Path, str]:
                digest = await asyncio.to_thread(pack_code, code_dir, archive)
                return archive, digest

            task = self._archives[key] = self._spawn(build(), f"packing {code_dir}", awaited=True)
        return await asyncio.shield(task)


def _detached(trial: _Trial) -> bool:
    return trial.connection is None or not trial.connection.usable()
