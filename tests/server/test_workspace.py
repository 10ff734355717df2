"""Every experiment on one port: ``nnictl view --all`` and a manager's own app, with real experiments
(two finished, one running whose trials wait on a file), real databases and real HTTP."""

from __future__ import annotations

import csv
import io
import json
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import HOLD_TRIAL, wait_for

from nni.experiment import Experiment
from nni.storage.manifest import read_manifest

PLAIN_TRIAL = """
import nni
p = nni.get_next_parameter()
nni.report_final_result({"default": p["x"], "loss": 1 - p["x"]})
"""


def other_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def nnictl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nni.tools.nnictl.main", *args], capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def three(make_experiment: Callable[..., Experiment], free_port: int, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Two finished experiments (one minimizing, another search space) and one running, held."""
    hold = tmp_path / "hold"
    hold.write_text("")
    first = make_experiment(PLAIN_TRIAL, max_trial_number=3, trial_concurrency=1, experiment_name="first")
    second = make_experiment(PLAIN_TRIAL, max_trial_number=2, trial_concurrency=1, experiment_name="second <b>",
                             search_space={"x": {"_type": "uniform", "_value": [0, 2]}})
    second.config.tuner.class_args = {"optimize_mode": "minimize"}
    running = make_experiment(HOLD_TRIAL.format(hold=str(hold)), max_trial_number=2, trial_concurrency=1,
                              experiment_name="running")
    assert first.run(free_port) is True
    assert second.run(other_port()) is True
    port = other_port()
    running.start(port)
    yield {"first": first, "second": second, "running": running, "hold": hold, "port": port}
    hold.unlink(missing_ok=True)


