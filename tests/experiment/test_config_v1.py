"""NNI's own example configs (v2 and legacy v1) load, or are refused with a precise message."""

from __future__ import annotations

from pathlib import Path

import pytest

from nni.errors import ConfigError
from nni.experiment.config import ExperimentConfig, LocalConfig, RemoteConfig
from nni.experiment.config.convert_v1 import convert_v1_config, is_v1_config

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "configs" / "mnist"


@pytest.mark.parametrize("name", ["config.yml", "config_detailed.yml", "config_v1.yml", "config_assessor_v1.yml",
                                  "config_remote_v1.yml"])
def test_nni_example_configs_load_and_validate(name: str) -> None:
    config = ExperimentConfig.load(EXAMPLES / name)
    config.validate()
    assert config.trial_command == "python3 mnist.py"
    assert config.search_space_file == EXAMPLES / "search_space.json"
    assert config.trial_code_directory == (EXAMPLES / "../../mnist").resolve()
    assert config.tuner is not None and config.tuner.name == "TPE"
    assert config.tuner.class_args == {"optimize_mode": "minimize"}


def test_v1_keys_become_their_v2_counterparts() -> None:
    v1 = ExperimentConfig.load(EXAMPLES / "config_v1.yml")
    assert (v1.experiment_name, v1.max_experiment_duration, v1.max_trial_number, v1.trial_concurrency) == \
        ("example_mnist_pytorch", "1h", 10, 1)
    assert isinstance(v1.training_service, LocalConfig) and v1.trial_gpu_number == 0
    assessor = ExperimentConfig.load(EXAMPLES / "config_assessor_v1.yml").assessor
    assert assessor is not None and assessor.name == "Medianstop"
    remote = ExperimentConfig.load(EXAMPLES / "config_remote_v1.yml").training_service
    assert isinstance(remote, RemoteConfig)
    machine = remote.machine_list[0]
    assert (machine.host, machine.port, machine.user, machine.password) == ("10.1.1.1", 22, "bob", "bob123")
    v2 = ExperimentConfig.load(EXAMPLES / "config.yml")
    assert v1.json()["trialCommand"] == v2.json()["trialCommand"]


def test_refused_examples_name_the_file_and_the_key() -> None:
    gpu = ExperimentConfig.load(EXAMPLES / "config_gpu_v1.yml")
    with pytest.raises(ConfigError) as error:
        gpu.validate()
    assert "config_gpu_v1.yml" in str(error.value) and "trainingService.useActiveGpu" in str(error.value)
    with pytest.raises(ConfigError) as error:
        ExperimentConfig.load(EXAMPLES / "config_multiphase_v1.yml")
    assert "config_multiphase_v1.yml" in str(error.value) and "multiPhase" in str(error.value)


def test_v1_names_and_custom_tuners() -> None:
    v1 = {"trainingServicePlatform": "local", "trial": {"command": "python3 t.py", "codeDir": "."},
          "tuner": {"builtinTunerName": "BatchTuner"}, "searchSpacePath": "s.json", "trialConcurrency": 1}
    assert is_v1_config(v1)
    assert convert_v1_config(v1)["tuner"] == {"name": "Batch"}
    custom = dict(v1, tuner={"codeDir": "tuners", "classFileName": "my_tuner.py", "className": "MyTuner",
                             "classArgs": {"seed": 1}})
    assert convert_v1_config(custom)["tuner"] == {"codeDirectory": "tuners", "className": "my_tuner.MyTuner",
                                                  "classArgs": {"seed": 1}}
    assert not is_v1_config({"trialCommand": "x", "trainingService": {"platform": "local"}})


@pytest.mark.parametrize(("change", "key"), [
    ({"trial": {"command": "x", "image": "msranni/nni"}}, "trial.image"),
    ({"tuner": {"builtinTunerName": "TPE", "gpuIndex": 0}}, "tuner.gpuIndex"),
    ({"paiConfig": {"host": "h"}}, "paiConfig"),
    ({"machineList": [{"ip": "h", "user": "bob"}]}, "machineList[0].user"),
])
def test_v1_refusals_name_the_key(tmp_path: Path, change: dict, key: str) -> None:
    import yaml

    data = {"authorName": "me", "trainingServicePlatform": "local", "trialConcurrency": 1,
            "searchSpacePath": "s.json", "trial": {"command": "python3 t.py", "codeDir": "."}, **change}
    path = tmp_path / "v1.yml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as error:
        ExperimentConfig.load(path)
    assert str(path) in str(error.value) and key in str(error.value)


def test_v1_without_a_platform_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "v1.yml"
    path.write_text("authorName: me\nmaxTrialNum: 3\ntrial:\n  command: python3 t.py\n")
    with pytest.raises(ConfigError, match="trainingServicePlatform: required"):
        ExperimentConfig.load(path)


def test_yaml_syntax_errors_give_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yml"
    path.write_text("authorName: me\ntrial:\n  command: [python3\nmaxTrialNum: 3\n")
    with pytest.raises(ConfigError) as error:
        ExperimentConfig.load(path)
    assert str(path) in str(error.value) and "line 4" in str(error.value)


def test_semantic_errors_give_the_line_of_the_key(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.write_text("trialCommand: python3 t.py\ntrialConcurrency: 1\ntuner:\n  name: TPE\n  gpuIndex: 1\n"
                    "trainingService:\n  platform: local\n  useActiveGpu: maybe\n")
    with pytest.raises(ConfigError) as error:
        ExperimentConfig.load(path)
    message = str(error.value)
    assert message.startswith(f"{path}: ")
    assert "tuner (line 5): unknown key 'gpuIndex'" in message
    assert "trainingService.useActiveGpu (line 8)" in message
    v1 = tmp_path / "v1.yml"
    v1.write_text("authorName: me\ntrainingServicePlatform: local\nmachineList:\n  - ip: h\n    user: bob\n")
    with pytest.raises(ConfigError, match=r"machineList\[0\]\.user \(line 5\)"):
        ExperimentConfig.load(v1)
