"""Read a W&B offline run back: its ``run-<id>.wandb`` file is a LevelDB-style log of W&B's own
protobuf ``Record`` messages (W&B ships the message definitions, not a reader, since 0.20)."""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wandb.proto import wandb_internal_pb2

_HEADER = b":W&B\xe1\xbe\x00"
"""The file's identity, W&B's magic number (little-endian) and format version 0."""
_BLOCK = 32768
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


def read_records(path: Path) -> list[Any]:
    """Every Record in a ``.wandb`` file, in order."""
    data = path.read_bytes()
    assert data[:len(_HEADER)] == _HEADER, f"{path} is not a W&B run file"
    chunks: list[bytes] = []
    pending = b""
    pos = len(_HEADER)
    while pos + 7 <= len(data):
        left = _BLOCK - pos % _BLOCK
        if left < 7:  # a block's tail too short for a header is padding
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        body = data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind == _FULL:
            chunks.append(body)
        elif kind == _FIRST:
            pending = body
        elif kind == _MIDDLE:
            pending += body
        elif kind == _LAST:
            chunks.append(pending + body)
        else:  # zeros at the end of a block
            pos += _BLOCK - pos % _BLOCK if pos % _BLOCK else 0
    return [wandb_internal_pb2.Record.FromString(chunk) for chunk in chunks]


@dataclass
class OfflineRun:
    """What a test checks of one offline run."""

    run_id: str = ""
    name: str = ""
    group: str = ""
    job_type: str = ""
    project: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    exit_code: int | None = None


def _items(items: Any) -> dict[str, Any]:
    return {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in items}


def read_run(run_dir: Path) -> OfflineRun:
    """The run in an ``offline-run-*`` folder."""
    (path,) = run_dir.glob("run-*.wandb")
    run = OfflineRun()
    for record in read_records(path):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            info = record.run
            run.run_id, run.name, run.group, run.job_type, run.project = (
                info.run_id, info.display_name, info.run_group, info.job_type, info.project)
            run.config.update(_items(info.config.update))
        elif kind == "config":
            run.config.update(_items(record.config.update))
        elif kind == "history":
            run.history.append(_items(record.history.item))
        elif kind == "summary":
            run.summary.update(_items(record.summary.update))
        elif kind == "exit":
            run.exit_code = record.exit.exit_code
    run.config = {k: v for k, v in run.config.items() if k != "_wandb"}
    return run


def read_runs(folder: Path) -> list[OfflineRun]:
    """Every offline run W&B wrote under ``folder`` (its ``wandb/`` folder is inside)."""
    return [read_run(d) for d in sorted((folder / "wandb").glob("offline-run-*"))]
