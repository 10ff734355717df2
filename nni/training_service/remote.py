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
import contextlib
import json
import os
import re
import shlex
import shutil
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..config.training_services import RemoteConfig, RemoteMachineConfig
from . import _trial_runner
from ._code_archive import pack_code
from ._mirror import TrialMirror
from .base import (
    EventSink,
    TrainingService,
    TrainingServiceError,
    TrialEnded,
    TrialMetric,
    TrialSpec,
    TrialStarted,
    TrialWaiting,
)
from .gpu import APPS_QUERY_ARGS, GPU_QUERY_ARGS, GpuAllocator, GpuInfo, parse_gpu_query

__all__ = ["RemoteTrainingService", "compatible_versions"]

_SESSIONS_PER_CONNECTION = 8
"""OpenSSH allows 10 sessions per connection (MaxSessions); two stay free for short commands."""
_KILL_GRACE_SECONDS = 3.0
_CONNECT_TIMEOUT_SECONDS = 15.0
_COMMAND_TIMEOUT_SECONDS = 60.0
_GPU_REFRESH_SECONDS = 1.0
_RUNNER_FILE = "nni_trial_runner.py"


def compatible_versions(local: str, remote: str) -> bool:
    """Same major.minor: the trial file protocol only changes between minor versions."""
    return local.split(".")[:2] == remote.split(".")[:2]


def _now_ms() -> int:
    return int(time.time() * 1000)


def _asyncssh() -> Any:
    try:
        import asyncssh
    except ImportError:
        raise TrainingServiceError(
            "platform 'remote' needs the asyncssh package (a dependency of nni): pip install asyncssh") from None
    return asyncssh


def _sh(script: str) -> str:
    """Run a POSIX sh script whatever the remote user's login shell is."""
    return "/bin/sh -c " + shlex.quote(script)


@dataclass
class _Connection:
    conn: Any
    sessions: int = 0
    lost: bool = False
    closing: bool = False

    def usable(self) -> bool:
        return not self.lost and not self.conn.is_closed()


@dataclass
class _Trial:
    spec: TrialSpec
    machine: _Machine
    gpus: tuple[int, ...] = ()
    remote_dir: str = ""
    pgid: int | None = None
    started: bool = False
    killed: bool = False
    ended: bool = False
    process: Any = None
    connection: _Connection | None = None
    mirror: TrialMirror = field(init=False)
    task: asyncio.Task[None] | None = None
    adopted: bool = False

    def __post_init__(self) -> None:
        self.mirror = TrialMirror(Path(self.spec.trial_dir), adopted=self.adopted)


