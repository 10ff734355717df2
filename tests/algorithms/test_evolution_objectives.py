"""Evolution under several objectives and constraints: NSGA-II style selection (constrained
domination, fronts, crowding) that approaches a known front, avoids infeasible regions, is
reproducible, and leaves NNI's single-objective behaviour as it was."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nni.algorithms.hpo.evolution_tuner import EvolutionTuner, constrained_order
from nni.algorithms.hpo.random_tuner import RandomTuner
from nni.objectives import Constraint, Objective, ObjectiveSpec, hypervolume
from nni.search_space.tuning import Observation, SearchSpaceTuner

TWO = ObjectiveSpec((Objective("f1", "minimize"), Objective("f2", "minimize")))
DIM = 6
BOX = {f"x{i}": {"_type": "uniform", "_value": [0, 1]} for i in range(DIM)}


def zdt1(params: dict[str, Any]) -> dict[str, float]:
    """ZDT1: the front is f2 = 1 - sqrt(f1), reached when every x1.. is 0."""
    x = np.array([params[f"x{i}"] for i in range(DIM)])
    g = 1 + 9 * float(np.mean(x[1:]))
    return {"f1": float(x[0]), "f2": g * (1 - math.sqrt(x[0] / g))}


def _run(tuner: SearchSpaceTuner, spec: ObjectiveSpec, space: dict[str, Any], budget: int,
         evaluate: Any = zdt1) -> list[tuple[dict[str, Any], dict[str, float]]]:
    tuner.set_objectives(spec)
    tuner.update_search_space(space)
    history = []
    for pid in range(budget):
        params = tuner.generate_parameters(pid)
        value = evaluate(params)
        tuner.receive_trial_result(pid, params, value)
        history.append((params, value))
    return history


def _hv(history: list[tuple[dict[str, Any], dict[str, float]]]) -> float:
    return hypervolume([(v["f1"], v["f2"]) for _, v in history], (1.1, 11.0))


def test_flags_say_several_objectives_and_constraints() -> None:
    assert EvolutionTuner.supports_objectives and EvolutionTuner.supports_constraints


def test_approaches_the_front_better_than_random() -> None:
    ours = sorted(_hv(_run(EvolutionTuner("minimize", 16, seed), TWO, BOX, 160)) for seed in range(5))
    random = sorted(_hv(_run(RandomTuner(seed=seed), TWO, BOX, 160)) for seed in range(5))
    assert ours[2] > random[2]
    assert ours[0] > random[2]  # even the worst seed of ours beats random's median


def test_constraints_steer_proposals_into_the_feasible_region() -> None:
    spec = ObjectiveSpec(TWO.objectives, (Constraint("x0", max=0.15),))

    def evaluate(params: dict[str, Any]) -> dict[str, float]:
        return {**zdt1(params), "x0": params["x0"]}

    def late_feasible(tuner: SearchSpaceTuner) -> float:
        history = _run(tuner, spec, BOX, 120, evaluate)
        return float(np.mean([params["x0"] <= 0.15 for params, _ in history[60:]]))

    ours = np.median([late_feasible(EvolutionTuner("minimize", 16, seed)) for seed in range(3)])
    random = np.median([late_feasible(RandomTuner(seed=seed)) for seed in range(3)])
    assert ours >= 0.6 > 0.3 > random


def test_feasible_first_then_fronts_then_violation() -> None:
    def obs(losses: tuple[float, float], violation: float = 0.0) -> Observation:
        return Observation({}, np.zeros(1), losses[0], losses=losses, violation=violation)

    population = [obs((0.0, 0.0), 2.0), obs((3.0, 3.0)), obs((1.0, 2.0)), obs((0.0, 0.0), 0.5),
                  obs((2.0, 1.0)), obs((1.5, 1.5))]
    order = constrained_order(population).tolist()
    assert set(order[:3]) == {2, 4, 5}  # the feasible front
    assert order[3:] == [1, 3, 0]  # the dominated feasible one, then infeasible by violation


def test_same_seed_same_proposals() -> None:
    spec = ObjectiveSpec(TWO.objectives, (Constraint("f1", max=0.5),))
    first = _run(EvolutionTuner("minimize", 8, seed=7), spec, BOX, 40)
    second = _run(EvolutionTuner("minimize", 8, seed=7), spec, BOX, 40)
    assert first == second
    third = _run(EvolutionTuner("minimize", 8, seed=8), spec, BOX, 40)
    assert first != third


def test_used_up_small_space_keeps_proposing() -> None:
    """NNI's rule holds under several objectives too: Evolution repeats instead of ending."""
    small = {"a": {"_type": "choice", "_value": [1, 2, 3]}}
    history = _run(EvolutionTuner("minimize", 2, seed=0), TWO, small, 9,
                   lambda p: {"f1": float(p["a"]), "f2": float(-p["a"])})
    assert sorted(params["a"] for params, _ in history[:3]) == [1, 2, 3]
    assert all(params["a"] in (1, 2, 3) for params, _ in history[3:])


def test_nested_and_mixed_spaces_under_two_objectives() -> None:
    space = {"lr": {"_type": "loguniform", "_value": [1e-4, 1e-1]}, "n": {"_type": "randint", "_value": [1, 9]},
             "model": {"_type": "choice", "_value": [
                 {"_name": "a", "w": {"_type": "uniform", "_value": [0, 1]}},
                 {"_name": "b", "k": {"_type": "choice", "_value": [1, 2, 3]}}]}}

    def evaluate(params: dict[str, Any]) -> dict[str, float]:
        inner = params["model"].get("w", 0.0) if params["model"]["_name"] == "a" else params["model"]["k"] / 3
        return {"f1": math.log10(params["lr"]) + inner, "f2": params["n"] - inner}

    history = _run(EvolutionTuner("minimize", 6, seed=1), TWO, space, 40, evaluate)
    for params, _ in history:
        assert 1e-4 <= params["lr"] <= 1e-1 and 1 <= params["n"] < 9
        assert set(params["model"]) == ({"_name", "w"} if params["model"]["_name"] == "a" else {"_name", "k"})


def test_replayed_results_rebuild_the_same_elite() -> None:
    live = EvolutionTuner("minimize", 8, seed=3)
    history = _run(live, TWO, BOX, 30)
    replayed = EvolutionTuner("minimize", 8, seed=99)
    replayed.set_objectives(TWO)
    replayed.update_search_space(BOX)
    replayed.import_data([{"parameter": params, "value": value} for params, value in history])
    replayed.generate_parameters(1000)
    live.generate_parameters(1000)
    assert [obs.params for obs in replayed._elite] == [obs.params for obs in live._elite]


def test_single_objective_is_nni_s_evolution() -> None:
    """A lone ``default`` objective keeps NNI's recent-population tournament (no elite kept)."""
    tuner = EvolutionTuner("minimize", 4, seed=0)
    tuner.set_objectives(ObjectiveSpec.single("minimize"))
    plain = EvolutionTuner("minimize", 4, seed=0)
    for t in (tuner, plain):
        t.update_search_space(BOX)
        for pid in range(20):
            params = t.generate_parameters(pid)
            t.receive_trial_result(pid, params, sum(params.values()))
    assert tuner.generate_parameters(99) == plain.generate_parameters(99)
    assert tuner._elite == []
