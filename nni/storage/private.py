"""Owner-only files and folders: what the manager writes can hold the access token or the trials'
data, so another local user must not read it (see ``docs/security.md``)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["make_private_dir", "touch_private_file", "DIR_MODE", "FILE_MODE"]

DIR_MODE = 0o700
FILE_MODE = 0o600


def make_private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) and make ``path`` itself owner-only."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    os.chmod(path, DIR_MODE)
    return path


def touch_private_file(path: Path) -> Path:
    """Create ``path`` if missing and make it owner-only, before anyone opens it to write."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
    os.close(fd)
    os.chmod(path, FILE_MODE)
    return path
