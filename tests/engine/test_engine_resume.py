"""Resume: a second engine on the same database gives the tuner what is stored and carries on."""

from __future__ import annotations

from pathlib import Path

from engine_harness import by_parameter, finish, make_engine, run, start_engine, stored_statuses, wait_for
from memory_service import Exit, Hold, MemoryService, Report, Start
from scripted import ScriptedTuner

from nni.records import ExperimentStatus, TrialStatus
from nni.training_service.base import TrialSpec


def test_a_resume_replays_imported_data_then_finished_results_and_ids_continue(tmp_path: Path) -> None:
    first_tuner = ScriptedTuner([{"x": 0.1}, {"x": 0.2}])
    imported = [{"parameter": {"x": 0.9}, "value": 0.9}]

    async def first() -> None:
        engine = await start_engine(tmp_path, MemoryService(), first_tuner, max_trial_number=2)
        await engine.import_data(imported)
        await wait_for(engine, lambda: engine.status == ExperimentStatus.DONE)
        await finish(engine)
    run(first)
    assert first_tuner.named("import") == [("import", imported)]

    tuner = ScriptedTuner([{"x": 0.3}, {"x": 0.4}])
    service = MemoryService()

    async def second() -> None:
        engine = await start_engine(tmp_path, service, tuner, max_trial_number=4)
        await wait_for(engine, lambda: engine.status == ExperimentStatus.DONE)
        trials = by_parameter(engine)
        assert [t.parameter_id for t in trials] == [0, 1, 2, 3]
        assert [t.parameters for t in trials] == [{"x": 0.1}, {"x": 0.2}, {"x": 0.3}, {"x": 0.4}]
        assert [t.sequence_id for t in trials[2:]] == [2, 3]
        assert len({t.trial_id for t in trials}) == 4
        assert [s.trial_id for s in service.submitted] == [t.trial_id for t in trials[2:]]  # old ones not re-run
        await finish(engine)
    run(second)
    assert tuner.calls[:3] == [
        ("space", {"x": {"_type": "uniform", "_value": [0, 1]}}),
        ("import", imported),
        ("import", [{"parameter": {"x": 0.1}, "value": 0.1}, {"parameter": {"x": 0.2}, "value": 0.2}]),
    ]
    assert [call[1] for call in tuner.named("generate")] == [2, 3]


def test_a_resume_after_a_crash_adopts_live_trials_and_reruns_lost_ones(tmp_path: Path) -> None:
    def script(spec: TrialSpec) -> list[Start | Hold | Report | Exit]:
        return [Start(), Hold(), Report(spec.parameter_record["parameters"]["x"]), Exit(0)]
    crashed = MemoryService(script)
    ids: list[str] = []

    async def first() -> None:
        engine = await start_engine(tmp_path, crashed, ScriptedTuner(), trial_concurrency=2, max_trial_number=2)
        await wait_for(engine, lambda: sum(t.status == TrialStatus.RUNNING for t in engine.trials.values()) == 2)
        ids.extend(t.trial_id for t in by_parameter(engine))
        crashed.crash()  # no stop: the manager dies with both trials running
        engine.storage.close()
    run(first)

    alive, lost = ids
    service = MemoryService(script, alive={alive})

    async def second() -> None:
        engine = await start_engine(tmp_path, service, ScriptedTuner(), trial_concurrency=2, max_trial_number=2)
        assert service.adopted == [alive] and [s.trial_id for s in service.submitted] == [lost]
        assert engine.trials[lost].status == TrialStatus.WAITING
        assert engine.trials[lost].message == "re-run after resume"
        assert engine.statistics() == {"RUNNING": 1, "WAITING": 1}  # counted from the stored trials
        service.release(alive)
        service.release(lost)
        await wait_for(engine, lambda: engine.status == ExperimentStatus.DONE)
        assert all(t.status == TrialStatus.SUCCEEDED for t in engine.trials.values()) and len(engine.trials) == 2
        assert engine.statistics() == {"SUCCEEDED": 2}
        await finish(engine)
    run(second)
    assert stored_statuses(tmp_path, alive) == ["WAITING", "RUNNING", "SUCCEEDED"]
    assert stored_statuses(tmp_path, lost) == ["WAITING", "RUNNING", "WAITING", "RUNNING", "SUCCEEDED"]


