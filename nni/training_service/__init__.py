"""Training services run trial commands somewhere and report what happens to them.

They know nothing of tuners, storage or the server: the engine hands them :class:`TrialSpec` s and
listens to the :class:`TrialEvent` s they emit. ``create_training_service`` picks one by platform.
:func:`process_alive` is the one liveness check of processes and process groups for the whole package
(trials here, managers in :mod:`nni.experiment` and the web UI).
"""

from __future__ import annotations

from ._process import process_alive
from .base import (
    EventSink,
    ServiceBase,
    TrainingService,
    TrainingServiceError,
    TrialEnded,
    TrialEvent,
    TrialMetric,
    TrialRun,
    TrialSpec,
    TrialStarted,
    TrialWaiting,
)
from .factory import create_training_service

__all__ = [
    "EventSink", "ServiceBase", "TrainingService", "TrainingServiceError", "TrialEnded", "TrialEvent",
    "TrialMetric", "TrialRun", "TrialSpec", "TrialStarted", "TrialWaiting", "create_training_service",
    "process_alive",
]
