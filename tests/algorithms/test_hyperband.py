"""Hyperband: budgets, bracket progression, waiting rungs, id mapping, exhaustion."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from nni.algorithms.hpo.builtin import create_algorithm
from nni.algorithms.hpo.hyperband_advisor import Hyperband
from nni.errors import NoMoreTrialError, SearchSpaceError

SPACE = {
    "x": {"_type": "uniform", "_value": [0, 1]},
    "n": {"_type": "randint", "_value": [1, 5]},
    "lr": {"_type": "loguniform", "_value": [1e-4, 1e-1]},
    "opt": {"_type": "choice", "_value": ["sgd", "adam"]},
}


def _run(tuner: Hyperband, trials: int, concurrency: int = 4) -> list[tuple[str, dict]]:
    """Drive the tuner like the engine: ask for free slots, finish the oldest trial, repeat."""
    log, running, next_id = [], [], 0
    while len(log) < trials:
        ids = list(range(next_id, next_id + concurrency - len(running)))
        for params in tuner.generate_multiple_parameters(ids):
            running.append((next_id, params))
            log.append((tuner.config_id(next_id), params))
            next_id += 1
        assert running, "the tuner must hand out something when nothing is running"
        parameter_id, params = running.pop(0)
        tuner.receive_trial_result(parameter_id, params, {"default": params["x"] + 1.0 / params["TRIAL_BUDGET"]})
        tuner.trial_end(parameter_id, True)
    return log


def test_budgets_and_brackets_of_one_round() -> None:
    tuner = Hyperband(optimize_mode="minimize", R=60, eta=3, exec_mode="serial", seed=1)
    tuner.update_search_space(SPACE)
    log = _run(tuner, 69)
    # s=3: 27@2 9@6 3@20 1@60; s=2: 12@6 4@20 1@60; s=1: 6@20 2@60; s=0: 4@60
    assert Counter(p["TRIAL_BUDGET"] for _, p in log) == {2: 27, 6: 21, 20: 13, 60: 8}
    assert [cid for cid, _ in log[:2]] == ["0-3_0_0", "0-3_0_1"]
    brackets = [cid.split("_")[0] for cid, _ in log]
    assert brackets == sorted(brackets, key=lambda b: -int(b.split("-")[1]))  # serial: s=3, then 2, 1, 0
    for _, params in log:
        assert 0 <= params["x"] <= 1 and params["n"] in range(1, 5) and 1e-4 <= params["lr"] <= 1e-1
        assert params["opt"] in ("sgd", "adam")


def test_promotion_keeps_the_best_configurations() -> None:
    tuner = Hyperband(optimize_mode="minimize", R=9, eta=3, exec_mode="serial", seed=2)
    tuner.update_search_space(SPACE)
    log = _run(tuner, 13, concurrency=9)
    first, second = log[:9], log[9:12]
    best_x = sorted(p["x"] for _, p in first)[:3]
    assert sorted(p["x"] for _, p in second) == best_x
    assert all(p["TRIAL_BUDGET"] == 3 for _, p in second)
    # the serial number survives promotion: "0-2_1_<serial of the rung-0 config>"
    serials = {cid.rsplit("_", 1)[1] for cid, p in first if p["x"] in best_x}
    assert {cid.rsplit("_", 1)[1] for cid, _ in second} == serials
    assert log[12][1]["TRIAL_BUDGET"] == 9 and log[12][1]["x"] == best_x[0]


def test_waiting_rung_returns_fewer_then_resumes() -> None:
    tuner = Hyperband(R=3, eta=3, exec_mode="serial", seed=3)  # s_max = 1: 3@1 then 1@3
    tuner.update_search_space(SPACE)
    first = tuner.generate_multiple_parameters([0, 1, 2, 3, 4])
    assert len(first) == 3
    assert tuner.generate_multiple_parameters([5]) == []  # rung 0 still running: none right now
    for pid, params in enumerate(first):
        tuner.receive_trial_result(pid, params, params["x"])
        tuner.trial_end(pid, True)
    promoted = tuner.generate_multiple_parameters([6, 7])
    assert len(promoted) == 1 and promoted[0]["TRIAL_BUDGET"] == 3
    assert promoted[0]["x"] == max(p["x"] for p in first)  # maximize by default
    with pytest.raises(NoMoreTrialError):
        tuner.generate_parameters(8)  # single ask while waiting


def test_parallelism_opens_next_bracket_while_waiting() -> None:
    tuner = Hyperband(R=3, eta=3, exec_mode="parallelism", seed=4)
    tuner.update_search_space(SPACE)
    got = tuner.generate_multiple_parameters(list(range(6)))
    assert len(got) == 6
    assert [tuner.config_id(i).split("_")[0] for i in range(6)] == ["0-1"] * 3 + ["0-0"] * 2 + ["1-1"]


def test_failed_trials_rank_last_and_finite_space_ends() -> None:
    tuner = Hyperband(R=3, eta=3, exec_mode="serial", seed=5)
    tuner.update_search_space({"c": {"_type": "choice", "_value": [1, 2]}})
    asked, next_id = 0, 0
    with pytest.raises(NoMoreTrialError):
        for _ in range(50):
            got = tuner.generate_multiple_parameters([next_id, next_id + 1, next_id + 2])
            for params in got:
                if params["c"] == 2:
                    tuner.trial_end(next_id, False)  # failed: no result
                else:
                    tuner.receive_trial_result(next_id, params, 0.5)
                    tuner.trial_end(next_id, True)
                asked += 1
                next_id += 1
    # s=1: both configs at budget 1, the one that succeeded promoted to 3; s=0: only the other one
    # is new at budget 3; the next round finds nothing new at either budget
    assert asked == 4


def test_dict_metrics_nan_and_unknown_ids() -> None:
    tuner = Hyperband(R=3, eta=3, exec_mode="serial", seed=6)
    tuner.update_search_space(SPACE)
    got = tuner.generate_multiple_parameters([0, 1, 2])
    tuner.receive_trial_result(0, got[0], {"default": math.nan})
    tuner.receive_trial_result(1, got[1], {"default": 0.9, "loss": 3})
    tuner.receive_trial_result(2, got[2], 0.1)
    for pid in range(3):
        tuner.trial_end(pid, True)
    tuner.receive_trial_result(99, {**got[0], "TRIAL_BUDGET": 1}, 0.5)  # replayed/unknown: no error
    tuner.trial_end(99, True)
    assert tuner.generate_multiple_parameters([3])[0]["x"] == got[1]["x"]
    tuner.import_data([{"parameter": {**got[2], "TRIAL_BUDGET": 1}, "value": 0.3}, {"bad": 1}])


def test_arguments_and_errors() -> None:
    tuner = create_algorithm("tuner", "Hyperband", {})
    assert (tuner.R, tuner.eta, tuner.optimize_mode, tuner.exec_mode) == (60, 3, "maximize", "parallelism")
    for args in ({"R": 0}, {"eta": 1}, {"exec_mode": "fast"}, {"optimize_mode": "best"}):
        with pytest.raises(ValueError):
            Hyperband(**args)
    with pytest.raises(RuntimeError, match="update_search_space"):
        Hyperband().generate_multiple_parameters([0])
    with pytest.raises(SearchSpaceError, match="x"):
        Hyperband().update_search_space({"x": {"_type": "uniform", "_value": [1, 0]}})


@pytest.mark.parametrize("spec", [
    {"_type": "quniform", "_value": [0, 10, 2]}, {"_type": "qloguniform", "_value": [1, 100, 5]},
    {"_type": "normal", "_value": [0, 1]}, {"_type": "qnormal", "_value": [0, 5, 1]},
    {"_type": "lognormal", "_value": [0, 1]}, {"_type": "qlognormal", "_value": [3, 0.5, 2]},
    {"_type": "choice", "_value": [{"_name": "a", "y": {"_type": "uniform", "_value": [0, 1]}}, {"_name": "b"}]},
])
def test_every_type_generates_valid_values(spec: dict) -> None:
    tuner = Hyperband(R=9, eta=3, seed=7)
    tuner.update_search_space({"p": spec})
    space = tuner.space
    log = _run_generic(tuner, 20)
    for params in log:
        assert space.contains({"p": params["p"]})


def _run_generic(tuner: Hyperband, trials: int) -> list[dict]:
    out, running, next_id = [], [], 0
    while len(out) < trials:
        try:
            got = tuner.generate_multiple_parameters(list(range(next_id, next_id + 3 - len(running))))
        except NoMoreTrialError:
            assert tuner.space.is_finite
            break
        for params in got:
            running.append((next_id, params))
            out.append(params)
            next_id += 1
        parameter_id, params = running.pop(0)
        tuner.receive_trial_result(parameter_id, params, float(next_id % 7))
        tuner.trial_end(parameter_id, True)
    return out


HB_TRIAL = """
import nni
p = nni.get_next_parameter()
nni.report_final_result(p["x"] * p["TRIAL_BUDGET"])
"""


@pytest.mark.slow
@pytest.mark.parametrize(("name", "args"), [
    ("Hyperband", {"R": 3, "eta": 3, "exec_mode": "serial", "optimize_mode": "minimize"}),
    ("BOHB", {"min_budget": 1, "max_budget": 3, "eta": 3, "optimize_mode": "minimize"}),
])
def test_advisor_runs_a_real_experiment_with_budgets(make_experiment, free_port, name: str, args: dict) -> None:
    experiment = make_experiment(HB_TRIAL, {"x": {"_type": "uniform", "_value": [0, 1]}}, tuner=name,
                                 trial_concurrency=3, max_trial_number=6)
    experiment.config.tuner.class_args = args
    assert experiment.run(free_port) is True
    jobs = sorted(experiment.list_trial_jobs(), key=lambda j: j.sequenceId)
    assert all(job.status == "SUCCEEDED" for job in jobs)
    params = [job.hyperParameters[0].parameters for job in jobs]
    # bracket s=1: three configurations at budget 1, the best of them again at 3; then s=0 at 3
    assert [p["TRIAL_BUDGET"] for p in params] == [1, 1, 1, 3, 3, 3]
    assert params[3]["x"] == min(p["x"] for p in params[:3])
