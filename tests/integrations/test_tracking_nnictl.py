"""``trackers`` in a YAML config run by the real ``nnictl create`` (a detached manager process)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml
from tracking_helpers import SPACE, TRACKED_TRIAL

pytest.importorskip("mlflow.tracking")
pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
pytest.importorskip("pandas")

from mlflow.tracking import MlflowClient  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

from nni.experiment import Experiment  # noqa: E402
from nni.experiment.rest_client import RestClient  # noqa: E402
from nni.storage.manifest import read_manifest  # noqa: E402


def _nnictl(*args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "nni.tools.nnictl.main", *args], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, f"nnictl {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _wait_done(experiment_id: str, timeout: float = 120) -> None:
    entry = read_manifest()[experiment_id]
    client = RestClient(entry["port"], token=entry.get("token"))
    deadline = time.monotonic() + timeout
    while client.get("/check-status")["status"] != "DONE":
        assert time.monotonic() < deadline, f"experiment {experiment_id} did not finish"
        time.sleep(0.1)


def test_a_yaml_config_tracks_through_a_detached_manager(tmp_path: Path, free_port: int) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "trial.py").write_text(textwrap.dedent(TRACKED_TRIAL))
    config = {
        "searchSpace": SPACE, "trialCommand": f"{sys.executable} trial.py", "trialCodeDirectory": ".",
        "trialConcurrency": 2, "maxTrialNumber": 3, "tuner": {"name": "GridSearch"},
        "trainingService": {"platform": "local"}, "experimentWorkingDirectory": str(tmp_path / "experiments"),
        "trackers": ["mlflow", {"name": "tensorboard", "logDir": "tb"}],
    }
    (code / "config.yml").write_text(yaml.safe_dump(config))
    out = _nnictl("create", "--config", str(code / "config.yml"), "--port", str(free_port))
    experiment_id = out.split("Experiment ID: ")[1].split()[0]
    _wait_done(experiment_id)
    _nnictl("stop", experiment_id)

    runs = sorted(p for p in (code / "tb").iterdir())  # logDir is relative to the YAML file
    assert len(runs) == 3
    for run in runs:
        accumulator = EventAccumulator(str(run))
        accumulator.Reload()
        assert len(accumulator.Scalars("default")) in (3, 4)

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'experiments' / 'mlflow.db'}")
    mlflow_experiment = client.get_experiment_by_name("nni")
    assert mlflow_experiment is not None
    found = client.search_runs([mlflow_experiment.experiment_id])
    assert sorted(r.data.tags["nni.role"] for r in found) == ["experiment", "trial", "trial", "trial"]

    stored = Experiment(None, id=experiment_id)  # found through the manifest, read from its database
    frame = stored.export_dataframe()
    assert sorted(frame["params.x"]) == [1, 2, 3]
    assert set(frame["trial_id"]) == {r.data.tags["nni.trial_id"] for r in found if r.data.tags["nni.role"] == "trial"}
