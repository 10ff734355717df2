"""SSH to the machines of ``platform: remote``: a pool of connections per machine, the pre-flight
check, code upload and GPU queries, with asyncssh.

A :class:`Machine` knows nothing of trials beyond their process groups; the service
(:mod:`.remote`) owns the trials and hears through :class:`MachineOwner` when a connection breaks.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shlex
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from .. import __version__
from ..config.training_services import RemoteMachineConfig
from . import _trial_runner
from ._process import compatible_versions
from .base import TrainingServiceError
from .gpu import APPS_QUERY_ARGS, GPU_QUERY_ARGS, GpuAllocator, GpuInfo, parse_gpu_query

__all__ = ["CONNECT_TIMEOUT_SECONDS", "RUNNER_FILE", "Connection", "Machine", "MachineOwner", "asyncssh_module", "sh"]

_logger = logging.getLogger("nni.training_service.remote")

_SESSIONS_PER_CONNECTION = 8
"""OpenSSH allows 10 sessions per connection (MaxSessions); two stay free for short commands."""
CONNECT_TIMEOUT_SECONDS = 15.0
_COMMAND_TIMEOUT_SECONDS = 60.0
_GPU_REFRESH_SECONDS = 1.0
RUNNER_FILE = "nni_trial_runner.py"


def asyncssh_module() -> Any:
    """The asyncssh package, imported when a remote service first needs it."""
    try:
        import asyncssh
    except ImportError:
        raise TrainingServiceError(
            "platform 'remote' needs the asyncssh package (a dependency of nni): pip install asyncssh") from None
    return asyncssh


def sh(script: str) -> str:
    """Run a POSIX sh script whatever the remote user's login shell is."""
    return "/bin/sh -c " + shlex.quote(script)


@dataclass
class Connection:
    """One SSH connection of a machine and how many of its sessions are in use."""

    conn: Any
    sessions: int = 0
    lost: bool = False
    closing: bool = False

    def usable(self) -> bool:
        return not self.lost and not self.conn.is_closed()


class _InProcessGroup(Protocol):
    """A trial as a machine sees it: the process group it runs in there, once known."""

    @property
    def pgid(self) -> int | None: ...


TrialT = TypeVar("TrialT", bound=_InProcessGroup)


class MachineOwner(Protocol):
    """What a machine needs from the service that uses it."""

    experiment_id: str
    stopping: bool
    """True once the service is stopping: a lost connection is then no news."""

    def machine_lost(self, machine: Machine[Any]) -> None:
        """A connection broke while trials may depend on it."""

    async def code_archive(self, code_dir: Path) -> tuple[Path, str]:
        """The code directory packed once for every machine: (tarball, digest)."""


