"""Launch and control experiments from Python (NNI's ``nni.experiment``)."""

from __future__ import annotations

from .config import (
    AlgorithmConfig,
    CustomAlgorithmConfig,
    ExperimentConfig,
    LocalConfig,
    RayConfig,
    RemoteConfig,
    RemoteMachineConfig,
    SlurmConfig,
    TrainingServiceConfig,
)
from .data import TrialHyperParameters, TrialJob, TrialMetricData, TrialResult
from .experiment import Experiment, RunMode

__all__ = [
    "AlgorithmConfig", "CustomAlgorithmConfig", "Experiment", "ExperimentConfig", "LocalConfig", "RayConfig",
    "RemoteConfig", "RemoteMachineConfig", "RunMode", "SlurmConfig", "TrainingServiceConfig", "TrialHyperParameters",
    "TrialJob", "TrialMetricData", "TrialResult",
]
