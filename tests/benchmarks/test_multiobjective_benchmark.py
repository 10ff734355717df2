"""The multi-objective benchmark end to end on a tiny run: real problems, real Optuna, real tuners."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import multiobjective  # noqa: E402
from mo_problems import from_unit, make_problem, nni_space  # noqa: E402

from nni.search_space import parse_search_space  # noqa: E402


def _method(name: str) -> multiobjective.Method:
    methods, _ = multiobjective.available_methods()
    return next(m for m in methods if m.name == name)


def test_tiny_run_gives_rows_and_non_negative_regret() -> None:
    methods = [_method("ours_random"), _method("optuna_nsga2")]
    runs = [multiobjective.run_one(problem, method, 0, 10) for problem in ("zdt1", "mw2") for method in methods]
    assert all(len(run.losses) == len(run.feasible) == 10 for run in runs)
    summary = multiobjective.summarise(runs, (10,), {m.name: 10 for m in methods})
    for problem in ("zdt1", "mw2"):
        for method in methods:
            assert summary["regret"][problem][method.name][10] >= 0.0
    table = summary["per_budget"][10]
    assert table["baseline"] == "optuna_nsga2" and table["ratios"]["optuna_nsga2"] == pytest.approx(1.0)
    assert set(summary["constrained_first_feasible"]) == {"mw2"}


def test_mixed_task_space_is_the_same_for_every_method() -> None:
    problem = make_problem("digits")
    space = parse_search_space(nni_space(problem.params))
    for unit in (0.0, 0.5, 1.0):
        params = from_unit(problem.params, [unit] * len(problem.params))
        space.encode(params)  # raises when a unit-box point is outside the NNI space
    accuracy, log_nodes = problem.evaluate(from_unit(problem.params, [0.5] * len(problem.params)))[0]
    assert 0.0 < accuracy <= 1.0 and log_nodes > 0.0


def test_unknown_method_is_refused_with_the_available_ones(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        multiobjective.main(["--methods", "nope", "--problems", "zdt1"])
    assert "unknown or unavailable methods: nope" in capsys.readouterr().err


def test_json_holds_raw_runs(tmp_path: Path) -> None:
    out = tmp_path / "mo.json"
    code = multiobjective.main(["--problems", "zdt1", "--methods", "ours_random,random", "--seeds", "1",
                                "--budgets", "5", "--latency-asks", "0", "--jobs", "1", "--json", str(out)])
    data = json.loads(out.read_text())
    assert code == 0 and len(data["runs"]) == 2 and data["summary"]["regret"]["zdt1"]["random"]["5"] >= 0
    merged = tmp_path / "merged.json"
    assert multiobjective.main(["--merge", str(out), str(out), "--budgets", "5", "--latency-asks", "0",
                                "--json", str(merged)]) == 0
    assert len(json.loads(merged.read_text())["runs"]) == 4
    assert multiobjective.main(["--merge", str(out), "--problems", "zdt2", "--budgets", "5", "--latency-asks", "0",
                                "--json", str(merged)]) == 0
    assert json.loads(merged.read_text())["runs"] == []
