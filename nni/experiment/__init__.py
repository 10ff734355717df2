"""Launch and control experiments from Python (NNI's ``nni.experiment``).

Names are imported on first use, so tools that only need the config models (``nnictl``) do not
pay for the engine and the web server.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "AlgorithmConfig", "Constraint", "CustomAlgorithmConfig", "Experiment", "ExperimentConfig", "LocalConfig",
    "Objective", "RayConfig",
    "RemoteConfig", "RemoteMachineConfig", "RunMode", "SlurmConfig", "TrainingServiceConfig", "TrialHyperParameters",
    "TrialJob", "TrialMetricData", "TrialResult",
]

_WHERE = {
    **dict.fromkeys(["AlgorithmConfig", "CustomAlgorithmConfig", "ExperimentConfig", "LocalConfig", "RayConfig",
                     "RemoteConfig", "RemoteMachineConfig", "SlurmConfig", "TrainingServiceConfig"], ".config"),
    **dict.fromkeys(["TrialHyperParameters", "TrialJob", "TrialMetricData", "TrialResult"], ".data"),
    **dict.fromkeys(["Experiment", "RunMode"], ".experiment"),
    **dict.fromkeys(["Constraint", "Objective"], "..objectives"),
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'nni.experiment' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
