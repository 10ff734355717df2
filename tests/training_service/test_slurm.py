"""The Slurm service against a real single-node Slurm (munge, slurmctld, slurmd; 4 CPUs)."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from service_helpers import SLEEPER, Collector, run, spec, write_code

from nni.experiment.config.training_services import SlurmConfig
from nni.training_service.base import TrainingServiceError
from nni.training_service.slurm import SlurmTrainingService, job_options


def _service(tmp_path: Path, **config: object) -> tuple[SlurmTrainingService, str]:
    experiment_id = "s" + uuid.uuid4().hex[:8]
    return SlurmTrainingService(SlurmConfig(**config), experiment_id, tmp_path), experiment_id


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _child_pid(tmp_path: Path, trial_id: str) -> int:
    out = (tmp_path / "trials" / trial_id / "stdout").read_text()
    return int(next(line for line in out.splitlines() if line.startswith("child")).split()[1])


@pytest.mark.usefixtures("slurm_cluster")
def test_six_trials_as_six_jobs(tmp_path: Path) -> None:
    code = write_code(tmp_path / "code")
    service, experiment_id = _service(tmp_path, partition="debug")
    events = Collector()

    async def scenario() -> None:
        await service.start(events)
        ids = [f"t{i}" for i in range(6)]
        for i, trial_id in enumerate(ids):
            await service.submit(spec(tmp_path, trial_id, code, {"x": i}, sequence_id=i, experiment_id=experiment_id))
        ends = await events.ended(*ids)
        assert all(e.exit_code == 0 and e.reason is None for e in ends.values()), ends
        await service.stop()

    run(scenario())
    job_ids = set()
    for i in range(6):
        trial_id = f"t{i}"
        started = events.start(trial_id)
        job_ids.add(started.handle["job_id"])
        assert started.host == "localhost"
        local = tmp_path / "trials" / trial_id
        out = json.loads((local / "stdout").read_text().splitlines()[0])
        env = out["env"]
        assert env["NNI_PLATFORM"] == "slurm" and env["NNI_EXP_ID"] == experiment_id
        assert env["NNI_TRIAL_JOB_ID"] == trial_id and env["NNI_TRIAL_SEQ_ID"] == str(i)
        assert env["NNI_SYS_DIR"] == env["NNI_OUTPUT_DIR"] == str(local)
        assert env["NNI_CODE_DIR"] == out["cwd"] == str(code) and env["CUDA_VISIBLE_DEVICES"] == ""
        assert "to stderr" in (local / "stderr").read_text()
        metrics = events.metrics(trial_id)
        assert [m["value"] for m in metrics if m["type"] == "PERIODICAL"] == [0, i, 2 * i]
        assert [m["value"]["default"] for m in metrics if m["type"] == "FINAL"] == [i * 10]
    assert len(job_ids) == 6


@pytest.mark.usefixtures("slurm_cluster")
def test_exit_status_of_failing_jobs(tmp_path: Path) -> None:
    code = write_code(tmp_path / "code")
    service, experiment_id = _service(tmp_path)
    events = Collector()

    async def scenario() -> None:
        await service.start(events)
        await service.submit(spec(tmp_path, "bad", code, {"x": 1, "exit": 4}, experiment_id=experiment_id))
        await service.submit(spec(tmp_path, "nocmd", code, command="no-such-command-xyz", experiment_id=experiment_id))
        ends = await events.ended("bad", "nocmd")
        assert ends["bad"].exit_code == 4 and ends["bad"].reason == "exit status 4"
        assert ends["nocmd"].exit_code == 127 and "not found" in ends["nocmd"].reason
        await service.stop()

    run(scenario())
    assert "no-such-command-xyz" in (tmp_path / "trials" / "nocmd" / "stderr").read_text()


@pytest.mark.usefixtures("slurm_cluster")
def test_pending_jobs_say_why_and_kill_works_pending_and_running(tmp_path: Path) -> None:
    code = write_code(tmp_path / "code", SLEEPER)
    service, experiment_id = _service(tmp_path, trial_cpu_number=4)
    events = Collector()

    async def scenario() -> None:
        await service.start(events)
        await service.submit(spec(tmp_path, "running", code, experiment_id=experiment_id))
        await events.started("running")
        await events.metrics_count("running", 1)
        await service.submit(spec(tmp_path, "pending", code, experiment_id=experiment_id))
        await events.wait_for(lambda: bool(events.waiting("pending")))
        assert "is pending (" in events.waiting("pending")[0]
        await service.kill("pending")
        end = (await events.ended("pending"))["pending"]
        assert end.killed and end.reason == "canceled before it started" and events.start("pending") is None
        await service.kill("running")
        end = (await events.ended("running"))["running"]
        assert end.killed and end.reason == "killed"
        await service.stop()

    run(scenario())
    child = _child_pid(tmp_path, "running")
    deadline = time.monotonic() + 15
    while _pid_alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _pid_alive(child), "scancel left the trial's child running"


@pytest.mark.usefixtures("slurm_cluster")
def test_stop_cancels_every_job(tmp_path: Path) -> None:
    code = write_code(tmp_path / "code", SLEEPER)
    service, experiment_id = _service(tmp_path)
    events = Collector()

    async def scenario() -> None:
        await service.start(events)
        for trial_id in ("a", "b"):
            await service.submit(spec(tmp_path, trial_id, code, experiment_id=experiment_id))
        for trial_id in ("a", "b"):
            await events.metrics_count(trial_id, 1)
        await service.stop()
        ends = await events.ended("a", "b", timeout=1)
        assert all(e.killed for e in ends.values())

    run(scenario())
    squeue = subprocess.run(["squeue", "--me", "-h", "-o", "%j"], capture_output=True, text=True).stdout
    assert experiment_id not in squeue


@pytest.mark.usefixtures("slurm_cluster")
def test_a_failed_node_fails_its_trial_and_later_trials_run(tmp_path: Path) -> None:
    code = write_code(tmp_path / "code", SLEEPER)
    fast = write_code(tmp_path / "fast")
    service, experiment_id = _service(tmp_path)
    events = Collector()

    async def scenario() -> None:
        await service.start(events)
        await service.submit(spec(tmp_path, "doomed", code, experiment_id=experiment_id))
        await events.metrics_count("doomed", 1)
        subprocess.run(["scontrol", "update", "NodeName=localhost", "State=DOWN", "Reason=nni-test-node-lost"],
                       check=True)
        try:
            end = (await events.ended("doomed"))["doomed"]
            assert not end.killed and "Slurm node localhost failed (NodeDown" in end.reason
        finally:
            subprocess.run(["scontrol", "update", "NodeName=localhost", "State=RESUME"], capture_output=True)
        await service.submit(spec(tmp_path, "after", fast, experiment_id=experiment_id))
        assert (await events.ended("after"))["after"].exit_code == 0
        await service.stop()

    run(scenario())


@pytest.mark.usefixtures("slurm_cluster")
def test_preflight_refuses_bad_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for config, pattern in [({"partition": "gpu-huge"}, r"partition 'gpu-huge' does not exist \(partitions: debug\)"),
                            ({"time_limit": "soon"}, r"sbatch refuses the job options .*--time=soon"),
                            ({"sbatch_options": ["--no-such-option"]}, r"sbatch refuses")]:
        service, _ = _service(tmp_path, **config)
        with pytest.raises(TrainingServiceError, match=pattern):
            run(service.start(Collector()))
    monkeypatch.setenv("SLURM_CONF", str(tmp_path / "missing.conf"))
    service, _ = _service(tmp_path)
    with pytest.raises(TrainingServiceError, match="SLURM_CONF=.*missing.conf does not exist"):
        run(service.start(Collector()))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(TrainingServiceError, match="missing: sbatch, squeue"):
        run(service.start(Collector()))


def test_job_options_from_config() -> None:
    config = SlurmConfig(partition="p", account="a", time_limit="1:00:00", trial_cpu_number=2,
                         sbatch_options=["--mem=4G", "--qos high"])
    assert job_options(config, 2) == ["--no-requeue", "--cpus-per-task=2", "--partition=p", "--account=a",
                                      "--time=1:00:00", "--gres=gpu:2", "--mem=4G", "--qos", "high"]
    assert "--gres=gpu:a100:1" in job_options(SlurmConfig(gres="gpu:a100:1"), 4)


@pytest.mark.usefixtures("slurm_cluster")
def test_a_new_manager_adopts_a_running_job(tmp_path: Path) -> None:
    code = write_code(tmp_path / "code")
    first, experiment_id = _service(tmp_path)
    events = Collector()
    trial = spec(tmp_path, "kept", code, {"x": 3, "steps": 8, "sleep": 0.4}, experiment_id=experiment_id)

    async def start_then_crash() -> dict:
        await first.start(events)
        await first.submit(trial)
        started = await events.started("kept")
        assert first._poller is not None
        first._poller.cancel()  # the manager dies: nobody watches the job any more
        return started.handle

    handle = run(start_then_crash())
    second = SlurmTrainingService(SlurmConfig(), experiment_id, tmp_path)
    later = Collector()

    async def adopt() -> None:
        await second.start(later)
        assert await second.adopt(trial, handle)
        assert (await later.ended("kept"))["kept"].exit_code == 0
        assert not await second.adopt(spec(tmp_path, "gone", code), {"job_id": "999999"})
        assert not await second.adopt(spec(tmp_path, "gone", code), {})
        await second.stop()

    run(adopt())
    assert [m["sequence"] for m in later.metrics("kept") if m["type"] == "PERIODICAL"] == list(range(8))
