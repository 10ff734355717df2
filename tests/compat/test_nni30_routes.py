"""The routes NNI 3.0 has that we lacked (metric-data-range, experiment/imported-data, /logs/*), on a
real running experiment: what they answer, and a 400 or 403 naming the problem for bad input."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from nni.experiment import Experiment
from nni.storage.manifest import read_manifest

TRIAL = """\
import nni
p = nni.get_next_parameter()
nni.report_intermediate_result(p["x"] / 2)
nni.report_final_result(p["x"])
"""


@pytest.fixture
def served(make_experiment: Callable[..., Experiment], free_port: int) -> tuple[Experiment, httpx.Client, str]:
    experiment = make_experiment(TRIAL, search_space={"x": {"_type": "choice", "_value": [1, 2, 3]}},
                                 tuner="GridSearch", trial_concurrency=1, max_trial_number=3)
    experiment.start(free_port)
    assert experiment._runner is not None and experiment._runner.wait_finished(60)
    with httpx.Client(base_url=f"http://127.0.0.1:{free_port}", timeout=20) as client:
        yield experiment, client, read_manifest()[experiment.id]["token"]


def _api(client: httpx.Client, path: str, **kwargs: Any) -> httpx.Response:
    return client.get(f"/api/v1/nni{path}", **kwargs)


def test_metric_data_range_selects_trials_by_sequence_id(served: Any) -> None:
    _, client, _ = served
    trials = {t["sequenceId"]: t["trialJobId"] for t in _api(client, "/trial-jobs").json()}
    answer = _api(client, "/metric-data-range/1/2").json()
    assert {m["trialJobId"] for m in answer} == {trials[1], trials[2]}
    assert [m["type"] for m in answer] == ["PERIODICAL", "FINAL"] * 2
    assert _api(client, "/metric-data-range/5/9").json() == []


@pytest.mark.parametrize(("path", "words"), [
    ("/metric-data-range/one/2", "min_seq_id must be a whole number"),
    ("/metric-data-range/0/1.5", "max_seq_id must be a whole number"),
    ("/metric-data?type=BEST", "type must be one of PERIODICAL, FINAL"),
])
def test_malformed_metric_queries_are_a_400_naming_the_problem(served: Any, path: str, words: str) -> None:
    _, client, _ = served
    answer = _api(client, path)
    assert answer.status_code == 400 and words in answer.json()["error"]


def test_metric_data_filters_by_type(served: Any) -> None:
    _, client, _ = served
    finals = _api(client, "/metric-data?type=FINAL").json()
    assert len(finals) == 3 and {m["type"] for m in finals} == {"FINAL"}
    assert sorted(json.loads(json.loads(m["data"])) for m in finals) == [1, 2, 3]


def test_imported_data_lists_each_import_as_nni_keeps_it(served: Any) -> None:
    _, client, token = served
    assert _api(client, "/experiment/imported-data").json() == []
    for rows in ([{"parameter": {"x": 1}, "value": 0.5}], [{"parameter": {"x": 2}, "value": {"default": 1}}]):
        answer = client.post("/api/v1/nni/experiment/import-data", json=rows, headers={"X-NNI-Token": token})
        assert answer.status_code == 200
    texts = _api(client, "/experiment/imported-data").json()
    assert [json.loads(t) for t in texts] == [[{"parameter": {"x": 1}, "value": 0.5}],
                                             [{"parameter": {"x": 2}, "value": {"default": 1}}]]


def test_logs_serves_the_experiment_log_folder_only(served: Any) -> None:
    experiment, client, _ = served
    answer = client.get("/logs/nnimanager.log")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    assert "GridSearch" in answer.text or "RUNNING" in answer.text
    assert client.get("/logs/nosuch.log").status_code == 404
    (experiment.experiment_dir / "log" / "out").symlink_to(experiment.experiment_dir / "db")
    for name in ("..%2Fdb%2Fnni.sqlite", "out/nni.sqlite", "%2Fetc%2Fpasswd"):
        answer = client.get(f"/logs/{name}")
        assert answer.status_code == 403 and "log folder" in answer.json()["error"], name
