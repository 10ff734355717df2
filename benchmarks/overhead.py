"""Manager overhead: N trivial trials at concurrency 2, side by side in one run.

Rows: plain ``xargs -P2`` of the same command (the floor), this project, and NNI 3.0 (from its own
virtualenv, .bench/nni30; skipped with a message if it cannot be installed); ``--services`` adds
this project on the remote, Ray and Slurm training services (benchmarks/services.py). Columns: wall time from
the call of ``run()`` to its return, its ratio to plain, the median gap from a trial's end to the
next trial's start, the manager's peak resident memory, and ``python -c "import nni"``.

    .venv/bin/python benchmarks/overhead.py [--trials 100] [--no-nni30] [--services remote,ray,slurm]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _overhead_worker import TRIAL  # noqa: E402
from peers import NNI30_PYTHON, ensure_nni30_venv  # noqa: E402

WORKER = HERE / "_overhead_worker.py"


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def plain_xargs(python: str, trials: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "trial.py").write_text(TRIAL)
        env = {k: v for k, v in os.environ.items() if not k.startswith("NNI_")}
        started = time.perf_counter()
        subprocess.run(f"seq {trials} | xargs -P2 -I{{}} {python} trial.py >/dev/null 2>&1", shell=True, cwd=tmp,
                       env=env, check=True)
        return time.perf_counter() - started


def import_time(python: str, repeats: int = 10) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([python, "-c", "import nni"], check=True, cwd="/", capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def run_worker(python: str, trials: int, platform: str = "local") -> dict:
    home = tempfile.mkdtemp(prefix="nni-bench-home-")
    out = subprocess.run([python, str(WORKER), str(trials), str(_port()), platform], capture_output=True, text=True,
                         cwd="/", env=dict(os.environ, HOME=home), timeout=3600)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"{python} failed: {(out.stderr or out.stdout)[-800:]}")
    return json.loads(lines[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--no-nni30", action="store_true", help="skip NNI 3.0")
    parser.add_argument("--services", default="", help="also rows for these training services, e.g. "
                        "remote,ray,slurm (started by scripts/services/*.sh; see benchmarks/services.py)")
    args = parser.parse_args(argv)

    rows: list[tuple[str, dict]] = []
    before = plain_xargs(sys.executable, args.trials)
    ours = run_worker(sys.executable, args.trials)
    ours["import"] = import_time(sys.executable)
    # the floor is measured on both sides of our run, so a busy moment does not flatter the ratio
    plain = min(before, plain_xargs(sys.executable, args.trials))
    rows.append(("plain xargs -P2", {"wall": plain}))
    rows.append(("this project", ours))
    if not args.no_nni30:
        reason = ensure_nni30_venv()
        if reason is None:
            try:
                theirs = run_worker(str(NNI30_PYTHON), args.trials)
                theirs["import"] = import_time(str(NNI30_PYTHON))
                rows.append(("NNI 3.0", theirs))
            except (RuntimeError, subprocess.SubprocessError) as error:
                print(f"NNI 3.0 skipped: {error}")
        else:
            print(f"NNI 3.0 skipped: {reason}")

    if args.services:
        from services import service_rows

        rows.extend(service_rows(args.trials, args.services.split(",")))

    print(f"\n{args.trials} trivial trials, concurrency 2, {os.cpu_count()} cores")
    header = f"{'':18} {'wall s':>8} {'× plain':>8} {'gap ms':>8} {'RSS MiB':>8} {'import ms':>10} {'ok':>5}"
    print(header)
    print("-" * len(header))
    for name, row in rows:
        gap = "" if row.get("gap_median") is None else f"{row['gap_median'] * 1000:.0f}"
        rss = "" if "rss_mib" not in row else f"{row['rss_mib']:.0f}"
        imp = "" if "import" not in row else f"{row['import'] * 1000:.0f}"
        print(f"{name:18} {row['wall']:8.2f} {row['wall'] / plain:8.2f} {gap:>8} {rss:>8} {imp:>10} "
              f"{row.get('succeeded', args.trials):>5}")
    print("\ntargets for this project: ≤ 1.2× plain, gap ≤ 50 ms, import ≤ 80 ms, RSS ≤ 150 MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
