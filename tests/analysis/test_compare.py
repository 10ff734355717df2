"""Comparing experiments on plain trial records: best-so-far curves, Pareto fronts, differences, exports."""

from __future__ import annotations

import csv
import json
import math
from typing import Any

import pytest

from nni.analysis import best_so_far, differences, export_text, flatten_config, numeric_keys, pareto_front
from nni.records import MetricRecord, Trial


def finished(seq: int, final: Any) -> Trial:
    t = Trial(f"t{seq}", sequence_id=seq, parameter_id=seq, parameter_record={"parameters": {}})
    if final is not None:
        t.final = MetricRecord(t.trial_id, seq, "FINAL", 0, 0, final)
    return t


def test_best_so_far_keeps_improvements_in_sequence_order_and_skips_non_numbers():
    trials = [finished(3, 0.9), finished(0, 0.5), finished(1, math.nan), finished(2, "text"), finished(4, None),
              finished(5, {"default": 0.7, "loss": 0.1}), finished(6, 0.2)]
    assert best_so_far(trials, "maximize") == [[0, 0.5, "t0"], [3, 0.9, "t3"], [6, 0.9, "t3"]]
    assert best_so_far(trials, "minimize") == [[0, 0.5, "t0"], [6, 0.2, "t6"]]
    assert best_so_far(trials, "minimize", "loss") == [[5, 0.1, "t5"]]
    assert best_so_far([], "maximize") == []


def test_pareto_front_keeps_the_undominated_trials_in_each_direction():
    points = [(1, 5), (2, 4), (3, 3), (2, 2), (4, 1), (0, 6), (3, 1)]
    trials = [finished(i, {"acc": a, "cost": c}) for i, (a, c) in enumerate(points)]
    trials.append(finished(99, {"acc": math.inf, "cost": 0}))  # not a finite number: left out
    max_min = pareto_front(trials, ("acc", "cost"), ("maximize", "minimize"))
    assert [(p[0], p[1]) for p in max_min] == [(4, 1)]
    max_max = pareto_front(trials, ("acc", "cost"), ("maximize", "maximize"))
    assert [(p[0], p[1]) for p in max_max] == [(4, 1), (3, 3), (2, 4), (1, 5), (0, 6)]
    min_min = pareto_front(trials, ("acc", "cost"), ("minimize", "minimize"))
    assert [(p[0], p[1]) for p in min_min] == [(0, 6), (1, 5), (2, 2), (3, 1)]
    assert max_max[0][2:] == ["t4", 4]


def test_numeric_keys_lists_default_first():
    trials = [finished(0, {"loss": 1, "note": "x", "default": 2}), finished(1, 0.3), finished(2, {"acc": math.nan})]
    assert numeric_keys(trials) == ["default", "loss"]


def test_differences_report_only_paths_that_differ_or_are_missing():
    assert flatten_config({"a": {"b": 1, "c": [1, 2]}, "d": {}}) == {"a.b": 1, "a.c": [1, 2], "d": {}}
    rows = differences({
        "e1": {"name": "one", "tuner": {"name": "TPE", "classArgs": {"optimize_mode": "maximize"}}, "n": math.nan},
        "e2": {"name": "two", "tuner": {"name": "TPE"}, "n": math.nan},
    })
    assert [r["path"] for r in rows] == ["name", "tuner.classArgs.optimize_mode"]
    assert rows[0]["values"] == {"e1": "one", "e2": "two"} and rows[0]["missing"] == []
    assert rows[1]["values"] == {"e1": "maximize", "e2": None} and rows[1]["missing"] == ["e2"]
    assert differences({"e1": {"a": 1}}) == []


def test_export_text_has_an_experiment_column_and_refuses_unknown_types():
    rows = [("e1", {"trialJobId": "a", "parameter": {"x": 1, "opt": "sgd"}, "value": 0.5}),
            ("e2", {"trialJobId": "b", "parameter": {"y": [1, 2]}, "value": {"default": math.nan}})]
    table = list(csv.reader(export_text(rows, "csv").splitlines()))
    assert table[0] == ["experimentId", "trialJobId", "x", "opt", "y", "value"]
    assert table[1] == ["e1", "a", "1", "sgd", "", "0.5"]
    assert table[2] == ["e2", "b", "", "", "[1, 2]", '{"default": "NaN"}']
    records = json.loads(export_text(rows, "json"))
    assert records[1] == {"experimentId": "e2", "trialJobId": "b", "parameter": {"y": [1, 2]},
                          "value": {"default": "NaN"}}
    with pytest.raises(ValueError, match="csv, json"):
        export_text(rows, "xlsx")
