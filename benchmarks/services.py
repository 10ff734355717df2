"""Trivial trials per second on each training service: local, remote (SSH to 127.0.0.1), Ray
(2-node cluster in a loopback-only namespace) and Slurm (single node), concurrency 2.

Starts the services with scripts/services/*.sh (needs root and scripts/services/install.sh) and
leaves them running. ``overhead.py --services`` adds these rows to its table.

    .venv/bin/python benchmarks/services.py [--trials 50] [--platforms remote,ray,slurm]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = HERE.parent / "scripts" / "services"
BASE = Path(os.environ.get("BASE") or Path(tempfile.gettempdir()) / "nni-ci")
WORKER = HERE / "_services_worker.py"
START = {"remote": [("sshd.sh", "start")], "ray": [("ray.sh", "start")], "slurm": [("slurm.sh", "start")]}


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def service_row(platform: str, trials: int) -> dict:
    """Start the service if needed and run the trials; raises RuntimeError saying what failed."""
    env = dict(os.environ, BASE=str(BASE), RAY_PYTHON=sys.executable)
    for script, action in START[platform]:
        done = subprocess.run(["bash", str(SCRIPTS / script), action], capture_output=True, text=True, env=env)
        if done.returncode != 0:
            raise RuntimeError(f"{script} {action}: {(done.stderr or done.stdout)[-400:]}")
    if platform == "slurm":
        env["SLURM_CONF"] = str(BASE / "slurm" / "slurm.conf")
    command = [sys.executable, str(WORKER), platform, str(trials), str(_port()), str(BASE)]
    if platform == "ray":
        command = ["ip", "netns", "exec", "nni-ray", *command]  # the driver must share the cluster's namespace
    home = tempfile.mkdtemp(prefix="nni-bench-home-")
    out = subprocess.run(command, capture_output=True, text=True, cwd=str(HERE), timeout=3600,
                         env=dict(env, HOME=home))
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"{platform}: {(out.stderr or out.stdout)[-800:]}")
    return json.loads(lines[-1])


def service_rows(trials: int, platforms: list[str]) -> list[tuple[str, dict]]:
    rows = []
    for platform in platforms:
        try:
            rows.append((f"{platform} service", service_row(platform, trials)))
        except (RuntimeError, OSError, subprocess.SubprocessError) as error:
            print(f"{platform} skipped: {error}")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--platforms", default="remote,ray,slurm")
    args = parser.parse_args(argv)
    rows = service_rows(args.trials, args.platforms.split(","))
    print(f"\n{args.trials} trivial trials, concurrency 2, {os.cpu_count()} cores")
    print(f"{'':16} {'wall s':>8} {'trials/s':>9} {'gap ms':>8} {'ok':>5}")
    for name, row in rows:
        gap = "" if row.get("gap_median") is None else f"{row['gap_median'] * 1000:.0f}"
        print(f"{name:16} {row['wall']:8.2f} {args.trials / row['wall']:9.1f} {gap:>8} {row['succeeded']:>5}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
