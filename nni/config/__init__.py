"""Experiment configuration: one pydantic model per config class, camelCase only at the boundary."""

from __future__ import annotations

from .algorithm import AlgorithmConfig, CustomAlgorithmConfig
from .base import parse_duration
from .experiment_config import ExperimentConfig, load_config_file
from .objectives import ConstraintConfig, ObjectiveConfig
from .other_platforms import (
    AmlConfig,
    DlcConfig,
    FrameworkAttemptCompletionPolicy,
    FrameworkControllerConfig,
    FrameworkControllerRoleConfig,
    K8sAzureStorageConfig,
    K8sNfsConfig,
    K8sStorageConfig,
    KubeflowConfig,
    KubeflowRoleConfig,
    OpenpaiConfig,
)
from .shared_storage import AzureBlobConfig, NfsConfig, SharedStorageConfig
from .training_services import (
    LocalConfig,
    RayConfig,
    RemoteConfig,
    RemoteMachineConfig,
    SlurmConfig,
    TrainingServiceConfig,
)

__all__ = [
    "AlgorithmConfig", "AmlConfig", "AzureBlobConfig", "ConstraintConfig", "CustomAlgorithmConfig", "DlcConfig",
    "ExperimentConfig", "FrameworkAttemptCompletionPolicy", "FrameworkControllerConfig",
    "FrameworkControllerRoleConfig", "K8sAzureStorageConfig", "K8sNfsConfig", "K8sStorageConfig", "KubeflowConfig",
    "KubeflowRoleConfig", "LocalConfig", "NfsConfig", "ObjectiveConfig", "OpenpaiConfig", "RayConfig",
    "RemoteConfig", "RemoteMachineConfig", "SharedStorageConfig", "SlurmConfig", "TrainingServiceConfig",
    "load_config_file", "parse_duration",
]