def test_a_resumed_metric_read_again_is_not_counted_twice(tmp_path: Path) -> None:
    """An adopted trial's metrics file is read from the start: what is stored already is skipped."""
    def script(spec: TrialSpec) -> list[Start | Hold | Report | Exit]:
        return [Start(), Report(0.1, final=False), Hold(), Report(0.5), Exit(0)]
    crashed = MemoryService(script)
    ids: list[str] = []

    async def first() -> None:
        engine = await start_engine(tmp_path, crashed, ScriptedTuner(), max_trial_number=1)
        await wait_for(engine, lambda: any(t.intermediate for t in engine.trials.values()))
        ids.extend(engine.trials)
        crashed.crash()
        engine.storage.close()
    run(first)

    service = MemoryService(script, alive=set(ids))

    async def second() -> None:
        engine = await start_engine(tmp_path, service, ScriptedTuner(), max_trial_number=1)
        service.release(ids[0])
        await wait_for(engine, lambda: engine.status == ExperimentStatus.DONE)
        (trial,) = engine.trials.values()
        assert [m.value for m in trial.intermediate] == [0.1]
        assert trial.final is not None and trial.final.value == 0.5
        await finish(engine)
    run(second)


def test_a_stopped_experiment_resumes_running_with_its_elapsed_time(tmp_path: Path) -> None:
    async def first() -> None:
        engine = await start_engine(tmp_path, MemoryService(lambda spec: [Start()]), ScriptedTuner(), max_trial_number=2)
        await wait_for(engine, lambda: bool(engine.trials))
        await finish(engine)
        assert engine.status == ExperimentStatus.STOPPED
    run(first)

    async def second() -> None:
        service = MemoryService(lambda spec: [Start(), Exit(0)])
        engine = make_engine(tmp_path, service, ScriptedTuner(), max_trial_number=2)
        stored = engine.storage.load_profile()
        assert stored is not None and stored["status"] == "STOPPED"
        await engine.start()
        assert engine.status == ExperimentStatus.RUNNING and engine.start_time_ms == stored["start_time_ms"]
        assert engine.elapsed_seconds() >= stored["elapsed_ms"] / 1000
        await wait_for(engine, lambda: engine.status == ExperimentStatus.DONE)
        (canceled,) = [t for t in engine.trials.values() if t.parameter_id == 0]
        assert canceled.status == TrialStatus.USER_CANCELED  # what the stop ended stays ended
        await finish(engine)
    run(second)


def test_a_resumed_grid_search_does_not_propose_again_what_was_running_or_failed(tmp_path: Path) -> None:
    from nni.algorithms.hpo.gridsearch_tuner import GridSearchTuner
    grid = {"x": {"_type": "choice", "_value": [0.1, 0.2, 0.3, 0.4, 0.5]}}

    def script(spec: TrialSpec) -> list[Start | Hold | Report | Exit]:
        x = spec.parameter_record["parameters"]["x"]
        return [Start(), Exit(1)] if x == 0.1 else [Start(), Hold(), Report(x), Exit(0)]
    crashed = MemoryService(script)

    async def first() -> None:
        engine = await start_engine(tmp_path, crashed, GridSearchTuner(), search_space=grid,
                                    trial_concurrency=2, max_trial_number=5)
        # 0.1 fails at once and its slot goes to the next point: then two trials hold, and the manager dies
        await wait_for(engine, lambda: sum(t.status == TrialStatus.RUNNING for t in engine.trials.values()) == 2
                       and len(engine.trials) == 3)
        crashed.crash()
        engine.storage.close()
    run(first)

    service = MemoryService(lambda spec: [Start(), Report(spec.parameter_record["parameters"]["x"]), Exit(0)])

    async def second() -> None:
        engine = await start_engine(tmp_path, service, GridSearchTuner(), search_space=grid,
                                    trial_concurrency=2, max_trial_number=5)
        await wait_for(engine, lambda: engine.status == ExperimentStatus.DONE)
        values = [t.parameters["x"] for t in by_parameter(engine)]
        assert sorted(values) == [0.1, 0.2, 0.3, 0.4, 0.5]
        await finish(engine)
    run(second)
