"""DuckDB as the near-limit reference of ``make bench``: a page's tables computed by DuckDB SQL.

A bench module hands over the raw tables as the pandas frames its naive path reads (DuckDB's
sqlite extension would have to be downloaded, and the bench reads PostgreSQL the same way), and
a ``compute(con)`` function that runs DuckDB SQL over them and returns the page's tables:

    result, timing = reference(raw, compute)

``timing.cold_ms`` = loading the frames into an in-memory DuckDB (native tables, so the
queries do not scan pandas) plus one compute; ``timing.warm_ms`` = the median of later computes
on the loaded database. CPU time (``time.process_time``, all of DuckDB's threads) is kept beside
the wall time, since the bench machine is shared. ``OPS_BENCH_DUCKDB_THREADS`` caps DuckDB's
threads (default: DuckDB's own, one per core).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import duckdb
import pandas as pd

T = TypeVar("T")
WARM_RUNS = 5


@dataclass(frozen=True)
class Timing:
    """Wall and CPU milliseconds of the cold run (load + compute) and the median warm compute."""

    cold_ms: float
    warm_ms: float
    cold_cpu_ms: float
    warm_cpu_ms: float


def connect(threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB; ``threads`` (or ``OPS_BENCH_DUCKDB_THREADS``) caps its worker threads."""
    con = duckdb.connect(":memory:")
    threads = threads or int(os.environ.get("OPS_BENCH_DUCKDB_THREADS", "0") or 0)
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    return con


def _quoted(name: str) -> str:
    if not name.replace("_", "a").isalnum():
        raise ValueError(f"not a plain identifier: {name!r}")
    return f'"{name}"'


def load(con: duckdb.DuckDBPyConnection, frames: Mapping[str, pd.DataFrame]) -> None:
    """Copy each frame into a native DuckDB table of the same name (columns and types kept).

    An object column with no value at all (an empty table) becomes VARCHAR rather than
    DuckDB's NULL type, so comparisons with text still bind.
    """
    for name, df in frames.items():
        cols = []
        for c in df.columns:
            q = _quoted(str(c))
            empty_text = df[c].dtype == object and not df[c].notna().any()
            cols.append(f"{q}::VARCHAR AS {q}" if empty_text else q)
        con.register("_frame", df)
        try:
            select_list = ", ".join(cols)
            con.execute(f"CREATE OR REPLACE TABLE {_quoted(name)} AS SELECT {select_list} FROM _frame")  # noqa: S608 - identifiers checked by _quoted
        finally:
            con.unregister("_frame")


def frame(con: duckdb.DuckDBPyConnection, sql: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """The result of one query as a pandas frame (``$name`` parameters from ``params``)."""
    return con.execute(sql, dict(params or {})).df()


def reference(frames: Mapping[str, pd.DataFrame], compute: Callable[[duckdb.DuckDBPyConnection], T], *,
              warm_runs: int = WARM_RUNS, threads: int | None = None) -> tuple[T, Timing]:
    """Load ``frames`` into a new in-memory DuckDB and time ``compute`` on it, cold and warm."""
    t0, c0 = time.perf_counter(), time.process_time()
    con = connect(threads)
    try:
        load(con, frames)
        result = compute(con)
        cold, cold_cpu = (time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000
        warm, warm_cpu = [], []
        for _ in range(warm_runs):
            t0, c0 = time.perf_counter(), time.process_time()
            result = compute(con)
            warm.append((time.perf_counter() - t0) * 1000)
            warm_cpu.append((time.process_time() - c0) * 1000)
    finally:
        con.close()
    return result, Timing(cold_ms=cold, warm_ms=statistics.median(warm), cold_cpu_ms=cold_cpu,
                          warm_cpu_ms=statistics.median(warm_cpu))
