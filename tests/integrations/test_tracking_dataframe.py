"""``Experiment.export_dataframe`` through real experiments, running and stored."""

from __future__ import annotations

import math
import sys

import pytest

pandas = pytest.importorskip("pandas")

from nni.experiment import Experiment  # noqa: E402
from nni.experiment.dataframe import INTERMEDIATE_COLUMNS, TRIAL_COLUMNS  # noqa: E402

NESTED_TRIAL = """
import nni
params = nni.get_next_parameter()
nni.report_intermediate_result(0.5)
nni.report_final_result(float("nan") if params["opt"]["_name"] == "adam" else params["opt"]["lr"])
"""
NESTED_SPACE = {"opt": {"_type": "choice", "_value": [{"_name": "sgd", "lr": {"_type": "choice", "_value": [0.1]}},
                                                      {"_name": "adam"}]}}


def test_one_row_per_trial_with_parameters_every_metric_key_status_times_and_flags(tracked_experiment, free_port):
    experiment = tracked_experiment(None)
    assert experiment.run(free_port) is True
    jobs = {t.trialJobId: t for t in experiment.list_trial_jobs()}
    frame = experiment.export_dataframe()
    assert list(frame.columns) == [*TRIAL_COLUMNS, "params.x", "params.opt", "metrics.default", "metrics.loss",
                                   "metrics.note"]
    assert len(frame) == 3 and set(frame["trial_id"]) == set(jobs)
    rows = {row["params.x"]: row for row in frame.to_dict("records")}
    assert rows[1]["status"] == "SUCCEEDED" and rows[3]["status"] == "FAILED"
    assert rows[2]["metrics.note"] == "done"  # a non-numeric key, kept as reported
    assert rows[2]["params.opt"] == "sgd" and rows[2]["metrics.loss"] == 0.25
    assert frame.loc[frame["params.x"] == 2, "metrics.default"].item() == 20
    assert math.isnan(frame.loc[frame["params.x"] == 3, "metrics.default"].item())  # failed before its final
    assert not frame["customized"].any() and not frame["imported"].any()
    assert str(frame["start_time"].dtype).endswith(", UTC]")
    for row in frame.itertuples():
        job = jobs[row.trial_id]
        assert row.start_time == pandas.Timestamp(job.startTime, unit="ms", tz="UTC")
        assert row.duration == pytest.approx((job.endTime - job.startTime) / 1000)
        assert row.sequence_id == job.sequenceId and row.parameter_id == job.sequenceId


def test_imported_results_are_rows_flagged_imported_running_and_stored(tracked_experiment, free_port):
    experiment = tracked_experiment(None)
    assert experiment.run(free_port) is True
    experiment.import_data([{"parameter": {"x": 2, "opt": "sgd"}, "value": {"default": 0.7, "loss": 0.1}},
                            {"parameter": {"x": 1, "opt": "sgd"}, "value": 0.5}])
    live = experiment.export_dataframe()
    experiment.stop()
    stored = Experiment(None, id=experiment.id).export_dataframe()
    for frame in (live, stored):
        assert len(frame) == 5 and list(frame["imported"]) == [False, False, False, True, True]
        imported = frame[frame["imported"]].to_dict("records")
        assert [(r["params.x"], r["metrics.default"]) for r in imported] == [(2, 0.7), (1, 0.5)]
        assert imported[0]["metrics.loss"] == 0.1 and math.isnan(imported[1]["metrics.loss"])
        assert all(pandas.isna(r[c]) for r in imported for c in ("trial_id", "status", "start_time", "duration"))
    pandas.testing.assert_frame_equal(stored.sort_values(["imported", "trial_id"], ignore_index=True),
                                      live.sort_values(["imported", "trial_id"], ignore_index=True))
    assert experiment.export_dataframe(intermediate=True)["trial_id"].notna().all()


def test_intermediate_rows_are_one_per_reported_step(tracked_experiment, free_port):
    experiment = tracked_experiment(None)
    assert experiment.run(free_port) is True
    frame = experiment.export_dataframe(intermediate=True)
    assert list(frame.columns) == [*INTERMEDIATE_COLUMNS, "params.x", "params.opt", "metrics.default", "metrics.loss"]
    assert len(frame) == 9
    for x, group in frame.groupby("params.x"):
        assert list(group["step"]) == [0, 1, 2]
        assert list(group["metrics.default"]) == [x * s for s in range(3)]
        assert group["timestamp"].is_monotonic_increasing


def test_a_stopped_experiment_gives_the_same_table_from_its_database(tracked_experiment, free_port):
    experiment = tracked_experiment(None)
    assert experiment.run(free_port) is True
    live, live_steps = experiment.export_dataframe(), experiment.export_dataframe(intermediate=True)
    experiment.stop()
    stored = Experiment(None, id=experiment.id)
    stored.config.experiment_working_directory = experiment.config.experiment_working_directory
    pandas.testing.assert_frame_equal(stored.export_dataframe().sort_values("trial_id", ignore_index=True),
                                      live.sort_values("trial_id", ignore_index=True))
    pandas.testing.assert_frame_equal(stored.export_dataframe(intermediate=True), live_steps)


def test_nested_choices_customized_trials_and_non_finite_results(make_experiment, free_port):
    experiment = make_experiment(NESTED_TRIAL, search_space=NESTED_SPACE, tuner="GridSearch", max_trial_number=3,
                                 trial_concurrency=1)
    experiment.start(free_port)
    try:
        added = experiment._rest().post("/trial-jobs", {"parameters": {"opt": {"_name": "sgd", "lr": 0.5}}})
        assert experiment._runner is not None and experiment._runner.wait_finished(120)
        frame = experiment.export_dataframe()
    finally:
        experiment.stop()
    assert list(frame.columns) == [*TRIAL_COLUMNS, "params.opt", "params.opt/lr", "metrics.default"]
    rows = {(row["params.opt"], row["params.opt/lr"] if row["params.opt"] == "sgd" else None): row
            for row in frame.to_dict("records")}
    assert set(rows) == {("sgd", 0.1), ("adam", None), ("sgd", 0.5)}
    assert math.isnan(rows[("adam", None)]["params.opt/lr"]) and math.isnan(rows[("adam", None)]["metrics.default"])
    assert rows[("sgd", 0.5)]["customized"] and rows[("sgd", 0.5)]["trial_id"] == added["trialJobId"]
    assert not rows[("sgd", 0.1)]["customized"] and rows[("sgd", 0.1)]["metrics.default"] == 0.1


def test_no_trials_give_the_columns_and_no_rows():
    from nni.experiment.dataframe import to_dataframe

    frame = to_dataframe([], TRIAL_COLUMNS)
    assert list(frame.columns) == list(TRIAL_COLUMNS) and frame.empty


def test_without_pandas_the_error_says_how_to_install_it(tracked_experiment, free_port, monkeypatch):
    experiment = tracked_experiment(None, max_trial_number=1)
    assert experiment.run(free_port) is True
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"export_dataframe needs pandas.*pip install 'nni\[pandas\]'"):
        experiment.export_dataframe()


def test_an_unknown_stored_experiment_is_named():
    with pytest.raises(FileNotFoundError, match="experiment nosuch"):
        Experiment(None, id="nosuch").export_dataframe()
