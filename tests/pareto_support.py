"""Experiments with objectives and constraints written through the storage interface, for the
Pareto routes' and pages' tests: trials as an engine records them, a real SQLite file, served
read-only by the view engine (what ``nnictl view`` runs)."""

from __future__ import annotations

import math
import random
import time
from pathlib import Path
from typing import Any

import numpy as np

from nni.config import ExperimentConfig
from nni.experiment.launcher import ExperimentRunner
from nni.objectives import ObjectiveSpec, pareto_mask
from nni.records import MetricRecord, Trial, TrialStatus
from nni.storage.sqlite import SqliteStorage

__all__ = ["OBJECTIVES_2", "OBJECTIVES_3", "CONSTRAINTS", "objective_trials", "write_experiment", "serve_view",
           "expected_front"]

OBJECTIVES_2 = [{"metric": "accuracy", "mode": "maximize"}, {"metric": "latency_ms", "mode": "minimize"}]
OBJECTIVES_3 = [*OBJECTIVES_2, {"metric": "size_mb", "mode": "minimize"}]
CONSTRAINTS = [{"metric": "memory_mb", "max": 512}]
SPACE = {"width": {"_type": "uniform", "_value": [0, 1]}, "depth": {"_type": "randint", "_value": [1, 9]}}


def objective_trials(n: int, seed: int = 0, unusable_every: int = 97) -> list[Trial]:
    """Finished trials reporting accuracy, latency, size and memory (every ``unusable_every``-th lacks latency)."""
    rng = random.Random(seed)
    start = int(time.time() * 1000) - n * 1000
    trials = []
    for seq in range(n):
        width, depth = rng.random(), rng.randint(1, 8)
        accuracy = 1 - math.exp(-3 * width * depth / 4) + rng.gauss(0, 0.03)
        result: dict[str, Any] = {"accuracy": accuracy, "latency_ms": 2 + 20 * width * depth + rng.gauss(0, 1),
                                  "size_mb": 5 * depth + rng.random(), "memory_mb": 900 * width + rng.gauss(0, 40)}
        if unusable_every and seq % unusable_every == unusable_every - 1:
            del result["latency_ms"]
        t0 = start + seq * 1000
        trial_id = f"t{seq:05d}"
        trial = Trial(trial_id, seq, seq, {"parameter_id": seq, "parameter_source": "algorithm",
                                           "parameters": {"width": width, "depth": depth}, "parameter_index": 0},
                      status=TrialStatus.SUCCEEDED, submit_time_ms=t0, start_time_ms=t0 + 5, end_time_ms=t0 + 900,
                      exit_code=0)
        trial.final = MetricRecord(trial_id, seq, "FINAL", 0, t0 + 900, result)
        trials.append(trial)
    return trials


def write_experiment(folder: Path, experiment_id: str, trials: list[Trial], objectives: list[dict[str, Any]] | None,
                     constraints: list[dict[str, Any]] | None = None) -> ExperimentConfig:
    """Store ``trials`` as a finished experiment under ``folder/experiment_id``; its config."""
    config = ExperimentConfig(training_service="local", trial_command="python3 train.py",
                              trial_code_directory=folder, experiment_working_directory=folder,
                              search_space=SPACE, trial_concurrency=4, max_trial_number=len(trials))
    config.experiment_name = experiment_id
    config.tuner.name = "Random"
    if objectives is not None:
        config.objectives = objectives
    if constraints is not None:
        config.constraints = constraints
    exp_dir = folder / experiment_id
    (exp_dir / "log").mkdir(parents=True, exist_ok=True)
    storage = SqliteStorage(exp_dir / "db")
    first = trials[0].submit_time_ms if trials else 0
    last = max((t.end_time_ms or 0 for t in trials), default=0)
    storage.save_profile({"id": experiment_id, "config": config.json(), "status": "DONE", "error": None,
                          "start_time_ms": first, "end_time_ms": last, "elapsed_ms": last - first,
                          "next_parameter_id": len(trials)})
    storage.write_trials(trials)
    storage.close()
    return config


def serve_view(experiment_id: str, config: ExperimentConfig, port: int) -> ExperimentRunner:
    """The stored experiment served read-only on ``port`` (stop it with ``.stop()``)."""
    runner = ExperimentRunner(experiment_id, config, port=port, mode="view")
    runner.start_in_thread()
    return runner


def expected_front(trials: list[Trial], spec: ObjectiveSpec) -> tuple[set[str], set[str]]:
    """(front trial ids, infeasible trial ids) computed straight from :func:`nni.objectives.pareto_mask`."""
    feasible: list[tuple[str, tuple[float, ...]]] = []
    infeasible: set[str] = set()
    for trial in trials:
        evaluation = spec.evaluate(trial.final.value if trial.final else None)
        if evaluation.losses is None:
            continue
        if evaluation.feasible:
            feasible.append((trial.trial_id, evaluation.losses))
        else:
            infeasible.add(trial.trial_id)
    mask = pareto_mask(np.array([losses for _, losses in feasible])) if feasible else []
    return {trial_id for (trial_id, _), on in zip(feasible, mask, strict=True) if on}, infeasible
