"""A view serves trials and final results first and attaches the curves after; a damaged curve row
surfaces where the curves are asked for, as a StorageError naming the file, and is left out (logged)
of the streamed metric lists."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from stored import write_experiment

from nni.engine.view import ViewEngine
from nni.errors import StorageError
from nni.storage.sqlite import SqliteStorage


def test_deferred_loading_ends_with_what_a_whole_load_gives(tmp_path: Path) -> None:
    write_experiment(tmp_path, 30, points=3)
    storage = SqliteStorage(tmp_path / "stored" / "db", read_only=True)
    trials, attach_curves = storage.load_trials_deferred()
    assert all(t.final is not None and not t.intermediate for t in trials)
    attach_curves()
    assert trials == storage.load_trials()
    assert [m.sequence for m in trials[4].intermediate] == [0, 1, 2]
    storage.close()


def test_a_view_reports_one_reset_once_its_curves_are_in(tmp_path: Path) -> None:
    write_experiment(tmp_path, 30, points=3)
    view = ViewEngine("stored", tmp_path / "stored")

    async def body() -> None:
        await view.curves_loaded()
        assert all(view.curve_summary(t)[0] == 3 for t in view.trials.values())
        assert [c.kind for c in await view.wait_changes(0, 1.0)] == ["reset"]
        assert await view.wait_changes(view.revision, 0.1) == []

    asyncio.run(body())
    view.storage.close()


def test_a_view_reads_curves_from_the_database_until_whole_trials_are_asked_for(tmp_path: Path) -> None:
    write_experiment(tmp_path, 30, points=3)
    whole = {t.trial_id: t for t in SqliteStorage(tmp_path / "stored" / "db", read_only=True).load_trials()}
    view = ViewEngine("stored", tmp_path / "stored")
    asyncio.run(view.curves_loaded())
    trial = view.trials[next(iter(whole))]
    assert trial.intermediate == []  # not held in memory
    assert view.curve(trial) == whole[trial.trial_id].intermediate
    assert view.curve_summary(trial) == (3, whole[trial.trial_id].intermediate[-1])
    assert view.curves(list(view.trials.values())) == {i: t.intermediate for i, t in whole.items()}
    arrived = list(view.arrived_metrics())
    view.wait_for_curves()  # attaches every curve: the trials are then what a whole load gives
    assert view.trials == whole
    assert list(view.arrived_metrics()) == arrived
    view.storage.close()


def test_a_damaged_row_is_a_storage_error_for_one_curve_and_left_out_of_streamed_lists(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_experiment(tmp_path, 5, points=3)
    with sqlite3.connect(tmp_path / "stored" / "db" / "nni.sqlite") as db:
        seq = db.execute("SELECT MIN(seq) FROM metrics WHERE type = 'PERIODICAL'").fetchone()[0]
        db.execute("UPDATE metrics SET data = '{broken' WHERE seq = ?", (seq,))  # not the trial's last
    view = ViewEngine("stored", tmp_path / "stored")
    asyncio.run(view.curves_loaded())  # the counts and last results are readable
    damaged = min(view.trials.values(), key=lambda t: t.sequence_id)
    with pytest.raises(StorageError, match="not an NNI experiment database"):
        view.curve(damaged)
    # A streamed list cannot fail after its 200 went out: the row is left out, and logged.
    arrived = list(view.arrived_metrics())
    assert len(arrived) == 5 * 4 - 1
    assert (damaged.trial_id, "PERIODICAL", 0) not in {(m.trial_id, m.type, m.sequence) for m in arrived}
    assert "is not JSON; left out of the list" in caplog.text
    assert len(list(view.latest_metrics())) == 5 + 5
    view.storage.close()


def test_a_damaged_last_curve_row_costs_only_that_trials_last_result(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_experiment(tmp_path, 5, points=2)
    with sqlite3.connect(tmp_path / "stored" / "db" / "nni.sqlite") as db:
        damaged_id, seq = db.execute("SELECT trial_id, MAX(seq) FROM metrics WHERE type = 'PERIODICAL' "
                                     "GROUP BY trial_id ORDER BY trial_id LIMIT 1").fetchone()
        db.execute("UPDATE metrics SET data = '{broken' WHERE seq = ?", (seq,))
    view = ViewEngine("stored", tmp_path / "stored")
    assert len(view.trials) == 5  # the table is served at once
    asyncio.run(view.curves_loaded())  # and the other trials' summaries load
    summaries = {t.trial_id: view.curve_summary(t) for t in view.trials.values()}
    assert summaries[damaged_id] == (2, None)
    assert all(count == 2 and last is not None for trial_id, (count, last) in summaries.items() if trial_id != damaged_id)
    assert f"metric row {seq} (trial {damaged_id}) is not JSON" in caplog.text
    with pytest.raises(StorageError, match="not an NNI experiment database"):  # its whole curve is unreadable
        view.curve(view.trials[damaged_id])
    view.storage.close()
