"""The tracking tests' experiment: ``tracked_experiment(trackers, **config)`` (see tracking_helpers.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from tracking_helpers import SPACE, TRACKED_TRIAL

from nni.experiment import Experiment


@pytest.fixture
def tracked_experiment(make_experiment: Callable[..., Experiment]) -> Callable[..., Experiment]:
    """Build the three-trial experiment with ``trackers`` set (a list of names or mappings, or None)."""

    def build(trackers: Any, **config: Any) -> Experiment:
        return make_experiment(TRACKED_TRIAL, search_space=SPACE, tuner="GridSearch",
                               **{"max_trial_number": 3, "trackers": trackers, **config})

    return build
