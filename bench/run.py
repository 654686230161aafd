"""``make bench``: build (once) a bench-size database and time each page's data load.

Every ``bench/bench_*.py`` module exposes ``run(engine) -> list[dict]`` with rows holding
``name``, ``approach``, ``cold_ms``, ``warm_ms`` and ``rows`` (optionally ``warm_cpu_ms`` or
``cpu_ms``; an ``approach`` starting ``duckdb`` is the DuckDB reference, see
``bench/duckdb_ref.py``). Results print as a Markdown table and are written to
``bench/out/results.md`` for BENCHMARKS.md.

Environment: ``OPS_BENCH_DATABASE_URL`` (default ``sqlite:///bench/out/bench.db``);
``OPS_BENCH_ONLY=inventory`` runs one module.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import time
from pathlib import Path

from sqlalchemy import Engine

from ops.db import make_engine
from ops.models import Base

OUT = Path(__file__).resolve().parent / "out"


def _ensure_seeded(url: str) -> None:
    from ops.demo import is_empty, seed

    engine = make_engine(url)
    Base.metadata.create_all(engine)
    if is_empty(engine):
        t0 = time.perf_counter()
        seed(engine, size="bench", seed=42, progress=lambda m: print(f"  {m}", flush=True))
        print(f"seeded bench size in {time.perf_counter() - t0:.0f} s")
    elif _empty_aggregates(engine):
        # a bench database made by an older version: the aggregate tables added since are empty
        from ops.aggregates import refresh_all
        from ops.db import transaction

        t0 = time.perf_counter()
        with transaction(engine) as s:
            names = refresh_all(s)
        print(f"rebuilt {', '.join(names)} (empty aggregate tables) in {time.perf_counter() - t0:.0f} s")
    engine.dispose()


# Aggregates with no row until something else happens (a forecast run succeeds): not a sign of an old database.
EMPTY_UNTIL_USED = frozenset({"agg_planner_forecast"})


def _empty_aggregates(engine: Engine) -> list[str]:
    """The ``agg_*`` tables holding no row (every one but :data:`EMPTY_UNTIL_USED` has rows once the
    bench data is refreshed)."""
    from sqlalchemy import literal, select

    with engine.connect() as c:
        return [t.name for t in Base.metadata.sorted_tables
                if t.name.startswith("agg_") and t.name not in EMPTY_UNTIL_USED
                and c.execute(select(literal(1)).select_from(t).limit(1)).first() is None]


def _table(rows: list[dict]) -> str:
    """Markdown table with ratios against the naive approach and DuckDB on the same data.

    ``vs naive load``: the naive approach's read-whole-tables-then-aggregate time over our warm
    time (what opening the page costs each way); ``vs naive warm``: the naive approach with its
    raw tables already cached in memory (an st.cache_data hit plus the aggregation) over ours;
    ``vs DuckDB``: our warm time over DuckDB's warm time computing the same tables from the raw
    data (rows named ``duckdb ...``; <= 1.0 means we are no slower). ``warm CPU ms`` is
    ``time.process_time`` where a module records it (all threads of the process).
    """
    lines = ["| page | approach | cold ms | warm ms | warm CPU ms | rows | vs naive load | vs naive warm | vs DuckDB |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    naive = {r["name"]: r for r in rows if r["approach"].startswith("naive")}
    duck = {r["name"]: r for r in rows if r["approach"].startswith("duckdb")}
    for r in rows:
        base, ref = naive.get(r["name"]), duck.get(r["name"])
        ours = r is not base and r is not ref and r["warm_ms"] > 0
        load = f"{base['cold_ms'] / r['warm_ms']:.0f}x" if ours and base else ""
        warm = f"{base['warm_ms'] / r['warm_ms']:.1f}x" if ours and base else ""
        vs_duck = f"{r['warm_ms'] / ref['warm_ms']:.2f}" if ours and ref and ref["warm_ms"] > 0 else ""
        cpu_ms = r.get("warm_cpu_ms", r.get("cpu_ms"))  # bench_fulfillment names it cpu_ms
        cpu = f"{cpu_ms:,.0f}" if cpu_ms is not None else ""
        lines.append(f"| {r['name']} | {r['approach']} | {r['cold_ms']:,.0f} | {r['warm_ms']:,.0f} | {cpu} | "
                     f"{r['rows']:,} | {load} | {warm} | {vs_duck} |")
    return "\n".join(lines)


def main() -> int:
    OUT.mkdir(exist_ok=True)
    url = os.environ.get("OPS_BENCH_DATABASE_URL", f"sqlite:///{OUT / 'bench.db'}")
    _ensure_seeded(url)
    only = os.environ.get("OPS_BENCH_ONLY")
    rows: list[dict] = []
    bench_dir = Path(__file__).resolve().parent
    for mod in sorted(m.name for m in pkgutil.iter_modules([str(bench_dir)]) if m.name.startswith("bench_")):
        if only and mod != f"bench_{only}":
            continue
        print(f"running {mod} ...", flush=True)
        engine = make_engine(url)
        rows.extend(importlib.import_module(f"bench.{mod}").run(engine))
        engine.dispose()
    table = _table(rows)
    print(table)
    where = make_engine(url).url.render_as_string(hide_password=True)
    (OUT / "results.md").write_text(f"database: {where}\n\n{table}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
