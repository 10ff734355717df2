"""A small real experiment for the tracking tests: three grid trials of a script that reports two
metric keys at three steps; the trial with x == 3 fails before its final result."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from nni.experiment import Experiment

TRACKED_TRIAL = """
import sys, nni
params = nni.get_next_parameter()
for step in range(3):
    nni.report_intermediate_result({"default": params["x"] * step, "loss": 1.0 / (step + 1)})
if params["x"] == 3:
    sys.exit(1)
nni.report_final_result({"default": params["x"] * 10, "loss": 0.25, "note": "done"})
"""

SPACE = {"x": {"_type": "choice", "_value": [1, 2, 3]}, "opt": {"_type": "choice", "_value": ["sgd"]}}


@pytest.fixture
def tracked_experiment(make_experiment: Callable[..., Experiment]) -> Callable[..., Experiment]:
    """Build the three-trial experiment with ``trackers`` set (a list of names or mappings)."""

    def build(trackers: Any, **config: Any) -> Experiment:
        return make_experiment(TRACKED_TRIAL, search_space=SPACE, tuner="GridSearch",
                               **{"max_trial_number": 3, "trackers": trackers, **config})

    return build


def by_x(items: list[Any], key: Callable[[Any], Any]) -> dict[Any, Any]:
    """``items`` keyed by the trial's x parameter."""
    return {key(item): item for item in items}
