"""One trial of the multi-objective example: a random forest on scikit-learn's digits, scored on
accuracy (higher is better) and model size (fewer tree nodes is better); the prediction time is
reported too, for the constraint in config.yml."""

from __future__ import annotations

import time

from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split

import nni

params = {"n_estimators": 20, "max_depth": 8, "max_features": 0.5}
params.update(nni.get_next_parameter())
features, labels = load_digits(return_X_y=True)
x_train, x_test, y_train, y_test = train_test_split(features, labels, test_size=0.3, random_state=0)
model = RandomForestClassifier(n_estimators=int(params["n_estimators"]), max_depth=int(params["max_depth"]),
                               max_features=params["max_features"], random_state=0).fit(x_train, y_train)
start = time.perf_counter()
accuracy = float(model.score(x_test, y_test))
latency_ms = (time.perf_counter() - start) * 1000
nodes = sum(tree.tree_.node_count for tree in model.estimators_)
# one dict holding every objective and constraint key
nni.report_final_result({"accuracy": accuracy, "nodes": nodes, "latency_ms": latency_ms})
