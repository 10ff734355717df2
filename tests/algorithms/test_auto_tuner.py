"""The Auto tuner: its choice of GP or TPE per space, budget, history and concurrency, every switch
logged with the reason, both inner tuners fed every result, repeatable seeds, exhaustion of finite
spaces, and the default tuner of a config that names none (end to end, real trials)."""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import pytest

from nni.algorithms.hpo.auto_tuner import GP_HISTORY_LIMIT, AutoTuner
from nni.algorithms.hpo.builtin import create_algorithm
from nni.algorithms.hpo.gp_tuner import GPTuner
from nni.errors import ConfigError, NoMoreTrialError
from nni.experiment import Experiment, ExperimentConfig
from nni.experiment.launcher import _make_algorithm
from nni.objectives import Objective, ObjectiveSpec
from nni.search_space.tuning import BuiltinTuner
from nni.tools.nnictl.main import main

CONTINUOUS = {"x": {"_type": "uniform", "_value": [-5, 5]}, "y": {"_type": "loguniform", "_value": [1e-4, 1]},
              "n": {"_type": "randint", "_value": [1, 64]}}
NESTED = {"model": {"_type": "choice", "_value": [
    {"_name": "svm", "c": {"_type": "loguniform", "_value": [1e-3, 1e3]}},
    {"_name": "tree", "depth": {"_type": "randint", "_value": [1, 10]}}]},
    "lr": {"_type": "uniform", "_value": [0, 1]}}
CATEGORICAL = {name: {"_type": "choice", "_value": ["a", "b", "c"]} for name in ("p", "q", "r")} | \
    {"x": {"_type": "uniform", "_value": [0, 1]}}
AUTO_LOG = "nni.algorithms.hpo.auto_tuner"


def _auto(space: dict[str, Any], **args: Any) -> AutoTuner:
    tuner = AutoTuner("minimize", seed=args.pop("seed", 1), **args)
    tuner.update_search_space(space)
    return tuner


def _loss(params: dict[str, Any]) -> float:
    return float(sum(v * v for v in params.values() if isinstance(v, (int, float))))


def _records(space: dict[str, Any], count: int, seed: int = 0) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    tuner = AutoTuner(seed=seed)
    tuner.update_search_space(space)
    return [{"parameter": (p := tuner.space.sample(rng)), "value": _loss(p)} for _ in range(count)]  # type: ignore[union-attr]


def _ask_and_tell(tuner: BuiltinTuner, first_id: int, count: int) -> list[dict[str, Any]]:
    asked = []
    for parameter_id in range(first_id, first_id + count):
        params = tuner.generate_parameters(parameter_id)
        tuner.receive_trial_result(parameter_id, params, _loss(params))
        asked.append(params)
    return asked


# -- the choice ------------------------------------------------------------------------------------

def test_a_small_continuous_space_starts_with_gp(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger=AUTO_LOG):
        tuner = _auto(CONTINUOUS)
        _ask_and_tell(tuner, 0, 3)
    assert tuner.method == "GP" and tuner.switches == [(0, "GP", "a small continuous/integer space and a short history")]
    assert "Auto: starting with GP: a small continuous/integer space" in caplog.text


def test_a_nested_space_of_few_choices_takes_gp() -> None:
    tuner = _auto(NESTED)
    asked = _ask_and_tell(tuner, 0, 3)
    assert tuner.method == "GP" and tuner.switches == [(0, "GP", "a small continuous/integer space and a short history")]
    assert all(tuner.space.contains(params) for params in asked)  # type: ignore[union-attr]


@pytest.mark.parametrize(("space", "why"), [
    (CATEGORICAL, "3 of the 4 parameters are categorical"),
    ({f"x{i}": {"_type": "uniform", "_value": [0, 1]} for i in range(40)}, "40 parameters (GP above 32)"),
])
def test_categorical_or_wide_spaces_take_tpe(space: dict[str, Any], why: str) -> None:
    tuner = _auto(space)
    asked = _ask_and_tell(tuner, 0, 3)
    assert tuner.method == "TPE" and tuner.switches == [(0, "TPE", why)]
    assert all(tuner.space.contains(params) for params in asked)  # type: ignore[union-attr]


