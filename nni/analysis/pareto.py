"""Trials read under an experiment's objectives and constraints: feasibility, the Pareto front, hypervolume.

Export, the REST routes, ``nnictl`` and the web UI all call :func:`analyse`, so a trial is feasible
or on the front in one sense everywhere. Only trials with a final result take part; one whose
result is unusable under the spec (a key missing, a value not finite) is neither feasible nor on
the front (``feasible`` None, ``reason`` says why). The front is taken among feasible trials only.

Hypervolume is measured in loss space (maximised objectives negated) against a reference fixed for
one reading: per objective, the worst feasible loss plus 10% of the feasible span (plus 10% of the
value's size, at least 0.1, where every loss is equal). Every feasible point is then strictly
inside, so each one counts, and one outlier shifts the reference by no more than its own distance.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..objectives import Evaluation, ObjectiveSpec, hypervolume, pareto_mask
from ..records import Trial

__all__ = ["TrialPoint", "ParetoAnalysis", "analyse", "read_results", "reference_point", "result_flags",
           "export_flags", "REFERENCE_MARGIN"]

REFERENCE_MARGIN = 0.1
"""How far past the worst feasible loss the hypervolume reference lies, as a share of the span."""


@dataclass(frozen=True)
class TrialPoint:
    """One trial with a final result, read under the spec."""

    trial: Trial
    losses: tuple[float, ...] | None
    """Every objective as a loss (maximised ones negated); None when the result is unusable."""
    violation: float
    """The summed distance to the constraints' bounds (0: feasible)."""
    feasible: bool | None
    """None when the result is unusable under the spec."""
    pareto: bool
    reason: str | None = None
    """Why the result is unusable, if it is."""


@dataclass
class ParetoAnalysis:
    """Every trial's point, in the order given, and what is read from them together."""

    spec: ObjectiveSpec
    points: list[TrialPoint]
    _by_id: dict[str, TrialPoint] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._by_id = {point.trial.trial_id: point for point in self.points}

    def point(self, trial_id: str) -> TrialPoint | None:
        """The point of one trial; None when it has no final result."""
        return self._by_id.get(trial_id)

    def flags(self, trial_id: str) -> tuple[bool | None, bool]:
        """``(feasible, pareto)`` of one trial: ``(None, False)`` without a usable final result."""
        point = self._by_id.get(trial_id)
        return (None, False) if point is None else (point.feasible, point.pareto)

    @property
    def front(self) -> list[TrialPoint]:
        """The feasible trials no other feasible trial dominates, in the order given."""
        return [point for point in self.points if point.pareto]

    @property
    def feasible(self) -> list[TrialPoint]:
        return [point for point in self.points if point.feasible]

    @property
    def reference(self) -> tuple[float, ...] | None:
        """The hypervolume reference in loss space; None without a feasible trial."""
        losses = [point.losses for point in self.feasible if point.losses is not None]
        return reference_point(losses) if losses else None

    def hypervolume(self) -> float:
        """The hypervolume of the front against :attr:`reference` (0 without a feasible trial)."""
        reference = self.reference
        if reference is None:
            return 0.0
        return hypervolume([point.losses for point in self.front if point.losses is not None], reference)

    def hypervolume_history(self, max_points: int = 200) -> list[tuple[Trial, float]]:
        """The front's hypervolume after each trial's final result, in the order results arrived.

        One shared :attr:`reference`, so the curve only rises. At most ``max_points`` entries (evenly
        spaced, the last always included), each recomputed only when a result joined the front since
        the one before: 10,000 trials cost a few hundred hypervolumes at most, not one per change.
        """
        reference = self.reference
        arrived = sorted(self.points, key=_arrival)
        if reference is None or not arrived:
            return []
        step = max(1, -(-len(arrived) // max(1, max_points)))
        keep = {len(arrived) - 1, *range(step - 1, len(arrived), step)}
        history: list[tuple[Trial, float]] = []
        front = np.zeros((0, len(reference)))
        volume = 0.0
        changed = False
        for index, point in enumerate(arrived):
            if point.feasible and point.losses is not None:
                new = np.asarray(point.losses, dtype=float)
                if not np.any(np.all(front <= new, axis=1)):
                    dominated = np.all(new <= front, axis=1)
                    front = np.vstack([front[~dominated], new])
                    changed = True
            if index in keep:
                if changed:
                    volume, changed = hypervolume(front, reference), False
                history.append((point.trial, volume))
        return history


def _arrival(point: TrialPoint) -> tuple[int, int]:
    final = point.trial.final
    return (final.timestamp_ms if final is not None else 0, point.trial.sequence_id)


def reference_point(losses: Sequence[Sequence[float]]) -> tuple[float, ...]:
    """The worst loss per objective plus :data:`REFERENCE_MARGIN` of the span (see the module's text)."""
    matrix = np.asarray(losses, dtype=float)
    worst, best = matrix.max(axis=0), matrix.min(axis=0)
    span = worst - best
    flat = np.maximum(np.abs(worst), 1.0)
    return tuple(float(w + REFERENCE_MARGIN * (s if s > 0 else f)) for w, s, f in zip(worst, span, flat, strict=True))


def read_results(values: Sequence[Any], spec: ObjectiveSpec) -> list[tuple[Evaluation, bool]]:
    """Each final result under ``spec``, and whether it is on the front among the feasible ones."""
    evaluations = [spec.evaluate(value) for value in values]
    feasible = [(index, evaluation.losses) for index, evaluation in enumerate(evaluations)
                if evaluation.feasible and evaluation.losses is not None]
    on_front: set[int] = set()
    if feasible:
        mask = pareto_mask([losses for _, losses in feasible])
        on_front = {index for (index, _), flag in zip(feasible, mask, strict=True) if flag}
    return [(evaluation, index in on_front) for index, evaluation in enumerate(evaluations)]


def analyse(trials: Iterable[Trial], spec: ObjectiveSpec) -> ParetoAnalysis:
    """Read every trial that has a final result under ``spec``; the front among the feasible ones."""
    finished = [trial for trial in trials if trial.final is not None]
    readings = read_results([trial.final.value for trial in finished if trial.final is not None], spec)
    points = [TrialPoint(trial, evaluation.losses, evaluation.violation,
                         evaluation.feasible if evaluation.usable else None, pareto, evaluation.reason)
              for trial, (evaluation, pareto) in zip(finished, readings, strict=True)]
    return ParetoAnalysis(spec, points)


def result_flags(finals: dict[str, Any], spec: ObjectiveSpec | None) -> dict[str, dict[str, Any]]:
    """Per key of ``finals`` (trial id -> final result), the columns an export adds under objectives:
    ``feasible`` (None when the result is unusable) and ``pareto``; empty without a spec, so an
    export stays NNI's."""
    if spec is None:
        return {}
    readings = read_results(list(finals.values()), spec)
    return {key: {"feasible": evaluation.feasible if evaluation.usable else None, "pareto": pareto}
            for key, (evaluation, pareto) in zip(finals, readings, strict=True)}


def export_flags(trials: Iterable[Trial], spec: ObjectiveSpec | None) -> dict[str, dict[str, Any]]:
    """:func:`result_flags` of trial records. The front is read among every trial with a final
    result, the ones an export leaves out (not succeeded) included."""
    return result_flags({t.trial_id: t.final.value for t in trials if t.final is not None}, spec)
