"""Retries, reruns, enqueued trials and warm starts through the real nnictl: detached managers, real
trial processes, real SQLite files, in a private HOME."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any

from nnictl_helpers import Workspace, client, free_port, nnictl, wait_status, wait_until

FLAKY = '''
import os, sys
import nni
params = nni.get_next_parameter()
marker = os.path.join(os.environ["MARKERS"], repr(params["x"]))
if os.path.exists(os.environ["MARKERS"] + "/broken") or not os.path.exists(marker):
    open(marker, "w").close()
    sys.exit(3)  # the first run of each parameter set fails; every run fails while "broken" exists
nni.report_final_result(params["x"])
'''


def _flaky(workspace: Workspace, name: str, **overrides: Any) -> tuple[Path, Path]:
    """A config whose trials fail on their first run (or always, while markers/broken exists)."""
    markers = workspace.root / f"markers-{name}"
    markers.mkdir()
    (workspace.root / "flaky.py").write_text(textwrap.dedent(FLAKY))
    settings = {"trialCommand": f"MARKERS={markers} {sys.executable} flaky.py", "trialConcurrency": 2,
                "maxTrialNumber": 2} | overrides
    return workspace.write_config(f"{name}.yml", **settings), markers


def _trials(experiment_id: str) -> list[dict[str, Any]]:
    return json.loads(nnictl("trial", "ls", experiment_id, "--json").stdout)


def test_max_trial_retries_reruns_failed_trials_and_says_so_in_their_rows(workspace: Workspace) -> None:
    config, _ = _flaky(workspace, "retry", maxTrialRetries=1)
    nnictl("create", "--config", str(config), "--port", str(free_port()), "--id", "retry1")
    wait_status("retry1")
    trials = sorted(_trials("retry1"), key=lambda t: t["sequenceId"])
    assert sorted(t["status"] for t in trials) == ["FAILED", "FAILED", "SUCCEEDED", "SUCCEEDED"]
    for failed in (t for t in trials if t["status"] == "FAILED"):
        retry = next(t for t in trials if t["message"] and f"of trial {failed['trialJobId']}" in t["message"])
        assert retry["message"] == f"retry 1 of 1 of trial {failed['trialJobId']}"
        assert f"retried as trial {retry['trialJobId']}" in failed["message"]
        assert retry["hyperParameters"][0]["parameter_id"] == failed["hyperParameters"][0]["parameter_id"]
    nnictl("stop", "retry1")


def test_rerun_failed_trials_and_one_trial_by_id(workspace: Workspace) -> None:
    config, markers = _flaky(workspace, "rerun")
    (markers / "broken").touch()
    nnictl("create", "--config", str(config), "--port", str(free_port()), "--id", "rerun1")
    wait_status("rerun1")
    failed = [t["trialJobId"] for t in _trials("rerun1")]
    assert len(failed) == 2
    (markers / "broken").unlink()

    out = nnictl("trial", "rerun", "rerun1", "--failed").stdout
    assert all(f"Trial {trial_id} runs again as trial" in out for trial_id in failed)
    wait_until(lambda: sum(t["status"] == "SUCCEEDED" for t in client("rerun1").get("/trial-jobs")) == 2,
               what="the reruns to succeed")
    wait_status("rerun1")
    assert "No failed trial to run again" in nnictl("trial", "rerun", "rerun1", "--failed").stdout

    out = nnictl("trial", "rerun", "rerun1", "-T", failed[0]).stdout
    assert f"Trial {failed[0]} runs again" in out
    wait_until(lambda: len(client("rerun1").get("/trial-jobs")) == 5, what="the rerun by id")
    reruns = [t for t in _trials("rerun1") if t["message"] == f"rerun of trial {failed[0]}"]
    assert len(reruns) == 2

    unknown = nnictl("trial", "rerun", "rerun1", "-T", "nosuch", check=False)
    assert unknown.returncode == 1 and "no trial 'nosuch'" in unknown.stderr
    assert nnictl("trial", "rerun", "rerun1", check=False).returncode == 2  # --failed or -T is required
    assert nnictl("trial", "rerun", "rerun1", "--failed", "-T", failed[0], check=False).returncode == 2
    nnictl("stop", "rerun1")
    stopped = nnictl("trial", "rerun", "rerun1", "--failed", check=False)
    assert stopped.returncode == 1 and "is not running" in stopped.stderr


def test_enqueue_runs_a_trial_once_and_bad_params_are_refused(workspace: Workspace) -> None:
    config = workspace.write_config("enqueue.yml", maxTrialNumber=1, trialConcurrency=1)
    nnictl("create", "--config", str(config), "--port", str(free_port()), "--id", "enq1")
    wait_status("enq1")
    out = nnictl("trial", "enqueue", "enq1", "--params", '{"x": 0.625}').stdout
    assert "is queued" in out
    wait_until(lambda: any(t["status"] == "SUCCEEDED" and json.loads(t["hyperParameters"][0])["parameters"]
                           == {"x": 0.625} for t in client("enq1").get("/trial-jobs")), what="the enqueued trial")
    wait_status("enq1")
    ran = [t for t in _trials("enq1") if t["hyperParameters"][0]["parameters"] == {"x": 0.625}]
    assert len(ran) == 1 and ran[0]["hyperParameters"][0]["parameter_source"] == "customized"
    for bad, why in (("{x: 1}", "not valid JSON"), ("[1, 2]", "must be a JSON object")):
        result = nnictl("trial", "enqueue", "enq1", "--params", bad, check=False)
        assert result.returncode == 1 and why in result.stderr
    nnictl("stop", "enq1")


def test_create_with_warm_start_feeds_the_tuner_and_flags_the_rows_imported(workspace: Workspace) -> None:
    config = workspace.write_config("old.yml", maxTrialNumber=3)
    nnictl("create", "--config", str(config), "--port", str(free_port()), "--id", "old1")
    wait_status("old1")
    nnictl("stop", "old1")
    exported = workspace.root / "more.json"
    exported.write_text(json.dumps([{"parameter": {"x": 0.005, "unused": 1}, "value": 0.5},
                                    {"parameter": {"x": 7}, "value": 7}]))

    narrower = workspace.write_config("new.yml", maxTrialNumber=1,
                                      searchSpace={"x": {"_type": "uniform", "_value": [0, 0.015]}},
                                      warmStart=[str(exported)])
    out = nnictl("create", "--config", str(narrower), "--port", str(free_port()), "--id", "new1",
                 "--warm-start", "old1").stdout
    assert f"Warm start from {exported}: 1 result(s) (1 outside the search space skipped)." in out
    assert "Warm start from old1: 2 result(s) (1 outside the search space skipped)." in out  # x = 0, 0.01, 0.02
    wait_status("new1")
    assert workspace.imports()[:2] == [[{"parameter": {"x": 0.005}, "value": 0.5}],
                                       [{"parameter": {"x": 0.0}, "value": 0.0}, {"parameter": {"x": 0.01}, "value": 0.01}]]
    rows = client("new1").get("/experiment/imported-results")
    assert [(r["source"], r["parameter"], r["imported"]) for r in rows] == [
        (str(exported), {"x": 0.005}, True), ("old1", {"x": 0.0}, True), ("old1", {"x": 0.01}, True)]
    nnictl("stop", "new1")

    missing = nnictl("create", "--config", str(config), "--port", str(free_port()), "--warm-start", "nosuch",
                     check=False)
    assert missing.returncode == 1 and "'nosuch' is neither a result file nor a stored experiment" in missing.stderr


def test_bad_retry_and_warm_start_settings_are_refused_naming_the_key(workspace: Workspace) -> None:
    for name, overrides, key in (("retries", {"maxTrialRetries": -1}, "maxTrialRetries"),
                                 ("many", {"maxTrialRetries": 101}, "maxTrialRetries"),
                                 ("words", {"maxTrialRetries": "twice"}, "maxTrialRetries"),
                                 ("warm", {"warmStart": [3]}, "warmStart")):
        result = nnictl("create", "--config", str(workspace.write_config(f"{name}.yml", **overrides)), check=False)
        assert result.returncode == 1 and key in result.stderr and "Traceback" not in result.stderr, result.stderr
    bad = workspace.root / "bad.json"
    bad.write_text("not json")
    result = nnictl("create", "--config", str(workspace.config), "--warm-start", str(bad), check=False)
    assert result.returncode == 1 and "not valid JSON" in result.stderr
