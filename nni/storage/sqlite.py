"""SQLite storage: one database file per experiment under ``<exp_dir>/db/``, in WAL mode."""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from pathlib import Path
from typing import Any

from ..errors import StorageError
from ..records import MetricRecord, Trial, TrialStatus
from .base import CurveSummary, Storage, StoredCurves, StoredMetric

__all__ = ["SqliteStorage", "DB_DIR", "DB_FILE", "database_dir"]

_log = logging.getLogger(__name__)

DB_DIR = "db"
DB_FILE = "nni.sqlite"


def database_dir(experiment_dir: Path) -> Path:
    """Where an experiment folder keeps its database (``<experiment_dir>/db``, as in NNI)."""
    return Path(experiment_dir) / DB_DIR

_SCHEMA = """
CREATE TABLE IF NOT EXISTS profile (id INTEGER PRIMARY KEY CHECK (id = 1), data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS experiment_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, timestamp INTEGER NOT NULL, kind TEXT NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trial_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, trial_id TEXT NOT NULL, timestamp INTEGER NOT NULL,
    kind TEXT NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS metrics (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, trial_id TEXT NOT NULL, parameter_id INTEGER, type TEXT NOT NULL,
    sequence INTEGER NOT NULL, timestamp INTEGER NOT NULL, data TEXT NOT NULL,
    UNIQUE (trial_id, type, sequence));
CREATE INDEX IF NOT EXISTS trial_events_by_trial ON trial_events (trial_id, seq);
CREATE INDEX IF NOT EXISTS metrics_finals ON metrics (seq) WHERE type = 'FINAL';
"""

# Trial fields that go through JSON differently from how the dataclass holds them.
_TUPLE_FIELDS = {"gpus"}


_STATUSES = {status.value: status for status in TrialStatus}
"""Statuses by name: a dict lookup, at a fraction of the Enum call's cost per replayed event."""
_METRIC_COLUMNS = "trial_id, parameter_id, type, sequence, timestamp, data"
_M_COLUMNS = "m.trial_id, m.parameter_id, m.type, m.sequence, m.timestamp, m.data"
# Streamed lists also read SQLite's verdict on each text (strict JSON, so NaN rows are checked in
# Python) and the row's seq, to name a damaged one.
_M_STREAM_COLUMNS = _M_COLUMNS + ", json_valid(m.data), m.seq"
_FETCH_ROWS = 5000
"""Rows read per step of a streamed metric list: large enough to amortize, small enough to stay flat."""

# NNI's metric order (see StoredCurves): the trials' first events rank them, and a trial counts only
# its last FINAL row (the one a whole load keeps as ``final``).
_ARRIVALS = """
WITH firsts AS (SELECT trial_id, MIN(seq) AS first FROM trial_events GROUP BY trial_id)
SELECT {columns} FROM metrics m JOIN firsts t ON t.trial_id = m.trial_id
WHERE (m.type != 'FINAL' OR m.seq = (SELECT MAX(f.seq) FROM metrics f WHERE f.trial_id = m.trial_id AND f.type = 'FINAL'))
"""
_ARRIVAL_ORDER = "m.timestamp, t.first, m.type = 'FINAL', m.seq"
# Sequences are unique per trial and type, so MAX(sequence) names one row; trials come in the order
# their first periodical result arrived (the earliest timestamp, then the trial's first event).
_LATEST_PERIODICAL = f"""
WITH firsts AS (SELECT trial_id, MIN(seq) AS first FROM trial_events GROUP BY trial_id),
tops AS (SELECT trial_id, MAX(sequence) AS top, MIN(timestamp) AS arrived FROM metrics
         WHERE type = 'PERIODICAL' GROUP BY trial_id)
SELECT {_M_STREAM_COLUMNS} FROM tops g JOIN firsts t ON t.trial_id = g.trial_id
JOIN metrics m ON m.trial_id = g.trial_id AND m.type = 'PERIODICAL' AND m.sequence = g.top
ORDER BY g.arrived, t.first
"""


