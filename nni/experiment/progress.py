"""The live progress line shown while ``Experiment.run()`` blocks (quiet when not a terminal)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

__all__ = ["ProgressLine"]


class ProgressLine:
    """Refreshes one line: trials done/max, running, best metric, elapsed time and the URL."""

    def __init__(self, summary: Callable[[], dict[str, Any]], url: str) -> None:
        self._summary = summary
        self._url = url
        self._live: Any = None
        self._enabled = sys.stdout.isatty()

    def _render(self) -> str:
        s = self._summary()
        limit = s.get("max") or "∞"
        best = "—" if s.get("best") is None else f"{s['best']:.6g}"
        minutes, seconds = divmod(int(s.get("elapsed", 0)), 60)
        return (f"[bold]{s.get('status', '')}[/]  trials {s.get('done', 0)}/{limit} done · "
                f"{s.get('running', 0)} running · {s.get('waiting', 0)} waiting · best {best} · "
                f"{minutes:02d}:{seconds:02d} · {self._url}")

    def __enter__(self) -> ProgressLine:
        if self._enabled:
            from rich.live import Live

            self._live = Live(self._render(), refresh_per_second=4, transient=False)
            self._live.__enter__()
        return self

    def refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._render())

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self.refresh()
            self._live.__exit__(*exc)
            self._live = None

    def wait(self, done: Callable[[float], bool]) -> None:
        """Refresh until ``done(timeout)`` is true."""
        while not done(0.25):
            self.refresh()
            time.sleep(0)
