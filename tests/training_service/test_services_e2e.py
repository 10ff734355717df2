"""Whole experiments (Experiment API, engine, REST) on the remote, Ray, Slurm and hybrid services.

Each platform runs 6+ trials to success; kill, stop and resume work; a machine or node lost mid-run
fails only its trials and the experiment goes on to DONE.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from service_helpers import SshHost, service_script, write_code

from nni.experiment import Experiment, ExperimentConfig
from nni.experiment.config.training_services import LocalConfig, RayConfig, RemoteConfig, SlurmConfig

pytestmark = pytest.mark.slow

TRIAL = """
import os, time, nni
p = nni.get_next_parameter()
print("platform", os.environ["NNI_PLATFORM"], flush=True)
for i in range({steps}):
    nni.report_intermediate_result(p["x"] * i)
    time.sleep({sleep})
nni.report_final_result(p["x"])
"""

PLATFORMS = ["remote", "ray", "slurm", "hybrid"]


@pytest.fixture(params=PLATFORMS)
def platform(request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    """A factory of the platform's training-service config (started for real)."""
    name = request.param
    if name == "remote":
        host: SshHost = request.getfixturevalue("ssh_server")
        hosts: list[SshHost] = request.getfixturevalue("test_hosts")
        yield lambda: RemoteConfig(machine_list=[h.machine() for h in [host, *hosts]])
    elif name == "ray":
        request.getfixturevalue("in_ray_netns")
        yield lambda: RayConfig(address="127.0.0.1:6379")
    elif name == "slurm":
        request.getfixturevalue("slurm_cluster")
        yield lambda: SlurmConfig()
    else:
        host = request.getfixturevalue("ssh_server")
        request.getfixturevalue("slurm_cluster")
        yield lambda: [LocalConfig(), RemoteConfig(machine_list=[host.machine()]), SlurmConfig()]


def _config(tmp_path: Path, service: Any, *, trials: int = 6, concurrency: int = 3, steps: int = 2,
            sleep: float = 0.05) -> ExperimentConfig:
    code = write_code(tmp_path / "code", TRIAL.format(steps=steps, sleep=sleep))
    config = ExperimentConfig(training_service=service)
    config.trial_command = "python3 trial.py"
    config.trial_code_directory = code
    config.experiment_working_directory = tmp_path / "experiments"
    config.search_space = {"x": {"_type": "uniform", "_value": [0, 1]}}
    config.tuner = {"name": "Random"}
    config.trial_concurrency = concurrency
    config.max_trial_number = trials
    return config


def _wait(experiment: Experiment, predicate: Callable[[list[Any]], bool], timeout: float = 90) -> list[Any]:
    deadline = time.monotonic() + timeout
    while True:
        trials = experiment.list_trial_jobs()
        if predicate(trials):
            return trials
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; trials: {[(t.trialJobId, t.status, t.message) for t in trials]}")
        time.sleep(0.1)


def _count(trials: list[Any], status: str) -> int:
    return sum(t.status == status for t in trials)


def _platforms_used(experiment: Experiment) -> set[str]:
    used = set()
    for trial in experiment.list_trial_jobs():
        out = experiment.experiment_dir / "trials" / trial.trialJobId / "stdout"
        used.add(out.read_text().split()[1])
    return used


def test_six_trials_succeed(tmp_path: Path, free_port: int, platform: Callable[..., Any],
                            request: pytest.FixtureRequest) -> None:
    experiment = Experiment(_config(tmp_path, platform()), id="e" + uuid.uuid4().hex[:8])
    try:
        assert experiment.run(free_port) is True
        trials = experiment.list_trial_jobs()
        assert len(trials) == 6 and _count(trials, "SUCCEEDED") == 6, [(t.status, t.message) for t in trials]
        assert all(t.finalMetricData for t in trials)
        metrics = experiment.get_job_metrics()
        assert all(len([m for m in metrics[t.trialJobId] if m.type == "PERIODICAL"]) == 2 for t in trials)
        expected = {"hybrid": {"local", "remote", "slurm"}}.get(request.node.callspec.params["platform"])
        if expected is not None:
            assert _platforms_used(experiment) == expected
    finally:
        experiment.stop()


