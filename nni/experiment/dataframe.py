"""``Experiment.export_dataframe``: an experiment's trials as a pandas DataFrame.

Rows are built from NNI's REST forms of trials and metrics (decoded), whether they come from the
running manager or from the stored database, so both give the same table. Column names follow
MLflow's ``search_runs`` frames: ``params.<name>`` (nested choices one level deep, ``p/key``) and
``metrics.<key>`` (a scalar result is ``default``).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..analysis.flattening import flatten_parameters
from ..analysis.pareto import result_flags
from ..config import ExperimentConfig
from ..engine.view import ViewEngine
from ..objectives import ObjectiveSpec
from ..server.serialize import plain_metric, plain_trial, wire_metric, wire_trial
from ..storage.nni30 import decode_json_text
from .rest_client import RestClient

if TYPE_CHECKING:
    import pandas

__all__ = ["Records", "running_records", "stored_records", "trial_rows", "intermediate_rows", "to_dataframe", "TRIAL_COLUMNS",
           "INTERMEDIATE_COLUMNS", "OBJECTIVE_COLUMNS"]

TRIAL_COLUMNS = ("trial_id", "sequence_id", "parameter_id", "status", "customized", "imported", "start_time",
                 "end_time", "duration", "message")
"""The fixed columns of one row per trial, before the ``params.*`` and ``metrics.*`` ones."""
INTERMEDIATE_COLUMNS = ("trial_id", "sequence_id", "parameter_id", "status", "step", "timestamp")
"""The fixed columns of one row per intermediate result."""
_TIME_COLUMNS = ("start_time", "end_time", "timestamp")
OBJECTIVE_COLUMNS = ("feasible", "pareto")
"""The columns after the fixed ones when the experiment has objectives or constraints."""


Records = tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]], ObjectiveSpec | None]
"""(trials, metrics, imported results) in the decoded REST forms, and the experiment's objectives."""


def running_records(rest: RestClient) -> Records:
    """What a running manager serves: trials, every metric, the results imported into it, and the
    objectives of its config."""
    trials = [plain_trial(t) for t in rest.get("/trial-jobs")]
    metrics = [plain_metric(m) for m in rest.get("/metric-data")]
    imported = [row for batch in rest.get("/experiment/imported-data") for row in decode_json_text(batch)]
    spec = ExperimentConfig.model_validate(rest.get("/experiment")["params"]).objective_spec()
    return trials, metrics, imported, spec


def stored_records(experiment_id: str, experiment_dir: Path) -> Records:
    """The same records read from a stored experiment's database."""
    view = ViewEngine(experiment_id, experiment_dir)
    try:
        view.wait_for_curves()
        trials = sorted(view.trials.values(), key=lambda t: t.sequence_id)
        metrics = [plain_metric(wire_metric(m)) for t in trials
                   for m in [*t.intermediate, *([t.final] if t.final is not None else [])]]
        imported = [row for event in view.storage.experiment_events("import_data") for row in event["data"]["data"]]
        return [plain_trial(wire_trial(t)) for t in trials], metrics, imported, view.objective_spec()
    finally:
        view.storage.close()


def _metric_columns(value: Any) -> dict[str, Any]:
    """Every key of a reported metric as its own column; a scalar (or a list) is ``default``."""
    if isinstance(value, dict):
        return {f"metrics.{key}": item for key, item in value.items()}
    return {"metrics.default": value}


def _record(item: dict[str, Any]) -> dict[str, Any]:
    records = item.get("hyperParameters") or [{}]
    return records[-1] if isinstance(records[-1], dict) else {}


def _base(item: dict[str, Any]) -> dict[str, Any]:
    record = _record(item)
    return {"trial_id": item["trialJobId"], "sequence_id": item.get("sequenceId"),
            "parameter_id": record.get("parameter_id"), "status": item.get("status")}


def _params(parameters: Any) -> dict[str, Any]:
    return {f"params.{key}": value for key, value in flatten_parameters(parameters).items()}


def trial_rows(trials: Iterable[dict[str, Any]], metrics: Iterable[dict[str, Any]],
               imported: Iterable[dict[str, Any]] = (), spec: ObjectiveSpec | None = None) -> list[dict[str, Any]]:
    """One row per trial: ids, status, flags, times, parameters and every key of its final result;
    then one per imported result (``imported`` true; no id, status or times: it never ran here).
    Under objectives (``spec``) each trial's row also has ``feasible`` and ``pareto`` (see
    :func:`~nni.analysis.pareto.result_flags`)."""
    finals = {m["trialJobId"]: m["data"] for m in metrics if m.get("type") == "FINAL"}
    flags = result_flags(finals, spec)
    rows = []
    for item in trials:
        start, end = item.get("startTime"), item.get("endTime")
        row = {**_base(item), "customized": _record(item).get("parameter_source") == "customized",
               "imported": False, "start_time": start, "end_time": end,
               "duration": (end - start) / 1000 if start is not None and end is not None else None,
               "message": item.get("message"), **_params(_record(item).get("parameters"))}
        if spec is not None:
            row.update(flags.get(item["trialJobId"], {"feasible": None, "pareto": False}))
        if item["trialJobId"] in finals:
            row.update(_metric_columns(finals[item["trialJobId"]]))
        rows.append(row)
    for result in imported:
        rows.append({"customized": False, "imported": True, **_params(result.get("parameter")),
                     **_metric_columns(result.get("value"))})
    return rows


def intermediate_rows(trials: Iterable[dict[str, Any]], metrics: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per intermediate result: its trial's ids, status and parameters, its step and every key."""
    by_trial: dict[str, list[dict[str, Any]]] = {}
    for metric in metrics:
        if metric.get("type") == "PERIODICAL":
            by_trial.setdefault(metric["trialJobId"], []).append(metric)
    rows = []
    for item in trials:
        for metric in sorted(by_trial.get(item["trialJobId"], []), key=lambda m: m.get("sequence") or 0):
            rows.append({**_base(item), "step": metric.get("sequence"), "timestamp": metric.get("timestamp"),
                         **_params(_record(item).get("parameters")), **_metric_columns(metric["data"])})
    return rows


def to_dataframe(rows: list[dict[str, Any]], fixed: tuple[str, ...]) -> pandas.DataFrame:
    """The rows as a DataFrame: fixed columns first, then ``params.*``, then ``metrics.*``, times as UTC datetimes."""
    try:
        import pandas
    except ImportError as error:
        raise ImportError(f"export_dataframe needs pandas, which cannot be imported ({error}); "
                          "install it with pip install 'nni[pandas]'") from None
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    params = [c for c in seen if c.startswith("params.")]
    metrics = [c for c in seen if c.startswith("metrics.")]
    flags = [c for c in OBJECTIVE_COLUMNS if c in seen]
    frame = pandas.DataFrame(rows, columns=[*fixed, *flags, *params, *metrics])
    for column in _TIME_COLUMNS:
        if column in frame:
            frame[column] = pandas.to_datetime(frame[column], unit="ms", utc=True)
    return frame
