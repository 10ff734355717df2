"""The remote service against real OpenSSH servers: 127.0.0.1:2222 and two network-namespace hosts."""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from service_helpers import (
    SLEEPER,
    SSH_PASSWORD,
    Collector,
    SshHost,
    executable,
    group_alive,
    run,
    service_script,
    shared_dir,
    spec,
    wait_group_gone,
    write_code,
)

from nni import __version__
from nni.experiment.config.training_services import RemoteConfig
from nni.training_service._process import compatible_versions
from nni.training_service.base import TrainingServiceError
from nni.training_service.remote import RemoteTrainingService


def _service(tmp_path: Path, machines: list[dict], **config: object) -> tuple[RemoteTrainingService, str]:
    experiment_id = "r" + uuid.uuid4().hex[:8]
    return RemoteTrainingService(RemoteConfig(machine_list=machines, **config), experiment_id, tmp_path), experiment_id


def _stdout_json(tmp_path: Path, trial_id: str) -> dict:
    line = (tmp_path / "trials" / trial_id / "stdout").read_text().splitlines()[0]
    return json.loads(line)


def test_six_trials_spread_over_three_machines(tmp_path: Path, ssh_server: SshHost, test_hosts: list[SshHost]) -> None:
    code = write_code(tmp_path / "code")
    service, experiment_id = _service(tmp_path, [h.machine() for h in [ssh_server, *test_hosts]])
    events = Collector()

    async def scenario() -> None:
        await service.start(events)
        ids = [f"t{i}" for i in range(6)]
        for i, trial_id in enumerate(ids):
            await service.submit(spec(tmp_path, trial_id, code, {"x": i}, sequence_id=i, experiment_id=experiment_id))
        ends = await events.ended(*ids)
        await service.stop()
        assert all(e.exit_code == 0 and e.reason is None and not e.killed for e in ends.values()), ends

    run(scenario())
    hosts = {events.start(f"t{i}").host for i in range(6)}
    assert hosts == {"127.0.0.1", "10.211.1.2", "10.211.2.2"}
    for i in range(6):
        trial_id = f"t{i}"
        metrics = events.metrics(trial_id)
        assert [m["value"] for m in metrics if m["type"] == "PERIODICAL"] == [0, i, 2 * i]
        assert [m["sequence"] for m in metrics if m["type"] == "PERIODICAL"] == [0, 1, 2]
        assert [m["value"] for m in metrics if m["type"] == "FINAL"] == [{"default": i * 10, "extra": "ok"}]
        started = events.start(trial_id)
        out = _stdout_json(tmp_path, trial_id)
        env = out["env"]
        remote_dir = started.handle["dir"]
        assert env["NNI_PLATFORM"] == "remote"
        assert env["NNI_EXP_ID"] == experiment_id and env["NNI_TRIAL_JOB_ID"] == trial_id
        assert env["NNI_TRIAL_SEQ_ID"] == str(i)
        assert env["NNI_SYS_DIR"] == env["NNI_OUTPUT_DIR"] == remote_dir
        assert remote_dir.endswith(f"/trials/{trial_id}") and experiment_id in remote_dir
        assert env["NNI_CODE_DIR"] == out["cwd"] and env["CUDA_VISIBLE_DEVICES"] == ""
        assert started.log_path == f"ssh://nnitrial@{started.host}:{started.handle['port']}{remote_dir}"
        # the local trial folder holds copies of everything, streamed over SSH
        local = tmp_path / "trials" / trial_id
        assert "to stderr" in (local / "stderr").read_text()
        assert json.loads((local / "parameter.cfg").read_text())["parameters"] == {"x": i}
        lines = (local / ".nni" / "metrics").read_text().splitlines()
        assert len(lines) == 4 and json.loads(lines[-1])["type"] == "FINAL"


