"""The experiment handle: one table of changeable settings, and a viewed experiment that refuses them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from nni.config import ExperimentConfig
from nni.engine.handle import UPDATABLE, ExperimentHandle, setting_named, setting_of_update_type
from nni.engine.view import ReadOnlyExperimentError, ViewEngine
from nni.storage.sqlite import SqliteStorage


def test_one_table_names_every_changeable_setting():
    assert list(UPDATABLE) == ["trialConcurrency", "maxTrialNumber", "maxExperimentDuration", "searchSpace"]
    for setting in UPDATABLE.values():
        assert setting_of_update_type(setting.update_type) is setting
        assert setting.attribute in ExperimentConfig.model_fields
    assert setting_of_update_type("COLOUR") is None
    with pytest.raises(ValueError, match=r"cannot change colour \(changeable: trialConcurrency, "):
        setting_named("colour")
    assert setting_named("maxTrialNumber").check("maxTrialNumber", 3) == 3
    for field, value in [("trialConcurrency", True), ("maxExperimentDuration", ""), ("searchSpace", {})]:
        with pytest.raises(ValueError, match=field):
            setting_named(field).check(field, value)


def stored_view(folder: Path) -> ViewEngine:
    """A view of an experiment whose database holds only its profile (a real SQLite file)."""
    config = ExperimentConfig(trial_command="python trial.py", trial_concurrency=2,
                              search_space={"x": {"_type": "uniform", "_value": [0, 1]}})
    storage = SqliteStorage(folder / "db")
    storage.save_profile({"id": "viewed", "config": config.json(), "status": "DONE", "start_time_ms": 5,
                          "elapsed_ms": 2000, "next_parameter_id": 3})
    storage.close()
    return ViewEngine("viewed", folder)


def test_a_viewed_experiment_refuses_every_update_and_reads_its_profile(tmp_path):
    view = stored_view(tmp_path)
    handle: ExperimentHandle = view
    try:
        profile = handle.profile()
        assert (profile["nextSequenceId"], profile["maxSequenceId"], profile["execDuration"]) == (3, 2, 2)
        for field, value in [("trialConcurrency", 4), ("maxTrialNumber", 9), ("maxExperimentDuration", "1h"),
                             ("searchSpace", {"y": {"_type": "choice", "_value": [1]}})]:
            with pytest.raises(ReadOnlyExperimentError, match="read-only"):
                asyncio.run(handle.update(field, value))
        with pytest.raises(ValueError, match="cannot change colour"):
            asyncio.run(handle.update("colour", 1))
        assert handle.config.trial_concurrency == 2
        handle.fail("the view could not start")
        assert handle.error == "the view could not start"
    finally:
        view.storage.close()
