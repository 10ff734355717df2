"""A corrupted or foreign ``db/nni.sqlite``: every nnictl command that reads it prints one line
naming the file (never a traceback), and the storage layer raises one StorageError for it."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from nnictl_helpers import Workspace, nnictl, wait_status

from nni.errors import StorageError
from nni.experiment.detach import experiment_processes
from nni.records import Trial, TrialStatus
from nni.storage.manifest import read_manifest
from nni.storage.sqlite import DB_FILE, SqliteStorage


def _garbage(path: Path) -> None:
    path.write_bytes(os.urandom(64 * 1024))


def _foreign(path: Path) -> None:
    path.unlink()
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE users (name TEXT, email TEXT)")
    conn.commit()
    conn.close()


COMMANDS = {
    "view": (["view", "bad", "--port", "0"], 1),
    "resume": (["resume", "bad", "--port", "0"], 1),
    "trial ls": (["trial", "ls", "bad"], 1),
    "experiment export": (["experiment", "export", "bad", "--type", "json", "--filename", "{out}"], 1),
    "experiment show": (["experiment", "show", "bad"], 1),
    # stop still stops (it finds trials by their environment) and says what is wrong with the file.
    "stop": (["stop", "bad"], 0),
}


@pytest.mark.parametrize("damage", [_garbage, _foreign], ids=["garbage", "foreign"])
def test_every_command_gives_one_line_naming_the_database(workspace: Workspace, damage: Callable[[Path], None],
                                                          tmp_path: Path) -> None:
    config = workspace.write_config(maxTrialNumber=1, trialConcurrency=1)
    nnictl("create", "-c", str(config), "--id", "bad", "--port", "0")
    wait_status("bad", ("DONE",))
    nnictl("stop", "bad")
    db = Path(read_manifest()["bad"]["logDir"]) / "db" / DB_FILE
    for leftover in db.parent.glob(DB_FILE + "-*"):  # WAL files would let SQLite repair the damage
        leftover.unlink()
    damage(db)
    for name, (args, code) in COMMANDS.items():
        result = nnictl(*(a.format(out=tmp_path / "out.json") for a in args), check=False)
        output = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
        assert result.returncode == code, f"{name}: {result}"
        assert len(output) == 1 and str(db) in output[0] and "Traceback" not in result.stderr, f"{name}: {output}"
    assert not experiment_processes("bad") and read_manifest()["bad"]["status"] == "STOPPED"
    assert not (tmp_path / "out.json").exists()


def _trial(index: int) -> Trial:
    return Trial(trial_id=f"t{index}", sequence_id=index, parameter_id=index, parameter_record={},
                 status=TrialStatus.SUCCEEDED)


def test_storage_raises_one_error_naming_the_file(tmp_path: Path) -> None:
    db_dir = tmp_path / "db"
    storage = SqliteStorage(db_dir)
    storage.save_profile({"id": "x"})
    for index in range(300):
        storage.append_trial_event(_trial(index), "created", {"sequence_id": index, "parameter_id": index,
                                                              "parameter_record": {"x": "p" * 200}})
    storage.close()
    path = db_dir / DB_FILE
    assert not list(db_dir.glob(DB_FILE + "-*"))
    # Damaged pages past the header: found only while reading the rows.
    with open(path, "r+b") as f:
        f.seek(8192)
        f.write(os.urandom(32 * 1024))
    storage = SqliteStorage(db_dir, read_only=True)
    with pytest.raises(StorageError, match=rf"^{path}: cannot use the experiment database: .*malformed"):
        storage.load_trials()
    storage.close()
    _garbage(path)
    for read_only in (True, False):
        with pytest.raises(StorageError, match=rf"^{path}: cannot use the experiment database: file is not a database"):
            SqliteStorage(db_dir, read_only=read_only)
    _foreign(path)
    for read_only in (True, False):
        with pytest.raises(StorageError, match=rf"^{path}: not an NNI experiment database \(it holds users\)"):
            SqliteStorage(db_dir, read_only=read_only)
    # Opening it for writing added nothing to the foreign file.
    conn = sqlite3.connect(path)
    assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")] == ["users"]
    conn.close()
