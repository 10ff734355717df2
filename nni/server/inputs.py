"""Reading what a request carries, safely: its JSON body and the files it names.

Both the NNI REST routes and the web UI's use these, so a malformed body is one 400 everywhere and
no path a request names can leave the experiment's folder.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request

__all__ = ["json_body", "parse_json_text", "confined_path", "MAX_JSON_DEPTH"]

MAX_JSON_DEPTH = 200
"""Nesting deeper than this is refused: no real config or parameter set comes near it, and the
parser's recursion (and every consumer's) stays bounded."""


def _depth_ok(text: str) -> bool:
    """Whether brackets nest at most MAX_JSON_DEPTH deep (strings skipped), without parsing."""
    depth = 0
    in_string = False
    escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return False
        elif char in "]}":
            depth -= 1
    return True


def parse_json_text(text: str | bytes, what: str = "the request body") -> Any:
    """Parse JSON or raise a 400 naming ``what`` and the problem (bad syntax, bad UTF-8, too deep)."""
    try:
        decoded = text.decode("utf-8") if isinstance(text, bytes) else text
    except UnicodeDecodeError:
        raise HTTPException(400, f"{what} is not UTF-8 text") from None
    if not _depth_ok(decoded):
        raise HTTPException(400, f"{what} nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(decoded)
    except ValueError as error:
        raise HTTPException(400, f"{what} is not JSON: {error}") from None
    except RecursionError:
        raise HTTPException(400, f"{what} nests too deeply") from None


async def json_body(request: Request) -> Any:
    """The request's JSON body (None when there is none); malformed input is a 400."""
    raw = await request.body()
    return parse_json_text(raw) if raw.strip() else None


def confined_path(experiment_dir: Path, folder: str | Path, name: str) -> Path | None:
    """``experiment_dir/folder/name`` if its real path stays inside ``experiment_dir/folder``.

    The allowed root is built from the experiment folder's real path and the *unresolved* sub-folder,
    so a trial that swaps its own folder for a link (to ``/``, say) gains nothing. Checked per
    request, since files change under a running experiment. None for anything else: absolute names,
    '..' escapes, NUL bytes, links out, or the folder itself.
    """
    if not name or "\x00" in name or os.path.isabs(name):
        return None
    try:
        base = experiment_dir.resolve()
        root = base / folder
        target = (root / name).resolve()
    except (OSError, RuntimeError, ValueError):
        return None
    if target == root or not target.is_relative_to(root):
        return None
    return target
