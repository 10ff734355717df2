"""The bases of every built-in tuner and advisor.

:class:`BuiltinTuner` owns what all of them share: ``optimize_mode`` (parsed once, NNI's error
text), the metric as a loss (negated when maximising; lower is always better inside), and the
intake of results: live ones (``receive_trial_result``) and earlier ones (``import_data``, which
is also how the engine replays stored results on resume). A result that is not a finite number,
or a record without a ``'parameter'`` dict and a ``'value'``, is skipped with a log line saying
why; every usable one is kept in :attr:`BuiltinTuner.results`, so a model tuner rebuilds its
model from them after a new search space and needs no checkpoint. It also checks a search space
against what the tuner declares it supports (``check_search_space``).

:class:`SearchSpaceTuner` adds the bookkeeping of tuners that only propose configurations:

* deduplication (a proposal already handed out is retried, then replaced by a random unseen
  configuration) and ``NoMoreTrialError`` once a finite space is exhausted;
* observations encoded in the parsed space, for live, imported and replayed results alike;
* live ``update_search_space``: past observations that still fit the new space are kept.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import NoMoreTrialError
from ..metrics import short_repr
from ..objectives import Evaluation, ObjectiveSpec
from ..tuner import Tuner
from ..typehint import Parameters, TrialMetric
from ..utils import parse_optimize_mode
from .space import ConfigHistory, SearchSpace, check_supported_types, config_key, parse_search_space
from .validation import SEARCH_SPACE_TYPES

__all__ = ["Observation", "Result", "BuiltinTuner", "SearchSpaceTuner", "make_rng"]

_logger = logging.getLogger(__name__)


@dataclass
class Observation:
    """A finished configuration: user-format params, its encoding and its loss (lower is better)."""

    params: dict[str, Any]
    vector: np.ndarray
    loss: float
    parameter_id: int | None = None
    losses: tuple[float, ...] = ()
    """Every objective as a loss (``(loss,)`` with one objective)."""
    violation: float = 0.0
    """How far the result is outside the constraints (0: feasible)."""


@dataclass(frozen=True)
class Result:
    """A usable result as a tuner received it: parameters, loss, and the id when it was live."""

    params: Parameters
    loss: float
    parameter_id: int | None = None
    losses: tuple[float, ...] = ()
    """Every objective as a loss, in the spec's order; ``loss`` is the first."""
    violation: float = 0.0
    """How far the result is outside the constraints (0: feasible)."""

    @classmethod
    def read(cls, params: Parameters, evaluation: Evaluation, parameter_id: int | None = None) -> Result:
        """The result of a usable evaluation."""
        assert evaluation.losses is not None
        return cls(params, evaluation.losses[0], parameter_id, evaluation.losses, evaluation.violation)


def make_rng(seed: Any) -> tuple[int, np.random.Generator]:
    """The seed actually used (drawn when None, so runs can be reproduced) and its generator."""
    if seed is None:
        seed = int(np.random.default_rng().integers(2 ** 31))
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer or None, got {seed!r}")
    return int(seed), np.random.default_rng(int(seed))


