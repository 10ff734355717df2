"""Reruns, enqueued trials and imported results over HTTP, on real local experiments: NNI's REST
additions, the web portal's rerun action, and ``Experiment.enqueue_trial``."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from nni.experiment import Experiment
from nni.storage.manifest import read_manifest

BREAKABLE = """
import os, sys, nni
p = nni.get_next_parameter()
if os.path.exists({broken!r}):
    sys.exit(3)
nni.report_final_result(p["x"])
"""


def _wait(predicate: Callable[[], bool], what: str, limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _statuses(experiment: Experiment) -> list[str]:
    return sorted(t.status for t in experiment.list_trial_jobs())


def test_rerun_over_rest_and_from_the_web_portal(make_experiment: Callable[..., Experiment], free_port: int,
                                                 tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.touch()
    experiment = make_experiment(BREAKABLE.format(broken=str(broken)), max_trial_number=2, trial_concurrency=2)
    experiment.start(free_port)
    assert experiment._runner is not None
    experiment._runner.wait_finished(60)
    token = read_manifest()[experiment.id]["token"]
    rest = httpx.Client(base_url=f"http://127.0.0.1:{free_port}/api/v1/nni", headers={"X-NNI-Token": token})
    failed = [t.trialJobId for t in experiment.list_trial_jobs()]
    assert _statuses(experiment) == ["FAILED", "FAILED"]

    assert httpx.post(f"http://127.0.0.1:{free_port}/api/v1/nni/trial-jobs/rerun", json={"failed": True}).status_code \
        in (401, 403)  # a change needs the token
    for body in ({}, {"failed": True, "trialJobIds": [failed[0]]}, {"trialJobIds": []}, {"trialJobIds": "x"}, [1]):
        answer = rest.post("/trial-jobs/rerun", json=body)
        assert answer.status_code == 400 and "trialJobIds" in answer.json()["error"], body
    assert rest.post("/trial-jobs/rerun", json={"trialJobIds": ["nosuch"]}).status_code == 404

    broken.unlink()
    answer = rest.post("/trial-jobs/rerun", json={"trialJobIds": [failed[0]]})
    assert answer.status_code == 200
    (row,) = answer.json()["rerun"]
    assert row["rerunOf"] == failed[0]
    _wait(lambda: _statuses(experiment) == ["FAILED", "FAILED", "SUCCEEDED"], "the rerun over REST")
    rerun = experiment.get_trial_job(row["trialJobId"])
    assert rerun.message == f"rerun of trial {failed[0]}"
    assert rerun.hyperParameters[0].parameter_id == experiment.get_trial_job(failed[0]).hyperParameters[0].parameter_id

    portal = httpx.Client(base_url=f"http://127.0.0.1:{free_port}/api/v1/webui", headers={"X-NNI-Token": token})
    answer = portal.post("/trials/failed/rerun", json={})  # the "Rerun failed" button: only trial 2's parameters
    assert answer.status_code == 200 and [r["rerunOf"] for r in answer.json()["rerun"]] == [failed[1]]
    _wait(lambda: _statuses(experiment).count("SUCCEEDED") == 2, "the portal's rerun of the failed ones")
    assert portal.post("/trials/failed/rerun", json={}).json()["rerun"] == []
    assert portal.post("/trials/nosuch/rerun", json={}).status_code == 404
    experiment.stop()


def test_enqueue_trial_before_start_runs_first_and_after_start_returns_its_id(
        make_experiment: Callable[..., Experiment], free_port: int) -> None:
    experiment = make_experiment("import nni\np = nni.get_next_parameter()\nnni.report_final_result(p['x'])\n",
                                 max_trial_number=4, trial_concurrency=4)
    assert experiment.enqueue_trial({"x": 0.123}) is None
    experiment.start(free_port)
    first = min(experiment.list_trial_jobs(), key=lambda t: t.sequenceId)
    assert first.hyperParameters[0].parameters == {"x": 0.123} and first.hyperParameters[0].parameter_source == "customized"
    assert experiment._runner is not None
    experiment._runner.wait_finished(60)
    trial_id = experiment.enqueue_trial({"x": 0.456})
    assert isinstance(trial_id, str)
    _wait(lambda: experiment.get_trial_job(trial_id).status == "SUCCEEDED", "the trial enqueued while DONE")
    values = [t.hyperParameters[0].parameters["x"] for t in experiment.list_trial_jobs()]
    assert values.count(0.123) == 1 and values.count(0.456) == 1 and len(values) == 6
    experiment.stop()


def test_imported_results_are_listed_with_their_source(make_experiment: Callable[..., Experiment],
                                                       free_port: int) -> None:
    experiment = make_experiment("import nni\np = nni.get_next_parameter()\nnni.report_final_result(p['x'])\n",
                                 max_trial_number=1)
    experiment.start(free_port)
    data: list[dict[str, Any]] = [{"parameter": {"x": 0.5}, "value": 0.5}]
    experiment.import_data(data)
    rows = httpx.get(f"http://127.0.0.1:{free_port}/api/v1/nni/experiment/imported-results").json()
    assert [(r["parameter"], r["value"], r["source"], r["imported"]) for r in rows] == [({"x": 0.5}, 0.5, "import-data", True)]
    assert json.loads(httpx.get(f"http://127.0.0.1:{free_port}/api/v1/nni/experiment/imported-data").json()[0]) == data
    experiment.stop()
