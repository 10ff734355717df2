"""GPU discovery through ``nvidia-smi`` and the allocation of GPUs to trials.

Busy detection is re-read on every scheduling attempt (cached for a second), so a GPU that another
program stops using becomes available again: NNI's detection never freed such GPUs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["GpuInfo", "parse_gpu_query", "parse_compute_apps", "query_local_gpus", "GpuAllocator",
           "GPU_QUERY_ARGS", "APPS_QUERY_ARGS"]

GPU_QUERY_ARGS = ["--query-gpu=index,uuid,utilization.gpu,memory.used,memory.total", "--format=csv,noheader,nounits"]
APPS_QUERY_ARGS = ["--query-compute-apps=gpu_uuid,pid", "--format=csv,noheader,nounits"]


@dataclass(frozen=True)
class GpuInfo:
    index: int
    uuid: str
    utilization: float
    memory_used_mib: float
    memory_total_mib: float
    pids: tuple[int, ...] = ()
    """Processes computing on this GPU."""


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0  # '[N/A]' on some boards


def parse_compute_apps(text: str) -> dict[str, tuple[int, ...]]:
    apps: dict[str, list[int]] = {}
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) >= 2 and parts[1].isdigit():
            apps.setdefault(parts[0], []).append(int(parts[1]))
    return {uuid: tuple(pids) for uuid, pids in apps.items()}


def parse_gpu_query(gpu_text: str, apps_text: str = "") -> list[GpuInfo]:
    """Parse the CSV of ``nvidia-smi`` GPU_QUERY_ARGS (and APPS_QUERY_ARGS) output."""
    apps = parse_compute_apps(apps_text)
    gpus = []
    for line in gpu_text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 5 or not parts[0].isdigit():
            continue
        gpus.append(GpuInfo(int(parts[0]), parts[1], _number(parts[2]), _number(parts[3]), _number(parts[4]),
                            apps.get(parts[1], ())))
    return gpus


def query_local_gpus() -> list[GpuInfo] | None:
    """The GPUs of this machine, or None when ``nvidia-smi`` is absent or fails."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        gpus = subprocess.run([exe, *GPU_QUERY_ARGS], capture_output=True, text=True, timeout=20, check=True).stdout
        apps = subprocess.run([exe, *APPS_QUERY_ARGS], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return parse_gpu_query(gpus, apps)


class GpuAllocator:
    """Hands out GPUs to trials: at most ``max_per_gpu`` trials each, skipping GPUs busy elsewhere."""

    def __init__(self, query: Callable[[], list[GpuInfo] | None], indices: list[int] | None = None,
                 max_per_gpu: int = 1, use_active_gpu: bool = False, own_pid: Callable[[int], bool] | None = None,
                 cache_seconds: float = 1.0) -> None:
        self._query = query
        self._indices = indices
        self._max_per_gpu = max_per_gpu
        self._use_active_gpu = use_active_gpu
        self._own_pid = own_pid or (lambda pid: False)
        self._cache_seconds = cache_seconds
        self._cached: tuple[float, list[GpuInfo] | None] | None = None
        self.assigned: dict[str, tuple[int, ...]] = {}

    def gpus(self) -> list[GpuInfo] | None:
        now = time.monotonic()
        if self._cached is None or now - self._cached[0] > self._cache_seconds:
            self._cached = (now, self._query())
        return self._cached[1]

    def allocate(self, trial_id: str, count: int) -> tuple[int, ...] | str:
        """GPU indices for the trial, or a sentence saying why it has to wait."""
        gpus = self.gpus()
        if gpus is None:
            return f"waiting for {count} GPU(s): no GPU found (nvidia-smi is not available)"
        usage: dict[int, int] = {}
        for indices in self.assigned.values():
            for index in indices:
                usage[index] = usage.get(index, 0) + 1
        free: list[int] = []
        reasons: list[str] = []
        for gpu in gpus:
            if self._indices is not None and gpu.index not in self._indices:
                continue
            if usage.get(gpu.index, 0) >= self._max_per_gpu:
                reasons.append(f"GPU {gpu.index} full ({usage[gpu.index]}/{self._max_per_gpu} trials)")
                continue
            foreign = [pid for pid in gpu.pids if not self._own_pid(pid)]
            if foreign and not self._use_active_gpu:
                reasons.append(f"GPU {gpu.index} busy (used by pid {', '.join(map(str, foreign[:3]))}; "
                               f"set useActiveGpu to share it)")
                continue
            free.append(gpu.index)
        if len(free) < count:
            usable = len(gpus) if self._indices is None else len([g for g in gpus if g.index in self._indices])
            if usable < count:
                return f"waiting for {count} GPU(s): only {usable} usable GPU(s) on this machine"
            return f"waiting for {count} GPU(s): " + "; ".join(reasons or ["not enough free GPUs"])
        # Spread trials over the least-loaded GPUs first.
        free.sort(key=lambda index: (usage.get(index, 0), index))
        chosen = tuple(sorted(free[:count]))
        self.assigned[trial_id] = chosen
        return chosen

    def release(self, trial_id: str) -> None:
        self.assigned.pop(trial_id, None)


def same_session(pgids: Callable[[], set[int]]) -> Callable[[int], bool]:
    """A predicate telling whether a pid belongs to one of our trials' process sessions."""
    def check(pid: int) -> bool:
        try:
            return os.getsid(pid) in pgids()
        except OSError:
            return False
    return check
