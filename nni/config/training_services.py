"""Configs of the training services, one class per platform, chosen by ``platform``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from .base import ConfigBase

__all__ = [
    "TrainingServiceConfig", "LocalConfig", "RemoteConfig", "RemoteMachineConfig", "RayConfig", "SlurmConfig",
    "parse_training_service", "config_class", "PLATFORMS", "SHORTCUTS",
]


def _gpu_list(value: Any) -> Any:
    """NNI accepts a list, a single int, or a string like "0,1"."""
    if value is None or isinstance(value, list):
        return value
    if isinstance(value, bool):
        raise ValueError("gpuIndices must be a list of integers, an integer or a string like '0,1'")
    if isinstance(value, int):
        return [value]
    if isinstance(value, str):
        try:
            return [int(x) for x in value.split(",") if x.strip()]
        except ValueError:
            raise ValueError(f"gpuIndices must be integers separated by commas, got {value!r}") from None
    return value


SHORTCUTS = ("trial_command", "trial_code_directory", "trial_gpu_number", "nni_manager_ip", "debug")
"""Root fields that stand for every training service; one set on a service wins over the root's."""


class TrainingServiceConfig(ConfigBase):
    """Fields every platform shares (each also settable at the root, for all services at once)."""

    platform: str
    trial_command: str | None = None
    trial_code_directory: Path | None = None
    trial_gpu_number: int | None = Field(default=None, ge=0)
    nni_manager_ip: str | None = None
    debug: bool | None = None

    def _canonicalize(self, parents: list[ConfigBase]) -> None:
        """Copy the root's shortcut fields that this service does not set, as NNI does."""
        for name in SHORTCUTS:
            if name not in self.model_fields_set and parents:
                setattr(self, name, getattr(parents[0], name, None))
        super()._canonicalize(parents)


class LocalConfig(TrainingServiceConfig):
    platform: Literal["local"] = "local"
    use_active_gpu: bool | None = None
    max_trial_number_per_gpu: int = Field(default=1, gt=0)
    gpu_indices: list[int] | None = None
    reuse_mode: bool = False

    _gpus = field_validator("gpu_indices", mode="before")(classmethod(lambda cls, v: _gpu_list(v)))

    def _canonicalize(self, parents: list[ConfigBase]) -> None:
        super()._canonicalize(parents)
        self.nni_manager_ip = None  # trials on this machine need no address to reach the manager


class RemoteMachineConfig(ConfigBase):
    host: str
    port: int = Field(default=22, gt=0, lt=65536)
    user: str
    password: str | None = None
    ssh_key_file: Path | None = Path("~/.ssh/id_rsa")
    ssh_passphrase: str | None = None
    use_active_gpu: bool = False
    max_trial_number_per_gpu: int = Field(default=1, gt=0)
    gpu_indices: list[int] | None = None
    python_path: str | None = None
    """Folder put first on PATH on that machine, so ``python3`` there is one that has nni installed."""
    working_directory: str | None = None
    """Folder on the machine for the uploaded code and the trial folders (default
    ``${TMPDIR:-/tmp}/nni-remote-<user>``); ``~`` is the remote user's home."""
    _omit_unless_set: ClassVar[frozenset[str]] = frozenset({"working_directory"})

    _gpus = field_validator("gpu_indices", mode="before")(classmethod(lambda cls, v: _gpu_list(v)))

    def _canonicalize(self, parents: list[ConfigBase]) -> None:
        super()._canonicalize(parents)
        if self.password is not None:
            self.ssh_key_file = None  # NNI logs in with the password alone then


class RemoteConfig(TrainingServiceConfig):
    platform: Literal["remote"] = "remote"
    machine_list: list[RemoteMachineConfig] = Field(default_factory=list)
    reuse_mode: bool = False
    """NNI's switch between a fresh upload per trial and a long-lived agent per machine; here every
    trial of a machine shares its SSH connection and one upload of the code either way."""
    keepalive_seconds: float = Field(default=10.0, gt=0)
    """Idle connections are probed this often; three unanswered probes mean the connection is lost."""
    reconnect_seconds: float = Field(default=30.0, ge=0)
    """How long to try to reconnect to a machine whose connection broke before its trials fail
    (trials keep running there meanwhile and are followed again once it answers)."""
    _omit_unless_set: ClassVar[frozenset[str]] = frozenset({"keepalive_seconds", "reconnect_seconds"})


class RayConfig(TrainingServiceConfig):
    """A Ray cluster: each trial runs on the node where Ray reserved the resources asked for."""

    platform: Literal["ray"] = "ray"
    address: str = "auto"
    trial_cpu_number: float = Field(default=1.0, ge=0)
    trial_resources: dict[str, float] = Field(default_factory=dict)
    runtime_env: dict[str, Any] | None = None
    """Ray's runtime environment for the trial tasks; its ``working_dir`` defaults to the trial code
    directory (uploaded by Ray, ``.nniignore`` honoured), ``working_dir: null`` runs the code where it
    is (nodes sharing the filesystem)."""
    namespace: str | None = None
    working_directory: str | None = None
    """Folder on each node for the trial folders (default ``<tmp>/nni-ray-<user>``)."""


class SlurmConfig(TrainingServiceConfig):
    """A Slurm cluster: one ``sbatch`` job per trial, metrics through the shared filesystem."""

    platform: Literal["slurm"] = "slurm"
    partition: str | None = None
    account: str | None = None
    time_limit: str | None = None
    trial_cpu_number: int = Field(default=1, gt=0)
    gres: str | None = None
    sbatch_options: list[str] = Field(default_factory=list)
    python_path: str | None = None


PLATFORMS: dict[str, type[TrainingServiceConfig]] = {
    "local": LocalConfig, "remote": RemoteConfig, "ray": RayConfig, "slurm": SlurmConfig,
}


def config_class(platform: Any) -> type[TrainingServiceConfig] | None:
    """The config class of ``platform``: ours, or one of NNI's that load but do not run here."""
    from .other_platforms import OTHER_PLATFORMS

    if not isinstance(platform, str):
        return None
    return PLATFORMS.get(platform) or OTHER_PLATFORMS.get(platform, (None, ""))[0]


def parse_training_service(value: Any) -> Any:
    """A platform name, a dict with ``platform``, a config object, or a list of these (hybrid)."""
    if isinstance(value, list):
        return [parse_training_service(v) for v in value]
    if isinstance(value, str):
        cls = config_class(value)
        if cls is None:
            raise ValueError(f"unknown platform {value!r} (known: {', '.join(PLATFORMS)})")
        return cls.model_validate({})
    if isinstance(value, dict):
        platform = next((v for k, v in value.items() if str(k).lower() == "platform"), None)
        cls = config_class(platform)
        if cls is None:
            raise ValueError(f"platform must be one of {', '.join(PLATFORMS)}, got {platform!r}")
        return cls.model_validate(value)
    return value
