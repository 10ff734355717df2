"""The threat model of docs/security.md, tried against real running managers: the token never leaks,
every route sits behind the one guard (Host, Origin, token, body size), files stay confined, and no
malformed body gets a 500."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.routing import Mount, Route

from nni.server.app import create_app
from nni.storage.manifest import manifest_path, read_manifest

TRIAL = """
import os, nni, time
p = nni.get_next_parameter()
if os.environ.get("NNI_MANAGER_TOKEN"):
    raise SystemExit("the manager's token reached the trial")
time.sleep(0.2)
nni.report_intermediate_result(p['x'])
nni.report_final_result(p['x'])
"""

_SAMPLE_PARAMS = {"trial_id": "TRIAL", "filename": "stdout"}


def _all_routes() -> list[tuple[str, str]]:
    """Every (method, path) the app serves, path parameters filled with placeholders."""
    app = create_app(None, "t")
    found: list[tuple[str, str]] = []

    def walk(routes: list[Any], prefix: str) -> None:
        for route in routes:
            if isinstance(route, Mount):
                if route.routes:
                    walk(list(route.routes), prefix + route.path)
                else:
                    found.append(("GET", prefix + route.path + "/app.js"))
            elif isinstance(route, Route):
                path = prefix + route.path
                path = re.sub(r"\{(\w+)(:\w+)?\}", lambda m: _SAMPLE_PARAMS.get(m.group(1), "x"), path)
                for method in sorted(route.methods or {"GET"}):
                    if method != "HEAD":
                        found.append((method, path))
    walk(list(app.routes), "")
    return found


ROUTES = _all_routes()
MUTATIONS = [(m, p) for m, p in ROUTES if m not in ("GET", "HEAD", "OPTIONS")]


def test_the_route_table_is_what_these_tests_cover():
    # A new route lands in ROUTES by itself; this keeps the enumeration honest about what it found.
    assert len(ROUTES) > 25 and len(MUTATIONS) >= 8
    assert ("DELETE", "/api/v1/nni/experiment") in MUTATIONS
    assert ("POST", "/api/v1/webui/trials/TRIAL/kill") in MUTATIONS


@pytest.fixture
def running(finished_experiment):
    experiment, port, token = finished_experiment(TRIAL)
    return experiment, port, token, experiment.list_trial_jobs()[0].trialJobId


def _request(port: int, method: str, path: str, trial_id: str = "", **kwargs: Any) -> httpx.Response:
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=20) as client:
        return client.request(method, path.replace("TRIAL", trial_id), **kwargs)


def test_the_token_is_never_served(running):
    experiment, port, token, trial_id = running
    assert all(t.status.value == "SUCCEEDED" for t in experiment._runner.engine.trials.values())
    for method, path in ROUTES:
        if method != "GET" or path.endswith("/events"):
            continue
        answer = _request(port, method, path, trial_id)
        assert token not in answer.text, f"{path} leaks the token"
    for name in ("nnimanager.log", "dispatcher.log"):
        answer = _request(port, "GET", f"/api/v1/webui/logs/file?name={name}")
        assert answer.status_code == 200 and token not in answer.text
    assert "token" not in _request(port, "GET", "/api/v1/nni/experiment-metadata").json()
    assert all("token" not in e for e in _request(port, "GET", "/api/v1/nni/experiments-info").json())


def test_files_holding_the_token_are_owner_only(running):
    experiment, _, _, _ = running
    folder = Path(experiment._runner.experiment_dir)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(manifest_path().stat().st_mode) == 0o600
    for name in ("nnimanager.log", "dispatcher.log"):
        assert stat.S_IMODE((folder / "log" / name).stat().st_mode) == 0o600


@pytest.mark.parametrize("host", ["rebind.attacker.example", "evil.localhost.example:80", "10.1.2.3", "", "a b"])
def test_a_foreign_host_header_is_refused_on_every_route(running, host):
    _, port, token, trial_id = running
    for method, path in ROUTES:
        answer = _request(port, method, path, trial_id, headers={"Host": host, "X-NNI-Token": token})
        assert answer.status_code == 421, (method, path, answer.status_code)


def test_localhost_names_are_accepted(running):
    _, port, _, _ = running
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "LOCALHOST"):
        assert _request(port, "GET", "/api/v1/nni/check-status", headers={"Host": host}).status_code == 200


def test_every_change_needs_the_token_and_a_same_site_origin(running):
    _, port, token, trial_id = running
    for method, path in MUTATIONS:
        if path.endswith("/api/v1/nni/experiment") and method == "DELETE":
            continue  # would stop the experiment; covered last below
        assert _request(port, method, path, trial_id, json={}).status_code == 401, (method, path)
        assert _request(port, method, path, trial_id, json={},
                        headers={"X-NNI-Token": "wrong"}).status_code == 401, (method, path)
        for origin in ("http://rebind.attacker.example", "null", "http://127.0.0.1.evil.example:1",
                       "http://localhost:1", f"ftp://127.0.0.1:{port}"):
            answer = _request(port, method, path, trial_id, json={},
                              headers={"X-NNI-Token": token, "Origin": origin})
            assert answer.status_code == 403, (method, path, origin)
        answer = _request(port, method, path, trial_id, json={},
                          headers={"X-NNI-Token": token, "Sec-Fetch-Site": "cross-site"})
        assert answer.status_code == 403, (method, path)
    own = {"X-NNI-Token": token, "Origin": f"http://127.0.0.1:{port}"}
    answer = _request(port, "POST", "/api/v1/nni/trial-jobs", json={"parameters": {"x": 0.5}}, headers=own)
    assert answer.status_code == 200
    assert _request(port, "DELETE", "/api/v1/nni/experiment",
                    headers={"X-NNI-Token": token, "Origin": "http://evil.example"}).status_code == 403
    assert _request(port, "GET", "/api/v1/nni/check-status").json()["status"] != "STOPPED"


def test_a_trial_folder_swapped_for_a_link_serves_nothing(running):
    experiment, port, token, trial_id = running
    folder = Path(experiment._runner.experiment_dir) / "trials" / trial_id
    moved = folder.with_name(trial_id + ".moved")
    folder.rename(moved)
    os.symlink("/", folder)
    try:
        for headers in ({}, {"X-NNI-Token": token}):
            answer = _request(port, "GET", f"/api/v1/nni/trial-file/{trial_id}/etc/passwd", headers=headers)
            assert answer.status_code == 403 and "root:" not in answer.text
            answer = _request(port, "GET", f"/api/v1/webui/trials/{trial_id}/file?name=etc/passwd", headers=headers)
            assert answer.status_code == 403 and "root:" not in answer.text
        for name in ("%00", "a%00b", "stdout%00.txt"):
            assert _request(port, "GET", f"/api/v1/nni/trial-file/{trial_id}/{name}").status_code in (403, 404)
            assert _request(port, "GET", f"/api/v1/webui/trials/{trial_id}/file?name={name}").status_code in (403, 404)
    finally:
        folder.unlink()
        moved.rename(folder)


def _bodies() -> list[bytes]:
    deep = b"[" * 100_000 + b"]" * 100_000
    return [
        b"not json", b"{", b"\xff\xfe\x00", b'"a string"', b'"[1, 2"', b"12", b"null", b"true", b"[]", b"{}",
        b"[1, 2, 3]", b'["x"]', b"[{}]", b'[{"parameter": 1, "value": 2}]', b"NaN", b"-Infinity",
        b"1" + b"0" * 5000, deep, b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        b'{"params": "x"}', b'{"params": {"searchSpace": "not json"}}',
        b'{"params": {"searchSpace": "[[[["}}', b'{"params": {"trialConcurrency": "8"}}',
        b'{"params": {"trialConcurrency": 1e999}}', b'{"params": {"maxTrialNumber": -1}}',
        b'{"params": {"maxTrialNumber": ' + b"9" * 400 + b"}}",
        b'{"params": {"maxExperimentDuration": []}}', b'{"params": {"searchSpace": {"x": 1}}}',
        b'{"parameters": "x"}', b'{"parameters": []}', b'{"hyperParameters": {"value": "{bad"}}',
        b'{"hyperParameters": 5}', b'{"trialConcurrency": true}', b'{"maxTrialNumber": 1e400}',
        b'{"searchSpace": []}', b'{"unknown": 1}', b'{"maxExperimentDuration": "forever"}',
    ]


_UPDATE_TYPES = ["TRIAL_CONCURRENCY", "MAX_TRIAL_NUM", "MAX_EXEC_DURATION", "SEARCH_SPACE", "NOPE"]


def test_malformed_bodies_never_get_a_500(running):
    _, port, token, trial_id = running
    headers = {"X-NNI-Token": token, "Content-Type": "application/json"}
    for method, path in MUTATIONS:
        if path.endswith("/api/v1/nni/experiment") and method == "DELETE":
            continue
        targets = [f"{path}?update_type={t}" for t in _UPDATE_TYPES] if method == "PUT" else [path]
        for target in targets:
            for body in _bodies():
                answer = _request(port, method, target, trial_id, content=body, headers=headers)
                assert answer.status_code < 500, (method, target, body[:60], answer.status_code, answer.text[:300])
    assert _request(port, "GET", "/api/v1/nni/check-status").json()["status"] in ("DONE", "RUNNING")


def test_bodies_past_the_limit_are_refused(make_experiment, free_port, monkeypatch):
    monkeypatch.setenv("NNI_MAX_REQUEST_BYTES", "4096")
    experiment = make_experiment(TRIAL, max_trial_number=1)
    experiment.start(free_port)
    token = read_manifest()[experiment.id]["token"]
    headers = {"X-NNI-Token": token}
    big = {"parameters": {"x": "y" * 10_000}}
    answer = _request(free_port, "POST", "/api/v1/nni/trial-jobs", json=big, headers=headers)
    assert answer.status_code == 413 and "NNI_MAX_REQUEST_BYTES" in answer.json()["error"]

    def chunks():
        for _ in range(10):
            yield b"x" * 1000

    answer = _request(free_port, "POST", "/api/v1/nni/experiment/import-data", content=chunks(), headers=headers)
    assert answer.status_code == 413
    small = _request(free_port, "POST", "/api/v1/nni/trial-jobs", json={"parameters": {"x": 0.1}}, headers=headers)
    assert small.status_code == 200


def test_a_named_host_is_accepted_when_configured(make_experiment, free_port, monkeypatch):
    monkeypatch.setenv("NNI_ALLOWED_HOSTS", "nni.example.internal")
    experiment = make_experiment(TRIAL, max_trial_number=1)
    experiment.start(free_port)
    ok = _request(free_port, "GET", "/api/v1/nni/check-status", headers={"Host": "nni.example.internal:1"})
    assert ok.status_code == 200
    bad = _request(free_port, "GET", "/api/v1/nni/check-status", headers={"Host": "other.example.internal"})
    assert bad.status_code == 421


def test_a_detached_manager_keeps_its_token_out_of_its_logs(tmp_path: Path, free_port):
    code = tmp_path / "code"
    code.mkdir()
    (code / "trial.py").write_text(TRIAL)
    config = tmp_path / "config.yml"
    config.write_text(
        "searchSpace: {x: {_type: uniform, _value: [0, 1]}}\n"
        f"trialCommand: {sys.executable} trial.py\ntrialCodeDirectory: {code}\n"
        f"trialConcurrency: 1\nmaxTrialNumber: 1\nexperimentWorkingDirectory: {tmp_path / 'exps'}\n"
        "tuner: {name: Random}\ntrainingService: {platform: local}\n")
    nnictl = [sys.executable, "-m", "nni.tools.nnictl.main"]
    created = subprocess.run([*nnictl, "create", "--config", str(config), "--port", str(free_port)],
                             capture_output=True, text=True, timeout=120)
    assert created.returncode == 0, created.stdout + created.stderr
    (experiment_id, entry), = read_manifest().items()
    token = entry["token"]
    assert token in created.stdout  # the user is shown the URL with its token
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and read_manifest()[experiment_id].get("status") != "DONE":
            time.sleep(0.2)
        folder = Path(entry["logDir"])
        logs = list((folder / "log").iterdir())
        assert any(p.name == "manager-output.log" for p in logs)
        for path in logs:
            assert token not in path.read_text(errors="replace"), f"{path.name} holds the token"
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0 or path.suffix == ".json"
        for trial in (folder / "trials").iterdir():
            assert "token" not in (trial / "stderr").read_text()
    finally:
        subprocess.run([*nnictl, "stop", experiment_id], capture_output=True, timeout=60)
