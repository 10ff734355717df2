"""Record what a real NNI 3.0 answers for a fixed experiment, for the wire-compatibility tests.

Runs NNI 3.0 (its own venv: ``NNI30_PYTHON`` if set, else benchmarks/peers.py's .bench/nni30) with
HOME in a temporary folder, on a fixed experiment: GridSearch over ``x`` in 1..4, one trial at a time,
trials reporting intermediate and final results (one a dict metric, one trial failing). When it is done
it imports one result, records the answer of every GET under /api/v1/nni/ and /logs/ into
tests/fixtures/nni30/rest/, copies the experiment's database, manifest entry and the trials' small files
into tests/fixtures/nni30/experiment/ (laid out as ~/nni-experiments is), then stops NNI. Run ``python scripts/record_nni30.py`` to re-record.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "nni30"
EXPERIMENT_ID = "nni30fixture"
PORT = int(os.environ.get("NNI30_PORT", "18093"))
SMALL_FILE = 64 * 1024



def _nni30_python() -> str:
    given = os.environ.get("NNI30_PYTHON")
    if given:
        return given
    sys.path.insert(0, str(ROOT))
    from benchmarks.peers import NNI30_PYTHON, ensure_nni30_venv

    problem = ensure_nni30_venv()
    if problem:
        raise SystemExit(problem)
    return str(NNI30_PYTHON)


def _get(path: str) -> dict[str, Any]:
    """One GET, recorded as status, content type and body (parsed when it is JSON)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{PORT}{path}", timeout=30) as response:
            status, content_type, raw = response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as error:
        status, content_type, raw = error.code, error.headers.get("Content-Type", ""), error.read()
    text = raw.decode("utf-8", errors="replace")
    try:
        body: Any = json.loads(text)
        is_json = True
    except ValueError:
        body, is_json = text[:200], False
    return {"path": path, "status": status, "contentType": content_type, "json": is_json, "body": body}


def _post(path: str, body: Any) -> None:
    request = urllib.request.Request(f"http://127.0.0.1:{PORT}{path}", data=json.dumps(body).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30):
        pass


def _record(out: Path) -> None:
    """Every GET route's answer, one JSON file each."""
    api = "/api/v1/nni"
    trials = _get(f"{api}/trial-jobs")["body"]
    failed = next(t["trialJobId"] for t in trials if t["status"] == "FAILED")
    dict_trial = next(t["trialJobId"] for t in trials if "loss" in json.dumps(t.get("finalMetricData", [])))
    answers = {
        "version": _get(f"{api}/version"),
        "check-status": _get(f"{api}/check-status"),
        "experiment": _get(f"{api}/experiment"),
        "experiment-metadata": _get(f"{api}/experiment-metadata"),
        "experiments-info": _get(f"{api}/experiments-info"),
        "experiment-imported-data": _get(f"{api}/experiment/imported-data"),
        "job-statistics": _get(f"{api}/job-statistics"),
        "trial-jobs": _get(f"{api}/trial-jobs"),
        "trial-jobs-failed": _get(f"{api}/trial-jobs?status=FAILED"),
        "trial-job": _get(f"{api}/trial-jobs/{dict_trial}"),
        "trial-job-failed": _get(f"{api}/trial-jobs/{failed}"),
        "trial-job-missing": _get(f"{api}/trial-jobs/nosuchtrial"),
        "metric-data": _get(f"{api}/metric-data"),
        "metric-data-trial": _get(f"{api}/metric-data/{dict_trial}"),
        "metric-data-final": _get(f"{api}/metric-data?type=FINAL"),
        "metric-data-latest": _get(f"{api}/metric-data-latest"),
        "metric-data-range": _get(f"{api}/metric-data-range/2/5"),
        "export-data": _get(f"{api}/export-data"),
        "trial-file-stderr": _get(f"{api}/trial-file/{failed}/stderr"),
        "logs-manager": _get("/logs/nnimanager.log"),
        "logs-missing": _get("/logs/nosuchfile.log"),
    }
    out.mkdir(parents=True, exist_ok=True)
    for name, answer in answers.items():
        if name.startswith(("logs-", "trial-file")):
            answer["body"] = ""  # only the status and type matter; the text holds paths and times
        (out / f"{name}.json").write_text(json.dumps(answer, indent=1, sort_keys=True) + "\n")


def _copy_experiment(home: Path, out: Path) -> None:
    """The experiment's folder (its small files: database, logs, trials' outputs) and manifest entry."""
    exp_dir = home / "nni-experiments" / EXPERIMENT_ID
    if out.exists():
        shutil.rmtree(out)
    for path in sorted(exp_dir.rglob("*")):
        if path.is_file() and path.stat().st_size <= SMALL_FILE:
            target = out / EXPERIMENT_ID / path.relative_to(exp_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)
    manifest = json.loads((home / "nni-experiments" / ".experiment").read_text())
    (out / ".experiment").write_text(json.dumps({EXPERIMENT_ID: manifest[EXPERIMENT_ID]}, indent=4) + "\n")


def _start(workdir: Path) -> Any:
    """Start NNI 3.0 on the fixed experiment; its manager can miss NNI's short start-up wait on a busy
    machine, so a failed start is retried."""
    from nni.experiment import Experiment

    for attempt in range(3):
        experiment = Experiment("local", id=EXPERIMENT_ID)
        config = experiment.config
        config.experiment_name = "nni30-fixture"
        config.search_space = {"x": {"_type": "choice", "_value": [1, 2, 3, 4]}}
        config.trial_command = f"{sys.executable} trial.py"
        config.trial_code_directory = str(workdir)
        config.trial_concurrency = 1
        config.max_trial_number = 4
        config.tuner.name = "GridSearch"
        try:
            experiment.start(PORT)
            return experiment
        except Exception:  # NNI raises whatever its HTTP client raised
            experiment.stop()
            if attempt == 2:
                raise
            shutil.rmtree(Path.home() / "nni-experiments", ignore_errors=True)
            time.sleep(5)
    raise AssertionError("unreachable")


def _inside(workdir: Path) -> None:
    """Runs in NNI 3.0's venv (with ``-P``, so this repository's ``nni`` stays out of the way)."""
    (workdir / "trial.py").write_text((FIXTURES / "trial.py").read_text())
    experiment = _start(workdir)
    try:
        deadline = time.monotonic() + 600
        while experiment.get_status() not in ("DONE", "ERROR") and time.monotonic() < deadline:
            time.sleep(1)
        _post("/api/v1/nni/experiment/import-data", [{"parameter": {"x": 1}, "value": 0.9}])
        time.sleep(2)
        _record(FIXTURES / "rest")
    finally:
        experiment.stop()


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--inside":
        _inside(Path(sys.argv[2]))
        return
    python = _nni30_python()
    with tempfile.TemporaryDirectory(prefix="nni30-record-") as tmp:
        home, workdir = Path(tmp) / "home", Path(tmp) / "work"
        home.mkdir()
        workdir.mkdir()
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NNI_EXPERIMENTS_DIR")}
        env["HOME"] = str(home)
        subprocess.run([python, "-P", str(Path(__file__).resolve()), "--inside", str(workdir)], env=env,
                       check=True, timeout=900)
        _copy_experiment(home, FIXTURES / "experiment")
    print(f"recorded NNI 3.0's answers under {FIXTURES}")


if __name__ == "__main__":
    main()
