"""Stray far-future rows do not move the data's "now" (issue: one snapshot dated 2099 emptied the
dashboards: inventory value fell from 46,075 to 71 and the default window moved to 2098)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from sqlalchemy import DateTime, Engine, select, text

from ops.access import Viewer
from ops.aggregates import refresh_all
from ops.db import read_session, transaction
from ops.models import InventorySnapshot, Order, OrderLine
from ops.reference import STRAY_GAP_DAYS, data_span, settled_last_day

D = dt.date


END = D(2026, 11, 15)
REAL = [END - dt.timedelta(days=i) for i in range(10)]  # ten days of data, newest first


@pytest.mark.parametrize(("days", "expected"), [
    ([], None),
    ([END], END),
    ([END, END - dt.timedelta(days=3)], END),  # small data is its own cluster
    ([D(2099, 1, 1), *REAL], END),
    ([D(2099, 1, 1), D(2098, 12, 31), *REAL], END),  # two strays together
    ([END + dt.timedelta(days=30), *REAL], END + dt.timedelta(days=30)),  # a 30-day gap is data
    ([END + dt.timedelta(days=STRAY_GAP_DAYS + 1), *REAL], END),
])
def test_settled_last_day(days: list[dt.date], expected: dt.date | None) -> None:
    assert settled_last_day(days) == expected


def test_a_2099_snapshot_and_order_move_neither_as_of_nor_the_window(engine: Engine) -> None:
    from ops.demo import seed
    from ops.inventory import inventory_health

    seed(engine, size="small", seed=7)
    manager = Viewer(username="meg", role="manager")
    with read_session(engine) as s:
        before = inventory_health(s, viewer=manager)
        span_before = data_span(s, viewer=manager)
        value_before = float(before.kpis.set_index("kpi").loc["inventory_value", "value"])
    with transaction(engine) as s:
        snap = s.scalars(select(InventorySnapshot).limit(1)).one()
        s.add(InventorySnapshot(product_id=snap.product_id, warehouse_id=snap.warehouse_id, day=D(2099, 1, 1),
                                on_hand=1))
        order = s.scalars(select(Order).limit(1)).one()
        stray = Order(order_number="SO-2099", channel_id=order.channel_id, warehouse_id=order.warehouse_id,
                      customer_region=order.customer_region, status="paid",
                      placed_at=dt.datetime(2099, 1, 1, 10), paid_at=dt.datetime(2099, 1, 1, 10))
        s.add(stray)
        s.flush()
        line = s.scalars(select(OrderLine).limit(1)).one()
        s.add(OrderLine(order_id=stray.id, line_no=1, product_id=line.product_id, qty=1, unit_price=9.0))
        refresh_all(s)
    with read_session(engine) as s:
        after = inventory_health(s, viewer=manager)
        span_after = data_span(s, viewer=manager)
        last_real = s.execute(text("SELECT max(day) FROM inventory_snapshots WHERE day < '2090-01-01'")).scalar()
    assert after.as_of == before.as_of == pd.Timestamp(str(last_real)[:10]).date()
    assert float(after.kpis.set_index("kpi").loc["inventory_value", "value"]) == pytest.approx(value_before)
    assert span_after == span_before
    from ops.fulfillment import as_of as fulfilment_now

    with read_session(engine) as s:
        assert fulfilment_now(s) == dt.datetime.combine(after.as_of + dt.timedelta(days=1), dt.time.min)


@pytest.mark.parametrize("table_column", ["purchase_orders.ordered_on", "purchase_order_lines.received_on",
                                          "inventory_snapshots.day", "orders.placed_at", "shipments.shipped_at",
                                          "shipments.delivered_at"])
def test_newest_days_are_the_columns_distinct_days_newest_first(seeded_engine: Engine, table_column: str) -> None:
    """Walked one index seek per day where an index leads with the column, read in one scan where none does
    (a purchase order's dates): either way the newest distinct days, as plain pandas finds them in the rows."""
    from ops import models
    from ops.reference import _indexed, newest_days

    table, column = table_column.split(".")
    model = next(m for m in models.Base.registry.mappers if m.local_table.name == table).class_
    col = getattr(model, column)
    with seeded_engine.connect() as c:
        values = pd.read_sql_table(table, c)[column]
    days = sorted({pd.Timestamp(v).date() for v in values.dropna()}, reverse=True)
    assert len(days) > 10
    with read_session(seeded_engine) as s:
        assert newest_days(s, col) == days[:64]
        assert newest_days(s, col, k=5) == days[:5]
        cut = days[7]  # with a condition: the days before the eighth newest (a date column compared with a date)
        bound = dt.datetime.combine(cut, dt.time.min) if isinstance(col.type, DateTime) else cut
        assert newest_days(s, col, col < bound, k=3) == days[8:11]
    assert _indexed(col) == (table not in ("purchase_orders", "purchase_order_lines"))
