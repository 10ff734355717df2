"""Runs NNI 3.0's own TPE on a benchmark problem; executed by benchmarks/tuners.py in .bench/nni30.

Usage: ``python -P _nni30_worker.py run PROBLEM SEED BUDGET`` prints the losses as JSON;
``python -P _nni30_worker.py latency PROBLEM SEED HISTORY ASKS`` prints seconds per ask.
(``-P`` keeps this repository's ``nni`` package off sys.path so the real NNI 3.0 is imported.)
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
logging.disable(logging.CRITICAL)

import numpy as np  # noqa: E402
from problems import PROBLEMS  # noqa: E402

from nni.algorithms.hpo.random_tuner import RandomTuner  # noqa: E402
from nni.algorithms.hpo.tpe_tuner import TpeTuner  # noqa: E402


def _run(problem_name: str, seed: int, budget: int) -> list[float]:
    problem = PROBLEMS[problem_name]
    tuner = TpeTuner(optimize_mode="minimize", seed=seed)
    tuner.update_search_space(problem.space)
    losses = []
    for i in range(budget):
        params = tuner.generate_parameters(i)
        loss = problem.objective(params)
        tuner.receive_trial_result(i, params, loss)
        losses.append(loss)
    return losses


def _latency(problem_name: str, seed: int, history: int, asks: int) -> float:
    problem = PROBLEMS[problem_name]
    sampler = RandomTuner(seed=seed)
    sampler.update_search_space(problem.space)
    data = []
    for i in range(history):
        params = sampler.generate_parameters(i)
        data.append({"parameter": params, "value": problem.objective(params)})
    tuner = TpeTuner(optimize_mode="minimize", seed=seed)
    tuner.update_search_space(problem.space)
    tuner.import_data(data)
    spent = []
    for i in range(asks):
        start = time.perf_counter()
        params = tuner.generate_parameters(history + i)
        spent.append(time.perf_counter() - start)
        tuner.receive_trial_result(history + i, params, problem.objective(params))
    return float(np.median(spent))


def main() -> None:
    mode, problem_name = sys.argv[1], sys.argv[2]
    np.seterr(all="ignore")
    if mode == "run":
        print("RESULT " + json.dumps(_run(problem_name, int(sys.argv[3]), int(sys.argv[4]))))
    else:
        print("RESULT " + json.dumps(_latency(problem_name, int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))))


if __name__ == "__main__":
    main()
