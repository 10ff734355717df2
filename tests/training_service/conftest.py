"""Real servers and clusters for the training-service tests, started once per session.

The fixtures call ``scripts/services/*.sh`` (OpenSSH on 127.0.0.1:2222, test hosts in network
namespaces, a 2-node Ray cluster in a loopback-only namespace, single-node Slurm). They need root
and the packages of ``scripts/services/install.sh``. When a service cannot be started its tests
skip saying what to install, except with ``CI=true``, where they fail.
"""

from __future__ import annotations

import getpass
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from service_helpers import (
    BASE,
    REMOTE_PYTHON_BIN,
    SSH_USER,
    SshHost,
    network_namespace,
    service_script,
    start_service,
    unavailable,
)


@pytest.fixture(scope="session")
def ssh_server() -> Iterator[SshHost]:
    """OpenSSH on 127.0.0.1:2222 for the non-root user nnitrial."""
    if not Path("/usr/sbin/sshd").exists():
        unavailable("OpenSSH server", "/usr/sbin/sshd is missing")
    start_service("OpenSSH server", "sshd.sh", "start")
    yield SshHost("127.0.0.1", 2222, SSH_USER, BASE / "ssh" / "client_ed25519", REMOTE_PYTHON_BIN)
    service_script("sshd.sh", "stop", check=False)
    shutil.rmtree(Path(tempfile.gettempdir()) / f"nni-remote-{SSH_USER}", ignore_errors=True)


@pytest.fixture(scope="session")
def test_hosts(ssh_server: SshHost) -> Iterator[list[SshHost]]:
    """Two more machines, 10.211.1.2 and 10.211.2.2, each in its own network namespace."""
    for n in (1, 2):
        start_service(f"test host {n}", "testhost.sh", "up", str(n))
    yield [SshHost(f"10.211.{n}.2", 22, SSH_USER, ssh_server.key, ssh_server.python_path) for n in (1, 2)]
    for n in (1, 2):
        service_script("testhost.sh", "down", str(n), check=False)


# -- Slurm ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[Path]:
    """Single-node Slurm; SLURM_CONF points the clients at it."""
    if shutil.which("slurmctld") is None:
        unavailable("Slurm", "slurmctld is missing (apt-get install slurm-wlm munge)")
    start_service("Slurm", "slurm.sh", "start")
    conf = BASE / "slurm" / "slurm.conf"
    previous = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(conf)
    yield conf
    if previous is None:
        os.environ.pop("SLURM_CONF", None)
    else:
        os.environ["SLURM_CONF"] = previous
    service_script("slurm.sh", "stop", check=False)


# -- Ray -----------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[str]:
    """A 2-node Ray cluster (the second node has resource ``node_b``) on 127.0.0.1 of namespace nni-ray."""
    try:
        import ray  # noqa: F401
    except ImportError:
        unavailable("Ray", "ray is not installed in this Python (pip install 'ray[default]')")
    start_service("Ray cluster", "ray.sh", "start", timeout=300)
    yield "127.0.0.1:6379"
    service_script("ray.sh", "stop", check=False, timeout=120)
    shutil.rmtree(Path(tempfile.gettempdir()) / f"nni-ray-{getpass.getuser()}", ignore_errors=True)


@pytest.fixture
def in_ray_netns(ray_cluster: str) -> Iterator[str]:
    """The test runs inside the Ray cluster's namespace, where 127.0.0.1:6379 is the head."""
    with network_namespace("nni-ray"):
        yield ray_cluster
