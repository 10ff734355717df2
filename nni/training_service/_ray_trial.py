"""What runs inside the Ray task of one trial, on whichever node Ray chose.

The task starts :mod:`._trial_runner` as a child process (from a folder holding only it and the two
modules it imports, isolated from site-packages so that it starts like a bare interpreter) and
yields its messages back to the driver (a Ray streaming generator), so metrics and output come back
through Ray. A cancelled task (``ray.cancel``) asks the runner to kill the trial's process group; a
worker killed outright closes the runner's stdin, which kills the trial's process group too.
"""

from __future__ import annotations

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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["run_trial"]

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


def run_trial(request: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The Ray task: run one trial command here and yield the runner's messages until it exits."""
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
    yield {"ev": "node", "node_id": context.get_node_id(), "ip": ray.util.get_node_ip_address(),
           "gpus": gpus, "sys_dir": trial_dir}
    launch = {"launch": {"trial_dir": trial_dir, "code_dir": code_dir, "command": request["command"], "env": env,
                         "parameter_record": request["parameter_record"], "detach": False,
                         "kill_grace": request.get("kill_grace", 3.0)}}
    runner = subprocess.Popen([sys.executable, "-E", "-s", "-S", _runner_script(base)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE)
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
                yield {"ev": "error", "message": f"the trial runner ended unexpectedly (status {runner.wait()})"}
                return
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                message = json.loads(line)
                yield message
                if message.get("ev") in ("exit", "error"):
                    return
    except BaseException:
        # Cancelled (KeyboardInterrupt / TaskCancelledError): end the trial's process group first.
        try:
            runner.stdin.write(b'{"kill": true}\n')
            runner.stdin.flush()
            deadline = time.monotonic() + float(request.get("kill_grace", 3.0)) + 2
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
