"""The browser tests' guard itself: a request leaving the host is aborted and recorded, a local one
goes through untouched and is recorded too."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import Any

import pytest

pytestmark = pytest.mark.slow


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<p id=local>local</p><img src='http://example.invalid/pixel.png'>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def local_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_the_guard_aborts_requests_leaving_the_host_and_lets_local_ones_through(open_page, local_server: str) -> None:
    page, guard = open_page()
    page.goto(local_server)
    page.wait_for_selector("#local")
    page.wait_for_function("document.images[0].complete")
    assert guard.external == ["http://example.invalid/pixel.png"]
    assert local_server in guard.requests
    # seen here: the teardown check would otherwise fail this test on them
    guard.external.clear()
    guard.errors.clear()
