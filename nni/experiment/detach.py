"""Start a manager as its own process that outlives the caller (RunMode.Detach, ``nnictl create``)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

from .config import ExperimentConfig
from .launcher import experiment_dir_of
from .rest_client import RestClient

__all__ = ["start_detached", "spawn_manager"]

_START_TIMEOUT = 60.0


def spawn_manager(experiment_id: str, config: ExperimentConfig | None, port: int, host: str = "127.0.0.1",
                  url_prefix: str = "", debug: bool = False, mode: str = "create",
                  experiment_dir: Path | None = None, foreground: bool = False) -> tuple[subprocess.Popen[bytes], str]:
    """Launch ``python -m nni.experiment.daemon``; returns the process and its access token."""
    if experiment_dir is None:
        assert config is not None
        experiment_dir = experiment_dir_of(config, experiment_id)
    (experiment_dir / "log").mkdir(parents=True, exist_ok=True)
    args = [sys.executable, "-m", "nni.experiment.daemon", "--id", experiment_id, "--port", str(port),
            "--host", host, "--url-prefix", url_prefix, "--mode", mode, "--experiment-dir", str(experiment_dir)]
    if config is not None:
        config_path = experiment_dir / "log" / "launch-config.json"
        config_path.write_text(json.dumps(config.json()), encoding="utf-8")
        args += ["--config", str(config_path)]
    if debug:
        args.append("--debug")
    token = secrets.token_urlsafe(18)
    env = dict(os.environ, NNI_MANAGER_TOKEN=token)
    if foreground:
        return subprocess.Popen(args, env=env), token
    log = open(experiment_dir / "log" / "manager-output.log", "ab")  # noqa: SIM115 - handed to the child
    process = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    log.close()
    return process, token


def wait_until_serving(process: subprocess.Popen[bytes], client: RestClient, log_file: Path,
                       timeout: float = _START_TIMEOUT) -> None:
    """Wait until the manager answers, or raise with what it printed when it died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = log_file.read_text(errors="replace").strip() if log_file.exists() else ""
            last = output.splitlines()[-1] if output else f"exit status {process.returncode}"
            raise RuntimeError(f"the experiment manager did not start: {last}")
        try:
            client.get("/check-status")
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the experiment manager did not answer within {timeout:.0f}s; see {log_file}")


def start_detached(experiment_id: str, config: ExperimentConfig, port: int, host: str, url_prefix: str,
                   debug: bool) -> RestClient:
    config.validate()
    process, token = spawn_manager(experiment_id, config, port, host, url_prefix, debug)
    client = RestClient(port, "127.0.0.1" if host in ("0.0.0.0", "::") else host, url_prefix, token)
    wait_until_serving(process, client, experiment_dir_of(config, experiment_id) / "log" / "manager-output.log")
    return client