def test_the_switch_to_tpe_once_the_history_is_long_is_logged_with_the_reason(caplog: pytest.LogCaptureFixture) -> None:
    tuner = _auto(CONTINUOUS)
    _ask_and_tell(tuner, 0, 2)
    tuner.import_data(_records(CONTINUOUS, GP_HISTORY_LIMIT - 3))
    assert tuner.choose(1)[0] == "GP" and len(tuner.results) == GP_HISTORY_LIMIT - 1
    with caplog.at_level(logging.INFO, logger=AUTO_LOG):
        _ask_and_tell(tuner, 10, 2)  # the first still GP's (limit - 1 results), the second TPE's
    assert tuner.method == "TPE"
    assert f"switching from GP to TPE after {GP_HISTORY_LIMIT} results: {GP_HISTORY_LIMIT} results in the history " \
           f"(GP's ask gets slow beyond {GP_HISTORY_LIMIT})" in caplog.text
    # the new method learnt from the whole history, live results and imported ones alike
    inner = tuner.tuners
    assert len(inner["TPE"].results) == len(inner["GP"].results) == len(tuner.results) == GP_HISTORY_LIMIT + 1


def test_a_budget_gp_can_cover_keeps_gp_and_objectives_are_forwarded() -> None:
    assert AutoTuner(max_trial_number=GP_HISTORY_LIMIT + 40).gp_history_limit == GP_HISTORY_LIMIT + 40
    assert AutoTuner(max_trial_number=10 * GP_HISTORY_LIMIT).gp_history_limit == GP_HISTORY_LIMIT
    tuner = AutoTuner()
    spec = ObjectiveSpec((Objective("a", "maximize"), Objective("b", "minimize")))
    tuner.set_objectives(spec)
    assert tuner.gp_history_limit == GP_HISTORY_LIMIT
    assert all(inner.objectives is spec for inner in tuner.tuners.values())


def test_high_concurrency_takes_tpe_and_a_low_one_brings_gp_back(caplog: pytest.LogCaptureFixture) -> None:
    tuner = _auto(CONTINUOUS)
    with caplog.at_level(logging.INFO, logger=AUTO_LOG):
        batch = tuner.generate_multiple_parameters(list(range(16)))
    assert len(batch) == 16 and tuner.method == "TPE"
    assert "starting with TPE: 16 configurations at once (GP above 8)" in caplog.text
    for parameter_id in range(12):  # 4 left running: narrow enough for GP again
        tuner.receive_trial_result(parameter_id, batch[parameter_id], _loss(batch[parameter_id]))
    tuner.generate_multiple_parameters([100])
    assert tuner.method == "TPE"  # 5 at once: within the gap, no flip
    tuner.trial_end(13, False)
    tuner.trial_end(100, True)
    tuner.generate_multiple_parameters([101])
    assert tuner.method == "GP" and [why for _, _, why in tuner.switches][-1].startswith("a small continuous")


def test_a_concurrency_hint_plans_tpe_from_the_start() -> None:
    tuner = _auto(CONTINUOUS, trial_concurrency=32)
    tuner.generate_parameters(0)
    assert tuner.method == "TPE"


def test_gp_asks_over_a_tenth_of_the_time_budget_hand_over_to_tpe() -> None:
    tuner = _auto(CONTINUOUS, max_experiment_duration=1e-9)
    _ask_and_tell(tuner, 0, 2)
    assert [method for _, method, _ in tuner.switches] == ["GP", "TPE"]
    assert "over 10% of maxExperimentDuration" in tuner.switches[-1][2]


PLANE = {"x": {"_type": "uniform", "_value": [-5, 5]}, "y": {"_type": "uniform", "_value": [-5, 5]}}


def _rugged(params: dict[str, Any]) -> float:
    """Values with no structure a model could learn at the resolution of 30 samples."""
    return math.sin(1e4 * params["x"]) + math.cos(1e4 * params["y"])


def _methods(tuner: AutoTuner, loss: Any, count: int) -> list[str | None]:
    methods = []
    for parameter_id in range(count):
        params = tuner.generate_parameters(parameter_id)
        methods.append(tuner.method)
        tuner.receive_trial_result(parameter_id, params, loss(params))
    return methods


def test_a_gp_model_that_ranks_its_results_poorly_takes_turns_with_tpe(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger=AUTO_LOG):
        tuner = _auto(PLANE, seed=3)
        methods = _methods(tuner, _rugged, 30)
    assert [plan for _, plan, _ in tuner.switches][:2] == ["GP", "GP+TPE"]
    first = methods.index("TPE")
    assert first >= 10 and methods[first - 1] == "GP"  # after GP's start-up design and a poor model
    assert methods[first:first + 4] == ["TPE", "GP", "TPE", "GP"]
    assert methods.count("TPE") >= 5
    assert "leave-one-out rank correlation" in caplog.text and "GP and TPE take turns" in caplog.text
    assert len(tuner.tuners["TPE"].results) == len(tuner.tuners["GP"].results) == 30


