"""HyperoptTuner specifics: arguments, the three algorithms, results written into hyperopt's
trials (including receive_trial_result on today's numpy), liars, failures and replay."""

from __future__ import annotations

import pytest

from nni.algorithms.hpo.builtin import create_algorithm
from nni.algorithms.hpo.hyperopt_tuner import HyperoptTuner

SPACE = {"x": {"_type": "uniform", "_value": [-5, 5]},
         "m": {"_type": "choice", "_value": [{"_name": "a", "k": {"_type": "randint", "_value": [0, 4]}}, "b"]}}


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="algorithm_name must be one of tpe, random_search, anneal"):
        HyperoptTuner("bayes")
    with pytest.raises(ValueError, match="constant_liar_type must be one of min, max, mean"):
        HyperoptTuner("tpe", constant_liar_type="best")


def test_anneal_builtin_is_hyperopt_anneal() -> None:
    tuner = create_algorithm("tuner", name="Anneal", class_args={"optimize_mode": "maximize"})
    assert isinstance(tuner, HyperoptTuner) and tuner.algorithm_name_arg == "anneal"


@pytest.mark.parametrize("algorithm", ["tpe", "random_search", "anneal"])
def test_results_reach_hyperopt_trials(algorithm: str) -> None:
    tuner = HyperoptTuner(algorithm, seed=0)
    tuner.update_search_space(SPACE)
    for pid in range(25):
        params = tuner.generate_parameters(pid)
        tuner.receive_trial_result(pid, params, {"default": (params["x"] - 2) ** 2})
    losses = [loss for loss in tuner._trials.losses() if loss is not None]
    assert len(losses) == 25


@pytest.mark.parametrize("liar", ["min", "max", "mean"])
def test_parallel_optimize_with_running_trials(liar: str) -> None:
    tuner = HyperoptTuner("tpe", seed=1, parallel_optimize=True, constant_liar_type=liar)
    tuner.update_search_space(SPACE)
    for pid in range(22):
        params = tuner.generate_parameters(pid)
        tuner.receive_trial_result(pid, params, params["x"] ** 2)
    running = [tuner.generate_parameters(100 + i) for i in range(4)]
    assert len({str(p) for p in running}) == 4
    # the lie is taken back: running trials have no loss
    assert sum(loss is not None for loss in tuner._trials.losses()) == 22


def test_failed_trial_is_marked_and_replay_adds_results() -> None:
    tuner = HyperoptTuner("tpe", seed=2)
    tuner.update_search_space(SPACE)
    params = tuner.generate_parameters(0)
    tuner.trial_end(0, False)
    tuner.receive_trial_result(500, {"x": 1.0, "m": {"_name": "a", "k": 2}}, 3.0)
    statuses = [t["result"]["status"] for t in tuner._trials._dynamic_trials]
    assert statuses == ["fail", "ok"] and params != {"x": 1.0, "m": {"_name": "a", "k": 2}}
    assert [t["result"]["status"] for t in tuner._trials.trials] == ["ok"]  # hyperopt skips failures
