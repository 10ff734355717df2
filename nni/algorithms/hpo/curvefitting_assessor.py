"""Learning-curve extrapolation: fit an ensemble of saturating curve models to a trial's
intermediate results, predict its value at ``epoch_num``, and stop it when the prediction is
clearly below the best completed trial."""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize

from ...assessor import Assessor, AssessResult
from ...utils import OptimizeMode, parse_optimize_mode
from .medianstop_assessor import scalar_history

__all__ = ["CurvefittingAssessor", "predict_curve"]

_logger = logging.getLogger(__name__)

_MAX_POINTS = 200
"""Longer curves are thinned to this many points: fits stay around a millisecond."""


@dataclass(frozen=True)
class _CurveModel:
    """y = a + b * basis(x; theta): linear in (a, b), so only theta is searched (on a grid)."""

    name: str
    basis: Callable[[np.ndarray, np.ndarray], np.ndarray]
    """(x of shape (n,), thetas of shape (g, m)) -> basis values of shape (g, n)."""
    grid: Callable[[float], np.ndarray]
    """Largest observed x -> candidate thetas of shape (g, m)."""


def _no_theta(_: float) -> np.ndarray:
    return np.zeros((1, 0))


def _rates(x_max: float) -> np.ndarray:
    return np.geomspace(0.02 / x_max, 20.0, 60)[:, None]


def _scale_shape(x_max: float) -> np.ndarray:
    scales, shapes = np.geomspace(0.05 / x_max, 20.0, 40), np.geomspace(0.2, 5.0, 16)
    return np.array(np.meshgrid(scales, shapes)).reshape(2, -1).T


_MODELS = (
    _CurveModel("linear", lambda x, t: np.broadcast_to(x, (len(t), len(x))), _no_theta),
    _CurveModel("log_linear", lambda x, t: np.broadcast_to(np.log(x), (len(t), len(x))), _no_theta),
    _CurveModel("ilog2", lambda x, t: np.broadcast_to(-1.0 / np.log(x + 1.0), (len(t), len(x))), _no_theta),
    _CurveModel("pow3", lambda x, t: -(x[None, :] ** -t[:, :1]), lambda _: np.geomspace(0.01, 10.0, 60)[:, None]),
    _CurveModel("exp3", lambda x, t: -np.exp(-t[:, :1] * x[None, :]), _rates),
    _CurveModel("mmf", lambda x, t: -1.0 / (1.0 + (t[:, :1] * x[None, :]) ** t[:, 1:2]), _scale_shape),
    _CurveModel("weibull", lambda x, t: -np.exp(-((t[:, :1] * x[None, :]) ** t[:, 1:2])), _scale_shape),
)