class BuiltinTuner(Tuner):
    """Optimize mode, loss sign, the search-space check and result intake; subclasses implement
    :meth:`_learn`.

    ``algorithm_name`` names the tuner in errors and logs; ``supported_types``,
    ``supports_nested`` and ``suggestion`` (what to use instead) say which spaces
    :meth:`check_search_space` refuses.
    """

    algorithm_name = "tuner"
    supported_types: frozenset[str] = frozenset(SEARCH_SPACE_TYPES)
    supports_nested = True
    suggestion = "TPE or Random"
    supports_objectives = False
    """Whether the tuner optimises several ``objectives`` at once (config validation refuses others)."""
    supports_constraints = False
    """Whether the tuner honours ``constraints``."""

    def __init__(self, optimize_mode: Any = "maximize") -> None:
        self.optimize_mode = parse_optimize_mode(optimize_mode, self.algorithm_name)
        self.results: list[Result] = []
        """Every usable result so far, oldest first: what a new search space is rebuilt from."""

    @classmethod
    def check_search_space(cls, search_space: dict[str, Any]) -> SearchSpace:
        """The parsed space, or SearchSpaceError if this tuner cannot take it; config validation
        calls it before anything runs, ``update_search_space`` again."""
        space = parse_search_space(search_space)
        check_supported_types(space, cls.algorithm_name, cls.supported_types, cls.supports_nested, cls.suggestion)
        return space

    @property
    def spec(self) -> ObjectiveSpec:
        """The objectives results are read under: the experiment's, else ``default`` in optimize mode."""
        return self.objectives or ObjectiveSpec.single(self.optimize_mode.value)

    def _loss(self, value: Any) -> float | None:
        """The (first) objective as a loss (negated when maximised); None when the result is unusable."""
        evaluation = self.spec.evaluate(value)
        return None if evaluation.losses is None else evaluation.losses[0]

    def receive_trial_result(self, parameter_id: int, parameters: Parameters, value: TrialMetric,
                             **kwargs: Any) -> None:
        """Learn from a final result; one without a finite number for every objective counts as none."""
        evaluation = self.spec.evaluate(value)
        if evaluation.losses is None:
            _logger.warning("%s: ignoring the result of parameter id %s, %s", self.algorithm_name, parameter_id,
                            evaluation.reason)
            return
        self._take([Result.read(parameters, evaluation, parameter_id)])

    def import_data(self, data: list[dict[str, Any]]) -> None:
        """Learn from ``[{'parameter': ..., 'value': ...}, ...]`` (earlier runs, or a resume replay)."""
        usable = []
        for record in data:
            if not isinstance(record, dict) or not isinstance(record.get("parameter"), dict) or "value" not in record:
                _logger.warning("%s: import_data skips %s (need a 'parameter' dict and a 'value')",
                                self.algorithm_name, short_repr(record))
                continue
            evaluation = self.spec.evaluate(record["value"])
            if evaluation.losses is None:
                _logger.warning("%s: import_data skips a record: %s", self.algorithm_name, evaluation.reason)
                continue
            usable.append(Result.read(record["parameter"], evaluation))
        count = self._take(usable)
        _logger.info("%s: imported %d of %d results", self.algorithm_name, count, len(data))

    def _take(self, results: list[Result]) -> int:
        """Keep usable results and learn from them; how many the tuner could use."""
        self.results.extend(results)
        return self._learn(results)

    def _learn(self, results: list[Result]) -> int:
        """Learn from new results (live ones carry their parameter id); how many were usable."""
        raise NotImplementedError


