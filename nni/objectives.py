"""Several objectives and constraints: what a reported result means under them, and the Pareto front.

NNI optimises one number (the ``default`` key, in ``optimize_mode``). An experiment whose config
names ``objectives`` (and optionally ``constraints``) optimises several: a trial reports one dict
holding every key, :meth:`ObjectiveSpec.evaluate` turns it into a loss vector (every objective
minimised inside; maximised ones are negated) plus a constraint violation, and the helpers below
rank such vectors. Engine, storage readers, tuners and the web UI all use this one reading, so a
trial is feasible, usable or on the front in exactly one sense everywhere.

Without ``objectives`` the spec is :meth:`ObjectiveSpec.single`: the ``default`` metric in the
tuner's optimize mode, NNI's behaviour unchanged.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .metrics import metric_number, not_a_number_reason, short_repr

__all__ = [
    "MODES", "Objective", "Constraint", "ObjectiveSpec", "Evaluation",
    "pareto_mask", "nondominated_ranks", "crowding_distance", "hypervolume",
]

MODES = ("maximize", "minimize")


@dataclass(frozen=True)
class Objective:
    """One metric key to optimise, and in which direction."""

    metric: str
    mode: str = "maximize"


@dataclass(frozen=True)
class Constraint:
    """A metric key that must stay within ``[min, max]`` (either bound may be absent, not both)."""

    metric: str
    min: float | None = None
    max: float | None = None

    def violation(self, number: float) -> float:
        """How far ``number`` is outside the bounds (0 when within)."""
        if self.min is not None and number < self.min:
            return self.min - number
        if self.max is not None and number > self.max:
            return number - self.max
        return 0.0


@dataclass(frozen=True)
class Evaluation:
    """A result read under a spec.

    ``losses`` is None when the result is unusable (``reason`` says why); a usable result is
    feasible when ``violation`` is 0 (the sum of every constraint's distance to its bounds).
    """

    losses: tuple[float, ...] | None
    violation: float = 0.0
    reason: str | None = None

    @property
    def usable(self) -> bool:
        return self.losses is not None

    @property
    def feasible(self) -> bool:
        return self.losses is not None and self.violation == 0.0


@dataclass(frozen=True)
class ObjectiveSpec:
    """The objectives (at least one) and constraints of an experiment."""

    objectives: tuple[Objective, ...]
    constraints: tuple[Constraint, ...] = ()

    @classmethod
    def single(cls, mode: str = "maximize") -> ObjectiveSpec:
        """NNI's own setting: the ``default`` metric in ``mode``."""
        return cls((Objective("default", mode),))

    @property
    def metrics(self) -> tuple[str, ...]:
        """The objective keys, in order."""
        return tuple(objective.metric for objective in self.objectives)

    @property
    def is_multi(self) -> bool:
        return len(self.objectives) > 1

    @property
    def is_default(self) -> bool:
        """True for NNI's setting (one ``default`` objective, no constraints)."""
        return self.metrics == ("default",) and not self.constraints

    def evaluate(self, value: Any) -> Evaluation:
        """Read a reported final result (a dict, or a scalar for a lone ``default`` objective)."""
        losses = []
        for objective in self.objectives:
            number = metric_number(value, objective.metric)
            if number is None:
                return Evaluation(None, reason=_missing(value, objective.metric, "objective"))
            losses.append(-number if objective.mode == "maximize" else number)
        violation = 0.0
        for constraint in self.constraints:
            number = metric_number(value, constraint.metric)
            if number is None:
                return Evaluation(None, reason=_missing(value, constraint.metric, "constraint"))
            violation += constraint.violation(number)
        return Evaluation(tuple(losses), violation)


def _missing(value: Any, key: str, role: str) -> str:
    if key == "default" and role == "objective":
        return not_a_number_reason(value) or ""
    if not isinstance(value, dict):
        return f"the {role} '{key}' needs a dict result, got {short_repr(value)}"
    if key not in value:
        return f"the result has no {role} key '{key}'"
    return f"the {role} '{key}' is not a finite number: {short_repr(value[key])}"


def _as_matrix(losses: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    matrix = np.asarray(losses, dtype=float)
    return matrix.reshape(len(matrix), -1) if matrix.size else np.zeros((len(matrix), 0))


def pareto_mask(losses: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    """Which rows are not dominated by any other row (all objectives minimised).

    Duplicates of a front point are all on the front. O(n log n) for two objectives; otherwise
    O(n * front size): the row of least sum among those left is never dominated, so it joins the
    front and takes every row it dominates out.
    """
    points = _as_matrix(losses)
    n = len(points)
    mask = np.zeros(n, dtype=bool)
    if n == 0:
        return mask
    if points.shape[1] == 1:
        return points[:, 0] == points[:, 0].min()
    if points.shape[1] == 2:
        order = np.lexsort((points[:, 1], points[:, 0]))
        best_second = math.inf
        previous: tuple[float, float] | None = None
        for index in order:
            first, second = points[index]
            if second < best_second:
                mask[index] = True
                best_second = second
                previous = (first, second)
            elif previous == (first, second):
                mask[index] = True
        return mask
    # Sorted by sum once: the first row left is then the pivot, and what is left stays sorted.
    left = np.argsort(points.sum(axis=1), kind="stable")
    rows = points[left]
    while len(left):
        covered = np.all(rows[0] <= rows, axis=1)
        mask[left[covered & np.all(rows == rows[0], axis=1)]] = True
        left, rows = left[~covered], rows[~covered]
    return mask


def nondominated_ranks(losses: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    """Each row's front: 0 for the Pareto front, 1 for the front once that is removed, and so on."""
    points = _as_matrix(losses)
    ranks = np.full(len(points), -1, dtype=int)
    remaining = np.arange(len(points))
    rank = 0
    while len(remaining):
        front = pareto_mask(points[remaining])
        ranks[remaining[front]] = rank
        remaining = remaining[~front]
        rank += 1
    return ranks


def crowding_distance(losses: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    """NSGA-II's crowding distance of each row within its set (boundary points get infinity)."""
    points = _as_matrix(losses)
    n, m = points.shape
    distance = np.zeros(n)
    if n <= 2:
        return np.full(n, math.inf)
    for column in range(m):
        order = np.argsort(points[:, column], kind="stable")
        values = points[order, column]
        span = values[-1] - values[0]
        distance[order[0]] = distance[order[-1]] = math.inf
        if span > 0:
            distance[order[1:-1]] += (values[2:] - values[:-2]) / span
    return distance


def hypervolume(losses: Sequence[Sequence[float]] | np.ndarray, reference: Sequence[float]) -> float:
    """The volume dominated by the rows and bounded by ``reference`` (all objectives minimised).

    Rows not strictly better than the reference in every objective add nothing. Exact: a sweep for
    one or two objectives, a sweep over the third keeping the two-objective staircase for three
    (O(n log n) plus the staircase's updates), slicing on the last objective above that (fine for
    fronts of hundreds).
    """
    points = _as_matrix(losses)
    ref = np.asarray(reference, dtype=float)
    if len(points) == 0:
        return 0.0
    points = points[np.all(points < ref, axis=1)]
    if len(points) == 0:
        return 0.0
    if points.shape[1] > 3:  # the sweeps below skip dominated rows and duplicates themselves
        points = np.unique(points[pareto_mask(points)], axis=0)
    return _hv(points, ref)


def _hv(points: np.ndarray, ref: np.ndarray) -> float:
    m = points.shape[1]
    if m == 1:
        return float(ref[0] - points[:, 0].min())
    if m == 2:
        order = np.argsort(points[:, 0], kind="stable")
        volume, best_second = 0.0, ref[1]
        for first, second in points[order]:
            if second < best_second:
                volume += (ref[0] - first) * (best_second - second)
                best_second = second
        return float(volume)
    if m == 3:
        return _hv3(points, ref)
    order = np.argsort(points[:, -1], kind="stable")
    sorted_points = points[order]
    volume = 0.0
    for index in range(len(sorted_points)):
        upper = sorted_points[index + 1, -1] if index + 1 < len(sorted_points) else ref[-1]
        depth = upper - sorted_points[index, -1]
        if depth <= 0:
            continue
        layer = sorted_points[: index + 1, :-1]
        volume += depth * _hv(layer[pareto_mask(layer)], ref[:-1])
    return float(volume)


def _hv3(points: np.ndarray, ref: np.ndarray) -> float:
    """Three objectives: rows in order of the third; the area the first two dominate so far (a
    staircase sorted by the first, y falling, kept with its area as rows join) times each slab's depth."""
    order = np.argsort(points[:, 2], kind="stable")
    xs: list[float] = []
    ys: list[float] = []
    area = volume = previous_z = 0.0
    rx, ry = float(ref[0]), float(ref[1])
    for x, y, z in points[order].tolist():
        volume += area * (z - previous_z)
        previous_z = z
        at = bisect.bisect_left(xs, x)
        if (at and ys[at - 1] <= y) or (at < len(xs) and xs[at] == x and ys[at] <= y):
            continue  # the staircase covers (x, y) already
        end = at  # rows from ``at`` on with y at least the new one's: the new row covers them
        while end < len(xs) and ys[end] >= y:
            end += 1
        right = xs[end] if end < len(xs) else rx
        top = ys[at - 1] if at else ry
        old = ((xs[at] if at < end else right) - x) * (ry - top)
        for k in range(at, end):
            old += ((xs[k + 1] if k + 1 < end else right) - xs[k]) * (ry - ys[k])
        area += (right - x) * (ry - y) - old
        xs[at:end] = [x]
        ys[at:end] = [y]
    return float(volume + area * (float(ref[2]) - previous_z))
