"""Retries (maxTrialRetries), lost trials, reruns and enqueued trials: what runs, what the rows say,
what the tuner hears (once per parameter id), and what a resume keeps."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest
from engine_harness import finish, make_engine, run, start_engine, wait_for
from memory_service import Exit, Hold, MemoryService, Report, Start, Step
from scripted import ScriptedTuner

from nni.algorithms.hpo.random_tuner import RandomTuner
from nni.engine.engine import Engine
from nni.records import ExperimentStatus, Trial, TrialStatus
from nni.training_service.base import TrialSpec


def _fail_first(failures: int, exit_step: Exit = Exit(1, "exit code 1")) -> tuple[MemoryService, Counter[int]]:
    """A service whose trials fail ``failures`` times per parameter id, then report x and succeed."""
    attempts: Counter[int] = Counter()

    def script(spec: TrialSpec) -> Sequence[Step]:
        parameter_id = spec.parameter_record["parameter_id"]
        attempts[parameter_id] += 1
        if attempts[parameter_id] <= failures:
            return [Start(), exit_step]
        return [Start(), Report(spec.parameter_record["parameters"]["x"]), Exit(0)]
    return MemoryService(script), attempts


def _in_order(engine: Engine) -> list[Trial]:
    return sorted(engine.trials.values(), key=lambda t: t.sequence_id)


def test_a_failed_trial_is_retried_with_its_parameter_id_and_the_tuner_hears_once(tmp_path: Path) -> None:
    service, attempts = _fail_first(1)
    tuner = ScriptedTuner([{"x": 0.1}, {"x": 0.2}])

    async def body() -> None:
        engine = await start_engine(tmp_path, service, tuner, max_trial_number=2, max_trial_retries=2)
        await wait_for(engine, lambda: engine.status == ExperimentStatus.DONE)
        trials = _in_order(engine)
        by_id: dict[int, list[TrialStatus]] = {}
        for trial in trials:
            by_id.setdefault(trial.parameter_id, []).append(trial.status)
        assert list(by_id.values()) == [[TrialStatus.FAILED, TrialStatus.SUCCEEDED]] * 2
        assert engine.statistics() == {"FAILED": 2, "SUCCEEDED": 2}  # kept as statuses changed, no scan
        assert sorted(t.sequence_id for t in trials) == [0, 1, 2, 3]  # every row has its own number
        for failed in (t for t in trials if t.status == TrialStatus.FAILED):
            retry = next(t for t in trials if t.retry_of == failed.trial_id)
            assert retry.parameter_id == failed.parameter_id and retry.parameters == failed.parameters
            assert retry.attempt == 1 and retry.parameter_record["parameter_source"] == "algorithm"
            assert f"retried as trial {retry.trial_id}" in (failed.message or "")
            assert retry.message == f"retry 1 of 2 of trial {failed.trial_id}"
        await finish(engine)
    run(body)
    ids = [call[1] for call in tuner.named("generate")]
    assert len(ids) == 2 and list(attempts.values()) == [2, 2]  # retries do not count against maxTrialNumber
    # a retry takes the next sequence id, so the tuner's next parameter id skips it
    assert sorted(tuner.named("result")) == [("result", ids[0], 0.1, False), ("result", ids[1], 0.2, False)]
    assert sorted(tuner.named("end")) == [("end", ids[0], True), ("end", ids[1], True)]


def test_retries_run_out_and_the_tuner_hears_of_one_failure(tmp_path: Path) -> None:
    service, attempts = _fail_first(10)
    tuner = ScriptedTuner([{"x": 0.1}])

    async def body() -> None:
        engine = await start_engine(tmp_path, service, tuner, max_trial_number=1, max_trial_retries=2)
        await wait_for(engine, lambda: engine.status == ExperimentStatus.DONE)
        trials = _in_order(engine)
        assert [t.attempt for t in trials] == [0, 1, 2]
        assert all(t.status == TrialStatus.FAILED for t in trials)
        assert "retried as" not in (trials[-1].message or "")
        assert (trials[-1].message or "").startswith(f"retry 2 of 2 of trial {trials[1].trial_id}")
        await finish(engine)
    run(body)
    assert attempts == {0: 3}
    assert tuner.named("end") == [("end", 0, False)]


def test_without_max_trial_retries_a_failure_is_final(tmp_path: Path) -> None:
    service, attempts = _fail_first(1)

    async def body() -> None:
        engine = await start_engine(tmp_path, service, ScriptedTuner([{"x": 0.1}]), max_trial_number=1)
        await wait_for(engine, lambda: engine.status == ExperimentStatus.DONE)
        assert [t.status for t in engine.trials.values()] == [TrialStatus.FAILED]
        await finish(engine)
    run(body)
    assert attempts == {0: 1}


def test_a_lost_trial_is_retried_and_its_row_says_so(tmp_path: Path) -> None:
    service, _ = _fail_first(1, Exit(None, "the trial process was lost"))

    async def body() -> None:
        engine = await start_engine(tmp_path, service, ScriptedTuner([{"x": 0.3}]), max_trial_number=1,
                                    max_trial_retries=1)
        await wait_for(engine, lambda: engine.status == ExperimentStatus.DONE)
        lost, retry = _in_order(engine)
        assert lost.status == TrialStatus.FAILED and lost.exit_code is None
        assert lost.message == f"the trial process was lost; retried as trial {retry.trial_id}"
        assert retry.status == TrialStatus.SUCCEEDED and retry.final is not None and retry.final.value == 0.3
        await finish(engine)
    run(body)


def test_a_trial_that_reported_its_final_result_before_failing_is_not_retried(tmp_path: Path) -> None:
    tuner = ScriptedTuner([{"x": 0.4}])

    async def body() -> None:
        service = MemoryService(lambda spec: [Start(), Report(0.4), Exit(3)])
        engine = await start_engine(tmp_path, service, tuner, max_trial_number=1, max_trial_retries=3)
        await wait_for(engine, lambda: engine.status == ExperimentStatus.DONE)
        assert [t.status for t in engine.trials.values()] == [TrialStatus.FAILED]
        await finish(engine)
    run(body)
    assert tuner.named("result") == [("result", 0, 0.4, False)]


def test_a_killed_trial_is_not_retried(tmp_path: Path) -> None:
    async def body() -> None:
        service = MemoryService(lambda spec: [Start(), Hold(), Exit(0)])
        engine = await start_engine(tmp_path, service, ScriptedTuner([{"x": 0.1}]), max_trial_number=1,
                                    max_trial_retries=3)
        await wait_for(engine, lambda: any(t.status == TrialStatus.RUNNING for t in engine.trials.values()))
        await engine.kill_trial(next(iter(engine.trials)))
        await wait_for(engine, lambda: engine.status == ExperimentStatus.DONE)
        assert [t.status for t in engine.trials.values()] == [TrialStatus.USER_CANCELED]
        await finish(engine)
    run(body)


def test_a_resume_keeps_the_retries_counted(tmp_path: Path) -> None:
    attempts: Counter[int] = Counter()

    def script(spec: TrialSpec) -> Sequence[Step]:
        attempts[spec.parameter_record["parameter_id"]] += 1
        return [Start(), Hold(), Exit(1)]
    crashed = MemoryService(script)

    async def first() -> None:
        engine = await start_engine(tmp_path, crashed, ScriptedTuner([{"x": 0.1}]), max_trial_number=1,
                                    max_trial_retries=1)
        await wait_for(engine, lambda: any(t.status == TrialStatus.RUNNING for t in engine.trials.values()))
        crashed.release(next(iter(engine.trials)))
        await wait_for(engine, lambda: any(t.attempt == 1 and t.status == TrialStatus.RUNNING
                                           for t in engine.trials.values()))
        crashed.crash()  # the manager dies while the retry runs
        engine.storage.close()
    run(first)

    tuner = ScriptedTuner([])
    service = MemoryService(lambda spec: [Start(), Exit(1)])

    async def second() -> None:
        engine = await start_engine(tmp_path, service, tuner, max_trial_number=1, max_trial_retries=1)
        await wait_for(engine, lambda: engine.status == ExperimentStatus.DONE)
        trials = _in_order(engine)
        assert [(t.attempt, t.status) for t in trials] == [(0, TrialStatus.FAILED), (1, TrialStatus.FAILED)]
        assert [s.trial_id for s in service.submitted] == [trials[1].trial_id]  # the retry ran again; no third
        await finish(engine)
    run(second)
    assert tuner.named("end") == [("end", 0, False)]


def test_rerun_of_the_failed_trials_of_a_done_experiment_reaches_the_tuner(tmp_path: Path) -> None:
    service, _ = _fail_first(1)
    tuner = ScriptedTuner([{"x": 0.1}, {"x": 0.2}])

    async def body() -> None:
        engine = await start_engine(tmp_path, service, tuner, max_trial_number=2)
        await wait_for(engine, lambda: engine.status == ExperimentStatus.DONE)
        failed = {t.trial_id for t in engine.trials.values()}
        assert len(engine.rerun_candidates()) == 2
        rerun = await engine.rerun_trials(None)
        assert set(rerun) == failed
        assert engine.status == ExperimentStatus.RUNNING
        await wait_for(engine, lambda: engine.status == ExperimentStatus.DONE and len(engine.trials) == 4)
        for old, new in rerun.items():
            again = engine.trials[new]
            assert again.status == TrialStatus.SUCCEEDED and again.retry_of == old and again.attempt == 0
            assert again.parameter_id == engine.trials[old].parameter_id
            assert again.message == f"rerun of trial {old}"
        assert engine.rerun_candidates() == []  # their parameters succeeded now
        assert await engine.rerun_trials(None) == {}
        await finish(engine)
    run(body)
    assert sorted(tuner.named("result")) == [("result", 0, 0.1, False), ("result", 1, 0.2, False)]
    assert len(tuner.named("generate")) == 2


def test_rerun_of_one_trial_by_id_and_its_errors(tmp_path: Path) -> None:
    async def body() -> None:
        service = MemoryService(lambda spec: [Start(), Hold(), Report(0.5), Exit(0)])
        engine = await start_engine(tmp_path, service, ScriptedTuner([{"x": 0.1}]), max_trial_number=1)
        await wait_for(engine, lambda: any(t.status == TrialStatus.RUNNING for t in engine.trials.values()))
        trial_id = next(iter(engine.trials))
        with pytest.raises(ValueError, match="only a finished trial can run again"):
            await engine.rerun_trials([trial_id])
        with pytest.raises(KeyError):
            await engine.rerun_trials(["nosuch"])
        service.release(trial_id)
        await wait_for(engine, lambda: engine.status == ExperimentStatus.DONE)
        (new,) = (await engine.rerun_trials([trial_id])).values()  # a succeeded one may run again too
        service.release(new)
        await wait_for(engine, lambda: engine.status == ExperimentStatus.DONE and engine.trials[new].finished)
        assert engine.trials[new].status == TrialStatus.SUCCEEDED
        await finish(engine)
        with pytest.raises(ValueError, match="STOPPED"):
            await engine.rerun_trials([trial_id])
    run(body)


def test_an_enqueued_trial_runs_first_and_once_whatever_the_concurrency(tmp_path: Path) -> None:
    tuner = ScriptedTuner([{"x": i / 10} for i in range(6)])
    service = MemoryService()

    async def body() -> None:
        engine = make_engine(tmp_path, service, tuner, trial_concurrency=4, max_trial_number=6)
        engine.queue_at_start({"x": 0.99})  # as the launcher passes on Experiment.enqueue_trial before start
        await engine.start()
        (enqueued,) = [t.trial_id for t in engine.trials.values() if t.customized]
        await wait_for(engine, lambda: engine.status == ExperimentStatus.DONE)
        assert service.submitted[0].trial_id == enqueued
        assert [s.trial_id for s in service.submitted].count(enqueued) == 1
        assert engine.trials[enqueued].final is not None and engine.trials[enqueued].final.value == 0.99
        assert len(engine.trials) == 7
        await finish(engine)
    run(body)
    assert ("result", 0, 0.99, True) in tuner.calls


def test_an_enqueued_trial_waiting_for_a_slot_survives_a_resume_and_runs_once(tmp_path: Path) -> None:
    crashed = MemoryService(lambda spec: [Start(), Hold(), Exit(0)])
    queued: list[str] = []

    async def first() -> None:
        engine = await start_engine(tmp_path, crashed, ScriptedTuner([{"x": 0.1}]), max_trial_number=1)
        await wait_for(engine, lambda: any(t.status == TrialStatus.RUNNING for t in engine.trials.values()))
        queued.append(await engine.add_customized_trial({"x": 0.7}))
        assert engine.trials[queued[0]].status == TrialStatus.WAITING and not any(
            s.trial_id == queued[0] for s in crashed.submitted)
        crashed.crash()
        engine.storage.close()
    run(first)

    service = MemoryService()

    async def second() -> None:
        engine = await start_engine(tmp_path, service, ScriptedTuner([]), max_trial_number=1)
        await wait_for(engine, lambda: engine.status == ExperimentStatus.DONE)
        assert [s.trial_id for s in service.submitted].count(queued[0]) == 1
        assert engine.trials[queued[0]].status == TrialStatus.SUCCEEDED
        await finish(engine)
    run(second)


def test_raising_the_budget_of_a_done_experiment_keeps_the_tuners_state(tmp_path: Path) -> None:
    space = {"x": {"_type": "choice", "_value": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]}}
    tuner = RandomTuner(seed=1)

    async def body() -> None:
        engine = await start_engine(tmp_path, MemoryService(), tuner, max_trial_number=2, search_space=space)
        await wait_for(engine, lambda: engine.status == ExperimentStatus.DONE)
        await engine.update("maxTrialNumber", 4)
        await wait_for(engine, lambda: engine.status == ExperimentStatus.DONE and len(engine.trials) == 4)
        await engine.update("maxExperimentDuration", "1h")
        await engine.update("maxTrialNumber", 6)
        await wait_for(engine, lambda: engine.status == ExperimentStatus.DONE and len(engine.trials) == 6)
        await finish(engine)
    run(body)
    # one tuner all along: it remembers what it proposed, so six proposals cover the six choices
    assert sorted(o.params["x"] for o in tuner.observations) == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]


def test_a_resume_with_a_larger_budget_continues_from_the_replayed_results(tmp_path: Path) -> None:
    space = {"x": {"_type": "choice", "_value": [0.1, 0.2, 0.3, 0.4]}}

    async def first() -> None:
        engine = await start_engine(tmp_path, MemoryService(), RandomTuner(seed=2), max_trial_number=2,
                                    search_space=space)
        await wait_for(engine, lambda: engine.status == ExperimentStatus.DONE)
        await finish(engine)
    run(first)
    tuner = RandomTuner(seed=2)

    async def second() -> None:
        engine = await start_engine(tmp_path, MemoryService(), tuner, max_trial_number=4, search_space=space)
        await wait_for(engine, lambda: engine.status == ExperimentStatus.DONE and len(engine.trials) == 4)
        assert sorted(t.parameters["x"] for t in engine.trials.values()) == [0.1, 0.2, 0.3, 0.4]
        await finish(engine)
    run(second)
    assert len(tuner.observations) == 4  # the two replayed and the two new ones
