"""The KPIs a manager is judged on, week over week and against target.

Every number here is computed from the fact tables for one ISO week and the week before it,
scoped to the viewer in SQL (``ops.access`` conditions); the week's rows are small (a week of
orders), so the ratios are taken in pandas on them. Rates are fractions 0..1.

Definitions (the page shows each in these words, with its threshold and where it comes from)
--------------------------------------------------------------------------------------------
- **Order cycle time** (days): median time from an order being placed to its shipment being
  delivered, over shipments delivered in the week (that left the warehouse at most
  :data:`MAX_TRANSIT_DAYS` before it).
- **Click-to-ship** (hours): median time from payment to the shipment leaving the warehouse,
  over shipments shipped in the week.
- **On-time ship**: shipments shipped in the week that left by their order's ship-by time /
  shipments shipped in the week that have a ship-by time. Target ``on_time_ship_target``.
- **On-time delivery**: shipments delivered in the week by their promised date / shipments
  delivered in the week that carry one. Target ``carrier_on_time_target``.
- **Order accuracy**: 1 - orders with a return for ``wrong_item`` or ``not_as_described``
  received in the week / orders shipped in the week. Target ``order_accuracy_target``.
- **Return rate**: units returned (received in the week) / units sold (lines of orders placed in
  the week and not cancelled). Alert ``return_rate_alert``. The week's top reasons are listed.
- **Cost per order**: (label cost of shipments shipped in the week + warehousing cost per order
  x orders shipped + handling cost per return x returns received) / orders shipped. The two cost
  assumptions are thresholds (``cost_warehousing_per_order``, ``cost_return_handling``); the
  ceiling is ``cost_per_order_max``.
- **Review score**: mean star rating (1-5) of reviews written in the week. Floor
  ``review_score_min``. Beside it, the share of 1-2 star reviews for late and on-time deliveries
  (:func:`satisfaction_vs_lateness`).
- Marketplace seller targets, on orders of marketplace channels (a channel whose code or name
  says marketplace, olist, amazon, ebay, etsy or walmart), with the marketplaces' own limits as
  default thresholds:
  **late shipment rate** (shipments shipped after ship-by / shipped; < 4 %),
  **pre-fulfilment cancel rate** (orders placed in the week cancelled before shipping / orders
  placed; < 2.5 %), **order defect rate** (orders shipped in the week with a 1-2 star review,
  a lost, damaged or returned-to-sender shipment, or a return for ``defective``,
  ``damaged_in_transit``, ``wrong_item`` or ``not_as_described`` / orders shipped; < 1 %),
  **valid tracking rate** (shipments shipped with a carrier and a tracking number / shipped;
  >= 95 %).

The registered domains' own headline KPIs (inventory turnover, aging, sell-through, stockouts,
and whatever a new domain exposes) are added below these by :func:`review_kpis`, with the
domain as their source.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from ops import access
from ops.access import Viewer, data_function, require_viewer
from ops.filters import Filters
from ops.models import Channel, Order, OrderLine, Return, Review, Shipment, Warehouse
from ops.review.week import Week, last_full_week, parse_week

MARKETPLACE_WORDS = ("marketplace", "olist", "amazon", "ebay", "etsy", "walmart")
ACCURACY_REASONS = ("wrong_item", "not_as_described")
DEFECT_REASONS = ("defective", "damaged_in_transit", "wrong_item", "not_as_described")
DEFECT_SHIPMENT_STATUSES = ("lost", "damaged", "returned_to_sender")
LOW_SCORE = 2  # 1-2 stars count as a negative review
TOP_REASONS = 3
MAX_TRANSIT_DAYS = 120  # a delivery counted in a week left the warehouse at most this long before it


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
           "Median days from an order being placed to its delivery, for shipments delivered in the week.",
           "orders.placed_at, shipments.delivered_at"),
    KpiDef("click_to_ship", "Click-to-ship", "hours", False, "click_to_ship_hours_max",
           "Median hours from payment to the shipment leaving the warehouse, for shipments shipped in the week.",
           "orders.paid_at, shipments.shipped_at"),
    KpiDef("on_time_ship", "On-time ship", "pct", True, "on_time_ship_target",
           "Shipments shipped in the week that left by their order's ship-by time.",
           "shipments.shipped_at, orders.ship_by"),
    KpiDef("on_time_delivery", "On-time delivery", "pct", True, "carrier_on_time_target",
           "Shipments delivered in the week by the date promised to the customer.",
           "shipments.delivered_at, shipments.promised_at"),
    KpiDef("order_accuracy", "Order accuracy", "pct", True, "order_accuracy_target",
           "1 minus the orders with a return for a wrong item or 'not as described' received in the week, "
           "per order shipped in the week.",
           "returns.reason_code, shipments"),
    KpiDef("return_rate", "Return rate", "pct", False, "return_rate_alert",
           "Units returned in the week per unit sold on orders placed in the week (not cancelled).",
           "returns.qty, order_lines.qty"),
    KpiDef("cost_per_order", "Cost per order", "money", False, "cost_per_order_max",
           "Shipping labels of the week's shipments, plus the warehousing cost per order for each order "
           "shipped, plus the handling cost per return received, per order shipped.",
           "shipments.label_cost; thresholds cost_warehousing_per_order, cost_return_handling"),
    KpiDef("review_score", "Review score", "number", True, "review_score_min",
           "Mean star rating (1 to 5) of the reviews customers wrote in the week.",
           "reviews.score"),
    KpiDef("late_shipment_rate", "Late shipment rate (marketplace)", "pct", False, "mp_late_shipment_max",
           "Marketplace shipments shipped in the week after their ship-by time, per marketplace shipment.",
           "shipments.shipped_at, orders.ship_by; marketplace channels", marketplace=True),
    KpiDef("cancel_rate", "Pre-fulfilment cancel rate (marketplace)", "pct", False, "mp_cancel_rate_max",
           "Marketplace orders placed in the week and cancelled before they shipped, per marketplace order.",
           "orders.status; marketplace channels", marketplace=True),
    KpiDef("order_defect_rate", "Order defect rate (marketplace)", "pct", False, "mp_order_defect_max",
           "Marketplace orders shipped in the week with a 1-2 star review, a lost, damaged or returned-to-"
           "sender shipment, or a return for a defect, wrong item or 'not as described', per order shipped.",
           "reviews, shipments.status, returns.reason_code; marketplace channels", marketplace=True),
    KpiDef("valid_tracking_rate", "Valid tracking rate (marketplace)", "pct", True, "mp_valid_tracking_min",
           "Marketplace shipments shipped in the week with a carrier and a tracking number.",
           "shipments.carrier_id, shipments.tracking_number; marketplace channels", marketplace=True),
)
KPI_BY_KEY = {k.key: k for k in KPI_DEFS}

KPI_COLUMNS = ["key", "label", "kind", "value", "previous", "change", "target", "meets", "higher_is_better",
               "definition", "threshold", "target_from", "source", "week", "previous_week", "domain"]


# --- reading the weeks' rows (scoped in SQL) --------------------------------------------------


def _is_marketplace(code: pd.Series, name: pd.Series) -> pd.Series:
    text = (code.fillna("").astype(str) + " " + name.fillna("").astype(str)).str.lower()
    flags = {t: any(w in t for w in MARKETPLACE_WORDS) for t in text.unique()}  # a handful of channels
    return text.map(flags).astype(bool)


def _order_filters(stmt: Any, filters: Filters) -> Any:
    if filters.warehouses:
        stmt = stmt.where(Order.warehouse_id.in_(select(Warehouse.id).where(Warehouse.code.in_(filters.warehouses))))
    if filters.channels:
        stmt = stmt.where(Order.channel_id.in_(select(Channel.id).where(Channel.code.in_(filters.channels))))
    return stmt


def _ts(d: dt.date) -> dt.datetime:
    return dt.datetime.combine(d, dt.time.min)


@dataclass(frozen=True)
class WeekRows:
    """The rows behind the KPIs of two weeks (current and previous), already scoped."""

    orders: pd.DataFrame  # id, placed_at, status, marketplace
    shipments: pd.DataFrame  # order_id, shipped_at, delivered_at, promised_at, status, label_cost, carrier_id,
    #                          tracking_number, placed_at, paid_at, ship_by, marketplace
    lines: pd.DataFrame  # order_id, qty, placed_at, status
    returns: pd.DataFrame  # order_id, qty, reason_code, received_at
    reviews: pd.DataFrame  # order_id, score, created_at


def _read_rows(session: Session, viewer: Viewer, first: dt.date, last: dt.date, filters: Filters) -> WeekRows:
    """The scoped rows of ``first``..``last`` (inclusive days) that the KPIs need (see :class:`WeekRows`)."""
    lo, hi = _ts(first), _ts(last + dt.timedelta(days=1))
    # the orders shipped in the weeks: their returns and reviews, whenever written, decide the defect rate
    shipped_ids = select(Shipment.order_id).where(Shipment.shipped_at >= lo, Shipment.shipped_at < hi)
    o_scope = access.order_condition(viewer)
    orders = pd.DataFrame(session.connection().execute(_order_filters(
        select(Order.id, Order.placed_at, Order.status, Channel.code, Channel.name)
        .join(Channel, Channel.id == Order.channel_id)
        .where(Order.placed_at >= lo, Order.placed_at < hi, o_scope), filters)).all(),
        columns=["id", "placed_at", "status", "channel", "channel_name"])
    orders["marketplace"] = _is_marketplace(orders["channel"], orders["channel_name"])
    ships = pd.DataFrame(session.connection().execute(_order_filters(
        select(Shipment.order_id, Shipment.shipped_at, Shipment.delivered_at, Shipment.promised_at, Shipment.status,
               Shipment.label_cost, Shipment.carrier_id, Shipment.tracking_number, Order.placed_at, Order.paid_at,
               Order.ship_by, Channel.code, Channel.name)
        .join(Order, Order.id == Shipment.order_id).join(Channel, Channel.id == Order.channel_id)
        .where(or_(and_(Shipment.shipped_at >= lo, Shipment.shipped_at < hi),
                   # delivered in the weeks; shipped at most MAX_TRANSIT_DAYS before, so the index on shipped_at serves
                   and_(Shipment.delivered_at >= lo, Shipment.delivered_at < hi,
                        Shipment.shipped_at >= lo - dt.timedelta(days=MAX_TRANSIT_DAYS), Shipment.shipped_at < hi)),
               access.shipment_condition(viewer)), filters)).all(),
        columns=["order_id", "shipped_at", "delivered_at", "promised_at", "status", "label_cost", "carrier_id",
                 "tracking_number", "placed_at", "paid_at", "ship_by", "channel", "channel_name"])
    ships["marketplace"] = _is_marketplace(ships["channel"], ships["channel_name"])
    lines = pd.DataFrame(session.connection().execute(_order_filters(
        select(OrderLine.order_id, OrderLine.qty, Order.placed_at, Order.status)
        .join(Order, Order.id == OrderLine.order_id)
        .where(Order.placed_at >= lo, Order.placed_at < hi, access.order_line_condition(viewer)), filters)).all(),
        columns=["order_id", "qty", "placed_at", "status"])
    rets = pd.DataFrame(session.connection().execute(_order_filters(
        select(OrderLine.order_id, Return.qty, Return.reason_code, Return.received_at)
        .join(OrderLine, OrderLine.id == Return.order_line_id).join(Order, Order.id == OrderLine.order_id)
        .where(or_(and_(Return.received_at >= lo, Return.received_at < hi), OrderLine.order_id.in_(shipped_ids)),
               access.order_line_condition(viewer)), filters)).all(),
        columns=["order_id", "qty", "reason_code", "received_at"])
    revs = pd.DataFrame(session.connection().execute(_order_filters(
        select(Review.order_id, Review.score, Review.created_at).join(Order, Order.id == Review.order_id)
        .where(or_(and_(Review.created_at >= lo, Review.created_at < hi), Review.order_id.in_(shipped_ids)),
               o_scope),
        filters)).all(), columns=["order_id", "score", "created_at"])
    for df, cols in ((orders, ["placed_at"]), (ships, ["shipped_at", "delivered_at", "promised_at", "placed_at",
                                                        "paid_at", "ship_by"]),
                     (lines, ["placed_at"]), (rets, ["received_at"]), (revs, ["created_at"])):
        for c in cols:
            df[c] = pd.to_datetime(df[c])
    ships["label_cost"] = pd.to_numeric(ships["label_cost"]).astype("float64")
    return WeekRows(orders, ships, lines, rets, revs)


# --- the numbers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CostAssumptions:
    """What an order costs beyond its label (thresholds, so a manager can change them)."""

    warehousing_per_order: float
    handling_per_return: float


def _between(s: pd.Series, week: Week) -> pd.Series:
    return (s >= pd.Timestamp(week.start)) & (s < pd.Timestamp(week.end + dt.timedelta(days=1)))


def _ratio(num: float, den: float) -> float | None:
    return None if den == 0 else float(num) / float(den)


def week_values(rows: WeekRows, week: Week, costs: CostAssumptions) -> dict[str, float | None]:
    """Every KPI of :data:`KPI_DEFS` for ``week`` from ``rows`` (pure; None when there is nothing to measure)."""
    out: dict[str, float | None] = {}
    sh = rows.shipments
    shipped = sh[_between(sh["shipped_at"], week)]
    delivered = sh[_between(sh["delivered_at"], week)]
    cycle = (delivered["delivered_at"] - delivered["placed_at"]).dt.total_seconds() / 86400.0
    out["order_cycle_time"] = float(cycle.median()) if cycle.notna().any() else None
    c2s = (shipped["shipped_at"] - shipped["paid_at"]).dt.total_seconds() / 3600.0
    out["click_to_ship"] = float(c2s.median()) if c2s.notna().any() else None
    due = shipped[shipped["ship_by"].notna()]
    out["on_time_ship"] = _ratio(int((due["shipped_at"] <= due["ship_by"]).sum()), len(due))
    promised = delivered[delivered["promised_at"].notna()]
    out["on_time_delivery"] = _ratio(int((promised["delivered_at"] <= promised["promised_at"]).sum()), len(promised))
    rets = rows.returns
    rets_week = rets[_between(rets["received_at"], week)]
    shipped_orders = shipped["order_id"].nunique()
    wrong = rets_week[rets_week["reason_code"].isin(ACCURACY_REASONS)]["order_id"].nunique()
    acc = _ratio(wrong, shipped_orders)
    out["order_accuracy"] = None if acc is None else 1.0 - acc
    ln = rows.lines
    sold = ln[_between(ln["placed_at"], week) & (ln["status"] != "cancelled")]["qty"].sum()
    out["return_rate"] = _ratio(int(rets_week["qty"].sum()), int(sold))
    cost = (float(shipped["label_cost"].sum()) + costs.warehousing_per_order * shipped_orders
            + costs.handling_per_return * len(rets_week))
    out["cost_per_order"] = _ratio(cost, shipped_orders)
    rv = rows.reviews
    week_scores = rv[_between(rv["created_at"], week)]["score"]
    out["review_score"] = float(week_scores.mean()) if len(week_scores) else None
    # marketplace seller targets
    mp = shipped[shipped["marketplace"]]
    mp_due = mp[mp["ship_by"].notna()]
    out["late_shipment_rate"] = _ratio(int((mp_due["shipped_at"] > mp_due["ship_by"]).sum()), len(mp_due))
    od = rows.orders
    mp_orders = od[_between(od["placed_at"], week) & od["marketplace"]]
    out["cancel_rate"] = _ratio(int((mp_orders["status"] == "cancelled").sum()), len(mp_orders))
    mp_ids = set(mp["order_id"])
    bad = set(mp[mp["status"].isin(DEFECT_SHIPMENT_STATUSES)]["order_id"])
    bad |= set(rv[rv["score"] <= LOW_SCORE]["order_id"]) & mp_ids
    bad |= set(rets[rets["reason_code"].isin(DEFECT_REASONS)]["order_id"]) & mp_ids
    out["order_defect_rate"] = _ratio(len(bad), len(mp_ids))
    tracked = mp["carrier_id"].notna() & mp["tracking_number"].fillna("").astype(str).str.strip().ne("")
    out["valid_tracking_rate"] = _ratio(int(tracked.sum()), len(mp))
    return out


def top_reasons(rows: WeekRows, week: Week, n: int = TOP_REASONS) -> pd.DataFrame:
    """The week's most frequent return reasons.

    Returns
    -------
    DataFrame
        reason_code (str), returned_units (int64), reason_share (float64: of the week's returned units).
    """
    r = rows.returns[_between(rows.returns["received_at"], week)]
    g = r.groupby("reason_code", as_index=False)["qty"].sum().rename(columns={"qty": "returned_units"})
    g = g.sort_values(["returned_units", "reason_code"], ascending=[False, True]).head(n).reset_index(drop=True)
    total = r["qty"].sum()
    g["returned_units"] = g["returned_units"].astype("int64")
    g["reason_share"] = (g["returned_units"] / total if total else g["returned_units"] * 0.0).astype("float64")
    return g


@data_function
def return_reasons(session: Session, *, viewer: Viewer, week: str | Week | None = None,
                   filters: Filters | None = None) -> pd.DataFrame:
    """:func:`top_reasons` of ``week`` (default: the last full week of the viewer's data), scoped."""
    require_viewer(viewer)
    f = filters or Filters()
    w = resolve_week(session, viewer=viewer, week=week)
    rows = _read_rows(session, viewer, w.start, w.end, Filters(warehouses=f.warehouses, channels=f.channels))
    return top_reasons(rows, w)


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
    """The cost thresholds in force (see the module docstring)."""
    wh, _ = _threshold_value(session, viewer, "cost_warehousing_per_order")
    rt, _ = _threshold_value(session, viewer, "cost_return_handling")
    return CostAssumptions(warehousing_per_order=wh or 0.0, handling_per_return=rt or 0.0)


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
        source (str: the tables, or the domain), week (str ``YYYY-Www``), previous_week (str),
        domain (str: 'review' or the domain id).
    """
    require_viewer(viewer)
    f = filters or Filters()
    w = resolve_week(session, viewer=viewer, week=week)
    p = w.previous()
    rows = _read_rows(session, viewer, p.start, w.end, Filters(warehouses=f.warehouses, channels=f.channels))
    costs = _cost_assumptions(session, viewer)
    cur, prev = week_values(rows, w, costs), week_values(rows, p, costs)
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
    late = func.max(case((Shipment.delivered_at > Shipment.promised_at, 1), else_=0))
    per_order = (select(Shipment.order_id.label("order_id"), late.label("late"))
                 .where(Shipment.delivered_at.is_not(None), Shipment.promised_at.is_not(None),
                        access.shipment_condition(viewer))
                 .group_by(Shipment.order_id).subquery())
    stmt = (select(Review.score, per_order.c.late).join(per_order, per_order.c.order_id == Review.order_id)
            .join(Order, Order.id == Review.order_id).where(access.order_condition(viewer)))
    if date_from:
        stmt = stmt.where(Review.created_at >= _ts(date_from))
    if date_to:
        stmt = stmt.where(Review.created_at < _ts(date_to + dt.timedelta(days=1)))
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
