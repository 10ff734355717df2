"""Comparing experiments: best-so-far curves, what differs between their configs and search spaces,
and one export file holding the results of several (an ``experimentId`` column tells them apart)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..metrics import metric_number
from ..records import Trial
from .flattening import json_safe

__all__ = ["best_so_far", "pareto_front", "numeric_keys", "flatten_config", "differences", "export_text", "flag_cell",
           "EXPORT_TYPES"]

EXPORT_TYPES = ("csv", "json")
_MISSING = object()


def best_so_far(trials: Iterable[Trial], mode: str, key: str = "default") -> list[list[Any]]:
    """``[sequenceId, best value so far, trialId of that best]`` at each trial (in sequence order) that
    improved on every earlier one, and at the last scored trial, so the curve runs to the end; trials
    without a finite final ``key`` are skipped."""
    better = (lambda a, b: a > b) if mode == "maximize" else (lambda a, b: a < b)
    points: list[list[Any]] = []
    last: int | None = None
    for trial in sorted(trials, key=lambda t: t.sequence_id):
        value = metric_number(trial.final.value, key) if trial.final is not None else None
        if value is None:
            continue
        last = trial.sequence_id
        if not points or better(value, points[-1][1]):
            points.append([trial.sequence_id, value, trial.trial_id])
    if points and last != points[-1][0]:
        points.append([last, points[-1][1], points[-1][2]])
    return points


def numeric_keys(trials: Iterable[Trial]) -> list[str]:
    """The metric keys some trial's final result has a finite number under, 'default' first."""
    keys: dict[str, None] = {}
    for trial in trials:
        value = trial.final.value if trial.final is not None else None
        for key in (value if isinstance(value, dict) else {"default": value}):
            if key not in keys and metric_number(value, str(key)) is not None:
                keys[str(key)] = None
    return sorted(keys, key=lambda k: (k != "default", k))


def pareto_front(trials: Iterable[Trial], keys: tuple[str, str], modes: tuple[str, str]) -> list[list[Any]]:
    """The trials no other beats on both final ``keys`` (each optimized per ``modes``), as
    ``[value of keys[0], value of keys[1], trialId, sequenceId]`` best-first on the first key."""
    signs = tuple(1.0 if mode == "maximize" else -1.0 for mode in modes)
    scored = []
    for trial in trials:
        value = trial.final.value if trial.final is not None else None
        a, b = metric_number(value, keys[0]), metric_number(value, keys[1])
        if a is not None and b is not None:
            scored.append((a, b, trial))
    # Best first on the first key (ties: best second key first); a point joins the front when it
    # beats every earlier one on the second key.
    scored.sort(key=lambda item: (-signs[0] * item[0], -signs[1] * item[1]))
    front: list[list[Any]] = []
    best_second: float | None = None
    for a, b, trial in scored:
        if best_second is None or signs[1] * b > best_second:
            best_second = signs[1] * b
            front.append([a, b, trial.trial_id, trial.sequence_id])
    return front


def flatten_config(value: Any, prefix: str = "") -> dict[str, Any]:
    """A nested config as ``{"tuner.classArgs.optimize_mode": value}``; lists stay whole values."""
    if not isinstance(value, Mapping) or (prefix and not value):
        return {prefix: value}
    flat: dict[str, Any] = {}
    for name, item in value.items():
        flat.update(flatten_config(item, f"{prefix}.{name}" if prefix else str(name)))
    return flat


def differences(documents: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The dotted paths whose values are not the same in every document (one per experiment id), each
    ``{"path", "values": {id: value or None}, "missing": [ids without it]}``, sorted by path."""
    flat = {exp_id: flatten_config(doc if isinstance(doc, Mapping) else {}) for exp_id, doc in documents.items()}
    paths = sorted({path for one in flat.values() for path in one})
    rows = []
    for path in paths:
        seen = {exp_id: one.get(path, _MISSING) for exp_id, one in flat.items()}
        texts = {json.dumps(json_safe(v), sort_keys=True) if v is not _MISSING else None for v in seen.values()}
        if len(texts) > 1:
            rows.append({"path": path,
                         "values": {i: None if v is _MISSING else json_safe(v) for i, v in seen.items()},
                         "missing": [i for i, v in seen.items() if v is _MISSING]})
    return rows


def _cell(value: Any) -> Any:
    """A CSV cell: strings as they are, anything else (numbers, lists, dicts, null) as JSON."""
    return value if isinstance(value, str) else json.dumps(json_safe(value))


def flag_cell(flag: bool | None) -> str:
    """A CSV cell for an export's ``feasible`` / ``pareto``: true, false, or empty when unknown."""
    return "" if flag is None else str(flag).lower()


def export_text(rows: Sequence[tuple[str, Mapping[str, Any]]], kind: str) -> str:
    """One export file for ``(experimentId, export row)`` pairs (rows as ``nnictl experiment export``
    writes them: ``parameter``, ``value``, ``trialJobId``): CSV with a column per parameter, or JSON.
    Rows of experiments with objectives carry ``feasible`` and ``pareto`` (each within its own
    experiment); when any does, the file has those two columns (empty for the other rows)."""
    if kind not in EXPORT_TYPES:
        raise ValueError(f"export type must be one of {', '.join(EXPORT_TYPES)}, got {kind!r}")
    flags = [flag for flag in ("feasible", "pareto") if any(flag in row for _, row in rows)]
    if kind == "json":
        records = [{"experimentId": exp_id, "trialJobId": row.get("trialJobId"),
                    "parameter": json_safe(row.get("parameter")), "value": json_safe(row.get("value")),
                    **{flag: row.get(flag) for flag in flags}}
                   for exp_id, row in rows]
        return json.dumps(records, indent=2, allow_nan=False)
    names: dict[str, None] = {}
    for _, row in rows:
        names.update(dict.fromkeys(row.get("parameter") or {}))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["experimentId", "trialJobId", *names, "value", *flags])
    for exp_id, row in rows:
        parameters = row.get("parameter") or {}
        writer.writerow([exp_id, row.get("trialJobId"),
                         *(_cell(parameters[n]) if n in parameters else "" for n in names), _cell(row.get("value")),
                         *(flag_cell(row.get(flag)) for flag in flags)])
    return out.getvalue()
