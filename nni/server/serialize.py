"""JSON forms of the engine's records: plain ones for our own readers, and NNI 3.0's wire forms.

The plain forms (``trial_json``, ``metric_json``, ``export_row``) hold values as values. JSON has no
NaN: non-finite floats anywhere in them become the strings "NaN", "Infinity" and "-Infinity".

The wire forms (``wire_*``) are what NNI 3.0's manager sends under /api/v1/nni/, key for key: a
metric's ``data`` is the JSON text of the JSON text the trial reported (the trial side encodes it
once, NNI's manager once more), each ``hyperParameters`` entry is the compact JSON text of the
parameter record, an export row's ``value`` is the metric's JSON text, and keys NNI leaves undefined
are absent. Only the REST boundary uses them; ``plain_*`` turn them back for clients such as nnictl.
"""

from __future__ import annotations

import json
from typing import Any

from ..analysis.flattening import JsonSafeEncoder, json_safe
from ..records import MetricRecord, Trial
from ..storage.base import StoredMetric
from ..storage.nni30 import decode_json_text

__all__ = ["json_safe", "metric_json", "trial_json", "export_row", "wire_metric", "wire_trial", "wire_export_row",
           "wire_profile", "wire_imported_data", "wire_manifest_entry", "plain_metric", "plain_trial", "plain_export_row"]


def metric_json(metric: MetricRecord) -> dict[str, Any]:
    """NNI's TrialMetricData."""
    return {
        "timestamp": metric.timestamp_ms,
        "trialJobId": metric.trial_id,
        "parameterId": metric.parameter_id,
        "type": metric.type,
        "sequence": metric.sequence,
        "data": json_safe(metric.value),
    }


def trial_json(trial: Trial) -> dict[str, Any]:
    """NNI's TrialJobInfo, plus the fields NNI lacked (waiting/failure reason, host, GPUs)."""
    return {
        "trialJobId": trial.trial_id,
        "sequenceId": trial.sequence_id,
        "status": trial.status.value,
        "submittedTime": trial.submit_time_ms,
        "startTime": trial.start_time_ms,
        "endTime": trial.end_time_ms,
        "hyperParameters": [json_safe(trial.parameter_record)],
        "logPath": trial.log_path,
        "stderrPath": trial.stderr_path,
        "finalMetricData": [metric_json(trial.final)] if trial.final is not None else [],
        "message": trial.message,
        "exitCode": trial.exit_code,
        "host": trial.host,
        "gpus": list(trial.gpus),
        "customized": trial.customized,
    }


def export_row(trial: Trial) -> dict[str, Any]:
    """One row of ``export-data``: NNI's TrialResult fields."""
    return {
        "parameter": json_safe(trial.parameters),
        "value": json_safe(trial.final.value) if trial.final is not None else None,
        "trialJobId": trial.trial_id,
        "status": trial.status.value,
    }


# -- NNI 3.0's wire forms ---------------------------------------------------------------------------

_PROFILE_KEYS = ("id", "revision", "execDuration", "logDir", "nextSequenceId", "params", "startTime", "endTime")
"""The keys of NNI 3.0's ExperimentProfile."""


def _plain_scalar(value: Any) -> Any:
    """json.dumps' fallback: numpy scalars as numbers, anything else as its ``str``."""
    if hasattr(value, "dtype") and hasattr(value, "item"):
        return value.item()
    return str(value)


_TRIAL_ENCODER = json.JSONEncoder(default=_plain_scalar)
"""Made once: ``json.dumps`` with any option builds an encoder per call, a third of the time of a small value."""


def _trial_text(value: Any) -> str:
    """A metric as the trial side encodes it (Python's json.dumps: spaces, NaN kept as a name)."""
    return _TRIAL_ENCODER.encode(value)


_MANAGER_ENCODER = JsonSafeEncoder(separators=(",", ":"), ensure_ascii=False)


def _manager_text(value: Any) -> str:
    """A value as NNI's manager (JSON.stringify) encodes it: compact, non-ASCII kept."""
    return _MANAGER_ENCODER.encode(value)


