"""One manager per experiment, and ports: concurrent resumes, a shared port, a squatter on the
port, ``--port 0``, invalid ports, and starts that fail leaving no process behind (all real
nnictl processes, managers and HTTP servers)."""

from __future__ import annotations

import http.server
import json
import re
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from nnictl_helpers import Workspace, free_port, nnictl, wait_status

from nni.errors import ExperimentInUseError
from nni.experiment.config import ExperimentConfig
from nni.experiment.detach import ManagerProcess, experiment_processes, start_manager
from nni.experiment.launcher import experiment_dir_of
from nni.experiment.lock import ExperimentLock
from nni.experiment.rest_client import RestClient
from nni.storage.manifest import read_manifest
from nni.storage.sqlite import SqliteStorage
from nni.tools.nnictl.main import main

RUNS = 10


def _managers(experiment_id: str) -> list[psutil.Process]:
    """Live manager processes of the experiment on this machine."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        cmdline = proc.info["cmdline"] or []
        if "nni.experiment.daemon" in cmdline and experiment_id in cmdline \
                and proc.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(proc)
    return found


def _launch(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "nni.tools.nnictl.main", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=120)
    return process.returncode, out, err


def _error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in err, err
    return lines[0]


@pytest.mark.slow
def test_two_resumes_at_once_run_exactly_one_manager(workspace: Workspace) -> None:
    config = workspace.write_config(maxTrialNumber=40, trialConcurrency=3)
    nnictl("create", "-c", str(config), "--id", "twin", "--port", "0")
    nnictl("stop", "twin")
    for run in range(RUNS):
        first, second = _launch("resume", "twin", "--port", "0"), _launch("resume", "twin", "--port", "0")
        results = [_finish(first), _finish(second)]
        won = [r for r in results if r[0] == 0]
        lost = [r for r in results if r[0] != 0]
        assert len(won) == 1 and len(lost) == 1, f"run {run}: {results}"
        managers = _managers("twin")
        entry = read_manifest()["twin"]
        assert [m.pid for m in managers] == [entry["pid"]], f"run {run}: {managers}"
        # The loser names the process that holds the experiment, and exits 1 without a traceback.
        assert lost[0][0] == 1 and re.search(rf"(process|pid) {entry['pid']}\b", _error_line(lost[0][2]))
        assert f"localhost:{entry['port']}/" in won[0][1]
        wait_status("twin", ("RUNNING", "DONE", "NO_MORE_TRIAL"))
        nnictl("stop", "twin")
        assert not _managers("twin") and not experiment_processes("twin"), f"run {run}: processes left"
    storage = SqliteStorage(Path(read_manifest()["twin"]["logDir"]) / "db", read_only=True)
    try:
        trials = storage.load_trials()
    finally:
        storage.close()
    sequence_ids = [t.sequence_id for t in trials]
    assert len(sequence_ids) == len(set(sequence_ids)) and len(trials) <= 40


def test_two_experiments_resumed_on_one_port(workspace: Workspace) -> None:
    config = workspace.write_config(maxTrialNumber=2, trialConcurrency=2)
    for name in ("left", "right"):
        nnictl("create", "-c", str(config), "--id", name, "--port", "0")
        wait_status(name, ("DONE",))
        nnictl("stop", name)
    port = free_port()
    results = {name: _launch("resume", name, "--port", str(port)) for name in ("left", "right")}
    done = {name: _finish(process) for name, process in results.items()}
    winners = [name for name, (code, _, _) in done.items() if code == 0]
    assert len(winners) == 1, done
    loser = next(name for name in done if name not in winners)
    assert f"port {port}" in _error_line(done[loser][2]).lower() and "in use" in done[loser][2]
    assert read_manifest()[winners[0]]["port"] == port and not _managers(loser)
    # The one that answers on the port is the winner's manager.
    status = RestClient(port).get("/check-status")
    assert status["experimentId"] == winners[0]
    nnictl("stop", winners[0])
    # The same experiment twice on one port: one runs, the other is refused (port or lock).
    launched = [_launch("resume", "left", "--port", str(port)) for _ in range(2)]
    twice = sorted(_finish(process) for process in launched)
    assert [code for code, _, _ in twice] == [0, 1], twice
    assert re.search(r"in use|already running", _error_line(twice[1][2]))
    assert len(_managers("left")) == 1 and RestClient(port).get("/check-status")["experimentId"] == "left"


@pytest.fixture
def squatter() -> Iterator[int]:
    """A plain HTTP server on a port, answering every GET with a plausible check-status."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            body = json.dumps({"status": "RUNNING", "errors": []}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_a_squatter_on_the_port_is_reported_and_nothing_is_left(workspace: Workspace, squatter: int) -> None:
    result = nnictl("create", "-c", str(workspace.config), "--id", "squat", "--port", str(squatter), check=False)
    assert result.returncode == 1
    assert f"Port {squatter} on 127.0.0.1 is already in use" in _error_line(result.stderr)
    assert "squat" not in read_manifest() and not _managers("squat")


