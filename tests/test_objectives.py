"""The one reading of results under objectives and constraints, and the Pareto helpers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nni.objectives import (
    Constraint,
    Objective,
    ObjectiveSpec,
    crowding_distance,
    hypervolume,
    nondominated_ranks,
    pareto_mask,
)

SPEC = ObjectiveSpec((Objective("acc", "maximize"), Objective("lat", "minimize")), (Constraint("mem", max=512),))


def _brute_front(points: np.ndarray) -> np.ndarray:
    return np.array([not any(np.all(q <= p) and np.any(q < p) for q in points) for p in points])


@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_pareto_mask_matches_brute_force_with_ties(m: int) -> None:
    rng = np.random.default_rng(m)
    for _ in range(40):
        points = rng.integers(0, 5, (30, m)).astype(float)
        assert (pareto_mask(points) == _brute_front(points)).all()


def test_ranks_peel_fronts() -> None:
    points = np.array([[0, 0], [1, 1], [2, 2], [0, 3]], dtype=float)
    assert nondominated_ranks(points).tolist() == [0, 1, 2, 1]


def test_crowding_gives_boundaries_infinity() -> None:
    distance = crowding_distance([[0, 3], [1, 2], [2, 1], [3, 0]])
    assert math.isinf(distance[0]) and math.isinf(distance[3]) and distance[1] == pytest.approx(4 / 3)


@pytest.mark.parametrize("m", [2, 3])
def test_hypervolume_matches_monte_carlo(m: int) -> None:
    rng = np.random.default_rng(7)
    points = rng.random((15, m))
    samples = rng.random((200_000, m)) * 1.1
    dominated = np.zeros(len(samples), dtype=bool)
    for point in points:
        dominated |= np.all(samples >= point, axis=1)
    assert hypervolume(points, [1.1] * m) == pytest.approx(dominated.mean() * 1.1 ** m, rel=0.02)


def test_hypervolume_of_points_beyond_the_reference_is_zero() -> None:
    assert hypervolume([[2.0, 0.5]], [1.0, 1.0]) == 0.0
    assert hypervolume([[0.5, 0.5]], [1.0, 1.0]) == pytest.approx(0.25)


def test_evaluate_negates_maximised_objectives_and_sums_violations() -> None:
    evaluation = SPEC.evaluate({"acc": 0.9, "lat": 3, "mem": 600})
    assert evaluation.losses == (-0.9, 3.0) and evaluation.violation == 88.0
    assert evaluation.usable and not evaluation.feasible
    assert SPEC.evaluate({"acc": 0.9, "lat": 3, "mem": 100}).feasible


@pytest.mark.parametrize(("value", "reason"), [
    ({"acc": 0.9}, "no objective key 'lat'"),
    ({"acc": 0.9, "lat": 1}, "no constraint key 'mem'"),
    ({"acc": float("nan"), "lat": 1, "mem": 1}, "'acc' is not a finite number"),
    ({"acc": 10 ** 400, "lat": 1, "mem": 1}, "'acc' is not a finite number"),
    (0.5, "needs a dict result"),
])
def test_unusable_results_say_why(value: object, reason: str) -> None:
    evaluation = SPEC.evaluate(value)
    assert not evaluation.usable and reason in (evaluation.reason or "")


def test_single_spec_is_nni_default() -> None:
    spec = ObjectiveSpec.single("minimize")
    assert spec.is_default and not spec.is_multi
    assert spec.evaluate(0.25).losses == (0.25,)
    assert spec.evaluate({"default": 2, "other": 1}).losses == (2.0,)