def test_exit_status_and_stderr_of_a_failing_trial(tmp_path: Path, ssh_server: SshHost) -> None:
    code = write_code(tmp_path / "code")
    service, experiment_id = _service(tmp_path, [ssh_server.machine()])
    events = Collector()

    async def scenario() -> None:
        await service.start(events)
        await service.submit(spec(tmp_path, "bad", code, {"x": 1, "exit": 3}, experiment_id=experiment_id))
        await service.submit(spec(tmp_path, "nocmd", code, command="no-such-command-xyz", experiment_id=experiment_id))
        ends = await events.ended("bad", "nocmd")
        await service.stop()
        assert ends["bad"].exit_code == 3 and ends["bad"].reason == "exit status 3"
        assert ends["nocmd"].exit_code == 127 and "not found" in ends["nocmd"].reason

    run(scenario())
    assert "not found" in (tmp_path / "trials" / "nocmd" / "stderr").read_text()


def test_nniignore_is_honoured_when_uploading(tmp_path: Path, ssh_server: SshHost) -> None:
    code = write_code(tmp_path / "code")
    (code / "data").mkdir()
    (code / "data" / "big.csv").write_text("1,2\n")
    (code / "weights.bin").write_text("x")
    (code / "keep.bin").write_text("x")
    (code / "sub").mkdir()
    (code / "sub" / "notes.log").write_text("x")
    (code / "sub" / "helper.py").write_text("x = 1\n")
    (code / ".nniignore").write_text("# comment\ndata/\n*.bin\n!keep.bin\n*.log\n")
    service, experiment_id = _service(tmp_path, [ssh_server.machine()], trial_code_directory=code)
    events = Collector()

    async def scenario() -> None:
        await service.start(events)
        await service.submit(spec(tmp_path, "t", code, command="python3 trial.py && find . -type f | sort",
                                  experiment_id=experiment_id))
        assert (await events.ended("t"))["t"].exit_code == 0
        await service.stop()

    run(scenario())
    stdout = (tmp_path / "trials" / "t" / "stdout").read_text().splitlines()
    files = sorted(line for line in stdout[1:] if line.startswith("./"))
    assert files == ["./.nniignore", "./keep.bin", "./sub/helper.py", "./trial.py"]


def test_too_many_files_is_refused_before_any_trial(tmp_path: Path, ssh_server: SshHost) -> None:
    code = write_code(tmp_path / "code")
    (code / "dataset").mkdir()
    for i in range(2001):
        (code / "dataset" / f"{i}.txt").touch()
    service, _ = _service(tmp_path, [ssh_server.machine()], trial_code_directory=code)
    with pytest.raises(TrainingServiceError, match=r"more than 2000 files.*\.nniignore"):
        run(service.start(Collector()))


def test_kill_ends_the_whole_process_group(tmp_path: Path, ssh_server: SshHost) -> None:
    code = write_code(tmp_path / "code", SLEEPER)
    service, experiment_id = _service(tmp_path, [ssh_server.machine()])
    events = Collector()

    async def scenario() -> int:
        await service.start(events)
        await service.submit(spec(tmp_path, "k", code, experiment_id=experiment_id))
        started = await events.started("k")
        await events.metrics_count("k", 1)
        pgid = started.handle["pgid"]
        assert group_alive(pgid)
        await service.kill("k")
        end = (await events.ended("k"))["k"]
        assert end.killed and end.exit_code != 0
        await service.stop()
        return pgid

    pgid = run(scenario())
    assert wait_group_gone(pgid), "the trial's child survived the kill"


def test_stop_kills_running_and_queued_trials(tmp_path: Path, ssh_server: SshHost) -> None:
    code = write_code(tmp_path / "code", SLEEPER)
    service, experiment_id = _service(tmp_path, [ssh_server.machine()])
    events = Collector()

    async def scenario() -> list[int]:
        await service.start(events)
        for trial_id in ("a", "b"):
            await service.submit(spec(tmp_path, trial_id, code, experiment_id=experiment_id))
        groups = [(await events.started(t)).handle["pgid"] for t in ("a", "b")]
        # a GPU trial no machine can run is refused at once, with the reason
        await service.submit(spec(tmp_path, "gpu", code, gpu_number=1, experiment_id=experiment_id))
        await events.ended("gpu")
        await service.stop()
        ends = await events.ended("a", "b", "gpu", timeout=1)
        assert ends["a"].killed and ends["b"].killed
        assert "needs 1 GPU(s)" in ends["gpu"].reason and not ends["gpu"].killed
        return groups

    for pgid in run(scenario()):
        assert wait_group_gone(pgid)


