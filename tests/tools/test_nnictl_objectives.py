"""Objectives and constraints through the real ``nnictl``: create, export (json/csv), trial ls --pareto,
the refusals, and a kill -9 of the manager then resume keeping the front."""

from __future__ import annotations

import csv
import json
import os
import signal
import sys
import textwrap
from pathlib import Path
from typing import Any

import yaml
from nnictl_helpers import client, free_port, nnictl, wait_status, wait_until

from nni.experiment.detach import manager_alive
from nni.storage.manifest import read_manifest

# acc = x (maximised), lat = x + y (minimised), mem = 100 x (at most 80); y = 0.7 leaves lat out
TRIAL = """
import os, time
import nni
p = nni.get_next_parameter()
time.sleep(float(os.environ.get("TRIAL_SLEEP", "0")))
result = {"acc": p["x"], "mem": 100 * p["x"]}
if p["y"] != 0.7:
    result["lat"] = round(p["x"] + p["y"], 6)
nni.report_final_result(result)
"""

GRID = {"x": {"_type": "choice", "_value": [0.2, 0.5, 0.9]}, "y": {"_type": "choice", "_value": [0.1, 0.6, 0.7]}}
OBJECTIVES = [{"metric": "acc", "mode": "maximize"}, {"metric": "lat", "mode": "minimize"}]
CONSTRAINTS = [{"metric": "mem", "max": 80}]
FRONT = [{"x": 0.2, "y": 0.1}, {"x": 0.5, "y": 0.1}]


def _write(tmp_path: Path, name: str = "config.yml", **overrides: Any) -> Path:
    code = tmp_path / "code"
    code.mkdir(exist_ok=True)
    (code / "trial.py").write_text(textwrap.dedent(TRIAL))
    config = {"searchSpace": GRID, "trialCommand": f"{sys.executable} trial.py", "trialCodeDirectory": ".",
              "trialConcurrency": 2, "maxTrialNumber": 9, "tuner": {"name": "GridSearch"},
              "trainingService": {"platform": "local"}, "objectives": OBJECTIVES, "constraints": CONSTRAINTS}
    config.update(overrides)
    path = code / name
    path.write_text(yaml.safe_dump(config))
    return path


def _expected(parameters: dict[str, float]) -> tuple[bool | None, bool]:
    """(feasible, pareto) of one grid point, worked out by hand from TRIAL."""
    if parameters["y"] == 0.7:
        return None, False
    return parameters["x"] <= 0.8, parameters in FRONT


def _trials(experiment_id: str) -> list[dict[str, Any]]:
    return json.loads(nnictl("trial", "ls", experiment_id, "--json").stdout)


