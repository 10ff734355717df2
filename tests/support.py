"""Small helpers the test modules share: a free loopback port, and polling until something holds."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

__all__ = ["HOLD_TRIAL", "free_port", "wait_for"]

# A trial that reports x, then waits while the file {hold} exists (format it in), then reports x as final.
HOLD_TRIAL = """
import os, time, nni
p = nni.get_next_parameter()
nni.report_intermediate_result(p["x"])
while os.path.exists({hold!r}):
    time.sleep(0.05)
nni.report_final_result(p["x"])
"""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate: Callable[[], Any], timeout: float = 90.0, what: str = "condition") -> Any:
    """``predicate()``'s first truthy value, polled every 0.1 s; AssertionError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
