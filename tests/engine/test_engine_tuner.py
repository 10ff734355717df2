"""The engine and its tuner: errors, exhaustion, odd metric values and the order of calls."""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

import pytest
from engine_harness import by_parameter, finish, run, start_engine, wait_for
from memory_service import Exit, Hold, MemoryService, Report, Sleep, Start
from scripted import ScriptedTuner

from nni.algorithms.hpo.random_tuner import RandomTuner
from nni.engine.engine import CallResult
from nni.errors import NoMoreTrialError, SearchSpaceError
from nni.records import ExperimentStatus, TrialStatus
from nni.storage.sqlite import SqliteStorage
from nni.training_service.base import TrialSpec
from nni.tuner import Tuner


def test_a_call_result_says_plainly_how_the_call_went() -> None:
    assert CallResult([1]) == CallResult(value=[1], failed=False, no_more_trials=False)
    assert CallResult(failed=True).value is None and not CallResult(no_more_trials=True).failed


def test_a_tuner_raising_in_generate_is_error_with_the_traceback_and_results_are_kept(tmp_path: Path) -> None:
    async def body() -> None:
        tuner = ScriptedTuner(fail="generate", fail_after=1)
        engine = await start_engine(tmp_path, MemoryService(), tuner, max_trial_number=3)
        await wait_for(engine, lambda: engine.status == ExperimentStatus.ERROR)
        assert engine.error is not None
        assert engine.error.startswith("ScriptedTuner.generate_multiple_parameters raised RuntimeError: "
                                       "scripted failure in generate")
        assert "Traceback (most recent call last)" in engine.error and "in generate_parameters" in engine.error
        await finish(engine)
        assert engine.status == ExperimentStatus.ERROR  # a stop does not hide the error
        stored = SqliteStorage(tmp_path / "db", read_only=True)
        (trial,) = stored.load_trials()
        assert trial.status == TrialStatus.SUCCEEDED and trial.final is not None and trial.final.value == 0.0
        assert stored.experiment_events("status")[-1]["data"]["status"] == "ERROR"
        stored.close()
    run(body)


def test_a_tuner_raising_in_receive_is_error_and_the_result_is_stored(tmp_path: Path) -> None:
    async def body() -> None:
        engine = await start_engine(tmp_path, MemoryService(), ScriptedTuner(fail="result"), max_trial_number=3)
        await wait_for(engine, lambda: engine.status == ExperimentStatus.ERROR)
        assert engine.error is not None and "ScriptedTuner.receive_trial_result raised RuntimeError" in engine.error
        await wait_for(engine, lambda: all(t.finished for t in engine.trials.values()))
        assert len(engine.trials) == 1  # nothing more is scheduled once in ERROR
        (trial,) = engine.trials.values()
        assert trial.status == TrialStatus.SUCCEEDED and trial.final is not None
        await finish(engine)
    run(body)


def test_a_tuner_refusing_the_search_space_at_start_is_error_before_any_trial(tmp_path: Path) -> None:
    async def body() -> None:
        service = MemoryService()
        engine = await start_engine(tmp_path, service, ScriptedTuner(fail="space"), max_trial_number=3)
        assert engine.status == ExperimentStatus.ERROR
        assert engine.error is not None and "ScriptedTuner.update_search_space raised" in engine.error
        assert service.submitted == [] and engine.trials == {}
        await finish(engine)
    run(body)


def test_a_live_search_space_the_tuner_refuses_leaves_the_old_one(tmp_path: Path) -> None:
    async def body() -> None:
        tuner = ScriptedTuner(fail="space", fail_after=1)
        engine = await start_engine(tmp_path, MemoryService(lambda spec: [Start()]), tuner, max_trial_number=3)
        old = engine.search_space
        await engine.update_search_space({"y": {"_type": "choice", "_value": [1, 2]}})
        assert engine.status == ExperimentStatus.ERROR and engine.search_space == old
        assert engine.storage.experiment_events("config") == []
        await finish(engine)
    run(body)


