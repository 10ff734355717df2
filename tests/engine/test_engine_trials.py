"""A trial's life in the engine: status transitions, concurrency, customized trials, kill and stop races."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from engine_harness import by_parameter, finish, make_engine, run, start_engine, stored_statuses, wait_for
from memory_service import KILLED_EXIT_CODE, Exit, Hold, MemoryService, Queue, Report, Sleep, Start, Step
from scripted import ScriptedAssessor, ScriptedTuner

from nni.records import ExperimentStatus, TrialStatus
from nni.training_service.base import TrialSpec


def test_a_trial_goes_waiting_running_succeeded_and_the_tuner_hears_of_it(tmp_path: Path) -> None:
    async def body() -> None:
        tuner = ScriptedTuner([{"x": 0.25}])
        service = MemoryService(lambda spec: [Queue("no GPU"), Start("h1"), Report(0.25), Exit(0)])
        engine = await start_engine(tmp_path, service, tuner, max_trial_number=1)
        await wait_for(engine, lambda: engine.status == ExperimentStatus.DONE)
        (trial,) = engine.trials.values()
        assert trial.status == TrialStatus.SUCCEEDED and trial.exit_code == 0 and trial.host == "h1"
        assert trial.final is not None and trial.final.value == 0.25
        assert stored_statuses(tmp_path, trial.trial_id) == ["WAITING", "RUNNING", "SUCCEEDED"]
        await finish(engine)
        assert tuner.calls == [("space", engine.search_space), ("generate", 0), ("result", 0, 0.25, False),
                               ("end", 0, True)]
    run(body)


def test_a_nonzero_exit_is_failed_and_the_tuner_hears_no_success(tmp_path: Path) -> None:
    async def body() -> None:
        tuner = ScriptedTuner([{"x": 0.5}])
        engine = await start_engine(tmp_path, MemoryService(lambda spec: [Start(), Exit(3, "exit code 3")]), tuner,
                                    max_trial_number=1)
        await wait_for(engine, lambda: engine.status == ExperimentStatus.DONE)
        (trial,) = engine.trials.values()
        assert (trial.status, trial.exit_code, trial.message) == (TrialStatus.FAILED, 3, "exit code 3")
        assert stored_statuses(tmp_path, trial.trial_id) == ["WAITING", "RUNNING", "FAILED"]
        await finish(engine)
        assert tuner.named("end") == [("end", 0, False)]
    run(body)


def test_the_assessor_early_stops_a_trial(tmp_path: Path) -> None:
    async def body() -> None:
        assessor = ScriptedAssessor(patience=2)
        script: list[Step] = [Start(), Report(0.1, final=False), Report(0.2, final=False), Hold(), Exit(0)]
        service = MemoryService(lambda spec: script)
        engine = await start_engine(tmp_path, service, ScriptedTuner([{"x": 0.5}]), assessor, max_trial_number=1)
        await wait_for(engine, lambda: engine.status == ExperimentStatus.DONE)
        (trial,) = engine.trials.values()
        assert trial.status == TrialStatus.EARLY_STOPPED and trial.message == "early stopped by the assessor"
        assert [m.value for m in trial.intermediate] == [0.1, 0.2]
        assert stored_statuses(tmp_path, trial.trial_id) == ["WAITING", "RUNNING", "EARLY_STOPPED"]
        await finish(engine)
        assert assessor.ended == [(trial.trial_id, False)]
    run(body)


def test_no_more_than_trial_concurrency_trials_are_active(tmp_path: Path) -> None:
    async def body() -> None:
        service = MemoryService(lambda spec: [Start(), Sleep(0.01), Report(0.5), Exit(0)])
        engine = make_engine(tmp_path, service, ScriptedTuner(), trial_concurrency=3, max_trial_number=7)
        most = 0

        def count() -> bool:
            nonlocal most
            most = max(most, len([t for t in engine.trials.values() if not t.finished]))
            return engine.status == ExperimentStatus.DONE
        await engine.start()
        await wait_for(engine, count)
        assert most == 3
        assert len(engine.trials) == 7 and all(t.status == TrialStatus.SUCCEEDED for t in engine.trials.values())
        await finish(engine)
    run(body)


def test_raising_the_concurrency_starts_more_trials_at_once(tmp_path: Path) -> None:
    async def body() -> None:
        service = MemoryService(lambda spec: [Start(), Hold(), Exit(0)])
        engine = await start_engine(tmp_path, service, ScriptedTuner(), trial_concurrency=1, max_trial_number=5)
        await wait_for(engine, lambda: len(service.submitted) == 1)
        await engine.update_trial_concurrency(3)
        await wait_for(engine, lambda: len(service.submitted) == 3)
        assert engine.storage.experiment_events("config")[-1]["data"] == {"field": "trialConcurrency", "value": 3}
        await finish(engine)
    run(body)


def test_customized_trials_run_first_and_do_not_count_against_max_trial_number(tmp_path: Path) -> None:
    async def body() -> None:
        tuner = ScriptedTuner()
        service = MemoryService(lambda spec: [Start(), Hold(), Report(spec.parameter_record["parameters"]["x"]),
                                              Exit(0)])
        engine = await start_engine(tmp_path, service, tuner, max_trial_number=1)
        await wait_for(engine, lambda: len(service.submitted) == 1)
        custom_id = await engine.add_customized_trial({"x": 9})
        first = service.submitted[0].trial_id
        service.release(first)
        await wait_for(engine, lambda: len(service.submitted) == 2)
        assert service.submitted[1].trial_id == custom_id
        service.release(custom_id)
        await wait_for(engine, lambda: engine.status == ExperimentStatus.DONE)
        custom = engine.trials[custom_id]
        assert custom.customized and custom.parameter_record["parameter_source"] == "customized"
        assert custom.status == TrialStatus.SUCCEEDED and len(engine.trials) == 2
        await finish(engine)
        assert ("result", custom.parameter_id, 9, True) in tuner.calls
        assert len(tuner.named("generate")) == 1
    run(body)


def test_a_customized_trial_needs_a_dict(tmp_path: Path) -> None:
    async def body() -> None:
        engine = await start_engine(tmp_path, MemoryService(), ScriptedTuner(), max_trial_number=1)
        with pytest.raises(ValueError, match="dict of parameters"):
            await engine.add_customized_trial([1, 2])  # type: ignore[arg-type]
        await finish(engine)
    run(body)


def test_killing_a_waiting_trial_cancels_it(tmp_path: Path) -> None:
    async def body() -> None:
        service = MemoryService(lambda spec: [Queue("no free GPU"), Hold(), Start(), Exit(0)])
        engine = await start_engine(tmp_path, service, ScriptedTuner(), max_trial_number=1)
        await wait_for(engine, lambda: any(t.message == "no free GPU" for t in engine.trials.values()))
        (trial,) = engine.trials.values()
        assert trial.status == TrialStatus.WAITING
        await engine.kill_trial(trial.trial_id)
        await wait_for(engine, lambda: trial.finished)
        assert (trial.status, trial.message) == (TrialStatus.USER_CANCELED, "canceled by the user")
        assert stored_statuses(tmp_path, trial.trial_id) == ["WAITING", "USER_CANCELED"]
        await finish(engine)
    run(body)


def test_killing_a_queued_customized_trial_cancels_it_without_the_service(tmp_path: Path) -> None:
    async def body() -> None:
        service = MemoryService(lambda spec: [Start(), Hold(), Exit(0)])
        engine = await start_engine(tmp_path, service, ScriptedTuner(), max_trial_number=1)
        await wait_for(engine, lambda: len(service.submitted) == 1)
        custom_id = await engine.add_customized_trial({"x": 1})
        await engine.kill_trial(custom_id)
        assert engine.trials[custom_id].status == TrialStatus.USER_CANCELED
        assert custom_id not in service.killed and custom_id not in [s.trial_id for s in service.submitted]
        await finish(engine)
    run(body)


def test_killing_a_finished_trial_changes_nothing(tmp_path: Path) -> None:
    async def body() -> None:
        service = MemoryService()
        engine = await start_engine(tmp_path, service, ScriptedTuner(), max_trial_number=1)
        await wait_for(engine, lambda: engine.status == ExperimentStatus.DONE)
        (trial,) = engine.trials.values()
        await engine.kill_trial(trial.trial_id)
        assert trial.status == TrialStatus.SUCCEEDED and service.killed == []
        assert engine.status == ExperimentStatus.DONE
        await finish(engine)
    run(body)


def test_killing_an_unknown_trial_is_a_key_error(tmp_path: Path) -> None:
    async def body() -> None:
        engine = await start_engine(tmp_path, MemoryService(), ScriptedTuner(), max_trial_number=1)
        with pytest.raises(KeyError):
            await engine.kill_trial("nope0")
        await finish(engine)
    run(body)


def test_a_kill_that_races_a_normal_exit_keeps_the_exit(tmp_path: Path) -> None:
    """The service reports exit code 0 although the kill came first: the trial succeeded."""
    class LateKillService(MemoryService):
        async def kill(self, trial_id: str) -> None:
            self.killed.append(trial_id)
            self.release(trial_id)

    async def body() -> None:
        service = LateKillService(lambda spec: [Start(), Report(0.5), Hold(), Exit(0)])
        engine = await start_engine(tmp_path, service, ScriptedTuner(), max_trial_number=1)
        await wait_for(engine, lambda: any(t.final is not None for t in engine.trials.values()))
        (trial,) = engine.trials.values()
        await engine.kill_trial(trial.trial_id)
        await wait_for(engine, lambda: trial.finished)
        assert trial.status == TrialStatus.SUCCEEDED and service.killed == [trial.trial_id]
        await finish(engine)
    run(body)


def test_stop_while_trials_run_cancels_them_and_queued_customized_trials(tmp_path: Path) -> None:
    async def body() -> None:
        tuner = ScriptedTuner()
        service = MemoryService(lambda spec: [Start(), Report(0.1, final=False)])  # runs until killed
        engine = await start_engine(tmp_path, service, tuner, trial_concurrency=2, max_trial_number=4)
        await wait_for(engine, lambda: sum(t.status == TrialStatus.RUNNING for t in engine.trials.values()) == 2)
        custom_id = await engine.add_customized_trial({"x": 2})
        await finish(engine)
        assert engine.status == ExperimentStatus.STOPPED
        running = [t for t in engine.trials.values() if not t.customized]
        assert [(t.status, t.message, t.exit_code) for t in running] == \
            [(TrialStatus.USER_CANCELED, "experiment stopped", KILLED_EXIT_CODE)] * 2
        assert engine.trials[custom_id].message == "experiment stopped before it ran"
        assert sorted(call[1:] for call in tuner.named("end")) == [(0, False), (1, False)]
        assert tuner.exited
    run(body)


def test_a_stop_that_fails_in_the_service_is_logged_and_the_experiment_still_stops(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def body() -> None:
        service = MemoryService(lambda spec: [Start()], stop_error=RuntimeError("cluster gone"))
        engine = await start_engine(tmp_path, service, ScriptedTuner(fail="_on_exit"), max_trial_number=1)
        await wait_for(engine, lambda: any(t.status == TrialStatus.RUNNING for t in engine.trials.values()))
        await finish(engine)
        assert engine.status == ExperimentStatus.STOPPED
    with caplog.at_level(logging.ERROR, logger="nni.engine"):
        run(body)
    messages = [(r.getMessage(), r.exc_info[1] if r.exc_info else None) for r in caplog.records]
    assert any(text == "stopping the memory training service failed" and str(error) == "cluster gone"
               for text, error in messages)
    assert any(text == "ScriptedTuner._on_exit failed" and "scripted failure" in str(error)
               for text, error in messages)


def test_a_second_stop_does_nothing(tmp_path: Path) -> None:
    async def body() -> None:
        engine = await start_engine(tmp_path, MemoryService(lambda spec: [Start()]), ScriptedTuner(), max_trial_number=1)
        await engine.stop()
        await engine.stop(ExperimentStatus.DONE)
        assert engine.status == ExperimentStatus.STOPPED
        engine.storage.close()
    run(body)


def test_the_spec_carries_the_parameter_record_and_experiment_id(tmp_path: Path) -> None:
    async def body() -> None:
        seen: list[TrialSpec] = []

        def script(spec: TrialSpec) -> list[Start | Exit]:
            seen.append(spec)
            return [Start(), Exit(0)]
        engine = await start_engine(tmp_path, MemoryService(script), ScriptedTuner([{"x": 0.7}]), max_trial_number=1)
        await wait_for(engine, lambda: engine.status == ExperimentStatus.DONE)
        (spec,) = seen
        (trial,) = by_parameter(engine)
        assert spec.parameter_record == {"parameter_id": 0, "parameter_source": "algorithm",
                                         "parameters": {"x": 0.7}, "parameter_index": 0}
        assert spec.env == {"NNI_EXP_ID": "memexp"} and spec.trial_dir == tmp_path / "trials" / trial.trial_id
        await finish(engine)
    run(body)


def test_the_change_feed_answers_from_any_point_it_holds_and_resets_past_it(tmp_path: Path) -> None:
    async def body() -> None:
        engine = make_engine(tmp_path, MemoryService(), ScriptedTuner())
        held = engine._changes.maxlen
        assert held is not None
        for _ in range(held + 5):  # the oldest five fall out of the feed
            engine._changed_now("trial", "t")
        last = engine.revision
        assert [c.seq for c in await engine.wait_changes(last - 3, 0)] == [last - 2, last - 1, last]
        assert len(await engine.wait_changes(5, 0)) == held  # exactly the oldest it holds, onwards
        assert [c.kind for c in await engine.wait_changes(4, 0)] == ["reset"]
        assert await engine.wait_changes(last, 0) == []
        engine.storage.close()
    run(body)
