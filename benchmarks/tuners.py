"""Tuner benchmark: this package's algorithms against Optuna, hyperopt, random search and NNI 3.0.

Every method runs the same problems (benchmarks/problems.py), the same seeds and budgets; each
run is one sequential optimisation of 100 evaluations whose best-so-far is read at 25, 50 and 100.
Printed: mean regret per problem and budget, mean rank, the geometric-mean regret ratio against
Optuna's default TPE over the seven headline problems (and the worst single-problem ratio), and
ask latency with 1,000 trials in the history.

    .venv/bin/python benchmarks/tuners.py            # full: 10 seeds
    .venv/bin/python benchmarks/tuners.py --quick    # 3 seeds, fewer latency asks (< 30 min on 2 cores)

NNI 3.0 runs in its own virtualenv (.bench/nni30, created on first use with ``pip install
nni==3.0``); when that fails its column is skipped with a message. Optuna is in the ``bench``
extra. The ratio is mean regret over seeds (per problem) divided by Optuna TPE's, then the
geometric mean over problems.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from peers import BENCH_DIR, NNI30_PYTHON, ensure_nni30_venv  # noqa: E402
from problems import HEADLINE, PROBLEMS, Problem, apply_q  # noqa: E402

BUDGETS = (25, 50, 100)
BASELINE = "optuna_tpe"
LATENCY_PROBLEMS = ("hartmann6", "mixed")


# -- methods -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Method:
    name: str
    label: str
    kind: str
    """'nni' (a tuner class of this package), 'optuna', 'hyperopt' or 'nni30'."""
    target: str = ""
    kwargs: dict[str, Any] = field(default_factory=dict)


METHODS: list[Method] = [
    Method("tpe", "ours TPE", "nni", "nni.algorithms.hpo.tpe_tuner.TpeTuner"),
    Method("tpe_indep", "ours TPE univariate", "nni", "nni.algorithms.hpo.tpe_tuner.TpeTuner",
           {"tpe_args": {"multivariate": False}}),
    Method("gp", "ours GP", "nni", "nni.algorithms.hpo.gp_tuner.GPTuner", {"optimize_mode": "minimize"}),
    Method("evolution", "ours Evolution", "nni", "nni.algorithms.hpo.evolution_tuner.EvolutionTuner",
           {"optimize_mode": "minimize"}),
    Method("anneal", "ours Anneal", "nni", "nni.algorithms.hpo.hyperopt_tuner.HyperoptTuner",
           {"algorithm_name": "anneal"}),
    Method("random", "random search", "nni", "nni.algorithms.hpo.random_tuner.RandomTuner"),
    Method("optuna_tpe", "Optuna TPE (default)", "optuna", "tpe"),
    Method("optuna_tpe_mv", "Optuna TPE multivariate", "optuna", "tpe_mv"),
    Method("optuna_tpe_indep", "Optuna TPE independent", "optuna", "tpe_indep"),
    Method("optuna_gp", "Optuna GPSampler", "optuna", "gp"),
    Method("hyperopt_tpe", "hyperopt TPE", "hyperopt", "tpe"),
    Method("nni30_tpe", "NNI 3.0 TPE", "nni30"),
]
METHOD_BY_NAME = {m.name: m for m in METHODS}


def _load_class(target: str) -> type:
    module, _, name = target.rpartition(".")
    return getattr(importlib.import_module(module), name)


def method_available(method: Method) -> str | None:
    """None when the method can run here, else why not."""
    if method.kind == "nni":
        try:
            _load_class(method.target)
        except (ImportError, AttributeError) as error:
            return f"not available ({error})"
    if method.kind == "nni30" and not NNI30_PYTHON.exists():
        return "NNI 3.0 virtualenv missing"
    return None


# -- running one method on one problem -----------------------------------------------------------

def _run_nni(method: Method, problem: Problem, seed: int, budget: int) -> list[float]:
    cls = _load_class(method.target)
    kwargs = dict(method.kwargs)
    if "seed" in _init_params(cls):
        kwargs["seed"] = seed
    tuner = cls(**kwargs)
    tuner.update_search_space(problem.space)
    losses = []
    for i in range(budget):
        params = tuner.generate_parameters(i)
        loss = problem.objective(params)
        tuner.receive_trial_result(i, params, loss)
        tuner.trial_end(i, True)
        losses.append(loss)
    return losses


def _init_params(cls: type) -> set[str]:
    import inspect

    return set(inspect.signature(cls).parameters)


def _optuna_sampler(kind: str, seed: int) -> Any:
    import optuna

    if kind == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if kind == "tpe_mv":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True)
    if kind == "tpe_indep":
        return optuna.samplers.TPESampler(seed=seed, multivariate=False)
    if kind == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise ValueError(kind)


def optuna_params(trial: Any, space: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Sample an NNI search space define-by-run (nested choices become conditional parameters)."""
    out: dict[str, Any] = {}
    for name, spec in space.items():
        if name == "_name":
            continue
        key, kind, value = prefix + name, spec["_type"], spec["_value"]
        if kind == "choice":
            index = trial.suggest_categorical(key, list(range(len(value))))
            option = value[index]
            if isinstance(option, dict) and "_name" in option:
                out[name] = {"_name": option["_name"],
                             **optuna_params(trial, option, f"{key}.{option['_name']}.")}
            else:
                out[name] = option
        elif kind == "randint":
            out[name] = trial.suggest_int(key, int(value[0]), int(value[1]) - 1)
        elif kind in ("uniform", "quniform"):
            x = trial.suggest_float(key, value[0], value[1])
            out[name] = apply_q(x, value[0], value[1], value[2]) if kind == "quniform" else x
        elif kind in ("loguniform", "qloguniform"):
            x = trial.suggest_float(key, value[0], value[1], log=True)
            out[name] = apply_q(x, value[0], value[1], value[2]) if kind == "qloguniform" else x
        else:
            raise ValueError(f"the benchmark's Optuna adapter has no {kind}")
    return out


