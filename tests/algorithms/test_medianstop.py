"""Median stopping rule: verdicts against completed trials' running averages."""

from __future__ import annotations

import math

import pytest

from nni.algorithms.hpo.builtin import create_algorithm
from nni.algorithms.hpo.medianstop_assessor import MedianstopAssessor
from nni.assessor import AssessResult


def _complete(assessor: MedianstopAssessor, trial: str, curve: list[float]) -> None:
    for step in range(1, len(curve) + 1):
        assessor.assess_trial(trial, curve[:step])
    assessor.trial_end(trial, True)


def test_worse_curve_is_stopped_and_good_curve_kept() -> None:
    assessor = MedianstopAssessor(optimize_mode="maximize", start_step=2)
    for index, level in enumerate([0.6, 0.7, 0.8]):
        _complete(assessor, f"t{index}", [level * (1 - 0.5 ** s) for s in range(1, 11)])
    assert assessor.assess_trial("bad", [0.05]) is AssessResult.Good  # before start_step
    assert assessor.assess_trial("bad", [0.05, 0.06, 0.07]) is AssessResult.Bad
    assert assessor.assess_trial("good", [0.5, 0.7, 0.8]) is AssessResult.Good


def test_minimize_mode_and_dict_metrics() -> None:
    assessor = MedianstopAssessor(optimize_mode="minimize")
    for index in range(3):
        _complete(assessor, f"t{index}", [{"default": 1.0 - 0.1 * s, "other": 0} for s in range(5)])
    assert assessor.assess_trial("high_loss", [{"default": 5.0}, {"default": 4.0}]) is AssessResult.Bad
    assert assessor.assess_trial("low_loss", [0.2, 0.1]) is AssessResult.Good


def test_no_completed_trials_or_failed_ones_give_good() -> None:
    assessor = MedianstopAssessor()
    assert assessor.assess_trial("a", [0.1, 0.2]) is AssessResult.Good
    assessor.assess_trial("failed", [0.9, 0.9, 0.9])
    assessor.trial_end("failed", False)  # an unsuccessful trial sets no bar
    assert assessor.assess_trial("b", [0.0, 0.0]) is AssessResult.Good
    assessor.trial_end("never_assessed", True)  # unknown trial: ignored, no error


def test_nan_and_unreadable_metrics_never_raise() -> None:
    assessor = MedianstopAssessor()
    _complete(assessor, "t", [0.5, math.nan, 0.7])
    assert assessor.assess_trial("n", [math.nan, "oops", None]) is AssessResult.Bad
    assert assessor.assess_trial("m", [math.nan, 0.9]) is AssessResult.Good


@pytest.mark.parametrize("args", [{"optimize_mode": "max"}, {"start_step": -1}, {"start_step": 1.5}])
def test_bad_arguments_are_refused(args: dict) -> None:
    with pytest.raises(ValueError):
        MedianstopAssessor(**args)


def test_builtin_name_defaults() -> None:
    assessor = create_algorithm("assessor", "Medianstop", {})
    assert isinstance(assessor, MedianstopAssessor)
    assert (assessor.optimize_mode, assessor.start_step) == ("maximize", 0)


CURVE_TRIAL = """
import time
import nni
q = nni.get_next_parameter()["q"]
for step in range(8):
    nni.report_intermediate_result(q * (1 - 0.5 ** (step + 1)))
    time.sleep(0.3)
nni.report_final_result(q)
"""


@pytest.mark.slow
@pytest.mark.parametrize(("name", "args"), [("Medianstop", {"start_step": 2}),
                                            ("Curvefitting", {"epoch_num": 8, "start_step": 3})])
def test_assessor_early_stops_a_clearly_worse_trial(make_experiment, free_port, name: str, args: dict) -> None:
    configs = [{"q": 0.9}, {"q": 0.88}, {"q": 0.1}]
    experiment = make_experiment(CURVE_TRIAL, {"combine_params": {"_type": "choice", "_value": configs}},
                                 tuner="Batch", trial_concurrency=1, max_trial_number=3)
    experiment.config.assessor = {"name": name, "class_args": args}
    assert experiment.run(free_port) is True
    status = {job.hyperParameters[0].parameters["q"]: job.status for job in experiment.list_trial_jobs()}
    assert status == {0.9: "SUCCEEDED", 0.88: "SUCCEEDED", 0.1: "EARLY_STOPPED"}
