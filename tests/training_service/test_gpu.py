"""GPU scheduling of the local service, with a fake ``nvidia-smi`` on PATH (the only faked part)."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import pytest

from nni.training_service.gpu import GpuAllocator, parse_gpu_query

FAKE_SMI = """#!/bin/sh
# Two 16 GB GPUs; GPU 1 runs a foreign process while $FAKE_GPU_BUSY exists.
case "$1" in
  --query-gpu=*) printf '0, GPU-aaa, 0, 10, 16000\\n1, GPU-bbb, 35, 900, 16000\\n' ;;
  --query-compute-apps=*) [ -f "$FAKE_GPU_BUSY" ] && printf 'GPU-bbb, 1\\n' ;;
esac
exit 0
"""

GPU_TRIAL = """
import json, os, time, nni
nni.get_next_parameter()
time.sleep(0.6)
print(json.dumps({"cuda": os.environ["CUDA_VISIBLE_DEVICES"]}))
nni.report_final_result(1)
"""


@pytest.fixture
def fake_gpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    smi = bin_dir / "nvidia-smi"
    smi.write_text(FAKE_SMI)
    smi.chmod(smi.stat().st_mode | stat.S_IEXEC)
    busy = tmp_path / "gpu1-busy"
    busy.touch()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_GPU_BUSY", str(busy))
    return busy


def _cuda_of(experiment) -> list[str]:
    result = []
    for trial in experiment.list_trial_jobs():
        out = experiment.experiment_dir / "trials" / trial.trialJobId / "stdout"
        result.append(json.loads(out.read_text())["cuda"])
    return result


def test_busy_gpu_is_skipped_and_the_waiting_trial_says_why(make_experiment, free_port, fake_gpus):
    experiment = make_experiment(GPU_TRIAL, max_trial_number=3, trial_concurrency=2, trial_gpu_number=1)
    experiment.config.training_service.use_active_gpu = False
    experiment.start(free_port)
    reasons = set()
    deadline = time.monotonic() + 30
    while not experiment._runner.finished.is_set() and time.monotonic() < deadline:
        reasons |= {t.message for t in experiment.list_trial_jobs() if t.status == "WAITING" and t.message}
        time.sleep(0.05)
    assert any("GPU 1 busy" in r and "GPU 0 full" in r for r in reasons), reasons
    assert _cuda_of(experiment) == ["0", "0", "0"]


def test_gpu_freed_by_another_program_becomes_usable(make_experiment, free_port, fake_gpus):
    fake_gpus.unlink()
    experiment = make_experiment(GPU_TRIAL, max_trial_number=2, trial_concurrency=2, trial_gpu_number=1)
    experiment.config.training_service.use_active_gpu = False
    assert experiment.run(free_port) is True
    assert sorted(_cuda_of(experiment)) == ["0", "1"]


def test_use_active_gpu_and_two_trials_per_gpu(make_experiment, free_port, fake_gpus):
    experiment = make_experiment(GPU_TRIAL, max_trial_number=4, trial_concurrency=4, trial_gpu_number=1)
    experiment.config.training_service.use_active_gpu = True
    experiment.config.training_service.max_trial_number_per_gpu = 2
    experiment.config.training_service.gpu_indices = "1"
    assert experiment.run(free_port) is True
    assert _cuda_of(experiment) == ["1"] * 4


def test_more_gpus_than_the_machine_has_is_explained(make_experiment, free_port, fake_gpus):
    experiment = make_experiment(GPU_TRIAL, max_trial_number=1, trial_concurrency=1, trial_gpu_number=3)
    experiment.config.training_service.use_active_gpu = True
    experiment.start(free_port)
    deadline = time.monotonic() + 10
    message = None
    while time.monotonic() < deadline and not message:
        trials = experiment.list_trial_jobs()
        message = trials[0].message if trials else None
        time.sleep(0.05)
    assert "only 2 usable GPU(s)" in message


def test_parse_and_allocate_without_nvidia_smi():
    gpus = parse_gpu_query("0, GPU-a, [N/A], 1, 2\nnot a row\n", "GPU-a, 42\n")
    assert gpus[0].utilization == 0.0 and gpus[0].pids == (42,)
    allocator = GpuAllocator(lambda: None)
    assert "nvidia-smi is not available" in allocator.allocate("t", 1)