def test_an_invalid_live_search_space_is_refused_before_the_tuner_sees_it(tmp_path: Path) -> None:
    async def body() -> None:
        tuner = ScriptedTuner()
        engine = await start_engine(tmp_path, MemoryService(lambda spec: [Start()]), tuner, max_trial_number=3)
        with pytest.raises(SearchSpaceError):
            await engine.update_search_space({"y": {"_type": "nonsense", "_value": [1]}})
        assert len(tuner.named("space")) == 1 and engine.status != ExperimentStatus.ERROR
        await finish(engine)
    run(body)


def test_a_tuner_out_of_proposals_ends_the_experiment_done(tmp_path: Path) -> None:
    async def body() -> None:
        tuner = ScriptedTuner([{"x": 0.1}, {"x": 0.2}])
        engine = await start_engine(tmp_path, MemoryService(), tuner, trial_concurrency=2, max_trial_number=5)
        await wait_for(engine, lambda: engine.status == ExperimentStatus.DONE)
        assert [t.parameters for t in by_parameter(engine)] == [{"x": 0.1}, {"x": 0.2}]
        assert engine.error is None
        await finish(engine)
    run(body)


def test_no_more_trial_error_from_generate_multiple_is_exhaustion_not_an_error(tmp_path: Path) -> None:
    class Empty(ScriptedTuner):
        def generate_multiple_parameters(self, parameter_id_list: list[int], **kwargs: Any) -> list[Any]:
            raise NoMoreTrialError("nothing at all")

    async def body() -> None:
        engine = await start_engine(tmp_path, MemoryService(), Empty(), max_trial_number=5)
        await wait_for(engine, lambda: engine.status == ExperimentStatus.DONE)
        assert engine.trials == {} and engine.error is None
        await finish(engine)
    run(body)


def test_out_of_proposals_while_one_runs_keeps_running_and_asks_again_when_a_slot_frees(tmp_path: Path) -> None:
    async def body() -> None:
        tuner = ScriptedTuner([{"x": 0.1}, {"x": 0.2}, {"x": 0.3}])
        service = MemoryService(lambda spec: [Start(), Hold(), Report(0.1), Exit(0)])
        engine = await start_engine(tmp_path, service, tuner, trial_concurrency=2, max_trial_number=5)
        await wait_for(engine, lambda: len(service.submitted) == 2)
        service.release(service.submitted[0].trial_id)
        await wait_for(engine, lambda: len(service.submitted) == 3)
        service.release(service.submitted[1].trial_id)
        await wait_for(engine, lambda: tuner.asked == [0, 1, 2, 3])  # asked again; none left
        service.release(service.submitted[2].trial_id)
        await wait_for(engine, lambda: engine.status == ExperimentStatus.DONE)
        assert len(engine.trials) == 3 and engine.error is None
        # "none now" with a trial running is not the end: no DONE before the last trial ended
        statuses = [e["data"]["status"] for e in engine.storage.experiment_events("status")]
        assert statuses == ["RUNNING", "DONE"]
        await finish(engine)
    run(body)


def test_a_customized_trial_after_exhaustion_runs_as_tuner_no_more_trial(tmp_path: Path) -> None:
    async def body() -> None:
        tuner = ScriptedTuner([{"x": 0.1}])
        service = MemoryService(lambda spec: [Start(), Hold(), Exit(0)])
        engine = await start_engine(tmp_path, service, tuner, max_trial_number=5)
        await wait_for(engine, lambda: len(service.submitted) == 1)
        service.release(service.submitted[0].trial_id)
        await wait_for(engine, lambda: engine.status == ExperimentStatus.DONE)
        custom_id = await engine.add_customized_trial({"x": 0.2})
        await wait_for(engine, lambda: engine.status == ExperimentStatus.TUNER_NO_MORE_TRIAL)
        service.release(custom_id)
        await wait_for(engine, lambda: engine.status == ExperimentStatus.DONE)
        assert len(tuner.named("generate")) == 1
        await finish(engine)
    run(body)