def test_create_export_and_list_the_front(tmp_path: Path) -> None:
    nnictl("create", "--config", str(_write(tmp_path)), "--port", str(free_port()), "--id", "mo2")
    wait_status("mo2")
    trials = _trials("mo2")
    assert len(trials) == 9 and all(t["status"] == "SUCCEEDED" for t in trials)
    for trial in trials:
        unusable = trial["hyperParameters"][0]["parameters"]["y"] == 0.7
        assert (trial.get("message") == "the final result is not given to the tuner: the result has no objective key "
                                    "'lat'") is unusable

    out = tmp_path / "out.json"
    nnictl("experiment", "export", "mo2", "-t", "json", "-f", str(out))
    rows = json.loads(out.read_text())
    assert len(rows) == 9
    assert all(list(row) == ["parameter", "value", "trialJobId", "feasible", "pareto"] for row in rows)
    assert all((row["feasible"], row["pareto"]) == _expected(row["parameter"]) for row in rows)

    out_csv = tmp_path / "out.csv"
    nnictl("experiment", "export", "mo2", "-t", "csv", "-f", str(out_csv))
    with open(out_csv, newline="") as f:
        table = list(csv.DictReader(f))
    assert list(table[0]) == ["trialJobId", "x", "y", "value", "feasible", "pareto"]
    expected_cells = {"true": True, "false": False, "": None}
    for row in table:
        flags = _expected({"x": float(row["x"]), "y": float(row["y"])})
        assert (expected_cells[row["feasible"]], expected_cells[row["pareto"]]) == flags

    # the REST route (live) says the same as the stored rows nnictl read above
    live = client("mo2").get("/export-data")
    assert {r["trialJobId"]: (r["feasible"], r["pareto"]) for r in live} == \
        {r["trialJobId"]: (r["feasible"], r["pareto"]) for r in rows}

    front = json.loads(nnictl("trial", "ls", "mo2", "--pareto", "--json").stdout)
    assert sorted(t["hyperParameters"][0]["parameters"]["x"] for t in front) == [0.2, 0.5]
    assert "mo2" in nnictl("trial", "ls", "mo2", "--pareto").stdout
    # --head ranks feasible trials by the first objective, then the next: the best one is on the front
    head = json.loads(nnictl("trial", "ls", "mo2", "--head", "3", "--json").stdout)
    assert [t["hyperParameters"][0]["parameters"] for t in head] == [{"x": 0.5, "y": 0.1}, {"x": 0.5, "y": 0.6},
                                                                     {"x": 0.2, "y": 0.1}]
    nnictl("stop", "mo2")
    # stopped: read from the database, the same front
    stopped = json.loads(nnictl("trial", "ls", "mo2", "--pareto", "--json").stdout)
    assert {t["trialJobId"] for t in stopped} == {t["trialJobId"] for t in front}


def test_without_objectives_export_and_ls_stay_nnis(tmp_path: Path) -> None:
    config = _write(tmp_path, objectives=None, constraints=None, maxTrialNumber=2,
                    trialCommand=f"{sys.executable} -c \"import nni; nni.get_next_parameter(); "
                                 f"nni.report_final_result(0.5)\"")
    data = yaml.safe_load(config.read_text())
    del data["objectives"], data["constraints"]
    config.write_text(yaml.safe_dump(data))
    nnictl("create", "--config", str(config), "--port", str(free_port()), "--id", "plain")
    wait_status("plain")
    out = tmp_path / "plain.json"
    nnictl("experiment", "export", "plain", "-t", "json", "-f", str(out))
    assert all(list(row) == ["parameter", "value", "trialJobId"] for row in json.loads(out.read_text()))
    out_csv = tmp_path / "plain.csv"
    nnictl("experiment", "export", "plain", "-t", "csv", "-f", str(out_csv))
    assert out_csv.read_text().splitlines()[0] == "trialJobId,x,y,value"
    assert all("feasible" not in row for row in client("plain").get("/export-data"))
    refused = nnictl("trial", "ls", "plain", "--pareto", check=False)
    assert refused.returncode == 1 and "--pareto: experiment plain has no objectives or constraints" in refused.stderr


def test_create_refuses_before_any_trial(tmp_path: Path) -> None:
    cases = [
        ({"tuner": {"name": "Anneal"}}, "objectives: the tuner Anneal cannot take several objectives"),
        ({"tuner": {"name": "Hyperband", "classArgs": {"R": 4}}, "objectives": [{"metric": "acc"}]},
         "objectives: the tuner Hyperband cannot take several objectives"),
        ({"objectives": [{"metric": "acc", "mode": "best"}]}, "objectives (line"),
        ({"constraints": [{"metric": "mem"}]}, "constraint on 'mem' needs min, max or both"),
        ({"objectives": []}, "must list at least one objective"),
        ({"objectives": [{"metric": "acc"}, {"metric": "acc", "mode": "minimize"}]}, "'acc' is repeated"),
    ]
    for index, (overrides, words) in enumerate(cases):
        config = _write(tmp_path, f"bad{index}.yml", **overrides)
        result = nnictl("create", "--config", str(config), "--port", str(free_port()), "--id", f"bad{index}",
                        check=False)
        assert result.returncode == 1, result.stdout
        assert str(config) in result.stderr and words in result.stderr, result.stderr
        assert f"bad{index}" not in read_manifest()
    assert not (Path(os.environ["HOME"]) / "nni-experiments").exists() or \
        not any((Path(os.environ["HOME"]) / "nni-experiments").glob("bad*"))


