"""What the server leaves out of its answers: the access token, always; secrets in the config,
unless the request carried the token."""

from __future__ import annotations

from typing import Any

__all__ = ["public_manifest_entry", "redact_secrets", "SECRET_KEYS", "REDACTED"]

SECRET_KEYS = frozenset({"token", "password", "passphrase"})
"""Config and manifest keys whose values are credentials (SSH passwords and key passphrases)."""
REDACTED = "<hidden: send the token to see it>"


def public_manifest_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """A manifest entry without its token: the token is for the experiment's owner only."""
    return {key: value for key, value in entry.items() if key != "token"}


def redact_secrets(value: Any) -> Any:
    """A copy of a JSON value with every credential (at any depth) replaced by a placeholder."""
    if isinstance(value, dict):
        return {key: (REDACTED if key in SECRET_KEYS and value[key] is not None else redact_secrets(v))
                for key, v in value.items()}
    if isinstance(value, list):
        return [redact_secrets(v) for v in value]
    return value
