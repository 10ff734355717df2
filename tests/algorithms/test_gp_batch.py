"""GP asks with pending configurations: the model is conditioned on new pending points by block
updates instead of refitted, pending points count towards the initial design, and wide batches
search the acquisition with a shrinking effort."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from nni.algorithms.hpo import gp_tuner
from nni.algorithms.hpo._gp_model import GaussianProcess
from nni.algorithms.hpo._gp_optimizer import BayesianOptimizer
from nni.algorithms.hpo.gp_tuner import GPTuner

SPACE = {"x": {"_type": "uniform", "_value": [-2, 2]},
         "y": {"_type": "loguniform", "_value": [1e-3, 1]},
         "c": {"_type": "choice", "_value": ["a", "b", "c"]}}


def _loss(params: dict[str, Any]) -> float:
    return (params["x"] - 0.3) ** 2 + math.log10(params["y"]) ** 2 / 4 + (params["c"] != "b")


def _tuner_with_results(n: int, seed: int = 0, **kwargs: Any) -> GPTuner:
    tuner = GPTuner(optimize_mode="minimize", cold_start_num=5, selection_num_warm_up=256, seed=seed, **kwargs)
    tuner.update_search_space(SPACE)
    for pid in range(n):
        params = tuner.generate_parameters(pid)
        tuner.receive_trial_result(pid, params, _loss(params))
        tuner.trial_end(pid, True)
    return tuner


def test_add_data_matches_a_full_refactorisation() -> None:
    rng = np.random.default_rng(0)
    gp = GaussianProcess([0, 1], [2], [3])
    gp.theta = np.array([-1.0, -0.5, 0.2, 0.3, math.log(1e-4)])
    vectors = np.column_stack([rng.random((30, 2)), rng.integers(0, 3, 30)])
    y = rng.normal(size=30)
    full = GaussianProcess([0, 1], [2], [3])
    full.theta = gp.theta.copy()
    full.set_data(full.inputs(vectors), y)
    gp.set_data(gp.inputs(vectors[:20]), y[:20])
    gp.add_data(gp.inputs(vectors[20:27]), y[20:27])
    gp.add_data(gp.inputs(vectors[27:]), y[27:])
    probe = gp.inputs(np.column_stack([rng.random((50, 2)), rng.integers(0, 3, 50)]))
    for mine, theirs in zip(gp.predict(probe, gradient=True), full.predict(probe, gradient=True), strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(gp.loo_means(), full.loo_means(), rtol=1e-6, atol=1e-8)


def test_pending_only_asks_extend_the_model_instead_of_refitting(monkeypatch: pytest.MonkeyPatch) -> None:
    tuner = _tuner_with_results(8)
    optimizer = tuner.optimizer
    assert optimizer is not None
    calls = {"set_data": 0, "fit_hyperparameters": 0}
    for name in calls:
        original = getattr(optimizer.gp, name)

        def counted(*args: Any, _name: str = name, _original: Any = original, **kwargs: Any) -> Any:
            calls[_name] += 1
            return _original(*args, **kwargs)
        monkeypatch.setattr(optimizer.gp, name, counted)
    batch = tuner.generate_multiple_parameters(list(range(100, 106)))
    assert len({str(sorted(p.items())) for p in batch}) == 6
    # the first ask of the batch fits (new results arrived); the five after it only add a point
    assert calls == {"set_data": 1, "fit_hyperparameters": 1}
    assert optimizer.gp._y is not None and len(optimizer.gp._y) == 8 + 5
    # a result arriving ends the reuse
    tuner.receive_trial_result(100, batch[0], _loss(batch[0]))
    tuner.generate_parameters(106)
    assert calls["set_data"] == 2


def test_pending_points_are_believed_at_a_pessimistic_value() -> None:
    tuner = _tuner_with_results(8)
    optimizer = tuner.optimizer
    assert optimizer is not None
    pending = [optimizer.space.encode(optimizer.space.sample(np.random.default_rng(i))) for i in range(3)]
    optimizer.fit()
    mean, std = optimizer.gp.predict(optimizer.gp.inputs(np.array(pending)))
    optimizer.fit(pending, pessimism=1.0)
    assert optimizer.gp._y is not None
    np.testing.assert_allclose(optimizer.gp._y[-3:], mean + std, rtol=1e-6, atol=1e-9)
    assert gp_tuner._PENDING_PESSIMISM > 0
    # the believer (pessimism 0), one pending point at a time, leaves the mean where it was
    optimizer.fit(pending[:1])
    optimizer.fit(pending)
    np.testing.assert_allclose(optimizer.gp._y[-3:], mean, rtol=1e-6, atol=1e-9)


def test_pending_configurations_count_towards_the_initial_design() -> None:
    tuner = GPTuner(optimize_mode="minimize", cold_start_num=6, selection_num_warm_up=128, seed=1)
    tuner.update_search_space(SPACE)
    first = tuner.generate_multiple_parameters(list(range(4)))
    for pid, params in enumerate(first):
        tuner.receive_trial_result(pid, params, _loss(params))
    tuner.generate_multiple_parameters([4, 5])
    assert tuner.fit_quality is None  # 4 results and 1 pending: still designing
    tuner.generate_parameters(6)  # 4 results and 2 pending make 6
    assert tuner.fit_quality is not None


def test_wide_batches_search_with_less_effort(monkeypatch: pytest.MonkeyPatch) -> None:
    tuner = _tuner_with_results(8)
    seen: list[tuple[int | None, int | None]] = []
    original = BayesianOptimizer.maximize

    def spy(self: BayesianOptimizer, acquisition: Any, n_candidates: int | None = None,
            n_refine: int | None = None) -> list[np.ndarray]:
        seen.append((n_candidates, n_refine))
        return original(self, acquisition, n_candidates, n_refine)
    monkeypatch.setattr(BayesianOptimizer, "maximize", spy)
    batch = tuner.generate_multiple_parameters(list(range(100, 140)))
    assert len({str(sorted(p.items())) for p in batch}) == 40
    assert all(tuner.space is not None and tuner.space.contains(p) for p in batch)
    full = seen[0]
    assert seen[:gp_tuner._FULL_EFFORT_PENDING + 1] == [full] * (gp_tuner._FULL_EFFORT_PENDING + 1)
    assert seen[-1] == (256, 0)


def test_no_refinement_returns_the_candidates_best_first(monkeypatch: pytest.MonkeyPatch) -> None:
    tuner = _tuner_with_results(8)
    optimizer = tuner.optimizer
    assert optimizer is not None
    optimizer.fit()
    monkeypatch.setattr(BayesianOptimizer, "_refine", lambda *args: pytest.fail("refined"))
    acquisition = optimizer.standard_acquisition("ei", 0.0, 0.0)
    out = optimizer.maximize(acquisition, 128, 0)
    values = optimizer._evaluate(acquisition, np.array(out))
    assert len(out) == 64 and np.all(np.diff(values) <= 1e-12)


def test_batches_are_repeatable_with_a_seed() -> None:
    batches = []
    for _ in range(2):
        tuner = _tuner_with_results(7, seed=4)
        batches.append(tuner.generate_multiple_parameters(list(range(100, 112))))
    assert batches[0] == batches[1]


def test_configurations_handed_out_elsewhere_are_seen_and_the_running_ones_pending() -> None:
    tuner = _tuner_with_results(8)
    running, lost = {"x": 0.3, "y": 0.01, "c": "b"}, {"x": -1.0, "y": 0.5, "c": "a"}
    tuner.restore_proposals([{"parameter_id": 20, "parameter": running, "running": True},
                             {"parameter_id": 21, "parameter": lost, "running": False},
                             {"parameter_id": 22, "parameter": {"x": 0.0, "y": 0.5, "c": "z"}, "running": True}])
    assert list(tuner._pending) == [20]
    assert running in tuner.history and lost in tuner.history  # type: ignore[operator]
    proposals = tuner.generate_multiple_parameters(list(range(30, 36)))
    assert running not in proposals and lost not in proposals
    tuner.receive_trial_result(20, running, _loss(running))
    assert 20 not in tuner._pending