class _Machine:
    """One entry of machineList: its connections, state, GPUs and trials."""

    def __init__(self, service: RemoteTrainingService, config: RemoteMachineConfig, index: int) -> None:
        self.service = service
        self.config = config
        self.index = index
        self.label = f"{config.user}@{config.host}:{config.port}"
        self.key = re.sub(r"[^A-Za-z0-9._-]", "_", f"{config.host}_{config.port}")
        self.connections: list[_Connection] = []
        self.state = "new"
        """new -> up; up -> reconnecting -> up | down; down -> up when it answers again."""
        self.error: str | None = None
        self.python = "python3"
        self.base = ""
        self.codes: dict[str, asyncio.Task[str]] = {}
        self.gpus: list[GpuInfo] | None = None
        self.sessions_of: dict[int, int] = {}
        self.gpu_time = 0.0
        self.allocator = GpuAllocator(lambda: self.gpus, config.gpu_indices, config.max_trial_number_per_gpu,
                                      config.use_active_gpu, self._own_pid, cache_seconds=0.0)
        self.trials: dict[str, _Trial] = {}
        self.orphans: set[int] = set()
        """Process groups of trials given up on while unreachable: killed when the machine answers."""
        self.lock = asyncio.Lock()
        self.reconnect_task: asyncio.Task[None] | None = None

    def _own_pid(self, pid: int) -> bool:
        return self.sessions_of.get(pid) in {t.pgid for t in self.trials.values() if t.pgid is not None}

    @property
    def prefix(self) -> str:
        if not self.config.python_path:
            return ""
        return f"PATH={shlex.quote(self.config.python_path)}:\"$PATH\"; export PATH; "

    def usable_gpu_count(self) -> int | None:
        if self.gpus is None:
            return None
        return len([g for g in self.gpus if self.config.gpu_indices is None or g.index in self.config.gpu_indices])

    def describe(self) -> dict[str, Any]:
        return {"host": self.config.host, "port": self.config.port, "user": self.config.user, "state": self.state,
                "error": self.error, "trials": len(self.trials),
                "gpus": [g.index for g in self.gpus] if self.gpus else []}

    # -- connections ------------------------------------------------------------------------------

    def _connect_kwargs(self) -> dict[str, Any]:
        asyncssh = _asyncssh()
        cfg = self.config
        kwargs: dict[str, Any] = {
            "host": cfg.host, "port": cfg.port, "username": cfg.user, "known_hosts": _known_hosts(cfg.host, cfg.port),
            "keepalive_interval": self.service.config.keepalive_seconds, "keepalive_count_max": 3,
            "connect_timeout": _CONNECT_TIMEOUT_SECONDS,
        }
        if cfg.password is not None:
            kwargs["password"] = cfg.password
        key = Path(cfg.ssh_key_file).expanduser() if cfg.ssh_key_file is not None else None
        explicit = "ssh_key_file" in cfg.model_fields_set and key is not None
        if key is not None and key.is_file():
            try:
                kwargs["client_keys"] = [asyncssh.read_private_key(str(key), cfg.ssh_passphrase)]
            except (asyncssh.KeyImportError, OSError, ValueError) as error:
                raise TrainingServiceError(f"{self.label}: cannot read sshKeyFile {key}: {error}"
                                           + ("" if cfg.ssh_passphrase else " (set sshPassphrase if it is encrypted)")
                                           ) from None
        elif explicit:
            raise TrainingServiceError(f"{self.label}: sshKeyFile {key} does not exist")
        elif cfg.password is not None:
            kwargs["client_keys"] = None
        return kwargs

    async def connect(self, timeout: float = _CONNECT_TIMEOUT_SECONDS) -> _Connection:
        """Open one more connection; TrainingServiceError says why not, naming the host."""
        asyncssh = _asyncssh()
        kwargs = self._connect_kwargs()
        kwargs["connect_timeout"] = timeout
        holder: list[_Connection] = []

        machine = self

        class _Client(asyncssh.SSHClient):  # type: ignore[misc, name-defined]
            def connection_lost(self, exc: Exception | None) -> None:
                if holder:
                    machine._connection_lost(holder[0], exc)

        try:
            conn = await asyncssh.connect(client_factory=_Client, **kwargs)
        except asyncssh.PermissionDenied:
            how = "password" if self.config.password is not None else "key"
            raise TrainingServiceError(f"{self.label}: authentication failed ({how} refused for user "
                                       f"{self.config.user}); check sshKeyFile / password") from None
        except asyncssh.HostKeyNotVerifiable as error:
            raise TrainingServiceError(f"{self.label}: host key rejected ({error}); it does not match "
                                       f"~/.ssh/known_hosts") from None
        except (OSError, asyncssh.Error, asyncio.TimeoutError) as error:
            reason = str(error) or type(error).__name__
            raise TrainingServiceError(f"{self.label}: cannot connect: {reason}") from None
        connection = _Connection(conn)
        holder.append(connection)
        self.connections.append(connection)
        return connection

    def _connection_lost(self, connection: _Connection, exc: Exception | None) -> None:
        connection.lost = True
        with contextlib.suppress(ValueError):
            self.connections.remove(connection)
        if self.service.stopping or connection.closing:
            return
        self.error = f"connection lost: {exc or 'closed by the remote side'}"
        self.service._machine_lost(self)

    async def acquire(self) -> _Connection:
        """A connection with a free session slot (opening another when all are full)."""
        async with self.lock:
            for connection in self.connections:
                if connection.usable() and connection.sessions < _SESSIONS_PER_CONNECTION:
                    connection.sessions += 1
                    return connection
            connection = await self.connect()
            connection.sessions += 1
            return connection

    @staticmethod
    def release(connection: _Connection) -> None:
        connection.sessions = max(0, connection.sessions - 1)

    async def run(self, script: str, input: bytes | None = None, timeout: float = _COMMAND_TIMEOUT_SECONDS) -> Any:
        """Run a short sh script; returns asyncssh's completed process (stdout/stderr as text)."""
        connection = await self.acquire()
        try:
            return await asyncio.wait_for(
                connection.conn.run(_sh(self.prefix + script), input=input, encoding=None, check=False), timeout)
        finally:
            self.release(connection)

    async def close(self) -> None:
        for connection in list(self.connections):
            connection.closing = True
            connection.conn.close()
        for connection in list(self.connections):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.conn.wait_closed(), 5)
        self.connections.clear()

    # -- checks -----------------------------------------------------------------------------------

    def _base_expression(self) -> str:
        root = self.config.working_directory
        if root is None:
            root_expr = '"${TMPDIR:-/tmp}/nni-remote-$(id -un)"'
        elif root == "~" or root.startswith("~/"):
            root_expr = '"$HOME"' + shlex.quote(root[1:]) if root != "~" else '"$HOME"'
        else:
            root_expr = shlex.quote(root)
        return f"{root_expr}/{shlex.quote(self.service.experiment_id)}/{self.key}"

    async def preflight(self) -> None:
        """Connect, find Python and check it imports a compatible nni, upload the runner, read GPUs."""
        await self.connect()
        script = (
            "p=; for py in python3 python; do p=$(command -v $py 2>/dev/null) && break; done\n"
            "if [ -z \"$p\" ]; then echo NNI_CHECK nopython; cat >/dev/null; exit 0; fi\n"
            "echo \"NNI_CHECK python $p\"\n"
            "\"$p\" -c 'import nni, sys; from nni.runtime import protocol; "
            "print(\"NNI_CHECK nni\", nni.__version__, sys.version.split()[0])' 2>&1 | tail -n 3\n"
            f"b={self._base_expression()}\n"
            "mkdir -p \"$b/trials\" && cat > \"$b/" + _RUNNER_FILE + "\" && echo \"NNI_CHECK base $b\"\n"
            + _GPU_SCRIPT
        )
        result = await self.run(script, input=Path(_trial_runner.__file__).read_bytes())
        out = _text(result.stdout)
        found: dict[str, str] = {}
        for line in out.splitlines():
            if line.startswith("NNI_CHECK "):
                word, _, rest = line[len("NNI_CHECK "):].partition(" ")
                found[word] = rest.strip()
        where = f" (pythonPath {self.config.python_path})" if self.config.python_path else ""
        if "nopython" in found:
            raise TrainingServiceError(f"{self.label}: no python3 or python on PATH{where}; set pythonPath to the "
                                       f"bin folder of a Python that has nni {__version__} installed")
        self.python = found.get("python", "python3")
        if "nni" not in found:
            lines = [ln for ln in out.splitlines() if ln and not ln.startswith("NNI_")]
            detail = lines[-1] if lines else _text(result.stderr).strip()[-300:] or "import failed"
            raise TrainingServiceError(f"{self.label}: {self.python}{where} cannot import nni ({detail}); install "
                                       f"it there (pip install nni=={__version__}) or set pythonPath")
        remote_version = found["nni"].split()[0]
        if not compatible_versions(__version__, remote_version):
            raise TrainingServiceError(f"{self.label}: {self.python} has nni {remote_version} but the manager runs "
                                       f"{__version__}; install the same version there (pip install nni=={__version__})")
        if "base" not in found:
            raise TrainingServiceError(f"{self.label}: cannot create the working folder: "
                                       f"{_text(result.stderr).strip()[-300:]}")
        self.base = found["base"]
        self._read_gpus(out)
        self.state = "up"
        self.error = None

    def _read_gpus(self, out: str) -> None:
        sections = _sections(out)
        if "NNI_GPUS" not in sections:
            self.gpus = None
        else:
            self.gpus = parse_gpu_query(sections["NNI_GPUS"], sections.get("NNI_APPS", ""))
        self.sessions_of = {}
        for line in sections.get("NNI_PS", "").splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
                self.sessions_of[int(parts[0])] = int(parts[1])
        self.gpu_time = time.monotonic()

    async def refresh_gpus(self) -> None:
        if time.monotonic() - self.gpu_time < _GPU_REFRESH_SECONDS:
            return
        result = await self.run(_GPU_SCRIPT)
        self._read_gpus(_text(result.stdout))

    async def ensure_code(self, code_dir: Path) -> str:
        """The remote folder holding this code directory, uploading it the first time."""
        key = str(code_dir)
        task = self.codes.get(key)
        if task is None or (task.done() and task.exception() is not None):
            task = self.codes[key] = asyncio.ensure_future(self._upload(code_dir))
        return await asyncio.shield(task)

    async def _upload(self, code_dir: Path) -> str:
        archive, digest = await self.service.code_archive(code_dir)
        target = f"{self.base}/code-{digest[:16]}"
        quoted = shlex.quote(target)
        check = await self.run(f"[ -d {quoted} ] && echo present || true")
        if _text(check.stdout).strip() == "present":
            return target
        part = shlex.quote(target + f".part{os.getpid()}")
        result = await self.run(f"rm -rf {part} && mkdir -p {part} && tar -xzf - -C {part} && "
                                f"(mv {part} {quoted} 2>/dev/null || rm -rf {part})",
                                input=archive.read_bytes(), timeout=600)
        if result.exit_status != 0:
            raise TrainingServiceError(f"{self.label}: uploading {code_dir} failed: "
                                       f"{_text(result.stderr).strip()[-300:]}")
        return target


