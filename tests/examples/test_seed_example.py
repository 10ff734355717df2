"""The seed page's example, verbatim, runs 5 real trials; the page and check-status answer meanwhile,
and the run ends naming the most accurate trial and the command that reopens the page."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from nni.storage.sqlite import SqliteStorage

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT.parent / "shared" / "seed" / "000_5316bb583e58aa49.txt"


def _seed_code() -> str:
    """The example block of the seed page (the second ``from pathlib`` block), dedented."""
    text = SEED.read_text(encoding="utf-8")
    start = text.index("    from pathlib import Path")
    end = text.index("    experiment.run(8081)", start) + len("    experiment.run(8081)")
    return "\n".join(line[4:] for line in text[start:end].splitlines()) + "\n"


def test_launch_py_is_the_seed_verbatim():
    if not SEED.exists():
        pytest.skip("the seed page is not beside this checkout")
    assert (ROOT / "examples" / "mnist" / "launch.py").read_text() == _seed_code()


def test_seed_example_runs_five_trials(tmp_path):
    pytest.importorskip("torch", reason="the example trial needs PyTorch: pip install torch==2.13.0")
    pytest.importorskip("sklearn", reason="the example trial needs scikit-learn")
    for name in ("launch.py", "mnist.py"):
        shutil.copy(ROOT / "examples" / "mnist" / name, tmp_path / name)
    env = dict(os.environ, HOME=str(tmp_path / "home"))
    process = subprocess.Popen([sys.executable, "launch.py"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    seen_status, seen_page = set(), False
    while process.poll() is None:
        try:
            with urllib.request.urlopen("http://127.0.0.1:8081/api/v1/nni/check-status", timeout=2) as r:
                seen_status.add(json.load(r)["status"])
            with urllib.request.urlopen("http://127.0.0.1:8081/", timeout=2) as r:
                seen_page = seen_page or (r.status == 200 and b"<html" in r.read().lower())
        except OSError:
            pass
        time.sleep(0.5)
    output = process.stdout.read()
    assert process.returncode == 0, output
    assert "RUNNING" in seen_status and seen_page, (seen_status, output)
    assert "DONE: 5/5 trials succeeded, 0 failed." in output
    experiment_id = re.search(r"Experiment (\w+) DONE", output).group(1)
    directory = tmp_path / "home" / "nni-experiments" / experiment_id
    storage = SqliteStorage(directory / "db", read_only=True)
    try:
        trials = storage.load_trials()
    finally:
        storage.close()
    accuracy = {t.trial_id: t.final.value["accuracy"] for t in trials}
    best = re.search(r"Best trial: (\w+) \(#\d+\), default ([\d.e-]+), accuracy ([\d.]+)", output)
    assert best, output
    assert accuracy[best.group(1)] == max(accuracy.values()), (accuracy, output)
    assert "(lowest default metric is best)" in output  # the seed's TPE minimises the reported error
    assert f"Stored in:  {directory}" in output
    assert f"Reopen the web portal: nnictl view {experiment_id} --port 8081" in output
