"""The trial-side API: what a trial script calls to get parameters and report metrics.

Kept dependency-free so that ``import nni`` in a trial stays cheap.
"""

from __future__ import annotations

import os
import time
from numbers import Integral, Real
from typing import Any

__all__ = [
    "get_next_parameter", "get_next_parameters", "get_current_parameter", "report_intermediate_result",
    "report_final_result", "get_experiment_id", "get_trial_id", "get_sequence_id",
]

_STANDALONE = "STANDALONE"


class _TrialContext:
    """What the running trial knows about itself, read once from the environment."""

    def __init__(self) -> None:
        self.platform = os.environ.get("NNI_PLATFORM")
        self.standalone = not self.platform or self.platform == "unittest"
        self.experiment_id = os.environ.get("NNI_EXP_ID", _STANDALONE)
        self.trial_id = os.environ.get("NNI_TRIAL_JOB_ID", _STANDALONE)
        self.sequence_id = int(os.environ.get("NNI_TRIAL_SEQ_ID", "0") or 0)
        self.sys_dir = os.environ.get("NNI_SYS_DIR", os.getcwd())
        self.record: dict[str, Any] | None = None
        self.intermediate_sequence = 0
        self._metrics_file: Any = None

    def append_metric(self, kind: str, value: Any) -> None:
        from .runtime import protocol

        if self._metrics_file is None:
            path = os.path.join(self.sys_dir, protocol.METRICS_FILE)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            self._metrics_file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - lives as long as the trial
        sequence = self.intermediate_sequence if kind == "PERIODICAL" else 0
        parameter_id = self.record.get("parameter_id") if self.record else None
        self._metrics_file.write(protocol.encode_metric_line(kind, sequence, parameter_id,
                                                             int(time.time() * 1000), value))
        self._metrics_file.flush()


_context: _TrialContext | None = None


def _ctx() -> _TrialContext:
    global _context
    if _context is None:
        _context = _TrialContext()
    return _context


def _log() -> Any:
    # logging costs ~10 ms to import; trials that run under an experiment never need it
    import logging

    return logging.getLogger("nni")


def _plain(value: Any) -> Any:
    """``value`` with numpy-like scalars as plain numbers and tuples as lists, so JSON takes it."""
    if isinstance(value, bool) or value is None or isinstance(value, (str, int, float)):
        return value
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, Real):
        return float(value)
    if isinstance(value, dict):
        return {k if isinstance(k, str) else str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):  # a numpy array
        return _plain(value.tolist())
    return value


def _check_metric(metric: Any) -> Any:
    """Any JSON-serialisable value is a metric, as in NNI; what a tuner cannot use is sorted out later."""
    import json

    metric = _plain(metric)
    try:
        json.dumps(metric)
    except (TypeError, ValueError) as error:
        raise TypeError(f"A metric must be JSON-serialisable (a number, string, bool, None, list or dict), "
                        f"got {type(metric).__name__}: {error}") from None
    return metric


def get_next_parameter() -> dict[str, Any]:
    """The hyperparameters chosen for this trial; ``{}`` (with a warning) when run standalone."""
    ctx = _ctx()
    if ctx.standalone:
        _log().warning("Running trial code without an experiment: get_next_parameter() returns {}.")
        return {}
    if ctx.record is None:
        from .runtime import protocol

        ctx.record = protocol.read_parameter_file(ctx.sys_dir)
        if ctx.record is None:
            raise RuntimeError(f"No parameter file in NNI_SYS_DIR={ctx.sys_dir}")
    return ctx.record["parameters"]


get_next_parameters = get_next_parameter


def get_current_parameter(tag: str | None = None) -> Any:
    """The parameters last returned by get_next_parameter, or one value of them by ``tag``."""
    ctx = _ctx()
    if ctx.standalone:
        params: dict[str, Any] = {}  # what get_next_parameter() gives without an experiment
    elif ctx.record is None:
        return None
    else:
        params = ctx.record["parameters"]
    return params if tag is None else params[tag]


def _report(kind: str, label: str, metric: Any) -> Any:
    """Send ``metric`` as a ``kind`` result, or print it in standalone mode; returns the context."""
    metric = _check_metric(metric)
    ctx = _ctx()
    if ctx.standalone:
        _log().info("%s result: %s  (Standalone mode, not sent)", label, metric)
        print(f"[nni] {label.lower()} result: {metric}")
    else:
        ctx.append_metric(kind, metric)
    return ctx


def report_intermediate_result(metric: Any) -> None:
    """Report one point of the trial's learning curve (sequence numbers 0, 1, 2, …)."""
    _report("PERIODICAL", "Intermediate", metric).intermediate_sequence += 1


def report_final_result(metric: Any) -> None:
    """Report the trial's final result, the value the tuner optimises."""
    _report("FINAL", "Final", metric)


def get_experiment_id() -> str:
    return _ctx().experiment_id


def get_trial_id() -> str:
    return _ctx().trial_id


def get_sequence_id() -> int:
    return _ctx().sequence_id
