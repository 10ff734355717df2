"""Every experiment of the experiments folder on one port: each one's portal under ``/exp/ID/``, a
compare view's data and one export of several.

The experiment this server runs (if any) is read live from its engine. Every other one is read from
its own database, read-only: a running one is written by its manager in WAL mode, so a change of the
database files (checked on each request and while the change stream waits) reloads it and bumps its
revision, which keeps its page live. Experiment ids in URLs are looked up in the manifest; folders come
from the manifest only, never from the request.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import psutil
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route, Router
from starlette.types import Receive, Scope, Send

from ..analysis import EXPORT_TYPES, best_so_far, differences, export_text, numeric_keys, pareto_front
from ..analysis.pareto import export_flags
from ..config import ExperimentConfig
from ..engine.handle import ExperimentHandle
from ..engine.view import ViewEngine
from ..errors import StorageError
from ..records import Change, ExperimentStatus, TrialStatus
from ..storage.manifest import read_manifest
from ..storage.sqlite import DB_FILE, database_dir
from .guard import is_authorized
from .redact import redact_secrets
from .serialize import export_row
from .webui import EngineGetter, index_response, json_response, webui_routes

__all__ = ["StoredExperiment", "Workspace", "workspace_routes", "workspace_app_routes", "MAX_COMPARED"]

MAX_COMPARED = 20
"""The most experiments one compare view or export takes."""
_POLL_SECONDS = 0.5
_MODES = ("maximize", "minimize")
_SETTLED = frozenset({ExperimentStatus.DONE, ExperimentStatus.STOPPED, ExperimentStatus.ERROR, ExperimentStatus.VIEWED})


class StoredExperiment(ViewEngine):
    """One experiment read from its database; :meth:`refresh` reloads it when the files changed.

    It keeps the status its manager stored (RUNNING while one runs it) rather than VIEWED, since it is
    shown beside live ones; like every view it refuses changes.
    """

    def __init__(self, experiment_id: str, experiment_dir: Path) -> None:
        super().__init__(experiment_id, experiment_dir)
        self.status = self.stored_status
        self._signature = self._files_signature()
        self._looked = time.monotonic()

    def _files_signature(self) -> tuple[tuple[int, int], ...]:
        db_dir = database_dir(self.experiment_dir)
        signature = []
        for name in (DB_FILE, DB_FILE + "-wal"):
            try:
                stat = (db_dir / name).stat()
            except OSError:
                stat = None
            signature.append((stat.st_mtime_ns, stat.st_size) if stat else (0, 0))
        return tuple(signature)

    def refresh(self) -> bool:
        """Reload trials and profile if the database changed since the last look; whether it did.

        A busy manager writes all the time: one reload per half second at most, however many requests.
        """
        now = time.monotonic()
        if now - self._looked < _POLL_SECONDS:
            return False
        self._looked = now
        signature = self._files_signature()
        if signature == self._signature:
            return False
        self._signature = signature
        profile = self.storage.load_profile() or {}
        if profile.get("status"):
            self.stored_status = self.status = ExperimentStatus(profile["status"])
        if profile.get("config"):  # its manager may have changed a setting (concurrency, search space)
            self.config = ExperimentConfig.model_validate(profile["config"])
            self.search_space = self.config.search_space or {}
        self.error = profile.get("error")
        self.end_time_ms = profile.get("end_time_ms")
        self._elapsed_ms = int(profile.get("elapsed_ms") or 0)
        self._next_parameter_id = int(profile.get("next_parameter_id") or 0)
        self._load_trials()
        self.revision += 1
        return True

    async def wait_changes(self, after: int, timeout: float) -> list[Change]:
        """Poll the database files until they change or ``timeout`` passes."""
        if after > self.revision:  # a change id from another server, or an earlier run of this one
            return [Change(self.revision, "reset")]
        deadline = time.monotonic() + timeout
        while True:
            if self.revision <= after:
                self.refresh()
            if self.revision > after:
                return [Change(self.revision, kind) for kind in ("experiment", "trial", "metric")]
            left = deadline - time.monotonic()
            if left <= 0:
                return []
            await asyncio.sleep(min(_POLL_SECONDS, left))


def _folder_of(entry: dict[str, Any], experiment_id: str) -> Path:
    """The experiment's folder from its manifest entry (ours name it; NNI 3.0's name its parent)."""
    log_dir = Path(entry.get("logDir") or Path("~/nni-experiments") / experiment_id).expanduser()
    nested = log_dir / experiment_id
    return nested if database_dir(nested).is_dir() else log_dir


class Workspace:
    """The experiments of the manifest, each opened once and reloaded as its database changes."""

    def __init__(self, current: EngineGetter) -> None:
        self.current = current
        self._opened: dict[str, StoredExperiment] = {}

    def handle(self, experiment_id: str) -> ExperimentHandle:
        """The experiment ``experiment_id``: the live engine when it is this server's, else its database."""
        engine = self.current()
        if engine is not None and engine.experiment_id == experiment_id:
            return engine
        entry = read_manifest().get(experiment_id)
        if entry is None:
            self.forget(experiment_id)
            raise HTTPException(404, f"no experiment {experiment_id!r} in the experiments folder")
        stored = self._opened.get(experiment_id)
        if stored is None:
            try:
                stored = StoredExperiment(experiment_id, _folder_of(entry, experiment_id))
            except FileNotFoundError as error:
                raise HTTPException(404, str(error)) from None
            except StorageError as error:
                raise HTTPException(500, f"experiment {experiment_id}: {error}") from None
            self._opened[experiment_id] = stored
        else:
            stored.refresh()
        return stored

    def forget(self, experiment_id: str) -> None:
        stored = self._opened.pop(experiment_id, None)
        if stored is not None:
            stored.storage.close()

    def close(self) -> None:
        for experiment_id in list(self._opened):
            self.forget(experiment_id)


