"""JSON forms of the engine's records, in NNI's REST shapes (without NNI's double encoding).

JSON has no NaN: non-finite floats anywhere in a value become the strings "NaN", "Infinity" and
"-Infinity", so a diverged metric reaches clients readable and never as a number.
"""

from __future__ import annotations

import math
from typing import Any

from ..records import MetricRecord, Trial

__all__ = ["json_safe", "metric_json", "trial_json", "export_row"]


def json_safe(value: Any) -> Any:
    """A copy of ``value`` that strict JSON accepts: non-finite floats become their names, numpy
    scalars plain numbers, anything else unknown its ``str``."""
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if hasattr(value, "dtype") and hasattr(value, "item"):  # a numpy scalar
        return json_safe(value.item())
    return str(value)


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
