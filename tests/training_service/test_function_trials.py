"""Function trials on the local service (forked from a warm server) and on Ray (the worker as a command)."""

from __future__ import annotations

import dataclasses
import os
import signal
import uuid
from pathlib import Path

from service_helpers import Collector, run, spec, wait_group_gone

from nni.config.training_services import LocalConfig
from nni.experiment.config.training_services import RayConfig
from nni.runtime.function_worker import function_command, function_of
from nni.training_service.local import LocalTrainingService

CODE = Path(__file__).resolve().parents[1] / "fixtures" / "function_trials"


def _spec(tmp_path: Path, trial_id: str, function: str, params: dict[str, object] | None = None):
    return spec(tmp_path, trial_id, CODE, params or {"x": 3}, command=function_command(f"trial_functions:{function}"))


def _read(tmp_path: Path, trial_id: str, stream: str) -> str:
    return (tmp_path / "trials" / trial_id / stream).read_text()


def test_the_command_names_its_function_and_nothing_else_matches() -> None:
    assert function_of(function_command("pkg.mod:fn")) == "pkg.mod:fn"
    assert function_of(function_command("/a b/train.py:fn")) == "/a b/train.py:fn"
    assert function_of("python3 trial.py") is None
    assert function_of("python3 -m nni.runtime.function_worker a:b && rm -rf x") is None


def test_results_output_and_failures_of_function_trials(tmp_path: Path) -> None:
    events = Collector()
    service = LocalTrainingService(LocalConfig(), "exp", tmp_path)
    trials = {"ok": "train", "dict": "as_dict", "own": "reports_own_final", "raises": "raises",
              "exit": "hard_exit", "json": "not_json", "after": "train"}

    async def main() -> None:
        await service.start(events)
        for trial_id, function in list(trials.items())[:-1]:
            await service.submit(_spec(tmp_path, trial_id, function))
        await events.ended(*list(trials)[:-1])
        await service.submit(_spec(tmp_path, "after", "train", {"x": 5}))  # the crashes left the pool working
        await events.ended("after")
        await service.stop()

    run(main())
    finals = {t: [m["value"] for m in events.metrics(t) if m["type"] == "FINAL"] for t in trials}
    assert [m["value"] for m in events.metrics("ok") if m["type"] == "PERIODICAL"] == [0, 3, 6]
    assert finals["ok"] == [3] and finals["after"] == [5]
    assert finals["dict"] == [{"default": 3, "double": 6}]
    assert finals["own"] == [103]
    assert _read(tmp_path, "ok", "stdout") == f"trial ok in {CODE}\n"
    assert _read(tmp_path, "ok", "stderr") == "to stderr\n"
    for trial_id in ("ok", "dict", "own", "after"):
        assert (events.end(trial_id).exit_code, events.end(trial_id).reason) == (0, None)
    raised = events.end("raises")
    assert (raised.exit_code, raised.reason) == (1, "exit status 1")
    assert "Traceback" in _read(tmp_path, "raises", "stderr")
    assert "ValueError: x=3 is not accepted" in _read(tmp_path, "raises", "stderr")
    assert events.end("exit").exit_code == 7
    assert (tmp_path / "trials" / "exit" / ".nni" / "exitcode").read_text().strip() == "7"
    assert events.end("json").exit_code == 1 and "must be JSON-serialisable" in _read(tmp_path, "json", "stderr")
    assert finals["raises"] == finals["exit"] == finals["json"] == []


def test_each_fork_gets_its_own_trials_environment(tmp_path: Path) -> None:
    events = Collector()
    service = LocalTrainingService(LocalConfig(), "exp", tmp_path)
    marked = _spec(tmp_path, "marked", "environment")
    marked = dataclasses.replace(marked, env={**marked.env, "NNI_FUNCTION_TEST_MARKER": "yes"})

    async def main() -> None:
        await service.start(events)
        await service.submit(marked)
        await events.ended("marked")
        await service.submit(_spec(tmp_path, "plain", "environment"))
        await events.ended("plain")
        await service.stop()

    run(main())
    seen = {t: next(m["value"] for m in events.metrics(t) if m["type"] == "FINAL") for t in ("marked", "plain")}
    assert [seen[t]["trial"] for t in ("marked", "plain")] == ["marked", "plain"]
    assert (seen["marked"]["marker"], seen["plain"]["marker"]) == ("yes", None)
    assert seen["plain"]["pythonpath"] == os.environ.get("PYTHONPATH")


