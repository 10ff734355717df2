"""Experiments NNI 3.0 recorded: its ``db/nni.sqlite`` (tables TrialJobEvent, MetricData,
ExperimentProfile) read as the same records :class:`SqliteStorage` gives.

Viewing reads NNI's file as it is. Writing (a resume) first converts it into our schema, keeping
NNI's file beside it as ``nni.sqlite.nni30`` so nothing of the original is lost.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import StorageError
from ..records import MetricRecord, Trial, TrialStatus
from .base import Storage
from .sqlite import DB_FILE, SqliteStorage

__all__ = ["Nni30Storage", "decode_json_text", "is_nni30_database", "convert_nni30_database", "open_storage", "BACKUP_SUFFIX",
           "trial_file_location"]

NNI30_TABLES = frozenset({"TrialJobEvent", "MetricData", "ExperimentProfile"})
BACKUP_SUFFIX = ".nni30"
"""NNI's original database is kept as ``nni.sqlite.nni30`` once converted."""

# NNI's events that are no trial status of their own (see its NNIDataStore.getJobStatusByLatestEvent).
_EVENT_STATUS = {"USER_TO_CANCEL": TrialStatus.USER_CANCELED, "ADD_CUSTOMIZED": TrialStatus.WAITING}
_STATUSES = {status.value: status for status in TrialStatus}
_ENDED = {"SUCCEEDED", "FAILED", "USER_CANCELED", "SYS_CANCELED", "EARLY_STOPPED"}


def _tables(path: Path) -> set[str]:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error:
        return set()
    try:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError:
        return set()
    finally:
        conn.close()


def is_nni30_database(db_dir: Path) -> bool:
    """Whether ``db_dir/nni.sqlite`` is a database NNI 3.0 wrote (its tables, none of ours)."""
    path = Path(db_dir) / DB_FILE
    if not path.is_file():
        return False
    tables = _tables(path)
    return tables >= NNI30_TABLES and "profile" not in tables


_SHORTCUTS = ("trialCommand", "trialCodeDirectory", "trialGpuNumber", "nniManagerIp", "debug")
"""Root fields NNI's canonical config copies into each training service."""


def _config(params: dict[str, Any]) -> dict[str, Any]:
    """NNI's canonical config without the copies of root fields it put into the training services
    (where equal to the root's, dropping them loses nothing): the config as its user wrote it."""
    services = params.get("trainingService")
    if not isinstance(services, (dict, list)):
        return params
    def strip(service: Any) -> Any:
        if not isinstance(service, dict):
            return service
        return {key: value for key, value in service.items()
                if not (key in _SHORTCUTS and key in params and params[key] == value)}
    return {**params, "trainingService": [strip(s) for s in services] if isinstance(services, list)
            else strip(services)}


def decode_json_text(text: Any) -> Any:
    """A JSON text decoded; anything else (a value already decoded, text that is no JSON) as it is.

    NNI 3.0 keeps and sends values as JSON texts (metrics even as texts of texts); this is the one
    decoder for them: its database here, its REST answers in the ``Experiment`` client and nnictl."""
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


