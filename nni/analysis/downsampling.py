"""Curves cut to a drawable number of points without hiding their peaks."""

from __future__ import annotations

__all__ = ["downsample"]


def downsample(points: list[tuple[float, float]], limit: int) -> list[tuple[float, float]]:
    """At most ``limit`` points keeping each bucket's minimum and maximum (peaks stay visible)."""
    if len(points) <= limit or limit < 4:
        return points[:max(limit, 0)] if limit < 4 else points
    buckets = limit // 2
    size = len(points) / buckets
    out: list[tuple[float, float]] = []
    for b in range(buckets):
        chunk = points[int(b * size):int((b + 1) * size)]
        if not chunk:
            continue
        low = min(range(len(chunk)), key=lambda i: chunk[i][1])
        high = max(range(len(chunk)), key=lambda i: chunk[i][1])
        for i in sorted({low, high}):
            out.append(chunk[i])
    return out
