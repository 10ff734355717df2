"""Hyperband (Li et al., 2017): successive halving over brackets of random configurations.

NNI's advisor is a tuner here. Every configuration it returns carries ``TRIAL_BUDGET`` (how many
epochs, batches, ... the trial should run); after a rung's trials have all ended, the best
``1/eta`` of them are returned again with ``eta`` times the budget. Internal configuration ids are
NNI's ``"<bracket>_<rung>_<serial>"`` strings, mapped to the engine's integer parameter ids.
While a rung waits for results, ``generate_multiple_parameters`` returns fewer configurations
than asked (possibly none); the engine asks again after the next result.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...errors import NoMoreTrialError
from ...search_space import ConfigHistory, SearchSpace
from ...search_space.tuning import BuiltinTuner, Result
from ...typehint import Parameters

__all__ = ["Hyperband", "TRIAL_BUDGET_KEY", "SuccessiveHalvingTuner", "Bracket"]

_logger = logging.getLogger(__name__)

TRIAL_BUDGET_KEY = "TRIAL_BUDGET"
_EPSILON = 1e-6


@dataclass
class _Entry:
    config_id: str
    params: Parameters
    """The configuration without the budget key."""
    budget: int | float
    loss: float | None = None
    ended: bool = False
    handed_out: bool = False


@dataclass
class Bracket:
    """One successive-halving run: rung i has ``n_i`` configurations at budget ``r_i``."""

    bracket_id: str
    s: int
    eta: int
    n: int
    r: float
    rungs: list[list[_Entry]] = field(default_factory=list)

    @classmethod
    def create(cls, bracket_id: str, s: int, s_max: int, eta: int, max_budget: float) -> Bracket:
        n = math.ceil((s_max + 1) * eta ** s / (s + 1) - _EPSILON)
        return cls(bracket_id, s, eta, n, max_budget / eta ** s)

    def size(self, rung: int) -> int:
        return math.floor(self.n / self.eta ** rung + _EPSILON)

    def budget(self, rung: int) -> int | float:
        """NNI rounds budgets down to integers; fractional budgets (below 1) are kept as floats."""
        value = self.r * self.eta ** rung
        return math.floor(value + _EPSILON) if value >= 1 - _EPSILON else value

    @property
    def rung(self) -> int:
        return len(self.rungs) - 1

    def waiting(self) -> _Entry | None:
        """The next configuration of the current rung not handed out yet."""
        for entry in self.rungs[-1] if self.rungs else []:
            if not entry.handed_out:
                return entry
        return None

    @property
    def rung_done(self) -> bool:
        return bool(self.rungs) and all(entry.ended for entry in self.rungs[-1])

    @property
    def completed(self) -> bool:
        return self.stopped or (self.rung_done and self.rung >= self.s)

    stopped: bool = False
    """Set when a promotion found nothing new to run: the bracket ends early."""

    def promote(self, is_new: Callable[[Parameters, int | float], bool]) -> list[_Entry]:
        """After the current rung ended: the best configurations move on with more budget, except
        those that already ran at that budget (``is_new`` says)."""
        if not self.rung_done or self.completed:
            return []
        ranked = sorted(self.rungs[-1], key=lambda e: math.inf if e.loss is None else e.loss)
        next_rung = self.rung + 1
        count = max(1, min(self.size(next_rung), len(ranked)))
        budget = self.budget(next_rung)
        entries = []
        for entry in ranked[:count]:
            if is_new(entry.params, budget):
                serial = entry.config_id.rsplit("_", 1)[-1]
                entries.append(_Entry(f"{self.bracket_id}_{next_rung}_{serial}", dict(entry.params), budget))
        if not entries:
            self.stopped = True
            return []
        self.rungs.append(entries)
        return entries


class SuccessiveHalvingTuner(BuiltinTuner):
    """Brackets, rungs, budgets and id mapping shared by Hyperband and BOHB.

    Subclasses provide :meth:`_new_configs` (how a bracket's first rung is filled) and may learn
    from :meth:`_on_result`.
    """

    algorithm_name = "Hyperband"

    def __init__(self, optimize_mode: str, max_budget: float, eta: int, s_max: int, exec_mode: str,
                 seed: int | None = None) -> None:
        super().__init__(optimize_mode)
        if exec_mode not in ("serial", "parallelism"):
            raise ValueError(f"{self.algorithm_name}: exec_mode must be 'serial' or 'parallelism', got {exec_mode!r}")
        self.max_budget = max_budget
        self.eta = eta
        self.s_max = s_max
        self.exec_mode = exec_mode
        self._rng = np.random.default_rng(seed)
        self.space: SearchSpace | None = None
        self.brackets: list[Bracket] = []
        self._round = 0
        self._next_s = s_max
        self._serial = 0
        self._by_parameter_id: dict[int, tuple[Bracket, _Entry]] = {}
        self._seen: dict[Any, ConfigHistory] = {}
        self._empty_brackets = 0

    # -- search space ------------------------------------------------------------------------------

    def update_search_space(self, search_space: dict[str, Any]) -> None:
        """Parse the space; brackets already running carry on with their configurations."""
        self.space = self.check_search_space(search_space)
        self._seen = {}

    def _require_space(self) -> SearchSpace:
        if self.space is None:
            raise RuntimeError(f"{self.algorithm_name}: update_search_space() must be called before asking")
        return self.space

    def _history(self, budget: Any) -> ConfigHistory:
        if budget not in self._seen:
            self._seen[budget] = ConfigHistory(self._require_space())
        return self._seen[budget]

    # -- configuration sources -----------------------------------------------------------------------

    def _new_configs(self, count: int, budget: int | float) -> list[Parameters]:
        """Up to ``count`` configurations not yet started at ``budget`` (random for Hyperband)."""
        configs = []
        for _ in range(count):
            params = self._unseen(budget)
            if params is None:
                break
            configs.append(params)
        return configs

    def _unseen(self, budget: Any, proposal: Parameters | None = None) -> Parameters | None:
        """``proposal`` if it is new at ``budget``, else a random new configuration (recorded as
        seen); None when a finite space has nothing new left."""
        space, history = self._require_space(), self._history(budget)
        if proposal is not None and history.add(proposal):
            return proposal
        if space.is_finite:
            params = history.random_unseen(self._rng)
            return params if params is not None and history.add(params) else None
        for _ in range(100):
            params = space.sample(self._rng)
            if history.add(params):
                return params
        return None

    def _on_result(self, params: Parameters, budget: Any, loss: float) -> None:
        """A configuration's result at a budget (BOHB learns from it)."""

    # -- brackets ----------------------------------------------------------------------------------

    def _open_bracket(self) -> Bracket | None:
        """Start the next bracket (cycling s = s_max .. 0, round after round); None if it is empty."""
        s = self._next_s
        bracket = Bracket.create(f"{self._round}-{s}" if self.algorithm_name == "Hyperband" else str(s),
                                 s, self.s_max, self.eta, self.max_budget)
        self._next_s -= 1
        if self._next_s < 0:
            self._next_s = self.s_max
            self._round += 1
        budget = bracket.budget(0)
        configs = self._new_configs(bracket.size(0), budget)
        if not configs:
            self._empty_brackets += 1
            return None
        self._empty_brackets = 0
        entries = []
        for params in configs:
            entries.append(_Entry(f"{bracket.bracket_id}_0_{self._serial}", params, budget))
            self._serial += 1
        bracket.rungs.append(entries)
        self.brackets.append(bracket)
        _logger.info("%s: bracket %s starts %d configurations at budget %s", self.algorithm_name,
                     bracket.bracket_id, len(entries), budget)
        return bracket

    def _next_entry(self) -> tuple[Bracket, _Entry] | None:
        for bracket in self.brackets:
            entry = bracket.waiting()
            if entry is not None:
                return bracket, entry
        busy = any(not bracket.completed for bracket in self.brackets)
        if self.exec_mode == "serial" and busy:
            return None
        # every s of a round in a row came out empty: the finite space is used up
        while self._empty_brackets <= self.s_max:
            opened = self._open_bracket()
            if opened is not None:
                entry = opened.waiting()
                assert entry is not None
                return opened, entry
        return None

    @property
    def exhausted(self) -> bool:
        """No configuration is left to start and every bracket has finished."""
        return self._empty_brackets > self.s_max and all(bracket.completed for bracket in self.brackets)

    # -- tuner interface -----------------------------------------------------------------------------

    def generate_multiple_parameters(self, parameter_id_list: list[int], **kwargs: Any) -> list[Parameters]:
        """As many configurations as are ready, up to one per id; NoMoreTrialError when all is done."""
        self._require_space()
        result = []
        for parameter_id in parameter_id_list:
            found = self._next_entry()
            if found is None:
                break
            bracket, entry = found
            entry.handed_out = True
            self._by_parameter_id[parameter_id] = (bracket, entry)
            result.append({**entry.params, TRIAL_BUDGET_KEY: entry.budget})
        if not result and self.exhausted:
            raise NoMoreTrialError(f"{self.algorithm_name}: every configuration of the search space was run")
        return result

    def generate_parameters(self, parameter_id: int, **kwargs: Any) -> Parameters:
        """One configuration; NoMoreTrialError when none is ready now (a rung is waiting) or left."""
        result = self.generate_multiple_parameters([parameter_id])
        if not result:
            raise NoMoreTrialError(f"{self.algorithm_name}: no configuration ready until running trials report")
        return result[0]

    def config_id(self, parameter_id: int) -> str | None:
        """NNI's ``"<bracket>_<rung>_<serial>"`` id of an engine parameter id."""
        found = self._by_parameter_id.get(parameter_id)
        return found[1].config_id if found else None

    def _split_budget(self, parameters: Parameters) -> tuple[Parameters, Any]:
        """A configuration without its TRIAL_BUDGET, and the budget (the largest when missing)."""
        params = {k: v for k, v in parameters.items() if k != TRIAL_BUDGET_KEY}
        return params, parameters.get(TRIAL_BUDGET_KEY, self.max_budget)

    def _learn(self, results: list[Result]) -> int:
        """A final result is the configuration's result in its rung; unknown ids (replayed after a
        resume, user-added trials, imported records) only teach the model."""
        for result in results:
            found = self._by_parameter_id.get(result.parameter_id) if result.parameter_id is not None else None
            params, budget = self._split_budget(result.params)
            if found is not None:
                found[1].loss = result.loss
            elif self.space is not None and self.space.contains(params):
                self._history(budget).add(params)
            self._on_result(params, budget, result.loss)
        return len(results)

    def trial_end(self, parameter_id: int, success: bool, **kwargs: Any) -> None:
        """When the last trial of a rung ends, its best configurations are promoted."""
        found = self._by_parameter_id.pop(parameter_id, None)
        if found is None:
            return
        bracket, entry = found
        entry.ended = True
        promoted = bracket.promote(lambda params, budget: self._history(budget).add(params))
        if promoted:
            _logger.info("%s: bracket %s promotes %d configurations to budget %s", self.algorithm_name,
                         bracket.bracket_id, len(promoted), promoted[0].budget)
        self.brackets = [b for b in self.brackets if not b.completed or b.waiting() is not None]


class Hyperband(SuccessiveHalvingTuner):
    """Hyperband with NNI's arguments: ``R`` the largest budget of a trial, ``eta`` the halving
    ratio, ``exec_mode`` 'parallelism' (start the next bracket whenever trials are free) or
    'serial' (one bracket at a time). Brackets cycle s = s_max .. 0 round after round, as in NNI;
    ``seed`` (an addition) makes runs repeatable.
    """

    algorithm_name = "Hyperband"

    def __init__(self, optimize_mode: str = "maximize", R: int = 60, eta: int = 3, exec_mode: str = "parallelism",
                 seed: int | None = None) -> None:
        if isinstance(R, bool) or not isinstance(R, (int, float)) or R < 1:
            raise ValueError(f"Hyperband: R must be a number >= 1, got {R!r}")
        if isinstance(eta, bool) or not isinstance(eta, int) or eta < 2:
            raise ValueError(f"Hyperband: eta must be an integer >= 2, got {eta!r}")
        self.R = R
        super().__init__(optimize_mode, R, eta, math.floor(math.log(R, eta) + _EPSILON), exec_mode, seed)