@pytest.fixture
def view_all() -> Iterator[Callable[..., tuple[str, str]]]:
    """Start ``nnictl view --all`` in a subprocess; give (base URL, token)."""
    processes: list[subprocess.Popen[str]] = []

    def start(*extra: str) -> tuple[str, str]:
        process = subprocess.Popen([sys.executable, "-m", "nni.tools.nnictl.main", "view", "--all", "--port", "0",
                                    *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        processes.append(process)
        assert process.stdout is not None
        for line in process.stdout:
            found = re.search(r"(http://localhost:\d+)/workspace\?token=(\S+)", line)
            if found:
                return found.group(1).replace("localhost", "127.0.0.1"), found.group(2)
        raise AssertionError(f"nnictl view --all printed no URL (exit {process.wait()})")

    yield start
    for process in processes:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_view_all_serves_every_experiment_and_a_running_one_live(three, view_all):
    base, token = view_all()
    first, second, running = three["first"], three["second"], three["running"]
    with httpx.Client(base_url=base, timeout=30) as client:
        assert client.get("/").headers["location"].endswith("/workspace")
        page = client.get("/workspace")
        assert page.status_code == 200 and "<div id=\"app\"" in page.text
        listed = client.get("/api/v1/webui/experiments").json()
        assert {r["id"] for r in listed["experiments"]} == {first.id, second.id, running.id}
        assert listed["current"] is None

        # Each experiment's whole portal under /exp/ID/: the page, its assets and its API.
        assert client.get(f"/exp/{first.id}").headers["location"].endswith(f"/exp/{first.id}/")
        assert client.get(f"/exp/{first.id}/").status_code == 200
        summary = client.get(f"/exp/{first.id}/api/v1/webui/summary").json()
        assert summary["experimentId"] == first.id and summary["status"] == "DONE" and summary["trialCount"] == 3
        rows = client.get(f"/exp/{second.id}/api/v1/webui/trials").json()["rows"]
        assert len(rows) == 2 and all(r["status"] == "SUCCEEDED" for r in rows)

        # The running one is read from its database while its manager writes it, and follows it live.
        def live() -> dict[str, Any]:
            return client.get(f"/exp/{running.id}/api/v1/webui/summary").json()

        wait_for(lambda: live()["counts"]["RUNNING"] == 1, what="the held trial to run")
        assert live()["status"] == "RUNNING"
        running.update_trial_concurrency(3)  # a setting changed by its own manager shows here too
        wait_for(lambda: live()["config"]["trialConcurrency"] == 3, what="the changed concurrency")
        with client.stream("GET", f"/exp/{running.id}/api/v1/webui/events") as stream:
            lines = stream.iter_lines()
            assert next(lines).startswith("retry:")
            three["hold"].unlink()
            event = next(line for line in lines if line.startswith("event: change"))
        assert event
        wait_for(lambda: live()["counts"]["SUCCEEDED"] == 2, what="the running experiment's results to arrive")
        wait_for(lambda: live()["status"] == "DONE", what="the running experiment to finish")

        # Changes are refused: every experiment here is read-only (and a change needs the token first).
        refused = client.post(f"/exp/{first.id}/api/v1/webui/experiment", json={"trialConcurrency": 3})
        assert refused.status_code == 401
        refused = client.post(f"/exp/{first.id}/api/v1/webui/experiment", json={"trialConcurrency": 3},
                              headers={"X-NNI-Token": token})
        assert refused.status_code == 403 and "read-only" in refused.json()["error"]
        assert client.get("/exp/nosuch/api/v1/webui/summary").status_code == 404
        assert client.get("/exp/%2E%2E/api/v1/webui/summary").status_code == 404
        assert client.get(f"/exp/{first.id}/api/v1/webui/summary", headers={"Host": "evil.example"}).status_code == 421
        trial_id = rows[0]["trialId"]
        outside = client.get(f"/exp/{second.id}/api/v1/webui/trials/{trial_id}/file", params={"name": "../../db/nni.sqlite"})
        assert outside.status_code == 403


def test_compare_overlays_best_so_far_and_diffs_configs_and_spaces(three):
    first, second, running = three["first"], three["second"], three["running"]
    three["hold"].unlink()
    assert running._runner is not None
    running._runner.wait_finished(60)
    ids = ",".join([first.id, second.id, running.id])
    with httpx.Client(base_url=f"http://127.0.0.1:{three['port']}/api/v1/webui/", timeout=30) as client:
        data = client.get("compare", params={"ids": ids}).json()
        by_id = {e["id"]: e for e in data["experiments"]}
        assert list(by_id) == [first.id, second.id, running.id]
        for exp, count in ((first, 3), (second, 2), (running, 2)):
            entry = by_id[exp.id]
            finals = [t.finalMetricData[0].data for t in exp.list_trial_jobs()]
            values = [json.loads(v) if isinstance(v, str) else v for v in finals]
            numbers = [v["default"] if isinstance(v, dict) else v for v in values]
            assert entry["trialCount"] == count and entry["curve"]
            best = [p[1] for p in entry["curve"]]
            if entry["optimizeMode"] == "minimize":
                assert best == sorted(best, reverse=True) and best[-1] == min(numbers)
            else:
                assert best == sorted(best) and best[-1] == max(numbers)
        assert by_id[second.id]["optimizeMode"] == "minimize" and by_id[second.id]["name"] == "second <b>"
        paths = {row["path"]: row for row in data["config"]}
        assert paths["experimentName"]["values"] == {first.id: "first", second.id: "second <b>",
                                                    running.id: "running"}
        assert "trialConcurrency" not in paths
        space = {row["path"]: row for row in data["searchSpace"]}
        assert set(space) == {"x._value"} and space["x._value"]["values"][second.id] == [0, 2]
        assert data["metricKeys"] == ["default", "loss"] and data["front"] is None

        # Fronts of two metric keys: loss = 1 - x, so they agree when loss is minimized (one point)
        # and every trial is a trade-off when both are maximized.
        fronts = client.get("compare", params={"ids": ids, "front": "default,loss",
                                                "frontModes": "maximize,minimize"}).json()
        assert fronts["front"] == {"keys": ["default", "loss"], "modes": ["maximize", "minimize"]}
        first_front = fronts["experiments"][0]["front"]
        assert len(first_front) == 1 and first_front[0][0] == by_id[first.id]["best"]
        both = client.get("compare", params={"ids": first.id, "front": "default,loss"}).json()
        assert len(both["experiments"][0]["front"]) == 3
        for params in ({"front": "default"}, {"front": "loss,loss"},
                       {"front": "default,loss", "frontModes": "up,down"}):
            refused = client.get("compare", params={"ids": first.id, **params})
            assert refused.status_code == 400 and "front" in refused.json()["error"]
        assert client.get("compare", params={"ids": "nosuch"}).status_code == 404
        assert "at least one" in client.get("compare").json()["error"]
        assert client.get("compare", params={"ids": ",".join(f"e{i}" for i in range(21))}).status_code == 400

        text = client.get("export", params={"ids": ids, "type": "csv"}).text
        rows = list(csv.DictReader(io.StringIO(text)))
        assert [r["experimentId"] for r in rows].count(first.id) == 3 and len(rows) == 7
        assert set(rows[0]) == {"experimentId", "trialJobId", "x", "value"}
        records = client.get("export", params={"ids": first.id, "type": "json"}).json()
        assert {r["experimentId"] for r in records} == {first.id} and len(records) == 3
        bad = client.get("export", params={"ids": first.id, "type": "xml"})
        assert bad.status_code == 400 and "csv, json" in bad.json()["error"]


def test_nnictl_exports_several_experiments_into_one_file(three, tmp_path: Path):
    first, second, running = three["first"], three["second"], three["running"]
    out = tmp_path / "all.csv"
    result = nnictl("experiment", "export", "--all", "--type", "csv", "--filename", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    rows = list(csv.DictReader(out.open()))
    assert {r["experimentId"] for r in rows} == {first.id, second.id}  # the running one has no result yet
    assert sum(r["experimentId"] == first.id for r in rows) == 3
    three["hold"].unlink()
    assert running._runner is not None
    running._runner.wait_finished(60)

    out = tmp_path / "two.json"
    result = nnictl("experiment", "export", first.id, running.id, "-t", "json", "-f", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    records = json.loads(out.read_text())
    assert [r["experimentId"] for r in records].count(running.id) == 2 and len(records) == 5
    assert set(records[0]) == {"experimentId", "trialJobId", "parameter", "value"}

    single = tmp_path / "one.csv"
    assert nnictl("experiment", "export", first.id, "-t", "csv", "-f", str(single)).returncode == 0
    assert "experimentId" not in single.read_text().splitlines()[0]  # one experiment: NNI's own format


@pytest.mark.parametrize(("args", "message"), [
    (["experiment", "export", "--all", "ID", "-t", "csv", "-f", "x.csv"], "not both"),
    (["experiment", "export", "a", "b", "-i", "-t", "csv", "-f", "x.csv"], "--intermediate"),
    (["experiment", "export", "nosuch", "other", "-t", "csv", "-f", "x.csv"], "no experiment with id 'nosuch'"),
    (["view"], "--all"),
    (["view", "--all", "ID"], "not both"),
])
def test_workspace_commands_refuse_what_makes_no_sense(args: list[str], message: str, tmp_path: Path):
    result = nnictl(*args)
    assert result.returncode == 1 and message in result.stderr


def test_view_all_on_a_port_in_use_says_so():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        result = nnictl("view", "--all", "--port", str(sock.getsockname()[1]))
    assert result.returncode == 1 and "cannot serve on" in result.stderr


def test_a_manager_still_lists_its_own_experiment_as_current(three):
    running = three["running"]
    with httpx.Client(base_url=f"http://127.0.0.1:{three['port']}", timeout=30) as client:
        own = client.get(f"/exp/{running.id}/api/v1/webui/summary").json()
        assert own["status"] == "RUNNING"  # the live engine itself, not its database
        assert read_manifest()[running.id]["port"] == three["port"]
        assert client.get("/api/v1/webui/summary").json()["experimentId"] == running.id
