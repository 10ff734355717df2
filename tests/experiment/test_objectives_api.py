"""Objectives and constraints through the Python API: real subprocess trials, export_data's flags,
get_pareto_front, and an experiment without them left as NNI's."""

from __future__ import annotations

import dataclasses

import httpx
import pytest

from nni.experiment import Constraint, Experiment, Objective, TrialResult

# three objectives of (x, y): a = x (max), b = y (max), c = x + y (min); mem = 10 x (at most 7)
TRIAL = """
import nni
p = nni.get_next_parameter()
nni.report_final_result({"a": p["x"], "b": p["y"], "c": round(p["x"] + p["y"] ** 2, 6), "mem": 10 * p["x"]})
"""
GRID = {"x": {"_type": "choice", "_value": [0.1, 0.5, 0.9]}, "y": {"_type": "choice", "_value": [0.2, 0.8]}}
THREE = [Objective("a", "maximize"), {"metric": "b", "mode": "maximize"}, Objective("c", "minimize")]


def _dominates(p: tuple[float, ...], q: tuple[float, ...]) -> bool:
    return all(a <= b for a, b in zip(p, q, strict=True)) and p != q


def _losses(result: TrialResult) -> tuple[float, float, float]:
    return -result.value["a"], -result.value["b"], result.value["c"]


@pytest.mark.parametrize("constrained", [False, True])
def test_three_objectives_export_flags_and_the_front(make_experiment, free_port, capsys, constrained: bool) -> None:
    extra = {"constraints": [Constraint("mem", max=7)]} if constrained else {}
    experiment = make_experiment(TRIAL, search_space=GRID, tuner="GridSearch", max_trial_number=6,
                                 objectives=THREE, **extra)
    assert experiment.run(free_port) is True
    results = experiment.export_data()
    assert len(results) == 6
    output = capsys.readouterr().out
    assert "(the feasible trial with the highest a, on the Pareto front)" in output
    assert f"Pareto front: {sum(bool(r.pareto) for r in results)} trial(s)" in output
    feasible = [r for r in results if r.feasible]
    assert all(r.feasible == (not constrained or r.parameter["x"] < 0.7) for r in results)
    for result in results:
        beaten = any(_dominates(_losses(other), _losses(result)) for other in feasible)
        assert result.pareto == (bool(result.feasible) and not beaten)
    front = experiment.get_pareto_front()
    assert [r.trialJobId for r in front] == [r.trialJobId for r in results if r.pareto] and front
    flags = {r.trialJobId: (r.feasible, r.pareto) for r in results}
    live = experiment.export_dataframe()
    assert list(live.columns[9:12]) == ["message", "feasible", "pareto"]
    assert {row.trial_id: (row.feasible, row.pareto) for row in live.itertuples()} == flags
    experiment.stop()
    stored = Experiment(None, id=experiment.id).export_dataframe()
    assert {row.trial_id: (row.feasible, row.pareto) for row in stored.itertuples()} == flags
    if constrained:
        assert all(r.parameter["x"] != 0.9 for r in front)
    else:
        assert {"x": 0.9, "y": 0.8} in [r.parameter for r in front]


def test_two_objectives_from_dicts(make_experiment, free_port) -> None:
    experiment = make_experiment(TRIAL, search_space=GRID, tuner="Random", max_trial_number=3,
                                 objectives=[{"metric": "a", "mode": "maximize"}, {"metric": "c", "mode": "minimize"}])
    assert experiment.run(free_port) is True
    results = experiment.export_data()
    assert len(results) == 3 and all(r.feasible is True for r in results)
    assert any(r.pareto for r in results)
    # the web UI's summary: the best feasible trial on the first objective, valued by that objective
    summary = httpx.get(f"http://127.0.0.1:{experiment.port}/api/v1/webui/summary", timeout=30).json()
    best = max(results, key=lambda r: (r.value["a"], -r.value["c"]))
    assert summary["best"]["value"] == best.value["a"] and summary["config"]["objectives"][0]["metric"] == "a"
    assert next(r for r in results if r.trialJobId == summary["best"]["trialId"]).pareto


def test_without_objectives_results_are_nnis(make_experiment, free_port) -> None:
    experiment = make_experiment("import nni; nni.get_next_parameter(); nni.report_final_result(0.5)",
                                 tuner="Random", max_trial_number=1)
    assert experiment.run(free_port) is True
    (result,) = experiment.export_data()
    assert result.feasible is None and result.pareto is None
    # the flags are plain attributes: NNI's fields, repr and equality are untouched
    assert [f.name for f in dataclasses.fields(TrialResult)] == ["parameter", "value", "trialJobId"]
    assert result == TrialResult(result.parameter, 0.5, result.trialJobId)
    assert "feasible" not in repr(result) and dataclasses.asdict(result).keys() == {"parameter", "value", "trialJobId"}
    assert "pareto" not in experiment.export_dataframe().columns
    with pytest.raises(ValueError, match="get_pareto_front: the experiment's config names no objectives"):
        experiment.get_pareto_front()
