"""RunMode.Detach: the manager is its own process and outlives the launching script."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

from nni.experiment import Experiment
from nni.storage.manifest import read_manifest


def test_detached_experiment_outlives_its_script(tmp_path, free_port):
    code = tmp_path / "code"
    code.mkdir()
    (code / "trial.py").write_text("import nni\np = nni.get_next_parameter()\nnni.report_final_result(p['x'])\n")
    script = tmp_path / "launch.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        from nni.experiment import Experiment, RunMode
        e = Experiment("local", id="detach1")
        e.config.trial_command = sys.executable + " trial.py"
        e.config.trial_code_directory = {str(code)!r}
        e.config.experiment_working_directory = {str(tmp_path / "exps")!r}
        e.config.search_space = {{"x": {{"_type": "uniform", "_value": [0, 1]}}}}
        e.config.tuner.name = "TPE"
        e.config.max_trial_number = 3
        e.config.trial_concurrency = 1
        e.start({free_port}, run_mode=RunMode.Detach)
        print("started")
    """))
    subprocess.run([sys.executable, str(script)], check=True, timeout=60, env=dict(os.environ))
    entry = read_manifest()["detach1"]
    assert entry["port"] == free_port and entry["pid"] != os.getpid()
    experiment = Experiment.connect(free_port)
    deadline = time.monotonic() + 60
    while experiment.get_status() != "DONE" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [t.status for t in experiment.list_trial_jobs()] == ["SUCCEEDED"] * 3
    experiment.stop()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(entry["pid"], 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the detached manager did not exit after stop()")
    assert read_manifest()["detach1"]["status"] == "STOPPED"
