"""What runs on the Ray node where a trial was placed.

A trial runs as a :mod:`._trial_runner` child process (from a folder holding only it and the two
modules it imports, isolated from site-packages so that it starts like a bare interpreter), started
either by the node's :class:`TrialAgent` (trials without GPUs) or by a Ray task of its own
(:func:`run_trial`, trials with GPUs). Both yield the runner's messages back to the driver (a Ray
streaming generator), so metrics and output come back through Ray. A cancelled call
(``ray.cancel``) asks the runner to kill the trial's process group; a worker killed outright closes
the runner's stdin, which kills the trial's process group too.
"""

from __future__ import annotations

import asyncio
import functools
import getpass
import hashlib
import io
import json
import os
import select
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

__all__ = ["TrialAgent", "run_trial"]

_PACKAGE = Path(__file__).resolve().parents[1]
_RUNNER_FILES = {
    "nni_trial_runner.py": "training_service/_trial_runner.py",
    "nni/__init__.py": None,
    "nni/runtime/__init__.py": None,
    "nni/runtime/protocol.py": "runtime/protocol.py",
    "nni/training_service/__init__.py": None,
    "nni/training_service/_process.py": "training_service/_process.py",
}
"""The runner and the two standard-library modules it imports (None: an empty package file), as a
folder of their own. ``python -E -s -S`` (no PYTHON* variables, no site-packages) starts it like a
bare interpreter: about 25 ms of CPU instead of about 95 ms importing nni's packages and the
site-packages, which a node pays for every trial."""
_READ_SECONDS = 0.2
"""A blocking read would hold off the KeyboardInterrupt by which Ray cancels a task."""
_LINE_LIMIT = 8 << 20
"""Longest runner message the agent reads: an output chunk (64 KiB) JSON-escaped, with room."""
_KILL = b'{"kill": true}\n'


@functools.cache
def _runner_files() -> tuple[dict[str, bytes], str]:
    """The bundle's files by relative name, and a digest of them all (read once per worker)."""
    files = {name: b"" if source is None else (_PACKAGE / source).read_bytes()
             for name, source in _RUNNER_FILES.items()}
    digest = hashlib.sha256(b"\0".join(name.encode() + b"\0" + data for name, data in files.items())).hexdigest()
    return files, digest


def _runner_script(base: str) -> str:
    """The runner script in a folder with the modules it needs (empty package files for the rest),
    named by content so concurrent tasks and versions never clash."""
    files, digest = _runner_files()
    folder = os.path.join(base, f"nni-trial-runner-{digest[:12]}")
    if not os.path.isdir(folder):
        os.makedirs(base, exist_ok=True)
        part = tempfile.mkdtemp(prefix="runner-part-", dir=base)
        for name, data in files.items():
            os.makedirs(os.path.join(part, os.path.dirname(name)), exist_ok=True)
            with open(os.path.join(part, name), "wb") as f:
                f.write(data)
        try:
            os.rename(part, folder)
        except OSError:  # another task on this node made it first
            shutil.rmtree(part, ignore_errors=True)
    return os.path.join(folder, "nni_trial_runner.py")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def _code_dir(code: dict[str, Any], experiment_base: str) -> str:
    """Where the trial's code is on this node, unpacking the shipped archive once per node."""
    if code["mode"] == "working_dir":
        return os.getcwd()  # Ray fetched runtimeEnv.working_dir and runs the task in it
    if code["mode"] == "in_place":
        return code["path"]
    import ray

    target = os.path.join(experiment_base, f"code-{code['digest'][:16]}")
    if not os.path.isdir(target):
        os.makedirs(experiment_base, exist_ok=True)
        part = tempfile.mkdtemp(prefix="code-part-", dir=experiment_base)
        with tarfile.open(fileobj=io.BytesIO(ray.get(code["ref"])), mode="r:gz") as archive:
            archive.extractall(part, filter="data") if hasattr(tarfile, "data_filter") else archive.extractall(part)
        try:
            os.rename(part, target)
        except OSError:  # another task on this node unpacked it first
            shutil.rmtree(part, ignore_errors=True)
    return target


