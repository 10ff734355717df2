"""NNI's REST routes on a real running experiment: shapes, token rules and path confinement."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from nni.storage.manifest import read_manifest

TRIAL = "import nni, time; p = nni.get_next_parameter(); time.sleep(0.2); nni.report_final_result(p['x'])"


def _call(port: int, method: str, path: str, body=None, token: str | None = None):
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/nni{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode())
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("X-NNI-Token", token)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return response.status, json.loads(raw or b"null") if path != "/version" else raw.decode()
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


@pytest.fixture
def running(finished_experiment):
    return finished_experiment(TRIAL)


def test_read_routes_have_nni_shapes(running):
    experiment, port, _ = running
    assert _call(port, "GET", "/version")[1]
    status = _call(port, "GET", "/check-status")[1]
    assert status == {"status": "DONE", "errors": [], "experimentId": experiment.id, "nonce": experiment._runner.nonce}
    profile = _call(port, "GET", "/experiment")[1]
    assert {"id", "execDuration", "logDir", "params", "startTime", "endTime", "nextSequenceId"} <= set(profile)
    trials = _call(port, "GET", "/trial-jobs")[1]
    assert len(trials) == 2
    trial = trials[0]
    assert {"trialJobId", "status", "hyperParameters", "logPath", "startTime", "endTime", "finalMetricData",
            "sequenceId"} <= set(trial)
    # NNI's double encoding: parameter records and metric data travel as JSON texts
    assert isinstance(json.loads(trial["hyperParameters"][0])["parameters"]["x"], float)
    assert isinstance(json.loads(json.loads(trial["finalMetricData"][0]["data"])), float)
    assert _call(port, "GET", f"/trial-jobs/{trial['trialJobId']}")[1]["trialJobId"] == trial["trialJobId"]
    assert _call(port, "GET", "/trial-jobs?status=SUCCEEDED")[1] and not _call(port, "GET", "/trial-jobs?status=FAILED")[1]
    assert _call(port, "GET", "/job-statistics")[1] == [{"trialJobStatus": "SUCCEEDED", "trialJobNumber": 2}]
    assert len(_call(port, "GET", f"/metric-data/{trial['trialJobId']}")[1]) == 1
    assert len(_call(port, "GET", "/metric-data-latest")[1]) == 2
    assert len(_call(port, "GET", "/export-data")[1]) == 2
    assert _call(port, "GET", "/experiment-metadata")[1]["id"] == experiment.id
    assert [e["id"] for e in _call(port, "GET", "/experiments-info")[1]] == [experiment.id]
    assert _call(port, "GET", "/trial-jobs/nope")[0] == 404


def test_mutations_need_the_token(running):
    _, port, token = running
    body = {"params": {"maxTrialNumber": 3}}
    status, answer = _call(port, "PUT", "/experiment?update_type=MAX_TRIAL_NUM", body)
    assert status == 401 and "token" in answer["error"]
    assert _call(port, "PUT", "/experiment?update_type=MAX_TRIAL_NUM", body, token="wrong")[0] == 401
    assert _call(port, "POST", "/trial-jobs", {"parameters": {"x": 1}})[0] == 401
    assert _call(port, "DELETE", "/experiment")[0] == 401
    status, profile = _call(port, "PUT", "/experiment?update_type=MAX_TRIAL_NUM", body, token=token)
    assert status == 200 and profile["params"]["maxTrialNumber"] == 3
    assert _call(port, "PUT", "/experiment?update_type=NOPE", body, token=token)[0] == 400
    bad = {"params": {"searchSpace": {"x": {"_type": "uniform", "_value": [2, 1]}}}}
    status, answer = _call(port, "PUT", "/experiment?update_type=SEARCH_SPACE", bad, token=token)
    assert status == 400 and "'x'" in answer["error"]


@pytest.mark.parametrize("name", ["../../db/nni.sqlite", "../other/stdout", "/etc/passwd", "..%2F..%2Fdb%2Fnni.sqlite"])
def test_trial_file_refuses_paths_outside_the_trial_folder(running, name):
    experiment, port, _ = running
    trial_id = experiment.list_trial_jobs()[0].trialJobId
    status, _ = _call(port, "GET", f"/trial-file/{trial_id}/{name}")
    assert status in (403, 404)
    assert _call(port, "GET", f"/trial-file/{trial_id}/stdout")[0] == 200


def test_non_loopback_bind_requires_the_token_for_reads(make_experiment, free_port):
    experiment = make_experiment(TRIAL, max_trial_number=1)
    experiment.start(free_port, host="0.0.0.0")
    token = read_manifest()[experiment.id]["token"]
    assert _call(free_port, "GET", "/check-status")[0] == 401
    assert _call(free_port, "GET", "/check-status", token=token)[0] == 200


@pytest.mark.parametrize(("update_type", "key", "value", "words"), [
    ("TRIAL_CONCURRENCY", "trialConcurrency", 10**9, "from 1 to 10,000"),
    ("TRIAL_CONCURRENCY", "trialConcurrency", "8", "got str"),
    ("TRIAL_CONCURRENCY", "trialConcurrency", 0, "from 1 to 10,000"),
    ("MAX_TRIAL_NUM", "maxTrialNumber", 10**12, "from 1 to 10,000,000"),
    ("MAX_TRIAL_NUM", "maxTrialNumber", 2.5, "got float"),
])
def test_live_updates_have_the_config_bounds(running, update_type, key, value, words):
    _, port, token = running
    status, answer = _call(port, "PUT", f"/experiment?update_type={update_type}", {"params": {key: value}},
                           token=token)
    assert status == 400 and answer["error"].startswith(f"{key}: must be an integer") and words in answer["error"]


def test_a_huge_customized_trial_is_not_written_whole_into_the_manager_log(running):
    experiment, port, token = running
    status, _ = _call(port, "POST", "/trial-jobs", {"parameters": {"x": 0.5, "blob": "z" * 5_000_000}}, token=token)
    assert status == 200
    log = experiment.experiment_dir / "log" / "nnimanager.log"
    text = log.read_text()
    assert "customized parameters" in text and "characters)" in text
    assert log.stat().st_size < 100_000
