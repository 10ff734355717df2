"""Warm starts: earlier experiments (by id) and exported files feed the tuner before its first
proposal, fitted to the new search space; a resume gives them again; a bad source is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from engine_harness import finish, run, start_engine, wait_for
from memory_service import MemoryService
from scripted import ScriptedTuner

from nni.engine.warm_start import fit_to_space, read_result_file
from nni.errors import ConfigError
from nni.records import ExperimentStatus

OLD_SPACE = {"x": {"_type": "uniform", "_value": [0, 1]}, "depth": {"_type": "choice", "_value": [1, 2]}}
NEW_SPACE = {"x": {"_type": "uniform", "_value": [0, 0.5]}}


def _old_experiment(folder: Path) -> None:
    """A finished experiment in ``folder`` with x = 0.2, 0.4, 0.6, 0.8 (and a depth the new space lacks)."""
    proposals = [{"x": x, "depth": 1} for x in (0.2, 0.4, 0.6, 0.8)]

    async def body() -> None:
        engine = await start_engine(folder, MemoryService(), ScriptedTuner(proposals), max_trial_number=4,
                                    search_space=OLD_SPACE)
        await wait_for(engine, lambda: engine.status == ExperimentStatus.DONE)
        await finish(engine)
    run(body)


def test_a_warm_start_from_an_experiment_and_a_file_feeds_what_fits_before_the_first_proposal(tmp_path: Path) -> None:
    _old_experiment(tmp_path / "old")
    exported = tmp_path / "exported.json"
    exported.write_text(json.dumps([{"parameter": {"x": 0.1}, "value": 0.5, "trialJobId": "a"},
                                    {"parameter": {"x": 0.9}, "value": 0.7, "trialJobId": "b"}]))
    tuner = ScriptedTuner([{"x": 0.3}])
    new = tmp_path / "new"

    async def body() -> None:
        engine = await start_engine(new, MemoryService(), tuner, max_trial_number=1, search_space=NEW_SPACE,
                                    warm_start=["old", str(exported)])
        await wait_for(engine, lambda: engine.status == ExperimentStatus.DONE)
        events = engine.storage.experiment_events("import_data")
        assert [(e["data"]["source"], e["data"]["skipped"]) for e in events] == [("old", 2), (str(exported), 1)]
        await finish(engine)
    run(body)
    assert tuner.calls[:4] == [
        ("space", NEW_SPACE),
        ("import", [{"parameter": {"x": 0.2}, "value": 0.2}, {"parameter": {"x": 0.4}, "value": 0.4}]),
        ("import", [{"parameter": {"x": 0.1}, "value": 0.5}]),
        ("generate", 0),
    ]

    resumed = ScriptedTuner([])

    async def again() -> None:  # a resume gives the warm start again, and reads no source
        (tmp_path / "old" / "db").rename(tmp_path / "gone")
        engine = await start_engine(new, MemoryService(), resumed, max_trial_number=1, search_space=NEW_SPACE,
                                    warm_start=["old", str(exported)])
        await finish(engine)
    run(again)
    assert [call[0] for call in resumed.calls[:4]] == ["space", "import", "import", "import"]


def test_a_warm_start_from_an_unknown_experiment_is_refused_naming_it(tmp_path: Path) -> None:
    async def body() -> None:
        with pytest.raises(ConfigError, match="'nosuch' is neither a result file nor a stored experiment"):
            await start_engine(tmp_path / "new", MemoryService(), ScriptedTuner(), warm_start=["nosuch"])
    run(body)


def test_a_warm_start_file_that_is_not_results_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"x": 1}')

    async def body() -> None:
        with pytest.raises(ConfigError, match="must hold a JSON list"):
            await start_engine(tmp_path / "new", MemoryService(), ScriptedTuner(), warm_start=[str(bad)])
    run(body)


def test_an_exported_csv_reads_back_as_results(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text('trialJobId,x,kind,value\nab,0.25,"""a""",0.5\ncd,0.75,"""b""",0.25\n')
    assert read_result_file(path) == [{"parameter": {"x": 0.25, "kind": "a"}, "value": 0.5},
                                      {"parameter": {"x": 0.75, "kind": "b"}, "value": 0.25}]
    path.write_text("x,score\n1,2\n")
    with pytest.raises(ValueError, match="line 2: no 'value' column"):
        read_result_file(path)


def test_fitting_drops_keys_the_space_lacks_and_skips_values_outside_it() -> None:
    space = {"lr": {"_type": "loguniform", "_value": [1e-4, 1e-1]}, "opt": {"_type": "choice", "_value": ["sgd", "adam"]}}
    records = [
        {"parameter": {"lr": 0.01, "opt": "sgd", "batch": 32}, "value": 1},  # batch dropped
        {"parameter": {"lr": 0.5, "opt": "sgd"}, "value": 2},  # lr outside
        {"parameter": {"lr": 0.01, "opt": "rmsprop"}, "value": 3},  # not an option
        {"parameter": {"lr": 0.01}, "value": 4},  # opt missing
    ]
    assert fit_to_space(records, space) == ([{"parameter": {"lr": 0.01, "opt": "sgd"}, "value": 1}], 3)


def test_fitting_checks_integers_and_nested_choices() -> None:
    space = {"n": {"_type": "randint", "_value": [1, 5]},
             "model": {"_type": "choice", "_value": [{"_name": "mlp", "width": {"_type": "choice", "_value": [8, 16]}},
                                                     {"_name": "linear"}]}}
    records = [
        {"parameter": {"n": 2, "model": {"_name": "mlp", "width": 16}}, "value": 1},
        {"parameter": {"n": 2.5, "model": {"_name": "linear"}}, "value": 2},  # not an integer
        {"parameter": {"n": 5, "model": {"_name": "linear"}}, "value": 3},  # randint's upper end is excluded
        {"parameter": {"n": 1, "model": {"_name": "mlp", "width": 32}}, "value": 4},  # width not an option
        {"parameter": {"n": 4, "model": {"_name": "linear"}}, "value": 5},
    ]
    fitted, skipped = fit_to_space(records, space)
    assert [r["value"] for r in fitted] == [1, 5] and skipped == 3
