"""NNI-compatible hyperparameter tuning.

A trial script needs only the functions below; ``import nni`` loads nothing heavy so that trials
start fast. Everything else (``nni.experiment``, the algorithms, the engine) is imported on use.
"""

from __future__ import annotations

from typing import Any

from .errors import NoMoreTrialError
from .trial import (
    get_current_parameter,
    get_experiment_id,
    get_next_parameter,
    get_next_parameters,
    get_sequence_id,
    get_trial_id,
    report_final_result,
    report_intermediate_result,
)

__version__ = "3.1.0"

__all__ = [
    "NoMoreTrialError", "get_current_parameter", "get_experiment_id", "get_next_parameter",
    "get_next_parameters", "get_sequence_id", "get_trial_id", "report_final_result",
    "report_intermediate_result", "__version__", "Experiment",
]

_LAZY_SUBMODULES = {"experiment", "algorithms", "tuner", "assessor", "utils", "typehint", "tools", "search_space"}


def __getattr__(name: str) -> Any:
    import importlib

    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name == "Experiment":
        # NNI exposes ``nni.Experiment``; loading it costs the launch side, so only on use
        return importlib.import_module(f"{__name__}.experiment").Experiment
    raise AttributeError(f"module 'nni' has no attribute {name!r}")
