"""Median stopping rule (Google Vizier): stop a trial whose best value so far is worse than the
median of the completed trials' running averages at the same step."""

from __future__ import annotations

import logging
import math
from typing import Any

from ...assessor import Assessor, AssessResult
from ...metrics import metric_default
from ...utils import OptimizeMode, parse_optimize_mode

__all__ = ["MedianstopAssessor", "scalar_history"]

_logger = logging.getLogger(__name__)


def scalar_history(trial_history: list[Any]) -> list[float]:
    """Reduce intermediate results to floats; an unreadable or non-finite entry becomes NaN.

    Assessors must never fail a running experiment because one trial reported a string or NaN.
    """
    values = [metric_default(item) for item in trial_history]
    return [math.nan if value is None else value for value in values]


class MedianstopAssessor(Assessor):
    """Stops trial X at step S when X's best value up to S is strictly worse than the median of the
    running averages of all successfully completed trials up to S.

    ``optimize_mode`` is 'maximize' or 'minimize'; no verdict is given before ``start_step``
    intermediate results have arrived.
    """

    def __init__(self, optimize_mode: str = "maximize", start_step: int = 0) -> None:
        self.optimize_mode = parse_optimize_mode(optimize_mode, "Medianstop")
        if not isinstance(start_step, int) or isinstance(start_step, bool) or start_step < 0:
            raise ValueError(f"Medianstop: start_step must be an integer >= 0, got {start_step!r}")
        self.start_step = start_step
        self._sign = 1.0 if self.optimize_mode is OptimizeMode.Maximize else -1.0
        self._running: dict[str, list[float]] = {}
        # completed trial -> running average at each step, in "higher is better" orientation
        self._completed_averages: dict[str, list[float]] = {}

    def assess_trial(self, trial_job_id: str, trial_history: list[Any]) -> AssessResult:
        """Good unless the trial's best so far is below the completed trials' median at this step."""
        values = [self._sign * v for v in scalar_history(trial_history)]
        self._running[trial_job_id] = values
        step = len(values)
        if step == 0 or step < self.start_step:
            return AssessResult.Good
        averages = sorted(history[step - 1] for history in self._completed_averages.values()
                          if len(history) >= step and not math.isnan(history[step - 1]))
        if not averages:
            return AssessResult.Good
        finite = [v for v in values if not math.isnan(v)]
        best = max(finite) if finite else -math.inf
        # lower median in "higher is better" orientation, as NNI does for both modes
        median = averages[(len(averages) - 1) // 2]
        if best < median:
            _logger.info("Medianstop: trial %s best %.6g is below the median %.6g at step %d",
                         trial_job_id, self._sign * best, self._sign * median, step)
            return AssessResult.Bad
        return AssessResult.Good

    def trial_end(self, trial_job_id: str, success: bool) -> None:
        """Record the running averages of a trial that completed successfully."""
        values = self._running.pop(trial_job_id, None)
        if not success or not values:
            return
        averages, total, count = [], 0.0, 0
        for value in values:
            if not math.isnan(value):
                total += value
                count += 1
            averages.append(total / count if count else math.nan)
        self._completed_averages[trial_job_id] = averages
