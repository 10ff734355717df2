"""Building, running and reading back a real Engine for unit tests: a real SQLite storage in the
test's folder, the in-memory service of :mod:`memory_service`, the tuners of :mod:`scripted`.
Each test runs in well under a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from nni.assessor import Assessor
from nni.config import ExperimentConfig
from nni.engine.engine import Engine
from nni.records import Trial
from nni.storage.sqlite import DB_FILE, SqliteStorage
from nni.training_service.base import TrainingService
from nni.tuner import Tuner

__all__ = ["make_engine", "start_engine", "run", "wait_for", "finish", "by_parameter", "stored_statuses", "SPACE"]

SPACE = {"x": {"_type": "uniform", "_value": [0, 1]}}


def make_engine(folder: Path, service: TrainingService, tuner: Tuner, assessor: Assessor | None = None,
                **config: Any) -> Engine:
    """An Engine on a real SQLite file under ``folder/db`` (the same file again for a resume)."""
    settings: dict[str, Any] = {"search_space": SPACE, "trial_command": "scripted",
                                "trial_code_directory": folder, "trial_concurrency": 1} | config
    experiment_config = ExperimentConfig("local", **settings)
    return Engine("memexp", experiment_config, folder, SqliteStorage(folder / "db"), service, tuner, assessor)


async def start_engine(folder: Path, service: TrainingService, tuner: Tuner, assessor: Assessor | None = None,
                       **config: Any) -> Engine:
    """:func:`make_engine`, started."""
    engine = make_engine(folder, service, tuner, assessor, **config)
    await engine.start()
    return engine


def run(test: Callable[[], Coroutine[Any, Any, None]], limit: float = 20) -> None:
    """Run an async test body on a fresh loop; ``limit`` only stops a hung test, nothing is timed."""
    asyncio.run(asyncio.wait_for(test(), limit))


async def wait_for(engine: Engine, condition: Callable[[], bool], limit: float = 10) -> None:
    """Wait on the engine's change feed until ``condition()`` holds; fail after ``limit`` seconds."""
    seen = engine.revision
    deadline = asyncio.get_running_loop().time() + limit
    while not condition():
        left = deadline - asyncio.get_running_loop().time()
        assert left > 0, f"condition not reached; experiment {engine.status.value}, trials " \
                         f"{[(t.parameter_id, t.status.value) for t in engine.trials.values()]}"
        changes = await engine.wait_changes(seen, min(left, 0.05))
        seen = changes[-1].seq if changes else seen


async def finish(engine: Engine) -> None:
    """Stop the engine and close its database."""
    await engine.stop()
    engine.storage.close()


def by_parameter(engine: Engine) -> list[Trial]:
    """The engine's trials in the order they were created."""
    return sorted(engine.trials.values(), key=lambda t: t.parameter_id)


def stored_statuses(folder: Path, trial_id: str) -> list[str]:
    """Every status a trial went through, read back from the SQLite file itself."""
    with contextlib.closing(sqlite3.connect(folder / "db" / DB_FILE)) as conn:
        rows = conn.execute("SELECT data FROM trial_events WHERE trial_id = ? ORDER BY seq", (trial_id,)).fetchall()
    return [fields["status"] for fields in (json.loads(data) for (data,) in rows) if "status" in fields]

