"""The trials of one engine revision as a table: flattened parameters, final metrics per key, best
trial and status counts, computed once and shared by every view of that revision."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..metrics import metric_number
from ..records import MetricRecord, Trial, TrialStatus
from ..storage.base import CurveSummary
from .flattening import category_label, flatten_parameters, json_safe

__all__ = ["TrialTable", "build_table"]


@dataclass
class TrialTable:
    """What the views need from one engine revision; per-key results are cached as they are asked for."""

    revision: int
    trials: list[Trial]
    metric_keys: list[str]
    param_keys: list[str]
    numeric_params: dict[str, bool]
    flat: list[dict[str, Any]]
    curve_counts: list[int] = field(default_factory=list)
    """Each trial's number of intermediate results."""
    latest: list[MetricRecord | None] = field(default_factory=list)
    """Each trial's last intermediate result."""
    finals: dict[str, list[float | None]] = field(default_factory=dict)
    importance: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    best: dict[str, tuple[Trial, float] | None] = field(default_factory=dict)
    status_counts: dict[str, int] | None = None
    _search_text: list[str] | None = None

    @property
    def search_text(self) -> list[str]:
        """Each trial's id, sequence id, status and parameters as lower-case text, built on the first
        search (a tenth of the table's cost at 100,000 trials, and most pages never search)."""
        if self._search_text is None:
            self._search_text = [" ".join([t.trial_id, str(t.sequence_id), t.status.value,
                                           json.dumps(json_safe(t.parameters), sort_keys=True)]).lower()
                                 for t in self.trials]
        return self._search_text

    def best_of(self, mode: str) -> tuple[Trial, float] | None:
        """The trial with the best finite default metric under ``mode`` (cached per table)."""
        if mode not in self.best:
            scored = [(t, v) for t, v in zip(self.trials, self.final("default"), strict=True) if v is not None]
            pick = max if mode == "maximize" else min
            self.best[mode] = pick(scored, key=lambda item: item[1]) if scored else None
        return self.best[mode]

    def counts(self) -> dict[str, int]:
        """Trials per status, every status present (zero when none)."""
        if self.status_counts is None:
            self.status_counts = {s.value: 0 for s in TrialStatus}
            for trial in self.trials:
                self.status_counts[trial.status.value] += 1
        return dict(self.status_counts)

    def final(self, key: str) -> list[float | None]:
        """Each trial's final metric under ``key`` as a finite number, None where it has none."""
        if key not in self.finals:
            self.finals[key] = [metric_number(t.final.value, key) if t.final else None for t in self.trials]
        return self.finals[key]

    def scored(self, key: str) -> list[tuple[int, float]]:
        """(row, value) of every trial with a finite final ``key``."""
        return [(i, v) for i, v in enumerate(self.final(key)) if v is not None]

    def ranked(self, key: str, top: float, mode: str, limit: int) -> tuple[list[int], list[float]]:
        """Rows with a numeric final ``key``, best first, cut to the ``top`` fraction and ``limit``."""
        scored = self.scored(key)
        scored.sort(key=lambda item: item[1], reverse=(mode == "maximize"))
        keep = max(1, math.ceil(len(scored) * top)) if scored else 0
        chosen = scored[:min(keep, limit)]
        return [i for i, _ in chosen], [v for _, v in chosen]

    def columns(self, rows: list[int], search_space: Any) -> list[dict[str, Any]]:
        """Each parameter over ``rows``: numeric (log when the space samples it so) or categorical."""
        space = search_space if isinstance(search_space, dict) else {}
        columns = []
        for name in self.param_keys:
            raw = [self.flat[i].get(name) for i in rows]
            if self.numeric_params.get(name):
                spec = space.get(name)
                log = isinstance(spec, dict) and str(spec.get("_type", "")).endswith("loguniform")
                columns.append({"name": name, "type": "numeric", "log": log,
                                "values": [None if v is None else float(v) for v in raw]})
            else:
                labels = [None if v is None else category_label(v) for v in raw]
                categories = sorted({c for c in labels if c is not None})
                columns.append({"name": name, "type": "categorical", "categories": categories, "values": labels})
        return columns

    def sorted_rows(self, rows: list[int], sort: str, descending: bool, now_ms: int) -> list[int]:
        """``rows`` sorted by one column; rows without a value for it go last in either direction.

        ``sort``: a trial field, ``metric:KEY`` or ``param:NAME`` (an unknown name sorts by sequence).
        """
        trials = self.trials

        def duration(i: int) -> float | None:
            t = trials[i]
            if t.start_time_ms is None:
                return None
            return float((t.end_time_ms if t.end_time_ms is not None else now_ms) - t.start_time_ms)

        getters: dict[str, Callable[[int], Any]] = {
            "sequenceId": lambda i: trials[i].sequence_id,
            "trialId": lambda i: trials[i].trial_id,
            "status": lambda i: trials[i].status.value,
            "startTime": lambda i: trials[i].start_time_ms,
            "endTime": lambda i: trials[i].end_time_ms,
            "duration": duration,
            "intermediateCount": self.curve_counts.__getitem__,
        }
        if sort.startswith("metric:"):
            values = self.final(sort[len("metric:"):])
            getter: Callable[[int], Any] = values.__getitem__
        elif sort.startswith("param:"):
            name = sort[len("param:"):]
            numeric = self.numeric_params.get(name, False)

            def getter(i: int) -> Any:
                value = self.flat[i].get(name)
                if value is None:
                    return None
                return float(value) if numeric else category_label(value)
        else:
            getter = getters.get(sort, getters["sequenceId"])
        present = [i for i in rows if getter(i) is not None]
        missing = [i for i in rows if getter(i) is None]
        present.sort(key=lambda i: (getter(i), trials[i].sequence_id), reverse=descending)
        return present + missing


CurveSummaryOf = Callable[[Trial], CurveSummary]
"""(count, last) of a trial's intermediate results: a view reads them from its database."""


def _held_curve(trial: Trial) -> CurveSummary:
    return len(trial.intermediate), trial.intermediate[-1] if trial.intermediate else None


def build_table(revision: int, trials: list[Trial], curve_summary: CurveSummaryOf = _held_curve) -> TrialTable:
    """The table of ``trials``: metric keys seen in final and latest results, parameters flattened."""
    metric_keys: dict[str, None] = {"default": None}
    param_keys: dict[str, None] = {}
    numeric: dict[str, bool] = {}
    flat_rows: list[dict[str, Any]] = []
    counts: list[int] = []
    latest: list[MetricRecord | None] = []
    for trial in trials:
        count, last = curve_summary(trial)
        counts.append(count)
        latest.append(last)
        for record in (trial.final, last):
            if record is not None and isinstance(record.value, dict):
                for key in record.value:
                    metric_keys.setdefault(str(key), None)
        flat = flatten_parameters(trial.parameters)
        flat_rows.append(flat)
        for key, value in flat.items():
            param_keys.setdefault(key, None)
            numeric[key] = numeric.get(key, True) and metric_number(value) is not None
    return TrialTable(revision, trials, list(metric_keys), list(param_keys), numeric, flat_rows, counts, latest)
