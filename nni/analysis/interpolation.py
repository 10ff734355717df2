"""A smooth surface through scattered points: the contour view of a metric over two parameters."""

from __future__ import annotations

from typing import Any

import numpy as np

from .table import TrialTable

__all__ = ["interpolate", "contour"]


def interpolate(x: np.ndarray, y: np.ndarray, z: np.ndarray, size: int) -> dict[str, Any]:
    """Inverse-distance-weighted surface of ``z`` over a ``size``×``size`` grid spanning the points."""
    if x.size == 0:
        return {"x": [], "y": [], "z": []}

    def axis(v: np.ndarray) -> np.ndarray:
        low, high = float(v.min()), float(v.max())
        if high == low:
            high = low + 1.0
        return np.linspace(low, high, size)

    gx, gy = axis(x), axis(y)
    sx = (gx[-1] - gx[0]) or 1.0
    sy = (gy[-1] - gy[0]) or 1.0
    px, py = np.meshgrid(gx, gy)
    dx = (px.reshape(-1, 1) - x.reshape(1, -1)) / sx
    dy = (py.reshape(-1, 1) - y.reshape(1, -1)) / sy
    weights = 1.0 / (dx * dx + dy * dy + 1e-6)
    grid = (weights @ z) / weights.sum(axis=1)
    return {"x": gx.tolist(), "y": gy.tolist(), "z": grid.reshape(size, size).tolist(),
            "zMin": float(z.min()), "zMax": float(z.max())}


def contour(table: TrialTable, key: str, names: tuple[str, str], search_space: Any, max_points: int,
            size: int) -> dict[str, Any]:
    """The contour view of final ``key`` over two parameters: axes, an interpolated grid and the points.

    Numeric axes of log-sampled parameters (all positive) are in log10; categorical axes use the
    category's index. Trials missing either parameter are left out.
    """
    chosen, values = table.ranked(key, 1.0, "maximize", max_points)
    columns = {c["name"]: c for c in table.columns(chosen, search_space)}
    axes = []
    coords = []
    for name in names:
        column = columns[name]
        if column["type"] == "numeric":
            data = np.array([np.nan if v is None else v for v in column["values"]], dtype=float)
            log = column["log"] and np.nanmin(data, initial=1.0) > 0 if data.size else False
            axes.append({"name": name, "type": "numeric", "log": bool(log)})
            coords.append(np.log10(data) if log else data)
        else:
            index = {c: n for n, c in enumerate(column["categories"])}
            axes.append({"name": name, "type": "categorical", "categories": column["categories"]})
            coords.append(np.array([np.nan if v is None else index[v] for v in column["values"]], dtype=float))
    z = np.array(values, dtype=float)
    ok = ~(np.isnan(coords[0]) | np.isnan(coords[1]))
    grid = interpolate(coords[0][ok], coords[1][ok], z[ok], size)
    points = [[float(a), float(b), float(c), table.trials[i].trial_id]
              for a, b, c, i, good in zip(coords[0], coords[1], z, chosen, ok, strict=True) if good]
    return {"key": key, "axes": axes, "grid": grid, "points": points}
