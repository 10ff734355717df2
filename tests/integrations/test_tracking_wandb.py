"""Weights & Biases through real experiments in offline mode, read back from the offline folder."""

from __future__ import annotations

import pytest
from tracking_helpers import by_x

pytest.importorskip("wandb")

from wandb_offline import read_runs  # noqa: E402


def test_one_run_per_trial_grouped_by_experiment(tracked_experiment, free_port, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    experiment = tracked_experiment([{"name": "wandb", "project": "proj", "dir": str(tmp_path / "wb"),
                                      "tags": ["nightly"]}], experiment_name="tracked")
    assert experiment.run(free_port) is True
    trials = {t.trialJobId: t for t in experiment.list_trial_jobs()}
    experiment.stop()
    runs = by_x(read_runs(tmp_path / "wb"), lambda r: r.config["x"])
    assert set(runs) == {1, 2, 3}
    for x, run in runs.items():
        trial = trials[run.summary["nni/trial_id"]]
        assert run.run_id == f"{experiment.id}-{trial.trialJobId}"
        assert run.name == f"trial-{trial.sequenceId}-{trial.trialJobId}"
        assert (run.group, run.job_type, run.project) == (experiment.id, "trial", "proj")
        assert run.config == {"x": x, "opt": "sgd"}
        expected = [x * s for s in range(3)] + ([x * 10] if x != 3 else [])
        assert [(h["_step"], h["default"]) for h in run.history] == list(enumerate(expected))
        assert all("loss" in h for h in run.history)
        assert run.summary["nni/duration_s"] == pytest.approx((trial.endTime - trial.startTime) / 1000)
    assert runs[1].summary["default"] == 10 and runs[1].summary["loss"] == 0.25
    assert runs[1].summary["nni/status"] == "SUCCEEDED" and runs[1].exit_code == 0
    assert runs[3].summary["nni/status"] == "FAILED" and runs[3].exit_code == 1


def test_mode_offline_in_the_config_and_the_default_folder(tracked_experiment, free_port, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    experiment = tracked_experiment([{"name": "wandb", "mode": "offline"}], max_trial_number=1)
    assert experiment.run(free_port) is True
    experiment.stop()
    (run,) = read_runs(experiment.experiment_dir)
    assert run.project == "nni" and run.group == experiment.id
    assert [h["default"] for h in run.history] == [0, 1, 2, 10]


def test_a_dir_that_is_a_file_is_logged_and_the_experiment_goes_on(tracked_experiment, free_port, tmp_path,
                                                                    monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    blocker = tmp_path / "wb-file"
    blocker.write_text("not a folder")
    experiment = tracked_experiment([{"name": "wandb", "dir": str(blocker)}])
    assert experiment.run(free_port) is True
    assert experiment.get_status() == "DONE" and len(experiment.list_trial_jobs()) == 3
    experiment.stop()
    log = (experiment.experiment_dir / "log" / "nnimanager.log").read_text()
    assert "tracker wandb: open failed; the experiment goes on" in log
    assert "tracker wandb is left out of this run" in log
