"""Problems of the multi-objective benchmark: COCO bbob-biobj, pymoo ZDT/DTLZ/MW, a mixed ML task.

A problem is made from its name (``coco:f01:d2``, ``zdt1``, ``dtlz2``, ``c2dtlz2``, ``mw2``,
``digits``) in whichever process evaluates it, since COCO's problem objects do not pickle. Every
problem states its parameters once (:class:`Param`) and each method reads them in its own form: an
NNI search space, Optuna distributions, or the unit box that pymoo and random search sample.
Objectives come back in their own direction (``modes``); constraints as values that are feasible
at <= 0, as pymoo and Optuna's ``constraints_func`` take them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

__all__ = ["Param", "MOProblem", "make_problem", "quick_names", "full_names", "nni_space", "from_unit"]


@dataclass(frozen=True)
class Param:
    """One parameter: ``kind`` is float, logfloat, int, logint or choice."""

    name: str
    kind: str
    low: float = 0.0
    high: float = 1.0
    choices: tuple[Any, ...] = ()


@dataclass(frozen=True)
class MOProblem:
    """``evaluate(params) -> (objective values, constraint values)``; ``reference`` is in loss form
    (maximised objectives negated), the fixed point hypervolume is measured against."""

    name: str
    family: str
    params: tuple[Param, ...]
    modes: tuple[str, ...]
    n_constraints: int
    evaluate: Callable[[dict[str, Any]], tuple[list[float], list[float]]]
    reference: tuple[float, ...]
    front: np.ndarray | None = None
    """Points of the true Pareto front in loss form, where pymoo knows it (for the best known HV)."""

    def losses(self, values: list[float]) -> list[float]:
        return [-v if mode == "maximize" else v for v, mode in zip(values, self.modes, strict=True)]


def nni_space(params: tuple[Param, ...]) -> dict[str, Any]:
    """The NNI search space of ``params`` (log integers as ``qloguniform`` with q = 1)."""
    kinds = {"float": "uniform", "logfloat": "loguniform", "int": "randint", "logint": "qloguniform"}
    space: dict[str, Any] = {}
    for p in params:
        if p.kind == "choice":
            space[p.name] = {"_type": "choice", "_value": list(p.choices)}
        elif p.kind == "int":
            space[p.name] = {"_type": "randint", "_value": [p.low, p.high + 1]}
        elif p.kind == "logint":
            space[p.name] = {"_type": "qloguniform", "_value": [p.low, p.high, 1]}
        else:
            space[p.name] = {"_type": kinds[p.kind], "_value": [p.low, p.high]}
    return space


def from_unit(params: tuple[Param, ...], unit: np.ndarray) -> dict[str, Any]:
    """Parameters from a point of the unit box (for pymoo and random search)."""
    out: dict[str, Any] = {}
    for p, u in zip(params, np.clip(unit, 0.0, 1.0), strict=True):
        if p.kind == "choice":
            out[p.name] = p.choices[min(int(u * len(p.choices)), len(p.choices) - 1)]
        elif p.kind == "float":
            out[p.name] = float(p.low + u * (p.high - p.low))
        elif p.kind == "logfloat":
            out[p.name] = float(math.exp(math.log(p.low) + u * (math.log(p.high) - math.log(p.low))))
        elif p.kind == "int":
            out[p.name] = int(min(p.low + math.floor(u * (p.high - p.low + 1)), p.high))
        else:
            out[p.name] = int(round(math.exp(math.log(p.low) + u * (math.log(p.high) - math.log(p.low)))))
    return out


def _box(dim: int, low: float = 0.0, high: float = 1.0) -> tuple[Param, ...]:
    return tuple(Param(f"x{i}", "float", low, high) for i in range(dim))


def _vector(params: dict[str, Any], dim: int) -> np.ndarray:
    return np.array([float(params[f"x{i}"]) for i in range(dim)])


COCO_FUNCTIONS_QUICK = (1, 10, 28, 46)
COCO_DIMS = (2, 5, 10)


def _coco(function: int, dim: int) -> MOProblem:
    import cocoex

    suite = cocoex.Suite("bbob-biobj", "", f"function_indices:{function} dimensions:{dim} instance_indices:1")
    problem = suite[0]
    nadir = tuple(float(v) for v in problem.largest_fvalues_of_interest)

    def evaluate(params: dict[str, Any]) -> tuple[list[float], list[float]]:
        return [float(v) for v in problem(_vector(params, dim))], []

    # the region of interest is [-5, 5]^d; COCO's own hypervolume is measured against the nadir point
    return MOProblem(f"coco:f{function:02d}:d{dim}", "coco", _box(dim, -5.0, 5.0), ("minimize",) * 2, 0,
                     evaluate, nadir)


_PYMOO: dict[str, tuple[str, dict[str, Any], tuple[float, ...], bool]] = {
    # name: (pymoo name, arguments, reference point, whether the front is computed locally)
    "zdt1": ("zdt1", {"n_var": 10}, (1.1, 11.0), True),
    "zdt2": ("zdt2", {"n_var": 10}, (1.1, 11.0), True),
    "zdt3": ("zdt3", {"n_var": 10}, (1.1, 11.0), True),
    "dtlz2": ("dtlz2", {"n_var": 12, "n_obj": 3}, (2.0, 2.0, 2.0), True),
    "c2dtlz2": ("c2dtlz2", {"n_var": 12, "n_obj": 3}, (1.2, 1.2, 1.2), False),
    "mw1": ("mw1", {"n_var": 6}, (1.2, 2.0), False),
    "mw2": ("mw2", {"n_var": 6}, (1.2, 2.0), False),
    "mw3": ("mw3", {"n_var": 6}, (1.2, 2.0), False),
}


def _pymoo(name: str) -> MOProblem:
    from pymoo.problems import get_problem

    pymoo_name, kwargs, reference, local_front = _PYMOO[name]
    problem = get_problem(pymoo_name, **kwargs)
    dim = int(problem.n_var)
    n_constraints = int(problem.n_ieq_constr)

    def evaluate(params: dict[str, Any]) -> tuple[list[float], list[float]]:
        out = problem.evaluate(_vector(params, dim)[None, :], return_as_dictionary=True)
        g = [] if n_constraints == 0 else [float(v) for v in np.ravel(out["G"])]
        return [float(v) for v in np.ravel(out["F"])], g

    front = np.asarray(problem.pareto_front(), dtype=float) if local_front else None
    family = "constrained" if n_constraints else "pymoo"
    return MOProblem(name, family, _box(dim, float(problem.xl[0]), float(problem.xu[0])),
                     ("minimize",) * int(problem.n_obj), n_constraints, evaluate, reference, front)


DIGITS_PARAMS = (
    Param("n_estimators", "logint", 1, 32),
    Param("max_depth", "int", 1, 16),
    Param("min_samples_leaf", "logint", 1, 32),
    Param("max_features", "choice", choices=("sqrt", "log2", "half")),
    Param("criterion", "choice", choices=("gini", "entropy")),
    Param("ccp_alpha", "logfloat", 1e-5, 1e-1),
)


@lru_cache(maxsize=1)
def _digits_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    return tuple(train_test_split(x, y, test_size=0.3, random_state=0, stratify=y))  # type: ignore[return-value]


def _digits() -> MOProblem:
    """A random forest on sklearn's digits: validation accuracy (max) against log10 of its node count (min)."""
    from sklearn.ensemble import RandomForestClassifier

    def evaluate(params: dict[str, Any]) -> tuple[list[float], list[float]]:
        x_train, x_valid, y_train, y_valid = _digits_split()
        features = 0.5 if params["max_features"] == "half" else params["max_features"]
        model = RandomForestClassifier(n_estimators=int(params["n_estimators"]), max_depth=int(params["max_depth"]),
                                       min_samples_leaf=int(params["min_samples_leaf"]), max_features=features,
                                       criterion=params["criterion"], ccp_alpha=float(params["ccp_alpha"]),
                                       random_state=0, n_jobs=1).fit(x_train, y_train)
        nodes = sum(tree.tree_.node_count for tree in model.estimators_)
        return [float(model.score(x_valid, y_valid)), math.log10(nodes)], []

    return MOProblem("digits", "ml", DIGITS_PARAMS, ("maximize", "minimize"), 0, evaluate, (0.0, 4.5))


def make_problem(name: str) -> MOProblem:
    """The problem of a benchmark name."""
    if name.startswith("coco:"):
        _, function, dim = name.split(":")
        return _coco(int(function[1:]), int(dim[1:]))
    if name == "digits":
        return _digits()
    if name in _PYMOO:
        return _pymoo(name)
    raise ValueError(f"unknown problem {name!r}")


def quick_names() -> list[str]:
    """The --quick set: 10 COCO problems, ZDT1-3, DTLZ2, digits and three constrained ones."""
    coco = [f"coco:f{f:02d}:d{d}" for d in (2, 5) for f in COCO_FUNCTIONS_QUICK]
    coco += [f"coco:f{f:02d}:d10" for f in (1, 28)]
    return [*coco, "zdt1", "zdt2", "zdt3", "dtlz2", "digits", "c2dtlz2", "mw2", "mw3"]


def full_names() -> list[str]:
    """Every bbob-biobj function at d = 2, 5, 10, and every pymoo and ML problem above."""
    coco = [f"coco:f{f:02d}:d{d}" for d in COCO_DIMS for f in range(1, 56)]
    return [*coco, *_PYMOO, "digits"]
