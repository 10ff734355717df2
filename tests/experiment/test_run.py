"""End-to-end runs of real local experiments through the Python API."""

from __future__ import annotations

import json
import math
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from nni.experiment import Experiment
from nni.storage.sqlite import SqliteStorage
from nni.tuner import Tuner

ECHO_TRIAL = """
import json, os, nni
params = nni.get_next_parameter()
with open(os.path.join(os.environ["NNI_OUTPUT_DIR"], "seen.json"), "w") as f:
    json.dump({"trial": nni.get_trial_id(), "params": params, "seq": nni.get_sequence_id(),
               "exp": nni.get_experiment_id()}, f)
nni.report_intermediate_result(params["x"] / 2)
nni.report_final_result({"default": params["x"], "other": 1})
"""


def test_every_trial_gets_exactly_its_recorded_parameters(make_experiment, free_port):
    experiment = make_experiment(ECHO_TRIAL, search_space={"x": {"_type": "uniform", "_value": [0, 1]},
                                                           "k": {"_type": "randint", "_value": [0, 1000]}},
                                 trial_concurrency=8, max_trial_number=200)
    assert experiment.run(free_port) is True
    trials = experiment.list_trial_jobs()
    assert len(trials) == 200
    exp_dir = experiment.experiment_dir
    for trial in trials:
        assert trial.status == "SUCCEEDED", trial.message
        seen = json.loads((exp_dir / "trials" / trial.trialJobId / "seen.json").read_text())
        assert seen["trial"] == trial.trialJobId
        assert seen["exp"] == experiment.id
        assert seen["params"] == trial.hyperParameters[0].parameters
        assert seen["seq"] == trial.sequenceId
        assert trial.finalMetricData[0].data == {"default": seen["params"]["x"], "other": 1}
    assert len({t.trialJobId for t in trials}) == 200
    assert all(len(t.trialJobId) == 5 and t.trialJobId.isalnum() for t in trials)


def test_results_are_stored_in_sqlite_and_queryable_after_run(make_experiment, free_port):
    experiment = make_experiment(ECHO_TRIAL, max_trial_number=3)
    assert experiment.run(free_port) is True
    # still queryable after run() returned, as in NNI
    assert experiment.get_status() == "DONE"
    stats = {s["trialJobStatus"]: s["trialJobNumber"] for s in experiment.get_job_statistics()}
    assert stats == {"SUCCEEDED": 3}
    metrics = experiment.get_job_metrics()
    assert all(len(items) == 2 for items in metrics.values())
    assert [m.type for m in next(iter(metrics.values()))] == ["PERIODICAL", "FINAL"]
    exported = experiment.export_data()
    assert len(exported) == 3 and all(r.value["default"] == r.parameter["x"] for r in exported)
    profile = experiment.get_experiment_profile()
    assert profile["id"] == experiment.id and profile["params"]["trialConcurrency"] == 2
    with urllib.request.urlopen(f"http://127.0.0.1:{free_port}/api/v1/nni/check-status") as r:
        assert json.load(r)["status"] == "DONE"
    db_dir = experiment.experiment_dir / "db"
    experiment.stop()
    storage = SqliteStorage(db_dir, read_only=True)
    stored = storage.load_trials()
    assert len(stored) == 3 and all(t.final is not None for t in stored)
    storage.close()


def test_nan_final_result_succeeds_and_a_custom_tuner_receives_it_as_is(make_experiment, free_port):
    received: list[Any] = []

    class Recording(Tuner):
        def update_search_space(self, space):
            pass

        def generate_parameters(self, parameter_id, **kwargs):
            return {"x": parameter_id}

        def receive_trial_result(self, parameter_id, parameters, value, **kwargs):
            received.append(value)

    experiment = make_experiment("""
        import nni
        p = nni.get_next_parameter()
        nni.report_final_result(float("nan") if p["x"] == 0 else 1.0)
    """, tuner=Recording(), max_trial_number=2, trial_concurrency=1)
    assert experiment.run(free_port) is True
    trials = sorted(experiment.list_trial_jobs(), key=lambda t: t.sequenceId)
    # as in NNI: a trial that exits 0 succeeded, whatever it reported
    assert [t.status for t in trials] == ["SUCCEEDED", "SUCCEEDED"]
    # NNI's wire text of a NaN metric is 'NaN' inside a JSON string; its client decodes it to a float NaN
    assert math.isnan(trials[0].finalMetricData[0].data)
    assert math.isnan(received[0]) and received[1:] == [1.0]
    assert {r.trialJobId for r in experiment.export_data()} == {t.trialJobId for t in trials}
    # stored exactly as reported
    storage = SqliteStorage(experiment.experiment_dir / "db", read_only=True)
    nan_trial = next(t for t in storage.load_trials() if t.trial_id == trials[0].trialJobId)
    assert math.isnan(nan_trial.final.value)
    storage.close()


