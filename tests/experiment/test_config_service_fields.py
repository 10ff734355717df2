"""Fields set on the training service win over the root's at run time (real local trials; the GPU
is a fake ``nvidia-smi`` on PATH, the only faked part)."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from nni.experiment.config import LocalConfig

ONE_GPU_SMI = """#!/bin/sh
case "$1" in
  --query-gpu=*) printf '0, GPU-only, 0, 10, 16000\\n' ;;
esac
exit 0
"""

ROOT_TRIAL = """
import nni
nni.get_next_parameter()
raise SystemExit("the root's trialCommand ran although the service sets its own")
"""

SERVICE_TRIAL = """
import json, os, nni
nni.get_next_parameter()
print(json.dumps({"cuda": os.environ["CUDA_VISIBLE_DEVICES"], "cwd": os.getcwd()}))
nni.report_final_result(1)
"""


@pytest.fixture
def one_gpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    smi = bin_dir / "nvidia-smi"
    smi.write_text(ONE_GPU_SMI)
    smi.chmod(smi.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def test_service_command_folder_and_gpu_number_are_honoured(make_experiment, free_port, tmp_path, one_gpu):
    service_code = tmp_path / "service_code"
    service_code.mkdir()
    (service_code / "service.py").write_text(SERVICE_TRIAL)
    experiment = make_experiment(ROOT_TRIAL, tuner="Random", max_trial_number=2, trial_concurrency=1)
    experiment.config.training_service = LocalConfig(trial_command=f"{sys.executable} service.py",
                                                     trial_code_directory=service_code, trial_gpu_number=1,
                                                     use_active_gpu=False)
    assert experiment.run(free_port) is True
    trials = experiment.list_trial_jobs()
    assert [t.status for t in trials] == ["SUCCEEDED", "SUCCEEDED"]
    for trial in trials:
        seen = json.loads((experiment.experiment_dir / "trials" / trial.trialJobId / "stdout").read_text())
        assert seen["cuda"] == "0"
        assert Path(seen["cwd"]).resolve() == service_code.resolve()
