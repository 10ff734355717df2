"""Exceptions that cross the boundary between user code and the package."""

from __future__ import annotations

__all__ = ["NoMoreTrialError", "ConfigError", "SearchSpaceError", "StorageError", "ExperimentInUseError"]


class NoMoreTrialError(Exception):
    """Raised by a tuner when its search space is exhausted."""


class ConfigError(ValueError):
    """A configuration value is missing or invalid; the message names the key (and file)."""


class SearchSpaceError(ConfigError):
    """A search space entry is malformed; the message names the key path."""


class StorageError(RuntimeError):
    """An experiment's database cannot be used (corrupted, foreign, unreadable); the message names its path."""


class ExperimentInUseError(RuntimeError):
    """Another process runs (or serves) the experiment; the message names that process."""