def _run_optuna(method: Method, problem: Problem, seed: int, budget: int) -> list[float]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(sampler=_optuna_sampler(method.target, seed))
    losses: list[float] = []

    def objective(trial: Any) -> float:
        loss = problem.objective(optuna_params(trial, problem.space))
        losses.append(loss)
        return loss

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study.optimize(objective, n_trials=budget)
    return losses


def hyperopt_space(space: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """An NNI search space as a hyperopt space (q-types sampled continuously, rounded by NNI's rule)."""
    import math as _math

    from hyperopt import hp

    out: dict[str, Any] = {}
    for name, spec in space.items():
        if name == "_name":
            continue
        key, kind, value = prefix + name, spec["_type"], spec["_value"]
        if kind == "choice":
            options = []
            for option in value:
                if isinstance(option, dict) and "_name" in option:
                    options.append({"_name": option["_name"], **hyperopt_space(option, f"{key}.{option['_name']}.")})
                else:
                    options.append(option)
            out[name] = hp.choice(key, options)
        elif kind == "randint":
            out[name] = hp.randint(key, int(value[0]), int(value[1]))
        elif kind in ("uniform", "quniform"):
            out[name] = hp.uniform(key, value[0], value[1])
        elif kind in ("loguniform", "qloguniform"):
            out[name] = hp.loguniform(key, _math.log(value[0]), _math.log(value[1]))
        else:
            raise ValueError(f"the benchmark's hyperopt adapter has no {kind}")
    return out


def hyperopt_to_nni(sample: Any, space: dict[str, Any]) -> dict[str, Any]:
    """Convert a hyperopt sample to plain Python values, applying NNI's q-rounding."""
    out: dict[str, Any] = {}
    for name, spec in space.items():
        if name == "_name":
            continue
        kind, value, x = spec["_type"], spec["_value"], sample[name]
        if isinstance(x, np.generic):
            x = x.item()
        if kind == "choice" and isinstance(x, dict):
            option = next(o for o in value if isinstance(o, dict) and o.get("_name") == x["_name"])
            x = {"_name": x["_name"], **hyperopt_to_nni(x, option)}
        elif kind in ("quniform", "qloguniform"):
            x = apply_q(x, value[0], value[1], value[2])
        elif kind == "randint":
            x = int(x)
        out[name] = x
    return out


def _run_hyperopt(method: Method, problem: Problem, seed: int, budget: int) -> list[float]:
    from hyperopt import STATUS_OK, Trials, fmin, tpe

    logging.getLogger("hyperopt").setLevel(logging.ERROR)
    losses: list[float] = []

    def objective(sample: Any) -> dict[str, Any]:
        loss = problem.objective(hyperopt_to_nni(sample, problem.space))
        losses.append(loss)
        return {"loss": loss, "status": STATUS_OK}

    fmin(objective, hyperopt_space(problem.space), algo=tpe.suggest, max_evals=budget, trials=Trials(),
         rstate=np.random.default_rng(seed), show_progressbar=False)
    return losses


def _nni30(*args: Any) -> Any:
    proc = subprocess.run([str(NNI30_PYTHON), "-P", str(HERE / "_nni30_worker.py"),
                           *map(str, args)], capture_output=True, text=True, cwd=str(BENCH_DIR), timeout=3600)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"NNI 3.0 worker failed: {proc.stderr[-2000:]}")


