"""The web portal's routes: the built page, its live change stream and the views it draws.

NNI's portal fetches every trial every ten seconds and draws them all, which crawls past a few
thousand trials and goes blank on a NaN. Here the server does the heavy lifting once per engine
revision (a cached :class:`~nni.analysis.TrialTable`, computed by :mod:`nni.analysis`): the trial
table is paginated, sorted and filtered server side, curves are downsampled, parameter importance
is computed with numpy, and every value leaves as JSON-safe data (non-finite floats become
"NaN"/"Infinity"/"-Infinity" strings). The page learns about changes through a server-sent-events
stream carrying the engine's change sequence numbers. Files are served only from inside the
experiment's folder. These routes only read requests and write responses; a malformed query
parameter is a 400 naming it.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import time
from collections.abc import AsyncIterator, Callable, Collection
from pathlib import Path
from typing import Any

import psutil
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from ..analysis import JsonSafeEncoder, TrialTable, build_table, downsample, parameter_importance
from ..analysis.interpolation import contour
from ..engine.handle import UPDATABLE, ExperimentHandle
from ..metrics import metric_number
from ..records import FINISHED_STATUSES, MetricRecord, Trial, TrialStatus
from ..storage.manifest import read_manifest
from .guard import is_authorized
from .inputs import confined_path, json_body
from .redact import redact_secrets
from .webui_pareto import PARETO_SORTS, ParetoViews

__all__ = ["webui_routes", "STATIC_DIR", "EngineGetter", "index_response", "json_response"]

STATIC_DIR = Path(__file__).parent / "static"
EngineGetter = Callable[[], ExperimentHandle | None]
"""The experiment the portal shows, read per request (None while none is loaded)."""

_TAIL_BYTES = 256 * 1024
_PAGE_LIMIT = 500
_PARAM_ROWS_LIMIT = 5000
_CONTOUR_POINTS = 2000
_CONTOUR_GRID = 40
_STOPPED = {TrialStatus.USER_CANCELED, TrialStatus.SYS_CANCELED, TrialStatus.EARLY_STOPPED}
_MODES = ("maximize", "minimize")


_ENCODER = JsonSafeEncoder(separators=(",", ":"))


class _JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return _ENCODER.encode(content).encode("utf-8")


def json_response(content: Any, status: int = 200) -> Response:
    """``content`` as strict JSON (non-finite floats as their names)."""
    return _JSON(content, status_code=status)


def _error(status: int, message: str) -> _JSON:
    return _JSON({"error": message}, status_code=status)


def _number_query(request: Request, name: str, parse: Callable[[str], float], what: str) -> float | None:
    """Query parameter ``name`` read by ``parse`` (None when absent); a 400 saying it must be ``what``."""
    text = request.query_params.get(name)
    if text is None:
        return None
    try:
        value = parse(text)
    except ValueError:
        value = math.nan
    if isinstance(value, float) and not math.isfinite(value):
        raise HTTPException(400, f"{name} must be {what}, got {text[:100]!r}")
    return value


def _int_query(request: Request, name: str, default: int, low: int, high: int | None = None) -> int:
    """Query parameter ``name`` as a whole number clamped to [low, high]."""
    value = _number_query(request, name, int, "a whole number")
    clamped = max(default if value is None else int(value), low)
    return clamped if high is None else min(clamped, high)


def _fraction_query(request: Request, name: str, default: float) -> float:
    """Query parameter ``name`` as a number clamped to [0, 1]."""
    value = _number_query(request, name, float, "a number from 0 to 1")
    return default if value is None else min(max(value, 0.0), 1.0)


def _choice_query(request: Request, name: str, choices: Collection[str]) -> str:
    """Query parameter ``name``, one of ``choices`` (the first when absent); a 400 for anything else."""
    default = next(iter(choices))
    value = request.query_params.get(name, default)
    if value not in choices:
        raise HTTPException(400, f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _tail(path: Path, limit: int) -> tuple[str, int, bool]:
    """The last ``limit`` bytes of a text file: (text, file size, truncated)."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        if size > limit:
            f.seek(size - limit)
        data = f.read(limit)
    return data.decode("utf-8", errors="replace"), size, size > limit


