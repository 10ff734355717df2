"""nnictl experiment save / load, log --path/-T/-H, top over every running experiment, --host: real
nnictl subprocesses, real managers and trials, a private HOME."""

from __future__ import annotations

import json
import sqlite3
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest
from nnictl_helpers import Workspace, free_port, nnictl, wait_status

from nni.storage.manifest import read_manifest


def _done_experiment(workspace: Workspace, experiment_id: str, **overrides: object) -> None:
    config = workspace.write_config(f"{experiment_id}.yml", maxTrialNumber=2, trialConcurrency=2, **overrides)
    nnictl("create", "--config", str(config), "--port", str(free_port()), "--id", experiment_id)
    wait_status(experiment_id)
    nnictl("stop", experiment_id)


def _exported(experiment_id: str, folder: Path) -> list[dict]:
    out = folder / f"{experiment_id}.json"
    nnictl("experiment", "export", experiment_id, "-t", "json", "-f", str(out))
    return sorted(json.loads(out.read_text()), key=lambda r: r["trialJobId"])


def test_save_then_load_elsewhere_keeps_the_trials_and_repoints_the_code(workspace: Workspace, tmp_path: Path) -> None:
    space = workspace.root / "space.json"
    space.write_text(json.dumps({"x": {"_type": "uniform", "_value": [0, 1]}}))
    _done_experiment(workspace, "packed", searchSpace=None, searchSpaceFile="space.json")
    before = _exported("packed", tmp_path)
    assert len(before) == 2

    out = nnictl("experiment", "save", "packed", "--path", str(tmp_path / "saved"), "--saveCodeDir").stdout
    archive = tmp_path / "saved" / "nni_experiment_packed.zip"
    assert str(archive) in out
    with zipfile.ZipFile(archive) as packed:
        names = set(packed.namelist())
        entry = json.loads(packed.read("nnictl/.experiment"))
    assert "experiment/db/nni.sqlite" in names and "code/trial.py" in names and "searchSpace/space.json" in names
    assert entry["id"] == "packed" and "token" not in entry

    nnictl("experiment", "delete", "packed", "-y")
    assert "packed" not in read_manifest()
    code = tmp_path / "new_code"
    code.mkdir()
    logs = tmp_path / "new_logs"
    logs.mkdir()
    nnictl("experiment", "load", "--path", str(archive), "--codeDir", str(code), "--logDir", str(logs))
    assert read_manifest()["packed"]["logDir"] == str(logs / "packed")
    assert (code / "trial.py").is_file() and (code / "search_space.json").is_file()
    assert _exported("packed", tmp_path) == before
    stored = sqlite3.connect(logs / "packed" / "db" / "nni.sqlite").execute("SELECT data FROM profile").fetchone()
    config = json.loads(stored[0])["config"]
    assert config["trialCodeDirectory"] == str(code)
    assert config["trainingService"]["trialCodeDirectory"] == str(code)
    assert config["searchSpaceFile"] == str(code / "search_space.json")

    port = free_port()
    nnictl("view", "packed", "--port", str(port))
    assert len(json.loads(nnictl("trial", "ls", "packed", "--json").stdout)) == 2
    nnictl("stop", "packed")


def test_save_and_load_refuse_what_they_cannot_do(workspace: Workspace, tmp_path: Path) -> None:
    _done_experiment(workspace, "once")
    assert "no experiment with id 'nosuch'" in nnictl("experiment", "save", "nosuch", check=False).stderr
    nnictl("experiment", "save", "once", "--path", str(tmp_path))
    archive = tmp_path / "nni_experiment_once.zip"
    code = tmp_path / "code2"
    code.mkdir()
    again = nnictl("experiment", "load", "--path", str(archive), "--codeDir", str(code), check=False)
    assert again.returncode == 1 and "experiment once already exists" in again.stderr
    missing = nnictl("experiment", "load", "--path", str(tmp_path / "none.zip"), "--codeDir", str(code), check=False)
    assert missing.returncode == 1 and "no such archive" in missing.stderr
    no_code = nnictl("experiment", "load", "--path", str(archive), "--codeDir", str(tmp_path / "nope"), check=False)
    assert no_code.returncode == 1 and "--codeDir" in no_code.stderr
    junk = tmp_path / "junk.zip"
    junk.write_text("not a zip")
    bad = nnictl("experiment", "load", "--path", str(junk), "--codeDir", str(code), check=False)
    assert bad.returncode == 1 and "not an experiment archive" in bad.stderr
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as packed:
        packed.writestr("nnictl/.experiment", "{}")
    bad = nnictl("experiment", "load", "--path", str(empty), "--codeDir", str(code), check=False)
    assert bad.returncode == 1 and "experiment/db" in bad.stderr


