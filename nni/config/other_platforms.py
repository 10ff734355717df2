"""NNI's cloud and cluster platforms (OpenPAI, Kubeflow, FrameworkController, AML, DLC).

Their configs load and canonicalise as in NNI, so tools that read an NNI config keep working, but
no training service runs them here: ``ExperimentConfig.validate()`` stops the start, naming the
platform and pointing to the remote, Ray and Slurm services (docs/training_services/).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from .base import ConfigBase
from .training_services import TrainingServiceConfig

__all__ = [
    "OpenpaiConfig", "K8sStorageConfig", "K8sNfsConfig", "K8sAzureStorageConfig", "KubeflowRoleConfig",
    "KubeflowConfig", "FrameworkAttemptCompletionPolicy", "FrameworkControllerRoleConfig",
    "FrameworkControllerConfig", "AmlConfig", "DlcConfig", "OTHER_PLATFORMS",
]

_IMAGE = "msranni/nni:latest"


class OpenpaiConfig(TrainingServiceConfig):
    platform: Literal["openpai"] = "openpai"
    host: str
    username: str
    token: str
    trial_cpu_number: int
    trial_memory_size: str | int
    storage_config_name: str
    docker_image: str = _IMAGE
    virtual_cluster: str | None = None
    local_storage_mount_point: Path
    container_storage_mount_point: str
    reuse_mode: bool = True
    openpai_config: dict[str, Any] | None = None
    openpai_config_file: Path | None = None

    def _canonicalize(self, parents: list[ConfigBase]) -> None:
        super()._canonicalize(parents)
        if "://" not in self.host:
            self.host = "https://" + self.host


class K8sStorageConfig(ConfigBase):
    storage_type: str
    azure_account: str | None = None
    azure_share: str | None = None
    key_vault_name: str | None = None
    key_vault_key: str | None = None
    server: str | None = None
    path: str | None = None


class K8sNfsConfig(K8sStorageConfig):
    storage: Literal["nfs"] = "nfs"
    server: str
    path: str


class K8sAzureStorageConfig(K8sStorageConfig):
    storage: Literal["azureStorage"] = "azureStorage"
    azure_account: str
    azure_share: str
    key_vault_name: str
    key_vault_key: str


class KubeflowRoleConfig(ConfigBase):
    replicas: int
    command: str
    gpu_number: int | None = 0
    cpu_number: int
    memory_size: str | int
    docker_image: str = _IMAGE
    code_directory: str


class KubeflowConfig(TrainingServiceConfig):
    platform: Literal["kubeflow"] = "kubeflow"
    operator: str
    api_version: str
    storage: K8sStorageConfig
    worker: KubeflowRoleConfig | None = None
    ps: KubeflowRoleConfig | None = None
    master: KubeflowRoleConfig | None = None
    reuse_mode: bool | None = True
    namespace: str = "default"

    def _canonicalize(self, parents: list[ConfigBase]) -> None:
        super()._canonicalize(parents)
        if self.trial_command is None:
            self.trial_command = ""  # NNI's placeholder: the roles carry the commands


class FrameworkAttemptCompletionPolicy(ConfigBase):
    min_failed_task_count: int
    min_succeed_task_count: int


class FrameworkControllerRoleConfig(ConfigBase):
    name: str
    docker_image: str = _IMAGE
    task_number: int
    command: str
    gpu_number: int
    cpu_number: int
    memory_size: str | int
    framework_attempt_completion_policy: FrameworkAttemptCompletionPolicy


class FrameworkControllerConfig(TrainingServiceConfig):
    platform: Literal["frameworkcontroller"] = "frameworkcontroller"
    storage: K8sStorageConfig
    service_account_name: str | None = None
    task_roles: list[FrameworkControllerRoleConfig]
    reuse_mode: bool | None = True
    namespace: str = "default"

    def _canonicalize(self, parents: list[ConfigBase]) -> None:
        super()._canonicalize(parents)
        if self.trial_command is None:
            self.trial_command = ""


class AmlConfig(TrainingServiceConfig):
    platform: Literal["aml"] = "aml"
    subscription_id: str
    resource_group: str
    workspace_name: str
    compute_target: str
    docker_image: str = _IMAGE
    max_trial_number_per_gpu: int = 1


class DlcConfig(TrainingServiceConfig):
    platform: Literal["dlc"] = "dlc"
    type: str = "Worker"
    image: str
    job_type: str = "TFJob"
    pod_count: int
    ecs_spec: str
    region: str
    workspace_id: str
    nas_data_source_id: str
    oss_data_source_id: str | None = None
    access_key_id: str
    access_key_secret: str
    local_storage_mount_point: str
    container_storage_mount_point: str


OTHER_PLATFORMS: dict[str, tuple[type[TrainingServiceConfig], str]] = {
    "openpai": (OpenpaiConfig, "OpenPAI"), "kubeflow": (KubeflowConfig, "Kubeflow"),
    "frameworkcontroller": (FrameworkControllerConfig, "FrameworkController"),
    "aml": (AmlConfig, "Azure Machine Learning"), "dlc": (DlcConfig, "Alibaba PAI-DLC"),
}
"""Platform name to its config class and the name its users know it by."""
