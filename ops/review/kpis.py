"""The KPIs a manager is judged on, week over week and against target.

The review summarises the pages, so a KPI that a page already defines is read from that page's
domain, for the same ISO week (Monday to Sunday) and the same viewer scope, through
:mod:`ops.review.sources` (the domains' queries and metrics over their ``agg_*`` tables): the
review and the page show one number. Only the KPIs no page defines are computed here, from the
fact tables of the two weeks, scoped to the viewer in SQL (``ops.access`` conditions); the week's
rows are small, so those ratios are taken in pandas. Rates are fractions 0..1.

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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import String, and_, case, func, literal, or_, select, type_coerce
from sqlalchemy.orm import Session

from ops import access
from ops.access import Viewer, data_function, require_viewer
from ops.db import as_day
from ops.filters import Filters
from ops.fulfillment.metrics import EXCLUDED_STATUSES
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

MARKETPLACE_WORDS = sources.MARKETPLACE_WORDS
# A return counts against the order defect rate when the Returns page calls its reason a defect or a
# wrong item, or when the item was not as described (compared lower-cased, as the Returns page does).
DEFECT_REASONS = (*RETURNS_DEFECT_REASONS, *WRONG_ITEM_REASONS, "not_as_described")
DEFECT_SHIPMENT_STATUSES = ("lost", "damaged", "returned_to_sender")
LOW_SCORE = 2  # 1-2 stars count as a negative review
TOP_REASONS = sources.TOP_REASONS
MAX_TRANSIT_DAYS = 120  # a delivery counted in a week left the warehouse at most this long before it

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


def _stamps(s: pd.Series) -> pd.Series:
    # Timestamps read as text on SQLite (``type_coerce`` skips the driver's per-value parsing) or as
    # datetimes on PostgreSQL; one vectorised parse either way.
    return pd.to_datetime(s, errors="coerce").astype("datetime64[ns]")


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
        return _raw_sums(session, viewer, span, filters, mp)
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


def _raw_cycle(session: Session, viewer: Viewer, span: Sequence[Week], filters: Filters) -> list[float]:
    """Each week's median cycle time from its scoped deliveries (those that left the warehouse at most
    ``MAX_TRANSIT_DAYS`` before the week began and before it ended, as ``agg_review_cycle``): per week, the
    durations alone are read (the delivery and ship windows in SQL, the delivery index driving)."""
    dialect = session.get_bind().dialect.name
    conn = session.connection()
    scope = access.date_driven_conditions(viewer)[1]
    out = []
    for w in span:
        start = _ts(w.start)
        # the ship window as a selected flag, not a WHERE term: a range on shipped_at would take its index
        left = case((and_(Shipment.shipped_at >= start - dt.timedelta(days=MAX_TRANSIT_DAYS),
                          Shipment.shipped_at < start + dt.timedelta(days=7)), 1), else_=0)
        rows = conn.execute(_order_filters(
            select(cycle_days_expr(dialect, Order.placed_at, Shipment.delivered_at), left)
            .join(Order, Order.id == Shipment.order_id)
            .where(Shipment.delivered_at >= start, Shipment.delivered_at < start + dt.timedelta(days=7), scope),
            filters)).all()
        cy = pd.Series([d for d, ok in rows if ok], dtype="float64")
        out.append(float(cy.median()) if cy.notna().any() else np.nan)
    return out


def _raw_sums(session: Session, viewer: Viewer, span: Sequence[Week], filters: Filters,
              mp_ids: list[int]) -> pd.DataFrame:
    """:func:`_week_sums` from the weeks' rows, scoped to the viewer in SQL
    (:func:`ops.access.date_driven_conditions`)."""
    lo, hi = _ts(span[0].start), _ts(span[-1].end + dt.timedelta(days=1))
    conn = session.connection()
    o_scope, s_scope, l_scope = access.date_driven_conditions(viewer)
    mp_channels = Order.channel_id.in_(mp_ids)
    rows: dict[str, dict[str, float]] = {}
    for w in span:
        a, z = _ts(w.start), _ts(w.end + dt.timedelta(days=1))
        mp_orders, mp_cancelled = conn.execute(_order_filters(
            select(func.count(), func.coalesce(func.sum(case((Order.status == "cancelled", 1), else_=0)), 0))
            .where(Order.placed_at >= a, Order.placed_at < z, mp_channels, o_scope),
            filters)).one()
        # the week's orders that shipped (a scoped shipment left) and their scoped shipments' labels: per order
        # of the week (by id, the order the sums were taken in when grouped), its shipments found by order id
        # (a join let PostgreSQL scan a carrier's every shipment); an order without one has shipped = 0
        per_order = _order_filters(
            select(select(func.sum(Shipment.label_cost)).where(Shipment.order_id == Order.id, s_scope)
                   .scalar_subquery().label("labels"),
                   select(func.count(Shipment.shipped_at)).where(Shipment.order_id == Order.id, s_scope)
                   .scalar_subquery().label("shipped"))
            .where(Order.placed_at >= a, Order.placed_at < z, Order.status.not_in(EXCLUDED_STATUSES)),
            filters).order_by(Order.id).subquery()
        per_order = select(per_order.c.labels).where(per_order.c.shipped > 0).subquery()
        n_shipped, labels = conn.execute(select(func.count(), func.coalesce(func.sum(per_order.c.labels), 0.0))).one()
        rows[w.label] = {"mp_orders": int(mp_orders), "mp_cancelled": int(mp_cancelled),
                         "shipped_orders": int(n_shipped), "label_cost": float(labels)}
    # the orders of the viewer's marketplace shipments of the weeks (only theirs count: ``& ids`` below)
    mp_shipped = (select(Shipment.order_id).join(Order, Order.id == Shipment.order_id)
                  .where(Shipment.shipped_at >= lo, Shipment.shipped_at < hi, mp_channels, s_scope))
    ships = pd.DataFrame(conn.execute(_order_filters(
        select(Shipment.order_id, type_coerce(Shipment.shipped_at, String), Shipment.status, Shipment.carrier_id,
               Shipment.tracking_number)
        .join(Order, Order.id == Shipment.order_id)
        .where(Shipment.shipped_at >= lo, Shipment.shipped_at < hi, mp_channels, s_scope),
        filters)).all(), columns=["order_id", "shipped_at", "status", "carrier_id", "tracking_number"])
    # the marketplace orders shipped in the weeks: their returns and reviews, whenever written, decide the defect rate
    rets = pd.DataFrame(conn.execute(_order_filters(
        select(OrderLine.order_id, Return.reason_code)
        .join(OrderLine, OrderLine.id == Return.order_line_id).join(Order, Order.id == OrderLine.order_id)
        .where(OrderLine.order_id.in_(mp_shipped), l_scope), filters)).all(),
        columns=["order_id", "reason_code"])
    revs = pd.DataFrame(conn.execute(_order_filters(
        select(Review.order_id, Review.score, type_coerce(Review.created_at, String))
        .join(Order, Order.id == Review.order_id)
        .where(or_(and_(Review.created_at >= lo, Review.created_at < hi), Review.order_id.in_(mp_shipped)),
               o_scope),
        filters)).all(), columns=["order_id", "score", "created_at"])
    ships["shipped_at"] = _stamps(ships["shipped_at"])
    revs["created_at"] = _stamps(revs["created_at"])
    low = set(revs[revs["score"] <= LOW_SCORE]["order_id"])
    bad_returns = set(rets[rets["reason_code"].fillna("").astype(str).str.lower().isin(DEFECT_REASONS)]["order_id"])
    cycle = _raw_cycle(session, viewer, span, filters)
    for i, w in enumerate(span):
        r = rows[w.label]
        scores = revs[_between(revs["created_at"], w)]["score"]
        r["reviews"], r["score_sum"] = len(scores), float(scores.sum())
        mp = ships[_between(ships["shipped_at"], w)]
        ids = set(mp["order_id"])
        bad = set(mp[mp["status"].isin(DEFECT_SHIPMENT_STATUSES)]["order_id"]) | ((low | bad_returns) & ids)
        tracked = mp["carrier_id"].notna() & mp["tracking_number"].fillna("").astype(str).str.strip().ne("")
        r.update({"mp_shipments": len(mp), "mp_tracked": int(tracked.sum()), "mp_ship_orders": len(ids),
                  "mp_defect_orders": len(bad), "cycle_days": cycle[i]})
    return pd.DataFrame.from_dict(rows, orient="index")[SUM_COLUMNS].astype("float64")


# --- the numbers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CostAssumptions:
    """What an order costs beyond its label (a threshold, so a manager can change it)."""

    warehousing_per_order: float


def _between(s: pd.Series, week: Week) -> pd.Series:
    return (s >= pd.Timestamp(week.start)) & (s < pd.Timestamp(week.end + dt.timedelta(days=1)))


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


def _threshold_value(session: Session, viewer: Viewer, name: str | None) -> tuple[float | None, str]:
    from ops.decisions import THRESHOLDS, threshold

    if name is None or name not in THRESHOLDS:
        return None, ""
    eff = threshold(session, viewer=viewer, name=name)
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
    out: list[dict[str, Any]] = []
    for k in KPI_DEFS:
        target, tsource = _threshold_value(session, viewer, k.threshold)
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