_GPU_SCRIPT = (
    "if command -v nvidia-smi >/dev/null 2>&1; then\n"
    f"  echo NNI_GPUS; nvidia-smi {' '.join(GPU_QUERY_ARGS)} 2>/dev/null\n"
    f"  echo NNI_APPS; nvidia-smi {' '.join(APPS_QUERY_ARGS)} 2>/dev/null\n"
    "  echo NNI_PS; ps -eo pid=,sid= 2>/dev/null\n"
    "fi\n"
)


def _sections(text: str) -> dict[str, str]:
    out: dict[str, list[str]] = {}
    current: str | None = None
    for line in text.splitlines():
        if line in ("NNI_GPUS", "NNI_APPS", "NNI_PS"):
            current = line
            out[current] = []
        elif current is not None:
            out[current].append(line)
    return {k: "\n".join(v) for k, v in out.items()}


def _text(data: Any) -> str:
    if data is None:
        return ""
    return data.decode("utf-8", errors="replace") if isinstance(data, bytes) else str(data)


def _known_hosts(host: str, port: int) -> Any:
    """Check the host key against ~/.ssh/known_hosts when it lists the host; accept it otherwise.

    NNI never checked host keys; checking listed hosts still catches a changed key.
    """
    asyncssh = _asyncssh()
    path = Path("~/.ssh/known_hosts").expanduser()
    if not path.is_file():
        return None
    try:
        known = asyncssh.read_known_hosts(str(path))
        matched = known.match(host, host, port if port != 22 else None)
    except (OSError, ValueError, asyncssh.Error):
        return None
    return str(path) if any(matched[:2]) else None


