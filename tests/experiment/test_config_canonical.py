"""``ExperimentConfig.json()`` is NNI 3.0's canonical form: checked against recordings of real NNI 3.0
(tests/fixtures/nni30_config, re-recorded by its record.py) and for the rules one at a time."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

import pytest

from nni.errors import ConfigError
from nni.experiment.config import (
    AlgorithmConfig,
    AzureBlobConfig,
    ExperimentConfig,
    FrameworkControllerConfig,
    KubeflowConfig,
    LocalConfig,
    NfsConfig,
    OpenpaiConfig,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "nni30_config"
_spec = importlib.util.spec_from_file_location("nni30_record", FIXTURES / "record.py")
assert _spec is not None and _spec.loader is not None
record = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(record)


def _load(tmp_path: Path, name: str) -> ExperimentConfig:
    return ExperimentConfig.load(record.make_workspace(tmp_path, name))


@pytest.mark.parametrize("name", record.config_names())
def test_json_matches_what_nni_30_gave(tmp_path: Path, name: str) -> None:
    expected = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    config = _load(tmp_path, name)
    assert record.portable(config.json(), tmp_path) == expected
    # key order too: tools diff NNI's dumps as text
    assert json.dumps(record.portable(config.json(), tmp_path)) == json.dumps(expected)


@pytest.mark.parametrize("name", record.config_names())
def test_canonical_json_loads_back_to_itself(tmp_path: Path, name: str) -> None:
    canonical = _load(tmp_path, name).json()
    assert ExperimentConfig.model_validate(canonical).json() == canonical


def test_relative_paths_in_python_resolve_against_the_current_folder(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    (tmp_path / "real" / "space.json").write_text('{"a": {"_type": "choice", "_value": [1]}}')
    monkeypatch.chdir(tmp_path)
    config = ExperimentConfig("local", trial_command="python3 t.py", trial_concurrency=1,
                              trial_code_directory="link", search_space_file="link/space.json")
    data = config.json()
    real = os.path.realpath(tmp_path / "real")
    assert data["trialCodeDirectory"] == real and data["trainingService"]["trialCodeDirectory"] == real
    assert data["searchSpaceFile"] == f"{real}/space.json"
    assert data["searchSpace"] == {"a": {"_type": "choice", "_value": [1]}}
    assert data["experimentWorkingDirectory"] == os.path.realpath(Path.home() / "nni-experiments")
    assert config.trial_code_directory == Path("link")  # json() works on a copy
    assert config.canonical_copy().trial_code_directory == Path(real)


def test_a_placeholder_tuner_shows_empty_class_args_and_an_unset_one_none(tmp_path: Path) -> None:
    config = ExperimentConfig("local")
    config.tuner.name = "TPE"
    assert config.json()["tuner"] == {"name": "TPE", "classArgs": {}}
    config.tuner = AlgorithmConfig(name="TPE")
    assert config.json()["tuner"] == {"name": "TPE"}
    assert "tuner" not in ExperimentConfig("local").json()  # unnamed placeholder: no tuner


def test_advisor_is_folded_into_tuner_and_debug_sets_log_level() -> None:
    config = ExperimentConfig(advisor={"name": "BOHB", "classArgs": {"max_budget": 9}}, debug=True,
                              training_service={"platform": "local", "debug": False})
    data = config.json()
    assert data["tuner"] == {"name": "BOHB", "classArgs": {"max_budget": 9}} and "advisor" not in data
    assert data["logLevel"] == "debug"
    assert data["trainingService"]["debug"] is False  # set on the service: kept


def test_an_unreadable_search_space_file_is_named(tmp_path: Path) -> None:
    config = ExperimentConfig("local", search_space_file=tmp_path / "missing.json")
    with pytest.raises(ConfigError, match=r"searchSpaceFile: cannot read .*missing\.json"):
        config.json()


def test_a_canonical_config_whose_file_went_away_keeps_its_space(tmp_path: Path) -> None:
    space = tmp_path / "space.json"
    space.write_text('{"a": {"_type": "choice", "_value": [1]}}')
    canonical = ExperimentConfig("local", search_space_file=space).json()
    space.unlink()
    assert ExperimentConfig.model_validate(canonical).json()["searchSpace"] == canonical["searchSpace"]


def test_service_value_prefers_the_service() -> None:
    config = ExperimentConfig(trial_command="python3 root.py", trial_gpu_number=0,
                              training_service={"platform": "local", "trialGpuNumber": 2, "useActiveGpu": True})
    assert config.service_value("trial_gpu_number") == 2
    assert config.service_value("trial_command") == "python3 root.py"
    canonical = ExperimentConfig.model_validate(config.json())
    assert canonical.service_value("trial_gpu_number") == 2


def test_other_nni_config_classes_load_and_canonicalise(tmp_path: Path) -> None:
    config = _load(tmp_path, "openpai_storage")
    assert isinstance(config.training_service, OpenpaiConfig) and isinstance(config.shared_storage, NfsConfig)
    assert config.json()["trainingService"]["host"] == "https://pai.example.org"
    blob = AzureBlobConfig(local_mount_point=".", remote_mount_point="/m", local_mounted="usermount",
                           storage_account_name="acct", container_name="c")
    assert blob.json()["storageType"] == "AzureBlob"


def test_kubernetes_configs_pick_their_classes(tmp_path: Path) -> None:
    services = _load(tmp_path, "kubernetes").training_service
    assert isinstance(services, list)
    assert [type(s) for s in services] == [KubeflowConfig, FrameworkControllerConfig]


@pytest.mark.parametrize(("name", "platform", "label"), [
    ("openpai_storage", "openpai", "OpenPAI"), ("kubernetes", "kubeflow", "Kubeflow"),
    ("aml_dlc", "aml", "Azure Machine Learning"),
])
def test_starting_another_nni_platform_fails_naming_it(tmp_path: Path, name: str, platform: str, label: str) -> None:
    config = _load(tmp_path, name)
    config.shared_storage = None
    with pytest.raises(ConfigError, match=rf"platform: '{platform}' \({label}\) is not supported.*"
                                          r"platform: remote.*platform: ray.*platform: slurm.*docs/training_services/"):
        config.validate()


def _runnable(tmp_path: Path, **fields: Any) -> ExperimentConfig:
    fields.setdefault("training_service", "local")
    return ExperimentConfig(trial_command="python3 t.py", trial_concurrency=1,
                            trial_code_directory=tmp_path, search_space={"x": {"_type": "choice", "_value": [1]}},
                            tuner=AlgorithmConfig(name="Random"), **fields)


@pytest.mark.parametrize(("fields", "message"), [
    ({"use_annotation": True}, r"useAnnotation: NNI annotations .* not supported"),
    ({"shared_storage": {"storageType": "NFS", "localMountPoint": ".", "remoteMountPoint": "/m",
                         "localMounted": "nnimount", "nfsServer": "h", "exportedDirectory": "/e"}},
     r"sharedStorage: NFS shared storage is not mounted"),
    ({"tuner_gpu_indices": "0,1"}, r"tunerGpuIndices: the tuner runs inside the experiment's manager process"),
    ({"training_service": LocalConfig(reuse_mode=True)}, r"trainingService.reuseMode: true is not supported"),
    ({"training_service": LocalConfig(max_trial_number_per_gpu=2)},
     r"trainingService: maxTrialNumberPerGpu has no effect without trialGpuNumber"),
])
def test_nni_fields_that_would_do_nothing_stop_the_start(tmp_path: Path, fields: dict[str, Any], message: str) -> None:
    config = _runnable(tmp_path, **fields)
    with pytest.raises(ConfigError, match=message):
        config.validate()


def test_nni_manager_ip_off_local_is_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = _runnable(tmp_path, nni_manager_ip="10.0.0.1")
    config.validate()  # local: NNI drops it too
    assert not caplog.records
    config.training_service = {"platform": "remote", "machineList": [{"host": "h", "user": "u", "password": "p"}]}
    config.validate()
    assert "nniManagerIp 10.0.0.1 is not needed on platform remote" in caplog.text


def test_trial_command_on_the_service_alone_is_enough(tmp_path: Path) -> None:
    config = _runnable(tmp_path)
    config.trial_command = None
    with pytest.raises(ConfigError, match="trialCommand: required"):
        config.validate()
    config.training_service = LocalConfig(trial_command="python3 s.py")
    config.validate()
    assert config.json()["trainingService"]["trialCommand"] == "python3 s.py"


def test_a_missing_service_code_directory_is_named(tmp_path: Path) -> None:
    config = _runnable(tmp_path, training_service=LocalConfig(trial_code_directory=tmp_path / "nope"))
    with pytest.raises(ConfigError, match=r"trainingService.trialCodeDirectory: .*nope is not a folder"):
        config.validate()


def test_tilde_and_relative_paths_in_a_yaml_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    (home / "spaces").mkdir(parents=True)
    (home / "spaces" / "s.yml").write_text("a: {_type: choice, _value: [1, 2]}\n")
    monkeypatch.setenv("HOME", str(home))
    folder = tmp_path / "project"
    (folder / "code").mkdir(parents=True)
    (folder / "config.yml").write_text("searchSpaceFile: ~/spaces/s.yml\ntrialCommand: python3 t.py\n"
                                       "trialConcurrency: 1\ntuner: {name: Random}\n"
                                       "trainingService: {platform: local, trialCodeDirectory: code}\n")
    monkeypatch.chdir(tmp_path)
    data = ExperimentConfig.load(folder / "config.yml").json()
    assert data["searchSpaceFile"] == os.path.realpath(home / "spaces" / "s.yml")
    assert data["searchSpace"] == {"a": {"_type": "choice", "_value": [1, 2]}}
    assert data["trialCodeDirectory"] == os.path.realpath(folder)
    assert data["trainingService"]["trialCodeDirectory"] == os.path.realpath(folder / "code")


def test_service_debug_and_manager_ip_load_as_in_nni() -> None:
    config = ExperimentConfig.model_validate({
        "trialCommand": "python3 t.py", "trialConcurrency": 1, "searchSpace": {},
        "trainingService": [{"platform": "local", "debug": True, "nniManagerIp": "10.0.0.7"},
                            {"platform": "remote", "nniManagerIp": "10.0.0.8", "debug": True,
                             "machineList": [{"host": "h", "user": "u", "password": "p"}]}]})
    local, remote = config.json()["trainingService"]
    assert local["debug"] is True and "nniManagerIp" not in local  # NNI drops it for local
    assert remote["nniManagerIp"] == "10.0.0.8" and remote["debug"] is True
    assert "sshKeyFile" not in remote["machineList"][0]  # a password replaces the key, as in NNI


NNI30_PYTHON = Path("/work/nni30/bin/python")


@pytest.mark.skipif(not NNI30_PYTHON.exists(), reason="NNI 3.0's own virtualenv is not installed here")
def test_live_nni_30_agrees_on_a_fresh_workspace(tmp_path: Path) -> None:
    """The recordings are not stale: real NNI 3.0 (its own venv, run from a folder where our nni is not
    importable) gives ours for the same workspace."""
    import subprocess

    workspace = tmp_path / "ws"
    workspace.mkdir()
    path = record.make_workspace(workspace, "service_fields")
    script = ("import json, sys\nfrom nni.experiment.config import ExperimentConfig\n"
              "print(json.dumps(ExperimentConfig.load(sys.argv[1]).json()))")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([str(NNI30_PYTHON), "-c", script, str(path)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300, check=True)
    theirs = json.loads(result.stdout.strip().splitlines()[-1])
    assert ExperimentConfig.load(path).json() == theirs
