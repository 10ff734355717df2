"""The experiments manifest ``~/nni-experiments/.experiment``: NNI's list of all experiments.

Several processes (managers, nnictl calls) update it at once, so every change takes an exclusive
``flock`` on a side file, re-reads, edits and atomically replaces the manifest.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .private import FILE_MODE, make_private_dir, touch_private_file

__all__ = ["manifest_path", "read_manifest", "update_manifest_entry", "remove_manifest_entry"]

_logger = logging.getLogger(__name__)


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


def _read(path: Path, *, for_update: bool = False) -> dict[str, Any]:
    """The manifest's entries; a file that is not a JSON object reads as empty.

    Before an update replaces such a file, it is kept beside it (``.experiment.unreadable-<time>``),
    so the entries it held are not lost to the rewrite.
    """
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return {}
    except (ValueError, UnicodeDecodeError):
        data = None
    if isinstance(data, dict):
        return data
    if for_update:
        kept = path.with_name(f"{path.name}.unreadable-{time.strftime('%Y%m%d-%H%M%S')}")
        os.replace(path, kept)
        _logger.warning("the experiments manifest %s was not readable JSON; it is kept as %s", path, kept)
    return {}


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
        data = _read(path, for_update=True)
        entry = data.setdefault(experiment_id, {"id": experiment_id})
        entry.update(fields)
        _write(path, data)
        return dict(entry)


def remove_manifest_entry(experiment_id: str, path: Path | None = None) -> None:
    path = path or manifest_path()
    with _locked(path):
        data = _read(path, for_update=True)
        if data.pop(experiment_id, None) is not None:
            _write(path, data)
