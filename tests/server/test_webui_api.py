"""The web portal's server side against real local experiments: views, live stream, files, steering."""

from __future__ import annotations

import json
import os
import socket
from typing import Any

import httpx
import pytest
from support import HOLD_TRIAL, wait_for

from nni.storage.manifest import read_manifest

HTML_KEY = "<img src=x onerror=alert(1)>"

# Final results cycle through NaN, Infinity, a dict holding a string and a dict with an HTML key
# (NNI's UI goes blank on the first three); each trial also reports three intermediate dicts.
ODD_METRICS_TRIAL = f"""
import nni
p = nni.get_next_parameter()
seq = nni.get_sequence_id()
for step in range(3):
    nni.report_intermediate_result({{"default": p["x"] * step, "loss": 1 - p["x"]}})
finals = [float("nan"), float("inf"), {{"default": p["x"], "note": "not a number"}},
          {{"default": p["x"], {HTML_KEY!r}: 1, "loss": 1 - p["x"]}}]
nni.report_final_result(finals[seq % 4])
print("stdout of", nni.get_trial_id(), "<script>alert(1)</script>")
"""


def strict_json(response: httpx.Response) -> Any:
    """Parse as strict JSON: a bare NaN/Infinity in the body fails the test."""
    assert response.status_code == 200, response.text

    def refuse(name: str) -> Any:
        raise AssertionError(f"non-standard JSON constant {name} in {response.url}")

    return json.loads(response.text, parse_constant=refuse)


def client_for(port: int) -> httpx.Client:
    return httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v1/webui/", timeout=30)


def token_of(experiment_id: str) -> str:
    return read_manifest()[experiment_id]["token"]


@pytest.fixture
def finished_odd(make_experiment, free_port):
    experiment = make_experiment(ODD_METRICS_TRIAL, trial_concurrency=4, max_trial_number=8,
                                 search_space={"x": {"_type": "uniform", "_value": [0, 1]},
                                               "opt": {"_type": "choice", "_value": ["sgd", "<b>adam</b>"]}})
    assert experiment.run(free_port) is True
    return experiment, free_port


def test_views_survive_nan_infinity_strings_and_html_metric_keys(finished_odd):
    experiment, port = finished_odd
    with client_for(port) as client:
        summary = strict_json(client.get("summary"))
        assert summary["experimentId"] == experiment.id
        assert summary["status"] == "DONE"
        assert summary["trialCount"] == 8
        # A trial whose final default is not a finite number succeeds (as in NNI); the page still shows it.
        assert summary["counts"]["SUCCEEDED"] == 8 and summary["counts"]["FAILED"] == 0
        assert summary["metricKeys"][0] == "default" and {HTML_KEY, "loss", "note"} <= set(summary["metricKeys"])
        assert summary["paramKeys"] == ["x", "opt"]
        assert summary["optimizeMode"] == "minimize"  # TPE's default, as in NNI
        assert summary["best"]["value"] == pytest.approx(min(
            t.hyperParameters[0].parameters["x"] for t in experiment.list_trial_jobs() if t.sequenceId % 4 >= 2))

        page = strict_json(client.get("trials", params={"sort": "metric:default", "order": "desc", "limit": 8}))
        finals = [row["final"] for row in page["rows"]]
        numeric = [f["default"] for f in finals if isinstance(f, dict)]
        assert numeric == sorted(numeric, reverse=True) and len(numeric) == 4
        # Trials without a number for the column sort last, in either direction.
        assert all(not isinstance(f, dict) for f in finals[4:])
        assert {f for f in finals if isinstance(f, str)} == {"NaN", "Infinity"}
        assert any(isinstance(f, dict) and f.get("note") == "not a number" for f in finals)

        for path, params in [("charts/metric", {}), ("charts/metric", {"key": HTML_KEY}), ("charts/duration", {}),
                             ("charts/intermediate", {"select": "best"}), ("charts/params", {"top": 0.5}),
                             ("charts/contour", {"x": "x", "y": "opt"}), ("importance", {}),
                             ("charts/intermediate", {"key": "loss"}), ("charts/params", {"key": "nonexistent"}),
                             ("charts/metric", {"key": "note"}), ("importance", {"key": "note"})]:
            strict_json(client.get(path, params=params))
        metric = strict_json(client.get("charts/metric"))
        assert len(metric["points"]) == 4 and metric["nonNumeric"] == 4
        inter = strict_json(client.get("charts/intermediate"))
        assert inter["shown"] == 8 and all(len(s["points"]) == 3 for s in inter["series"])

        nan_trial = next(t for t in experiment.list_trial_jobs() if t.sequenceId % 4 == 0)
        detail = strict_json(client.get(f"trials/{nan_trial.trialJobId}"))
        assert detail["finalMetric"]["value"] == "NaN"
        assert [m["value"]["default"] for m in detail["intermediate"]] == [
            pytest.approx(nan_trial.hyperParameters[0].parameters["x"] * s) for s in range(3)]
        assert "stdout" in detail["files"] and "stderr" in detail["files"]
        text = client.get(f"trials/{nan_trial.trialJobId}/file", params={"name": "stdout"})
        assert text.status_code == 200 and "<script>alert(1)</script>" in text.text
        assert text.headers["content-type"].startswith("text/plain")


