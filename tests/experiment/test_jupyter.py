"""Under a real Jupyter kernel: run() updates one progress output (no terminal control codes) and
prints the outcome; an Experiment as a cell's value renders as the HTML summary."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

jupyter_client = pytest.importorskip("jupyter_client", reason="needs jupyter_client and ipykernel")
pytest.importorskip("ipykernel", reason="needs ipykernel")

CELL = """
import sys
from nni.experiment import Experiment
from nni.algorithms.hpo.hyperopt_tuner import HyperoptTuner
experiment = Experiment(HyperoptTuner('tpe'), 'local')
experiment.config.trial_command = f'{{sys.executable}} trial.py'
experiment.config.trial_code_directory = {code!r}
experiment.config.experiment_working_directory = {work!r}
experiment.config.search_space = {{'x': {{'_type': 'uniform', '_value': [0, 1]}}}}
experiment.config.trial_concurrency = 2
experiment.config.max_trial_number = 4
experiment.run({port})
experiment
"""

TRIAL = """
import time, nni
p = nni.get_next_parameter()
time.sleep(1)
nni.report_final_result(abs(p["x"] - 0.3))
"""


def run_cell(code: str, env: dict[str, str]) -> list[dict[str, Any]]:
    """Execute ``code`` in a fresh kernel; return its iopub messages up to the kernel going idle."""
    manager = jupyter_client.KernelManager(kernel_name="python3")
    manager.kernel_cmd = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    manager.start_kernel(env=env, extra_arguments=[])
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=120)
        messages: list[dict[str, Any]] = []
        client.execute_interactive(code, timeout=240, output_hook=messages.append)
        return messages
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def test_run_in_a_notebook_updates_one_output_and_renders_as_html(tmp_path: Path, free_port: int) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "trial.py").write_text(textwrap.dedent(TRIAL))
    env = dict(os.environ, HOME=str(tmp_path / "home"))
    messages = run_cell(CELL.format(code=str(code), work=str(tmp_path / "experiments"), port=free_port), env)
    kinds = [m["msg_type"] for m in messages]
    assert "error" not in kinds, [m["content"] for m in messages if m["msg_type"] == "error"]
    progress = [m for m in messages if m["msg_type"] in ("display_data", "update_display_data")]
    assert progress and progress[0]["msg_type"] == "display_data"
    display_id = progress[0]["content"]["transient"]["display_id"]
    assert all(m["content"]["transient"]["display_id"] == display_id for m in progress)
    assert "trials 4/4 done" in progress[-1]["content"]["data"]["text/plain"]
    stream = "".join(m["content"]["text"] for m in messages if m["msg_type"] == "stream")
    shown = stream + "".join(m["content"]["data"]["text/plain"] for m in progress)
    assert "\x1b[" not in shown and "\r" not in shown
    assert "DONE: 4/4 trials succeeded" in stream and "Reopen the web portal: nnictl view" in stream
    result = next(m for m in messages if m["msg_type"] == "execute_result")
    html = result["content"]["data"]["text/html"]
    assert "NNI experiment" in html and f":{free_port}/?token=" in html and "4 succeeded" in html
