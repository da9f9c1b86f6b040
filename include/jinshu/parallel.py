"""Per-value work (hashes, HMACs, AES-GCM) spread over the machine's cores.

A Python loop over a million values runs on one core (the GIL). For big
inputs :func:`split_map` cuts the list into one part per core, hands all but
the first to forked worker processes and does the first itself; results come
back in order. ``function`` must be a module-level callable (or a
``functools.partial`` of one) that maps a list to a list of the same length.
Small inputs, one core, or ``JINSHU_WORKERS=1`` run in-process.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

MIN_PER_WORKER = 50_000  # below this, forking costs more than it saves


def workers() -> int:
    configured = os.environ.get("JINSHU_WORKERS")
    return max(1, int(configured)) if configured else (os.cpu_count() or 1)


def split_map(function: Callable[[list[T]], list[R]], values: Sequence[T]) -> list[R]:
    """``function(values)``, computed in parts on every core when ``values`` is big."""
    values = list(values)
    count = min(workers(), len(values) // MIN_PER_WORKER)
    if count < 2:
        return function(values)
    size = -(-len(values) // count)
    parts = [values[i:i + size] for i in range(0, len(values), size)]
    with ProcessPoolExecutor(len(parts) - 1, mp_context=multiprocessing.get_context("fork")) as pool:
        futures = [pool.submit(function, part) for part in parts[1:]]
        out = function(parts[0])
        for future in futures:
            out.extend(future.result())
    return out
