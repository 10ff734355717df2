"""Several training services at once (``trainingService`` given as a list), as NNI's hybrid mode.

Every service is started (and checked) before the first trial; a service that fails its check fails
the whole start, naming its platform. Each new trial goes to the service with the fewest unfinished
trials (ties in config order, then round robin), so a service that runs trials faster gets more of
them. A service config may override ``trialCommand``, ``trialCodeDirectory`` and ``trialGpuNumber``
for the trials it runs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
from pathlib import Path
from typing import Any

from .base import (
    EventSink,
    TrainingService,
    TrainingServiceError,
    TrialEnded,
    TrialEvent,
    TrialSpec,
    TrialStarted,
)

__all__ = ["HybridTrainingService"]

_logger = logging.getLogger("nni.training_service.hybrid")


class HybridTrainingService(TrainingService):
    platform = "hybrid"

    def __init__(self, configs: list[Any], experiment_id: str, experiment_dir: Path) -> None:
        from .factory import create_training_service

        if not configs:
            raise TrainingServiceError("trainingService: the list of training services is empty")
        self.configs = list(configs)
        self.services = [create_training_service(c, experiment_id, experiment_dir) for c in self.configs]
        self._owner: dict[str, int] = {}
        self._unfinished = [0] * len(self.services)
        self._turn = itertools.count()
        self._events: EventSink | None = None

    def _sink(self, index: int) -> EventSink:
        def forward(event: TrialEvent) -> None:
            if self._owner.get(event.trial_id) != index:
                return
            if isinstance(event, TrialStarted):
                # remember which service runs it, for adopt() after a manager restart
                event = dataclasses.replace(event, handle={**event.handle, "hybrid_service": index})
            elif isinstance(event, TrialEnded):
                self._owner.pop(event.trial_id, None)
                self._unfinished[index] -= 1
            assert self._events is not None
            self._events(event)
        return forward

    async def start(self, events: EventSink) -> None:
        self._events = events
        results = await asyncio.gather(*(s.start(self._sink(i)) for i, s in enumerate(self.services)),
                                       return_exceptions=True)
        problems = [f"{s.platform}: {r}" for s, r in zip(self.services, results, strict=True)
                    if isinstance(r, BaseException)]
        if problems:
            await self._stop_all([s for s, r in zip(self.services, results, strict=True)
                                  if not isinstance(r, BaseException)])
            raise TrainingServiceError("hybrid training service: " + "; ".join(problems))

    def _for_service(self, spec: TrialSpec, index: int) -> TrialSpec:
        config = self.configs[index]
        changes: dict[str, Any] = {}
        if getattr(config, "trial_command", None):
            changes["command"] = config.trial_command
        if getattr(config, "trial_code_directory", None) is not None:
            changes["code_dir"] = Path(config.trial_code_directory).expanduser().resolve()
        if getattr(config, "trial_gpu_number", None) is not None:
            changes["gpu_number"] = config.trial_gpu_number
        return dataclasses.replace(spec, **changes) if changes else spec

    async def submit(self, spec: TrialSpec) -> None:
        turn = next(self._turn)
        count = len(self.services)
        index = min(range(count), key=lambda i: (self._unfinished[i], (i - turn) % count))
        self._owner[spec.trial_id] = index
        self._unfinished[index] += 1
        await self.services[index].submit(self._for_service(spec, index))

    async def kill(self, trial_id: str) -> None:
        index = self._owner.get(trial_id)
        if index is not None:
            await self.services[index].kill(trial_id)

    async def stop(self) -> None:
        await self._stop_all(self.services)

    @staticmethod
    async def _stop_all(services: list[TrainingService]) -> None:
        """Stop every service, each whatever the others do; a failure is logged naming the platform."""
        results = await asyncio.gather(*(s.stop() for s in services), return_exceptions=True)
        for service, result in zip(services, results, strict=True):
            if isinstance(result, Exception):
                _logger.error("hybrid training service: stopping %s failed: %s", service.platform, result,
                              exc_info=result)

    async def adopt(self, spec: TrialSpec, handle: dict[str, Any]) -> bool:
        index = handle.get("hybrid_service")
        if not isinstance(index, int) or not 0 <= index < len(self.services):
            return False
        inner = {k: v for k, v in handle.items() if k != "hybrid_service"}
        self._owner[spec.trial_id] = index
        self._unfinished[index] += 1
        if await self.services[index].adopt(self._for_service(spec, index), inner):
            return True
        self._owner.pop(spec.trial_id, None)
        self._unfinished[index] -= 1
        return False

    def describe(self) -> dict[str, Any]:
        return {"platform": self.platform, "services": [s.describe() for s in self.services]}
