"""A manager process for benchmarks/scale.py, so its CPU time and memory are measured on their own.

``view DIR ID PORT``: serve a stored experiment read-only (what ``nnictl view`` runs); prints
``{"serving_s": ...}`` once it answers. ``resume DIR ID PORT``: resume it (what ``nnictl resume``
runs: trials, curves and the tuner's replay of every result); prints ``{"resumed_s": ...}`` once the
engine has started. ``live DIR PORT TRIALS CONCURRENCY COMMAND [SERVICE]``: run
an experiment of ``COMMAND`` trials with a Random tuner that logs the size of each batch it is asked
for, on the local machine or on the training service that the JSON ``SERVICE`` describes (e.g.
``{"platform": "ray", ...}``); prints ``{"batches": [...], "wall_s": ...}`` when every trial has
ended. Both then serve until stdin closes, so the parent can keep measuring the REST routes.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nni.algorithms.hpo.random_tuner import RandomTuner  # noqa: E402
from nni.config import ExperimentConfig  # noqa: E402
from nni.config.training_services import config_class  # noqa: E402
from nni.experiment import Experiment  # noqa: E402
from nni.experiment.launcher import ExperimentRunner  # noqa: E402
from nni.storage.sqlite import SqliteStorage  # noqa: E402

__all__ = ["BatchLoggingRandom", "main"]

SPACE = {"x": {"_type": "uniform", "_value": [0, 1]}, "y": {"_type": "choice", "_value": [1, 2, 3]}}


class BatchLoggingRandom(RandomTuner):
    """Random search that records how many ids each ``generate_multiple_parameters`` call asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []

    def generate_multiple_parameters(self, parameter_id_list: list[int], **kwargs: Any) -> list[dict[str, Any]]:
        self.batches.append(len(parameter_id_list))
        return super().generate_multiple_parameters(parameter_id_list, **kwargs)


def _report(payload: dict[str, Any]) -> None:
    print(json.dumps(payload), flush=True)


def open_stored(folder: Path, experiment_id: str, port: int, mode: str) -> ExperimentRunner:
    """View or resume the experiment stored in ``folder`` (which may be a copy of where it ran)."""
    storage = SqliteStorage(folder / experiment_id / "db", read_only=True)
    profile = storage.load_profile()
    storage.close()
    assert profile is not None
    config = ExperimentConfig.model_validate(profile["config"])
    config.experiment_working_directory = str(folder)
    started = time.perf_counter()
    runner = ExperimentRunner(experiment_id, config, port=port, mode=mode)
    runner.start_in_thread()
    _report({"serving_s" if mode == "view" else "resumed_s": time.perf_counter() - started})
    return runner


def run_live(folder: Path, port: int, trials: int, concurrency: int, command: str,
             service: dict[str, Any] | None = None) -> Experiment:
    tuner = BatchLoggingRandom()
    experiment = Experiment(tuner, "local")
    if service is not None:
        platform = config_class(service["platform"])
        assert platform is not None, service
        experiment.config.training_service = platform.model_validate(service)
    experiment.config.trial_command = command
    experiment.config.trial_code_directory = str(folder / "code")
    experiment.config.experiment_working_directory = str(folder / "exps")
    experiment.config.search_space = SPACE
    experiment.config.max_trial_number = trials
    experiment.config.trial_concurrency = concurrency
    started = time.perf_counter()
    experiment.start(port)
    _report({"experiment_dir": str(experiment.experiment_dir)})
    runner = experiment._runner
    assert runner is not None and runner.engine is not None
    while not runner.engine.finished:
        time.sleep(0.2)
    _report({"batches": tuner.batches, "wall_s": time.perf_counter() - started})
    return experiment


def main() -> None:
    mode, folder = sys.argv[1], Path(sys.argv[2])
    if mode in ("view", "resume"):
        runner = open_stored(folder, sys.argv[3], int(sys.argv[4]), mode)
        sys.stdin.read()
        runner.stop()
    else:
        service = json.loads(sys.argv[7]) if len(sys.argv) > 7 else None
        experiment = run_live(folder, int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6], service)
        sys.stdin.read()
        experiment.stop()


if __name__ == "__main__":
    main()
