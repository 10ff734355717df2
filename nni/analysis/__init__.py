"""What the views compute from trial records: a table of flattened parameters and final metrics,
parameter importance, interpolated surfaces and downsampled curves. Plain functions, no HTTP, so the
web UI's routes only read requests and write responses."""

from __future__ import annotations

from .compare import (
    EXPORT_TYPES,
    best_so_far,
    differences,
    export_text,
    flatten_config,
    numeric_keys,
    pareto_front,
)
from .downsampling import downsample
from .flattening import JsonSafeEncoder, category_label, flatten_parameters, json_safe
from .importance import forest_importance, parameter_importance
from .interpolation import interpolate
from .table import TrialTable, build_table

__all__ = [
    "EXPORT_TYPES", "best_so_far", "differences", "export_text", "flatten_config", "numeric_keys", "pareto_front",
    "downsample", "category_label", "flatten_parameters", "json_safe", "JsonSafeEncoder", "forest_importance",
    "parameter_importance", "interpolate", "TrialTable", "build_table",
]
