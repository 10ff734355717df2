"""Fault injection: kill -9 the manager at a random moment, resume, and check nothing recorded is
lost or duplicated, the experiment completes, and no process of the dead manager is left."""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import psutil
import pytest
from nnictl_helpers import Workspace, free_port, wait_status, wait_until

from nni.experiment.config import ExperimentConfig
from nni.experiment.detach import experiment_processes, port_listening, start_manager, stop_experiment
from nni.storage.manifest import read_manifest
from nni.storage.sqlite import SqliteStorage

RUNS = 10
MAX_TRIALS = 6


def _stored(experiment_dir: Path) -> tuple[dict[str, float], dict[str, int], list[str]]:
    """Final results of the finished trials, how many FINAL rows each trial has, and every trial."""
    storage = SqliteStorage(experiment_dir / "db", read_only=True)
    try:
        trials = storage.load_trials()
        rows = storage._execute("SELECT trial_id, COUNT(*) FROM metrics WHERE type = 'FINAL' GROUP BY trial_id")
        counts = dict(rows.fetchall())
    finally:
        storage.close()
    # Every recorded result, including that of a trial whose end the dead manager had not seen yet.
    finals = {t.trial_id: t.final.value for t in trials if t.final is not None}
    described = [f"{t.trial_id} #{t.sequence_id} {t.status.value} {t.message} {t.final}" for t in trials]
    return finals, counts, described


@pytest.mark.slow
def test_kill_minus_nine_then_resume(workspace: Workspace) -> None:
    rng = random.Random(5)
    config = ExperimentConfig.load(workspace.write_config(maxTrialNumber=MAX_TRIALS, trialConcurrency=3))
    config.validate()
    for run in range(RUNS):
        experiment_id = f"fault{run}"
        port = free_port()
        # The calls nnictl create / resume / stop make, without a Python start-up per command.
        start_manager(experiment_id, config, port)
        entry = read_manifest()[experiment_id]
        experiment_dir = Path(entry["logDir"])
        time.sleep(rng.uniform(0.0, 1.6))
        dead_pid = entry["pid"]
        os.kill(dead_pid, signal.SIGKILL)
        wait_until(lambda p=dead_pid: not psutil.pid_exists(p) or psutil.Process(p).status() == psutil.STATUS_ZOMBIE,
                   what="the manager to die")
        before, _, _ = _stored(experiment_dir)

        start_manager(experiment_id, None, port, mode="resume")
        wait_status(experiment_id, ("DONE",))
        after, final_rows, trials = _stored(experiment_dir)

        # Every result recorded before the kill is kept, exactly once, with its value.
        assert {k: after[k] for k in before} == before, f"run {run}: results changed"
        assert all(n == 1 for n in final_rows.values()), f"run {run}: duplicated finals {final_rows}"
        assert len(after) == MAX_TRIALS and all(" SUCCEEDED " in t for t in trials), f"run {run}: {trials}"
        # The tuner was told the stored results again, each one once.
        imports = workspace.imports()
        if before:
            assert len(imports) == 1, f"run {run}: {len(imports)} replays"
            assert sorted(row["value"] for row in imports[0]) == sorted(before.values())
        else:
            assert imports == []
        # Parameter ids were not reused: each trial has its own configuration.
        assert sorted(after.values()) == sorted(set(after.values()))
        assert not experiment_processes(experiment_id), f"run {run}: trial processes left"

        stop_experiment(experiment_id)
        assert not port_listening(port)
        workspace.tuner_log.unlink(missing_ok=True)
