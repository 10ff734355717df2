"""NNI's REST API (``/{url_prefix}/api/v1/nni/...`` and ``/{url_prefix}/logs/...``), answered from the
engine's records in NNI 3.0's wire format (see :mod:`nni.server.serialize`).

Deliberate differences from NNI 3.0: an unknown trial is a 404 (NNI answers 200 with an empty body), a
missing log file is a 404 (NNI answers with the web UI's page), mutations need the token, and
``check-status`` adds the manager's identity (``experimentId``, ``nonce``) that nnictl checks.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .. import __version__
from ..analysis.pareto import export_flags
from ..engine.handle import UPDATABLE, ExperimentHandle, setting_of_update_type
from ..errors import ConfigError
from ..records import Trial, TrialStatus
from ..storage.manifest import read_manifest
from ..storage.nni30 import trial_file_location
from .guard import is_authorized
from .inputs import confined_path, json_body, parse_json_text
from .redact import redact_secrets
from .serialize import (
    json_safe,
    wire_export_row,
    wire_imported_data,
    wire_manifest_entry,
    wire_metric,
    wire_profile,
    wire_trial,
)

__all__ = ["rest_routes", "log_routes", "json_array_chunks"]

_log = logging.getLogger(__name__)


def _engine(request: Request) -> ExperimentHandle:
    return request.app.state.engine


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


_CHUNK_ITEMS = 500
"""Items serialized per chunk of a streamed list: large enough to amortize, small enough to stay flat."""


def _json_list_body(items: list[Any]) -> str:
    """``items`` as the inside of a compact JSON list (no brackets)."""
    return json.dumps(items, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":"))[1:-1]


def _encoded_alone(items: list[Any], encode: Callable[[Any], Any]) -> str:
    """The items of a chunk that failed to encode as a whole, one by one; those that cannot be are
    left out and logged (the answer's 200 has gone out: a list cannot fail halfway)."""
    texts = []
    for item in items:
        try:
            texts.append(_json_list_body([encode(item)]))
        except (TypeError, ValueError, AttributeError) as error:
            _log.warning("left an item out of a streamed list: it cannot be encoded (%s)", error)
    return ",".join(texts)


def json_array_chunks(items: Iterable[Any], encode: Callable[[Any], Any]) -> Iterator[bytes]:
    """The JSON list of ``encode(item)`` for each item, a few hundred items per chunk, byte for byte
    what :class:`JSONResponse` renders for the whole list (so 100,000 trials never sit in memory as
    one document)."""
    yield b"["
    separator = ""
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, _CHUNK_ITEMS)):
        try:
            text = _json_list_body([encode(item) for item in batch])
        except (TypeError, ValueError, AttributeError):
            text = _encoded_alone(batch, encode)
        if text:
            yield (separator + text).encode("utf-8")
            separator = ","
    yield b"]"


def _streamed(items: Iterable[Any], encode: Callable[[Any], Any]) -> StreamingResponse:
    """``items`` (a snapshot taken on the event loop, or a view's database cursor) streamed as a JSON
    list, read and encoded off the loop."""
    return StreamingResponse(json_array_chunks(items, encode), media_type="application/json")


async def version(request: Request) -> Response:
    """The bare version text, labelled JSON as NNI labels it (it is not a JSON string)."""
    return Response(__version__, media_type="application/json")


async def check_status(request: Request) -> Response:
    engine = _engine(request)
    return JSONResponse({"status": engine.status.value, "errors": [engine.error] if engine.error else [],
                         **getattr(request.app.state, "manager_identity", {})})


def _profile(request: Request) -> dict[str, Any]:
    """The experiment profile; secrets in its config (SSH passwords) only for the token's holder."""
    profile = wire_profile(_engine(request).profile())
    return profile if is_authorized(request) else redact_secrets(profile)


async def get_experiment(request: Request) -> Response:
    return JSONResponse(_profile(request))


async def put_experiment(request: Request) -> Response:
    """NNI's client PUTs the whole profile with one field of ``params`` changed."""
    engine = _engine(request)
    update_type = request.query_params.get("update_type", "")
    setting = setting_of_update_type(update_type)
    if setting is None:
        choices = ", ".join(s.update_type for s in UPDATABLE.values())
        return _error(400, f"update_type must be one of {choices}, got {update_type!r}")
    key = setting.field
    body = await json_body(request)
    params = body.get("params", body) if isinstance(body, dict) else None
    if not isinstance(params, dict):
        return _error(400, "the body must be the experiment profile (a JSON object with 'params')")
    if key not in params:
        return _error(400, f"params.{key} is missing for {update_type}")
    value = params[key]
    if isinstance(value, str) and key == "searchSpace":
        value = parse_json_text(value, "params.searchSpace")
    try:
        await engine.update(key, value)
    except (ConfigError, ValueError, TypeError, OverflowError) as error:
        return _error(400, str(error))
    return JSONResponse(_profile(request))


