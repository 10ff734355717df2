"""The engine's limits: maxTrialNumber, maxTrialDuration, maxExperimentDuration, and raising them live."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_harness import finish, make_engine, run, start_engine, stored_statuses, wait_for
from memory_service import MemoryService, Report, Start
from scripted import ScriptedTuner

from nni.errors import ConfigError
from nni.records import ExperimentStatus, TrialStatus


def test_max_trial_number_ends_the_experiment_done(tmp_path: Path) -> None:
    async def body() -> None:
        tuner = ScriptedTuner()
        engine = make_engine(tmp_path, MemoryService(), tuner, trial_concurrency=2, max_trial_number=3)
        statuses: list[ExperimentStatus] = []
        engine._on_status = statuses.append
        await engine.start()
        await wait_for(engine, lambda: engine.status == ExperimentStatus.DONE)
        assert len(engine.trials) == 3 and [c[1] for c in tuner.named("generate")] == [0, 1, 2]
        assert statuses[0] == ExperimentStatus.RUNNING and statuses[-1] == ExperimentStatus.DONE
        assert ExperimentStatus.NO_MORE_TRIAL in statuses  # the last trials ran with nothing left to create
        await finish(engine)
    run(body)


def test_raising_max_trial_number_after_done_runs_more(tmp_path: Path) -> None:
    async def body() -> None:
        engine = await start_engine(tmp_path, MemoryService(), ScriptedTuner(), max_trial_number=1)
        await wait_for(engine, lambda: engine.status == ExperimentStatus.DONE)
        await engine.update_max_trial_number(3)
        await wait_for(engine, lambda: engine.status == ExperimentStatus.DONE and len(engine.trials) == 3)
        assert all(t.status == TrialStatus.SUCCEEDED for t in engine.trials.values())
        await finish(engine)
    run(body)


@pytest.mark.parametrize("value", [0, -1, True, "3"])
def test_a_bad_max_trial_number_is_refused_and_nothing_changes(tmp_path: Path, value: object) -> None:
    async def body() -> None:
        engine = await start_engine(tmp_path, MemoryService(lambda spec: [Start()]), ScriptedTuner(), max_trial_number=2)
        with pytest.raises(ConfigError, match="maxTrialNumber"):
            await engine.update_max_trial_number(value)  # type: ignore[arg-type]
        assert engine.config.max_trial_number == 2
        await finish(engine)
    run(body)


def test_max_trial_duration_early_stops_a_trial_that_runs_too_long(tmp_path: Path) -> None:
    async def body() -> None:
        tuner = ScriptedTuner()
        service = MemoryService(lambda spec: [Start(), Report(0.1, final=False)])  # never ends by itself
        engine = await start_engine(tmp_path, service, tuner, max_trial_number=2, max_trial_duration=0.05)
        await wait_for(engine, lambda: engine.status == ExperimentStatus.DONE)
        for trial in engine.trials.values():
            assert trial.status == TrialStatus.EARLY_STOPPED
            assert trial.message == "exceeded maxTrialDuration (0.05)"
            assert stored_statuses(tmp_path, trial.trial_id) == ["WAITING", "RUNNING", "EARLY_STOPPED"]
        await finish(engine)
        assert [c[1:] for c in tuner.named("end")] == [(0, False), (1, False)]
    run(body)


def test_max_trial_duration_counts_from_the_start_not_from_the_submit(tmp_path: Path) -> None:
    """A trial still waiting for resources is not timed out: its clock starts when it runs."""
    async def body() -> None:
        service = MemoryService(lambda spec: [])  # submitted, never started, never ended
        engine = await start_engine(tmp_path, service, ScriptedTuner(), max_trial_number=1, max_trial_duration=0.01)
        await wait_for(engine, lambda: len(service.submitted) == 1)
        assert engine._trial_timers == {}
        assert [t.status for t in engine.trials.values()] == [TrialStatus.WAITING]
        await finish(engine)
    run(body)


def test_max_experiment_duration_cancels_running_trials_and_creates_no_more(tmp_path: Path) -> None:
    async def body() -> None:
        service = MemoryService(lambda spec: [Start()])
        tuner = ScriptedTuner()
        engine = await start_engine(tmp_path, service, tuner, trial_concurrency=2, max_trial_number=10,
                                    max_experiment_duration=0.1)
        await wait_for(engine, lambda: engine.status == ExperimentStatus.DONE)
        assert len(engine.trials) == 2 and len(tuner.named("generate")) == 2
        assert {(t.status, t.message) for t in engine.trials.values()} == \
            {(TrialStatus.SYS_CANCELED, "maxExperimentDuration reached")}
        await finish(engine)
    run(body)


def test_a_longer_max_experiment_duration_after_done_runs_again(tmp_path: Path) -> None:
    async def body() -> None:
        service = MemoryService(lambda spec: [Start()])
        engine = await start_engine(tmp_path, service, ScriptedTuner(), max_trial_number=2, max_experiment_duration=0.05)
        await wait_for(engine, lambda: engine.status == ExperimentStatus.DONE)
        assert len(engine.trials) == 1
        await engine.update_max_experiment_duration("1h")
        await wait_for(engine, lambda: len(service.submitted) == 2)
        assert engine.status == ExperimentStatus.NO_MORE_TRIAL
        assert engine.storage.experiment_events("config")[-1]["data"] == \
            {"field": "maxExperimentDuration", "value": "1h"}
        await finish(engine)
    run(body)


def test_a_bad_max_experiment_duration_is_refused(tmp_path: Path) -> None:
    async def body() -> None:
        engine = await start_engine(tmp_path, MemoryService(lambda spec: [Start()]), ScriptedTuner(), max_trial_number=1)
        with pytest.raises(ValueError, match="duration"):
            await engine.update_max_experiment_duration("soon")
        assert engine.config.max_experiment_duration is None
        await finish(engine)
    run(body)