def wire_metric(metric: MetricRecord) -> dict[str, Any]:
    """NNI's MetricDataRecord: ``parameterId`` is text and ``data`` is encoded twice, as NNI stores it.

    A metric read from the database brings its stored text, which is the trial side's encoding
    already (what NNI's manager keeps and sends): it goes out as it is, not decoded and re-encoded.
    """
    text = metric.text if type(metric) is StoredMetric else None
    return {
        "timestamp": metric.timestamp_ms,
        "trialJobId": metric.trial_id,
        "parameterId": None if metric.parameter_id is None else str(metric.parameter_id),
        "type": metric.type,
        "sequence": metric.sequence,
        "data": json.dumps(_trial_text(metric.value) if text is None else text),
    }


def wire_trial(trial: Trial) -> dict[str, Any]:
    """NNI's TrialJobInfo as its manager replays it from events; unknown fields are left out."""
    info: dict[str, Any] = {"trialJobId": trial.trial_id, "status": trial.status.value,
                            "hyperParameters": [_manager_text(trial.parameter_record)],
                            "sequenceId": trial.sequence_id}
    optional = {"logPath": trial.log_path, "startTime": trial.start_time_ms, "endTime": trial.end_time_ms,
                "message": trial.message}
    info.update({key: value for key, value in optional.items() if value is not None})
    if trial.status.value == "SUCCEEDED" and trial.final is not None:
        info["finalMetricData"] = [wire_metric(trial.final)]
    if trial.status.value == "FAILED":
        info["stderrPath"] = trial.stderr_path
    return info


def wire_export_row(trial: Trial) -> dict[str, Any]:
    """One row of NNI's ``export-data``: the final result's JSON text as ``value``."""
    return {"parameter": json_safe(trial.parameters),
            "value": _trial_text(trial.final.value if trial.final is not None else None),
            "trialJobId": trial.trial_id}


def wire_profile(profile: dict[str, Any]) -> dict[str, Any]:
    """NNI's ExperimentProfile: its keys only, and none whose value is unknown (no endTime while running)."""
    return {key: json_safe(profile[key]) for key in _PROFILE_KEYS if profile.get(key) is not None}


def wire_imported_data(batches: list[list[dict[str, Any]]]) -> list[str]:
    """``experiment/imported-data``: each import as the JSON text of its list, as NNI stores it."""
    return [_manager_text(batch) for batch in batches]


_MANIFEST_KEYS = ("id", "port", "startTime", "endTime", "status", "platform", "experimentName", "tag", "pid",
                  "logDir")
"""The keys of NNI 3.0's experiments-list entries that ours share (never the token)."""


def wire_manifest_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """A manifest entry as NNI's ``experiments-info`` lists it: its keys, ``prefixUrl`` for our
    ``urlPrefix``, ``webuiUrl`` as NNI's launcher records it (a list; empty when none was announced)."""
    wire = {key: json_safe(entry[key]) for key in _MANIFEST_KEYS if key in entry}
    wire["prefixUrl"] = entry.get("urlPrefix") or None
    wire["webuiUrl"] = list(entry.get("webuiUrl") or [])
    return wire


def plain_metric(item: dict[str, Any]) -> dict[str, Any]:
    """A wire metric with its value decoded (NNI's client decodes ``data`` twice)."""
    return {**item, "data": decode_json_text(decode_json_text(item.get("data")))}


def plain_trial(item: dict[str, Any]) -> dict[str, Any]:
    """A wire trial with its parameter records and final results decoded."""
    return {**item, "hyperParameters": [decode_json_text(h) for h in item.get("hyperParameters", [])],
            "finalMetricData": [plain_metric(m) for m in item.get("finalMetricData", [])]}


def plain_export_row(item: dict[str, Any]) -> dict[str, Any]:
    """A wire export row with its value decoded."""
    return {**item, "value": decode_json_text(item.get("value"))}
