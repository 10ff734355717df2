"""The file protocol between a trial and the training service that runs it.

Every training service lays out a trial's folder (``NNI_SYS_DIR``) the same way:

- ``parameter.cfg``: one JSON object, NNI's hyper-parameter record
  (``parameter_id``, ``parameter_source``, ``parameters``, ``parameter_index``), written before start;
- ``.nni/exitcode``: the command's exit status, written by the wrapper shell when it ends;
- ``.nni/metrics``: one JSON object a line, appended and flushed by the trial for each report:
  ``{"type": "PERIODICAL"|"FINAL", "sequence": n, "parameter_id": id, "timestamp": ms, "value": ...}``.
  ``value`` keeps what the trial reported, NaN and Infinity included (Python's JSON dialect).

A service ships new metric lines to the engine however suits it (tailing a local file, streaming over
SSH, a shared filesystem); the format is the same everywhere. Only the standard library is used
here because every trial imports it.
"""

from __future__ import annotations

import json
import os
from typing import Any

__all__ = [
    "PARAMETER_FILE", "METRICS_FILE", "EXIT_CODE_FILE", "encode_metric_line", "decode_metric_line", "MetricTail",
    "write_parameter_file", "read_parameter_file",
]

PARAMETER_FILE = "parameter.cfg"
METRICS_FILE = os.path.join(".nni", "metrics")
EXIT_CODE_FILE = os.path.join(".nni", "exitcode")
"""Written by the shell that runs a trial when its command ends, so a restarted manager (or a
service that cannot wait on the process) learns how it ended."""


def write_parameter_file(trial_dir: str | os.PathLike[str], record: dict[str, Any]) -> None:
    """Write the hyper-parameter record atomically so a starting trial never reads half of it."""
    path = os.path.join(trial_dir, PARAMETER_FILE)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(record, f)
    os.replace(tmp, path)


def read_parameter_file(trial_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    path = os.path.join(trial_dir, PARAMETER_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def encode_metric_line(kind: str, sequence: int, parameter_id: Any, timestamp_ms: int, value: Any) -> str:
    return json.dumps({"type": kind, "sequence": sequence, "parameter_id": parameter_id,
                       "timestamp": timestamp_ms, "value": value}) + "\n"


def decode_metric_line(line: str) -> dict[str, Any] | None:
    """Parse one metric line; None for a torn or foreign line (a trial killed mid-write)."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict) or record.get("type") not in ("PERIODICAL", "FINAL"):
        return None
    return record


class MetricTail:
    """Reads complete new lines of a growing metrics file, remembering the offset between calls."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.offset = 0
        self._partial = b""

    def read_new(self) -> list[dict[str, Any]]:
        try:
            if os.stat(self.path).st_size <= self.offset:  # nothing new: skip the open (polled 10 times a second)
                return []
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                chunk = f.read()
        except FileNotFoundError:
            return []
        if not chunk:
            return []
        self.offset += len(chunk)
        data = self._partial + chunk
        lines = data.split(b"\n")
        self._partial = lines.pop()
        records = []
        for raw in lines:
            record = decode_metric_line(raw.decode("utf-8", errors="replace"))
            if record is not None:
                records.append(record)
        return records
