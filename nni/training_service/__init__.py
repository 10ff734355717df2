"""Training services run trial commands somewhere and report what happens to them.

They know nothing of tuners, storage or the server: the engine hands them :class:`TrialSpec` s and
listens to the :class:`TrialEvent` s they emit. ``create_training_service`` picks one by platform.
"""

from __future__ import annotations

from .base import (
    EventSink,
    TrainingService,
    TrainingServiceError,
    TrialEnded,
    TrialEvent,
    TrialMetric,
    TrialSpec,
    TrialStarted,
    TrialWaiting,
)
from .factory import create_training_service

__all__ = [
    "EventSink", "TrainingService", "TrainingServiceError", "TrialEnded", "TrialEvent", "TrialMetric",
    "TrialSpec", "TrialStarted", "TrialWaiting", "create_training_service",
]
