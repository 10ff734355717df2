"""The engine under objectives and constraints: the tuner hears the spec first (again on a resume),
gets only usable results (whole dicts), and unusable ones are marked in the trial's row."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from engine_harness import by_parameter, finish, run, start_engine, wait_for
from memory_service import Exit, MemoryService, Report, Start
from scripted import ScriptedTuner

from nni.algorithms.hpo.random_tuner import RandomTuner
from nni.objectives import Constraint, Objective, ObjectiveSpec
from nni.records import ExperimentStatus, TrialStatus
from nni.training_service.base import TrialSpec

OBJECTIVES = [{"metric": "acc", "mode": "maximize"}, {"metric": "lat", "mode": "minimize"}]
CONSTRAINTS = [{"metric": "mem", "max": 10}]
SPEC = ObjectiveSpec((Objective("acc", "maximize"), Objective("lat", "minimize")), (Constraint("mem", None, 10.0),))

RESULTS: list[Any] = [
    {"acc": 0.9, "lat": 3.0, "mem": 1},           # usable, feasible
    {"acc": 0.8, "lat": math.nan, "mem": 1},      # lat not finite
    {"acc": 0.7, "mem": 1},                       # lat missing
    {"acc": 0.99, "lat": 1.0, "mem": 20},         # usable, infeasible
    0.5,                                          # not a dict
]


def _script(spec: TrialSpec) -> list[Start | Report | Exit]:
    return [Start(), Report(RESULTS[spec.parameter_record["parameter_id"] % len(RESULTS)]), Exit(0)]


class SpecTuner(ScriptedTuner):
    """Logs the spec it is given, in order with the other calls."""

    def set_objectives(self, spec: ObjectiveSpec) -> None:
        super().set_objectives(spec)
        self._log("objectives", spec)


def _proposals(n: int) -> list[dict[str, float]]:
    return [{"x": i / 10} for i in range(n)]


def test_the_spec_comes_first_and_only_usable_results_reach_the_tuner(tmp_path: Path) -> None:
    tuner = SpecTuner(_proposals(5))

    async def body() -> None:
        engine = await start_engine(tmp_path, MemoryService(_script), tuner, max_trial_number=5,
                                    objectives=OBJECTIVES, constraints=CONSTRAINTS)
        await wait_for(engine, lambda: engine.status == ExperimentStatus.DONE)
        trials = by_parameter(engine)
        assert all(t.status == TrialStatus.SUCCEEDED for t in trials)
        assert trials[0].message is None and trials[3].message is None
        assert trials[1].message == "the final result is not given to the tuner: the objective 'lat' is not a " \
                                    "finite number: nan"
        assert trials[2].message == "the final result is not given to the tuner: the result has no objective key 'lat'"
        assert trials[4].message == "the final result is not given to the tuner: the objective 'acc' needs a dict " \
                                    "result, got 0.5"
        assert engine.best_trial() is trials[0]  # trial 3 is better on both, but infeasible
        await finish(engine)
    run(body)
    assert tuner.calls[:2] == [("objectives", SPEC), ("space", {"x": {"_type": "uniform", "_value": [0, 1]}})]
    assert len(tuner.named("objectives")) == 1
    assert [(c[1], c[2]) for c in tuner.named("result")] == [(0, RESULTS[0]), (3, RESULTS[3])]
    assert sorted((c[1], c[2]) for c in tuner.named("end")) == [(0, True), (1, False), (2, False), (3, True),
                                                                (4, False)]


def test_without_objectives_nothing_changes(tmp_path: Path) -> None:
    tuner = SpecTuner(_proposals(2))

    async def body() -> None:
        engine = await start_engine(tmp_path, MemoryService(), tuner, max_trial_number=2)
        assert engine.spec is None
        await wait_for(engine, lambda: engine.status == ExperimentStatus.DONE)
        await finish(engine)
    run(body)
    assert tuner.named("objectives") == [] and tuner.objectives is None
    assert [c[2] for c in tuner.named("result")] == [0.0, 0.1]


def test_a_resume_gives_the_spec_again_before_replaying_usable_results(tmp_path: Path) -> None:
    async def first() -> None:
        engine = await start_engine(tmp_path, MemoryService(_script), SpecTuner(_proposals(4)), max_trial_number=4,
                                    objectives=OBJECTIVES, constraints=CONSTRAINTS)
        await wait_for(engine, lambda: engine.status == ExperimentStatus.DONE)
        await finish(engine)
    run(first)
    tuner = SpecTuner(_proposals(1))

    async def second() -> None:
        engine = await start_engine(tmp_path, MemoryService(_script), tuner, max_trial_number=5,
                                    objectives=OBJECTIVES, constraints=CONSTRAINTS)
        await wait_for(engine, lambda: engine.status == ExperimentStatus.DONE)
        await finish(engine)
    run(second)
    assert [c[0] for c in tuner.calls[:3]] == ["objectives", "space", "import"]
    assert tuner.calls[2][1] == [{"parameter": {"x": 0.0}, "value": RESULTS[0]},
                                 {"parameter": {"x": 0.3}, "value": RESULTS[3]}]


def test_one_objective_other_than_default_reads_that_key(tmp_path: Path) -> None:
    def script(spec: TrialSpec) -> list[Start | Report | Exit]:
        x = spec.parameter_record["parameters"]["x"]
        return [Start(), Report({"default": -x, "loss": x}), Exit(0)]

    tuner = RandomTuner(seed=1)

    async def body() -> None:
        engine = await start_engine(tmp_path, MemoryService(script), tuner, max_trial_number=4,
                                    objectives=[{"metric": "loss", "mode": "minimize"}])
        await wait_for(engine, lambda: engine.status == ExperimentStatus.DONE)
        best = engine.best_trial()
        assert best is not None and best.final is not None
        assert best.final.value["loss"] == min(t.final.value["loss"] for t in engine.trials.values() if t.final)
        await finish(engine)
    run(body)
    assert tuner.objectives == ObjectiveSpec((Objective("loss", "minimize"),))
    assert len(tuner.results) == 4 and all(r.loss == r.params["x"] for r in tuner.results)


def test_constraints_alone_keep_the_tuners_mode(tmp_path: Path) -> None:
    tuner = RandomTuner(optimize_mode="minimize", seed=1)

    async def body() -> None:
        engine = await start_engine(tmp_path, MemoryService(), tuner, max_trial_number=2,
                                    constraints=[{"metric": "default", "min": 0.0}])
        await wait_for(engine, lambda: engine.status == ExperimentStatus.DONE)
        await finish(engine)
    run(body)
    assert tuner.objectives == ObjectiveSpec((Objective("default", "minimize"),), (Constraint("default", 0.0),))