def test_a_gp_model_that_fits_keeps_every_ask() -> None:
    tuner = _auto(PLANE, seed=3)
    assert set(_methods(tuner, lambda p: (p["x"] - 1) ** 2 + (p["y"] + 2) ** 2, 30)) == {"GP"}
    assert [plan for _, plan, _ in tuner.switches] == ["GP"]


def test_while_gp_and_tpe_take_turns_each_sees_every_pending_configuration_of_a_batch() -> None:
    tuner = _auto(PLANE, seed=3)
    _methods(tuner, _rugged, 30)
    assert tuner.plan == "GP+TPE"
    batch = tuner.generate_multiple_parameters(list(range(100, 108)))
    assert len(batch) == 8
    gp, tpe = tuner.tuners["GP"], tuner.tuners["TPE"]
    assert set(gp._pending) == set(tpe._pending) == set(tuner.pending) == set(range(100, 108))  # type: ignore[attr-defined]
    for parameter_id, params in zip(range(100, 104), batch[:4], strict=True):
        tuner.receive_trial_result(parameter_id, params, _rugged(params))
    for parameter_id in range(104, 108):
        tuner.trial_end(parameter_id, False)
    assert not gp._pending and not tpe._pending and not tuner.pending  # type: ignore[attr-defined]
    assert len(gp.results) == len(tpe.results) == 34


def test_a_resumed_auto_counts_what_it_had_handed_out_in_both_inner_tuners() -> None:
    first = _auto(CONTINUOUS, seed=2)
    asked = _ask_and_tell(first, 0, 3)
    running = first.generate_parameters(3)
    lost = first.generate_parameters(4)
    resumed = _auto(CONTINUOUS, seed=2)
    resumed.import_data([{"parameter": params, "value": _loss(params)} for params in asked])
    resumed.restore_proposals([{"parameter_id": 3, "parameter": running, "running": True},
                               {"parameter_id": 4, "parameter": lost, "running": False},
                               {"parameter_id": 5, "parameter": {"x": 99.0}, "running": True}])
    assert resumed.pending == {3: running}
    for inner in resumed.tuners.values():
        assert running in inner.history and lost in inner.history  # type: ignore[attr-defined]
        assert set(inner._pending) == {3}  # type: ignore[attr-defined]
    proposals = [resumed.generate_parameters(parameter_id) for parameter_id in range(6, 16)]
    assert running not in proposals and lost not in proposals


def test_the_same_seed_gives_the_same_proposals_while_gp_and_tpe_take_turns() -> None:
    runs = []
    for _ in range(2):
        tuner = _auto(PLANE, seed=4)
        _methods(tuner, _rugged, 24)
        runs.append([result.params for result in tuner.results])
    assert runs[0] == runs[1]


# -- learning, seeds, spaces -------------------------------------------------------------------------

def test_live_results_reach_both_inner_tuners_with_their_parameters() -> None:
    tuner = _auto(CONTINUOUS)
    asked = _ask_and_tell(tuner, 0, 4)
    for inner in tuner.tuners.values():
        assert [result.params for result in inner.results] == asked
        assert [result.loss for result in inner.results] == [_loss(p) for p in asked]
    assert not tuner.pending


def test_the_same_seed_gives_the_same_proposals_through_the_gp_model_and_after_the_switch() -> None:
    runs = []
    for _ in range(2):
        tuner = _auto(CONTINUOUS, seed=7)
        asked = _ask_and_tell(tuner, 0, 13)  # GP's design, then its model
        tuner.import_data(_records(CONTINUOUS, GP_HISTORY_LIMIT))
        asked += _ask_and_tell(tuner, 20, 3)  # TPE's model
        runs.append(asked)
    assert runs[0] == runs[1]
    assert _ask_and_tell(_auto(CONTINUOUS, seed=8), 0, 3) != runs[0][:3]


def test_while_gp_runs_auto_proposes_exactly_what_gp_would() -> None:
    auto = _auto(CONTINUOUS, seed=5)
    gp = GPTuner("minimize", seed=6)
    gp.update_search_space(CONTINUOUS)
    assert _ask_and_tell(auto, 0, 12) == _ask_and_tell(gp, 0, 12)


def test_a_finite_space_is_walked_without_repeats_then_ends() -> None:
    space = {"a": {"_type": "choice", "_value": [1, 2, 3]}, "b": {"_type": "randint", "_value": [0, 4]}}
    tuner = _auto(space)
    asked = _ask_and_tell(tuner, 0, 12)
    assert len({(p["a"], p["b"]) for p in asked}) == 12
    with pytest.raises(NoMoreTrialError, match="all 12 configurations of the search space have been tried"):
        tuner.generate_parameters(12)


