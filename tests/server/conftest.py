"""Server fixtures: a real experiment of two trials, run to the end, with its port and token."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from nni.experiment import Experiment
from nni.storage.manifest import read_manifest


@pytest.fixture
def finished_experiment(make_experiment: Callable[..., Experiment],
                        free_port: int) -> Callable[[str], tuple[Experiment, int, str]]:
    """Start ``trial_body`` for two trials, one at a time; wait for DONE; give (experiment, port, token)."""

    def start(trial_body: str, **config: Any) -> tuple[Experiment, int, str]:
        experiment = make_experiment(trial_body, max_trial_number=2, trial_concurrency=1, **config)
        experiment.start(free_port)
        assert experiment._runner is not None
        experiment._runner.wait_finished(60)
        return experiment, free_port, read_manifest()[experiment.id]["token"]

    return start
