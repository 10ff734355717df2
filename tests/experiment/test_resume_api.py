"""Resume and view from Python: NNI 3.0's instance forms and NNI 2.x's ``Experiment.resume(id, port)``."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from nni.errors import ConfigError
from nni.experiment import Experiment, ExperimentConfig
from nni.experiment.rest_client import RestError
from nni.storage.manifest import read_manifest

TUNER = """
from nni.tuner import Tuner

class StepTuner(Tuner):
    def __init__(self):
        self.imported = []

    def update_search_space(self, search_space):
        pass

    def generate_parameters(self, parameter_id, **kwargs):
        return {"x": parameter_id / 10}

    def receive_trial_result(self, parameter_id, parameters, value, **kwargs):
        pass

    def import_data(self, data):
        self.imported.extend(data)
"""


def _config(tmp_path: Path, max_trials: int) -> ExperimentConfig:
    code = tmp_path / "code"
    code.mkdir(exist_ok=True)
    (code / "step_tuner.py").write_text(textwrap.dedent(TUNER))
    (code / "trial.py").write_text("import nni\np = nni.get_next_parameter()\nnni.report_final_result(p['x'])\n")
    config = ExperimentConfig("local")
    config.trial_command = f"{sys.executable} trial.py"
    config.trial_code_directory = code
    config.experiment_working_directory = tmp_path / "experiments"
    config.search_space = {"x": {"_type": "uniform", "_value": [0, 1]}}
    config.tuner = {"className": "step_tuner.StepTuner", "codeDirectory": str(code)}
    config.trial_concurrency = 2
    config.max_trial_number = max_trials
    return config


def test_resume_forms_continue_the_stored_experiment(tmp_path: Path, free_port: int) -> None:
    first = Experiment(_config(tmp_path, 3), id="pyresume")
    assert first.run(free_port) is True
    first.stop()

    # NNI 2.x: a class-level call returns the resumed experiment.
    resumed = Experiment.resume("pyresume", free_port, wait_completion=False)
    try:
        assert resumed.id == "pyresume" and resumed.config.max_trial_number == 3
        resumed.update_max_trial_number(5)
        runner = resumed._runner
        assert runner is not None and runner.wait_finished(60)
        trials = resumed.list_trial_jobs()
        assert sorted(t.sequenceId for t in trials) == [0, 1, 2, 3, 4]
        assert runner.engine is not None and len(runner.engine.tuner.imported) == 3
    finally:
        resumed.stop()

    # NNI 3.0: Experiment(None, id=...) picks the stored experiment up with run_or_resume.
    again = Experiment(None, id="pyresume")
    assert again.run_or_resume(free_port) is True
    try:
        assert again.get_status() == "DONE" and len(again.list_trial_jobs()) == 5
    finally:
        again.stop()
    assert read_manifest()["pyresume"]["status"] == "STOPPED"


def test_run_or_resume_creates_a_new_experiment(tmp_path: Path, free_port: int) -> None:
    experiment = Experiment(_config(tmp_path, 2), id="pyfresh")
    assert not experiment.has_checkpoint()
    assert experiment.run_or_resume(free_port) is True
    experiment.stop()
    experiment.save_checkpoint()  # NNI's no-op for HPO: the database is already up to date
    assert experiment.has_checkpoint()

    # NNI 3.0's load_checkpoint: an empty experiment takes the stored config; a set one keeps its own.
    loaded = Experiment(None, id="pyfresh")
    loaded.load_checkpoint()
    assert loaded.config.max_trial_number == 2 and loaded.config.trial_concurrency == 2
    own = Experiment(_config(tmp_path, 7), id="pyfresh")
    own.load_checkpoint()
    assert own.config.max_trial_number == 7
    with pytest.raises(ConfigError, match="nosuchexp"):
        Experiment(None, id="nosuchexp").load_checkpoint()
    viewed = Experiment.view("pyfresh", free_port, non_blocking=True)
    try:
        assert len(viewed.list_trial_jobs()) == 2 and viewed.get_status() == "VIEWED"
    finally:
        viewed.stop()


def test_view_is_read_only(tmp_path: Path, free_port: int) -> None:
    experiment = Experiment(_config(tmp_path, 2), id="pyview")
    experiment.run(free_port)
    experiment.stop()
    viewed = Experiment(None, id="pyview")
    viewed.view(free_port, non_blocking=True)
    try:
        assert viewed.get_status() == "VIEWED"
        assert len(viewed.list_trial_jobs()) == 2 and len(viewed.export_data()) == 2
        with pytest.raises(RestError) as refused:
            viewed.update_trial_concurrency(4)
        assert refused.value.status == 403 and "read-only" in str(refused.value)
        with pytest.raises(RuntimeError, match="already started"):
            viewed.resume(free_port)
    finally:
        viewed.stop()
    assert read_manifest()["pyview"]["status"] == "STOPPED"


def test_resume_of_an_unknown_experiment_names_it(free_port: int) -> None:
    with pytest.raises(ValueError, match="experiment nosuch not found"):
        Experiment.resume("nosuch", free_port)
