"""The portal over a viewed experiment of 100,000 trials: the first page, two charts and a sort work
(built through the storage interface in one transaction; nothing here is timed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stored import serve_view, write_experiment
from support import free_port

TRIALS = 100_000


def test_a_hundred_thousand_trials_page_charts_and_sort(open_page: Any, tmp_path: Path) -> None:
    write_experiment(tmp_path, TRIALS, points=1)
    port = free_port()
    with serve_view(tmp_path, port):
        page, _ = open_page()
        page.set_default_timeout(120_000)  # a shared machine may be slow; the test checks behaviour, not time
        page.goto(f"http://127.0.0.1:{port}/#/trials")
        page.wait_for_selector("tr[data-trial='t000000']")
        assert page.locator("[data-testid=trial-total]").inner_text().startswith(f"{TRIALS} trials")
        assert page.locator("tr[data-trial]").count() == 20

        for tab in ("metric", "duration"):  # duration: its 100,000 dots from one typed array
            page.click(f"[data-testid=chart-tabs] [data-tab={tab}]")
            page.wait_for_selector("[data-testid=trials-chart][data-state=ready]")

        header = page.locator("th[data-sort='metric:default']")
        top = {"descending": "t099999", "ascending": "t000000"}  # final result = sequence / TRIALS
        header.click()
        page.wait_for_selector("th[data-sort='metric:default'][aria-sort]")
        order = header.get_attribute("aria-sort")
        assert order in top
        page.wait_for_selector(f"tbody tr[data-trial]:first-child[data-trial='{top[order]}']")
        header.click()
        reverse = "ascending" if order == "descending" else "descending"
        page.wait_for_selector(f"th[data-sort='metric:default'][aria-sort='{reverse}']")
        page.wait_for_selector(f"tbody tr[data-trial]:first-child[data-trial='{top[reverse]}']")
        page.close()  # before the server stops: its live event stream would end mid-chunk otherwise
