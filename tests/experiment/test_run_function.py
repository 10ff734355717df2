"""Python functions as trials through real local experiments: run_function, trialFunction, YAML, refusals."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest

from nni.errors import ConfigError
from nni.experiment import Experiment, ExperimentConfig

CODE = Path(__file__).resolve().parents[1] / "fixtures" / "function_trials"
sys.path.insert(0, str(CODE))

import trial_functions  # noqa: E402 - importable only once its folder is on the path


def _experiment(tmp_path: Path, **config: Any) -> Experiment:
    experiment = Experiment("local")
    experiment.config.tuner.name = "Random"
    experiment.config.trial_code_directory = CODE
    experiment.config.experiment_working_directory = tmp_path / "experiments"
    experiment.config.search_space = {"x": {"_type": "randint", "_value": [0, 1000]}}
    experiment.config.trial_concurrency = 2
    experiment.config.max_trial_number = 4
    for key, value in config.items():
        setattr(experiment.config, key, value)
    return experiment


def test_run_function_reports_intermediates_and_the_return_value(tmp_path: Path, free_port: int) -> None:
    experiment = _experiment(tmp_path)
    try:
        assert experiment.run_function(trial_functions.train, free_port) is True
        trials = experiment.list_trial_jobs()
        assert len(trials) == 4 and all(t.status == "SUCCEEDED" for t in trials)
        metrics = experiment.get_job_metrics()
        for trial in trials:
            x = trial.hyperParameters[0].parameters["x"]
            assert [m.data for m in metrics[trial.trialJobId]] == [0, x, 2 * x, x]
            out = experiment.experiment_dir / "trials" / trial.trialJobId / "stdout"
            assert out.read_text() == f"trial {trial.trialJobId} in {CODE}\n"
        assert experiment.config.trial_function == "trial_functions:train"
    finally:
        experiment.stop()


def test_a_function_this_process_imports_runs_outside_its_folder(tmp_path: Path, free_port: int) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    experiment = _experiment(tmp_path, max_trial_number=2, trial_code_directory=elsewhere)
    try:
        assert experiment.run_function(trial_functions.as_dict, free_port) is True
        assert [t.status for t in experiment.list_trial_jobs()] == ["SUCCEEDED", "SUCCEEDED"]
    finally:
        experiment.stop()


def test_a_failing_function_fails_its_trial_with_the_traceback(tmp_path: Path, free_port: int) -> None:
    experiment = _experiment(tmp_path, max_trial_number=2, trial_function=trial_functions.raises)
    try:
        experiment.run(free_port)
        trials = experiment.list_trial_jobs()
        assert [t.status for t in trials] == ["FAILED", "FAILED"]
        for trial in trials:
            stderr = (experiment.experiment_dir / "trials" / trial.trialJobId / "stderr").read_text()
            assert "Traceback" in stderr and "is not accepted" in stderr
    finally:
        experiment.stop()


def test_max_trial_duration_stops_a_long_function(tmp_path: Path, free_port: int) -> None:
    experiment = _experiment(tmp_path, max_trial_number=1, trial_concurrency=1, max_trial_duration="1s",
                             trial_function=trial_functions.sleeps)
    try:
        assert experiment.run(free_port) is True
        (trial,) = experiment.list_trial_jobs()
        assert trial.status == "EARLY_STOPPED" and "maxTrialDuration" in trial.message
    finally:
        experiment.stop()


def test_kill_a_running_function_trial(tmp_path: Path, free_port: int) -> None:
    experiment = _experiment(tmp_path, max_trial_number=1, trial_concurrency=1, trial_function=trial_functions.sleeps)
    experiment.start(free_port)
    try:
        runner = experiment._runner
        assert runner is not None
        for _ in range(600):
            trials = experiment.list_trial_jobs()
            if trials and trials[0].status == "RUNNING":
                break
            runner.wait_finished(0.05)
        experiment.kill_trial_job(trials[0].trialJobId)
        assert runner.wait_finished(30)
        assert experiment.list_trial_jobs()[0].status == "USER_CANCELED"
    finally:
        experiment.stop()


def test_a_function_experiment_resumes_with_a_larger_budget(tmp_path: Path, free_port: int) -> None:
    first = _experiment(tmp_path, max_trial_number=2, trial_function=trial_functions.trivial)
    first.id = "fnresume" + uuid.uuid4().hex[:8]
    assert first.run(free_port) is True
    first.stop()
    resumed = Experiment.resume(first.id, free_port, wait_completion=False)
    try:
        resumed.update_max_trial_number(4)
        runner = resumed._runner
        assert runner is not None and runner.wait_finished(60)
        trials = resumed.list_trial_jobs()
        assert len(trials) == 4 and all(t.status == "SUCCEEDED" for t in trials)
    finally:
        resumed.stop()


def test_yaml_names_the_function_as_module_colon_name(tmp_path: Path, free_port: int) -> None:
    path = tmp_path / "config.yml"
    path.write_text(textwrap.dedent(f"""
        trialFunction: trial_functions:as_dict
        trialCodeDirectory: {CODE}
        experimentWorkingDirectory: {tmp_path / "experiments"}
        searchSpace: {{x: {{_type: choice, _value: [1, 2]}}}}
        tuner: {{name: GridSearch}}
        trialConcurrency: 2
        trainingService: {{platform: local}}
    """))
    experiment = Experiment(ExperimentConfig.load(path))
    try:
        assert experiment.run(free_port) is True
        finals = sorted(t.finalMetricData[0].data["double"] for t in experiment.list_trial_jobs())
        assert finals == [2, 4]
    finally:
        experiment.stop()


def test_a_function_of_the_script_that_was_run(tmp_path: Path, free_port: int) -> None:
    script = tmp_path / "search.py"
    script.write_text(textwrap.dedent(f"""
        import nni
        from nni.experiment import Experiment

        def train(params):
            nni.report_intermediate_result(0.5)
            return params["x"] * 10

        if __name__ == "__main__":
            experiment = Experiment("local")
            experiment.config.tuner.name = "GridSearch"
            experiment.config.search_space = {{"x": {{"_type": "choice", "_value": [1, 2, 3]}}}}
            experiment.config.trial_concurrency = 3
            experiment.config.experiment_working_directory = {str(tmp_path / "experiments")!r}
            assert experiment.run_function(train, {free_port})
            print(sorted(t.finalMetricData[0].data for t in experiment.list_trial_jobs()))
            experiment.stop()
    """))
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[10, 20, 30]"


def _nested() -> Any:
    def inner(params: dict[str, Any]) -> float:
        return 1.0

    return inner


@pytest.mark.parametrize(("function", "words"), [
    (lambda params: 1.0, "a lambda cannot be a trial function"),
    (_nested(), "_nested.inner is defined inside another function"),
    (42, "must be a function or 'module:function', got int"),
    ("no colon", "must be 'module:function'"),
    ("module:not a name", "is not a Python name"),
])
def test_functions_trials_cannot_import_are_refused_at_once(tmp_path: Path, function: Any, words: str) -> None:
    experiment = _experiment(tmp_path)
    with pytest.raises(ConfigError, match=words):
        experiment.config.trial_function = function
    with pytest.raises(ConfigError, match=words):
        _experiment(tmp_path).run_function(function)


def test_both_a_command_and_a_function_are_refused(tmp_path: Path, free_port: int) -> None:
    experiment = _experiment(tmp_path, trial_function=trial_functions.train)
    with pytest.raises(ConfigError, match="trialCommand and trialFunction: give one of them"):
        experiment.config.trial_command = "python3 trial.py"
    with pytest.raises(ConfigError, match="trialCommand and trialFunction: give one of them"):
        experiment.run(free_port)
    with pytest.raises(ConfigError, match="trialCommand and trialFunction"):
        ExperimentConfig.from_dict({"trialFunction": "m:f", "trialCommand": "python3 a.py"})
    service_too = _experiment(tmp_path, trial_function=trial_functions.train)
    service_too.config.training_service.trial_command = "python3 trial.py"
    with pytest.raises(ConfigError, match="sets its own trialCommand"):
        service_too.run(free_port)


def test_a_function_trials_cannot_find_is_refused_before_start(tmp_path: Path, free_port: int) -> None:
    missing = _experiment(tmp_path, trial_function="no_such_module_nni:train")
    with pytest.raises(ConfigError, match="module 'no_such_module_nni' is found neither in trialCodeDirectory"):
        missing.run(free_port)
    no_file = _experiment(tmp_path, trial_function="missing.py:train")
    with pytest.raises(ConfigError, match="missing.py is not a file"):
        no_file.run(free_port)


def test_removing_the_function_removes_its_command(tmp_path: Path) -> None:
    experiment = _experiment(tmp_path, trial_function=trial_functions.train)
    assert "nni.runtime.function_worker trial_functions:train" in experiment.config.trial_command
    experiment.config.trial_function = None
    assert experiment.config.trial_command is None
