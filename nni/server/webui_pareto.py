"""The portal's Pareto views: the front, feasibility and hypervolume of an experiment with objectives.

Only an experiment whose config names ``objectives`` or ``constraints`` has them (its
:meth:`~nni.config.ExperimentConfig.objective_spec` is not None); for any other the route is a 404
and the trial table has no Feasible/Pareto columns, so the portal looks as it does in NNI. Every
trial is read once per engine revision by :func:`nni.analysis.pareto.analyse` (the reading export
and ``nnictl trial ls --pareto`` use too) and that reading serves the Overview's chart and the trial
table's columns, its "Pareto only" filter and its sort.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request

from ..analysis import TrialTable
from ..analysis.pareto import ParetoAnalysis, analyse
from ..objectives import ObjectiveSpec

__all__ = ["ParetoViews", "ParetoReading", "PARETO_SORTS"]

PARETO_SORTS = ("feasible", "pareto")
"""The trial table's sort keys these views add."""

_POINT_LIMIT = 4000
_HISTORY_POINTS = 120
_FLAGS = {"1": True, "true": True, "0": False, "false": False}


@dataclass
class ParetoReading:
    """One revision's trials under the spec, per row of its table."""

    table: TrialTable
    spec: ObjectiveSpec
    analysis: ParetoAnalysis
    feasible: list[bool | None]
    pareto: list[bool]
    answers: dict[int, dict[str, Any]] = field(default_factory=dict)
    """What :meth:`answer` gave, per limit: a revision is read once however often the page asks."""

    def row_fields(self, row: int) -> dict[str, Any]:
        """What a trial table row gains: ``feasible`` (None: no usable result) and ``pareto``."""
        return {"feasible": self.feasible[row], "pareto": self.pareto[row]}

    def sorted_rows(self, rows: list[int], sort: str, descending: bool) -> list[int]:
        """``rows`` by ``feasible`` or ``pareto`` (trials without a usable result last either way)."""
        values: list[Any] = self.feasible if sort == "feasible" else [
            None if f is None else p for f, p in zip(self.feasible, self.pareto, strict=True)]
        present = [i for i in rows if values[i] is not None]
        present.sort(key=lambda i: (values[i], self.table.trials[i].sequence_id), reverse=descending)
        return present + [i for i in rows if values[i] is None]

    def answer(self, limit: int) -> dict[str, Any]:
        """The Overview chart's data: every front point, others evenly thinned to ``limit`` in all."""
        if limit not in self.answers:
            self.answers[limit] = self._answer(limit)
        return self.answers[limit]

    def _answer(self, limit: int) -> dict[str, Any]:
        signs = [-1.0 if o.mode == "maximize" else 1.0 for o in self.spec.objectives]
        usable = [p for p in self.analysis.points if p.losses is not None]
        front = [p for p in usable if p.pareto]
        rest = [p for p in usable if not p.pareto]
        room = max(limit - len(front), 0)
        if len(rest) > room:
            rest = [rest[i * len(rest) // room] for i in range(room)] if room else []
        rows = []
        for point in front + rest:
            kind = "front" if point.pareto else "dominated" if point.feasible else "infeasible"
            losses = point.losses or ()
            rows.append([point.trial.trial_id, point.trial.sequence_id, kind,
                         *(sign * loss for sign, loss in zip(signs, losses, strict=True))])
        feasible = sum(1 for p in usable if p.feasible)
        return {
            "revision": self.table.revision,
            "objectives": [{"metric": o.metric, "mode": o.mode} for o in self.spec.objectives],
            "constraints": [{"metric": c.metric, "min": c.min, "max": c.max} for c in self.spec.constraints],
            "counts": {"results": len(self.analysis.points), "usable": len(usable), "feasible": feasible,
                       "infeasible": len(usable) - feasible, "front": len(front),
                       "unusable": len(self.analysis.points) - len(usable)},
            "points": rows,
            "shown": len(rows),
            "hypervolume": self._hypervolume(),
        }

    def _hypervolume(self) -> dict[str, Any]:
        """The front's hypervolume (loss space) against the reading's reference, per finished trial count."""
        reference = self.analysis.reference
        history = self.analysis.hypervolume_history(_HISTORY_POINTS)
        order = sorted(self.analysis.points, key=lambda p: (p.trial.final.timestamp_ms if p.trial.final else 0,
                                                            p.trial.sequence_id))
        rank = {id(p.trial): k + 1 for k, p in enumerate(order)}
        return {"reference": None if reference is None else list(reference),
                "points": [[rank[id(trial)], volume] for trial, volume in history]}


def _read(table: TrialTable, spec: ObjectiveSpec) -> ParetoReading:
    analysis = analyse(table.trials, spec)
    flags = [analysis.flags(t.trial_id) for t in table.trials]
    return ParetoReading(table, spec, analysis, [f for f, _ in flags], [p for _, p in flags])


class ParetoViews:
    """The Pareto route and the trial table's hooks, over the portal's table of the current revision."""

    def __init__(self, frame: Callable[[], Awaitable[TrialTable]], spec: Callable[[], ObjectiveSpec | None]) -> None:
        self._frame = frame
        self._spec = spec
        self._reading: ParetoReading | None = None
        self._lock = asyncio.Lock()

    async def reading(self) -> ParetoReading | None:
        """The current revision under the experiment's spec (None without objectives or constraints)."""
        spec = self._spec()
        if spec is None:
            return None
        table = await self._frame()
        async with self._lock:
            if self._reading is None or self._reading.table is not table or self._reading.spec != spec:
                self._reading = await run_in_threadpool(_read, table, spec)
            return self._reading

    async def table_hooks(self, request: Request) -> tuple[ParetoReading | None, bool]:
        """For the trial table: the reading, and whether only front trials are asked for (``pareto=1``).

        ``pareto`` other than 1/0/true/false, or ``pareto=1`` on an experiment without objectives or
        constraints, is a 400 (an empty table would look like a front of none).
        """
        text = request.query_params.get("pareto", "0").lower()
        if text not in _FLAGS:
            raise HTTPException(400, f"pareto must be 1 or 0, got {text[:100]!r}")
        reading = await self.reading()
        if _FLAGS[text] and reading is None:
            raise HTTPException(400, "pareto=1 needs an experiment with objectives or constraints")
        return reading, _FLAGS[text]

    async def front(self) -> dict[str, Any]:
        """The Overview chart's data (see :meth:`ParetoReading.answer`); a 404 without objectives."""
        reading = await self.reading()
        if reading is None:
            raise HTTPException(404, "this experiment has no objectives or constraints")
        return await run_in_threadpool(reading.answer, _POINT_LIMIT)
