"""The shared parts of the services: the exit wrapper and liveness (real shells and processes), and
the ServiceBase lifecycle through a small service whose trials are plain asyncio waits."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from service_helpers import Collector, run, spec

from nni.runtime.protocol import EXIT_CODE_FILE
from nni.training_service import ServiceBase, TrialRun, TrialSpec, process_alive
from nni.training_service._process import (
    compatible_versions,
    describe_exit,
    exit_reason,
    exit_wrapper,
    read_exit_code,
    read_int,
)
from nni.training_service.base import TrialEnded, TrialWaiting

# -- the exit wrapper and exit words ---------------------------------------------------------------


@pytest.mark.parametrize("status", [0, 3, 127])
def test_exit_wrapper_keeps_and_records_the_status(tmp_path: Path, status: int) -> None:
    trial_dir = tmp_path / "it's a dir"  # a quote in the path must survive the shell
    (trial_dir / ".nni").mkdir(parents=True)
    script = exit_wrapper(f"echo hello; (exit {status})" if status != 127 else "no-such-command-here",
                          trial_dir / EXIT_CODE_FILE)
    done = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, check=False)
    assert done.returncode == status
    assert read_exit_code(trial_dir) == status


def test_read_exit_code_of_a_running_or_torn_trial(tmp_path: Path) -> None:
    assert read_exit_code(tmp_path) is None
    torn = tmp_path / "pgid"
    torn.write_text("12\x00")
    assert read_int(torn) is None
    torn.write_text(" 42\n")
    assert read_int(torn) == 42


def test_exit_words() -> None:
    assert exit_reason(0) is None
    assert describe_exit(None) == "the trial process was lost"
    assert describe_exit(-signal.SIGKILL) == f"killed by signal SIGKILL (exit status {-signal.SIGKILL})"
    assert describe_exit(128 + signal.SIGTERM) == "killed by signal SIGTERM (exit status 143)"
    assert describe_exit(127) == "command not found (exit status 127)"
    assert describe_exit(126) == "command not executable (exit status 126)"
    assert describe_exit(250) == "exit status 250"  # 250 - 128 is no signal
    assert exit_reason(2) == "exit status 2"


def test_compatible_versions() -> None:
    assert compatible_versions("3.1.0", "3.1.7")
    assert not compatible_versions("3.1.0", "3.0")


def test_process_alive_for_processes_and_groups() -> None:
    assert process_alive(os.getpid())
    assert process_alive(os.getpgid(0), group=True)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        assert process_alive(child.pid) and process_alive(child.pid, group=True)
    finally:
        child.kill()
        child.wait()
    assert not process_alive(child.pid)
    assert not process_alive(child.pid, group=True)
    assert not process_alive(0) and not process_alive(-1)


def test_a_zombie_is_not_alive() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while process_alive(child.pid) and time.monotonic() < deadline:  # ended but not reaped: a zombie
        time.sleep(0.02)
    try:
        assert not process_alive(child.pid)
    finally:
        child.wait()


def test_a_group_of_zombies_is_gone() -> None:
    """The leader reaped, a member ended but not reaped: the group has nothing left that runs."""
    # a group of our session: setpgid may not join a group of another session
    leader = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], process_group=0)
    member = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], process_group=leader.pid)
    try:
        leader.kill()
        leader.wait()
        assert process_alive(leader.pid, group=True)  # the member still runs
        member.kill()
        deadline = time.monotonic() + 30
        while process_alive(member.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        os.killpg(leader.pid, 0)  # the kernel still counts the zombie in the group ...
        assert not process_alive(leader.pid, group=True)  # ... but nothing of it runs
    finally:
        for process in (leader, member):
            process.kill()
            process.wait()


# -- ServiceBase -----------------------------------------------------------------------------------


@dataclass
class _Wait(TrialRun):
    done: asyncio.Event = field(default_factory=asyncio.Event)


class _WaitService(ServiceBase[None, _Wait]):
    """A trial is an asyncio wait that ends when told; kill() ends it unless ``deaf``."""

    platform = "wait"
    stop_timeout = 0.5

    def __init__(self, tmp: Path, deaf: bool = False) -> None:
        super().__init__(None, "exp", tmp)
        self.deaf = deaf
        self.released: list[str] = []

    async def submit(self, spec: TrialSpec) -> None:
        run = _Wait(spec)
        self._trials[spec.trial_id] = run
        self._spawn(self._follow(run), f"following trial {spec.trial_id}", run)

    async def _follow(self, run: _Wait) -> None:
        self._emit_started(run, "wait://", stdout_path=None, stderr_path=None, host=None, handle={})
        await run.done.wait()
        if run.spec.command == "fail":
            raise OSError("the disk is full")
        self._finish(run, 0, None)

    async def kill(self, trial_id: str) -> None:
        if self._cancel_pending(trial_id):
            return
        run = self._trials[trial_id]
        run.killed = True
        if not self.deaf:
            self._finish(run, None, "killed")

    def _release(self, run: _Wait) -> None:
        self.released.append(run.trial_id)


def _spec(tmp: Path, trial_id: str, command: str = "wait") -> TrialSpec:
    return spec(tmp, trial_id, tmp, command=command)


def test_finish_is_reported_once_and_releases_once(tmp_path: Path) -> None:
    async def main() -> tuple[Collector, _WaitService]:
        events = Collector()
        service = _WaitService(tmp_path)
        await service.start(events)
        await service.submit(_spec(tmp_path, "a"))
        await events.started("a")
        run = service._trials["a"]
        service._finish(run, 1, "first")
        service._finish(run, 0, None)  # a second path noticing the end changes nothing
        service._metric(run, {"type": "FINAL"})  # nor does a late metric
        run.done.set()
        await service.stop()
        return events, service

    events, service = run(main())
    end = events.end("a")
    assert end is not None and (end.exit_code, end.reason) == (1, "first")
    assert events.metrics("a") == []
    assert service.released == ["a"]


def test_a_failing_task_is_logged_and_ends_its_trial(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> Collector:
        events = Collector()
        service = _WaitService(tmp_path)
        await service.start(events)
        await service.submit(_spec(tmp_path, "a", command="fail"))
        await events.started("a")
        service._trials["a"].done.set()
        await events.ended("a")
        await service.stop()
        return events

    with caplog.at_level(logging.ERROR, logger="nni.training_service"):
        events = run(main())
    end = events.end("a")
    assert end is not None and end.reason == "following trial a failed: OSError: the disk is full"
    assert "wait training service: following trial a failed: the disk is full" in caplog.text


def test_stop_ends_unconfirmed_trials_and_cancels_tasks(tmp_path: Path) -> None:
    async def main() -> tuple[Collector, _WaitService, Path, asyncio.Task[Any]]:
        events = Collector()
        service = _WaitService(tmp_path, deaf=True)
        await service.start(events)
        await service.submit(_spec(tmp_path, "a"))
        service._pending.append(_spec(tmp_path, "queued"))
        await events.started("a")
        scratch = service._scratch_dir()
        (scratch / "archive").write_text("x")
        task = service._spawn(asyncio.sleep(3600), "sleeping")
        await service.stop()
        return events, service, scratch, task

    events, service, scratch, task = run(main())
    ends = {e.trial_id: e for e in events.events if isinstance(e, TrialEnded)}
    assert ends["a"].reason == "killed (its end was not confirmed)" and ends["a"].killed
    assert ends["queued"].reason == "canceled before it started" and ends["queued"].killed
    assert task.cancelled() and not service._tasks
    assert service.stopping and not scratch.exists()


def test_waiting_reasons_are_said_once_each(tmp_path: Path) -> None:
    async def main() -> Collector:
        events = Collector()
        service = _WaitService(tmp_path)
        await service.start(events)
        for reason in ("no GPU", "no GPU", "host down", "no GPU"):
            service._set_waiting("a", reason)
        await service.stop()
        return events

    events = run(main())
    assert [e.reason for e in events.events if isinstance(e, TrialWaiting)] == ["no GPU", "host down", "no GPU"]