def _decode_all(texts: list[str], dicts: bool) -> list[Any]:
    """Every JSON text decoded in one parser call (a fraction of the per-row cost at a million rows).

    A text that is not one JSON value on its own (a tampered row) makes the joined list fail or
    miscount, or (``dicts``) hold a non-object: then each row is decoded alone, raising its own error.
    """
    try:
        values = json.loads("[" + ",".join(texts) + "]")
    except ValueError:
        values = None
    if not isinstance(values, list) or len(values) != len(texts) or (dicts and not all(type(v) is dict for v in values)):
        values = [json.loads(text) for text in texts]
        if dicts and not all(isinstance(v, dict) for v in values):
            raise TypeError("a trial event's data is not a JSON object")
    return values


@contextlib.contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """No cycle collection while rows are turned into objects: the collector would rescan the growing
    heap over and over (a third of a 100,000-trial load); what is built here holds no cycles."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _dumps(value: Any) -> str:
    # Python's JSON dialect keeps NaN/Infinity, so a diverged metric is stored exactly as reported.
    return json.dumps(value)


class SqliteStorage(Storage):
    """Write-through storage; safe to call from several threads (one connection, one lock)."""

    def __init__(self, db_dir: Path, read_only: bool = False) -> None:
        db_dir = Path(db_dir)
        self.path = db_dir / DB_FILE
        self._lock = threading.RLock()
        if not read_only:
            db_dir.mkdir(parents=True, exist_ok=True)
        with self._errors():
            if read_only:
                self._conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            else:
                self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            self._open(read_only)
        except StorageError:
            self._conn.close()
            raise

    def _open(self, read_only: bool) -> None:
        """Check the file is this package's database (or a new one), then set it up for writing."""
        with self._errors():
            tables = {row[0] for row in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if (tables or read_only) and "profile" not in tables:
                found = ", ".join(sorted(tables)) or "no tables"
                raise StorageError(f"{self.path}: not an NNI experiment database (it holds {found})")
            if read_only:
                return
            self._conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode survives a crash of the process (what we guard against) and
            # loses at most the last transactions on power loss, at a fraction of FULL's cost.
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(_SCHEMA)

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """Turn SQLite's errors (a corrupted file, a foreign one, no access) into a StorageError naming the file."""
        try:
            yield
        except sqlite3.DatabaseError as error:
            raise StorageError(f"{self.path}: cannot use the experiment database: {error}") from error

    @contextlib.contextmanager
    def _decoding(self) -> Iterator[None]:
        """Rows this package did not write (a foreign or tampered database) as a StorageError."""
        try:
            yield
        except (ValueError, TypeError, KeyError) as error:
            raise StorageError(f"{self.path}: not an NNI experiment database: unreadable row ({error})") from error

    def write_trials(self, trials: Iterable[Trial]) -> None:
        """Store whole trials in one transaction (an import of 100,000 takes seconds)."""
        with self.transaction():
            super().write_trials(trials)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Make the writes inside one transaction: durable together at the end, or not at all.

        Each write otherwise commits on its own; an import of 100,000 trials takes seconds this way
        instead of minutes. Other threads' writes wait until it ends.
        """
        with self._lock:
            self._execute("BEGIN")
            try:
                yield
            except BaseException:
                self._execute("ROLLBACK")
                raise
            self._execute("COMMIT")

    def _execute(self, sql: str, args: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        with self._lock, self._errors():
            return self._conn.execute(sql, args)

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        """Every row of a query: SQLite may find a damaged page only while stepping through them."""
        with self._lock, self._errors():
            return self._conn.execute(sql, args).fetchall()

    def save_profile(self, profile: dict[str, Any]) -> None:
        self._execute("INSERT OR REPLACE INTO profile (id, data) VALUES (1, ?)", (_dumps(profile),))

    def load_profile(self) -> dict[str, Any] | None:
        rows = self._query("SELECT data FROM profile WHERE id = 1")
        with self._decoding():
            return json.loads(rows[0][0]) if rows else None

    def append_experiment_event(self, kind: str, data: dict[str, Any]) -> None:
        self._execute("INSERT INTO experiment_events (timestamp, kind, data) VALUES (?, ?, ?)",
                      (int(time.time() * 1000), kind, _dumps(data)))

    def experiment_events(self, kind: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT seq, timestamp, kind, data FROM experiment_events"
        rows = self._query(sql + " WHERE kind = ? ORDER BY seq" if kind else sql + " ORDER BY seq",
                           (kind,) if kind else ())
        with self._decoding():
            return [{"seq": s, "timestamp": t, "kind": k, "data": json.loads(d)} for s, t, k, d in rows]

    def append_trial_event(self, trial: Trial, kind: str, fields: dict[str, Any]) -> None:
        data = {k: (list(v) if k in _TUPLE_FIELDS else v.value if isinstance(v, TrialStatus) else v)
                for k, v in fields.items()}
        self._execute("INSERT INTO trial_events (trial_id, timestamp, kind, data) VALUES (?, ?, ?, ?)",
                      (trial.trial_id, int(time.time() * 1000), kind, _dumps(data)))

    def add_metric(self, metric: MetricRecord) -> bool:
        cursor = self._execute(
            "INSERT OR IGNORE INTO metrics (trial_id, parameter_id, type, sequence, timestamp, data) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (metric.trial_id, metric.parameter_id, metric.type, metric.sequence, metric.timestamp_ms,
             _dumps(metric.value)))
        return cursor.rowcount == 1

    def load_trials(self) -> list[Trial]:
        trials, attach_curves = self.load_trials_deferred()
        attach_curves()
        return trials

    def load_trials_deferred(self) -> tuple[list[Trial], Callable[[], None]]:
        events = self._query("SELECT trial_id, data FROM trial_events ORDER BY seq")
        finals = self._query(f"SELECT {_METRIC_COLUMNS} FROM metrics WHERE type = 'FINAL' ORDER BY seq")
        with self._decoding(), _no_cycle_collection():
            trials = self._replay(events)
            for metric in self._metric_records(finals):
                trial = trials.get(metric.trial_id)
                if trial is not None:
                    trial.final = metric

        def attach_curves() -> None:
            rows = self._query(f"SELECT {_METRIC_COLUMNS} FROM metrics WHERE type != 'FINAL' ORDER BY seq")
            curves: dict[str, list[MetricRecord]] = {}
            with self._decoding(), _no_cycle_collection():
                for metric in self._metric_records(rows):
                    if metric.trial_id in trials:
                        curves.setdefault(metric.trial_id, []).append(metric)
            # Each trial's list is swapped in whole, so a reader on another thread sees none or all of it.
            for trial_id, curve in curves.items():
                trials[trial_id].intermediate = curve

        return list(trials.values()), attach_curves

    def stored_curves(self) -> StoredCurves:
        return _SqliteCurves(self)

    def _stream(self, sql: str, args: tuple[Any, ...] = ()) -> Iterator[StoredMetric]:
        """The metric rows of a query (its columns ``_M_STREAM_COLUMNS``) a few thousand at a time, each
        with its stored text undecoded; the lock is held only while a chunk is read, so other requests
        interleave with a long list. A row whose data is not JSON is left out and logged."""
        with self._lock, self._errors():
            cursor = self._conn.execute(sql, args)
        while True:
            with self._lock, self._errors():
                rows = cursor.fetchmany(_FETCH_ROWS)
            if not rows:
                return
            for trial_id, parameter_id, kind, sequence, timestamp, text, valid, seq in rows:
                if (valid != 1 or type(text) is not str) and not self._readable(text):
                    _log.warning("%s: metric row %s (trial %s) is not JSON; left out of the list", self.path, seq,
                                 trial_id)
                    continue
                yield StoredMetric(trial_id, parameter_id, kind, sequence, timestamp, text)

    @staticmethod
    def _readable(text: Any) -> bool:
        """Whether ``text`` is one value in Python's JSON dialect (SQLite's check refuses NaN and Infinity)."""
        if not isinstance(text, str):
            return False
        try:
            json.loads(text)
        except ValueError:
            return False
        return True

    @staticmethod
    def _metric_records(rows: list[Any]) -> list[MetricRecord]:
        values = _decode_all([row[5] for row in rows], dicts=False)
        return [MetricRecord(trial_id, parameter_id, kind, sequence, timestamp, value)
                for (trial_id, parameter_id, kind, sequence, timestamp, _), value in zip(rows, values, strict=True)]

    @staticmethod
    def _replay(events: list[Any]) -> dict[str, Trial]:
        trials: dict[str, Trial] = {}
        for (trial_id, _), fields in zip(events, _decode_all([row[1] for row in events], dicts=True), strict=True):
            if "status" in fields:
                fields["status"] = _STATUSES[fields["status"]]
            if "gpus" in fields:
                fields["gpus"] = tuple(fields["gpus"])
            trial = trials.get(trial_id)
            if trial is None:
                trials[trial_id] = Trial(trial_id=trial_id, **fields)
            else:
                for key, value in fields.items():
                    setattr(trial, key, value)
        return trials

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class _SqliteCurves(StoredCurves):
    """The curves answered by SQL over ``metrics`` (its ``(trial_id, type, sequence)`` index finds a
    trial's rows)."""

    def __init__(self, storage: SqliteStorage) -> None:
        self._storage = storage

    def summaries(self) -> dict[str, CurveSummary]:
        # SQLite takes the bare columns from the row that holds MAX(seq): the last one stored.
        rows = self._storage._query(
            f"SELECT COUNT(*), MAX(seq), {_METRIC_COLUMNS} FROM metrics WHERE type != 'FINAL' GROUP BY trial_id")
        try:
            with self._storage._decoding():
                records = self._storage._metric_records([row[2:] for row in rows])
        except StorageError:
            return self._summaries_around_damage(rows)
        return {record.trial_id: (row[0], record) for row, record in zip(rows, records, strict=True)}

    def _summaries_around_damage(self, rows: list[Any]) -> dict[str, CurveSummary]:
        """The summaries when some last row is not JSON: that trial keeps its count without a last
        result (logged), so one damaged row does not hide every other trial's."""
        readable = [row for row in rows if self._storage._readable(row[7])]
        for _, seq, trial_id, *_ in (row for row in rows if not self._storage._readable(row[7])):
            _log.warning("%s: metric row %s (trial %s) is not JSON; its last result is left out of the table",
                         self._storage.path, seq, trial_id)
        with self._storage._decoding():
            records = self._storage._metric_records([row[2:] for row in readable])
        found: dict[str, CurveSummary] = {row[2]: (row[0], None) for row in rows}
        found.update((record.trial_id, (row[0], record)) for row, record in zip(readable, records, strict=True))
        return found

    def curve(self, trial_id: str) -> list[MetricRecord]:
        return self.curves([trial_id]).get(trial_id, [])

    def curves(self, trial_ids: Collection[str]) -> dict[str, list[MetricRecord]]:
        ids = list(dict.fromkeys(trial_ids))
        found: dict[str, list[MetricRecord]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            rows = self._storage._query(
                f"SELECT {_METRIC_COLUMNS} FROM metrics WHERE type != 'FINAL' "
                f"AND trial_id IN ({','.join('?' * len(chunk))}) ORDER BY seq", tuple(chunk))
            with self._storage._decoding():
                for record in self._storage._metric_records(rows):
                    found.setdefault(record.trial_id, []).append(record)
        return found

    def metrics(self, trial_ids: Collection[str] | None = None, metric_type: str | None = None) -> Iterator[MetricRecord]:
        sql = _ARRIVALS.format(columns=_M_STREAM_COLUMNS)
        args: tuple[Any, ...] = ()
        if metric_type is not None:
            sql, args = sql + " AND m.type = ?", (metric_type,)
        wanted = None if trial_ids is None else set(trial_ids)
        if wanted is not None and len(wanted) <= 500:  # one trial's metrics, say: found through the index
            sql, args = sql + f" AND m.trial_id IN ({','.join('?' * len(wanted))})", (*args, *wanted)
        for record in self._storage._stream(f"{sql} ORDER BY {_ARRIVAL_ORDER}", args):
            if wanted is None or record.trial_id in wanted:
                yield record

    def latest_metrics(self) -> Iterator[MetricRecord]:
        yield from self._storage._stream(
            _ARRIVALS.format(columns=_M_STREAM_COLUMNS) + f" AND m.type != 'PERIODICAL' ORDER BY {_ARRIVAL_ORDER}")
        yield from self._storage._stream(_LATEST_PERIODICAL)