def test_kill_stop_and_resume(tmp_path: Path, free_port: int, platform: Callable[..., Any]) -> None:
    experiment_id = "k" + uuid.uuid4().hex[:8]
    experiment = Experiment(_config(tmp_path, platform(), trials=6, concurrency=2, steps=10, sleep=0.3),
                            id=experiment_id)
    experiment.start(free_port)
    try:
        running = _wait(experiment, lambda ts: _count(ts, "RUNNING") >= 2)
        victim = next(t for t in running if t.status == "RUNNING")
        experiment.kill_trial_job(victim.trialJobId)
        _wait(experiment, lambda ts: next(t for t in ts if t.trialJobId == victim.trialJobId).status
              == "USER_CANCELED")
        _wait(experiment, lambda ts: _count(ts, "RUNNING") >= 1)
    finally:
        experiment.stop()
    resumed = Experiment.resume(experiment_id, free_port, wait_completion=False)
    try:
        assert resumed._runner is not None and resumed._runner.wait_finished(150)
        trials = resumed.list_trial_jobs()
        assert resumed.get_status() == "DONE"
        assert len(trials) == 6 and not {t.status for t in trials} & {"RUNNING", "WAITING"}
        assert _count(trials, "USER_CANCELED") >= 2  # the killed one and those the stop ended
        assert _count(trials, "SUCCEEDED") >= 6 - _count(trials, "USER_CANCELED")
        assert next(t for t in trials if t.trialJobId == victim.trialJobId).status == "USER_CANCELED"
    finally:
        resumed.stop()


def test_lost_machine_fails_its_trial_and_the_experiment_goes_on(
        tmp_path: Path, free_port: int, ssh_server: SshHost, test_hosts: list[SshHost]) -> None:
    lost = test_hosts[0]
    service = RemoteConfig(machine_list=[ssh_server.machine(), lost.machine()], keepalive_seconds=1,
                           reconnect_seconds=2)
    experiment = Experiment(_config(tmp_path, service, trials=6, concurrency=2, steps=8, sleep=0.4))
    experiment.start(free_port)
    try:
        _wait(experiment, lambda ts: any(t.status == "RUNNING" and lost.host in (t.logPath or "") for t in ts))
        service_script("testhost.sh", "cut", "1")
        try:
            assert experiment._runner is not None and experiment._runner.wait_finished(180)
        finally:
            service_script("testhost.sh", "restore", "1")
        trials = experiment.list_trial_jobs()
        failed = [t for t in trials if t.status == "FAILED"]
        assert failed and all(lost.host in t.logPath and "lost nnitrial@10.211.1.2:22" in t.message for t in failed)
        assert experiment.get_status() == "DONE" and len(trials) == 6
        assert _count(trials, "SUCCEEDED") == 6 - len(failed)
    finally:
        experiment.stop()


def test_dead_ray_node_fails_its_trials_and_the_experiment_goes_on(
        tmp_path: Path, free_port: int, in_ray_netns: str) -> None:
    experiment = Experiment(_config(tmp_path, RayConfig(address=in_ray_netns), trials=6, concurrency=3, steps=8,
                                    sleep=0.4))
    experiment.start(free_port)
    try:
        import ray

        node_b = next(n["NodeID"] for n in ray.nodes() if n["Alive"] and "node_b" in n["Resources"])
        engine = experiment._runner.engine  # type: ignore[union-attr]

        def on_b(trials: list[Any]) -> bool:
            return any(t.status == "RUNNING" and engine.trials[t.trialJobId].handle.get("node_id") == node_b
                       for t in trials)

        _wait(experiment, on_b)
        service_script("ray.sh", "kill-node")
        assert experiment._runner.wait_finished(180)  # type: ignore[union-attr]
        trials = experiment.list_trial_jobs()
        failed = [t for t in trials if t.status == "FAILED"]
        assert failed and all("died" in t.message for t in failed), [(t.status, t.message) for t in trials]
        assert experiment.get_status() == "DONE" and _count(trials, "SUCCEEDED") == 6 - len(failed)
    finally:
        experiment.stop()
        service_script("ray.sh", "start-node", timeout=120)


def test_failed_slurm_node_fails_its_trials_and_the_experiment_goes_on(
        tmp_path: Path, free_port: int, slurm_cluster: Path) -> None:
    import subprocess

    experiment = Experiment(_config(tmp_path, SlurmConfig(), trials=6, concurrency=2, steps=8, sleep=0.4))
    experiment.start(free_port)
    try:
        _wait(experiment, lambda ts: _count(ts, "RUNNING") >= 1)
        subprocess.run(["scontrol", "update", "NodeName=localhost", "State=DOWN", "Reason=nni-e2e"], check=True)
        assert experiment._runner is not None and experiment._runner.wait_finished(180)
        trials = experiment.list_trial_jobs()
        failed = [t for t in trials if t.status == "FAILED"]
        assert failed and all("Slurm node localhost failed" in t.message for t in failed)
        assert experiment.get_status() == "DONE" and _count(trials, "SUCCEEDED") == 6 - len(failed)
    finally:
        subprocess.run(["scontrol", "update", "NodeName=localhost", "State=RESUME"], capture_output=True)
        experiment.stop()
