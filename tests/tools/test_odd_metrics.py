"""Every odd JSON value as a metric, through a real experiment: web UI, REST, stop, resume, view and export.

Trial ``i`` reports case ``i`` three times as intermediate and once as final; the last cases write
NaN/Infinity spellings straight into the metrics file (the file protocol), as a non-Python trial would.
"""

from __future__ import annotations

import json
import math
import os
import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx
import yaml
from nnictl_helpers import client, free_port, nnictl, wait_status, wait_until

from nni.storage.sqlite import SqliteStorage

CASES: list[Any] = [10**400, -10**400, -0.0, 1e308, float("nan"), float("inf"), float("-inf"),
                    {"default": 10**400, "loss": 1}, {"default": "high", "other": 1}, {"loss": 2.5},
                    {"nested": {"a": [1, {"b": None}]}}, {"default": {"deep": 1}}, [1, "two", None], "text",
                    True, None, 0.5]
RAW = ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"]
"""JSON spellings written by hand into ``.nni/metrics``; Python reads them as nan, inf and -inf."""

TRIAL = f"""
import json, os, sys, time
import nni
CASES = [10**400, -10**400, -0.0, 1e308, float("nan"), float("inf"), float("-inf"),
         {{"default": 10**400, "loss": 1}}, {{"default": "high", "other": 1}}, {{"loss": 2.5}},
         {{"nested": {{"a": [1, {{"b": None}}]}}}}, {{"default": {{"deep": 1}}}}, [1, "two", None], "text",
         True, None, 0.5]
RAW = {RAW!r}
record = nni.get_next_parameter() and json.load(open(os.path.join(os.environ["NNI_SYS_DIR"], "parameter.cfg")))
i = nni.get_sequence_id()
if i < len(CASES):
    for _ in range(3):
        nni.report_intermediate_result(CASES[i])
    nni.report_final_result(CASES[i])
    if i == len(CASES) - 1:
        nni.report_final_result(99.0)  # a second final: kept as a warning, the first stays
else:
    path = os.path.join(os.environ["NNI_SYS_DIR"], ".nni", "metrics")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a") as f:
        for kind, seq in (("PERIODICAL", 0), ("PERIODICAL", 1), ("FINAL", 0)):  # two intermediate, one final
            f.write('{{"type": "%s", "sequence": %d, "parameter_id": %d, "timestamp": %d, "value": %s}}\\n'
                    % (kind, seq, record["parameter_id"], int(time.time() * 1000), RAW[i - len(CASES)]))
"""

TOTAL = len(CASES) + len(RAW)
WEBUI_ROUTES = [("summary", {}), ("trials", {"limit": 100}), ("trials", {"sort": "metric:default", "limit": 100}),
                ("trials", {"sort": "metric:loss", "order": "desc", "limit": 100}), ("charts/metric", {}),
                ("charts/metric", {"key": "loss"}), ("charts/duration", {}), ("charts/intermediate", {}),
                ("charts/intermediate", {"key": "loss"}), ("charts/params", {}), ("charts/contour", {"x": "x", "y": "y"}),
                ("importance", {}), ("importance", {"key": "loss"})]


def _expected(index: int) -> Any:
    return CASES[index] if index < len(CASES) else json.loads(RAW[index - len(CASES)])


def _same(reported: Any, expected: Any) -> bool:
    """Equal as JSON text, so NaN equals NaN and -0.0 is told from 0."""
    return json.dumps(reported) == json.dumps(expected)


def _strict(response: httpx.Response) -> Any:
    assert response.status_code == 200, (response.request.url, response.text[:500])
    return json.loads(response.text, parse_constant=lambda name: (_ for _ in ()).throw(AssertionError(name)))


def _check_served(experiment_id: str, port: int) -> None:
    """REST and web UI answer every trial, in strict JSON, without a 500."""
    rest = client(experiment_id)
    trials = rest.get("/trial-jobs")
    assert len(trials) == TOTAL and all(t["status"] == "SUCCEEDED" for t in trials)
    assert len(rest.get("/export-data")) == TOTAL
    assert len(rest.get("/metric-data")) == len(CASES) * 4 + len(RAW) * 3
    with httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v1/webui/", timeout=30) as web:
        for path, params in WEBUI_ROUTES:
            _strict(web.get(path, params=params))
        summary = _strict(web.get("summary"))
        assert summary["trialCount"] == TOTAL and summary["best"]["value"] == 1e308  # the largest finite one
        for trial in trials:
            detail = _strict(web.get(f"trials/{trial['trialJobId']}"))
            assert len(detail["intermediate"]) == (3 if trial["sequenceId"] < len(CASES) else 2)


