"""The experiments manifest ``~/nni-experiments/.experiment``: NNI's list of all experiments.

Several processes (managers, nnictl calls) update it at once, so every change takes an exclusive
``flock`` on a side file, re-reads, edits and atomically replaces the manifest.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .private import FILE_MODE, make_private_dir, touch_private_file

__all__ = ["manifest_path", "read_manifest", "update_manifest_entry", "remove_manifest_entry"]


def manifest_path() -> Path:
    return Path.home() / "nni-experiments" / ".experiment"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    if not path.parent.is_dir():
        make_private_dir(path.parent)
    with open(touch_private_file(path.with_name(path.name + ".lock")), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _read(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (FileNotFoundError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    # Owner-only from the first byte: the manifest holds every experiment's access token.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    os.fchmod(fd, FILE_MODE)
    with open(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_manifest(path: Path | None = None) -> dict[str, dict[str, Any]]:
    """Every experiment by id (NNI's fields: id, port, status, pid, experimentName, logDir, ...)."""
    return _read(path or manifest_path())


def update_manifest_entry(experiment_id: str, path: Path | None = None, **fields: Any) -> dict[str, Any]:
    """Merge ``fields`` into the experiment's entry, creating it if needed; returns the entry."""
    path = path or manifest_path()
    with _locked(path):
        data = _read(path)
        entry = data.setdefault(experiment_id, {"id": experiment_id})
        entry.update(fields)
        _write(path, data)
        return dict(entry)


def remove_manifest_entry(experiment_id: str, path: Path | None = None) -> None:
    path = path or manifest_path()
    with _locked(path):
        data = _read(path)
        if data.pop(experiment_id, None) is not None:
            _write(path, data)
