"""The manager's HTTP server: NNI's REST API and the web UI, served by the engine's own process."""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount

from ..engine.view import ReadOnlyExperimentError
from .rest import rest_routes
from .webui import webui_routes

__all__ = ["create_app", "is_loopback", "TOKEN_HEADER"]

TOKEN_HEADER = "X-NNI-Token"
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _TokenGuard(BaseHTTPMiddleware):
    """Mutations always need the token; on a non-loopback bind every request needs it."""

    def __init__(self, app: Any, token: str, loopback: bool) -> None:
        super().__init__(app)
        self.token = token
        self.loopback = loopback

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        if self.loopback and request.method in _SAFE_METHODS:
            return await call_next(request)
        given = request.headers.get(TOKEN_HEADER) or request.query_params.get("token") or ""
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            given = given or auth[len("Bearer "):]
        if not secrets.compare_digest(given.encode(), self.token.encode()):
            return JSONResponse({"error": "a valid token is required (open the URL the experiment printed, "
                                          f"or send the {TOKEN_HEADER} header)"}, status_code=401)
        return await call_next(request)


async def _read_only(request: Request, error: Exception) -> Response:
    """A change asked of a viewed (read-only) experiment."""
    return JSONResponse({"error": str(error)}, status_code=403)


def create_app(engine: Any, token: str, host: str = "127.0.0.1", url_prefix: str = "",
               request_stop: Callable[[], Awaitable[None]] | None = None) -> Starlette:
    """Build the app; ``engine`` is read live, ``request_stop`` ends the experiment (DELETE /experiment)."""
    prefix = "/" + url_prefix.strip("/") if url_prefix.strip("/") else ""
    routes = [Mount(f"{prefix}/api/v1/nni", routes=rest_routes()), *webui_routes(lambda: engine, prefix)]
    app = Starlette(routes=routes, middleware=[Middleware(_TokenGuard, token=token, loopback=is_loopback(host))],
                    exception_handlers={ReadOnlyExperimentError: _read_only})
    app.state.engine = engine
    app.state.token = token

    async def _no_stop() -> None:
        return None

    app.state.request_stop = request_stop or _no_stop
    return app
