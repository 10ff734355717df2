"""Multi-objective benchmark: this package's tuners against Optuna 5, pymoo and random search.

Problems (benchmarks/mo_problems.py): COCO's bbob-biobj (d = 2, 5, 10), pymoo's ZDT1-3 (d = 10)
and DTLZ2 (3 objectives), a mixed-type ML task (a random forest on sklearn's digits: accuracy
against model size, with log, int and choice parameters) and constrained problems (C2-DTLZ2,
MW1-3). Methods: ours through the Tuner ask/tell interface with ``set_objectives`` (Auto, TPE, GP,
Evolution when the registry has them with ``supports_objectives``, and Random); Optuna's
NSGAIISampler, NSGAIIISampler, TPESampler and GPSampler with the same directions and a
``constraints_func``; pymoo's NSGA-II (ask/tell, population 20); independent uniform random.

Each run is one sequential optimisation of the largest budget, read at every budget (50, 100,
200). Hypervolume (moocore) of the feasible points, against a fixed reference point per problem;
regret = best known hypervolume (the true front's where pymoo has it, else the best of all runs
of all methods) minus the run's, divided by the best known (so problems weigh alike). Printed per
budget: each method's geometric-mean regret ratio against the best Optuna sampler at that budget
(the one of least geometric-mean regret); on constrained problems the median first feasible
trial and the final feasible regret ratio; ask latency with 1,000 results in the history.

    .venv/bin/python benchmarks/multiobjective.py --quick          # 3 seeds, 18 problems (< 30 min, 2 cores)
    .venv/bin/python benchmarks/multiobjective.py --json out.json  # full: 10 seeds, 173 problems (hours)
    .venv/bin/python benchmarks/multiobjective.py --merge a.json b.json  # one report on runs made in chunks

Optuna's GPSampler costs seconds per ask under several objectives (a minute or more per run of
50): ``--gp-budget`` caps its runs and ``--gp-seeds`` its seeds (50 and 1 in --quick); it is left
out of the baseline at budgets it did not reach.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import importlib  # noqa: E402
import inspect  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from dataclasses import asdict, dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from mo_problems import MOProblem, from_unit, full_names, make_problem, nni_space, quick_names  # noqa: E402
from peers import quietly  # noqa: E402

__all__ = ["Method", "RunResult", "available_methods", "run_one", "summarise", "main"]

BUDGETS = (50, 100, 200)
OURS = ("Auto", "TPE", "GP", "Evolution", "Random")
OPTUNA = ("optuna_nsga2", "optuna_nsga3", "optuna_tpe", "optuna_gp")
EPS = 1e-3
"""Floor of a relative regret (0.1 % of the best known hypervolume): closer than that counts as
reached, so a baseline that found the best front on one problem does not dominate the mean ratio."""


@dataclass(frozen=True)
class Method:
    name: str
    kind: str
    """'nni' (a built-in tuner by registry name), 'optuna', 'pymoo' or 'random'."""
    target: str = ""
    constraints: bool = True
    """Whether it honours constraints (those that do not are skipped on constrained problems)."""


@dataclass
class RunResult:
    problem: str
    method: str
    seed: int
    losses: list[list[float]]
    feasible: list[bool]
    seconds: float


def _registry_class(name: str) -> type | None:
    from nni.algorithms.hpo.builtin import BUILTIN_ALGORITHMS

    info = BUILTIN_ALGORITHMS.get(name.lower())
    if info is None:
        return None
    return getattr(importlib.import_module(info.module), info.class_name)


def available_methods() -> tuple[list[Method], list[str]]:
    """Every method that can run here, and a note for each of ours that cannot."""
    methods, notes = [], []
    for name in OURS:
        cls = _registry_class(name)
        if cls is None:
            notes.append(f"ours {name}: not in the registry of this branch, skipped")
        elif not getattr(cls, "supports_objectives", False):
            notes.append(f"ours {name}: supports_objectives is False in this branch, skipped")
        else:
            methods.append(Method(f"ours_{name.lower()}", "nni", name, bool(getattr(cls, "supports_constraints", False))))
    methods += [Method(name, "optuna", name.removeprefix("optuna_")) for name in OPTUNA]
    methods += [Method("pymoo_nsga2", "pymoo"), Method("random", "random")]
    return methods, notes


# -- one run -------------------------------------------------------------------------------------

def _make_tuner(name: str, seed: int) -> Any:
    """Our tuner of registry ``name`` with its defaults, minimising, seeded where it takes a seed."""
    cls = _registry_class(name)
    assert cls is not None
    accepted = set(inspect.signature(cls).parameters)
    kwargs: dict[str, Any] = {"seed": seed} if "seed" in accepted else {}
    if "optimize_mode" in accepted and name != "Random":
        kwargs["optimize_mode"] = "minimize"
    return cls(**kwargs)


def _run_nni(method: Method, problem: MOProblem, seed: int, budget: int) -> list[tuple[list[float], list[float]]]:
    from nni.objectives import Constraint, Objective, ObjectiveSpec

    tuner = _make_tuner(method.target, seed)
    metrics = [f"f{i}" for i in range(len(problem.modes))]
    tuner.set_objectives(ObjectiveSpec(tuple(Objective(m, mode) for m, mode in zip(metrics, problem.modes, strict=True)),
                                       tuple(Constraint(f"g{j}", max=0.0) for j in range(problem.n_constraints))))
    tuner.update_search_space(nni_space(problem.params))
    history = []
    for pid in range(budget):
        params = tuner.generate_parameters(pid)
        values, g = problem.evaluate(params)
        tuner.receive_trial_result(pid, params, {**dict(zip(metrics, values, strict=True)),
                                                 **{f"g{j}": v for j, v in enumerate(g)}})
        tuner.trial_end(pid, True)
        history.append((values, g))
    return history


def _optuna_distributions(problem: MOProblem) -> dict[str, Any]:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out: dict[str, Any] = {}
    for p in problem.params:
        if p.kind == "choice":
            out[p.name] = CategoricalDistribution(list(p.choices))
        elif p.kind in ("int", "logint"):
            out[p.name] = IntDistribution(int(p.low), int(p.high), log=p.kind == "logint")
        else:
            out[p.name] = FloatDistribution(p.low, p.high, log=p.kind == "logfloat")
    return out


def _run_optuna(method: Method, problem: MOProblem, seed: int, budget: int) -> list[tuple[list[float], list[float]]]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    extra: dict[str, Any] = {}
    if problem.n_constraints:
        extra["constraints_func"] = lambda trial: trial.user_attrs["constraints"]
    sampler = {"nsga2": optuna.samplers.NSGAIISampler, "nsga3": optuna.samplers.NSGAIIISampler,
               "tpe": optuna.samplers.TPESampler, "gp": optuna.samplers.GPSampler}[method.target](seed=seed, **extra)
    study = optuna.create_study(directions=list(problem.modes), sampler=sampler)
    distributions = _optuna_distributions(problem)
    history = []
    for _ in range(budget):
        trial = study.ask(distributions)
        values, g = problem.evaluate(dict(trial.params))
        if problem.n_constraints:
            trial.set_user_attr("constraints", g)
        study.tell(trial, values)
        history.append((values, g))
    return history


def _run_pymoo(method: Method, problem: MOProblem, seed: int, budget: int) -> list[tuple[list[float], list[float]]]:
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.core.evaluator import Evaluator
    from pymoo.core.problem import Problem
    from pymoo.problems.static import StaticProblem

    box = Problem(n_var=len(problem.params), n_obj=len(problem.modes), n_ieq_constr=problem.n_constraints,
                  xl=0.0, xu=1.0)
    algorithm = NSGA2(pop_size=20)
    algorithm.setup(box, termination=("n_eval", budget), seed=seed, verbose=False)
    history: list[tuple[list[float], list[float]]] = []
    while len(history) < budget:
        population = algorithm.ask()
        rows = [problem.evaluate(from_unit(problem.params, x)) for x in population.get("X")]
        history.extend(rows)
        losses = np.array([problem.losses(values) for values, _ in rows])
        static: dict[str, Any] = {"F": losses}
        if problem.n_constraints:
            static["G"] = np.array([g for _, g in rows])
        Evaluator().eval(StaticProblem(box, **static), population)
        algorithm.tell(infills=population)
    return history[:budget]


def _run_random(method: Method, problem: MOProblem, seed: int, budget: int) -> list[tuple[list[float], list[float]]]:
    rng = np.random.default_rng(seed)
    return [problem.evaluate(from_unit(problem.params, rng.random(len(problem.params)))) for _ in range(budget)]


_RUNNERS = {"nni": _run_nni, "optuna": _run_optuna, "pymoo": _run_pymoo, "random": _run_random}


@quietly
def run_one(problem_name: str, method: Method, seed: int, budget: int) -> RunResult:
    """One sequential optimisation of ``budget`` evaluations (run in a worker process)."""
    problem = make_problem(problem_name)
    start = time.perf_counter()
    history = _RUNNERS[method.kind](method, problem, seed, budget)
    return RunResult(problem_name, method.name, seed, [problem.losses(values) for values, _ in history],
                     [all(v <= 0.0 for v in g) for _, g in history], time.perf_counter() - start)


# -- scoring ---------------------------------------------------------------------------------------

def feasible_hv(run: RunResult, budget: int, reference: tuple[float, ...]) -> float:
    """Hypervolume of the run's feasible points among its first ``budget``."""
    import moocore

    points = np.array([loss for loss, ok in zip(run.losses[:budget], run.feasible[:budget], strict=True) if ok], dtype=float)
    if len(points) == 0:
        return 0.0
    points = points[np.all(points < np.asarray(reference), axis=1)]
    return float(moocore.hypervolume(points, ref=np.asarray(reference))) if len(points) else 0.0


