"""SqliteStorage on a real file: events, metrics, replay into trials, reopening, damaged files, WAL readers."""

from __future__ import annotations

import math
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from nni.errors import StorageError
from nni.records import MetricRecord, Trial, TrialStatus
from nni.storage.sqlite import DB_FILE, SqliteStorage


def _trial(trial_id: str = "abcde", parameter_id: int = 0) -> Trial:
    record = {"parameter_id": parameter_id, "parameter_source": "algorithm", "parameters": {"x": 1},
              "parameter_index": 0}
    return Trial(trial_id, sequence_id=parameter_id, parameter_id=parameter_id, parameter_record=record)


def _create(storage: SqliteStorage, trial: Trial) -> None:
    """The event the engine writes when it creates a trial."""
    storage.append_trial_event(trial, "created", {
        "sequence_id": trial.sequence_id, "parameter_id": trial.parameter_id, "parameter_record": trial.parameter_record,
        "customized": trial.customized, "submit_time_ms": 1, "status": trial.status})


def _metric(trial_id: str, kind: str = "PERIODICAL", sequence: int = 0, value: object = 0.5) -> MetricRecord:
    return MetricRecord(trial_id, 0, kind, sequence, 1000 + sequence, value)


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[SqliteStorage]:
    opened = SqliteStorage(tmp_path / "db")
    yield opened
    opened.close()


def test_a_new_database_has_no_profile_events_or_trials(storage: SqliteStorage, tmp_path: Path) -> None:
    assert storage.path == tmp_path / "db" / DB_FILE and storage.path.is_file()
    assert storage.load_profile() is None and storage.experiment_events() == [] and storage.load_trials() == []


def test_the_profile_is_replaced_and_keeps_nan(storage: SqliteStorage) -> None:
    storage.save_profile({"id": "e1", "status": "RUNNING"})
    storage.save_profile({"id": "e1", "status": "DONE", "best": math.nan})
    profile = storage.load_profile()
    assert profile is not None and profile["status"] == "DONE" and math.isnan(profile["best"])


def test_experiment_events_come_back_in_order_and_by_kind(storage: SqliteStorage) -> None:
    storage.append_experiment_event("status", {"status": "RUNNING"})
    storage.append_experiment_event("config", {"field": "maxTrialNumber", "value": 3})
    storage.append_experiment_event("status", {"status": "DONE"})
    every = storage.experiment_events()
    assert [e["kind"] for e in every] == ["status", "config", "status"]
    assert [e["seq"] for e in every] == sorted(e["seq"] for e in every)
    assert all(isinstance(e["timestamp"], int) for e in every)
    assert [e["data"]["status"] for e in storage.experiment_events("status")] == ["RUNNING", "DONE"]
    assert storage.experiment_events("import_data") == []


def test_trial_events_replay_into_trials(storage: SqliteStorage) -> None:
    trial = _trial()
    _create(storage, trial)
    storage.append_trial_event(trial, "started", {"status": TrialStatus.RUNNING, "start_time_ms": 5, "gpus": (0, 2),
                                                  "host": "h1", "handle": {"pid": 42}})
    storage.append_trial_event(trial, "ended", {"status": TrialStatus.FAILED, "end_time_ms": 9, "exit_code": 1,
                                                "message": "failed: boom"})
    (loaded,) = storage.load_trials()
    assert loaded.status is TrialStatus.FAILED and loaded.gpus == (0, 2) and loaded.handle == {"pid": 42}
    assert (loaded.start_time_ms, loaded.end_time_ms, loaded.exit_code) == (5, 9, 1)
    assert loaded.parameters == {"x": 1} and loaded.host == "h1" and loaded.message == "failed: boom"


def test_a_metric_is_stored_once_per_trial_type_and_sequence(storage: SqliteStorage) -> None:
    trial = _trial()
    _create(storage, trial)
    assert storage.add_metric(_metric(trial.trial_id, sequence=0))
    assert not storage.add_metric(_metric(trial.trial_id, sequence=0, value=0.9))  # read again after a resume
    assert storage.add_metric(_metric(trial.trial_id, sequence=1, value=0.6))
    assert storage.add_metric(_metric(trial.trial_id, "FINAL", 0, 0.7))
    assert not storage.add_metric(_metric(trial.trial_id, "FINAL", 0, 0.8))
    assert storage.add_metric(_metric("other", sequence=0))  # another trial's sequence 0
    (loaded,) = storage.load_trials()  # a metric of an unknown trial is not a trial
    assert [m.value for m in loaded.intermediate] == [0.5, 0.6]
    assert loaded.final is not None and loaded.final.value == 0.7 and loaded.final.type == "FINAL"


def test_odd_metric_values_come_back_exactly_as_reported(storage: SqliteStorage) -> None:
    trial = _trial()
    _create(storage, trial)
    values: list[object] = [math.nan, math.inf, -math.inf, 10 ** 400, "abc", None, True,
                            {"default": 0.1, "nested": [1, {"a": None}]}]
    for sequence, value in enumerate(values):
        assert storage.add_metric(_metric(trial.trial_id, sequence=sequence, value=value))
    (loaded,) = storage.load_trials()
    got = [m.value for m in loaded.intermediate]
    assert math.isnan(got[0]) and got[1:] == values[1:]  # type: ignore[operator]


