"""NNI 3.0's behaviour per built-in: its classArgs and aliases, degenerate ranges, the exhaustion rule."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from nni.algorithms.hpo.bohb_advisor import read_pcs
from nni.algorithms.hpo.builtin import create_algorithm, find_builtin
from nni.errors import NoMoreTrialError, SearchSpaceError
from nni.search_space import validate_search_space

OPTIONAL = {"SMAC": "smac", "DNGO": "torch"}


def _make(name: str, **args: Any) -> Any:
    module = OPTIONAL.get(name)
    if module and importlib.util.find_spec(module) is None:
        pytest.skip(f"{name} needs the optional package {module}")
    return create_algorithm("tuner", name=name, class_args=args)


@pytest.mark.parametrize(("alias", "name"), [
    ("GPTuner", "GP"), ("BatchTuner", "Batch"), ("MetisTuner", "Metis"), ("PBTTuner", "PBT"),
    ("DNGOTuner", "DNGO"), ("gptuner", "GP"), ("TPE_legacy", "TPE_legacy"),
])
def test_nni_aliases(alias: str, name: str) -> None:
    assert find_builtin(alias, "tuner").name == name


def test_tpe_legacy_is_hyperopt_tpe() -> None:
    tuner = _make("TPE_legacy", optimize_mode="maximize")
    assert type(tuner).__name__ == "HyperoptTuner" and tuner.algorithm_name_arg == "tpe"


@pytest.mark.parametrize(("name", "args"), [
    ("Random", {"optimize_mode": "maximize", "seed": 1}),
    ("GP", {"optimize_mode": "maximize", "utility": "ei", "kappa": 5, "xi": 0, "nu": 2.5, "alpha": 1e-6,
            "cold_start_num": 10, "selection_num_warm_up": 100000, "selection_num_starting_points": 250}),
    ("Metis", {"optimize_mode": "maximize", "no_resampling": True, "no_candidates": False,
               "selection_num_starting_points": 600, "cold_start_num": 10, "exploration_probability": 0.9}),
    ("Anneal", {"optimize_mode": "minimize"}),
    ("TPE_legacy", {"optimize_mode": "minimize", "parallel_optimize": True, "constant_liar_type": "mean"}),
    ("SMAC", {"optimize_mode": "maximize", "config_dedup": False}),
    ("DNGO", {"optimize_mode": "maximize", "sample_size": 1000, "trials_per_update": 20,
              "num_epochs_per_training": 500}),
    ("BOHB", {"optimize_mode": "maximize", "min_budget": 1, "max_budget": 27, "eta": 3, "min_points_in_model": 7,
              "top_n_percent": 15, "num_samples": 64, "random_fraction": 0.33, "bandwidth_factor": 3.0,
              "min_bandwidth": 0.001}),
])
def test_nni_class_args_are_accepted(name: str, args: dict[str, Any]) -> None:
    _make(name, **args)


def test_gp_selection_num_starting_points_is_checked() -> None:
    with pytest.raises(ValueError, match="selection_num_starting_points must be an integer >= 1"):
        _make("GP", selection_num_starting_points=0)


PCS = """\
# a ConfigSpace file, as NNI's BOHB config_space takes
lr real [0.0001, 0.1] [0.01] log
momentum real [0.0, 1.0] [0.5]
batch integer [16, 64] [32]
width integer [8, 512] [64] log
optimizer categorical {sgd, adam} [sgd]
depth ordinal {1, 2, 4} [2]
"""


def test_bohb_config_space_replaces_the_search_space(tmp_path: Path) -> None:
    path = tmp_path / "space.pcs"
    path.write_text(PCS)
    space = read_pcs(path)
    assert space == {
        "lr": {"_type": "loguniform", "_value": [0.0001, 0.1]},
        "momentum": {"_type": "uniform", "_value": [0.0, 1.0]},
        "batch": {"_type": "randint", "_value": [16, 65]},
        "width": {"_type": "qloguniform", "_value": [8, 512, 1]},
        "optimizer": {"_type": "choice", "_value": ["sgd", "adam"]},
        "depth": {"_type": "choice", "_value": [1, 2, 4]},
    }
    tuner = _make("BOHB", config_space=str(path), seed=1)
    tuner.update_search_space({"ignored": {"_type": "choice", "_value": [0]}})
    params = tuner.generate_parameters(0)
    assert set(params) == {*space, "TRIAL_BUDGET"}


def test_bohb_config_space_refusals(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="config_space path does not exist"):
        _make("BOHB", config_space=str(tmp_path / "missing.pcs"))
    path = tmp_path / "cond.pcs"
    path.write_text("a categorical {x, y} [x]\nb real [0, 1] [0.5]\nb | a == x\n")
    with pytest.raises(ValueError, match="line 3: only parameter lines are supported"):
        _make("BOHB", config_space=str(path))


@pytest.mark.parametrize("entry", [
    {"_type": "uniform", "_value": [99.9, 99.9]},
    {"_type": "quniform", "_value": [5, 5, 2]},
    {"_type": "loguniform", "_value": [0.01, 0.01]},
    {"_type": "qloguniform", "_value": [4, 4, 1]},
])
def test_degenerate_ranges_are_valid(entry: dict[str, Any]) -> None:
    validate_search_space({"x": entry})


def test_empty_randint_and_reversed_ranges_stay_refused() -> None:
    with pytest.raises(SearchSpaceError, match="randint needs lower < upper"):
        validate_search_space({"n": {"_type": "randint", "_value": [5, 5]}})
    with pytest.raises(SearchSpaceError, match="uniform needs low <= high"):
        validate_search_space({"x": {"_type": "uniform", "_value": [2, 1]}})


ALL_TUNERS = ["TPE", "Random", "Anneal", "TPE_legacy", "Evolution", "GridSearch", "GP", "Metis", "SMAC", "DNGO",
              "PBT", "Hyperband", "BOHB"]
DEGENERATE = {"a": {"_type": "choice", "_value": [1, 2]}, "b": {"_type": "uniform", "_value": [99.9, 99.9]},
              "c": {"_type": "loguniform", "_value": [0.5, 0.5]}, "d": {"_type": "quniform", "_value": [3, 3, 1]}}


@pytest.mark.parametrize("name", ALL_TUNERS)
def test_every_tuner_gives_the_constant_of_a_degenerate_range(name: str) -> None:
    tuner = _make(name)
    # Metis supports no log types
    space = {k: v for k, v in DEGENERATE.items() if name != "Metis" or k != "c"}
    tuner.update_search_space(space)
    for pid in range(2):
        params = tuner.generate_parameters(pid)
        assert params["a"] in (1, 2)
        assert (params["b"], params.get("c", 0.5), params["d"]) == (99.9, 0.5, 3.0)
        tuner.receive_trial_result(pid, params, float(pid))


ENDING = ["TPE", "Random", "GridSearch"]
REPEATING = ["Anneal", "TPE_legacy", "Evolution", "GP", "Metis", "SMAC", "DNGO"]
SMALL = {"a": {"_type": "choice", "_value": [1, 2, 3]}}


@pytest.mark.parametrize("name", ENDING + REPEATING)
def test_exhaustion_rule(name: str) -> None:
    """NNI: GridSearch, Batch, Random and TPE end on a used-up finite space; the others repeat."""
    tuner = _make(name, **({"optimize_mode": "maximize"} if name not in ("Random", "GridSearch") else {}))
    tuner.update_search_space(SMALL)
    first = []
    for pid in range(3):
        params = tuner.generate_parameters(pid)
        first.append(params["a"])
        tuner.receive_trial_result(pid, params, float(params["a"]))
    assert sorted(first) == [1, 2, 3]  # no duplicate before the space is used up
    if name in ENDING:
        with pytest.raises(NoMoreTrialError):
            tuner.generate_parameters(3)
    else:
        for pid in range(3, 6):
            params = tuner.generate_parameters(pid)
            assert params["a"] in (1, 2, 3)
            tuner.receive_trial_result(pid, params, float(params["a"]))


def test_batch_ends_when_its_list_is_done() -> None:
    tuner = _make("BatchTuner")
    tuner.update_search_space({"combo": {"_type": "choice", "_value": [{"x": 1}, {"x": 2}]}})
    assert [tuner.generate_parameters(i) for i in range(2)] == [{"x": 1}, {"x": 2}]
    with pytest.raises(NoMoreTrialError):
        tuner.generate_parameters(2)
