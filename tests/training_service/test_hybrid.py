"""The hybrid service: one experiment's trials spread over local, remote and Slurm services."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from service_helpers import SLEEPER, Collector, SshHost, run, spec, write_code

from nni.experiment.config.training_services import LocalConfig, RemoteConfig, SlurmConfig
from nni.training_service import create_training_service
from nni.training_service.base import TrainingServiceError
from nni.training_service.hybrid import HybridTrainingService


def _env(tmp_path: Path, trial_id: str) -> dict:
    return json.loads((tmp_path / "trials" / trial_id / "stdout").read_text().splitlines()[0])["env"]


def test_trials_spread_over_every_service_with_per_service_overrides(
        tmp_path: Path, ssh_server: SshHost, slurm_cluster: Path) -> None:
    code = write_code(tmp_path / "code")
    remote = RemoteConfig(machine_list=[ssh_server.machine()], trial_command="NNI_OVERRIDE=remote python3 trial.py")
    experiment_id = "h" + uuid.uuid4().hex[:8]
    service = create_training_service([LocalConfig(), remote, SlurmConfig()], experiment_id, tmp_path)
    assert isinstance(service, HybridTrainingService)
    events = Collector()

    async def scenario() -> None:
        await service.start(events)
        ids = [f"t{i}" for i in range(6)]
        for i, trial_id in enumerate(ids):
            await service.submit(spec(tmp_path, trial_id, code, {"x": i}, sequence_id=i, experiment_id=experiment_id))
        ends = await events.ended(*ids)
        assert all(e.exit_code == 0 for e in ends.values()), ends
        assert service.describe()["platform"] == "hybrid" and len(service.describe()["services"]) == 3
        await service.stop()

    run(scenario())
    platforms = [_env(tmp_path, f"t{i}")["NNI_PLATFORM"] for i in range(6)]
    assert sorted(platforms) == ["local", "local", "remote", "remote", "slurm", "slurm"]
    for i in range(6):
        env = _env(tmp_path, f"t{i}")
        assert (env.get("NNI_OVERRIDE") == "remote") == (env["NNI_PLATFORM"] == "remote")
        assert events.start(f"t{i}").handle["hybrid_service"] == ["local", "remote", "slurm"].index(env["NNI_PLATFORM"])


def test_kill_reaches_the_service_running_the_trial(tmp_path: Path, ssh_server: SshHost) -> None:
    code = write_code(tmp_path / "code", SLEEPER)
    experiment_id = "h" + uuid.uuid4().hex[:8]
    service = HybridTrainingService([LocalConfig(), RemoteConfig(machine_list=[ssh_server.machine()])],
                                    experiment_id, tmp_path)
    events = Collector()

    async def scenario() -> None:
        await service.start(events)
        for trial_id in ("a", "b"):
            await service.submit(spec(tmp_path, trial_id, code, experiment_id=experiment_id))
        hosts = {(await events.started(t)).host for t in ("a", "b")}
        assert hosts == {"localhost", "127.0.0.1"}
        for trial_id in ("a", "b"):
            await service.kill(trial_id)
        ends = await events.ended("a", "b")
        assert all(e.killed for e in ends.values())
        await service.stop()

    run(scenario())


def test_a_service_failing_its_check_fails_the_start_by_name(tmp_path: Path, ssh_server: SshHost) -> None:
    bad = RemoteConfig(machine_list=[{"host": "127.0.0.1", "port": 1, "user": "nnitrial",
                                      "ssh_key_file": ssh_server.key}])
    service = HybridTrainingService([LocalConfig(), bad], "x", tmp_path)
    with pytest.raises(TrainingServiceError, match=r"(?s)hybrid training service: remote: .*127\.0\.0\.1:1: cannot connect"):
        run(service.start(Collector()))
    with pytest.raises(TrainingServiceError, match="list of training services is empty"):
        HybridTrainingService([], "x", tmp_path)
