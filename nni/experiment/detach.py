"""Manager processes that outlive their caller (RunMode.Detach, ``nnictl``), and stopping them.

A detached manager runs ``python -m nni.experiment.daemon`` in its own session, so closing the shell
does not end it; its pid, port and token are in the manifest. :func:`stop_experiment` ends an
experiment from any state, including a manager that crashed, and leaves no process behind: neither
the manager nor any trial (each trial is its own process group).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from ..config import ExperimentConfig
from ..errors import StorageError
from ..records import TrialStatus
from ..storage.manifest import read_manifest, update_manifest_entry
from ..storage.private import make_private_dir, touch_private_file
from .launcher import bind_port, experiment_dir_of, find_experiment_dir
from .lock import ExperimentLock, lock_held
from .rest_client import RestClient, RestError

__all__ = [
    "start_detached", "spawn_manager", "ManagerProcess", "start_manager", "stop_experiment",
    "manager_alive", "port_listening", "experiment_processes", "ACTIVE_STATUSES", "kill_unadoptable_trials",
]

_START_TIMEOUT = 60.0
_PORT_WAIT = 2.0
"""How long a start retries a taken port (a manager killed just before may still be exiting)."""
_FOREIGN_GRACE = 5.0
"""How long a foreign answer on the port may last before the start is reported as 'port in use'."""
ACTIVE_STATUSES = frozenset({"INITIALIZED", "RUNNING", "STOPPING", "NO_MORE_TRIAL", "TUNER_NO_MORE_TRIAL",
                             "DONE", "ERROR", "VIEWED"})
"""Statuses a live manager can be in (DONE and ERROR managers keep serving until stopped)."""


@dataclass
class ManagerProcess:
    """A manager process just spawned: how to reach it and how to tell that it is the one answering."""

    experiment_id: str
    process: subprocess.Popen[bytes]
    client: RestClient
    nonce: str
    log_file: Path

    @property
    def port(self) -> int:
        return self.client.port

    @property
    def token(self) -> str | None:
        return self.client.token

    def wait_until_serving(self, timeout: float = _START_TIMEOUT) -> None:
        """Wait until this manager answers; else end it (and whatever it started) and raise why."""
        try:
            self._wait(timeout)
        except BaseException:
            self.abort()
            raise

    def _wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        foreign_since: float | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                output = self.log_file.read_text(errors="replace").strip() if self.log_file.exists() else ""
                last = output.splitlines()[-1] if output else f"exit status {self.process.returncode}"
                raise RuntimeError(f"the experiment manager did not start: {last.removeprefix('Error: ')}")
            try:
                answer = self.client.request("GET", "/check-status", timeout=2.0)
            except OSError:
                answer = None
            except (RestError, ValueError, http.client.HTTPException):  # a server that is no NNI manager
                answer = {}
            if isinstance(answer, dict) and answer.get("nonce") == self.nonce \
                    and answer.get("experimentId") == self.experiment_id:
                return
            if answer is not None:
                # Someone else answers on the port: give our manager a moment to fail with its own reason.
                foreign_since = foreign_since or time.monotonic()
                if time.monotonic() - foreign_since > _FOREIGN_GRACE:
                    raise RuntimeError(f"port {self.port} is in use: another process answers there, not the "
                                       f"manager of experiment {self.experiment_id}; choose another port")
            time.sleep(0.1)
        raise RuntimeError(f"the experiment manager did not answer within {timeout:.0f}s; see {self.log_file}")

    def abort(self) -> None:
        """End the manager and every trial it started, so a failed start leaves no process behind."""
        pid = self.process.pid
        trial_groups: set[int] = set()
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(pid).children(recursive=True):
                with contextlib.suppress(OSError):
                    trial_groups.add(os.getpgid(child.pid))
        with contextlib.suppress(OSError):
            if os.getpgid(pid) == pid:  # a detached manager leads its own session
                _kill_group(pid)
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process.wait()
        for pgid in trial_groups - {pid, os.getpgid(0)}:
            _kill_group(pgid)


def spawn_manager(experiment_id: str, config: ExperimentConfig | None, port: int, host: str = "127.0.0.1",
                  url_prefix: str = "", debug: bool = False, mode: str = "create",
                  experiment_dir: Path | None = None, foreground: bool = False) -> ManagerProcess:
    """Launch ``python -m nni.experiment.daemon`` holding the port and the experiment's lock.

    The port is bound (0: any free one) and the lock taken here, before anything is written, then
    handed to the manager as inherited descriptors: a taken port or a running manager is reported
    at once, and no other launcher can come in between. A resume first kills the trials the
    database cannot lead the new manager to.
    """
    if experiment_dir is None:
        assert config is not None
        experiment_dir = experiment_dir_of(config, experiment_id)
    sock = bind_port(host, port, wait=_PORT_WAIT)
    try:
        lock = ExperimentLock.acquire(experiment_id, experiment_dir, mode, launching=True)
    except BaseException:
        sock.close()
        raise
    try:
        return _spawn(experiment_id, config, sock, lock, host, url_prefix, debug, mode, experiment_dir, foreground)
    finally:
        # The manager holds its own copies now (or failed to start, and the lock goes with it).
        sock.close()
        lock.release()


def _spawn(experiment_id: str, config: ExperimentConfig | None, sock: socket.socket, lock: ExperimentLock,
           host: str, url_prefix: str, debug: bool, mode: str, experiment_dir: Path,
           foreground: bool) -> ManagerProcess:
    make_private_dir(experiment_dir)
    if mode in ("resume", "view") and manager_alive(experiment_id):
        # A manager started before managers took the lock.
        entry = read_manifest().get(experiment_id, {})
        raise RuntimeError(f"experiment {experiment_id} is already running (pid {entry.get('pid')}, port "
                           f"{entry.get('port')}); stop it first: nnictl stop {experiment_id}")
    if mode == "resume":
        kill_unadoptable_trials(experiment_id, experiment_dir)
    (experiment_dir / "log").mkdir(parents=True, exist_ok=True)
    port = sock.getsockname()[1]
    nonce = secrets.token_hex(8)
    assert lock.fd is not None
    args = [sys.executable, "-m", "nni.experiment.daemon", "--id", experiment_id, "--port", str(port),
            "--host", host, "--url-prefix", url_prefix, "--mode", mode, "--experiment-dir", str(experiment_dir),
            "--socket-fd", str(sock.fileno()), "--lock-fd", str(lock.fd), "--nonce", nonce]
    if config is not None:
        config_path = experiment_dir / "log" / "launch-config.json"
        config_path.write_text(json.dumps(config.json()), encoding="utf-8")
        args += ["--config", str(config_path)]
    if debug:
        args.append("--debug")
    token = secrets.token_urlsafe(18)
    env = dict(os.environ, NNI_MANAGER_TOKEN=token)
    fds = (sock.fileno(), lock.fd)
    log_file = experiment_dir / "log" / "manager-output.log"
    if foreground:
        process = subprocess.Popen([*args, "--console-log"], env=env, pass_fds=fds)
    else:
        with open(touch_private_file(log_file), "ab") as log:
            process = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True, pass_fds=fds)
    lock.record(process.pid, mode)
    client = RestClient(port, _client_host(host), url_prefix, token)
    return ManagerProcess(experiment_id, process, client, nonce, log_file)


def _client_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def start_manager(experiment_id: str, config: ExperimentConfig | None, port: int, host: str = "127.0.0.1",
                  url_prefix: str = "", debug: bool = False, mode: str = "create",
                  experiment_dir: Path | None = None, timeout: float = _START_TIMEOUT) -> RestClient:
    """Start a detached manager (create, resume or view) and return a client once it serves."""
    if mode in ("resume", "view"):
        experiment_dir = experiment_dir or find_experiment_dir(experiment_id)
    manager = spawn_manager(experiment_id, config, port, host, url_prefix, debug, mode, experiment_dir)
    manager.wait_until_serving(timeout)
    return manager.client


def start_detached(experiment_id: str, config: ExperimentConfig, port: int, host: str, url_prefix: str,
                   debug: bool) -> RestClient:
    config.validate()
    return start_manager(experiment_id, config, port, host, url_prefix, debug)


# -- liveness ---------------------------------------------------------------------------------------

def _pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def _is_manager_of(pid: int, experiment_id: str) -> bool:
    """True when ``pid`` is a detached manager process of this experiment (not a user's script)."""
    try:
        cmdline = psutil.Process(pid).cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
    return "nni.experiment.daemon" in cmdline and experiment_id in cmdline


def manager_alive(experiment_id: str, entry: dict[str, Any] | None = None) -> bool:
    """Whether the process that last ran this experiment is alive and still serves it."""
    entry = entry if entry is not None else read_manifest().get(experiment_id, {})
    if entry.get("status") not in ACTIVE_STATUSES or not _pid_alive(entry.get("pid")):
        return False
    pid = entry["pid"]
    return _is_manager_of(pid, experiment_id) or port_listening(entry.get("port"), entry.get("host"))


def port_listening(port: Any, host: str | None = None) -> bool:
    if not isinstance(port, int):
        return False
    with contextlib.suppress(OSError), socket.create_connection((_client_host(host or "127.0.0.1"), port), 0.5):
        return True
    return False


def experiment_processes(experiment_id: str, local_only: bool = False) -> list[psutil.Process]:
    """Every live trial process of the experiment on this machine (found by the NNI_EXP_ID its
    trials carry); ``local_only`` keeps those of the local service, leaving remote, Ray and Slurm
    trials that happen to run here to their own services."""
    found = []
    for proc in psutil.process_iter(["pid"]):
        with contextlib.suppress(psutil.Error):
            env = proc.environ()
            if env.get("NNI_EXP_ID") == experiment_id and "NNI_TRIAL_JOB_ID" in env \
                    and (not local_only or env.get("NNI_PLATFORM") == "local") \
                    and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
    return found


# -- stop -------------------------------------------------------------------------------------------

def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            return True
        time.sleep(0.05)
    return not _pid_alive(pid)


def _kill_group(pgid: int, grace: float = 3.0) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _stored_trial_groups(experiment_dir: Path) -> list[int]:
    """Process groups of trials the database says were still active."""
    from ..storage.nni30 import open_storage
    from ..storage.sqlite import DB_FILE, database_dir

    if not (database_dir(experiment_dir) / DB_FILE).is_file():
        return []
    storage = open_storage(database_dir(experiment_dir), read_only=True)
    try:
        trials = storage.load_trials()
    finally:
        storage.close()
    return [t.handle["pid"] for t in trials if t.status in (TrialStatus.RUNNING, TrialStatus.WAITING)
            and isinstance(t.handle.get("pid"), int)]


def kill_unadoptable_trials(experiment_id: str, experiment_dir: Path) -> int:
    """Before a resume: kill trial processes the database cannot lead the new manager to.

    A manager killed between starting a trial and recording it leaves a process the resumed
    manager would run a second time; trials recorded as running are left alive to be adopted.
    """
    adoptable = set(_stored_trial_groups(experiment_dir))
    groups = set()
    for proc in experiment_processes(experiment_id, local_only=True):
        with contextlib.suppress(psutil.Error, OSError):
            groups.add(os.getpgid(proc.pid))
    groups -= adoptable | {os.getpgid(0)}
    for pgid in groups:
        _kill_group(pgid)
    return len(groups)


def kill_leftover_trials(experiment_id: str, experiment_dir: Path, stored: bool = True) -> int:
    """Kill the process group of every trial still alive; returns how many groups were killed.

    ``stored=False`` skips the groups the database names (it cannot be read), leaving the
    trials found by their environment.
    """
    groups = set(_stored_trial_groups(experiment_dir)) if stored else set()
    for proc in experiment_processes(experiment_id):
        with contextlib.suppress(psutil.Error, OSError):
            groups.add(os.getpgid(proc.pid))
    groups.discard(os.getpgid(0))  # never our own group
    alive = []
    for pgid in groups:
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            continue
        alive.append(pgid)
    for pgid in alive:
        _kill_group(pgid)
    return len(alive)


def stop_experiment(experiment_id: str, timeout: float = 30.0) -> str:
    """Stop an experiment from any state; returns what was done, in words.

    A live manager is asked to stop over REST (it kills its trials and records them as canceled);
    one that does not end in time gets SIGTERM, then SIGKILL. Whatever trial processes are left,
    say after the manager crashed, are killed by process group.
    """
    entry = read_manifest().get(experiment_id)
    if entry is None:
        raise KeyError(experiment_id)
    experiment_dir = Path(entry.get("logDir") or find_experiment_dir(experiment_id))
    what = "was not running"
    if manager_alive(experiment_id, entry):
        pid: int = entry["pid"]  # manager_alive found this process alive
        what = "stopped"
        client = RestClient(entry.get("port") or 8080, _client_host(entry.get("host") or ""),
                            entry.get("urlPrefix") or "", entry.get("token"))
        with contextlib.suppress(OSError):
            client.delete("/experiment")
        daemon = _is_manager_of(pid, experiment_id)
        if daemon and not _wait_gone(pid, timeout):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            if not _wait_gone(pid, 10.0):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                _wait_gone(pid, 5.0)
                what = "killed (the manager did not stop in time)"
        elif not daemon:
            # An experiment run inside a user's Python process: wait for its server to close.
            deadline = time.monotonic() + timeout
            while port_listening(entry.get("port"), entry.get("host")) and time.monotonic() < deadline:
                time.sleep(0.1)
    elif entry.get("status") in ACTIVE_STATUSES and entry.get("status") not in ("DONE", "ERROR", "VIEWED"):
        what = "cleaned up (its manager had crashed)"
    try:
        killed = kill_leftover_trials(experiment_id, experiment_dir)
    except StorageError as error:
        # Stopping must still work: the trials are found by their environment instead.
        killed = kill_leftover_trials(experiment_id, experiment_dir, stored=False)
        what += f"; its database is unusable ({error})"
    if killed:
        what += f"; killed {killed} leftover trial process group(s)"
    # A killed manager's last threads may still be exiting: once stop returns, a resume must succeed.
    deadline = time.monotonic() + 5.0
    while lock_held(experiment_dir) and not manager_alive(experiment_id) and time.monotonic() < deadline:
        time.sleep(0.05)
    current = read_manifest().get(experiment_id, {})
    fields: dict[str, Any] = {"pid": None}
    if current.get("status") not in ("STOPPED", "DONE", "ERROR"):
        fields["status"] = "STOPPED"
    if not current.get("endTime"):
        fields["endTime"] = int(time.time() * 1000)
    update_manifest_entry(experiment_id, **fields)
    return what
