"""Shared fixtures: an isolated HOME (so the experiments manifest is private), free ports, and a
helper that writes trial scripts and builds a ready-to-run local Experiment."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import support

from nni.experiment import Experiment


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("NNI_PLATFORM", "NNI_EXP_ID", "NNI_TRIAL_JOB_ID", "NNI_SYS_DIR", "NNI_CHECKPOINT_DIRECTORY"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def free_port() -> int:
    return support.free_port()


def write_trial(folder: Path, body: str, name: str = "trial.py") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(body))
    return path


@pytest.fixture
def make_experiment(tmp_path: Path) -> Callable[..., Experiment]:
    """Build a local Experiment running ``trial_body`` (Python source) with sensible defaults."""
    created: list[Experiment] = []

    def build(trial_body: str, search_space: dict[str, Any] | None = None, tuner: Any = "TPE",
              **config: Any) -> Experiment:
        code = tmp_path / f"code{len(created)}"
        write_trial(code, trial_body)
        experiment = tuner if isinstance(tuner, Experiment) else None
        if experiment is None:
            experiment = Experiment("local") if isinstance(tuner, str) else Experiment(tuner, "local")
        if isinstance(tuner, str):
            experiment.config.tuner.name = tuner
        experiment.config.trial_command = f"{sys.executable} trial.py"
        experiment.config.trial_code_directory = code
        experiment.config.experiment_working_directory = tmp_path / "experiments"
        experiment.config.search_space = search_space or {"x": {"_type": "uniform", "_value": [0, 1]}}
        experiment.config.trial_concurrency = 2
        experiment.config.max_trial_number = 4
        for key, value in config.items():
            setattr(experiment.config, key, value)
        created.append(experiment)
        return experiment

    yield build
    for experiment in created:
        experiment.stop()

