"""Benchmark problems for the tuner benchmark: NNI search spaces, objectives (minimised), optima.

Standalone on purpose (numpy and scikit-learn only, no ``nni`` import) so that the NNI 3.0
subprocess in its own virtualenv can import it too.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Problem", "PROBLEMS", "HEADLINE", "get_problem", "apply_q"]


@dataclass(frozen=True)
class Problem:
    """A minimisation problem: ``objective(params)`` on an NNI search space with a known optimum."""

    name: str
    space: dict[str, Any]
    objective: Callable[[dict[str, Any]], float]
    optimum: float
    """The best value (known analytically, or the best ever found for the real task)."""


def apply_q(value: float, low: float, high: float, q: float) -> float:
    """NNI's q-rounding with clipping, for peers that sample q-types continuously."""
    return float(min(max(round(value / q) * q, low), high))


def _box(names: list[str], low: float, high: float) -> dict[str, Any]:
    return {n: {"_type": "uniform", "_value": [low, high]} for n in names}


def _vec(params: dict[str, Any], dim: int) -> np.ndarray:
    return np.array([params[f"x{i}"] for i in range(dim)], dtype=float)


def branin(params: dict[str, Any]) -> float:
    x1, x2 = params["x0"], params["x1"]
    b, c, r, s, t = 5.1 / (4 * math.pi ** 2), 5 / math.pi, 6.0, 10.0, 1 / (8 * math.pi)
    return (x2 - b * x1 ** 2 + c * x1 - r) ** 2 + s * (1 - t) * math.cos(x1) + s


_H6_A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
                  [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])
_H6_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                         [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])
_H6_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def hartmann6(params: dict[str, Any]) -> float:
    x = _vec(params, 6)
    return float(-np.sum(_H6_ALPHA * np.exp(-np.sum(_H6_A * (x - _H6_P) ** 2, axis=1))))


def rosenbrock(params: dict[str, Any]) -> float:
    x = _vec(params, 5)
    return float(np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2))


def ackley(params: dict[str, Any]) -> float:
    x = _vec(params, 10)
    d = len(x)
    return float(-20 * math.exp(-0.2 * math.sqrt(np.sum(x ** 2) / d))
                 - math.exp(np.sum(np.cos(2 * math.pi * x)) / d) + 20 + math.e)


def levy(params: dict[str, Any]) -> float:
    x = _vec(params, 10)
    w = 1 + (x - 1) / 4
    head = math.sin(math.pi * w[0]) ** 2
    body = np.sum((w[:-1] - 1) ** 2 * (1 + 10 * np.sin(math.pi * w[:-1] + 1) ** 2))
    tail = (w[-1] - 1) ** 2 * (1 + math.sin(2 * math.pi * w[-1]) ** 2)
    return float(head + body + tail)


_MIXED_KINDS = {"linear": (1.5, 0.0), "quadratic": (-2.0, 0.3), "cubic": (3.0, 0.6), "constant": (0.0, 1.2)}


def mixed(params: dict[str, Any]) -> float:
    """Choice shifts where the continuous optimum lies; integers and a log-scale rate interact."""
    centre, offset = _MIXED_KINDS[params["kind"]]
    x, y = params["x"], params["y"]
    layers, units = params["layers"], params["units"]
    lr = math.log10(params["lr"])
    return (offset + 0.3 * (x - centre) ** 2 + 0.2 * (y + 0.5 * x - 1) ** 2
            + 0.15 * (layers - 4) ** 2 + ((units - 96) / 64) ** 2 + 0.5 * (lr + 2.5 + 0.1 * (layers - 4)) ** 2)


def conditional(params: dict[str, Any]) -> float:
    """Nested choice: each model family has its own sub-parameters and its own best value."""
    model, shared = params["model"], params["shared"]
    base = 0.4 * (shared - 0.3) ** 2
    if model["_name"] == "linear":
        return base + 0.5 + (math.log10(model["alpha"]) + 1) ** 2
    if model["_name"] == "tree":
        return base + 0.1 * (model["depth"] - 6) ** 2 + 2 * (model["subsample"] - 0.8) ** 2
    return base + 0.3 + (model["width"] - 0.2) ** 2 + 0.05 * abs(model["layers"] - 3)


