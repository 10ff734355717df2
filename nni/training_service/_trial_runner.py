"""Runs or follows one trial where it executes, speaking JSON lines over stdin and stdout.

The remote service starts this script over an SSH channel and the Ray service inside a Ray task, so
parameters, metrics and output travel over the connection the manager opened: the machine running
the trial never connects back. It is executed as a plain script (``python3 _trial_runner.py``) and
needs only the standard library, :mod:`nni.runtime.protocol` and :mod:`._process`.

The first stdin line is the request, ``{"launch": {...}}`` or ``{"follow": {...}}`` (see
:func:`main`). Afterwards a ``{"kill": true}`` line ends the trial's whole process group (SIGTERM,
SIGKILL after a grace period): signals cannot reach a root SSH session, stdin always can. End of
stdin means the manager is gone: a ``detach`` trial keeps running to be followed again later (a
network blip, a manager restart), any other trial is killed.

Stdout carries one JSON object a line::

    {"ev": "started", "pgid": 123, "host": "node1", "sys_dir": "..."}
    {"ev": "metric", "line": "<a metrics-file line>", "offset": 456}
    {"ev": "out", "stream": "stdout" | "stderr", "data": "...", "offset": 789}
    {"ev": "exit", "code": 0 | null, "killed": false}
    {"ev": "error", "message": "..."}
    {"ev": "gone"}        (follow: the trial neither runs nor left an exit status)

Offsets are byte positions in the trial's files, so a follower started later resumes exactly there.
"""

from __future__ import annotations

import codecs
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import IO, Any

from nni.runtime import protocol
from nni.training_service._process import exit_wrapper, process_alive, read_exit_code, read_int, signal_group

PGID_FILE = os.path.join(".nni", "pgid")
POLL_SECONDS = 0.1
CHUNK_BYTES = 64 * 1024


