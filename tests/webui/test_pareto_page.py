"""The Pareto views in headless Chromium: 10,000 stored trials with two objectives and a constraint,
and with three, served read-only; an experiment without objectives (nothing new shows); and a real
running experiment whose front grows as its trials finish."""

from __future__ import annotations

import time
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
from support import free_port, wait_for

from nni.storage.manifest import read_manifest

pytestmark = pytest.mark.slow

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
N_TRIALS = 10_000


def portal(experiment_id: str, port: int) -> str:
    return f"http://127.0.0.1:{port}/?token={read_manifest()[experiment_id]['token']}"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Callable[..., tuple[int, Any]]]:
    """``served(id, objectives, constraints, n)`` -> (port, (front ids, infeasible ids)) of a stored
    experiment served read-only. Tests list it before ``open_page`` so pages close before it stops."""
    runners: list[Any] = []

    def serve(experiment_id: str, objectives: list[dict[str, Any]] | None, constraints: list[dict[str, Any]] | None,
              n: int = N_TRIALS, seed: int = 0) -> tuple[int, Any]:
        trials = objective_trials(n, seed)
        config = write_experiment(tmp_path, experiment_id, trials, objectives, constraints)
        port = free_port()
        runners.append(serve_view(experiment_id, config, port))
        if objectives or constraints:
            started = time.perf_counter()
            httpx.get(f"http://127.0.0.1:{port}/api/v1/webui/pareto", timeout=60).raise_for_status()
            print(f"{experiment_id}: GET pareto, {n} trials, first (table built): {time.perf_counter() - started:.3f} s")
        return port, expected_front(trials, config.objective_spec()) if objectives or constraints else None

    yield serve
    for runner in runners:
        runner.stop()


def pareto_ready(page: Any) -> None:
    page.wait_for_selector("[data-testid=pareto-chart][data-state=ready]")
    page.wait_for_selector("[data-testid=pareto-hv][data-state=ready]")


def click_probe(page: Any) -> str:
    """Click the front point the page says stands most apart (data-probe: "x,y,trialId"); its trial id."""
    chart = page.locator("[data-testid=pareto-chart]")
    x, y, trial_id = chart.get_attribute("data-probe").split(",", 2)
    chart.click(position={"x": int(x), "y": int(y)})
    return trial_id


def test_two_objectives_and_a_constraint_at_ten_thousand_trials(served, open_page):
    port, (front, infeasible) = served("pareto2d", OBJECTIVES_2, CONSTRAINTS)
    page, _ = open_page()
    started = time.perf_counter()
    page.goto(portal("pareto2d", port))
    pareto_ready(page)
    print(f"pareto2d: navigation to the Pareto panel painted: {time.perf_counter() - started:.3f} s")
    chart = page.locator("[data-testid=pareto-chart]")
    assert int(chart.get_attribute("data-front")) == len(front) > 0
    assert int(chart.get_attribute("data-infeasible")) > 0 and len(infeasible) > 0
    assert int(chart.get_attribute("data-results")) == N_TRIALS
    assert page.locator("[data-testid=pareto-parallel]").is_hidden()  # two objectives: the scatter says it all
    note = page.locator("[data-testid=pareto-note]").text_content()
    assert f"{len(front)} on the front" in note and f"{len(infeasible)} infeasible" in note
    assert "showing 4000 of" in note
    assert int(page.locator("[data-testid=pareto-hv]").get_attribute("data-points")) > 1
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("[data-testid=panel-pareto]").screenshot(path=str(SCREENSHOTS / "pareto-2d.png"))

    # A click on a front point opens that trial's record.
    trial_id = click_probe(page)
    assert trial_id in front
    page.wait_for_selector(f"[data-testid=pareto-trial-dialog] [data-testid=trial-panel-{trial_id}]")
    assert page.locator("[data-testid=pareto-trial-dialog] [data-testid=trial-params]").text_content().count('"width"') == 1
    page.keyboard.press("Escape")

    # Trials table: the columns, and "Pareto only" (server side) shows exactly the front.
    page.click("[data-testid=nav-trials]")
    page.wait_for_selector("[data-testid=trial-table]")
    headers = page.locator("[data-testid=trial-table] th").all_text_contents()
    assert "Feasible" in headers and "Pareto" in headers
    page.select_option("[data-testid=page-size]", "100")
    page.check("[data-testid=pareto-only]")
    page.wait_for_function(f"document.querySelector('[data-testid=trial-total]').textContent.startsWith('{len(front)} trial')")
    shown = set(page.locator("tr[data-trial]").evaluate_all("rows => rows.map(r => r.dataset.trial)"))
    assert shown == front
    page.uncheck("[data-testid=pareto-only]")
    page.click("th[data-sort=pareto]")
    page.click("th[data-sort=pareto]")
    page.wait_for_selector("th[data-sort=pareto][aria-sort=descending]")
    page.wait_for_function("document.querySelector('tr[data-trial]').textContent.includes('front')")


