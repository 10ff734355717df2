"""Process facts every training service shares: the exit-status wrapper, exit words, liveness.

Standard library only: :mod:`._trial_runner` imports it on the machine that runs the trial, where
only an installed nni of a compatible version (:func:`compatible_versions`) can be assumed.
"""

from __future__ import annotations

import os
import shlex
import signal
from pathlib import Path

from ..runtime.protocol import EXIT_CODE_FILE

__all__ = [
    "compatible_versions", "describe_exit", "exit_reason", "exit_wrapper", "process_alive", "read_exit_code",
    "read_int", "signal_group",
]


_SIGNAL_NUMBERS = {s.value for s in signal.Signals}


def compatible_versions(local: str, remote: str) -> bool:
    """Same major.minor: the trial file protocol only changes between minor versions."""
    return local.split(".")[:2] == remote.split(".")[:2]


def describe_exit(code: int | None) -> str:
    """Words for an exit status, naming the signal when there was one."""
    if code is None:
        return "the trial process was lost"
    signum = -code if code < 0 else code - 128 if code > 128 else None
    if signum is not None and signum in _SIGNAL_NUMBERS:
        return f"killed by signal {signal.Signals(signum).name} (exit status {code})"
    if code == 127:
        return "command not found (exit status 127)"
    if code == 126:
        return "command not executable (exit status 126)"
    return f"exit status {code}"


def exit_reason(code: int) -> str | None:
    """Why a trial that exited with ``code`` ended abnormally; None for a success."""
    return None if code == 0 else describe_exit(code)


def exit_wrapper(command: str, exit_file: str | os.PathLike[str]) -> str:
    """The trial command as a sh script that leaves its exit status in ``exit_file``.

    The file lets whoever looks later (a restarted manager, a new follower, Slurm's poller) learn
    how a trial ended that nobody waited for.
    """
    quoted = shlex.quote(str(exit_file))
    return f"{command}\n__nni_status=$?\necho $__nni_status > {quoted}\nexit $__nni_status\n"


def read_int(path: str | os.PathLike[str]) -> int | None:
    """The integer a small state file holds; None when it is missing or torn."""
    try:
        return int(Path(path).read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None


def read_exit_code(trial_dir: str | os.PathLike[str]) -> int | None:
    """The status :func:`exit_wrapper` left in a trial folder; None while the command runs."""
    return read_int(Path(trial_dir) / EXIT_CODE_FILE)


def process_alive(pid: int, *, group: bool = False) -> bool:
    """Whether process ``pid`` (or, with ``group``, any process of group ``pid``) still runs.

    A process of another user counts as alive: it exists, we just may not signal it. A zombie (ended,
    not yet reaped by its parent) does not; a group lives while any of its processes does. Zombies
    matter for groups most: a trial's orphaned children are reaped by pid 1, which may be slow.
    """
    if pid <= 0:  # 0 and negatives would name our own group or all processes
        return False
    try:
        if group:
            os.killpg(pid, 0)
        else:
            os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    state = _proc_state(pid)
    if not group:
        return state != "Z"
    if state not in (None, "Z"):
        return True  # the leader runs
    # the leader is a zombie or gone: the group lives while another member runs (no /proc: killpg's word)
    return _group_runs(pid) if _PROC.is_dir() else True


_PROC = Path("/proc")


def _stat_fields(pid: int | str) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` from the state on; None when the process is gone (or no /proc)."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    # the fields follow the command name, which is in parentheses and may hold any character
    return stat.rpartition(")")[2].split()


def _proc_state(pid: int) -> str | None:
    """The process's state letter ('Z' for a zombie); None when it is gone or there is no /proc."""
    fields = _stat_fields(pid)
    return fields[0] if fields else None


def _group_runs(pgid: int) -> bool:
    """Whether any process of group ``pgid`` other than a zombie exists (its leader being gone)."""
    wanted = str(pgid)
    for entry in os.scandir(_PROC):
        if entry.name.isdigit():
            fields = _stat_fields(entry.name)
            if fields is not None and len(fields) > 2 and fields[2] == wanted and fields[0] != "Z":
                return True
    return False


def signal_group(pgid: int, signum: int) -> None:
    """Send ``signum`` to a process group; one that is gone (or not ours) is left alone."""
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass
