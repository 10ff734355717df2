"""``trackers``: where finished trials are also logged (MLflow, Weights & Biases, TensorBoard).

In YAML a tracker is its name (``trackers: [mlflow, tensorboard]``) or a mapping with ``name`` and
that tool's options; every option is optional. See docs/tracking.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from .base import ConfigBase, config_error_from

__all__ = ["TrackerConfig", "MlflowTrackerConfig", "WandbTrackerConfig", "TensorboardTrackerConfig",
           "TRACKER_NAMES", "parse_trackers"]


class TrackerConfig(ConfigBase):
    """Fields every tracker has: ``name`` says which tool."""

    name: str


class MlflowTrackerConfig(TrackerConfig):
    """One parent run per experiment, one nested run per trial."""

    name: Literal["mlflow"] = "mlflow"
    tracking_uri: str | None = None
    """Where runs go (``sqlite:///path/mlflow.db``, ``http://server:5000``, ``file:///path``); default:
    ``MLFLOW_TRACKING_URI``, else ``sqlite:///<experimentWorkingDirectory>/mlflow.db``."""
    experiment_name: str | None = None
    """The MLflow experiment the runs go into; default: the NNI experiment's name, else ``nni``."""


class WandbTrackerConfig(TrackerConfig):
    """One W&B run per trial, grouped by experiment."""

    name: Literal["wandb"] = "wandb"
    project: str | None = None
    """Default: the NNI experiment's name, else ``nni``."""
    entity: str | None = None
    """The W&B user or team; default: your default entity."""
    group: str | None = None
    """Default: the NNI experiment's id."""
    mode: Literal["online", "offline", "disabled"] | None = None
    """Default: W&B's own (``WANDB_MODE``, else online)."""
    dir: Path | None = None
    """The folder W&B writes its ``wandb/`` folder into; default: the experiment's folder."""
    tags: list[str] | None = None
    """Tags for every trial's run."""


class TensorboardTrackerConfig(TrackerConfig):
    """HParams event files: one run folder per trial."""

    name: Literal["tensorboard"] = "tensorboard"
    log_dir: Path | None = None
    """Default: ``<experiment folder>/tensorboard``; point ``tensorboard --logdir`` at it."""


_CLASSES: dict[str, type[TrackerConfig]] = {
    "mlflow": MlflowTrackerConfig, "wandb": WandbTrackerConfig, "tensorboard": TensorboardTrackerConfig,
}
TRACKER_NAMES = tuple(_CLASSES)


def _tracker(value: Any) -> Any:
    if isinstance(value, TrackerConfig):
        return value
    if isinstance(value, str):
        value = {"name": value}
    if not isinstance(value, dict):
        raise ValueError(f"a tracker is a name ({', '.join(TRACKER_NAMES)}) or a mapping with a name, "
                         f"got {type(value).__name__}")
    name = next((v for k, v in value.items() if str(k).lower() == "name"), None)
    if name is None:
        raise ValueError(f"a tracker mapping needs a name ({', '.join(TRACKER_NAMES)})")
    cls = _CLASSES.get(str(name).lower()) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"unknown tracker {name!r} (known: {', '.join(TRACKER_NAMES)})")
    return cls.model_validate({k: (v.lower() if str(k).lower() == "name" else v) for k, v in value.items()})


def parse_trackers(value: Any) -> Any:
    """A list of names or mappings (a single one is taken as a list of one); each tool at most once."""
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    trackers = []
    for index, item in enumerate(items):
        try:
            trackers.append(_tracker(item))
        except ValidationError as error:
            raise ValueError(str(config_error_from(error, prefix=f"[{index}]"))) from None
        except ValueError as error:
            raise ValueError(f"[{index}] {error}") from None
    names = [t.name for t in trackers]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"{', '.join(twice)} listed more than once (each tool at most once)")
    return trackers

