"""Rebuild the ``agg_scorecard_*`` tables in SQL (SQLite and PostgreSQL); definitions in :mod:`.metrics`.

Business days cannot be counted in portable SQL, so Python writes one small calendar table
(``agg_scorecard_calendar``: each day from the first shipment or PO to the last, its week's Monday
and the business days before it, Mon-Fri less the global holidays). Every shipment fact is then one
``INSERT ... SELECT`` into a temporary table joined to that calendar twice (ship day, attempt day),
and each aggregate one ``INSERT ... SELECT ... GROUP BY`` from it; transit in business days is
``n_before(attempt day) - n_before(ship day)`` (= ``numpy.busday_count``). No shipment passes
through Python. PO lines are few (about 120 k at bench size) and go straight to their aggregate.

Shipments and PO lines excluded by an accepted dispute are left out here; :func:`apply_exclusion`
subtracts (or adds back) one of them in the transaction that accepts (or reopens) the dispute, with
the same expressions, so the page is right at once without a rebuild.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Date,
    Float,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    and_,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from ops.aggregates import incremental, refresher
from ops.db import as_day
from ops.fulfillment.queries import calendars
from ops.models import (
    AggScorecardCalendar,
    AggScorecardCarrier,
    AggScorecardSupplier,
    AggScorecardTransit,
    Carrier,
    CarrierService,
    PurchaseOrder,
    PurchaseOrderLine,
    ScorecardDispute,
    Shipment,
    Supplier,
    Warehouse,
)
from ops.reference import last_day

if TYPE_CHECKING:
    from ops.ingest.changes import Changes

AGG_TABLES = (AggScorecardCarrier, AggScorecardTransit, AggScorecardSupplier, AggScorecardCalendar)
CARRIER_KEYS = ("week", "carrier_id", "carrier", "service", "lane", "warehouse")
CARRIER_COUNTS = ("n", "attempted", "on_time", "delivered", "first_attempt_ok", "lost", "damaged", "returned")
SUPPLIER_COUNTS = ("lines", "on_time", "in_full", "otif", "qty_ordered", "qty_received")

_TMP = MetaData()
# Packed keys exceed PostgreSQL's integer; on SQLite INTEGER is already 64-bit.
KEY = BigInteger().with_variant(Integer(), "sqlite")
JULIAN_DAY_0001 = 1721425.5  # SQLite's julianday('0001-01-01'): day number 0, a Monday
# The calendar by day number (days from 0001-01-01), so that each shipment finds its days by integer.
TMP_CAL = Table("tmp_scorecard_cal", _TMP, Column("dn", Integer, primary_key=True, autoincrement=False),
                Column("week", Date), Column("n_before", Integer), prefixes=["TEMPORARY"])
# One row per shipment: ``k`` packs its ship week (day number // 7), carrier, service and warehouse ids.
TMP_SHIP = Table(
    "tmp_scorecard_ship", _TMP, Column("k", KEY), Column("lane", String(64)),
    *[Column(c, Integer) for c in CARRIER_COUNTS], Column("cost", Float), Column("bdays", Integer),
    prefixes=["TEMPORARY"])


def _day(dialect: str, ts: Any) -> ColumnElement[Any]:
    return cast(ts, Date) if dialect == "postgresql" else func.date(ts)


def _flag(cond: ColumnElement[bool]) -> ColumnElement[Any]:
    return case((cond, 1), else_=0)


def _accepted(subject_kind: str) -> Select[Any]:
    return select(ScorecardDispute.subject_key).where(ScorecardDispute.subject_kind == subject_kind,
                                                      ScorecardDispute.state == "accepted")


# --- the calendar -----------------------------------------------------------------------------------


def _span(session: Session) -> tuple[dt.date, dt.date] | None:
    """First and last day of any shipment time or PO expected day (None when there are none)."""
    spans = [
        # min and max apart: each alone is one seek on the shipped_at index
        (session.scalar(select(func.min(Shipment.shipped_at))), session.scalar(select(func.max(Shipment.shipped_at)))),
        session.execute(select(func.min(Shipment.first_attempt_at), func.max(Shipment.first_attempt_at))).one(),
        (session.scalar(select(func.min(Shipment.delivered_at))),
         session.scalar(select(func.max(Shipment.delivered_at)))),
        session.execute(select(func.min(PurchaseOrder.expected_on), func.max(PurchaseOrder.expected_on))).one(),
    ]
    ends = [pd.Timestamp(str(v)).normalize() for span in spans for v in span if v is not None]
    if not ends:
        return None
    return min(ends).date(), max(ends).date()


def _fill_calendar(session: Session, span: tuple[dt.date, dt.date] | None = None) -> None:
    """The calendar from the first day of :func:`_span` (or ``span``), back to its Monday, to the last."""
    span = span or _span(session)
    if span is None:
        return
    first, last = pd.Timestamp(span[0]), pd.Timestamp(span[1])
    first -= pd.Timedelta(days=first.dayofweek)  # whole weeks, so every day's Monday is in the table
    days = pd.date_range(first, last, freq="D")
    day_d = days.to_numpy().astype("datetime64[D]")
    _, default_cal = calendars(session)
    n_before = np.busday_count(day_d[0], day_d, busdaycal=default_cal.busdaycal)
    weeks = days - pd.to_timedelta(days.dayofweek, unit="D")
    session.execute(insert(AggScorecardCalendar), [
        {"day": d.date(), "week": w.date(), "n_before": int(n)} for d, w, n in zip(days, weeks, n_before, strict=True)])


# --- shipment facts ---------------------------------------------------------------------------------


def shipment_facts(dialect: str) -> Select[Any]:
    """One row per shipment with a ship time: its keys and 0/1 outcome flags (``metrics`` definitions)."""
    ship_cal = AggScorecardCalendar.__table__.alias("ship_cal")
    att_cal = AggScorecardCalendar.__table__.alias("att_cal")
    attempt = func.coalesce(Shipment.first_attempt_at, Shipment.delivered_at)
    attempted = and_(attempt.is_not(None), Shipment.promised_at.is_not(None))
    delivered = and_(Shipment.status == "delivered", Shipment.delivered_at.is_not(None))
    first_ok = and_(delivered, or_(Shipment.first_attempt_at.is_(None),
                                   Shipment.first_attempt_at >= Shipment.delivered_at))
    cols: dict[str, Any] = {
        "week": ship_cal.c.week, "carrier_id": Shipment.carrier_id,
        "carrier": func.coalesce(Carrier.code, ""), "service": func.coalesce(CarrierService.code, ""),
        "lane": func.coalesce(Shipment.lane, ""), "warehouse": func.coalesce(Warehouse.code, ""),
        "n": literal(1, Integer), "attempted": _flag(attempted),
        "on_time": _flag(and_(attempted, _day(dialect, attempt) <= _day(dialect, Shipment.promised_at))),
        "delivered": _flag(delivered), "first_attempt_ok": _flag(first_ok),
        "lost": _flag(Shipment.status == "lost"), "damaged": _flag(Shipment.status == "damaged"),
        "returned": _flag(Shipment.status == "returned_to_sender"),
        "cost": func.coalesce(Shipment.label_cost, 0.0),
        "bdays": case((attempt.is_not(None), att_cal.c.n_before - ship_cal.c.n_before), else_=None),
    }
    return (select(*[c.label(k) for k, c in cols.items()])
            .select_from(Shipment)
            .join(ship_cal, ship_cal.c.day == _day(dialect, Shipment.shipped_at))
            .outerjoin(att_cal, att_cal.c.day == _day(dialect, attempt))
            .outerjoin(Carrier, Carrier.id == Shipment.carrier_id)
            .outerjoin(CarrierService, CarrierService.id == Shipment.service_id)
            .outerjoin(Warehouse, Warehouse.id == Shipment.warehouse_id)
            .where(Shipment.shipped_at.is_not(None), Shipment.carrier_id.is_not(None)))


def supplier_facts(as_of: dt.date | None) -> Select[Any]:
    """One row per PO line that counts (due by ``as_of`` or received): week expected, supplier, flags."""
    cal = AggScorecardCalendar.__table__
    received = PurchaseOrderLine.received_on
    on_time = and_(received.is_not(None), received <= PurchaseOrder.expected_on)
    in_full = PurchaseOrderLine.qty_received >= PurchaseOrderLine.qty_ordered
    due: ColumnElement[bool] = PurchaseOrderLine.received_on.is_not(None)
    if as_of is not None:
        due = or_(due, PurchaseOrder.expected_on <= as_of)
    cols: dict[str, Any] = {
        "week": cal.c.week, "supplier": Supplier.code, "lines": literal(1, Integer), "on_time": _flag(on_time),
        "in_full": _flag(in_full), "otif": _flag(and_(on_time, in_full)),
        "qty_ordered": PurchaseOrderLine.qty_ordered, "qty_received": func.coalesce(PurchaseOrderLine.qty_received, 0),
    }
    return (select(*[c.label(k) for k, c in cols.items()])
            .select_from(PurchaseOrderLine)
            .join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.po_id)
            .join(Supplier, Supplier.id == PurchaseOrder.supplier_id)
            .join(cal, cal.c.day == PurchaseOrder.expected_on)
            .where(PurchaseOrder.expected_on.is_not(None), due))


def po_line_key() -> ColumnElement[Any]:
    """A PO line's dispute key: ``<po_number>:<line id>``."""
    return PurchaseOrder.po_number + literal(":") + cast(PurchaseOrderLine.id, String)