def first_feasible(run: RunResult) -> int | None:
    """1-based index of the run's first feasible trial; None when it found none."""
    return next((index + 1 for index, ok in enumerate(run.feasible) if ok), None)


def _geomean(values: list[float]) -> float:
    return float(math.exp(np.mean(np.log(values)))) if values else math.nan


def summarise(runs: list[RunResult], budgets: tuple[int, ...], budget_of: dict[str, int]) -> dict[str, Any]:
    """Per problem, method and budget: mean relative regret; per budget: geometric-mean ratios to
    the best Optuna sampler; constrained: median first feasible trial and final ratios."""
    import moocore

    problems = sorted({run.problem for run in runs})
    methods = list(dict.fromkeys(run.method for run in runs))
    regret: dict[str, dict[str, dict[int, float]]] = {}
    best_known: dict[str, float] = {}
    constrained = []
    for name in problems:
        problem = make_problem(name)
        if problem.n_constraints:
            constrained.append(name)
        mine = [run for run in runs if run.problem == name]
        best = max(feasible_hv(run, len(run.losses), problem.reference) for run in mine)
        if problem.front is not None:
            front = problem.front[np.all(problem.front < np.asarray(problem.reference), axis=1)]
            best = max(best, float(moocore.hypervolume(front, ref=np.asarray(problem.reference))))
        best_known[name] = best
        regret[name] = {}
        for method in methods:
            ours = [run for run in mine if run.method == method]
            if not ours:
                continue
            regret[name][method] = {
                budget: float(np.mean([(best - feasible_hv(run, budget, problem.reference)) / best if best > 0 else 0.0
                                       for run in ours]))
                for budget in budgets if budget <= budget_of[method]}

    def ratio_table(names: list[str], budget: int) -> dict[str, Any]:
        def geo(method: str) -> float:
            return _geomean([max(regret[n][method][budget], EPS) for n in names
                             if method in regret[n] and budget in regret[n][method]])

        complete = [m for m in methods if all(m in regret[n] and budget in regret[n][m] for n in names)]
        optuna = [m for m in complete if m.startswith("optuna_")]
        if not optuna or not names:
            return {}
        baseline = min(optuna, key=geo)
        return {"baseline": baseline, "ratios": {m: geo(m) / geo(baseline) for m in complete}}

    per_budget = {budget: ratio_table(problems, budget) for budget in budgets}
    feasible_first = {name: {method: _median_first([run for run in runs if run.problem == name
                                                    and run.method == method]) for method in methods
                             if any(run.problem == name and run.method == method for run in runs)}
                      for name in constrained}
    final = max(budgets)
    return {"best_known": best_known, "regret": regret, "per_budget": per_budget,
            "constrained_first_feasible": feasible_first,
            "constrained_final": ratio_table(constrained, final) if constrained else {}}


