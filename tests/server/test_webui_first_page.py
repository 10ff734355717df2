"""The trial table's first page (trial order, unfiltered) is answered without building the table,
with the rows the table gives; and the duration chart's answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from stored import serve_view, write_experiment

import nni.server.webui as webui


def test_the_first_page_needs_no_table_and_matches_it(tmp_path: Path, free_port: int,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    write_experiment(tmp_path, 60, points=3)
    builds: list[int] = []
    real_build = webui.build_table

    def counted(*args: Any) -> Any:
        builds.append(1)
        return real_build(*args)

    monkeypatch.setattr(webui, "build_table", counted)
    with serve_view(tmp_path, free_port), httpx.Client(
            base_url=f"http://127.0.0.1:{free_port}/api/v1/webui/", timeout=30) as client:
        httpx.get(f"http://127.0.0.1:{free_port}/api/v1/nni/metric-data-latest", timeout=30)  # curves in
        pages = [client.get("trials", params={"offset": offset, "limit": 7, "order": order}).json()
                 for order in ("asc", "desc") for offset in (0, 7, 56)]
        assert builds == []
        assert [r["sequenceId"] for r in pages[0]["rows"]] == list(range(7))
        assert [r["sequenceId"] for r in pages[3]["rows"]] == list(range(59, 52, -1))
        assert pages[0]["rows"][3]["intermediateCount"] == 3 and pages[0]["rows"][3]["latest"] is not None
        # An unknown sort falls back to trial order through the table: the same answers.
        through_table = [client.get("trials", params={"offset": offset, "limit": 7, "order": order, "sort": "nosuch"}).json()
                         for order in ("asc", "desc") for offset in (0, 7, 56)]
        assert builds == [1]
        assert pages == through_table


def test_the_duration_chart_answers_columns(tmp_path: Path, free_port: int) -> None:
    write_experiment(tmp_path, 30)
    with serve_view(tmp_path, free_port):
        data = httpx.get(f"http://127.0.0.1:{free_port}/api/v1/webui/charts/duration", timeout=30).json()
    assert data["total"] == 30 and data["sequenceIds"] == list(range(30))
    assert data["trialIds"] == [f"t{i:06d}" for i in range(30)]
    # write_experiment: start t0 + 5, end t0 + 500 + i % 7; every tenth trial FAILED.
    assert data["durations"] == [(495 + i % 7) / 1000 for i in range(30)]
    assert [data["statusNames"][s] for s in data["statuses"]] == \
        ["FAILED" if i % 10 == 9 else "SUCCEEDED" for i in range(30)]
