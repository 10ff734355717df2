"""Ctrl-C during ``run()`` stops the experiment cleanly: trials killed, results kept, no leftovers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil

from nni.storage.manifest import read_manifest


def _runs_trial(process: psutil.Process) -> bool:
    """Whether ``process`` runs trial.py; a short-lived helper that ended (a zombie, or gone) does not."""
    try:
        return "trial.py" in " ".join(process.cmdline())
    except psutil.Error:
        return False


def test_ctrl_c_stops_cleanly(tmp_path, free_port):
    code = tmp_path / "code"
    code.mkdir()
    (code / "trial.py").write_text("import nni, time\nnni.get_next_parameter()\ntime.sleep(120)\n")
    script = tmp_path / "launch.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        from nni.experiment import Experiment
        e = Experiment("local", id="ctrlc")
        e.config.trial_command = sys.executable + " trial.py"
        e.config.trial_code_directory = {str(code)!r}
        e.config.experiment_working_directory = {str(tmp_path / "exps")!r}
        e.config.search_space = {{"x": {{"_type": "uniform", "_value": [0, 1]}}}}
        e.config.tuner.name = "TPE"
        e.config.max_trial_number = 4
        e.config.trial_concurrency = 2
        print("result", e.run({free_port}), flush=True)
    """))
    process = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=dict(os.environ))
    trial_pids: list[int] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(trial_pids) < 2:
        trial_pids = [p.pid for p in psutil.Process(process.pid).children(recursive=True) if _runs_trial(p)]
        time.sleep(0.1)
    assert len(trial_pids) >= 2
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=30)
    assert "result None" in out
    for pid in trial_pids:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert read_manifest()["ctrlc"]["status"] == "STOPPED"
    from nni.storage.sqlite import SqliteStorage

    storage = SqliteStorage(tmp_path / "exps" / "ctrlc" / "db", read_only=True)
    statuses = {t.status.value for t in storage.load_trials()}
    storage.close()
    assert statuses == {"USER_CANCELED"}
    assert json.dumps(sorted(statuses))
