"""nnictl create / resume / view / stop: starting and ending experiment managers."""

from __future__ import annotations

import argparse
import secrets
import signal
import string
import subprocess
from pathlib import Path

from ...config import ExperimentConfig
from ...engine.view import load_stored_profile
from ...errors import ConfigError
from ...experiment.detach import manager_alive, spawn_manager, start_manager, stop_experiment
from ...experiment.launcher import experiment_dir_of, find_experiment_dir
from ...storage.manifest import read_manifest
from ...storage.sqlite import database_dir
from .common import console, effective_status, entry_of, fail, running_ids
from .trials import add_warm_starts

__all__ = ["create", "resume", "view", "stop"]

_ID_CHARS = string.ascii_lowercase + string.digits


def _new_id(config: ExperimentConfig) -> str:
    known = read_manifest()
    while True:
        candidate = "".join(secrets.choice(_ID_CHARS) for _ in range(8))
        if candidate not in known and not experiment_dir_of(config, candidate).exists():
            return candidate


def _url(host: str, port: int, url_prefix: str, token: str | None) -> str:
    shown = "localhost" if host in ("127.0.0.1", "localhost", "::1") else host
    prefix = "/" + url_prefix.strip("/") if url_prefix.strip("/") else ""
    return f"http://{shown}:{port}{prefix}/" + (f"?token={token}" if token else "")


def _launch(experiment_id: str, config: ExperimentConfig | None, args: argparse.Namespace, mode: str,
            experiment_dir: Path) -> int:
    host = getattr(args, "host", None) or "127.0.0.1"
    url_prefix = getattr(args, "url_prefix", None) or ""
    if getattr(args, "foreground", False):
        try:
            manager = spawn_manager(experiment_id, config, args.port, host, url_prefix, args.debug, mode,
                                    experiment_dir, foreground=True)
            manager.wait_until_serving()
        except RuntimeError as error:
            fail(str(error))
        _announce(experiment_id, mode, _url(host, manager.port, url_prefix, manager.token))
        try:
            return manager.process.wait()
        except KeyboardInterrupt:
            # A terminal's Ctrl-C reaches the manager too; a signal sent to nnictl alone is passed on.
            manager.process.send_signal(signal.SIGINT)
            try:
                return manager.process.wait(60)
            except subprocess.TimeoutExpired:
                manager.process.kill()
                return 1
    try:
        client = start_manager(experiment_id, config, args.port, host, url_prefix, args.debug, mode, experiment_dir)
    except RuntimeError as error:
        fail(str(error))
    _announce(experiment_id, mode, _url(host, client.port, url_prefix, client.token))
    return 0


def _announce(experiment_id: str, mode: str, url: str) -> None:
    verb = {"create": "started", "resume": "resumed", "view": "opened read-only"}[mode]
    console.print(f"Experiment {experiment_id} {verb}.")
    console.print(f"Experiment ID: {experiment_id}")
    console.print(f"Web portal URLs: {url}")
    if mode != "view":
        console.print(f"Stop it with: nnictl stop {experiment_id}")
    else:
        console.print(f"Close the view with: nnictl stop {experiment_id}")


def create(args: argparse.Namespace) -> int:
    try:
        config = ExperimentConfig.load(args.config)
        config.validate()
    except ConfigError as error:
        fail(str(error))
    add_warm_starts(config, getattr(args, "warm_start", None))
    experiment_id = args.id or _new_id(config)
    if args.id and (args.id in read_manifest() or experiment_dir_of(config, args.id).exists()):
        fail(f"experiment {args.id} already exists; resume it with: nnictl resume {args.id}")
    return _launch(experiment_id, config, args, "create", experiment_dir_of(config, experiment_id))


def _stored_dir(experiment_id: str, given: str | None) -> Path:
    directory = Path(given).expanduser().resolve() / experiment_id if given else find_experiment_dir(experiment_id)
    # Reading the profile here reports a corrupted or foreign database before anything starts.
    if not database_dir(directory).is_dir() or load_stored_profile(directory) is None:
        fail(f"experiment {experiment_id} not found: no database in {directory / 'db'}"
             + ("" if given else " (give --experiment_dir when it lives elsewhere)"))
    return directory


def _where(experiment_id: str) -> str:
    entry = read_manifest().get(experiment_id, {})
    return f"pid {entry.get('pid')}, port {entry.get('port')}"


def resume(args: argparse.Namespace) -> int:
    directory = _stored_dir(args.id, args.experiment_dir)
    if manager_alive(args.id):
        fail(f"experiment {args.id} is already running ({_where(args.id)}); stop it first: nnictl stop {args.id}")
    return _launch(args.id, None, args, "resume", directory)


def view(args: argparse.Namespace) -> int:
    directory = _stored_dir(args.id, args.experiment_dir)
    if manager_alive(args.id):
        fail(f"experiment {args.id} is running ({_where(args.id)}); "
             "view opens stopped experiments (stop it first, or open its web portal)")
    return _launch(args.id, None, args, "view", directory)


def stop(args: argparse.Namespace) -> int:
    manifest = read_manifest()
    if args.all:
        ids = [i for i, e in manifest.items() if manager_alive(i, e) or effective_status(e) == "CRASHED"]
    elif args.id:
        entry_of(args.id)
        ids = [args.id]
    elif args.port is not None:
        ids = [i for i in running_ids() if manifest[i].get("port") == args.port]
        if not ids:
            fail(f"no running experiment on port {args.port}")
    else:
        ids = running_ids()
        if len(ids) > 1:
            fail(f"{len(ids)} experiments are running ({', '.join(sorted(ids))}); give an id, or use --all")
        if not ids:
            fail("no experiment is running")
    if not ids:
        console.print("No experiment to stop.")
    for experiment_id in ids:
        what = stop_experiment(experiment_id)
        console.print(f"Experiment {experiment_id} {what}.", soft_wrap=True)
    return 0
