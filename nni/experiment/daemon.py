"""Entry point of a manager process: ``python -m nni.experiment.daemon --id ... --port ...``.

``--mode create`` runs a new experiment from ``--config``; ``resume`` continues a stored one from
its database (its trials, results and config); ``view`` serves a stored one read-only.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
from pathlib import Path

from ..config import ExperimentConfig
from .launcher import ExperimentRunner, bind_port, load_stored_config
from .lock import ExperimentLock

__all__ = ["main"]


def _config(args: argparse.Namespace) -> ExperimentConfig:
    if args.config:
        return ExperimentConfig.model_validate(json.loads(Path(args.config).read_text(encoding="utf-8")))
    if args.mode in ("resume", "view"):
        return load_stored_config(args.id, Path(args.experiment_dir))
    stored = Path(args.experiment_dir) / "log" / "launch-config.json"
    return ExperimentConfig.model_validate(json.loads(stored.read_text(encoding="utf-8")))


def _socket(args: argparse.Namespace) -> socket.socket:
    """The listening socket the launcher handed down (``--socket-fd``), else one bound here."""
    if args.socket_fd is None:
        return bind_port(args.host, args.port)
    # Trials must not inherit the manager's port.
    os.set_inheritable(args.socket_fd, False)
    sock = socket.socket(fileno=args.socket_fd)
    sock.setblocking(False)
    return sock


def _lock(args: argparse.Namespace) -> ExperimentLock:
    directory = Path(args.experiment_dir)
    if args.lock_fd is None:
        return ExperimentLock.acquire(args.id, directory, args.mode)
    return ExperimentLock.adopt(args.id, directory, args.lock_fd, args.mode)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nni.experiment.daemon")
    parser.add_argument("--id", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--url-prefix", default="")
    parser.add_argument("--config")
    parser.add_argument("--experiment-dir", required=True)
    parser.add_argument("--mode", default="create", choices=["create", "resume", "view"])
    parser.add_argument("--debug", action="store_true")
    parser.add_argument("--console-log", action="store_true", help="also print the manager's log to stderr")
    parser.add_argument("--socket-fd", type=int, help="listening socket inherited from the launcher")
    parser.add_argument("--lock-fd", type=int, help="the experiment's lock, taken by the launcher")
    parser.add_argument("--nonce", help="shown by check-status, so the launcher can tell this manager answers")
    args = parser.parse_args(argv)
    try:
        sock = _socket(args)
        lock = _lock(args)
        config = _config(args)
        if args.mode in ("resume", "view"):
            # The stored config may name a working directory the experiment no longer lives in.
            config.experiment_working_directory = Path(args.experiment_dir).resolve().parent
        runner = ExperimentRunner(args.id, config, port=sock.getsockname()[1], host=args.host,
                                  url_prefix=args.url_prefix, debug=args.debug, console_log=args.console_log,
                                  token=os.environ.pop("NNI_MANAGER_TOKEN", None), mode=args.mode, lock=lock,
                                  nonce=args.nonce)
        runner.prepare()
    except Exception as error:
        print(f"Error: {error}", file=sys.stderr, flush=True)
        return 1
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda *_: runner.request_stop())
    # This line lands in log/manager-output.log, so it names the page without its token.
    print(f"Experiment {args.id} manager ({args.mode}) serving on {runner.public_url}", flush=True)
    runner.run_in_foreground(sock)
    return 0


if __name__ == "__main__":
    sys.exit(main())