async def delete_experiment(request: Request) -> Response:
    await request.app.state.request_stop()
    return JSONResponse({})


async def import_data(request: Request) -> Response:
    data = await json_body(request)
    if isinstance(data, str):
        data = parse_json_text(data, "the imported data")
    if not isinstance(data, list):
        return _error(400, "the body must be a JSON list of {parameter, value}")
    for index, row in enumerate(data):
        if not isinstance(row, dict) or not isinstance(row.get("parameter"), dict) or "value" not in row:
            return _error(400, f"item {index} of the imported data is not {{\"parameter\": {{...}}, \"value\": ...}}")
    await _engine(request).import_data(data)
    return JSONResponse({})


async def job_statistics(request: Request) -> Response:
    counts = _engine(request).statistics()
    return JSONResponse([{"trialJobStatus": k, "trialJobNumber": v} for k, v in counts.items()])


async def list_trials(request: Request) -> Response:
    status = request.query_params.get("status")
    trials = list(_engine(request).trials.values())
    if status:
        trials = [t for t in trials if t.status.value == status]
    return _streamed(trials, wire_trial)


async def get_trial(request: Request) -> Response:
    trial = _engine(request).trials.get(request.path_params["trial_id"])
    if trial is None:
        return _error(404, f"no trial {request.path_params['trial_id']!r}")
    return JSONResponse(wire_trial(trial))


async def kill_trial(request: Request) -> Response:
    engine = _engine(request)
    trial_id = request.path_params["trial_id"]
    if trial_id not in engine.trials:
        return _error(404, f"no trial {trial_id!r}")
    await engine.kill_trial(trial_id)
    return JSONResponse({})


async def add_trial(request: Request) -> Response:
    """A customized trial: ``{"parameters": {...}}`` (or NNI's hyper-parameter record)."""
    body = await json_body(request)
    if isinstance(body, dict) and "hyperParameters" in body:
        body = body["hyperParameters"]
        if isinstance(body, dict) and isinstance(body.get("value"), str):
            body = parse_json_text(body["value"], "hyperParameters.value")
    parameters = body.get("parameters", body) if isinstance(body, dict) else None
    if not isinstance(parameters, dict):
        return _error(400, "give the trial's parameters as {\"parameters\": {...}}")
    engine = _engine(request)
    trial_id = await engine.add_customized_trial(parameters)
    return JSONResponse({"trialJobId": trial_id, "sequenceId": engine.trials[trial_id].sequence_id})


async def rerun_trials(request: Request) -> Response:
    """Run finished trials again (an addition to NNI's API): ``{"trialJobIds": [...]}``, or
    ``{"failed": true}`` for every failed one whose parameters never succeeded."""
    body = await json_body(request)
    ids = body.get("trialJobIds") if isinstance(body, dict) else None
    failed = isinstance(body, dict) and body.get("failed") is True
    if failed == (ids is not None) or (ids is not None and (
            not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids))):
        return _error(400, "give either {\"trialJobIds\": [\"id\", ...]} or {\"failed\": true}")
    try:
        rerun = await _engine(request).rerun_trials(None if failed else ids)
    except KeyError as error:
        return _error(404, f"no trial {error.args[0]!r}")
    except ValueError as error:
        return _error(409, str(error))
    return JSONResponse({"rerun": [{"trialJobId": new, "rerunOf": old} for old, new in rerun.items()]})


_METRIC_TYPES = ("PERIODICAL", "FINAL")


def _metric_type(request: Request) -> str | None:
    metric_type = request.query_params.get("type") or None
    if metric_type is not None and metric_type not in _METRIC_TYPES:
        raise HTTPException(400, f"type must be one of {', '.join(_METRIC_TYPES)}, got {metric_type!r}")
    return metric_type


async def metric_data(request: Request) -> Response:
    """All metrics, or one trial's (``/metric-data/ID``), optionally ``?type=FINAL|PERIODICAL``."""
    engine = _engine(request)
    metric_type = _metric_type(request)
    await engine.curves_loaded()
    trial_id = request.path_params.get("trial_id")
    trials: list[Trial] | None = None
    if trial_id is not None:
        if trial_id not in engine.trials:
            return _error(404, f"no trial {trial_id!r}")
        trials = [engine.trials[trial_id]]
    return _streamed(engine.arrived_metrics(trials, metric_type), wire_metric)


def _sequence_bound(request: Request, name: str) -> int:
    text = request.path_params[name]
    try:
        return int(text)
    except ValueError:
        raise HTTPException(400, f"{name} must be a whole number (a trial's sequence id), got {text!r}") from None


