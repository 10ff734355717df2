"""BOHB: budgets, serial brackets, the density model, every type, errors."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from nni.algorithms.hpo.bohb_advisor import BOHB
from nni.algorithms.hpo.builtin import create_algorithm
from nni.errors import NoMoreTrialError


def _run(tuner: BOHB, trials: int, objective, concurrency: int = 3) -> list[tuple[str, dict]]:
    log, running, next_id = [], [], 0
    while len(log) < trials:
        for params in tuner.generate_multiple_parameters(list(range(next_id, next_id + concurrency - len(running)))):
            running.append((next_id, params))
            log.append((tuner.config_id(next_id), params))
            next_id += 1
        assert running
        parameter_id, params = running.pop(0)
        tuner.receive_trial_result(parameter_id, params, objective(params))
        tuner.trial_end(parameter_id, True)
    return log


def test_defaults_budgets_and_ids() -> None:
    tuner = create_algorithm("tuner", "BOHB", {"optimize_mode": "minimize"})
    assert (tuner.min_budget, tuner.max_budget, tuner.eta, tuner.top_n_percent, tuner.num_samples) == (1, 3, 3, 15, 64)
    assert tuner.random_fraction == pytest.approx(1 / 3) and tuner.min_bandwidth == 1e-3
    tuner.update_search_space({"x": {"_type": "uniform", "_value": [0, 1]}})
    log = _run(tuner, 5, lambda p: p["x"])
    # s_max = 1: bracket 1 runs 3 configs at budget 1 and the best at 3; bracket 0 runs 2 at 3
    assert [p["TRIAL_BUDGET"] for _, p in log[:6]] == [1, 1, 1, 3, 3, 3]
    assert [cid.split("_")[:2] for cid, _ in log[:6]] == [["1", "0"]] * 3 + [["1", "1"]] + [["0", "0"]] * 2
    assert log[3][1]["x"] == min(p["x"] for _, p in log[:3])


def test_one_bracket_at_a_time() -> None:
    tuner = BOHB(max_budget=9, seed=0)
    tuner.update_search_space({"x": {"_type": "uniform", "_value": [0, 1]}})
    assert len(tuner.generate_multiple_parameters(list(range(20)))) == 9  # bracket s=2 rung 0
    assert tuner.generate_multiple_parameters([20]) == []
    with pytest.raises(NoMoreTrialError):
        tuner.generate_parameters(21)


def test_model_concentrates_on_good_region() -> None:
    tuner = BOHB(optimize_mode="minimize", max_budget=9, min_points_in_model=3, random_fraction=0.0, seed=1)
    tuner.update_search_space({"x": {"_type": "uniform", "_value": [0, 1]},
                               "c": {"_type": "choice", "_value": ["a", "b", "c"]}})
    log = _run(tuner, 120, lambda p: (p["x"] - 0.8) ** 2 + (0 if p["c"] == "b" else 0.3))
    fresh = [p for cid, p in log[60:] if cid.split("_")[1] == "0"]  # newly sampled configs, model active
    assert np.mean([abs(p["x"] - 0.8) < 0.15 for p in fresh]) > 0.6
    assert Counter(p["c"] for p in fresh).most_common(1)[0][0] == "b"


@pytest.mark.parametrize("spec", [
    {"_type": "choice", "_value": [1, "two", 3.5]}, {"_type": "randint", "_value": [-3, 4]},
    {"_type": "uniform", "_value": [-1, 1]}, {"_type": "quniform", "_value": [0, 10, 2.5]},
    {"_type": "loguniform", "_value": [1e-3, 1]}, {"_type": "qloguniform", "_value": [1, 100, 5]},
    {"_type": "normal", "_value": [0, 1]}, {"_type": "qnormal", "_value": [0, 5, 1]},
    {"_type": "lognormal", "_value": [0, 1]}, {"_type": "qlognormal", "_value": [3, 0.5, 2]},
    {"_type": "choice", "_value": [{"_name": "a", "y": {"_type": "uniform", "_value": [0, 1]}},
                                   {"_name": "b", "z": {"_type": "randint", "_value": [0, 3]}}]},
])
def test_every_type_generates_valid_values(spec: dict) -> None:
    tuner = BOHB(max_budget=9, min_points_in_model=2, seed=2)
    tuner.update_search_space({"p": spec, "x": {"_type": "uniform", "_value": [0, 1]}})
    log = _run(tuner, 40, lambda p: p["x"])
    for _, params in log:
        assert tuner.space.contains({k: v for k, v in params.items() if k != "TRIAL_BUDGET"})


def test_finite_space_is_exhausted_without_duplicates() -> None:
    tuner = BOHB(max_budget=3, seed=3)
    tuner.update_search_space({"c": {"_type": "choice", "_value": ["a", "b", "c", "d"]}})
    seen, next_id = [], 0
    with pytest.raises(NoMoreTrialError):
        for _ in range(100):
            for params in tuner.generate_multiple_parameters([next_id]):
                seen.append((params["c"], params["TRIAL_BUDGET"]))
                tuner.receive_trial_result(next_id, params, 1.0)
                tuner.trial_end(next_id, True)
                next_id += 1
    assert len(seen) == len(set(seen))


def test_import_data_feeds_the_model_and_resume_replay() -> None:
    tuner = BOHB(optimize_mode="minimize", min_points_in_model=2, random_fraction=0.0, seed=4)
    tuner.import_data([{"parameter": {"x": x}, "value": (x - 0.2) ** 2} for x in np.linspace(0, 1, 21)])
    tuner.update_search_space({"x": {"_type": "uniform", "_value": [0, 1]}})
    assert tuner.model is not None and len(tuner.model.observations[3]) == 21  # no budget: max_budget
    tuner.receive_trial_result(1234, {"x": 0.5, "TRIAL_BUDGET": 1}, 0.09)  # replayed result, unknown id
    proposals = [p["x"] for p in tuner.generate_multiple_parameters([0, 1, 2])]
    assert np.mean([abs(x - 0.2) < 0.2 for x in proposals]) >= 2 / 3


@pytest.mark.parametrize("args", [{"min_budget": 0}, {"max_budget": 0.5}, {"eta": 1}, {"top_n_percent": 100},
                                  {"num_samples": 0}, {"random_fraction": 2}, {"bandwidth_factor": 0},
                                  {"min_points_in_model": 0}, {"optimize_mode": "lower"}])
def test_bad_arguments_are_refused(args: dict) -> None:
    with pytest.raises(ValueError):
        BOHB(**args)
