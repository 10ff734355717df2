"""Reading an experiment for nnictl: from its manager when it runs, else from its database.

Queries (trial ls, experiment show, export, ...) thus work on stopped and crashed experiments too. The
manager answers in NNI's wire format; its JSON texts are decoded here so both sources read alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from ...analysis.pareto import export_flags
from ...engine.view import ViewEngine
from ...experiment.detach import manager_alive
from ...server.serialize import (
    export_row,
    json_safe,
    metric_json,
    plain_export_row,
    plain_metric,
    plain_trial,
    trial_json,
)
from .common import experiment_dir, fail, rest_call

__all__ = ["trials_json", "profile_json", "export_rows", "metrics_json", "status_json", "open_stored"]

_T = TypeVar("_T")


def open_stored(experiment_id: str) -> ViewEngine:
    """The stored experiment, read-only (a ViewEngine also keeps the status it was stored with), with
    its intermediate results loaded."""
    try:
        engine = ViewEngine(experiment_id, experiment_dir(experiment_id))
    except FileNotFoundError as error:
        fail(str(error))
    engine.wait_for_curves()
    return engine


def _stored(experiment_id: str, read: Callable[[ViewEngine], _T]) -> _T:
    engine = open_stored(experiment_id)
    try:
        return read(engine)
    finally:
        engine.storage.close()


def trials_json(experiment_id: str) -> list[dict[str, Any]]:
    if manager_alive(experiment_id):
        return [plain_trial(t) for t in rest_call(experiment_id, "GET", "/trial-jobs")]
    return _stored(experiment_id, lambda e: [trial_json(t) for t in e.trials.values()])


def profile_json(experiment_id: str) -> dict[str, Any]:
    if manager_alive(experiment_id):
        return rest_call(experiment_id, "GET", "/experiment")
    return _stored(experiment_id, lambda e: json_safe(e.profile()))


def status_json(experiment_id: str) -> dict[str, Any]:
    if manager_alive(experiment_id):
        return rest_call(experiment_id, "GET", "/check-status")
    return _stored(experiment_id, lambda e: {"status": e.stored_status.value, "errors": [e.error] if e.error else []})


def export_rows(experiment_id: str) -> list[dict[str, Any]]:
    if manager_alive(experiment_id):
        return [plain_export_row(r) for r in rest_call(experiment_id, "GET", "/export-data")]
    def read(engine: ViewEngine) -> list[dict[str, Any]]:
        flags = export_flags(engine.trials.values(), engine.objective_spec())
        return [export_row(t) | flags.get(t.trial_id, {}) for t in engine.trials.values()
                if t.status.value == "SUCCEEDED" and t.final is not None]
    return _stored(experiment_id, read)


def metrics_json(experiment_id: str) -> list[dict[str, Any]]:
    if manager_alive(experiment_id):
        return [plain_metric(m) for m in rest_call(experiment_id, "GET", "/metric-data")]
    return _stored(experiment_id, lambda e: [metric_json(m) for t in e.trials.values()
                                             for m in [*t.intermediate, *([t.final] if t.final else [])]])