def run_one(method_name: str, problem_name: str, seed: int, budget: int) -> tuple[list[float], float]:
    """Losses of one run, in evaluation order, and its wall time."""
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    method, problem = METHOD_BY_NAME[method_name], PROBLEMS[problem_name]
    start = time.perf_counter()
    if method.kind == "nni":
        losses = _run_nni(method, problem, seed, budget)
    elif method.kind == "optuna":
        losses = _run_optuna(method, problem, seed, budget)
    elif method.kind == "hyperopt":
        losses = _run_hyperopt(method, problem, seed, budget)
    else:
        losses = _nni30("run", problem_name, seed, budget)
    return losses, time.perf_counter() - start


# -- ask latency ---------------------------------------------------------------------------------

def _history(problem: Problem, n: int, seed: int) -> list[dict[str, Any]]:
    from nni.search_space import parse_search_space

    space, rng = parse_search_space(problem.space), np.random.default_rng(seed)
    records = []
    for _ in range(n):
        params = space.sample(rng)
        records.append({"parameter": params, "value": problem.objective(params)})
    return records


def latency_one(method_name: str, problem_name: str, history: int, asks: int) -> float:
    """Seconds per ask with ``history`` finished trials already known to the method."""
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    method, problem = METHOD_BY_NAME[method_name], PROBLEMS[problem_name]
    if method.kind == "nni30":
        return float(_nni30("latency", problem_name, 0, history, asks))
    if method.kind == "nni":
        cls = _load_class(method.target)
        kwargs = dict(method.kwargs)
        if "seed" in _init_params(cls):
            kwargs["seed"] = 0
        tuner = cls(**kwargs)
        tuner.update_search_space(problem.space)
        tuner.import_data(_history(problem, history, 0))
        spent = []
        for i in range(asks):
            start = time.perf_counter()
            params = tuner.generate_parameters(i)
            spent.append(time.perf_counter() - start)
            tuner.receive_trial_result(i, params, problem.objective(params))
        return float(np.median(spent))
    if method.kind == "optuna":
        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        seed_study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        seed_study.optimize(lambda t: problem.objective(optuna_params(t, problem.space)), n_trials=history)
        study = optuna.create_study(sampler=_optuna_sampler(method.target, 0))
        study.add_trials(seed_study.trials)
        spent = []
        for _ in range(asks):
            start = time.perf_counter()
            trial = study.ask()
            params = optuna_params(trial, problem.space)
            spent.append(time.perf_counter() - start)
            study.tell(trial, problem.objective(params))
        return float(np.median(spent))
    from hyperopt import STATUS_OK, Trials, fmin, rand, tpe

    trials = Trials()
    space = hyperopt_space(problem.space)
    eval_time = [0.0]

    def objective(sample: Any) -> dict[str, Any]:
        start = time.perf_counter()
        loss = problem.objective(hyperopt_to_nni(sample, problem.space))
        eval_time[0] += time.perf_counter() - start
        return {"loss": loss, "status": STATUS_OK}

    fmin(objective, space, algo=rand.suggest, max_evals=history, trials=trials,
         rstate=np.random.default_rng(0), show_progressbar=False)
    spent = []
    for i in range(asks):
        eval_time[0] = 0.0
        start = time.perf_counter()
        fmin(objective, space, algo=tpe.suggest, max_evals=history + i + 1, trials=trials,
             rstate=np.random.default_rng(i), show_progressbar=False)
        spent.append(time.perf_counter() - start - eval_time[0])
    return float(np.median(spent))