def test_command_not_found_fails_the_trial_with_the_reason(make_experiment, free_port):
    experiment = make_experiment("", max_trial_number=1, trial_concurrency=1)
    experiment.config.trial_command = "no-such-command-xyz --flag"
    assert experiment.run(free_port) is True
    (trial,) = experiment.list_trial_jobs()
    assert trial.status == "FAILED"
    assert "command not found" in trial.message and "no-such-command-xyz" in trial.message


def test_crashing_trial_shows_its_last_error_line(make_experiment, free_port):
    experiment = make_experiment("raise SystemExit('boom: out of memory')", max_trial_number=1, trial_concurrency=1)
    assert experiment.run(free_port) is True
    (trial,) = experiment.list_trial_jobs()
    assert trial.status == "FAILED" and "boom: out of memory" in trial.message and "exit status 1" in trial.message


class _Raising(Tuner):
    def __init__(self, where: str) -> None:
        self.where = where

    def update_search_space(self, space):
        pass

    def generate_parameters(self, parameter_id, **kwargs):
        if self.where == "generate":
            raise ValueError("generate exploded")
        return {"x": 0.5}

    def receive_trial_result(self, parameter_id, parameters, value, **kwargs):
        raise ValueError("receive exploded")


@pytest.mark.parametrize("where", ["generate", "receive"])
def test_tuner_exception_turns_the_experiment_to_error_without_hanging(make_experiment, free_port, where):
    experiment = make_experiment("import nni; nni.get_next_parameter(); nni.report_final_result(1.0)",
                                 tuner=_Raising(where), max_trial_number=5, trial_concurrency=1)
    assert experiment.run(free_port) is False
    assert experiment.get_status() == "ERROR"
    with urllib.request.urlopen(f"http://127.0.0.1:{free_port}/api/v1/nni/check-status") as r:
        errors = json.load(r)["errors"]
    assert errors and f"{where} exploded" in errors[0] and "Traceback" in errors[0]
    log = (experiment.experiment_dir / "log" / "nnimanager.log").read_text()
    assert f"{where} exploded" in log


def test_max_trial_duration_stops_a_long_trial(make_experiment, free_port):
    experiment = make_experiment("import nni, time; nni.get_next_parameter(); time.sleep(60)",
                                 max_trial_number=1, trial_concurrency=1, max_trial_duration="1s")
    assert experiment.run(free_port) is True
    (trial,) = experiment.list_trial_jobs()
    assert trial.status == "EARLY_STOPPED" and "maxTrialDuration" in trial.message


def test_max_experiment_duration_ends_the_experiment(make_experiment, free_port):
    experiment = make_experiment("import nni, time; nni.get_next_parameter(); time.sleep(60)",
                                 max_trial_number=10, trial_concurrency=1, max_experiment_duration="2s")
    assert experiment.run(free_port) is True
    trials = experiment.list_trial_jobs()
    assert len(trials) == 1 and trials[0].status == "SYS_CANCELED"


def test_exhausted_tuner_ends_with_done(make_experiment, free_port):
    experiment = make_experiment("import nni; nni.get_next_parameter(); nni.report_final_result(1)",
                                 search_space={"c": {"_type": "choice", "_value": ["a", "b", "c"]}},
                                 tuner="TPE", max_trial_number=10)
    assert experiment.run(free_port) is True
    trials = experiment.list_trial_jobs()
    assert sorted(t.hyperParameters[0].parameters["c"] for t in trials) == ["a", "b", "c"]


def test_customized_trial_and_updates_while_running(make_experiment, free_port):
    experiment = make_experiment("import nni, time; p = nni.get_next_parameter(); time.sleep(0.3); "
                                 "nni.report_final_result(p['x'])", max_trial_number=2, trial_concurrency=1)
    experiment.start(free_port)
    experiment._client.post("/trial-jobs", {"parameters": {"x": 0.123}})
    experiment.update_max_trial_number(3)
    experiment.update_trial_concurrency(2)
    experiment._runner.wait_finished(60)
    trials = experiment.list_trial_jobs()
    assert len(trials) == 4
    custom = [t for t in trials if t.hyperParameters[0].parameter_source == "customized"]
    assert len(custom) == 1 and custom[0].finalMetricData[0].data == 0.123
    assert experiment.get_experiment_profile()["params"]["trialConcurrency"] == 2