def test_more_trials_than_one_connection_carries(tmp_path: Path, ssh_server: SshHost) -> None:
    """OpenSSH allows 10 sessions per connection: 12 concurrent trials need a second connection."""
    code = write_code(tmp_path / "code")
    service, experiment_id = _service(tmp_path, [ssh_server.machine()])
    events = Collector()

    async def scenario() -> None:
        await service.start(events)
        ids = [f"c{i}" for i in range(12)]
        for i, trial_id in enumerate(ids):
            await service.submit(spec(tmp_path, trial_id, code, {"x": i, "sleep": 0.3}, experiment_id=experiment_id))
        ends = await events.ended(*ids)
        assert all(e.exit_code == 0 for e in ends.values()), ends
        assert len(service.machines[0].connections) >= 2
        await service.stop()

    run(scenario())


def test_password_and_passphrase_authentication(tmp_path: Path, ssh_server: SshHost) -> None:
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "secret", "-f", str(key)], check=True)
    authorized = Path(pwd.getpwnam(ssh_server.user).pw_dir) / ".ssh" / "authorized_keys"
    original = authorized.read_text()
    authorized.write_text(original + key.with_suffix(".pub").read_text())
    code = write_code(tmp_path / "code")

    async def one_trial(machine: dict, trial_id: str) -> None:
        service, experiment_id = _service(tmp_path, [machine])
        events = Collector()
        await service.start(events)
        await service.submit(spec(tmp_path, trial_id, code, experiment_id=experiment_id))
        assert (await events.ended(trial_id))[trial_id].exit_code == 0
        await service.stop()

    try:
        run(one_trial({"host": "127.0.0.1", "port": 2222, "user": "nnitrial", "password": SSH_PASSWORD,
                       "ssh_key_file": None, "python_path": str(ssh_server.python_path)}, "by-password"))
        run(one_trial(ssh_server.machine(ssh_key_file=key, ssh_passphrase="secret"), "by-passphrase"))
        service, _ = _service(tmp_path, [ssh_server.machine(ssh_key_file=key)])
        with pytest.raises(TrainingServiceError, match=r"cannot read sshKeyFile .*sshPassphrase"):
            run(service.start(Collector()))
    finally:
        authorized.write_text(original)


