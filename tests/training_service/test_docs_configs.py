"""The copy-paste configs of docs/training_services/ load as they are (keys, types, platforms)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nni.experiment import ExperimentConfig, RemoteConfig, RemoteMachineConfig
from nni.experiment.config.training_services import RayConfig, SlurmConfig

DOCS = Path(__file__).resolve().parents[2] / "docs" / "training_services"


def _yaml_blocks(page: str) -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", (DOCS / page).read_text(), re.S)


@pytest.mark.parametrize("page", ["remote.md", "ray.md", "slurm.md", "hybrid.md"])
def test_documented_config_loads(page: str, tmp_path: Path) -> None:
    blocks = _yaml_blocks(page)
    assert blocks
    for block in blocks:
        path = tmp_path / "config.yml"
        path.write_text(block)
        config = ExperimentConfig.load(path)
        services = config.training_service if isinstance(config.training_service, list) else [config.training_service]
        if page == "remote.md":
            (service,) = services
            assert isinstance(service, RemoteConfig) and len(service.machine_list) == 2
            assert service.machine_list[1].gpu_indices == [0, 1] and service.reconnect_seconds == 30
        elif page == "ray.md":
            assert isinstance(services[0], RayConfig) and services[0].trial_resources == {"big_memory": 1}
        elif page == "slurm.md":
            assert isinstance(services[0], SlurmConfig) and services[0].sbatch_options == ["--mem=32G", "--qos normal"]
        else:
            assert [s.platform for s in services] == ["local", "remote", "slurm"]
            assert services[2].trial_command == "srun python3 trial.py" and services[2].trial_gpu_number == 0


def test_python_form_of_the_remote_page() -> None:
    from nni.experiment import Experiment

    experiment = Experiment("remote")
    experiment.config.training_service.machine_list = [
        RemoteMachineConfig(host="192.168.1.10", user="alice", ssh_key_file="~/.ssh/id_ed25519",
                            python_path="/home/alice/venv/bin")]
    assert experiment.config.training_service.machine_list[0].ssh_key_file == Path("~/.ssh/id_ed25519")
    hybrid = Experiment(["local", "remote"])
    assert [s.platform for s in hybrid.config.training_service] == ["local", "remote"]
