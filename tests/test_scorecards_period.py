"""The scorecards' default period: the week of the data's settled last ship day, whatever the shipments hold.

The period is read from the newest ship instants in index order (no ``DISTINCT``); these known answers pin
what it must give: stray far-future shipments do not move it, many shipments at one instant do not hide
the days before it, and a small data set's only days count.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine, insert
from sqlalchemy.orm import Session

from ops import scorecards as sc
from ops.db import transaction
from ops.models import Carrier, Channel, Order, Shipment, Warehouse


def _ship(engine: Engine, instants: list[dt.datetime]) -> None:
    """One shipment per instant (repeats allowed), all of one order and carrier."""
    with transaction(engine) as s:
        wh, ch, car = Warehouse(code="WH-A", name="A"), Channel(code="web", name="Web"), Carrier(code="CA", name="A")
        s.add_all([wh, ch, car])
        s.flush()
        o = Order(order_number="O1", channel_id=ch.id, warehouse_id=wh.id, status="shipped",
                  placed_at=dt.datetime(2026, 1, 5, 9))
        s.add(o)
        s.flush()
        if instants:
            s.execute(insert(Shipment), [
                {"tracking_number": f"T{i}", "order_id": o.id, "warehouse_id": wh.id, "carrier_id": car.id,
                 "lane": "WH-A>NY", "label_cost": 5.0, "shipped_at": at, "status": "shipped"}
                for i, at in enumerate(instants)])


def _days(first: dt.date, last: dt.date, per_day: int = 3) -> list[dt.datetime]:
    n = (last - first).days + 1
    return [dt.datetime.combine(first + dt.timedelta(days=d), dt.time(8 + h)) for d in range(n) for h in range(per_day)]


@pytest.mark.parametrize("extra, want_end", [
    # two stray shipments in 2099 are not the data's last day: the period still ends in the week of 13 March
    ([dt.datetime(2099, 1, 5, 10), dt.datetime(2099, 1, 6, 10)], dt.date(2026, 3, 9)),
    # 7,000 stray shipments at one instant: more rows than the distinct instants the read looks at, which must
    # still reach the real days behind them
    ([dt.datetime(2099, 1, 5, 12)] * 7_000, dt.date(2026, 3, 9)),
    # a shipment on Monday 16 March after that burst: its week is the period's last
    ([dt.datetime(2026, 3, 15, 12)] * 7_000 + [dt.datetime(2026, 3, 16, 9)], dt.date(2026, 3, 16)),
])
def test_default_period_ends_in_the_week_of_the_settled_last_ship_day(engine: Engine, extra: list[dt.datetime],
                                                                       want_end: dt.date) -> None:
    _ship(engine, _days(dt.date(2026, 2, 2), dt.date(2026, 3, 13)) + extra)
    with Session(engine) as s:
        p = sc.queries.period(s)
    assert p is not None
    assert (p.start, p.end) == (want_end - dt.timedelta(weeks=12), want_end)


def test_few_ship_days_count_as_the_data(engine: Engine) -> None:
    # three days in all (fewer than a settled cluster needs): the last of them is the data's last day
    _ship(engine, _days(dt.date(2026, 5, 6), dt.date(2026, 5, 8), per_day=1))
    with Session(engine) as s:
        p = sc.queries.period(s, weeks=4)
    assert p is not None and p.end == dt.date(2026, 5, 4) and p.start == dt.date(2026, 4, 13)
