"""nni.analysis.pareto: feasibility, the front among feasible trials, the reference and hypervolume."""

from __future__ import annotations

import math

import pytest

from nni.analysis.pareto import analyse, reference_point
from nni.objectives import Constraint, Objective, ObjectiveSpec, hypervolume
from nni.records import MetricRecord, Trial, TrialStatus

SPEC = ObjectiveSpec((Objective("acc", "maximize"), Objective("lat", "minimize")), (Constraint("mem", max=10),))


def _trial(index: int, value: object | None) -> Trial:
    trial = Trial(f"t{index}", index, index, {"parameter_id": index, "parameters": {}}, status=TrialStatus.SUCCEEDED)
    if value is not None:
        trial.final = MetricRecord(trial.trial_id, index, "FINAL", 0, 1000 + index, value)
    return trial


def test_flags_front_and_reasons() -> None:
    trials = [
        _trial(0, {"acc": 0.9, "lat": 5, "mem": 1}),     # front
        _trial(1, {"acc": 0.8, "lat": 6, "mem": 1}),     # dominated by 0
        _trial(2, {"acc": 0.95, "lat": 9, "mem": 1}),    # front
        _trial(3, {"acc": 0.99, "lat": 1, "mem": 50}),   # would dominate all, but infeasible
        _trial(4, {"acc": 0.99, "lat": math.nan, "mem": 1}),  # unusable
        _trial(5, {"acc": 0.99}),                        # unusable
        _trial(6, None),                                 # no final result: not part of it
    ]
    analysis = analyse(trials, SPEC)
    assert [p.trial.trial_id for p in analysis.points] == ["t0", "t1", "t2", "t3", "t4", "t5"]
    assert [analysis.flags(f"t{i}") for i in range(7)] == [
        (True, True), (True, False), (True, True), (False, False), (None, False), (None, False), (None, False)]
    assert [p.trial.trial_id for p in analysis.front] == ["t0", "t2"]
    assert "not a finite number" in (analysis.point("t4").reason or "")
    assert "no objective key 'lat'" in (analysis.point("t5").reason or "")
    assert analysis.point("t3").violation == 40
    assert analysis.point("t0").losses == (-0.9, 5.0)


def test_reference_is_past_the_worst_feasible_point() -> None:
    assert reference_point([(0.0, 10.0), (1.0, 0.0)]) == pytest.approx((1.1, 11.0))
    # every loss equal: 10% of the value's size, at least 0.1
    assert reference_point([(5.0, -0.5), (5.0, -0.5)]) == pytest.approx((5.5, -0.4))


def test_hypervolume_history_rises_and_ends_at_the_fronts() -> None:
    trials = [_trial(i, {"acc": a, "lat": lat, "mem": 1})
              for i, (a, lat) in enumerate([(0.5, 9), (0.6, 9), (0.4, 8), (0.9, 2), (0.1, 1)])]
    analysis = analyse(trials, SPEC)
    history = analysis.hypervolume_history()
    volumes = [v for _, v in history]
    assert [t.trial_id for t, _ in history] == [f"t{i}" for i in range(5)]
    assert volumes == sorted(volumes) and volumes[0] > 0
    assert volumes[-1] == pytest.approx(analysis.hypervolume())
    front = [p.losses for p in analysis.front]
    assert analysis.hypervolume() == pytest.approx(hypervolume(front, analysis.reference))
    assert len(analysis.hypervolume_history(max_points=2)) == 2


def test_nothing_feasible() -> None:
    analysis = analyse([_trial(0, {"acc": 1, "lat": 1, "mem": 99})], SPEC)
    assert analysis.front == [] and analysis.reference is None
    assert analysis.hypervolume() == 0.0 and analysis.hypervolume_history() == []


def test_three_objectives_and_ties() -> None:
    spec = ObjectiveSpec((Objective("a"), Objective("b"), Objective("c")))
    trials = [_trial(0, {"a": 1, "b": 0, "c": 0}), _trial(1, {"a": 0, "b": 1, "c": 0}),
              _trial(2, {"a": 1, "b": 0, "c": 0}), _trial(3, {"a": 0.5, "b": 0, "c": 0})]
    analysis = analyse(trials, spec)
    assert [p.pareto for p in analysis.points] == [True, True, True, False]


def test_one_export_of_several_experiments_keeps_each_ones_flags() -> None:
    import csv
    import json

    from nni.analysis import export_text
    from nni.analysis.pareto import export_flags

    trials = [_trial(0, {"acc": 0.9, "lat": 5, "mem": 1}), _trial(1, {"acc": 0.8, "lat": 6, "mem": 1}),
              _trial(2, {"acc": 0.9})]
    flags = export_flags(trials, SPEC)
    assert flags == {"t0": {"feasible": True, "pareto": True}, "t1": {"feasible": True, "pareto": False},
                     "t2": {"feasible": None, "pareto": False}}
    assert export_flags(trials, None) == {}
    rows = [("mo", {"parameter": {"x": i}, "value": t.final.value, "trialJobId": t.trial_id, **flags[t.trial_id]})
            for i, t in enumerate(trials)] + [("plain", {"parameter": {"x": 9}, "value": 0.5, "trialJobId": "p0"})]
    table = list(csv.reader(export_text(rows, "csv").splitlines()))
    assert table[0] == ["experimentId", "trialJobId", "x", "value", "feasible", "pareto"]
    assert [row[-2:] for row in table[1:]] == [["true", "true"], ["true", "false"], ["", "false"], ["", ""]]
    records = json.loads(export_text(rows, "json"))
    assert [(r["feasible"], r["pareto"]) for r in records] == [(True, True), (True, False), (None, False), (None, None)]
    assert "pareto" not in json.loads(export_text(rows[3:], "json"))[0]
