"""The manager's HTTP server: NNI's REST API and the web UI, served by the engine's own process."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount

from ..engine.handle import ExperimentHandle
from ..engine.view import ReadOnlyExperimentError
from .guard import TOKEN_HEADER, RequestGuard, is_loopback
from .rest import log_routes, rest_routes
from .webui import webui_routes
from .workspace import workspace_app_routes, workspace_routes

__all__ = ["create_app", "create_workspace_app", "is_loopback", "TOKEN_HEADER"]


async def _read_only(request: Request, error: Exception) -> Response:
    """A change asked of a viewed (read-only) experiment."""
    return JSONResponse({"error": str(error)}, status_code=403)


async def _http_error(request: Request, error: Exception) -> Response:
    """Refusals raised by routes (bad input, missing things) answer JSON like every other error."""
    assert isinstance(error, HTTPException)
    return JSONResponse({"error": error.detail}, status_code=error.status_code, headers=error.headers)


def create_app(engine: ExperimentHandle, token: str, host: str = "127.0.0.1", url_prefix: str = "",
               request_stop: Callable[[], Awaitable[None]] | None = None,
               allowed_hosts: Iterable[str] = ()) -> Starlette:
    """Build the app; ``engine`` is read live, ``request_stop`` ends the experiment (DELETE /experiment).

    Every route sits behind one :class:`RequestGuard` (Host, Origin, token, body size).
    """
    prefix = "/" + url_prefix.strip("/") if url_prefix.strip("/") else ""
    others, workspace = workspace_routes(lambda: engine, prefix)
    routes = [Mount(f"{prefix}/api/v1/nni", routes=rest_routes()), Mount(f"{prefix}/logs", routes=log_routes()),
              *webui_routes(lambda: engine, prefix), *others]
    app = _guarded(routes, token, host, allowed_hosts)
    app.state.engine = engine
    app.state.workspace = workspace  # the launcher closes the other experiments' databases it opened

    async def _no_stop() -> None:
        return None

    app.state.request_stop = request_stop or _no_stop
    return app


def create_workspace_app(token: str, host: str = "127.0.0.1", url_prefix: str = "",
                         allowed_hosts: Iterable[str] = ()) -> Starlette:
    """``nnictl view --all``: every experiment of the experiments folder, none of them run by this
    server (each read from its database), behind the same guard as a manager's app."""
    routes, workspace = workspace_app_routes(url_prefix)
    app = _guarded(routes, token, host, allowed_hosts)
    app.state.workspace = workspace
    return app


def _guarded(routes: list[BaseRoute], token: str, host: str, allowed_hosts: Iterable[str]) -> Starlette:
    """An app of ``routes`` behind one :class:`RequestGuard`, answering every refusal as JSON."""
    guard = Middleware(RequestGuard, token=token, bind_host=host, allowed_hosts=tuple(allowed_hosts))
    return Starlette(routes=routes, middleware=[guard],
                     exception_handlers={ReadOnlyExperimentError: _read_only, HTTPException: _http_error})
