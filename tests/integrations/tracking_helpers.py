"""The trial and search space the tracking tests run: three grid trials of a script that reports
two metric keys at three steps; the trial with x == 3 fails before its final result."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

TRACKED_TRIAL = """
import sys, nni
params = nni.get_next_parameter()
for step in range(3):
    nni.report_intermediate_result({"default": params["x"] * step, "loss": 1.0 / (step + 1)})
if params["x"] == 3:
    sys.exit(1)
nni.report_final_result({"default": params["x"] * 10, "loss": 0.25, "note": "done"})
"""

SPACE = {"x": {"_type": "choice", "_value": [1, 2, 3]}, "opt": {"_type": "choice", "_value": ["sgd"]}}


def by_x(items: list[Any], key: Callable[[Any], Any]) -> dict[Any, Any]:
    """``items`` keyed by the trial's x parameter."""
    return {key(item): item for item in items}
