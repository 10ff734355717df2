"""What a user sees around a run: the end-of-run outcome, the live tuner's label, the Jupyter summary."""

from __future__ import annotations

import json
import urllib.request

from nni.algorithms.hpo.hyperopt_tuner import HyperoptTuner
from nni.engine.readout import describe_object
from nni.experiment import Experiment
from nni.experiment.progress import reopen_command
from nni.tuner import Tuner

# The error of a trial is |x - 0.3|, its accuracy 1 - error: the most accurate trial has the lowest error.
ERROR_TRIAL = """
import nni
p = nni.get_next_parameter()
error = abs(p["x"] - 0.3)
nni.report_final_result({"default": error, "accuracy": 1 - error})
"""


def summary_of(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/webui/summary", timeout=30) as response:
        return json.load(response)


def test_run_ends_with_the_best_trial_its_folder_and_the_reopen_command(make_experiment, free_port, capsys):
    experiment = make_experiment(ERROR_TRIAL, tuner=HyperoptTuner("tpe"), max_trial_number=6)
    assert experiment.run(free_port) is True
    output = capsys.readouterr().out
    trials = experiment.list_trial_jobs()
    best = max(trials, key=lambda t: t.finalMetricData[0].data["accuracy"])
    assert f"Experiment {experiment.id} DONE: 6/6 trials succeeded, 0 failed." in output
    assert f"Best trial: {best.trialJobId} (#{best.sequenceId})" in output
    assert "lowest default metric is best" in output
    assert json.dumps(best.hyperParameters[0].parameters, sort_keys=True) in output
    assert f"Stored in:  {experiment.experiment_dir}" in output
    assert (f"nnictl view {experiment.id} --experiment_dir {experiment.experiment_dir.parent} "
            f"--port {free_port}") in output


def test_overview_names_a_live_tuner_by_class_and_arguments_also_when_viewed(make_experiment, free_port):
    experiment = make_experiment(ERROR_TRIAL, tuner=HyperoptTuner("tpe"), max_trial_number=2)
    experiment.run(free_port)
    summary = summary_of(free_port)
    assert summary["config"]["tuner"]["className"] == "HyperoptTuner(algorithm_name='tpe')"
    assert summary["optimizeMode"] == "minimize"
    experiment.stop()
    viewed = Experiment(experiment.config, id=experiment.id)
    viewed.view(free_port, non_blocking=True)
    try:
        summary = summary_of(free_port)
        assert summary["config"]["tuner"]["className"] == "HyperoptTuner(algorithm_name='tpe')"
        assert summary["optimizeMode"] == "minimize"  # the stored live tuner's mode, not NNI's maximize default
    finally:
        viewed.stop()


def test_a_named_tuner_keeps_its_config_entry(make_experiment, free_port):
    experiment = make_experiment(ERROR_TRIAL, tuner="Random", max_trial_number=1)
    experiment.run(free_port)
    assert summary_of(free_port)["config"]["tuner"] == {"name": "Random", "classArgs": {}}


class _Plain(Tuner):
    def __init__(self, scale: float, label: str = "x" * 100) -> None:
        self.scale = scale


def test_describe_object_names_the_arguments_given_and_shortens_long_ones():
    assert describe_object(HyperoptTuner("anneal", optimize_mode="maximize")) == \
        "HyperoptTuner(algorithm_name='anneal', optimize_mode='maximize')"
    assert describe_object(_Plain(2.5)) == "_Plain(scale=2.5)"
    long = describe_object(_Plain(1, label="y" * 100))
    assert long.startswith("_Plain(scale=1, label='yyy") and long.endswith("…)") and len(long) < 90
    assert describe_object(object()) == "object"


def test_reopen_command_quotes_paths_and_omits_defaults(tmp_path, isolated_home):
    assert reopen_command("abc", isolated_home / "nni-experiments", 8080) == "nnictl view abc"
    spaced = tmp_path / "my runs"
    assert reopen_command("abc", spaced, 8081) == f"nnictl view abc --experiment_dir '{spaced}' --port 8081"


def test_repr_html_escapes_and_links_the_portal(make_experiment, free_port):
    experiment = make_experiment(ERROR_TRIAL, tuner=HyperoptTuner("tpe"), max_trial_number=1,
                                 experiment_name="<script>alert(1)</script>")
    before = experiment._repr_html_()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in before and "<script>" not in before
    assert "not started" in before and "not running" in before
    experiment.run(free_port)
    running = experiment._repr_html_()
    assert f":{free_port}/?token=" in running and "1 succeeded" in running and "DONE" in running
    experiment.stop()
    stopped = experiment._repr_html_()
    assert "nnictl view" in stopped and experiment.id in stopped
