"""The KPIs a manager is judged on, week over week and against target.

The review summarises the pages, so a KPI that a page already defines is read from that page's
domain, for the same ISO week (Monday to Sunday) and the same viewer scope, through
:mod:`ops.review.sources` (the domains' queries and metrics over their ``agg_*`` tables): the
review and the page show one number. Only the KPIs no page defines are computed here: their weekly
counts read from ``agg_review_week`` / ``agg_review_cycle`` (``ops.review.refresh``) for internal
viewers, and for vendors summed in SQL from the weeks' fact rows, scoped to the viewer there
(``ops.access`` conditions), and stored at the data version for that vendor's scope
(``ops.headline_store.stored_sums``: the first load after a write computes them, later loads read them
back); the ratios are taken here. Rates are fractions 0..1.

Definitions (the page shows each in these words, with its threshold and where it comes from)
--------------------------------------------------------------------------------------------
From the **Fulfilment SLA** page (order lines, dated by their order's placed day; definitions in
:mod:`ops.fulfillment`):

- **On-time ship**: order lines of orders placed in the week that shipped by their ship-by
  deadline / those lines that shipped and have a deadline. Target ``on_time_ship_target``.
- **On-time delivery**: delivered lines of orders placed in the week that arrived on or before the
  promised day / delivered lines with a promise. Target ``carrier_on_time_target``.
- **Click-to-ship** (hours): the page's median click-to-ship tile for the week's lines (payment to
  the order leaving). Limit ``click_to_ship_hours_max``.
- **Late shipment rate** (marketplace): 1 - on-time ship over the marketplace channels (a channel
  whose code or name says marketplace, olist, amazon, ebay, etsy or walmart); limit 4 %.

From the **Returns root-cause** page (sales dated by their **sale week**, the week of the order's
placed day; a return counts against the week of the sale it returns, whenever it arrives, so the
latest weeks still fill up; definitions in :mod:`ops.returns`):

- **Return rate**: units returned from the week's sales / units sold in the week (orders not
  cancelled or unavailable). Alert ``return_rate_alert``. The top reasons are the head of the
  page's reason Pareto for that sale week.
- **Fulfilment accuracy**: 1 - order lines of the week's sales returned as the wrong item (mis-pick)
  / order lines shipped. Target ``fulfilment_accuracy_target``.

Defined here (no page defines them):

- **Order cycle time** (days): median time from an order being placed to its shipment being
  delivered, over shipments delivered in the week (that left the warehouse at most
  :data:`MAX_TRANSIT_DAYS` before it).
- **Cost per order**: for the orders placed in the week (not cancelled or unavailable) that
  shipped: their shipments' label cost + the warehousing cost per order (threshold
  ``cost_warehousing_per_order``) x those orders + the Returns page's cost of returns of the
  week's sales, per order. Ceiling ``cost_per_order_max``. Not measured with a warehouse or
  channel filter (the cost of returns has neither breakdown).
- **Review score**: mean star rating (1-5) of reviews written in the week. Floor
  ``review_score_min``. Beside it, the share of 1-2 star reviews for late and on-time deliveries
  (:func:`satisfaction_vs_lateness`).
- Marketplace seller targets, on orders of marketplace channels, with the marketplaces' own limits
  as default thresholds: **pre-fulfilment cancel rate** (orders placed in the week cancelled before
  shipping / orders placed; < 2.5 %), **order defect rate** (orders shipped in the week with a 1-2
  star review, a lost, damaged or returned-to-sender shipment, or a return whose reason the Returns
  page counts as a defect or a wrong item, or ``not_as_described`` / orders shipped; < 1 %),
  **valid tracking rate** (shipments shipped in the week with a carrier and a tracking number /
  shipped; >= 95 %).

The registered domains' own headline KPIs (inventory turnover, aging, sell-through, stockouts,
and whatever a new domain exposes) are added below these by :func:`review_kpis`, with the
domain as their source.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import and_, case, func, literal, or_, select, union_all
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ops import access
from ops.access import Viewer, data_function, require_viewer
from ops.db import as_day
from ops.filters import Filters
from ops.fulfillment.metrics import EXCLUDED_STATUSES
from ops.headline_store import filters_key, stored_sums
from ops.models import (
    AggReviewCycle,
    AggReviewWeek,
    Channel,
    Order,
    OrderLine,
    Return,
    Review,
    Shipment,
    Warehouse,
)
from ops.returns.metrics import DEFECT_REASONS as RETURNS_DEFECT_REASONS
from ops.returns.metrics import WRONG_ITEM_REASONS
from ops.review import sources
from ops.review.week import Week, last_full_week, parse_week

VENDOR_SUMS = "review.vendor_sums"

MARKETPLACE_WORDS = sources.MARKETPLACE_WORDS
# A return counts against the order defect rate when the Returns page calls its reason a defect or a
# wrong item, or when the item was not as described (compared lower-cased, as the Returns page does).
DEFECT_REASONS = (*RETURNS_DEFECT_REASONS, *WRONG_ITEM_REASONS, "not_as_described")
DEFECT_SHIPMENT_STATUSES = ("lost", "damaged", "returned_to_sender")
LOW_SCORE = 2  # 1-2 stars count as a negative review
TOP_REASONS = sources.TOP_REASONS
MAX_TRANSIT_DAYS = 120  # a delivery counted in a week left the warehouse at most this long before it
RANGE_SLACK = 4  # a span's id range is walked when it holds at most this many rows per row of the span

_FULFIL = "Fulfilment page"
_RETURNS = "Returns page"
_HERE = "Defined by the weekly review (no page defines it)."


@dataclass(frozen=True)
class KpiDef:
    """One KPI: how it is shown, which threshold judges it, and what it is, in words."""

    key: str
    label: str
    kind: str
    higher_is_better: bool
    threshold: str | None
    definition: str
    source: str
    marketplace: bool = False


KPI_DEFS: tuple[KpiDef, ...] = (
    KpiDef("order_cycle_time", "Order cycle time", "days", False, "order_cycle_days_max",
           "Median days from an order being placed to its delivery, for shipments delivered in the week. " + _HERE,
           "orders.placed_at, shipments.delivered_at"),
    KpiDef("click_to_ship", "Click-to-ship", "hours", False, "click_to_ship_hours_max",
           "The Fulfilment page's median click-to-ship tile: half of the order lines of orders placed in the "
           "week left within this many calendar hours of payment.",
           f"{_FULFIL} (its KPI tiles)"),
    KpiDef("on_time_ship", "On-time ship", "pct", True, "on_time_ship_target",
           "As on the Fulfilment page: order lines of orders placed in the week that shipped by their ship-by "
           "deadline, per line shipped with a deadline.",
           f"{_FULFIL} (agg_fulfil_daily)"),
    KpiDef("on_time_delivery", "On-time delivery", "pct", True, "carrier_on_time_target",
           "As on the Fulfilment page: delivered order lines of orders placed in the week that arrived on or "
           "before the promised day, per delivered line with a promise.",
           f"{_FULFIL} (agg_fulfil_daily)"),
    KpiDef("fulfilment_accuracy", "Fulfilment accuracy", "pct", True, "fulfilment_accuracy_target",
           "As on the Returns page: 1 minus the order lines sold in the week that came back as the wrong item "
           "(mis-pick), per order line shipped. Recent weeks still fill up as returns arrive.",
           f"{_RETURNS} (agg_returns_dim)"),
    KpiDef("return_rate", "Return rate", "pct", False, "return_rate_alert",
           "As on the Returns page: units returned from the week's sales (whenever they came back) per unit sold "
           "in the week (orders not cancelled). Recent weeks still fill up as returns arrive.",
           f"{_RETURNS} (agg_returns_dim)"),
    KpiDef("cost_per_order", "Cost per order", "money", False, "cost_per_order_max",
           "For the orders placed in the week that shipped: their shipping labels, plus the warehousing cost per "
           "order, plus the Returns page's cost of returns of the week's sales, per order. Not measured with a "
           "warehouse or channel filter (the cost of returns has neither). " + _HERE,
           f"shipments.label_cost; threshold cost_warehousing_per_order; {_RETURNS} cost of returns"),
    KpiDef("review_score", "Review score", "number", True, "review_score_min",
           "Mean star rating (1 to 5) of the reviews customers wrote in the week. " + _HERE,
           "reviews.score"),
    KpiDef("late_shipment_rate", "Late shipment rate (marketplace)", "pct", False, "mp_late_shipment_max",
           "1 minus the Fulfilment page's on-time ship over the marketplace channels: marketplace order lines of "
           "orders placed in the week shipped after their ship-by deadline, per line shipped with a deadline.",
           f"{_FULFIL} (agg_fulfil_daily); marketplace channels", marketplace=True),
    KpiDef("cancel_rate", "Pre-fulfilment cancel rate (marketplace)", "pct", False, "mp_cancel_rate_max",
           "Marketplace orders placed in the week and cancelled before they shipped, per marketplace order. "
           + _HERE, "orders.status; marketplace channels", marketplace=True),
    KpiDef("order_defect_rate", "Order defect rate (marketplace)", "pct", False, "mp_order_defect_max",
           "Marketplace orders shipped in the week with a 1-2 star review, a lost, damaged or returned-to-"
           "sender shipment, or a return for a defect, wrong item or 'not as described', per order shipped. "
           + _HERE, "reviews, shipments.status, returns.reason_code; marketplace channels", marketplace=True),
    KpiDef("valid_tracking_rate", "Valid tracking rate (marketplace)", "pct", True, "mp_valid_tracking_min",
           "Marketplace shipments shipped in the week with a carrier and a tracking number. " + _HERE,
           "shipments.carrier_id, shipments.tracking_number; marketplace channels", marketplace=True),
)
KPI_BY_KEY = {k.key: k for k in KPI_DEFS}
FULFIL_KEYS = ("on_time_ship", "on_time_delivery", "click_to_ship", "late_shipment_rate")
RETURNS_KEYS = ("return_rate", "fulfilment_accuracy")
OWN_KEYS = tuple(k.key for k in KPI_DEFS if k.key not in FULFIL_KEYS + RETURNS_KEYS)

KPI_COLUMNS = ["key", "label", "kind", "value", "previous", "change", "target", "meets", "higher_is_better",
               "definition", "threshold", "target_from", "source", "week", "previous_week", "domain"]


# --- the weeks' sums for the KPIs defined here (scoped) ------------------------------------------

SUM_COLUMNS = ["mp_orders", "mp_cancelled", "shipped_orders", "label_cost", "reviews", "score_sum",
               "mp_shipments", "mp_tracked", "mp_ship_orders", "mp_defect_orders", "cycle_days"]
# What Python's str.strip() removes in ASCII and Latin-1, so SQL finds a blank tracking number as pandas does.
TRACKING_BLANKS = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0"


def _order_filters(stmt: Any, filters: Filters) -> Any:
    if filters.warehouses:
        stmt = stmt.where(Order.warehouse_id.in_(select(Warehouse.id).where(Warehouse.code.in_(filters.warehouses))))
    if filters.channels:
        stmt = stmt.where(Order.channel_id.in_(select(Channel.id).where(Channel.code.in_(filters.channels))))
    return stmt


def _ts(d: dt.date) -> dt.datetime:
    return dt.datetime.combine(d, dt.time.min)


def cycle_days_expr(dialect: str, placed: Any, delivered: Any) -> Any:
    """``delivered - placed`` in days (float) computed in SQL, so no timestamp crosses the driver for a
    median of durations (the same expression for the aggregate and for a filtered read)."""
    if dialect == "sqlite":
        return func.julianday(delivered) - func.julianday(placed)
    return func.extract("epoch", delivered - placed) / 86400.0


def tracked_expr(dialect: str) -> Any:
    """A shipment with a carrier and a tracking number that is not blank (blanks as ``str.strip`` sees them)."""
    blanks = literal(TRACKING_BLANKS)
    trimmed = func.btrim(Shipment.tracking_number, blanks) if dialect == "postgresql" else func.trim(
        Shipment.tracking_number, blanks)
    return and_(Shipment.carrier_id.is_not(None), func.coalesce(trimmed, "") != "")


def _week_sums(session: Session, viewer: Viewer, span: Sequence[Week], filters: Filters) -> pd.DataFrame:
    """What the KPIs defined here are made of, per week of ``span`` (consecutive, oldest first), scoped to
    the viewer: from ``agg_review_week`` / ``agg_review_cycle`` for internal viewers (the cycle time from
    the week's deliveries when a filter is set), from the weeks' scoped rows for vendors.

    Returns :data:`SUM_COLUMNS` indexed by week label: marketplace orders placed and cancelled, orders
    placed that shipped and their label cost, reviews written and their scores' sum, marketplace
    shipments shipped and those tracked, marketplace orders shipped and those with a defect (float64),
    cycle_days (the median, NaN = no delivery).
    """
    mp = _marketplace_ids(session)
    if viewer.is_vendor:
        # no aggregate keys a vendor's scope: their sums are read from their rows, once per data version
        # (``ops.headline_store.stored_sums``; the marketplace channels are part of the key)
        parts = (",".join(w.label for w in span), filters_key(filters), ",".join(str(i) for i in mp))
        return stored_sums(session, VENDOR_SUMS, viewer, parts, lambda: _raw_sums(session, viewer, span, filters, mp))
    a = AggReviewWeek
    is_mp = a.channel_id.in_(mp)

    def mp_sum(col: Any) -> Any:
        return func.coalesce(func.sum(case((is_mp, col), else_=0)), 0)

    stmt = (select(a.week, mp_sum(a.orders), mp_sum(a.cancelled), func.sum(a.shipped_orders), func.sum(a.label_cost),
                   func.sum(a.reviews), func.sum(a.score_sum), mp_sum(a.shipments), mp_sum(a.tracked),
                   mp_sum(a.ship_orders), mp_sum(a.defect_orders))
            .where(a.week.in_([w.start for w in span])).group_by(a.week))
    if filters.warehouses:
        stmt = stmt.where(a.warehouse_id.in_(select(Warehouse.id).where(Warehouse.code.in_(filters.warehouses))))
    if filters.channels:
        stmt = stmt.where(a.channel_id.in_(select(Channel.id).where(Channel.code.in_(filters.channels))))
    got: dict[Any, Any] = {as_day(r[0]): r[1:] for r in session.execute(stmt).all()}
    if filters.warehouses or filters.channels:
        cycle = _raw_cycle(session, viewer, span, filters)
    else:
        c = AggReviewCycle
        medians: dict[Any, Any] = {as_day(d): m for d, m in session.execute(
            select(c.week, c.median_days).where(c.week.in_([w.start for w in span]))).all()}
        cycle = [np.nan if medians.get(w.start) is None else float(medians[w.start]) for w in span]
    rows = [[*(float(v or 0) for v in got.get(w.start, (0,) * 10)), cycle[i]] for i, w in enumerate(span)]
    return pd.DataFrame(rows, columns=SUM_COLUMNS, index=[w.label for w in span], dtype="float64")


def _marketplace_ids(session: Session) -> list[int]:
    codes = sources.marketplace_channels(session, Filters())
    return [int(i) for i in session.scalars(select(Channel.id).where(Channel.code.in_(codes)))] if codes else []


def _filter_conds(filters: Filters) -> list[Any]:
    """The page's warehouse and channel filters as conditions on ``orders``."""
    out: list[Any] = []
    if filters.warehouses:
        out.append(Order.warehouse_id.in_(select(Warehouse.id).where(Warehouse.code.in_(filters.warehouses))))
    if filters.channels:
        out.append(Order.channel_id.in_(select(Channel.id).where(Channel.code.in_(filters.channels))))
    return out


def _flag(cond: Any) -> Any:
    return case((cond, 1), else_=0)


def _checked(dialect: str, *conds: Any) -> Any:
    """``conds`` tested on each row another condition found. SQLite (no planner statistics: the product never
    runs ANALYZE there) takes any indexed equality to find rows, so there they are wrapped in CASE, which no
    index serves: a scope on ``orders.warehouse_id`` made it walk a 3PL's every order (490 k at bench size)
    instead of the week's 33 k. PostgreSQL plans them with statistics; wrapped, an EXISTS became a hashed
    sub-plan over a carrier's every shipment, so there they stay as they are."""
    cond = and_(*conds)
    return _flag(cond) == 1 if dialect == "sqlite" else cond


def _found(stmt: Any) -> Any:
    """Whether the correlated ``stmt`` finds a row, asked per row: a scalar subquery (LIMIT 1). PostgreSQL may
    answer an EXISTS inside an expression by hashing every row the subquery could find first: a 3PL's week took
    1.5 s hashing every defect return there is; a scalar subquery it can only run for the row at hand."""
    return stmt.limit(1).scalar_subquery().is_not(None)


def _week_no(col: Any, span: Sequence[Week]) -> Any:
    """Which week of ``span`` (0 = the oldest) a timestamp within the span falls in."""
    if len(span) == 1:
        return literal(0)
    return case(*[(col < _ts(w.start), i) for i, w in enumerate(span[1:])], else_=len(span) - 1)


def _span_ids(session: Session, lo: dt.datetime, hi: dt.datetime) -> dict[str, tuple[int, int] | None]:
    """The id ranges of the span's rows, where they lie together: ``orders`` placed (``"o"``) and, on SQLite,
    ``shipments`` shipped (``"s"``) and delivered (``"d"``) in ``[lo, hi)``; None where the range would hold
    more than :data:`RANGE_SLACK` rows per row of the span (ids not in date order), or no row is in it.

    Rows are numbered as they arrive, so a span's rows lie in a short id range, and walking it in id order
    reads each table page once: SQLite reads a range of 60 k shipments this way in a third of the time it
    takes to visit the span's 32 k through the date index (each row a random page). The range is only a
    bound: every read still tests the dates. (On SQLite the ids come from the date indexes alone; PostgreSQL
    would fetch every shipment row to learn them, so it reads the shipments through the date indexes.)"""
    def part(key: str, ids: Any, day: Any) -> Any:
        return select(literal(key), func.min(ids), func.max(ids), func.count()).where(day >= lo, day < hi)

    parts = [part("o", Order.id, Order.placed_at)]
    if session.get_bind().dialect.name == "sqlite":
        parts += [part("s", Shipment.id, Shipment.shipped_at), part("d", Shipment.id, Shipment.delivered_at)]
    out: dict[str, tuple[int, int] | None] = {}
    for key, first, last, n in session.connection().execute(union_all(*parts)).all():
        dense = n and int(last) - int(first) + 1 <= RANGE_SLACK * int(n)
        out[str(key)] = (int(first), int(last)) if dense else None
    return out


def _driven(dialect: str, ids: Any, day: Any, span: Sequence[Week], bounds: tuple[int, int] | None) -> list[Any]:
    """The rows whose ``day`` falls in ``span``, found in table order where the database lets us: on SQLite
    through their id range (:func:`_span_ids`; the dates then only tested), on PostgreSQL as one date range
    per week, which it reads as a bitmap of the date index: each heap page once, in order (the plain range
    was an index scan fetching the rows in date order, many pages again and again: 114 ms against 70 for a
    carrier's two weeks of deliveries at bench size)."""
    lo, hi = _ts(span[0].start), _ts(span[-1].end + dt.timedelta(days=1))
    if dialect == "sqlite":
        if bounds is None:
            return [day >= lo, day < hi]
        return [ids.between(*bounds), _checked(dialect, day >= lo, day < hi)]
    return [or_(*[and_(day >= _ts(w.start), day < _ts(w.start) + dt.timedelta(days=7)) for w in span])]


def _raw_cycle(session: Session, viewer: Viewer, span: Sequence[Week], filters: Filters,
               ids: dict[str, tuple[int, int] | None] | None = None) -> list[float]:
    """Each week's median cycle time from its scoped deliveries (those that left the warehouse at most
    ``MAX_TRANSIT_DAYS`` before the week began and before it ended, as ``agg_review_cycle``), in one read:
    the deliveries found by date (or their id range, :func:`_span_ids`; the ship window tested on each), and
    each week's middle one or two durations found in SQL by rank, their mean taken here as numpy's median
    takes it. ``ids``: :func:`_span_ids` of the span, if already read."""
    dialect = session.get_bind().dialect.name
    scope = access.date_driven_conditions(viewer)[1]
    lo, hi = _ts(span[0].start), _ts(span[-1].end + dt.timedelta(days=1))
    bounds = (_span_ids(session, lo, hi) if ids is None else ids).get("d")
    s = Shipment
    wk = _week_no(s.delivered_at, span)
    # the week's own ship window: from MAX_TRANSIT_DAYS before its Monday to the next Monday
    windows = [and_(s.delivered_at >= _ts(w.start), s.delivered_at < _ts(w.start) + dt.timedelta(days=7),
                    s.shipped_at >= _ts(w.start) - dt.timedelta(days=MAX_TRANSIT_DAYS),
                    s.shipped_at < _ts(w.start) + dt.timedelta(days=7)) for w in span]
    days = cycle_days_expr(dialect, Order.placed_at, s.delivered_at)
    flt = [_checked(dialect, *_filter_conds(filters))] if filters.warehouses or filters.channels else []
    rows = (select(wk.label("wk"), days.label("days"))
            .join(Order, Order.id == s.order_id)
            .where(*_driven(dialect, s.id, s.delivered_at, span, bounds), _checked(dialect, scope),
                   # never an index search on shipped_at: the windows are tested on each delivery
                   _flag(or_(*windows)) == 1, days.is_not(None), *flt))
    ranked = rows.subquery()
    ranked = select(ranked.c.wk, ranked.c.days,
                    func.row_number().over(partition_by=ranked.c.wk, order_by=ranked.c.days).label("rn"),
                    func.count().over(partition_by=ranked.c.wk).label("n")).subquery()
    # the middle one (odd count) or two (even): ranks (n + 1) / 2 and (n + 2) / 2 in integer division
    mid = select(ranked.c.wk, ranked.c.days).where(
        or_(ranked.c.rn == (ranked.c.n + 1) // 2, ranked.c.rn == (ranked.c.n + 2) // 2))
    middle: dict[int, list[float]] = {}
    for w, d in session.connection().execute(mid).all():
        middle.setdefault(int(w), []).append(float(d))
    # numpy's median of an even count: the mean of the two middle values, (a + b) / 2
    return [float(np.mean(middle[i])) if i in middle else np.nan for i in range(len(span))]


@contextmanager
def _without_jit(conn: Connection) -> Iterator[None]:
    """PostgreSQL: no JIT compilation for the statements inside, then the setting as it was (for the rest of the
    transaction). The planner prices each correlated lookup of the ship-week read (a review, a return) for every
    row it expects, so a 3PL's two weeks (2 k marketplace shipments, about 20 ms of work) passed
    ``jit_above_cost`` and compiled for 130-160 ms on every load at bench size. Nothing to do on SQLite."""
    if conn.dialect.name != "postgresql":
        yield
        return
    was = conn.execute(select(func.current_setting("jit"))).scalar_one()
    conn.execute(select(func.set_config("jit", "off", True)))
    yield
    # not reached when a statement failed: the transaction is then rolled back, and the setting with it
    conn.execute(select(func.set_config("jit", was, True)))


def _raw_sums(session: Session, viewer: Viewer, span: Sequence[Week], filters: Filters,
              mp_ids: list[int]) -> pd.DataFrame:
    """:func:`_scoped_sums` with PostgreSQL's JIT compilation off (:func:`_without_jit`)."""
    with _without_jit(session.connection()):
        return _scoped_sums(session, viewer, span, filters, mp_ids)


def _scoped_sums(session: Session, viewer: Viewer, span: Sequence[Week], filters: Filters,
                 mp_ids: list[int]) -> pd.DataFrame:
    """:func:`_week_sums` from the weeks' rows, scoped to the viewer in SQL
    (:func:`ops.access.date_driven_conditions`) and summed there, for all the weeks at once: a read per date
    (orders by placed day, twice; shipments by ship day; reviews by writing day; deliveries by delivery day),
    each returning a few numbers per week, never the rows.

    The counts are those of ``agg_review_week`` (``ops.review.refresh``) over the viewer's rows: an order by
    its scope, a shipment by the shipments' (so an order counts as shipped for the carrier whose shipment
    left, and for the 3PL it left from), a review by its order's, a return by its line's; defect reasons
    lower-cased in SQL and blank tracking numbers as :func:`tracked_expr` sees them, as the aggregate."""
    dialect = session.get_bind().dialect.name
    lo, hi = _ts(span[0].start), _ts(span[-1].end + dt.timedelta(days=1))
    n = len(span)
    conn = session.connection()
    o_scope, s_scope, l_scope = access.date_driven_conditions(viewer)
    flt = [_checked(dialect, *_filter_conds(filters))] if filters.warehouses or filters.channels else []
    ids = _span_ids(session, lo, hi)
    o, s = Order, Shipment
    is_mp = o.channel_id.in_(mp_ids)
    sums = np.zeros((n, len(SUM_COLUMNS)), dtype="float64")
    # marketplace orders placed in the weeks (the viewer's), and those cancelled
    wk = _week_no(o.placed_at, span)
    for i, count, cancelled in conn.execute(
            select(wk, func.count(), func.sum(_flag(o.status == "cancelled")))
            .where(o.placed_at >= lo, o.placed_at < hi, is_mp, _checked(dialect, o_scope), *flt).group_by(wk)).all():
        sums[int(i), 0:2] = (count, cancelled)
    # orders placed in the weeks (not cancelled or unavailable) with a scoped shipment that left, and the labels
    # of their scoped shipments. Where the weeks' orders lie together, their shipments are read as one range of
    # order ids, grouped by order (the orders looked up by id after); else each order's are found by its id
    if ids["o"] is not None:
        per = (select(s.order_id.label("order_id"), func.count(s.shipped_at).label("left"),
                      func.sum(s.label_cost).label("labels"))
               .where(s.order_id.between(*ids["o"]), _checked(dialect, s_scope)).group_by(s.order_id).subquery())
        shipped = (select(_week_no(o.placed_at, span).label("wk"), per.c.labels.label("labels"))
                   .join_from(per, o, o.id == per.c.order_id)
                   .where(per.c.left > 0, _checked(dialect, o.placed_at >= lo, o.placed_at < hi,
                                                   o.status.not_in(EXCLUDED_STATUSES)), *flt)
                   .order_by(per.c.order_id).subquery())
    else:
        labels = (select(case((func.count(s.shipped_at) > 0, func.sum(s.label_cost)), else_=None))
                  .where(s.order_id == o.id, _checked(dialect, s_scope)).scalar_subquery())
        shipped = (select(_week_no(o.placed_at, span).label("wk"), labels.label("labels"))
                   .where(o.placed_at >= lo, o.placed_at < hi, o.status.not_in(EXCLUDED_STATUSES), *flt)
                   .order_by(o.id).subquery())
    # no GROUP BY: each week's labels summed in order id order, as they always were
    got = conn.execute(select(*[agg(case((shipped.c.wk == i, shipped.c.labels), else_=None))
                                for i in range(n) for agg in (func.count, func.sum)])).one()
    for i in range(n):
        sums[i, 2:4] = (got[2 * i], float(got[2 * i + 1] or 0.0))
    # reviews written in the weeks (their orders scoped); no index on the writing day
    wk = _week_no(Review.created_at, span)
    for i, count, score in conn.execute(
            select(wk, func.count(), func.sum(Review.score)).join(o, o.id == Review.order_id)
            .where(Review.created_at >= lo, Review.created_at < hi, _checked(dialect, o_scope), *flt)
            .group_by(wk)).all():
        sums[int(i), 4:6] = (count, score or 0)
    # marketplace shipments that left in the weeks: tracked, their orders, and those orders with a defect: this
    # week's lost, damaged or returned-to-sender shipment, a 1-2 star review (the order in the viewer's scope)
    # or a defect return on a line of the viewer's, whenever written. The review's order is scoped through the
    # subquery's own join, so a scope that is itself a subquery on ``orders`` (a carrier's EXISTS) correlates
    # to that order (left to correlate by itself, it found an ``orders`` of its own: any order at all)
    low = _found(select(Review.id).join(o, o.id == Review.order_id)
                 .where(Review.order_id == s.order_id, Review.score <= LOW_SCORE, _checked(dialect, o_scope))
                 .correlate(s))
    bad_return = _found(select(Return.id).join(OrderLine, OrderLine.id == Return.order_line_id)
                        .where(OrderLine.order_id == s.order_id, func.lower(Return.reason_code).in_(DEFECT_REASONS),
                               _checked(dialect, l_scope)).correlate(s))
    bad = or_(s.status.in_(DEFECT_SHIPMENT_STATUSES), low, bad_return)
    wk = _week_no(s.shipped_at, span)
    for i, ships, tracked, orders, defects in conn.execute(
            select(wk, func.count(), func.sum(_flag(tracked_expr(dialect))), func.count(func.distinct(s.order_id)),
                   func.count(func.distinct(case((bad, s.order_id), else_=None))))
            .join(o, o.id == s.order_id)
            .where(*_driven(dialect, s.id, s.shipped_at, span, ids.get("s")), is_mp,
                   _checked(dialect, s_scope), *flt).group_by(wk)).all():
        sums[int(i), 6:10] = (ships, tracked or 0, orders, defects)
    sums[:, 10] = _raw_cycle(session, viewer, span, filters, ids)
    return pd.DataFrame(sums, columns=SUM_COLUMNS, index=[w.label for w in span])


# --- the numbers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CostAssumptions:
    """What an order costs beyond its label (a threshold, so a manager can change it)."""

    warehousing_per_order: float


def _ratio(num: float, den: float) -> float | None:
    return None if den == 0 else float(num) / float(den)


def week_values(sums: pd.Series, costs: CostAssumptions, returns_cost: float | None = 0.0) -> dict[str, float | None]:
    """The KPIs defined here (:data:`OWN_KEYS`) from one week's :func:`_week_sums` row (pure; None when there
    is nothing to measure). ``returns_cost``: the Returns page's cost of returns of the week's sales
    (None or NaN: not measured, so neither is the cost per order)."""
    out: dict[str, float | None] = {}
    out["order_cycle_time"] = None if pd.isna(sums["cycle_days"]) else float(sums["cycle_days"])
    n_orders = int(sums["shipped_orders"])
    if returns_cost is None or pd.isna(returns_cost):
        out["cost_per_order"] = None
    else:
        out["cost_per_order"] = _ratio(float(sums["label_cost"]) + costs.warehousing_per_order * n_orders
                                       + float(returns_cost), n_orders)
    reviews = int(sums["reviews"])
    # the mean of integer scores: their sum over their count, as pandas takes it
    out["review_score"] = float(sums["score_sum"]) / reviews if reviews else None
    # marketplace seller targets
    out["cancel_rate"] = _ratio(int(sums["mp_cancelled"]), int(sums["mp_orders"]))
    out["order_defect_rate"] = _ratio(int(sums["mp_defect_orders"]), int(sums["mp_ship_orders"]))
    out["valid_tracking_rate"] = _ratio(int(sums["mp_tracked"]), int(sums["mp_shipments"]))
    return out


def _num(v: Any) -> float | None:
    return None if v is None or pd.isna(v) else float(v)


@data_function
def weekly_values(session: Session, *, viewer: Viewer, week: str | Week | None = None, weeks: int = 2,
                  filters: Filters | None = None,
                  keys: Sequence[str] = tuple(KPI_BY_KEY)) -> dict[str, dict[str, float | None]]:
    """``keys`` for each of the ``weeks`` ISO weeks ending with ``week`` (default: the last full week),
    by week label (oldest first): the pages' KPIs from their domains (:mod:`ops.review.sources`), the
    ones defined here from the weeks' rows (read only when asked for). None = nothing to measure."""
    require_viewer(viewer)
    span = sources.week_span(resolve_week(session, viewer=viewer, week=week), weeks)
    flt = filters or Filters()
    f = Filters(warehouses=flt.warehouses, channels=flt.channels)
    out: dict[str, dict[str, float | None]] = {w.label: {} for w in span}
    if set(keys) & set(FULFIL_KEYS):
        fw = sources.fulfilment_weeks(session, viewer=viewer, week=span[-1], weeks=len(span), filters=f,
                                      click_to_ship="click_to_ship" in keys)
        for r in fw.to_dict("records"):
            out[str(r["week"])].update({k: _num(r[k]) for k in FULFIL_KEYS if k in keys})
    if set(keys) & set(RETURNS_KEYS):
        rw = sources.returns_weeks(session, viewer=viewer, week=span[-1], weeks=len(span), filters=f)
        for r in rw.to_dict("records"):
            out[str(r["week"])].update({k: _num(r[k]) for k in RETURNS_KEYS if k in keys})
    own = [k for k in keys if k in OWN_KEYS]
    if own:
        sums = _week_sums(session, viewer, span, f)
        costs = _cost_assumptions(session, viewer)
        for w in span:
            rc = sources.returns_cost(session, viewer=viewer, week=w, filters=f) if "cost_per_order" in own else 0.0
            vals = week_values(sums.loc[w.label], costs, rc)
            out[w.label].update({k: vals[k] for k in own})
    return out


@data_function
def return_reasons(session: Session, *, viewer: Viewer, week: str | Week | None = None,
                   filters: Filters | None = None) -> pd.DataFrame:
    """The top reasons of the week's sales (default: the last full week of the viewer's data), scoped:
    :func:`ops.review.sources.week_return_reasons` (the head of the Returns page's reason Pareto).

    Returns
    -------
    DataFrame
        reason_code (str), returned_units (int64), reason_share (float64: of the units returned from
        the week's sales); empty with a warehouse or channel filter.
    """
    require_viewer(viewer)
    return sources.week_return_reasons(session, viewer=viewer, week=week, filters=filters, n=TOP_REASONS)


def _stored_thresholds(session: Session, viewer: Viewer) -> dict[str, pd.DataFrame]:
    """:func:`ops.decisions.thresholds_for` the viewer, read once, by name (each without its name column)."""
    from ops.decisions import THRESHOLD_COLUMNS, thresholds_for

    rows = thresholds_for(session, viewer=viewer)
    out = {str(n): g[THRESHOLD_COLUMNS] for n, g in rows.groupby("name", sort=False)}
    out[""] = rows[THRESHOLD_COLUMNS].iloc[:0]  # none stored: the registered default
    return out


def _threshold_value(session: Session, viewer: Viewer, name: str | None,
                     stored: dict[str, pd.DataFrame] | None = None) -> tuple[float | None, str]:
    """The global value of threshold ``name`` in force (a fraction for a % threshold) and where it comes from.
    ``stored``: :func:`_stored_thresholds`, when every KPI's is wanted (one read, not one per threshold:
    :func:`ops.decisions.resolve` picks from the rows what ``threshold`` reads them for)."""
    from ops.decisions import THRESHOLDS, resolve, threshold

    if name is None or name not in THRESHOLDS:
        return None, ""
    if stored is None:
        eff = threshold(session, viewer=viewer, name=name)
    else:
        eff = resolve(stored.get(name, stored[""]), None, name=name)
    d = THRESHOLDS[name]
    value = eff.value / 100.0 if d.unit == "%" else eff.value
    return value, f"{d.label} ({name}): {eff.source}"


def _meets(value: float | None, target: float | None, higher_is_better: bool) -> bool | None:
    if value is None or target is None or pd.isna(value):
        return None
    return bool(value >= target) if higher_is_better else bool(value <= target)


@data_function
def resolve_week(session: Session, *, viewer: Viewer, week: str | Week | None = None) -> Week:
    """``week`` parsed, or (None) the last full week of the viewer's data (this week when there is none)."""
    require_viewer(viewer)
    if week is not None and str(week).strip():
        return parse_week(week)
    from ops.reference import data_span

    span = data_span(session, viewer=viewer)
    return last_full_week(span[1] if span else dt.date.today())


def _cost_assumptions(session: Session, viewer: Viewer) -> CostAssumptions:
    """The cost threshold in force (see the module docstring)."""
    wh, _ = _threshold_value(session, viewer, "cost_warehousing_per_order")
    return CostAssumptions(warehousing_per_order=wh or 0.0)


@data_function
def review_kpis(session: Session, *, viewer: Viewer, week: str | Week | None = None,
                filters: Filters | None = None, domains: bool = True) -> pd.DataFrame:
    """The week's KPIs against the previous week and their targets: :data:`KPI_DEFS`, then every
    registered domain's headline KPIs (``domains=True``).

    Returns
    -------
    DataFrame
        key (str), label (str), kind (str: an ``ops.fmt`` kind), value (float64, NaN = nothing to
        measure), previous (float64), change (float64: value - previous), target (float64, NaN = none),
        meets (object: True/False/None), higher_is_better (bool), definition (str), threshold (str:
        its name, '' = none), target_from (str: label, name and where its value comes from),
        source (str: the page or the tables it is read from), week (str ``YYYY-Www``),
        previous_week (str), domain (str: 'review' or the domain id).
    """
    require_viewer(viewer)
    f = filters or Filters()
    w = resolve_week(session, viewer=viewer, week=week)
    p = w.previous()
    vals = weekly_values(session, viewer=viewer, week=w, weeks=2, filters=f, keys=[k.key for k in KPI_DEFS])
    cur, prev = vals[w.label], vals[p.label]
    stored = _stored_thresholds(session, viewer)
    out: list[dict[str, Any]] = []
    for k in KPI_DEFS:
        target, tsource = _threshold_value(session, viewer, k.threshold, stored)
        out.append({"key": k.key, "label": k.label, "kind": k.kind, "value": cur[k.key], "previous": prev[k.key],
                    "target": target, "higher_is_better": k.higher_is_better, "definition": k.definition,
                    "threshold": k.threshold or "", "target_from": tsource, "source": k.source,
                    "domain": "review"})
    if domains:
        out += _domain_kpis(session, viewer, w, f)
    df = pd.DataFrame(out, columns=[c for c in KPI_COLUMNS if c not in ("change", "meets", "week", "previous_week")])
    for c in ("value", "previous", "target"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
    df["change"] = df["value"] - df["previous"]
    df["meets"] = pd.Series([_meets(None if pd.isna(v) else float(v), None if pd.isna(t) else float(t), bool(h))
                             for v, t, h in zip(df["value"], df["target"], df["higher_is_better"], strict=True)],
                            index=df.index, dtype=object)
    df["week"], df["previous_week"] = w.label, p.label
    df["higher_is_better"] = df["higher_is_better"].astype(bool)
    return df[KPI_COLUMNS]


def _domain_kpis(session: Session, viewer: Viewer, week: Week, f: Filters) -> list[dict[str, Any]]:
    """Each registered domain's headline KPIs the viewer may open, for the week (the domain's definition);
    a domain whose headline fails is left out (``ops.review.inbox.headlines`` logs it)."""
    from ops.review.inbox import headlines

    out: list[dict[str, Any]] = []
    flt = Filters(date_from=week.start, date_to=week.end, warehouses=f.warehouses, channels=f.channels)
    found, _failed = headlines(session, viewer, flt)
    for d, h in found:
        for k in h.kpis:
            out.append({"key": f"{d.id}.{k.key}", "label": k.label, "kind": k.kind, "value": k.value,
                        "previous": k.previous, "target": k.target, "higher_is_better": k.higher_is_better,
                        "definition": k.help, "threshold": "", "target_from": "set on the page" if k.target
                        is not None else "", "source": f"{d.title} page", "domain": d.id})
    return out


# --- customer satisfaction around delivery ----------------------------------------------------

SATISFACTION_COLUMNS = ["delivery", "reviews", "mean_score", "low_share"]


@data_function
def satisfaction_vs_lateness(session: Session, *, viewer: Viewer, date_from: dt.date | None = None,
                             date_to: dt.date | None = None, filters: Filters | None = None) -> pd.DataFrame:
    """Review scores of delivered orders, split by whether the delivery was late.

    An order is *late* when any of its shipments was delivered after its promised date, *on time*
    when all its delivered shipments with a promise arrived by it; orders without a delivered,
    promised shipment are left out. Reviews written between ``date_from`` and ``date_to``
    (inclusive; None = open).

    Returns
    -------
    DataFrame
        delivery (str: 'on time' / 'late'), reviews (int64), mean_score (float64),
        low_share (float64: share of 1-2 star reviews); two rows, always in that order.
    """
    require_viewer(viewer)
    f = filters or Filters()
    written: list[Any] = []
    if date_from:
        written.append(Review.created_at >= _ts(date_from))
    if date_to:
        written.append(Review.created_at < _ts(date_to + dt.timedelta(days=1)))
    # driven by the reviews, not by a carrier's every shipment
    o_scope, s_scope, _ = access.date_driven_conditions(viewer)
    late = func.max(case((Shipment.delivered_at > Shipment.promised_at, 1), else_=0))
    # only the reviewed orders' shipments are grouped (not every delivered shipment of the data)
    per_order = (select(Shipment.order_id.label("order_id"), late.label("late"))
                 .where(Shipment.delivered_at.is_not(None), Shipment.promised_at.is_not(None),
                        Shipment.order_id.in_(select(Review.order_id).where(*written)),
                        s_scope)
                 .group_by(Shipment.order_id).subquery())
    stmt = (select(Review.score, per_order.c.late).join(per_order, per_order.c.order_id == Review.order_id)
            .join(Order, Order.id == Review.order_id).where(o_scope, *written))
    df = pd.DataFrame(session.connection().execute(_order_filters(stmt, f)).all(), columns=["score", "late"])
    out = []
    for label, flag in (("on time", 0), ("late", 1)):
        s = df[df["late"].astype("int64") == flag]["score"] if len(df) else pd.Series(dtype="float64")
        out.append({"delivery": label, "reviews": len(s),
                    "mean_score": float(s.mean()) if len(s) else np.nan,
                    "low_share": float((s <= LOW_SCORE).mean()) if len(s) else np.nan})
    res = pd.DataFrame(out, columns=SATISFACTION_COLUMNS)
    res["reviews"] = res["reviews"].astype("int64")
    return res
