"""Durable state: the per-experiment SQLite database and the experiments manifest."""

from __future__ import annotations

from .base import Storage
from .manifest import manifest_path, read_manifest, remove_manifest_entry, update_manifest_entry
from .sqlite import SqliteStorage

__all__ = ["Storage", "SqliteStorage", "manifest_path", "read_manifest", "update_manifest_entry",
           "remove_manifest_entry"]