class Machine(Generic[TrialT]):
    """One entry of machineList: its connections, state, GPUs and trials."""

    def __init__(self, owner: MachineOwner, config: RemoteMachineConfig, index: int,
                 keepalive_seconds: float) -> None:
        self.owner = owner
        self.keepalive_seconds = keepalive_seconds
        self.config = config
        self.index = index
        self.label = f"{config.user}@{config.host}:{config.port}"
        self.key = re.sub(r"[^A-Za-z0-9._-]", "_", f"{config.host}_{config.port}")
        self.connections: list[Connection] = []
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
        self.trials: dict[str, TrialT] = {}
        self.orphans: set[int] = set()
        """Process groups of trials given up on while unreachable: killed when the machine answers."""
        self.lock = asyncio.Lock()

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
        asyncssh = asyncssh_module()
        cfg = self.config
        kwargs: dict[str, Any] = {
            "host": cfg.host, "port": cfg.port, "username": cfg.user, "known_hosts": _known_hosts(cfg.host, cfg.port),
            "keepalive_interval": self.keepalive_seconds, "keepalive_count_max": 3,
            "connect_timeout": CONNECT_TIMEOUT_SECONDS,
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

    async def connect(self, timeout: float = CONNECT_TIMEOUT_SECONDS) -> Connection:
        """Open one more connection; TrainingServiceError says why not, naming the host."""
        asyncssh = asyncssh_module()
        kwargs = self._connect_kwargs()
        kwargs["connect_timeout"] = timeout
        holder: list[Connection] = []

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
        connection = Connection(conn)
        holder.append(connection)
        self.connections.append(connection)
        return connection

    def _connection_lost(self, connection: Connection, exc: Exception | None) -> None:
        connection.lost = True
        if connection in self.connections:
            self.connections.remove(connection)
        if self.owner.stopping or connection.closing:
            return
        self.error = f"connection lost: {exc or 'closed by the remote side'}"
        self.owner.machine_lost(self)

    async def acquire(self) -> Connection:
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
    def release(connection: Connection) -> None:
        connection.sessions = max(0, connection.sessions - 1)

    async def run(self, script: str, input: bytes | None = None, timeout: float = _COMMAND_TIMEOUT_SECONDS) -> Any:
        """Run a short sh script; returns asyncssh's completed process (stdout/stderr as text)."""
        connection = await self.acquire()
        try:
            return await asyncio.wait_for(
                connection.conn.run(sh(self.prefix + script), input=input, encoding=None, check=False), timeout)
        finally:
            self.release(connection)

    async def close(self) -> None:
        """Cancel unfinished uploads and close every connection (best effort: the service is stopping)."""
        uploads = [task for task in self.codes.values() if not task.done()]
        for task in uploads:
            task.cancel()
        await asyncio.gather(*uploads, return_exceptions=True)
        for connection in list(self.connections):
            connection.closing = True
            connection.conn.close()
        for connection in list(self.connections):
            try:
                await asyncio.wait_for(connection.conn.wait_closed(), 5)
            except (OSError, asyncio.TimeoutError, asyncssh_module().Error) as error:
                _logger.warning("remote: could not close the connection to %s cleanly: %s", self.label,
                                str(error) or type(error).__name__)
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
        return f"{root_expr}/{shlex.quote(self.owner.experiment_id)}/{self.key}"

    async def preflight(self) -> None:
        """Connect, find Python and check it imports a compatible nni, upload the runner, read GPUs."""
        await self.connect()
        script = (
            "p=; for py in python3 python; do p=$(command -v $py 2>/dev/null) && break; done\n"
            "if [ -z \"$p\" ]; then echo NNI_CHECK nopython; cat >/dev/null; exit 0; fi\n"
            "echo \"NNI_CHECK python $p\"\n"
            "\"$p\" -c 'import nni, sys; from nni.runtime import protocol; "
            "print(\"NNI_CHECK nni\", nni.__version__, sys.version.split()[0])' 2>&1 | tail -n 3\n"
            # what the trial runner imports besides the trial side (the last line says why not)
            "\"$p\" -c 'from nni.training_service import _process' 2>&1 | tail -n 1 | sed 's/^/NNI_CHECK runner /'\n"
            f"b={self._base_expression()}\n"
            "mkdir -p \"$b/trials\" && cat > \"$b/" + RUNNER_FILE + "\" && echo \"NNI_CHECK base $b\"\n"
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
        if "runner" in found:
            raise TrainingServiceError(f"{self.label}: {self.python}{where} has nni {remote_version} but cannot import "
                                       f"what the trial runner needs ({found['runner']}); reinstall it there "
                                       f"(pip install nni=={__version__})")
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
        archive, digest = await self.owner.code_archive(code_dir)
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
    asyncssh = asyncssh_module()
    path = Path("~/.ssh/known_hosts").expanduser()
    if not path.is_file():
        return None
    try:
        known = asyncssh.read_known_hosts(str(path))
        matched = known.match(host, host, port if port != 22 else None)
    except (OSError, ValueError, asyncssh.Error):
        return None
    return str(path) if any(matched[:2]) else None

