"""Incremental fulfilment refresh (``refresh_days``) equals a full rebuild after several imports:
a new day of orders with lines and shipments, late shipments of old unshipped orders, a
cancelled old order and a line added to an old order. The aggregate tables are compared row for
row (sorted, ids aside) with what a full refresh then writes (hour sums to the bit on SQLite, to
1e-12 on PostgreSQL, whose plans add floats in their own order); the new day's rows must exist
before the full refresh (the incremental run wrote them), and untouched days keep their rows.
"""

from __future__ import annotations

import datetime as dt
import importlib

import pandas as pd
from sqlalchemy import Engine, func, select, update

from ops.db import transaction
from ops.demo import seed
from ops.models import Order, OrderLine, Shipment

R = importlib.import_module("ops.fulfillment.refresh")
TABLES = ("agg_fulfil_daily", "agg_fulfil_hours", "agg_fulfil_hours_cells", "agg_fulfil_heat", "agg_fulfil_lanes",
          "agg_fulfil_backlog")


def _dump(engine: Engine) -> dict[str, pd.DataFrame]:
    out = {}
    with engine.connect() as c:
        for t in TABLES:
            df = pd.read_sql(f"SELECT * FROM {t}", c).drop(columns=["id"])  # noqa: S608 - constant names
            if "day" in df:
                df["day"] = pd.to_datetime(df["day"]).dt.date
            for col in ("paid_at", "ship_by"):
                if col in df:
                    df[col] = pd.to_datetime(df[col])
            out[t] = df.sort_values(list(df.columns), ignore_index=True)
    return out


def _new_day(engine: Engine) -> tuple[list[int], dt.date]:
    """Copy the last day's orders (lines and shipments too) one day later: a day of new orders."""
    with transaction(engine) as s:
        last = s.scalar(select(func.max(Order.placed_at)))
        day0 = last.date()
        src = s.scalars(select(Order).where(Order.placed_at >= dt.datetime.combine(day0, dt.time()))).all()
        one = dt.timedelta(days=1)
        ids = []
        for n, o in enumerate(src):
            new = Order(order_number=f"INC-{n}", channel_id=o.channel_id, warehouse_id=o.warehouse_id,
                        customer_region=o.customer_region, status=o.status, placed_at=o.placed_at + one,
                        paid_at=o.paid_at + one if o.paid_at else None,
                        ship_by=o.ship_by + one if o.ship_by else None, source="csv")
            s.add(new)
            s.flush()
            ids.append(new.id)
            for ln in s.scalars(select(OrderLine).where(OrderLine.order_id == o.id)):
                s.add(OrderLine(order_id=new.id, line_no=ln.line_no, product_id=ln.product_id, seller_id=ln.seller_id,
                                qty=ln.qty, unit_price=ln.unit_price, freight=ln.freight, ship_by=ln.ship_by))
            for k, sh in enumerate(s.scalars(select(Shipment).where(Shipment.order_id == o.id))):
                s.add(Shipment(tracking_number=f"INC-{n}-{k}", order_id=new.id, warehouse_id=sh.warehouse_id,
                               carrier_id=sh.carrier_id, lane=sh.lane, status=sh.status,
                               shipped_at=sh.shipped_at + one if sh.shipped_at else None,
                               promised_at=sh.promised_at + one if sh.promised_at else None,
                               delivered_at=sh.delivered_at + one if sh.delivered_at else None))
    return ids, day0 + dt.timedelta(days=1)


def _late_shipments(engine: Engine) -> list[int]:
    """Ship five old unshipped orders now (late): their placed days change."""
    with transaction(engine) as s:
        shipped = select(Shipment.order_id)
        old = s.scalars(select(Order).where(Order.id.not_in(shipped), Order.status.not_in(("cancelled", "canceled")),
                                            Order.paid_at.is_not(None))
                        .order_by(Order.placed_at).limit(5)).all()
        assert len(old) == 5
        for k, o in enumerate(old):
            at = o.paid_at + dt.timedelta(days=4, hours=k)
            s.add(Shipment(tracking_number=f"LATE-{k}", order_id=o.id, warehouse_id=o.warehouse_id, carrier_id=None,
                           lane="LATE>X", status="delivered", shipped_at=at, promised_at=at + dt.timedelta(days=2),
                           delivered_at=at + dt.timedelta(days=3)))
            o.status = "shipped"
        return [o.id for o in old]


def _cancel_and_add_line(engine: Engine) -> list[int]:
    with transaction(engine) as s:
        first, second = s.scalars(select(Order.id).where(Order.id.in_(select(Shipment.order_id)))
                                  .order_by(Order.id).limit(2)).all()
        s.execute(update(Order).where(Order.id == first).values(status="cancelled"))
        ln = s.scalars(select(OrderLine).where(OrderLine.order_id == second)).first()
        assert ln is not None
        top = s.scalar(select(func.max(OrderLine.line_no)).where(OrderLine.order_id == second))
        s.add(OrderLine(order_id=second, line_no=int(top) + 1, product_id=ln.product_id, seller_id=ln.seller_id,
                        qty=2, unit_price=ln.unit_price, freight=0.0))
        return [first, second]


def test_incremental_refresh_equals_a_full_rebuild(engine: Engine) -> None:
    seed(engine, size="small", seed=7)  # seeding ends with a full refresh
    before = _dump(engine)

    ids, new_day = _new_day(engine)
    with transaction(engine) as s:
        days = R.touched_days(s, ids)
        assert days == {new_day}
        R.refresh_days(s, days)
    mid = _dump(engine)
    daily = mid["agg_fulfil_daily"]
    assert int(daily.loc[daily["day"] == new_day, "lines"].sum()) > 0  # the incremental run wrote the new day
    old = daily[daily["day"] < new_day].reset_index(drop=True)
    pd.testing.assert_frame_equal(old, before["agg_fulfil_daily"])  # untouched days kept their rows

    for change in (_late_shipments, _cancel_and_add_line):
        changed = change(engine)
        with transaction(engine) as s:
            days = R.touched_days(s, changed)
            assert 0 < len(days) <= len(changed)
            R.refresh_days(s, days)
    incremental = _dump(engine)
    assert not incremental["agg_fulfil_daily"].equals(before["agg_fulfil_daily"])

    with transaction(engine) as s:
        R.refresh(s)
    full = _dump(engine)
    # SQLite adds each group's hours in the lines' order, the same in both runs: equal to the bit.
    # PostgreSQL's aggregate plans add them in their own order: equal to 1e-12 relative.
    exact = engine.dialect.name == "sqlite"
    for t in TABLES:
        pd.testing.assert_frame_equal(incremental[t], full[t], check_exact=exact, rtol=1e-12, obj=t)


def test_refresh_days_of_nothing_changes_nothing(engine: Engine) -> None:
    seed(engine, size="small", seed=7)
    before = _dump(engine)
    with transaction(engine) as s:
        R.refresh_days(s, [])
        R.refresh_days(s, [dt.date(1999, 1, 1)])  # a day without orders
    after = _dump(engine)
    for t in TABLES:
        pd.testing.assert_frame_equal(after[t], before[t], obj=t)
