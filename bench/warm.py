"""The 150 ms check: every page's warm data load, ours only, for a full viewer and each vendor who sees it.

``make bench`` times each page against the naive pandas approach and DuckDB, which costs minutes per page at
bench size (the naive side reads whole tables). This reruns only our side, with the same calls the bench
modules time (and, for the Weekly review, the domains' headlines it also reads), so the bar can be checked in
a minute on a quiet machine, on SQLite and PostgreSQL:

    python -m bench.warm sqlite:////tmp/bench_copy.db
    python -m bench.warm postgresql+psycopg://postgres@127.0.0.1:5432/bench

The Overview and the Weekly review read the domains' headlines stored at the current data version
(``ops.headline_store``); a second table times them with the store bypassed: what the first load after a
write that may change a headline costs.

Each load runs once cold, then ``RUNS`` times; the median wall and CPU milliseconds (``time.process_time``:
this process; on PostgreSQL the server's work is in wall time only) and the load average are printed as a
Markdown table. Nothing is written to the database but the stored headlines (``headline_store``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

from bench.timing import timed
from ops.access import SYSTEM, Viewer
from ops.db import make_engine, read_session
from ops.headline_store import bypassed

RUNS = 7
BAR_MS = 150.0
STORED_PAGES = ("Overview", "Weekly review (with headlines)")


def loads(engine: Engine) -> list[tuple[str, str, Callable[[], Any]]]:
    """(page, viewer, load) for every page with a data load at bench size, as the bench modules time them."""
    from bench import (
        bench_forecast_page,
        bench_fulfillment,
        bench_inventory,
        bench_overview,
        bench_planner_page,
        bench_returns,
        bench_review,
        bench_scorecards,
    )
    from ops.forecast.page import forecast_page
    from ops.inventory import inventory_health
    from ops.planner import planner_page

    out: list[tuple[str, str, Callable[[], Any]]] = []
    for v in bench_overview.VIEWERS:
        out.append(("Overview", v.role, lambda v=v: bench_overview.page_load(engine, v)))

    def inv(v: Viewer) -> Any:
        with read_session(engine) as s:
            return inventory_health(s, viewer=v, window=bench_inventory.WINDOW)

    sup = bench_inventory._busiest_supplier(engine)
    supplier = Viewer(username="bench-supplier", role="vendor", vendor_kind="supplier", vendor_code=sup)
    out += [("Inventory health", "full viewer", lambda: inv(SYSTEM)),
            ("Inventory health", f"supplier {sup}", lambda: inv(supplier))]

    ff = bench_fulfillment._filters(engine)
    out.append(("Fulfilment SLA", "full viewer", lambda: bench_fulfillment.page_load(engine, ff)))
    tpl = bench_fulfillment._vendor(engine)
    if tpl is not None:
        out.append(("Fulfilment SLA", f"3PL {tpl.vendor_code}", lambda: bench_fulfillment.page_load(engine, ff, tpl)))
    out.append(("Fulfilment SLA", f"supplier {sup}", lambda: bench_fulfillment.page_load(engine, ff, supplier)))

    carrier, sc_supplier, operator = bench_scorecards._busiest(engine)
    manager = Viewer(username="bench-manager", role="manager")
    car_v = Viewer(username="bench-carrier", role="vendor", vendor_kind="carrier", vendor_code=carrier)
    sup_v = Viewer(username="bench-supplier", role="vendor", vendor_kind="supplier", vendor_code=sc_supplier)
    tpl_v = Viewer(username="bench-3pl", role="vendor", vendor_kind="warehouse", vendor_code=operator)
    out += [("Carrier scorecards", "manager", lambda: bench_scorecards.page_load(engine, manager)),
            ("My scorecard", f"carrier {carrier}", lambda: bench_scorecards.page_load(engine, car_v)),
            ("My scorecard", f"supplier {sc_supplier}",
             lambda: bench_scorecards.page_load(engine, sup_v, ("suppliers",))),
            ("My scorecard", f"3PL {operator}", lambda: bench_scorecards.page_load(engine, tpl_v, ("tpl", "carriers")))]

    rf = bench_returns._filters(engine)
    rsup = bench_returns._busiest_supplier(engine)
    rsup_v = Viewer(username="bench-supplier", role="vendor", vendor_kind="supplier", vendor_code=rsup)
    out += [("Returns root-cause", "manager", lambda: bench_returns.page_load(engine, rf, manager)),
            ("Returns root-cause", f"supplier {rsup}", lambda: bench_returns.page_load(engine, rf, rsup_v))]

    def review(v: Viewer) -> Any:
        got = bench_review.page_load(engine, v)
        return got, bench_review.headlines_load(engine, v, got["week"])

    out.append(("Weekly review (with headlines)", "manager", lambda: review(manager)))
    out.append(("Weekly review (with headlines)", "planner",
                lambda: review(Viewer(username="bench-planner", role="planner"))))
    for who, v in bench_review._busiest(engine):
        out.append(("Weekly review (with headlines)", who, lambda v=v: review(v)))

    planner = bench_planner_page.PLANNER

    def plan() -> Any:
        with read_session(engine) as s:
            return planner_page(s, viewer=planner)

    out.append(("Forecast & reorder planner", "planner", plan))

    def fc(v: Viewer) -> Any:
        with read_session(engine) as s:
            return forecast_page(s, viewer=v)

    fsup = bench_forecast_page._busiest_supplier(engine)
    fsup_v = Viewer(username="bench-supplier", role="vendor", vendor_kind="supplier", vendor_code=fsup)
    out += [("Forecasts", "planner", lambda: fc(planner)), ("Forecasts", f"supplier {fsup}", lambda: fc(fsup_v))]
    return out


def main(argv: list[str]) -> int:
    url = argv[1] if len(argv) > 1 else os.environ.get("OPS_BENCH_DATABASE_URL", "sqlite:///bench/out/bench.db")
    engine = make_engine(url)
    print(f"database: {engine.url.render_as_string(hide_password=True)}")
    print("| page | viewer | warm wall ms | warm CPU ms | load average | <= 150 ms |")
    print("|---|---|---:|---:|---:|---|")
    for page, who, fn in loads(engine):
        try:
            _, _, wall, cpu = timed(fn, RUNS)
        except Exception as exc:  # noqa: BLE001 - a bench report: name the failure and go on
            print(f"| {page} | {who} | failed: {type(exc).__name__}: {exc} | | | |", flush=True)
            continue
        load = os.getloadavg()[0]
        print(f"| {page} | {who} | {wall:,.0f} | {cpu:,.0f} | {load:.2f} | {'yes' if wall <= BAR_MS else 'no'} |",
              flush=True)
    # The pages that read every domain's headline read stored ones (ops.headline_store); the first load after
    # a write that may change a headline computes them: timed here with the store bypassed.
    print()
    print("First load after a write (headlines computed, not stored):")
    print("| page | viewer | wall ms | CPU ms | load average |")
    print("|---|---|---:|---:|---:|")
    for page, who, fn in loads(engine):
        if page not in STORED_PAGES:
            continue

        def computed(fn: Callable[[], Any] = fn) -> Any:
            with bypassed():
                return fn()

        _, _, wall, cpu = timed(computed, RUNS)
        print(f"| {page} | {who} | {wall:,.0f} | {cpu:,.0f} | {os.getloadavg()[0]:.2f} |", flush=True)
    engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
