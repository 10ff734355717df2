"""Warm fork servers that start function trials in a fork instead of a fresh interpreter.

One server (:mod:`nni.runtime.function_worker` ``--serve``) runs per function and code folder, with
this process's module path; it has imported nni and the function's module once and forks one child per trial, in its own session with its
own stdout/stderr files. A crash, a leak or ``os._exit`` in the function ends only that child; a server
that dies itself is replaced at the next trial, and the trials it had forked are followed by pid until
they end (their exit status is in their folder), so nothing is lost with it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._process import process_alive, read_exit_code

__all__ = ["FunctionPool", "FunctionTrial", "FunctionPoolError"]

_logger = logging.getLogger("nni.training_service.function_pool")

_FOLLOW_SECONDS = 0.1


class FunctionPoolError(RuntimeError):
    """A fork server could not be started, or died before forking a trial."""


@dataclass
class FunctionTrial:
    """One forked trial: its pid (also its process group) and a future of its exit status."""

    trial_id: str
    trial_dir: Path
    pid: int
    ended: asyncio.Future[int | None]

    async def wait(self) -> int | None:
        """The exit status (negative for a signal); None when it ended unseen and left none."""
        return await asyncio.shield(self.ended)


@dataclass
class _Server:
    process: asyncio.subprocess.Process
    env: dict[str, str]
    starting: dict[str, tuple[Path, asyncio.Future[FunctionTrial]]] = field(default_factory=dict)
    running: dict[str, FunctionTrial] = field(default_factory=dict)
    alive: bool = True


class FunctionPool:
    """Fork servers keyed by (function reference, code folder); their stderr goes to ``log_path``."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self._servers: dict[tuple[str, str], _Server] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, reference: str, code_dir: Path, env: dict[str, str], trial_id: str,
                    trial_dir: Path) -> FunctionTrial:
        """Fork the trial from the function's server (started or replaced first if need be)."""
        server = await self._server(reference, code_dir, env)
        started: asyncio.Future[FunctionTrial] = asyncio.get_running_loop().create_future()
        server.starting[trial_id] = (trial_dir, started)
        # only what differs from the server's own environment travels: the whole of it would be most of the line
        changed = {k: v for k, v in env.items() if server.env.get(k) != v or k == "PYTHONPATH"}
        unset = [k for k in server.env if k not in env]
        request = {"run": {"trial_id": trial_id, "trial_dir": str(trial_dir), "env": changed, "unset": unset}}
        assert server.process.stdin is not None
        try:
            server.process.stdin.write((json.dumps(request) + "\n").encode())
            await server.process.stdin.drain()
            return await started
        except (ConnectionError, OSError) as error:
            raise FunctionPoolError(f"the function server ended before forking the trial: {error}") from None
        finally:
            server.starting.pop(trial_id, None)

    async def _server(self, reference: str, code_dir: Path, env: dict[str, str]) -> _Server:
        key = (reference, str(code_dir))
        server = self._servers.get(key)
        if server is not None and server.alive:
            return server
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        server_env = {k: v for k, v in env.items() if not k.startswith("NNI_")}
        # the server imports what this process can (a folder put on sys.path by the user's script);
        # its forks inherit that, while the trials' own environment stays that of a command trial
        path = [os.path.abspath(p or os.curdir) for p in sys.path]
        server_env["PYTHONPATH"] = os.pathsep.join([*filter(None, [env.get("PYTHONPATH")]), *path])
        with open(self.log_path, "ab") as log:
            try:
                process = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "nni.runtime.function_worker", "--serve", reference, cwd=str(code_dir),
                    env=server_env, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=log,
                    start_new_session=True)
            except OSError as error:
                raise FunctionPoolError(f"could not start the function server: {error}") from None
        server = _Server(process, server_env)
        self._servers[key] = server
        self._track(self._read(server))
        return server

    def _track(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _read(self, server: _Server) -> None:
        """Route the server's messages; when it ends, follow the trials it had forked."""
        assert server.process.stdout is not None
        while True:
            line = await server.process.stdout.readline()
            if not line:
                break
            message = json.loads(line)
            if "started" in message:
                trial_id = message["started"]
                trial_dir, future = server.starting.get(trial_id, (None, None))
                if trial_dir is not None and future is not None and not future.done():
                    # known before start() resumes: the "exited" of a quick trial may be the very next line
                    trial = FunctionTrial(trial_id, trial_dir, int(message["pid"]),
                                          asyncio.get_running_loop().create_future())
                    server.running[trial_id] = trial
                    future.set_result(trial)
            elif "exited" in message:
                ended = server.running.pop(message["exited"], None)
                if ended is not None and not ended.ended.done():
                    ended.ended.set_result(int(message["code"]))
        server.alive = False
        code = await server.process.wait()
        if server.starting or server.running:
            _logger.warning("function server %d ended (status %s) with trials running; following them by pid",
                            server.process.pid, code)
        for _, future in server.starting.values():
            if not future.done():
                future.set_exception(ConnectionError(f"exit status {code}, see {self.log_path}"))
        for trial in list(server.running.values()):
            self._track(self._follow(trial))
        server.running.clear()

    async def _follow(self, trial: FunctionTrial) -> None:
        """A trial whose server is gone: wait for its process group to end, then read its status."""
        while process_alive(trial.pid, group=True):
            await asyncio.sleep(_FOLLOW_SECONDS)
        if not trial.ended.done():
            trial.ended.set_result(read_exit_code(trial.trial_dir))

    def server_pids(self) -> list[int]:
        """The pids of the live servers (what a test kills to see one replaced)."""
        return [s.process.pid for s in self._servers.values() if s.alive]

    async def close(self) -> None:
        """End every server (trials are the service's to kill first) and the tasks that read them."""
        for server in self._servers.values():
            if server.alive and server.process.stdin is not None:
                server.process.stdin.close()
        for server in self._servers.values():
            try:
                await asyncio.wait_for(server.process.wait(), 5.0)
            except asyncio.TimeoutError:
                server.process.kill()
                await server.process.wait()
        self._servers.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