def _trial_row(trial: Trial, now_ms: int, curve_count: int, latest: MetricRecord | None) -> dict[str, Any]:
    """The table's row of a trial; its curve's length and last result come from the engine
    (a view keeps curves in its database)."""
    start, end = trial.start_time_ms, trial.end_time_ms
    duration = None
    if start is not None:
        duration = ((end if end is not None else now_ms) - start) / 1000.0
    return {
        "trialId": trial.trial_id,
        "sequenceId": trial.sequence_id,
        "status": trial.status.value,
        "customized": trial.customized,
        "submitTime": trial.submit_time_ms,
        "startTime": start,
        "endTime": end,
        "duration": duration,
        "parameters": trial.parameters,
        "final": trial.final.value if trial.final else None,
        "hasFinal": trial.final is not None,
        "latest": latest.value if latest is not None else None,
        "intermediateCount": curve_count,
        "message": trial.message,
    }


class _WebUI:
    """Request handlers sharing one table cache over ``engine_getter()``."""

    def __init__(self, engine_getter: EngineGetter) -> None:
        self.engine_getter = engine_getter
        self._table: TrialTable | None = None
        self._table_engine: int | None = None
        self._lock = asyncio.Lock()
        self.pareto = ParetoViews(self.frame, lambda: self.engine().objective_spec())

    def engine(self) -> ExperimentHandle:
        engine = self.engine_getter()
        if engine is None:
            raise HTTPException(503, "no experiment is loaded")
        return engine

    async def frame(self) -> TrialTable:
        """The table of the engine's current revision, built once per revision (off the event loop)."""
        engine = self.engine()
        async with self._lock:
            revision = engine.revision
            if self._table is None or self._table.revision != revision or self._table_engine != id(engine):
                trials = list(engine.trials.values())
                self._table = await run_in_threadpool(build_table, revision, trials, engine.curve_summary)
                self._table_engine = id(engine)
            return self._table

    # ----- reads -------------------------------------------------------------------------------

    async def imported(self, request: Request) -> Response:
        """The results imported into the tuner (``import-data``, warm starts): the newest ``limit``."""
        limit = _int_query(request, "limit", _PAGE_LIMIT, 1, _PAGE_LIMIT)
        rows = await run_in_threadpool(self.engine().imported_results)
        return _JSON({"total": len(rows), "rows": rows[-limit:]})

    async def summary(self, request: Request) -> Response:
        engine = self.engine()
        frame = await self.frame()
        profile = engine.profile()
        config = engine.config.json()
        mode = engine.optimize_mode()
        live = engine.live_tuner()
        if live:  # a tuner object has no name in the config: the overview shows its class and arguments
            config = {**config, "tuner": {**(config.get("tuner") or {}), "className": live["label"]}}
        best = frame.best_of(mode)
        spec = engine.objective_spec()
        if spec is not None:  # under objectives: the best feasible trial on the first one (on the front)
            trial = engine.best_trial()
            number = metric_number(trial.final.value, spec.metrics[0]) if trial and trial.final else None
            best = None if trial is None or number is None else (trial, number)
        counts = frame.counts()
        if not is_authorized(request):
            profile, config = redact_secrets(profile), redact_secrets(config)
        return _JSON({
            "experimentId": engine.experiment_id,
            "revision": frame.revision,
            "status": engine.status.value,
            "error": engine.error,
            "profile": profile,
            "config": config,
            "statistics": {status: n for status, n in counts.items() if n},
            "counts": counts,
            "trialCount": len(frame.trials),
            "optimizeMode": mode,
            "metricKeys": frame.metric_keys,
            "paramKeys": frame.param_keys,
            "best": None if best is None else {
                "trialId": best[0].trial_id, "sequenceId": best[0].sequence_id, "value": best[1],
            },
            "serverTime": int(time.time() * 1000),
        })

    async def trials(self, request: Request) -> Response:
        q = request.query_params
        offset = _int_query(request, "offset", 0, 0)
        limit = _int_query(request, "limit", 20, 1, _PAGE_LIMIT)
        order = _choice_query(request, "order", ("asc", "desc"))
        sort = q.get("sort", "sequenceId")
        statuses = {s for s in q.get("status", "").split(",") if s}
        search = q.get("q", "").strip().lower()
        pareto, front_only = await self.pareto.table_hooks(request)
        if pareto is None and not statuses and not search and sort == "sequenceId":
            return self._trials_by_sequence(offset, limit, order == "desc")
        frame = await self.frame()
        indices = [i for i, t in enumerate(frame.trials)
                   if (not statuses or t.status.value in statuses or ("STOPPED" in statuses and t.status in _STOPPED))
                   and (not search or all(word in frame.search_text[i] for word in search.split()))
                   and (not front_only or (pareto is not None and pareto.pareto[i]))]
        now_ms = int(time.time() * 1000)
        if pareto is not None and sort in PARETO_SORTS:
            indices = pareto.sorted_rows(indices, sort, order == "desc")
        else:
            indices = frame.sorted_rows(indices, sort, order == "desc", now_ms)
        rows = [_trial_row(frame.trials[i], now_ms, frame.curve_counts[i], frame.latest[i])
                | (pareto.row_fields(i) if pareto else {})
                for i in indices[offset:offset + limit]]
        return _JSON({"revision": frame.revision, "total": len(indices), "totalAll": len(frame.trials),
                      "offset": offset, "limit": limit, "rows": rows})

    def _trials_by_sequence(self, offset: int, limit: int, descending: bool) -> Response:
        """The table's page in trial order, unfiltered: the first page a user sees, answered from the
        engine's trials without the table (whose build is most of a 100,000-trial view's first second);
        the same rows the table gives."""
        engine = self.engine()
        trials = sorted(engine.trials.values(), key=lambda t: t.sequence_id, reverse=descending)
        now_ms = int(time.time() * 1000)
        rows = [_trial_row(trial, now_ms, *engine.curve_summary(trial)) for trial in trials[offset:offset + limit]]
        return _JSON({"revision": engine.revision, "total": len(trials), "totalAll": len(trials),
                      "offset": offset, "limit": limit, "rows": rows})

    async def pareto_front(self, request: Request) -> Response:
        return _JSON(await self.pareto.front())

    async def trial(self, request: Request) -> Response:
        engine = self.engine()
        trial = engine.trials.get(request.path_params["trial_id"])
        if trial is None:
            return _error(404, f"no trial {request.path_params['trial_id']!r}")
        await engine.curves_loaded()
        curve = await run_in_threadpool(engine.curve, trial)
        row = _trial_row(trial, int(time.time() * 1000), *engine.curve_summary(trial))
        row.update({
            "parameterRecord": trial.parameter_record,
            "logPath": trial.log_path,
            "host": trial.host,
            "gpus": list(trial.gpus),
            "exitCode": trial.exit_code,
            "finalMetric": None if trial.final is None else {
                "timestamp": trial.final.timestamp_ms, "value": trial.final.value},
            "intermediate": [{"sequence": m.sequence, "timestamp": m.timestamp_ms, "value": m.value}
                             for m in curve],
            "files": self._trial_files(engine.experiment_dir, trial),
        })
        return _JSON(row)

    @staticmethod
    def _trial_folder(base: Path, trial: Trial) -> str:
        """The trial's folder relative to the experiment's (``base``): where its output lands (a
        remote trial's local mirror, say), else ``trials/ID``; never a folder outside the experiment's."""
        for path in (trial.stdout_path, trial.stderr_path):
            if path:
                relative = os.path.relpath(Path(path).parent, base)
                if confined_path(base, ".", relative) is not None:
                    return relative
        return f"trials/{trial.trial_id}"

    def _trial_files(self, base: Path, trial: Trial) -> list[str]:
        folder = confined_path(base, ".", self._trial_folder(base, trial))
        if folder is None or not folder.is_dir():
            return []
        names: list[str] = []
        for path in sorted(folder.rglob("*")):
            if path.is_file() and len(names) < 100:
                names.append(path.relative_to(folder).as_posix())
        return names

    async def trial_file(self, request: Request) -> Response:
        engine = self.engine()
        trial = engine.trials.get(request.path_params["trial_id"])
        if trial is None:
            return _error(404, f"no trial {request.path_params['trial_id']!r}")
        name = request.query_params.get("name", "")
        base = engine.experiment_dir
        target = confined_path(base, self._trial_folder(base, trial), name)
        if target is None:
            return _error(403, f"{name!r} is outside the trial's folder")
        return self._text_file(target, request)

    async def logs(self, request: Request) -> Response:
        folder = self.engine().experiment_dir / "log"
        names = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) \
            if folder.is_dir() else []
        return _JSON({"files": names})

    async def log_file(self, request: Request) -> Response:
        name = request.query_params.get("name", "")
        target = confined_path(self.engine().experiment_dir, "log", name)
        if target is None:
            return _error(403, f"{name!r} is outside the experiment's log folder")
        return self._text_file(target, request)

    @staticmethod
    def _text_file(path: Path, request: Request) -> Response:
        limit = _int_query(request, "tail", _TAIL_BYTES, 1, 16 * _TAIL_BYTES)
        if not path.is_file():
            return _error(404, f"{path.name} does not exist (yet)")
        text, size, truncated = _tail(path, limit)
        return PlainTextResponse(text, headers={"X-File-Size": str(size), "X-Truncated": str(truncated).lower(),
                                                "Cache-Control": "no-store"})

    async def chart_metric(self, request: Request) -> Response:
        frame = await self.frame()
        key = request.query_params.get("key", "default")
        values = frame.final(key)
        points = []
        missing = 0
        for trial, value in zip(frame.trials, values, strict=True):
            if value is None:
                missing += trial.final is not None
                continue
            points.append([trial.sequence_id, value, trial.trial_id])
        return _JSON({"key": key, "points": points, "nonNumeric": missing, "total": len(frame.trials)})

    async def chart_duration(self, request: Request) -> Response:
        """Every started trial's duration in columns (a status is an index into ``statusNames``): at
        100,000 trials the chart reads two number columns straight into one typed array."""
        frame = await self.frame()
        now_ms = int(time.time() * 1000)
        sequence_ids: list[int] = []
        durations: list[float] = []
        trial_ids: list[str] = []
        statuses: list[int] = []
        names: dict[str, int] = {}
        for trial in frame.trials:
            if trial.start_time_ms is None:
                continue
            end = trial.end_time_ms if trial.end_time_ms is not None else now_ms
            sequence_ids.append(trial.sequence_id)
            durations.append((end - trial.start_time_ms) / 1000.0)
            trial_ids.append(trial.trial_id)
            statuses.append(names.setdefault(trial.status.value, len(names)))
        return _JSON({"sequenceIds": sequence_ids, "durations": durations, "trialIds": trial_ids,
                      "statuses": statuses, "statusNames": list(names), "total": len(frame.trials)})

    async def chart_intermediate(self, request: Request) -> Response:
        engine = self.engine()
        await engine.curves_loaded()
        frame = await self.frame()
        q = request.query_params
        key = q.get("key", "default")
        limit = _int_query(request, "limit", 100, 1, 1000)
        per_curve = _int_query(request, "points", 200, 4, 2000)
        select = _choice_query(request, "select", ("latest", "best", "worst"))
        mode = _choice_query(request, "mode", _MODES)
        wanted = {s for s in q.get("ids", "").split(",") if s}
        candidates = [i for i, (t, n) in enumerate(zip(frame.trials, frame.curve_counts, strict=True))
                      if n and (not wanted or t.trial_id in wanted)]
        if select in ("best", "worst") and not wanted:
            finals = dict(frame.scored(key))
            scored = [i for i in candidates if i in finals]
            reverse = (mode == "maximize") == (select == "best")
            scored.sort(key=finals.__getitem__, reverse=reverse)
            candidates = scored
        else:
            candidates = candidates[::-1]
        chosen = candidates[:limit]
        curves = await run_in_threadpool(engine.curves, [frame.trials[i] for i in chosen])
        series = []
        for i in chosen:
            trial = frame.trials[i]
            curve = curves.get(trial.trial_id, [])
            points = [(float(m.sequence), v) for m in curve if (v := metric_number(m.value, key)) is not None]
            series.append({"trialId": trial.trial_id, "sequenceId": trial.sequence_id,
                           "status": trial.status.value, "length": len(curve),
                           "points": downsample(points, per_curve)})
        return _JSON({"key": key, "series": series, "shown": len(series), "total": len(candidates)})

    async def chart_params(self, request: Request) -> Response:
        engine = self.engine()
        frame = await self.frame()
        key = request.query_params.get("key", "default")
        top = _fraction_query(request, "top", 1.0)
        limit = _int_query(request, "limit", 2000, 1, _PARAM_ROWS_LIMIT)
        mode = _choice_query(request, "mode", _MODES)
        chosen, values = frame.ranked(key, top, mode, limit)
        return _JSON({
            "key": key, "mode": mode, "total": len(frame.scored(key)), "shown": len(chosen),
            "trialIds": [frame.trials[i].trial_id for i in chosen],
            "sequenceIds": [frame.trials[i].sequence_id for i in chosen],
            "metric": values, "columns": frame.columns(chosen, engine.config.json().get("searchSpace")),
        })

    async def chart_contour(self, request: Request) -> Response:
        engine = self.engine()
        frame = await self.frame()
        q = request.query_params
        key = q.get("key", "default")
        names = (q.get("x", ""), q.get("y", ""))
        if any(n not in frame.param_keys for n in names) or names[0] == names[1]:
            return _error(400, "choose two different parameters")
        space = engine.config.json().get("searchSpace")
        return _JSON(await run_in_threadpool(contour, frame, key, names, space, _CONTOUR_POINTS, _CONTOUR_GRID))

    async def importance(self, request: Request) -> Response:
        frame = await self.frame()
        key = request.query_params.get("key", "default")
        if key not in frame.importance:
            frame.importance[key] = await run_in_threadpool(parameter_importance, frame, key)
        rows = frame.importance[key]
        return _JSON({"key": key, "importance": rows, "trials": len(frame.scored(key))})

    async def events(self, request: Request) -> Response:
        """Server-sent events: one 'change' event per batch, its id the last change sequence."""
        engine = self.engine()
        start = request.headers.get("last-event-id") or request.query_params.get("after")
        try:
            after = engine.revision if start is None else int(start)
        except ValueError:
            raise HTTPException(400, f"Last-Event-ID (or after) must be a change sequence number, "
                                     f"got {start!r}") from None

        async def stream() -> AsyncIterator[str]:
            nonlocal after
            yield f"retry: 2000\nid: {after}\nevent: hello\ndata: {json.dumps({'seq': after})}\n\n"
            while True:
                changes = await engine.wait_changes(after, 15.0)
                if not changes:
                    yield ": keepalive\n\n"
                    continue
                # Let a burst settle so one event (and one page refresh) covers it.
                await asyncio.sleep(0.2)
                changes = list(changes) + list(await engine.wait_changes(changes[-1].seq, 0.0))
                after = changes[-1].seq
                kinds = sorted({c.kind for c in changes})
                trial_ids = list(dict.fromkeys(c.trial_id for c in changes if c.trial_id))
                payload = {"seq": after, "kinds": kinds, "trials": trial_ids[:200],
                           "more": len(trial_ids) > 200}
                yield f"id: {after}\nevent: change\ndata: {json.dumps(payload)}\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    async def experiments(self, request: Request) -> Response:
        engine = self.engine_getter()
        current = engine.experiment_id if engine is not None else None
        rows = []
        for exp_id, entry in read_manifest().items():
            pid = entry.get("pid")
            alive = isinstance(pid, int) and psutil.pid_exists(pid)
            status = entry.get("status")
            rows.append({
                "id": exp_id, "experimentName": entry.get("experimentName"), "status": status,
                "port": entry.get("port"), "platform": entry.get("platform"),
                "startTime": entry.get("startTime"), "endTime": entry.get("endTime"),
                "logDir": entry.get("logDir"), "alive": alive, "current": exp_id == current,
            })
        rows.sort(key=lambda r: (r["startTime"] or 0), reverse=True)
        return _JSON({"experiments": rows, "current": current})

    # ----- mutations (the app's token check guards every non-GET request) -----------------------

    async def update_experiment(self, request: Request) -> Response:
        engine = self.engine()
        body = await json_body(request)
        if not isinstance(body, dict) or not body:
            return _error(400, "send a JSON object with the fields to change")
        unknown = sorted(set(body) - set(UPDATABLE))
        if unknown:
            return _error(400, f"cannot change {', '.join(unknown)} (changeable: {', '.join(UPDATABLE)})")
        try:
            checked = {name: UPDATABLE[name].check(name, value) for name, value in body.items()}
            for name, value in checked.items():
                await engine.update(name, value)
        except PermissionError as error:
            return _error(403, str(error))
        except (ValueError, TypeError, RuntimeError) as error:
            return _error(400, str(error))
        return _JSON({"ok": True, "changed": sorted(checked)})

    async def kill_trial(self, request: Request) -> Response:
        engine = self.engine()
        trial_id = request.path_params["trial_id"]
        trial = engine.trials.get(trial_id)
        if trial is None:
            return _error(404, f"no trial {trial_id!r}")
        if trial.status in FINISHED_STATUSES:
            return _error(409, f"trial {trial_id} has already finished ({trial.status.value})")
        try:
            await engine.kill_trial(trial_id)
        except PermissionError as error:
            return _error(403, str(error))
        except (ValueError, RuntimeError, KeyError) as error:
            return _error(400, str(error))
        return _JSON({"ok": True, "trialId": trial_id})

    async def rerun_trial(self, request: Request) -> Response:
        """Run one finished trial again (``trials/failed/rerun``: every failed one); the tuner gets the results."""
        trial_id = request.path_params["trial_id"]
        try:
            rerun = await self.engine().rerun_trials(None if trial_id == "failed" else [trial_id])
        except PermissionError as error:
            return _error(403, str(error))
        except KeyError:
            return _error(404, f"no trial {trial_id!r}")
        except ValueError as error:
            return _error(409, str(error))
        return _JSON({"ok": True, "rerun": [{"trialId": new, "rerunOf": old} for old, new in rerun.items()]})

    async def add_trial(self, request: Request) -> Response:
        engine = self.engine()
        body = await json_body(request)
        parameters = body.get("parameters") if isinstance(body, dict) else None
        if not isinstance(parameters, dict) or not parameters:
            return _error(400, "send {\"parameters\": {...}} with at least one parameter")
        try:
            trial_id = await engine.add_customized_trial(parameters)
        except PermissionError as error:
            return _error(403, str(error))
        except (ValueError, TypeError, RuntimeError) as error:
            return _error(400, str(error))
        return _JSON({"ok": True, "trialId": trial_id})


