"""The package's layers: each subpackage imports only those below it, so there are no cycles.

The order is the architecture of ``docs/architecture.md``; a new import that points upwards fails
here with the module and the line that made it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nni

ROOT = Path(nni.__file__).parent

# Bottom first. The root package (``nni/__init__.py``: version and the trial API) is below all.
LAYERS = [
    "errors", "metrics", "objectives", "typehint", "recoverable", "runtime", "trial", "utils", "tuner", "assessor",
    "search_space", "algorithms", "config", "records", "storage", "training_service", "engine", "analysis",
    "integrations", "server", "experiment", "tools",
]


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) for every ``nni`` import in ``path``."""
    module_parts = ["nni", *path.relative_to(ROOT).with_suffix("").parts]
    package_parts = module_parts[:-1]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package_parts[:len(package_parts) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if node.module is None:
                found.extend((node.lineno, f"{target}.{alias.name}") for alias in node.names)
            else:
                found.append((node.lineno, target))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
    return [(line, target) for line, target in found if target == "nni" or target.startswith("nni.")]


def test_every_subpackage_has_a_layer() -> None:
    names = {p.stem if p.is_file() else p.name for p in ROOT.iterdir()
             if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists()}
    assert names - set(LAYERS) == set()


def test_no_package_imports_one_above_it() -> None:
    rank = {name: index for index, name in enumerate(LAYERS)}
    upward = []
    for path in sorted(ROOT.rglob("*.py")):
        own = _package("nni." + ".".join(path.relative_to(ROOT).with_suffix("").parts))
        if own in ("", "__init__"):
            continue
        for line, target in _imports(path):
            other = _package(target)
            if other in rank and other != own and rank[other] > rank[own]:
                upward.append(f"{path.relative_to(ROOT.parent)}:{line} ({own}) imports {target} ({other})")
    assert upward == []