async def metric_data_range(request: Request) -> Response:
    """The metrics of the trials whose sequence id lies in [min, max] (both included), as NNI's."""
    low, high = _sequence_bound(request, "min_seq_id"), _sequence_bound(request, "max_seq_id")
    engine = _engine(request)
    await engine.curves_loaded()
    trials = [t for t in engine.trials.values() if low <= t.sequence_id <= high]
    return _streamed(engine.arrived_metrics(trials), wire_metric)


async def metric_data_latest(request: Request) -> Response:
    """Every final result, then each trial's latest intermediate one (NNI's order)."""
    engine = _engine(request)
    await engine.curves_loaded()
    return _streamed(engine.latest_metrics(), wire_metric)


async def trial_file(request: Request) -> Response:
    engine = _engine(request)
    trial_id, filename = request.path_params["trial_id"], request.path_params["filename"]
    if trial_id not in engine.trials:
        return _error(404, f"no trial {trial_id!r}")
    path = confined_path(engine.experiment_dir, *trial_file_location(engine.experiment_dir, trial_id, filename))
    if path is None:
        return _error(403, "only files inside the trial's folder can be read")
    if not path.is_file():
        return _error(404, f"no file {filename!r} for trial {trial_id}")
    return FileResponse(path, media_type="text/plain; charset=utf-8") if path.suffix in ("", ".log", ".txt", ".cfg") \
        else FileResponse(path)


async def export_data(request: Request) -> Response:
    """NNI's rows; under objectives each also says whether it is feasible and on the Pareto front."""
    engine = _engine(request)
    flags = export_flags(engine.trials.values(), engine.objective_spec())
    return _streamed([t for t in engine.trials.values() if t.status == TrialStatus.SUCCEEDED and t.final is not None],
                     lambda trial: wire_export_row(trial) | flags.get(trial.trial_id, {}))


async def imported_data(request: Request) -> Response:
    """Each ``import-data`` call's rows, as the JSON text NNI keeps per import."""
    events = _engine(request).storage.experiment_events("import_data")
    return JSONResponse(wire_imported_data([event["data"]["data"] for event in events]))


async def imported_results(request: Request) -> Response:
    """Every imported result with where it came from (an addition to NNI's API): the rows a warm
    start or ``import-data`` gave the tuner, each flagged ``imported`` for the web UI."""
    return JSONResponse(json_safe(_engine(request).imported_results()))


async def log_file(request: Request) -> Response:
    """A file of the experiment's ``log`` folder (NNI serves ``/logs/*`` from it); nothing outside it."""
    name = request.path_params["path"]
    path = confined_path(_engine(request).experiment_dir, "log", name)
    if path is None:
        return _error(403, "only files inside the experiment's log folder can be read")
    if not path.is_file():
        return _error(404, f"no log file {name!r}")
    return FileResponse(path, media_type="text/plain; charset=utf-8")


async def experiment_metadata(request: Request) -> Response:
    engine = _engine(request)
    entry = read_manifest().get(engine.experiment_id, {"id": engine.experiment_id})
    return JSONResponse(wire_manifest_entry(entry))


async def experiments_info(request: Request) -> Response:
    return JSONResponse([wire_manifest_entry(entry) for entry in read_manifest().values()])


def rest_routes() -> list[Route]:
    return [
        Route("/version", version),
        Route("/check-status", check_status),
        Route("/experiment", get_experiment, methods=["GET"]),
        Route("/experiment", put_experiment, methods=["PUT"]),
        Route("/experiment", delete_experiment, methods=["DELETE"]),
        Route("/experiment/import-data", import_data, methods=["POST"]),
        Route("/experiment/imported-data", imported_data),
        Route("/experiment/imported-results", imported_results),
        Route("/job-statistics", job_statistics),
        Route("/trial-jobs", list_trials, methods=["GET"]),
        Route("/trial-jobs", add_trial, methods=["POST"]),
        Route("/trial-jobs/rerun", rerun_trials, methods=["POST"]),
        Route("/trial-jobs/{trial_id}", get_trial, methods=["GET"]),
        Route("/trial-jobs/{trial_id}", kill_trial, methods=["DELETE"]),
        Route("/metric-data", metric_data),
        Route("/metric-data/{trial_id}", metric_data),
        Route("/metric-data-range/{min_seq_id}/{max_seq_id}", metric_data_range),
        Route("/metric-data-latest", metric_data_latest),
        Route("/metric-data-latest/", metric_data_latest),
        Route("/trial-file/{trial_id}/{filename:path}", trial_file),
        Route("/export-data", export_data),
        Route("/experiment-metadata", experiment_metadata),
        Route("/experiments-info", experiments_info),
    ]


def log_routes() -> list[Route]:
    """``/logs/...``, mounted beside the API as NNI does."""
    return [Route("/{path:path}", log_file)]
