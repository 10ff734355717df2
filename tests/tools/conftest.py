"""Fixtures for nnictl tests (helpers live in nnictl_helpers.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from nnictl_helpers import Workspace, make_workspace

from nni.experiment.detach import experiment_processes, stop_experiment
from nni.storage.manifest import read_manifest


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return make_workspace(tmp_path)


@pytest.fixture(autouse=True)
def _stop_leftovers() -> Iterator[None]:
    """Whatever a failing test leaves running is stopped, so no manager or trial outlives it."""
    yield
    for experiment_id in read_manifest():
        stop_experiment(experiment_id, timeout=10)
        assert not experiment_processes(experiment_id)
