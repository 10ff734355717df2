"""How much each parameter matters for a metric: random-forest importance, in numpy alone."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from .flattening import category_label
from .table import TrialTable

__all__ = ["forest_importance", "parameter_importance"]


def forest_importance(x: np.ndarray, y: np.ndarray, categorical: Iterable[bool], n_trees: int = 24,
                      max_depth: int = 6, min_leaf: int = 3, max_rows: int = 2000, seed: int = 0) -> np.ndarray:
    """Random-forest mean-decrease-in-impurity importance of each column of ``x`` for ``y``.

    Each tree is grown on a bootstrap sample with the categories of categorical columns put in a
    fresh random order, so no artificial order of categories is learned. Returns shares summing to
    1 (all zero when ``y`` is constant).
    """
    rng = np.random.default_rng(seed)
    n, d = x.shape
    categorical = list(categorical)
    gains = np.zeros(d)
    if n < 2 * min_leaf or d == 0 or float(np.var(y)) == 0.0:
        return gains
    sample = min(n, max_rows)
    for _ in range(n_trees):
        rows = rng.integers(0, n, size=sample)
        xt = x[rows].copy()
        yt = y[rows]
        for j in range(d):
            if categorical[j]:
                codes = xt[:, j].astype(int)
                xt[:, j] = rng.permutation(int(codes.max()) + 1)[codes]
        stack: list[tuple[np.ndarray, int]] = [(np.arange(sample), 0)]
        while stack:
            idx, depth = stack.pop()
            if depth >= max_depth or idx.size < 2 * min_leaf:
                continue
            ys = yt[idx]
            parent = float(np.sum((ys - ys.mean()) ** 2))
            if parent <= 0.0:
                continue
            best = (0.0, -1, 0.0)
            for j in range(d):
                col = xt[idx, j]
                order = np.argsort(col, kind="stable")
                cs, ysorted = col[order], ys[order]
                s1 = np.cumsum(ysorted)
                s2 = np.cumsum(ysorted ** 2)
                left = np.arange(1, idx.size)
                valid = (cs[1:] != cs[:-1]) & (left >= min_leaf) & (idx.size - left >= min_leaf)
                if not valid.any():
                    continue
                sl, ql = s1[:-1], s2[:-1]
                sr, qr = s1[-1] - sl, s2[-1] - ql
                right = idx.size - left
                sse = (ql - sl ** 2 / left) + (qr - sr ** 2 / right)
                sse = np.where(valid, sse, np.inf)
                k = int(np.argmin(sse))
                gain = parent - float(sse[k])
                if gain > best[0]:
                    best = (gain, j, float((cs[k] + cs[k + 1]) / 2))
            gain, j, threshold = best
            if j < 0:
                continue
            gains[j] += gain
            mask = xt[idx, j] <= threshold
            stack.append((idx[mask], depth + 1))
            stack.append((idx[~mask], depth + 1))
    total = gains.sum()
    return gains / total if total > 0 else gains


def parameter_importance(table: TrialTable, key: str) -> list[dict[str, Any]]:
    """``[{'param', 'importance'}]``, most important first, for final ``key`` (empty under 4 trials).

    Categorical values are coded 1..n; a parameter missing from some trials (a nested choice)
    sorts before every present value.
    """
    scored = table.scored(key)
    if len(scored) < 4 or not table.param_keys:
        return []
    rows = [i for i, _ in scored]
    columns = []
    categorical = []
    for name in table.param_keys:
        raw = [table.flat[i].get(name) for i in rows]
        if table.numeric_params.get(name):
            columns.append([np.nan if v is None else float(v) for v in raw])
            categorical.append(False)
        else:
            labels = sorted({category_label(v) for v in raw if v is not None})
            index = {c: n + 1 for n, c in enumerate(labels)}
            columns.append([0 if v is None else index[category_label(v)] for v in raw])
            categorical.append(True)
    x = np.array(columns, dtype=float).T
    for j in range(x.shape[1]):
        col = x[:, j]
        if np.isnan(col).any():
            col[np.isnan(col)] = (np.nanmin(col) - 1.0) if not np.isnan(col).all() else 0.0
    y = np.array([v for _, v in scored], dtype=float)
    shares = forest_importance(x, y, categorical)
    ranked = sorted(zip(table.param_keys, (float(s) for s in shares), strict=True), key=lambda pair: -pair[1])
    return [{"param": name, "importance": share} for name, share in ranked]