class _StaticFiles(StaticFiles):
    """The built assets; their names are fixed (deterministic builds), so browsers revalidate."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "no-cache"
        return response


def index_response() -> Response:
    """The built page (every page path serves it; the page routes itself)."""
    index = STATIC_DIR / "index.html"
    if not index.is_file():
        return PlainTextResponse("The web UI is not built: run scripts/build_webui.sh", status_code=503)
    return FileResponse(index, headers={"Cache-Control": "no-cache"})


def webui_routes(engine_getter: EngineGetter, url_prefix: str = "") -> list[BaseRoute]:
    """The portal's routes under ``/{url_prefix}``: the page, ``assets/`` (also under ``static/``) and
    ``api/v1/webui/*``."""
    prefix = "/" + url_prefix.strip("/") if url_prefix.strip("/") else ""
    ui = _WebUI(engine_getter)

    async def index(request: Request) -> Response:
        return index_response()

    async def to_slash(request: Request) -> Response:
        return RedirectResponse(prefix + "/" + (f"?{request.url.query}" if request.url.query else ""))

    api = prefix + "/api/v1/webui"
    routes: list[BaseRoute] = [
        Route(prefix + "/", index, methods=["GET", "HEAD"]),
        *(Route(f"{prefix}/{page}", index, methods=["GET", "HEAD"]) for page in ("oview", "detail", "experiment")),
        Route(api + "/summary", ui.summary),
        Route(api + "/trials", ui.trials, methods=["GET"]),
        Route(api + "/trials", ui.add_trial, methods=["POST"]),
        Route(api + "/trials/{trial_id}", ui.trial),
        Route(api + "/trials/{trial_id}/file", ui.trial_file),
        Route(api + "/trials/{trial_id}/kill", ui.kill_trial, methods=["POST"]),
        Route(api + "/trials/{trial_id}/rerun", ui.rerun_trial, methods=["POST"]),
        Route(api + "/experiment", ui.update_experiment, methods=["POST"]),
        Route(api + "/imported", ui.imported),
        Route(api + "/logs", ui.logs),
        Route(api + "/logs/file", ui.log_file),
        Route(api + "/charts/metric", ui.chart_metric),
        Route(api + "/charts/duration", ui.chart_duration),
        Route(api + "/charts/intermediate", ui.chart_intermediate),
        Route(api + "/charts/params", ui.chart_params),
        Route(api + "/charts/contour", ui.chart_contour),
        Route(api + "/importance", ui.importance),
        Route(api + "/pareto", ui.pareto_front),
        Route(api + "/events", ui.events),
        Route(api + "/experiments", ui.experiments),
        Mount(prefix + "/assets", app=_StaticFiles(directory=STATIC_DIR / "assets", check_dir=False), name="webui-assets"),
        Mount(prefix + "/static", app=_StaticFiles(directory=STATIC_DIR, check_dir=False), name="webui-static"),
    ]
    if prefix:
        routes.insert(0, Route(prefix, to_slash, methods=["GET", "HEAD"]))
    return routes
