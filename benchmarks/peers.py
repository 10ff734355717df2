"""Where the benchmarks find their peers: NNI 3.0 lives in its own virtualenv under .bench/."""

from __future__ import annotations

import functools
import logging
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["BENCH_DIR", "NNI30_VENV", "NNI30_PYTHON", "ensure_nni30_venv", "quietly"]

_F = TypeVar("_F", bound=Callable[..., Any])


def quietly(run: _F) -> _F:
    """Run with library warnings and log lines below ERROR silenced, then put both back: the
    tests call the benchmark runs in their own process, whose logging must stay as it was."""
    @functools.wraps(run)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        previous = logging.root.manager.disable
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            logging.disable(logging.WARNING)
            try:
                return run(*args, **kwargs)
            finally:
                logging.disable(previous)
    return wrapper  # type: ignore[return-value]

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / ".bench"
NNI30_VENV = BENCH_DIR / "nni30"
NNI30_PYTHON = NNI30_VENV / "bin" / "python"


def ensure_nni30_venv(*extra: str) -> str | None:
    """Create .bench/nni30 with ``pip install nni==3.0`` (and ``extra``) when missing.

    Returns None when it is usable, else a sentence saying why not (the caller skips NNI 3.0).
    """
    try:
        if not NNI30_PYTHON.exists():
            print("setting up NNI 3.0 in .bench/nni30 (pip install nni==3.0) ...", flush=True)
            BENCH_DIR.mkdir(exist_ok=True)
            subprocess.run([sys.executable, "-m", "venv", str(NNI30_VENV)], check=True, capture_output=True)
        missing = [p for p in ("nni==3.0", *extra)
                   if subprocess.run([str(NNI30_PYTHON), "-m", "pip", "show", "-q", p.split("==")[0]],
                                     capture_output=True).returncode != 0]
        if missing:
            subprocess.run([str(NNI30_PYTHON), "-m", "pip", "install", "-q", *missing], check=True,
                           capture_output=True, timeout=1800)
    except (subprocess.SubprocessError, OSError) as error:
        detail = getattr(error, "stderr", b"") or b""
        text = detail.decode(errors="replace")[-300:] if isinstance(detail, bytes) else ""
        return f"NNI 3.0 is unavailable ({error}) {text}".strip()
    return None
