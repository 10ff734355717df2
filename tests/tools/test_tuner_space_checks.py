""""Can this tuner take this space" is answered before ``nnictl create`` says the experiment started."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml
from nnictl_helpers import client, free_port, nnictl, wait_status

from nni.storage.manifest import read_manifest

TRIAL = "import nni\nnni.get_next_parameter()\nnni.report_final_result(1.0)\n"


def _config(tmp_path: Path, tuner: dict, space: dict, trials: int = 2) -> Path:
    (tmp_path / "trial.py").write_text(TRIAL)
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump({
        "searchSpace": space, "trialCommand": f"{sys.executable} trial.py", "trialCodeDirectory": ".",
        "trialConcurrency": 2, "maxTrialNumber": trials, "tuner": tuner, "trainingService": {"platform": "local"}}))
    return path


def test_metis_refuses_a_string_choice_before_anything_starts(tmp_path: Path) -> None:
    config = _config(tmp_path, {"name": "Metis"}, {"lr": {"_type": "uniform", "_value": [0, 1]},
                                                   "opt": {"_type": "choice", "_value": ["sgd", "adam"]}})
    result = nnictl("create", "--config", str(config), "--port", str(free_port()), check=False)
    assert result.returncode == 1
    assert "started" not in result.stdout.lower()
    assert "'opt'" in result.stderr and "Metis" in result.stderr and "Traceback" not in result.stderr
    assert not read_manifest()


def test_grid_search_walks_a_space_of_a_thousand_and_more_parameters(tmp_path: Path) -> None:
    space = {f"u{i}": {"_type": "uniform", "_value": [0, 1]} for i in range(700)}
    space.update({f"c{i}": {"_type": "choice", "_value": [1, 2]} for i in range(700)})
    config = _config(tmp_path, {"name": "GridSearch"}, space, trials=3)
    nnictl("create", "--config", str(config), "--port", str(free_port()), "--id", "wide")
    assert wait_status("wide", ("DONE", "ERROR"), timeout=120) == "DONE"
    trials = client("wide").get("/trial-jobs")
    assert [t["status"] for t in trials] == ["SUCCEEDED"] * 3
    chosen = [json.loads(t["hyperParameters"][0])["parameters"] for t in trials]  # NNI sends JSON text
    assert len({json.dumps(p, sort_keys=True) for p in chosen}) == 3 and all(len(p) == 1400 for p in chosen)
    nnictl("stop", "wide")
