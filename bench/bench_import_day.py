"""One day of new orders imported into the bench database, aggregates included: incremental vs full refresh.

``python -m bench.bench_import_day [--db PATH] [--keep]`` copies the bench database (default
``bench/out/bench.db``, never written) to a temporary file, writes one day as canonical CSVs and
imports it with :func:`ops.ingest.run_imports` (orders with their lines, shipments and returns in
one transaction, as ``python -m ops import`` does):

- the day: every order placed on a settled day four weeks before the data's last day (about 2,000
  orders, 3,000 lines at bench size), with its shipments and returns, moved to the day after the
  last day under new order numbers, tracking numbers and RMAs (existing SKUs, warehouses, carriers);
- ``incremental``: the import as it runs in the product: the aggregates the day touched are rebuilt
  for its days, weeks and SKUs only (``ops.ingest.refresh``);
- ``full``: the same day imported into a second copy with every touched aggregate rebuilt in full
  (the refreshers' incremental registrations switched off), for the ratio.

Reported per run: wall and CPU seconds (``time.process_time``) of the whole import and of its
refresh alone (the rest is reading, validating and writing), and the refresh per aggregate. The
machine is shared: note ``uptime``'s load with the numbers.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from ops import aggregates
from ops.access import SYSTEM
from ops.db import make_engine, transaction
from ops.ingest import run_imports
from ops.ingest.csv_tables import SPECS
from ops.ingest.refresh import _load_refreshers as load_refreshers
from ops.models import Order

ROOT = Path(__file__).resolve().parent
DEFAULT_DB = ROOT / "out" / "bench.db"
SOURCE_DAYS_BACK = 28  # the copied day: settled (shipped, some returns), four weeks before the last day


def _ts(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, str):
        v = dt.datetime.fromisoformat(v)
    return f"{v:%Y-%m-%d %H:%M:%S}"


def _shift(v: Any, days: int) -> Any:
    if v is None:
        return None
    if isinstance(v, str):
        v = dt.datetime.fromisoformat(v)
    return v + dt.timedelta(days=days)


def write_day(session: Session, out: Path, *, source: dt.date, target: dt.date, prefix: str,
              limit: int | None = None) -> dict[str, Path]:
    """Write the orders placed on ``source`` (with their lines, shipments and returns) as canonical CSVs,
    moved to ``target`` and renamed ``<prefix><number>``; return the files by import kind.

    ``limit``: at most this many orders (the first by id). Shared with ``tests/test_incremental_imports.py``.
    """
    shift = (target - source).days
    # What had happened by then: later shipment and return times are moved back to the day after
    # (imports refuse times after today, and the day is the data's newest).
    cap = dt.datetime.combine(target + dt.timedelta(days=1), dt.time(23, 59, 59))

    def moved(v: Any) -> str:
        w = _shift(v, shift)
        return _ts(min(w, cap) if w is not None else None)

    lo = dt.datetime.combine(source, dt.time())
    hi = lo + dt.timedelta(days=1)
    params = {"lo": lo, "hi": hi, "n": limit or 10**9}
    orders = session.execute(text("""
        SELECT o.id, o.order_number, c.code, w.code, o.customer_region, o.status, o.placed_at, o.paid_at, o.ship_by
        FROM orders AS o JOIN channels AS c ON c.id = o.channel_id LEFT JOIN warehouses AS w ON w.id = o.warehouse_id
        WHERE o.placed_at >= :lo AND o.placed_at < :hi ORDER BY o.id LIMIT :n"""), params).all()
    ids = [r[0] for r in orders]
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    head = {r[0]: r for r in orders}

    def many(sql: str) -> list[Any]:
        rows: list[Any] = []
        for i in range(0, len(ids), 900):
            chunk = ids[i:i + 900]
            names = ", ".join(f":i{k}" for k in range(len(chunk)))
            rows += session.execute(text(sql.replace(":ids", names)), {f"i{k}": v for k, v in enumerate(chunk)}).all()
        return rows

    lines = many("""
        SELECT l.order_id, l.line_no, p.sku, l.qty, l.unit_price, l.freight, l.ship_by, s.code
        FROM order_lines AS l JOIN products AS p ON p.id = l.product_id LEFT JOIN suppliers AS s ON s.id = l.seller_id
        WHERE l.order_id IN (:ids) ORDER BY l.order_id, l.line_no""")
    files["csv-orders"] = _write(out / "orders.csv", SPECS["orders"].names, [
        {"order_number": prefix + head[oid][1], "channel_code": head[oid][2], "warehouse_code": head[oid][3] or "",
         "customer_region": head[oid][4] or "", "status": head[oid][5],
         "placed_at": _ts(_shift(head[oid][6], shift)), "paid_at": _ts(_shift(head[oid][7], shift)),
         "ship_by": _ts(_shift(head[oid][8], shift)), "line_no": ln, "sku": sku, "qty": qty, "unit_price": price,
         "freight": freight, "line_ship_by": _ts(_shift(lsb, shift)), "seller_code": seller or ""}
        for oid, ln, sku, qty, price, freight, lsb, seller in lines])
    ships = many("""
        SELECT sh.tracking_number, sh.order_id, w.code, c.code, sv.code, sh.zone, sh.lane, sh.label_cost,
               sh.shipped_at, sh.promised_at, sh.first_attempt_at, sh.delivered_at, sh.status
        FROM shipments AS sh LEFT JOIN warehouses AS w ON w.id = sh.warehouse_id
        LEFT JOIN carriers AS c ON c.id = sh.carrier_id LEFT JOIN carrier_services AS sv ON sv.id = sh.service_id
        WHERE sh.order_id IN (:ids) ORDER BY sh.id""")
    files["csv-shipments"] = _write(out / "shipments.csv", SPECS["shipments"].names, [
        {"tracking_number": prefix + trk, "order_number": prefix + head[oid][1], "warehouse_code": wh or "",
         "carrier_code": car or "", "service_code": svc or "", "zone": "" if zone is None else zone,
         "lane": lane or "", "label_cost": cost, "shipped_at": moved(s_at),
         "promised_at": _ts(_shift(p_at, shift)), "first_attempt_at": moved(f_at),
         "delivered_at": moved(d_at), "status": status}
        for trk, oid, wh, car, svc, zone, lane, cost, s_at, p_at, f_at, d_at, status in ships])
    rets = many("""
        SELECT r.rma_number, l.order_id, l.line_no, r.qty, r.reason_code, r.comment, r.received_at,
               r.refund_amount, r.disposition
        FROM returns AS r JOIN order_lines AS l ON l.id = r.order_line_id WHERE l.order_id IN (:ids) ORDER BY r.id""")
    files["csv-returns"] = _write(out / "returns.csv", SPECS["returns"].names, [
        {"rma_number": prefix + rma, "order_number": prefix + head[oid][1], "line_no": ln, "qty": qty,
         "reason_code": reason, "comment": comment or "", "received_at": moved(r_at),
         "refund_amount": refund, "disposition": disp or ""}
        for rma, oid, ln, qty, reason, comment, r_at, refund, disp in rets])
    return files


def _write(path: Path, names: list[str], rows: list[dict[str, Any]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=names)
        w.writeheader()
        w.writerows(rows)
    return path


def file_rows(files: dict[str, Path]) -> dict[str, int]:
    return {k: sum(1 for _ in open(p, encoding="utf-8")) - 1 for k, p in files.items()}


@contextmanager
def timed_refreshers(times: dict[str, list[float]]) -> Iterator[None]:
    """Record each refresh (incremental or full) by aggregate name: wall and CPU seconds."""
    orig = aggregates.refresh_one

    def spy(session: Session, name: str, changes: Any = None) -> bool:
        t0, c0 = time.perf_counter(), time.process_time()
        done = orig(session, name, changes)
        times[name] = [time.perf_counter() - t0, time.process_time() - c0, float(done)]
        return done

    aggregates.refresh_one = spy  # type: ignore[assignment]
    import ops.ingest.refresh as ir
    ir_orig = ir.refresh_one
    ir.refresh_one = spy  # type: ignore[assignment]
    try:
        yield
    finally:
        aggregates.refresh_one = orig  # type: ignore[assignment]
        ir.refresh_one = ir_orig  # type: ignore[assignment]


@contextmanager
def full_only() -> Iterator[None]:
    """Switch the incremental refreshers off: every touched aggregate is rebuilt in full."""
    saved = dict(aggregates.INCREMENTAL)
    aggregates.INCREMENTAL.clear()
    try:
        yield
    finally:
        aggregates.INCREMENTAL.update(saved)


def run_once(engine: Engine, files: dict[str, Path]) -> dict[str, Any]:
    # The domains' modules are loaded first, as in the running app: a fresh ``python -m ops import``
    # process also pays their import (about 3 s, most of it SciPy for the planner) on top.
    load_refreshers()
    times: dict[str, list[float]] = {}
    t0, c0 = time.perf_counter(), time.process_time()
    with timed_refreshers(times):
        res = run_imports(engine, groups=[(k, [p]) for k, p in files.items()], viewer=SYSTEM)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    r_wall = sum(v[0] for v in times.values())
    r_cpu = sum(v[1] for v in times.values())
    return {"wall": wall, "cpu": cpu, "refresh_wall": r_wall, "refresh_cpu": r_cpu,
            "write_wall": wall - r_wall, "write_cpu": cpu - r_cpu, "per": times,
            "inserted": {k: v for r in res for k, v in r.inserted.items() if v}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default=str(DEFAULT_DB), help="the bench SQLite database (read only; copied)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary copies")
    args = ap.parse_args()
    src = Path(args.db)
    tmp = Path(tempfile.mkdtemp(prefix="bench_import_day_"))
    try:
        print(f"load {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} (1, 5, 15 min)")
        results = {}
        for mode in ("incremental", "full"):
            db = tmp / f"{mode}.db"
            t0 = time.perf_counter()
            shutil.copyfile(src, db)
            print(f"{mode}: copied the database in {time.perf_counter() - t0:.0f} s", flush=True)
            engine = make_engine(f"sqlite:///{db}")
            with transaction(engine) as s:
                last = s.scalar(select(func.max(Order.placed_at)))
                last_day = (last if isinstance(last, dt.datetime) else dt.datetime.fromisoformat(str(last))).date()
                files = write_day(s, tmp / "day", source=last_day - dt.timedelta(days=SOURCE_DAYS_BACK),
                                  target=last_day + dt.timedelta(days=1), prefix="BENCH-")
            if mode == "incremental":
                print(f"the day: {file_rows(files)} rows, placed on {last_day + dt.timedelta(days=1)}")
            if mode == "full":
                with full_only():
                    results[mode] = run_once(engine, files)
            else:
                results[mode] = run_once(engine, files)
            engine.dispose()
            r = results[mode]
            print(f"{mode:12s} import {r['wall']:6.2f} s wall {r['cpu']:6.2f} s CPU | write {r['write_wall']:6.2f} s "
                  f"wall {r['write_cpu']:6.2f} s CPU | refresh {r['refresh_wall']:6.2f} s wall "
                  f"{r['refresh_cpu']:6.2f} s CPU", flush=True)
            for name, (w, c, inc) in r["per"].items():
                print(f"    {name:12s} {'incremental' if inc else 'full':11s} {w:6.2f} s wall {c:6.2f} s CPU")
            if not args.keep:
                db.unlink()
        inc, full = results["incremental"], results["full"]
        ratio = full["refresh_cpu"] / max(inc["refresh_cpu"], 1e-9)
        print(f"ratio full / incremental: import {full['wall'] / inc['wall']:.1f}x wall, "
              f"{full['cpu'] / inc['cpu']:.1f}x CPU; refresh {ratio:.1f}x CPU")
        print(f"load {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} (1, 5, 15 min)")
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