class Nni30Storage(Storage):
    """NNI 3.0's database, read-only, answering in our records."""

    def __init__(self, db_dir: Path) -> None:
        self.path = Path(db_dir) / DB_FILE
        self.experiment_dir = Path(db_dir).parent
        try:
            self._conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
        except sqlite3.Error as error:
            raise StorageError(f"{self.path}: cannot open NNI 3.0's experiment database: {error}") from error
        self._profile_row = self._latest_profile()

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        """SQLite errors and rows NNI would not have written, as a StorageError naming the file."""
        try:
            yield
        except (sqlite3.DatabaseError, ValueError, TypeError, KeyError, AttributeError) as error:
            problem = "cannot read" if isinstance(error, sqlite3.DatabaseError) else "unreadable row in"
            raise StorageError(f"{self.path}: {problem} NNI 3.0's experiment database ({error})") from error

    def _rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        with self._reading():
            return self._conn.execute(sql, args).fetchall()

    def _latest_profile(self) -> dict[str, Any] | None:
        rows = self._rows("SELECT params, id, execDuration, startTime, endTime, logDir, nextSequenceId, revision "
                          "FROM ExperimentProfile ORDER BY revision DESC, rowid DESC LIMIT 1")
        if not rows:
            return None
        params, exp_id, duration, start, end, log_dir, next_id, revision = rows[0]
        with self._reading():
            return {"params": json.loads(params), "id": exp_id, "execDuration": duration, "startTime": start,
                    "endTime": end, "logDir": log_dir, "nextSequenceId": next_id, "revision": revision}

    def _local_path(self, path: str | None) -> str | None:
        """A path NNI recorded under its experiment folder, moved to where that folder is now."""
        if not path or self._profile_row is None:
            return path
        marker = f"/{self._profile_row['id']}/"
        if marker not in path:
            return path
        return str(self.experiment_dir / path.split(marker, 1)[1])

    # -- reads --------------------------------------------------------------------------------------

    def load_profile(self) -> dict[str, Any] | None:
        """Our profile's fields from NNI's latest ExperimentProfile (NNI keeps no status: an end time
        means it finished)."""
        row = self._profile_row
        if row is None:
            return None
        return {"id": row["id"], "config": _config(row["params"]), "status": "DONE" if row["endTime"] else "STOPPED",
                "error": None, "start_time_ms": row["startTime"], "end_time_ms": row["endTime"],
                "elapsed_ms": int(row["execDuration"] or 0) * 1000,
                "next_parameter_id": int(row["nextSequenceId"] or 0), "live_tuner": False}

    def experiment_events(self, kind: str | None = None) -> list[dict[str, Any]]:
        """NNI's IMPORT_DATA events as our ``import_data`` events; NNI records no other kind."""
        if kind not in (None, "import_data"):
            return []
        rows = self._rows("SELECT rowid, timestamp, data FROM TrialJobEvent WHERE event = 'IMPORT_DATA' ORDER BY rowid")
        with self._reading():
            return [{"seq": seq, "timestamp": timestamp, "kind": "import_data", "data": {"data": json.loads(data)}}
                    for seq, timestamp, data in rows if data]

    def load_trials(self) -> list[Trial]:
        """Replay NNI's trial events as NNI's own data store does, then attach the metrics."""
        events = self._rows("SELECT timestamp, trialJobId, event, data, logPath, sequenceId, message "
                            "FROM TrialJobEvent ORDER BY rowid")
        metrics = self._rows("SELECT timestamp, trialJobId, parameterId, type, sequence, data "
                             "FROM MetricData ORDER BY rowid")
        with self._reading():
            trials = self._replay(events)
            for timestamp, trial_id, parameter_id, kind, sequence, data in metrics:
                trial = trials.get(trial_id)
                if trial is None:
                    continue
                # NNI keeps the trial's JSON text as a JSON string: decoding twice gives the value.
                metric = MetricRecord(trial_id, None if parameter_id is None else int(parameter_id), kind,
                                      int(sequence), int(timestamp), decode_json_text(decode_json_text(data)))
                if kind == "FINAL":
                    trial.final = trial.final or metric
                else:
                    trial.intermediate.append(metric)
        return list(trials.values())

    def _replay(self, events: list[Any]) -> dict[str, Trial]:
        trials: dict[str, Trial] = {}
        for timestamp, trial_id, event, data, log_path, sequence_id, message in events:
            if not trial_id:
                continue
            record = decode_json_text(data) if data and data.strip() else None
            trial = trials.get(trial_id)
            if trial is None:
                record = record if isinstance(record, dict) else {}
                source = record.get("parameter_source", "algorithm")
                trial = trials[trial_id] = Trial(
                    trial_id=trial_id, sequence_id=int(sequence_id or 0),
                    parameter_id=int(record.get("parameter_id") or 0),
                    parameter_record={"parameter_id": record.get("parameter_id"), "parameter_source": source,
                                      "parameters": record.get("parameters", {}),
                                      "parameter_index": record.get("parameter_index", 0)},
                    customized=source == "customized", submit_time_ms=int(timestamp or 0))
            status = _EVENT_STATUS.get(event) or _STATUSES.get(event)
            if status is not None:
                trial.status = status
            if event == "RUNNING":
                trial.start_time_ms = timestamp
            if event in _ENDED:
                trial.end_time_ms = timestamp
                trial.start_time_ms = trial.start_time_ms or timestamp
            if log_path:
                trial.log_path = self._local_path(log_path)
                trial.stdout_path = str(Path(trial.log_path or "") / "trial.stdout")
                trial.stderr_path = str(Path(trial.log_path or "") / "trial.stderr")
            if message:
                trial.message = message
        return trials

    # -- writes: refused ----------------------------------------------------------------------------

    def _refuse(self) -> StorageError:
        return StorageError(f"{self.path} is NNI 3.0's database, opened read-only; resuming converts it")

    def save_profile(self, profile: dict[str, Any]) -> None:
        raise self._refuse()

    def append_experiment_event(self, kind: str, data: dict[str, Any]) -> None:
        raise self._refuse()

    def append_trial_event(self, trial: Trial, kind: str, fields: dict[str, Any]) -> None:
        raise self._refuse()

    def add_metric(self, metric: MetricRecord) -> bool:
        raise self._refuse()

    def close(self) -> None:
        self._conn.close()


