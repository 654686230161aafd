"""The full aggregate refresh (``python -m ops refresh --full``) at bench size, per refresher.

``run(engine)`` never writes to the database it is given: it refreshes a copy. SQLite: the file
(and its write-ahead log, if any) copied to a temporary folder; PostgreSQL: a database created with
``CREATE DATABASE ... TEMPLATE`` (retried while other sessions hold the source open) and dropped after.
On the copy, every registered refresher runs in one transaction, as the command does
(:func:`ops.aggregates.refresh_all`), then it commits. Rows: one per refresher, the commit, and the
total, each with wall milliseconds (``cold_ms`` = ``warm_ms``: one run) and ``cpu_ms``
(``time.process_time``, this process only: on PostgreSQL the server's CPU is not in it). The
machine is shared: the load average is printed beside the figures.

Standalone: ``python -m bench.bench_refresh [URL]`` (default: the bench SQLite database).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from ops.aggregates import refresh_all
from ops.db import make_engine, transaction
from ops.models import Base

NAME = "full refresh"
TEMPLATE_RETRIES = 30


@contextmanager
def _copy(engine: Engine) -> Iterator[Engine]:
    """An engine on a throwaway copy of ``engine``'s database."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        src = Path(url.database or "")
        tmp = Path(tempfile.mkdtemp(prefix="bench_refresh_"))
        try:
            for suffix in ("", "-wal"):  # a read-only bench database may hold committed pages in its log
                if Path(f"{src}{suffix}").exists():
                    shutil.copyfile(f"{src}{suffix}", tmp / f"copy.db{suffix}")
            copy = make_engine(f"sqlite:///{tmp / 'copy.db'}")
            try:
                yield copy
            finally:
                copy.dispose()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    name = f"bench_refresh_{uuid.uuid4().hex[:8]}"
    src_name = url.database
    admin = make_engine(url.set(database="postgres").render_as_string(hide_password=False),
                        isolation_level="AUTOCOMMIT")
    engine.dispose()  # TEMPLATE needs no session on the source, ours included
    try:
        for attempt in range(TEMPLATE_RETRIES):
            try:
                with admin.connect() as c:
                    c.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{src_name}"')
                break
            except Exception:  # noqa: BLE001 - "source database is being accessed by other users": retry
                if attempt == TEMPLATE_RETRIES - 1:
                    raise
                time.sleep(2)
        copy = make_engine(url.set(database=name).render_as_string(hide_password=False))
        try:
            yield copy
        finally:
            copy.dispose()
            with admin.connect() as c:
                c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        admin.dispose()


def _agg_rows(engine: Engine) -> int:
    with engine.connect() as c:
        return sum(int(c.execute(text(f"SELECT count(*) FROM {t.name}")).scalar_one())  # noqa: S608 - model names
                   for t in Base.metadata.sorted_tables if t.name.startswith("agg_"))


def _row(approach: str, wall: float, cpu: float, rows: int = 0) -> dict[str, Any]:
    return {"name": NAME, "approach": approach, "cold_ms": wall * 1000, "warm_ms": wall * 1000,
            "cpu_ms": cpu * 1000, "rows": rows}


def run(engine: Engine) -> list[dict[str, Any]]:
    """Time the full refresh on a copy of ``engine``'s database: per refresher, the commit, the total."""
    load = os.getloadavg()
    with _copy(engine) as copy:
        timings: dict[str, tuple[float, float]] = {}
        w0, c0 = time.perf_counter(), time.process_time()
        with transaction(copy) as s:
            names = refresh_all(s, timings=timings)
            w1, c1 = time.perf_counter(), time.process_time()
        w2, c2 = time.perf_counter(), time.process_time()
        rows = [_row(f"refresher {n}", *timings[n]) for n in names]
        rows.append(_row("commit", w2 - w1, c2 - c1))
        rows.append(_row("total (one transaction)", w2 - w0, c2 - c0, _agg_rows(copy)))
    print(f"  full refresh on {engine.dialect.name}: {rows[-1]['warm_ms'] / 1000:.1f} s wall, "
          f"{rows[-1]['cpu_ms'] / 1000:.1f} s CPU; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
          f"before, {' '.join(f'{v:.2f}' for v in os.getloadavg())} after", flush=True)
    return rows


if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else "sqlite:///bench/out/bench.db"
    for r in run(make_engine(target)):
        print(f"{r['approach']:32s} {r['warm_ms'] / 1000:7.1f} s wall {r['cpu_ms'] / 1000:7.1f} s CPU")
