"""``trackers`` in the config, a tool that is not installed, and a tool that fails while logging."""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path

import pytest

from nni.config import ExperimentConfig
from nni.config.trackers import MlflowTrackerConfig, TensorboardTrackerConfig, WandbTrackerConfig
from nni.errors import ConfigError
from nni.integrations import ExperimentInfo, Tracker, Trackers, open_trackers
from nni.records import ExperimentStatus, Trial, TrialStatus


def test_names_and_mappings_become_one_config_per_tool(tmp_path: Path) -> None:
    config = ExperimentConfig("local")
    config.trackers = ["MLflow", {"name": "wandb", "mode": "offline", "project": "p", "tags": ["a"]},
                      {"name": "tensorboard", "log_dir": "tb"}]
    mlflow, wandb, tensorboard = config.trackers
    assert isinstance(mlflow, MlflowTrackerConfig) and isinstance(wandb, WandbTrackerConfig)
    assert isinstance(tensorboard, TensorboardTrackerConfig)
    assert config.json()["trackers"] == [{"name": "mlflow"}, {"name": "wandb", "project": "p", "mode": "offline",
                                                                "tags": ["a"]},
                                         {"name": "tensorboard", "logDir": str(Path("tb").resolve())}]
    config.trackers = "tensorboard"  # one tool alone
    assert [t.name for t in config.trackers] == ["tensorboard"]
    assert "trackers" not in ExperimentConfig("local").json()  # NNI's canonical form is unchanged


def test_a_yaml_config_reads_trackers_and_their_relative_paths(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.write_text("trackers:\n  - mlflow\n  - name: tensorboard\n    logDir: runs/tb\n"
                    "  - {name: wandb, mode: offline, dir: wb}\n")
    config = ExperimentConfig.load(path)
    assert config.trackers[1].log_dir == (tmp_path / "runs" / "tb").resolve()
    assert config.trackers[2].dir == (tmp_path / "wb").resolve()


@pytest.mark.parametrize(("value", "message"), [
    (["comet"], "trackers: [0] unknown tracker 'comet' (known: mlflow, wandb, tensorboard)"),
    ([7], "trackers: [0] a tracker is a name (mlflow, wandb, tensorboard) or a mapping with a name, got int"),
    ([{"mode": "offline"}], "trackers: [0] a tracker mapping needs a name (mlflow, wandb, tensorboard)"),
    (["mlflow", "tensorboard", "mlflow"], "trackers: mlflow listed more than once"),
    (["mlflow", {"name": "wandb", "mode": "sometimes"}], "trackers: [1].mode: Input should be 'online', 'offline'"),
    ([{"name": "tensorboard", "logdirectory": "x"}], "unknown key 'logdirectory' (known keys: logDir, name)"),
    ([{"name": "mlflow", "trackingUri": 5}], "trackers: [0].trackingUri: Input should be a valid string"),
])
def test_a_bad_tracker_is_refused_by_name(value: object, message: str) -> None:
    config = ExperimentConfig("local")
    with pytest.raises(ConfigError) as error:
        config.trackers = value
    assert message in str(error.value)


@pytest.mark.parametrize(("tool", "module"), [
    ("mlflow", "mlflow"), ("mlflow", "sqlalchemy"), ("wandb", "wandb"),
    ("tensorboard", "tensorboard.summary.writer.event_file_writer"),
])
def test_a_tool_that_is_not_installed_stops_the_start_with_the_install_command(
        make_experiment, free_port, monkeypatch, tool: str, module: str) -> None:
    if module == "sqlalchemy":
        pytest.importorskip("mlflow")  # a missing SQLAlchemy is only found once MLflow itself is there
    monkeypatch.setitem(sys.modules, module, None)  # what Python does for a package that is not there
    experiment = make_experiment("import nni\nnni.report_final_result(1)\n", trackers=[tool])
    with pytest.raises(ConfigError) as error:
        experiment.start(free_port)
    assert f"trackers: {tool} needs the" in str(error.value) and module.split(".")[0] in str(error.value)
    assert f"pip install 'nni[{tool}]'" in str(error.value)


class _Recorder(Tracker):
    """A tool of the test's own: fails on the trial named ``bad``, records the others."""

    name = "recorder"

    def __init__(self) -> None:
        self.logged: list[str] = []
        self.statuses: list[ExperimentStatus] = []
        self.threads: set[str] = set()
        self.closed = False

    def log_trial(self, trial: Trial) -> None:
        self.threads.add(threading.current_thread().name)
        if trial.trial_id == "bad":
            raise RuntimeError("the tool is down")
        self.logged.append(trial.trial_id)

    def experiment_status(self, status: ExperimentStatus) -> None:
        self.statuses.append(status)

    def close(self) -> None:
        self.closed = True


def _trial(trial_id: str) -> Trial:
    return Trial(trial_id, 0, 0, {"parameters": {}}, status=TrialStatus.SUCCEEDED)


def test_a_tool_that_fails_on_one_trial_is_logged_and_still_gets_the_next(caplog) -> None:
    recorder = _Recorder()
    trackers = Trackers([recorder])
    with caplog.at_level(logging.ERROR, logger="nni.integrations"):
        for trial_id in ("a", "bad", "b"):
            trackers.trial_finished(_trial(trial_id))
        trackers.experiment_status(ExperimentStatus.DONE)
        trackers.close()
    assert recorder.logged == ["a", "b"] and recorder.statuses == [ExperimentStatus.DONE] and recorder.closed
    assert recorder.threads and threading.current_thread().name not in recorder.threads
    assert "tracker recorder: logging trial bad failed; the experiment goes on" in caplog.text
    assert "the tool is down" in caplog.text
    trackers.trial_finished(_trial("late"))  # after close: dropped, not raised
    assert recorder.logged == ["a", "b"]


def test_no_trackers_means_none(tmp_path: Path) -> None:
    assert open_trackers(None, ExperimentInfo("e", tmp_path)) is None
    assert open_trackers([], ExperimentInfo("e", tmp_path)) is None


class _Hanging(Tracker):
    """A tool whose server never answers (until the test lets it go)."""

    name = "hanging"

    def __init__(self) -> None:
        self.release = threading.Event()

    def log_trial(self, trial: Trial) -> None:
        self.release.wait()


def test_a_tool_that_hangs_holds_the_stop_only_until_the_timeout(caplog) -> None:
    hanging = _Hanging()
    trackers = Trackers([hanging], close_timeout=0.1)
    trackers.trial_finished(_trial("a"))
    with caplog.at_level(logging.WARNING, logger="nni.integrations"):
        trackers.close()
    assert "trackers still busy after 0.1 s: the manager stops without waiting for them" in caplog.text
    hanging.release.set()


def test_trackers_never_used_open_nothing() -> None:
    recorder = _Recorder()
    Trackers([recorder]).close()
    assert not recorder.closed and recorder.threads == set()
