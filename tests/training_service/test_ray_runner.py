"""The trial runner as a Ray task starts it: from its own small folder, without site-packages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from nni.training_service import _ray_trial


def test_the_runner_bundle_runs_a_trial_without_site_packages(tmp_path: Path) -> None:
    script = Path(_ray_trial._runner_script(str(tmp_path / "base")))
    assert _ray_trial._runner_script(str(tmp_path / "base")) == str(script)  # made once, named by content
    folder = script.parent
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*.py")) == sorted(_ray_trial._RUNNER_FILES)
    trial_dir = tmp_path / "trial"
    request = {"launch": {"trial_dir": str(trial_dir), "code_dir": str(tmp_path), "command": "echo hello",
                          "env": {}, "parameter_record": {"parameters": {"x": 1}}, "detach": False}}
    # as the task starts it: neither PYTHONPATH nor site-packages, so the bundle holds all the runner imports;
    # stdin stays open until the exit message, as its end would kill the trial
    runner = subprocess.Popen([sys.executable, "-E", "-s", "-S", str(script)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    assert runner.stdin is not None and runner.stdout is not None and runner.stderr is not None
    runner.stdin.write(json.dumps(request) + "\n")
    runner.stdin.flush()
    messages = []
    for line in runner.stdout:
        messages.append(json.loads(line))
        if messages[-1]["ev"] in ("exit", "error"):
            break
    runner.stdin.close()
    assert runner.wait(60) == 0, runner.stderr.read()
    assert [m["ev"] for m in messages if m["ev"] != "out"] == ["started", "exit"], messages
    assert messages[-1]["code"] == 0
    assert "hello" in "".join(m["data"] for m in messages if m["ev"] == "out") + (trial_dir / "stdout").read_text()
