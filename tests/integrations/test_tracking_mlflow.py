"""MLflow through real experiments: real stores (SQLite, the default, and the file store) in tmp_path, read
back with MLflow's own client."""

from __future__ import annotations

from pathlib import Path

import pytest
from tracking_helpers import by_x

mlflow_tracking = pytest.importorskip("mlflow.tracking")

from nni.experiment import Experiment  # noqa: E402


def _runs(uri: str, name: str) -> tuple[object, list[object]]:
    client = mlflow_tracking.MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(name)
    assert experiment is not None
    return client, client.search_runs([experiment.experiment_id])


def _sqlite(path: Path) -> str:
    return f"sqlite:///{path}"


@pytest.mark.parametrize("store", ["sqlite", "file"])
def test_one_parent_run_and_one_nested_run_per_trial(tracked_experiment, free_port, tmp_path, monkeypatch, store):
    if store == "file":
        monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 asks for it: its file store is frozen
    uri = (tmp_path / "mlruns").as_uri() if store == "file" else _sqlite(tmp_path / "mlflow.db")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    experiment = tracked_experiment([{"name": "mlflow", "trackingUri": uri, "experimentName": "tracked"}])
    assert experiment.run(free_port) is True
    trial_ids = {t.trialJobId for t in experiment.list_trial_jobs()}
    experiment.stop()
    client, runs = _runs(uri, "tracked")
    parents = [r for r in runs if r.data.tags.get("nni.role") == "experiment"]
    assert len(parents) == 1
    parent = parents[0]
    assert parent.data.tags["nni.experiment_id"] == experiment.id
    assert parent.info.status == "FINISHED"
    assert parent.data.params["tuner"] == "GridSearch" and parent.data.params["maxTrialNumber"] == "3"
    assert [a.path for a in client.list_artifacts(parent.info.run_id, "nni")] == ["nni/config.json"]
    assert list(cwd.iterdir()) == []  # nothing lands in the folder the experiment was started from
    trials = by_x([r for r in runs if r.data.tags.get("nni.role") == "trial"], lambda r: r.data.params["x"])
    assert set(trials) == {"1", "2", "3"}
    for x, run in trials.items():
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert run.data.params["opt"] == "sgd"
        steps = client.get_metric_history(run.info.run_id, "default")
        loss = client.get_metric_history(run.info.run_id, "loss")
        expected = [int(x) * s for s in range(3)] + ([int(x) * 10] if x != "3" else [])
        assert [(m.step, m.value) for m in sorted(steps, key=lambda m: m.step)] == list(enumerate(expected))
        assert len(loss) == len(expected)
        assert run.info.start_time and run.info.end_time and run.info.end_time >= run.info.start_time
    assert trials["1"].info.status == "FINISHED" and trials["1"].data.tags["nni.status"] == "SUCCEEDED"
    assert trials["1"].data.metrics == {"default": 10.0, "loss": 0.25}  # the final result is the latest
    assert trials["3"].info.status == "FAILED" and trials["3"].data.tags["nni.status"] == "FAILED"
    assert {r.data.tags["nni.trial_id"] for r in trials.values()} == trial_ids


def test_a_resumed_experiment_logs_into_its_parent_run(tracked_experiment, free_port, tmp_path):
    uri = _sqlite(tmp_path / "mlflow.db")
    experiment = tracked_experiment([{"name": "mlflow", "trackingUri": uri}], max_trial_number=2,
                                    experiment_name="resumed")
    assert experiment.run(free_port) is True
    experiment.stop()
    resumed = Experiment.resume(experiment.id, free_port, wait_completion=False)
    try:
        resumed.update_max_trial_number(3)
        assert resumed._runner is not None and resumed._runner.wait_finished(120)
    finally:
        resumed.stop()
    _, runs = _runs(uri, "resumed")
    parents = [r for r in runs if r.data.tags.get("nni.role") == "experiment"]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    children = [r for r in runs if r.data.tags.get("nni.role") == "trial"]
    assert len(children) == 3
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parents[0].info.run_id}


def test_a_store_that_cannot_be_written_is_logged_and_the_experiment_goes_on(tracked_experiment, free_port,
                                                                             tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the store should be")
    experiment = tracked_experiment([{"name": "mlflow", "trackingUri": _sqlite(blocker / "mlflow.db")}])
    assert experiment.run(free_port) is True
    assert experiment.get_status() == "DONE"
    assert len(experiment.list_trial_jobs()) == 3
    experiment.stop()
    log = (experiment.experiment_dir / "log" / "nnimanager.log").read_text()
    assert "tracker mlflow: open failed; the experiment goes on" in log
    assert "tracker mlflow is left out of this run" in log


def test_the_default_store_is_beside_the_experiments(tracked_experiment, free_port, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    experiment = tracked_experiment(["mlflow"], max_trial_number=1)
    assert experiment.run(free_port) is True
    experiment.stop()
    store = Path(experiment.config.experiment_working_directory) / "mlflow.db"
    _, runs = _runs(_sqlite(store), "nni")
    assert sorted(r.data.tags["nni.role"] for r in runs) == ["experiment", "trial"]
