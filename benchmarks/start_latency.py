"""One local trial at a time: seconds from ``submit`` to ``TrialStarted``, the start pool only vs the loop
while starts are cheap (``LocalTrainingService._start_call``), rounds of each interleaved.

usage: python benchmarks/start_latency.py [--rounds 5] [--trials 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nni.config.training_services import LocalConfig  # noqa: E402
from nni.training_service import TrialEnded, TrialEvent, TrialSpec, TrialStarted, local  # noqa: E402

__all__ = ["main"]

COST_GATES = {"pool only": -1.0, "loop when cheap": local._INLINE_COST_SECONDS}


async def latencies(gate: float, trials: int) -> list[float]:
    """Milliseconds from submit to started for ``trials`` ``true`` trials, each after the last ended."""
    local._INLINE_COST_SECONDS = gate
    folder = Path(tempfile.mkdtemp(prefix="nni-start-"))
    (folder / "code").mkdir()
    started: dict[str, float] = {}
    ended: asyncio.Queue[TrialEnded] = asyncio.Queue()

    def sink(event: TrialEvent) -> None:
        if isinstance(event, TrialStarted):
            started[event.trial_id] = time.perf_counter()
        elif isinstance(event, TrialEnded):
            ended.put_nowait(event)
    service = local.LocalTrainingService(LocalConfig(), "start", folder)
    await service.start(sink)
    out = []
    try:
        for i in range(trials):
            trial_id = f"t{i}"
            submitted = time.perf_counter()
            await service.submit(TrialSpec(trial_id=trial_id, sequence_id=i, command="true", code_dir=folder / "code",
                                           trial_dir=folder / "trials" / trial_id,
                                           parameter_record={"parameters": {}}, gpu_number=0, env={}))
            await ended.get()
            out.append(1000 * (started[trial_id] - submitted))
    finally:
        await service.stop()
        shutil.rmtree(folder, ignore_errors=True)
    return out


async def run(rounds: int, trials: int) -> None:
    found: dict[str, list[float]] = {name: [] for name in COST_GATES}
    for _ in range(rounds):
        for name, gate in COST_GATES.items():
            found[name] += await latencies(gate, trials)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for name, values in found.items():
        values.sort()
        print(f"{name:16} n={len(values)} median {statistics.median(values):.2f} ms "
              f"p90 {values[int(0.9 * (len(values) - 1))]:.2f} ms")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=20, help="trials per round and mode")
    args = parser.parse_args(argv)
    asyncio.run(run(args.rounds, args.trials))


if __name__ == "__main__":
    main()
