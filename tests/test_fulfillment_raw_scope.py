"""The Fulfilment page's exact read of raw order lines for a date range (``queries._raw_lines``), per viewer.

A date range drives that read: a vendor's lines are tested per line (``ops.access.date_driven_conditions``) and
the lines and shipments are bounded by the range's smallest and largest order id. Neither may change a row: for
the manager, every 3PL, carrier and a supplier, over a week, a month and an open-ended range, the lines read are
those plain pandas finds in the raw tables (orders placed in the range, in the viewer's scope), with their
shipments' first ship instant, including an order whose id lies outside the others' (placed late in the range
but given the largest id of all) and an order of the range shipped by two carriers.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from sqlalchemy import Engine, insert, select, update

from ops.access import SYSTEM, Viewer
from ops.db import read_session, transaction
from ops.filters import Filters
from ops.fulfillment import queries as q
from ops.models import Carrier, Order, OrderLine, Product, Shipment, Supplier, Warehouse


def _tables(engine: Engine) -> dict[str, pd.DataFrame]:
    with engine.connect() as c:
        t = {n: pd.read_sql_table(n, c) for n in ("orders", "order_lines", "shipments", "warehouses", "carriers",
                                                   "suppliers")}
    t["orders"]["placed_at"] = pd.to_datetime(t["orders"]["placed_at"])
    t["shipments"]["shipped_at"] = pd.to_datetime(t["shipments"]["shipped_at"])
    return t


def _expected(t: dict[str, pd.DataFrame], v: Viewer, f: Filters) -> pd.DataFrame:
    o, ol, sh = t["orders"], t["order_lines"], t["shipments"]
    keep = pd.Series(True, index=o.index)
    if f.start():
        keep &= o["placed_at"] >= pd.Timestamp(f.start())
    if f.end():
        keep &= o["placed_at"] < pd.Timestamp(f.end())
    orders = o[keep]
    lines = ol[ol["order_id"].isin(orders["id"])]
    if v.vendor_kind == "warehouse":
        whs = t["warehouses"].loc[t["warehouses"]["operator_code"] == v.vendor_code, "id"]
        lines = lines[lines["order_id"].isin(orders.loc[orders["warehouse_id"].isin(whs), "id"])]
    elif v.vendor_kind == "carrier":
        cid = int(t["carriers"].loc[t["carriers"]["code"] == v.vendor_code, "id"].iloc[0])
        first = sh.groupby("order_id")["carrier_id"].min()  # an order is keyed by its smallest carrier id
        lines = lines[lines["order_id"].isin(first[first == cid].index)]
    elif v.vendor_kind == "supplier":
        sid = int(t["suppliers"].loc[t["suppliers"]["code"] == v.vendor_code, "id"].iloc[0])
        lines = lines[lines["seller_id"] == sid]
    shipped = sh.groupby("order_id")["shipped_at"].min()
    out = pd.DataFrame({"order_id": lines["order_id"].astype("int64").to_numpy()})
    out["shipped_at"] = out["order_id"].map(shipped)
    return out.sort_values(["order_id", "shipped_at"], ignore_index=True)


@pytest.fixture
def data(engine: Engine) -> dict[str, pd.DataFrame]:
    from ops.demo import seed

    seed(engine, size="small", seed=7)
    with transaction(engine) as s:
        # suppliers sell every third order's lines
        sup = dict(s.execute(select(Product.id, Product.supplier_id)).all())
        for lid, pid in s.execute(select(OrderLine.id, OrderLine.product_id).where(OrderLine.order_id % 3 == 0)).all():
            s.execute(update(OrderLine).where(OrderLine.id == lid).values(seller_id=sup[pid]))
        # the earliest order is moved into the last week: its id is now the smallest of that week's
        last = s.scalar(select(Order.placed_at).order_by(Order.placed_at.desc()).limit(1))
        first_id = s.scalar(select(Order.id).order_by(Order.placed_at).limit(1))
        s.execute(update(Order).where(Order.id == first_id).values(placed_at=last - dt.timedelta(days=3)))
        # an order of the last week shipped by a second carrier too
        oid, car = s.execute(select(Shipment.order_id, Shipment.carrier_id).where(Shipment.carrier_id.is_not(None))
                             .order_by(Shipment.shipped_at.desc()).limit(1)).one()
        other = s.scalar(select(Carrier.id).where(Carrier.id != car).order_by(Carrier.id).limit(1))
        s.execute(insert(Shipment), [{"order_id": oid, "carrier_id": other, "tracking_number": "SECOND-CARRIER",
                                      "shipped_at": last, "status": "in_transit"}])
    return _tables(engine)


def test_the_raw_lines_of_a_range_are_the_viewers_own(engine: Engine, data: dict[str, pd.DataFrame]) -> None:
    t = data
    last = t["orders"]["placed_at"].max().date()
    viewers = [SYSTEM]
    with read_session(engine) as s:
        viewers += [Viewer(username="w", role="vendor", vendor_kind="warehouse", vendor_code=c)
                    for c in sorted({c for c in s.scalars(select(Warehouse.operator_code)) if c})]
        viewers += [Viewer(username="c", role="vendor", vendor_kind="carrier", vendor_code=c)
                    for c in s.scalars(select(Carrier.code).order_by(Carrier.code))]
        viewers += [Viewer(username="s", role="vendor", vendor_kind="supplier", vendor_code=c)
                    for c in s.scalars(select(Supplier.code).order_by(Supplier.code).limit(2))]
    ranges = [Filters(date_from=last - dt.timedelta(days=6), date_to=last),
              Filters(date_from=last - dt.timedelta(days=29), date_to=last),
              Filters(date_from=last - dt.timedelta(days=10))]
    seen = 0
    for v in viewers:
        for f in ranges:
            with read_session(engine) as s:
                got = q._raw_lines(s, v, f)
            got = pd.DataFrame({"order_id": got["order_id"].astype("int64"),
                                "shipped_at": pd.to_datetime(got["shipped_at"])})
            got = got.sort_values(["order_id", "shipped_at"], ignore_index=True)
            want = _expected(t, v, f)
            pd.testing.assert_frame_equal(got, want, check_dtype=False)
            seen += len(want)
    assert seen > 1000
    # the order moved into the last week holds the smallest id of all: the week's bound starts there
    assert int(t["orders"]["id"].min()) in set(_expected(t, SYSTEM, ranges[0])["order_id"])
