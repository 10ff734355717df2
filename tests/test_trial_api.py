"""The trial-side API: metric checks, standalone mode, sequence numbers and import cost."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import nni
from nni.runtime import protocol


def _fresh(monkeypatch, **env):
    import nni.trial

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(nni.trial, "_context", None)


def test_standalone_mode(monkeypatch, capsys):
    _fresh(monkeypatch)
    assert nni.get_next_parameter() == {}
    nni.report_intermediate_result(0.5)
    nni.report_final_result({"default": 0.9, "loss": 0.1})
    assert nni.get_trial_id() == "STANDALONE" and nni.get_experiment_id() == "STANDALONE"
    assert nni.get_sequence_id() == 0
    assert "final result" in capsys.readouterr().out


@pytest.mark.parametrize("odd", ["0.9", None, True, [1.0, "x"], {"loss": 1.0}, {"default": "high"},
                                 {"default": None}, 10**400, -0.0, {"default": {"nested": [1, 2]}}])
def test_any_json_value_is_reported_as_is(monkeypatch, tmp_path, odd):
    _fresh(monkeypatch, NNI_PLATFORM="local", NNI_SYS_DIR=str(tmp_path), NNI_TRIAL_JOB_ID="abcde",
           NNI_EXP_ID="exp", NNI_TRIAL_SEQ_ID="0")
    nni.report_intermediate_result(odd)
    nni.report_final_result(odd)
    records = protocol.MetricTail(tmp_path / protocol.METRICS_FILE).read_new()
    assert [r["value"] for r in records] == [odd, odd]


def test_a_value_json_cannot_hold_is_a_type_error(monkeypatch):
    _fresh(monkeypatch)
    for bad in (object(), {"default": {1, 2}}):
        with pytest.raises(TypeError, match="JSON-serialisable"):
            nni.report_final_result(bad)
        with pytest.raises(TypeError, match="JSON-serialisable"):
            nni.report_intermediate_result(bad)


def test_reports_are_appended_with_sequence_numbers(monkeypatch, tmp_path):
    protocol.write_parameter_file(tmp_path, {"parameter_id": 7, "parameter_source": "algorithm",
                                             "parameters": {"a": 1}, "parameter_index": 0})
    _fresh(monkeypatch, NNI_PLATFORM="local", NNI_SYS_DIR=str(tmp_path), NNI_TRIAL_JOB_ID="abcde",
           NNI_EXP_ID="exp", NNI_TRIAL_SEQ_ID="3")
    assert nni.get_next_parameter() == {"a": 1}
    assert nni.get_current_parameter("a") == 1
    for value in (0.1, 0.2, float("nan")):
        nni.report_intermediate_result(value)
    nni.report_final_result({"default": 1, "acc": 0.5})
    tail = protocol.MetricTail(tmp_path / protocol.METRICS_FILE)
    records = tail.read_new()
    assert [r["sequence"] for r in records[:3]] == [0, 1, 2]
    assert records[-1]["type"] == "FINAL" and records[-1]["value"] == {"default": 1, "acc": 0.5}
    assert all(r["parameter_id"] == 7 for r in records)
    assert nni.get_sequence_id() == 3 and nni.get_trial_id() == "abcde"


def test_metric_tail_ignores_a_torn_last_line(tmp_path):
    path = tmp_path / "m"
    path.write_text(protocol.encode_metric_line("FINAL", 0, 1, 0, 2.0) + '{"type": "PERIO')
    tail = protocol.MetricTail(path)
    assert [r["value"] for r in tail.read_new()] == [2.0]
    with open(path, "a") as f:
        f.write('DICAL", "sequence": 1, "value": 3}\n')
    assert [r["value"] for r in tail.read_new()] == [3]


def test_import_nni_loads_nothing_heavy():
    code = ("import sys, nni; heavy = [m for m in ('numpy', 'pydantic', 'starlette', 'uvicorn', 'yaml', 'scipy', "
            "'rich', 'hyperopt', 'sqlite3', 'asyncio') if m in sys.modules]; print(json.dumps(heavy))")
    out = subprocess.run([sys.executable, "-c", "import json; " + code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_public_names_exist():
    from nni.assessor import Assessor, AssessResult  # noqa: F401
    from nni.experiment import (  # noqa: F401
        AlgorithmConfig,
        CustomAlgorithmConfig,
        Experiment,
        ExperimentConfig,
        LocalConfig,
        RemoteConfig,
        RemoteMachineConfig,
        RunMode,
    )
    from nni.tuner import Tuner  # noqa: F401
    from nni.utils import MetricType, OptimizeMode, extract_scalar_reward

    assert nni.NoMoreTrialError and nni.get_next_parameters is nni.get_next_parameter
    assert extract_scalar_reward({"default": 2}) == 2.0 and MetricType.FINAL == "FINAL"
    assert OptimizeMode("maximize") is OptimizeMode.Maximize