def supplier_as_of(session: Session) -> dt.date | None:
    """The day PO lines are judged at: the data's last PO or receipt day (settled, never the clock)."""
    days = [d for d in (last_day(session, PurchaseOrder.ordered_on), last_day(session, PurchaseOrderLine.received_on))
            if d is not None]
    return max(days) if days else None


# --- the rebuild ------------------------------------------------------------------------------------


@refresher("scorecards")
def refresh(session: Session) -> None:
    """Rebuild every ``agg_scorecard_*`` table from the fact tables (inside the caller's transaction)."""
    for t in AGG_TABLES:
        session.execute(delete(t))
    dialect = session.get_bind().dialect.name
    _fill_calendar(session)
    packing = _stage_shipments(session, dialect)
    _carrier_aggregates(session, packing)
    _supplier_aggregates(session)


def day_number(dialect: str, ts: Any) -> ColumnElement[Any]:
    """Days from 0001-01-01 to the timestamp's day (``date.toordinal() - 1``), parsing it once."""
    if dialect == "postgresql":
        return cast(ts, Date) - literal(dt.date(1, 1, 1), Date)
    return cast(func.julianday(ts) - JULIAN_DAY_0001, Integer)


@dataclass(frozen=True)
class _Packing:
    """``k = ((week * n_car + carrier_id) * n_svc + service_id) * n_wh + warehouse_id`` (ids; 0 for none)."""

    n_car: int
    n_svc: int
    n_wh: int