def convert_nni30_database(db_dir: Path) -> Path:
    """Rewrite NNI 3.0's database in our schema; NNI's file is kept as ``nni.sqlite.nni30``.

    The new file is written beside the old one and swapped in only when complete, so a failure
    half-way leaves NNI's database as it was. Returns the backup's path.
    """
    db_dir = Path(db_dir)
    source = Nni30Storage(db_dir)
    try:
        profile, trials, imports = source.load_profile(), source.load_trials(), source.experiment_events("import_data")
    finally:
        source.close()
    if profile is None:
        raise StorageError(f"{db_dir / DB_FILE}: NNI 3.0's database holds no experiment profile")
    staging = db_dir / "converting"
    if staging.exists():
        for leftover in staging.iterdir():
            leftover.unlink()
    target = SqliteStorage(staging)
    try:
        target.save_profile(profile)
        for event in imports:
            target.append_experiment_event("import_data", event["data"])
        target.write_trials(trials)
    finally:
        target.close()  # the last connection's close folds the write-ahead log into the file
    backup = db_dir / (DB_FILE + BACKUP_SUFFIX)
    (db_dir / DB_FILE).replace(backup)
    for name in (DB_FILE + "-wal", DB_FILE + "-shm"):
        with contextlib.suppress(FileNotFoundError):
            (db_dir / name).unlink()
    (staging / DB_FILE).replace(db_dir / DB_FILE)
    for leftover in staging.iterdir():
        leftover.unlink()
    staging.rmdir()
    return backup


def open_storage(db_dir: Path, read_only: bool = False) -> Storage:
    """The storage of an experiment's ``db`` folder, whoever wrote it: NNI 3.0's file is read as it
    is when ``read_only``, and converted into ours (keeping the original) before any write."""
    if is_nni30_database(db_dir):
        if read_only:
            return Nni30Storage(db_dir)
        convert_nni30_database(db_dir)
    return SqliteStorage(db_dir, read_only=read_only)


def trial_file_location(experiment_dir: Path, trial_id: str, name: str) -> tuple[str, str]:
    """(folder relative to ``experiment_dir``, file name) of a trial's file ``name``.

    Ours live in ``trials/<id>/`` (``stdout``, ``stderr``, ``trial.log``); a trial NNI 3.0 ran
    locally in ``environments/local-env/trials/<id>/`` with ``trial.stdout`` and ``trial.stderr``.
    """
    ours = f"trials/{trial_id}"
    nni = f"environments/local-env/trials/{trial_id}"
    if (experiment_dir / ours).is_dir() or not (experiment_dir / nni).is_dir():
        return ours, name
    return nni, f"trial.{name}" if name in ("stdout", "stderr") else name
