"""TPE, Random, Anneal, Evolution, GridSearch and Batch through the engine: real local experiments
with parallel trials, valid distinct parameters, a finite grid ending early, Batch's own space."""

from __future__ import annotations

from typing import Any

import pytest
from space_checks import check_config

TRIAL = """
import nni
p = nni.get_next_parameter()
x = p["x"] if not isinstance(p.get("x"), dict) else 0.0
nni.report_final_result({"default": (x - 0.3) ** 2 + p.get("k", 0), "note": "ok"})
"""

SPACE = {"x": {"_type": "uniform", "_value": [0, 1]}, "k": {"_type": "randint", "_value": [0, 3]},
         "opt": {"_type": "choice", "_value": [{"_name": "sgd", "momentum": {"_type": "quniform", "_value": [0, 1, 0.1]}},
                                              {"_name": "adam"}]}}


def _finished(experiment: Any) -> list[Any]:
    jobs = experiment.list_trial_jobs()
    assert jobs and all(job.status == "SUCCEEDED" for job in jobs), [(j.trialJobId, j.status) for j in jobs]
    return [job.hyperParameters[0].parameters for job in jobs]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "args"), [
    ("TPE", {"optimize_mode": "minimize", "tpe_args": {"n_startup_jobs": 3}}),
    ("Random", {"seed": 1}),
    ("Anneal", {"optimize_mode": "minimize"}),
    ("Evolution", {"optimize_mode": "minimize", "population_size": 4}),
])
def test_tuner_runs_a_real_experiment(make_experiment, free_port, name: str, args: dict[str, Any]) -> None:
    experiment = make_experiment(TRIAL, SPACE, tuner=name, trial_concurrency=3, max_trial_number=9)
    experiment.config.tuner.class_args = args
    assert experiment.run(free_port) is True
    params = _finished(experiment)
    assert len(params) == 9
    for p in params:
        check_config(p, SPACE)
    assert len({repr(sorted(p.items())) for p in params}) == 9


@pytest.mark.slow
def test_grid_search_stops_when_the_finite_grid_is_done(make_experiment, free_port) -> None:
    space = {"x": {"_type": "choice", "_value": [0.1, 0.5]}, "k": {"_type": "randint", "_value": [0, 2]}}
    experiment = make_experiment(TRIAL, space, tuner="GridSearch", trial_concurrency=2, max_trial_number=20)
    assert experiment.run(free_port) is True
    params = _finished(experiment)
    assert sorted((p["x"], p["k"]) for p in params) == [(0.1, 0), (0.1, 1), (0.5, 0), (0.5, 1)]


@pytest.mark.slow
def test_batch_runs_each_listed_configuration(make_experiment, free_port) -> None:
    configs = [{"x": 0.1, "k": 0}, {"x": 0.2, "k": 1}, {"x": 0.9, "k": 2}]
    experiment = make_experiment(TRIAL, {"combine_params": {"_type": "choice", "_value": configs}},
                                 tuner="Batch", trial_concurrency=2, max_trial_number=10)
    assert experiment.run(free_port) is True
    assert sorted(_finished(experiment), key=lambda p: p["x"]) == configs
