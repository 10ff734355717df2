"""``trialFunction``: a Python function as the trial, named so that another process can import it.

A function is named by reference, as pickle names it: ``module:qualname``, or ``/path/file.py:qualname``
for one defined in the script that was run (``__main__``). Only what pickle could find again by that
name is taken, so lambdas and nested functions are refused here, before anything starts.
"""

from __future__ import annotations

import importlib.machinery
import os
import sys
from pathlib import Path
from typing import Any

from ..runtime.function_worker import function_command, function_of, parse_reference

__all__ = ["function_reference", "check_importable", "function_command", "function_of"]


def function_reference(value: Any) -> str:
    """The reference of a function (or a checked ``module:function`` string); ValueError saying why not."""
    if isinstance(value, str):
        parse_reference(value)
        return value
    if not callable(value):
        raise ValueError(f"must be a function or 'module:function', got {type(value).__name__}")
    module_name = getattr(value, "__module__", None)
    qualname = getattr(value, "__qualname__", None)
    if not isinstance(module_name, str) or not isinstance(qualname, str):
        raise ValueError(f"{value!r} has no module and name to import it by; give a function defined with def")
    if "<lambda>" in qualname:
        raise ValueError("a lambda cannot be a trial function: each trial imports the function by its name in "
                         "another process; define it with def at the top level of a module")
    if "<locals>" in qualname:
        raise ValueError(f"{qualname.replace('.<locals>', '')} is defined inside another function: each trial "
                         "imports the function by its name in another process; move it to the top level of a module")
    module = sys.modules.get(module_name)
    target: Any = module
    for part in qualname.split("."):
        target = getattr(target, part, None)
    if target is not value:
        raise ValueError(f"{module_name}.{qualname} does not name this function (it was replaced or wrapped "
                         "without functools.wraps); give a function importable by its name")
    if module_name == "__main__":
        path = getattr(module, "__file__", None)
        if not path:
            raise ValueError(f"{qualname} is defined in an interactive session or notebook, which trials cannot "
                             "import: put it in a .py file and import it from there")
        return f"{os.path.realpath(path)}:{qualname}"
    return f"{module_name}:{qualname}"


def check_importable(reference: str, code_dir: Path) -> str | None:
    """Why a trial started in ``code_dir`` could not find ``reference``'s module; None when it can."""
    where, _ = parse_reference(reference)
    if where.endswith(".py"):
        path = code_dir / where
        return None if path.is_file() else f"{path} is not a file"
    top = where.split(".")[0]
    if top in sys.modules or importlib.machinery.PathFinder.find_spec(top, [str(code_dir), *sys.path]) is not None:
        return None
    return f"module {top!r} is found neither in trialCodeDirectory ({code_dir}) nor on the Python path"
