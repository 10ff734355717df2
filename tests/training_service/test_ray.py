"""The Ray service against a real 2-node Ray cluster in a loopback-only network namespace."""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path

import pytest
from service_helpers import SLEEPER, Collector, run, service_script, spec, wait_group_gone, write_code

from nni import __version__
from nni.experiment.config.training_services import RayConfig
from nni.training_service.base import TrainingServiceError
from nni.training_service.ray import RayTrainingService

pytestmark = pytest.mark.usefixtures("in_ray_netns")

ADDRESS = "127.0.0.1:6379"


def _service(tmp_path: Path, **config: object) -> tuple[RayTrainingService, str]:
    experiment_id = "y" + uuid.uuid4().hex[:8]
    return RayTrainingService(RayConfig(address=ADDRESS, **config), experiment_id, tmp_path), experiment_id


def _out(tmp_path: Path, trial_id: str) -> dict:
    return json.loads((tmp_path / "trials" / trial_id / "stdout").read_text().splitlines()[0])


def _node_b() -> str:
    import ray

    return next(n["NodeID"] for n in ray.nodes() if n["Alive"] and "node_b" in n["Resources"])


def _pgid(tmp_path: Path, trial_id: str) -> int:
    """The trial's process group: its shell's pid, which is also the session id of its child."""
    child = int((tmp_path / "trials" / trial_id / "stdout").read_text().split()[1])
    return os.getsid(child)


# The trial shell's parent is the trial runner; the runner's parent is whatever started it on the node.
_RECORD_RUNNER_PARENT = "echo runner_parent=$(grep PPid /proc/$PPID/status | cut -f2) >&2; python3 trial.py"


def test_six_trials_run_on_both_nodes_one_agent_per_node(tmp_path: Path) -> None:
    code = write_code(tmp_path / "code")
    (code / "data").mkdir()
    (code / "data" / "big.bin").write_text("x")
    (code / ".nniignore").write_text("data/\n")
    service, experiment_id = _service(tmp_path)
    events = Collector()

    async def scenario() -> None:
        await service.start(events)
        ids = [f"t{i}" for i in range(6)]
        for i, trial_id in enumerate(ids):
            await service.submit(spec(tmp_path, trial_id, code, {"x": i, "sleep": 0.3}, sequence_id=i,
                                      command=_RECORD_RUNNER_PARENT, experiment_id=experiment_id))
        ends = await events.ended(*ids)
        assert all(e.exit_code == 0 and e.reason is None for e in ends.values()), ends
        await service.stop()

    run(scenario())
    nodes = {events.start(f"t{i}").handle["node_id"] for i in range(6)}
    assert len(nodes) == 2
    runner_parents: dict[str, set[int]] = {}
    for i in range(6):
        stderr = (tmp_path / "trials" / f"t{i}" / "stderr").read_text()
        parent = int(stderr.split("runner_parent=", 1)[1].split()[0])
        runner_parents.setdefault(events.start(f"t{i}").handle["node_id"], set()).add(parent)
    # Trials without GPUs share their node's agent rather than holding a Ray worker each.
    assert all(len(parents) == 1 for parents in runner_parents.values()), runner_parents
    assert len(set().union(*runner_parents.values()) - {os.getpid()}) == 2, runner_parents
    for i in range(6):
        trial_id = f"t{i}"
        assert "waiting for Ray to schedule it (CPU 1)" in events.waiting(trial_id)
        out = _out(tmp_path, trial_id)
        env = out["env"]
        assert env["NNI_PLATFORM"] == "ray" and env["NNI_EXP_ID"] == experiment_id
        assert env["NNI_TRIAL_JOB_ID"] == trial_id and env["NNI_TRIAL_SEQ_ID"] == str(i)
        assert env["NNI_SYS_DIR"] == env["NNI_OUTPUT_DIR"] and env["NNI_SYS_DIR"].endswith(f"/trials/{trial_id}")
        assert env["NNI_CODE_DIR"] == out["cwd"] != str(code) and env["CUDA_VISIBLE_DEVICES"] == ""
        assert out["files"] == [".nniignore", "trial.py"]  # shipped through Ray, without data/
        assert "to stderr" in (tmp_path / "trials" / trial_id / "stderr").read_text()
        metrics = events.metrics(trial_id)
        assert [m["value"] for m in metrics if m["type"] == "PERIODICAL"] == [0, i, 2 * i]
        assert [m["value"]["default"] for m in metrics if m["type"] == "FINAL"] == [10 * i]
        assert len((tmp_path / "trials" / trial_id / ".nni" / "metrics").read_text().splitlines()) == 4


def _groups(experiment_id: str) -> dict[str, str]:
    """The experiment's placement groups, by name, with their state."""
    from ray.util.placement_group import placement_group_table

    return {g["name"]: g["state"] for g in placement_group_table().values()
            if g["name"].startswith(f"nni-trials-{experiment_id}-")}