_ODD_VALUES: list[Any] = [0.5, math.nan, 10 ** 400, "abc", {"default": math.inf}, True, {"default": 0.25, "loss": "n/a"}]


def _odd_script(spec: TrialSpec) -> list[Start | Report | Exit]:
    return [Start(), Report(_ODD_VALUES[spec.sequence_id]), Exit(0)]


def test_odd_metrics_are_stored_as_reported_and_a_builtin_tuner_gets_only_numbers(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    tuner = RandomTuner(seed=1)

    async def body() -> None:
        engine = await start_engine(tmp_path, MemoryService(_odd_script), tuner, max_trial_number=len(_ODD_VALUES))
        await wait_for(engine, lambda: engine.status == ExperimentStatus.DONE)
        trials = by_parameter(engine)
        assert all(t.status == TrialStatus.SUCCEEDED for t in trials)
        numeric = {0, 6}
        for trial in trials:
            if trial.parameter_id in numeric:
                assert trial.message is None
            else:
                assert trial.message is not None
                assert trial.message.startswith("the final result is not given to RandomTuner, which needs a number")
        assert trials[5].message is not None and "it is not a number (bool): True" in trials[5].message
        await finish(engine)
        stored = sorted(SqliteStorage(tmp_path / "db", read_only=True).load_trials(), key=lambda t: t.parameter_id)
        values = [t.final.value for t in stored if t.final is not None]
        assert values[0] == 0.5 and math.isnan(values[1]) and values[2] == 10 ** 400 and values[3] == "abc"
        assert values[4] == {"default": math.inf} and values[5] is True and values[6] == _ODD_VALUES[6]
    with caplog.at_level(logging.WARNING):
        run(body)
    assert sorted(obs.loss for obs in tuner.observations) == [0.25, 0.5]
    assert not [r for r in caplog.records if "ignoring non-numeric" in r.getMessage()]  # never handed over


def test_a_custom_tuner_gets_every_value_as_reported(tmp_path: Path) -> None:
    async def body() -> None:
        tuner = ScriptedTuner()
        engine = await start_engine(tmp_path, MemoryService(_odd_script), tuner, max_trial_number=4)
        await wait_for(engine, lambda: engine.status == ExperimentStatus.DONE)
        assert all(t.message is None for t in engine.trials.values())
        await finish(engine)
        received = [call[2] for call in sorted(tuner.named("result"), key=lambda call: call[1])]
        assert received[0] == 0.5 and math.isnan(received[1]) and received[2:] == [10 ** 400, "abc"]
        assert [call[2] for call in tuner.named("end")] == [True] * 4
    run(body)


def test_a_second_final_result_is_ignored_with_a_note(tmp_path: Path) -> None:
    async def body() -> None:
        tuner = ScriptedTuner()
        service = MemoryService(lambda spec: [Start(), Report(0.1), Report(0.9), Exit(0)])
        engine = await start_engine(tmp_path, service, tuner, max_trial_number=1)
        await wait_for(engine, lambda: engine.status == ExperimentStatus.DONE)
        (trial,) = engine.trials.values()
        assert trial.final is not None and trial.final.value == 0.1
        assert trial.message == "a second final result was reported and ignored (the first is kept): 0.9"
        await finish(engine)
        assert [call[2] for call in tuner.named("result")] == [0.1]
    run(body)


class _RoundAdvisor(Tuner):
    """Like Hyperband between rounds: proposes nothing until the last proposal's result and end arrived.

    An engine that let ``generate`` overtake them would see "nothing" with nothing running and end early.
    """

    def __init__(self) -> None:
        self.pending: int | None = None
        self.calls: list[tuple[str, int]] = []

    def update_search_space(self, search_space: dict[str, Any]) -> None:
        pass

    def generate_multiple_parameters(self, parameter_id_list: list[int], **kwargs: Any) -> list[Any]:
        self.calls.append(("generate", parameter_id_list[0]))
        if self.pending is not None:
            return []
        self.pending = parameter_id_list[0]
        return [{"x": 0.5}]

    def receive_trial_result(self, parameter_id: int, parameters: Any, value: Any, **kwargs: Any) -> None:
        time.sleep(0.01)  # a slow model update: the engine must still not ask before it is done
        self.calls.append(("result", parameter_id))

    def trial_end(self, parameter_id: int, success: bool, **kwargs: Any) -> None:
        self.calls.append(("end", parameter_id))
        self.pending = None


def test_a_trials_result_and_end_reach_the_tuner_before_the_next_generate(tmp_path: Path) -> None:
    advisor = _RoundAdvisor()

    async def body() -> None:
        engine = await start_engine(tmp_path, MemoryService(), advisor, max_trial_number=4)
        await wait_for(engine, lambda: engine.status == ExperimentStatus.DONE)
        assert len(engine.trials) == 4
        await finish(engine)
    run(body)
    assert [name for name, _ in advisor.calls] == ["generate", "result", "end"] * 4
    assert [pid for _, pid in advisor.calls] == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]


