"""The web portal's routes: the built page, its live change stream and the views it draws.

NNI's portal fetches every trial every ten seconds and draws them all, which crawls past a few
thousand trials and goes blank on a NaN. Here the server does the heavy lifting once per engine
revision (a cached :class:`_Frame`): the trial table is paginated, sorted and filtered server side,
curves are downsampled, parameter importance is computed with numpy, and every value leaves as
JSON-safe data (non-finite floats become "NaN"/"Infinity"/"-Infinity" strings). The page learns
about changes through a server-sent-events stream carrying the engine's change sequence numbers.
Files are served only from inside the experiment's folder.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
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

from ..metrics import metric_number
from ..records import FINISHED_STATUSES, Trial, TrialStatus
from ..storage.manifest import read_manifest
from .guard import is_authorized
from .inputs import confined_path, json_body
from .redact import redact_secrets
from .serialize import json_safe

__all__ = [
    "webui_routes", "STATIC_DIR", "json_safe", "metric_value", "flatten_parameters",
    "forest_importance", "downsample",
]

STATIC_DIR = Path(__file__).parent / "static"
EngineGetter = Callable[[], Any]

_TAIL_BYTES = 256 * 1024
_PAGE_LIMIT = 500
_PARAM_ROWS_LIMIT = 5000
_CONTOUR_POINTS = 2000
_STOPPED = {TrialStatus.USER_CANCELED, TrialStatus.SYS_CANCELED, TrialStatus.EARLY_STOPPED}


class _JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json.dumps(json_safe(content), separators=(",", ":"), allow_nan=False).encode("utf-8")


def _error(status: int, message: str) -> _JSON:
    return _JSON({"error": message}, status_code=status)


def metric_value(value: Any, key: str) -> float | None:
    """The finite number under ``key`` of a metric (a scalar counts as its 'default'), else None."""
    return metric_number(value, key)


def flatten_parameters(parameters: Any) -> dict[str, Any]:
    """One level of names: a nested choice ``{"_name": n, ...}`` under ``p`` gives ``p`` and ``p/key``."""
    flat: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            if "_name" in value:
                flat[prefix] = value["_name"]
            for key, sub in value.items():
                if key != "_name":
                    walk(f"{prefix}/{key}" if prefix else str(key), sub)
        else:
            flat[prefix] = value

    if isinstance(parameters, dict):
        for key, value in parameters.items():
            walk(str(key), value)
    return flat


def _is_number(value: Any) -> bool:
    return metric_number(value) is not None


def _category(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(json_safe(value), sort_keys=True)


def downsample(points: list[tuple[float, float]], limit: int) -> list[tuple[float, float]]:
    """At most ``limit`` points keeping each bucket's minimum and maximum (peaks stay visible)."""
    if len(points) <= limit or limit < 4:
        return points[:max(limit, 0)] if limit < 4 else points
    buckets = limit // 2
    size = len(points) / buckets
    out: list[tuple[float, float]] = []
    for b in range(buckets):
        chunk = points[int(b * size):int((b + 1) * size)]
        if not chunk:
            continue
        low = min(range(len(chunk)), key=lambda i: chunk[i][1])
        high = max(range(len(chunk)), key=lambda i: chunk[i][1])
        for i in sorted({low, high}):
            out.append(chunk[i])
    return out


