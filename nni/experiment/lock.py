"""One manager per experiment: an exclusive ``flock`` on ``<experiment_dir>/.manager.lock``.

The process that runs or serves an experiment holds the lock for its whole life, and the OS drops
it when that process ends, however it ends. The lock file records the holder (pid, mode), so a
second create, resume or view can say who is in the way. ``nnictl`` takes the lock before it writes
anything and hands it to the manager it spawns (an inherited descriptor), so no other launcher can
slip in between its checks and the manager's start.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from pathlib import Path
from typing import Any

import psutil

from ..errors import ExperimentInUseError

__all__ = ["ExperimentLock", "LOCK_FILE", "lock_held"]

LOCK_FILE = ".manager.lock"
_HOLDER_WAIT = 5.0
"""How long to wait for a holder that has just taken the lock to record itself (or its manager)."""


_DYING_WAIT = 5.0
"""How long to wait for the lock of a holder that is gone (or a zombie) to be freed."""


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int):
        return True  # unknown holder: assume it lives
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def _read_holder(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def lock_held(experiment_dir: Path) -> bool:
    """Whether some process holds the experiment's lock now (checked without taking it for long)."""
    try:
        fd = os.open(Path(experiment_dir) / LOCK_FILE, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _wait_for_holder(path: Path) -> dict[str, Any]:
    deadline = time.monotonic() + _HOLDER_WAIT
    while True:
        holder = _read_holder(path)
        pid = holder.get("pid")
        settled = isinstance(pid, int) and not (holder.get("launching") and _alive(pid))
        if settled or time.monotonic() >= deadline:
            return holder
        time.sleep(0.02)


class ExperimentLock:
    """The held lock of one experiment (an open, ``flock``-ed descriptor of its lock file)."""

    def __init__(self, experiment_id: str, experiment_dir: Path, fd: int) -> None:
        self.experiment_id = experiment_id
        self.path = Path(experiment_dir) / LOCK_FILE
        self.fd: int | None = fd

    @classmethod
    def acquire(cls, experiment_id: str, experiment_dir: Path, mode: str, launching: bool = False) -> ExperimentLock:
        """Take the lock now, or raise :class:`ExperimentInUseError` naming the holder's pid.

        ``launching``: this process only hands the lock to a manager it is about to spawn; a
        second launcher then waits a moment to name that manager instead.
        """
        experiment_dir = Path(experiment_dir)
        experiment_dir.mkdir(parents=True, exist_ok=True)
        path = experiment_dir / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        deadline = time.monotonic() + _DYING_WAIT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _wait_for_holder(path)
                # A killed holder's last threads may still be exiting: the OS frees the lock in a moment.
                if _alive(holder.get("pid")) or time.monotonic() >= deadline:
                    os.close(fd)
                    raise ExperimentInUseError(_in_use_message(experiment_id, holder)) from None
                time.sleep(0.05)
        lock = cls(experiment_id, experiment_dir, fd)
        lock.record(os.getpid(), mode, launching)
        return lock

    @classmethod
    def adopt(cls, experiment_id: str, experiment_dir: Path, fd: int, mode: str) -> ExperimentLock:
        """Take over the lock a launcher handed down as descriptor ``fd`` (and record this process)."""
        path = Path(experiment_dir) / LOCK_FILE
        handed, on_disk = os.fstat(fd), os.stat(path)
        if (handed.st_dev, handed.st_ino) != (on_disk.st_dev, on_disk.st_ino):
            raise RuntimeError(f"descriptor {fd} is not the lock file {path}")
        # Trials must not inherit it: one that outlives the manager would keep the experiment locked.
        os.set_inheritable(fd, False)
        # Succeeds at once: the launcher's lock is on this very open file description.
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        lock = cls(experiment_id, path.parent, fd)
        lock.record(os.getpid(), mode)
        return lock

    def record(self, pid: int, mode: str, launching: bool = False) -> None:
        """Write who holds the lock, for the error a second launcher prints."""
        assert self.fd is not None
        holder = {"pid": pid, "mode": mode, "experimentId": self.experiment_id, "launching": launching}
        data = json.dumps(holder).encode()
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, data, 0)

    def release(self) -> None:
        """Close this process's descriptor (the lock ends once no process holds one)."""
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None


def _in_use_message(experiment_id: str, holder: dict[str, Any]) -> str:
    pid = holder.get("pid")
    who = f"process {pid}" if isinstance(pid, int) else "another process (pid not yet recorded)"
    if holder.get("launching"):
        who += ", which is starting its manager"
    mode = f" ({holder['mode']})" if holder.get("mode") else ""
    return f"experiment {experiment_id} is in use by {who}{mode}; stop it first: nnictl stop {experiment_id}"
