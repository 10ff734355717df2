"""Tuner benchmark: this package's algorithms against Optuna, SMAC3, hyperopt, random search and NNI 3.0.

Suites (``--suite``): ``bbob``, COCO's 24 noiseless BBOB functions in 2, 5, 10 and 20 dimensions on
[-5, 5]^d, one instance per seed (the main yardstick); ``classic``, the seven hand-made problems
plus ``conditional`` (benchmarks/problems.py); ``ml``, real scikit-learn tuning tasks on bundled
data with log-scale, integer, categorical and conditional parameters (benchmarks/ml_tasks.py);
``all``, every one. Each run is one optimisation whose best-so-far is read at every budget
(10*d for BBOB, 25, 50, 100, 200); regret is f(best) - f_opt (the best value any run found where
the optimum is unknown). Printed per budget: the geometric mean, over problems, of each method's
mean regret (over seeds) divided by Optuna's default TPE's; for BBOB per function group and per
dimension, elsewhere per problem. ``--concurrency 8`` also runs the parallel-capable methods asking
8 proposals before telling their results, and prints the quality loss (parallel regret over
sequential regret at the same number of evaluations). Ask latency with 1,000 trials in the
history (5,000 for GP and Auto) closes the report.

    .venv/bin/python benchmarks/tuners.py --suite bbob --quick --concurrency 8   # < 30 min, 2 cores
    .venv/bin/python benchmarks/tuners.py --suite all --concurrency 8            # full: 10 seeds

``--quick`` (3 seeds) drops, to stay under 30 minutes on 2 cores: BBOB problems run one seed each
(instance 1, 2 or 3, rotating over functions and dimensions: 96 runs per method, not 288); our GP
and Auto, Optuna's GPSampler and every parallel run stop at 100 evaluations, NNI 3.0's GP at 50 and
SMAC3 (the slowest peer per evaluation) at 25 (their later columns print "-"); latency takes fewer
asks. Every function and dimension stays.
``--cache FILE`` keeps finished runs (saved every 20), so a long run can be resumed or extended
method by method; ``--functions`` and ``--dims`` pick a BBOB subset.
NNI 3.0 runs in its own virtualenv (.bench/nni30, created on first use with
``pip install nni==3.0``) and is served over a pipe by ``_nni30_worker.py``; when it is missing its
columns are skipped with a message, as is ``Auto`` until the tuner registry has it.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import atexit  # noqa: E402
import importlib  # noqa: E402
import inspect  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from bbob import DIMENSIONS, GROUPS, bbob_names, bbob_problem, group_of, parse_name  # noqa: E402
from ml_tasks import ML_TASKS  # noqa: E402
from peers import BENCH_DIR, NNI30_PYTHON, ensure_nni30_venv, quietly  # noqa: E402
from problems import HEADLINE, PROBLEMS, Problem, apply_q  # noqa: E402

__all__ = ["METHODS", "SUITES", "Method", "main", "report", "run_trace", "suite_problems"]

BUDGETS = (25, 50, 100, 200)
"""Fixed budgets; BBOB also reads 10*d."""
MAX_BUDGET = max(BUDGETS)
BASELINE = "optuna_tpe"
SUITES = ("bbob", "classic", "ml", "all")
LATENCY_PROBLEMS = ("hartmann6", "mixed")
EPS = 1e-8
"""Regret below this counts as solved (BBOB's final target precision); keeps ratios finite."""


# -- methods -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Method:
    name: str
    label: str
    kind: str
    """'nni' (a tuner class of this package), 'registry' (a tuner by its built-in name: Auto),
    'optuna', 'hyperopt', 'smac' or 'nni30'."""
    target: str = ""
    kwargs: dict[str, Any] = field(default_factory=dict)
    quick_budget: int = MAX_BUDGET
    """The longest run under ``--quick`` (slow peers stop earlier)."""
    continuous_only: bool = False
    parallel: bool = False
    """Also run with ``--concurrency``."""
    latency: bool = False
    """Measure ask latency (5,000 trials too when ``latency_5000``)."""
    latency_5000: bool = False


METHODS: list[Method] = [
    Method("tpe", "ours TPE", "nni", "nni.algorithms.hpo.tpe_tuner.TpeTuner", parallel=True, latency=True),
    Method("gp", "ours GP", "nni", "nni.algorithms.hpo.gp_tuner.GPTuner", {"optimize_mode": "minimize"},
           quick_budget=100, parallel=True, latency=True, latency_5000=True),
    Method("auto", "ours Auto", "registry", "Auto", {"optimize_mode": "minimize"}, quick_budget=100, parallel=True, latency=True,
           latency_5000=True),
    Method("random", "ours Random", "nni", "nni.algorithms.hpo.random_tuner.RandomTuner"),
    Method("optuna_tpe", "Optuna TPE (default)", "optuna", "tpe", parallel=True, latency=True),
    Method("optuna_tpe_indep", "Optuna TPE univariate", "optuna", "tpe_indep"),
    Method("optuna_gp", "Optuna GPSampler", "optuna", "gp", quick_budget=100),
    Method("optuna_cmaes", "Optuna CmaEsSampler", "optuna", "cmaes", continuous_only=True),
    Method("smac", "SMAC3 HPO facade", "smac", quick_budget=25),
    Method("hyperopt_tpe", "hyperopt TPE", "hyperopt", "tpe"),
    Method("nni30_tpe", "NNI 3.0 TPE", "nni30", "tpe", latency=True),
    Method("nni30_gp", "NNI 3.0 GP", "nni30", "gp", quick_budget=50),
]
"""The default line-up, in the order tables print them."""

EXTRA_METHODS: list[Method] = [
    Method("tpe_indep", "ours TPE univariate", "nni", "nni.algorithms.hpo.tpe_tuner.TpeTuner",
           {"tpe_args": {"multivariate": False}}),
    Method("evolution", "ours Evolution", "nni", "nni.algorithms.hpo.evolution_tuner.EvolutionTuner",
           {"optimize_mode": "minimize"}),
    Method("anneal", "ours Anneal", "nni", "nni.algorithms.hpo.hyperopt_tuner.HyperoptTuner",
           {"algorithm_name": "anneal"}),
    Method("optuna_tpe_mv", "Optuna TPE multivariate", "optuna", "tpe_mv"),
    Method("optuna_random", "Optuna Random", "optuna", "random"),
]
"""Named with ``--methods`` only. Optuna 5's default TPE is already multivariate, so ``optuna_tpe_mv``
repeats the baseline run for run; the line-up compares the univariate one instead."""

METHOD_BY_NAME = {m.name: m for m in [*METHODS, *EXTRA_METHODS]}
SLOW = ("gp", "auto", "optuna_gp", "nni30_gp", "smac")
"""The costly methods, cheapest first: scheduled after the rest, so an interrupted ``--cache`` run holds
whole methods, and given fewer latency asks."""


def _load_class(method: Method) -> type:
    if method.kind == "registry":
        from nni.algorithms.hpo.builtin import BUILTIN_ALGORITHMS

        info = BUILTIN_ALGORITHMS.get(method.target.lower())
        if info is None:
            raise ImportError(f"no {method.target!r} in nni.algorithms.hpo's registry yet")
        return getattr(importlib.import_module(info.module), info.class_name)
    module, _, name = method.target.rpartition(".")
    return getattr(importlib.import_module(module), name)


def method_available(method: Method) -> str | None:
    """None when the method can run here, else why not."""
    if method.kind in ("nni", "registry"):
        try:
            _load_class(method)
        except (ImportError, AttributeError) as error:
            return f"not available ({error})"
    if method.kind == "nni30" and not NNI30_PYTHON.exists():
        return "NNI 3.0 virtualenv missing"
    return None


def is_continuous(space: dict[str, Any]) -> bool:
    return all(spec["_type"] in ("uniform", "loguniform") for spec in space.values())


# -- problems ------------------------------------------------------------------------------------

def suite_problems(suite: str) -> list[str]:
    """Problem names of a suite."""
    if suite == "bbob":
        return bbob_names()
    if suite == "classic":
        return list(PROBLEMS)
    if suite == "ml":
        return list(ML_TASKS)
    if suite == "all":
        return list(dict.fromkeys([*bbob_names(), *PROBLEMS, *ML_TASKS]))
    raise ValueError(f"unknown suite {suite!r}; choose from {', '.join(SUITES)}")


def get_problem(name: str, seed: int) -> Problem:
    """A problem by name; BBOB problems take their instance from the seed."""
    if parse_name(name) is not None:
        return bbob_problem(name, seed)
    if name in ML_TASKS:
        return ML_TASKS[name]
    if name in PROBLEMS:
        return PROBLEMS[name]
    raise KeyError(f"unknown problem {name!r}")


def known_problem(name: str) -> bool:
    return parse_name(name) is not None or name in ML_TASKS or name in PROBLEMS


# -- one run: proposals and their losses, in evaluation order -------------------------------------

Trace = list[tuple[dict[str, Any], float]]


def _batches(budget: int, concurrency: int) -> list[range]:
    return [range(start, min(start + concurrency, budget)) for start in range(0, budget, concurrency)]


def _make_nni(method: Method, seed: int) -> Any:
    cls = _load_class(method)
    accepted = set(inspect.signature(cls).parameters)
    kwargs = {k: v for k, v in method.kwargs.items() if k in accepted}
    if "seed" in accepted:
        kwargs["seed"] = seed
    return cls(**kwargs)


def _run_nni(method: Method, problem: Problem, seed: int, budget: int, concurrency: int) -> Trace:
    tuner = _make_nni(method, seed)
    tuner.update_search_space(problem.space)
    trace: Trace = []
    for batch in _batches(budget, concurrency):
        asked = [(i, tuner.generate_parameters(i)) for i in batch]
        for i, params in asked:
            loss = problem.objective(params)
            tuner.receive_trial_result(i, params, loss)
            tuner.trial_end(i, True)
            trace.append((params, loss))
    return trace


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
    if kind == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise ValueError(kind)


Draw = Callable[[str, str, Any], Any]
"""(key, NNI type, NNI value) -> the raw sample: an option index for a choice, else a number."""


def decode_space(space: dict[str, Any], draw: Draw, prefix: str = "") -> dict[str, Any]:
    """NNI parameters from a peer's raw samples (nested choices are conditional), NNI's q-rounding applied."""
    out: dict[str, Any] = {}
    for name, spec in space.items():
        if name == "_name":
            continue
        key, kind, value = prefix + name, spec["_type"], spec["_value"]
        if kind not in ("choice", "randint", "uniform", "quniform", "loguniform", "qloguniform"):
            raise ValueError(f"the benchmark's peer adapters have no {kind}")
        raw = draw(key, kind, value)
        if kind == "choice":
            option = value[int(raw)]
            if isinstance(option, dict) and "_name" in option:
                option = {"_name": option["_name"], **decode_space(option, draw, f"{key}.{option['_name']}.")}
            out[name] = option
        elif kind == "randint":
            out[name] = int(raw)
        elif kind in ("quniform", "qloguniform"):
            out[name] = apply_q(float(raw), value[0], value[1], value[2])
        else:
            out[name] = float(raw)
    return out


def optuna_params(trial: Any, space: dict[str, Any]) -> dict[str, Any]:
    """Sample an NNI search space define-by-run with an Optuna trial."""
    def draw(key: str, kind: str, value: Any) -> Any:
        if kind == "choice":
            return trial.suggest_categorical(key, list(range(len(value))))
        if kind == "randint":
            return trial.suggest_int(key, int(value[0]), int(value[1]) - 1)
        return trial.suggest_float(key, value[0], value[1], log=kind in ("loguniform", "qloguniform"))

    return decode_space(space, draw)


def _optuna_study(kind: str, seed: int) -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    return optuna.create_study(sampler=_optuna_sampler(kind, seed))


def _run_optuna(method: Method, problem: Problem, seed: int, budget: int, concurrency: int) -> Trace:
    study = _optuna_study(method.target, seed)
    trace: Trace = []
    for batch in _batches(budget, concurrency):
        asked = []
        for _ in batch:
            trial = study.ask()
            asked.append((trial, optuna_params(trial, problem.space)))
        for trial, params in asked:
            loss = problem.objective(params)
            study.tell(trial, loss)
            trace.append((params, loss))
    return trace


def hyperopt_space(space: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """An NNI search space as a hyperopt space (q-types sampled continuously, rounded by NNI's rule)."""
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
            out[name] = hp.loguniform(key, math.log(value[0]), math.log(value[1]))
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


def _run_hyperopt(method: Method, problem: Problem, seed: int, budget: int, concurrency: int) -> Trace:
    from hyperopt import STATUS_OK, Trials, fmin, tpe

    logging.getLogger("hyperopt").setLevel(logging.ERROR)
    trace: Trace = []

    def objective(sample: Any) -> dict[str, Any]:
        params = hyperopt_to_nni(sample, problem.space)
        loss = problem.objective(params)
        trace.append((params, loss))
        return {"loss": loss, "status": STATUS_OK}

    fmin(objective, hyperopt_space(problem.space), algo=tpe.suggest, max_evals=budget, trials=Trials(),
         rstate=np.random.default_rng(seed), show_progressbar=False)
    return trace


def smac_space(space: dict[str, Any], seed: int) -> Any:
    """An NNI search space as a ConfigSpace (choices by option index; nested choices as conditions)."""
    from ConfigSpace import Categorical, ConfigurationSpace, EqualsCondition, Float, Integer

    configspace = ConfigurationSpace(seed=seed)

    def add(part: dict[str, Any], prefix: str, parent: Any, parent_value: int | None) -> None:
        for name, spec in part.items():
            if name == "_name":
                continue
            key, kind, value = prefix + name, spec["_type"], spec["_value"]
            hyperparameter: Any
            if kind == "choice":
                hyperparameter = Categorical(key, list(range(len(value))))
            elif kind == "randint":
                hyperparameter = Integer(key, (int(value[0]), int(value[1]) - 1))
            elif kind in ("uniform", "quniform", "loguniform", "qloguniform"):
                hyperparameter = Float(key, (float(value[0]), float(value[1])), log="log" in kind)
            else:
                raise ValueError(f"the benchmark's SMAC adapter has no {kind}")
            configspace.add(hyperparameter)
            if parent is not None:
                configspace.add(EqualsCondition(hyperparameter, parent, parent_value))
            if kind == "choice":
                for index, option in enumerate(value):
                    if isinstance(option, dict) and "_name" in option:
                        add(option, f"{key}.{option['_name']}.", hyperparameter, index)

    add(space, "", None, None)
    return configspace


def _run_smac(method: Method, problem: Problem, seed: int, budget: int, concurrency: int) -> Trace:
    from smac import HyperparameterOptimizationFacade, Scenario
    from smac.runhistory.dataclasses import TrialValue

    trace: Trace = []
    with tempfile.TemporaryDirectory() as folder:
        scenario = Scenario(smac_space(problem.space, seed), deterministic=True, n_trials=budget, seed=seed,
                            output_directory=Path(folder) / "smac")
        facade = HyperparameterOptimizationFacade(scenario, lambda config, seed=0: 0.0, overwrite=True,
                                                  logging_level=logging.ERROR)
        for _ in range(budget):
            info = facade.ask()
            config = dict(info.config)
            params = decode_space(problem.space, _reader(config))
            loss = problem.objective(params)
            facade.tell(info, TrialValue(cost=loss))
            trace.append((params, loss))
    return trace


def _reader(config: dict[str, Any]) -> Draw:
    """A Draw that reads a sampled configuration (SMAC's) by key."""
    def draw(key: str, kind: str, value: Any) -> Any:
        return config[key]

    return draw


class Nni30:
    """One NNI 3.0 worker process (``_nni30_worker.py`` in its virtualenv), kept for the pool process's life."""

    _process: subprocess.Popen[str] | None = None

    @classmethod
    def call(cls, **request: Any) -> dict[str, Any]:
        if cls._process is None or cls._process.poll() is not None:
            cls._process = subprocess.Popen(
                [str(NNI30_PYTHON), "-P", str(HERE / "_nni30_worker.py")], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, text=True, cwd=str(BENCH_DIR))
            atexit.register(cls._process.kill)
        assert cls._process.stdin is not None and cls._process.stdout is not None
        cls._process.stdin.write(json.dumps(request) + "\n")
        cls._process.stdin.flush()
        line = cls._process.stdout.readline()
        if not line:
            raise RuntimeError("the NNI 3.0 worker exited")
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"NNI 3.0 worker: {reply['error']}")
        return reply


def _run_nni30(method: Method, problem: Problem, seed: int, budget: int, concurrency: int) -> Trace:
    Nni30.call(op="start", tuner=method.target, space=problem.space, seed=seed)
    trace: Trace = []
    for batch in _batches(budget, concurrency):
        asked = [(i, Nni30.call(op="ask", id=i)["params"]) for i in batch]
        for i, params in asked:
            loss = problem.objective(params)
            Nni30.call(op="tell", id=i, params=params, value=loss)
            trace.append((params, loss))
    return trace


RUNNERS: dict[str, Callable[[Method, Problem, int, int, int], Trace]] = {
    "nni": _run_nni, "registry": _run_nni, "optuna": _run_optuna, "hyperopt": _run_hyperopt,
    "smac": _run_smac, "nni30": _run_nni30,
}


@quietly
def run_trace(method_name: str, problem_name: str, seed: int, budget: int, concurrency: int = 1) -> Trace:
    """Proposals and losses of one run, asking ``concurrency`` proposals before telling their results."""
    np.seterr(all="ignore")
    method = METHOD_BY_NAME[method_name]
    return RUNNERS[method.kind](method, get_problem(problem_name, seed), seed, budget, concurrency)


def run_one(method_name: str, problem_name: str, seed: int, budget: int, concurrency: int) -> tuple[list[float], float]:
    """Losses of one run and its wall time (what the pool workers return)."""
    start = time.perf_counter()
    trace = run_trace(method_name, problem_name, seed, budget, concurrency)
    return [loss for _, loss in trace], time.perf_counter() - start


# -- ask latency ---------------------------------------------------------------------------------

def _history(problem: Problem, n: int, seed: int) -> list[dict[str, Any]]:
    from nni.search_space import parse_search_space

    space, rng = parse_search_space(problem.space), np.random.default_rng(seed)
    records = []
    for _ in range(n):
        params = space.sample(rng)
        records.append({"parameter": params, "value": problem.objective(params)})
    return records


@quietly
def latency_one(method_name: str, problem_name: str, history: int, asks: int) -> float:
    """Median seconds per ask with ``history`` random finished trials already known to the method."""
    method, problem = METHOD_BY_NAME[method_name], get_problem(problem_name, 0)
    spent: list[float] = []
    if method.kind == "nni30":
        Nni30.call(op="start", tuner=method.target, space=problem.space, seed=0)
        Nni30.call(op="import", data=_history(problem, history, 0))
        for i in range(asks):
            reply = Nni30.call(op="ask", id=history + i)
            spent.append(reply["seconds"])
            Nni30.call(op="tell", id=history + i, params=reply["params"], value=problem.objective(reply["params"]))
    elif method.kind in ("nni", "registry"):
        tuner = _make_nni(method, 0)
        tuner.update_search_space(problem.space)
        tuner.import_data(_history(problem, history, 0))
        for i in range(asks):
            start = time.perf_counter()
            params = tuner.generate_parameters(i)
            spent.append(time.perf_counter() - start)
            tuner.receive_trial_result(i, params, problem.objective(params))
    elif method.kind == "optuna":
        seeded = _optuna_study("random", 0)
        for _ in range(history):
            trial = seeded.ask()
            seeded.tell(trial, problem.objective(optuna_params(trial, problem.space)))
        study = _optuna_study(method.target, 0)
        study.add_trials(seeded.trials)
        for _ in range(asks):
            start = time.perf_counter()
            trial = study.ask()
            params = optuna_params(trial, problem.space)
            spent.append(time.perf_counter() - start)
            study.tell(trial, problem.objective(params))
    else:
        raise ValueError(f"no latency measurement for {method.label}")
    return float(np.median(spent))


# -- NNI 3.0 virtualenv ----------------------------------------------------------------------------

def nni30_unavailable(names: list[str]) -> dict[str, str]:
    """Why each of the NNI 3.0 methods ``names`` cannot run (absent: it runs), from .bench/nni30
    (created when missing) and one short run of each, past GP's 10 start-up points: NNI 3.0's GP
    fails on every SciPy that installs on Python 3.10+ (it indexes ``minimize``'s scalar result)."""
    if not names:
        return {}
    reason = ensure_nni30_venv()
    if reason is not None:
        return dict.fromkeys(names, reason)
    failing = {}
    for name in names:
        try:
            _run_nni30(METHOD_BY_NAME[name], PROBLEMS["branin"], 0, 12, 1)
        except (subprocess.SubprocessError, OSError, RuntimeError) as error:
            first_line = str(error).partition("\n")[0] or repr(error)
            failing[name] = f"NNI 3.0 does not run here ({first_line})"
    return failing


# -- report ----------------------------------------------------------------------------------------

Key = tuple[str, str, int, int]
"""(method, problem, seed, concurrency)."""


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value == 0:
        return "0"
    if abs(value) >= 100 or abs(value) < 0.01:
        return f"{value:.2e}"
    return f"{value:.3f}"


def _ratio_cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _geo(values: list[float | None]) -> float | None:
    """Geometric mean, None when any value is missing (a run shorter than the budget)."""
    if not values or any(v is None for v in values):
        return None
    return math.exp(float(np.mean([math.log(v) for v in values if v is not None])))


def _budget_of(label: str, problem: str) -> int | None:
    if label != "10d":
        return int(label)
    parsed = parse_name(problem)
    return None if parsed is None else 10 * parsed[1]


class Scores:
    """Mean regrets over seeds per (method, problem, budget label, concurrency), and ratios of them."""

    def __init__(self, results: dict[Key, list[float]], plan: dict[str, list[int]],
                 optima: dict[tuple[str, int], float], floors: dict[str, float]) -> None:
        self.results, self.plan, self.optima, self.floors = results, plan, optima, floors

    def mean_regret(self, method: str, problem: str, label: str, concurrency: int = 1) -> float | None:
        budget = _budget_of(label, problem)
        if budget is None:
            return None
        regrets = []
        for seed in self.plan[problem]:
            losses = self.results.get((method, problem, seed, concurrency))
            if losses is None or len(losses) < budget:
                return None
            regrets.append(max(min(losses[:budget]) - self.optima[(problem, seed)], 0.0))
        return float(np.mean(regrets))

    def ratio(self, method: str, problem: str, label: str, base: str = BASELINE, concurrency: int = 1,
              base_concurrency: int = 1) -> float | None:
        mine = self.mean_regret(method, problem, label, concurrency)
        theirs = self.mean_regret(base, problem, label, base_concurrency)
        floor = self.floors.get(problem, EPS)
        return None if mine is None or theirs is None else (mine + floor) / (theirs + floor)


def _table(title: str, methods: list[str], columns: list[str], cell: Callable[[str, str], str]) -> None:
    width = max(len(METHOD_BY_NAME[m].label) for m in methods) + 2
    widths = [max(12, len(c) + 2) for c in columns]
    print(f"\n== {title} ==")
    print("method".ljust(width) + "".join(c.rjust(w) for c, w in zip(columns, widths, strict=True)))
    for m in methods:
        print(METHOD_BY_NAME[m].label.ljust(width) + "".join(cell(m, c).rjust(w) for c, w in zip(columns, widths, strict=True)))


def _problem_sets(problems: list[str]) -> dict[str, list[str]]:
    """Named sets the ratios are averaged over: BBOB groups, dimensions and all; classic; ML."""
    bbob = [p for p in problems if parse_name(p) is not None]
    sets: dict[str, list[str]] = {}
    for group in GROUPS:
        sets[group] = [p for p in bbob if group_of(p) == group]
    for dimension in DIMENSIONS:
        sets[f"d={dimension}"] = [p for p in bbob if (parse_name(p) or (0, 0))[1] == dimension]
    sets["bbob"] = bbob
    sets["classic7"] = [p for p in HEADLINE if p in problems]
    sets["ml"] = [p for p in ML_TASKS if p in problems]
    return {name: members for name, members in sets.items() if members}


def report(results: dict[Key, list[float]], methods: list[str], problems: list[str], plan: dict[str, list[int]],
           optima: dict[tuple[str, int], float], floors: dict[str, float], budgets: list[str], concurrency: int,
           latencies: dict[tuple[str, str, int], float], baseline: str = BASELINE) -> None:
    """Print every table: ratios per budget and problem set, targets, per-problem regrets, parallel loss, latency."""
    scores = Scores(results, plan, optima, floors)
    runs = sum(len(plan[p]) for p in problems)
    sets = _problem_sets(problems)
    base_label = METHOD_BY_NAME[baseline].label
    has_base = baseline in methods
    bbob_sets = [s for s in sets if s not in ("classic7", "ml")]
    others = [p for p in problems if parse_name(p) is None]

    def set_ratio(m: str, members: list[str], label: str, **kwargs: Any) -> float | None:
        return _geo([scores.ratio(m, p, label, **kwargs) for p in members])

    def set_cell(m: str, column: str, **kwargs: Any) -> str:
        name, label = column.split("@")
        return _ratio_cell(set_ratio(m, sets[name], label, **kwargs))

    def set_cells(label: str) -> Callable[[str, str], str]:
        return lambda m, c: _ratio_cell(set_ratio(m, sets[c], label, base=baseline))

    def regret_cells(label: str) -> Callable[[str, str], str]:
        return lambda m, p: _fmt(scores.mean_regret(m, p, label))

    def ratio_cells(label: str) -> Callable[[str, str], str]:
        return lambda m, p: _ratio_cell(scores.ratio(m, p, label, base=baseline))

    summary = [s for s in ("bbob", "classic7", "ml") if s in sets]
    columns = [f"{s}@{b}" for s in summary for b in budgets if not (b == "10d" and s != "bbob")]
    if has_base and problems:
        for label in budgets:
            if label == "10d" and "bbob" not in sets:
                continue
            for kind, names in (("BBOB", bbob_sets), ("problem sets", [s for s in sets if s in ("classic7", "ml")])):
                if names:
                    _table(f"{kind}: geo-mean regret ratio vs {base_label} after {label} evaluations "
                           f"({runs} runs per method; lower is better)", methods, names, set_cells(label))
        _table(f"summary: geo-mean regret ratio vs {base_label}, problem set@budget", methods, columns,
               lambda m, c: set_cell(m, c, base=baseline))
        _targets(methods, sets, budgets, set_ratio, baseline)
    for label in budgets if others else ():
        if label == "10d":
            continue
        _table(f"mean regret over seeds after {label} evaluations", methods, others, regret_cells(label))
        if has_base:
            _table(f"regret ratio vs {base_label} after {label} evaluations", methods, others, ratio_cells(label))
    parallel = [m for m in methods if any(k[0] == m and k[3] == concurrency for k in results)] if concurrency > 1 else []
    if parallel:
        fixed = [c for c in columns if not c.endswith("@10d")]
        _table(f"parallel quality loss: regret with {concurrency} proposals asked before any result / sequential "
               "regret at the same evaluations (geo-mean; 1 = no loss)", parallel, fixed,
               lambda m, c: set_cell(m, c, base=m, concurrency=concurrency))
        if baseline in parallel:
            _table(f"parallel ({concurrency}) regret ratio vs {base_label} in parallel too", parallel, fixed,
                   lambda m, c: set_cell(m, c, base=baseline, concurrency=concurrency,
                                         base_concurrency=concurrency))
    if latencies:
        names = sorted({f"{p}@{h}" for _, p, h in latencies}, key=lambda c: (int(c.split("@")[1]), c))
        _table("ask latency, ms per ask (median), problem@trials in the history",
               [m for m in methods if any(k[0] == m for k in latencies)], names,
               lambda m, c: (f"{latencies[(m, c.split('@')[0], int(c.split('@')[1]))] * 1000:.1f}"
                             if (m, c.split("@")[0], int(c.split("@")[1])) in latencies else "-"))


_TARGETS = (("tpe", "optuna_tpe"), ("gp", "optuna_gp"), ("auto", "optuna*"))
"""Ours against its reference: Optuna's TPE, Optuna's GPSampler, and for Auto the best Optuna sampler."""


def _targets(methods: list[str], sets: dict[str, list[str]], budgets: list[str],
             set_ratio: Callable[..., float | None], baseline: str) -> None:
    """Issue 12's targets: ours against its reference per budget, and ours against the best peer per group."""
    headline = [*sets.get("bbob", []), *sets.get("ml", [])]
    groups = [g for g in GROUPS if g in sets]
    if not headline:
        return
    peers = [m for m in methods if METHOD_BY_NAME[m].kind not in ("nni", "registry")]
    width = 36
    print(f"\n== targets: geo-mean regret ratio over BBOB{' + ML' if 'ml' in sets else ''} "
          "(ours / reference; worst group: ours / best peer in that group) ==")
    print("comparison".ljust(width) + "".join(b.rjust(9) for b in budgets))
    for ours, reference in _TARGETS:
        if ours not in methods:
            continue
        references = [m for m in methods if m.startswith("optuna")] if reference == "optuna*" else [reference]
        references = [m for m in references if m in methods]
        if not references:
            continue
        cells = []
        for label in budgets:
            mine = set_ratio(ours, headline, label, base=baseline)
            theirs = [r for r in (set_ratio(m, headline, label, base=baseline) for m in references) if r is not None]
            cells.append(_ratio_cell(mine / min(theirs) if mine is not None and theirs else None))
        name = "best Optuna sampler" if reference == "optuna*" else METHOD_BY_NAME[reference].label
        print(f"{METHOD_BY_NAME[ours].label} / {name}".ljust(width) + "".join(c.rjust(9) for c in cells))
        cells = []
        for label in budgets:
            worst: float | None = None
            for group in groups:
                mine = set_ratio(ours, sets[group], label, base=baseline)
                theirs = [r for r in (set_ratio(m, sets[group], label, base=baseline) for m in peers)
                          if r is not None]
                if mine is not None and theirs:
                    worst = max(worst or 0.0, mine / min(theirs))
            cells.append(_ratio_cell(worst))
        print(f"{METHOD_BY_NAME[ours].label}, worst group / best peer".ljust(width)
              + "".join(c.rjust(9) for c in cells))


def reference_values(results: dict[Key, list[float]], problems: list[str],
                     plan: dict[str, list[int]]) -> tuple[dict[tuple[str, int], float], dict[str, float]]:
    """The optimum per (problem, seed) and the regret floor per problem that ratios add to both sides.

    BBOB and the analytic problems know their optimum (floor: BBOB's 1e-8 target precision). A real
    task does not: its optimum is the best value any run found, and its floor 1% of the gap from a
    median first (random) evaluation to that best, so that the run which found the best is not
    credited with an unbounded ratio.
    """
    optima: dict[tuple[str, int], float] = {}
    floors: dict[str, float] = {}
    for p in problems:
        runs = [v for k, v in results.items() if k[1] == p and v]
        observed = min(min(v) for v in runs) if runs else math.inf
        for s in plan[p]:
            known = get_problem(p, s).optimum
            # BBOB's instances differ per seed, so only its own optimum applies
            optima[(p, s)] = known if parse_name(p) is not None else min(known, observed)
        if math.isinf(get_problem(p, 0).optimum) and runs:
            floors[p] = max(0.01 * (float(np.median([v[0] for v in runs])) - observed), EPS)
    return optima, floors


# -- main ------------------------------------------------------------------------------------------

def _run_jobs(jobs: list[tuple[str, str, int, int, int]], n_workers: int,
              save: Callable[[dict[Key, list[float]]], None]) -> tuple[dict[Key, list[float]], dict[str, float]]:
    """Run (method, problem, seed, budget, concurrency) jobs, in a process pool unless ``n_workers`` is 1.

    ``save`` gets the results so far every 20 runs, so an interrupted run keeps them (``--cache``).
    """
    results: dict[Key, list[float]] = {}
    times: dict[str, float] = {}
    started = time.perf_counter()

    def store(job: tuple[str, str, int, int, int], outcome: tuple[list[float], float]) -> None:
        m, p, s, _, c = job
        results[(m, p, s, c)] = outcome[0]
        times[m] = times.get(m, 0.0) + outcome[1]
        if len(results) % 20 == 0:
            print(f"  {len(results)}/{len(jobs)} runs, {time.perf_counter() - started:.0f} s", flush=True)
            save(results)

    if n_workers == 1:
        for job in jobs:
            store(job, run_one(*job))
        return results, times
    with ProcessPoolExecutor(max_workers=n_workers) as pool:
        futures = [(job, pool.submit(run_one, *job)) for job in jobs]
        for job, future in futures:
            store(job, future.result())
    return results, times


def _measure_latency(methods: list[str], quick: bool) -> dict[tuple[str, str, int], float]:
    """Ask latency, one measurement at a time in a fresh process each so they do not compete for CPU."""
    latencies: dict[tuple[str, str, int], float] = {}
    plan = [(m, p, 1000) for m in methods if METHOD_BY_NAME[m].latency for p in LATENCY_PROBLEMS]
    plan += [(m, p, 5000) for m in methods if METHOD_BY_NAME[m].latency_5000 for p in LATENCY_PROBLEMS]
    print(f"measuring ask latency ({len(plan)} settings) ...", flush=True)
    for m, p, history in plan:
        asks = (3 if quick else 10) if history > 1000 or m in SLOW else (10 if quick else 30)
        with ProcessPoolExecutor(max_workers=1) as pool:
            latencies[(m, p, history)] = pool.submit(latency_one, m, p, history, asks).result()
    return latencies


def _seeds_for(problem: str, seeds: list[int], quick: bool) -> list[int]:
    """Every seed, except that ``--quick`` gives each BBOB problem one seed (instance), rotating over them."""
    parsed = parse_name(problem)
    if not quick or parsed is None:
        return seeds
    return [seeds[(parsed[0] + parsed[1]) % len(seeds)]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", choices=SUITES, default="bbob", help="problem suite (default bbob)")
    parser.add_argument("--quick", action="store_true", help="3 seeds, slow peers to 100 evaluations, fewer asks")
    parser.add_argument("--seeds", type=int, help="number of seeds (default 10, 3 with --quick)")
    parser.add_argument("--first-seed", type=int, default=0,
                        help="the first seed (default 0): seeds 10-19 are --first-seed 10 --seeds 10")
    parser.add_argument("--methods", help="comma-separated subset of: " + ", ".join(METHOD_BY_NAME))
    parser.add_argument("--problems", help="comma-separated problem names (instead of the suite's), "
                        "e.g. bbob_f01_d02 or " + ", ".join([*PROBLEMS, *ML_TASKS]))
    parser.add_argument("--functions", help="BBOB functions to keep, e.g. 1,8,15 (default all 24)")
    parser.add_argument("--dims", help="BBOB dimensions to keep, e.g. 2,10 (default 2,5,10,20)")
    parser.add_argument("--budget", type=int, default=MAX_BUDGET, help="evaluations per run (default 200)")
    parser.add_argument("--concurrency", type=int, default=1,
                        help="also run the parallel-capable methods asking this many proposals per batch")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="worker processes (1: run in this process)")
    parser.add_argument("--baseline", default=BASELINE, help=f"the method ratios divide by (default {BASELINE})")
    parser.add_argument("--no-latency", action="store_true", help="skip the ask-latency measurement")
    parser.add_argument("--latency-only", action="store_true", help="only measure ask latency")
    parser.add_argument("--cache", help="JSON file: reuse runs stored there, add the new ones")
    parser.add_argument("--json", help="write raw results (losses per run, optima) to this file")
    args = parser.parse_args(argv)

    if args.budget < 1 or args.concurrency < 1 or args.jobs < 1 or (args.seeds is not None and args.seeds < 1):
        parser.error("--budget, --concurrency, --jobs and --seeds must be positive")
    if args.first_seed < 0:
        parser.error("--first-seed must not be negative")
    seeds = list(range(args.first_seed, args.first_seed + (args.seeds or (3 if args.quick else 10))))
    problems = args.problems.split(",") if args.problems else suite_problems(args.suite)
    if args.functions or args.dims:
        functions = {int(f) for f in args.functions.split(",")} if args.functions else set(range(1, 25))
        dims = {int(d) for d in args.dims.split(",")} if args.dims else set(DIMENSIONS)
        problems = [p for p in problems if (parse_name(p) or (0, 0)) == (0, 0)
                    or ((parse_name(p) or (0, 0))[0] in functions and (parse_name(p) or (0, 0))[1] in dims)]
    plan = {p: _seeds_for(p, seeds, args.quick) for p in problems}
    wanted = args.methods.split(",") if args.methods else [m.name for m in METHODS]
    for name in [*wanted, args.baseline]:
        if name not in METHOD_BY_NAME:
            parser.error(f"unknown method {name!r}")
    for name in problems:
        if not known_problem(name):
            parser.error(f"unknown problem {name!r}")
    failing = nni30_unavailable([m for m in wanted if METHOD_BY_NAME[m].kind == "nni30"])
    for name, why in failing.items():
        print(f"{METHOD_BY_NAME[name].label} skipped: {why}")
    wanted = [m for m in wanted if m not in failing]
    methods = []
    for name in wanted:
        reason = method_available(METHOD_BY_NAME[name])
        if reason:
            print(f"{METHOD_BY_NAME[name].label} skipped: {reason}")
        else:
            methods.append(name)
    budgets = [str(b) for b in BUDGETS if b < args.budget] + [str(args.budget)]
    if any(parse_name(p) for p in problems):
        budgets.insert(0, "10d")

    cache: dict[str, list[float]] = {}
    if args.cache and Path(args.cache).exists():
        cache = json.loads(Path(args.cache).read_text())["runs"]
    jobs = []
    for m in methods:
        method = METHOD_BY_NAME[m]
        budget = min(args.budget, method.quick_budget) if args.quick else args.budget
        modes = [1, args.concurrency] if method.parallel and args.concurrency > 1 else [1]
        for p in problems:
            if method.continuous_only and not is_continuous(get_problem(p, 0).space):
                continue
            for s in plan[p]:
                for c in modes:
                    length = min(budget, 100) if args.quick and c > 1 else budget
                    if f"{m}|{p}|{s}|{c}" not in cache or len(cache[f"{m}|{p}|{s}|{c}"]) < length:
                        jobs.append((m, p, s, length, c))
    if args.latency_only:
        jobs, problems = [], []
    jobs.sort(key=lambda j: (SLOW.index(j[0]) + 1 if j[0] in SLOW else 0, j[4]))
    started = time.perf_counter()
    print(f"{len(jobs)} runs ({len(methods)} methods x {len(problems)} problems, {sum(map(len, plan.values()))} "
          f"problem-seeds, up to "
          f"{max((j[3] for j in jobs), default=0)} evaluations, concurrency 1" + (f" and {args.concurrency}" if args.concurrency > 1 else "")
          + f"; {len(cache)} cached) on {args.jobs} processes", flush=True)

    def save(new: dict[Key, list[float]]) -> None:
        if args.cache:
            runs = {**cache, **{"|".join(map(str, k)): v for k, v in new.items()}}
            Path(args.cache).write_text(json.dumps({"runs": runs}))

    results, times = _run_jobs(jobs, args.jobs, save)
    for key, losses in cache.items():
        parts = key.split("|")
        results.setdefault((parts[0], parts[1], int(parts[2]), int(parts[3])), losses)
    optima, floors = reference_values(results, problems, plan)
    if args.cache or args.json:
        raw = {"runs": {"|".join(map(str, k)): v for k, v in results.items()},
               "optima": {f"{p}|{s}": v for (p, s), v in optima.items()}, "floors": floors}
        for path in filter(None, {args.cache, args.json}):
            Path(path).write_text(json.dumps(raw))

    latencies = {} if args.no_latency else _measure_latency(methods, args.quick)
    report(results, methods, problems, plan, optima, floors, budgets, args.concurrency, latencies, args.baseline)
    print(f"\ntotal {time.perf_counter() - started:.0f} s; CPU seconds per method: "
          + ", ".join(f"{m} {t:.0f}" for m, t in sorted(times.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
