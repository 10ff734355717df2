"""The engine asks the tuner for every free slot at once, and keeps its slot counts without scanning
every trial (what lets 256 concurrent trials and 100,000 finished ones schedule quickly)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine_harness import finish, run, start_engine, wait_for
from memory_service import Exit, Hold, MemoryService, Report, Start
from scripted import ScriptedTuner

from nni.records import TrialStatus


class BatchLoggingTuner(ScriptedTuner):
    """A scripted tuner that also logs the ids of each ``generate_multiple_parameters`` call."""

    def __init__(self, proposals: list[dict[str, Any]]) -> None:
        super().__init__(proposals)
        self.batches: list[list[int]] = []

    def generate_multiple_parameters(self, parameter_id_list: list[int], **kwargs: Any) -> list[dict[str, Any]]:
        self.batches.append(list(parameter_id_list))
        return super().generate_multiple_parameters(parameter_id_list, **kwargs)


def test_n_free_slots_are_one_call_for_n_proposals(tmp_path: Path) -> None:
    async def body() -> None:
        tuner = BatchLoggingTuner([{"x": i / 100} for i in range(40)])
        service = MemoryService(lambda spec: [Start(), Hold(), Report(0.5), Exit(0)])
        engine = await start_engine(tmp_path, service, tuner, trial_concurrency=16, max_trial_number=40)
        await wait_for(engine, lambda: len(engine.trials) == 16)
        assert tuner.batches == [list(range(16))]
        first_five = sorted(engine.trials.values(), key=lambda t: t.sequence_id)[:5]
        for trial in first_five:
            service.release(trial.trial_id)
        await wait_for(engine, lambda: len(engine.trials) == 21)
        # Five slots freed: however the ends were grouped, never more proposals asked than slots free.
        assert sum(len(batch) for batch in tuner.batches) == 21
        assert all(len(batch) <= 16 for batch in tuner.batches) and len(tuner.batches) <= 6
        await finish(engine)
    run(body)


def test_the_last_batch_stops_at_max_trial_number(tmp_path: Path) -> None:
    async def body() -> None:
        tuner = BatchLoggingTuner([{"x": i / 100} for i in range(40)])
        service = MemoryService(lambda spec: [Start(), Report(0.5), Exit(0)])
        engine = await start_engine(tmp_path, service, tuner, trial_concurrency=8, max_trial_number=12)
        await wait_for(engine, lambda: engine.finished)
        assert sum(len(batch) for batch in tuner.batches) == 12 and tuner.batches[0] == list(range(8))
        assert {t.status for t in engine.trials.values()} == {TrialStatus.SUCCEEDED}
        await finish(engine)
    run(body)


def test_slot_counts_follow_statuses_through_a_resume(tmp_path: Path) -> None:
    async def body() -> None:
        service = MemoryService(lambda spec: [Start(), Hold(), Report(0.5), Exit(0)])
        engine = await start_engine(tmp_path, service, ScriptedTuner(), trial_concurrency=3, max_trial_number=5)
        await wait_for(engine, lambda: len(engine.trials) == 3)
        service.release(next(iter(engine.trials)))
        await wait_for(engine, lambda: len(engine.trials) == 4)
        assert engine._occupied() == 3 and engine._created_by_tuner() == 4
        service.crash()
        engine.storage.close()
        again = MemoryService(lambda spec: [Start(), Report(0.5), Exit(0)])
        resumed = await start_engine(tmp_path, again, ScriptedTuner(), trial_concurrency=3, max_trial_number=5)
        assert resumed._created_by_tuner() == 4
        await wait_for(resumed, lambda: resumed.finished)
        assert len(resumed.trials) == 5 and resumed._occupied() == 0
        await finish(resumed)
    run(body)
