"""What GPTuner and MetisTuner share: the model fed from every result, pending configurations,
deduplication and the search-space life cycle."""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from ...search_space import ConfigHistory, SearchSpace
from ...search_space.tuning import BuiltinTuner, Result
from ...typehint import Parameters
from ._gp_optimizer import BayesianOptimizer

__all__ = ["GPTunerBase"]

_logger = logging.getLogger(__name__)


class GPTunerBase(BuiltinTuner):
    """Tuner skeleton around a :class:`BayesianOptimizer`; subclasses choose the next vector."""

    algorithm_name = "GP"

    def __init__(self, optimize_mode: str = "maximize", nu: float = 2.5, alpha: float = 1e-6,
                 cold_start_num: int = 10, seed: int | None = None) -> None:
        super().__init__(optimize_mode)
        if not isinstance(cold_start_num, int) or isinstance(cold_start_num, bool) or cold_start_num < 1:
            raise ValueError(f"{self.algorithm_name}: cold_start_num must be an integer >= 1, got {cold_start_num!r}")
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 <= alpha < 1:
            raise ValueError(f"{self.algorithm_name}: alpha must be a number in [0, 1), got {alpha!r}")
        self.nu = nu
        self.alpha = float(alpha)
        self.cold_start_num = cold_start_num
        self._rng = np.random.default_rng(seed)
        self.space: SearchSpace | None = None
        self.optimizer: BayesianOptimizer | None = None
        self.history: ConfigHistory | None = None
        self._pending: dict[int, np.ndarray] = {}

    # -- search space ------------------------------------------------------------------------------

    def _make_optimizer(self, space: SearchSpace) -> BayesianOptimizer:
        return BayesianOptimizer(space, self._rng, nu=self.nu, alpha=self.alpha)

    def update_search_space(self, search_space: dict[str, Any]) -> None:
        """Parse and check the space; earlier results that still fit it are kept."""
        space = self.check_search_space(search_space)
        self.space = space
        self.optimizer = self._make_optimizer(space)
        self.history = ConfigHistory(space)
        self._pending.clear()
        for result in self.results:
            self._add_observation(result)

    def _require_space(self) -> tuple[SearchSpace, BayesianOptimizer, ConfigHistory]:
        if self.space is None or self.optimizer is None or self.history is None:
            raise RuntimeError(f"{self.algorithm_name}: update_search_space() must be called before asking")
        return self.space, self.optimizer, self.history

    # -- results -----------------------------------------------------------------------------------

    def _add_observation(self, result: Result) -> bool:
        space, optimizer, history = self._require_space()
        clean = space.restrict(result.params)
        try:
            vector = space.encode(clean)
        except ValueError as error:
            _logger.info("%s: ignoring a result outside the search space: %s", self.algorithm_name, error)
            return False
        history.add(clean)
        optimizer.observe(vector, result.loss, result.violation, result.losses)
        return True

    def _learn(self, results: list[Result]) -> int:
        """Feed the model (kept in :attr:`results` until a search space arrives)."""
        used = 0
        for result in results:
            if result.parameter_id is not None:
                self._pending.pop(result.parameter_id, None)
            used += self._add_observation(result) if self.space is not None else 1
        return used

    def trial_end(self, parameter_id: int, success: bool, **kwargs: Any) -> None:
        """A trial that ended without a result no longer counts as pending."""
        self._pending.pop(parameter_id, None)

    def restore_proposals(self, proposals: list[dict[str, Any]]) -> None:
        """Count configurations handed out elsewhere as seen, the running ones as pending."""
        space, _, history = self._require_space()
        for proposal in proposals:
            params = proposal["parameter"]
            if not space.contains(params):
                continue
            history.add(params)
            if proposal["running"]:
                self._remember_pending(proposal["parameter_id"], params)

    # -- asking ------------------------------------------------------------------------------------

    def _propose(self, optimizer: BayesianOptimizer, pending: list[np.ndarray]) -> list[np.ndarray]:
        """Encoded candidates, best first."""
        raise NotImplementedError

    def _repeat(self) -> Parameters | None:
        """A configuration to run again despite deduplication (Metis re-runs suspected outliers)."""
        return None

    def generate_parameters(self, parameter_id: int, **kwargs: Any) -> Parameters:
        """A new, not yet seen configuration; once a finite space is used up, the model's best again.

        As in NNI, only GridSearch, Batch, Random and TPE end an experiment on an exhausted space.
        """
        space, optimizer, history = self._require_space()
        repeat = self._repeat()
        if repeat is not None:
            self._remember_pending(parameter_id, repeat)
            return repeat
        pending = list(self._pending.values())
        finite = [i for i, loss in enumerate(optimizer.losses) if math.isfinite(loss)]
        # pending configurations count towards the initial design: a batch that starts before
        # cold_start_num results would otherwise spend all of itself on design points too
        if len(finite) + len(pending) < self.cold_start_num or len({optimizer.losses[i] for i in finite}) < 2:
            candidates = list(optimizer.design_points(1)) + list(optimizer.space_filling(16))
        else:
            candidates = self._propose(optimizer, pending)
        for vector in candidates:
            params = space.decode(vector)
            if params not in history:
                break
        else:
            unseen = history.random_unseen(self._rng) if space.is_finite else space.sample(self._rng)
            if unseen is None:  # exhausted: repeat the best candidate
                unseen = space.decode(candidates[0]) if len(candidates) else space.sample(self._rng)
            params = unseen
        history.add(params)
        self._remember_pending(parameter_id, params)
        return params

    def _remember_pending(self, parameter_id: int, params: Parameters) -> None:
        assert self.space is not None
        try:
            self._pending[parameter_id] = self.space.encode(params)
        except ValueError:  # a value the encoding cannot represent: not used as a pending point
            pass

    def save_checkpoint(self) -> None:
        """State is rebuilt from replayed results on resume; nothing to write."""
