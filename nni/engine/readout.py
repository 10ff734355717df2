"""What a live engine and a read-only view both answer about an experiment, and the one door for
changing its settings (``update``)."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Collection, Iterable
from pathlib import Path
from typing import Any

from ..metrics import metric_default
from ..objectives import ObjectiveSpec
from ..records import MetricRecord, Trial
from ..storage.base import CurveSummary, Storage
from .handle import setting_named

__all__ = ["ExperimentReadout", "describe_object"]

_ARGUMENT_WIDTH = 60


def describe_object(obj: Any) -> str:
    """``ClassName(arg=value, ...)`` from the arguments it was built with (recorded by ``Tuner.__new__``).

    Arguments are named through the class signature; an object built otherwise shows its class name.
    """
    cls = type(obj)
    recorded = obj.__dict__.get("_init_arguments") if hasattr(obj, "__dict__") else None
    if recorded is None:
        return cls.__name__
    args, kwargs = recorded
    try:
        bound = inspect.signature(cls).bind_partial(*args, **kwargs)
        pairs = [f"{name}={_short_repr(value)}" for name, value in bound.arguments.items()]
    except (TypeError, ValueError):  # a signature that cannot bind what was given: show it unnamed
        pairs = [_short_repr(a) for a in args] + [f"{k}={_short_repr(v)}" for k, v in kwargs.items()]
    return f"{cls.__name__}({', '.join(pairs)})"


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _ARGUMENT_WIDTH else text[:_ARGUMENT_WIDTH - 1] + "…"


class ExperimentReadout:
    """Queries computed from the trial records; the class using it provides the attributes and the
    methods that raise NotImplementedError below."""

    experiment_id: str
    experiment_dir: Path
    config: Any
    tuner: Any
    trials: dict[str, Trial]
    storage: Storage
    revision: int
    start_time_ms: int
    end_time_ms: int | None
    stored_live_tuner: dict[str, Any] | None = None
    """A viewed experiment has no tuner object: what the run stored about its live tuner, if any."""

    @property
    def next_parameter_id(self) -> int:
        """The parameter (and sequence) id the next trial gets."""
        raise NotImplementedError

    def elapsed_seconds(self) -> float:
        raise NotImplementedError

    async def update_trial_concurrency(self, value: int) -> None:
        raise NotImplementedError

    async def update_max_trial_number(self, value: int) -> None:
        raise NotImplementedError

    async def update_max_experiment_duration(self, value: str | int | float) -> None:
        raise NotImplementedError

    async def update_search_space(self, space: dict[str, Any]) -> None:
        raise NotImplementedError

    async def update(self, field: str, value: Any) -> None:
        """Change one setting of :data:`~nni.engine.handle.UPDATABLE`: what REST, the web UI and
        ``Experiment`` all call. ValueError for a field that cannot change."""
        apply: dict[str, Callable[[Any], Awaitable[None]]] = {
            "trialConcurrency": self.update_trial_concurrency,
            "maxTrialNumber": self.update_max_trial_number,
            "maxExperimentDuration": self.update_max_experiment_duration,
            "searchSpace": self.update_search_space,
        }
        await apply[setting_named(field).field](value)

    def statistics(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for trial in self.trials.values():
            counts[trial.status.value] = counts.get(trial.status.value, 0) + 1
        return counts

    def live_tuner(self) -> dict[str, Any] | None:
        """``{'label', 'optimizeMode'}`` of a tuner given as an object rather than by name in the config."""
        algorithm = self.config.tuner if self.config.advisor is None else self.config.advisor
        if algorithm is not None and (getattr(algorithm, "name", None) or getattr(algorithm, "class_name", None)):
            return None
        if self.tuner is None:
            return self.stored_live_tuner
        mode = getattr(self.tuner, "optimize_mode", None)
        mode = getattr(mode, "value", mode)
        return {"label": describe_object(self.tuner), "optimizeMode": None if mode is None else str(mode).lower()}

    def optimize_mode(self) -> str:
        """'maximize' or 'minimize', from the tuner's classArgs or the live tuner object."""
        mode = getattr(self.tuner, "optimize_mode", None)
        mode = getattr(mode, "value", mode)
        if self.tuner is None and self.stored_live_tuner:
            mode = self.stored_live_tuner.get("optimizeMode")
        algorithm = self.config.tuner if self.config.advisor is None else self.config.advisor
        if algorithm is not None and algorithm.class_args.get("optimize_mode"):
            mode = algorithm.class_args["optimize_mode"]
        return "minimize" if str(mode).lower() == "minimize" else "maximize"

    def objective_spec(self) -> ObjectiveSpec | None:
        """The config's objectives and constraints (constraints alone: ``default`` in the optimize mode);
        None without them."""
        return self.config.objective_spec(self.optimize_mode())

    def best_trial(self) -> Trial | None:
        """The trial with the best final result: NNI's best ``default`` without objectives; under them
        the feasible trial best on the first objective, ties broken by the next (always on the front)."""
        spec = self.objective_spec()
        if spec is not None:
            ranked = [(evaluation.losses, t.sequence_id, t) for t in self.trials.values() if t.final is not None
                      and (evaluation := spec.evaluate(t.final.value)).feasible and evaluation.losses is not None]
            return min(ranked, key=lambda item: item[:2])[2] if ranked else None
        scored = [(v, t) for t in self.trials.values()
                  if t.final is not None and (v := metric_default(t.final.value)) is not None]
        if not scored:
            return None
        pick = max if self.optimize_mode() == "maximize" else min
        return pick(scored, key=lambda item: item[0])[1]

    async def curves_loaded(self) -> None:
        """Every trial's intermediate results are loaded: a live engine holds them from the start."""
        return None

    # Readers ask for curves through these (a view answers them from its database, not from
    # ``Trial.intermediate``); a live engine holds every curve on its trials.

    def curve(self, trial: Trial) -> list[MetricRecord]:
        """The trial's intermediate results in the order they arrived."""
        return trial.intermediate

    def curves(self, trials: Collection[Trial]) -> dict[str, list[MetricRecord]]:
        """The intermediate results of several trials, by trial id."""
        return {trial.trial_id: self.curve(trial) for trial in trials}

    def curve_summary(self, trial: Trial) -> CurveSummary:
        """How many intermediate results the trial has, and the last one."""
        return len(trial.intermediate), trial.intermediate[-1] if trial.intermediate else None

    def arrived_metrics(self, trials: Iterable[Trial] | None = None,
                        metric_type: str | None = None) -> Iterable[MetricRecord]:
        """The metrics of ``trials`` (every trial when None) in the order they arrived (NNI's table
        order: by timestamp, a trial's intermediate results before its final), optionally of one type."""
        chosen = self.trials.values() if trials is None else trials
        items = [m for t in chosen for m in [*t.intermediate, *([t.final] if t.final is not None else [])]
                 if metric_type is None or m.type == metric_type]
        items.sort(key=lambda m: m.timestamp_ms)
        return items

    def latest_metrics(self) -> Iterable[MetricRecord]:
        """Every final result, then each trial's latest intermediate one (NNI's ``metric-data-latest``)."""
        metrics = list(self.arrived_metrics())
        latest: dict[str, MetricRecord] = {}
        for metric in metrics:
            if metric.type == "PERIODICAL":
                old = latest.get(metric.trial_id)
                if old is None or old.sequence <= metric.sequence:
                    latest[metric.trial_id] = metric
        return [*(m for m in metrics if m.type != "PERIODICAL"), *latest.values()]

    def imported_results(self) -> list[dict[str, Any]]:
        """Every result given to the tuner by ``import-data`` or a warm start, with its source."""
        rows = []
        for event in self.storage.experiment_events("import_data"):
            source = event["data"].get("source") or "import-data"
            rows += [{"parameter": r["parameter"], "value": r["value"], "source": source, "imported": True,
                      "timestamp": event["timestamp"]} for r in event["data"]["data"]]
        return rows

    def profile(self) -> dict[str, Any]:
        """NNI's experiment profile."""
        return {
            "id": self.experiment_id,
            "revision": self.revision,
            "execDuration": round(self.elapsed_seconds()),
            "logDir": str(self.experiment_dir),
            "nextSequenceId": self.next_parameter_id,
            "params": self.config.json(),
            "startTime": self.start_time_ms,
            "endTime": self.end_time_ms,
            "maxSequenceId": self.next_parameter_id - 1,
        }
