"""Metis tuner (Li et al., 2018), NNI's ``Metis`` built-in, on this package's Gaussian process.

Each ask builds up to three candidates: the point of lowest predicted loss (exploitation), the
point of lowest lower confidence bound (exploration) and, unless ``no_candidates``, the best
draw of a good/bad density model of the results (Metis' GMM step). With probability
``exploration_probability`` the candidate of highest expected improvement is run, otherwise the
exploitation one. Unless ``no_resampling``, a result the model finds implausible (a leave-one-out
outlier) is run once more, since noisy trials mislead the model.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

import numpy as np

from ...errors import SearchSpaceError
from ...search_space import SearchSpace
from ...typehint import Parameters
from ._gp_base import GPTunerBase
from ._gp_optimizer import AcquisitionFn, BayesianOptimizer
from .bohb_advisor import BOHBModel

__all__ = ["MetisTuner"]

_SUPPORTED = frozenset({"choice", "randint", "uniform", "quniform"})
_OUTLIER_Z = 3.0
_MIN_POINTS_FOR_RESAMPLING = 20
_CANDIDATE_BUDGET = 2048


def _lowest_mean(mean: np.ndarray, std: np.ndarray, d_mean: np.ndarray | None,
                 d_std: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    return -mean, (-d_mean if d_mean is not None else None)


def _lowest_bound(mean: np.ndarray, std: np.ndarray, d_mean: np.ndarray | None,
                  d_std: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    grad = -d_mean + 2.0 * d_std if d_mean is not None and d_std is not None else None
    return -mean + 2.0 * std, grad


class MetisTuner(GPTunerBase):
    """Metis with NNI's arguments; ``selection_num_starting_points`` is the number of random
    starting candidates per search (capped at 2048, gradient refinement does the rest).
    Supports numerical ``choice``, ``randint``, ``uniform`` and ``quniform`` like NNI's Metis.
    ``seed`` (an addition) makes runs repeatable.
    """

    algorithm_name = "Metis"
    supported_types = _SUPPORTED
    supports_nested = False
    suggestion = "GP or TPE"

    def __init__(self, optimize_mode: str = "maximize", no_resampling: bool = True, no_candidates: bool = False,
                 selection_num_starting_points: int = 600, cold_start_num: int = 10,
                 exploration_probability: float = 0.9, seed: int | None = None) -> None:
        if (isinstance(selection_num_starting_points, bool) or not isinstance(selection_num_starting_points, int)
                or selection_num_starting_points < 1):
            raise ValueError(f"Metis: selection_num_starting_points must be an integer >= 1, "
                             f"got {selection_num_starting_points!r}")
        if (isinstance(exploration_probability, bool) or not isinstance(exploration_probability, Real)
                or not 0 <= exploration_probability <= 1):
            raise ValueError(f"Metis: exploration_probability must be a number from 0 to 1, "
                             f"got {exploration_probability!r}")
        super().__init__(optimize_mode=optimize_mode, cold_start_num=cold_start_num, seed=seed)
        self.no_resampling: bool = bool(no_resampling)
        self.no_candidates: bool = bool(no_candidates)
        self.selection_num_starting_points: int = selection_num_starting_points
        self.exploration_probability: float = float(exploration_probability)
        self._resampled: set[int] = set()

    @classmethod
    def check_search_space(cls, search_space: dict[str, Any]) -> SearchSpace:
        """As every tuner's check, and choices must be numbers (Metis models them as such)."""
        space = super().check_search_space(search_space)
        for spec in space.params:
            if spec.is_categorical and not all(isinstance(v, Real) and not isinstance(v, bool) for v in spec.values):
                raise SearchSpaceError(f"search space '{spec.path}': Metis only supports choices of numbers, "
                                       f"got {list(spec.values)!r}; use GP or TPE, which support any choice")
        return space

    def _make_optimizer(self, space: SearchSpace) -> BayesianOptimizer:
        return BayesianOptimizer(space, self._rng, n_candidates=min(self.selection_num_starting_points,
                                                                    _CANDIDATE_BUDGET), n_refine=4)

    def _repeat(self) -> Parameters | None:
        optimizer = self.optimizer
        if self.no_resampling or optimizer is None or self.space is None:
            return None
        finite = [i for i, loss in enumerate(optimizer.losses) if math.isfinite(loss)]
        if len(finite) < _MIN_POINTS_FOR_RESAMPLING or len(optimizer) > 500:
            return None
        optimizer.fit()
        z = optimizer.gp.loo_z_scores()
        for index in np.argsort(-np.abs(z)):
            if abs(z[index]) < _OUTLIER_Z:
                break
            if int(index) not in self._resampled:
                self._resampled.add(int(index))
                return self.space.decode(optimizer.vectors[int(index)])
        return None

    def _density_candidate(self, optimizer: BayesianOptimizer) -> np.ndarray | None:
        model = BOHBModel(optimizer.space, None, 25, 64, 0.0, 3.0, 1e-3, self._rng)
        for vector, loss in zip(optimizer.vectors, optimizer.losses, strict=True):
            model.add(vector, 0, loss)
        proposals = model.propose(1)
        return proposals[0] if proposals else None

    def _propose(self, optimizer: BayesianOptimizer, pending: list[np.ndarray]) -> list[np.ndarray]:
        optimizer.fit(pending)
        exploit = optimizer.maximize(_lowest_mean)
        explore = optimizer.maximize(_lowest_bound)
        candidates = [exploit[0], explore[0]]
        if not self.no_candidates:
            density = self._density_candidate(optimizer)
            if density is not None:
                candidates.append(density)
        chosen = candidates[0]
        if self._rng.random() < self.exploration_probability:
            improvement: AcquisitionFn = optimizer.standard_acquisition("ei", 0.0, 0.0)
            values = optimizer._evaluate(improvement, np.array(candidates))
            chosen = candidates[int(np.argmax(values))]
        return [chosen, *exploit, *explore]