def test_preflight_names_the_host_and_the_problem(tmp_path: Path, ssh_server: SshHost, test_hosts: list[SshHost]) -> None:
    folder = shared_dir("remote-python-")
    no_nni = folder / "no-nni"
    no_nni.mkdir()
    executable(no_nni / "python3", "#!/bin/sh\nexec /usr/bin/python3 -I \"$@\"\n")
    old = folder / "old-nni"
    (old / "site" / "nni" / "runtime").mkdir(parents=True)
    (old / "site" / "nni" / "__init__.py").write_text("__version__ = '2.10'\n")
    (old / "site" / "nni" / "runtime" / "__init__.py").write_text("")
    (old / "site" / "nni" / "runtime" / "protocol.py").write_text("")
    executable(old / "python3", f"#!/bin/sh\nPYTHONPATH={old / 'site'} exec /usr/bin/python3 \"$@\"\n")
    os.system(f"chmod -R a+rX {folder}")
    cases = [
        ([{"host": "127.0.0.1", "port": 1, "user": "nnitrial", "ssh_key_file": ssh_server.key}],
         r"nnitrial@127\.0\.0\.1:1: cannot connect"),
        ([ssh_server.machine(user="nobody-here")], r"nobody-here@127\.0\.0\.1:2222: authentication failed"),
        ([ssh_server.machine(ssh_key_file=tmp_path / "missing_key")], r"sshKeyFile .*missing_key does not exist"),
        ([ssh_server.machine(), test_hosts[0].machine(python_path=str(no_nni))],
         r"nnitrial@10\.211\.1\.2:22: .*no-nni.*cannot import nni \(ModuleNotFoundError"),
        ([test_hosts[1].machine(python_path=str(old))],
         rf"nnitrial@10\.211\.2\.2:22: .* has nni 2\.10 but the manager runs {__version__}"),
        ([], r"machineList is empty"),
        ([ssh_server.machine(), ssh_server.machine()], r"listed twice"),
    ]
    for machines, pattern in cases:
        service, _ = _service(tmp_path, machines)
        with pytest.raises(TrainingServiceError, match=pattern):
            run(service.start(Collector()))
    # only the failing machine is named
    service, _ = _service(tmp_path, [ssh_server.machine(), test_hosts[0].machine(python_path=str(no_nni))])
    with pytest.raises(TrainingServiceError) as caught:
        run(service.start(Collector()))
    assert "127.0.0.1:2222" not in str(caught.value)


def test_preflight_names_what_the_trial_runner_cannot_import(tmp_path: Path, ssh_server: SshHost) -> None:
    """A compatible version that lacks the runner's helpers (a broken or partial install) is refused."""
    folder = shared_dir("remote-python-")
    site = folder / "site" / "nni"
    (site / "runtime").mkdir(parents=True)
    (site / "__init__.py").write_text(f"__version__ = {__version__!r}\n")
    (site / "runtime" / "__init__.py").write_text("")
    (site / "runtime" / "protocol.py").write_text("")
    executable(folder / "python3", f"#!/bin/sh\nPYTHONPATH={folder / 'site'} exec /usr/bin/python3 \"$@\"\n")
    os.system(f"chmod -R a+rX {folder}")
    service, _ = _service(tmp_path, [ssh_server.machine(python_path=str(folder))])
    with pytest.raises(TrainingServiceError, match=rf"127\.0\.0\.1:2222: .* has nni {__version__} but cannot "
                                                   r"import what the trial runner needs \(ModuleNotFoundError"):
        run(service.start(Collector()))


def test_version_compatibility_rule() -> None:
    assert compatible_versions("3.1.0", "3.1.7")
    assert not compatible_versions("3.1.0", "3.0")
    assert not compatible_versions("3.1.0", "2.10")


