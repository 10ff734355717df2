"""Optional tracking tools (MLflow, Weights & Biases, TensorBoard) fed with every finished trial.

The launcher builds them from ``config.trackers`` with :func:`open_trackers` and hands the result
to the engine, which only calls :class:`~nni.integrations.base.Trackers`' three methods. Each tool
is an extra (``pip install 'nni[mlflow]'``); see docs/tracking.md.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..config.trackers import MlflowTrackerConfig, TensorboardTrackerConfig, TrackerConfig, WandbTrackerConfig
from .base import ExperimentInfo, Tracker, Trackers

__all__ = ["ExperimentInfo", "Tracker", "Trackers", "open_trackers"]


def _tracker(config: TrackerConfig, experiment: ExperimentInfo) -> Tracker:
    if isinstance(config, MlflowTrackerConfig):
        from .mlflow import MlflowTracker

        return MlflowTracker(config, experiment)
    if isinstance(config, WandbTrackerConfig):
        from .wandb import WandbTracker

        return WandbTracker(config, experiment)
    assert isinstance(config, TensorboardTrackerConfig)
    from .tensorboard import TensorboardTracker

    return TensorboardTracker(config, experiment)


def open_trackers(configs: Sequence[TrackerConfig] | None, experiment: ExperimentInfo) -> Trackers | None:
    """The trackers ``configs`` ask for, or None for none; a ConfigError names a tool that is not installed."""
    if not configs:
        return None
    return Trackers([_tracker(config, experiment) for config in configs])