def _prepare(request: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Make the trial's folder and code on this node: the "node" message, the runner's launch
    request and the base folder of this node's trial folders."""
    import ray

    context = ray.get_runtime_context()
    gpus = [str(g) for g in ray.get_gpu_ids()]
    base = request.get("work_root") or os.path.join(tempfile.gettempdir(), f"nni-ray-{_user()}")
    trial_dir = os.path.join(base, request["experiment_id"], "trials", request["trial_id"])
    if os.path.isdir(trial_dir):  # an earlier run of this trial on this node (re-run after a resume)
        shutil.rmtree(trial_dir, ignore_errors=True)
    os.makedirs(trial_dir, exist_ok=True)
    code_dir = _code_dir(request["code"], os.path.join(base, request["experiment_id"]))
    env = dict(request["env"])
    env.update({"NNI_SYS_DIR": trial_dir, "NNI_OUTPUT_DIR": trial_dir, "NNI_CODE_DIR": code_dir,
                "CUDA_VISIBLE_DEVICES": ",".join(gpus)})
    # The worker's Python (which has Ray and nni) comes first, so `python3 trial.py` finds them.
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    node = {"ev": "node", "node_id": context.get_node_id(), "ip": ray.util.get_node_ip_address(),
            "gpus": gpus, "sys_dir": trial_dir}
    launch = {"launch": {"trial_dir": trial_dir, "code_dir": code_dir, "command": request["command"], "env": env,
                         "parameter_record": request["parameter_record"], "detach": False,
                         "kill_grace": request.get("kill_grace", 3.0)}}
    return node, launch, base


def _runner_command(base: str) -> list[str]:
    return [sys.executable, "-E", "-s", "-S", _runner_script(base)]


def _runner_gone(status: int) -> dict[str, Any]:
    return {"ev": "error", "message": f"the trial runner ended unexpectedly (status {status})"}


def _kill_wait(request: dict[str, Any]) -> float:
    """How long a killed runner gets to end the trial's process group: its grace, and room."""
    return float(request.get("kill_grace", 3.0)) + 2


def _message(line: bytes) -> tuple[dict[str, Any], bool]:
    """A runner's message, and whether it is its last."""
    message = json.loads(line)
    return message, message.get("ev") in ("exit", "error")


def run_trial(request: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The Ray task of a trial with GPUs: run its command here and yield the runner's messages
    until it exits (a task of its own, so that Ray picks the devices and sets
    ``ray.get_gpu_ids()``)."""
    node, launch, base = _prepare(request)
    yield node
    runner = subprocess.Popen(_runner_command(base), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert runner.stdin is not None and runner.stdout is not None
    runner.stdin.write((json.dumps(launch) + "\n").encode())
    runner.stdin.flush()
    fd = runner.stdout.fileno()
    pending = b""
    try:
        while True:
            ready, _, _ = select.select([fd], [], [], _READ_SECONDS)
            if not ready:
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                yield _runner_gone(runner.wait())
                return
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                message, last = _message(line)
                yield message
                if last:
                    return
    except BaseException:
        # Cancelled (KeyboardInterrupt / TaskCancelledError): end the trial's process group first.
        try:
            runner.stdin.write(_KILL)
            runner.stdin.flush()
            deadline = time.monotonic() + _kill_wait(request)
            while runner.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
        except OSError:
            pass  # the runner is gone already: closing its stdin below is all that is left
        raise
    finally:
        if runner.poll() is None:
            runner.stdin.close()  # the runner kills the trial's group when its stdin closes
            try:
                runner.wait(10)
            except subprocess.TimeoutExpired:
                runner.kill()


class TrialAgent:
    """One long-lived Ray actor per node (asking for no resources) that runs the trials without
    GPUs placed there, each as a trial runner child of its own.

    A Ray task per trial holds a Ray worker process per running trial (about 90 MiB and a second of
    CPU to start), which hundreds of concurrent fractional-CPU trials cannot afford; the trial's
    resources are held by its placement group instead (see :mod:`.ray`). Cancelling a call
    (``ray.cancel``) kills the trial's process group; the agent's death closes the runners'
    stdin, which does the same.
    """

    async def run(self, request: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """Run one trial here and yield the runner's messages until it exits."""
        node, launch, base = await asyncio.to_thread(_prepare, request)
        yield node
        runner = await asyncio.create_subprocess_exec(*_runner_command(base), stdin=subprocess.PIPE,
                                                      stdout=subprocess.PIPE, limit=_LINE_LIMIT)
        assert runner.stdin is not None and runner.stdout is not None
        runner.stdin.write((json.dumps(launch) + "\n").encode())
        try:
            while True:
                line = await runner.stdout.readline()
                if not line:
                    yield _runner_gone(await runner.wait())
                    return
                message, last = _message(line)
                yield message
                if last:
                    return
        except BaseException:
            # Cancelled: end the trial's process group before the call ends.
            try:
                runner.stdin.write(_KILL)
                await asyncio.wait_for(runner.wait(), _kill_wait(request))
            except (OSError, asyncio.TimeoutError):
                pass  # gone already, or slow: closing its stdin below is what is left
            raise
        finally:
            if runner.returncode is None:
                runner.stdin.close()  # the runner kills the trial's group when its stdin closes
                try:
                    await asyncio.wait_for(runner.wait(), 10)
                except asyncio.TimeoutError:
                    runner.kill()
