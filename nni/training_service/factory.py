"""Create the training service a config asks for; each module is imported only when used."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from .base import TrainingService

__all__ = ["create_training_service"]

_SERVICES = {
    "local": ("nni.training_service.local", "LocalTrainingService"),
    "remote": ("nni.training_service.remote", "RemoteTrainingService"),
    "ray": ("nni.training_service.ray", "RayTrainingService"),
    "slurm": ("nni.training_service.slurm", "SlurmTrainingService"),
}


def create_training_service(config: Any, experiment_id: str, experiment_dir: Path) -> TrainingService:
    """``config`` is one platform's config, or a list of them for a hybrid experiment."""
    if isinstance(config, list):
        if len(config) == 1:
            config = config[0]
        else:
            from .hybrid import HybridTrainingService

            return HybridTrainingService(config, experiment_id, experiment_dir)
    module, name = _SERVICES[config.platform]
    cls = getattr(importlib.import_module(module), name)
    return cls(config, experiment_id, experiment_dir)
