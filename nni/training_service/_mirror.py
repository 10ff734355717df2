"""The local copy of a trial that runs elsewhere, kept up to date from :mod:`._trial_runner` messages.

The remote and Ray services both receive the runner's JSON messages; this turns them into the
trial's local folder (``stdout``, ``stderr``, ``.nni/metrics``, as for a local trial, so the REST
server and ``nnictl log`` find them) and into metric records and exit reasons.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..runtime import protocol
from ._process import exit_reason

__all__ = ["TrialMirror"]


class TrialMirror:
    """Local files of one trial plus the byte offsets reached in the real ones."""

    def __init__(self, local_dir: Path, *, adopted: bool = False) -> None:
        self.local_dir = Path(local_dir)
        self.offsets = {"metrics": 0, "stdout": 0, "stderr": 0}
        self.mirrored_metrics = 0
        """Bytes of the real metrics file already copied here."""
        if adopted:
            # Output already copied is not fetched again; metrics are read again from the start
            # (the engine ignores those it has) but not copied twice.
            self.offsets["stdout"] = _size(self.local_dir / "stdout")
            self.offsets["stderr"] = _size(self.local_dir / "stderr")
            self.mirrored_metrics = _size(self.local_dir / protocol.METRICS_FILE)

    def prepare(self, parameter_record: dict[str, Any]) -> None:
        """Create the local folder before the trial starts (the engine reads stdout/stderr from it)."""
        (self.local_dir / ".nni").mkdir(parents=True, exist_ok=True)
        protocol.write_parameter_file(self.local_dir, parameter_record)
        for name in ("stdout", "stderr"):
            (self.local_dir / name).touch()

    @property
    def stdout(self) -> Path:
        return self.local_dir / "stdout"

    @property
    def stderr(self) -> Path:
        return self.local_dir / "stderr"

    def metric(self, message: dict[str, Any]) -> dict[str, Any] | None:
        """Copy a metrics line; returns its record (None for a torn or foreign line)."""
        offset = int(message["offset"])
        self.offsets["metrics"] = offset
        line = str(message["line"])
        if offset > self.mirrored_metrics:
            with open(self.local_dir / protocol.METRICS_FILE, "a", encoding="utf-8") as f:
                f.write(line + "\n")
            self.mirrored_metrics = offset
        return protocol.decode_metric_line(line)

    def output(self, message: dict[str, Any]) -> None:
        stream = "stderr" if message.get("stream") == "stderr" else "stdout"
        with open(self.local_dir / stream, "a", encoding="utf-8") as f:
            f.write(str(message["data"]))
        self.offsets[stream] = int(message["offset"])

    @staticmethod
    def exit_of(message: dict[str, Any]) -> tuple[int | None, str | None]:
        """(exit code, reason) of an ``exit`` message; the reason is None for a success."""
        code = message.get("code")
        if code is not None:
            return int(code), exit_reason(int(code))
        return None, "killed" if message.get("killed") else "the trial's processes ended without an exit status"


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