def test_an_answer_without_the_managers_nonce_is_not_taken_as_its_own(tmp_path: Path, squatter: int) -> None:
    # A manager that never serves, while the squatter answers where its client looks.
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
    manager = ManagerProcess("nonce", process, RestClient(squatter), "the-real-nonce", tmp_path / "out.log")
    with pytest.raises(RuntimeError, match=f"port {squatter} is in use: another process answers there"):
        manager.wait_until_serving(timeout=60)
    assert process.poll() is not None


def test_port_zero_picks_a_free_port_that_nnictl_reaches(workspace: Workspace) -> None:
    config = workspace.write_config(maxTrialNumber=2, trialConcurrency=1)
    out = nnictl("create", "-c", str(config), "--id", "zero", "--port", "0").stdout
    port = int(re.search(r"localhost:(\d+)/", out).group(1))
    assert port != 0 and read_manifest()["zero"]["port"] == port
    wait_status("zero", ("DONE",))
    assert len(json.loads(nnictl("trial", "ls", "zero", "--json").stdout)) == 2
    assert json.loads(nnictl("experiment", "status", "zero").stdout)["status"] == "DONE"
    nnictl("stop", "--all")
    assert not _managers("zero") and not experiment_processes("zero")


@pytest.mark.parametrize("command", [["create", "-c", "config.yml"], ["resume", "x"], ["view", "x"], ["stop"]])
@pytest.mark.parametrize("port", ["70000", "-1", "abc", "65536"])
def test_invalid_ports_are_a_usage_error(command: list[str], port: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*command, "--port", port])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert f"argument --port/-p: must be an integer from 0 to 65535 (0: any free port), got '{port}'" in err
    assert "Traceback" not in err


HANG_TUNER = '''
import time
from nni.tuner import Tuner

class HangTuner(Tuner):
    """Never finishes building: its manager never serves."""

    def __init__(self):
        time.sleep(600)
'''


def test_a_start_that_times_out_leaves_no_process(workspace: Workspace) -> None:
    (workspace.root / "hang_tuner.py").write_text(textwrap.dedent(HANG_TUNER))
    path = workspace.write_config(tuner={"className": "hang_tuner.HangTuner", "codeDirectory": "."})
    config = ExperimentConfig.load(path)
    with pytest.raises(RuntimeError, match="did not answer within 3s"):
        start_manager("hang", config, 0, timeout=3)
    assert not _managers("hang") and not experiment_processes("hang")
    # The lock died with the manager.
    ExperimentLock.acquire("hang", experiment_dir_of(config, "hang"), "resume").release()


def test_a_refused_start_spawns_nothing(workspace: Workspace) -> None:
    config = workspace.write_config(maxTrialNumber=50, trialConcurrency=2)
    nnictl("create", "-c", str(config), "--id", "held", "--port", "0")
    holder = read_manifest()["held"]["pid"]
    with pytest.raises(ExperimentInUseError, match=f"in use by process {holder} \\(create\\)"):
        start_manager("held", ExperimentConfig.load(config), 0, mode="create")
    assert [m.pid for m in _managers("held")] == [holder]
    nnictl("stop", "held")
    assert not _managers("held") and not experiment_processes("held")
