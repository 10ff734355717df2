"""Per-trial overhead of function trials: N trivial trials at concurrency 8, side by side in one run.

Rows: this project (``Experiment.run_function``, each trial forked from a warm worker; and, for scale,
the same trial as a ``trialCommand``, one interpreter per trial), Optuna's
in-process ``study.optimize(n_jobs=8)`` (threads, no process per trial) and Ray Tune's function
trainables (``max_concurrent_trials=8`` on a local Ray). Each runs in its own subprocess. Columns:
wall time of the whole search and that time divided by the trials (the per-trial overhead, since the
function itself does nothing). Ray Tune needs pandas and pyarrow, which the project does not: they are
installed once into .bench/raytune-extras (skipped with a message if that fails).

    .venv/bin/python benchmarks/function_trials.py [--trials 1000] [--only ours,command,optuna,raytune]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
EXTRAS = HERE.parent / ".bench" / "raytune-extras"
CONCURRENCY = 8


def trivial(params: dict[str, Any]) -> float:
    """The trial: no work at all, so what is measured is the framework's own cost."""
    return params["x"]


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ours(trials: int, command: str | None = None) -> float:
    from nni.experiment import Experiment

    experiment = Experiment("local")
    experiment.config.tuner.name = "Random"
    experiment.config.search_space = {"x": {"_type": "uniform", "_value": [0, 1]}}
    experiment.config.trial_concurrency = CONCURRENCY
    experiment.config.max_trial_number = trials
    experiment.config.experiment_working_directory = tempfile.mkdtemp(prefix="nni-bench-fn-")
    started = time.perf_counter()
    if command is None:
        assert experiment.run_function(trivial, _port())
    else:
        experiment.config.trial_command = command
        assert experiment.run(_port())
    wall = time.perf_counter() - started
    done = [t for t in experiment.list_trial_jobs() if t.status == "SUCCEEDED"]
    experiment.stop()
    assert len(done) == trials, f"{len(done)} of {trials} trials succeeded"
    return wall


def ours_command(trials: int) -> float:
    """The same trial as a command: one fresh interpreter per trial, for scale."""
    return ours(trials, f"{sys.executable} -c \"import nni; nni.report_final_result(nni.get_next_parameter()['x'])\"")


def optuna_optimize(trials: int) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler())
    started = time.perf_counter()
    study.optimize(lambda trial: trivial({"x": trial.suggest_float("x", 0, 1)}), n_trials=trials, n_jobs=CONCURRENCY)
    return time.perf_counter() - started


def _tune_trainable(config: dict[str, Any]) -> dict[str, float]:
    return {"score": trivial(config)}


def raytune(trials: int) -> float:
    import ray
    from ray import tune

    ray.init(num_cpus=CONCURRENCY, include_dashboard=False, log_to_driver=False)
    tuner = tune.Tuner(
        _tune_trainable, param_space={"x": tune.uniform(0, 1)},
        tune_config=tune.TuneConfig(num_samples=trials, max_concurrent_trials=CONCURRENCY, metric="score", mode="min"),
        run_config=tune.RunConfig(storage_path=tempfile.mkdtemp(prefix="raytune-bench-"), verbose=0))
    started = time.perf_counter()
    results = tuner.fit()
    wall = time.perf_counter() - started
    ray.shutdown()
    assert len(results) == trials and not results.errors
    return wall


RUNNERS = {"ours": ours, "command": ours_command, "optuna": optuna_optimize, "raytune": raytune}
LABELS = {"ours": "this project, run_function (fork per trial)", "command": "this project, trialCommand (for scale)",
          "optuna": "Optuna study.optimize(n_jobs=8)", "raytune": "Ray Tune function trainable"}


def _ensure_extras() -> str | None:
    """pandas and pyarrow for ``ray.tune``, installed aside; None when ready, else why not."""
    probe = [sys.executable, "-c", "import ray.tune"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(EXTRAS), os.environ.get("PYTHONPATH", "")]))
    if subprocess.run(probe, env=env, capture_output=True).returncode == 0:
        return None
    print("installing pandas, pyarrow, tensorboardX into .bench/raytune-extras for Ray Tune ...", flush=True)
    install = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--target", str(EXTRAS), "pandas",
                              "pyarrow", "tensorboardX"], capture_output=True, text=True)
    if install.returncode != 0 or subprocess.run(probe, env=env, capture_output=True).returncode != 0:
        return f"Ray Tune is unavailable: {install.stderr.strip()[-300:] or 'import ray.tune fails'}"
    return None


def _measure(name: str, trials: int) -> dict[str, Any]:
    """Run one row in a fresh interpreter (Ray and the manager each bring their own threads)."""
    env = dict(os.environ)
    if name == "raytune":
        env["PYTHONPATH"] = os.pathsep.join([str(EXTRAS), env.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, __file__, "--worker", name, "--trials", str(trials)], env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--only", default=",".join(RUNNERS))
    parser.add_argument("--worker", choices=list(RUNNERS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps({"wall": RUNNERS[args.worker](args.trials)}))
        return
    print(f"{args.trials} trivial trials at concurrency {CONCURRENCY}, {os.cpu_count()} CPU cores\n")
    print(f"{'':48} {'wall s':>8} {'ms/trial':>9}")
    for name in args.only.split(","):
        problem = _ensure_extras() if name == "raytune" else None
        row = {"error": problem} if problem else _measure(name, args.trials)
        if "error" in row:
            print(f"{LABELS[name]:48} skipped: {row['error']}")
        else:
            print(f"{LABELS[name]:48} {row['wall']:8.2f} {1000 * row['wall'] / args.trials:9.2f}", flush=True)


if __name__ == "__main__":
    main()