def _median_first(runs: list[RunResult]) -> float | None:
    """Median first feasible trial over seeds (a run that found none counts as never: infinity)."""
    if not runs:
        return None
    found = [first_feasible(run) for run in runs]
    return float(np.median([math.inf if index is None else index for index in found]))


# -- latency ---------------------------------------------------------------------------------------

@quietly
def ask_latency(method: Method, asks: int, history: int = 1000) -> float:
    """Median seconds of one ask with ``history`` results on ZDT1 (two objectives, 10 parameters)."""
    from nni.objectives import Objective, ObjectiveSpec

    problem = make_problem("zdt1")
    tuner = _make_tuner(method.target, 0)
    tuner.set_objectives(ObjectiveSpec((Objective("f0", "minimize"), Objective("f1", "minimize"))))
    tuner.update_search_space(nni_space(problem.params))
    rng = np.random.default_rng(0)
    data = []
    for _ in range(history):
        params = from_unit(problem.params, rng.random(len(problem.params)))
        values, _ = problem.evaluate(params)
        data.append({"parameter": params, "value": {"f0": values[0], "f1": values[1]}})
    tuner.import_data(data)
    tuner.generate_parameters(10 ** 6)  # the first ask after an import may fold the history in
    times = []
    for pid in range(asks):
        start = time.perf_counter()
        params = tuner.generate_parameters(pid)
        times.append(time.perf_counter() - start)
        values, _ = problem.evaluate(params)
        tuner.receive_trial_result(pid, params, {"f0": values[0], "f1": values[1]})
    return float(np.median(times))


