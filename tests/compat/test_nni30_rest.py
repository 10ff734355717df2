"""Our /api/v1/nni/ answers against a real NNI 3.0's, recorded by scripts/record_nni30.py.

The same experiment runs here (GridSearch over x in 1..4, one trial at a time, a dict metric, a
failing trial, one import); every recorded answer is compared with ours for keys, types and
encodings (a JSON text must hold the same kind of value), ignoring ids, times and paths.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nni.experiment import Experiment
from nni.experiment.data import TrialJob, TrialMetricData, TrialResult
from nni.storage.manifest import read_manifest

RECORDINGS = Path(__file__).resolve().parents[1] / "fixtures" / "nni30" / "rest"
SPACE = {"x": {"_type": "choice", "_value": [1, 2, 3, 4]}}
TRIAL = (RECORDINGS.parent / "trial.py").read_text()  # the very trial NNI 3.0 ran

EXTRA_KEYS: dict[str, set[str]] = {
    # nnictl checks which manager answers; NNI leaves the failure reason empty on local trials.
    "check-status": {"experimentId", "nonce"},
    "trial-jobs": {"message"}, "trial-jobs-failed": {"message"}, "trial-job-failed": {"message"},
}
MISSING_KEYS: dict[str, set[str]] = {
    # NNI's environment id (its reusable-environment machinery, which we do not have).
    name: {"envId"} for name in ("trial-jobs", "trial-jobs-failed", "trial-job", "trial-job-failed")
}
DIFFERENT_STATUS = {
    "trial-job-missing": 404,  # NNI answers 200 with an empty body
    "logs-missing": 404,  # NNI answers with the web UI's index page
}


def _recording(name: str) -> dict[str, Any]:
    return json.loads((RECORDINGS / f"{name}.json").read_text())


def _get(port: int, path: str) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            status, content_type, raw = response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as error:
        status, content_type, raw = error.code, error.headers.get("Content-Type", ""), error.read()
    text = raw.decode()
    try:
        return {"status": status, "contentType": content_type, "json": True, "body": json.loads(text)}
    except ValueError:
        return {"status": status, "contentType": content_type, "json": False, "body": text}


def _kind(value: Any) -> Any:
    """What a value is, recursively; a string that holds JSON is the kind of what it holds."""
    if isinstance(value, dict):
        return {key: _kind(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_kind(item) for item in value]
    if isinstance(value, str):
        try:
            return ("json-text", _kind(json.loads(value)))
        except ValueError:
            return "str"
    if isinstance(value, bool) or value is None:
        return repr(value) if value is None else "bool"
    return "number" if isinstance(value, (int, float)) else type(value).__name__


def _differences(nni: Any, ours: Any, where: str, extra: set[str], missing: set[str]) -> list[str]:
    if isinstance(nni, dict) and isinstance(ours, dict):
        found = [f"{where}: NNI has {key!r}, we do not" for key in nni.keys() - ours.keys() - missing]
        found += [f"{where}: we have {key!r}, NNI does not" for key in ours.keys() - nni.keys() - extra]
        for key in nni.keys() & ours.keys():
            found += _differences(nni[key], ours[key], f"{where}.{key}", extra, missing)
        return found
    if isinstance(nni, list) and isinstance(ours, list):
        if len(nni) != len(ours):
            return [f"{where}: NNI has {len(nni)} items, we have {len(ours)}"]
        pairs = enumerate(zip(nni, ours, strict=True))
        return [d for i, (a, b) in pairs for d in _differences(a, b, f"{where}[{i}]", extra, missing)]
    if isinstance(nni, tuple) and isinstance(ours, tuple):
        return _differences(nni[1], ours[1], f"{where}(decoded)", extra, missing)
    return [] if nni == ours else [f"{where}: NNI {nni!r}, ours {ours!r}"]


def _serve(make_experiment: Callable[..., Experiment], port: int) -> dict[int, str]:
    """Run the recorded experiment here and import the same row; our trial ids by their x."""
    experiment = make_experiment(TRIAL, search_space=SPACE, tuner="GridSearch", trial_concurrency=1,
                                 max_trial_number=4, experiment_name="nni30-fixture")
    experiment.start(port)
    assert experiment._runner is not None and experiment._runner.wait_finished(120)
    token = read_manifest()[experiment.id]["token"]
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/nni/experiment/import-data", method="POST",
        data=json.dumps([{"parameter": {"x": 1}, "value": 0.9}]).encode(),
        headers={"Content-Type": "application/json", "X-NNI-Token": token})
    urllib.request.urlopen(request, timeout=10).close()
    trials = _get(port, "/api/v1/nni/trial-jobs")["body"]
    return {json.loads(t["hyperParameters"][0])["parameters"]["x"]: t["trialJobId"] for t in trials}


def _our_path(path: str, by_x: dict[int, str]) -> str:
    """A recorded path with NNI's trial ids replaced by ours (matched by their parameter x)."""
    for trial in _recording("trial-jobs")["body"]:
        path = path.replace(trial["trialJobId"], by_x[json.loads(trial["hyperParameters"][0])["parameters"]["x"]])
    return path


def _compare(name: str, ours: dict[str, Any]) -> list[str]:
    recorded = _recording(name)
    status = DIFFERENT_STATUS.get(name, recorded["status"])
    if ours["status"] != status:
        return [f"{name}: status {ours['status']}, expected {status}"]
    if name in DIFFERENT_STATUS:
        return []
    if ours["json"] != recorded["json"]:
        return [f"{name}: NNI's body is JSON: {recorded['json']}, ours: {ours['json']}"]
    if ours["contentType"].split(";")[0] != recorded["contentType"].split(";")[0]:
        return [f"{name}: content type {ours['contentType']!r}, NNI's {recorded['contentType']!r}"]
    if not recorded["json"]:
        return []
    nni_body, our_body = recorded["body"], ours["body"]
    if name == "experiment":
        # The config's canonical form is the config tests' business; here the profile around it.
        if our_body["params"]["searchSpace"] != nni_body["params"]["searchSpace"]:
            return [f"{name}: search space {our_body['params']['searchSpace']!r}"]
        nni_body, our_body = {**nni_body, "params": {}}, {**our_body, "params": {}}
    return _differences(_kind(nni_body), _kind(our_body), name, EXTRA_KEYS.get(name, set()),
                        MISSING_KEYS.get(name, set()))


def test_every_answer_has_nni30s_keys_types_and_encodings(make_experiment: Callable[..., Experiment],
                                                          free_port: int) -> None:
    by_x = _serve(make_experiment, free_port)
    names = sorted(p.stem for p in RECORDINGS.glob("*.json"))
    assert len(names) >= 20
    differences = [d for name in names
                   for d in _compare(name, _get(free_port, _our_path(_recording(name)["path"], by_x)))]
    assert not differences, "\n".join(differences)


def test_client_decodes_nni30s_recorded_answers_as_nni_does() -> None:
    trial = TrialJob.from_json(_recording("trial-job")["body"])
    assert trial.hyperParameters[0].parameters == {"x": 2}
    assert trial.finalMetricData[0].data == {"default": 0.75, "loss": 0.25}
    metrics = [TrialMetricData.from_json(m) for m in _recording("metric-data")["body"]]
    assert [m.data for m in metrics[:3]] == [0.1, 1.1, 0.1]
    exported = [TrialResult(**row) for row in _recording("export-data")["body"]]
    assert [r.value for r in exported] == [0.1, {"default": 0.75, "loss": 0.25}, 0.4]