class _ExperimentPages:
    """ASGI app under ``/exp/{experiment_id}``: that experiment's whole portal (page and API)."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self._routers: dict[str, Router] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        experiment_id = scope["path_params"]["experiment_id"]
        if experiment_id not in read_manifest():
            response = json_response({"error": f"no experiment {experiment_id!r} in the experiments folder"}, 404)
            await response(scope, receive, send)
            return
        router = self._routers.get(experiment_id)
        if router is None:
            router = Router(routes=webui_routes(lambda: self.workspace.handle(experiment_id)))
            self._routers[experiment_id] = router
        await router(scope, receive, send)


def _chosen_ids(request: Request) -> list[str]:
    """The ``ids`` query parameter: comma-separated experiment ids, at least one and at most MAX_COMPARED."""
    ids = list(dict.fromkeys(i for i in request.query_params.get("ids", "").split(",") if i))
    if not ids:
        raise HTTPException(400, "ids must name at least one experiment (comma-separated ids)")
    if len(ids) > MAX_COMPARED:
        raise HTTPException(400, f"ids names {len(ids)} experiments; at most {MAX_COMPARED} at once")
    return ids


def _front_query(request: Request) -> tuple[tuple[str, str], tuple[str, str]] | None:
    """``front=KEY1,KEY2`` with ``frontModes=MODE1,MODE2`` (maximize unless given); None when absent."""
    text = request.query_params.get("front")
    if text is None:
        return None
    keys = text.split(",")
    if len(keys) != 2 or not all(keys) or keys[0] == keys[1]:
        raise HTTPException(400, f"front must name two different metric keys (front=acc,loss), got {text[:100]!r}")
    modes = request.query_params.get("frontModes", "maximize,maximize").split(",")
    if len(modes) != 2 or any(m not in _MODES for m in modes):
        raise HTTPException(400, "frontModes must be two of maximize, minimize (frontModes=maximize,minimize)")
    return (keys[0], keys[1]), (modes[0], modes[1])


def _name_of(handle: ExperimentHandle) -> str:
    name = handle.config.experiment_name
    return name if isinstance(name, str) and name else handle.experiment_id


def _running(handle: ExperimentHandle, entry: dict[str, Any]) -> bool:
    """Whether a manager still works on it (so the compare view keeps reloading)."""
    pid = entry.get("pid")
    return handle.status not in _SETTLED and isinstance(pid, int) and psutil.pid_exists(pid)


def workspace_routes(current: EngineGetter, url_prefix: str = "") -> tuple[list[BaseRoute], Workspace]:
    """The routes of the one-port workspace (and the :class:`Workspace` they read, to close at the end)."""
    prefix = "/" + url_prefix.strip("/") if url_prefix.strip("/") else ""
    workspace = Workspace(current)
    api = prefix + "/api/v1/webui"

    async def compare(request: Request) -> Response:
        ids = _chosen_ids(request)
        key = request.query_params.get("key", "default")
        front = _front_query(request)
        manifest = read_manifest()
        handles = {i: workspace.handle(i) for i in ids}
        authorized = is_authorized(request)
        experiments, configs, spaces = [], {}, {}
        keys: dict[str, None] = {}
        for exp_id, handle in handles.items():
            mode = handle.optimize_mode()
            trials = list(handle.trials.values())
            keys.update(dict.fromkeys(numeric_keys(trials)))
            curve = best_so_far(trials, mode, key)
            config = handle.config.json()
            spaces[exp_id] = config.pop("searchSpace", None) or {}
            configs[exp_id] = config if authorized else redact_secrets(config)
            experiments.append({
                "id": exp_id, "name": _name_of(handle), "status": handle.status.value,
                "live": _running(handle, manifest.get(exp_id, {})), "optimizeMode": mode,
                "trialCount": len(trials), "succeeded": sum(t.status == TrialStatus.SUCCEEDED for t in trials),
                "best": curve[-1][1] if curve else None, "curve": curve,
                "front": None if front is None else pareto_front(trials, *front),
            })
        return json_response({"key": key, "metricKeys": sorted(keys, key=lambda k: (k != "default", k)),
                              "front": None if front is None else {"keys": front[0], "modes": front[1]},
                              "experiments": experiments,
                              "config": differences(configs), "searchSpace": differences(spaces)})

    async def export(request: Request) -> Response:
        ids = _chosen_ids(request)
        kind = request.query_params.get("type", "csv")
        if kind not in EXPORT_TYPES:
            raise HTTPException(400, f"type must be one of {', '.join(EXPORT_TYPES)}, got {kind!r}")
        rows = []
        for exp_id in ids:
            handle = workspace.handle(exp_id)
            flags = export_flags(handle.trials.values(), handle.objective_spec())
            rows += [(exp_id, export_row(t) | flags.get(t.trial_id, {})) for t in handle.trials.values()
                     if t.status == TrialStatus.SUCCEEDED and t.final is not None]
        media = "text/csv" if kind == "csv" else "application/json"
        return PlainTextResponse(export_text(rows, kind), media_type=media, headers={
            "Content-Disposition": f'attachment; filename="nni-experiments.{kind}"', "Cache-Control": "no-store"})

    async def page(request: Request) -> Response:
        return index_response()

    async def to_slash(request: Request) -> Response:
        return RedirectResponse(request.url.path + "/")

    routes: list[BaseRoute] = [
        Route(prefix + "/workspace", page, methods=["GET", "HEAD"]),
        Route(api + "/compare", compare),
        Route(api + "/export", export),
        Route(prefix + "/exp/{experiment_id}", to_slash, methods=["GET", "HEAD"]),
        Mount(prefix + "/exp/{experiment_id}", app=_ExperimentPages(workspace)),
    ]
    return routes, workspace


def workspace_app_routes(url_prefix: str = "") -> tuple[list[BaseRoute], Workspace]:
    """``nnictl view --all``: the workspace with no experiment of its own; ``/`` opens its page."""
    prefix = "/" + url_prefix.strip("/") if url_prefix.strip("/") else ""
    routes, workspace = workspace_routes(lambda: None, url_prefix)

    async def home(request: Request) -> Response:
        return RedirectResponse(prefix + "/workspace")

    # Of the single-experiment routes only the experiments list and the assets make sense here.
    extra = [route for route in webui_routes(lambda: None, url_prefix)
             if getattr(route, "path", "") == prefix + "/api/v1/webui/experiments" or isinstance(route, Mount)]
    return [Route(prefix + "/", home, methods=["GET", "HEAD"]), *routes, *extra], workspace