# -- report ----------------------------------------------------------------------------------------

def _print_report(summary: dict[str, Any], methods: list[Method], budgets: tuple[int, ...]) -> None:
    names = [m.name for m in methods]
    print("\nMean relative hypervolume regret (lower is better), per problem, at the largest budget:")
    final = max(budgets)
    print(f"{'problem':16s}" + "".join(f"{n[:13]:>14s}" for n in names))
    for problem, by_method in summary["regret"].items():
        cells = [by_method.get(n, {}).get(final) for n in names]
        print(f"{problem:16s}" + "".join(f"{'-' if c is None else f'{c:.4f}':>14s}" for c in cells))
    print("\nGeometric-mean regret ratio vs the best Optuna sampler at each budget (< 1: better than it):")
    print(f"{'method':16s}" + "".join(f"{b:>14d}" for b in budgets))
    for n in names:
        cells = [summary["per_budget"][b].get("ratios", {}).get(n) for b in budgets]
        print(f"{n:16s}" + "".join(f"{'-' if c is None else f'{c:.3f}':>14s}" for c in cells))
    print(f"{'(baseline)':16s}" + "".join(f"{summary['per_budget'][b].get('baseline', '-'):>14s}"
                                           for b in budgets))
    if summary["constrained_first_feasible"]:
        print("\nConstrained problems: median first feasible trial over seeds (inf: none found):")
        print(f"{'problem':16s}" + "".join(f"{n[:13]:>14s}" for n in names))
        for problem, by_method in summary["constrained_first_feasible"].items():
            cells = [by_method.get(n) for n in names]
            print(f"{problem:16s}" + "".join(f"{'-' if c is None else f'{c:g}':>14s}" for c in cells))
        table = summary["constrained_final"]
        if table:
            print(f"final ({final}) feasible HV regret ratio vs {table['baseline']}: " +
                  ", ".join(f"{n} {r:.3f}" for n, r in table["ratios"].items()))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 seeds, 18 problems, Optuna GP at 50, one seed")
    parser.add_argument("--seeds", type=int, help="seeds per problem and method (default 10; 3 with --quick)")
    parser.add_argument("--problems", help="comma-separated problem names (default: the full or quick set)")
    parser.add_argument("--methods", help="comma-separated method names (default: every available one)")
    parser.add_argument("--budgets", default=",".join(map(str, BUDGETS)), help="comma-separated budgets")
    parser.add_argument("--gp-budget", type=int, help="largest budget of Optuna's GPSampler (default: 50 "
                                                       "with --quick, else the largest budget)")
    parser.add_argument("--gp-seeds", type=int, help="seeds of Optuna's GPSampler (default: 1 with --quick, "
                                                      "else --seeds)")
    parser.add_argument("--latency-asks", type=int, help="asks timed per method (default 20; 5 with --quick; "
                                                         "0 skips)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes")
    parser.add_argument("--json", type=Path, help="save raw runs and the summary here")
    parser.add_argument("--merge", type=Path, nargs="+", help="report on the runs of earlier --json files (a "
                                                               "benchmark run in chunks; --problems filters them) "
                                                               "instead of running")
    return parser