class SearchSpaceTuner(BuiltinTuner):
    """Shared tuner bookkeeping; subclasses implement :meth:`_suggest` (and optionally hooks)."""

    max_retries = 16
    """How many fresh proposals :meth:`_suggest` may make before falling back to a random unseen one."""
    ends_when_exhausted = True
    """NNI's rule: GridSearch, Random and TPE end on a used-up finite space; the others (Evolution,
    the hyperopt ones) keep proposing, repeats allowed, until the trial budget ends."""
    exhaustive = False
    """True for tuners that walk the space in order (grid): retries are unlimited and
    :meth:`_suggest` returning None means the space is exhausted."""

    def __init__(self, optimize_mode: Any = "minimize", seed: int | None = None) -> None:
        super().__init__(optimize_mode)
        self.seed, self.rng = make_rng(seed)
        self.space: SearchSpace | None = None
        self.observations: list[Observation] = []
        self.running: dict[int, dict[str, Any]] = {}
        self.proposed = 0
        self._seen: list[dict[str, Any]] = []
        self.history: ConfigHistory | None = None

    # -- protocol ------------------------------------------------------------------------------

    def update_search_space(self, search_space: dict[str, Any]) -> None:
        space = self.check_search_space(search_space)
        self.space = space
        self.history = ConfigHistory(space)
        for params in self._seen:
            self.history.add(params)
        kept = []
        for obs in self.observations:
            try:
                obs.vector = space.encode(obs.params)
            except ValueError:
                continue
            kept.append(obs)
        if len(kept) < len(self.observations):
            _logger.info("%s: %d earlier results do not fit the new search space and are ignored",
                         self.algorithm_name, len(self.observations) - len(kept))
        self.observations = kept
        self._on_space_updated()

    def generate_parameters(self, parameter_id: int, **kwargs: Any) -> dict[str, Any]:
        try:
            params = self._unseen_parameters(parameter_id)
        except NoMoreTrialError:
            if self.ends_when_exhausted:
                raise
            assert self.space is not None
            params = self._suggest(parameter_id) or self.space.sample(self.rng)  # a repeat
        assert self.history is not None
        self.history.add(params)
        self._seen.append(params)
        self.running[parameter_id] = params
        self.proposed += 1
        self._on_proposed(parameter_id, params)
        return params

    def _unseen_parameters(self, parameter_id: int) -> dict[str, Any]:
        """A configuration not proposed before; NoMoreTrialError when there is none."""
        space, history = self._require_space()
        if history.exhausted:
            raise NoMoreTrialError(f"{self.algorithm_name}: all {space.size} configurations of the search "
                                   f"space have been tried")
        params = None
        attempt = 0
        while self.exhaustive or attempt < self.max_retries:
            attempt += 1
            candidate = self._suggest(parameter_id)
            if candidate is None:
                if self.exhaustive:
                    raise NoMoreTrialError(f"{self.algorithm_name}: the search space is exhausted")
                break
            if candidate not in history:
                params = candidate
                break
        if params is None:
            params = history.random_unseen(self.rng) if space.is_finite else self._fresh_random(history)
            if params is None:
                raise NoMoreTrialError(f"{self.algorithm_name}: the search space is exhausted")
        return params

    def restore_proposals(self, proposals: list[dict[str, Any]]) -> None:
        space, history = self._require_space()
        for proposal in proposals:
            params = proposal["parameter"]
            if not space.contains(params):
                continue
            if history.add(params):
                self._seen.append(params)
            if proposal["running"]:
                self.running[proposal["parameter_id"]] = params
                self._on_proposed(proposal["parameter_id"], params)

    def trial_end(self, parameter_id: int, success: bool, **kwargs: Any) -> None:
        if self.running.pop(parameter_id, None) is not None:
            self._on_abandoned(parameter_id)

    # -- helpers for subclasses ------------------------------------------------------------------

    def _learn(self, results: list[Result]) -> int:
        return sum(self._observe(result) for result in results)

    def _observe(self, result: Result) -> bool:
        space, history = self._require_space()
        handed_out = self.running.pop(result.parameter_id, None) if result.parameter_id is not None else None
        params = handed_out if handed_out is not None else result.params
        try:
            vector = space.encode(params)
        except ValueError as error:
            _logger.warning("%s: ignoring a result whose parameters do not fit the search space: %s",
                            self.algorithm_name, error)
            return False
        if history.add(params, fits=True):
            self._seen.append(params)
        obs = Observation(params=params, vector=vector, loss=result.loss, parameter_id=result.parameter_id,
                          losses=result.losses or (result.loss,), violation=result.violation)
        self.observations.append(obs)
        self._on_observed(obs)
        return True

    def _require_space(self) -> tuple[SearchSpace, ConfigHistory]:
        if self.space is None or self.history is None:
            raise RuntimeError(f"{self.algorithm_name}: update_search_space() must be called before "
                               f"generating parameters or receiving results")
        return self.space, self.history

    def _fresh_random(self, history: ConfigHistory) -> dict[str, Any] | None:
        assert self.space is not None
        for _ in range(1000):
            params = self.space.sample(self.rng)
            if config_key(params) not in history.keys:
                return params
        return None

    def _suggest(self, parameter_id: int) -> dict[str, Any] | None:
        """Propose a configuration (user format); None means "nothing of my own, pick randomly"."""
        raise NotImplementedError

    def _on_space_updated(self) -> None:
        """Called after a new search space is installed (observations re-encoded)."""

    def _on_proposed(self, parameter_id: int, params: dict[str, Any]) -> None:
        """Called once a proposal is handed out."""

    def _on_observed(self, obs: Observation) -> None:
        """Called for each accepted result (live, imported or replayed)."""

    def _on_abandoned(self, parameter_id: int) -> None:
        """Called when a handed-out configuration ended without a result (failed, cancelled)."""