def test_gpus_of_each_machine_are_scheduled(tmp_path: Path, ssh_server: SshHost, test_hosts: list[SshHost]) -> None:
    """Each machine's own nvidia-smi decides; busy and full GPUs make trials wait, saying why.

    No GPU here: a fake ``nvidia-smi`` first on the remote PATH (the only faked part) reports two
    GPUs on one machine and one GPU, busy with a foreign process, on the other.
    """
    folder = shared_dir("remote-gpu-")
    busy_flag = folder / "busy"
    busy_flag.touch()
    for name, gpus, apps in [("two", "0, GPU-a, 0, 10, 16000\\n1, GPU-b, 0, 10, 16000\\n", ""),
                             ("one", "0, GPU-c, 90, 9000, 16000\\n", f"[ -f {busy_flag} ] && echo 'GPU-c, 1'")]:
        bin_dir = folder / name
        bin_dir.mkdir()
        executable(bin_dir / "nvidia-smi", "#!/bin/sh\ncase \"$1\" in\n"
                   f"  --query-gpu=*) printf '{gpus}' ;;\n  --query-compute-apps=*) {apps or 'true'} ;;\nesac\n")
        executable(bin_dir / "python3", f"#!/bin/sh\nexec {ssh_server.python_path}/python3 \"$@\"\n")
    os.system(f"chmod -R a+rX {folder}")
    code = write_code(tmp_path / "code")
    service, experiment_id = _service(tmp_path, [ssh_server.machine(python_path=str(folder / "two")),
                                                 test_hosts[0].machine(python_path=str(folder / "one"))])
    events = Collector()

    async def scenario() -> None:
        await service.start(events)
        ids = ["g0", "g1", "g2"]
        for trial_id in ids:
            await service.submit(spec(tmp_path, trial_id, code, {"x": 1, "sleep": 0.4}, gpu_number=1,
                                      experiment_id=experiment_id))
        await events.wait_for(lambda: bool(events.waiting("g2")))
        reasons = events.waiting("g2")[0]
        assert "127.0.0.1:2222: waiting for 1 GPU(s): GPU 0 full" in reasons and "GPU 1 full" in reasons
        assert "10.211.1.2:22: waiting for 1 GPU(s): GPU 0 busy (used by pid 1" in reasons
        await events.ended(*ids)
        # the foreign process ends: the single GPU of the second machine becomes usable
        busy_flag.unlink()
        more = ["g3", "g4", "g5"]
        for trial_id in more:
            await service.submit(spec(tmp_path, trial_id, code, {"x": 1, "sleep": 0.6}, gpu_number=1,
                                      experiment_id=experiment_id))
        await events.ended(*more)
        await service.submit(spec(tmp_path, "g6", code, gpu_number=3, experiment_id=experiment_id))
        end = (await events.ended("g6"))["g6"]
        assert "needs 3 GPU(s)" in end.reason and "10.211.1.2:22: 1" in end.reason
        await service.stop()

    run(scenario())
    placed = {t: (events.start(t).host, events.start(t).gpus, _stdout_json(tmp_path, t)["env"]["CUDA_VISIBLE_DEVICES"])
              for t in ["g0", "g1", "g2", "g3", "g4", "g5"]}
    assert all(cuda == ",".join(map(str, gpus)) for _, gpus, cuda in placed.values())
    assert {gpus for host, gpus, _ in placed.values() if host == "127.0.0.1"} == {(0,), (1,)}
    assert all(host == "127.0.0.1" for host, _, _ in (placed[t] for t in ["g0", "g1", "g2"]))
    assert ("10.211.1.2", (0,), "0") in [placed[t] for t in ["g3", "g4", "g5"]]


