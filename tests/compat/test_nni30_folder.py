"""An experiment folder NNI 3.0 recorded (tests/fixtures/nni30/experiment, by scripts/record_nni30.py)
opens here: ``nnictl view``, ``experiment export``, the web UI and ``nnictl resume`` all work on it.

The folder and its manifest entry are copied into the test's private ~/nni-experiments, as NNI 3.0
left them (only the manifest's logDir follows the copy)."""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from nni.records import TrialStatus
from nni.storage.manifest import read_manifest
from nni.storage.nni30 import BACKUP_SUFFIX, Nni30Storage, is_nni30_database, open_storage
from nni.storage.sqlite import SqliteStorage

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "nni30"
EXPERIMENT_ID = "nni30fixture"
NNI_EXPORT = json.loads((FIXTURE / "rest" / "export-data.json").read_text())["body"]
NNI_TRIALS = json.loads((FIXTURE / "rest" / "trial-jobs.json").read_text())["body"]


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _nnictl(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "nni.tools.nnictl.main", *args], capture_output=True, text=True,
                            timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"nnictl {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture
def nni_folder(isolated_home: Path) -> Path:
    """NNI 3.0's experiment folder and manifest entry, in this test's ~/nni-experiments."""
    root = isolated_home / "nni-experiments"
    shutil.copytree(FIXTURE / "experiment" / EXPERIMENT_ID, root / EXPERIMENT_ID)
    manifest = json.loads((FIXTURE / "experiment" / ".experiment").read_text())
    manifest[EXPERIMENT_ID]["logDir"] = str(root)  # NNI records the folder that holds the experiment
    (root / ".experiment").write_text(json.dumps(manifest))
    yield root / EXPERIMENT_ID
    _nnictl("stop", EXPERIMENT_ID, check=False)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_reader_gives_the_records_nni_recorded(nni_folder: Path) -> None:
    db = nni_folder / "db"
    assert is_nni30_database(db)
    storage = open_storage(db, read_only=True)
    assert isinstance(storage, Nni30Storage)
    try:
        profile = storage.load_profile()
        trials = {t.trial_id: t for t in storage.load_trials()}
        imports = storage.experiment_events("import_data")
    finally:
        storage.close()
    assert profile is not None and profile["id"] == EXPERIMENT_ID and profile["status"] == "DONE"
    assert profile["config"]["searchSpace"] == {"x": {"_type": "choice", "_value": [1, 2, 3, 4]}}
    assert {t["trialJobId"]: t["status"] for t in NNI_TRIALS} == {i: t.status.value for i, t in trials.items()}
    for row in NNI_EXPORT:
        trial = trials[row["trialJobId"]]
        assert trial.parameters == row["parameter"] and trial.final is not None
        assert trial.final.value == json.loads(row["value"])
    assert all(len(t.intermediate) == 2 and t.log_path and t.log_path.startswith(str(nni_folder))
               for t in trials.values())
    assert [e["data"]["data"] for e in imports] == [[{"parameter": {"x": 1}, "value": 0.9}]]


def test_the_reader_refuses_writes_and_names_broken_rows(nni_folder: Path) -> None:
    from nni.errors import StorageError

    storage = Nni30Storage(nni_folder / "db")
    with pytest.raises(StorageError, match="NNI 3.0's database, opened read-only"):
        storage.save_profile({})
    storage.close()
    with sqlite3.connect(nni_folder / "db" / "nni.sqlite") as conn:
        conn.execute("UPDATE MetricData SET sequence = 'not a number'")
    storage = Nni30Storage(nni_folder / "db")
    with pytest.raises(StorageError, match="unreadable row in NNI 3.0's experiment database"):
        storage.load_trials()
    storage.close()


