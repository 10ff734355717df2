"""The one gate every HTTP request passes before any route: Host, Origin, token and body size.

The threat model is in ``docs/security.md``. In short: on a loopback bind, reads are open to this
machine but a browser page from elsewhere cannot reach them (the ``Host`` check defeats DNS
rebinding); every change needs the token and a same-site ``Origin`` (CSRF); on any other bind every
request needs the token. Bodies are bounded so one request cannot exhaust the manager's memory.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["RequestGuard", "TOKEN_HEADER", "MAX_BODY_ENV", "ALLOWED_HOSTS_ENV", "is_loopback", "is_authorized"]

TOKEN_HEADER = "X-NNI-Token"
MAX_BODY_ENV = "NNI_MAX_REQUEST_BYTES"
"""Environment variable that overrides the request body limit (bytes)."""
ALLOWED_HOSTS_ENV = "NNI_ALLOWED_HOSTS"
"""Comma-separated extra host names the server answers to (a reverse proxy's name, say)."""
_DEFAULT_MAX_BODY = 64 * 1024 * 1024
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` exposes the server to this machine only."""
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_wildcard(host: str) -> bool:
    return host in ("0.0.0.0", "::")


def _host_names(bind_host: str, extra: Iterable[str] = ()) -> frozenset[str]:
    """The names a request's ``Host`` may carry for a server bound to ``bind_host``."""
    names = set(_LOOPBACK_NAMES)
    names.add(bind_host.strip("[]").lower())
    if _is_wildcard(bind_host):
        for name in (socket.gethostname(), socket.getfqdn()):
            names.add(name.lower())
    names.update(name.strip().lower() for name in extra if name.strip())
    env = os.environ.get(ALLOWED_HOSTS_ENV, "")
    names.update(name.strip().lower() for name in env.split(",") if name.strip())
    return frozenset(names)


def _max_body() -> int:
    try:
        value = int(os.environ.get(MAX_BODY_ENV, ""))
    except ValueError:
        return _DEFAULT_MAX_BODY
    return value if value > 0 else _DEFAULT_MAX_BODY


def _authority(netloc: str, default_port: int = 80) -> tuple[str, int] | None:
    """(host, port) of ``host[:port]`` (IPv6 in brackets), host lower-cased; None when malformed."""
    try:
        parts = urlsplit("//" + netloc)
        return (parts.hostname or "").lower(), parts.port or default_port
    except ValueError:
        return None


def _hostname(netloc: str) -> str | None:
    authority = _authority(netloc)
    return authority[0] if authority and authority[0] else None


class _TooLarge(Exception):
    pass


class RequestGuard:
    """ASGI middleware: refuse a request before routing unless its Host, Origin, token and size pass.

    ``wildcard`` binds (0.0.0.0) accept any IP literal as Host, since the token then guards every
    request anyway.
    """

    def __init__(self, app: ASGIApp, token: str, bind_host: str, allowed_hosts: Iterable[str] = (),
                 max_body: int | None = None) -> None:
        self.app = app
        self.token = token.encode()
        self.loopback = is_loopback(bind_host)
        self.wildcard = _is_wildcard(bind_host)
        self.names = _host_names(bind_host, allowed_hosts)
        self.max_body = max_body or _max_body()

    def _host_ok(self, name: str | None) -> bool:
        if name is None:
            return False
        if name in self.names:
            return True
        if self.wildcard:
            try:
                ipaddress.ip_address(name)
            except ValueError:
                return False
            return True
        return False

    def _origin_ok(self, origin: str, host_header: str) -> bool:
        """Same origin: the page that sent the change was served by this server (host and port)."""
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https"):
            return False
        default = 443 if parts.scheme == "https" else 80
        return _authority(parts.netloc, default) == _authority(host_header, default)

    def _token_given(self, scope: Scope, headers: dict[str, str]) -> bool:
        given = headers.get(TOKEN_HEADER.lower(), "")
        if not given:
            auth = headers.get("authorization", "")
            given = auth[len("Bearer "):] if auth.startswith("Bearer ") else ""
        if not given:
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            given = (query.get("token") or [""])[0]
        return secrets.compare_digest(given.encode("utf-8", "replace"), self.token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        method = scope.get("method", "GET")
        refusal = self._refusal(scope, method, headers)
        if refusal is not None:
            await _answer(send, *refusal)
            return
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                await _answer(send, 400, "Content-Length is not a number")
                return
            if int(declared) > self.max_body:
                await _answer(send, 413, self._too_large_message())
                return
        await self._call_bounded(scope, receive, send)

    def _refusal(self, scope: Scope, method: str, headers: dict[str, str]) -> tuple[int, str] | None:
        if not self._host_ok(_hostname(headers.get("host", ""))):
            return 421, ("this server does not answer to that Host name (add it to "
                         f"{ALLOWED_HOSTS_ENV} if a proxy or DNS name of yours should reach it)")
        safe = method in _SAFE_METHODS
        if not safe:
            origin = headers.get("origin")
            if origin is not None and not self._origin_ok(origin, headers.get("host", "")):
                return 403, f"changes from another site ({origin[:100]}) are refused"
            if headers.get("sec-fetch-site") == "cross-site":
                return 403, "changes from another site are refused"
        authorized = self._token_given(scope, headers)
        scope.setdefault("state", {})["authorized"] = authorized
        if authorized or (safe and self.loopback):
            return None
        return 401, ("a valid token is required (open the URL the experiment printed, `nnictl webui url ID`, "
                     f"or send the {TOKEN_HEADER} header)")

    def _too_large_message(self) -> str:
        return f"the request body is larger than {self.max_body} bytes (set {MAX_BODY_ENV} to allow more)"

    async def _call_bounded(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app, cutting a body (chunked or lying about its length) that grows past the limit."""
        received = 0
        started = False

        async def bounded_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, bounded_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _answer(send, 413, self._too_large_message())


def is_authorized(request: Any) -> bool:
    """Whether the request carried the valid token (set by :class:`RequestGuard`)."""
    return bool(getattr(request.state, "authorized", False))


async def _answer(send: Send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    headers: list[tuple[bytes, bytes]] = [(b"content-type", b"application/json"),
                                          (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})