def _sshd_sessions(parent_pid: int) -> list[int]:
    """The per-connection sshd processes of the sshd listening as ``parent_pid``."""
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(parent_pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def test_a_dropped_connection_is_reconnected_and_the_trial_followed(tmp_path: Path, ssh_server: SshHost) -> None:
    """The trial keeps running while the connection is down; nothing is lost or repeated."""
    code = write_code(tmp_path / "code")
    service, experiment_id = _service(tmp_path, [ssh_server.machine()], keepalive_seconds=1, reconnect_seconds=20)
    events = Collector()
    sshd_pid = int((ssh_server.key.parent / "sshd.pid").read_text())

    async def scenario() -> None:
        await service.start(events)
        await service.submit(spec(tmp_path, "f", code, {"x": 2, "steps": 12, "sleep": 0.25}, experiment_id=experiment_id))
        await events.metrics_count("f", 2)
        for pid in _sshd_sessions(sshd_pid):
            os.kill(pid, signal.SIGKILL)
        end = (await events.ended("f"))["f"]
        assert end.exit_code == 0, end
        await service.stop()

    run(scenario())
    metrics = events.metrics("f")
    assert [m["sequence"] for m in metrics if m["type"] == "PERIODICAL"] == list(range(12))
    assert len([m for m in metrics if m["type"] == "FINAL"]) == 1
    assert (tmp_path / "trials" / "f" / "stdout").read_text().count("NNI_TRIAL_JOB_ID") == 1


def test_a_machine_lost_mid_trial_fails_its_trial_and_the_rest_continue(
        tmp_path: Path, ssh_server: SshHost, test_hosts: list[SshHost]) -> None:
    code = write_code(tmp_path / "code", SLEEPER)
    fast = write_code(tmp_path / "fast")
    host = test_hosts[0]
    service, experiment_id = _service(tmp_path, [ssh_server.machine(), host.machine()],
                                      keepalive_seconds=1, reconnect_seconds=2)
    events = Collector()

    async def scenario() -> int:
        await service.start(events)
        await service.submit(spec(tmp_path, "on-local", code, experiment_id=experiment_id))
        await service.submit(spec(tmp_path, "on-lost", code, experiment_id=experiment_id))
        starts = {t: await events.started(t) for t in ("on-local", "on-lost")}
        assert starts["on-lost"].host == host.host
        service_script("testhost.sh", "cut", "1")
        try:
            end = (await events.ended("on-lost", timeout=40))["on-lost"]
            assert end.exit_code is None and not end.killed
            assert "lost nnitrial@10.211.1.2:22" in end.reason and "could not reconnect within 2s" in end.reason
            # new trials go to the machine that still answers
            for i in range(3):
                await service.submit(spec(tmp_path, f"after{i}", fast, {"x": i}, experiment_id=experiment_id))
            ends = await events.ended("after0", "after1", "after2")
            assert all(e.exit_code == 0 for e in ends.values())
            assert {events.start(f"after{i}").host for i in range(3)} == {"127.0.0.1"}
            assert service.describe()["machines"][1]["state"] == "down"
            assert events.end("on-local") is None
        finally:
            service_script("testhost.sh", "restore", "1")
        # once the machine answers again, the trial given up on is ended there too
        lost_pgid = starts["on-lost"].handle["pgid"]
        deadline = time.monotonic() + 30
        while group_alive(lost_pgid) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        assert not group_alive(lost_pgid)
        assert service.describe()["machines"][1]["state"] == "up"
        await service.stop()
        return starts["on-local"].handle["pgid"]

    pgid = run(scenario(), timeout=150)
    assert events.end("on-local").killed
    assert wait_group_gone(pgid)


def test_a_new_manager_adopts_trials_left_running(tmp_path: Path, ssh_server: SshHost) -> None:
    """The manager dies (its connections drop): the trial runs on; a new one follows it to the end."""
    code = write_code(tmp_path / "code")
    first, experiment_id = _service(tmp_path, [ssh_server.machine()])
    events = Collector()
    trial = spec(tmp_path, "kept", code, {"x": 1, "steps": 10, "sleep": 0.2}, experiment_id=experiment_id)

    async def start_then_crash() -> dict:
        await first.start(events)
        await first.submit(trial)
        started = await events.started("kept")
        await events.metrics_count("kept", 2)
        first.stopping = True  # as if the process died: no kill, the connections just go away
        for machine in first.machines:
            await machine.close()
        return started.handle

    handle = run(start_then_crash())
    assert group_alive(handle["pgid"])
    second = RemoteTrainingService(RemoteConfig(machine_list=[ssh_server.machine()]), experiment_id, tmp_path)
    later = Collector()

    async def adopt() -> None:
        await second.start(later)
        assert await second.adopt(trial, handle)
        assert (await later.ended("kept"))["kept"].exit_code == 0
        gone = spec(tmp_path, "gone", code, experiment_id=experiment_id)
        assert not await second.adopt(gone, {**handle, "dir": handle["dir"].replace("kept", "gone"), "pgid": None})
        assert not await second.adopt(gone, {**handle, "host": "10.9.9.9"})
        await second.stop()

    run(adopt())
    assert [m["sequence"] for m in later.metrics("kept") if m["type"] == "PERIODICAL"] == list(range(10))
    local = tmp_path / "trials" / "kept"
    assert len((local / ".nni" / "metrics").read_text().splitlines()) == 11  # copied once, not twice
    assert (local / "stdout").read_text().count("NNI_TRIAL_JOB_ID") == 1
