"""``nnictl algo``: list, show, register and unregister tuners and assessors, as NNI's does."""

from __future__ import annotations

import argparse
import inspect
from pathlib import Path
from typing import Any

import yaml

from ...algorithms.hpo.builtin import (
    AlgorithmInfo,
    all_algorithms,
    find_builtin,
    register_algorithm,
    registered_algorithms_file,
    unregister_algorithm,
)
from ...errors import ConfigError
from .common import console, fail, table

__all__ = ["algo_list", "algo_show", "algo_register", "algo_unregister"]


def algo_list(args: argparse.Namespace) -> int:
    rows = []
    for info in all_algorithms():
        try:
            __import__(info.module)
            available = "yes"
        except ImportError as error:
            available = f"no ({error.name or error})"
        rows.append([info.name, info.alias or "", info.kind, "nni" if info.builtin else "user",
                     f"{info.module}.{info.class_name}", available])
    table("Algorithms", ["name", "alias", "kind", "source", "class", "available"], rows)
    return 0


def _find(name: str) -> AlgorithmInfo:
    try:
        return find_builtin(name, "tuner")
    except ConfigError:
        try:
            return find_builtin(name, "assessor")
        except ConfigError as error:
            fail(str(error))


def algo_show(args: argparse.Namespace) -> int:
    info = _find(args.name)
    console.print(f"name: {info.name}\nkind: {info.kind}\nsource: {'nni' if info.builtin else 'user'}\n"
                  f"class: {info.module}.{info.class_name}", markup=False)
    if info.alias:
        console.print(f"alias: {info.alias}", markup=False)
    if info.validator:
        console.print(f"classArgsValidator: {info.validator}", markup=False)
    for key, value in info.fixed_args:
        console.print(f"implied classArgs: {key}={value!r}", markup=False)
    try:
        module = __import__(info.module, fromlist=[info.class_name])
        cls = getattr(module, info.class_name)
    except (ImportError, AttributeError) as error:
        console.print(f"not available here: {error}", markup=False)
        return 1
    params = [p for p in inspect.signature(cls).parameters.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if params:
        table("classArgs", ["name", "default"],
              [[p.name, "(required)" if p.default is p.empty else repr(p.default)] for p in params])
    doc = inspect.getdoc(cls)
    if doc:
        console.print(doc, markup=False)
    return 0


def _read_meta(path: Path) -> list[dict[str, Any]]:
    """The entries of a meta file: one algorithm, or NNI's ``algorithms: [...]`` list."""
    if not path.is_file():
        fail(f"meta file {path} not found")
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        fail(f"meta file {path}: not valid YAML ({error})")
    if not isinstance(content, dict):
        fail(f"meta file {path}: expected a mapping with algoType, builtinName, className")
    metas = content.get("algorithms") if "algorithms" in content else [content]
    if not isinstance(metas, list) or not all(isinstance(m, dict) for m in metas):
        fail(f"meta file {path}: 'algorithms' must be a list of mappings")
    return metas


def algo_register(args: argparse.Namespace) -> int:
    path = Path(args.meta_path).expanduser()
    for meta in _read_meta(path):
        try:
            info = register_algorithm(meta)
        except ConfigError as error:
            fail(f"{path}: {error}")
        console.print(f"{info.name} registered successfully ({info.kind} {info.module}.{info.class_name}, "
                      f"stored in {registered_algorithms_file()})", markup=False)
    return 0


def algo_unregister(args: argparse.Namespace) -> int:
    try:
        unregister_algorithm(args.name)
    except ConfigError as error:
        fail(str(error))
    console.print(f"{args.name} unregistered successfully", markup=False)
    return 0
