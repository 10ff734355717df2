"""Tuner calls run with one BLAS thread.

OpenBLAS starts a thread per core and spins them on every matrix call. Next to running trials
those threads fight the trials for the cores: a GP ask with 1,000 results took 3-13 s with the
default two threads on a busy two-core machine, 0.3-0.5 s with one. The models fitted in a tuner
are small (a few hundred points), where one thread is as fast as several on an idle machine too.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Iterator
from typing import Any

from threadpoolctl import ThreadpoolController

__all__ = ["one_blas_thread"]


_CARRIERS = ("numpy", "scipy.linalg", "sklearn", "torch")
"""Packages that bring their own BLAS: the controller is found again when one of them is imported."""


@functools.cache
def _controller(loaded: tuple[bool, ...]) -> ThreadpoolController:
    # Scanning the loaded libraries costs milliseconds; limiting a known set costs about 0.1 ms.
    return ThreadpoolController()


@contextlib.contextmanager
def one_blas_thread() -> Iterator[Any]:
    """Limit the BLAS libraries loaded so far to one thread for the duration (process-wide)."""
    with _controller(tuple(name in sys.modules for name in _CARRIERS)).limit(limits=1, user_api="blas") as limits:
        yield limits
