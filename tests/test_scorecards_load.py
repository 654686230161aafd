"""One scorecard page load reads each thing once; what it reads differently gives the same answers.

- The default period's end: ``ops.reference.last_day`` of the ship instants walks the newest distinct days one
  index seek each, so stray far-future days are outnumbered by the real ones however many instants a day holds
  (two stray days after two days of several thousand shipments, as at bench size: reading a fixed number of
  newest instants saw under two real days and settled on the strays). Known answers, written down.
- Exclusions: a page load skips reading them when the viewer's disputes hold no accepted one, except for a
  3PL, whose shipment exclusions are the carriers' disputes. Each viewer's page still counts the excluded
  shipment or PO line (known answers on hand-made rows).
- The thresholds a load reads once are refused for another viewer.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from ops import scorecards as sc
from ops.access import Viewer
from ops.db import read_session, transaction
from ops.models import PurchaseOrderLine, Shipment, Warehouse
from ops.reference import _LAST_DAYS, last_day
from ops.scorecards import queries as q
from tests.test_scorecards import MANAGER, build
from tests.test_scorecards_period import _ship

WANT = _LAST_DAYS * 50  # as many distinct instants as last_day once read, newest first


def _day(first: dt.date, days: int, per_day: int, *, repeat: int = 1, step_s: int = 7) -> list[dt.datetime]:
    """``per_day`` distinct instants on each of ``days`` days from ``first`` (``step_s`` seconds apart from 06:00),
    each ``repeat`` times."""
    start = [dt.datetime.combine(first + dt.timedelta(days=d), dt.time(6)) for d in range(days)]
    return [t + dt.timedelta(seconds=step_s * k) for t in start for k in range(per_day) for _ in range(repeat)]


LAST = dt.date(2026, 3, 13)
REAL = _day(dt.date(2026, 2, 2), 40, 3)  # 2 Feb .. 13 Mar, three instants a day
STRAY = dt.date(2099, 1, 5)

CASES = {
    "no shipments": ([], None),
    "regular days": (REAL, LAST),
    "two stray far-future days": (REAL + _day(STRAY, 2, 1), LAST),
    "one stray instant 7,000 times": (REAL + _day(STRAY, 1, 1, repeat=7_000), LAST),
    "instants repeated five times": (_day(dt.date(2026, 2, 2), 40, 30, repeat=5), LAST),
    "one busy day": (_day(dt.date(2026, 2, 2), 20, 5) + _day(LAST, 1, WANT + 500, step_s=1), LAST),
    # one instant a day for 300 days: more days than last_day looks at
    "sparse days and three stray days": (_day(dt.date(2025, 5, 18), 300, 1) + _day(STRAY, 3, 1), LAST),
    "stray day just under 3,200 instants": (REAL + _day(STRAY, 1, WANT - 10, step_s=1), LAST),
    "stray day of 3,200 instants": (REAL + _day(STRAY, 1, WANT, step_s=1), LAST),
    # as at bench size: two days of 2,000 shipments each, then two stray days
    "two busy days, then two stray days": (REAL + _day(LAST + dt.timedelta(days=1), 2, 2_000, step_s=1)
                                           + _day(STRAY, 2, 1), LAST + dt.timedelta(days=2)),
    "a few days only": (_day(dt.date(2026, 5, 6), 3, 1), dt.date(2026, 5, 8)),
    # more days than are looked at, every one of them a stray cluster's: the newest seven-day cluster wins
    "a stray week": (REAL + _day(STRAY, 7, 2), STRAY + dt.timedelta(days=6)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_settled_last_ship_day(engine: Engine, case: str) -> None:
    instants, want = CASES[case]
    _ship(engine, instants)
    with read_session(engine) as s:
        assert last_day(s, Shipment.shipped_at) == want
        if want is not None:  # the scorecards' default period ends in that week
            assert q.period(s, weeks=1) == q.Period(start=want - dt.timedelta(days=want.weekday()),
                                                    end=want - dt.timedelta(days=want.weekday()))


def test_the_newest_days_are_walked_one_day_at_a_time(engine: Engine) -> None:
    """``newest_days`` gives the newest distinct days, newest first, as plain Python gives them from the rows."""
    from ops.reference import newest_days

    instants = _day(dt.date(2026, 1, 1), 90, 4) + _day(dt.date(2026, 4, 10), 1, 300, step_s=1) + _day(STRAY, 2, 1)
    _ship(engine, instants)
    want = sorted({t.date() for t in instants}, reverse=True)[:_LAST_DAYS]
    with read_session(engine) as s:
        assert newest_days(s, Shipment.shipped_at) == want
        assert newest_days(s, Shipment.shipped_at, k=3) == want[:3]
        early = Shipment.shipped_at < dt.datetime(2026, 2, 1)
        assert newest_days(s, Shipment.shipped_at, early, k=5) == [dt.date(2026, 1, 31 - i) for i in range(5)]


def _operated(engine: Engine) -> Viewer:
    """WH-A (where ``build``'s shipments leave from) operated by 3PL-X; its vendor viewer."""
    with transaction(engine) as s:
        s.execute(update(Warehouse).where(Warehouse.code == "WH-A").values(operator_code="3PL-X"))
    return Viewer(username="tpl-user", role="vendor", vendor_kind="warehouse", vendor_code="3PL-X")


def _excluded(page: sc.ScorecardPage, lane: str) -> int:
    return int(page.carriers.set_index(["carrier", "lane"]).loc[("CA", lane), "excluded"])


def test_each_viewers_page_counts_the_exclusions_it_may_see(engine: Engine) -> None:
    build(engine)
    tpl = _operated(engine)
    carrier = Viewer(username="ca-user", role="vendor", vendor_kind="carrier", vendor_code="CA")
    supplier = Viewer(username="sa", role="vendor", vendor_kind="supplier", vendor_code="SUP-A")
    loads = {MANAGER: ("carriers", "suppliers", "tpl"), carrier: ("carriers",), tpl: ("tpl", "carriers"),
             supplier: ("suppliers",)}
    with read_session(engine) as s:
        before = {v: sc.scorecard_page(s, viewer=v, week="2026-W10", sections=secs) for v, secs in loads.items()}
        line_ids = s.scalars(select(PurchaseOrderLine.id).order_by(PurchaseOrderLine.id)).all()
    for v in (MANAGER, carrier, tpl):
        assert _excluded(before[v], "WH-A>NY") == 0 and _excluded(before[v], "WH-A>CA") == 0
    assert int(before[supplier].suppliers["excluded"].sum()) == 0

    with transaction(engine) as s:
        did = sc.raise_dispute(s, viewer=carrier, subject_kind="shipment", subject_key="T5", reason="address closed")
        sc.decide_dispute(s, viewer=MANAGER, dispute_id=did, state="accepted", expected_version=1)
        did = sc.raise_dispute(s, viewer=supplier, subject_kind="po_line", subject_key=f"PO-1:{line_ids[2]}",
                               reason="the warehouse was closed on the 3rd")
        sc.decide_dispute(s, viewer=MANAGER, dispute_id=did, state="accepted", expected_version=1)
    with read_session(engine) as s:
        after = {v: sc.scorecard_page(s, viewer=v, week="2026-W10", sections=secs) for v, secs in loads.items()}
    # T5 (lane WH-A>NY, leaving WH-A) is excluded for us, for the carrier and for the 3PL, whose own disputes
    # list is empty: the carrier raised it
    assert after[tpl].disputes.empty
    for v in (MANAGER, carrier, tpl):
        assert _excluded(after[v], "WH-A>NY") == 1 and _excluded(after[v], "WH-A>CA") == 0
        ny = after[v].carriers.set_index("lane").loc["WH-A>NY"]
        assert ny["shipments"] == 4
    # the third PO line (late, in full) is excluded: 2 lines left, one of them on time and in full
    for v in (MANAGER, supplier):
        row = after[v].suppliers.set_index("supplier").loc["SUP-A"]
        assert row["excluded"] == 1 and row["po_lines"] == 2 and row["otif_rate"] == pytest.approx(1 / 2)


def test_shared_reads_are_refused_for_another_viewer(engine: Engine) -> None:
    build(engine)
    carrier = Viewer(username="ca-user", role="vendor", vendor_kind="carrier", vendor_code="CA")
    with Session(engine) as s:
        mine = q.shared_reads(s, viewer=MANAGER)
        with pytest.raises(ValueError, match="another viewer"):
            q.carrier_section(s, viewer=carrier, week="2026-W10", shared=mine)
        with pytest.raises(ValueError, match="another viewer"):
            q.supplier_section(s, viewer=carrier, week="2026-W10", shared=mine)
