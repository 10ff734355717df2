"""Runs N trivial trials on one training service (remote, ray, slurm) and prints JSON figures.

Used by benchmarks/services.py; the service must already be running (scripts/services/*.sh).
    python benchmarks/_services_worker.py PLATFORM TRIALS PORT BASE
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _overhead_worker import TRIAL

from nni.experiment import Experiment
from nni.experiment.config.training_services import RayConfig, RemoteConfig, SlurmConfig


def service_config(platform: str, base: Path) -> object:
    if platform == "remote":
        return RemoteConfig(machine_list=[{"host": "127.0.0.1", "port": 2222, "user": "nnitrial",
                                           "ssh_key_file": str(base / "ssh" / "client_ed25519"),
                                           "python_path": str(base / "remote-venv" / "bin")}])
    if platform == "ray":
        return RayConfig(address="127.0.0.1:6379")
    if platform == "slurm":
        return SlurmConfig()
    raise SystemExit(f"unknown platform {platform}")


def main() -> None:
    platform, trials, port, base = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
    with tempfile.TemporaryDirectory() as tmp:
        code = Path(tmp) / "code"
        code.mkdir()
        (code / "trial.py").write_text(TRIAL)
        experiment = Experiment(service_config(platform, base))
        experiment.config.trial_command = "python3 trial.py"
        experiment.config.trial_code_directory = str(code)
        experiment.config.experiment_working_directory = str(Path(tmp) / "exps")
        experiment.config.search_space = {"x": {"_type": "uniform", "_value": [0, 1]}}
        experiment.config.tuner = {"name": "Random"}
        experiment.config.max_trial_number = trials
        experiment.config.trial_concurrency = 2
        started = time.perf_counter()
        experiment.run(port)
        wall = time.perf_counter() - started
        jobs = experiment.list_trial_jobs()
        experiment.stop()
    starts = sorted(j.startTime for j in jobs if j.startTime)
    ends = sorted(j.endTime for j in jobs if j.endTime)
    gaps = [(s - e) / 1000 for s, e in zip(starts[2:], ends, strict=False) if s >= e]
    print(json.dumps({"wall": wall, "succeeded": sum(1 for j in jobs if j.status == "SUCCEEDED"),
                      "gap_median": statistics.median(gaps) if gaps else None}))


if __name__ == "__main__":
    main()
