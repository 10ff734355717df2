"""Runs N trivial trials through whichever ``nni`` this interpreter imports and prints JSON figures.

Used by benchmarks/overhead.py for this project and, from .bench/nni30, for NNI 3.0: both expose
the same ``Experiment`` API, so one script measures both the same way.
"""

import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

TRIAL = "import nni\np = nni.get_next_parameter()\nnni.report_final_result(p.get('x', 0))\n"


def _manager_rss(stop, peak):
    """Peak resident memory of this process and its non-trial descendants (NNI's node + dispatcher)."""
    me = psutil.Process()
    own_cmd = me.cmdline()
    while not stop.is_set():
        total = me.memory_info().rss
        for child in me.children(recursive=True):
            try:
                argv = child.cmdline()
                cmd = " ".join(argv)
                # trials, their shells, and this process's own short-lived forks before exec
                if "trial.py" in cmd or "run.sh" in cmd or cmd.startswith("/bin/sh -c") or argv == own_cmd:
                    continue
                total += child.memory_info().rss
            except psutil.Error:
                continue
        peak[0] = max(peak[0], total)
        stop.wait(0.1)


def main():
    trials, port, platform = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    from nni.experiment import Experiment

    with tempfile.TemporaryDirectory() as tmp:
        code = Path(tmp) / "code"
        code.mkdir()
        (code / "trial.py").write_text(TRIAL)
        experiment = Experiment(platform)
        experiment.config.trial_command = f"{sys.executable} trial.py"
        experiment.config.trial_code_directory = str(code)
        experiment.config.experiment_working_directory = str(Path(tmp) / "exps")
        experiment.config.search_space = {"x": {"_type": "uniform", "_value": [0, 1]}}
        experiment.config.tuner.name = os.environ.get("BENCH_TUNER", "Random")
        experiment.config.max_trial_number = trials
        experiment.config.trial_concurrency = 2
        stop, peak = threading.Event(), [0]
        sampler = threading.Thread(target=_manager_rss, args=(stop, peak), daemon=True)
        sampler.start()
        started = time.perf_counter()
        experiment.run(port)
        wall = time.perf_counter() - started
        jobs = experiment.list_trial_jobs()
        stop.set()
        experiment.stop()
    starts = sorted(j.startTime for j in jobs if j.startTime)
    ends = sorted(j.endTime for j in jobs if j.endTime)
    # With concurrency c, the (i+c)-th start is what the i-th end made room for.
    gaps = [(s - e) / 1000 for s, e in zip(starts[2:], ends, strict=False) if s >= e]
    print(json.dumps({
        "wall": wall,
        "succeeded": sum(1 for j in jobs if j.status == "SUCCEEDED"),
        "gap_median": statistics.median(gaps) if gaps else None,
        "rss_mib": peak[0] / 2**20,
        "pid": os.getpid(),
    }))


if __name__ == "__main__":
    main()
