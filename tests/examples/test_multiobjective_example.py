"""examples/multiobjective runs as documented (a few trials here): every trial is read under the
config's objectives and constraints, and the front is what export_data flags."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from nni.experiment import Experiment, ExperimentConfig

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "multiobjective"


def test_the_example_config_runs_and_flags_the_front(tmp_path: Path, free_port: int) -> None:
    pytest.importorskip("sklearn", reason="the example trial needs scikit-learn")
    config = ExperimentConfig.load(EXAMPLE / "config.yml")
    assert [o.metric for o in config.objectives or []] == ["accuracy", "nodes"]
    config.trial_command = f"{sys.executable} trial.py"
    config.max_trial_number = 3
    config.experiment_working_directory = tmp_path / "experiments"
    experiment = Experiment(config)
    try:
        assert experiment.run(free_port) is True
        results = experiment.export_data()
        assert len(results) == 3
        assert all(set(r.value) == {"accuracy", "nodes", "latency_ms"} for r in results)
        assert all(r.feasible == (r.value["latency_ms"] <= 50 and r.value["accuracy"] >= 0.8) for r in results)
        front = experiment.get_pareto_front()
        assert all(r.feasible for r in front) and (front or not any(r.feasible for r in results))
    finally:
        experiment.stop()
