"""TensorBoard HParams through real experiments: event files read back with TensorBoard's own reader."""

from __future__ import annotations

import pytest
from tracking_helpers import by_x

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")

from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2  # noqa: E402


def _read(run_dir):
    accumulator = event_accumulator.EventAccumulator(str(run_dir), size_guidance={event_accumulator.SCALARS: 0})
    accumulator.Reload()
    content = accumulator.PluginTagToContent(metadata.PLUGIN_NAME)
    start = plugin_data_pb2.HParamsPluginData.FromString(content[metadata.SESSION_START_INFO_TAG])
    end = plugin_data_pb2.HParamsPluginData.FromString(content[metadata.SESSION_END_INFO_TAG])
    return accumulator, start.session_start_info, end.session_end_info


def test_one_run_folder_per_trial_with_hparams_and_every_metric_step(tracked_experiment, free_port, tmp_path):
    log_dir = tmp_path / "tb"
    experiment = tracked_experiment([{"name": "tensorboard", "logDir": str(log_dir)}])
    assert experiment.run(free_port) is True
    trials = {t.trialJobId: t for t in experiment.list_trial_jobs()}
    experiment.stop()
    folders = sorted(p for p in log_dir.iterdir() if p.is_dir())
    assert len(folders) == 3
    runs = by_x([(folder, *_read(folder)) for folder in folders], lambda r: r[2].hparams["x"].number_value)
    assert set(runs) == {1.0, 2.0, 3.0}
    for x, (folder, accumulator, start, end) in runs.items():
        trial = trials[start.group_name]
        assert folder.name == f"trial-{trial.sequenceId}-{trial.trialJobId}"
        assert start.hparams["opt"].string_value == "sgd"
        assert start.start_time_secs == pytest.approx(trial.startTime / 1000)
        assert end.end_time_secs == pytest.approx(trial.endTime / 1000)
        expected = [x * s for s in range(3)] + ([x * 10] if x != 3 else [])
        scalars = accumulator.Scalars("default")
        assert [(e.step, e.value) for e in scalars] == [(s, pytest.approx(v)) for s, v in enumerate(expected)]
        assert len(accumulator.Scalars("loss")) == len(expected)
    assert runs[1.0][3].status == api_pb2.STATUS_SUCCESS
    assert runs[3.0][3].status == api_pb2.STATUS_FAILURE


def test_the_default_log_dir_is_in_the_experiment_folder(tracked_experiment, free_port):
    experiment = tracked_experiment(["tensorboard"], max_trial_number=1)
    assert experiment.run(free_port) is True
    experiment.stop()
    folders = list((experiment.experiment_dir / "tensorboard").iterdir())
    assert len(folders) == 1
    accumulator, start, _ = _read(folders[0])
    assert start.hparams["x"].number_value == 1.0
    assert [e.value for e in accumulator.Scalars("default")] == [0.0, 1.0, 2.0, 10.0]


def test_a_log_dir_that_is_a_file_is_logged_and_the_experiment_goes_on(tracked_experiment, free_port, tmp_path):
    blocker = tmp_path / "tb-file"
    blocker.write_text("not a folder")
    experiment = tracked_experiment([{"name": "tensorboard", "logDir": str(blocker)}])
    assert experiment.run(free_port) is True
    assert experiment.get_status() == "DONE" and len(experiment.list_trial_jobs()) == 3
    experiment.stop()
    log = (experiment.experiment_dir / "log" / "nnimanager.log").read_text()
    assert "tracker tensorboard: open failed; the experiment goes on" in log
    assert blocker.read_text() == "not a folder"
