"""Behaviour shared by TPE, Random, Evolution, GridSearch and the hyperopt tuners: valid parameters
for every type over rounds with results fed back, nested choices, dedup, exhaustion, import_data,
replay after resume, seeds, metric formats and argument errors."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
from space_checks import ALL_TYPES, NESTED, check_config, check_exhausted, numeric_sum

from nni.algorithms.hpo.builtin import create_algorithm
from nni.algorithms.hpo.evolution_tuner import EvolutionTuner
from nni.algorithms.hpo.gridsearch_tuner import GridSearchTuner
from nni.algorithms.hpo.hyperopt_tuner import HyperoptTuner
from nni.algorithms.hpo.random_tuner import RandomTuner
from nni.algorithms.hpo.tpe_tuner import TpeTuner
from nni.errors import SearchSpaceError
from nni.search_space import config_key
from nni.tuner import Tuner

FACTORIES: dict[str, Callable[[int], Tuner]] = {
    "tpe": lambda seed: TpeTuner(seed=seed),
    "tpe_univariate": lambda seed: TpeTuner(seed=seed, tpe_args={"multivariate": False, "n_startup_jobs": 5}),
    "tpe_liar_none": lambda seed: TpeTuner(seed=seed, tpe_args={"constant_liar_type": None, "n_startup_jobs": 5}),
    "random": lambda seed: RandomTuner(seed=seed),
    "evolution": lambda seed: EvolutionTuner(optimize_mode="minimize", population_size=8, seed=seed),
    "gridsearch": lambda seed: GridSearchTuner(),
    "hyperopt_tpe": lambda seed: HyperoptTuner("tpe", seed=seed),
    "hyperopt_random": lambda seed: HyperoptTuner("random_search", seed=seed),
    "anneal": lambda seed: HyperoptTuner("anneal", seed=seed, parallel_optimize=True),
}
SEEDED = [name for name in FACTORIES if name != "gridsearch"]

FINITE = {"a": {"_type": "choice", "_value": ["x", "y", "z"]}, "b": {"_type": "randint", "_value": [0, 2]},
          "c": {"_type": "quniform", "_value": [0, 1, 0.5]}}  # 3 * 2 * 3 = 18 configurations


def _drive(tuner: Tuner, space: dict[str, Any], rounds: int, objective: Callable[[Any], float] = numeric_sum,
           batch: int = 3) -> list[Any]:
    """Ask ``batch`` configurations at a time (as the engine does with concurrency), then report."""
    tuner.update_search_space(space)
    configs: list[Any] = []
    next_id = 0
    while len(configs) < rounds:
        ids = list(range(next_id, next_id + batch))
        next_id += batch
        asked = tuner.generate_multiple_parameters(ids)
        assert asked, "the tuner returned nothing although the space is not exhausted"
        for pid, params in zip(ids, asked, strict=False):
            configs.append(params)
            tuner.receive_trial_result(pid, params, objective(params))
            tuner.trial_end(pid, True)
    return configs


@pytest.mark.parametrize("name", list(FACTORIES))
def test_every_type_over_rounds_is_valid(name: str) -> None:
    configs = _drive(FACTORIES[name](1), ALL_TYPES, 45)
    for params in configs:
        check_config(params, ALL_TYPES)
    assert len({config_key(c) for c in configs}) == len(configs)


@pytest.mark.parametrize("name", list(FACTORIES))
def test_nested_choice_is_well_formed_and_all_branches_come_up(name: str) -> None:
    configs = _drive(FACTORIES[name](2), NESTED, 45, objective=lambda p: -numeric_sum(p))
    branches = set()
    for params in configs:
        check_config(params, NESTED)
        model = params["model"]
        branches.add(model["_name"] if isinstance(model, dict) else model)
    assert branches == {"linear", "tree", "none"}


@pytest.mark.parametrize("name", list(FACTORIES))
def test_finite_space_is_exhausted_without_duplicates(name: str) -> None:
    tuner = FACTORIES[name](3)
    tuner.update_search_space(FINITE)
    seen = []
    for pid in range(18):
        params = tuner.generate_parameters(pid)
        check_config(params, FINITE)
        seen.append(config_key(params))
        if pid % 2:
            tuner.receive_trial_result(pid, params, float(pid))
    assert len(set(seen)) == 18
    check_exhausted(tuner, 99, seen)
    if getattr(tuner, "ends_when_exhausted", True):
        assert tuner.generate_multiple_parameters([100, 101]) == []


@pytest.mark.parametrize("name", list(FACTORIES))
def test_imported_configurations_are_not_proposed_again(name: str) -> None:
    tuner = FACTORIES[name](4)
    tuner.update_search_space(FINITE)
    grid = GridSearchTuner()
    grid.update_search_space(FINITE)
    everything = [grid.generate_parameters(i) for i in range(18)]
    tuner.import_data([{"parameter": p, "value": {"default": float(i), "other": 1}}
                       for i, p in enumerate(everything[:-1])])
    assert tuner.generate_parameters(0) == everything[-1]
    check_exhausted(tuner, 1, everything)


@pytest.mark.parametrize("name", list(FACTORIES))
def test_replayed_results_for_unknown_ids_rebuild_state(name: str) -> None:
    """After a resume the engine replays stored results with parameter ids this object never issued."""
    first = FACTORIES[name](5)
    configs = _drive(first, FINITE, 12)
    resumed = FACTORIES[name](5)
    resumed.update_search_space(FINITE)
    for pid, params in enumerate(configs):
        resumed.receive_trial_result(1000 + pid, params, numeric_sum(params))
    fresh = [resumed.generate_parameters(2000 + i) for i in range(6)]
    assert {config_key(c) for c in fresh}.isdisjoint(config_key(c) for c in configs)
    check_exhausted(resumed, 3000, configs + fresh)


@pytest.mark.parametrize("name", SEEDED)
def test_seed_reproduces_and_differs(name: str) -> None:
    a = _drive(FACTORIES[name](7), ALL_TYPES, 30)
    b = _drive(FACTORIES[name](7), ALL_TYPES, 30)
    c = _drive(FACTORIES[name](8), ALL_TYPES, 30)
    assert [config_key(x) for x in a] == [config_key(x) for x in b]
    assert [config_key(x) for x in a] != [config_key(x) for x in c]


@pytest.mark.parametrize("name", list(FACTORIES))
def test_parallel_asks_are_distinct(name: str) -> None:
    tuner = FACTORIES[name](9)
    _drive(tuner, {"x": {"_type": "uniform", "_value": [0, 1]}, "k": {"_type": "randint", "_value": [0, 4]}}, 30)
    batch = tuner.generate_multiple_parameters(list(range(500, 510)))
    assert len(batch) == 10 and len({config_key(p) for p in batch}) == 10


@pytest.mark.parametrize("name", list(FACTORIES))
def test_bad_results_are_ignored_not_fatal(name: str) -> None:
    tuner = FACTORIES[name](10)
    tuner.update_search_space(FINITE)
    for pid, value in enumerate([math.nan, math.inf, "oops", {"default": None}, {"loss": 1.0}]):
        params = tuner.generate_parameters(pid)
        tuner.receive_trial_result(pid, params, value)
    tuner.import_data([{"parameter": {"a": "w", "b": 0, "c": 0.0}, "value": 1.0}, {"value": 2.0}, "junk"])
    check_config(tuner.generate_parameters(99), FINITE)


@pytest.mark.parametrize("name", list(FACTORIES))
def test_asking_before_a_search_space_is_a_clear_error(name: str) -> None:
    with pytest.raises(RuntimeError, match="update_search_space"):
        FACTORIES[name](0).generate_parameters(0)


@pytest.mark.parametrize("name", list(FACTORIES))
def test_malformed_space_is_refused_with_key_path(name: str) -> None:
    with pytest.raises(SearchSpaceError, match=r"model\[0\]\.alpha"):
        FACTORIES[name](0).update_search_space({"model": {"_type": "choice", "_value": [
            {"_name": "a", "alpha": {"_type": "loguniform", "_value": [0, 1]}}]}})


@pytest.mark.parametrize("name", list(FACTORIES))
def test_search_space_update_keeps_fitting_history(name: str) -> None:
    tuner = FACTORIES[name](11)
    configs = _drive(tuner, FINITE, 9)
    bigger = {**FINITE, "a": {"_type": "choice", "_value": ["x", "y", "z", "w"]}}
    tuner.update_search_space(bigger)
    fresh = [tuner.generate_parameters(100 + i) for i in range(24 - 9)]
    for params in fresh:
        check_config(params, bigger)
    assert {config_key(c) for c in fresh}.isdisjoint(config_key(c) for c in configs)
    check_exhausted(tuner, 999, configs + fresh)


@pytest.mark.parametrize(("builtin", "args", "cls"), [
    ("TPE", {"optimize_mode": "maximize", "seed": 1, "tpe_args": {"constant_liar_type": "mean", "gamma": 0.5}},
     TpeTuner),
    ("Random", {"seed": 3}, RandomTuner),
    ("Anneal", {"optimize_mode": "maximize"}, HyperoptTuner),
    ("Evolution", {"optimize_mode": "maximize", "population_size": 10}, EvolutionTuner),
    ("GridSearch", {}, GridSearchTuner),
])
def test_builtin_names_build_these_classes(builtin: str, args: dict[str, Any], cls: type) -> None:
    tuner = create_algorithm("tuner", name=builtin, class_args=args)
    assert isinstance(tuner, cls)
    tuner.update_search_space(ALL_TYPES)
    check_config(tuner.generate_parameters(0), ALL_TYPES)


@pytest.mark.parametrize("name", ["tpe", "evolution", "hyperopt_tpe", "anneal"])
def test_model_based_tuners_improve_on_random(name: str) -> None:
    """Maximising a smooth function: the best found beats random search's on the same budget."""
    space = {"x": {"_type": "uniform", "_value": [-5, 5]}, "y": {"_type": "uniform", "_value": [-5, 5]}}

    def score(p: dict[str, Any]) -> float:
        return -((p["x"] - 1.5) ** 2 + (p["y"] + 2) ** 2)

    def best(tuner: Tuner) -> float:
        tuner.update_search_space(space)
        values = []
        for pid in range(80):
            params = tuner.generate_parameters(pid)
            values.append(score(params))
            tuner.receive_trial_result(pid, params, {"default": values[-1]})
        return max(values)

    maximize = {"tpe": lambda s: TpeTuner("maximize", seed=s), "evolution": lambda s: EvolutionTuner("maximize", 16, s),
                "hyperopt_tpe": lambda s: HyperoptTuner("tpe", "maximize", seed=s),
                "anneal": lambda s: HyperoptTuner("anneal", "maximize", seed=s)}[name]
    ours = sorted(best(maximize(s)) for s in range(5))
    random = sorted(best(RandomTuner(seed=s)) for s in range(5))
    assert ours[2] > random[2]
