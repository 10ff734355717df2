"""Warm starts: the results of earlier experiments (by id) or of exported files, fitted to this
experiment's search space, for the tuner's ``import_data`` before it proposes anything."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from numbers import Real
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..records import TrialStatus
from ..search_space.space import SearchSpace
from ..storage.manifest import read_manifest
from ..storage.nni30 import open_storage
from ..storage.sqlite import DB_FILE, database_dir

__all__ = ["WarmStart", "load_warm_starts", "read_result_file", "fit_to_space"]


@dataclass(frozen=True)
class WarmStart:
    """What one source gives: the records that fit the space, and how many did not."""

    source: str
    records: list[dict[str, Any]]
    skipped: int


def read_result_file(path: Path) -> list[dict[str, Any]]:
    """``[{'parameter', 'value'}]`` from a file of ``nnictl experiment export`` (JSON or CSV).

    Raises ValueError saying what is wrong with the file.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ValueError(f"{path}: cannot read: {error.strerror}") from None
    if path.suffix.lower() == ".csv":
        rows = []
        for line, record in enumerate(csv.DictReader(text.splitlines()), start=2):
            value = record.pop("value", None) or record.pop("reward", None)
            for column in ("trialJobId", "status", "experimentId", "intermediate"):
                record.pop(column, None)
            if value is None:
                raise ValueError(f"{path}: line {line}: no 'value' column")
            rows.append({"parameter": {k: _cell(v) for k, v in record.items()}, "value": _cell(value)})
        return rows
    try:
        data = json.loads(text)
    except ValueError as error:
        raise ValueError(f"{path}: not valid JSON: {error}") from None
    if not isinstance(data, list) or not all(isinstance(d, dict) and "parameter" in d and "value" in d for d in data):
        raise ValueError(f"{path}: must hold a JSON list of {{\"parameter\": {{...}}, \"value\": ...}}")
    return [{"parameter": d["parameter"], "value": d["value"]} for d in data]


def _cell(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _experiment_dir(experiment_id: str, roots: list[Path]) -> Path | None:
    """The folder of a stored experiment: beside this one, in the working directory, or where the
    manifest says."""
    candidates = [root / experiment_id for root in roots]
    log_dir = (read_manifest().get(experiment_id) or {}).get("logDir")
    if log_dir:
        candidates += [Path(log_dir).expanduser() / experiment_id, Path(log_dir).expanduser()]
    return next((c for c in candidates if (database_dir(c) / DB_FILE).is_file()), None)


def _experiment_results(experiment_id: str, roots: list[Path]) -> list[dict[str, Any]]:
    directory = _experiment_dir(experiment_id, roots)
    if directory is None:
        raise ConfigError(f"warmStart: {experiment_id!r} is neither a result file nor a stored experiment "
                          f"(looked in {', '.join(str(r) for r in roots)})")
    storage = open_storage(database_dir(directory), read_only=True)
    try:
        trials = storage.load_trials()
    finally:
        storage.close()
    return [{"parameter": t.parameters, "value": t.final.value} for t in trials
            if t.status == TrialStatus.SUCCEEDED and t.final is not None]


def fit_to_space(records: list[dict[str, Any]], space: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """The records whose parameters fit ``space`` once the keys it lacks are dropped; and how many
    did not fit (a key of the space missing, or a value outside it)."""
    parsed = SearchSpace(space)
    fitted = []
    for record in records:
        parameters = parsed.restrict(record["parameter"]) if isinstance(record.get("parameter"), dict) else None
        if parameters is not None and _inside(parsed, parameters):
            fitted.append({"parameter": parameters, "value": record["value"]})
    return fitted, len(records) - len(fitted)


def _inside(space: SearchSpace, parameters: dict[str, Any]) -> bool:
    """Whether ``parameters`` is a configuration of ``space``: encoding clamps numbers into their
    range, so one that decodes to something else lies outside (or off its q grid, or not an integer)."""
    try:
        return _same(space.decode(space.encode(parameters)), parameters)
    except ValueError:
        return False


def _same(decoded: Any, given: Any) -> bool:
    if isinstance(decoded, dict) and isinstance(given, dict):
        return decoded.keys() == given.keys() and all(_same(decoded[k], given[k]) for k in decoded)
    if isinstance(decoded, Real) and isinstance(given, Real) and not isinstance(given, bool):
        return math.isclose(float(decoded), float(given), rel_tol=1e-9, abs_tol=1e-12)
    return bool(decoded == given)


def load_warm_starts(sources: list[str], space: dict[str, Any], roots: list[Path]) -> list[WarmStart]:
    """Every source's results fitted to ``space``; ConfigError for a source that cannot be read.

    ``roots`` are the folders holding experiments by id (this experiment's parent folder first).
    """
    loaded = []
    for source in sources:
        path = Path(source).expanduser()
        if path.is_file():
            try:
                records = read_result_file(path)
            except ValueError as error:
                raise ConfigError(f"warmStart: {error}") from None
        else:
            records = _experiment_results(source, roots)
        fitted, skipped = fit_to_space(records, space)
        loaded.append(WarmStart(source, fitted, skipped))
    return loaded
