"""Evolution specifics: arguments, random first population, then local mutations of fit parents."""

from __future__ import annotations

import numpy as np
import pytest

from nni.algorithms.hpo.evolution_tuner import EvolutionTuner
from nni.search_space import parse_search_space


@pytest.mark.parametrize("size", [0, 1, 2.5, True])
def test_bad_population_size_is_refused(size: object) -> None:
    with pytest.raises(ValueError, match="population_size must be an integer >= 2"):
        EvolutionTuner(population_size=size)  # type: ignore[arg-type]


def test_defaults_are_nni_s() -> None:
    tuner = EvolutionTuner()
    assert tuner.optimize_mode.value == "maximize" and tuner.population_size == 32


def test_children_are_small_mutations_of_the_population() -> None:
    space = {f"x{i}": {"_type": "uniform", "_value": [0, 1]} for i in range(8)}
    space["c"] = {"_type": "choice", "_value": ["a", "b", "c"]}
    parsed = parse_search_space(space)
    tuner = EvolutionTuner("minimize", population_size=10, seed=0)
    tuner.update_search_space(space)
    population = []
    for pid in range(10):
        params = tuner.generate_parameters(pid)
        population.append(parsed.encode(params))
        tuner.receive_trial_result(pid, params, sum(params[f"x{i}"] for i in range(8)))
    changed = []
    for pid in range(10, 40):
        params = tuner.generate_parameters(pid)
        child = parsed.encode(params)
        changed.append(min(int(np.sum(~np.isclose(child, parent))) for parent in population))
        tuner.receive_trial_result(pid, params, sum(params[f"x{i}"] for i in range(8)))
        population.append(child)
    assert 1 <= np.median(changed) <= 3
