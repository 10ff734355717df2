"""The exact hypervolume's three-objective sweep and the Pareto mask for 3+ objectives, against
definitions computed independently (inclusion-exclusion over the boxes; pairwise dominance)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from nni.objectives import hypervolume, pareto_mask


def union_volume(points: np.ndarray, ref: np.ndarray) -> float:
    """The volume of the union of the boxes [point, ref] by inclusion-exclusion (small sets only)."""
    inside = [p for p in points if np.all(p < ref)]
    total = 0.0
    for size in range(1, len(inside) + 1):
        for subset in itertools.combinations(inside, size):
            corner = np.max(subset, axis=0)
            total += (-1) ** (size + 1) * float(np.prod(np.clip(ref - corner, 0, None)))
    return total


@pytest.mark.parametrize("seed", range(40))
def test_three_objectives_match_inclusion_exclusion(seed):
    rng = np.random.default_rng(seed)
    points = rng.random((int(rng.integers(1, 9)), 3))
    if seed % 3 == 0:
        points = np.round(points, 1)  # ties and duplicates
    if seed % 5 == 0:
        points = np.vstack([points, points[:1]])
    ref = np.array([1.0, 1.1, 0.9])  # some rows outside the reference
    assert hypervolume(points, ref) == pytest.approx(union_volume(points, ref), abs=1e-12)


@pytest.mark.parametrize("columns", [3, 4])
def test_mask_for_three_or_more_objectives_is_pairwise_nondominance(columns):
    rng = np.random.default_rng(columns)
    points = np.round(rng.random((300, columns)), 1)
    dominated = [any(np.all(q <= p) and np.any(q < p) for q in points) for p in points]
    assert pareto_mask(points).tolist() == [not d for d in dominated]


def test_four_objectives_still_slice():
    rng = np.random.default_rng(7)
    points = rng.random((6, 4))
    ref = np.ones(4)
    assert hypervolume(points, ref) == pytest.approx(union_volume(points, ref), abs=1e-12)
