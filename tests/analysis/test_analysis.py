"""The analysis library on plain trial records: table, ranking, columns, importance, contour, curves."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from nni.analysis import (
    build_table,
    category_label,
    downsample,
    flatten_parameters,
    forest_importance,
    interpolate,
    json_safe,
    parameter_importance,
)
from nni.analysis.interpolation import contour
from nni.records import MetricRecord, Trial, TrialStatus


def trial(seq: int, parameters: dict[str, Any], final: Any = None, status: TrialStatus = TrialStatus.SUCCEEDED,
          intermediate: tuple[Any, ...] = ()) -> Trial:
    record = {"parameter_id": seq, "parameter_source": "algorithm", "parameters": parameters, "parameter_index": 0}
    t = Trial(f"t{seq}", sequence_id=seq, parameter_id=seq, parameter_record=record, status=status)
    t.intermediate = [MetricRecord(t.trial_id, seq, "PERIODICAL", i, i, v) for i, v in enumerate(intermediate)]
    if final is not None:
        t.final = MetricRecord(t.trial_id, seq, "FINAL", 0, 0, final)
    return t


def test_forest_importance_ranks_like_sklearn():
    ensemble = pytest.importorskip("sklearn.ensemble")
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(600, 4))
    x[:, 3] = rng.integers(0, 3, size=600)
    y = 5 * x[:, 0] + 1.5 * np.sin(6 * x[:, 1]) + 0.8 * (x[:, 3] == 1) + rng.normal(0, 0.05, 600)
    ours = forest_importance(x, y, [False, False, False, True])
    reference = ensemble.RandomForestRegressor(n_estimators=50, max_depth=6, random_state=0).fit(x, y)
    assert list(np.argsort(-ours)) == list(np.argsort(-reference.feature_importances_))
    assert ours.sum() == pytest.approx(1.0)
    assert ours[2] < 0.05
    assert forest_importance(x, np.ones(600), [False] * 4).sum() == 0.0
    assert forest_importance(x[:3], y[:3], [False] * 4).sum() == 0.0


def test_downsample_keeps_extremes_and_the_limit():
    points = [(float(i), float(np.sin(i / 10))) for i in range(1000)]
    points[517] = (517.0, 50.0)
    small = downsample(points, 100)
    assert len(small) <= 100
    assert (517.0, 50.0) in small
    assert [p[0] for p in small] == sorted(p[0] for p in small)
    assert downsample(points[:10], 100) == points[:10]


def test_flatten_nested_choices_and_json_safety():
    flat = flatten_parameters({"lr": 0.1, "model": {"_name": "cnn", "kernel": 3}, "<b>": "<i>"})
    assert flat == {"lr": 0.1, "model": "cnn", "model/kernel": 3, "<b>": "<i>"}
    assert json_safe({"a": [float("nan"), float("inf"), -float("inf"), 1.5], "b": np.float32(2)}) == {
        "a": ["NaN", "Infinity", "-Infinity", 1.5], "b": 2.0}
    assert category_label("adam") == "adam"
    assert category_label({"b": 1, "a": float("nan")}) == '{"a": "NaN", "b": 1}'


def test_table_reads_finals_keys_best_and_counts():
    trials = [trial(0, {"x": 0.5, "opt": "sgd"}, {"default": 0.5, "loss": 2}),
              trial(1, {"x": 0.1, "opt": "adam"}, float("nan")),
              trial(2, {"x": 0.9, "opt": "adam"}, 0.9, intermediate=({"default": 1, "acc": 3},)),
              trial(3, {"x": 0.3}, status=TrialStatus.RUNNING)]
    table = build_table(7, trials)
    assert table.revision == 7
    assert table.metric_keys == ["default", "loss", "acc"]
    assert table.param_keys == ["x", "opt"] and table.numeric_params == {"x": True, "opt": False}
    assert table.final("default") == [0.5, None, 0.9, None]
    assert table.final("loss") == [2.0, None, None, None]
    assert table.scored("default") == [(0, 0.5), (2, 0.9)]
    assert table.best_of("maximize") == (trials[2], 0.9) and table.best_of("minimize") == (trials[0], 0.5)
    counts = table.counts()
    assert counts["SUCCEEDED"] == 3 and counts["RUNNING"] == 1 and counts["FAILED"] == 0
    assert "adam" in table.search_text[1] and "t1" in table.search_text[1]


def test_table_ranks_sorts_and_describes_columns():
    trials = [trial(i, {"lr": 10.0 ** -i, "opt": ["sgd", "adam"][i % 2]}, float(i)) for i in range(5)]
    trials.append(trial(5, {"lr": 0.5}))
    table = build_table(1, trials)
    rows, values = table.ranked("default", 0.5, "maximize", 100)
    assert rows == [4, 3, 2] and values == [4.0, 3.0, 2.0]
    assert table.ranked("default", 1.0, "minimize", 2) == ([0, 1], [0.0, 1.0])
    assert table.ranked("missing", 1.0, "maximize", 10) == ([], [])
    columns = table.columns([0, 5], {"lr": {"_type": "loguniform", "_value": [1e-5, 1]}})
    assert columns[0] == {"name": "lr", "type": "numeric", "log": True, "values": [1.0, 0.5]}
    assert columns[1] == {"name": "opt", "type": "categorical", "categories": ["sgd"], "values": ["sgd", None]}
    assert table.columns([0], None)[0]["log"] is False
    everything = list(range(6))
    # rows without a value for the column go last in either direction
    assert table.sorted_rows(everything, "metric:default", True, 0) == [4, 3, 2, 1, 0, 5]
    assert table.sorted_rows(everything, "metric:default", False, 0) == [0, 1, 2, 3, 4, 5]
    assert table.sorted_rows(everything, "param:opt", False, 0) == [1, 3, 0, 2, 4, 5]
    assert table.sorted_rows(everything, "no such column", True, 0) == [5, 4, 3, 2, 1, 0]


def test_parameter_importance_names_the_parameter_that_matters():
    rng = np.random.default_rng(3)
    trials = []
    for i in range(60):
        x, noise = float(rng.uniform()), float(rng.uniform())
        parameters = {"x": x, "noise": noise, "opt": ["a", "b"][i % 2]}
        trials.append(trial(i, parameters, 10 * x + 0.01 * noise))
    shares = parameter_importance(build_table(1, trials), "default")
    assert shares[0]["param"] == "x" and shares[0]["importance"] > 0.8
    assert sum(r["importance"] for r in shares) == pytest.approx(1.0)
    assert parameter_importance(build_table(1, trials[:3]), "default") == []


def test_interpolation_and_contour_cover_the_points():
    assert interpolate(np.array([]), np.array([]), np.array([]), 5) == {"x": [], "y": [], "z": []}
    x, y, z = np.array([0.0, 1.0]), np.array([0.0, 1.0]), np.array([1.0, 3.0])
    grid = interpolate(x, y, z, 4)
    assert len(grid["x"]) == 4 and len(grid["z"]) == 4 and len(grid["z"][0]) == 4
    assert grid["z"][0][0] == pytest.approx(1.0, abs=1e-3) and grid["z"][-1][-1] == pytest.approx(3.0, abs=1e-3)
    assert (grid["zMin"], grid["zMax"]) == (1.0, 3.0)

    trials = [trial(i, {"lr": 10.0 ** -(i + 1), "opt": ["sgd", "adam"][i % 2]}, float(i)) for i in range(4)]
    trials.append(trial(4, {"opt": "sgd"}, 9.0))  # no lr: left out of the view
    view = contour(build_table(1, trials), "default", ("lr", "opt"),
                   {"lr": {"_type": "loguniform", "_value": [1e-5, 1]}}, 100, 6)
    assert view["axes"] == [{"name": "lr", "type": "numeric", "log": True},
                            {"name": "opt", "type": "categorical", "categories": ["adam", "sgd"]}]
    assert [p[3] for p in view["points"]] == ["t3", "t2", "t1", "t0"]
    assert view["points"][0][:3] == [pytest.approx(-4.0), 0.0, 3.0]
    assert len(view["grid"]["z"]) == 6
