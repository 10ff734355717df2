"""Where each built-in algorithm lives, and how a tuner/assessor object is made from a config."""

from __future__ import annotations

import importlib
import inspect
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import ConfigError

__all__ = ["AlgorithmInfo", "BUILTIN_ALGORITHMS", "find_builtin", "create_algorithm"]


@dataclass(frozen=True)
class AlgorithmInfo:
    name: str
    kind: str
    """'tuner' or 'assessor' (NNI's advisors are tuners here)."""
    module: str
    class_name: str
    fixed_args: tuple[tuple[str, Any], ...] = ()
    """Arguments the name implies, e.g. Anneal is HyperoptTuner(algorithm_name='anneal')."""


_HPO = "nni.algorithms.hpo"

BUILTIN_ALGORITHMS: dict[str, AlgorithmInfo] = {info.name.lower(): info for info in [
    AlgorithmInfo("TPE", "tuner", f"{_HPO}.tpe_tuner", "TpeTuner"),
    AlgorithmInfo("Random", "tuner", f"{_HPO}.random_tuner", "RandomTuner"),
    AlgorithmInfo("Anneal", "tuner", f"{_HPO}.hyperopt_tuner", "HyperoptTuner", (("algorithm_name", "anneal"),)),
    AlgorithmInfo("Evolution", "tuner", f"{_HPO}.evolution_tuner", "EvolutionTuner"),
    AlgorithmInfo("GridSearch", "tuner", f"{_HPO}.gridsearch_tuner", "GridSearchTuner"),
    AlgorithmInfo("Batch", "tuner", f"{_HPO}.batch_tuner", "BatchTuner"),
    AlgorithmInfo("GP", "tuner", f"{_HPO}.gp_tuner", "GPTuner"),
    AlgorithmInfo("Metis", "tuner", f"{_HPO}.metis_tuner", "MetisTuner"),
    AlgorithmInfo("SMAC", "tuner", f"{_HPO}.smac_tuner", "SMACTuner"),
    AlgorithmInfo("PBT", "tuner", f"{_HPO}.pbt_tuner", "PBTTuner"),
    AlgorithmInfo("DNGO", "tuner", f"{_HPO}.dngo_tuner", "DNGOTuner"),
    AlgorithmInfo("Hyperband", "tuner", f"{_HPO}.hyperband_advisor", "Hyperband"),
    AlgorithmInfo("BOHB", "tuner", f"{_HPO}.bohb_advisor", "BOHB"),
    AlgorithmInfo("Medianstop", "assessor", f"{_HPO}.medianstop_assessor", "MedianstopAssessor"),
    AlgorithmInfo("Curvefitting", "assessor", f"{_HPO}.curvefitting_assessor", "CurvefittingAssessor"),
]}


def find_builtin(name: str, kind: str) -> AlgorithmInfo:
    """Look a built-in up by name, case-insensitively; a clear error lists the valid names."""
    info = BUILTIN_ALGORITHMS.get(name.lower())
    if info is None or info.kind != kind:
        valid = ", ".join(i.name for i in BUILTIN_ALGORITHMS.values() if i.kind == kind)
        raise ConfigError(f"{kind}.name: unknown built-in {kind} {name!r} (valid: {valid})")
    return info


def _import_class(module: str, class_name: str, code_directory: Path | None) -> type:
    if code_directory is not None:
        path = str(Path(code_directory).expanduser().resolve())
        if path not in sys.path:
            sys.path.insert(0, path)
    try:
        return getattr(importlib.import_module(module), class_name)
    except (ImportError, AttributeError) as error:
        raise ConfigError(f"cannot load class {module}.{class_name}: {error}") from error


def create_algorithm(kind: str, name: str | None = None, class_args: dict[str, Any] | None = None,
                     class_name: str | None = None, code_directory: Path | None = None) -> Any:
    """Instantiate a built-in by ``name`` or a user class by dotted ``class_name``."""
    args = dict(class_args or {})
    if class_name:
        module, _, cls_name = class_name.rpartition(".")
        if not module:
            raise ConfigError(f"{kind}.className must be 'module.ClassName', got {class_name!r}")
        cls = _import_class(module, cls_name, code_directory)
    elif name:
        info = find_builtin(name, kind)
        cls = _import_class(info.module, info.class_name, None)
        for key, value in info.fixed_args:
            args.setdefault(key, value)
    else:
        raise ConfigError(f"{kind}: give either name (a built-in) or className")
    try:
        inspect.signature(cls).bind(**args)
    except TypeError as error:
        raise ConfigError(f"{kind}.classArgs: {error} (for {cls.__name__})") from None
    return cls(**args)