class _BatchAdvisor(Tuner):
    """Proposes rounds of two configurations, the next round only once both of the last have ended;
    an ask made while a trial still runs is slow, so that trial ends while the ask is in flight."""

    def __init__(self, rounds: int) -> None:
        self.rounds = rounds
        self.open: set[int] = set()
        self.started = 0

    def update_search_space(self, search_space: dict[str, Any]) -> None:
        pass

    def generate_multiple_parameters(self, parameter_id_list: list[int], **kwargs: Any) -> list[Any]:
        if self.open:
            time.sleep(0.3)
            return []
        if self.started == self.rounds:
            return []
        self.started += 1
        self.open = set(parameter_id_list[:2])
        return [{"x": 0.1 * self.started} for _ in self.open]

    def receive_trial_result(self, parameter_id: int, parameters: Any, value: Any, **kwargs: Any) -> None:
        pass

    def trial_end(self, parameter_id: int, success: bool, **kwargs: Any) -> None:
        self.open.discard(parameter_id)


def test_a_trial_ending_while_an_ask_is_in_flight_is_not_read_as_exhaustion(tmp_path: Path) -> None:
    def script(spec: TrialSpec) -> list[Any]:
        first = spec.parameter_record["parameter_id"] % 2 == 0
        return [Start(), Report(0.1), Exit(0)] if first else [Start(), Sleep(0.1), Report(0.2), Exit(0)]

    async def body() -> None:
        engine = await start_engine(tmp_path, MemoryService(script), _BatchAdvisor(rounds=2),
                                    trial_concurrency=2, max_trial_number=10)
        await wait_for(engine, lambda: engine.status == ExperimentStatus.DONE)
        assert [t.parameters["x"] for t in by_parameter(engine)] == [0.1, 0.1, 0.2, 0.2]
        await finish(engine)
    run(body)


def test_tuner_calls_run_with_one_blas_thread(tmp_path: Path) -> None:
    import numpy  # noqa: F401  (loads OpenBLAS)
    from threadpoolctl import threadpool_info

    seen: list[int] = []

    class Counting(ScriptedTuner):
        def generate_multiple_parameters(self, parameter_id_list: list[int], **kwargs: Any) -> list[Any]:
            seen.extend(lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas")
            return super().generate_multiple_parameters(parameter_id_list, **kwargs)

    before = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]

    async def body() -> None:
        engine = await start_engine(tmp_path, MemoryService(), Counting([{"x": 0.1}]), max_trial_number=1)
        await wait_for(engine, lambda: engine.status == ExperimentStatus.DONE)
        await finish(engine)
    run(body)
    assert seen and set(seen) == {1}
    assert [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"] == before
