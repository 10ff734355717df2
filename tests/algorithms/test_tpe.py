"""TPE specifics: tpe_args validation, Latin-hypercube start-up, imported history steering the
model, constant liars for parallel asks, univariate mode and maximisation with dict metrics."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from nni.algorithms.hpo.tpe_tuner import TpeTuner
from nni.search_space import config_key


@pytest.mark.parametrize(("args", "message"), [
    ({"n_ei": 3}, "unknown keys \\['n_ei'\\]"),
    ({"constant_liar_type": "median"}, "constant_liar_type must be"),
    ({"n_startup_jobs": -1}, "n_startup_jobs must be a non-negative"),
    ({"n_ei_candidates": 0}, "n_ei_candidates must be a positive"),
    ({"linear_forgetting": 2.5}, "linear_forgetting must be a positive"),
    ({"prior_weight": -1}, "prior_weight must be >= 0"),
    ({"gamma": 0}, "gamma must be in"),
])
def test_bad_tpe_args_are_refused_by_name(args: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TpeTuner(tpe_args=args)


def test_bad_optimize_mode_and_seed_are_refused() -> None:
    with pytest.raises(ValueError, match="optimize_mode must be 'minimize' or 'maximize'"):
        TpeTuner(optimize_mode="lowest")
    with pytest.raises(ValueError, match="seed must be an integer"):
        TpeTuner(seed="abc")  # type: ignore[arg-type]


@pytest.mark.parametrize("liar", ["best", "worst", "mean", None, "none", "NULL"])
def test_liar_types_are_accepted(liar: str | None) -> None:
    tuner = TpeTuner(seed=0, tpe_args={"constant_liar_type": liar, "n_startup_jobs": 4})
    tuner.update_search_space({"x": {"_type": "uniform", "_value": [0, 1]}})
    for pid in range(6):
        params = tuner.generate_parameters(pid)
        tuner.receive_trial_result(pid, params, params["x"])
    batch = [tuner.generate_parameters(100 + i)["x"] for i in range(8)]
    assert len(set(batch)) == 8


def test_startup_is_a_latin_hypercube() -> None:
    tuner = TpeTuner(seed=3, tpe_args={"n_startup_jobs": 10})
    tuner.update_search_space({"x": {"_type": "uniform", "_value": [0, 10]}, "y": {"_type": "uniform", "_value": [0, 1]}})
    first = [tuner.generate_parameters(i) for i in range(10)]
    assert sorted(int(p["x"]) for p in first) == list(range(10))
    assert sorted(int(p["y"] * 10) for p in first) == list(range(10))


def test_imported_history_drives_the_model_towards_good_region() -> None:
    space = {"x": {"_type": "uniform", "_value": [0, 1]}}
    rng = np.random.default_rng(0)
    data = [{"parameter": {"x": float(x)}, "value": float((x - 0.8) ** 2)} for x in rng.random(40)]
    tuner = TpeTuner(seed=1)
    tuner.update_search_space(space)
    tuner.import_data(data)
    proposals = []
    for pid in range(20):
        params = tuner.generate_parameters(pid)
        proposals.append(params["x"])
        tuner.receive_trial_result(pid, params, (params["x"] - 0.8) ** 2)
    assert abs(float(np.median(proposals)) - 0.8) < 0.1


def test_maximize_with_dict_metric_finds_the_maximum() -> None:
    space = {"x": {"_type": "uniform", "_value": [-3, 3]}, "c": {"_type": "choice", "_value": ["a", "b", "c"]}}
    tuner = TpeTuner("maximize", seed=5)
    tuner.update_search_space(space)
    best = -np.inf
    late_b = 0
    for pid in range(80):
        params = tuner.generate_parameters(pid)
        score = -(params["x"] - 1) ** 2 + (1.0 if params["c"] == "b" else 0.0)
        best = max(best, score)
        late_b += pid >= 50 and params["c"] == "b"
        tuner.receive_trial_result(pid, params, {"default": score, "accuracy": score})
    assert best > 0.95 and late_b >= 20


def test_univariate_mode_optimises_too() -> None:
    tuner = TpeTuner(seed=2, tpe_args={"multivariate": False, "n_startup_jobs": 10})
    tuner.update_search_space({"x": {"_type": "loguniform", "_value": [1e-4, 1]},
                               "k": {"_type": "randint", "_value": [0, 10]}})
    losses = []
    for pid in range(60):
        params = tuner.generate_parameters(pid)
        losses.append((np.log10(params["x"]) + 2) ** 2 + (params["k"] - 7) ** 2)
        tuner.receive_trial_result(pid, params, losses[-1])
    assert min(losses[30:]) < min(losses[:10])


def test_pending_configurations_are_not_repeated_under_any_liar() -> None:
    space = {"c": {"_type": "choice", "_value": list(range(6))}}
    for liar in ("best", "worst", "mean", None):
        tuner = TpeTuner(seed=0, tpe_args={"constant_liar_type": liar, "n_startup_jobs": 0})
        tuner.update_search_space(space)
        batch = tuner.generate_multiple_parameters(list(range(6)))
        assert len({config_key(p) for p in batch}) == 6


@pytest.mark.parametrize("forgetting", [25, 300])
def test_long_history_keeps_proposals_valid_and_focused(forgetting: int) -> None:
    """Past a few hundred trials the bad density is a reweighted subset; proposals stay good."""
    space = {"x": {"_type": "uniform", "_value": [0, 1]}, "c": {"_type": "choice", "_value": ["a", "b"]}}
    rng = np.random.default_rng(1)
    data = [{"parameter": {"x": float(x), "c": str(c)}, "value": float((x - 0.2) ** 2 + (c == "b"))}
            for x, c in zip(rng.random(700), rng.choice(["a", "b"], 700), strict=True)]
    tuner = TpeTuner(seed=0, tpe_args={"linear_forgetting": forgetting})
    tuner.update_search_space(space)
    tuner.import_data(data)
    proposals = [tuner.generate_parameters(i) for i in range(20)]
    assert sum(p["c"] == "a" for p in proposals) >= 15
    assert abs(float(np.median([p["x"] for p in proposals])) - 0.2) < 0.1


def test_default_startup_scales_with_the_space_and_explicit_wins() -> None:
    def size(n_params: int, tpe_args: dict[str, Any] | None = None) -> int:
        tuner = TpeTuner(seed=0, tpe_args=tpe_args)
        tuner.update_search_space({f"x{i}": {"_type": "uniform", "_value": [0, 1]} for i in range(n_params)})
        return tuner.startup_size()

    assert [size(1), size(2), size(6), size(30)] == [5, 5, 7, 10]
    assert size(30, {"n_startup_jobs": 20}) == 20 and size(2, {"n_startup_jobs": None}) == 5
    assert size(2, {"n_startup_jobs": 0}) == 1  # a model needs one result


def test_same_seed_same_proposals_with_pending_batches() -> None:
    space = {"x": {"_type": "uniform", "_value": [-2, 2]}, "k": {"_type": "randint", "_value": [0, 5]},
             "c": {"_type": "choice", "_value": ["a", "b", "c"]}}

    def proposals(seed: int) -> list[dict[str, Any]]:
        tuner = TpeTuner(seed=seed)
        tuner.update_search_space(space)
        out = []
        for start in range(0, 48, 6):
            batch = [(pid, tuner.generate_parameters(pid)) for pid in range(start, start + 6)]
            for pid, params in batch:
                tuner.receive_trial_result(pid, params, params["x"] ** 2 + params["k"] + (params["c"] == "b"))
            out += [params for _, params in batch]
        return out

    assert proposals(11) == proposals(11)
    assert proposals(11) != proposals(12)


def test_a_pending_batch_spreads_out_yet_stays_near_the_optimum() -> None:
    """The default liar counts running configurations as bad and each running one makes the pick
    less greedy: 8 concurrent asks cover the good region around the optimum, not one spot."""
    space = {"x": {"_type": "uniform", "_value": [0, 1]}, "y": {"_type": "uniform", "_value": [0, 1]}}
    spread, offset = [], []
    for seed in range(5):
        tuner = TpeTuner(seed=seed)
        tuner.update_search_space(space)
        for pid in range(30):
            params = tuner.generate_parameters(pid)
            tuner.receive_trial_result(pid, params, (params["x"] - 0.3) ** 2 + (params["y"] - 0.7) ** 2)
        batch = np.array([[p["x"], p["y"]] for p in (tuner.generate_parameters(100 + i) for i in range(8))])
        distances = np.sqrt(((batch[:, None] - batch[None]) ** 2).sum(axis=-1))[np.triu_indices(8, 1)]
        assert distances.min() > 1e-3
        spread.append(distances.mean())
        offset.append(np.sqrt(((batch - [0.3, 0.7]) ** 2).sum(axis=-1)).mean())
    assert np.mean(spread) > 0.18  # the 'best' liar piles a batch up (0.15 here)
    assert np.mean(offset) < 0.2  # a random batch is about 0.4 from the optimum, 'best' liar's too


def test_ei_candidates_default_to_64_and_the_argument_takes_effect() -> None:
    space = {"x": {"_type": "uniform", "_value": [0, 1]}, "y": {"_type": "uniform", "_value": [0, 1]}}

    def proposals(tpe_args: dict[str, Any] | None) -> list[dict[str, Any]]:
        tuner = TpeTuner(seed=3, tpe_args=tpe_args)
        tuner.update_search_space(space)
        out = []
        for i in range(12):
            params = tuner.generate_parameters(i)
            tuner.receive_trial_result(i, params, (params["x"] - 0.3) ** 2 + (params["y"] - 0.7) ** 2)
            out.append(params)
        return out

    assert TpeTuner().args.n_ei_candidates == 64
    assert proposals(None) == proposals({"n_ei_candidates": 64})
    assert proposals(None)[5:] != proposals({"n_ei_candidates": 24})[5:]  # after the 5 start-up points


def test_running_configurations_make_the_pick_less_greedy() -> None:
    """Each running configuration divides the candidates by 1 + 3k (at least 4); a finished one
    gives its share back, so sequential asks keep all of ``n_ei_candidates``."""
    space = {"x": {"_type": "uniform", "_value": [0, 1]}, "y": {"_type": "uniform", "_value": [0, 1]}}
    tuner = TpeTuner(seed=0)
    tuner.update_search_space(space)
    counts, asked = [], {}
    for pid in range(4):
        counts.append(tuner.n_candidates())
        asked[pid] = tuner.generate_parameters(pid)
    assert counts == [64, 16, 9, 6]
    for pid in range(4, 12):
        asked[pid] = tuner.generate_parameters(pid)
    assert tuner.n_candidates() == 4
    for pid, params in asked.items():
        tuner.receive_trial_result(pid, params, params["x"])
    assert tuner.n_candidates() == 64
    small = TpeTuner(seed=0, tpe_args={"n_ei_candidates": 2})
    small.update_search_space(space)
    small.generate_parameters(0)
    assert small.n_candidates() == 2


def test_kernel_width_floor_shrinks_with_the_set() -> None:
    tuner = TpeTuner(seed=0)
    same = np.full((3, 2), 0.5)  # no spread: the floor alone sets the width
    assert np.allclose(tuner._bandwidth(same, 2), 0.3 / 4)
    assert np.allclose(tuner._bandwidth(np.full((200, 2), 0.5), 2), 0.3 / 100)


def test_discrete_kernels_keep_exploring_as_the_good_set_grows() -> None:
    """A plain choice keeps a quarter of its kernel on the other options and a randint kernel
    reaches the neighbouring integers, however many good points agree; a nested choice's share
    still shrinks, since leaving its option abandons the sub-space learnt so far."""
    tuner = TpeTuner(seed=0)
    tuner.update_search_space({
        "c": {"_type": "choice", "_value": ["a", "b", "c", "d"]},
        "k": {"_type": "randint", "_value": [0, 20]},
        "m": {"_type": "choice", "_value": [{"_name": "p", "x": {"_type": "uniform", "_value": [0, 1]}},
                                            {"_name": "q", "y": {"_type": "uniform", "_value": [0, 1]}}]},
    })
    space = tuner.space
    assert space is not None
    same = np.stack([space.encode({"c": "a", "k": 10, "m": {"_name": "p", "x": 0.5}})] * 40)
    model = tuner._model(space, same, np.ones(40))
    draws = [space.decode(v) for v in model.sample(np.random.default_rng(1), 4000)]
    other_option = np.mean([d["c"] != "a" for d in draws])
    assert 0.15 < other_option < 0.3  # 3/4 of the 25% share, plus the prior component's draws
    assert {9, 11} <= {d["k"] for d in draws}
    assert np.mean([d["k"] in (9, 11) for d in draws]) > 0.2
    assert np.mean([d["m"]["_name"] != "p" for d in draws]) < 0.05
