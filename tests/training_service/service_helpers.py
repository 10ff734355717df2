"""Helpers of the training-service tests: scripts that start real services, an event collector,
trial specs and trial scripts. The fixtures using them live in conftest.py."""


from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from nni.training_service import process_alive
from nni.training_service.base import (
    TrialEnded,
    TrialEvent,
    TrialMetric,
    TrialSpec,
    TrialStarted,
    TrialWaiting,
)

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts" / "services"
BASE = Path(os.environ.get("BASE") or Path(tempfile.gettempdir()) / "nni-ci")
CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
SSH_USER = "nnitrial"
SSH_PASSWORD = "nni-test-password"
REMOTE_PYTHON_BIN = BASE / "remote-venv" / "bin"

T = TypeVar("T")


def unavailable(what: str, detail: str) -> None:
    """A real service the tests need could not be started: fail on CI, skip elsewhere."""
    message = f"{what} could not be started ({detail.strip()[-800:]}); run `sudo bash scripts/services/install.sh`"
    if CI:
        pytest.fail(message)
    pytest.skip(message)


def service_script(name: str, *args: str, timeout: float = 240, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, BASE=str(BASE), RAY_PYTHON=sys.executable)
    result = subprocess.run(["bash", str(SCRIPTS / name), *args], capture_output=True, text=True, timeout=timeout,
                            env=env)
    if check and result.returncode != 0:
        raise RuntimeError(f"{name} {' '.join(args)}: {result.stdout}{result.stderr}")
    return result


def start_service(what: str, name: str, *args: str, timeout: float = 240) -> None:
    if os.geteuid() != 0:
        unavailable(what, "the test services are started as root")
    try:
        service_script(name, *args, timeout=timeout)
    except (RuntimeError, subprocess.TimeoutExpired, OSError) as error:
        unavailable(what, str(error))


# -- driving a service directly -----------------------------------------------------------------


def run(coro: Awaitable[T], timeout: float = 120) -> T:
    """Run one test's coroutine on a fresh event loop, as the engine would."""
    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(bounded())


@dataclass
class Collector:
    """The EventSink: records every event and lets a test wait for trials to end."""

    events: list[TrialEvent] = field(default_factory=list)
    _changed: asyncio.Event | None = None

    def __call__(self, event: TrialEvent) -> None:
        self.events.append(event)
        if self._changed is not None:
            self._changed.set()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 60) -> None:
        if self._changed is None:
            self._changed = asyncio.Event()
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out; events so far: {self.events}")
            self._changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.5))

    async def ended(self, *trial_ids: str, timeout: float = 60) -> dict[str, TrialEnded]:
        await self.wait_for(lambda: all(self.end(t) is not None for t in trial_ids), timeout)
        return {t: self.end(t) for t in trial_ids}  # type: ignore[misc]

    async def started(self, trial_id: str, timeout: float = 60) -> TrialStarted:
        await self.wait_for(lambda: self.start(trial_id) is not None, timeout)
        return self.start(trial_id)  # type: ignore[return-value]

    async def metrics_count(self, trial_id: str, count: int, timeout: float = 60) -> None:
        await self.wait_for(lambda: len(self.metrics(trial_id)) >= count, timeout)

    def end(self, trial_id: str) -> TrialEnded | None:
        ends = [e for e in self.events if isinstance(e, TrialEnded) and e.trial_id == trial_id]
        assert len(ends) <= 1, f"{trial_id} ended twice: {ends}"
        return ends[0] if ends else None

    def start(self, trial_id: str) -> TrialStarted | None:
        return next((e for e in self.events if isinstance(e, TrialStarted) and e.trial_id == trial_id), None)

    def metrics(self, trial_id: str) -> list[dict[str, Any]]:
        return [e.record for e in self.events if isinstance(e, TrialMetric) and e.trial_id == trial_id]

    def waiting(self, trial_id: str) -> list[str]:
        return [e.reason for e in self.events if isinstance(e, TrialWaiting) and e.trial_id == trial_id]


TRIAL = """
import json, os, sys, time
import nni
params = nni.get_next_parameter()
for i in range(int(params.get("steps", 3))):
    nni.report_intermediate_result(params["x"] * i)
    time.sleep(float(params.get("sleep", 0.02)))
env = {k: v for k, v in os.environ.items() if k.startswith("NNI_") or k == "CUDA_VISIBLE_DEVICES"}
print(json.dumps({"env": env, "cwd": os.getcwd(), "files": sorted(os.listdir("."))}), flush=True)
print("to stderr", file=sys.stderr, flush=True)
nni.report_final_result({"default": params["x"] * 10, "extra": "ok"})
sys.exit(int(params.get("exit", 0)))
"""

SLEEPER = """
import os, subprocess, sys, time
import nni
nni.get_next_parameter()
# a child in the same process group, as data loaders or shell pipelines make
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
print("child", child.pid, flush=True)
nni.report_intermediate_result(1)
time.sleep(600)
"""


def write_code(folder: Path, body: str = TRIAL, name: str = "trial.py", mode: int = 0o755) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(textwrap.dedent(body))
    folder.chmod(mode)
    return folder


def spec(tmp: Path, trial_id: str, code_dir: Path, params: dict[str, Any] | None = None, *,
         command: str = "python3 trial.py", gpu_number: int = 0, sequence_id: int = 0,
         experiment_id: str = "exp") -> TrialSpec:
    record = {"parameter_id": sequence_id, "parameter_source": "algorithm", "parameters": params or {"x": 1},
              "parameter_index": 0}
    return TrialSpec(trial_id=trial_id, sequence_id=sequence_id, command=command, code_dir=code_dir,
                     trial_dir=tmp / "trials" / trial_id, parameter_record=record, gpu_number=gpu_number,
                     env={"NNI_EXP_ID": experiment_id})


def group_alive(pgid: int) -> bool:
    """The product's own check: a group whose processes are all zombies has ended."""
    return process_alive(pgid, group=True)


def wait_group_gone(pgid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while group_alive(pgid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def shared_dir(prefix: str) -> Path:
    """A folder every test user can read (tmp_path lives under root's private folder)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=BASE))
    path.chmod(0o755)
    return path


def executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IEXEC | stat.S_IXGRP | stat.S_IXOTH | stat.S_IRGRP | stat.S_IROTH)
    return path



# -- SSH -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SshHost:
    host: str
    port: int
    user: str
    key: Path
    python_path: Path

    def machine(self, **extra: Any) -> dict[str, Any]:
        config = {"host": self.host, "port": self.port, "user": self.user, "ssh_key_file": self.key,
                  "python_path": str(self.python_path)}
        config.update(extra)
        return config



# -- network namespaces ---------------------------------------------------------------------

_CLONE_NEWNET = 0x40000000


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, _CLONE_NEWNET) != 0:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error))


@contextlib.contextmanager
def network_namespace(name: str) -> Iterator[None]:
    """Run this thread (and the threads and processes it starts) inside network namespace ``name``."""
    original = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        _setns(target)
        try:
            yield
        finally:
            _setns(original)
    finally:
        os.close(target)
        os.close(original)
