"""NNI's import path for the config models, which live in :mod:`nni.config`.

The models sit below the engine and the training services (which import them), so they cannot live
inside this public-API package without an import cycle; NNI code keeps importing them from here,
submodules included (``nni.experiment.config.training_services``).
"""

from __future__ import annotations

import sys

from ...config import *  # noqa: F403
from ...config import __all__ as __all__
from ...config import (
    algorithm,
    base,
    convert_v1,
    experiment_config,
    objectives,
    other_platforms,
    shared_storage,
    training_services,
    yaml_lines,
)

for _module in (algorithm, base, convert_v1, experiment_config, objectives, other_platforms, shared_storage,
                training_services, yaml_lines):
    sys.modules[f"{__name__}.{_module.__name__.rsplit('.', 1)[1]}"] = _module
