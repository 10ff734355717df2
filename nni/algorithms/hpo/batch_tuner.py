"""Batch tuner (NNI's ``Batch``): runs a user-given list of configurations, in order.

The search space is one key whose ``choice`` lists the configurations; each one is handed to a
trial as-is (unlike GridSearch, which would nest it under the key)::

    {"combine_params": {"_type": "choice", "_value": [{"lr": 0.1, "opt": "sgd"}, {"lr": 0.01, "opt": "adam"}]}}

Configurations already run (``import_data``, or replayed after a resume) are skipped; after the
last one the tuner raises NoMoreTrialError.
"""

from __future__ import annotations

import logging
from typing import Any

from ...errors import NoMoreTrialError, SearchSpaceError
from ...search_space.space import config_key
from ...search_space.tuning import BuiltinTuner, Result

__all__ = ["BatchTuner"]

_logger = logging.getLogger(__name__)


class BatchTuner(BuiltinTuner):
    """``BatchTuner()``: the search space is a single ``choice`` of whole configurations.

    It takes no ``optimize_mode`` (as in NNI): results only mark configurations as run.
    """

    algorithm_name = "Batch"
    supports_objectives = True  # proposals never depend on results
    supports_constraints = True

    validates_own_search_space = True
    """Its options are plain dicts without ``_name``; the engine must not apply the nested-choice rule."""

    def __init__(self) -> None:
        super().__init__()
        self._values: list[Any] = []
        self._next = 0
        self._seen: set[str] = set()

    def update_search_space(self, search_space: dict[str, Any]) -> None:
        if not isinstance(search_space, dict) or len(search_space) != 1:
            raise SearchSpaceError("search space: Batch takes exactly one key whose _type is 'choice' listing "
                                   f"the configurations, got {len(search_space) if isinstance(search_space, dict) else type(search_space).__name__} "
                                   "keys; for a standard search space use GridSearch or Random")
        (name, spec), = search_space.items()
        if not isinstance(spec, dict) or spec.get("_type") != "choice":
            kind = spec.get("_type") if isinstance(spec, dict) else type(spec).__name__
            raise SearchSpaceError(f"search space '{name}': Batch supports only _type 'choice', got {kind!r}; "
                                   f"use GridSearch or Random for other types")
        values = spec.get("_value")
        if not isinstance(values, list) or not values:
            raise SearchSpaceError(f"search space '{name}': Batch needs a non-empty list of configurations "
                                   f"in _value, got {values!r}")
        self._values = list(values)
        self._next = 0

    def generate_parameters(self, parameter_id: int, **kwargs: Any) -> Any:
        while self._next < len(self._values):
            value = self._values[self._next]
            self._next += 1
            key = config_key(value)
            if key not in self._seen:
                self._seen.add(key)
                return value
        raise NoMoreTrialError(f"Batch: all {len(self._values)} configurations have been run")

    def restore_proposals(self, proposals: list[dict[str, Any]]) -> None:
        self._seen.update(config_key(proposal["parameter"]) for proposal in proposals)

    def _learn(self, results: list[Result]) -> int:
        for result in results:
            self._seen.add(config_key(result.params))
        return len(results)
