"""The web portal in headless Chromium against real running experiments with real trial processes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from support import free_port, wait_for

from nni.storage.manifest import read_manifest

pytestmark = pytest.mark.slow

HTML_NAME = "<b>bold</b> & <script>window.__pwned = 1</script>"
HTML_KEY = "<img src=x onerror=window.__pwned=2>"
HTML_CHOICE = "<i>adam</i>"

# Trials wait while the hold file exists, so the test can watch, steer and kill running trials.
HOLD_TRIAL = """
import os, time, nni
p = nni.get_next_parameter()
print("trial output <script>window.__pwned = 3</script>", flush=True)
for step in range(4):
    nni.report_intermediate_result({{"default": p["x"] * step, "loss": 1 - p["x"] * step}})
while os.path.exists({hold!r}):
    time.sleep(0.05)
nni.report_final_result({{"default": p["x"], "loss": 1 - p["x"], {key!r}: 1}})
"""

ODD_TRIAL = """
import nni
p = nni.get_next_parameter()
seq = nni.get_sequence_id()
nni.report_intermediate_result(float("nan") if seq % 2 else p["x"])
finals = [float("nan"), float("inf"), {"default": p["x"], "note": "text"}, -float("inf")]
nni.report_final_result(finals[seq % 4])
"""

SPACE = {"x": {"_type": "uniform", "_value": [0, 1]}, "lr": {"_type": "loguniform", "_value": [1e-4, 0.1]},
         "opt": {"_type": "choice", "_value": ["sgd", HTML_CHOICE]}}
CHART_TABS = ["metric", "parallel", "duration", "intermediate", "importance", "slice", "contour"]


def portal_url(experiment: Any, with_token: bool = True) -> str:
    token = read_manifest()[experiment.id]["token"]
    return f"http://127.0.0.1:{experiment.port}/" + (f"?token={token}" if with_token else "")


def chart_ready(page: Any, testid: str = "trials-chart") -> None:
    page.wait_for_selector(f"[data-testid={testid}][data-state=ready]")


def statuses(experiment: Any) -> dict[str, str]:
    return {t.trialJobId: t.status for t in experiment.list_trial_jobs()}


def test_watch_and_steer_a_running_experiment(make_experiment, open_page, shots: Path, tmp_path: Path):
    hold = tmp_path / "hold"
    hold.write_text("")
    experiment = make_experiment(HOLD_TRIAL.format(hold=str(hold), key=HTML_KEY), search_space=SPACE,
                                 trial_concurrency=1, max_trial_number=3, experiment_name=HTML_NAME)
    experiment.start(free_port())
    page, guard = open_page()
    page.goto(portal_url(experiment))

    # Overview: every panel, HTML as text, the token moved from the URL into session storage.
    for panel in ["basic", "duration", "trials", "limits", "top", "config", "logs"]:
        page.wait_for_selector(f"[data-testid=panel-{panel}]")
    name = page.locator("[data-testid=exp-name]")
    page.wait_for_function("document.querySelector('[data-testid=exp-name]').textContent.length > 0")
    assert name.text_content() == HTML_NAME
    assert name.locator("b, script").count() == 0
    assert page.locator("[data-testid=exp-id]").text_content() == experiment.id
    assert page.locator("[data-testid=exp-status]").text_content() == "RUNNING"
    assert page.locator("[data-testid=platform]").text_content() == "local"
    assert page.locator("[data-testid=tuner]").text_content() == "TPE"
    assert "trial.py" in page.locator("[data-testid=trial-command]").text_content()
    assert page.locator("[data-testid=log-dir]").text_content() == str(experiment.experiment_dir)
    assert "token=" not in page.url
    assert page.evaluate("sessionStorage.getItem('nni-webui-token')") == read_manifest()[experiment.id]["token"]
    page.wait_for_selector("[data-testid=config-text]")
    assert HTML_NAME in page.locator("[data-testid=config-text]").text_content()
    page.click("[data-testid=config-tabs] [data-tab=space]")
    assert HTML_CHOICE in page.locator("[data-testid=search-space-text]").text_content()
    page.wait_for_selector("[data-testid=log-text]")
    page.wait_for_selector(".live.on")

    # Steering from the Limits panel takes effect in the engine and comes back through the live feed.
    wait_for(lambda: "RUNNING" in statuses(experiment).values(), what="the first trial to run")
    page.fill("[data-testid=concurrency-input]", "2")
    page.click("[data-testid=concurrency-save]")
    wait_for(lambda: experiment.get_experiment_profile()["params"]["trialConcurrency"] == 2, what="concurrency 2")
    page.wait_for_function("document.querySelector('[data-testid=count-running] b').textContent === '2'")
    page.fill("[data-testid=max-trials-input]", "5")
    page.press("[data-testid=max-trials-input]", "Enter")
    wait_for(lambda: experiment.get_experiment_profile()["params"]["maxTrialNumber"] == 5, what="max trials 5")
    page.wait_for_function("document.querySelector('[data-testid=trial-progress-text]').textContent.includes('/ 5 max')")
    page.fill("[data-testid=max-duration-input]", "3h")
    page.click("[data-testid=max-duration-save]")
    wait_for(lambda: experiment.get_experiment_profile()["params"].get("maxExperimentDuration") == "3h", what="3h")
    page.fill("[data-testid=concurrency-input]", "zero")
    page.click("[data-testid=concurrency-save]")
    page.wait_for_selector(".toast.error")
    assert experiment.get_experiment_profile()["params"]["trialConcurrency"] == 2
    page.screenshot(path=str(shots / "overview-running.png"))

    # Trials page: kill a running trial from the table.
    page.click("[data-testid=nav-trials]")
    page.wait_for_selector("[data-testid=trial-table]")
    running = wait_for(lambda: [i for i, s in statuses(experiment).items() if s == "RUNNING"], what="running")[0]
    row = page.locator(f"tr[data-trial=\"{running}\"]")
    row.locator("[data-action=kill]").click()
    page.click("[data-testid=kill-confirm]")
    wait_for(lambda: statuses(experiment)[running] == "USER_CANCELED", what="the kill to land")
    page.wait_for_function(f"document.querySelector('tr[data-trial=\"{running}\"]').textContent.includes('USER_CANCELED')")

    # A customized trial from an existing trial's parameters, with one value edited.
    source = page.locator("tr[data-trial]").first
    source.locator("[data-action=customize]").click()
    dialog = page.locator("[data-testid=customize-dialog]")
    dialog.locator("input[data-param=x]").fill("0.125")
    assert dialog.locator("input[data-param=opt]").input_value() in ("sgd", HTML_CHOICE)
    before = set(statuses(experiment))
    dialog.locator("[data-testid=customize-submit]").click()
    page.wait_for_selector(".toast.ok >> text=Customized trial")
    new_id = wait_for(lambda: set(statuses(experiment)) - before, what="the customized trial")
    new_id = next(iter(new_id))
    hold.unlink()
    wait_for(lambda: experiment.get_trial_job(new_id).status == "SUCCEEDED", timeout=60, what="it to succeed")
    job = experiment.get_trial_job(new_id)
    assert job.hyperParameters[0].parameters["x"] == 0.125
    wait_for(lambda: experiment.get_status() in ("DONE", "NO_MORE_TRIAL"), timeout=60, what="the experiment to end")
    page.wait_for_function(f"document.querySelector('tr[data-trial=\"{new_id}\"]')?.textContent.includes('SUCCEEDED')")

    # Every chart tab draws, for the default metric and for a named metric whose key is HTML.
    for tab in CHART_TABS:
        page.click(f"[data-testid=chart-tabs] [data-tab={tab}]")
        chart_ready(page)
        assert page.locator("[data-testid=trials-chart] canvas").count() >= 1, tab
        page.locator("[data-testid=panel-charts]").screenshot(path=str(shots / f"chart-{tab}.png"))
    page.click("[data-testid=chart-tabs] [data-tab=metric]")
    page.check("[data-testid=optimization-curve]")
    chart_ready(page)
    page.select_option("[data-testid=metric-key]", HTML_KEY)
    chart_ready(page)
    page.select_option("[data-testid=metric-key]", "loss")
    page.click("[data-testid=chart-tabs] [data-tab=intermediate]")
    chart_ready(page)
    page.click("[data-testid=chart-tabs] [data-tab=parallel]")
    page.select_option("[data-testid=top-percent]", "20")
    chart_ready(page)
    assert "of" in page.locator("[data-testid=chart-note]").text_content()
    headers = page.locator("[data-testid=trial-table] th").all_text_contents()
    assert f"metric: {HTML_KEY}" in headers and "opt" in headers

    # Table: sort, search, status filter, column picker, selection and compare.
    page.click("th[data-sort=sequenceId]")
    page.wait_for_selector("th[data-sort=sequenceId][aria-sort=descending]")
    seqs = [int(s) for s in page.locator("tr[data-trial] td:nth-child(2)").all_text_contents()]
    assert seqs == sorted(seqs, reverse=True) and len(seqs) == len(statuses(experiment))
    page.fill("[data-testid=trial-search]", running)
    page.wait_for_function("document.querySelectorAll('tr[data-trial]').length === 1")
    page.fill("[data-testid=trial-search]", "")
    page.select_option("[data-testid=status-filter]", "USER_CANCELED")
    page.wait_for_function("document.querySelectorAll('tr[data-trial]').length === 1")
    page.select_option("[data-testid=status-filter]", "")
    page.wait_for_function(f"document.querySelectorAll('tr[data-trial]').length === {len(seqs)}")
    page.click("[data-testid=column-picker] summary")
    page.uncheck("[data-testid=column-picker] input[data-column=startTime]")
    assert "Start" not in page.locator("[data-testid=trial-table] th").all_text_contents()
    page.click("[data-testid=column-picker] summary")
    boxes = page.locator("tr[data-trial] td.narrow input")
    boxes.nth(0).check()
    boxes.nth(1).check()
    page.click("[data-testid=compare-button]")
    compare = page.locator("[data-testid=compare-dialog]")
    compare.wait_for()
    chart_ready(page, "compare-chart")
    assert compare.locator("tr").count() >= 5
    page.keyboard.press("Escape")

    # One trial's record: parameters, every metric, its output shown as text.
    page.locator(f"tr[data-trial=\"{new_id}\"] [data-action=detail]").click()
    panel = page.locator(f"[data-testid=trial-panel-{new_id}]")
    assert '"x": 0.125' in panel.locator("[data-testid=trial-params]").text_content()
    panel.locator("[data-tab=metrics]").click()
    panel.locator("[data-testid=trial-metrics]").wait_for()
    assert panel.locator("[data-testid=trial-metrics] tbody tr").count() == 5
    panel.locator("[data-tab=logs]").click()
    output = panel.locator("[data-testid=trial-file-text]")
    output.wait_for()
    assert "<script>window.__pwned = 3</script>" in output.text_content()
    panel.locator("[data-tab=info]").click()
    page.screenshot(path=str(shots / "trials-finished.png"))
    page.click("[data-testid=nav-overview]")
    page.wait_for_selector("[data-testid=top-chart][data-state=ready]")
    page.wait_for_selector("[data-testid=top-table]")
    page.screenshot(path=str(shots / "overview-finished.png"))
    assert page.evaluate("window.__pwned") is None
    assert page.locator("script:not([src])").count() == 0
    guard.check()


def test_experiments_page_odd_metrics_and_no_token(make_experiment, open_page, shots: Path):
    first = make_experiment(ODD_TRIAL, search_space=SPACE, trial_concurrency=4, max_trial_number=8,
                            experiment_name="first <u>odd</u>")
    second = make_experiment(ODD_TRIAL, max_trial_number=1, experiment_name="second")
    assert first.run(free_port()) is True
    second.start(free_port())
    page, guard = open_page()
    page.goto(portal_url(first))
    page.wait_for_selector("[data-testid=top-chart][data-state=ready]")

    # NaN, Infinity and strings: every page and chart still renders.
    page.click("[data-testid=nav-trials]")
    page.wait_for_selector("[data-testid=trial-table]")
    for tab in CHART_TABS:
        page.click(f"[data-testid=chart-tabs] [data-tab={tab}]")
        chart_ready(page)
    cells = page.locator("tr[data-trial]").all_text_contents()
    assert any("NaN" in c for c in cells) and any("Infinity" in c for c in cells)
    page.select_option("[data-testid=metric-key]", "note")
    page.click("[data-testid=chart-tabs] [data-tab=metric]")
    chart_ready(page)
    assert "No trial has a numeric" in page.locator("[data-testid=trials-chart]").text_content()

    # The experiments page lists both, is searchable, and marks the one being viewed.
    page.click("[data-testid=nav-experiments]")
    table = page.locator("[data-testid=experiments-table]")
    table.wait_for()
    page.wait_for_function("document.querySelectorAll('tr[data-experiment]').length === 2")
    assert "first <u>odd</u>" in table.text_content() and table.locator("u").count() == 0
    page.fill("[data-testid=experiment-search]", "second")
    page.wait_for_function("document.querySelectorAll('tr[data-experiment]').length === 1")
    link = page.locator(f"[data-testid=open-{second.id}]")
    assert link.get_attribute("href") == f"http://127.0.0.1:{second.port}/"
    page.screenshot(path=str(shots / "experiments.png"))
    page.fill("[data-testid=experiment-search]", "")
    page.click(f"[data-testid=open-{first.id}]")
    page.wait_for_selector("[data-testid=page-overview]")

    # Without the token the page can read (loopback) but not steer.
    anonymous, _ = open_page()
    anonymous.goto(portal_url(second, with_token=False))
    anonymous.wait_for_selector("[data-testid=concurrency-input]")
    before = second.get_experiment_profile()["params"]["trialConcurrency"]
    anonymous.fill("[data-testid=concurrency-input]", str(before + 3))
    anonymous.click("[data-testid=concurrency-save]")
    toast = anonymous.locator(".toast.error")
    toast.wait_for()
    assert re.search("token", toast.text_content())
    assert second.get_experiment_profile()["params"]["trialConcurrency"] == before
    guard.check()


def test_imported_results_are_listed_apart_and_flagged(make_experiment, open_page, tmp_path: Path):
    hold = tmp_path / "hold"
    hold.write_text("")
    experiment = make_experiment(HOLD_TRIAL.format(hold=str(hold), key="k"), search_space=SPACE,
                                 trial_concurrency=1, max_trial_number=1)
    experiment.start(free_port())
    experiment.import_data([{"parameter": {"x": 0.25, "lr": 0.01, "opt": HTML_CHOICE}, "value": 0.5},
                            {"parameter": {"x": 0.75, "lr": 0.001, "opt": "sgd"}, "value": {"default": 0.9}}])
    page, guard = open_page()
    page.goto(portal_url(experiment))
    page.wait_for_selector("[data-testid=imported-table]")
    assert page.locator("[data-testid=imported-count]").text_content() == "2 imported results"
    rows = page.locator("[data-testid=imported-table] tbody tr")
    assert rows.count() == 2 and "import-data" in rows.nth(0).text_content()
    assert HTML_CHOICE in rows.nth(0).text_content() and rows.locator("i").count() == 0  # text, never HTML
    assert not guard.errors
    page.goto("about:blank")  # leave before the stop cuts the page's live-update stream
    hold.unlink()
    experiment.stop()
