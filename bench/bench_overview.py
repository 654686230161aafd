"""The Overview (landing page of admins, managers and planners) at bench size: what it reads on open.

``app_pages/home.py`` reads the exceptions inbox (:func:`ops.review.inbox.inbox`: every breached
threshold of every page the viewer may open) and then each registered domain's headline
(``Domain.headline``) with the sidebar's default filters (the last 90 days of the data, every
warehouse and channel). Each part is timed warm (median of :data:`WARM_RUNS`, wall and CPU), for a
manager and for a planner (the planner's Overview shows stock only), two ways:

- ``stored``: as the page reads it, through ``ops.headline_store``: a headline computed once at the
  current data version (by any app process) is read back, so every load after the first reads
  stored rows. The row named ``total (stored)`` is what opening the page costs warm.
- ``computed``: each domain's headline computed (``Domain.headline``, what the first load after a write
  pays), and the inbox computed likewise; ``total (computed)`` is the sum.

There is no naive or DuckDB row: every part is a domain's own page function, benchmarked (with
its DuckDB reference) by that domain's module; this one says which domain the landing page waits on.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time
from contextlib import nullcontext
from typing import Any

from sqlalchemy import Engine

from ops.access import Viewer
from ops.db import read_session
from ops.domain import load_domains
from ops.filters import Filters
from ops.reference import data_span

WARM_RUNS = 5
DEFAULT_DAYS = 90  # ui/sidebar.py's default range
VIEWERS = (Viewer(username="bench-manager", role="manager"), Viewer(username="bench-planner", role="planner"))


def _timed(fn: Any) -> tuple[float, float, float]:
    """Cold wall ms, median warm wall ms and CPU ms of ``fn()``."""
    t0 = time.perf_counter()
    fn()
    cold = (time.perf_counter() - t0) * 1000
    wall, cpu = [], []
    for _ in range(WARM_RUNS):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    return cold, statistics.median(wall), statistics.median(cpu)


def _filters(engine: Engine, viewer: Viewer, domain_filters: tuple[str, ...]) -> Filters:
    with read_session(engine) as s:
        span = data_span(s, viewer=viewer)
    end = span[1] if span else dt.date.today()
    start = end - dt.timedelta(days=DEFAULT_DAYS - 1)
    if span:
        start = max(span[0], start)
    dates = "dates" in domain_filters
    return Filters(date_from=start if dates else None, date_to=end if dates else None)


def run(engine: Engine) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for viewer in VIEWERS:
        for how in ("stored", "computed"):
            parts = page_parts(engine, viewer, stored=how == "stored")
            total = [0.0, 0.0, 0.0]
            for label, fn in parts:
                cold, wall, cpu = _timed(fn)
                total = [total[0] + cold, total[1] + wall, total[2] + cpu]
                rows.append({"name": f"overview ({viewer.role})", "approach": f"{label} ({how})", "cold_ms": cold,
                             "warm_ms": wall, "warm_cpu_ms": cpu, "rows": 1})
                print(f"  overview ({viewer.role}) {label} ({how}): {wall:,.0f} ms wall, {cpu:,.0f} ms CPU",
                      flush=True)
            rows.append({"name": f"overview ({viewer.role})", "approach": f"total ({how})",
                         "cold_ms": total[0], "warm_ms": total[1], "warm_cpu_ms": total[2], "rows": len(parts)})
    return rows


def page_parts(engine: Engine, viewer: Viewer, *, stored: bool = True) -> list[tuple[str, Any]]:
    """The Overview's reads for ``viewer``: the inbox, then each domain's headline (``ui/home.py``).

    ``stored``: through ``ops.headline_store`` as the page reads them; else computed every time
    (``ops.headline_store.bypassed``).
    """
    from ops.headline_store import bypassed, headline
    from ops.review.inbox import inbox

    every = _filters(engine, viewer, ("dates",))

    def read_inbox(viewer: Viewer = viewer, f: Filters = every) -> Any:
        with read_session(engine) as s, (nullcontext() if stored else bypassed()):
            return inbox(s, viewer=viewer, filters=f)

    parts: list[tuple[str, Any]] = [("exceptions inbox", read_inbox)]
    for d in load_domains().values():
        if d.headline is None or not viewer.may_open(d.id):
            continue
        f = _filters(engine, viewer, d.filters)

        def head(d: Any = d, f: Filters = f, viewer: Viewer = viewer) -> Any:
            with read_session(engine) as s, (nullcontext() if stored else bypassed()):
                return headline(s, viewer, f, d)

        parts.append((f"{d.id} headline", head))
    return parts


def page_load(engine: Engine, viewer: Viewer) -> list[Any]:
    """Everything the Overview reads on open for ``viewer``, as the page reads it (stored headlines)."""
    return [fn() for _, fn in page_parts(engine, viewer)]
