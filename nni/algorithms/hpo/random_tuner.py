"""Random search: independent draws from each parameter's distribution (NNI's ``Random``)."""

from __future__ import annotations

from typing import Any

from ...search_space.tuning import SearchSpaceTuner

__all__ = ["RandomTuner"]


class RandomTuner(SearchSpaceTuner):
    """``RandomTuner(seed=None)``: every type and nested choice; never repeats a configuration.

    Results are not used (random search has no model), but they are recorded so that a finite
    space is known to be exhausted and replayed configurations are not proposed again.
    """

    algorithm_name = "Random"

    def __init__(self, seed: int | None = None) -> None:
        super().__init__("minimize", seed)

    def _suggest(self, parameter_id: int) -> dict[str, Any] | None:
        assert self.space is not None
        return self.space.sample(self.rng)
