"""Entry point of a manager process: ``python -m nni.experiment.daemon --id ... --port ...``."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

from .config import ExperimentConfig
from .launcher import ExperimentRunner, bind_port

__all__ = ["main"]


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
    args = parser.parse_args(argv)
    if args.config:
        config = ExperimentConfig.model_validate(json.loads(Path(args.config).read_text(encoding="utf-8")))
    else:
        stored = json.loads((Path(args.experiment_dir) / "log" / "launch-config.json").read_text(encoding="utf-8"))
        config = ExperimentConfig.model_validate(stored)
    runner = ExperimentRunner(args.id, config, port=args.port, host=args.host, url_prefix=args.url_prefix,
                              debug=args.debug, token=os.environ.get("NNI_MANAGER_TOKEN"))
    try:
        sock = bind_port(args.host, args.port)
        runner.prepare()
    except Exception as error:
        print(f"Error: {error}", file=sys.stderr, flush=True)
        return 1
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda *_: runner.request_stop())
    print(f"Experiment {args.id} manager serving on {runner.url}", flush=True)
    runner.run_in_foreground(sock)
    return 0


if __name__ == "__main__":
    sys.exit(main())
