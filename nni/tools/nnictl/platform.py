"""``nnictl platform clean --config FILE``: remove the folders experiments left on a platform's machines.

For ``remote`` that is each machine's working folder (``workingDirectory``, by default
``${TMPDIR:-/tmp}/nni-remote-<user>``), removed over SSH after a confirmation, as NNI does; the
local platform keeps everything in the experiment folder, so there is nothing to clean.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
from pathlib import Path

from ...config import ExperimentConfig, RemoteConfig, RemoteMachineConfig
from ...errors import ConfigError
from .common import console, fail

__all__ = ["platform_clean"]

_DEFAULT_ROOT = '"${TMPDIR:-/tmp}/nni-remote-$(id -un)"'
_CONNECT_TIMEOUT = 15


def _root_expression(machine: RemoteMachineConfig) -> str:
    root = machine.working_directory
    if root is None:
        return _DEFAULT_ROOT
    if root == "~" or root.startswith("~/"):
        return '"$HOME"' + shlex.quote(root[1:]) if root != "~" else '"$HOME"'
    return shlex.quote(root)


def _shown_root(machine: RemoteMachineConfig) -> str:
    return machine.working_directory or f"${{TMPDIR:-/tmp}}/nni-remote-{machine.user}"


async def _clean_machine(machine: RemoteMachineConfig) -> str | None:
    """Remove the machine's working folder; the problem, or None when it is gone."""
    try:
        import asyncssh
    except ImportError:
        return "the asyncssh package is missing: pip install asyncssh"
    options: dict[str, object] = {"host": machine.host, "port": machine.port, "username": machine.user,
                                  "connect_timeout": _CONNECT_TIMEOUT}
    if machine.password is not None:
        options["password"] = machine.password
    key = Path(machine.ssh_key_file).expanduser() if machine.ssh_key_file is not None else None
    if key is not None and key.is_file():
        options["client_keys"] = [str(key)]
        options["passphrase"] = machine.ssh_passphrase
    try:
        async with asyncssh.connect(**options) as connection:
            result = await connection.run(f"rm -rf -- {_root_expression(machine)}", check=False)
    except (OSError, asyncssh.Error, asyncio.TimeoutError) as error:
        return f"cannot connect: {error or type(error).__name__}"
    if result.exit_status != 0:
        return f"rm failed: {str(result.stderr).strip()[-300:]}"
    return None


def _confirmed() -> bool:
    """NNI's question; anything but y/yes (or no answer at all) keeps the folders."""
    sys.stdout.write("This removes the folders above; experiments running on these machines will break.\n"
                     "Do you want to continue? [y/N]: ")
    sys.stdout.flush()
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")


def platform_clean(args: argparse.Namespace) -> int:
    path = Path(args.config).expanduser()
    try:
        config = ExperimentConfig.load(path)
    except ConfigError as error:
        fail(str(error))
    services = config.training_service if isinstance(config.training_service, list) else [config.training_service]
    remotes = [s for s in services if isinstance(s, RemoteConfig)]
    others = sorted({s.platform for s in services if s is not None and not isinstance(s, RemoteConfig)})
    for platform in others:
        if platform == "local":
            console.print("The local platform needs no cleaning: everything lives in the experiment's folder "
                          "(nnictl experiment delete removes it).")
        else:
            console.print(f"Platform {platform}: nnictl does not clean it; its trial folders are under its "
                          "workingDirectory on each node (see docs/training_services/).")
    machines = [m for s in remotes for m in s.machine_list]
    if not machines:
        if remotes:
            console.print("No machine in machineList: nothing to clean.")
        return 0
    console.print("These folders of NNI's remote trials will be removed:")
    for machine in machines:
        console.print(f"  {machine.user}@{machine.host}:{machine.port}  {_shown_root(machine)}", soft_wrap=True)
    if not _confirmed():
        console.print("Nothing removed.")
        return 0
    problems = asyncio.run(_clean_all(machines))
    for machine, problem in zip(machines, problems, strict=True):
        label = f"{machine.user}@{machine.host}:{machine.port}"
        console.print(f"  {label}: " + (problem or "removed"), soft_wrap=True)
    if any(problems):
        fail(f"{sum(1 for p in problems if p)} of {len(machines)} machine(s) could not be cleaned (see above)")
    console.print("Done.")
    return 0


async def _clean_all(machines: list[RemoteMachineConfig]) -> list[str | None]:
    return list(await asyncio.gather(*(_clean_machine(m) for m in machines)))