class RemoteTrainingService(TrainingService):
    platform = "remote"

    def __init__(self, config: RemoteConfig, experiment_id: str, experiment_dir: Path) -> None:
        self.config = config
        self.experiment_id = experiment_id
        self.experiment_dir = Path(experiment_dir)
        self.machines = [_Machine(self, m, i) for i, m in enumerate(config.machine_list)]
        self.stopping = False
        self._events: EventSink | None = None
        self._pending: deque[TrialSpec] = deque()
        self._trials: dict[str, _Trial] = {}
        self._waiting: dict[str, str] = {}
        self._killed_early: set[str] = set()
        self._wake = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None
        self._archives: dict[str, asyncio.Task[tuple[Path, str]]] = {}
        self._tmp: str | None = None

    # -- interface --------------------------------------------------------------------------------

    async def start(self, events: EventSink) -> None:
        self._events = events
        _asyncssh()
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
        self._dispatcher = asyncio.ensure_future(self._dispatch_loop())

    async def submit(self, spec: TrialSpec) -> None:
        self._pending.append(spec)
        self._wake.set()

    async def kill(self, trial_id: str) -> None:
        for spec in list(self._pending):
            if spec.trial_id == trial_id:
                self._pending.remove(spec)
                self._waiting.pop(trial_id, None)
                self._emit(TrialEnded(trial_id, None, "canceled before it started", killed=True, timestamp_ms=_now_ms()))
                return
        trial = self._trials.get(trial_id)
        if trial is None:
            self._killed_early.add(trial_id)  # being placed right now: _dispatch cancels it
            return
        if trial.ended:
            return
        trial.killed = True
        if trial.process is not None:
            with contextlib.suppress(Exception):
                trial.process.stdin.write(json.dumps({"kill": True}) + "\n")
            return
        if trial.machine.state != "up" and trial.pgid is not None:
            # Unreachable now: report it ended, and end its processes when the machine answers.
            trial.machine.orphans.add(trial.pgid)
            self._finish(trial, None, f"killed while {trial.machine.label} was unreachable")

    async def stop(self) -> None:
        for spec in list(self._pending):
            await self.kill(spec.trial_id)
        trials = [t for t in self._trials.values() if not t.ended]
        for trial in trials:
            await self.kill(trial.spec.trial_id)
        deadline = time.monotonic() + _KILL_GRACE_SECONDS + 10
        while any(not t.ended for t in trials) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        self.stopping = True
        for trial in trials:
            if not trial.ended:
                self._finish(trial, None, f"no answer from {trial.machine.label} to the kill request")
        if self._dispatcher is not None:
            self._dispatcher.cancel()
        for machine in self.machines:
            if machine.reconnect_task is not None:
                machine.reconnect_task.cancel()
            await machine.close()
        for trial in trials:
            if trial.task is not None:
                trial.task.cancel()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)

    async def adopt(self, spec: TrialSpec, handle: dict[str, Any]) -> bool:
        machine = next((m for m in self.machines if m.config.host == handle.get("host")
                        and m.config.port == handle.get("port") and m.config.user == handle.get("user")), None)
        if machine is None or machine.state != "up" or not handle.get("dir"):
            return False
        trial = _Trial(spec, machine, gpus=tuple(handle.get("gpus") or ()), remote_dir=str(handle["dir"]),
                       pgid=handle.get("pgid"), started=True, adopted=True)
        if trial.gpus:
            machine.allocator.assigned[spec.trial_id] = trial.gpus
        self._trials[spec.trial_id] = trial
        machine.trials[spec.trial_id] = trial
        first = await self._open(trial, {"follow": self._follow_request(trial)})
        if first != "started":
            trial.ended = True
            machine.trials.pop(spec.trial_id, None)
            self._trials.pop(spec.trial_id, None)
            machine.allocator.release(spec.trial_id)
            return False
        return True

    def describe(self) -> dict[str, Any]:
        return {"platform": self.platform, "machines": [m.describe() for m in self.machines]}

    # -- scheduling -------------------------------------------------------------------------------

    def _emit(self, event: Any) -> None:
        assert self._events is not None, "start() first"
        self._events(event)

    async def _dispatch_loop(self) -> None:
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 1.0 if self._pending else None)
            self._wake.clear()
            if self._pending and not self.stopping:
                await self._dispatch()

    async def _dispatch(self) -> None:
        blocked: deque[TrialSpec] = deque()
        while self._pending:
            spec = self._pending.popleft()
            placed = await self._place(spec)
            if isinstance(placed, str):
                blocked.append(spec)
                if self._waiting.get(spec.trial_id) != placed:
                    self._waiting[spec.trial_id] = placed
                    self._emit(TrialWaiting(spec.trial_id, placed))
                continue
            if placed is None:
                continue
            machine, gpus = placed
            if spec.trial_id in self._killed_early:
                self._killed_early.discard(spec.trial_id)
                machine.allocator.release(spec.trial_id)
                self._waiting.pop(spec.trial_id, None)
                self._emit(TrialEnded(spec.trial_id, None, "canceled before it started", killed=True,
                                      timestamp_ms=_now_ms()))
                continue
            self._waiting.pop(spec.trial_id, None)
            trial = _Trial(spec, machine, gpus=gpus, remote_dir=f"{machine.base}/trials/{spec.trial_id}")
            self._trials[spec.trial_id] = trial
            machine.trials[spec.trial_id] = trial
            trial.task = asyncio.ensure_future(self._launch(trial))
        self._pending.extendleft(reversed(blocked))

    async def _place(self, spec: TrialSpec) -> tuple[_Machine, tuple[int, ...]] | str | None:
        """The machine (and GPUs) for a trial, a reason to wait, or None when it was failed here."""
        up = sorted((m for m in self.machines if m.state == "up"), key=lambda m: (len(m.trials), m.index))
        if spec.gpu_number > 0:
            counts = [m.usable_gpu_count() or 0 for m in self.machines]
            if max(counts) < spec.gpu_number:
                listing = ", ".join(f"{m.label}: {c}" for m, c in zip(self.machines, counts, strict=True))
                self._emit(TrialEnded(spec.trial_id, None, f"needs {spec.gpu_number} GPU(s) but no remote machine "
                                      f"has that many usable GPUs ({listing})", timestamp_ms=_now_ms()))
                self._waiting.pop(spec.trial_id, None)
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
            except (TrainingServiceError, OSError, asyncio.TimeoutError, _asyncssh().Error) as error:
                reasons.append(f"{machine.label}: cannot read GPUs ({error})")
                continue
            allocation = machine.allocator.allocate(spec.trial_id, spec.gpu_number)
            if isinstance(allocation, tuple):
                return machine, allocation
            reasons.append(f"{machine.label}: {allocation}")
        return "; ".join(reasons)

    # -- one trial --------------------------------------------------------------------------------

    def _environment(self, trial: _Trial, code_dir: str) -> dict[str, str]:
        spec = trial.spec
        env = dict(spec.env)
        env.update({
            "NNI_PLATFORM": "remote",
            "NNI_EXP_ID": self.experiment_id,
            "NNI_TRIAL_JOB_ID": spec.trial_id,
            "NNI_SYS_DIR": trial.remote_dir,
            "NNI_OUTPUT_DIR": trial.remote_dir,
            "NNI_TRIAL_SEQ_ID": str(spec.sequence_id),
            "NNI_CODE_DIR": code_dir,
            "CUDA_VISIBLE_DEVICES": ",".join(map(str, trial.gpus)),
        })
        return env

    def _follow_request(self, trial: _Trial) -> dict[str, Any]:
        return {"trial_dir": trial.remote_dir, "pgid": trial.pgid, "offsets": dict(trial.mirror.offsets), "detach": True,
                "kill_grace": _KILL_GRACE_SECONDS}

    async def _launch(self, trial: _Trial) -> None:
        spec = trial.spec
        machine = trial.machine
        trial.mirror.prepare(spec.parameter_record)
        if trial.killed:
            self._finish(trial, None, "canceled before it started")
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
        trial.ended = True
        trial.machine.trials.pop(trial.spec.trial_id, None)
        trial.machine.allocator.release(trial.spec.trial_id)
        self._trials.pop(trial.spec.trial_id, None)
        if trial.killed:
            self._emit(TrialEnded(trial.spec.trial_id, None, "canceled before it started", killed=True,
                                  timestamp_ms=_now_ms()))
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
            self._machine_lost(machine)
            return "lost"
        asyncssh = _asyncssh()
        try:
            command = _sh(machine.prefix + f"exec {shlex.quote(machine.python)} "
                          f"{shlex.quote(machine.base + '/' + _RUNNER_FILE)}")
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
            detail = ""
            with contextlib.suppress(Exception):
                detail = (await asyncio.wait_for(process.stderr.read(), 5)).strip()[-500:]
            self._finish(trial, None, f"the trial runner on {machine.label} failed: {detail or 'no output'}")
            return "error"
        if first in ("gone", "error", "exit"):
            machine.release(connection)
            process.close()
            return first
        trial.process, trial.connection = process, connection
        if trial.killed:
            process.stdin.write(json.dumps({"kill": True}) + "\n")
        trial.task = asyncio.ensure_future(self._stream(trial, connection, process))
        return first

    async def _stream(self, trial: _Trial, connection: _Connection, process: Any) -> None:
        asyncssh = _asyncssh()
        try:
            while not trial.ended:
                line = await process.stdout.readline()
                if not line:
                    break
                self._handle(trial, line)
        except (asyncssh.Error, OSError):
            pass
        finally:
            trial.machine.release(connection)
            trial.process = None
            trial.connection = None
            process.close()
        if trial.ended or self.stopping:
            return
        await asyncio.sleep(0)
        if not connection.usable():
            self._machine_lost(trial.machine)
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
        spec = trial.spec
        if kind == "started":
            trial.pgid = int(message["pgid"])
            if not trial.started:
                trial.started = True
                machine = trial.machine
                cfg = machine.config
                self._emit(TrialStarted(
                    spec.trial_id, log_path=f"ssh://{machine.label}{trial.remote_dir}", stdout_path=trial.mirror.stdout,
                    stderr_path=trial.mirror.stderr, host=cfg.host, gpus=trial.gpus, timestamp_ms=_now_ms(),
                    handle={"host": cfg.host, "port": cfg.port, "user": cfg.user, "dir": trial.remote_dir,
                            "pgid": trial.pgid, "gpus": list(trial.gpus)}))
        elif kind == "metric":
            record = trial.mirror.metric(message)
            if record is not None and not trial.ended:
                self._emit(TrialMetric(spec.trial_id, record))
        elif kind == "out":
            trial.mirror.output(message)
        elif kind == "exit":
            self._finish(trial, *TrialMirror.exit_of(message))
        elif kind == "error":
            self._finish(trial, None, f"{trial.machine.label}: {message.get('message')}")
        return kind

    def _finish(self, trial: _Trial, code: int | None, reason: str | None) -> None:
        if trial.ended:
            return
        trial.ended = True
        trial_id = trial.spec.trial_id
        trial.machine.trials.pop(trial_id, None)
        trial.machine.allocator.release(trial_id)
        self._emit(TrialEnded(trial_id, code, reason, killed=trial.killed, timestamp_ms=_now_ms()))
        self._wake.set()

    # -- lost machines ----------------------------------------------------------------------------

    def _machine_lost(self, machine: _Machine) -> None:
        if self.stopping or machine.state in ("reconnecting", "down"):
            return
        machine.state = "reconnecting"
        machine.reconnect_task = asyncio.ensure_future(self._reconnect(machine))

    async def _reconnect(self, machine: _Machine) -> None:
        lost_at = time.monotonic()
        while not self.stopping:
            timeout = _CONNECT_TIMEOUT_SECONDS
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

    async def _machine_back(self, machine: _Machine) -> None:
        machine.state = "up"
        machine.error = None
        machine.gpu_time = 0.0
        for pgid in list(machine.orphans):
            with contextlib.suppress(Exception):
                await machine.run(f"kill -9 -{pgid} 2>/dev/null || true")
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

    def _give_up(self, machine: _Machine) -> None:
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
            if self._tmp is None:
                self._tmp = tempfile.mkdtemp(prefix="nni-remote-code-")
            archive = Path(self._tmp) / f"code-{len(self._archives)}.tar.gz"

            async def build() -> tuple[Path, str]:
                digest = await asyncio.to_thread(pack_code, code_dir, archive)
                return archive, digest

            task = self._archives[key] = asyncio.ensure_future(build())
        return await asyncio.shield(task)


def _detached(trial: _Trial) -> bool:
    return trial.connection is None or not trial.connection.usable()