def test_trial_table_paginates_sorts_filters_and_searches(finished_odd):
    experiment, port = finished_odd
    jobs = experiment.list_trial_jobs()
    with client_for(port) as client:
        first = strict_json(client.get("trials", params={"limit": 3}))
        second = strict_json(client.get("trials", params={"limit": 3, "offset": 3}))
        assert first["total"] == 8 and [r["sequenceId"] for r in first["rows"]] == [0, 1, 2]
        assert [r["sequenceId"] for r in second["rows"]] == [3, 4, 5]
        by_x = strict_json(client.get("trials", params={"sort": "param:x", "limit": 8}))
        xs = [r["parameters"]["x"] for r in by_x["rows"]]
        assert xs == sorted(xs)
        desc = strict_json(client.get("trials", params={"sort": "sequenceId", "order": "desc", "limit": 2}))
        assert [r["sequenceId"] for r in desc["rows"]] == [7, 6]
        target = jobs[5].trialJobId
        found = strict_json(client.get("trials", params={"q": target.lower()}))
        assert [r["trialId"] for r in found["rows"]] == [target] and found["totalAll"] == 8
        html_opt = strict_json(client.get("trials", params={"q": "<b>adam</b>", "limit": 8}))
        assert all(r["parameters"]["opt"] == "<b>adam</b>" for r in html_opt["rows"])
        succeeded = strict_json(client.get("trials", params={"status": "SUCCEEDED", "limit": 8}))
        assert succeeded["total"] == 8
        assert strict_json(client.get("trials", params={"status": "FAILED", "limit": 8}))["total"] == 0
        assert strict_json(client.get("trials", params={"status": "RUNNING"}))["total"] == 0
        assert strict_json(client.get("trials", params={"status": "SUCCEEDED,FAILED"}))["total"] == 8
        clamped = strict_json(client.get("trials", params={"limit": 100000, "offset": -5}))
        assert clamped["offset"] == 0 and clamped["limit"] == 500
        assert client.get("trials/nosuch").status_code == 404


def test_file_endpoints_refuse_paths_outside_the_experiment(finished_odd, tmp_path):
    experiment, port = finished_odd
    trial_id = experiment.list_trial_jobs()[0].trialJobId
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    trial_dir = experiment.experiment_dir / "trials" / trial_id
    os.symlink(secret, trial_dir / "escape")
    os.symlink(secret, experiment.experiment_dir / "log" / "escape.log")
    with client_for(port) as client:
        for name in ["../../../../../../etc/passwd", "/etc/passwd", str(secret), "../" + trial_id + "/../../db/nni.sqlite",
                     "escape", "..", "stdout\x00"]:
            response = client.get(f"trials/{trial_id}/file", params={"name": name})
            assert response.status_code == 403, (name, response.text)
            assert "top secret" not in response.text
        for name in ["../db/nni.sqlite", "/etc/passwd", "escape.log", "../../" + secret.name]:
            response = client.get("logs/file", params={"name": name})
            assert response.status_code == 403, (name, response.text)
        assert client.get(f"trials/{trial_id}/file", params={"name": "stdout"}).status_code == 200
        assert client.get(f"trials/{trial_id}/file", params={"name": "missing.txt"}).status_code == 404
        logs = strict_json(client.get("logs"))
        assert "nnimanager.log" in logs["files"]
        assert client.get("logs/file", params={"name": "nnimanager.log"}).status_code == 200
        tail = client.get(f"trials/{trial_id}/file", params={"name": "stdout", "tail": 5})
        assert tail.headers["x-truncated"] == "true" and len(tail.content) == 5


