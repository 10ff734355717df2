"""What a live engine and a read-only view both answer about an experiment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .records import Trial, metric_default

__all__ = ["ExperimentReadout"]


class ExperimentReadout:
    """Queries computed from the trial records; the class using it provides the attributes below."""

    experiment_id: str
    experiment_dir: Path
    config: Any
    tuner: Any
    trials: dict[str, Trial]
    revision: int
    start_time_ms: int
    end_time_ms: int | None
    _next_parameter_id: int

    def elapsed_seconds(self) -> float:
        raise NotImplementedError

    def statistics(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for trial in self.trials.values():
            counts[trial.status.value] = counts.get(trial.status.value, 0) + 1
        return counts

    def optimize_mode(self) -> str:
        """'maximize' or 'minimize', from the tuner's classArgs or the live tuner object."""
        mode = getattr(self.tuner, "optimize_mode", None)
        mode = getattr(mode, "value", mode)
        algorithm = self.config.tuner if self.config.advisor is None else self.config.advisor
        if algorithm is not None and algorithm.class_args.get("optimize_mode"):
            mode = algorithm.class_args["optimize_mode"]
        return "minimize" if str(mode).lower() == "minimize" else "maximize"

    def best_trial(self) -> Trial | None:
        scored = [(metric_default(t.final.value), t) for t in self.trials.values() if t.final is not None]
        scored = [(v, t) for v, t in scored if v is not None]
        if not scored:
            return None
        pick = max if self.optimize_mode() == "maximize" else min
        return pick(scored, key=lambda item: item[0])[1]

    def profile(self) -> dict[str, Any]:
        """NNI's experiment profile."""
        return {
            "id": self.experiment_id,
            "revision": self.revision,
            "execDuration": round(self.elapsed_seconds()),
            "logDir": str(self.experiment_dir),
            "nextSequenceId": self._next_parameter_id,
            "params": self.config.json(),
            "startTime": self.start_time_ms,
            "endTime": self.end_time_ms,
            "maxSequenceId": self._next_parameter_id - 1,
        }
