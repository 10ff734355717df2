"""Grid search (NNI's ``GridSearch``), with NNI 3.0's progressive grid for numeric ranges.

Choices and randint are enumerated in full. A numeric parameter starts with the middle of its
range (in the unit encoding: the median of a normal, the geometric middle of a log range) and
every time the whole grid has been walked, each interval is halved: 1/2, then 1/4 and 3/4, then
1/8, 3/8, ... Each round proposes only combinations it has not proposed before. A q-uniform range
has finitely many values: it is halved over their list, so all of them (clipped ends included)
come up and the search ends with NoMoreTrialError; continuous ranges never run out. Nested
choices are walked inside their own option only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import numpy as np

from ...search_space.tuning import SearchSpaceTuner

__all__ = ["GridSearchTuner"]

_logger = logging.getLogger(__name__)


class GridSearchTuner(SearchSpaceTuner):
    """``GridSearchTuner(optimize_mode=None)``; NNI 3.0 takes no argument, the mode is ignored."""

    algorithm_name = "GridSearch"
    supports_objectives = True  # proposals never depend on results
    supports_constraints = True
    exhaustive = True

    def __init__(self, optimize_mode: str | None = None) -> None:
        super().__init__(optimize_mode or "minimize", 0)
        self._grid: list[list[float]] = []
        """Per column: the unit coordinates (or option indices) of the grid so far."""
        self._finite: list[list[Any] | None] = []
        self._values: list[set[Any]] = []
        self._level = 0
        self._bar: list[int] = []
        """Per column: how many grid values existed in earlier rounds."""
        self._walk: Iterator[np.ndarray] | None = None
        self._done = False

    def _on_space_updated(self) -> None:
        space = self.space
        assert space is not None
        self._grid, self._finite, self._values = [], [], []
        for spec in space.params:
            if spec.is_categorical:
                self._grid.append([float(i) for i in range(spec.n_choices)])
                self._finite.append(None)
            elif spec.integer:
                size = int(spec.high - spec.low)
                self._grid.append([(i + 0.5) / size for i in range(size)])
                self._finite.append(None)
            else:
                self._grid.append([])
                self._finite.append(spec.grid)
            self._values.append(set())
        self._level = 0
        self._subdivide()
        self._bar = [0] * space.dim
        self._walk = self._walk_epoch()
        self._done = False

    def _suggest(self, parameter_id: int) -> dict[str, Any] | None:
        assert self.space is not None and self._walk is not None
        while not self._done:
            for vector in self._walk:
                return self.space.decode(vector)
            self._bar = [len(values) for values in self._grid]
            if not self._subdivide():
                self._done = True
                _logger.info("GridSearch: search space fully explored")
                break
            self._walk = self._walk_epoch()
        return None

    def _subdivide(self) -> bool:
        """Add the next dyadic level (1/2; 1/4, 3/4; 1/8, ...) to every numeric parameter.

        A finite numeric range (q-uniform types) walks the indices of its value list, so every
        value, the clipped ends included, is reached and the walk ends; an unbounded q-type adds
        only coordinates that round to a value not seen yet. False when nothing was added.
        """
        assert self.space is not None
        updated = False
        while not updated:
            self._level += 1
            if self._level > 60:
                return False
            pending = False
            coords = [(2 * j + 1) / 2 ** self._level for j in range(2 ** (self._level - 1))]
            for spec, values, finite, seen in zip(self.space.params, self._grid, self._finite, self._values,
                                                  strict=True):
                if spec.is_categorical or spec.integer:
                    continue
                if finite is not None:
                    if len(seen) == len(finite):
                        continue
                    for u in coords:
                        index = round(u * (len(finite) - 1))
                        if index not in seen:
                            seen.add(index)
                            values.append(spec.to_unit(finite[index]))
                            updated = True
                    pending = pending or len(seen) < len(finite)
                    continue
                pending = True
                for u in coords:
                    value = spec.from_unit(u)
                    if spec.q is None or value not in seen:
                        seen.add(value)
                        values.append(u)
                        updated = True
            if not pending:
                return updated
        return updated

    def _walk_epoch(self) -> Iterator[np.ndarray]:
        """Every grid vector of this round with at least one value new in this round.

        A depth-first walk over the columns, first column outermost, on an explicit stack of
        frames ``[columns still to fill, fresh, next position]`` (a recursion overflows Python's
        stack at about a thousand parameters). One vector is filled in place; a frame clears its
        column when done, so an option's nested columns are NaN under the other options. The
        columns to fill are a linked list, so a chosen option's nested columns go in front in O(1).
        """
        assert self.space is not None
        space = self.space
        todo: _Columns = None
        for column in reversed([spec.index for spec in space.top_level]):
            todo = (column, todo)
        vector = np.full(space.dim, np.nan)
        stack: list[list[Any]] = [[todo, False, 0]]
        while stack:
            frame = stack[-1]
            todo, fresh, position = frame
            if todo is None:
                stack.pop()
                if fresh or not any(self._bar):
                    yield vector.copy()
                continue
            column, after = todo
            values = self._grid[column]
            if position == len(values):
                vector[column] = np.nan
                stack.pop()
                continue
            frame[2] = position + 1
            value = values[position]
            vector[column] = value
            spec = space.params[column]
            for nested in reversed([c for c in spec.children if space.params[c].condition == (column, int(value))]):
                after = (nested, after)
            stack.append([after, fresh or position >= self._bar[column], 0])


_Columns = tuple[int, "_Columns"] | None
"""The columns a walk still has to fill: ``(first, rest)``, or None when none is left."""