def _stage_shipments(session: Session, dialect: str, *where: Any) -> _Packing:
    """``tmp_scorecard_ship``: the facts of :func:`shipment_facts` for every shipment with a ship time (and
    ``where``) not excluded by an accepted dispute, keyed by integers (its days found in the calendar by day
    number), so that the aggregates sort integers and decode only their result rows."""
    conn = session.connection()
    for t in (TMP_SHIP, TMP_CAL):
        t.drop(conn, checkfirst=True)
        t.create(conn)
    cal = AggScorecardCalendar
    session.execute(insert(TMP_CAL).from_select(
        ["dn", "week", "n_before"], select(day_number(dialect, cal.day), cal.week, cal.n_before)))
    packing = _Packing(*(int(session.scalar(select(func.max(c))) or 0) + 1
                         for c in (Carrier.id, CarrierService.id, Warehouse.id)))
    ship_cal, att_cal = TMP_CAL.alias("ship_cal"), TMP_CAL.alias("att_cal")
    attempt = func.coalesce(Shipment.first_attempt_at, Shipment.delivered_at)
    attempted = and_(attempt.is_not(None), Shipment.promised_at.is_not(None))
    delivered = and_(Shipment.status == "delivered", Shipment.delivered_at.is_not(None))
    first_ok = and_(delivered, or_(Shipment.first_attempt_at.is_(None),
                                   Shipment.first_attempt_at >= Shipment.delivered_at))
    att_day = day_number(dialect, attempt)
    key = ((cast(ship_cal.c.dn // 7, KEY) * packing.n_car + Shipment.carrier_id) * packing.n_svc
           + func.coalesce(Shipment.service_id, 0)) * packing.n_wh + func.coalesce(Shipment.warehouse_id, 0)
    cols: dict[str, Any] = {
        "k": key, "lane": func.coalesce(Shipment.lane, ""),
        "n": literal(1, Integer), "attempted": _flag(attempted),
        "on_time": _flag(and_(attempted, att_day <= day_number(dialect, Shipment.promised_at))),
        "delivered": _flag(delivered), "first_attempt_ok": _flag(first_ok),
        "lost": _flag(Shipment.status == "lost"), "damaged": _flag(Shipment.status == "damaged"),
        "returned": _flag(Shipment.status == "returned_to_sender"),
        "cost": func.coalesce(Shipment.label_cost, 0.0),
        "bdays": case((attempt.is_not(None), att_cal.c.n_before - ship_cal.c.n_before), else_=None),
    }
    facts = (select(*[c.label(k) for k, c in cols.items()])
             .select_from(Shipment)
             .join(ship_cal, ship_cal.c.dn == day_number(dialect, Shipment.shipped_at))
             .outerjoin(att_cal, att_cal.c.dn == att_day)
             .where(Shipment.shipped_at.is_not(None), Shipment.carrier_id.is_not(None),
                    Shipment.tracking_number.not_in(_accepted("shipment")), *where))
    session.execute(insert(TMP_SHIP).from_select(list(cols), facts))
    return packing


def _carrier_aggregates(session: Session, packing: _Packing) -> None:
    """``agg_scorecard_carrier`` and ``agg_scorecard_transit`` from the staged shipment facts: grouped by the
    packed key and the lane, then decoded into the week and the codes, in the order of a GROUP BY of those."""
    conn = session.connection()
    tc = TMP_SHIP.c

    def decoded(sub: Any) -> tuple[dict[str, Any], Any]:
        n_sw = packing.n_svc * packing.n_wh
        cols = {"week": TMP_CAL.c.week, "carrier_id": sub.c.k // n_sw % packing.n_car,
                "carrier": func.coalesce(Carrier.code, ""), "service": func.coalesce(CarrierService.code, ""),
                "lane": sub.c.lane, "warehouse": func.coalesce(Warehouse.code, "")}
        src = (sub.join(TMP_CAL, TMP_CAL.c.dn == sub.c.k // (n_sw * packing.n_car) * 7)
               .outerjoin(Carrier, Carrier.id == cols["carrier_id"])
               .outerjoin(CarrierService, CarrierService.id == sub.c.k // packing.n_wh % packing.n_svc)
               .outerjoin(Warehouse, Warehouse.id == sub.c.k % packing.n_wh))
        return cols, src

    per_key = (select(tc.k, tc.lane, *[func.sum(getattr(tc, c)).label(c) for c in CARRIER_COUNTS],
                      func.sum(tc.cost).label("cost_sum")).group_by(tc.k, tc.lane).subquery())
    cols, src = decoded(per_key)
    session.execute(insert(AggScorecardCarrier).from_select(
        [*CARRIER_KEYS, *CARRIER_COUNTS, "cost_sum"],
        select(*[cols[k] for k in CARRIER_KEYS], *[per_key.c[c] for c in (*CARRIER_COUNTS, "cost_sum")])
        .select_from(src).order_by(*[cols[k] for k in CARRIER_KEYS])))
    per_day = (select(tc.k, tc.lane, tc.bdays, func.count().label("n")).where(tc.bdays.is_not(None))
               .group_by(tc.k, tc.lane, tc.bdays).subquery())
    cols, src = decoded(per_day)
    hkeys = [cols[k] for k in ("week", "carrier", "service", "lane", "warehouse")]
    session.execute(insert(AggScorecardTransit).from_select(
        ["week", "carrier", "service", "lane", "warehouse", "bdays", "n"],
        select(*hkeys, per_day.c.bdays, per_day.c.n).select_from(src).order_by(*hkeys, per_day.c.bdays)))
    TMP_SHIP.drop(conn)
    TMP_CAL.drop(conn)


def _supplier_aggregates(session: Session) -> None:
    """``agg_scorecard_supplier``: every PO line that counts (a small table: always in full)."""
    sf = supplier_facts(supplier_as_of(session)).where(po_line_key().not_in(_accepted("po_line"))).subquery()
    session.execute(insert(AggScorecardSupplier).from_select(
        ["week", "supplier", *SUPPLIER_COUNTS],
        select(sf.c.week, sf.c.supplier, *[func.sum(getattr(sf.c, c)) for c in SUPPLIER_COUNTS])
        .group_by(sf.c.week, sf.c.supplier)))


# --- incremental: the ship weeks an import touched ------------------------------------------------

MAX_WEEKS = 26  # more touched ship weeks than this: the full rebuild is as quick
_WEEK = dt.timedelta(days=7)
_SHIP_TIMES = ("shipped_at", "first_attempt_at", "delivered_at")


@incremental("scorecards")
def refresh_changes(session: Session, changes: Changes) -> bool:
    """Rebuild the carrier aggregates of the ship weeks whose shipments an import inserted or updated (the
    weeks they left too), the calendar when its span grew, and the supplier aggregate when PO lines or
    supplier codes changed. False (full rebuild) when holidays or the codes the rows copy changed."""
    if (changes.changed("holidays")
            or any(changes.updated(t, ("code",)) for t in ("carriers", "carrier_services", "warehouses"))):
        return False
    if session.execute(select(AggScorecardCalendar.day).limit(1)).first() is None:
        return False  # never built (or nothing shipped yet): the full rebuild makes every week
    po_changed = (changes.changed("purchase_orders") or changes.changed("purchase_order_lines")
                  or changes.updated("suppliers", ("code",)))
    weeks: list[dt.date] = []
    if changes.changed("shipments") or po_changed:
        span = _incremental_span(session, changes)
        if span is None:
            return False
        cal = AggScorecardCalendar
        have = session.execute(select(func.min(cal.day), func.max(cal.day))).one()
        if (as_day(have[0]), as_day(have[1])) != (span[0] - dt.timedelta(days=span[0].weekday()), span[1]):
            session.execute(delete(AggScorecardCalendar))
            _fill_calendar(session, span)
        weeks = sorted({d - dt.timedelta(days=d.weekday()) for d in changes.ship_days(session, ("shipped_at",))})
    if len(weeks) > MAX_WEEKS:
        return False
    if weeks:
        _refresh_weeks(session, weeks)
    if po_changed:
        session.execute(delete(AggScorecardSupplier))
        _supplier_aggregates(session)
    return True


def _incremental_span(session: Session, changes: Changes) -> tuple[dt.date, dt.date] | None:
    """The calendar's span after the import from the stored calendar and the changed rows' days, or the
    exact :func:`_span` when a changed row may have held an end day (the span may have shrunk)."""
    cal = AggScorecardCalendar
    lo, hi = (as_day(v) for v in session.execute(select(func.min(cal.day), func.max(cal.day))).one())
    if lo is None or hi is None:
        return _span(session)
    now = changes.ship_days(session, _SHIP_TIMES)
    old: set[dt.date] = set()
    for c in _SHIP_TIMES:
        old |= {d for d in (as_day(v) for v in changes.old_values("shipments", c)) if d is not None}
    po_ids = changes.new_ids(session, PurchaseOrder) | changes.updated_ids("purchase_orders")
    for i in range(0, len(po_ids), 5_000):
        chunk = sorted(po_ids)[i:i + 5_000]
        now |= {d for d in (as_day(v) for v in session.scalars(
            select(PurchaseOrder.expected_on).where(PurchaseOrder.id.in_(chunk)))) if d is not None}
    old |= {d for d in (as_day(v) for v in changes.old_values("purchase_orders", "expected_on")) if d is not None}
    # the true first day is somewhere in the calendar's first week (it starts on that Monday)
    if any(d < lo + _WEEK or d >= hi for d in old):
        return _span(session)
    # a day before the calendar's first Monday moves it; any day from it on keeps it (_fill_calendar aligns)
    return min([lo, *now]), max([hi, *now])


def _refresh_weeks(session: Session, weeks: list[dt.date]) -> None:
    """Delete and rebuild the carrier aggregates of the ship ``weeks`` (Mondays) from their shipments."""
    dialect = session.get_bind().dialect.name
    for t in (AggScorecardCarrier, AggScorecardTransit):
        session.execute(delete(t).where(t.week.in_(weeks)))
    # the shipped_at index narrows to each week (a day of slack each side); the ship day's week picks them exactly
    ranges = [and_(Shipment.shipped_at >= dt.datetime.combine(w - dt.timedelta(days=1), dt.time()),
                   Shipment.shipped_at < dt.datetime.combine(w + dt.timedelta(days=8), dt.time())) for w in weeks]
    week_numbers = [(w.toordinal() - 1) // 7 for w in weeks]
    packing = _stage_shipments(session, dialect, or_(*ranges),
                               (day_number(dialect, Shipment.shipped_at) // 7).in_(week_numbers))
    _carrier_aggregates(session, packing)



def apply_exclusion(session: Session, *, subject_kind: str, subject_key: str, sign: int) -> bool:
    """Subtract (``sign=-1``) or add back (``+1``) one shipment's or PO line's counts in the aggregates.

    Called in the transaction that accepts (or reopens) a dispute. Returns False when the subject
    is not in the aggregates (e.g. a PO line not yet due), so nothing changed.
    """
    dialect = session.get_bind().dialect.name
    if subject_kind == "shipment":
        f = session.execute(shipment_facts(dialect).where(Shipment.tracking_number == subject_key)).mappings().first()
        if f is None:
            return False
        a = AggScorecardCarrier
        row_match = [a.week == f["week"], a.carrier == f["carrier"], a.service == f["service"], a.lane == f["lane"]]
        vals: dict[str, Any] = {c: getattr(a, c) + sign * int(f[c]) for c in CARRIER_COUNTS}
        vals["cost_sum"] = a.cost_sum + sign * float(f["cost"])
        res = session.execute(update(a).where(*row_match).values(**vals).execution_options(synchronize_session=False))
        if res.rowcount == 0 and sign > 0:  # type: ignore[attr-defined]
            session.execute(insert(a).values(week=f["week"], carrier_id=f["carrier_id"], carrier=f["carrier"],
                                             service=f["service"], lane=f["lane"], warehouse=f["warehouse"],
                                             cost_sum=float(f["cost"]),
                                             **{c: int(f[c]) for c in CARRIER_COUNTS}))
        if f["bdays"] is not None:
            h = AggScorecardTransit
            hm = [h.week == f["week"], h.carrier == f["carrier"], h.service == f["service"], h.lane == f["lane"],
                  h.bdays == int(f["bdays"])]
            res = session.execute(update(h).where(*hm).values(n=h.n + sign)
                                  .execution_options(synchronize_session=False))
            if res.rowcount == 0 and sign > 0:  # type: ignore[attr-defined]
                session.execute(insert(h).values(week=f["week"], carrier=f["carrier"], service=f["service"],
                                                 lane=f["lane"], warehouse=f["warehouse"], bdays=int(f["bdays"]),
                                                 n=1))
        return True
    if subject_kind == "po_line":
        stmt = supplier_facts(supplier_as_of(session)).where(po_line_key() == subject_key)
        f = session.execute(stmt).mappings().first()
        if f is None:
            return False
        s = AggScorecardSupplier
        res = session.execute(update(s).where(s.week == f["week"], s.supplier == f["supplier"])
                              .values(**{c: getattr(s, c) + sign * int(f[c]) for c in SUPPLIER_COUNTS})
                              .execution_options(synchronize_session=False))
        if res.rowcount == 0 and sign > 0:  # type: ignore[attr-defined]
            session.execute(insert(s).values(week=f["week"], supplier=f["supplier"],
                                             **{c: int(f[c]) for c in SUPPLIER_COUNTS}))
        return True
    return False