# -- NNI 3.0 virtualenv ----------------------------------------------------------------------------

def ensure_nni30() -> str | None:
    """NNI 3.0 (with scikit-learn) in .bench/nni30, checked by one tiny run; None, else the reason."""
    reason = ensure_nni30_venv("scikit-learn")
    if reason is not None:
        return reason
    try:
        _nni30("run", "branin", 0, 2)
    except (subprocess.SubprocessError, OSError, RuntimeError) as error:
        return f"NNI 3.0 does not run here ({error})"
    return None


# -- report ----------------------------------------------------------------------------------------

def _regret(losses: list[float], budget: int, optimum: float) -> float:
    return max(min(losses[:budget]) - optimum, 0.0)


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 100 or abs(value) < 0.01:
        return f"{value:.2e}"
    return f"{value:.3f}"


def report(results: dict[tuple[str, str, int], list[float]], methods: list[str], problems: list[str],
           seeds: list[int], latencies: dict[tuple[str, str], float]) -> None:
    optimum = {}
    for p in problems:
        observed = [min(v) for (m, q, s), v in results.items() if q == p]
        optimum[p] = min([PROBLEMS[p].optimum, *observed])
    width = max(len(METHOD_BY_NAME[m].label) for m in methods) + 2
    regrets: dict[tuple[str, str, int], float] = {}
    for budget in BUDGETS if problems else ():
        print(f"\n== mean regret over {len(seeds)} seeds after {budget} evaluations (lower is better) ==")
        print("method".ljust(width) + "".join(p[:11].rjust(12) for p in problems) + "   mean rank")
        ranks: dict[str, list[float]] = {m: [] for m in methods}
        for p in problems:
            for s in seeds:
                values = {m: _regret(results[(m, p, s)], budget, optimum[p]) for m in methods}
                order = sorted(values.values())
                for m, v in values.items():
                    ranks[m].append(order.index(v) + (order.count(v) + 1) / 2)
        for m in methods:
            cells = []
            for p in problems:
                mean = float(np.mean([_regret(results[(m, p, s)], budget, optimum[p]) for s in seeds]))
                regrets[(m, p, budget)] = mean
                cells.append(_fmt(mean).rjust(12))
            print(METHOD_BY_NAME[m].label.ljust(width) + "".join(cells) + f"{np.mean(ranks[m]):12.2f}")
    if BASELINE in methods and problems:
        for budget in BUDGETS:
            print(f"\n== regret ratio vs {METHOD_BY_NAME[BASELINE].label} after {budget} evaluations "
                  f"(per problem: mean regret / baseline's; geo-mean over {', '.join(HEADLINE)}) ==")
            headline = [p for p in HEADLINE if p in problems]
            print("method".ljust(width) + "".join(p[:11].rjust(12) for p in problems) + "   geo-mean    worst")
            for m in methods:
                ratios = {p: (regrets[(m, p, budget)] + 1e-12) / (regrets[(BASELINE, p, budget)] + 1e-12)
                          for p in problems}
                geo = math.exp(np.mean([math.log(ratios[p]) for p in headline])) if headline else float("nan")
                worst = max(ratios[p] for p in headline) if headline else float("nan")
                print(METHOD_BY_NAME[m].label.ljust(width) + "".join(f"{ratios[p]:12.2f}" for p in problems)
                      + f"{geo:12.2f}{worst:9.2f}")
    if latencies:
        print("\n== ask latency with 1,000 trials in the history (ms per ask) ==")
        names = sorted({p for _, p in latencies})
        print("method".ljust(width) + "".join(p.rjust(12) for p in names))
        for m in methods:
            cells = [f"{latencies[(m, p)] * 1000:12.1f}" if (m, p) in latencies else "           -" for p in names]
            print(METHOD_BY_NAME[m].label.ljust(width) + "".join(cells))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 seeds and fewer latency asks (< 30 min on 2 cores)")
    parser.add_argument("--seeds", type=int, help="number of seeds (default 10, 3 with --quick)")
    parser.add_argument("--methods", help="comma-separated subset of: " + ", ".join(METHOD_BY_NAME))
    parser.add_argument("--problems", help="comma-separated subset of: " + ", ".join(PROBLEMS))
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel worker processes")
    parser.add_argument("--no-latency", action="store_true", help="skip the ask-latency measurement")
    parser.add_argument("--latency-only", action="store_true", help="only measure ask latency")
    parser.add_argument("--cache", help="JSON file: reuse runs stored there, add the new ones")
    parser.add_argument("--json", help="write raw results (losses per run) to this file")
    args = parser.parse_args(argv)

    n_seeds = args.seeds or (3 if args.quick else 10)
    seeds = list(range(n_seeds))
    problems = args.problems.split(",") if args.problems else list(PROBLEMS)
    wanted = args.methods.split(",") if args.methods else [m.name for m in METHODS]
    for name in wanted + problems:
        if name not in METHOD_BY_NAME and name not in PROBLEMS:
            parser.error(f"unknown method or problem {name!r}")
    if "nni30_tpe" in wanted:
        reason = ensure_nni30()
        if reason:
            print(f"NNI 3.0 TPE skipped: {reason}")
    methods = []
    for name in wanted:
        reason = method_available(METHOD_BY_NAME[name])
        if reason:
            print(f"{METHOD_BY_NAME[name].label} skipped: {reason}")
        else:
            methods.append(name)

    cache: dict[str, list[float]] = {}
    if args.cache and Path(args.cache).exists():
        cache = json.loads(Path(args.cache).read_text())
    budget = max(BUDGETS)
    jobs = [(m, p, s) for m in methods for p in problems for s in seeds if f"{m}|{p}|{s}|{budget}" not in cache]
    if args.latency_only:
        jobs, problems = [], []
    # slow methods first so the pool stays busy to the end
    jobs.sort(key=lambda j: (j[0] not in ("optuna_gp", "gp"), j[1] != "sklearn_krr"))
    started = time.perf_counter()
    print(f"{len(jobs)} runs ({len(methods)} methods x {len(problems)} problems x {len(seeds)} seeds, "
          f"{budget} evaluations each; {len(cache)} cached) on {args.jobs} processes", flush=True)
    times: dict[str, float] = {}
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = {pool.submit(run_one, m, p, s, budget): (m, p, s) for m, p, s in jobs}
        for done, future in enumerate(futures, 1):
            m, p, s = futures[future]
            losses, spent = future.result()
            cache[f"{m}|{p}|{s}|{budget}"] = losses
            times[m] = times.get(m, 0.0) + spent
            if done % 50 == 0:
                print(f"  {done}/{len(jobs)} runs, {time.perf_counter() - started:.0f} s", flush=True)
    if args.cache:
        Path(args.cache).write_text(json.dumps(cache))
    results = {(m, p, s): cache[f"{m}|{p}|{s}|{budget}"] for m in methods for p in problems for s in seeds}
    if args.json:
        Path(args.json).write_text(json.dumps({"|".join(map(str, k)): v for k, v in results.items()}))

    latencies: dict[tuple[str, str], float] = {}
    if not args.no_latency:
        # one measurement at a time, each in a fresh process, so they do not compete for CPU
        print("measuring ask latency with 1,000 trials in the history ...", flush=True)
        with ProcessPoolExecutor(max_workers=1) as pool:
            for m in methods:
                slow = m in ("optuna_gp", "gp")
                asks = (2 if args.quick else 5) if slow else (10 if args.quick else 30)
                for p in LATENCY_PROBLEMS:
                    latencies[(m, p)] = pool.submit(latency_one, m, p, 1000, asks).result()
    report(results, methods, problems, seeds, latencies)
    print(f"\ntotal {time.perf_counter() - started:.0f} s; CPU seconds per method: "
          + ", ".join(f"{m} {t:.0f}" for m, t in sorted(times.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