def test_view_export_and_the_web_ui_read_nni30s_folder_without_changing_it(nni_folder: Path, tmp_path: Path) -> None:
    before = _digest(nni_folder / "db" / "nni.sqlite")
    exported = tmp_path / "export.json"
    _nnictl("experiment", "export", EXPERIMENT_ID, "--filename", str(exported), "--type", "json")
    assert [(r["parameter"], r["value"], r["trialJobId"]) for r in json.loads(exported.read_text())] == \
        [(r["parameter"], json.loads(r["value"]), r["trialJobId"]) for r in NNI_EXPORT]

    port = _port()
    _nnictl("view", EXPERIMENT_ID, "--port", str(port))
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=20) as client:
        assert client.get("/api/v1/nni/check-status").json()["status"] == "VIEWED"
        ours = client.get("/api/v1/nni/trial-jobs").json()
        assert [(t["trialJobId"], t["status"], t["hyperParameters"], t.get("finalMetricData")) for t in ours] == \
            [(t["trialJobId"], t["status"], t["hyperParameters"], t.get("finalMetricData")) for t in NNI_TRIALS]
        assert client.get("/api/v1/nni/export-data").json() == NNI_EXPORT
        assert client.get("/logs/dispatcher.log").status_code == 200
        first = NNI_TRIALS[0]["trialJobId"]  # NNI keeps a local trial's output as trial.stdout beside trial.log
        for name, file in (("stdout", "trial.stdout"), ("trial.log", "trial.log")):
            served = client.get(f"/api/v1/nni/trial-file/{first}/{name}")
            on_disk = nni_folder / "environments" / "local-env" / "trials" / first / file
            assert served.status_code == 200 and served.content == on_disk.read_bytes(), name
        token = read_manifest()[EXPERIMENT_ID]["token"]
        webui = client.get("/api/v1/webui/trials", headers={"X-NNI-Token": token})
        assert webui.status_code == 200 and str(webui.json()).count("SUCCEEDED") >= 3
    _nnictl("stop", EXPERIMENT_ID)
    assert _digest(nni_folder / "db" / "nni.sqlite") == before
    shown = _nnictl("log", "trial", EXPERIMENT_ID, "-T", NNI_TRIALS[0]["trialJobId"], "--path")
    assert "environments/local-env/trials" in shown.stdout and "trial.stdout" in shown.stdout


def test_resume_converts_nni30s_database_keeping_the_original(nni_folder: Path, tmp_path: Path) -> None:
    # The trials' code lives where the user has it; NNI's recording named the recording machine's.
    code = tmp_path / "code"
    code.mkdir()
    (code / "trial.py").write_text("import nni\nnni.report_final_result(nni.get_next_parameter()['x'])\n")
    with sqlite3.connect(nni_folder / "db" / "nni.sqlite") as conn:
        for (params,) in conn.execute("SELECT params FROM ExperimentProfile").fetchall():
            config = json.loads(params)
            config.update(trialCodeDirectory=str(code), trialCommand=f"{sys.executable} trial.py")
            config["trainingService"].update(trialCodeDirectory=str(code), trialCommand=f"{sys.executable} trial.py")
            conn.execute("UPDATE ExperimentProfile SET params = ? WHERE params = ?", (json.dumps(config), params))
    original = _digest(nni_folder / "db" / "nni.sqlite")

    port = _port()
    _nnictl("resume", EXPERIMENT_ID, "--port", str(port))
    backup = nni_folder / "db" / ("nni.sqlite" + BACKUP_SUFFIX)
    assert backup.is_file() and _digest(backup) == original
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=20) as client:
        assert client.get("/api/v1/nni/check-status").json()["status"] in ("DONE", "NO_MORE_TRIAL", "RUNNING")
        assert len(client.get("/api/v1/nni/trial-jobs").json()) == len(NNI_TRIALS)
        assert client.get("/api/v1/nni/export-data").json() == NNI_EXPORT
    _nnictl("stop", EXPERIMENT_ID)

    storage = SqliteStorage(nni_folder / "db", read_only=True)
    try:
        trials = storage.load_trials()
        assert sorted(t.trial_id for t in trials) == sorted(t["trialJobId"] for t in NNI_TRIALS)
        assert sum(t.status == TrialStatus.SUCCEEDED for t in trials) == 3
    finally:
        storage.close()
    # Converted once: a second resume opens our database as it is.
    _nnictl("resume", EXPERIMENT_ID, "--port", str(_port()))
    _nnictl("stop", EXPERIMENT_ID)
    assert _digest(backup) == original
