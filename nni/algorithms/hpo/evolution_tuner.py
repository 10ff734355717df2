"""Naive evolution (NNI's ``Evolution``), and NSGA-II style selection under several objectives.

The first ``population_size`` configurations are random. After that each proposal picks two
members of the population at random, keeps the fitter one and mutates it: every parameter is
changed with probability 1/d (at least one is), numeric ones by a Gaussian step in the unit
encoding, choices to another option; parameters that a changed choice activates are drawn fresh.
Until some result is in, proposals stay random, so parallel asks never stall.

With one objective and no constraints (NNI's setting) the population is the ``population_size``
most recent results and "fitter" is the lower loss, as in NNI. With several objectives or any
constraint the population is an elite instead, kept NSGA-II style: results are ordered by
constrained domination (feasible ones first, by non-dominated front and then crowding distance
within a front; infeasible ones after them, by total violation) and the best ``population_size``
survive. Parents are the winners of two such tournaments; their child is a crossover (SBX on
numeric parameters, a uniform swap on choices) before the mutation above.

State is the result list, so replay after a resume restores it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...objectives import crowding_distance, nondominated_ranks
from ...search_space.tuning import Observation, SearchSpaceTuner

__all__ = ["EvolutionTuner", "constrained_order"]

_STEP = 0.15
"""Mutation step (standard deviation in the unit encoding) for numeric parameters."""
_CROSSOVER = 0.9
"""Probability that a child under several objectives is a crossover of two parents (NSGA-II's usual)."""
_SBX_ETA = 15.0
"""SBX distribution index: larger keeps children closer to their parents."""


def constrained_order(observations: list[Observation]) -> np.ndarray:
    """Indices of ``observations``, best first under constrained domination (see the module text)."""
    violations = np.array([obs.violation for obs in observations], dtype=float)
    feasible = np.flatnonzero(violations == 0.0)
    order: list[int] = []
    if len(feasible):
        losses = np.array([obs.losses for obs in observations], dtype=float)[feasible]
        ranks = nondominated_ranks(losses)
        for rank in range(int(ranks.max()) + 1):
            in_front = ranks == rank
            crowding = crowding_distance(losses[in_front])
            order.extend(feasible[in_front][np.argsort(-crowding, kind="stable")].tolist())
    infeasible = np.flatnonzero(violations > 0.0)
    order.extend(infeasible[np.argsort(violations[infeasible], kind="stable")].tolist())
    return np.array(order, dtype=int)


class EvolutionTuner(SearchSpaceTuner):
    """``EvolutionTuner(optimize_mode='maximize', population_size=32)``; every type, nested choice,
    several objectives and constraints."""

    algorithm_name = "Evolution"
    ends_when_exhausted = False
    supports_objectives = True
    supports_constraints = True

    def __init__(self, optimize_mode: str = "maximize", population_size: int = 32, seed: int | None = None) -> None:
        super().__init__(optimize_mode, seed)
        if isinstance(population_size, bool) or not isinstance(population_size, int) or population_size < 2:
            raise ValueError(f"population_size must be an integer >= 2, got {population_size!r}")
        self.population_size = population_size
        self._elite: list[Observation] = []
        """Under several objectives or constraints: the survivors, best first."""
        self._folded = 0
        """How many observations the elite has taken in."""

    @property
    def _ranked(self) -> bool:
        """Whether selection is NSGA-II style (several objectives or constraints) rather than NNI's."""
        return self.spec.is_multi or bool(self.spec.constraints)

    def _suggest(self, parameter_id: int) -> dict[str, Any] | None:
        space = self.space
        assert space is not None
        if self._ranked:
            # replayed results count towards the first population, so a resumed run evolves at once
            if max(self.proposed, len(self.observations)) < self.population_size or not self.observations:
                return space.sample(self.rng)
            return space.decode(self._mutate(self._offspring()))
        if self.proposed < self.population_size or not self.observations:
            return space.sample(self.rng)
        population = self.observations[-self.population_size:]
        first, second = self.rng.choice(len(population), size=2, replace=len(population) < 2)
        parent = population[first] if population[first].loss <= population[second].loss else population[second]
        return space.decode(self._mutate(parent.vector))

    def _on_space_updated(self) -> None:
        # observations that no longer fit were dropped: rebuild the elite from those kept
        self._elite, self._folded = [], 0

    def _offspring(self) -> np.ndarray:
        """A child vector of two tournament winners from the elite (crossed over, not yet mutated)."""
        elite = self._update_elite()
        first, second = self._tournament(len(elite)), self._tournament(len(elite))
        if self.rng.random() >= _CROSSOVER or first == second:
            return elite[first].vector
        return self._crossover(elite[first].vector, elite[second].vector)

    def _update_elite(self) -> list[Observation]:
        """Take the observations that arrived since the last proposal into the elite.

        One at a time, so the elite depends only on the result order: a resume replay that
        delivers them all at once rebuilds the elite the live run had.
        """
        for obs in self.observations[self._folded:]:
            pool = [*self._elite, obs]
            self._elite = [pool[index] for index in constrained_order(pool)[: self.population_size]]
        self._folded = len(self.observations)
        return self._elite

    def _tournament(self, size: int) -> int:
        """Binary tournament on the elite's order: the better (lower) of two random positions."""
        first, second = self.rng.integers(size, size=2)
        return int(min(first, second))

    def _crossover(self, mother: np.ndarray, father: np.ndarray) -> np.ndarray:
        """SBX on numeric columns active in both parents, a fair swap on choices; the rest from ``mother``."""
        space = self.space
        assert space is not None
        child = mother.copy()
        for spec in space.params:
            column = spec.index
            a, b = mother[column], father[column]
            if np.isnan(a) or np.isnan(b) or self.rng.random() < 0.5:
                continue
            if spec.is_categorical:
                child[column] = b
                continue
            u = self.rng.random()
            beta = (2 * u) ** (1 / (_SBX_ETA + 1)) if u <= 0.5 else (1 / (2 * (1 - u))) ** (1 / (_SBX_ETA + 1))
            child[column] = float(np.clip(0.5 * ((1 + beta) * a + (1 - beta) * b), 0.0, 1.0))
        return space.fill_inactive(space.mask_inactive(child[None, :])[0], self.rng)

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
