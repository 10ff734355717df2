"""Checkpoint hooks shared by tuners and assessors."""

from __future__ import annotations

import os

__all__ = ["Recoverable"]


class Recoverable:
    """Objects whose state can be saved to and restored from a checkpoint folder."""

    def load_checkpoint(self) -> None:
        """Restore state from :meth:`get_checkpoint_path`; the default keeps no state."""

    def save_checkpoint(self) -> None:
        """Save state to :meth:`get_checkpoint_path`; the default keeps no state."""

    def get_checkpoint_path(self) -> str | None:
        """The experiment's checkpoint folder, set by the engine through NNI_CHECKPOINT_DIRECTORY."""
        path = os.environ.get("NNI_CHECKPOINT_DIRECTORY")
        if path:
            os.makedirs(path, exist_ok=True)
        return path
