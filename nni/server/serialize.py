"""JSON forms of the engine's records, in NNI's REST shapes (without NNI's double encoding).

JSON has no NaN: non-finite floats anywhere in a value become the strings "NaN", "Infinity" and
"-Infinity" (:func:`~nni.analysis.json_safe`, which every view shares), so a diverged metric
reaches clients readable and never as a number.
"""

from __future__ import annotations

from typing import Any

from ..analysis.flattening import json_safe
from ..records import MetricRecord, Trial

__all__ = ["json_safe", "metric_json", "trial_json", "export_row"]


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
