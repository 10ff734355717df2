"""Exact expected hypervolume improvement (EHVI) of two independent Gaussian objectives.

The region a new point ``y`` adds to a two-objective front (both minimised, bounded by a
reference point) is a sum over the front's staircase cells ``[L_j, R_j) x (-inf, H_j)`` of
``(R_j - max(L_j, y1))+ * (H_j - y2)+``. With independent posteriors the expectation of each
product factorises into two one-dimensional expected improvements, so EHVI and its gradient are
closed form and smooth (Emmerich et al. 2006, in its simplest 2-D form).
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from ...objectives import pareto_mask

__all__ = ["log_ehvi_2d", "staircase"]

_SQRT_2PI = float(np.sqrt(2.0 * np.pi))
_TINY = 1e-300


def staircase(front: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The cells (left, right, height) of the region not dominated by ``front`` (k, 2) inside the
    reference box; the first cell starts at minus infinity."""
    inside = front[np.all(front < reference, axis=1)] if len(front) else front.reshape(0, 2)
    if len(inside):
        inside = inside[pareto_mask(inside)]
        inside = np.unique(inside, axis=0)
        inside = inside[np.argsort(inside[:, 0], kind="stable")]
    left = np.concatenate([[-np.inf], inside[:, 0]])
    right = np.concatenate([inside[:, 0], [reference[0]]])
    height = np.concatenate([[reference[1]], inside[:, 1]])
    return left, right, height


def _improvement(bound: np.ndarray, mean: np.ndarray, std: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """E[(bound - y)+] for y ~ N(mean, std) per (point, cell), and its derivatives in mean and std."""
    with np.errstate(invalid="ignore"):
        u = (bound[None, :] - mean[:, None]) / std[:, None]
    finite = np.isfinite(u)
    u = np.where(finite, u, -np.inf)
    cdf = ndtr(u)
    pdf = np.where(finite, np.exp(-0.5 * np.where(finite, u, 0.0) ** 2) / _SQRT_2PI, 0.0)
    value = np.where(finite, std[:, None] * (np.where(finite, u, 0.0) * cdf + pdf), 0.0)
    return value, -cdf, pdf


def log_ehvi_2d(mean: np.ndarray, std: np.ndarray, cells: tuple[np.ndarray, np.ndarray, np.ndarray],
                d_mean: np.ndarray | None = None, d_std: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray | None]:
    """log EHVI of each row of ``mean``/``std`` (n, 2) over the cells of :func:`staircase`; with
    ``d_mean``/``d_std`` (n, 2, d), also its gradient (n, d). Far from any improvement the value
    is floored (log 1e-300) and its gradient zero."""
    left, right, height = cells
    e_right, dm_right, ds_right = _improvement(right, mean[:, 0], std[:, 0])
    e_left, dm_left, ds_left = _improvement(left, mean[:, 0], std[:, 0])
    e_height, dm_height, ds_height = _improvement(height, mean[:, 1], std[:, 1])
    width = np.maximum(e_right - e_left, 0.0)
    ehvi = (width * e_height).sum(axis=1)
    value = np.log(np.maximum(ehvi, _TINY))
    if d_mean is None or d_std is None:
        return value, None
    g_mean0 = ((dm_right - dm_left) * e_height).sum(axis=1)
    g_std0 = ((ds_right - ds_left) * e_height).sum(axis=1)
    g_mean1 = (width * dm_height).sum(axis=1)
    g_std1 = (width * ds_height).sum(axis=1)
    grad = (g_mean0[:, None] * d_mean[:, 0] + g_std0[:, None] * d_std[:, 0]
            + g_mean1[:, None] * d_mean[:, 1] + g_std1[:, None] * d_std[:, 1])
    scale = np.where(ehvi > _TINY, 1.0 / np.maximum(ehvi, _TINY), 0.0)
    return value, grad * scale[:, None]
