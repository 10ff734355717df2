"""The portal's Pareto route and the trial table's Feasible/Pareto columns, over stored experiments
(real SQLite files) served read-only by the view engine, through real HTTP."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pareto_support import (
    CONSTRAINTS,
    OBJECTIVES_2,
    OBJECTIVES_3,
    expected_front,
    objective_trials,
    serve_view,
    write_experiment,
)
from support import free_port

Served = Callable[..., tuple[httpx.Client, Any]]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """``served(n, objectives, constraints)`` -> (client of its portal API, the spec it is read under)."""
    stops: list[Callable[[], None]] = []

    def serve(n: int, objectives: list[dict[str, Any]] | None, constraints: list[dict[str, Any]] | None = None,
              seed: int = 0) -> tuple[httpx.Client, Any]:
        experiment_id = f"pareto{len(stops)}"
        trials = objective_trials(n, seed)
        config = write_experiment(tmp_path, experiment_id, trials, objectives, constraints)
        port = free_port()
        runner = serve_view(experiment_id, config, port)
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v1/webui/", timeout=60)
        stops.extend([client.close, runner.stop])
        return client, (trials, config.objective_spec())

    yield serve
    for stop in reversed(stops):
        stop()


def strict(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return json.loads(response.text, parse_constant=lambda name: pytest.fail(f"bare {name} in the JSON"))


def test_two_objectives_and_a_constraint_front_infeasible_unusable_and_hypervolume(served):
    client, (trials, spec) = served(400, OBJECTIVES_2, CONSTRAINTS)
    front, infeasible = expected_front(trials, spec)
    answer = strict(client.get("pareto"))
    assert answer["objectives"] == OBJECTIVES_2
    assert answer["constraints"] == [{"metric": "memory_mb", "min": None, "max": 512}]
    kinds: dict[str, set[str]] = {"front": set(), "dominated": set(), "infeasible": set()}
    for trial_id, _, kind, *values in answer["points"]:
        kinds[kind].add(trial_id)
        assert len(values) == 2
    assert kinds["front"] == front and kinds["infeasible"] == infeasible and front and infeasible
    unusable = 400 // 97
    assert answer["counts"] == {"results": 400, "usable": 400 - unusable, "feasible": 400 - unusable - len(infeasible),
                                "infeasible": len(infeasible), "front": len(front), "unusable": unusable}
    # Values come back in the metrics' own units (accuracy maximised stays positive).
    by_id = {t.trial_id: t.final.value for t in trials}
    first = answer["points"][0]
    assert first[3:] == [by_id[first[0]]["accuracy"], by_id[first[0]]["latency_ms"]]
    history = answer["hypervolume"]["points"]
    counts = [k for k, _ in history]
    volumes = [v for _, v in history]
    assert counts == sorted(counts) and counts[-1] == 400
    assert volumes == sorted(volumes) and volumes[-1] > 0
    assert len(answer["hypervolume"]["reference"]) == 2


def test_trial_table_gains_columns_a_pareto_only_filter_and_sorts(served):
    client, (trials, spec) = served(300, OBJECTIVES_2, CONSTRAINTS)
    front, infeasible = expected_front(trials, spec)
    page = strict(client.get("trials", params={"pareto": 1, "limit": 500}))
    assert page["total"] == len(front) and page["totalAll"] == 300
    assert {row["trialId"] for row in page["rows"]} == front
    assert all(row["pareto"] is True and row["feasible"] is True for row in page["rows"])
    # Combined with the other filters, as the status filter is.
    assert strict(client.get("trials", params={"pareto": "true", "status": "FAILED"}))["total"] == 0
    rows = strict(client.get("trials", params={"sort": "pareto", "order": "desc", "limit": 500}))["rows"]
    assert {row["trialId"] for row in rows[:len(front)]} == front
    assert [row["feasible"] for row in rows[-(300 // 97):]] == [None] * (300 // 97)  # unusable ones last
    rows = strict(client.get("trials", params={"sort": "feasible", "order": "asc", "limit": 500}))["rows"]
    assert {row["trialId"] for row in rows[:len(infeasible)]} == infeasible
    assert rows[0]["feasible"] is False and rows[len(infeasible)]["feasible"] is True
    missing = next(row for row in rows if row["feasible"] is None)
    assert missing["pareto"] is False


def test_three_objectives_every_value_and_the_front_in_all_three(served):
    client, (trials, spec) = served(500, OBJECTIVES_3, seed=3)
    front, infeasible = expected_front(trials, spec)
    answer = strict(client.get("pareto"))
    assert [o["metric"] for o in answer["objectives"]] == ["accuracy", "latency_ms", "size_mb"]
    assert {p[0] for p in answer["points"] if p[2] == "front"} == front and not infeasible
    assert all(len(p) == 6 for p in answer["points"])
    assert len(answer["hypervolume"]["reference"]) == 3


def test_ten_thousand_trials_keep_every_front_point_and_thin_the_rest(served):
    client, (trials, spec) = served(10_000, OBJECTIVES_2, CONSTRAINTS)
    front, _ = expected_front(trials, spec)
    answer = strict(client.get("pareto"))
    assert answer["shown"] == len(answer["points"]) == 4000 < answer["counts"]["usable"]
    assert {p[0] for p in answer["points"] if p[2] == "front"} == front
    assert len(answer["hypervolume"]["points"]) <= 201
    assert strict(client.get("trials", params={"pareto": 1}))["total"] == len(front)


def test_without_objectives_nothing_changes_and_pareto_questions_are_refused(served):
    client, (_, spec) = served(20, None)
    assert spec is None
    response = client.get("pareto")
    assert response.status_code == 404 and "no objectives or constraints" in response.json()["error"]
    rows = strict(client.get("trials"))["rows"]
    assert rows and all("feasible" not in row and "pareto" not in row for row in rows)
    response = client.get("trials", params={"pareto": 1})
    assert response.status_code == 400 and "pareto=1 needs an experiment with objectives" in response.json()["error"]
    assert strict(client.get("trials", params={"pareto": 0}))["total"] == 20


def test_a_malformed_pareto_filter_is_a_400_naming_it(served):
    client, _ = served(10, OBJECTIVES_2)
    response = client.get("trials", params={"pareto": "front"})
    assert response.status_code == 400 and "pareto must be 1 or 0, got 'front'" in response.json()["error"]


def test_constraints_alone_read_the_default_metric_under_them(served):
    client, (trials, spec) = served(50, None, [{"metric": "accuracy", "min": 0.5}])
    assert spec.metrics == ("default",)
    answer = strict(client.get("pareto"))
    # These trials report no 'default' key: every result is unusable under the spec, none is drawn.
    assert answer["counts"]["unusable"] == 50 and answer["points"] == []
    assert answer["hypervolume"]["points"] == []
