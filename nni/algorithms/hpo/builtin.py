"""Where each built-in algorithm lives, and how a tuner/assessor object is made from a config."""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import ConfigError

__all__ = [
    "AlgorithmInfo", "BUILTIN_ALGORITHMS", "find_builtin", "create_algorithm", "registered_algorithms_file",
    "registered_algorithms", "register_algorithm", "unregister_algorithm", "all_algorithms",
]


@dataclass(frozen=True)
class AlgorithmInfo:
    name: str
    kind: str
    """'tuner' or 'assessor' (NNI's advisors are tuners here)."""
    module: str
    class_name: str
    fixed_args: tuple[tuple[str, Any], ...] = ()
    """Arguments the name implies, e.g. Anneal is HyperoptTuner(algorithm_name='anneal')."""
    alias: str | None = None
    """NNI's second name for it (``builtin_algorithms.yml``), e.g. GPTuner for GP."""
    validator: str | None = None
    """Dotted name of a ``ClassArgsValidator`` subclass (registered algorithms)."""
    builtin: bool = True
    """False for an algorithm registered with ``nnictl algo register``."""


_HPO = "nni.algorithms.hpo"

BUILTIN_ALGORITHMS: dict[str, AlgorithmInfo] = {info.name.lower(): info for info in [
    AlgorithmInfo("TPE", "tuner", f"{_HPO}.tpe_tuner", "TpeTuner"),
    AlgorithmInfo("Random", "tuner", f"{_HPO}.random_tuner", "RandomTuner"),
    AlgorithmInfo("Anneal", "tuner", f"{_HPO}.hyperopt_tuner", "HyperoptTuner", (("algorithm_name", "anneal"),)),
    AlgorithmInfo("Evolution", "tuner", f"{_HPO}.evolution_tuner", "EvolutionTuner"),
    AlgorithmInfo("GridSearch", "tuner", f"{_HPO}.gridsearch_tuner", "GridSearchTuner"),
    AlgorithmInfo("Batch", "tuner", f"{_HPO}.batch_tuner", "BatchTuner", alias="BatchTuner"),
    AlgorithmInfo("GP", "tuner", f"{_HPO}.gp_tuner", "GPTuner", alias="GPTuner"),
    AlgorithmInfo("Metis", "tuner", f"{_HPO}.metis_tuner", "MetisTuner", alias="MetisTuner"),
    AlgorithmInfo("SMAC", "tuner", f"{_HPO}.smac_tuner", "SMACTuner"),
    AlgorithmInfo("PBT", "tuner", f"{_HPO}.pbt_tuner", "PBTTuner", alias="PBTTuner"),
    AlgorithmInfo("DNGO", "tuner", f"{_HPO}.dngo_tuner", "DNGOTuner", alias="DNGOTuner"),
    AlgorithmInfo("Hyperband", "tuner", f"{_HPO}.hyperband_advisor", "Hyperband"),
    AlgorithmInfo("BOHB", "tuner", f"{_HPO}.bohb_advisor", "BOHB"),
    AlgorithmInfo("TPE_legacy", "tuner", f"{_HPO}.hyperopt_tuner", "HyperoptTuner", (("algorithm_name", "tpe"),)),
    AlgorithmInfo("Auto", "tuner", f"{_HPO}.auto_tuner", "AutoTuner", alias="AutoTuner"),
    AlgorithmInfo("Medianstop", "assessor", f"{_HPO}.medianstop_assessor", "MedianstopAssessor"),
    AlgorithmInfo("Curvefitting", "assessor", f"{_HPO}.curvefitting_assessor", "CurvefittingAssessor"),
]}


_ALIASES = {info.alias.lower(): info for info in BUILTIN_ALGORITHMS.values() if info.alias}


def registered_algorithms_file() -> Path:
    """Where ``nnictl algo register`` keeps its entries, in NNI's ``registered_algorithms.yml`` format.

    ``$NNI_CONFIG_DIR`` when set (as in NNI), else ``~/.config/nni``: a user-level file, so that
    registrations survive reinstalling the package or switching virtualenvs.
    """
    folder = os.environ.get("NNI_CONFIG_DIR")
    return Path(folder).expanduser() / "registered_algorithms.yml" if folder else \
        Path.home() / ".config" / "nni" / "registered_algorithms.yml"


def _read_registrations() -> dict[str, list[dict[str, Any]]]:
    import yaml

    path = registered_algorithms_file()
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML ({error})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of tuners/assessors lists")
    return {key: list(value or []) for key, value in data.items() if key in ("tuners", "assessors", "advisors")}


def _info_from_meta(meta: dict[str, Any], kind: str) -> AlgorithmInfo:
    module, _, class_name = str(meta["className"]).rpartition(".")
    return AlgorithmInfo(str(meta["builtinName"]), "assessor" if kind == "assessor" else "tuner", module,
                         class_name, tuple((meta.get("classArgs") or {}).items()), meta.get("alias"),
                         meta.get("classArgsValidator"), builtin=meta.get("source") == "nni")