class _Output:
    """Writes protocol messages; remembers when the reader has gone away."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.closed = False

    def send(self, message: dict[str, Any]) -> None:
        if self.closed:
            return
        try:
            self.stream.write(json.dumps(message) + "\n")
            self.stream.flush()
        except (BrokenPipeError, OSError, ValueError):
            self.closed = True


class _FileTail:
    """New bytes of a growing file from a remembered offset, as text or as complete lines."""

    def __init__(self, path: str, offset: int) -> None:
        self.path = path
        self.offset = offset
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial = b""

    def _read(self, limit: int) -> bytes:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                return f.read(limit)
        except FileNotFoundError:
            return b""

    def text(self) -> str:
        chunk = self._read(CHUNK_BYTES)
        self.offset += len(chunk)
        return self._decoder.decode(chunk) if chunk else ""

    def lines(self) -> list[tuple[str, int]]:
        """Complete lines with the offset just after each; a torn last line waits for its end."""
        chunk = self._read(CHUNK_BYTES * 16)
        if not chunk:
            return []
        data = self._partial + chunk
        start = self.offset - len(self._partial)
        self.offset += len(chunk)
        out = []
        position = 0
        while True:
            newline = data.find(b"\n", position)
            if newline < 0:
                break
            out.append((data[position:newline].decode("utf-8", errors="replace"), start + newline + 1))
            position = newline + 1
        self._partial = data[position:]
        return out


def _launch(request: dict[str, Any]) -> subprocess.Popen[bytes]:
    """Start the trial command in its own session, with stdout/stderr in files of its folder."""
    trial_dir = request["trial_dir"]
    os.makedirs(os.path.join(trial_dir, ".nni"), exist_ok=True)
    if request.get("parameter_record") is not None:
        protocol.write_parameter_file(trial_dir, request["parameter_record"])
    exit_file = os.path.join(trial_dir, protocol.EXIT_CODE_FILE)
    if os.path.exists(exit_file):  # left by an earlier run of this trial (re-run after a resume)
        os.remove(exit_file)
    script = exit_wrapper(request["command"], exit_file)
    env = dict(os.environ)
    env.update(request.get("env") or {})
    with open(os.path.join(trial_dir, "stdout"), "ab") as out, open(os.path.join(trial_dir, "stderr"), "ab") as err:
        process = subprocess.Popen(["/bin/sh", "-c", script], cwd=request.get("code_dir") or trial_dir, env=env,
                                   stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True)
    with open(os.path.join(trial_dir, PGID_FILE), "w", encoding="utf-8") as f:
        f.write(str(process.pid))
    return process


def run(request: dict[str, Any], stdin_fd: int, output: _Output) -> int:
    """Launch (or follow) one trial and stream it until it ends; returns this script's exit status."""
    launch = "launch" in request
    body = request["launch"] if launch else request["follow"]
    trial_dir = body["trial_dir"]
    detach = bool(body.get("detach"))
    grace = float(body.get("kill_grace", 3.0))
    offsets = body.get("offsets") or {}
    process: subprocess.Popen[bytes] | None = None
    wake_r, wake_w = os.pipe()
    if launch:
        try:
            process = _launch(body)
        except OSError as error:
            output.send({"ev": "error", "message": f"could not start the trial command: {error}"})
            return 1
        pgid = process.pid

        def wait_and_wake() -> None:
            process.wait()
            os.write(wake_w, b"x")

        threading.Thread(target=wait_and_wake, daemon=True).start()
    else:
        found = body.get("pgid") or read_int(os.path.join(trial_dir, PGID_FILE))
        if found is None or (not process_alive(int(found), group=True) and read_exit_code(trial_dir) is None):
            output.send({"ev": "gone"})
            return 0
        pgid = int(found)
    output.send({"ev": "started", "pgid": pgid, "host": socket.gethostname(), "sys_dir": trial_dir})

    tails = {
        "metric": _FileTail(os.path.join(trial_dir, protocol.METRICS_FILE), int(offsets.get("metrics", 0))),
        "stdout": _FileTail(os.path.join(trial_dir, "stdout"), int(offsets.get("stdout", 0))),
        "stderr": _FileTail(os.path.join(trial_dir, "stderr"), int(offsets.get("stderr", 0))),
    }

    def flush() -> None:
        for stream in ("stdout", "stderr"):
            while True:
                data = tails[stream].text()
                if not data:
                    break
                output.send({"ev": "out", "stream": stream, "data": data, "offset": tails[stream].offset})
        for line, offset in tails["metric"].lines():
            output.send({"ev": "metric", "line": line, "offset": offset})

    killed = False
    kill_deadline: float | None = None
    signalled: list[int] = []

    def on_signal(signum: int, _frame: Any) -> None:
        signalled.append(signum)
        os.write(wake_w, b"s")

    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(signum, on_signal)

    selector = selectors.DefaultSelector()
    selector.register(stdin_fd, selectors.EVENT_READ, "stdin")
    selector.register(wake_r, selectors.EVENT_READ, "wake")
    pending_input = b""
    stdin_open = True

    def begin_kill() -> None:
        nonlocal killed, kill_deadline
        if not killed:
            killed = True
            kill_deadline = time.monotonic() + grace
            signal_group(pgid, signal.SIGTERM)

    while True:
        for key, _ in selector.select(POLL_SECONDS):
            if key.data == "wake":
                os.read(wake_r, 64)
                continue
            chunk = os.read(stdin_fd, 4096)
            if not chunk:
                stdin_open = False
                selector.unregister(stdin_fd)
                if detach:
                    return 0
                begin_kill()
                continue
            pending_input += chunk
            while b"\n" in pending_input:
                line, pending_input = pending_input.split(b"\n", 1)
                try:
                    command = json.loads(line)
                except ValueError:
                    continue
                if isinstance(command, dict) and command.get("kill"):
                    begin_kill()
        if signalled:
            signalled.clear()
            if detach and not stdin_open:
                return 0
            begin_kill()
        if output.closed and detach:
            return 0
        flush()
        if process is not None:
            ended = process.poll() is not None
        else:
            ended = read_exit_code(trial_dir) is not None or not process_alive(pgid, group=True)
        if ended:
            flush()
            code = read_exit_code(trial_dir)
            if code is None and process is not None:
                code = process.returncode
            if killed:
                signal_group(pgid, signal.SIGKILL)  # whatever the trial left behind in its group
            output.send({"ev": "exit", "code": code, "killed": killed})
            return 0
        if kill_deadline is not None and time.monotonic() > kill_deadline:
            signal_group(pgid, signal.SIGKILL)
            kill_deadline = None


def main() -> int:
    """Read the request line and run it; the request's fields:

    launch: ``trial_dir``, ``code_dir``, ``command``, ``env``, ``parameter_record``, ``detach``,
    ``kill_grace``. follow: ``trial_dir``, ``pgid``, ``offsets`` (``metrics``, ``stdout``,
    ``stderr``), ``detach``, ``kill_grace``.
    """
    output = _Output(sys.stdout)
    stdin_fd = sys.stdin.fileno()
    first = b""
    while not first.endswith(b"\n"):
        chunk = os.read(stdin_fd, 1)
        if not chunk:
            return 1
        first += chunk
    try:
        request = json.loads(first)
    except ValueError as error:
        output.send({"ev": "error", "message": f"bad request: {error}"})
        return 1
    return run(request, stdin_fd, output)


if __name__ == "__main__":
    sys.exit(main())
