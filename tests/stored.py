"""Large stored experiments for the scale tests, written through the storage interface in one
transaction (100,000 trials in seconds), and served read-only as ``nnictl view`` serves them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from nni.config import ExperimentConfig
from nni.experiment.launcher import ExperimentRunner
from nni.records import MetricRecord, Trial, TrialStatus
from nni.storage.sqlite import SqliteStorage

__all__ = ["write_experiment", "serve_view", "SPACE"]

SPACE = {"x": {"_type": "uniform", "_value": [0, 1]}, "opt": {"_type": "choice", "_value": ["sgd", "adam"]}}


def write_experiment(folder: Path, n_trials: int, points: int = 0, experiment_id: str = "stored") -> ExperimentConfig:
    """A finished experiment of ``n_trials`` (every tenth FAILED) with ``points`` intermediate results
    each; trial ``i`` has id ``t{i:06d}``, x = i / n_trials and final result x (so sorting is checkable)."""
    config = ExperimentConfig("local", trial_command="python3 trial.py", trial_code_directory=folder,
                              experiment_working_directory=folder, search_space=SPACE, trial_concurrency=4,
                              max_trial_number=max(n_trials, 1))
    config.tuner.name = "Random"
    config.tuner.class_args = {"optimize_mode": "maximize"}
    storage = SqliteStorage(folder / experiment_id / "db")
    (folder / experiment_id / "log").mkdir(parents=True, exist_ok=True)
    start = 1_700_000_000_000
    storage.save_profile({"id": experiment_id, "config": config.json(), "status": "DONE", "error": None,
                          "start_time_ms": start, "end_time_ms": start + 1000 * n_trials,
                          "elapsed_ms": 1000 * n_trials, "next_parameter_id": n_trials})
    storage.write_trials(_trials(n_trials, points, start))
    storage.close()
    return config


def _trials(n_trials: int, points: int, start: int) -> Iterator[Trial]:
    for i in range(n_trials):
        x = i / max(n_trials, 1)
        record = {"parameter_id": i, "parameter_source": "algorithm", "parameter_index": 0,
                  "parameters": {"x": x, "opt": "adam" if i % 2 else "sgd"}}
        t0 = start + 1000 * i
        failed = i % 10 == 9
        trial = Trial(f"t{i:06d}", i, i, record, status=TrialStatus.FAILED if failed else TrialStatus.SUCCEEDED,
                      submit_time_ms=t0, start_time_ms=t0 + 5, end_time_ms=t0 + 500 + i % 7, exit_code=int(failed))
        trial.intermediate = [MetricRecord(trial.trial_id, i, "PERIODICAL", step, t0 + 10 + step, x * step / points)
                              for step in range(points)]
        trial.final = MetricRecord(trial.trial_id, i, "FINAL", 0, t0 + 400, x)
        yield trial


@contextlib.contextmanager
def serve_view(folder: Path, port: int, experiment_id: str = "stored") -> Iterator[ExperimentRunner]:
    """The stored experiment in ``folder`` served read-only on ``port`` until the block ends."""
    storage = SqliteStorage(folder / experiment_id / "db", read_only=True)
    profile = storage.load_profile()
    storage.close()
    assert profile is not None
    runner = ExperimentRunner(experiment_id, ExperimentConfig.model_validate(profile["config"]), port=port, mode="view")
    runner.start_in_thread()
    try:
        yield runner
    finally:
        runner.stop()
