"""nnictl trial rerun / trial enqueue, and the warm starts of ``nnictl create --warm-start``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ...config import ExperimentConfig
from ...engine.warm_start import load_warm_starts
from ...errors import ConfigError
from .common import console, fail, resolve_id, rest_call

__all__ = ["trial_rerun", "trial_enqueue", "add_warm_starts"]


def trial_rerun(args: argparse.Namespace) -> int:
    experiment_id = resolve_id(args.id)
    body: dict[str, Any] = {"failed": True} if args.failed else {"trialJobIds": args.trial_id}
    rerun = rest_call(experiment_id, "POST", "/trial-jobs/rerun", body)["rerun"]
    if not rerun:
        console.print(f"No failed trial to run again in {experiment_id}.")
    for row in rerun:
        console.print(f"Trial {row['rerunOf']} runs again as trial {row['trialJobId']}.")
    return 0


def trial_enqueue(args: argparse.Namespace) -> int:
    try:
        parameters = json.loads(args.params)
    except ValueError as error:
        fail(f"--params is not valid JSON: {error}")
    if not isinstance(parameters, dict):
        fail(f"--params must be a JSON object of parameters, got {type(parameters).__name__}")
    experiment_id = resolve_id(args.id)
    answer = rest_call(experiment_id, "POST", "/trial-jobs", {"parameters": parameters})
    console.print(f"Trial {answer['trialJobId']} of {experiment_id} is queued; it runs before the tuner's next trial.")
    return 0


def add_warm_starts(config: ExperimentConfig, sources: list[str] | None) -> None:
    """Add ``--warm-start`` sources to the config and read every source now, so a wrong id or file
    fails before a manager starts; say how many results each one gives."""
    if sources:
        try:
            config.warm_start = [*(config.warm_start or []), *sources]
        except ValueError as error:
            fail(f"--warm-start: {error}")
    if not config.warm_start:
        return
    roots = [Path(config.experiment_working_directory).expanduser().resolve()]
    try:
        loaded = load_warm_starts(config.warm_start, config.resolved_search_space(), roots)
    except ConfigError as error:
        fail(str(error))
    for warm in loaded:
        skipped = f" ({warm.skipped} outside the search space skipped)" if warm.skipped else ""
        console.print(f"Warm start from {warm.source}: {len(warm.records)} result(s){skipped}.")