def registered_algorithms() -> list[AlgorithmInfo]:
    """The algorithms registered by users (NNI 2.5 and older also listed built-ins there: skipped)."""
    infos = []
    for key, metas in _read_registrations().items():
        for meta in metas:
            if isinstance(meta, dict) and meta.get("builtinName") and meta.get("className") \
                    and meta.get("source") != "nni":
                infos.append(_info_from_meta(meta, key[:-1]))
    return infos


def all_algorithms() -> list[AlgorithmInfo]:
    """Built-ins first, then registered ones."""
    return [*BUILTIN_ALGORITHMS.values(), *registered_algorithms()]


def _lookup(name: str) -> AlgorithmInfo | None:
    key = name.lower()
    info = BUILTIN_ALGORITHMS.get(key) or _ALIASES.get(key)
    if info is not None:
        return info
    return next((i for i in registered_algorithms() if key in (i.name.lower(), (i.alias or "").lower())), None)


def find_builtin(name: str, kind: str) -> AlgorithmInfo:
    """Look a built-in, alias or registered algorithm up by name, case-insensitively."""
    info = _lookup(name)
    if info is None or info.kind != kind:
        valid = ", ".join(i.name for i in all_algorithms() if i.kind == kind)
        raise ConfigError(f"{kind}.name: unknown built-in {kind} {name!r} (valid: {valid}; a custom one "
                          f"can be added with `nnictl algo register --meta_path FILE`)")
    return info


def builtin_class(name: str, kind: str) -> type:
    """The class of a built-in, alias or registered algorithm, for checks made before one is created."""
    info = find_builtin(name, kind)
    return _import_class(info.module, info.class_name, None)


def register_algorithm(meta: dict[str, Any]) -> AlgorithmInfo:
    """Add (or replace) a user algorithm from an NNI meta dict; refuse built-in names and bad metas."""
    import yaml

    for key in ("algoType", "builtinName", "className"):
        if not meta.get(key):
            raise ConfigError(f"meta file: {key} is required (keys: algoType, builtinName, className, "
                              f"classArgsValidator)")
    kind = meta["algoType"]
    if kind not in ("tuner", "assessor", "advisor"):
        raise ConfigError(f"meta file: algoType must be tuner, assessor or advisor, got {kind!r}")
    name = str(meta["builtinName"])
    existing = _lookup(name)
    if existing is not None and existing.builtin:
        raise ConfigError(f"cannot overwrite built-in algorithm {existing.name}")
    info = _info_from_meta(meta, kind)
    if not info.module:
        raise ConfigError(f"meta file: className must be 'module.ClassName', got {meta['className']!r}")
    _import_class(info.module, info.class_name, None)
    if info.validator:
        _import_dotted(info.validator, "classArgsValidator")
    data = _read_registrations()
    for key in data:
        data[key] = [m for m in data[key] if str(m.get("builtinName", "")).lower() != name.lower()]
    entry = {"builtinName": name, "className": meta["className"], "source": "user"}
    if info.validator:
        entry["classArgsValidator"] = info.validator
    data.setdefault(f"{kind}s", []).append(entry)
    path = registered_algorithms_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({k: v for k, v in data.items() if v}, sort_keys=False), encoding="utf-8")
    return info


def unregister_algorithm(name: str) -> None:
    """Remove a user algorithm; built-ins and unknown names are errors."""
    import yaml

    info = _lookup(name)
    if info is None:
        raise ConfigError(f"algorithm {name!r} is not registered")
    if info.builtin:
        raise ConfigError(f"{info.name} is provided by nni and cannot be unregistered")
    data = _read_registrations()
    for key in data:
        data[key] = [m for m in data[key] if str(m.get("builtinName", "")).lower() != info.name.lower()]
    registered_algorithms_file().write_text(yaml.safe_dump({k: v for k, v in data.items() if v}, sort_keys=False),
                                            encoding="utf-8")


def _import_class(module: str, class_name: str, code_directory: Path | None) -> type:
    if code_directory is not None:
        path = str(Path(code_directory).expanduser().resolve())
        if path not in sys.path:
            sys.path.insert(0, path)
    try:
        return getattr(importlib.import_module(module), class_name)
    except (ImportError, AttributeError) as error:
        raise ConfigError(f"cannot load class {module}.{class_name}: {error}") from error


def _import_dotted(dotted: str, what: str) -> type:
    module, _, name = dotted.rpartition(".")
    if not module:
        raise ConfigError(f"{what} must be 'module.ClassName', got {dotted!r}")
    return _import_class(module, name, None)


def _validate_class_args(info: AlgorithmInfo, args: dict[str, Any]) -> None:
    """Run a registered algorithm's ClassArgsValidator, turning its refusal into a ConfigError."""
    assert info.validator is not None
    validator = _import_dotted(info.validator, "classArgsValidator")()
    try:
        validator.validate_class_args(**args)
    except Exception as error:  # a user validator may raise anything (NNI's use assert or schema)
        raise ConfigError(f"{info.kind}.classArgs for {info.name} refused by {info.validator}: "
                          f"{error or type(error).__name__}") from None


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
        if info.validator:
            _validate_class_args(info, args)
    else:
        raise ConfigError(f"{kind}: give either name (a built-in) or className")
    try:
        inspect.signature(cls).bind(**args)
    except TypeError as error:
        raise ConfigError(f"{kind}.classArgs: {error} (for {cls.__name__})") from None
    return cls(**args)
