"""Naive evolution (NNI's ``Evolution``): tournament selection and mutation over a population.

The first ``population_size`` configurations are random. After that each proposal picks two
members of the population (the ``population_size`` most recent results) at random, keeps the
fitter one and mutates it: every parameter is changed with probability 1/d (at least one is),
numeric ones by a Gaussian step in the unit encoding, choices to another option; parameters that
a changed choice activates are drawn fresh. Until some result is in, proposals stay random, so
parallel asks never stall. State is the result list, so replay after a resume restores it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...search_space.tuning import SearchSpaceTuner

__all__ = ["EvolutionTuner"]

_STEP = 0.15
"""Mutation step (standard deviation in the unit encoding) for numeric parameters."""


class EvolutionTuner(SearchSpaceTuner):
    """``EvolutionTuner(optimize_mode='maximize', population_size=32)``; every type, nested choice."""

    algorithm_name = "Evolution"
    ends_when_exhausted = False

    def __init__(self, optimize_mode: str = "maximize", population_size: int = 32, seed: int | None = None) -> None:
        super().__init__(optimize_mode, seed)
        if isinstance(population_size, bool) or not isinstance(population_size, int) or population_size < 2:
            raise ValueError(f"population_size must be an integer >= 2, got {population_size!r}")
        self.population_size = population_size

    def _suggest(self, parameter_id: int) -> dict[str, Any] | None:
        space = self.space
        assert space is not None
        if self.proposed < self.population_size or not self.observations:
            return space.sample(self.rng)
        population = self.observations[-self.population_size:]
        first, second = self.rng.choice(len(population), size=2, replace=len(population) < 2)
        parent = population[first] if population[first].loss <= population[second].loss else population[second]
        return space.decode(self._mutate(parent.vector))

    def _mutate(self, vector: np.ndarray) -> np.ndarray:
        space = self.space
        assert space is not None
        child = vector.copy()
        active = np.flatnonzero(~np.isnan(child))
        chosen = active[self.rng.random(len(active)) < 1.0 / max(len(active), 1)]
        if len(chosen) == 0:
            chosen = self.rng.choice(active, size=1)
        for column in chosen:
            spec = space.params[column]
            if spec.is_categorical:
                if spec.n_choices > 1:
                    other = int(self.rng.integers(spec.n_choices - 1))
                    child[column] = other + (other >= int(child[column]))
            else:
                child[column] = float(np.clip(child[column] + self.rng.normal(0.0, _STEP), 0.0, 1.0))
        return space.fill_inactive(space.mask_inactive(child[None, :])[0], self.rng)
