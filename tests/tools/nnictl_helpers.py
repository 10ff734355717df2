"""Helpers for nnictl tests: a folder with a trial script, a custom tuner and a YAML config, and a
runner of the real ``nnictl`` command (a subprocess that sees the test's private HOME)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from support import free_port as free_port  # shared; tests import it from here too

from nni.experiment.rest_client import RestClient
from nni.storage.manifest import read_manifest

TUNER = '''
import json, os
from nni.tuner import Tuner

class LogTuner(Tuner):
    """Proposes x = parameter_id / 100 and logs every import_data call (one JSON line each)."""

    def __init__(self, log, fail_once=None):
        self.log = log
        self.fail_once = fail_once

    def update_search_space(self, search_space):
        pass

    def generate_parameters(self, parameter_id, **kwargs):
        if self.fail_once and not os.path.exists(self.fail_once):
            open(self.fail_once, "w").close()
            raise RuntimeError("tuner failure injected by the test")
        return {"x": parameter_id / 100}

    def receive_trial_result(self, parameter_id, parameters, value, **kwargs):
        pass

    def import_data(self, data):
        with open(self.log, "a") as f:
            f.write(json.dumps(data) + "\\n")
'''

TRIAL = '''
import os, random, time
import nni
params = nni.get_next_parameter()
time.sleep(float(os.environ.get("TRIAL_SLEEP", "0")) or random.uniform(0.2, 0.5))
nni.report_intermediate_result(params["x"])
nni.report_final_result(params["x"])
'''


@dataclass
class Workspace:
    root: Path
    config: Path
    tuner_log: Path

    def write_config(self, name: str = "config.yml", **overrides: Any) -> Path:
        data = yaml.safe_load(self.config.read_text())
        data.update(overrides)
        path = self.root / name
        path.write_text(yaml.safe_dump(data))
        return path

    def imports(self) -> list[list[dict[str, Any]]]:
        if not self.tuner_log.exists():
            return []
        return [json.loads(line) for line in self.tuner_log.read_text().splitlines()]


def make_workspace(tmp_path: Path) -> Workspace:
    root = tmp_path / "code"
    root.mkdir()
    (root / "log_tuner.py").write_text(textwrap.dedent(TUNER))
    (root / "trial.py").write_text(textwrap.dedent(TRIAL))
    log = tmp_path / "imports.jsonl"
    config = {
        "experimentName": "nnictl-test",
        "searchSpace": {"x": {"_type": "uniform", "_value": [0, 1]}},
        "trialCommand": f"{sys.executable} trial.py",
        "trialCodeDirectory": ".",
        "trialConcurrency": 3,
        "maxTrialNumber": 6,
        "tuner": {"className": "log_tuner.LogTuner", "codeDirectory": ".", "classArgs": {"log": str(log)}},
        "trainingService": {"platform": "local"},
    }
    path = root / "config.yml"
    path.write_text(yaml.safe_dump(config))
    return Workspace(root, path, log)



def nnictl(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the real command line; with ``check`` a non-zero exit fails the test with its output."""
    result = subprocess.run([sys.executable, "-m", "nni.tools.nnictl.main", *args], capture_output=True, text=True,
                            timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"nnictl {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def client(experiment_id: str) -> RestClient:
    entry = read_manifest()[experiment_id]
    return RestClient(entry["port"], token=entry.get("token"))


def wait_status(experiment_id: str, statuses: tuple[str, ...] = ("DONE",), timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    status = ""
    while time.monotonic() < deadline:
        try:
            status = client(experiment_id).get("/check-status")["status"]
        except OSError:
            status = "unreachable"
        if status in statuses:
            return status
        time.sleep(0.1)
    raise AssertionError(f"experiment {experiment_id} still {status} after {timeout}s")


def wait_until(predicate: Callable[[], bool], timeout: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")

