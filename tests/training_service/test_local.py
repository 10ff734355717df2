"""The local service driven directly: real trial subprocesses in their own process groups."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from service_helpers import SLEEPER, Collector, run, spec, wait_group_gone, write_code

from nni.config.training_services import LocalConfig
from nni.training_service import local, process_alive
from nni.training_service.local import LocalTrainingService


def test_a_trial_runs_reports_and_ends(tmp_path: Path) -> None:
    code = write_code(tmp_path / "code")
    events = Collector()
    service = LocalTrainingService(LocalConfig(), "exp", tmp_path)

    async def main() -> None:
        await service.start(events)
        await service.submit(spec(tmp_path, "ok", code, {"x": 2}))
        await service.submit(spec(tmp_path, "bad", code, {"x": 1, "exit": 3}))
        await service.submit(spec(tmp_path, "missing", code, command="no-such-command-nni"))
        await events.ended("ok", "bad", "missing")
        await service.stop()

    run(main())
    ok, bad, missing = (events.end(t) for t in ("ok", "bad", "missing"))
    assert ok is not None and (ok.exit_code, ok.reason, ok.killed) == (0, None, False)
    assert bad is not None and (bad.exit_code, bad.reason) == (3, "exit status 3")
    assert missing is not None and missing.reason == "command not found (exit status 127)"
    assert [m["value"] for m in events.metrics("ok") if m["type"] == "PERIODICAL"] == [0, 2, 4]
    started = events.start("ok")
    assert started is not None and started.host == "localhost" and isinstance(started.handle["pid"], int)
    assert (tmp_path / "trials" / "ok" / ".nni" / "exitcode").read_text().strip() == "0"


def test_kill_ends_the_whole_group_and_stop_cancels_the_queue(tmp_path: Path) -> None:
    code = write_code(tmp_path / "code", SLEEPER)
    events = Collector()
    service = LocalTrainingService(LocalConfig(), "exp", tmp_path)

    async def main() -> int:
        await service.start(events)
        await service.submit(spec(tmp_path, "sleeper", code))
        started = await events.started("sleeper")
        await events.metrics_count("sleeper", 1)
        await service.kill("sleeper")
        await events.ended("sleeper")
        await service.stop()
        return int(started.handle["pid"])

    pgid = run(main())
    end = events.end("sleeper")
    assert end is not None and end.killed and end.exit_code is not None and end.exit_code < 0
    assert wait_group_gone(pgid) and not process_alive(pgid, group=True)


def test_a_new_manager_adopts_a_trial_that_ended_unwatched(tmp_path: Path) -> None:
    code = write_code(tmp_path / "code")
    trial = spec(tmp_path, "done", code, {"x": 5})
    first, events = LocalTrainingService(LocalConfig(), "exp", tmp_path), Collector()

    async def finish_first() -> dict:
        await first.start(events)
        await first.submit(trial)
        started = await events.started("done")
        await events.ended("done")
        await first.stop()
        return started.handle

    handle = run(finish_first())
    second, later = LocalTrainingService(LocalConfig(), "exp", tmp_path), Collector()

    async def adopt() -> None:
        await second.start(later)
        assert await second.adopt(trial, handle)
        assert not await second.adopt(spec(tmp_path, "never", code), {"pid": handle["pid"]})
        assert (await later.ended("done"))["done"].exit_code == 0
        await second.stop()

    run(adopt())
    assert [m["value"] for m in later.metrics("done") if m["type"] == "FINAL"] == [{"default": 50, "extra": "ok"}]


async def _run_all(tmp_path: Path, code: Path, command: str, ids: list[str]) -> Collector:
    """Submit one trial of ``command`` per id to a fresh local service, wait for every end, stop it."""
    events = Collector()
    service = LocalTrainingService(LocalConfig(), "exp", tmp_path)
    await service.start(events)
    for i, trial_id in enumerate(ids):
        await service.submit(spec(tmp_path, trial_id, code, command=command, sequence_id=i))
    await events.ended(*ids)
    await service.stop()
    return events


def test_many_concurrent_trials_each_have_their_exit_and_metric_recorded(tmp_path: Path) -> None:
    """64 trials at once (each exit is noticed through its own pidfd): every end and metric arrives."""
    code = tmp_path / "code"
    code.mkdir()
    line = '{"type": "FINAL", "sequence": 0, "parameter_id": 0, "timestamp": 1, "value": $NNI_TRIAL_SEQ_ID}'
    command = f"echo \"{line.replace(chr(34), chr(92) + chr(34))}\" >> \"$NNI_SYS_DIR/.nni/metrics\"; exit $((NNI_TRIAL_SEQ_ID % 3))"
    ids = [f"t{i}" for i in range(64)]
    events = run(_run_all(tmp_path, code, command, ids))
    for i, trial_id in enumerate(ids):
        end = events.end(trial_id)
        assert end is not None and end.exit_code == i % 3
        assert [m["value"] for m in events.metrics(trial_id)] == [i]


def test_starts_run_on_the_loop_while_cheap_and_on_the_pool_when_they_pile_up(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ten starts of 30 ms each (a slow disk): the first on the loop's thread, later ones on the pool."""
    code = write_code(tmp_path / "code")
    threads: list[str] = []

    def slow_launch(*args: Any) -> subprocess.Popen[bytes] | None:
        threads.append(threading.current_thread().name)
        time.sleep(0.03)
        return launch(*args)
    launch = local._launch
    monkeypatch.setattr(local, "_launch", slow_launch)
    ids = [f"t{i}" for i in range(10)]
    loop_thread = ""

    async def main() -> Collector:
        nonlocal loop_thread
        loop_thread = threading.current_thread().name
        return await _run_all(tmp_path, code, "true", ids)

    events = run(main())
    assert all(events.end(t).exit_code == 0 for t in ids)  # type: ignore[union-attr]
    assert threads[0] == loop_thread
    assert any(name.startswith("nni-trial-start") for name in threads[1:]), threads
