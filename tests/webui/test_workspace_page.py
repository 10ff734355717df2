"""``nnictl view --all`` in headless Chromium: three real experiments on one page, the compare view
with three curves and three Pareto fronts, an export of all three, and a running one followed live
through its database."""

from __future__ import annotations

import csv
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from support import free_port

pytestmark = pytest.mark.slow

HOLD_TRIAL = """
import os, time, nni
p = nni.get_next_parameter()
while os.path.exists({hold!r}):
    time.sleep(0.05)
nni.report_final_result({{"default": p["x"], "cost": p["x"]}})
"""
PLAIN_TRIAL = """
import nni
x = nni.get_next_parameter()["x"]
nni.report_final_result({"default": x, "cost": x})
"""
HTML_NAME = "<b>second</b><img src=x onerror=window.__pwned=1>"


def test_three_experiments_on_one_page_and_compared(make_experiment, open_page, shots: Path, tmp_path: Path):
    hold = tmp_path / "hold"
    hold.write_text("")
    first = make_experiment(PLAIN_TRIAL, max_trial_number=3, trial_concurrency=1, experiment_name="first")
    second = make_experiment(PLAIN_TRIAL, max_trial_number=2, trial_concurrency=1, experiment_name=HTML_NAME,
                             search_space={"x": {"_type": "uniform", "_value": [0, 2]}})
    running = make_experiment(HOLD_TRIAL.format(hold=str(hold)), max_trial_number=2, trial_concurrency=2,
                              experiment_name="running")
    assert first.run(free_port()) is True
    assert second.run(free_port()) is True
    running.start(free_port())
    server = subprocess.Popen([sys.executable, "-m", "nni.tools.nnictl.main", "view", "--all", "--port", "0"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    page, _ = open_page()
    try:
        assert server.stdout is not None
        url = next(found.group(1) for line in server.stdout
                   if (found := re.search(r"(http://localhost:\d+/workspace\?token=\S+)", line)))
        page.goto(url.replace("localhost", "127.0.0.1"))

        # One page lists all three; names are text, never markup.
        page.wait_for_function("document.querySelectorAll('tr[data-experiment]').length === 3")
        table = page.locator("[data-testid=experiments-table]")
        assert HTML_NAME in table.text_content() and table.locator("b, img").count() == 0
        assert page.locator("[data-testid=nav-overview]").count() == 0

        # Compare all three: one best-so-far curve each, the differences, one export.
        for exp in (first, second, running):
            page.check(f"[data-testid=select-{exp.id}]")
        page.click("[data-testid=compare-selected]")
        page.wait_for_selector("[data-testid=page-compare]")
        hold.unlink()
        page.wait_for_function(
            f"document.querySelector('tr[data-experiment=\"{running.id}\"]')?.textContent.includes('DONE')",
            timeout=60000)
        page.wait_for_selector("[data-testid=compare-chart][data-state=ready][data-series='3']")
        assert page.locator("[data-testid=compare-table] tbody tr").count() == 3
        assert page.locator("[data-testid=config-diff] tr[data-path=experimentName]").count() == 1
        assert page.locator("[data-testid=space-diff] tr[data-path='x._value']").count() == 1
        assert page.locator("[data-testid=compare-table] img, [data-testid=config-diff] img").count() == 0
        # Two metric keys: their fronts (default maximized, cost minimized: every trial is a trade-off).
        page.wait_for_selector("[data-testid=compare-front][data-state=ready][data-series='3']")
        assert page.locator("[data-testid=panel-compare-front]").is_visible()
        assert page.locator("[data-testid=front-key-1]").input_value() == "cost"
        page.screenshot(path=str(shots / "compare.png"), full_page=True)
        with page.expect_download() as download:
            page.click("[data-testid=export-csv]")
        rows = list(csv.DictReader(Path(download.value.path()).read_text(encoding="utf-8").splitlines()))
        assert sorted({r["experimentId"] for r in rows}) == sorted([first.id, second.id, running.id])
        assert len(rows) == 7
        assert page.evaluate("window.__pwned") is None

        # Each opens on the same port, read-only, with its own overview.
        page.click("[data-testid=nav-experiments]")
        page.click(f"[data-testid=view-{first.id}]")
        page.wait_for_selector("[data-testid=page-overview]")
        page.wait_for_function(f"document.querySelector('[data-testid=exp-id]')?.textContent === '{first.id}'")
        assert f"/exp/{first.id}/" in page.url
        page.screenshot(path=str(shots / "workspace-experiment.png"))
    finally:
        page.close()  # before the server goes, so no open change stream is cut under the page
        server.send_signal(signal.SIGINT)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
