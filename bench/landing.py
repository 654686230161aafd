"""The slowest SQL statement behind each role's landing page, at bench size.

Runs ``app.py`` in Streamlit's AppTest as each role (the page ``st.navigation`` opens first,
with the sidebar's filters, freshness line and account box), times every statement sent to
the database with SQLAlchemy cursor events, and reports the slowest one per role, cold (first
run on a new process's engine) and warm (the same page again after clearing Streamlit's result
cache, so every query runs again against a warm database). Target: none over 0.5 s warm.

Run: ``python -m bench.landing`` (``OPS_BENCH_DATABASE_URL``, default the bench SQLite file);
writes ``bench/out/landing.md``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.engine import Engine

from bench.run import OUT, _ensure_seeded

ROOT = Path(__file__).resolve().parents[1]
ROLES = ("admin", "manager", "planner", "supplier", "carrier", "3pl")
TIMINGS: list[tuple[float, str]] = []


@event.listens_for(Engine, "before_cursor_execute")
def _start(conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool) -> None:
    conn.info.setdefault("t0", []).append(time.perf_counter())


@event.listens_for(Engine, "after_cursor_execute")
def _stop(conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool) -> None:
    t0 = conn.info["t0"].pop()
    TIMINGS.append((time.perf_counter() - t0, " ".join(statement.split())))


def _viewer(role: str, url: str) -> Any:
    from ops.access import Viewer
    from ops.db import make_engine, read_session
    from ops.models import Carrier, Supplier, Warehouse

    if role in ("admin", "manager", "planner"):
        return Viewer(username=f"bench-{role}", role=role)
    eng = make_engine(url)
    with read_session(eng) as s:
        model, col, kind = {"supplier": (Supplier, Supplier.code, "supplier"),
                            "carrier": (Carrier, Carrier.code, "carrier"),
                            "3pl": (Warehouse, Warehouse.operator_code, "warehouse")}[role]
        code = s.scalar(select(col).where(col.is_not(None)).order_by(col).limit(1))
    eng.dispose()
    return Viewer(username=f"bench-{role}", role="vendor", vendor_kind=kind, vendor_code=code)


def main() -> None:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    url = os.environ.get("OPS_BENCH_DATABASE_URL", f"sqlite:///{OUT / 'bench.db'}")
    _ensure_seeded(url)
    os.environ["OPS_DATABASE_URL"] = url
    rows = []
    for role in ROLES:
        viewer = _viewer(role, url)
        result: dict[str, Any] = {"role": role}
        for run in ("cold", "warm"):
            st.cache_data.clear()
            TIMINGS.clear()
            at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
            at.session_state["viewer"] = viewer
            t0 = time.perf_counter()
            at.run()
            result[f"{run}_page_s"] = time.perf_counter() - t0
            assert not at.exception, [e.value for e in at.exception]
            result["page"] = at.title[0].value if at.title else "?"
            slow = max(TIMINGS) if TIMINGS else (0.0, "")
            result[f"{run}_ms"], result[f"{run}_sql"] = slow[0] * 1000, slow[1]
            result[f"{run}_n"] = len(TIMINGS)
        rows.append(result)
        print(f"{role:9} {result['page']:18} slowest warm {result['warm_ms']:7.0f} ms of {result['warm_n']} "
              f"statements (page {result['warm_page_s']:.2f} s): {result['warm_sql'][:110]}", flush=True)
    lines = ["| role | landing page | statements | slowest cold ms | slowest warm ms | page run warm s "
             "| slowest statement (warm) |",
             "|---|---|---:|---:|---:|---:|---|"]
    for r in rows:
        sql = r["warm_sql"][:140].replace("|", "\\|")
        lines.append(f"| {r['role']} | {r['page']} | {r['warm_n']} | {r['cold_ms']:.0f} | {r['warm_ms']:.0f} | "
                     f"{r['warm_page_s']:.2f} | `{sql}` |")
    OUT.mkdir(exist_ok=True)
    (OUT / "landing.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