def test_a_running_experiment_is_not_saved(workspace: Workspace) -> None:
    config = workspace.write_config("long.yml", trialCommand="TRIAL_SLEEP=30 python3 trial.py", maxTrialNumber=1)
    nnictl("create", "--config", str(config), "--port", str(free_port()), "--id", "busy")
    result = nnictl("experiment", "save", "busy", check=False)
    assert result.returncode == 1 and "is running" in result.stderr and "nnictl stop busy" in result.stderr
    nnictl("stop", "busy")


def test_log_head_tail_path_as_nni(workspace: Workspace) -> None:
    _done_experiment(workspace, "logs")
    path = nnictl("log", "stdout", "logs", "--path").stdout.strip()
    assert path.endswith("log/nnimanager.log") and Path(path).is_file()
    lines = Path(path).read_text().splitlines()
    assert nnictl("log", "stdout", "logs", "-H", "2").stdout.splitlines() == lines[:2]
    assert nnictl("log", "stdout", "logs", "-T", "1").stdout.splitlines() == lines[-1:]
    assert nnictl("log", "stderr", "logs", "--path").stdout.strip().endswith("manager-output.log")
    trial = json.loads(nnictl("trial", "ls", "logs", "--json").stdout)[0]["trialJobId"]
    shown = nnictl("log", "trial", "logs", "-T", trial, "--path").stdout.strip()
    assert shown.startswith(f"id:{trial} path:") and shown.endswith(f"trials/{trial}/stdout")
    assert "has no trial 'zzz'" in nnictl("log", "trial", "logs", "-T", "zzz", check=False).stderr


def test_top_shows_every_running_experiment(workspace: Workspace) -> None:
    assert "There is no experiment running" in nnictl("top", "--once").stdout
    long = "TRIAL_SLEEP=30 python3 trial.py"
    for experiment_id in ("topa", "topb"):
        config = workspace.write_config(f"{experiment_id}.yml", trialCommand=long, maxTrialNumber=1)
        nnictl("create", "--config", str(config), "--port", str(free_port()), "--id", experiment_id)
    out = nnictl("top", "--once").stdout
    assert "topa" in out and "topb" in out
    assert "topb" not in nnictl("top", "topa", "--once").stdout
    bad = nnictl("top", "--time", "0", check=False)
    assert bad.returncode == 1 and "--time" in bad.stderr
    nnictl("stop", "--all")


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_host_binds_elsewhere_and_then_every_request_needs_the_token(workspace: Workspace) -> None:
    port = free_port()
    config = workspace.write_config("host.yml", trialCommand="TRIAL_SLEEP=30 python3 trial.py", maxTrialNumber=1)
    nnictl("create", "--config", str(config), "--port", str(port), "--id", "wide", "--host", "0.0.0.0")
    entry = read_manifest()["wide"]
    assert entry["host"] == "0.0.0.0"
    assert _get(f"http://127.0.0.1:{port}/api/v1/nni/check-status") == 401
    assert _get(f"http://127.0.0.1:{port}/api/v1/nni/check-status?token={entry['token']}") == 200
    assert nnictl("experiment", "status", "wide").returncode == 0  # nnictl sends the token
    nnictl("stop", "wide")


@pytest.mark.parametrize("answer", ["n\n", ""])
def test_platform_clean_local_and_a_declined_remote(workspace: Workspace, answer: str) -> None:
    import subprocess
    import sys

    local = workspace.write_config("local.yml")
    out = nnictl("platform", "clean", "--config", str(local)).stdout
    assert "local platform needs no cleaning" in out
    remote = workspace.write_config("remote.yml", trainingService={
        "platform": "remote", "machineList": [{"host": "10.255.0.1", "user": "alice", "password": "pw",
                                               "workingDirectory": "/scratch/nni"}]})
    result = subprocess.run([sys.executable, "-m", "nni.tools.nnictl.main", "platform", "clean", "-c", str(remote)],
                            input=answer, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "alice@10.255.0.1:22  /scratch/nni" in result.stdout
    assert "Nothing removed." in result.stdout


def test_platform_clean_names_a_machine_it_cannot_reach(workspace: Workspace) -> None:
    import subprocess
    import sys

    remote = workspace.write_config("remote.yml", trainingService={
        "platform": "remote", "machineList": [{"host": "127.0.0.1", "port": free_port(), "user": "u",
                                               "password": "pw"}]})
    result = subprocess.run([sys.executable, "-m", "nni.tools.nnictl.main", "platform", "clean", "-c", str(remote)],
                            input="y\n", capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "cannot connect" in result.stdout
    assert "1 of 1 machine(s) could not be cleaned" in result.stderr
    missing = nnictl("platform", "clean", "-c", str(workspace.root / "nope.yml"), check=False)
    assert missing.returncode == 1 and "nope.yml" in missing.stderr
