"""Incremental refresh after imports equals a full rebuild, after every one of several imports.

The imports run as in the product (``run_imports``, canonical CSVs) on the small demo data: two
new days of orders with their shipments and returns, late shipments and returns of OLD orders
(their placed days and sale weeks change), an order imported on an old day then moved to another
week, a cancellation, a return moved to another order line, an inventory snapshot and a PO line
corrected, a product's price changed. After each import every ``agg_*`` table is compared row for
row (sorted, ids aside, floats to 1e-9 relative) with what ``refresh_all`` then writes in a
transaction that is rolled back, so the incremental state carries on to the next import.
The incremental paths must really have run (``aggregates.refresh_one`` reports it).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

import ops.ingest.refresh as ingest_refresh
from bench.bench_import_day import write_day
from ops.access import SYSTEM
from ops.aggregates import refresh_all
from ops.db import transaction
from ops.demo import seed
from ops.ingest import run_imports
from ops.ingest.csv_tables import SPECS
from ops.models import (
    Base,
    Channel,
    InventorySnapshot,
    Order,
    OrderLine,
    Product,
    PurchaseOrder,
    PurchaseOrderLine,
    Return,
    Shipment,
    Supplier,
    Warehouse,
)
from tests.test_ingest_csv import write

AGG_TABLES = [t for t in Base.metadata.sorted_tables if t.name.startswith("agg_")]


def _norm(v: Any) -> Any:
    if isinstance(v, dt.datetime | dt.date):
        return v.isoformat()
    return v


def dump(conn: Any) -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    for t in AGG_TABLES:
        cols = [c for c in t.columns if c.name != "id"]
        rows = [tuple(_norm(v) for v in r) for r in conn.execute(select(*cols))]
        # floats rounded for the sort only: the comparison below allows them 1e-9 relative
        out[t.name] = sorted(rows, key=lambda r: tuple((0, round(v, 6)) if isinstance(v, float) else
                                                       (1, "") if v is None else (2, str(v)) for v in r))
    return out


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-6)
    return bool(a == b)


def assert_equals_full_rebuild(engine: Engine, step: str) -> None:
    """The aggregates now equal what a full rebuild writes (the rebuild is rolled back)."""
    with engine.connect() as conn:
        incremental = dump(conn)
        conn.rollback()
        with Session(bind=conn) as s:
            refresh_all(s)
            full = dump(s.connection())
            s.rollback()
    for name in full:
        got, want = incremental[name], full[name]
        assert len(got) == len(want), f"{step}: {name} has {len(got)} rows, the full rebuild {len(want)}"
        for r_got, r_want in zip(got, want, strict=True):
            assert all(same(x, y) for x, y in zip(r_got, r_want, strict=True)), f"{step}: {name}\n{r_got}\n{r_want}"


@contextmanager
def paths_taken() -> Iterator[dict[str, bool]]:
    """Which refreshers ran and whether incrementally (name -> True when the incremental path did it)."""
    seen: dict[str, bool] = {}
    orig = ingest_refresh.refresh_one

    def spy(session: Session, name: str, changes: Any = None) -> bool:
        seen[name] = orig(session, name, changes)
        return seen[name]

    ingest_refresh.refresh_one = spy  # type: ignore[assignment]
    try:
        yield seen
    finally:
        ingest_refresh.refresh_one = orig  # type: ignore[assignment]


def run(engine: Engine, groups: list[tuple[str, Path]]) -> dict[str, bool]:
    with paths_taken() as seen:
        run_imports(engine, groups=[(k, [p]) for k, p in groups], viewer=SYSTEM)
    return seen


def _last_day(s: Session) -> dt.date:
    v = s.scalar(select(func.max(Order.placed_at)))
    return v.date() if isinstance(v, dt.datetime) else dt.date.fromisoformat(str(v)[:10])


def _order_rows(s: Session, *, number: str, placed: dt.datetime, status: str, skus: list[str]) -> list[list[str]]:
    ch = s.scalar(select(Channel.code).order_by(Channel.id).limit(1))
    wh = s.scalar(select(Warehouse.code).order_by(Warehouse.id).limit(1))
    head = SPECS["orders"].names
    rows = [head]
    for n, sku in enumerate(skus, start=1):
        v = {"order_number": number, "channel_code": ch, "warehouse_code": wh, "status": status,
             "placed_at": f"{placed:%Y-%m-%d %H:%M:%S}",
             "paid_at": f"{placed + dt.timedelta(minutes=5):%Y-%m-%d %H:%M:%S}",
             "line_no": str(n), "sku": sku, "qty": str(n), "unit_price": "12.5"}
        rows.append([str(v.get(c, "")) for c in head])
    return rows


def test_incremental_imports_equal_a_full_rebuild(engine: Engine, tmp_path: Path) -> None:
    seed(engine, size="small", seed=7)
    with transaction(engine) as s:
        last = _last_day(s)
        skus = list(s.scalars(select(Product.sku).order_by(Product.id).limit(3)))

    # 1-2. Two new days of orders with their shipments and returns (copies of settled days).
    for k in (1, 2):
        with transaction(engine) as s:
            files = write_day(s, tmp_path / f"day{k}", source=last - dt.timedelta(days=28 - k),
                              target=last + dt.timedelta(days=k), prefix=f"D{k}-")
        seen = run(engine, list(files.items()))
        assert all(seen.get(n) for n in ("inventory", "fulfillment", "returns", "scorecards")), seen
        assert_equals_full_rebuild(engine, f"day {k}")

    # 3. Late shipments of old unshipped orders and late returns of old lines: old days and weeks change.
    with transaction(engine) as s:
        unshipped = s.execute(select(Order.order_number, Order.placed_at, Warehouse.code)
                              .join(Warehouse, Warehouse.id == Order.warehouse_id)
                              .where(Order.id.not_in(select(Shipment.order_id)),
                                     Order.status.not_in(("cancelled", "unavailable")),
                                     Order.order_number.not_like("D%"))
                              .order_by(Order.placed_at).limit(4)).all()
        lines = s.execute(select(Order.order_number, OrderLine.line_no, Order.placed_at)
                          .join(OrderLine, OrderLine.order_id == Order.id)
                          .where(Order.status != "cancelled", Order.id.in_(select(Shipment.order_id)),
                                 OrderLine.id.not_in(select(Return.order_line_id)))
                          .order_by(Order.placed_at).limit(4)).all()
    assert len(unshipped) == 4 and len(lines) == 4
    head = SPECS["shipments"].names
    ships = [head] + [[{"tracking_number": f"LATE-{k}", "order_number": num, "warehouse_code": wh,
                        "shipped_at": f"{at + dt.timedelta(days=9):%Y-%m-%d %H:%M:%S}",
                        "delivered_at": f"{at + dt.timedelta(days=12):%Y-%m-%d %H:%M:%S}",
                        "promised_at": f"{at + dt.timedelta(days=11):%Y-%m-%d %H:%M:%S}",
                        "status": "delivered"}.get(c, "") for c in head]
                      for k, (num, at, wh) in enumerate(unshipped)]
    rhead = SPECS["returns"].names
    rets = [rhead] + [[{"rma_number": f"LATE-RMA-{k}", "order_number": num, "line_no": str(ln), "qty": "1",
                        "reason_code": "defective", "received_at": f"{at + dt.timedelta(days=20):%Y-%m-%d %H:%M:%S}",
                        "refund_amount": "9.99", "disposition": "restock"}.get(c, "") for c in rhead]
                      for k, (num, ln, at) in enumerate(lines)]
    seen = run(engine, [("csv-shipments", write(tmp_path / "late_ships.csv", ships)),
                        ("csv-returns", write(tmp_path / "late_returns.csv", rets))])
    assert seen["fulfillment"] and seen["returns"] and seen["scorecards"], seen
    assert_equals_full_rebuild(engine, "late shipments and returns")

    # 4. An order imported on an old day (one line of a new product: its first sale), shipped and
    # returned, then moved to an earlier week (the product's running sums start earlier), then to a
    # later one (they start later: the returns aggregates are rebuilt in full).
    placed = dt.datetime.combine(last - dt.timedelta(days=40), dt.time(10, 30))
    new_product = write(tmp_path / "new_product.csv", [["sku", "name", "category", "price"],
                                                       ["NEW-SKU-1", "New product", "misc", "20"]])
    run(engine, [("csv-products", new_product)])
    skus = [skus[0], "NEW-SKU-1"]
    with transaction(engine) as s:
        order = _order_rows(s, number="MOVE-1", placed=placed, status="delivered", skus=skus[:2])
    ship = [head, [{"tracking_number": "MOVE-TRK", "order_number": "MOVE-1",
                    "shipped_at": f"{placed + dt.timedelta(days=1):%Y-%m-%d %H:%M:%S}"}.get(c, "") for c in head]]
    ret = [rhead, [{"rma_number": "MOVE-RMA", "order_number": "MOVE-1", "line_no": "2", "qty": "1",
                    "reason_code": "changed_mind", "refund_amount": "5"}.get(c, "") for c in rhead]]
    seen = run(engine, [("csv-orders", write(tmp_path / "move1.csv", order)),
                        ("csv-shipments", write(tmp_path / "move1s.csv", ship)),
                        ("csv-returns", write(tmp_path / "move1r.csv", ret))])
    assert seen["returns"] and seen["fulfillment"] and seen["inventory"], seen  # an old day: before the as-of day
    assert_equals_full_rebuild(engine, "old order imported")
    moved = placed - dt.timedelta(days=9)
    with transaction(engine) as s:
        order = _order_rows(s, number="MOVE-1", placed=moved, status="delivered", skus=skus[:2])
    seen = run(engine, [("csv-orders", write(tmp_path / "move2.csv", order))])
    assert seen["returns"] and seen["fulfillment"], seen
    assert_equals_full_rebuild(engine, "order moved to an earlier week")
    with transaction(engine) as s:
        order = _order_rows(s, number="MOVE-1", placed=moved + dt.timedelta(days=21), status="delivered",
                            skus=skus[:2])
    seen = run(engine, [("csv-orders", write(tmp_path / "move3.csv", order))])
    assert seen["returns"] is False and seen["fulfillment"], seen
    assert_equals_full_rebuild(engine, "order moved to a later week")

    # 5. A cancellation of a new day's order, and a return moved to another line of its order.
    with transaction(engine) as s:
        num = s.scalar(select(Order.order_number).where(Order.order_number.like("D1-%"),
                                                        Order.status != "cancelled").order_by(Order.id).limit(1))
        assert num is not None
        cancelled = _export_order(s, num)
    for r in cancelled[1:]:
        r[SPECS["orders"].names.index("status")] = "cancelled"
    ret = [rhead, [{"rma_number": "MOVE-RMA", "order_number": "MOVE-1", "line_no": "1", "qty": "1",
                    "reason_code": "changed_mind", "refund_amount": "5"}.get(c, "") for c in rhead]]
    seen = run(engine, [("csv-orders", write(tmp_path / "cancel.csv", cancelled)),
                        ("csv-returns", write(tmp_path / "moved_ret.csv", ret))])
    assert seen["returns"] and seen["fulfillment"], seen
    assert_equals_full_rebuild(engine, "cancellation and a return moved to another line")

    # 6. Inventory: a snapshot of the as-of day corrected, a PO line received.
    with transaction(engine) as s:
        snap = s.execute(select(Product.sku, Warehouse.code, InventorySnapshot.day, InventorySnapshot.on_hand)
                         .join(Product, Product.id == InventorySnapshot.product_id)
                         .join(Warehouse, Warehouse.id == InventorySnapshot.warehouse_id)
                         .order_by(InventorySnapshot.day.desc(), InventorySnapshot.id).limit(1)).one()
        po = s.execute(select(PurchaseOrder.po_number, Supplier.code, Warehouse.code, PurchaseOrder.status,
                              PurchaseOrder.ordered_on, PurchaseOrder.expected_on, Product.sku,
                              PurchaseOrderLine.qty_ordered)
                       .join(PurchaseOrderLine, PurchaseOrderLine.po_id == PurchaseOrder.id)
                       .join(Supplier, Supplier.id == PurchaseOrder.supplier_id)
                       .join(Warehouse, Warehouse.id == PurchaseOrder.warehouse_id)
                       .join(Product, Product.id == PurchaseOrderLine.product_id)
                       .where(PurchaseOrder.status == "open").order_by(PurchaseOrder.id).limit(1)).one()
    snaps = [SPECS["inventory_snapshots"].names, [snap[0], snap[1], f"{snap[2]}", str(int(snap[3]) + 17)]]
    ph = SPECS["purchase_orders"].names
    pos = [ph, [{"po_number": po[0], "supplier_code": po[1], "warehouse_code": po[2], "status": po[3],
                 "ordered_on": f"{po[4]}", "expected_on": f"{po[5] or ''}", "sku": po[6],
                 "qty_ordered": str(po[7]), "qty_received": "1", "received_on": f"{snap[2]}"}.get(c, "")
                for c in ph]]
    seen = run(engine, [("csv-inventory_snapshots", write(tmp_path / "snap.csv", snaps)),
                        ("csv-purchase_orders", write(tmp_path / "po.csv", pos))])
    assert seen.get("inventory") is True, seen
    assert_equals_full_rebuild(engine, "snapshot and PO line")

    # 7. A product's price: inventory copies it (incrementally, for that SKU).
    with transaction(engine) as s:
        sku, name, cat, price = s.execute(select(Product.sku, Product.name, Product.category, Product.price)
                                          .order_by(Product.id).limit(1)).one()
    prod = [["sku", "name", "category", "price"], [sku, name, cat, f"{price + 3:.2f}"]]
    seen = run(engine, [("csv-products", write(tmp_path / "price.csv", prod))])
    assert seen == {"inventory": True}, seen
    assert_equals_full_rebuild(engine, "price")


def _export_order(s: Session, number: str) -> list[list[str]]:
    """An existing CSV order as canonical CSV rows (header first)."""
    head = SPECS["orders"].names
    rows = [head]
    q = (select(Order, OrderLine, Product.sku, Channel.code, Warehouse.code)
         .join(OrderLine, OrderLine.order_id == Order.id).join(Product, Product.id == OrderLine.product_id)
         .join(Channel, Channel.id == Order.channel_id).outerjoin(Warehouse, Warehouse.id == Order.warehouse_id)
         .where(Order.order_number == number).order_by(OrderLine.line_no))
    for o, ln, sku, ch, wh in s.execute(q):
        def ts(v: dt.datetime | None) -> str:
            return "" if v is None else f"{v:%Y-%m-%d %H:%M:%S}"
        v = {"order_number": o.order_number, "channel_code": ch, "warehouse_code": wh or "",
             "customer_region": o.customer_region or "", "status": o.status, "placed_at": ts(o.placed_at),
             "paid_at": ts(o.paid_at), "ship_by": ts(o.ship_by), "line_no": str(ln.line_no), "sku": sku,
             "qty": str(ln.qty), "unit_price": repr(ln.unit_price), "freight": repr(ln.freight),
             "line_ship_by": ts(ln.ship_by)}
        rows.append([v.get(c, "") for c in head])
    return rows


@pytest.mark.parametrize("size", ["small"])
def test_a_repeated_import_refreshes_nothing(engine: Engine, tmp_path: Path, size: str) -> None:
    seed(engine, size=size, seed=7)
    with transaction(engine) as s:
        last = _last_day(s)
        files = write_day(s, tmp_path, source=last - dt.timedelta(days=27), target=last + dt.timedelta(days=1),
                          prefix="R-")
    run(engine, list(files.items()))
    assert run(engine, list(files.items())) == {}
    assert_equals_full_rebuild(engine, "repeat")


@pytest.mark.parametrize("argv", [["refresh"], ["refresh", "--full"]])
def test_refresh_command_rebuilds_everything(engine: Engine, argv: list[str]) -> None:
    from ops.__main__ import main
    from ops.models import AggFulfilDaily, AggReturnsSkuCum

    seed(engine, size="small", seed=7)
    with transaction(engine) as s:
        s.execute(AggFulfilDaily.__table__.delete())
        s.execute(AggReturnsSkuCum.__table__.update().values(units_sold=-1))
    assert main(["--db", engine.url.render_as_string(hide_password=False), *argv]) == 0
    with transaction(engine) as s:
        assert s.scalar(select(func.count()).select_from(AggFulfilDaily)) > 0
        assert s.scalar(select(func.min(AggReturnsSkuCum.units_sold))) >= 0
    assert_equals_full_rebuild(engine, " ".join(argv))
