"""Curve-fitting assessor: extrapolation quality and stop verdicts."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nni.algorithms.hpo.builtin import create_algorithm
from nni.algorithms.hpo.curvefitting_assessor import CurvefittingAssessor, predict_curve
from nni.assessor import AssessResult

STEPS = np.arange(1, 21, dtype=float)


@pytest.mark.parametrize("curve", [0.9 - 0.5 * np.exp(-0.3 * STEPS), 0.8 - 0.6 * STEPS ** -0.7,
                                   0.5 + 0.3 * np.exp(-0.3 * STEPS)])
def test_prediction_is_close_to_the_true_final_value(curve: np.ndarray) -> None:
    prediction = predict_curve(list(curve[:8]), 20)
    assert prediction is not None
    assert abs(prediction - curve[-1]) < 0.02


def test_prediction_of_odd_curves() -> None:
    assert predict_curve([0.3] * 6, 20) == 0.3
    assert predict_curve([1.0, 2.0], 20) is None  # too short to fit
    assert predict_curve([math.nan, 1.0, 2.0, math.inf], 20) is None
    long = list(0.9 - 0.5 * np.exp(-0.003 * np.arange(1, 1001)))
    assert abs(predict_curve(long, 2000) - 0.9) < 0.05


def _complete(assessor: CurvefittingAssessor, trial: str, curve: np.ndarray) -> None:
    for step in range(1, len(curve) + 1):
        assessor.assess_trial(trial, list(curve[:step]))
    assessor.trial_end(trial, True)


def test_worse_curve_is_stopped_good_one_kept() -> None:
    assessor = CurvefittingAssessor(epoch_num=20, start_step=6, threshold=0.95)
    _complete(assessor, "best", 0.9 - 0.5 * np.exp(-0.3 * STEPS))
    assert assessor.completed_best_performance == pytest.approx(0.9, abs=0.01)
    bad = 0.5 - 0.3 * np.exp(-0.3 * STEPS)
    good = 0.92 - 0.6 * np.exp(-0.25 * STEPS)
    assert assessor.assess_trial("bad", list(bad[:5])) is AssessResult.Good  # before start_step
    assert assessor.assess_trial("bad", list(bad[:6])) is AssessResult.Bad
    assert assessor.assess_trial("good", list(good[:6])) is AssessResult.Good


def test_gap_skips_verdicts() -> None:
    assessor = CurvefittingAssessor(epoch_num=20, start_step=3, gap=3)
    _complete(assessor, "best", 0.9 - 0.5 * np.exp(-0.3 * STEPS))
    bad = list(0.4 - 0.3 * np.exp(-0.3 * STEPS))
    assert assessor.assess_trial("bad", bad[:3]) is AssessResult.Bad
    assert assessor.assess_trial("bad", bad[:4]) is AssessResult.Good  # within the gap: no verdict
    assert assessor.assess_trial("bad", bad[:6]) is AssessResult.Bad


def test_minimize_mode_for_loss_curves() -> None:
    assessor = CurvefittingAssessor(start_step=4, optimize_mode="minimize")
    _complete(assessor, "best", 0.2 + 2.0 * np.exp(-0.3 * STEPS))
    assert assessor.assess_trial("high", list(1.5 + 2.0 * np.exp(-0.3 * STEPS[:6]))) is AssessResult.Bad
    assert assessor.assess_trial("low", list(0.1 + 2.0 * np.exp(-0.3 * STEPS[:6]))) is AssessResult.Good


def test_nan_strings_and_failures_never_raise() -> None:
    assessor = CurvefittingAssessor(start_step=3)
    assert assessor.assess_trial("x", [0.1, 0.2, 0.3]) is AssessResult.Good  # no completed trial yet
    assessor.trial_end("x", False)
    assert assessor.completed_best_performance is None
    _complete(assessor, "best", 0.9 - 0.5 * np.exp(-0.3 * STEPS))
    assert assessor.assess_trial("nan", [math.nan, "text", None]) is AssessResult.Bad
    assert assessor.assess_trial("short", [math.nan, 0.8, math.nan, 0.85]) is AssessResult.Good
    assessor.trial_end("nan", True)  # no finite value: the bar stays
    assert assessor.completed_best_performance == pytest.approx(0.9, abs=0.01)


def test_at_or_after_epoch_num_uses_observed_value() -> None:
    assessor = CurvefittingAssessor(epoch_num=5, start_step=2)
    _complete(assessor, "best", np.array([0.5, 0.7, 0.8, 0.85, 0.9]))
    assert assessor.assess_trial("late", [0.1, 0.2, 0.3, 0.4, 0.5, 0.95]) is AssessResult.Bad
    assert assessor.assess_trial("fine", [0.1, 0.2, 0.3, 0.4, 0.89]) is AssessResult.Good


@pytest.mark.parametrize("args", [{"epoch_num": 0}, {"start_step": -1}, {"gap": 0}, {"threshold": 0},
                                  {"threshold": "high"}, {"optimize_mode": "up"}])
def test_bad_arguments_are_refused(args: dict) -> None:
    with pytest.raises(ValueError):
        CurvefittingAssessor(**args)


def test_builtin_name_defaults() -> None:
    assessor = create_algorithm("assessor", "Curvefitting", {})
    assert isinstance(assessor, CurvefittingAssessor)
    assert (assessor.epoch_num, assessor.start_step, assessor.threshold, assessor.gap) == (20, 6, 0.95, 1)
