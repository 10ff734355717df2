"""COCO's BBOB suite (24 noiseless functions) as tuner-benchmark problems.

Each problem is one function in one dimension on the box [-5, 5]^d; the instance (a shift and
rotation of the function, with its own optimum) is chosen by the seed, so that seeds see different
instances. Regret is f(best) - f_opt, with f_opt read by evaluating the instance's optimum, which
``cocoex`` writes out on request (its Python interface exposes no f_opt attribute).
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import numpy as np
from problems import Problem

__all__ = ["DIMENSIONS", "FUNCTIONS", "GROUPS", "bbob_names", "bbob_problem", "group_of", "parse_name"]

DIMENSIONS = (2, 5, 10, 20)
FUNCTIONS = tuple(range(1, 25))
GROUPS: dict[str, tuple[int, ...]] = {
    "separable": (1, 2, 3, 4, 5),
    "low-cond": (6, 7, 8, 9),
    "high-cond": (10, 11, 12, 13, 14),
    "multimodal": (15, 16, 17, 18, 19),
    "weak-struct": (20, 21, 22, 23, 24),
}
"""BBOB's five function groups: separable; low/moderate conditioning; high conditioning and
unimodal; multimodal with adequate global structure; multimodal with weak global structure."""

_CACHE: dict[tuple[int, int, int], Problem] = {}


def bbob_names(functions: tuple[int, ...] = FUNCTIONS, dimensions: tuple[int, ...] = DIMENSIONS) -> list[str]:
    """Problem names such as ``bbob_f07_d05``, dimension-major."""
    return [f"bbob_f{f:02d}_d{d:02d}" for d in dimensions for f in functions]


def parse_name(name: str) -> tuple[int, int] | None:
    """(function, dimension) of a BBOB problem name, None for any other name."""
    parts = name.split("_")
    if len(parts) != 3 or parts[0] != "bbob" or not parts[1].startswith("f") or not parts[2].startswith("d"):
        return None
    try:
        function, dimension = int(parts[1][1:]), int(parts[2][1:])
    except ValueError:
        return None
    return (function, dimension) if function in FUNCTIONS and dimension > 1 else None


def group_of(name: str) -> str:
    """The BBOB group a problem name belongs to."""
    parsed = parse_name(name)
    if parsed is None:
        raise ValueError(f"{name!r} is not a BBOB problem name")
    return next(group for group, functions in GROUPS.items() if parsed[0] in functions)


def _optimum(problem: Any) -> float:
    """f_opt of a cocoex problem: evaluate the optimum it writes to the current directory."""
    previous = os.getcwd()
    with tempfile.TemporaryDirectory() as folder:
        os.chdir(folder)
        try:
            problem._best_parameter("print")
            best = np.loadtxt("._bbob_problem_best_parameter.txt", ndmin=1)
        finally:
            os.chdir(previous)
    return float(problem(best))


def bbob_problem(name: str, seed: int) -> Problem:
    """The BBOB problem ``name`` on the instance for ``seed`` (instance seed + 1, cached per process)."""
    import cocoex  # type: ignore[import-untyped]  # cocoex ships no type information

    parsed = parse_name(name)
    if parsed is None:
        raise ValueError(f"{name!r} is not a BBOB problem name")
    function, dimension = parsed
    instance = seed + 1
    key = (function, dimension, instance)
    if key not in _CACHE:
        suite = cocoex.Suite("bbob", f"instances: 1-{max(instance, 15)}",
                             f"function_indices: {function} dimensions: {dimension} instance_indices: {instance}")
        coco = suite.get_problem(0)
        names = [f"x{i}" for i in range(dimension)]

        def objective(params: dict[str, Any], _suite: Any = suite) -> float:
            # the default argument keeps the suite alive: cocoex frees its problems with it
            return float(coco(np.array([params[n] for n in names], dtype=float)))

        space = {n: {"_type": "uniform", "_value": [-5.0, 5.0]} for n in names}
        _CACHE[key] = Problem(name, space, objective, _optimum(coco))
    return _CACHE[key]