def test_a_reopened_database_reads_what_was_written(tmp_path: Path) -> None:
    writer = SqliteStorage(tmp_path / "db")
    trial = _trial()
    _create(writer, trial)
    writer.add_metric(_metric(trial.trial_id, "FINAL", 0, 0.3))
    writer.save_profile({"id": "e1", "next_parameter_id": 1})
    writer.close()
    for reader in (SqliteStorage(tmp_path / "db"), SqliteStorage(tmp_path / "db", read_only=True)):
        (loaded,) = reader.load_trials()
        assert loaded.final is not None and loaded.final.value == 0.3
        assert reader.load_profile() == {"id": "e1", "next_parameter_id": 1}
        reader.close()


def test_a_read_only_storage_refuses_to_write_naming_the_file(tmp_path: Path) -> None:
    SqliteStorage(tmp_path / "db").close()
    reader = SqliteStorage(tmp_path / "db", read_only=True)
    with pytest.raises(StorageError, match=str(reader.path)):
        reader.save_profile({"id": "e1"})
    reader.close()


def test_a_missing_database_opened_read_only_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match=str(tmp_path / "db" / DB_FILE)):
        SqliteStorage(tmp_path / "db", read_only=True)
    assert not (tmp_path / "db").exists()  # reading never creates anything


@pytest.mark.parametrize("read_only", [False, True])
def test_a_file_that_is_not_a_database_is_a_storage_error_naming_it(tmp_path: Path, read_only: bool) -> None:
    path = tmp_path / "db" / DB_FILE
    path.parent.mkdir()
    path.write_bytes(b"this is not SQLite at all\n" * 100)
    with pytest.raises(StorageError, match=f"{path}: cannot use the experiment database"):
        SqliteStorage(tmp_path / "db", read_only=read_only)


def test_another_programs_database_is_refused_naming_its_tables(tmp_path: Path) -> None:
    path = tmp_path / "db" / DB_FILE
    path.parent.mkdir()
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER)")
    conn.close()
    with pytest.raises(StorageError, match=r"not an NNI experiment database \(it holds invoices\)"):
        SqliteStorage(tmp_path / "db")


def test_a_tampered_row_is_a_storage_error_naming_the_file(tmp_path: Path) -> None:
    storage = SqliteStorage(tmp_path / "db")
    storage.save_profile({"id": "e1"})
    with sqlite3.connect(storage.path) as conn:
        conn.execute("UPDATE profile SET data = '{not json'")
        conn.execute("INSERT INTO trial_events (trial_id, timestamp, kind, data) VALUES ('t', 0, 'created', '[]')")
    conn.close()
    with pytest.raises(StorageError, match=f"{storage.path}: not an NNI experiment database: unreadable row"):
        storage.load_profile()
    with pytest.raises(StorageError, match="unreadable row"):
        storage.load_trials()
    storage.close()


def test_damaged_pages_are_a_storage_error_naming_the_file(tmp_path: Path) -> None:
    storage = SqliteStorage(tmp_path / "db")
    trial = _trial()
    _create(storage, trial)
    for sequence in range(2000):  # enough rows for many pages
        storage.add_metric(_metric(trial.trial_id, sequence=sequence, value="x" * 50))
    storage.close()
    with sqlite3.connect(storage.path) as conn:  # fold the WAL back so the damage hits the only copy
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = bytearray(storage.path.read_bytes())
    page = 4096
    data[2 * page:len(data) - page] = b"\xff" * (len(data) - 3 * page)
    storage.path.write_bytes(bytes(data))
    with pytest.raises(StorageError, match=str(storage.path)):
        reopened = SqliteStorage(tmp_path / "db", read_only=True)
        try:
            reopened.load_trials()
        finally:
            reopened.close()


def test_a_reader_sees_consistent_data_while_a_writer_appends(tmp_path: Path) -> None:
    """WAL mode: a read-only reader (nnictl, the web UI of a viewed run) never blocks or sees a torn write."""
    writer = SqliteStorage(tmp_path / "db")
    trials = [_trial(f"t{i:04d}", i) for i in range(200)]
    done = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for trial in trials:
                _create(writer, trial)
                writer.add_metric(_metric(trial.trial_id, "FINAL", 0, trial.parameter_id))
        except BaseException as error:  # handed to the main thread, which fails the test
            errors.append(error)
        finally:
            done.set()

    reader = SqliteStorage(tmp_path / "db", read_only=True)
    thread = threading.Thread(target=write)
    thread.start()
    counts = []
    while not done.is_set():
        loaded = reader.load_trials()
        counts.append(len(loaded))
        # a trial and its final result are separate writes: a trial may lack it, never the other way round
        assert all(t.final is None or t.final.value == t.parameter_id for t in loaded)
    thread.join()
    assert errors == []
    assert counts == sorted(counts)
    assert len(reader.load_trials()) == 200
    reader.close()
    writer.close()


def test_one_storage_is_safe_to_use_from_several_threads(storage: SqliteStorage) -> None:
    def write(worker: int) -> None:
        for index in range(50):
            storage.append_experiment_event("note", {"worker": worker, "index": index})

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    events = storage.experiment_events("note")
    assert len(events) == 200
    for worker in range(4):
        assert [e["data"]["index"] for e in events if e["data"]["worker"] == worker] == list(range(50))