def test_kill_ends_a_function_trial_and_stop_ends_the_server(tmp_path: Path) -> None:
    events = Collector()
    service = LocalTrainingService(LocalConfig(), "exp", tmp_path)
    seen: dict[str, int] = {}

    async def main() -> None:
        await service.start(events)
        await service.submit(_spec(tmp_path, "long", "sleeps"))
        started = await events.started("long")
        await events.metrics_count("long", 1)
        seen["pid"] = started.handle["pid"]
        seen["server"] = service._functions.server_pids()[0]
        await service.kill("long")
        await events.ended("long")
        await service.stop()

    run(main())
    end = events.end("long")
    assert end.killed and end.exit_code == -signal.SIGTERM
    assert wait_group_gone(seen["pid"]) and wait_group_gone(seen["server"])


def test_a_server_that_dies_is_replaced_and_its_running_trial_still_ends(tmp_path: Path) -> None:
    events = Collector()
    service = LocalTrainingService(LocalConfig(), "exp", tmp_path)
    servers: list[int] = []

    async def main() -> None:
        await service.start(events)
        await service.submit(_spec(tmp_path, "slow", "sleeps", {"x": 1, "seconds": 1.5}))
        await events.started("slow")
        servers.extend(service._functions.server_pids())
        os.kill(servers[0], signal.SIGKILL)
        await events.ended("slow")
        await service.submit(_spec(tmp_path, "next", "train"))
        await events.ended("next")
        servers.extend(service._functions.server_pids())
        await service.stop()

    run(main())
    assert (events.end("slow").exit_code, events.end("next").exit_code) == (0, 0)
    assert [m["value"] for m in events.metrics("slow") if m["type"] == "FINAL"] == [1.0]
    assert len(servers) == 2 and servers[0] != servers[1]


def test_a_function_that_cannot_be_imported_fails_its_trial_saying_why(tmp_path: Path) -> None:
    events = Collector()
    service = LocalTrainingService(LocalConfig(), "exp", tmp_path)

    async def main() -> None:
        await service.start(events)
        await service.submit(_spec(tmp_path, "typo", "no_such_function"))
        await events.ended("typo")
        await service.stop()

    run(main())
    assert events.end("typo").exit_code == 1
    assert "AttributeError" in _read(tmp_path, "typo", "stderr")


def test_a_new_manager_adopts_a_running_function_trial(tmp_path: Path) -> None:
    events, later = Collector(), Collector()
    first = LocalTrainingService(LocalConfig(), "exp", tmp_path)
    trial = _spec(tmp_path, "kept", "sleeps", {"x": 1, "seconds": 1.5})
    handle: dict[str, object] = {}

    async def main() -> None:
        await first.start(events)
        await first.submit(trial)
        handle.update((await events.started("kept")).handle)
        # the manager goes away without stopping its trials (a crash): its server ends, the trial does not
        await first._functions.close()
        second = LocalTrainingService(LocalConfig(), "exp", tmp_path)
        await second.start(later)
        assert await second.adopt(trial, handle)
        await later.ended("kept")
        await second.stop()

    run(main())
    assert later.end("kept").exit_code == 0
    assert [m["value"] for m in later.metrics("kept") if m["type"] == "FINAL"] == [1.0]


def test_function_trials_run_on_ray(in_ray_netns: str, tmp_path: Path) -> None:
    from nni.training_service.ray import RayTrainingService

    events = Collector()
    service = RayTrainingService(RayConfig(address=in_ray_netns), "f" + uuid.uuid4().hex[:8], tmp_path)

    async def main() -> None:
        await service.start(events)
        await service.submit(_spec(tmp_path, "ok", "train"))
        await service.submit(_spec(tmp_path, "raises", "raises"))
        await events.ended("ok", "raises", timeout=120)
        await service.stop()

    run(main(), timeout=240)
    assert events.end("ok").exit_code == 0, _read(tmp_path, "ok", "stderr")
    assert [m["value"] for m in events.metrics("ok") if m["type"] == "FINAL"] == [3]
    assert [m["value"] for m in events.metrics("ok") if m["type"] == "PERIODICAL"] == [0, 3, 6]
    assert events.end("raises").exit_code == 1
    assert "ValueError: x=3 is not accepted" in _read(tmp_path, "raises", "stderr")