_DIABETES: dict[str, Any] = {}


def _diabetes() -> tuple[np.ndarray, np.ndarray]:
    if not _DIABETES:
        from sklearn.datasets import load_diabetes

        features, target = load_diabetes(return_X_y=True)
        _DIABETES["data"] = (features, (target - target.mean()) / target.std())
    return _DIABETES["data"]


def kernel_ridge_diabetes(params: dict[str, Any]) -> float:
    """5-fold CV mean squared error (standardised target) of scaler + SelectKBest + KernelRidge."""
    from sklearn.feature_selection import SelectKBest, f_regression
    from sklearn.kernel_ridge import KernelRidge
    from sklearn.model_selection import KFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

    features, target = _diabetes()
    scaler = {"standard": StandardScaler, "minmax": MinMaxScaler, "robust": RobustScaler}[params["scaler"]]()
    model = KernelRidge(alpha=params["alpha"], kernel=params["kernel"], gamma=params["gamma"],
                        degree=params["degree"], coef0=params["coef0"])
    pipeline = make_pipeline(scaler, SelectKBest(f_regression, k=params["k"]), model)
    scores = cross_val_score(pipeline, features, target, cv=KFold(5, shuffle=True, random_state=0),
                             scoring="neg_mean_squared_error")
    value = -float(np.mean(scores))
    return value if math.isfinite(value) else 10.0


PROBLEMS: dict[str, Problem] = {p.name: p for p in [
    Problem("branin", {"x0": {"_type": "uniform", "_value": [-5, 10]}, "x1": {"_type": "uniform", "_value": [0, 15]}},
            branin, 0.397887357729738),
    Problem("hartmann6", _box([f"x{i}" for i in range(6)], 0, 1), hartmann6, -3.322368011415515),
    Problem("rosenbrock5", _box([f"x{i}" for i in range(5)], -5, 10), rosenbrock, 0.0),
    Problem("ackley10", _box([f"x{i}" for i in range(10)], -32.768, 32.768), ackley, 0.0),
    Problem("levy10", _box([f"x{i}" for i in range(10)], -10, 10), levy, 0.0),
    Problem("mixed", {
        "kind": {"_type": "choice", "_value": list(_MIXED_KINDS)},
        "x": {"_type": "uniform", "_value": [-5, 5]},
        "y": {"_type": "uniform", "_value": [-5, 5]},
        "layers": {"_type": "randint", "_value": [1, 9]},
        "units": {"_type": "quniform", "_value": [16, 256, 16]},
        "lr": {"_type": "loguniform", "_value": [1e-5, 1e-1]},
    }, mixed, 0.0),
    Problem("sklearn_krr", {
        "scaler": {"_type": "choice", "_value": ["standard", "minmax", "robust"]},
        "k": {"_type": "randint", "_value": [1, 11]},
        "kernel": {"_type": "choice", "_value": ["rbf", "laplacian", "polynomial", "sigmoid"]},
        "alpha": {"_type": "loguniform", "_value": [1e-4, 10]},
        "gamma": {"_type": "loguniform", "_value": [1e-4, 1]},
        "degree": {"_type": "randint", "_value": [2, 5]},
        "coef0": {"_type": "uniform", "_value": [0, 3]},
    }, kernel_ridge_diabetes, 0.482318),  # best found by long TPE runs plus Nelder-Mead refinement
    Problem("conditional", {
        "model": {"_type": "choice", "_value": [
            {"_name": "linear", "alpha": {"_type": "loguniform", "_value": [1e-4, 10]}},
            {"_name": "tree", "depth": {"_type": "randint", "_value": [2, 16]},
             "subsample": {"_type": "uniform", "_value": [0.3, 1.0]}},
            {"_name": "mlp", "width": {"_type": "uniform", "_value": [0, 1]},
             "layers": {"_type": "randint", "_value": [1, 6]}},
        ]},
        "shared": {"_type": "uniform", "_value": [-1, 1]},
    }, conditional, 0.0),
]}

HEADLINE = ["branin", "hartmann6", "rosenbrock5", "ackley10", "levy10", "mixed", "sklearn_krr"]
"""The seven problems the acceptance ratio is computed over."""


def get_problem(name: str) -> Problem:
    return PROBLEMS[name]
