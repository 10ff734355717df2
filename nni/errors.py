"""Exceptions that cross the boundary between user code and the package."""

from __future__ import annotations

__all__ = ["NoMoreTrialError", "ConfigError", "SearchSpaceError"]


class NoMoreTrialError(Exception):
    """Raised by a tuner when its search space is exhausted."""


class ConfigError(ValueError):
    """A configuration value is missing or invalid; the message names the key (and file)."""


class SearchSpaceError(ConfigError):
    """A search space entry is malformed; the message names the key path."""