def test_a_trial_takes_the_placement_group_of_one_that_ended(tmp_path: Path) -> None:
    code = write_code(tmp_path / "code")
    service, experiment_id = _service(tmp_path)
    events = Collector()

    async def scenario() -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
        await service.start(events)
        for wave in ("a", "b"):
            for i in range(2):
                await service.submit(spec(tmp_path, f"{wave}{i}", code, {"x": i, "sleep": 0.2},
                                          experiment_id=experiment_id))
            await events.ended(f"{wave}0", f"{wave}1")
        after_both_waves = _groups(experiment_id)
        await events.wait_for(lambda: set(_groups(experiment_id).values()) == {"REMOVED"}, timeout=20)
        after_idle = _groups(experiment_id)
        await service.submit(spec(tmp_path, "c0", code, {"x": 0, "sleep": 30}, experiment_id=experiment_id))
        await events.started("c0")
        await service.stop()
        return after_both_waves, after_idle

    import ray

    after_both_waves, after_idle = run(scenario())
    ray.init(address=ADDRESS)  # the service disconnected at its stop
    try:
        after_stop = _groups(experiment_id)
    finally:
        ray.shutdown()
    assert all(events.end(t).exit_code == 0 for t in ("a0", "a1", "b0", "b1"))
    assert events.end("c0").killed
    # The second wave ran in the first wave's two groups; unused, they went after a moment.
    assert len(after_both_waves) == 2 and set(after_both_waves.values()) == {"CREATED"}, after_both_waves
    assert len(after_idle) == 2, after_idle
    assert len(after_stop) == 3 and set(after_stop.values()) == {"REMOVED"}, after_stop


def test_custom_resources_place_trials_and_code_can_run_in_place(tmp_path: Path) -> None:
    code = write_code(tmp_path / "code")
    service, experiment_id = _service(tmp_path, trial_cpu_number=0.5, trial_resources={"node_b": 0.1},
                                      runtime_env={"working_dir": None, "env_vars": {"NNI_TEST_VAR": "from-ray"}})
    events = Collector()

    async def scenario() -> str:
        await service.start(events)
        for trial_id in ("p0", "p1"):
            await service.submit(spec(tmp_path, trial_id, code, command="NNI_EXTRA=$NNI_TEST_VAR python3 trial.py",
                                      experiment_id=experiment_id))
        await events.ended("p0", "p1")
        node_b = _node_b()
        await service.stop()
        return node_b

    node_b = run(scenario())
    for trial_id in ("p0", "p1"):
        assert events.end(trial_id).exit_code == 0
        assert events.start(trial_id).handle["node_id"] == node_b
        assert _out(tmp_path, trial_id)["cwd"] == str(code)
        assert "waiting for Ray to schedule it (CPU 0.5, node_b 0.1)" in events.waiting(trial_id)


def test_exit_status_of_failing_trials(tmp_path: Path) -> None:
    code = write_code(tmp_path / "code")
    service, experiment_id = _service(tmp_path)
    events = Collector()

    async def scenario() -> None:
        await service.start(events)
        await service.submit(spec(tmp_path, "bad", code, {"x": 1, "exit": 5}, experiment_id=experiment_id))
        await service.submit(spec(tmp_path, "nocmd", code, command="no-such-command-xyz", experiment_id=experiment_id))
        ends = await events.ended("bad", "nocmd")
        assert ends["bad"].exit_code == 5 and ends["bad"].reason == "exit status 5"
        assert ends["nocmd"].exit_code == 127
        await service.stop()

    run(scenario())


def test_kill_running_and_pending_trials_and_stop(tmp_path: Path) -> None:
    code = write_code(tmp_path / "code", SLEEPER)
    service, experiment_id = _service(tmp_path)
    events = Collector()
    pending_service, pending_experiment = _service(tmp_path / "p", trial_resources={"node_c": 1})

    async def scenario() -> list[int]:
        await service.start(events)
        for trial_id in ("k", "s1", "s2"):
            await service.submit(spec(tmp_path, trial_id, code, experiment_id=experiment_id))
        for trial_id in ("k", "s1", "s2"):
            await events.metrics_count(trial_id, 1)
        groups = [_pgid(tmp_path, t) for t in ("k", "s1", "s2")]
        await service.kill("k")
        end = (await events.ended("k"))["k"]
        assert end.killed and end.reason in ("killed", "killed by signal SIGTERM (exit status -15)")
        await service.stop()
        ends = await events.ended("s1", "s2", timeout=1)
        assert all(e.killed for e in ends.values())
        return groups

    for pgid in run(scenario()):
        assert wait_group_gone(pgid), "a trial's processes outlived its Ray task"

    waiting = Collector()

    async def never_placed() -> None:
        await pending_service.start(waiting)
        await pending_service.submit(spec(tmp_path / "p", "w", code, experiment_id=pending_experiment))
        await waiting.wait_for(lambda: bool(waiting.waiting("w")))
        assert "no node has that now" in waiting.waiting("w")[0]
        await pending_service.kill("w")
        end = (await waiting.ended("w"))["w"]
        assert end.killed and end.reason == "canceled before it started"
        await pending_service.stop()

    run(never_placed())


