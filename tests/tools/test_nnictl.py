"""nnictl as a user runs it: real manager processes, real trials, real SQLite, a private HOME."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import yaml
from nnictl_helpers import Workspace, client, free_port, nnictl, wait_status, wait_until

from nni.experiment.detach import experiment_processes, manager_alive, port_listening
from nni.storage.manifest import read_manifest
from nni.tools.nnictl.main import build_parser, main

LONG = f"TRIAL_SLEEP=30 {sys.executable} trial.py"


def _trials(experiment_id: str) -> list[dict]:
    return json.loads(nnictl("trial", "ls", experiment_id, "--json").stdout)


def _live_trials(experiment_id: str) -> list[dict]:
    """Polled through REST: a subprocess per poll would make waits slow."""
    return client(experiment_id).get("/trial-jobs")


def _subcommands(parser, prefix=()):  # type: ignore[no-untyped-def]
    for action in parser._actions:
        if action.__class__.__name__ == "_SubParsersAction":
            for name, sub in action.choices.items():
                yield (*prefix, name)
                yield from _subcommands(sub, (*prefix, name))


def test_help_on_every_command_and_usage_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    commands = list(_subcommands(build_parser()))
    assert ("experiment", "export") in commands and ("update", "trialnum") in commands and ("top",) in commands
    for command in commands:
        with pytest.raises(SystemExit) as exit_info:
            main([*command, "--help"])
        assert exit_info.value.code == 0, command
    for usage in (["create"], ["bogus"], ["trial", "kill"], ["experiment", "export", "x", "-t", "xml", "-f", "f"]):
        with pytest.raises(SystemExit) as exit_info:
            main(usage)
        assert exit_info.value.code == 2, usage
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    capsys.readouterr()
    assert main(["update"]) == 2  # a group without a command prints its help


def test_config_errors_name_the_file_the_key_and_the_line(workspace: Workspace) -> None:
    bad_key = workspace.write_config("bad_key.yml", trialConcurency=2)
    result = nnictl("create", "--config", str(bad_key), check=False)
    assert result.returncode == 1
    assert str(bad_key) in result.stderr and "trialConcurency" in result.stderr
    broken = workspace.root / "broken.yml"
    broken.write_text("trialCommand: python3 trial.py\ntrialConcurrency: [1\nsearchSpace: {}\n")
    result = nnictl("create", "--config", str(broken), check=False)
    assert result.returncode == 1 and str(broken) in result.stderr and "line 3" in result.stderr
    missing = nnictl("create", "--config", str(workspace.root / "nope.yml"), check=False)
    assert missing.returncode == 1 and "nope.yml" in missing.stderr
    assert nnictl("resume", "nosuch", check=False).returncode == 1
    assert "no experiment is running" in nnictl("trial", "ls", check=False).stderr


def test_running_stopped_and_viewed_experiment(workspace: Workspace) -> None:
    config = workspace.write_config(trialCommand=LONG, trialConcurrency=2, maxTrialNumber=4)
    port = free_port()
    out = nnictl("create", "--config", str(config), "--port", str(port)).stdout
    experiment_id = out.split("Experiment ID: ")[1].split()[0]
    assert f"http://localhost:{port}/" in out
    wait_until(lambda: sum(t["status"] == "RUNNING" for t in _live_trials(experiment_id)) == 2, what="2 running trials")

    # The id may be left out while exactly one experiment runs.
    assert experiment_id in nnictl("trial", "ls").stdout
    assert experiment_id in nnictl("webui", "url").stdout or str(port) in nnictl("webui", "url").stdout
    first, second = sorted(_trials(experiment_id), key=lambda t: t["sequenceId"])[:2]

    # A trial killed by a signal is FAILED, and the message names the signal.
    victims = [p for p in experiment_processes(experiment_id) if p.environ().get("NNI_TRIAL_JOB_ID") == first["trialJobId"]
               and "trial.py" in " ".join(p.cmdline())]
    assert victims
    for proc in victims:
        proc.send_signal(signal.SIGKILL)
    wait_until(lambda: next(t for t in _live_trials(experiment_id) if t["trialJobId"] == first["trialJobId"])["status"]
               == "FAILED", what="the killed trial to fail")
    failed = next(t for t in _trials(experiment_id) if t["trialJobId"] == first["trialJobId"])
    assert "SIGKILL" in failed["message"]

    nnictl("trial", "kill", "-T", second["trialJobId"])
    wait_until(lambda: next(t for t in _live_trials(experiment_id) if t["trialJobId"] == second["trialJobId"])["status"]
               == "USER_CANCELED", what="the killed trial to be canceled")
    nnictl("update", "concurrency", "-v", "1")
    nnictl("update", "trialnum", experiment_id, "-v", "3")
    nnictl("update", "duration", "-v", "2h")
    assert nnictl("update", "trialnum", "-v", "0", check=False).returncode == 1
    params = json.loads(nnictl("experiment", "show").stdout)["params"]
    assert params["trialConcurrency"] == 1 and params["maxTrialNumber"] == 3
    assert params["maxExperimentDuration"] == "2h"
    assert yaml.safe_load(nnictl("config", "show").stdout)["maxTrialNumber"] == 3

    manager = read_manifest()[experiment_id]["pid"]
    assert "stopped" in nnictl("stop").stdout
    assert not psutil.pid_exists(manager) or psutil.Process(manager).status() == psutil.STATUS_ZOMBIE
    assert not experiment_processes(experiment_id) and not port_listening(port)
    assert read_manifest()[experiment_id]["status"] == "STOPPED"
    assert "STOPPED" in nnictl("experiment", "list", "--all").stdout
    assert experiment_id not in nnictl("experiment", "list").stdout

    # Queries work on a stopped experiment, from its database.
    stopped = {t["trialJobId"]: t["status"] for t in _trials(experiment_id)}
    assert stopped[first["trialJobId"]] == "FAILED" and stopped[second["trialJobId"]] == "USER_CANCELED"

    # view: served read-only; changes are refused; closing it leaves the experiment as it was.
    view_port = free_port()
    nnictl("view", experiment_id, "--port", str(view_port))
    assert client(experiment_id).get("/check-status")["status"] == "VIEWED"
    assert len(client(experiment_id).get("/trial-jobs")) == len(stopped)
    refused = nnictl("update", "concurrency", experiment_id, "-v", "2", check=False)
    assert refused.returncode == 1 and "read-only" in refused.stderr and "403" in refused.stderr
    assert nnictl("resume", experiment_id, check=False).returncode == 1  # it is being served
    nnictl("stop", experiment_id)
    assert not port_listening(view_port)
    assert read_manifest()[experiment_id]["status"] == "STOPPED"
    nnictl("experiment", "delete", experiment_id)
    assert experiment_id not in read_manifest()
    assert not (Path(os.environ["HOME"]) / "nni-experiments" / experiment_id).exists()


def test_stop_after_a_crash_kills_the_orphaned_trials(workspace: Workspace) -> None:
    config = workspace.write_config(trialCommand=LONG, trialConcurrency=2, maxTrialNumber=2)
    nnictl("create", "--config", str(config), "--port", str(free_port()), "--id", "crash1")
    wait_until(lambda: len(experiment_processes("crash1")) >= 2, what="trials to start")
    os.kill(read_manifest()["crash1"]["pid"], signal.SIGKILL)
    wait_until(lambda: not manager_alive("crash1"), what="the manager to die")
    assert "CRASHED" in nnictl("experiment", "list", "--all").stdout
    assert experiment_processes("crash1"), "trials outlive their manager until stopped"
    assert "crashed" in nnictl("stop", "crash1").stdout
    assert not experiment_processes("crash1")
    assert read_manifest()["crash1"]["status"] == "STOPPED"


def test_resume_after_error_and_two_running_need_an_id(workspace: Workspace, tmp_path: Path) -> None:
    marker = tmp_path / "failed-once"
    args = {"log": str(workspace.tuner_log), "fail_once": str(marker)}
    config = workspace.write_config(maxTrialNumber=3, tuner={"className": "log_tuner.LogTuner", "codeDirectory": ".",
                                                             "classArgs": args})
    port = free_port()
    nnictl("create", "--config", str(config), "--port", str(port), "--id", "err1")
    wait_status("err1", ("ERROR",))
    status = json.loads(nnictl("experiment", "status", "err1").stdout)
    assert status["status"] == "ERROR" and "injected by the test" in status["errors"][0]
    nnictl("stop", "err1")
    nnictl("resume", "err1", "--port", str(port))
    wait_status("err1", ("DONE",))
    assert [t["status"] for t in _trials("err1")] == ["SUCCEEDED"] * 3

    nnictl("create", "--config", str(workspace.config), "--port", str(free_port()), "--id", "other")
    refused = nnictl("trial", "ls", check=False)
    assert refused.returncode == 1 and "err1" in refused.stderr and "other" in refused.stderr
    assert "stopped" in nnictl("stop", "--all").stdout
    assert not experiment_processes("err1") and not experiment_processes("other")


def test_export_round_trips_through_import(workspace: Workspace, tmp_path: Path) -> None:
    nnictl("create", "--config", str(workspace.write_config(maxTrialNumber=4)), "--port", str(free_port()),
           "--id", "source")
    wait_status("source", ("DONE",))
    exported_json, exported_csv = tmp_path / "out.json", tmp_path / "out.csv"
    nnictl("experiment", "export", "source", "-t", "json", "-f", str(exported_json), "-i")
    nnictl("experiment", "export", "source", "-t", "csv", "-f", str(exported_csv))
    rows = json.loads(exported_json.read_text())
    assert len(rows) == 4 and all(r["intermediate"] == [r["value"]] for r in rows)
    nnictl("stop", "source")

    target_log = tmp_path / "target.jsonl"
    target = workspace.write_config("target.yml", trialCommand=LONG, trialConcurrency=1, tuner={
        "className": "log_tuner.LogTuner", "codeDirectory": ".", "classArgs": {"log": str(target_log)}})
    port = free_port()
    nnictl("create", "--config", str(target), "--port", str(port), "--id", "target")
    nnictl("experiment", "import", "target", "-f", str(exported_json))
    nnictl("experiment", "import", "target", "-f", str(exported_csv))
    expected = sorted((json.dumps(r["parameter"], sort_keys=True), r["value"]) for r in rows)
    imports = [json.loads(line) for line in target_log.read_text().splitlines()]
    assert [sorted((json.dumps(d["parameter"], sort_keys=True), d["value"]) for d in batch) for batch in imports] \
        == [expected, expected]
    bad = tmp_path / "bad.json"
    bad.write_text('{"parameter": 1}')
    assert nnictl("experiment", "import", "target", "-f", str(bad), check=False).returncode == 1

    # The imported results are part of the experiment: a resume gives them to the tuner again.
    nnictl("stop", "target")
    target_log.unlink()
    nnictl("resume", "target", "--port", str(port))
    wait_until(lambda: target_log.exists() and len(target_log.read_text().splitlines()) >= 2, what="replay")
    replayed = [json.loads(line) for line in target_log.read_text().splitlines()]
    assert [sorted((json.dumps(d["parameter"], sort_keys=True), d["value"]) for d in b) for b in replayed[:2]] \
        == [expected, expected]
    nnictl("stop", "target")


def test_concurrent_nnictl_calls_keep_the_manifest_whole(workspace: Workspace) -> None:
    port = free_port()
    nnictl("create", "--config", str(workspace.write_config(trialCommand=LONG, maxTrialNumber=2)), "--port",
           str(port), "--id", "busy")
    command = [sys.executable, "-m", "nni.tools.nnictl.main"]
    writer = ("import sys\nfrom nni.storage.manifest import update_manifest_entry\n"
              "for i in range(40): update_manifest_entry('busy', **{f'k{sys.argv[1]}_{i}': i})")
    procs = [subprocess.Popen([*command, "update", "concurrency", "busy", "-v", str(n)]) for n in range(1, 5)]
    procs += [subprocess.Popen([*command, *args], stdout=subprocess.DEVNULL)
              for args in (["experiment", "list"], ["trial", "ls"], ["experiment", "status"], ["top", "--once"])]
    procs += [subprocess.Popen([sys.executable, "-c", writer, str(w)]) for w in range(4)]
    assert [p.wait(120) for p in procs] == [0] * len(procs)
    entry = read_manifest()["busy"]
    assert all(entry[f"k{w}_{i}"] == i for w in range(4) for i in range(40))
    assert entry["port"] == port and entry["token"] and entry["pid"]
    assert client("busy").get("/experiment")["params"]["trialConcurrency"] in (1, 2, 3, 4)
    nnictl("stop", "busy")


def test_resume_adopts_recorded_trials_and_kills_unrecorded_ones(workspace: Workspace) -> None:
    from nni.records import TrialStatus
    from nni.storage.sqlite import SqliteStorage

    config = workspace.write_config(trialCommand=LONG, trialConcurrency=2, maxTrialNumber=2)
    port = free_port()
    nnictl("create", "--config", str(config), "--port", str(port), "--id", "orphan")
    wait_until(lambda: sum(t["status"] == "RUNNING" for t in _live_trials("orphan")) == 2, what="2 running trials")
    os.kill(read_manifest()["orphan"]["pid"], signal.SIGKILL)
    wait_until(lambda: not manager_alive("orphan"), what="the manager to die")
    # Make one trial look as if the manager died before recording its start.
    storage = SqliteStorage(Path(read_manifest()["orphan"]["logDir"]) / "db")
    kept, unrecorded = sorted(storage.load_trials(), key=lambda t: t.sequence_id)
    storage.append_trial_event(unrecorded, "test", {"status": TrialStatus.WAITING, "handle": {}})
    storage.close()
    old_groups = {p.environ()["NNI_TRIAL_JOB_ID"]: os.getpgid(p.pid) for p in experiment_processes("orphan")}

    nnictl("resume", "orphan", "--port", str(port))
    wait_until(lambda: sum(t["status"] == "RUNNING" for t in _live_trials("orphan")) == 2, what="2 running trials")
    groups: dict[str, set[int]] = {}
    for proc in experiment_processes("orphan"):
        groups.setdefault(proc.environ()["NNI_TRIAL_JOB_ID"], set()).add(os.getpgid(proc.pid))
    assert groups[kept.trial_id] == {old_groups[kept.trial_id]}  # adopted: the same process
    assert len(groups[unrecorded.trial_id]) == 1  # run once, not twice
    assert groups[unrecorded.trial_id] != {old_groups[unrecorded.trial_id]}
    nnictl("stop", "orphan")
    assert not experiment_processes("orphan")