def test_three_objectives_at_ten_thousand_trials(served, open_page):
    port, (front, _) = served("pareto3d", OBJECTIVES_3, None, seed=1)
    page, _ = open_page()
    page.goto(portal("pareto3d", port))
    pareto_ready(page)
    page.wait_for_selector("[data-testid=pareto-parallel][data-state=ready]")
    chart = page.locator("[data-testid=pareto-chart]")
    assert int(chart.get_attribute("data-front")) == len(front) > 0
    assert int(chart.get_attribute("data-infeasible")) == 0
    # Another pair of objectives: the same front, drawn again.
    page.select_option("[data-testid=pareto-x]", "2")
    page.wait_for_selector("[data-testid=pareto-chart][data-state=ready]")
    assert "size_mb" in page.locator("[data-testid=pareto-x] option:checked").text_content()
    assert int(chart.get_attribute("data-front")) == len(front)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1400, "height": 1700})  # the whole panel below the sticky header
    page.wait_for_selector("[data-testid=pareto-parallel][data-state=ready]")
    page.locator("[data-testid=panel-pareto]").screenshot(path=str(SCREENSHOTS / "pareto-3d.png"))
    trial_id = click_probe(page)
    assert trial_id in front
    page.wait_for_selector(f"[data-testid=trial-panel-{trial_id}]")


def test_without_objectives_the_portal_is_as_before(served, open_page):
    port, _ = served("plain", None, None, n=30)
    page, guard = open_page()
    page.goto(portal("plain", port))
    page.wait_for_selector("[data-testid=top-chart][data-state=ready]")
    assert page.locator("[data-testid=panel-pareto]").count() == 0
    page.click("[data-testid=nav-trials]")
    page.wait_for_selector("[data-testid=trial-table]")
    headers = page.locator("[data-testid=trial-table] th").all_text_contents()
    assert "Feasible" not in headers and "Pareto" not in headers
    assert page.locator("[data-testid=pareto-only]").count() == 0
    assert not [url for url in guard.requests if "/pareto" in url]


# Each trial waits for its own go file, so the test decides when each one finishes.
GATED_TRIAL = """
import os, time, nni
p = nni.get_next_parameter()
gate = os.path.join({folder!r}, "go%d" % nni.get_sequence_id())
while not os.path.exists(gate):
    time.sleep(0.05)
nni.report_final_result({{"accuracy": p["x"], "latency_ms": 10 * p["x"] ** 2 + 1, "memory_mb": 100}})
"""


def test_the_front_updates_live_as_trials_finish(make_experiment, open_page, tmp_path):
    gates = tmp_path / "gates"
    gates.mkdir()
    experiment = make_experiment(GATED_TRIAL.format(folder=str(gates)), tuner="Random", trial_concurrency=3,
                                 max_trial_number=3, objectives=OBJECTIVES_2, constraints=CONSTRAINTS)
    port = free_port()
    experiment.start(port)
    page, _ = open_page()
    page.goto(portal(experiment.id, port))
    page.wait_for_selector("[data-testid=panel-pareto]")
    page.wait_for_selector("[data-testid=pareto-chart][data-results='0']")
    for done in range(1, 4):
        (gates / f"go{done - 1}").write_text("")
        page.wait_for_selector(f"[data-testid=pareto-chart][data-results='{done}'][data-state=ready]", timeout=60000)
        assert int(page.locator("[data-testid=pareto-chart]").get_attribute("data-front")) >= 1
    wait_for(lambda: experiment.get_status() in ("DONE", "NO_MORE_TRIAL"), timeout=60, what="the experiment to end")
    assert int(page.locator("[data-testid=pareto-hv]").get_attribute("data-points")) >= 1
