"""What ``Experiment.run()`` shows: a live progress line while it blocks, and the outcome at the end.

In a terminal the line is redrawn in place (rich); under a Jupyter kernel it is one output that is
updated (no terminal control codes in the notebook); elsewhere (a pipe, a log file) it stays quiet.
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["ProgressLine", "in_notebook", "format_outcome", "reopen_command"]

_NOTEBOOK_UPDATE_SECONDS = 0.5  # each update is a message to the notebook: a few a second is plenty
_DEFAULT_WORKING_DIRECTORY = Path("~/nni-experiments")
_DEFAULT_VIEW_PORT = 8080


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (IPython with a kernel), not a terminal IPython."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    return shell is not None and getattr(shell, "kernel", None) is not None


class ProgressLine:
    """Refreshes one line: trials done/max, running, best metric, elapsed time and the URL."""

    def __init__(self, summary: Callable[[], dict[str, Any]], url: str) -> None:
        self._summary = summary
        self._url = url
        self._live: Any = None
        self._handle: Any = None
        self._shown = ""
        self._shown_at = 0.0
        self._mode = "notebook" if in_notebook() else "terminal" if sys.stdout.isatty() else "quiet"

    def _parts(self) -> tuple[str, str]:
        """The status word and the rest of the line."""
        s = self._summary()
        limit = s.get("max") or "∞"
        best = "—" if s.get("best") is None else f"{s['best']:.6g}"
        minutes, seconds = divmod(int(s.get("elapsed", 0)), 60)
        return (str(s.get("status", "")),
                f"  trials {s.get('done', 0)}/{limit} done · {s.get('running', 0)} running · "
                f"{s.get('waiting', 0)} waiting · best {best} · {minutes:02d}:{seconds:02d} · {self._url}")

    def __enter__(self) -> ProgressLine:
        if self._mode == "terminal":
            from rich.live import Live

            self._live = Live(self._rich_line(), refresh_per_second=4, transient=False)
            self._live.__enter__()
        elif self._mode == "notebook":
            from IPython.display import display

            self._shown = "".join(self._parts())
            self._handle = display({"text/plain": self._shown}, raw=True, display_id=True)
            self._shown_at = time.monotonic()
        return self

    def _rich_line(self) -> Any:
        from rich.text import Text

        status, rest = self._parts()
        return Text.assemble((status, "bold"), rest)

    def refresh(self, force: bool = False) -> None:
        if self._live is not None:
            self._live.update(self._rich_line())
        elif self._handle is not None and (force or time.monotonic() - self._shown_at >= _NOTEBOOK_UPDATE_SECONDS):
            line = "".join(self._parts())
            if line != self._shown:
                self._handle.update({"text/plain": line}, raw=True)
                self._shown = line
            self._shown_at = time.monotonic()

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self.refresh()
            self._live.__exit__(*exc)
            self._live = None
        elif self._handle is not None:
            self.refresh(force=True)
            self._handle = None

    def wait(self, done: Callable[[float], bool]) -> None:
        """Refresh until ``done(timeout)`` is true."""
        while not done(0.25):
            self.refresh()
            time.sleep(0)


def reopen_command(experiment_id: str, working_directory: Path, port: int | None) -> str:
    """The shell command that serves this experiment's page again once the script has ended."""
    words = ["nnictl", "view", experiment_id]
    if working_directory.expanduser().resolve() != _DEFAULT_WORKING_DIRECTORY.expanduser().resolve():
        words += ["--experiment_dir", str(working_directory.expanduser().resolve())]
    if port is not None and port != _DEFAULT_VIEW_PORT:
        words += ["--port", str(port)]
    return shlex.join(words)


def format_outcome(outcome: dict[str, Any]) -> str:
    """The end-of-run report: status and counts, the best trial, where it is stored, how to reopen it.

    ``outcome`` holds ``id, status, succeeded, failed, total, error, best`` (``None`` or
    ``{trial_id, sequence_id, parameters, value, mode}``, plus ``objectives`` under objectives),
    ``directory`` and ``reopen``; under objectives also ``front`` (how many trials are on the Pareto front).
    """
    lines = [f"Experiment {outcome['id']} {outcome['status']}: {outcome['succeeded']}/{outcome['total']} "
             f"trials succeeded, {outcome['failed']} failed."]
    if outcome.get("error"):
        lines.append(f"  Error: {outcome['error']}")
    best = outcome.get("best")
    if best is None:
        lines.append("  Best trial: none (no trial reported a final result)")
    else:
        lines.append(f"  Best trial: {best['trial_id']} (#{best['sequence_id']}), {_metric_text(best['value'])} "
                     f"({_best_rule(best)})")
        lines.append(f"  Parameters: {json.dumps(best['parameters'], sort_keys=True)}")
    if outcome.get("front") is not None:
        lines.append(f"  Pareto front: {outcome['front']} trial(s) (Experiment.get_pareto_front(), "
                     "nnictl trial ls --pareto)")
    lines.append(f"  Stored in:  {outcome['directory']}")
    lines.append(f"  Reopen the web portal: {outcome['reopen']}")
    return "\n".join(lines)


def _best_rule(best: dict[str, Any]) -> str:
    objectives = best.get("objectives")
    if not objectives:
        return f"{'lowest' if best['mode'] == 'minimize' else 'highest'} default metric is best"
    first = objectives[0]
    rule = f"the feasible trial with the {'lowest' if first.mode == 'minimize' else 'highest'} {first.metric}"
    return rule + (", on the Pareto front" if len(objectives) > 1 else "")


def _metric_text(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{key} {_number(v)}" for key, v in value.items())
    return f"default {_number(value)}"


def _number(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else json.dumps(value)
