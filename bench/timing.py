"""One timing helper for the bench modules: a call once cold, then the median of warm calls, wall and CPU."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any


def ms_since(t0: float) -> float:
    """Milliseconds of wall time since ``t0`` (``time.perf_counter``)."""
    return (time.perf_counter() - t0) * 1000


def timed(fn: Callable[[], Any], runs: int) -> tuple[Any, float, float, float]:
    """``fn()`` once cold then ``runs`` times: result, cold wall ms, median warm wall / CPU ms.

    CPU is ``time.process_time`` (every thread of this process; on PostgreSQL the server's work shows in
    wall time only).
    """
    t0 = time.perf_counter()
    out = fn()
    cold = ms_since(t0)
    warm, warm_cpu = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        warm.append(ms_since(t0))
        warm_cpu.append((time.process_time() - c0) * 1000)
    return out, cold, statistics.median(warm), statistics.median(warm_cpu)
