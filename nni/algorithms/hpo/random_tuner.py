"""Random search: independent draws from each parameter's distribution (NNI's ``Random``)."""

from __future__ import annotations

import logging
from typing import Any

from ...search_space.tuning import SearchSpaceTuner

__all__ = ["RandomTuner"]

_logger = logging.getLogger(__name__)


class RandomTuner(SearchSpaceTuner):
    """``RandomTuner(seed=None, optimize_mode=None)``: every type and nested choice; never repeats a configuration.

    Results are not used (random search has no model), but they are recorded so that a finite
    space is known to be exhausted and replayed configurations are not proposed again.
    """

    algorithm_name = "Random"
    supports_objectives = True  # proposals never depend on results
    supports_constraints = True

    def __init__(self, seed: int | None = None, optimize_mode: str | None = None) -> None:
        # NNI accepts optimize_mode for uniformity with other tuners and ignores it
        if optimize_mode is not None:
            _logger.info("Random: optimize_mode %r is ignored (random search uses no results)", optimize_mode)
        super().__init__("minimize", seed)

    def _suggest(self, parameter_id: int) -> dict[str, Any] | None:
        assert self.space is not None
        return self.space.sample(self.rng)
