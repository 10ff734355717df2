"""nnictl view --all and experiment export of several experiments: the experiments folder as one."""

from __future__ import annotations

import argparse
import secrets
import socket
from pathlib import Path

import uvicorn

from ...analysis import export_text
from ...server.app import create_workspace_app
from ...storage.manifest import read_manifest
from . import commands, launch
from .common import CliError, console, entry_of, err_console, fail
from .data import export_rows

__all__ = ["view", "export"]


def _url(host: str, port: int, token: str) -> str:
    shown = "localhost" if host in ("127.0.0.1", "localhost", "::1") else host
    return f"http://{shown}:{port}/workspace?token={token}"


def _serve_workspace(args: argparse.Namespace) -> int:
    """Serve every experiment of the folder in this shell until Ctrl-C."""
    host = args.host or "127.0.0.1"
    token = secrets.token_urlsafe(24)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, args.port))
    except OSError as error:
        sock.close()
        fail(f"cannot serve on {host}:{args.port}: {error.strerror} (choose another --port, or 0 for any free one)")
    sock.listen(128)
    app = create_workspace_app(token, host)
    console.print(f"Serving {len(read_manifest())} experiment(s) of the experiments folder (Ctrl-C stops).")
    console.print(f"Web portal URLs: {_url(host, sock.getsockname()[1], token)}", soft_wrap=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                                           timeout_graceful_shutdown=2))
    try:
        server.run(sockets=[sock])
    finally:
        app.state.workspace.close()
        sock.close()
    return 0


def view(args: argparse.Namespace) -> int:
    """``nnictl view ID`` opens one stopped experiment; ``nnictl view --all`` serves them all."""
    if args.all:
        if args.id:
            fail("give an experiment id or --all, not both")
        return _serve_workspace(args)
    if not args.id:
        fail("give the id of the experiment to view, or --all to serve every experiment on one port")
    return launch.view(args)


def export(args: argparse.Namespace) -> int:
    """Export one experiment as before, or several (``--all`` / ids) into one file with an ``experimentId`` column."""
    if not args.all and len(args.ids) <= 1:
        args.id = args.ids[0] if args.ids else None
        return commands.experiment_export(args)
    if args.all and args.ids:
        fail("give experiment ids or --all, not both")
    if args.intermediate:
        fail("--intermediate exports one experiment at a time; drop it to export several")
    manifest = read_manifest()
    ids = sorted(manifest, key=lambda i: manifest[i].get("startTime") or 0) if args.all else args.ids
    rows = []
    for experiment_id in ids:
        if not args.all:
            entry_of(experiment_id)
        try:
            rows += [(experiment_id, row) for row in export_rows(experiment_id)]
        except CliError as error:
            if not args.all:
                raise
            err_console.print(f"Skipped {experiment_id}: {error}", markup=False)
    path = Path(args.filename).expanduser()
    try:
        path.write_text(export_text(rows, args.type), encoding="utf-8")
    except OSError as error:
        fail(f"{path}: cannot write: {error.strerror}")
    console.print(f"Exported {len(rows)} trial(s) of {len(ids)} experiment(s) to {path}.")
    return 0