def test_every_odd_json_value_survives_a_whole_experiment(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "trial.py").write_text(textwrap.dedent(TRIAL))
    config = code / "config.yml"
    config.write_text(yaml.safe_dump({
        "searchSpace": {"x": {"_type": "uniform", "_value": [0, 1]}, "y": {"_type": "choice", "_value": [1, "b"]}},
        "trialCommand": f"{sys.executable} trial.py", "trialCodeDirectory": ".",
        "trialConcurrency": 4, "maxTrialNumber": TOTAL, "maxTrialDuration": "60s",
        "tuner": {"name": "TPE", "classArgs": {"optimize_mode": "maximize"}},
        "assessor": {"name": "Medianstop", "classArgs": {"start_step": 100}},
        "trainingService": {"platform": "local"},
    }))
    port = free_port()
    nnictl("create", "--config", str(config), "--port", str(port), "--id", "odd")
    wait_status("odd", ("DONE",), timeout=120)
    _check_served("odd", port)

    by_sequence = {t["sequenceId"]: t for t in client("odd").get("/trial-jobs")}
    last = by_sequence[len(CASES) - 1]
    assert "second final result" in last["message"]  # NNI sends a message only when there is one
    assert "not given to TpeTuner" in by_sequence[0]["message"]  # 10**400: the tuner needs a float
    assert "message" not in by_sequence[3]  # 1e308 is a finite float
    nnictl("stop", "odd")

    # Stored exactly as reported: huge integers whole, -0.0 with its sign, NaN and the infinities.
    storage = SqliteStorage(Path(os.environ["HOME"]) / "nni-experiments" / "odd" / "db", read_only=True)
    stored = {t.sequence_id: t for t in storage.load_trials()}
    storage.close()
    assert len(stored) == TOTAL
    for index, trial in stored.items():
        assert trial.final is not None and _same(trial.final.value, _expected(index)), index
        assert all(_same(m.value, _expected(index)) for m in trial.intermediate)
    assert math.copysign(1, stored[2].final.value) == -1

    exported = tmp_path / "export.json"
    nnictl("experiment", "export", "odd", "-t", "json", "-f", str(exported))
    rows = json.loads(exported.read_text())
    assert len(rows) == TOTAL
    assert sorted(r["value"] for r in rows if isinstance(r["value"], int) and not isinstance(r["value"], bool)) \
        == [-10**400, 10**400]
    assert len(json.loads(nnictl("trial", "ls", "odd", "--json").stdout)) == TOTAL

    nnictl("resume", "odd", "--port", str(port))
    assert wait_status("odd", ("DONE",), timeout=60) == "DONE"
    _check_served("odd", port)
    nnictl("stop", "odd")

    nnictl("view", "odd", "--port", str(port))
    assert client("odd").get("/check-status")["status"] == "VIEWED"
    _check_served("odd", port)
    nnictl("stop", "odd")
    nnictl("experiment", "export", "odd", "-t", "csv", "-f", str(tmp_path / "export.csv"))
    assert len((tmp_path / "export.csv").read_text().strip().splitlines()) == TOTAL + 1


def test_a_huge_integer_does_not_wedge_a_trial(tmp_path: Path) -> None:
    """After ``10**400``: a trial that exits ends, kill works, maxTrialDuration fires (each stayed RUNNING)."""
    code = tmp_path / "code"
    code.mkdir()
    (code / "trial.py").write_text("import time, nni\nnni.get_next_parameter()\nnni.report_intermediate_result(10**400)\n"
                                   "nni.report_final_result(10**400)\ntime.sleep(60 if nni.get_sequence_id() else 0)\n")
    config = code / "config.yml"
    config.write_text(yaml.safe_dump({
        "searchSpace": {"x": {"_type": "uniform", "_value": [0, 1]}}, "trialCommand": f"{sys.executable} trial.py",
        "trialCodeDirectory": ".", "trialConcurrency": 3, "maxTrialNumber": 3, "maxTrialDuration": "5s",
        "tuner": {"name": "Random"}, "assessor": {"name": "Curvefitting", "classArgs": {"epoch_num": 20}},
        "trainingService": {"platform": "local"}}))
    nnictl("create", "--config", str(config), "--port", str(free_port()), "--id", "huge")
    rest = client("huge")
    # NNI lists finalMetricData only for SUCCEEDED trials: read the final results from metric-data
    wait_until(lambda: len({m["trialJobId"] for m in rest.get("/metric-data") if m["type"] == "FINAL"}) == 3,
               what="every trial to report")
    exits, killed, timed_out = sorted(rest.get("/trial-jobs"), key=lambda t: t["sequenceId"])
    nnictl("trial", "kill", "huge", "-T", killed["trialJobId"])
    assert wait_status("huge", ("DONE",), timeout=30) == "DONE"
    ended = {t["trialJobId"]: t for t in rest.get("/trial-jobs")}
    assert ended[exits["trialJobId"]]["status"] == "SUCCEEDED"
    assert "not given to RandomTuner" in ended[exits["trialJobId"]]["message"]
    assert ended[killed["trialJobId"]]["status"] == "USER_CANCELED"
    assert ended[timed_out["trialJobId"]]["status"] == "EARLY_STOPPED"
    assert "maxTrialDuration" in ended[timed_out["trialJobId"]]["message"]
    nnictl("stop", "huge")
