"""``nnictl algo register/unregister/list/show``: NNI's meta files, where they are stored, every refusal."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from nni.algorithms.hpo.builtin import create_algorithm, registered_algorithms_file
from nni.errors import ConfigError
from nni.tools.nnictl.main import main

MODULE = '''
from nni.assessor import Assessor, AssessResult
from nni.tuner import Tuner
from nni.utils import ClassArgsValidator


class FixedTuner(Tuner):
    def __init__(self, value=1, optimize_mode="maximize"):
        self.value = value

    def update_search_space(self, search_space):
        pass

    def generate_parameters(self, parameter_id, **kwargs):
        return {"x": self.value}

    def receive_trial_result(self, parameter_id, parameters, value, **kwargs):
        pass


class FixedValidator(ClassArgsValidator):
    def validate_class_args(self, **kwargs):
        self.range("value", int, 0, 9)(kwargs.get("value", 0))


class KeepAssessor(Assessor):
    def assess_trial(self, trial_job_id, trial_history):
        return AssessResult.Good
'''


@pytest.fixture
def algo_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "my_algos.py").write_text(textwrap.dedent(MODULE))
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def _meta(folder: Path, name: str = "meta.yml", **meta: object) -> str:
    data = {"algoType": "tuner", "builtinName": "fixed", "className": "my_algos.FixedTuner",
            "classArgsValidator": "my_algos.FixedValidator"} | meta
    path = folder / name
    path.write_text(yaml.safe_dump({k: v for k, v in data.items() if v is not None}))
    return str(path)


def test_register_use_and_unregister(algo_module: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["algo", "register", "--meta_path", _meta(algo_module)]) == 0
    stored = yaml.safe_load(registered_algorithms_file().read_text())
    assert registered_algorithms_file() == Path.home() / ".config" / "nni" / "registered_algorithms.yml"
    assert stored == {"tuners": [{"builtinName": "fixed", "className": "my_algos.FixedTuner", "source": "user",
                                  "classArgsValidator": "my_algos.FixedValidator"}]}
    tuner = create_algorithm("tuner", name="FIXED", class_args={"value": 3})  # names are case-insensitive
    assert tuner.generate_parameters(0) == {"x": 3}
    with pytest.raises(ConfigError, match=r"refused by my_algos.FixedValidator: value should be in range"):
        create_algorithm("tuner", name="fixed", class_args={"value": 12})

    capsys.readouterr()
    assert main(["algo", "list"]) == 0
    listed = capsys.readouterr().out
    assert "fixed" in listed and "user" in listed and "GPTuner" in listed
    assert main(["algo", "show", "fixed"]) == 0
    assert "classArgsValidator: my_algos.FixedValidator" in capsys.readouterr().out

    # registering again replaces the entry
    assert main(["algo", "register", "--meta_path", _meta(algo_module, classArgsValidator=None)]) == 0
    create_algorithm("tuner", name="fixed", class_args={"value": 12})
    assert main(["algo", "unregister", "fixed"]) == 0
    with pytest.raises(ConfigError, match="unknown built-in tuner 'fixed'"):
        create_algorithm("tuner", name="fixed")


def test_registered_assessor_and_nni_list_form(algo_module: Path) -> None:
    path = algo_module / "many.yml"
    path.write_text(yaml.safe_dump({"algorithms": [
        {"algoType": "assessor", "builtinName": "keep", "className": "my_algos.KeepAssessor"},
        {"algoType": "advisor", "builtinName": "fixedadv", "className": "my_algos.FixedTuner"},
    ]}))
    assert main(["algo", "register", "-m", str(path)]) == 0
    assert create_algorithm("assessor", name="keep").assess_trial("t", [1]).name == "Good"
    assert create_algorithm("tuner", name="fixedadv").generate_parameters(0) == {"x": 1}
    with pytest.raises(ConfigError, match="unknown built-in tuner 'keep'"):
        create_algorithm("tuner", name="keep")


def test_nni_config_dir_is_honoured(algo_module: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NNI_CONFIG_DIR", str(algo_module / "cfg"))
    assert main(["algo", "register", "--meta_path", _meta(algo_module)]) == 0
    assert (algo_module / "cfg" / "registered_algorithms.yml").is_file()


@pytest.mark.parametrize(("meta", "message"), [
    ({"className": None}, "className is required"),
    ({"algoType": "sampler"}, "algoType must be tuner, assessor or advisor"),
    ({"builtinName": "TPE"}, "cannot overwrite built-in algorithm TPE"),
    ({"builtinName": "gptuner"}, "cannot overwrite built-in algorithm GP"),
    ({"className": "FixedTuner"}, "className must be 'module.ClassName'"),
    ({"className": "my_algos.Missing"}, "cannot load class my_algos.Missing"),
    ({"classArgsValidator": "nowhere.Validator"}, "cannot load class nowhere.Validator"),
])
def test_bad_meta_files_are_refused(algo_module: Path, capsys: pytest.CaptureFixture[str], meta: dict,
                                    message: str) -> None:
    assert main(["algo", "register", "--meta_path", _meta(algo_module, **meta)]) == 1
    assert message in capsys.readouterr().err
    assert not registered_algorithms_file().exists()


def test_register_refuses_missing_or_malformed_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["algo", "register", "--meta_path", str(tmp_path / "none.yml")]) == 1
    assert "not found" in capsys.readouterr().err
    (tmp_path / "list.yml").write_text("- a\n- b\n")
    assert main(["algo", "register", "--meta_path", str(tmp_path / "list.yml")]) == 1
    assert "expected a mapping" in capsys.readouterr().err
    (tmp_path / "broken.yml").write_text("algoType: [\n")
    assert main(["algo", "register", "--meta_path", str(tmp_path / "broken.yml")]) == 1
    assert "not valid YAML" in capsys.readouterr().err


@pytest.mark.parametrize(("name", "message"), [
    ("TPE", "TPE is provided by nni and cannot be unregistered"),
    ("nothing", "algorithm 'nothing' is not registered"),
])
def test_unregister_refusals(name: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["algo", "unregister", name]) == 1
    assert message in capsys.readouterr().err


def test_show_unknown_names_the_valid_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["algo", "show", "nothing"]) == 1
    assert "Medianstop" in capsys.readouterr().err