def test_kill_trial_job(make_experiment, free_port):
    experiment = make_experiment("import nni, time; nni.get_next_parameter(); time.sleep(60)",
                                 max_trial_number=1, trial_concurrency=1)
    experiment.start(free_port)
    for _ in range(100):
        trials = experiment.list_trial_jobs()
        if trials and trials[0].status == "RUNNING":
            break
        import time
        time.sleep(0.05)
    experiment.kill_trial_job(trials[0].trialJobId)
    experiment._runner.wait_finished(30)
    assert experiment.get_trial_job(trials[0].trialJobId).status == "USER_CANCELED"


def test_connect_to_a_running_experiment(make_experiment, free_port):
    experiment = make_experiment("import nni, time; nni.get_next_parameter(); time.sleep(0.2); nni.report_final_result(1)",
                                 max_trial_number=2)
    experiment.start(free_port)
    other = Experiment.connect(free_port)
    assert other.id == experiment.id
    other.update_max_trial_number(3)
    experiment._runner.wait_finished(60)
    assert len(other.list_trial_jobs()) == 3


def test_trial_environment_and_files(make_experiment, free_port):
    experiment = make_experiment("""
        import json, os, nni
        nni.get_next_parameter()
        keys = ["NNI_PLATFORM", "NNI_EXP_ID", "NNI_TRIAL_JOB_ID", "NNI_SYS_DIR", "NNI_OUTPUT_DIR",
                "NNI_TRIAL_SEQ_ID", "NNI_CODE_DIR", "CUDA_VISIBLE_DEVICES"]
        print(json.dumps({k: os.environ.get(k) for k in keys} | {"cwd": os.getcwd()}))
        nni.report_final_result(0)
    """, max_trial_number=1, trial_concurrency=1)
    assert experiment.run(free_port) is True
    (trial,) = experiment.list_trial_jobs()
    trial_dir = experiment.experiment_dir / "trials" / trial.trialJobId
    env = json.loads((trial_dir / "stdout").read_text())
    assert env["NNI_PLATFORM"] == "local" and env["NNI_EXP_ID"] == experiment.id
    assert env["NNI_TRIAL_JOB_ID"] == trial.trialJobId and env["NNI_TRIAL_SEQ_ID"] == "0"
    assert Path(env["NNI_SYS_DIR"]) == trial_dir == Path(env["NNI_OUTPUT_DIR"])
    assert env["CUDA_VISIBLE_DEVICES"] == ""
    assert Path(env["cwd"]) == Path(experiment.config.trial_code_directory)
    assert (trial_dir / "parameter.cfg").exists() and (trial_dir / "stderr").exists()
    assert trial.logPath == f"file://localhost:{trial_dir}"
    with urllib.request.urlopen(f"http://127.0.0.1:{free_port}/api/v1/nni/trial-file/{trial.trialJobId}/stdout") as r:
        assert b"NNI_PLATFORM" in r.read()


def test_seed_form_with_a_live_hyperopt_tuner_runs(tmp_path, free_port):
    from nni.algorithms.hpo.hyperopt_tuner import HyperoptTuner

    code = tmp_path / "code"
    code.mkdir()
    (code / "trial.py").write_text("import nni\np = nni.get_next_parameter()\nnni.report_final_result(p['lr'])\n")
    experiment = Experiment(HyperoptTuner("tpe"), "local")
    experiment.config.experiment_name = "seed"
    experiment.config.trial_concurrency = 2
    experiment.config.max_trial_number = 4
    experiment.config.search_space = {"lr": {"_type": "choice", "_value": [0.1, 0.01, 0.001, 0.0001, 1e-5]}}
    experiment.config.trial_command = f"{sys.executable} trial.py"
    experiment.config.trial_code_directory = code
    experiment.config.experiment_working_directory = tmp_path / "exps"
    experiment.config.training_service.use_active_gpu = True
    try:
        assert experiment.run(free_port) is True
        assert [t.status for t in experiment.list_trial_jobs()] == ["SUCCEEDED"] * 4
    finally:
        experiment.stop()
