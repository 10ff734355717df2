"""The tuner benchmark harness (benchmarks/tuners.py) on tiny configurations, in this process."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import bbob  # noqa: E402
import tuners  # noqa: E402
from ml_tasks import ML_TASKS  # noqa: E402
from problems import PROBLEMS  # noqa: E402

pytest.importorskip("cocoex")
pytest.importorskip("optuna")


def test_tiny_bbob_run_prints_every_method_and_nonnegative_regrets(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    raw = tmp_path / "raw.json"
    code = tuners.main(["--problems", "bbob_f01_d02,bbob_f15_d02", "--budget", "10", "--seeds", "1",
                        "--methods", "random,optuna_random", "--baseline", "optuna_random", "--jobs", "1",
                        "--no-latency", "--json", str(raw)])
    out = capsys.readouterr().out
    assert code == 0
    assert "BBOB: geo-mean regret ratio vs Optuna Random after 10 evaluations" in out
    rows = [line for line in out.splitlines() if line.startswith(("ours Random", "Optuna Random"))]
    assert len(rows) >= 4  # both methods in the group table and in the summary
    saved = json.loads(raw.read_text())
    assert set(saved["runs"]) == {f"{m}|bbob_f{f}_d02|0|1" for m in ("random", "optuna_random") for f in ("01", "15")}
    for key, losses in saved["runs"].items():
        problem = key.split("|")[1]
        assert len(losses) == 10
        assert min(losses) - saved["optima"][f"{problem}|0"] >= 0


@pytest.mark.parametrize("method", ["tpe", "gp", "random", "auto"])
def test_same_seed_same_proposals_through_the_harness(method: str) -> None:
    if tuners.method_available(tuners.METHOD_BY_NAME[method]) is not None:
        pytest.skip(f"{method} is not in this tree yet")
    first = tuners.run_trace(method, "bbob_f03_d02", 0, 12, 1)
    again = tuners.run_trace(method, "bbob_f03_d02", 0, 12, 1)
    other = tuners.run_trace(method, "bbob_f03_d02", 1, 12, 1)
    assert [params for params, _ in first] == [params for params, _ in again]
    assert [params for params, _ in first] != [params for params, _ in other]


def test_parallel_batches_are_reproducible_too() -> None:
    first = tuners.run_trace("tpe", "mixed", 3, 24, 8)
    assert first == tuners.run_trace("tpe", "mixed", 3, 24, 8)
    assert len(first) == 24


def test_bbob_instance_follows_the_seed_and_regret_is_never_negative() -> None:
    rng = np.random.default_rng(0)
    for name in ("bbob_f01_d05", "bbob_f07_d02", "bbob_f24_d02"):
        for seed in (0, 1):
            problem = bbob.bbob_problem(name, seed)
            dimension = len(problem.space)
            samples = rng.uniform(-5, 5, (200, dimension))
            values = [problem.objective({f"x{i}": float(v) for i, v in enumerate(x)}) for x in samples]
            assert min(values) >= problem.optimum
    assert bbob.bbob_problem("bbob_f01_d05", 0).optimum != bbob.bbob_problem("bbob_f01_d05", 1).optimum
    assert bbob.group_of("bbob_f12_d10") == "high-cond"
    assert len(bbob.bbob_names()) == 96
    assert bbob.parse_name("bbob_f25_d02") is None and bbob.parse_name("branin") is None


def test_quick_gives_each_bbob_problem_one_rotating_seed() -> None:
    seeds = [0, 1, 2]
    chosen = {tuners._seeds_for(name, seeds, True)[0] for name in bbob.bbob_names()}
    assert chosen == set(seeds)
    assert tuners._seeds_for("mixed", seeds, True) == seeds
    assert tuners._seeds_for("bbob_f01_d02", seeds, False) == seeds


def _assert_valid(params: dict[str, Any], space: dict[str, Any]) -> None:
    assert set(params) == {k for k in space if k != "_name"}
    for name, spec in space.items():
        if name == "_name":
            continue
        value, kind, bounds = params[name], spec["_type"], spec["_value"]
        if kind == "choice":
            options = [o["_name"] if isinstance(o, dict) else o for o in bounds]
            chosen = value["_name"] if isinstance(value, dict) else value
            assert chosen in options
            if isinstance(value, dict):
                _assert_valid({k: v for k, v in value.items() if k != "_name"},
                              next(o for o in bounds if isinstance(o, dict) and o["_name"] == chosen))
        elif kind == "randint":
            assert isinstance(value, int) and bounds[0] <= value < bounds[1]
        else:
            assert bounds[0] <= value <= bounds[1]


def test_peer_adapters_decode_conditional_spaces_into_valid_nni_parameters() -> None:
    space = PROBLEMS["conditional"].space
    configspace = tuners.smac_space(space, 0)
    families = set()
    for config in configspace.sample_configuration(30):
        chosen = dict(config)
        params = tuners.decode_space(space, tuners._reader(chosen))
        _assert_valid(params, space)
        families.add(params["model"]["_name"])
    assert families == {"linear", "tree", "mlp"}
    for params, loss in tuners.run_trace("optuna_random", "conditional", 0, 12, 1):
        _assert_valid(params, space)
        assert math.isfinite(loss)
    for params, _ in tuners.run_trace("hyperopt_tpe", "mixed", 0, 5, 1):
        _assert_valid(params, PROBLEMS["mixed"].space)


CHEAP: dict[str, dict[str, Any]] = {
    "gbm_cancer": {"n_estimators": 5, "max_depth": 2, "learning_rate": 0.1, "subsample": 0.8,
                   "min_samples_leaf": 5, "max_features": 0.5},
    "mlp_wine": {"layers": 1, "width": 8.0, "activation": "relu", "alpha": 1e-3, "learning_rate_init": 0.01,
                 "batch_size": 64},
    "model_digits": {"pca": 10, "model": {"_name": "knn", "n_neighbors": 5, "weights": "distance"}},
    "sklearn_krr": {"scaler": "standard", "k": 5, "kernel": "rbf", "alpha": 0.1, "gamma": 0.1, "degree": 2,
                    "coef0": 1.0},
}
"""A quick configuration of every ML task (the benchmark trains whatever the tuners propose)."""


def test_every_ml_task_trains_and_scores_a_configuration() -> None:
    assert set(CHEAP) == set(ML_TASKS)
    for name, task in ML_TASKS.items():
        _assert_valid(CHEAP[name], task.space)
        assert 0 <= task.objective(CHEAP[name]) < 10


def test_unknown_optimum_gets_best_found_and_a_relative_floor() -> None:
    results = {("a", "mlp_wine", 0, 1): [1.0, 0.5], ("b", "mlp_wine", 0, 1): [0.9, 0.3]}
    optima, floors = tuners.reference_values(results, ["mlp_wine"], {"mlp_wine": [0]})
    assert optima[("mlp_wine", 0)] == 0.3
    assert floors["mlp_wine"] == pytest.approx(0.01 * (0.95 - 0.3))


@pytest.mark.parametrize("argv, message", [
    (["--methods", "nope"], "unknown method"),
    (["--problems", "bbob_f99_d02"], "unknown problem"),
    (["--budget", "0"], "must be positive"),
    (["--baseline", "nope"], "unknown method"),
    (["--suite", "nope"], "invalid choice"),
])
def test_user_errors_are_reported(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        tuners.main(argv)
    assert message in capsys.readouterr().err
