"""What every nnictl command shares: finding the experiment, talking to it, printing, failing."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NoReturn

from rich.console import Console
from rich.table import Table

from ...experiment.detach import manager_alive
from ...experiment.rest_client import RestClient, RestError
from ...storage.manifest import read_manifest

__all__ = ["CliError", "console", "err_console", "fail", "running_ids", "resolve_id", "client_for",
           "entry_of", "effective_status", "table", "print_json", "rest_call", "experiment_dir"]

# Piped output (scripts, CI logs) gets a wide table rather than rich's 80-column default.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


class CliError(Exception):
    """A failure the user can act on: printed as ``Error: ...`` and exit status 1."""


def fail(message: str) -> NoReturn:
    raise CliError(message)


def entry_of(experiment_id: str) -> dict[str, Any]:
    entry = read_manifest().get(experiment_id)
    if entry is None:
        known = ", ".join(sorted(read_manifest())) or "none"
        fail(f"no experiment with id {experiment_id!r} (known experiments: {known})")
    return entry


def effective_status(entry: dict[str, Any]) -> str:
    """The manifest's status, or CRASHED when it says running but the manager is gone."""
    status = entry.get("status") or "UNKNOWN"
    if status in ("INITIALIZED", "RUNNING", "STOPPING", "NO_MORE_TRIAL", "TUNER_NO_MORE_TRIAL") \
            and not manager_alive(entry["id"], entry):
        return "CRASHED"
    if status in ("DONE", "ERROR", "VIEWED") and entry.get("pid") and not manager_alive(entry["id"], entry):
        return "STOPPED" if status == "VIEWED" else status
    return status


def running_ids() -> list[str]:
    return [i for i, e in read_manifest().items() if manager_alive(i, e)]


def resolve_id(experiment_id: str | None, port: int | None = None, need_running: bool = True) -> str:
    """The experiment a command is about: the id given, the one on ``port``, or the only running one."""
    if experiment_id:
        entry_of(experiment_id)
        if need_running and not manager_alive(experiment_id):
            fail(f"experiment {experiment_id} is not running (status {effective_status(entry_of(experiment_id))}); "
                 f"start it with: nnictl resume {experiment_id}  (or nnictl view {experiment_id})")
        return experiment_id
    running = running_ids()
    if port is not None:
        matches = [i for i in running if read_manifest()[i].get("port") == port]
        if not matches:
            fail(f"no running experiment on port {port}")
        return matches[0]
    if len(running) == 1:
        return running[0]
    if not running:
        fail("no experiment is running; give an experiment id (see: nnictl experiment list --all)")
    fail(f"{len(running)} experiments are running ({', '.join(sorted(running))}); give the id of one")


def client_for(experiment_id: str) -> RestClient:
    entry = entry_of(experiment_id)
    host = entry.get("host") or "127.0.0.1"
    host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    return RestClient(int(entry.get("port") or 8080), host, entry.get("urlPrefix") or "", entry.get("token"))


def rest_call(experiment_id: str, method: str, path: str, body: Any = None) -> Any:
    """One REST call to the experiment's manager, with its errors turned into CLI errors."""
    try:
        return client_for(experiment_id).request(method, path, body)
    except RestError as error:
        fail(f"experiment {experiment_id}: {error}")
    except OSError as error:
        fail(f"experiment {experiment_id}: cannot reach its manager: {error}")


def experiment_dir(experiment_id: str) -> Path:
    from ...experiment.launcher import find_experiment_dir

    return find_experiment_dir(experiment_id)


def table(title: str | None, columns: list[str], rows: list[list[Any]]) -> None:
    view = Table(title=title, show_lines=False, header_style="bold")
    for column in columns:
        view.add_column(column, overflow="fold")
    for row in rows:
        view.add_row(*(_cell(v) for v in row))
    console.print(view)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")
    sys.stdout.flush()