def test_mutations_need_the_token_and_take_effect(make_experiment, free_port, tmp_path):
    hold = tmp_path / "hold"
    hold.write_text("")
    experiment = make_experiment(HOLD_TRIAL.format(hold=str(hold)), trial_concurrency=1,
                                 max_trial_number=3)
    experiment.start(free_port)
    token = token_of(experiment.id)
    auth = {"X-NNI-Token": token}
    with client_for(free_port) as client:
        running = wait_for(lambda: [t for t in experiment.list_trial_jobs() if t.status == "RUNNING"],
                           what="a running trial")[0]
        refused = client.post("experiment", json={"trialConcurrency": 2})
        assert refused.status_code == 401
        assert client.post(f"trials/{running.trialJobId}/kill").status_code == 401
        assert client.post("trials", json={"parameters": {"x": 0.5}}).status_code == 401
        assert experiment.get_experiment_profile()["params"]["trialConcurrency"] == 1

        for body, fragment in [({"trialConcurrency": 0}, "at least 1"), ({"trialConcurrency": "2"}, "whole number"),
                               ({"maxTrialNumber": 1.5}, "whole number"), ({"colour": 1}, "cannot change colour"),
                               ({"maxExperimentDuration": "soon"}, "duration"), ({}, "JSON object"),
                               ({"searchSpace": {"x": {"_type": "nosuch", "_value": [1]}}}, "x")]:
            response = client.post("experiment", json=body, headers=auth)
            assert response.status_code == 400 and fragment in response.json()["error"], (body, response.text)
        bad_json = client.post("experiment", content=b"{not json", headers=auth)
        assert bad_json.status_code == 400

        ok = client.post("experiment", json={"trialConcurrency": 2, "maxTrialNumber": 5,
                                             "maxExperimentDuration": "2h"}, headers=auth)
        assert ok.status_code == 200 and ok.json()["changed"] == ["maxExperimentDuration", "maxTrialNumber",
                                                                   "trialConcurrency"]
        params = experiment.get_experiment_profile()["params"]
        assert (params["trialConcurrency"], params["maxTrialNumber"], params["maxExperimentDuration"]) == (2, 5, "2h")
        wait_for(lambda: sum(t.status == "RUNNING" for t in experiment.list_trial_jobs()) == 2,
                 what="a second trial to start after raising concurrency")

        assert client.post("trials/nosuch/kill", headers=auth).status_code == 404
        killed = client.post(f"trials/{running.trialJobId}/kill", headers=auth)
        assert killed.status_code == 200
        wait_for(lambda: experiment.get_trial_job(running.trialJobId).status == "USER_CANCELED", what="the kill")
        again = client.post(f"trials/{running.trialJobId}/kill", headers=auth)
        assert again.status_code == 409 and "already finished" in again.json()["error"]

        for body in [{}, {"parameters": {}}, {"parameters": [1, 2]}, [1]]:
            assert client.post("trials", json=body, headers=auth).status_code == 400
        added = client.post("trials", json={"parameters": {"x": 0.25}}, headers=auth)
        assert added.status_code == 200
        new_id = added.json()["trialId"]
        hold.unlink()
        job = wait_for(lambda: (j := experiment.get_trial_job(new_id)).status == "SUCCEEDED" and j,
                       what="the customized trial to succeed")
        assert job.hyperParameters[0].parameters == {"x": 0.25}
        assert job.finalMetricData[0].data == 0.25
        detail = strict_json(client.get(f"trials/{new_id}"))
        assert detail["customized"] is True


def test_event_stream_pushes_changes_by_sequence(make_experiment, free_port, tmp_path):
    hold = tmp_path / "hold"
    hold.write_text("")
    experiment = make_experiment(HOLD_TRIAL.format(hold=str(hold)), trial_concurrency=1,
                                 max_trial_number=2)
    experiment.start(free_port)
    token = token_of(experiment.id)
    with client_for(free_port) as client, client.stream("GET", "events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        events = parse_events(stream.iter_lines())
        hello = next(events)
        assert hello["event"] == "hello"
        start_seq = hello["data"]["seq"]
        assert int(hello["id"]) == start_seq
        client.post("experiment", json={"maxTrialNumber": 3}, headers={"X-NNI-Token": token})
        change = next(e for e in events if e["event"] == "change" and "experiment" in e["data"]["kinds"])
        assert change["data"]["seq"] > start_seq and int(change["id"]) == change["data"]["seq"]
    # A reconnecting browser sends Last-Event-ID and gets what it missed at once.
    with client_for(free_port) as client, client.stream("GET", "events",
                                                        headers={"Last-Event-ID": str(start_seq)}) as stream:
        events = parse_events(stream.iter_lines())
        assert next(events)["data"]["seq"] == start_seq
        missed = next(events)
        assert missed["event"] == "change" and missed["data"]["seq"] >= change["data"]["seq"]
    hold.unlink()


def parse_events(lines: Any) -> Any:
    """Server-sent events as dicts of their fields (comments skipped), data parsed as JSON."""
    event: dict[str, Any] = {}
    for line in lines:
        if not line:
            if "data" in event:
                event["data"] = json.loads(event["data"])
                yield event
            event = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            event[name] = value.lstrip(" ")


def test_experiments_lists_the_manifest_without_tokens(make_experiment, free_port):
    first = make_experiment(ODD_METRICS_TRIAL, max_trial_number=1, experiment_name="first <i>one</i>")
    second = make_experiment(ODD_METRICS_TRIAL, max_trial_number=1, experiment_name="second")
    first.start(free_port)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        second_port = sock.getsockname()[1]
    second.start(second_port)
    with client_for(free_port) as client:
        response = client.get("experiments")
        data = strict_json(response)
    rows = {r["id"]: r for r in data["experiments"]}
    assert set(rows) == {first.id, second.id}
    assert data["current"] == first.id and rows[first.id]["current"] and not rows[second.id]["current"]
    assert rows[second.id]["port"] == second_port and rows[second.id]["alive"] is True
    assert rows[first.id]["experimentName"] == "first <i>one</i>" and rows[first.id]["platform"] == "local"
    for exp in (first, second):
        assert token_of(exp.id) not in response.text
    assert "token" not in response.text


def test_page_and_assets_are_served_with_every_asset_local(finished_odd):
    _, port = finished_odd
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        index = client.get("/")
        assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
        assets = [part.split('"')[0] for part in index.text.split('="./')[1:]]
        assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets)
        for asset in assets:
            response = client.get("/" + asset)
            assert response.status_code == 200 and len(response.content) > 1000
            assert "http://" not in response.text.replace("http://www.w3.org", "") or asset.endswith(".js")
        for legacy in ("/oview", "/detail", "/experiment"):
            assert client.get(legacy).text == index.text
        assert client.get("/static/index.html").status_code == 200
        assert client.get("/assets/../webui.py").status_code == 404


def test_malformed_query_parameters_are_a_400_naming_them(finished_experiment):
    _, port, _ = finished_experiment("import nni\nnni.report_final_result(nni.get_next_parameter()['x'])\n")
    with client_for(port) as client:
        for path, params, fragment in [
                ("trials", {"offset": "ten"}, "offset must be a whole number"),
                ("trials", {"limit": "1.5"}, "limit must be a whole number"),
                ("trials", {"order": "sideways"}, "order must be one of asc, desc"),
                ("charts/params", {"top": "half"}, "top must be a number from 0 to 1"),
                ("charts/params", {"top": "nan"}, "top must be a number from 0 to 1"),
                ("charts/params", {"mode": "best"}, "mode must be one of maximize, minimize"),
                ("charts/intermediate", {"select": "all"}, "select must be one of latest, best, worst"),
                ("charts/intermediate", {"points": "many"}, "points must be a whole number"),
                ("logs/file", {"name": "nnimanager.log", "tail": "end"}, "tail must be a whole number"),
                ("events", {"after": "last"}, "must be a change sequence number")]:
            response = client.get(path, params=params)
            assert response.status_code == 400 and fragment in response.json()["error"], (path, response.text)
        # out-of-range numbers are clamped, as before
        assert strict_json(client.get("trials", params={"limit": 0, "offset": -3}))["limit"] == 1
        assert strict_json(client.get("trials", params={"limit": "1" + "0" * 400}))["limit"] == 500
        assert strict_json(client.get("charts/params", params={"top": 7}))["shown"] == 2