def test_a_node_that_dies_fails_its_trials(tmp_path: Path) -> None:
    code = write_code(tmp_path / "code", SLEEPER)
    fast = write_code(tmp_path / "fast")
    on_b, experiment_id = _service(tmp_path, trial_cpu_number=0.5, trial_resources={"node_b": 0.1})
    events = Collector()

    async def scenario() -> int:
        await on_b.start(events)
        await on_b.submit(spec(tmp_path, "doomed", code, experiment_id=experiment_id))
        await events.metrics_count("doomed", 1)
        pgid = _pgid(tmp_path, "doomed")
        service_script("ray.sh", "kill-node")
        end = (await events.ended("doomed"))["doomed"]
        assert end.exit_code is None and not end.killed
        assert "died" in end.reason and "Ray node 127.0.0.1" in end.reason, end.reason
        await on_b.stop()
        return pgid

    try:
        pgid = run(scenario())
        assert wait_group_gone(pgid), "the trial outlived its node"
        # the experiment goes on with the nodes that are left
        rest, rest_id = _service(tmp_path / "rest")
        later = Collector()

        async def go_on() -> None:
            await rest.start(later)
            await rest.submit(spec(tmp_path / "rest", "after", fast, experiment_id=rest_id))
            assert (await later.ended("after"))["after"].exit_code == 0
            await rest.stop()

        run(go_on())
    finally:
        service_script("ray.sh", "start-node", timeout=120)


def test_preflight_names_nodes_that_cannot_run_trials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Ray puts the driver's folder first on the workers' sys.path: leave the checkout, whose nni would win
    monkeypatch.chdir(tmp_path)
    old = tmp_path / "old"
    (old / "nni" / "runtime").mkdir(parents=True)
    (old / "nni" / "__init__.py").write_text("__version__ = '2.10'\n")
    (old / "nni" / "runtime" / "__init__.py").write_text("")
    (old / "nni" / "runtime" / "protocol.py").write_text("")
    broken = tmp_path / "broken"
    (broken / "nni").mkdir(parents=True)
    (broken / "nni" / "__init__.py").write_text("raise ImportError('this nni is broken')\n")
    for runtime_env, pattern in [
        ({"env_vars": {"PYTHONPATH": str(old)}}, rf"ray node 127\.0\.0\.1 \(\w+\): has nni 2\.10 but the manager runs {__version__}"),
        ({"env_vars": {"PYTHONPATH": str(broken)}}, r"cannot import nni \(ImportError: this nni is broken\)"),
    ]:
        service, _ = _service(tmp_path, runtime_env=runtime_env)
        with pytest.raises(TrainingServiceError, match=pattern) as caught:
            run(service.start(Collector()))
        assert str(caught.value).count("ray node") == 2  # both nodes named
        run(service.stop())
    unreachable = RayTrainingService(RayConfig(address="127.0.0.1:1"), "x", tmp_path)
    with pytest.raises(TrainingServiceError, match=r"cannot reach the Ray head at 127\.0\.0\.1:1"):
        run(unreachable.start(Collector()))


def test_preflight_names_what_the_trial_runner_cannot_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A compatible version that lacks the runner's helpers (a broken or partial install) is refused."""
    monkeypatch.chdir(tmp_path)  # as above: the checkout's nni would win
    partial = tmp_path / "partial"
    (partial / "nni" / "runtime").mkdir(parents=True)
    (partial / "nni" / "__init__.py").write_text(f"__version__ = {__version__!r}\n")
    (partial / "nni" / "runtime" / "__init__.py").write_text("")
    (partial / "nni" / "runtime" / "protocol.py").write_text("")
    service, _ = _service(tmp_path, runtime_env={"env_vars": {"PYTHONPATH": str(partial)}})
    with pytest.raises(TrainingServiceError, match=rf"ray node 127\.0\.0\.1 \(\w+\): has nni {__version__} but "
                                                   r"cannot import what the trial runner needs \(ModuleNotFound"):
        run(service.start(Collector()))
    run(service.stop())


def test_code_directory_with_too_many_files_fails_the_trial(tmp_path: Path) -> None:
    code = write_code(tmp_path / "code")
    for i in range(2001):
        (code / f"{i}.txt").touch()
    service, experiment_id = _service(tmp_path)
    events = Collector()

    async def scenario() -> None:
        await service.start(events)
        await service.submit(spec(tmp_path, "big", code, experiment_id=experiment_id))
        end = (await events.ended("big"))["big"]
        assert "more than 2000 files" in end.reason and ".nniignore" in end.reason
        await service.stop()

    run(scenario())


def test_missing_ray_is_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    service = RayTrainingService(RayConfig(address=ADDRESS), "x", tmp_path)
    with pytest.raises(TrainingServiceError, match=r"needs Ray: pip install 'nni\[ray\]'"):
        run(service.start(Collector()))