def forest_importance(x: np.ndarray, y: np.ndarray, categorical: Iterable[bool], n_trees: int = 24,
                      max_depth: int = 6, min_leaf: int = 3, max_rows: int = 2000, seed: int = 0) -> np.ndarray:
    """Random-forest mean-decrease-in-impurity importance of each column of ``x`` for ``y``.

    Each tree is grown on a bootstrap sample with the categories of categorical columns put in a
    fresh random order, so no artificial order of categories is learned. Returns shares summing to
    1 (all zero when ``y`` is constant).
    """
    rng = np.random.default_rng(seed)
    n, d = x.shape
    categorical = list(categorical)
    gains = np.zeros(d)
    if n < 2 * min_leaf or d == 0 or float(np.var(y)) == 0.0:
        return gains
    sample = min(n, max_rows)
    for _ in range(n_trees):
        rows = rng.integers(0, n, size=sample)
        xt = x[rows].copy()
        yt = y[rows]
        for j in range(d):
            if categorical[j]:
                codes = xt[:, j].astype(int)
                xt[:, j] = rng.permutation(int(codes.max()) + 1)[codes]
        stack: list[tuple[np.ndarray, int]] = [(np.arange(sample), 0)]
        while stack:
            idx, depth = stack.pop()
            if depth >= max_depth or idx.size < 2 * min_leaf:
                continue
            ys = yt[idx]
            parent = float(np.sum((ys - ys.mean()) ** 2))
            if parent <= 0.0:
                continue
            best = (0.0, -1, 0.0)
            for j in range(d):
                col = xt[idx, j]
                order = np.argsort(col, kind="stable")
                cs, ysorted = col[order], ys[order]
                s1 = np.cumsum(ysorted)
                s2 = np.cumsum(ysorted ** 2)
                left = np.arange(1, idx.size)
                valid = (cs[1:] != cs[:-1]) & (left >= min_leaf) & (idx.size - left >= min_leaf)
                if not valid.any():
                    continue
                sl, ql = s1[:-1], s2[:-1]
                sr, qr = s1[-1] - sl, s2[-1] - ql
                right = idx.size - left
                sse = (ql - sl ** 2 / left) + (qr - sr ** 2 / right)
                sse = np.where(valid, sse, np.inf)
                k = int(np.argmin(sse))
                gain = parent - float(sse[k])
                if gain > best[0]:
                    best = (gain, j, float((cs[k] + cs[k + 1]) / 2))
            gain, j, threshold = best
            if j < 0:
                continue
            gains[j] += gain
            mask = xt[idx, j] <= threshold
            stack.append((idx[mask], depth + 1))
            stack.append((idx[~mask], depth + 1))
    total = gains.sum()
    return gains / total if total > 0 else gains


def _tail(path: Path, limit: int) -> tuple[str, int, bool]:
    """The last ``limit`` bytes of a text file: (text, file size, truncated)."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        if size > limit:
            f.seek(size - limit)
        data = f.read(limit)
    return data.decode("utf-8", errors="replace"), size, size > limit


@dataclass
class _Frame:
    """What the views need from one engine revision, computed once and shared by every request."""

    revision: int
    trials: list[Trial]
    metric_keys: list[str]
    param_keys: list[str]
    numeric_params: dict[str, bool]
    flat: list[dict[str, Any]]
    search_text: list[str]
    finals: dict[str, list[float | None]] = field(default_factory=dict)
    importance: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    best: dict[str, tuple[Trial, float] | None] = field(default_factory=dict)
    status_counts: dict[str, int] | None = None

    def best_of(self, mode: str) -> tuple[Trial, float] | None:
        """The trial with the best finite default metric under ``mode`` (cached per frame)."""
        if mode not in self.best:
            scored = [(t, v) for t, v in zip(self.trials, self.final("default"), strict=True) if v is not None]
            pick = max if mode == "maximize" else min
            self.best[mode] = pick(scored, key=lambda item: item[1]) if scored else None
        return self.best[mode]

    def counts(self) -> dict[str, int]:
        if self.status_counts is None:
            self.status_counts = {s.value: 0 for s in TrialStatus}
            for trial in self.trials:
                self.status_counts[trial.status.value] += 1
        return dict(self.status_counts)

    def final(self, key: str) -> list[float | None]:
        if key not in self.finals:
            self.finals[key] = [metric_value(t.final.value, key) if t.final else None for t in self.trials]
        return self.finals[key]


def _build_frame(revision: int, trials: list[Trial]) -> _Frame:
    metric_keys: dict[str, None] = {"default": None}
    param_keys: dict[str, None] = {}
    numeric: dict[str, bool] = {}
    flat_rows: list[dict[str, Any]] = []
    texts: list[str] = []
    for trial in trials:
        for record in ([trial.final] if trial.final else []) + trial.intermediate[-1:]:
            if isinstance(record.value, dict):
                for key in record.value:
                    metric_keys.setdefault(str(key), None)
        flat = flatten_parameters(trial.parameters)
        flat_rows.append(flat)
        for key, value in flat.items():
            param_keys.setdefault(key, None)
            numeric[key] = numeric.get(key, True) and _is_number(value)
        texts.append(" ".join([trial.trial_id, str(trial.sequence_id), trial.status.value,
                               json.dumps(json_safe(trial.parameters), sort_keys=True)]).lower())
    return _Frame(revision, trials, list(metric_keys), list(param_keys), numeric, flat_rows, texts)


def _trial_row(trial: Trial, now_ms: int) -> dict[str, Any]:
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
        "latest": trial.intermediate[-1].value if trial.intermediate else None,
        "intermediateCount": len(trial.intermediate),
        "message": trial.message,
    }


def _optimize_mode(config: Any) -> str:
    """'maximize' or 'minimize' from the tuner's (or advisor's) class args, NNI's default maximize."""
    data = _config_json(config)
    for section in ("tuner", "advisor"):
        args = (data.get(section) or {}).get("classArgs") or {}
        mode = str(args.get("optimize_mode", "")).lower()
        if mode in ("maximize", "minimize"):
            return mode
    return "maximize"