def _linear_fit(model: _CurveModel, x: np.ndarray, y: np.ndarray, target: float,
                thetas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each theta, the closed-form least-squares (a, b): residual sums and predictions at target."""
    with np.errstate(all="ignore"):
        basis = model.basis(np.append(x, target), thetas)
        h, h_target = basis[:, :-1], basis[:, -1]
        h_mean = h.mean(axis=1, keepdims=True)
        centred = h - h_mean
        var = np.sum(centred ** 2, axis=1)
        slope = centred @ (y - y.mean()) / var
        intercept = y.mean() - slope * h_mean[:, 0]
        rss = np.sum((y[None, :] - intercept[:, None] - slope[:, None] * h) ** 2, axis=1)
        prediction = intercept + slope * h_target
    valid = np.isfinite(rss) & np.isfinite(prediction) & (var > 1e-12)
    return np.where(valid, rss, np.inf), prediction


def _fit(model: _CurveModel, x: np.ndarray, y: np.ndarray, target: float) -> tuple[float, float] | None:
    """Least squares over the model's theta grid, refined locally: (residual sum, prediction)."""
    grid = model.grid(float(x[-1]))
    rss, prediction = _linear_fit(model, x, y, target, grid)
    best = int(np.argmin(rss))
    if not math.isfinite(rss[best]):
        return None
    result = (float(rss[best]), float(prediction[best]))
    if grid.shape[1] == 0:
        return result
    low, high = np.log(grid.min(axis=0)), np.log(grid.max(axis=0))

    def objective(log_theta: np.ndarray) -> float:
        theta = np.exp(np.clip(log_theta, low, high))[None, :]
        return float(_linear_fit(model, x, y, target, theta)[0][0])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        refined = minimize(objective, np.log(grid[best]), method="Nelder-Mead",
                           options={"maxiter": 80 * grid.shape[1], "xatol": 1e-4, "fatol": 1e-12 * result[0]})
    theta = np.exp(np.clip(refined.x, low, high))[None, :]
    rss_refined, prediction_refined = _linear_fit(model, x, y, target, theta)
    if rss_refined[0] < result[0] and math.isfinite(prediction_refined[0]):
        result = (float(rss_refined[0]), float(prediction_refined[0]))
    return result


def predict_curve(values: list[float], target_step: int) -> float | None:
    """Predict the value at step ``target_step`` (1-based) of a learning curve.

    Each model is weighted by its corrected Akaike criterion; models whose extrapolation leaves a
    plausible band around the observed values are dropped. None when nothing fits.
    """
    y = np.asarray(values, dtype=float)
    x = np.arange(1, len(y) + 1, dtype=float)
    keep = np.isfinite(y)
    x, y = x[keep], y[keep]
    n = len(y)
    if n < 3:
        return None
    if n > _MAX_POINTS:
        index = np.unique(np.linspace(0, n - 1, _MAX_POINTS).round().astype(int))
        x, y = x[index], y[index]
        n = len(y)
    span = float(np.ptp(y))
    if span == 0.0:
        return float(y[-1])
    low, high = float(y.min()) - span, float(y.max()) + span
    scores, predictions = [], []
    for model in _MODELS:
        k = 2 + model.grid(float(x[-1])).shape[1]
        if n <= k:
            continue
        fitted = _fit(model, x, y, float(max(target_step, 1)))
        if fitted is None:
            continue
        rss, prediction = fitted
        if not low <= prediction <= high:
            continue
        sigma2 = max(rss / n, (1e-6 * span) ** 2)
        aic = n * math.log(sigma2) + 2 * k
        if n - k - 1 > 0:
            aic += 2 * k * (k + 1) / (n - k - 1)
        scores.append(aic)
        predictions.append(prediction)
    if not predictions:
        return None
    weights = np.exp(-0.5 * (np.array(scores) - min(scores)))
    return float(np.dot(weights, predictions) / weights.sum())


class CurvefittingAssessor(Assessor):
    """Stops a trial whose predicted value at ``epoch_num`` is below ``threshold`` times the best
    final value of the completed trials.

    ``start_step`` results are needed before the first verdict and a verdict is given every
    ``gap`` new results. ``optimize_mode`` (an addition to NNI's arguments; NNI assumes
    'maximize') lets loss curves be assessed too: the margin then applies to the loss.
    """

    def __init__(self, epoch_num: int = 20, start_step: int = 6, threshold: float = 0.95, gap: int = 1,
                 optimize_mode: str = "maximize") -> None:
        if not isinstance(epoch_num, int) or isinstance(epoch_num, bool) or epoch_num < 1:
            raise ValueError(f"Curvefitting: epoch_num must be an integer >= 1, got {epoch_num!r}")
        if not isinstance(start_step, int) or isinstance(start_step, bool) or start_step < 0:
            raise ValueError(f"Curvefitting: start_step must be an integer >= 0, got {start_step!r}")
        if not isinstance(gap, int) or isinstance(gap, bool) or gap < 1:
            raise ValueError(f"Curvefitting: gap must be an integer >= 1, got {gap!r}")
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold < math.inf:
            raise ValueError(f"Curvefitting: threshold must be a positive number, got {threshold!r}")
        self.optimize_mode = parse_optimize_mode(optimize_mode, "Curvefitting")
        self.epoch_num = epoch_num
        self.start_step = start_step
        self.threshold = float(threshold)
        self.gap = gap
        self._sign = 1.0 if self.optimize_mode is OptimizeMode.Maximize else -1.0
        self._histories: dict[str, list[float]] = {}
        self._last_judged: dict[str, int] = {}
        self.completed_best_performance: float | None = None

    def _standard(self) -> float:
        """The value a prediction must beat, in "higher is better" orientation."""
        assert self.completed_best_performance is not None
        best = self._sign * self.completed_best_performance
        # best * threshold for a positive accuracy; the same relative margin below a negative value
        return best - (1.0 - self.threshold) * abs(best)

    def assess_trial(self, trial_job_id: str, trial_history: list[Any]) -> AssessResult:
        """Good until enough data; then Bad if the extrapolated curve misses the standard."""
        values = scalar_history(trial_history)
        self._histories[trial_job_id] = values
        step = len(values)
        if self.completed_best_performance is None or step < max(self.start_step, 1):
            return AssessResult.Good
        last = self._last_judged.get(trial_job_id)
        if last is not None and step - last < self.gap:
            return AssessResult.Good
        self._last_judged[trial_job_id] = step
        oriented = [self._sign * v for v in values]
        prediction: float | None
        if step >= self.epoch_num:
            prediction = oriented[self.epoch_num - 1]
            if math.isnan(prediction):
                prediction = predict_curve(oriented, self.epoch_num)
        else:
            prediction = predict_curve(oriented, self.epoch_num)
        if prediction is None or math.isnan(prediction):
            if all(math.isnan(v) for v in oriented):
                return AssessResult.Bad
            return AssessResult.Good
        if prediction < self._standard():
            _logger.info("Curvefitting: trial %s predicted %.6g at step %d, below the standard %.6g",
                         trial_job_id, self._sign * prediction, self.epoch_num, self._sign * self._standard())
            return AssessResult.Bad
        return AssessResult.Good

    def trial_end(self, trial_job_id: str, success: bool) -> None:
        """A successful trial's last finite intermediate value may raise the bar."""
        values = self._histories.pop(trial_job_id, None)
        self._last_judged.pop(trial_job_id, None)
        if not success or not values:
            return
        finite = [v for v in values if not math.isnan(v)]
        if not finite:
            return
        final = finite[-1]
        if self.completed_best_performance is None or self._sign * final > self._sign * self.completed_best_performance:
            self.completed_best_performance = final