def test_kill_minus_nine_then_resume_keeps_the_front(tmp_path: Path) -> None:
    config = _write(tmp_path, trialConcurrency=1)
    os.environ["TRIAL_SLEEP"] = "0.3"  # the manager passes it on to its trials
    try:
        nnictl("create", "--config", str(config), "--port", str(free_port()), "--id", "mokill")
        wait_until(lambda: sum(t["status"] == "SUCCEEDED" for t in client("mokill").get("/trial-jobs")) >= 4,
                   timeout=60, what="4 trials to finish")
        before = {r["trialJobId"]: (r["parameter"], r["feasible"], r["pareto"])
                  for r in client("mokill").get("/export-data")}
        os.kill(read_manifest()["mokill"]["pid"], signal.SIGKILL)
        wait_until(lambda: not manager_alive("mokill"), what="the manager to die")
        nnictl("resume", "mokill", "--port", str(free_port()))
        wait_status("mokill", timeout=90)
    finally:
        del os.environ["TRIAL_SLEEP"]
    rows = client("mokill").get("/export-data")
    after = {r["trialJobId"]: (r["parameter"], r["feasible"], r["pareto"]) for r in rows}
    # the trials of the first run keep their results, and the front is read over both runs
    assert len(rows) == 9 and set(before) <= set(after)
    assert all(after[trial_id][0] == before[trial_id][0] for trial_id in before)
    points = [(p["x"], p["x"] + p["y"]) for p, feasible, _ in after.values() if feasible]
    for parameters, feasible, pareto in after.values():
        assert feasible == _expected(parameters)[0]
        mine = (parameters["x"], parameters["x"] + parameters["y"])
        beaten = any(a >= mine[0] and lat <= mine[1] and (a, lat) != mine for a, lat in points)
        assert pareto == (bool(feasible) and not beaten)
    front = json.loads(nnictl("trial", "ls", "mokill", "--pareto", "--json").stdout)
    assert {t["trialJobId"] for t in front} == {trial_id for trial_id, (_, _, pareto) in after.items() if pareto}
    assert front
    nnictl("stop", "mokill")


def test_three_objectives_without_constraints(tmp_path: Path) -> None:
    trial = ("import nni; p = nni.get_next_parameter(); "
             "nni.report_final_result({'a': p['x'], 'b': p['y'], 'c': p['x'] * p['y']})")
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "three.py").write_text(trial)
    config = _write(tmp_path, "three.yml", trialCommand=f"{sys.executable} three.py", maxTrialNumber=6,
                    tuner={"name": "Random", "classArgs": {"seed": 3}}, constraints=None,
                    searchSpace={"x": {"_type": "uniform", "_value": [0, 1]}, "y": {"_type": "uniform", "_value": [0, 1]}},
                    objectives=[{"metric": "a"}, {"metric": "b", "mode": "minimize"}, {"metric": "c"}])
    data = yaml.safe_load(config.read_text())
    del data["constraints"]
    config.write_text(yaml.safe_dump(data))
    nnictl("create", "--config", str(config), "--port", str(free_port()), "--id", "mo3")
    wait_status("mo3")
    out = tmp_path / "three.json"
    nnictl("experiment", "export", "mo3", "-t", "json", "-f", str(out))
    rows = json.loads(out.read_text())
    assert len(rows) == 6 and all(row["feasible"] is True for row in rows)
    losses = {row["trialJobId"]: (-row["value"]["a"], row["value"]["b"], -row["value"]["c"]) for row in rows}
    for row in rows:
        mine = losses[row["trialJobId"]]
        beaten = any(all(o <= m for o, m in zip(other, mine, strict=True)) and other != mine
                     for other in losses.values())
        assert row["pareto"] is not beaten
    front = json.loads(nnictl("trial", "ls", "mo3", "--pareto", "--json").stdout)
    assert {t["trialJobId"] for t in front} == {row["trialJobId"] for row in rows if row["pareto"]}