def test_a_live_search_space_update_is_taken_by_both_inner_tuners() -> None:
    tuner = _auto(CONTINUOUS)
    _ask_and_tell(tuner, 0, 3)
    tuner.update_search_space(NESTED | {k: CATEGORICAL[k] for k in "pqr"})  # nested, 4 of 7 categorical
    asked = _ask_and_tell(tuner, 3, 3)
    assert tuner.method == "TPE" and all(tuner.space.contains(p) for p in asked)  # type: ignore[union-attr]
    assert all(inner.space is not None and inner.space.has_nested for inner in tuner.tuners.values())  # type: ignore[attr-defined]


@pytest.mark.parametrize(("args", "words"), [
    ({"max_trial_number": 0}, "max_trial_number must be a positive integer or None, got 0"),
    ({"trial_concurrency": 2.5}, "trial_concurrency must be a positive integer or None, got 2.5"),
    ({"max_experiment_duration": "1h"}, "max_experiment_duration must be a positive number or None, got '1h'"),
    ({"optimize_mode": "best"}, "Auto: optimize_mode must be 'minimize' or 'maximize'"),
    ({"seed": "x"}, "seed must be an integer or None"),
])
def test_bad_class_args_are_refused(args: dict[str, Any], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        create_algorithm("tuner", name="Auto", class_args=args)


# -- the default tuner -----------------------------------------------------------------------------

def test_a_config_without_a_tuner_validates_and_gets_auto_with_the_experiment_as_hints() -> None:
    config = ExperimentConfig("local")
    config.trial_command, config.trial_concurrency, config.search_space = "true", 3, CONTINUOUS
    config.max_trial_number, config.max_experiment_duration = 50, "1h"
    config.validate()
    assert "tuner" not in config.json()  # NNI's canonical form of an unset tuner
    config.fill_default_tuner()
    assert config.json()["tuner"] == {"name": "Auto"}
    tuner = _make_algorithm("tuner", config.tuner, config)
    assert (tuner.max_trial_number, tuner.trial_concurrency, tuner.max_experiment_duration) == (50, 3, 3600.0)
    config.tuner = create_config_tuner({"max_trial_number": 7, "optimize_mode": "minimize"})
    tuner = _make_algorithm("tuner", config.tuner, config)
    assert tuner.max_trial_number == 7 and tuner.optimize_mode == "minimize"  # the user's classArgs win


def create_config_tuner(args: dict[str, Any]) -> Any:
    config = ExperimentConfig("local")
    config.tuner.class_args = args
    config.fill_default_tuner()  # an unnamed placeholder keeps its classArgs
    assert config.tuner.name == "Auto"
    return config.tuner


def test_an_advisor_or_a_named_tuner_is_left_alone() -> None:
    config = ExperimentConfig(advisor={"name": "Hyperband"})
    config.fill_default_tuner()
    assert config.json()["tuner"]["name"] == "Hyperband"
    config = ExperimentConfig(tuner={"name": "Random"})
    config.fill_default_tuner()
    assert config.tuner.name == "Random"
    with pytest.raises(ConfigError, match="advisor: cannot be used together with tuner"):
        ExperimentConfig(tuner={"name": "TPE"}, advisor={"name": "BOHB"}, trial_command="true", trial_concurrency=1,
                         search_space={}, training_service="local").validate()


def test_nnictl_algo_list_shows_auto(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["algo", "list"]) == 0
    assert "Auto" in capsys.readouterr().out


def test_an_experiment_without_a_tuner_runs_with_auto_end_to_end(make_experiment, free_port) -> None:
    body = "import nni\np = nni.get_next_parameter()\nnni.report_final_result(-(p['x'] - 1) ** 2 - p['n'])\n"
    experiment = make_experiment(body, search_space={"x": CONTINUOUS["x"], "n": CONTINUOUS["n"]},
                                 tuner=Experiment("local"), max_trial_number=5)
    assert experiment.run(free_port) is True
    trials = experiment.export_data()
    assert len(trials) == 5 and all(isinstance(t.value, float) for t in trials)
    assert experiment.get_experiment_profile()["params"]["tuner"] == {"name": "Auto"}
    assert "tuner" not in experiment.config.json()  # the user's config is left as written
    log = (experiment.experiment_dir / "log" / "dispatcher.log").read_text()
    assert "Auto: starting with GP: a small continuous/integer space" in log