def _run_all(args: argparse.Namespace, parser: argparse.ArgumentParser, budgets: tuple[int, ...],
             ) -> tuple[list[RunResult], list[Method], dict[str, int]]:
    """Every (problem, method, seed) run the arguments ask for, in a process pool."""
    seeds = args.seeds or (3 if args.quick else 10)
    problems = args.problems.split(",") if args.problems else (quick_names() if args.quick else full_names())
    methods, notes = available_methods()
    if args.methods:
        wanted = args.methods.split(",")
        unknown = sorted(set(wanted) - {m.name for m in methods})
        if unknown:
            parser.error(f"unknown or unavailable methods: {', '.join(unknown)} "
                         f"(available: {', '.join(m.name for m in methods)})")
        methods = [m for m in methods if m.name in wanted]
    for note in notes:
        print("note:", note)
    gp_budget = args.gp_budget or (min(50, max(budgets)) if args.quick else max(budgets))
    budget_of = {m.name: min(gp_budget, max(budgets)) if m.name == "optuna_gp" else max(budgets) for m in methods}
    constrained = {name for name in problems if make_problem(name).n_constraints}
    gp_seeds = args.gp_seeds or (1 if args.quick else seeds)
    tasks = [(name, method, seed, budget_of[method.name]) for name in problems for method in methods
             for seed in range(gp_seeds if method.name == "optuna_gp" else seeds)
             if method.constraints or name not in constrained]
    print(f"{len(problems)} problems, {len(methods)} methods, {seeds} seeds: {len(tasks)} runs, budgets {budgets} "
          f"(Optuna GP up to {budget_of.get('optuna_gp', '-')}, {gp_seeds} seeds), {args.jobs} workers", flush=True)
    start = time.perf_counter()
    runs: list[RunResult] = []
    # the slowest runs first, so the pool does not end on one long GP run
    tasks.sort(key=lambda task: (task[1].name != "optuna_gp", task[1].kind != "optuna"))
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for run in pool.map(run_one, *zip(*tasks, strict=True)):
            runs.append(run)
            if len(runs) % 50 == 0:
                print(f"  {len(runs)}/{len(tasks)} runs, {time.perf_counter() - start:.0f} s", flush=True)
    seconds = {m.name: float(np.mean([r.seconds for r in runs if r.method == m.name])) for m in methods}
    print(f"runs took {time.perf_counter() - start:.0f} s; mean seconds per run: " +
          ", ".join(f"{n} {s:.1f}" for n, s in seconds.items()))
    return runs, methods, budget_of


def _load(paths: list[Path]) -> tuple[list[RunResult], list[Method], dict[str, int]]:
    """The runs, methods and per-method budgets of earlier --json files, together."""
    runs, methods, budget_of = [], {}, {}
    for path in paths:
        data = json.loads(path.read_text())
        runs += [RunResult(**run) for run in data["runs"]]
        methods.update({m["name"]: Method(**m) for m in data["methods"]})
        budget_of.update(data["budget_of"])
    return runs, list(methods.values()), budget_of


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    budgets = tuple(sorted(int(b) for b in args.budgets.split(",")))
    if args.merge:
        runs, methods, budget_of = _load(args.merge)
        if args.problems:
            runs = [run for run in runs if run.problem in args.problems.split(",")]
    else:
        runs, methods, budget_of = _run_all(args, parser, budgets)
    summary = summarise(runs, budgets, budget_of)
    _print_report(summary, methods, budgets)
    latency_asks = args.latency_asks if args.latency_asks is not None else (5 if args.quick else 20)
    latency = {}
    if latency_asks:
        print(f"\nAsk latency with 1,000 results (ZDT1, two objectives; median of {latency_asks} asks):")
        for method in methods:
            if method.kind == "nni":
                latency[method.name] = ask_latency(method, latency_asks)
                print(f"  {method.name:16s} {latency[method.name] * 1000:9.1f} ms")
    if args.json:
        args.json.write_text(json.dumps({"budgets": budgets, "problems": sorted({r.problem for r in runs}),
                                         "methods": [asdict(m) for m in methods], "budget_of": budget_of,
                                         "runs": [asdict(r) for r in runs], "summary": summary,
                                         "latency_s": latency}, default=_json_default))
        print(f"saved {args.json}")
    return 0


def _json_default(value: Any) -> Any:
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


if __name__ == "__main__":
    raise SystemExit(main())
