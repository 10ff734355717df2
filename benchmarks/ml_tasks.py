"""Real tuning tasks for the tuner benchmark: scikit-learn models on datasets shipped with scikit-learn.

Each evaluation is a small cross-validation (well under a second on one core) so that whole
optimisation runs stay cheap; nothing is cached, every proposal is really trained. Losses are
continuous (log-loss, squared error or error rate on 1,000+ samples) so that regrets rarely tie.
The optimum is unknown: the report measures regret against the best value any run found.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from problems import PROBLEMS, Problem

__all__ = ["ML_TASKS"]

_DATA: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def _dataset(name: str) -> tuple[np.ndarray, np.ndarray]:
    if name not in _DATA:
        from sklearn import datasets

        features, target = getattr(datasets, f"load_{name}")(return_X_y=True)
        _DATA[name] = (np.asarray(features, dtype=float), np.asarray(target))
    return _DATA[name]


def _cv_score(model: Any, dataset: str, scoring: str, folds: int = 3) -> float:
    """Minus the mean cross-validated score (a loss), 10 for a model that cannot be scored."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    features, target = _dataset(dataset)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        scores = cross_val_score(model, features, target, scoring=scoring, error_score=np.nan,
                                 cv=StratifiedKFold(folds, shuffle=True, random_state=0))
    value = -float(np.mean(scores))
    return value if math.isfinite(value) else 10.0


def gbm_breast_cancer(params: dict[str, Any]) -> float:
    """3-fold log-loss of gradient boosting: integers, a log-scale rate, floats and a choice."""
    from sklearn.ensemble import GradientBoostingClassifier

    model = GradientBoostingClassifier(
        n_estimators=params["n_estimators"], max_depth=params["max_depth"], learning_rate=params["learning_rate"],
        subsample=params["subsample"], min_samples_leaf=params["min_samples_leaf"],
        max_features=params["max_features"], random_state=0)
    return _cv_score(model, "breast_cancer", "neg_log_loss")


def mlp_wine(params: dict[str, Any]) -> float:
    """3-fold log-loss of a small MLP: log-scale floats, a q-log integer width and choices."""
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    width = int(params["width"])
    model = MLPClassifier(hidden_layer_sizes=(width,) * params["layers"], activation=params["activation"],
                          alpha=params["alpha"], learning_rate_init=params["learning_rate_init"],
                          batch_size=params["batch_size"], max_iter=30, random_state=0)
    return _cv_score(make_pipeline(StandardScaler(), model), "wine", "neg_log_loss")


def model_digits(params: dict[str, Any]) -> float:
    """3-fold error rate on digits of one of four model families, each with its own parameters."""
    from sklearn.decomposition import PCA
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    spec = params["model"]
    family = spec["_name"]
    model: Any
    if family == "svm":
        model = SVC(C=spec["C"], gamma=spec["gamma"])
    elif family == "logreg":
        model = LogisticRegression(C=spec["C"], max_iter=100)
    elif family == "knn":
        model = KNeighborsClassifier(n_neighbors=spec["n_neighbors"], weights=spec["weights"])
    else:
        model = RandomForestClassifier(n_estimators=spec["n_estimators"], max_depth=spec["max_depth"],
                                       random_state=0)
    pipeline = make_pipeline(StandardScaler(), PCA(n_components=params["pca"], random_state=0), model)
    return _cv_score(pipeline, "digits", "accuracy") + 1.0


ML_TASKS: dict[str, Problem] = {p.name: p for p in [
    Problem("gbm_cancer", {
        "n_estimators": {"_type": "randint", "_value": [5, 40]},
        "max_depth": {"_type": "randint", "_value": [1, 7]},
        "learning_rate": {"_type": "loguniform", "_value": [1e-3, 1.0]},
        "subsample": {"_type": "uniform", "_value": [0.5, 1.0]},
        "min_samples_leaf": {"_type": "randint", "_value": [1, 40]},
        "max_features": {"_type": "choice", "_value": [0.2, 0.5, 1.0]},
    }, gbm_breast_cancer, math.inf),
    Problem("mlp_wine", {
        "layers": {"_type": "randint", "_value": [1, 4]},
        "width": {"_type": "qloguniform", "_value": [4, 128, 4]},
        "activation": {"_type": "choice", "_value": ["relu", "tanh", "logistic"]},
        "alpha": {"_type": "loguniform", "_value": [1e-6, 10.0]},
        "learning_rate_init": {"_type": "loguniform", "_value": [1e-4, 0.3]},
        "batch_size": {"_type": "choice", "_value": [16, 32, 64]},
    }, mlp_wine, math.inf),
    Problem("model_digits", {
        "pca": {"_type": "randint", "_value": [4, 41]},
        "model": {"_type": "choice", "_value": [
            {"_name": "svm", "C": {"_type": "loguniform", "_value": [1e-2, 1e3]},
             "gamma": {"_type": "loguniform", "_value": [1e-5, 1.0]}},
            {"_name": "logreg", "C": {"_type": "loguniform", "_value": [1e-4, 1e2]}},
            {"_name": "knn", "n_neighbors": {"_type": "randint", "_value": [1, 30]},
             "weights": {"_type": "choice", "_value": ["uniform", "distance"]}},
            {"_name": "forest", "n_estimators": {"_type": "randint", "_value": [5, 30]},
             "max_depth": {"_type": "randint", "_value": [2, 16]}},
        ]},
    }, model_digits, math.inf),
    PROBLEMS["sklearn_krr"],
]}
"""Mixed, log-scale, integer and (model_digits) conditional spaces; sklearn_krr is the classic suite's."""
