"""Metis tuner: supported types over several rounds, refusals, resampling, dedup."""

from __future__ import annotations

import math

import pytest

from nni.algorithms.hpo.builtin import create_algorithm
from nni.algorithms.hpo.metis_tuner import MetisTuner
from nni.errors import SearchSpaceError

SPACE = {
    "c": {"_type": "choice", "_value": [1, 2.5, 4]},
    "r": {"_type": "randint", "_value": [0, 6]},
    "u": {"_type": "uniform", "_value": [-2, 2]},
    "q": {"_type": "quniform", "_value": [0, 1, 0.1]},
}


def _value(p: dict) -> float:
    return (p["u"] - 0.5) ** 2 + 0.1 * p["r"] + abs(p["c"] - 2.5) + (p["q"] - 0.3) ** 2


def test_supported_types_over_several_rounds_and_it_learns() -> None:
    tuner = MetisTuner(optimize_mode="minimize", cold_start_num=5, selection_num_starting_points=200, seed=0)
    tuner.update_search_space(SPACE)
    values = []
    for pid in range(16):
        params = tuner.generate_parameters(pid)
        assert tuner.space.contains(params) and params["c"] in (1, 2.5, 4) and isinstance(params["r"], int)
        assert round(params["q"] * 10, 9) == round(params["q"] * 10)
        values.append(_value(params))
        tuner.receive_trial_result(pid, params, values[-1])
    assert min(values[5:]) < min(values[:5])


@pytest.mark.parametrize(("spec", "match"), [
    ({"_type": "loguniform", "_value": [1e-3, 1]}, "loguniform"),
    ({"_type": "normal", "_value": [0, 1]}, "normal"),
    ({"_type": "choice", "_value": ["a", "b"]}, "choices of numbers"),
    ({"_type": "choice", "_value": [{"_name": "a"}, {"_name": "b"}]}, "nested"),
])
def test_unsupported_types_are_refused_with_a_suggestion(spec: dict, match: str) -> None:
    with pytest.raises(SearchSpaceError, match=match) as error:
        MetisTuner().update_search_space({"p": spec})
    assert "'p'" in str(error.value) and "GP" in str(error.value)


def test_outlier_is_resampled_once() -> None:
    tuner = MetisTuner(optimize_mode="minimize", no_resampling=False, cold_start_num=3,
                       selection_num_starting_points=100, seed=1)
    tuner.update_search_space({"u": {"_type": "uniform", "_value": [0, 1]}})
    seen = []
    for pid in range(24):
        params = tuner.generate_parameters(pid)
        seen.append(params["u"])
        value = params["u"] ** 2 + (5.0 if pid == 4 else 0.0)  # one noisy trial
        tuner.receive_trial_result(pid, params, value)
    assert seen.count(seen[4]) == 2  # re-run once, never again
    assert len(set(seen)) == len(seen) - 1


def test_finite_space_exhausted_and_defaults() -> None:
    tuner = MetisTuner(cold_start_num=2, selection_num_starting_points=50, seed=2)
    tuner.update_search_space({"c": {"_type": "choice", "_value": [1, 2]}, "r": {"_type": "randint", "_value": [0, 2]}})
    seen = set()
    for pid in range(10):  # 4 configurations, then repeats (NNI's Metis never ends an experiment)
        params = tuner.generate_parameters(pid)
        seen.add((params["c"], params["r"]))
        tuner.receive_trial_result(pid, params, {"default": params["c"] + params["r"]})
    assert len(seen) == 4
    default = create_algorithm("tuner", "Metis", {})
    assert (default.no_resampling, default.no_candidates, default.selection_num_starting_points,
            default.cold_start_num, default.exploration_probability) == (True, False, 600, 10, 0.9)
    for args in ({"exploration_probability": 1.5}, {"selection_num_starting_points": 0}, {"optimize_mode": "x"}):
        with pytest.raises(ValueError):
            MetisTuner(**args)
    assert math.isfinite(tuner._loss(3))
