"""Experiment configuration: one pydantic model per config class, camelCase only at the boundary."""

from __future__ import annotations

from .algorithm import AlgorithmConfig, CustomAlgorithmConfig
from .base import parse_duration
from .experiment_config import ExperimentConfig, load_config_file
from .training_services import (
    LocalConfig,
    RayConfig,
    RemoteConfig,
    RemoteMachineConfig,
    SlurmConfig,
    TrainingServiceConfig,
)

__all__ = [
    "AlgorithmConfig", "CustomAlgorithmConfig", "ExperimentConfig", "LocalConfig", "RayConfig", "RemoteConfig",
    "RemoteMachineConfig", "SlurmConfig", "TrainingServiceConfig", "load_config_file", "parse_duration",
]
