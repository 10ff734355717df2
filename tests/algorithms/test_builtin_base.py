"""What every built-in tuner shares through BuiltinTuner: the optimize-mode check and its message,
the loss sign, skipping (and saying why) unusable results and imported records, the search-space
check, and the rebuild from kept results once a search space arrives."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any

import pytest

from nni.algorithms.hpo.builtin import BUILTIN_ALGORITHMS, create_algorithm
from nni.errors import SearchSpaceError
from nni.search_space.tuning import BuiltinTuner
from nni.utils import OptimizeMode

OPTIONAL = {"SMAC": "smac", "DNGO": "torch"}
SPACE = {"x": {"_type": "uniform", "_value": [0, 1]}, "c": {"_type": "choice", "_value": [1, 2, 3]}}
TUNERS = sorted(info.name for info in BUILTIN_ALGORITHMS.values() if info.kind == "tuner")
WITH_MODE = [name for name in TUNERS if name not in ("Batch", "GridSearch", "Random")]


def _make(name: str, tmp_path: Path, **args: Any) -> Any:
    module = OPTIONAL.get(name)
    if module and importlib.util.find_spec(module) is None:
        pytest.skip(f"{name} needs the optional package {module}")
    if name == "PBT":
        args.setdefault("all_checkpoint_dir", str(tmp_path))
    return create_algorithm("tuner", name=name, class_args=args)


@pytest.mark.parametrize("name", TUNERS)
def test_every_builtin_tuner_is_a_builtin_tuner(name: str, tmp_path: Path) -> None:
    assert isinstance(_make(name, tmp_path), BuiltinTuner)


@pytest.mark.parametrize("name", WITH_MODE)
def test_optimize_mode_is_checked_once_with_the_tuner_named(name: str, tmp_path: Path) -> None:
    tuner = _make(name, tmp_path, optimize_mode="MINIMIZE")
    assert tuner.optimize_mode is OptimizeMode.Minimize and tuner.optimize_mode == "minimize"
    with pytest.raises(ValueError, match=r": optimize_mode must be 'minimize' or 'maximize', got 'best'"):
        _make(name, tmp_path, optimize_mode="best")


@pytest.mark.parametrize("name", ["Medianstop", "Curvefitting"])
def test_assessors_check_optimize_mode_the_same_way(name: str) -> None:
    assessor = create_algorithm("assessor", name=name, class_args={"optimize_mode": "minimize"})
    assert assessor.optimize_mode is OptimizeMode.Minimize
    with pytest.raises(ValueError, match=rf"{name}: optimize_mode must be 'minimize' or 'maximize', got 1"):
        create_algorithm("assessor", name=name, class_args={"optimize_mode": 1})


def test_loss_sign_follows_the_mode(tmp_path: Path) -> None:
    maximizing = _make("TPE", tmp_path, optimize_mode="maximize")
    minimizing = _make("GP", tmp_path, optimize_mode="minimize")
    assert maximizing._loss({"default": 0.25, "other": 9}) == -0.25 and minimizing._loss(0.25) == 0.25
    for value in (float("nan"), float("inf"), 10 ** 400, "0.5", None, True, {"other": 1}):
        assert maximizing._loss(value) is None


@pytest.mark.parametrize("name", [n for n in TUNERS if n != "Batch"])
def test_import_skips_bad_records_and_says_why(name: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    tuner = _make(name, tmp_path)
    tuner.update_search_space(SPACE)
    good = {"parameter": {"x": 0.5, "c": 2}, "value": 0.5}
    # SMAC3 reconfigures the root logger when it starts, so listen on the base's logger itself
    logger = logging.getLogger("nni.search_space.tuning")
    logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.INFO, logger=logger.name):
            tuner.import_data([good, "junk", {"value": 1.0}, {"parameter": [0.5], "value": 1.0},
                               {"parameter": {"x": 0.1, "c": 1}}, {"parameter": {"x": 0.2, "c": 1}, "value": "high"},
                               {"parameter": {"x": 0.3, "c": 1}, "value": float("nan")}])
    finally:
        logger.removeHandler(caplog.handler)
    assert [r.params for r in tuner.results] == [good["parameter"]]
    text = caplog.text
    assert "need a 'parameter' dict and a 'value'" in text and "'junk'" in text
    assert "it is not a number (str): 'high'" in text and "it is not a finite number: nan" in text
    assert f"{tuner.algorithm_name}: imported 1 of 7 results" in text


@pytest.mark.parametrize("name", ["TPE", "GP", "Hyperband", "PBT"])
def test_a_live_result_that_is_no_number_counts_as_none(name: str, tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    tuner = _make(name, tmp_path)
    tuner.update_search_space(SPACE)
    params = tuner.generate_parameters(0)
    with caplog.at_level(logging.WARNING, logger="nni.search_space.tuning"):
        tuner.receive_trial_result(0, params, {"default": None})
    assert tuner.results == [] and "ignoring the result of parameter id 0, its 'default' is not" in caplog.text
    tuner.trial_end(0, True)


@pytest.mark.parametrize("name", ["GP", "SMAC", "DNGO", "BOHB"])
def test_results_before_the_space_are_learnt_once_it_arrives(name: str, tmp_path: Path) -> None:
    tuner = _make(name, tmp_path)
    tuner.import_data([{"parameter": {"x": x / 10, "c": 1}, "value": x / 10} for x in range(10)])
    assert len(tuner.results) == 10
    tuner.update_search_space(SPACE)
    if name == "GP":
        assert len(tuner.optimizer) == 10
    elif name == "DNGO":
        assert len(tuner._losses) == 10
    elif name == "SMAC":
        assert len(tuner._known) == 10
    else:
        assert sum(len(rows) for rows in tuner.model.observations.values()) == 10


@pytest.mark.parametrize(("name", "refused"), [("SMAC", "normal"), ("PBT", "nested"), ("Metis", "loguniform")])
def test_search_space_limits_are_declared_and_checked(name: str, refused: str, tmp_path: Path) -> None:
    module = OPTIONAL.get(name)
    if module and importlib.util.find_spec(module) is None:
        pytest.skip(f"{name} needs the optional package {module}")
    cls = type(_make(name, tmp_path))
    space: dict[str, Any] = {"x": {"_type": refused, "_value": [0.5, 1]}}
    if refused == "nested":
        space = {"m": {"_type": "choice", "_value": [{"_name": "a", "y": {"_type": "uniform", "_value": [0, 1]}}]}}
    with pytest.raises(SearchSpaceError, match=name):
        cls.check_search_space(space)
    assert cls.check_search_space(SPACE).dim == 2
