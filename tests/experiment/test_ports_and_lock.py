"""The Python API and the experiment lock: port 0, invalid ports, one holder per experiment (in
this process, in a detached manager), and the lock ending with the process that held it."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from nni.errors import ConfigError, ExperimentInUseError, StorageError
from nni.experiment import Experiment, RunMode
from nni.experiment.detach import experiment_processes, spawn_manager, stop_experiment
from nni.experiment.lock import ExperimentLock
from nni.experiment.rest_client import RestClient
from nni.storage.manifest import read_manifest
from nni.storage.sqlite import DB_FILE

TRIAL = "import nni\np = nni.get_next_parameter()\nnni.report_final_result(p['x'])\n"


def _gone(pid: int, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("port", [70000, -1, "abc", 2.5, True])
def test_invalid_ports_are_refused_before_anything_is_written(make_experiment: Callable[..., Experiment],
                                                              port: object) -> None:
    experiment = make_experiment(TRIAL)
    with pytest.raises(ConfigError, match="port must be an integer from 0 to 65535"):
        experiment.start(port)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="port must be an integer from 0 to 65535"):
        experiment.start(port, run_mode=RunMode.Detach)  # type: ignore[arg-type]
    assert not experiment.experiment_dir.exists() and experiment.id not in read_manifest()


def test_port_zero_runs_and_resumes_on_a_free_port(make_experiment: Callable[..., Experiment]) -> None:
    experiment = make_experiment(TRIAL, max_trial_number=2)
    assert experiment.run(0) is True
    port = experiment.port
    assert port and read_manifest()[experiment.id]["port"] == port
    assert RestClient(port).get("/check-status")["experimentId"] == experiment.id
    # The running experiment holds its lock: any other start of it is refused, naming this process.
    with pytest.raises(ExperimentInUseError, match=f"in use by process {os.getpid()} \\(create\\)"):
        ExperimentLock.acquire(experiment.id, experiment.experiment_dir, "resume")
    with pytest.raises(ExperimentInUseError, match=f"in use by process {os.getpid()}"):
        spawn_manager(experiment.id, experiment.config, 0)
    experiment.stop()
    resumed = Experiment.resume(experiment.id, port=0, wait_completion=False)
    try:
        assert resumed.port and read_manifest()[experiment.id]["port"] == resumed.port
        assert len(resumed.list_trial_jobs()) == 2
    finally:
        resumed.stop()
    ExperimentLock.acquire(experiment.id, experiment.experiment_dir, "view").release()


def test_a_detached_managers_lock_ends_with_it(make_experiment: Callable[..., Experiment]) -> None:
    experiment = make_experiment("import time; import nni; nni.get_next_parameter(); time.sleep(60)",
                                 max_trial_number=1, trial_concurrency=1)
    experiment.config.tuner.name = "Random"
    experiment.start(0, run_mode=RunMode.Detach)
    pid = read_manifest()[experiment.id]["pid"]
    assert experiment.port and read_manifest()[experiment.id]["port"] == experiment.port
    with pytest.raises(ExperimentInUseError, match=f"in use by process {pid} \\(create\\)"):
        ExperimentLock.acquire(experiment.id, experiment.experiment_dir, "resume")
    deadline = time.monotonic() + 30
    while not experiment_processes(experiment.id) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    assert _gone(pid)
    # The OS drops the lock with the killed manager (its trial did not inherit it) once its last
    # thread is gone, which may be a moment after its main thread shows as a zombie.
    deadline = time.monotonic() + 30
    while True:
        try:
            ExperimentLock.acquire(experiment.id, experiment.experiment_dir, "resume").release()
            break
        except ExperimentInUseError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    assert experiment_processes(experiment.id), "its trial still runs, without holding the lock"
    stop_experiment(experiment.id)


def test_resume_of_a_corrupted_database_names_the_file(make_experiment: Callable[..., Experiment]) -> None:
    experiment = make_experiment(TRIAL, max_trial_number=1)
    experiment.run(0)
    experiment.stop()
    db = experiment.experiment_dir / "db" / DB_FILE
    for leftover in db.parent.glob(DB_FILE + "-*"):
        leftover.unlink()
    db.write_bytes(b"not a database" * 1000)
    with pytest.raises(StorageError, match=f"^{re.escape(str(db))}: cannot use the experiment database"):
        Experiment.resume(experiment.id, port=0, wait_completion=False)
    with pytest.raises(StorageError, match=f"^{re.escape(str(db))}"):
        Experiment.view(experiment.id, port=0, non_blocking=True)
    # A refused start leaves the lock free.
    ExperimentLock.acquire(experiment.id, Path(experiment.experiment_dir), "resume").release()


HOLD = """
import sys, time
from nni.experiment.lock import ExperimentLock
ExperimentLock.acquire("held", sys.argv[1], "resume", launching=sys.argv[2] == "launching")
print("held", flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize("how", ["running", "launching"])
def test_the_lock_names_its_holder_and_ends_with_it(tmp_path: Path, how: str) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path), how], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        doing = ", which is starting its manager" if how == "launching" else ""
        with pytest.raises(ExperimentInUseError, match=f"in use by process {holder.pid}{doing} \\(resume\\); "
                                                       "stop it first: nnictl stop held"):
            ExperimentLock.acquire("held", tmp_path, "create")
    finally:
        holder.kill()
        holder.wait()
    ExperimentLock.acquire("held", tmp_path, "create").release()


def test_losing_the_race_between_bind_and_listen_is_a_clean_refusal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two managers can both bind a port (SO_REUSEADDR) before either listens; the second to listen
    gets the same one-line refusal as a taken port, not a traceback."""
    from nni.experiment import launcher

    rival = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    rival.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    rival.bind(("127.0.0.1", 0))
    port = rival.getsockname()[1]

    class RivalListensFirst(socket.socket):
        def listen(self, backlog: int = 128) -> None:
            rival.listen(1)  # the other manager wins between our bind and our listen
            super().listen(backlog)

    monkeypatch.setattr(launcher.socket, "socket", RivalListensFirst)
    try:
        with pytest.raises(RuntimeError, match=f"Port {port} on 127.0.0.1 is already in use"):
            launcher.bind_port("127.0.0.1", port)
    finally:
        rival.close()