def _config_json(config: Any) -> dict[str, Any]:
    if config is None:
        return {}
    if isinstance(config, dict):
        return config
    try:
        data = config.json()
    except Exception:  # a config that cannot render must not take the page down
        return {}
    return data if isinstance(data, dict) else {}


class _WebUI:
    """Request handlers sharing one frame cache over ``engine_getter()``."""

    def __init__(self, engine_getter: EngineGetter) -> None:
        self.engine_getter = engine_getter
        self._frame: _Frame | None = None
        self._frame_engine: int | None = None
        self._lock = asyncio.Lock()

    def engine(self) -> Any:
        engine = self.engine_getter()
        if engine is None:
            raise HTTPException(503, "no experiment is loaded")
        return engine

    async def frame(self) -> _Frame:
        engine = self.engine()
        async with self._lock:
            revision = int(engine.revision)
            if self._frame is None or self._frame.revision != revision or self._frame_engine != id(engine):
                trials = list(engine.trials.values())
                self._frame = await run_in_threadpool(_build_frame, revision, trials)
                self._frame_engine = id(engine)
            return self._frame

    def experiment_dir(self, engine: Any) -> Path:
        for name in ("experiment_dir", "exp_dir"):
            value = getattr(engine, name, None)
            if value:
                return Path(value)
        log_dir = engine.profile().get("logDir")
        if not log_dir:
            raise HTTPException(404, "the experiment has no folder")
        return Path(log_dir)

    # ----- reads -------------------------------------------------------------------------------

    async def summary(self, request: Request) -> Response:
        engine = self.engine()
        frame = await self.frame()
        profile = engine.profile()
        config = _config_json(getattr(engine, "config", None)) or profile.get("params") or {}
        mode = engine.optimize_mode() if callable(getattr(engine, "optimize_mode", None)) else _optimize_mode(config)
        live = engine.live_tuner() if callable(getattr(engine, "live_tuner", None)) else None
        if live:  # a tuner object has no name in the config: the overview shows its class and arguments
            config = {**config, "tuner": {**(config.get("tuner") or {}), "className": live["label"]}}
        best = frame.best_of(mode)
        counts = frame.counts()
        if not is_authorized(request):
            profile, config = redact_secrets(profile), redact_secrets(config)
        return _JSON({
            "experimentId": engine.experiment_id,
            "revision": frame.revision,
            "status": getattr(engine.status, "value", str(engine.status)),
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
        frame = await self.frame()
        q = request.query_params
        offset = max(_int(q.get("offset"), 0), 0)
        limit = min(max(_int(q.get("limit"), 20), 1), _PAGE_LIMIT)
        order = q.get("order", "asc")
        sort = q.get("sort", "sequenceId")
        statuses = {s for s in q.get("status", "").split(",") if s}
        search = q.get("q", "").strip().lower()
        indices = [i for i, t in enumerate(frame.trials)
                   if (not statuses or t.status.value in statuses or ("STOPPED" in statuses and t.status in _STOPPED))
                   and (not search or all(word in frame.search_text[i] for word in search.split()))]
        indices = self._sorted(frame, indices, sort, order == "desc")
        now_ms = int(time.time() * 1000)
        rows = [_trial_row(frame.trials[i], now_ms) for i in indices[offset:offset + limit]]
        return _JSON({"revision": frame.revision, "total": len(indices), "totalAll": len(frame.trials),
                      "offset": offset, "limit": limit, "rows": rows})

    @staticmethod
    def _sorted(frame: _Frame, indices: list[int], sort: str, descending: bool) -> list[int]:
        """Sort by one column; trials without a value for it go last in either direction."""
        trials = frame.trials
        now_ms = int(time.time() * 1000)

        def duration(i: int) -> float | None:
            t = trials[i]
            if t.start_time_ms is None:
                return None
            return float((t.end_time_ms if t.end_time_ms is not None else now_ms) - t.start_time_ms)

        getters: dict[str, Callable[[int], Any]] = {
            "sequenceId": lambda i: trials[i].sequence_id,
            "trialId": lambda i: trials[i].trial_id,
            "status": lambda i: trials[i].status.value,
            "startTime": lambda i: trials[i].start_time_ms,
            "endTime": lambda i: trials[i].end_time_ms,
            "duration": duration,
            "intermediateCount": lambda i: len(trials[i].intermediate),
        }
        if sort.startswith("metric:"):
            values = frame.final(sort[len("metric:"):])
            getter: Callable[[int], Any] = values.__getitem__
        elif sort.startswith("param:"):
            name = sort[len("param:"):]
            numeric = frame.numeric_params.get(name, False)

            def getter(i: int) -> Any:
                value = frame.flat[i].get(name)
                if value is None:
                    return None
                return float(value) if numeric else _category(value)
        else:
            getter = getters.get(sort, getters["sequenceId"])
        present = [i for i in indices if getter(i) is not None]
        missing = [i for i in indices if getter(i) is None]
        present.sort(key=lambda i: (getter(i), trials[i].sequence_id), reverse=descending)
        return present + missing

    async def trial(self, request: Request) -> Response:
        engine = self.engine()
        trial = engine.trials.get(request.path_params["trial_id"])
        if trial is None:
            return _error(404, f"no trial {request.path_params['trial_id']!r}")
        row = _trial_row(trial, int(time.time() * 1000))
        row.update({
            "parameterRecord": trial.parameter_record,
            "logPath": trial.log_path,
            "host": trial.host,
            "gpus": list(trial.gpus),
            "exitCode": trial.exit_code,
            "finalMetric": None if trial.final is None else {
                "timestamp": trial.final.timestamp_ms, "value": trial.final.value},
            "intermediate": [{"sequence": m.sequence, "timestamp": m.timestamp_ms, "value": m.value}
                             for m in trial.intermediate],
            "files": self._trial_files(engine, trial),
        })
        return _JSON(row)

    def _trial_folder(self, engine: Any, trial: Trial) -> str:
        """The trial's folder relative to the experiment's: where its output lands (a remote trial's
        local mirror, say), else ``trials/ID``; never a folder outside the experiment's."""
        base = self.experiment_dir(engine)
        for path in (trial.stdout_path, trial.stderr_path):
            if path:
                relative = os.path.relpath(Path(path).parent, base)
                if confined_path(base, ".", relative) is not None:
                    return relative
        return f"trials/{trial.trial_id}"

    def _trial_files(self, engine: Any, trial: Trial) -> list[str]:
        try:
            base = self.experiment_dir(engine)
            folder = confined_path(base, ".", self._trial_folder(engine, trial))
        except HTTPException:
            return []
        if folder is None or not folder.is_dir():
            return []
        names = []
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
        target = confined_path(self.experiment_dir(engine), self._trial_folder(engine, trial), name)
        if target is None:
            return _error(403, f"{name!r} is outside the trial's folder")
        return self._text_file(target, request)

    async def logs(self, request: Request) -> Response:
        folder = self.experiment_dir(self.engine()) / "log"
        names = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) \
            if folder.is_dir() else []
        return _JSON({"files": names})

    async def log_file(self, request: Request) -> Response:
        name = request.query_params.get("name", "")
        target = confined_path(self.experiment_dir(self.engine()), "log", name)
        if target is None:
            return _error(403, f"{name!r} is outside the experiment's log folder")
        return self._text_file(target, request)

    @staticmethod
    def _text_file(path: Path, request: Request) -> Response:
        if not path.is_file():
            return _error(404, f"{path.name} does not exist (yet)")
        limit = min(max(_int(request.query_params.get("tail"), _TAIL_BYTES), 1), 16 * _TAIL_BYTES)
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
        frame = await self.frame()
        now_ms = int(time.time() * 1000)
        points = []
        for trial in frame.trials:
            if trial.start_time_ms is None:
                continue
            end = trial.end_time_ms if trial.end_time_ms is not None else now_ms
            points.append([trial.sequence_id, (end - trial.start_time_ms) / 1000.0, trial.trial_id,
                           trial.status.value])
        return _JSON({"points": points, "total": len(frame.trials)})

    async def chart_intermediate(self, request: Request) -> Response:
        frame = await self.frame()
        q = request.query_params
        key = q.get("key", "default")
        limit = min(max(_int(q.get("limit"), 100), 1), 1000)
        per_curve = min(max(_int(q.get("points"), 200), 4), 2000)
        select = q.get("select", "latest")
        mode = q.get("mode", "maximize")
        wanted = {s for s in q.get("ids", "").split(",") if s}
        candidates = [i for i, t in enumerate(frame.trials) if t.intermediate and (not wanted or t.trial_id in wanted)]
        if select in ("best", "worst") and not wanted:
            finals = frame.final(key)
            scored = [i for i in candidates if finals[i] is not None]
            reverse = (mode == "maximize") == (select == "best")
            scored.sort(key=lambda i: finals[i], reverse=reverse)
            candidates = scored
        else:
            candidates = candidates[::-1]
        chosen = candidates[:limit]
        series = []
        for i in chosen:
            trial = frame.trials[i]
            points = [(float(m.sequence), v) for m in trial.intermediate
                      if (v := metric_value(m.value, key)) is not None]
            series.append({"trialId": trial.trial_id, "sequenceId": trial.sequence_id,
                           "status": trial.status.value, "length": len(trial.intermediate),
                           "points": downsample(points, per_curve)})
        return _JSON({"key": key, "series": series, "shown": len(series), "total": len(candidates)})

    def _param_table(self, frame: _Frame, key: str, top: float, mode: str,
                     limit: int) -> tuple[list[int], list[float]]:
        """Trials with a numeric final ``key``, best first, cut to the top fraction and ``limit``."""
        finals = frame.final(key)
        scored = [i for i, v in enumerate(finals) if v is not None]
        scored.sort(key=lambda i: finals[i], reverse=(mode == "maximize"))
        keep = max(1, math.ceil(len(scored) * top)) if scored else 0
        chosen = scored[:min(keep, limit)]
        return chosen, [finals[i] for i in chosen]

    def _columns(self, engine: Any, frame: _Frame, chosen: list[int]) -> list[dict[str, Any]]:
        space = _config_json(getattr(engine, "config", None)).get("searchSpace") or {}
        columns = []
        for name in frame.param_keys:
            raw = [frame.flat[i].get(name) for i in chosen]
            if frame.numeric_params.get(name):
                spec = space.get(name) if isinstance(space, dict) else None
                log = isinstance(spec, dict) and str(spec.get("_type", "")).endswith("loguniform")
                columns.append({"name": name, "type": "numeric", "log": log,
                                "values": [None if v is None else float(v) for v in raw]})
            else:
                labels = [None if v is None else _category(v) for v in raw]
                categories = sorted({c for c in labels if c is not None})
                columns.append({"name": name, "type": "categorical", "categories": categories, "values": labels})
        return columns

    async def chart_params(self, request: Request) -> Response:
        engine = self.engine()
        frame = await self.frame()
        q = request.query_params
        key = q.get("key", "default")
        top = min(max(_float(q.get("top"), 1.0), 0.0), 1.0)
        limit = min(max(_int(q.get("limit"), 2000), 1), _PARAM_ROWS_LIMIT)
        mode = q.get("mode", "maximize")
        chosen, values = self._param_table(frame, key, top, mode, limit)
        total_numeric = sum(v is not None for v in frame.final(key))
        return _JSON({
            "key": key, "mode": mode, "total": total_numeric, "shown": len(chosen),
            "trialIds": [frame.trials[i].trial_id for i in chosen],
            "sequenceIds": [frame.trials[i].sequence_id for i in chosen],
            "metric": values, "columns": self._columns(engine, frame, chosen),
        })

    async def chart_contour(self, request: Request) -> Response:
        engine = self.engine()
        frame = await self.frame()
        q = request.query_params
        key = q.get("key", "default")
        names = [q.get("x", ""), q.get("y", "")]
        if any(n not in frame.param_keys for n in names) or names[0] == names[1]:
            return _error(400, "choose two different parameters")
        chosen, values = self._param_table(frame, key, 1.0, "maximize", _CONTOUR_POINTS)
        columns = {c["name"]: c for c in self._columns(engine, frame, chosen)}
        axes = []
        coords = []
        for name in names:
            column = columns[name]
            if column["type"] == "numeric":
                data = np.array([np.nan if v is None else v for v in column["values"]], dtype=float)
                log = column["log"] and np.nanmin(data, initial=1.0) > 0 if data.size else False
                axes.append({"name": name, "type": "numeric", "log": bool(log)})
                coords.append(np.log10(data) if log else data)
            else:
                index = {c: n for n, c in enumerate(column["categories"])}
                axes.append({"name": name, "type": "categorical", "categories": column["categories"]})
                coords.append(np.array([np.nan if v is None else index[v] for v in column["values"]], dtype=float))
        z = np.array(values, dtype=float)
        ok = ~(np.isnan(coords[0]) | np.isnan(coords[1]))
        grid = await run_in_threadpool(_interpolate, coords[0][ok], coords[1][ok], z[ok], 40)
        points = [[float(a), float(b), float(c), frame.trials[i].trial_id]
                  for a, b, c, i, good in zip(coords[0], coords[1], z, chosen, ok, strict=True) if good]
        return _JSON({"key": key, "axes": axes, "grid": grid, "points": points})

    async def importance(self, request: Request) -> Response:
        frame = await self.frame()
        key = request.query_params.get("key", "default")
        if key not in frame.importance:
            frame.importance[key] = await run_in_threadpool(_importance, frame, key)
        rows = frame.importance[key]
        return _JSON({"key": key, "importance": rows,
                      "trials": sum(v is not None for v in frame.final(key))})

    async def events(self, request: Request) -> Response:
        """Server-sent events: one 'change' event per batch, its id the last change sequence."""
        engine = self.engine()
        start = request.headers.get("last-event-id") or request.query_params.get("after")
        after = _int(start, int(engine.revision))

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
        current = getattr(engine, "experiment_id", None)
        rows = []
        for exp_id, entry in read_manifest().items():
            pid = entry.get("pid")
            alive = isinstance(pid, int) and _pid_alive(pid)
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
        updates = {
            "trialConcurrency": ("update_trial_concurrency", _positive_int),
            "maxTrialNumber": ("update_max_trial_number", _positive_int),
            "maxExperimentDuration": ("update_max_experiment_duration", _duration),
            "searchSpace": ("update_search_space", _search_space),
        }
        unknown = sorted(set(body) - set(updates))
        if unknown:
            return _error(400, f"cannot change {', '.join(unknown)} (changeable: {', '.join(updates)})")
        try:
            checked = {name: updates[name][1](name, value) for name, value in body.items()}
            for name, value in checked.items():
                await getattr(engine, updates[name][0])(value)
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


def _interpolate(x: np.ndarray, y: np.ndarray, z: np.ndarray, size: int) -> dict[str, Any]:
    """Inverse-distance-weighted surface of ``z`` over a ``size``×``size`` grid spanning the points."""
    if x.size == 0:
        return {"x": [], "y": [], "z": []}
    def axis(v: np.ndarray) -> np.ndarray:
        low, high = float(v.min()), float(v.max())
        if high == low:
            high = low + 1.0
        return np.linspace(low, high, size)
    gx, gy = axis(x), axis(y)
    sx = (gx[-1] - gx[0]) or 1.0
    sy = (gy[-1] - gy[0]) or 1.0
    px, py = np.meshgrid(gx, gy)
    dx = (px.reshape(-1, 1) - x.reshape(1, -1)) / sx
    dy = (py.reshape(-1, 1) - y.reshape(1, -1)) / sy
    weights = 1.0 / (dx * dx + dy * dy + 1e-6)
    grid = (weights @ z) / weights.sum(axis=1)
    return {"x": gx.tolist(), "y": gy.tolist(), "z": grid.reshape(size, size).tolist(),
            "zMin": float(z.min()), "zMax": float(z.max())}


def _importance(frame: _Frame, key: str) -> list[dict[str, Any]]:
    finals = frame.final(key)
    rows = [i for i, v in enumerate(finals) if v is not None]
    if len(rows) < 4 or not frame.param_keys:
        return []
    columns = []
    categorical = []
    for name in frame.param_keys:
        raw = [frame.flat[i].get(name) for i in rows]
        if frame.numeric_params.get(name):
            columns.append([np.nan if v is None else float(v) for v in raw])
            categorical.append(False)
        else:
            labels = sorted({_category(v) for v in raw if v is not None})
            index = {c: n + 1 for n, c in enumerate(labels)}
            columns.append([0 if v is None else index[_category(v)] for v in raw])
            categorical.append(True)
    x = np.array(columns, dtype=float).T
    # A parameter missing from some trials (nested choice) sorts before every present value.
    for j in range(x.shape[1]):
        col = x[:, j]
        if np.isnan(col).any():
            col[np.isnan(col)] = (np.nanmin(col) - 1.0) if not np.isnan(col).all() else 0.0
    y = np.array([finals[i] for i in rows], dtype=float)
    shares = forest_importance(x, y, categorical)
    result = [{"param": name, "importance": float(s)} for name, s in zip(frame.param_keys, shares, strict=True)]
    result.sort(key=lambda r: -r["importance"])
    return result


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def _float(value: str | None, default: float) -> float:
    try:
        result = float(value) if value is not None else default
    except ValueError:
        return default
    return result if math.isfinite(result) else default


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a whole number of at least 1, got {value!r}")
    return value


def _duration(name: str, value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)) or value in ("", 0):
        raise ValueError(f"{name} must look like '30m', '2h', '1d' or a number of seconds, got {value!r}")
    return value


