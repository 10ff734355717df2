"""The assessor interface: decides whether a running trial is worth continuing."""

from __future__ import annotations

from enum import Enum
from typing import Any

from .recoverable import Recoverable

__all__ = ["AssessResult", "Assessor"]


class AssessResult(Enum):
    """Verdict on a running trial: Good keeps it, Bad early-stops it."""

    Good = True
    Bad = False


class Assessor(Recoverable):
    """Looks at a trial's intermediate results and tells the engine to keep or stop it."""

    def assess_trial(self, trial_job_id: str, trial_history: list[Any]) -> AssessResult:
        """Return Good or Bad for ``trial_job_id`` given its intermediate results so far."""
        raise NotImplementedError("Assessor subclasses must implement assess_trial()")

    def trial_end(self, trial_job_id: str, success: bool) -> None:
        """Called when a trial ends; ``success`` is False when it failed or was stopped."""

    def _on_exit(self) -> None:
        pass

    def _on_error(self) -> None:
        pass
