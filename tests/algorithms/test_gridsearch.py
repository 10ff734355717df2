"""GridSearch specifics: NNI 3.0's progressive grid order, exhaustion of finite spaces, nested
choices, never-ending continuous ranges, and skipping imported points."""

from __future__ import annotations

import math

import pytest

from nni.algorithms.hpo.gridsearch_tuner import GridSearchTuner
from nni.errors import NoMoreTrialError
from nni.search_space import config_key


def test_progressive_grid_starts_in_the_middle_then_quartiles() -> None:
    tuner = GridSearchTuner(optimize_mode="maximize")
    tuner.update_search_space({"x": {"_type": "choice", "_value": [5, 7]},
                               "y": {"_type": "normal", "_value": [0, 1]},
                               "z": {"_type": "quniform", "_value": [2, 3, 1]}})
    first = [tuner.generate_parameters(i) for i in range(2)]
    assert first == [{"x": 5, "y": 0.0, "z": 2.0}, {"x": 7, "y": 0.0, "z": 2.0}]
    second = [tuner.generate_parameters(i) for i in range(2, 12)]
    ys = sorted({round(p["y"], 4) for p in second})
    assert ys == [-0.6745, 0.0, 0.6745]  # the normal's quartiles
    assert {p["z"] for p in second} == {2.0, 3.0}
    assert all(not (p["y"] == 0.0 and p["z"] == 2.0) for p in second)  # nothing from round one again


def test_log_range_midpoint_is_geometric() -> None:
    tuner = GridSearchTuner()
    tuner.update_search_space({"lr": {"_type": "loguniform", "_value": [1e-4, 1]}})
    values = [tuner.generate_parameters(i)["lr"] for i in range(3)]
    assert math.isclose(values[0], 1e-2) and math.isclose(values[1], 1e-3) and math.isclose(values[2], 1e-1)


def test_finite_space_with_clipped_q_ends_is_fully_enumerated_then_exhausted() -> None:
    tuner = GridSearchTuner()
    space = {"m": {"_type": "choice", "_value": [{"_name": "a", "k": {"_type": "randint", "_value": [0, 3]}}, "b"]},
             "q": {"_type": "quniform", "_value": [0.2, 1, 0.5]},
             "l": {"_type": "qloguniform", "_value": [1, 10, 4]}}
    tuner.update_search_space(space)
    seen = []
    with pytest.raises(NoMoreTrialError):
        for i in range(1000):
            seen.append(config_key(tuner.generate_parameters(i)))
    assert len(seen) == len(set(seen)) == 4 * 3 * 3  # q: 0.2, 0.5, 1.0; l: 1, 4, 8 (round(10 / 4) is 2)


def test_continuous_ranges_keep_producing_new_points() -> None:
    tuner = GridSearchTuner()
    tuner.update_search_space({"x": {"_type": "uniform", "_value": [0, 1]}, "y": {"_type": "uniform", "_value": [0, 1]}})
    points = [tuner.generate_parameters(i) for i in range(300)]
    assert len({config_key(p) for p in points}) == 300
    assert points[0] == {"x": 0.5, "y": 0.5}


def test_imported_points_are_skipped() -> None:
    tuner = GridSearchTuner()
    tuner.update_search_space({"c": {"_type": "choice", "_value": [1, 2, 3]}})
    tuner.import_data([{"parameter": {"c": 2}, "value": 0.5}])
    assert [tuner.generate_parameters(i)["c"] for i in range(2)] == [1, 3]
    with pytest.raises(NoMoreTrialError):
        tuner.generate_parameters(3)


def test_thousands_of_parameters_need_no_deep_recursion() -> None:
    space = {f"u{i}": {"_type": "uniform", "_value": [0, 1]} for i in range(2500)}
    space.update({f"c{i}": {"_type": "choice", "_value": ["a", "b"]} for i in range(2500)})
    tuner = GridSearchTuner()
    tuner.update_search_space(space)
    first, second = tuner.generate_multiple_parameters([0, 1])
    assert all(first[f"u{i}"] == 0.5 and first[f"c{i}"] == "a" for i in range(2500))
    assert second["c2499"] == "b" and all(second[f"c{i}"] == "a" for i in range(2499))