def _search_space(name: str, value: Any) -> Any:
    if not isinstance(value, dict) or not value:
        raise ValueError(f"{name} must be a non-empty JSON object")
    return value


class _StaticFiles(StaticFiles):
    """The built assets; their names are fixed (deterministic builds), so browsers revalidate."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "no-cache"
        return response


def _index_response() -> Response:
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
        return _index_response()

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
        Route(api + "/experiment", ui.update_experiment, methods=["POST"]),
        Route(api + "/logs", ui.logs),
        Route(api + "/logs/file", ui.log_file),
        Route(api + "/charts/metric", ui.chart_metric),
        Route(api + "/charts/duration", ui.chart_duration),
        Route(api + "/charts/intermediate", ui.chart_intermediate),
        Route(api + "/charts/params", ui.chart_params),
        Route(api + "/charts/contour", ui.chart_contour),
        Route(api + "/importance", ui.importance),
        Route(api + "/events", ui.events),
        Route(api + "/experiments", ui.experiments),
        Mount(prefix + "/assets", app=_StaticFiles(directory=STATIC_DIR / "assets", check_dir=False), name="webui-assets"),
        Mount(prefix + "/static", app=_StaticFiles(directory=STATIC_DIR, check_dir=False), name="webui-static"),
    ]
    if prefix:
        routes.insert(0, Route(prefix, to_slash, methods=["GET", "HEAD"]))
    return routes
