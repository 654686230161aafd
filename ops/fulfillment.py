"""Fulfilment SLA: did we ship on time, where are orders piling up, whose fault is a late delivery.

Definitions (the page, the exports and the tests use exactly these)
--------------------------------------------------------------------
Every measure is counted per **order line** and grouped by the line's keys: the order's placed
day, warehouse and channel, the line's seller (``order_lines.seller_id``) and that seller's region
(``suppliers.region``: the seller state for Olist data), and the order's carrier.

- **Excluded orders**: status ``cancelled`` or ``unavailable`` count nowhere.
- **Order shipment**: an order's ``shipped_at`` is the earliest ``shipments.shipped_at`` of its
  shipments, ``promised_at`` the earliest promise, ``delivered_at`` the latest delivery when every
  shipment of it was delivered (else undelivered); its carrier and lane are the smallest id / lane.
- **Ship-by deadline** of a line: ``order_lines.ship_by`` (Olist ``shipping_limit_date``), else
  ``orders.ship_by``, else derived from ``paid_at`` with the warehouse's SLA calendar
  (:func:`ops.business_time.ship_by`: paid before the cut-off on a business day ships by 23:59:59
  of that day plus ``handling_days`` business days). Unpaid orders without a given deadline have none.
- **On-time ship rate** = on-time lines / counted lines. A line *counts* when it has a deadline
  and its order was shipped. *On time* means ``shipped_at <= ship_by``: a shipment exactly at the
  deadline is on time. Unshipped lines are not in the rate: they are the **backlog** (not shipped,
  order status not shipped/delivered), and backlog lines past their deadline at the as-of time are
  the separate "late and unshipped" figure.
- **On-time delivery rate** = on-time deliveries / delivered lines. A line counts when its order
  was delivered and has a promised date; undelivered lines are not in the rate. *On time* compares
  **days**: ``date(delivered_at) <= date(promised_at)`` (a promise is a day: Olist's estimated
  delivery date is a midnight timestamp, and a delivery any time on that day is on time).
- **Attribution** of a late delivery: to the *warehouse* when the line was shipped after its
  deadline, to the *carrier* when it was shipped on time, *unknown* when it has no ship time or
  deadline. A line both shipped late and carried slowly is the warehouse's (the first cause).
- **Click-to-ship hours** = ``shipped_at - paid_at`` of lines of non-excluded orders having both,
  in calendar hours and in business hours (the warehouse's calendar; Mon-Fri with the global
  holidays where the order has no warehouse, as for Olist). Negative values (a source recording the
  hand-over before the payment approval) are kept as they are.
- **Percentiles** (median, p90, p99) are exact (numpy ``linear`` method over the lines) when the
  filtered range holds at most ``EXACT_PERCENTILE_MAX_ROWS`` lines; above that they are read from
  fixed-bucket histograms (``HIST_EDGES``) with linear interpolation inside the bucket, and the
  frame says ``exact=False``.
- **Order-to-delivery split** (delivered lines with a payment and a ship time): processing
  (paid -> shipped) and carrier pickup/transit (shipped -> delivered), mean calendar hours.
- **Dates**: the global date filter selects lines by their order's placed day.
- **As of**: the last inventory snapshot day (else the last order day); "now" for the backlog is
  the end of that day, never the wall clock, so results are deterministic.

Speed: the page reads ``agg_fulfil_*`` tables (one row per day and keys) that :func:`refresh`
rebuilds after every import and seed; raw fact tables are read only for exact percentiles of
small ranges and by the refresher.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import ColumnElement, and_, case, delete, false, func, insert, select, true, update
from sqlalchemy.orm import Session

from ops import access
from ops.access import AccessDenied, Viewer, data_function, require_role, require_viewer
from ops.aggregates import refresher
from ops.business_time import (
    DEFAULT_CALENDAR,
    Calendar,
    business_hours_between,
    calendar_hours_between,
)
from ops.business_time import ship_by as derive_ship_by
from ops.exports import register
from ops.filters import ALL, Filters
from ops.models import (
    AggFulfilBacklog,
    AggFulfilDaily,
    AggFulfilHeat,
    AggFulfilHist,
    AggFulfilLane,
    Carrier,
    Channel,
    Decision,
    Holiday,
    InventorySnapshot,
    Order,
    OrderLine,
    Shipment,
    Supplier,
    Warehouse,
)

PAGE = "fulfillment"
EXCLUDED_STATUSES = ("cancelled", "canceled", "unavailable")
SHIPPED_STATUSES = ("shipped", "delivered")
# Exact percentiles re-read the raw rows (about 0.1 s per 1,000 lines on SQLite): small ranges only.
EXACT_PERCENTILE_MAX_ROWS = 5_000
# Histogram bucket edges in hours: bucket 0 is < 0, bucket i is [HIST_EDGES[i-1], HIST_EDGES[i]),
# the last bucket is >= HIST_EDGES[-1].
HIST_EDGES: tuple[float, ...] = (0, 1, 2, 3, 4, 6, 8, 10, 12, 16, 20, 24, 28, 32, 36, 42, 48, 60, 72, 84, 96,
                                 120, 144, 168, 216, 264, 336, 504, 720)
HIST_MEASURES = ("c2s", "c2s_bus", "late")
GROUPS = ("all", "warehouse", "channel", "seller_region", "seller", "carrier")
NONE_LABEL = "(none)"
EXCEPTION_KIND = "fulfilment_exception"
SLA_ENTITY = "warehouse_sla"
TARGET_THRESHOLD = "on_time_ship_target"
BACKLOG_THRESHOLD = "backlog_age_alert_hours"
KEY_COLS = ["day", "warehouse_id", "channel_id", "seller_id", "seller_region", "carrier_id"]
DOW_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


# --- calendars and the as-of time -----------------------------------------------------------


def calendars(session: Session) -> tuple[dict[int, Calendar], Calendar]:
    """Every warehouse's SLA :class:`Calendar` by id, and the default one (global holidays).

    Not viewer-scoped on purpose: SLA policy is configuration, not vendor data; callers
    return only derived, scoped figures.
    """
    hol = session.execute(select(Holiday.warehouse_id, Holiday.day)).all()
    global_days = tuple(d for w, d in hol if w is None)
    cals: dict[int, Calendar] = {}
    # Columns, not entities: a policy just changed by a bulk UPDATE in this session must be read fresh.
    rows = session.execute(select(Warehouse.id, Warehouse.business_days, Warehouse.cutoff_time,
                                  Warehouse.handling_days))
    for wid, days, cutoff, handling in rows:
        own = tuple(d for hw, d in hol if hw == wid)
        cals[wid] = Calendar(business_days=days or "01234", holidays=global_days + own,
                             cutoff=cutoff or dt.time(14, 0), handling_days=int(handling or 0))
    default = Calendar(business_days=DEFAULT_CALENDAR.business_days, holidays=global_days,
                       cutoff=DEFAULT_CALENDAR.cutoff, handling_days=DEFAULT_CALENDAR.handling_days)
    return cals, default


def as_of(session: Session) -> dt.datetime:
    """The data's "now": the end of the last inventory snapshot day, else of the last order day."""
    last = session.scalar(select(func.max(InventorySnapshot.day)))
    if last is None:
        placed = session.scalar(select(func.max(Order.placed_at)))
        if placed is None:
            return dt.datetime.combine(dt.date.today(), dt.time.min)
        last = placed.date() if isinstance(placed, dt.datetime) else dt.date.fromisoformat(str(placed)[:10])
    if isinstance(last, str):
        last = dt.date.fromisoformat(last[:10])
    return dt.datetime.combine(last + dt.timedelta(days=1), dt.time.min)


# --- line facts (the refresher and the exact-percentile path share this) -------------------


def _order_shipments(session: Session, order_ids: Any = None) -> pd.DataFrame:
    stmt = select(
        Shipment.order_id, func.min(Shipment.shipped_at), func.min(Shipment.promised_at),
        func.max(Shipment.delivered_at), func.count(), func.count(Shipment.delivered_at),
        func.min(Shipment.carrier_id), func.min(Shipment.lane),
    ).group_by(Shipment.order_id)
    if order_ids is not None:
        stmt = stmt.where(Shipment.order_id.in_(order_ids))
    df = pd.DataFrame(session.execute(stmt).all(), columns=[
        "order_id", "shipped_at", "promised_at", "delivered_at", "n_ship", "n_delivered", "carrier_id", "lane"])
    df.loc[df["n_delivered"] < df["n_ship"], "delivered_at"] = None
    return df.drop(columns=["n_ship", "n_delivered"])


def _dt(s: pd.Series) -> pd.Series:
    if np.issubdtype(s.dtype, np.datetime64):
        return s.astype("datetime64[ns]")
    return pd.to_datetime(s, errors="coerce").astype("datetime64[ns]")


def line_facts(session: Session, *, where: Sequence[ColumnElement[bool]] = (), shipments_where: Any = None,
               cals: tuple[dict[int, Calendar], Calendar] | None = None) -> pd.DataFrame:
    """One row per order line with every SLA fact derived (definitions in the module docstring).

    Internal building block (no viewer): callers pass the viewer's scope in ``where``.

    Returns
    -------
    DataFrame with key columns ``day`` (date), ``warehouse_id``, ``channel_id``, ``seller_id``,
    ``carrier_id`` (float64 ids, NaN for none), ``seller_region`` (object), ``lane`` (object) and
    ``order_id`` (int64), ``order_number`` (object), ``status`` (object), ``paid_at``, ``ship_by``,
    ``shipped_at``, ``promised_at``, ``delivered_at`` (datetime64[ns]), boolean flags ``excluded``,
    ``counted``, ``on_time``, ``delivered``, ``delivered_on_time``, ``backlog``, float64
    ``late_hours``, ``c2s_hours``, ``c2s_bhours``, ``transit_hours``, and ``attribution``
    (``on_time`` / ``warehouse`` / ``carrier`` / ``unknown`` / ``""`` when not delivered).
    """
    stmt = (
        select(OrderLine.order_id, OrderLine.seller_id, Supplier.region, OrderLine.ship_by, Order.ship_by,
               Order.order_number, Order.status, Order.placed_at, Order.paid_at, Order.warehouse_id,
               Order.channel_id)
        .select_from(OrderLine).join(Order, Order.id == OrderLine.order_id)
        .outerjoin(Supplier, Supplier.id == OrderLine.seller_id)
        .where(*where)
    )
    df = pd.DataFrame(session.execute(stmt).all(), columns=[
        "order_id", "seller_id", "seller_region", "line_ship_by", "order_ship_by", "order_number", "status",
        "placed_at", "paid_at", "warehouse_id", "channel_id"])
    ships = _order_shipments(session, shipments_where)
    df = df.merge(ships, on="order_id", how="left")
    for c in ("line_ship_by", "order_ship_by", "placed_at", "paid_at", "shipped_at", "promised_at", "delivered_at"):
        df[c] = _dt(df[c])
    for c in ("warehouse_id", "channel_id", "seller_id", "carrier_id"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
    cal_by_wh, default_cal = cals if cals is not None else calendars(session)
    deadline = df["line_ship_by"].fillna(df["order_ship_by"])
    c2s_b = np.full(len(df), np.nan)
    wh_key = df["warehouse_id"].fillna(-1).astype(int)
    for wid, idx in df.groupby(wh_key).groups.items():
        cal = cal_by_wh.get(int(wid), default_cal)
        part = df.loc[idx]
        need = deadline.loc[idx].isna() & part["paid_at"].notna()
        if need.any():
            deadline.loc[need[need].index] = derive_ship_by(part.loc[need, "paid_at"], cal)
        pos = df.index.get_indexer(idx)
        c2s_b[pos] = business_hours_between(part["paid_at"], part["shipped_at"], cal)
    df["ship_by"] = deadline
    df["day"] = df["placed_at"].dt.normalize()
    df["excluded"] = df["status"].isin(EXCLUDED_STATUSES)
    live = ~df["excluded"]
    shipped = df["shipped_at"].notna()
    df["counted"] = live & df["ship_by"].notna() & shipped
    df["on_time"] = df["counted"] & (df["shipped_at"] <= df["ship_by"])
    late = df["counted"] & ~df["on_time"]
    df["late_hours"] = np.where(late, calendar_hours_between(df["ship_by"], df["shipped_at"]), np.nan)
    c2s_ok = live & df["paid_at"].notna() & shipped
    df["c2s_hours"] = np.where(c2s_ok, calendar_hours_between(df["paid_at"], df["shipped_at"]), np.nan)
    df["c2s_bhours"] = np.where(c2s_ok, c2s_b, np.nan)
    df["delivered"] = live & df["delivered_at"].notna() & df["promised_at"].notna()
    df["delivered_on_time"] = df["delivered"] & (
        df["delivered_at"].dt.normalize() <= df["promised_at"].dt.normalize())
    df["transit_hours"] = np.where(df["delivered"] & shipped,
                                   calendar_hours_between(df["shipped_at"], df["delivered_at"]), np.nan)
    att = np.where(~df["delivered"], "",
                   np.where(df["delivered_on_time"], "on_time",
                            np.where(~df["counted"], "unknown", np.where(df["on_time"], "carrier", "warehouse"))))
    df["attribution"] = att
    df["backlog"] = live & ~shipped & ~df["status"].isin(SHIPPED_STATUSES)
    return df.drop(columns=["line_ship_by", "order_ship_by"])


def _bucket(values: pd.Series) -> np.ndarray:
    return np.searchsorted(np.asarray(HIST_EDGES, dtype=float), values.to_numpy(dtype=float), side="right")


# --- the refresher ---------------------------------------------------------------------------

_AGGS = (AggFulfilDaily, AggFulfilHist, AggFulfilHeat, AggFulfilLane, AggFulfilBacklog)


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Plain-Python rows for an executemany: dates as ``date``, NaN as None, ids and counts as int."""
    df = df.assign(day=df["day"].dt.date)
    cols = list(df.columns)
    out: list[dict[str, Any]] = []
    for values in df.itertuples(index=False, name=None):
        row: dict[str, Any] = {}
        for c, v in zip(cols, values, strict=True):
            if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NaT:
                row[c] = None
            elif c in _INT_KEYS or isinstance(v, np.integer | np.bool_):
                row[c] = int(v)
            elif isinstance(v, np.floating):
                row[c] = float(v)
            elif isinstance(v, pd.Timestamp):
                row[c] = v.to_pydatetime()
            else:
                row[c] = v
        out.append(row)
    return out


_INT_KEYS = frozenset({"warehouse_id", "channel_id", "seller_id", "carrier_id", "order_id", "bucket", "paid_dow",
                       "paid_hour"})


def _keyed(df: pd.DataFrame) -> pd.DataFrame:
    return df.copy()


def _unkey(df: pd.DataFrame) -> pd.DataFrame:
    return df


@refresher("fulfillment")
def refresh(session: Session) -> None:
    """Rebuild every ``agg_fulfil_*`` table from the fact tables (inside the caller's transaction)."""
    for t in _AGGS:
        session.execute(delete(t))
    df = line_facts(session)
    if df.empty:
        return
    df = df[~df["excluded"]].copy()
    k = _keyed(df)
    k["late_h"] = k["late_hours"].fillna(0.0)
    k["c2s_1"] = k["c2s_hours"].notna().astype(int)
    split = k["delivered"] & k["c2s_hours"].notna() & k["transit_hours"].notna()
    k["split"] = split.astype(int)
    k["proc_s"] = k["c2s_hours"].where(split, 0.0)
    k["transit_s"] = k["transit_hours"].where(split, 0.0)
    for name in ("warehouse", "carrier", "unknown"):
        k[f"late_{name}"] = (k["attribution"] == name).astype(int)
    k["lines"] = 1
    daily = k.groupby(KEY_COLS, sort=False, dropna=False).agg(
        lines=("lines", "sum"), ship_counted=("counted", "sum"), ship_on_time=("on_time", "sum"),
        late_hours_sum=("late_h", "sum"), c2s_n=("c2s_1", "sum"), c2s_hours_sum=("c2s_hours", "sum"),
        c2s_bhours_sum=("c2s_bhours", "sum"), delivered=("delivered", "sum"),
        delivered_on_time=("delivered_on_time", "sum"), late_warehouse=("late_warehouse", "sum"),
        late_carrier=("late_carrier", "sum"), late_unknown=("late_unknown", "sum"), split_n=("split", "sum"),
        processing_hours_sum=("proc_s", "sum"), transit_hours_sum=("transit_s", "sum"),
    ).reset_index()
    daily["ship_late"] = daily["ship_counted"] - daily["ship_on_time"]
    session.execute(insert(AggFulfilDaily), _records(_unkey(daily)))

    hists = []
    for measure, col in (("c2s", "c2s_hours"), ("c2s_bus", "c2s_bhours"), ("late", "late_hours")):
        sub = k[k[col].notna()][KEY_COLS].copy()
        sub["bucket"] = _bucket(k.loc[sub.index, col])
        h = sub.groupby([*KEY_COLS, "bucket"], sort=False, dropna=False).size().rename("n").reset_index()
        h["measure"] = measure
        hists.append(h)
    hist = pd.concat(hists, ignore_index=True)
    if len(hist):
        session.execute(insert(AggFulfilHist), _records(_unkey(hist)))

    heat_src = k[k["counted"] & k["paid_at"].notna()].copy()
    heat_src["paid_dow"] = heat_src["paid_at"].dt.dayofweek
    heat_src["paid_hour"] = heat_src["paid_at"].dt.hour
    heat_src["late"] = (~heat_src["on_time"]).astype(int)
    heat = heat_src.groupby([*KEY_COLS, "paid_dow", "paid_hour"], sort=False, dropna=False).agg(
        shipped=("lines", "sum"), late=("late", "sum")).reset_index()
    if len(heat):
        session.execute(insert(AggFulfilHeat), _records(_unkey(heat)))

    lane_src = k[k["delivered"]].copy()
    lane_src["lane"] = lane_src["lane"].fillna("")
    lane_src["transit_h"] = lane_src["transit_hours"].fillna(0.0)
    lanes = lane_src.groupby([*KEY_COLS, "lane"], sort=False, dropna=False).agg(
        delivered=("lines", "sum"), delivered_on_time=("delivered_on_time", "sum"),
        late_warehouse=("late_warehouse", "sum"), late_carrier=("late_carrier", "sum"),
        transit_hours_sum=("transit_h", "sum")).reset_index()
    lanes["lane"] = lanes["lane"].replace("", None)
    if len(lanes):
        session.execute(insert(AggFulfilLane), _records(_unkey(lanes)))

    bl = k[k["backlog"]]
    if len(bl):
        backlog = bl.groupby([*KEY_COLS, "order_id", "order_number"], sort=False,
                             dropna=False).agg(
            paid_at=("paid_at", "first"), ship_by=("ship_by", "min"), lines=("lines", "sum")).reset_index()
        recs = _records(backlog)
        session.execute(insert(AggFulfilBacklog), recs)


# --- scoping and filtering on the aggregates -------------------------------------------------


def _scope(viewer: Viewer, t: Any) -> ColumnElement[bool]:
    """Vendor scope on an aggregate's keys: the same rules as ``ops.access.order_line_condition``."""
    require_viewer(viewer)
    if not viewer.is_vendor:
        return true()
    if viewer.vendor_kind == "supplier":
        return t.seller_id == select(Supplier.id).where(Supplier.code == viewer.vendor_code).scalar_subquery()
    if viewer.vendor_kind == "warehouse":
        return t.warehouse_id.in_(select(Warehouse.id).where(Warehouse.operator_code == viewer.vendor_code))
    if viewer.vendor_kind == "carrier":
        return t.carrier_id == select(Carrier.id).where(Carrier.code == viewer.vendor_code).scalar_subquery()
    return false()


def _where(viewer: Viewer, t: Any, filters: Filters) -> list[ColumnElement[bool]]:
    conds = [_scope(viewer, t)]
    if filters.date_from:
        conds.append(t.day >= filters.date_from)
    if filters.date_to:
        conds.append(t.day <= filters.date_to)
    if filters.warehouses:
        conds.append(t.warehouse_id.in_(select(Warehouse.id).where(Warehouse.code.in_(filters.warehouses))))
    if filters.channels:
        conds.append(t.channel_id.in_(select(Channel.id).where(Channel.code.in_(filters.channels))))
    return conds


def _group_col(t: Any, by: str) -> Any:
    if by not in GROUPS:
        raise ValueError(f"group by {by!r} is not one of {', '.join(GROUPS)}")
    return {
        "all": None, "warehouse": t.warehouse_id, "channel": t.channel_id, "seller_region": t.seller_region,
        "seller": t.seller_id, "carrier": t.carrier_id,
    }[by]


def _labels(session: Session, by: str) -> dict[Any, str]:
    model = {"warehouse": Warehouse, "channel": Channel, "carrier": Carrier, "seller": Supplier}.get(by)
    if model is None:
        return {}
    return {r[0]: r[1] for r in session.execute(select(model.id, model.code))}  # type: ignore[attr-defined]


def _label_series(session: Session, by: str, keys: pd.Series) -> pd.Series:
    if by == "all":
        return pd.Series(["All"] * len(keys), index=keys.index, dtype=object)
    if by == "seller_region":
        return keys.where(keys.notna(), NONE_LABEL).astype(object)
    return _Labels(session).series(by, keys)


class _Labels:
    """Code labels of ids, read once per kind (one page load labels several frames)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._maps: dict[str, dict[Any, str]] = {}

    def series(self, by: str, keys: pd.Series) -> pd.Series:
        if by == "all":
            return pd.Series(["All"] * len(keys), index=keys.index, dtype=object)
        if by == "seller_region":
            return keys.where(keys.notna(), NONE_LABEL).astype(object)
        if by not in self._maps:
            self._maps[by] = _labels(self.session, by)
        lab = self._maps[by]
        return keys.map(lambda v: NONE_LABEL if v is None or (isinstance(v, float) and np.isnan(v))
                        else lab.get(int(v), str(v))).astype(object)


def _grouped(session: Session, stmt_cols: list[Any], t: Any, viewer: Viewer, filters: Filters, by: str,
             extra_group: Sequence[Any] = ()) -> pd.DataFrame:
    g = _group_col(t, by)
    keys = ([g.label("group_key")] if g is not None else []) + list(extra_group)
    stmt = select(*keys, *stmt_cols).where(*_where(viewer, t, filters))
    if keys:
        stmt = stmt.group_by(*[k.element if hasattr(k, "element") else k for k in keys])
    df = pd.DataFrame(session.execute(stmt).all(), columns=[c.name for c in keys] + [c.name for c in stmt_cols])
    if "group_key" not in df:
        df.insert(0, "group_key", None)
    df.insert(0, "group", _label_series(session, by, df["group_key"]))
    return df.drop(columns=["group_key"])


# --- percentiles -----------------------------------------------------------------------------


def hist_percentile(counts: pd.Series | np.ndarray, q: float) -> float:
    """Approximate ``q``-quantile (0..1) from counts per bucket (index = bucket number, see HIST_EDGES).

    Linear interpolation inside the bucket; the open buckets (< 0, >= last edge) return their edge.
    """
    c = pd.Series(counts).sort_index()
    total = float(c.sum())
    if total <= 0:
        return float("nan")
    target = q * total
    cum = 0.0
    edges = HIST_EDGES
    for b, n in c.items():
        b = int(b)
        if cum + n >= target and n > 0:
            if b == 0:
                return float(edges[0])
            if b >= len(edges):
                return float(edges[-1])
            lo, hi = edges[b - 1], edges[b]
            return float(lo + (hi - lo) * (target - cum) / n)
        cum += n
    return float(edges[-1])


def _raw_conditions(viewer: Viewer, filters: Filters) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = [access.order_line_condition(viewer)]
    if filters.start():
        conds.append(Order.placed_at >= filters.start())
    if filters.end():
        conds.append(Order.placed_at < filters.end())
    if filters.warehouses:
        conds.append(Order.warehouse_id.in_(select(Warehouse.id).where(Warehouse.code.in_(filters.warehouses))))
    if filters.channels:
        conds.append(Order.channel_id.in_(select(Channel.id).where(Channel.code.in_(filters.channels))))
    if viewer.is_kind("carrier"):
        carrier = select(Carrier.id).where(Carrier.code == viewer.vendor_code).scalar_subquery()
        # The aggregates key an order by its smallest carrier id; keep the exact path identical.
        conds.append(select(func.min(Shipment.carrier_id)).where(Shipment.order_id == Order.id)
                     .scalar_subquery() == carrier)
    return conds


def _raw_lines(session: Session, viewer: Viewer, filters: Filters) -> pd.DataFrame:
    conds = _raw_conditions(viewer, filters)
    order_ids = select(OrderLine.order_id).join(Order, Order.id == OrderLine.order_id).where(*conds)
    return line_facts(session, where=conds, shipments_where=order_ids)


# --- public queries --------------------------------------------------------------------------

SUMMARY_COLUMNS = [
    "group", "lines", "ship_counted", "ship_on_time", "ship_late", "on_time_ship_rate", "avg_hours_late",
    "delivered", "delivered_on_time", "on_time_delivery_rate", "late_warehouse", "late_carrier", "late_unknown",
    "c2s_lines", "c2s_median_h", "c2s_p90_h", "c2s_p99_h", "c2s_bus_median_h", "c2s_bus_p90_h", "c2s_bus_p99_h",
    "processing_mean_h", "transit_mean_h", "backlog_lines", "late_unshipped_lines", "exact",
]


@data_function
def sla_summary(session: Session, *, viewer: Viewer, filters: Filters = ALL, by: str = "warehouse",
                exact: bool | None = None, percentiles: bool = True) -> pd.DataFrame:
    """On-time ship and delivery rates, attribution and click-to-ship percentiles per group.

    Parameters
    ----------
    by
        ``all``, ``warehouse``, ``channel``, ``seller_region`` (seller state), ``seller`` or ``carrier``.
    exact
        Force exact (True) or histogram (False) percentiles; None picks exact for ranges of at most
        ``EXACT_PERCENTILE_MAX_ROWS`` click-to-ship lines.
    percentiles
        False leaves the percentile columns NaN (for callers that only need the counts).

    Returns
    -------
    DataFrame, one row per group, columns: ``group`` (str; "(none)" for lines without that key),
    int64 ``lines``, ``ship_counted``, ``ship_on_time``, ``ship_late``, ``delivered``,
    ``delivered_on_time``, ``late_warehouse``, ``late_carrier``, ``late_unknown``, ``c2s_lines``,
    ``backlog_lines``, ``late_unshipped_lines``; float64 ``on_time_ship_rate`` and
    ``on_time_delivery_rate`` (0..1, NaN without lines), ``avg_hours_late`` (mean over late
    lines), ``c2s_median_h``, ``c2s_p90_h``, ``c2s_p99_h`` (calendar hours),
    ``c2s_bus_median_h``, ``c2s_bus_p90_h``, ``c2s_bus_p99_h`` (business hours),
    ``processing_mean_h``, ``transit_mean_h``; bool ``exact`` (percentiles exact or approximate).
    """
    require_viewer(viewer)
    t = AggFulfilDaily
    cols = [func.coalesce(func.sum(getattr(t, c)), 0).label(c) for c in (
        "lines", "ship_counted", "ship_on_time", "ship_late", "late_hours_sum", "delivered", "delivered_on_time",
        "late_warehouse", "late_carrier", "late_unknown", "c2s_n", "split_n", "processing_hours_sum",
        "transit_hours_sum")]
    df = _grouped(session, cols, t, viewer, filters, by)
    total_c2s = int(pd.to_numeric(df["c2s_n"], errors="coerce").fillna(0).sum()) if len(df) else 0
    use_exact = exact if exact is not None else total_c2s <= EXACT_PERCENTILE_MAX_ROWS
    pct = _percentiles(session, viewer=viewer, filters=filters, by=by, exact=use_exact) if percentiles else None
    bl = _backlog_counts(session, viewer=viewer, filters=filters, by=by)
    return _finish_summary(df, pct, bl, use_exact)


_SUMMARY_SUMS = ("lines", "ship_counted", "ship_on_time", "ship_late", "late_hours_sum", "delivered",
                 "delivered_on_time", "late_warehouse", "late_carrier", "late_unknown", "c2s_n", "split_n",
                 "processing_hours_sum", "transit_hours_sum")


def _finish_summary(df: pd.DataFrame, pct: pd.DataFrame | None, bl: pd.DataFrame, use_exact: bool) -> pd.DataFrame:
    """Per-group sums (``group`` + ``_SUMMARY_SUMS``), percentiles and backlog counts -> ``SUMMARY_COLUMNS``."""
    num = list(_SUMMARY_SUMS)
    df = df[["group", *num]].copy()
    df[num] = df[num].apply(pd.to_numeric, errors="coerce").fillna(0)
    df = df.groupby("group", as_index=False, sort=True)[num].sum()
    if pct is not None:
        df = df.merge(pct, on="group", how="left")
    df = df.merge(bl, on="group", how="outer")
    ints = ["lines", "ship_counted", "ship_on_time", "ship_late", "delivered", "delivered_on_time", "late_warehouse",
            "late_carrier", "late_unknown", "c2s_n", "backlog_lines", "late_unshipped_lines"]
    for c in ints:
        df[c] = pd.to_numeric(df[c], errors="coerce").fillna(0).astype("int64")
    with np.errstate(divide="ignore", invalid="ignore"):
        df["on_time_ship_rate"] = np.where(df["ship_counted"] > 0, df["ship_on_time"] / df["ship_counted"], np.nan)
        df["on_time_delivery_rate"] = np.where(df["delivered"] > 0, df["delivered_on_time"] / df["delivered"], np.nan)
        df["avg_hours_late"] = np.where(df["ship_late"] > 0, df["late_hours_sum"] / df["ship_late"], np.nan)
        df["processing_mean_h"] = np.where(df["split_n"] > 0, df["processing_hours_sum"] / df["split_n"], np.nan)
        df["transit_mean_h"] = np.where(df["split_n"] > 0, df["transit_hours_sum"] / df["split_n"], np.nan)
    df = df.rename(columns={"c2s_n": "c2s_lines"})
    df["exact"] = bool(use_exact)
    for c in SUMMARY_COLUMNS:
        if c not in df:
            df[c] = np.nan
    return df[SUMMARY_COLUMNS].astype({c: "float64" for c in SUMMARY_COLUMNS if c.endswith(("_h", "_rate"))}
                                      ).sort_values("group", ignore_index=True)


def _percentiles(session: Session, *, viewer: Viewer, filters: Filters, by: str, exact: bool) -> pd.DataFrame:
    qs = {"median": 0.5, "p90": 0.9, "p99": 0.99}
    rows = []
    if exact:
        df = _raw_lines(session, viewer, filters)
        df = df[df["c2s_hours"].notna()]
        key = {"all": None, "warehouse": "warehouse_id", "channel": "channel_id", "seller_region": "seller_region",
               "seller": "seller_id", "carrier": "carrier_id"}[by]
        labels = _label_series(session, by, df[key] if key else pd.Series([None] * len(df), index=df.index))
        for g, part in df.groupby(labels.to_numpy()):
            row: dict[str, Any] = {"group": g}
            for m, col in (("c2s", "c2s_hours"), ("c2s_bus", "c2s_bhours")):
                for name, q in qs.items():
                    row[f"{m}_{name}_h"] = float(np.quantile(part[col].to_numpy(dtype=float), q))
            rows.append(row)
    else:
        t = AggFulfilHist
        h = _grouped(session, [func.sum(t.n).label("n")], t, viewer, filters, by, extra_group=[t.measure, t.bucket])
        return _hist_percentiles(h)
    cols = ["group"] + [f"{m}_{n}_h" for m in ("c2s", "c2s_bus") for n in qs]
    return pd.DataFrame(rows, columns=cols)


def _hist_percentiles(h: pd.DataFrame) -> pd.DataFrame:
    """Histogram percentiles per group from rows ``group``, ``measure``, ``bucket``, ``n``."""
    qs = {"median": 0.5, "p90": 0.9, "p99": 0.99}
    rows = []
    h = h[h["measure"].isin(("c2s", "c2s_bus"))]
    for g, part in h.groupby("group"):
        row: dict[str, Any] = {"group": g}
        for m in ("c2s", "c2s_bus"):
            counts = part[part["measure"] == m].groupby("bucket")["n"].sum()
            for name, q in qs.items():
                row[f"{m}_{name}_h"] = hist_percentile(counts, q)
        rows.append(row)
    cols = ["group"] + [f"{m}_{n}_h" for m in ("c2s", "c2s_bus") for n in qs]
    return pd.DataFrame(rows, columns=cols)


def _backlog_counts(session: Session, *, viewer: Viewer, filters: Filters, by: str) -> pd.DataFrame:
    t = AggFulfilBacklog
    now = as_of(session)
    cols = [func.coalesce(func.sum(t.lines), 0).label("backlog_lines"),
            func.coalesce(func.sum(t.lines).filter(t.ship_by < now), 0).label("late_unshipped_lines")]
    df = _grouped(session, cols, t, viewer, filters, by)
    return _sum_backlog_counts(df)


def _sum_backlog_counts(df: pd.DataFrame) -> pd.DataFrame:
    for c in ("backlog_lines", "late_unshipped_lines"):
        df[c] = pd.to_numeric(df[c], errors="coerce").fillna(0).astype("int64")
    return df.groupby("group", as_index=False)[["backlog_lines", "late_unshipped_lines"]].sum()


@data_function
def ontime_trend(session: Session, *, viewer: Viewer, filters: Filters = ALL, grain: str = "week",
                 by: str = "warehouse") -> pd.DataFrame:
    """On-time ship and delivery rates per day or week (weeks start on Monday) and group.

    Returns
    -------
    DataFrame with columns ``period`` (datetime64[ns], the day or the week's Monday), ``group``
    (str), int64 ``ship_counted``, ``ship_on_time``, ``delivered``, ``delivered_on_time``, float64
    ``on_time_ship_rate`` and ``on_time_delivery_rate`` (0..1).
    """
    require_viewer(viewer)
    if grain not in ("day", "week"):
        raise ValueError(f"grain {grain!r} must be 'day' or 'week'")
    t = AggFulfilDaily
    cols = [func.sum(getattr(t, c)).label(c) for c in ("ship_counted", "ship_on_time", "delivered",
                                                        "delivered_on_time")]
    df = _grouped(session, cols, t, viewer, filters, by, extra_group=[t.day])
    return _trend_frame(df, grain)


_TREND_SUMS = ["ship_counted", "ship_on_time", "delivered", "delivered_on_time"]


def _trend_frame(df: pd.DataFrame, grain: str) -> pd.DataFrame:
    """Rows ``group``, ``day`` and ``_TREND_SUMS`` -> the :func:`ontime_trend` frame."""
    df = df[["group", "day", *_TREND_SUMS]].copy()
    df["day"] = pd.to_datetime(df["day"])
    df["period"] = df["day"] - pd.to_timedelta(df["day"].dt.dayofweek, unit="D") if grain == "week" else df["day"]
    out = df.groupby(["period", "group"], as_index=False)[_TREND_SUMS].sum()
    for c in _TREND_SUMS:
        out[c] = out[c].astype("int64")
    with np.errstate(divide="ignore", invalid="ignore"):
        out["on_time_ship_rate"] = np.where(out["ship_counted"] > 0, out["ship_on_time"] / out["ship_counted"], np.nan)
        out["on_time_delivery_rate"] = np.where(out["delivered"] > 0, out["delivered_on_time"] / out["delivered"],
                                                np.nan)
    return out.sort_values(["period", "group"], ignore_index=True)


@data_function
def hours_histogram(session: Session, *, viewer: Viewer, filters: Filters = ALL, measure: str = "c2s",
                    by: str = "all") -> pd.DataFrame:
    """Lines per fixed hour bucket: click-to-ship (``c2s`` calendar, ``c2s_bus`` business) or hours late (``late``).

    Returns
    -------
    DataFrame with columns ``group`` (str), ``bucket`` (int64), ``label`` (str, e.g. "24-28 h"),
    ``lo_h`` and ``hi_h`` (float64; -inf / inf for the open buckets), ``lines`` (int64).
    """
    require_viewer(viewer)
    if measure not in HIST_MEASURES:
        raise ValueError(f"measure {measure!r} is not one of {', '.join(HIST_MEASURES)}")
    t = AggFulfilHist
    df = _grouped(session, [func.sum(t.n).label("lines")], t, viewer, filters, by,
                  extra_group=[t.bucket, t.measure])
    df = df[df["measure"] == measure].drop(columns=["measure"])
    df = df.groupby(["group", "bucket"], as_index=False)["lines"].sum()
    edges = (-np.inf, *HIST_EDGES, np.inf)
    df["bucket"] = df["bucket"].astype("int64")
    df["lo_h"] = [float(edges[b]) for b in df["bucket"]]
    df["hi_h"] = [float(edges[b + 1]) for b in df["bucket"]]
    df["label"] = [_bucket_label(lo, hi) for lo, hi in zip(df["lo_h"], df["hi_h"], strict=True)]
    df["lines"] = df["lines"].astype("int64")
    return df[["group", "bucket", "label", "lo_h", "hi_h", "lines"]].sort_values(["group", "bucket"],
                                                                                  ignore_index=True)


def _bucket_label(lo: float, hi: float) -> str:
    if np.isinf(lo):
        return f"< {hi:g} h"
    if np.isinf(hi):
        return f">= {lo:g} h"
    return f"{lo:g}-{hi:g} h"


@data_function
def late_heatmap(session: Session, *, viewer: Viewer, filters: Filters = ALL) -> pd.DataFrame:
    """Counted and late-shipped lines by the weekday and hour the order was paid.

    Returns
    -------
    DataFrame with 168 rows (every weekday x hour), columns ``dow`` (int64, Mon=0), ``weekday``
    (str, "Mon"..), ``hour`` (int64), ``shipped`` and ``late`` (int64), ``late_rate`` (float64, NaN
    where nothing shipped).
    """
    require_viewer(viewer)
    t = AggFulfilHeat
    stmt = (select(t.paid_dow, t.paid_hour, func.sum(t.shipped), func.sum(t.late))
            .where(*_where(viewer, t, filters)).group_by(t.paid_dow, t.paid_hour))
    got = pd.DataFrame(session.execute(stmt).all(), columns=["dow", "hour", "shipped", "late"])
    grid = pd.DataFrame([(d, h) for d in range(7) for h in range(24)], columns=["dow", "hour"])
    got = got.astype({"dow": "int64", "hour": "int64", "shipped": "float64", "late": "float64"})
    df = grid.merge(got, on=["dow", "hour"], how="left").fillna({"shipped": 0, "late": 0})
    df = df.astype({"dow": "int64", "hour": "int64", "shipped": "int64", "late": "int64"})
    df["weekday"] = df["dow"].map(dict(enumerate(DOW_NAMES)))
    with np.errstate(divide="ignore", invalid="ignore"):
        df["late_rate"] = np.where(df["shipped"] > 0, df["late"] / df["shipped"], np.nan)
    return df[["dow", "weekday", "hour", "shipped", "late", "late_rate"]]


@data_function
def lane_attribution(session: Session, *, viewer: Viewer, filters: Filters = ALL, limit: int = 50) -> pd.DataFrame:
    """Delivered lines per carrier and lane with late deliveries attributed, most carrier-late lines first.

    Returns
    -------
    DataFrame with columns ``carrier`` (str), ``lane`` (str), int64 ``delivered``,
    ``delivered_on_time``, ``late_warehouse``, ``late_carrier``; float64 ``carrier_late_rate``
    (late_carrier / delivered) and ``transit_mean_h``.
    """
    require_viewer(viewer)
    t = AggFulfilLane
    cols = [func.sum(getattr(t, c)).label(c) for c in ("delivered", "delivered_on_time", "late_warehouse",
                                                        "late_carrier", "transit_hours_sum")]
    df = _grouped(session, cols, t, viewer, filters, "carrier", extra_group=[t.lane])
    df = df.rename(columns={"group": "carrier"})
    df["lane"] = df["lane"].fillna(NONE_LABEL)
    for c in ("delivered", "delivered_on_time", "late_warehouse", "late_carrier"):
        df[c] = df[c].astype("int64")
    with np.errstate(divide="ignore", invalid="ignore"):
        df["carrier_late_rate"] = np.where(df["delivered"] > 0, df["late_carrier"] / df["delivered"], np.nan)
        df["transit_mean_h"] = np.where(df["delivered"] > 0, df["transit_hours_sum"] / df["delivered"], np.nan)
    df = df.sort_values(["late_carrier", "carrier_late_rate", "carrier", "lane"], ascending=[False, False, True, True],
                        ignore_index=True)
    return df[["carrier", "lane", "delivered", "delivered_on_time", "late_warehouse", "late_carrier",
               "carrier_late_rate", "transit_mean_h"]].head(limit).reset_index(drop=True)


LANE_WEEK_COLUMNS = ["period", "carrier", "lane", "series", "delivered", "delivered_on_time",
                     "on_time_delivery_rate", "rank"]
ALL_LANES = "All lanes"


@data_function
def lane_weekly(session: Session, *, viewer: Viewer, filters: Filters = ALL, top: int = 6,
                min_delivered: int = 20) -> pd.DataFrame:
    """On-time delivery per week for the worst carrier lanes, and for all lanes together.

    A lane's rank orders lanes by their worst week: the lowest weekly on-time delivery rate among
    its weeks with at least ``min_delivered`` delivered lines (ties: more late deliveries first).
    Only the ``top`` worst lanes are returned, plus the series ``"All lanes"`` (rank 0) as the
    reference. Weeks start on Monday and follow the order's placed day (as every fulfilment figure).

    Returns
    -------
    DataFrame with columns ``period`` (datetime64[ns], the week's Monday), ``carrier`` and ``lane``
    (str), ``series`` (str, "carrier · lane" or "All lanes"), int64 ``delivered``,
    ``delivered_on_time``, float64 ``on_time_delivery_rate`` (0..1) and int64 ``rank`` (1 = worst).
    """
    require_viewer(viewer)
    t = AggFulfilLane
    stmt = (select(t.day, t.carrier_id, t.lane, func.sum(t.delivered), func.sum(t.delivered_on_time))
            .where(*_where(viewer, t, filters)).group_by(t.day, t.carrier_id, t.lane))
    df = pd.DataFrame(session.execute(stmt).all(), columns=["day", "carrier_id", "lane", "delivered",
                                                             "delivered_on_time"])
    if df.empty:
        return pd.DataFrame({c: pd.Series(dtype=d) for c, d in zip(LANE_WEEK_COLUMNS, (
            "datetime64[ns]", object, object, object, "int64", "int64", "float64", "int64"), strict=True)})
    df["lane"] = df["lane"].fillna(NONE_LABEL)
    df["carrier_id"] = pd.to_numeric(df["carrier_id"], errors="coerce").fillna(-1).astype("int64")
    df["day"] = pd.to_datetime(df["day"])
    df["period"] = df["day"] - pd.to_timedelta(df["day"].dt.dayofweek, unit="D")
    for c in ("delivered", "delivered_on_time"):
        df[c] = pd.to_numeric(df[c], errors="coerce").fillna(0).astype("int64")
    # Sum to weeks on the numeric id first: labelling is per row, so it runs on the few weekly rows.
    weekly = df.groupby(["period", "carrier_id", "lane"], as_index=False)[["delivered", "delivered_on_time"]].sum()
    weekly["carrier"] = _Labels(session).series("carrier", weekly["carrier_id"].where(weekly["carrier_id"] >= 0))
    weekly = weekly.drop(columns=["carrier_id"])
    weekly["on_time_delivery_rate"] = weekly["delivered_on_time"] / weekly["delivered"].where(weekly["delivered"] > 0)
    judged = weekly[weekly["delivered"] >= min_delivered]
    worst = (judged.assign(late=judged["delivered"] - judged["delivered_on_time"])
             .groupby(["carrier", "lane"], as_index=False)
             .agg(worst=("on_time_delivery_rate", "min"), late=("late", "sum"))
             .sort_values(["worst", "late", "carrier", "lane"], ascending=[True, False, True, True])
             .head(top))
    worst["rank"] = np.arange(1, len(worst) + 1)
    lanes = weekly.merge(worst[["carrier", "lane", "rank"]], on=["carrier", "lane"])
    lanes["series"] = lanes["carrier"] + " · " + lanes["lane"]
    total = weekly.groupby("period", as_index=False)[["delivered", "delivered_on_time"]].sum()
    total["on_time_delivery_rate"] = total["delivered_on_time"] / total["delivered"].where(total["delivered"] > 0)
    total = total.assign(carrier=ALL_LANES, lane=ALL_LANES, series=ALL_LANES, rank=0)
    out = pd.concat([total, lanes], ignore_index=True)[LANE_WEEK_COLUMNS]
    return out.astype({"delivered": "int64", "delivered_on_time": "int64", "on_time_delivery_rate": "float64",
                       "rank": "int64"}).sort_values(["rank", "period"], ignore_index=True)


def worst_lane_weeks(weekly: pd.DataFrame, *, n: int = 8, min_delivered: int = 20) -> pd.DataFrame:
    """The ``n`` lane-weeks of :func:`lane_weekly` with the lowest on-time delivery rate.

    Weeks with fewer than ``min_delivered`` deliveries are left out (one late parcel is not a
    pattern). Returns the columns of :func:`lane_weekly` plus ``all_lanes_rate`` (float64, the
    rate of all lanes that week), worst first.
    """
    ref = weekly.loc[weekly["rank"] == 0, ["period", "on_time_delivery_rate"]].rename(
        columns={"on_time_delivery_rate": "all_lanes_rate"})
    rows = weekly[(weekly["rank"] > 0) & (weekly["delivered"] >= min_delivered)].merge(ref, on="period", how="left")
    return rows.sort_values(["on_time_delivery_rate", "delivered"], ascending=[True, False],
                            ignore_index=True).head(n)


FINDING_COLUMNS = ["warehouse", "weekday", "shipped", "late", "late_rate", "others_rate", "finding"]
_REFERENCE_MONDAY = dt.datetime(2001, 1, 1)  # a Monday; the week is only used for weekday arithmetic


@data_function
def late_findings(session: Session, *, viewer: Viewer, filters: Filters = ALL, min_lines: int = 30) -> pd.DataFrame:
    """Warehouse and ship-by weekday whose late share stands out, in plain words.

    The late heatmap counts lines by the weekday and hour the order was paid; here each of its
    cells is moved to the weekday its ship-by deadline falls on under the warehouse's SLA
    calendar (cut-off, business days, handling days; holidays ignored), so a missed Monday
    cut-off shows as one finding ("due on Mon") instead of four busy cells (Fri after the
    cut-off, Sat, Sun, Mon before it). A (warehouse, weekday) stands out when it holds at least
    ``min_lines`` shipped lines and its late share is at least twice, and 10 points above, the
    late share of every other line in scope (``others_rate``).

    Returns
    -------
    DataFrame, worst first, with columns ``warehouse`` (str), ``weekday`` (str, "Mon".. of the
    ship-by deadline), int64 ``shipped`` and ``late``, float64 ``late_rate`` and ``others_rate``
    (0..1), ``finding`` (str, one sentence).
    """
    from ops import fmt

    require_viewer(viewer)
    t = AggFulfilHeat
    stmt = (select(t.warehouse_id, t.paid_dow, t.paid_hour, func.sum(t.shipped), func.sum(t.late))
            .where(*_where(viewer, t, filters)).group_by(t.warehouse_id, t.paid_dow, t.paid_hour))
    df = pd.DataFrame(session.execute(stmt).all(), columns=["warehouse_id", "dow", "hour", "shipped", "late"])
    if df.empty:
        return pd.DataFrame({c: pd.Series(dtype=d) for c, d in zip(FINDING_COLUMNS, (
            object, object, "int64", "int64", "float64", "float64", object), strict=True)})
    for c in ("shipped", "late"):
        df[c] = pd.to_numeric(df[c], errors="coerce").fillna(0).astype("int64")
    df["warehouse_id"] = pd.to_numeric(df["warehouse_id"], errors="coerce").astype("float64")
    cal_by_wh, default_cal = calendars(session)
    paid = (pd.Timestamp(_REFERENCE_MONDAY) + pd.to_timedelta(df["dow"].astype("int64"), unit="D")
            + pd.to_timedelta(df["hour"].astype("int64"), unit="h") + pd.Timedelta(minutes=30))
    due = pd.Series(pd.NaT, index=df.index, dtype="datetime64[ns]")
    for wid, idx in df.groupby(df["warehouse_id"].fillna(-1).astype(int)).groups.items():
        cal = cal_by_wh.get(int(wid), default_cal)
        plain = Calendar(business_days=cal.business_days, cutoff=cal.cutoff, handling_days=cal.handling_days)
        due.loc[idx] = derive_ship_by(paid.loc[idx], plain).to_numpy()
    df["weekday"] = due.dt.dayofweek.map(dict(enumerate(DOW_NAMES)))
    df["warehouse"] = _Labels(session).series("warehouse", df["warehouse_id"])
    cells = df.groupby(["warehouse", "weekday"], as_index=False)[["shipped", "late"]].sum()
    total_s, total_l = int(cells["shipped"].sum()), int(cells["late"].sum())
    others_s = total_s - cells["shipped"]
    cells["late_rate"] = cells["late"] / cells["shipped"].where(cells["shipped"] > 0)
    cells["others_rate"] = (total_l - cells["late"]) / others_s.where(others_s > 0)
    stands_out = ((cells["shipped"] >= min_lines) & cells["late_rate"].notna()
                  & (cells["late_rate"] >= 2 * cells["others_rate"].fillna(0))
                  & (cells["late_rate"] >= cells["others_rate"].fillna(0) + 0.10))
    out = cells[stands_out].sort_values(["late_rate", "shipped"], ascending=[False, False], ignore_index=True)
    out["finding"] = [
        f"Lines due to ship on {r.weekday} at {r.warehouse}: {fmt.pct(r.late_rate)} shipped late "
        f"({fmt.count(r.late)} of {fmt.count(r.shipped)}), against {fmt.pct(r.others_rate)} for every other "
        "day and warehouse: check that day's cut-off and staffing."
        for r in out.itertuples(index=False)]
    return out[FINDING_COLUMNS].astype({"shipped": "int64", "late": "int64", "late_rate": "float64",
                                        "others_rate": "float64"})


BACKLOG_COLUMNS = ["order_number", "warehouse", "channel", "seller", "seller_region", "paid_at", "ship_by",
                   "hours_past_deadline", "lines", "age_band"]
AGE_BANDS = ((-np.inf, 0, "not due"), (0, 24, "0-24 h late"), (24, 72, "24-72 h late"), (72, np.inf, "> 72 h late"))


@data_function
def backlog(session: Session, *, viewer: Viewer, filters: Filters = ALL, limit: int = 500) -> pd.DataFrame:
    """Orders not shipped yet (per order and seller), oldest past their deadline first.

    Hours past deadline are measured at the as-of time (:func:`as_of`), negative when not yet due;
    orders with no deadline sort last.

    Returns
    -------
    DataFrame with columns ``order_number``, ``warehouse``, ``channel``, ``seller``, ``seller_region``
    (str), ``paid_at``, ``ship_by`` (datetime64[ns]), ``hours_past_deadline`` (float64), ``lines``
    (int64), ``age_band`` (str: not due / 0-24 h late / 24-72 h late / > 72 h late / no deadline).
    """
    require_viewer(viewer)
    t = AggFulfilBacklog
    now = as_of(session)
    stmt = (select(t.order_number, t.warehouse_id, t.channel_id, t.seller_id, t.seller_region, t.paid_at, t.ship_by,
                   t.lines).where(*_where(viewer, t, filters))
            .order_by(t.ship_by.is_(None), t.ship_by, t.order_number).limit(limit))
    df = pd.DataFrame(session.execute(stmt).all(), columns=["order_number", "warehouse_id", "channel_id", "seller_id",
                                                             "seller_region", "paid_at", "ship_by", "lines"])
    return _backlog_frame(session, df, now)


def _backlog_frame(session: Session, df: pd.DataFrame, now: dt.datetime,
                   labels: _Labels | None = None) -> pd.DataFrame:
    """Raw backlog rows (ids, ``paid_at``, ``ship_by``, ``lines``) -> the :func:`backlog` frame."""
    lab = labels or _Labels(session)
    df = df.copy()
    df["warehouse"] = lab.series("warehouse", df["warehouse_id"])
    df["channel"] = lab.series("channel", df["channel_id"])
    df["seller"] = lab.series("seller", df["seller_id"])
    df["seller_region"] = df["seller_region"].fillna(NONE_LABEL)
    df["paid_at"] = _dt(df["paid_at"])
    df["ship_by"] = _dt(df["ship_by"])
    df["hours_past_deadline"] = (pd.Timestamp(now) - df["ship_by"]).dt.total_seconds() / 3600.0
    df["lines"] = df["lines"].astype("int64")
    df["age_band"] = _age_band(df["hours_past_deadline"])
    return df[BACKLOG_COLUMNS]


def _age_band(hours: pd.Series) -> pd.Series:
    out = pd.Series("no deadline", index=hours.index, dtype=object)
    for lo, hi, name in AGE_BANDS:
        out[(hours > lo) & (hours <= hi)] = name
    out[hours <= 0] = "not due"
    return out


@data_function
def backlog_by_warehouse(session: Session, *, viewer: Viewer, filters: Filters = ALL) -> pd.DataFrame:
    """Backlog lines per warehouse and age band at the as-of time.

    Returns
    -------
    DataFrame with columns ``warehouse`` (str), ``age_band`` (str), ``orders`` (int64), ``lines``
    (int64), ``oldest_hours_past_deadline`` (float64).
    """
    require_viewer(viewer)
    t = AggFulfilBacklog
    now = as_of(session)
    stmt = select(t.warehouse_id, t.order_id, t.ship_by, t.lines).where(*_where(viewer, t, filters))
    df = pd.DataFrame(session.execute(stmt).all(), columns=["warehouse_id", "order_id", "ship_by", "lines"])
    return _backlog_bands(session, df, now)


def _backlog_bands(session: Session, df: pd.DataFrame, now: dt.datetime,
                   labels: _Labels | None = None) -> pd.DataFrame:
    df = df[["warehouse_id", "order_id", "ship_by", "lines"]].copy()
    df["warehouse"] = (labels or _Labels(session)).series("warehouse", df["warehouse_id"])
    df["hours"] = (pd.Timestamp(now) - _dt(df["ship_by"])).dt.total_seconds() / 3600.0
    df["age_band"] = _age_band(df["hours"])
    out = df.groupby(["warehouse", "age_band"], as_index=False).agg(
        orders=("order_id", "nunique"), lines=("lines", "sum"), oldest_hours_past_deadline=("hours", "max"))
    return out.astype({"orders": "int64", "lines": "int64", "oldest_hours_past_deadline": "float64"})


KPI_COLUMNS = ["kpi", "value", "previous", "change", "unit"]


@data_function
def kpis(session: Session, *, viewer: Viewer, filters: Filters = ALL) -> pd.DataFrame:
    """Headline KPIs for the last 7 days of the range (up to the as-of day) vs the same number of days before.

    Returns
    -------
    DataFrame with one row per KPI: ``kpi`` (str: on_time_ship_rate, on_time_delivery_rate,
    c2s_median_h, lines_shipped, late_unshipped_lines), ``value`` and ``previous`` (float64),
    ``change`` (float64, value - previous), ``unit`` (str: "%", "h" or "lines"). Rates in percent;
    the median click-to-ship is read from the hour histogram (approximate, see the module docstring).
    ``late_unshipped_lines`` counts backlog lines of orders placed in the range whose ship-by
    deadline has passed at the as-of time (no previous value). A range holding no order lines
    gives NaN rates and hours and zero counts.
    """
    # One computation for the page and this export: the page's grouped read (fulfillment_page).
    return fulfillment_page(session, viewer=viewer, filters=filters, by="all", backlog_limit=0,
                            exception_limit=0).kpis


# --- thresholds and exceptions --------------------------------------------------------------

EXCEPTION_COLUMNS = ["key", "kind", "subject", "detail", "value", "threshold", "state", "version"]


def _owner(session: Session, key: str) -> str | None:
    """The vendor that owns an exception: the seller of a backlog row, or the 3PL of a warehouse."""
    kind, _, rest = key.partition(":")
    if kind == "backlog":
        order_number, _, seller = rest.partition("|")
        return seller or session.scalar(select(Warehouse.operator_code).join(
            Order, Order.warehouse_id == Warehouse.id).where(Order.order_number == order_number))
    if kind == "warehouse":
        return session.scalar(select(Warehouse.operator_code).where(Warehouse.code == rest))
    return None


def _define_kind() -> None:
    from ops.decisions import define_entity_kind

    define_entity_kind(EXCEPTION_KIND, label="Fulfilment exception", owner=_owner, page=PAGE)


_define_kind()


@data_function
def exceptions(session: Session, *, viewer: Viewer, filters: Filters = ALL, limit: int = 200) -> pd.DataFrame:
    """Things to act on: backlog orders past the backlog age alert, and warehouses below the on-time target.

    Thresholds come from ``ops.decisions`` (``on_time_ship_target``, ``backlog_age_alert_hours``,
    per warehouse where overridden). The state (open / acknowledged / snoozed / flagged) and its
    version come from the entity states of kind ``fulfilment_exception``.

    Returns
    -------
    DataFrame with columns ``key`` (str, the entity key), ``kind`` (str: backlog / warehouse),
    ``subject`` (str), ``detail`` (str), ``value`` and ``threshold`` (float64), ``state`` (str),
    ``version`` (int64, 0 when never set).
    """
    return fulfillment_page(session, viewer=viewer, filters=filters, by="warehouse", backlog_limit=limit,
                            exception_limit=limit).exceptions


def _exceptions_frame(session: Session, viewer: Viewer, filters: Filters, bl: pd.DataFrame,
                      summ: pd.DataFrame) -> pd.DataFrame:
    """Exceptions from the backlog rows (:func:`backlog`) and the per-warehouse summary (``group``,
    ``on_time_ship_rate``), with thresholds and entity states."""
    from ops.decisions import entity_states, threshold

    rows: list[dict[str, Any]] = []
    alert_cache: dict[str, float] = {}
    for r in bl.itertuples(index=False):
        wh = r.warehouse if r.warehouse != NONE_LABEL else None
        if (wh or "") not in alert_cache:
            scope = {"warehouse": wh} if wh else None
            alert_cache[wh or ""] = threshold(session, viewer=viewer, name=BACKLOG_THRESHOLD, scope=scope).value
        alert = alert_cache[wh or ""]
        if pd.notna(r.hours_past_deadline) and r.hours_past_deadline > alert:
            seller = r.seller if r.seller != NONE_LABEL else ""
            rows.append({"key": f"backlog:{r.order_number}|{seller}", "kind": "backlog",
                         "subject": f"{r.order_number} ({r.warehouse if wh else r.seller_region})",
                         "detail": f"not shipped, {r.hours_past_deadline:.0f} h past its ship-by "
                                   f"{r.ship_by:%Y-%m-%d %H:%M}",
                         "value": float(r.hours_past_deadline), "threshold": float(alert)})
    period = f"{filters.date_from or 'start'}..{filters.date_to or 'end'}"
    for r in summ.itertuples(index=False):
        if r.group == NONE_LABEL or pd.isna(r.on_time_ship_rate):
            continue
        target = threshold(session, viewer=viewer, name=TARGET_THRESHOLD, scope={"warehouse": r.group}).value
        if r.on_time_ship_rate * 100 < target:
            rows.append({"key": f"warehouse:{r.group}", "kind": "warehouse", "subject": str(r.group),
                         "detail": f"on-time ship {r.on_time_ship_rate:.1%} below target {target:g}% ({period})",
                         "value": float(r.on_time_ship_rate * 100), "threshold": float(target)})
    df = pd.DataFrame(rows, columns=EXCEPTION_COLUMNS[:-2])
    states = entity_states(session, viewer=viewer, entity_kind=EXCEPTION_KIND)
    if len(states):
        st = states.set_index("entity_key")
        df["state"] = df["key"].map(st["state"]).fillna("open")
        df["version"] = df["key"].map(st["version"]).fillna(0).astype("int64")
    else:
        df["state"] = "open"
        df["version"] = 0
    return df.astype({"value": "float64", "threshold": "float64", "version": "int64"})[EXCEPTION_COLUMNS]


# --- the page's data in one pass --------------------------------------------------------------


@dataclass(frozen=True)
class FulfilmentPage:
    """Every table the fulfilment page shows on load, computed in one pass (see :func:`fulfillment_page`)."""

    as_of: dt.datetime
    by: str
    kpis: pd.DataFrame
    summary: pd.DataFrame
    exceptions: pd.DataFrame
    backlog: pd.DataFrame
    backlog_bands: pd.DataFrame
    trend: pd.DataFrame
    #: Why nothing is shown (the range or the viewer holds no order line) and what to change; None otherwise.
    empty_reason: str | None = None
    #: One sentence on the exceptions, from the same numbers as the tiles.
    exceptions_note: str = ""


def _kpi_weeks(filters: Filters, now: dt.datetime) -> tuple[tuple[dt.date, dt.date], tuple[dt.date, dt.date]]:
    """The KPI week and the week before, as (from, to).

    The KPI week is the last 7 days of the range that are not after the as-of day (the whole
    range when shorter), never a day outside the range: a range starting after the as-of day
    gives an empty week (from > to), so the tiles agree with the tables instead of showing last
    week's figures. The week before has the same number of days, just before it.
    """
    end = min(filters.date_to or dt.date.max, (now - dt.timedelta(days=1)).date())
    start = max(end - dt.timedelta(days=6), filters.date_from or dt.date.min)
    n = (end - start).days + 1
    if n <= 0:  # the range starts after the as-of day: no KPI week, nothing to compare with
        return (start, end), (start, end)
    return (start, end), (start - dt.timedelta(days=n), start - dt.timedelta(days=1))


def _between(col: Any, lo: dt.date | None, hi: dt.date | None) -> ColumnElement[bool]:
    conds = ([col >= lo] if lo else []) + ([col <= hi] if hi else [])
    return and_(true(), *conds)


@data_function
def fulfillment_page(session: Session, *, viewer: Viewer, filters: Filters = ALL, by: str = "warehouse",
                     backlog_limit: int = 500, exception_limit: int = 200) -> FulfilmentPage:
    """The fulfilment page's load: KPIs, summary by ``by``, exceptions, backlog, backlog bands, weekly trend.

    :func:`kpis` and :func:`exceptions` (backlog rows up to ``exception_limit``) are computed here
    only; the summary, backlog, bands and trend equal :func:`sla_summary`, :func:`backlog`
    (``backlog_limit`` rows), :func:`backlog_by_warehouse` and :func:`ontime_trend`
    (``grain="week"``, by ``by``), which serve their exports, but with one grouped read per
    aggregate table: ``agg_fulfil_daily`` by day and group over the range and the two KPI weeks,
    ``agg_fulfil_hist`` by group, measure and bucket tagged with the range and the KPI weeks,
    and the scoped backlog rows; everything else is derived from those small frames.

    Returns
    -------
    FulfilmentPage with ``as_of`` (datetime, the as-of time), ``by`` (str) and the frames
    ``kpis``, ``summary``, ``exceptions``, ``backlog``, ``backlog_bands``, ``trend`` whose
    columns and dtypes are those of the functions named above.
    """
    require_viewer(viewer)
    g_col = _group_col(AggFulfilDaily, by)  # validates ``by``
    now = as_of(session)
    labels = _Labels(session)
    cur, prev = _kpi_weeks(filters, now)
    lo = min(filters.date_from, prev[0]) if filters.date_from else None
    hi = max(filters.date_to, cur[1], prev[1]) if filters.date_to else None
    wide = Filters(date_from=lo, date_to=hi, warehouses=filters.warehouses, channels=filters.channels)

    # agg_fulfil_daily: per day, warehouse and group
    t = AggFulfilDaily
    keys: list[Any] = [t.day, t.warehouse_id.label("wh_key")]
    if g_col is not None and by != "warehouse":
        keys.append(g_col.label("group_key"))
    sums = [func.sum(getattr(t, c)).label(c) for c in _SUMMARY_SUMS]
    stmt = select(*keys, *sums).where(*_where(viewer, t, wide)).group_by(*[k.element if hasattr(k, "element")
                                                                           else k for k in keys])
    daily = pd.DataFrame(session.execute(stmt).all(), columns=[k.name for k in keys] + list(_SUMMARY_SUMS))
    if by == "warehouse":
        daily["group_key"] = daily["wh_key"]
    elif g_col is None:
        daily["group_key"] = None
    daily["day"] = pd.to_datetime(daily["day"])
    daily[list(_SUMMARY_SUMS)] = daily[list(_SUMMARY_SUMS)].apply(pd.to_numeric, errors="coerce").fillna(0)
    daily["group"] = labels.series(by, daily["group_key"])

    def days(df: pd.DataFrame, a: dt.date | None, b: dt.date | None) -> pd.DataFrame:
        m = pd.Series(True, index=df.index)
        if a:
            m &= df["day"] >= pd.Timestamp(a)
        if b:
            m &= df["day"] <= pd.Timestamp(b)
        return df[m]

    in_range = days(daily, filters.date_from, filters.date_to)

    # agg_fulfil_hist: buckets per group, tagged in-range / KPI week (0 none, 1 current, 2 previous)
    h = AggFulfilHist
    hg = _group_col(h, by)
    rng = case((_between(h.day, filters.date_from, filters.date_to), 1), else_=0).label("in_range")
    wk = case((_between(h.day, *cur), 1), (_between(h.day, *prev), 2), else_=0).label("wk")
    hkeys = ([hg.label("group_key")] if hg is not None else []) + [h.measure, h.bucket, rng, wk]
    hstmt = (select(*hkeys, func.sum(h.n).label("n")).where(*_where(viewer, h, wide), h.measure.in_(("c2s", "c2s_bus")))
             .group_by(*[k.element if hasattr(k, "element") else k for k in hkeys]))
    hist = pd.DataFrame(session.execute(hstmt).all(), columns=[k.name for k in hkeys] + ["n"])
    if "group_key" not in hist:
        hist["group_key"] = None
    hist["n"] = pd.to_numeric(hist["n"], errors="coerce").fillna(0)
    hist["group"] = labels.series(by, hist["group_key"])

    # backlog rows in scope and range (the backlog table, the exceptions and the late-and-unshipped tile)
    b = AggFulfilBacklog
    bstmt = select(b.day, b.order_id, b.order_number, b.warehouse_id, b.channel_id, b.seller_id, b.seller_region,
                   b.carrier_id, b.paid_at, b.ship_by, b.lines).where(*_where(viewer, b, filters))
    braw = pd.DataFrame(session.execute(bstmt).all(), columns=[
        "day", "order_id", "order_number", "warehouse_id", "channel_id", "seller_id", "seller_region", "carrier_id",
        "paid_at", "ship_by", "lines"])
    braw["day"] = pd.to_datetime(braw["day"])
    braw["ship_by"] = _dt(braw["ship_by"])
    braw["lines"] = pd.to_numeric(braw["lines"], errors="coerce").fillna(0).astype("int64")
    late_now = braw["ship_by"] < pd.Timestamp(now)
    bl_range = days(braw, filters.date_from, filters.date_to)
    bl_late = late_now.loc[bl_range.index]

    # summary
    bkey = {"all": None, "warehouse": "warehouse_id", "channel": "channel_id", "seller_region": "seller_region",
            "seller": "seller_id", "carrier": "carrier_id"}[by]
    bcounts = pd.DataFrame({
        "group": labels.series(by, bl_range[bkey] if bkey else pd.Series([None] * len(bl_range),
                                                                           index=bl_range.index)),
        "backlog_lines": bl_range["lines"], "late_unshipped_lines": bl_range["lines"].where(bl_late, 0)})
    bcounts = _sum_backlog_counts(bcounts)
    counts = in_range[["group", *_SUMMARY_SUMS]]
    if by == "all" and counts.empty:  # an ungrouped SUM still returns its one row
        counts = pd.DataFrame([{"group": "All", **dict.fromkeys(_SUMMARY_SUMS, 0)}])
    total_c2s = int(counts["c2s_n"].sum())
    use_exact = total_c2s <= EXACT_PERCENTILE_MAX_ROWS
    if use_exact:
        pct = _percentiles(session, viewer=viewer, filters=filters, by=by, exact=True)
    else:
        pct = _hist_percentiles(hist[hist["in_range"] == 1])
    summary = _finish_summary(counts, pct, bcounts, use_exact)

    # KPIs: the two weeks over all groups, histogram median
    rows = []
    week_vals = []
    for tag, (a, z) in ((1, cur), (2, prev)):
        w = days(daily, a, z)
        counted, on_time = float(w["ship_counted"].sum()), float(w["ship_on_time"].sum())
        delivered, del_on_time = float(w["delivered"].sum()), float(w["delivered_on_time"].sum())
        hw = hist[(hist["wk"] == tag) & (hist["measure"] == "c2s")]
        week_vals.append({
            "on_time_ship_rate": on_time / counted * 100.0 if counted > 0 else np.nan,
            "on_time_delivery_rate": del_on_time / delivered * 100.0 if delivered > 0 else np.nan,
            "c2s_median_h": hist_percentile(hw.groupby("bucket")["n"].sum(), 0.5) if len(hw) else np.nan,
            "lines_shipped": counted})
    for name, unit in (("on_time_ship_rate", "%"), ("on_time_delivery_rate", "%"), ("c2s_median_h", "h"),
                       ("lines_shipped", "lines")):
        v, p = week_vals[0][name], week_vals[1][name]
        # No line in the KPI week: no figure, so no change either (not "-2,925 lines").
        change = v - p if week_vals[0]["lines_shipped"] > 0 else np.nan
        rows.append({"kpi": name, "value": v, "previous": p, "change": change, "unit": unit})
    # The backlog of the range (the same rows as the backlog table and the exceptions), not of all dates.
    late_unshipped = float(bl_range["lines"].where(bl_late, 0).sum())
    rows.append({"kpi": "late_unshipped_lines", "value": late_unshipped,
                 "previous": np.nan, "change": np.nan, "unit": "lines"})
    kpi_df = pd.DataFrame(rows, columns=KPI_COLUMNS).astype(
        {"value": "float64", "previous": "float64", "change": "float64"})

    # backlog list (same order as :func:`backlog`), bands, exceptions
    ordered = bl_range.assign(_none=bl_range["ship_by"].isna()).sort_values(
        ["_none", "ship_by", "order_number"], kind="mergesort")
    backlog_df = _backlog_frame(session, ordered.head(max(backlog_limit, exception_limit)), now, labels)
    bands = _backlog_bands(session, bl_range, now, labels)
    if by == "warehouse":
        wh_summary = summary
    else:
        wh = in_range.assign(group=labels.series("warehouse", in_range["wh_key"]))
        wh = wh.groupby("group", as_index=False)[["ship_counted", "ship_on_time"]].sum()
        with np.errstate(divide="ignore", invalid="ignore"):
            wh["on_time_ship_rate"] = np.where(wh["ship_counted"] > 0, wh["ship_on_time"] / wh["ship_counted"], np.nan)
        wh_summary = wh.sort_values("group", ignore_index=True)
    exc = _exceptions_frame(session, viewer, filters, backlog_df.head(exception_limit), wh_summary)

    trend = _trend_frame(in_range, "week")
    n_lines = int(summary["lines"].sum()) + int(bl_range["lines"].sum())
    empty = None if n_lines else _empty_reason(session, viewer, filters)
    note = _exceptions_note(session, viewer, exc, late_unshipped)
    return FulfilmentPage(as_of=now, by=by, kpis=kpi_df, summary=summary, exceptions=exc,
                          backlog=backlog_df.head(backlog_limit).reset_index(drop=True), backlog_bands=bands,
                          trend=trend, empty_reason=empty, exceptions_note=note)


def _span(d: Any) -> str:
    return "the start" if d is None else str(d)[:10]


def _empty_reason(session: Session, viewer: Viewer, filters: Filters) -> str:
    """Why the viewer's page holds no order line, in plain words, and what to change."""
    t = AggFulfilDaily
    scoped = Filters(warehouses=filters.warehouses, channels=filters.channels)
    first, last = session.execute(select(func.min(t.day), func.max(t.day)).where(*_where(viewer, t, scoped))).one()
    if first is not None:
        return (f"{_span(filters.date_from)} to {_span(filters.date_to)} holds no order lines. Your order lines "
                f"run from {_span(first)} to {_span(last)}: pick dates in that span in the sidebar.")
    if (filters.warehouses or filters.channels) and session.scalar(
            select(t.id).where(_scope(viewer, t)).limit(1)) is not None:
        return ("No order lines match the warehouse and channel filters: clear them in the sidebar to see "
                    "every order line you may see.")
    if viewer.is_kind("supplier"):
        return (f"No order lines were sold by {viewer.vendor_code} as a marketplace seller, so there is no "
                "fulfilment to report. This page covers orders you sell yourself; your products' stock and "
                "purchase orders are on the Inventory page.")
    if viewer.is_kind("warehouse"):
        return (f"No orders were placed on the warehouses {viewer.vendor_code} operates, so there is no "
                "fulfilment to report yet. Ask the operations manager to check the warehouse's operator code.")
    if viewer.is_kind("carrier"):
        return f"No shipments were carried by {viewer.vendor_code}, so there is no fulfilment to report."
    return "There are no orders yet: import orders on the Imports page (or seed the demo data) to fill this page."


def _exceptions_note(session: Session, viewer: Viewer, exc: pd.DataFrame, late_unshipped: float) -> str:
    """One sentence on the exceptions, from the same backlog rows and thresholds as the tiles."""
    from ops.decisions import threshold

    alert = threshold(session, viewer=viewer, name=BACKLOG_THRESHOLD).value
    n_back = int((exc["kind"] == "backlog").sum())
    n_wh = int((exc["kind"] == "warehouse").sum())
    late = int(late_unshipped)
    lines = f"{late:,} late and unshipped line{'s' if late != 1 else ''}"
    if n_back:
        back = (f"{lines}; {n_back:,} order{'s are' if n_back != 1 else ' is'} more than the backlog alert age "
                f"({alert:g} h, or the warehouse's own) past the ship-by deadline")
    elif late:
        back = f"{lines}, none more than the backlog alert age ({alert:g} h) past the ship-by deadline"
    else:
        back = "No late and unshipped lines"
    wh = (f"{n_wh} warehouse{'s are' if n_wh != 1 else ' is'} below the on-time ship target" if n_wh
          else "no warehouse is below the on-time ship target")
    return f"{back}; {wh}."


# --- SLA policy (editable by managers) ------------------------------------------------------

SLA_COLUMNS = ["warehouse", "name", "cutoff_time", "business_days", "business_day_names", "handling_days",
               "holidays", "version"]


def _policy_warehouses(viewer: Viewer) -> ColumnElement[bool]:
    """Warehouses whose SLA policy ``viewer`` may read.

    Staff: all. A 3PL: the warehouses it operates. A supplier or carrier: only the warehouses
    that shipped order lines they sold or carried (the lines the page shows them), never the
    whole network with its operators.
    """
    require_viewer(viewer)
    if not viewer.is_vendor:
        return true()
    if viewer.is_kind("warehouse"):
        return access.warehouse_condition(viewer)
    t = AggFulfilDaily
    return Warehouse.id.in_(select(t.warehouse_id).where(_scope(viewer, t), t.warehouse_id.is_not(None)).distinct())


def day_names(business_days: str) -> str:
    """Mon=0 digits as people read them: ``"01234"`` -> ``"Mon, Tue, Wed, Thu, Fri"``."""
    return ", ".join(DOW_NAMES[int(d)] for d in str(business_days or "") if d.isdigit() and int(d) < 7)


@data_function
def sla_policies(session: Session, *, viewer: Viewer) -> pd.DataFrame:
    """The SLA policy of every warehouse relevant to the viewer (see :func:`_policy_warehouses`).

    A vendor other than the warehouse's own 3PL sees the warehouse code as its ``name``: the
    name may carry the operator's (another vendor's) name.

    Returns
    -------
    DataFrame with columns ``warehouse`` (str, code), ``name`` (str), ``cutoff_time`` (str HH:MM),
    ``business_days`` (str, Mon=0 digits), ``business_day_names`` (str, "Mon, Tue, ..."),
    ``handling_days`` (int64), ``holidays`` (int64, own plus global), ``version`` (int64).
    """
    require_viewer(viewer)
    global_n = session.scalar(select(func.count()).select_from(Holiday).where(Holiday.warehouse_id.is_(None))) or 0
    own = dict(session.execute(select(Holiday.warehouse_id, func.count()).where(Holiday.warehouse_id.is_not(None))
                               .group_by(Holiday.warehouse_id)).all())
    show_name = not viewer.is_vendor or viewer.is_kind("warehouse")
    rows = [{"warehouse": w.code, "name": w.name if show_name else w.code,
             "cutoff_time": (w.cutoff_time or dt.time(14)).strftime("%H:%M"),
             "business_days": w.business_days, "business_day_names": day_names(w.business_days),
             "handling_days": int(w.handling_days or 0),
             "holidays": int(global_n + own.get(w.id, 0)), "version": int(w.version or 1)}
            for w in session.scalars(select(Warehouse).where(_policy_warehouses(viewer)).order_by(Warehouse.code))]
    return pd.DataFrame(rows, columns=SLA_COLUMNS).astype({"handling_days": "int64", "holidays": "int64",
                                                           "version": "int64"})


def _parse_cutoff(value: Any, where: str) -> dt.time:
    if isinstance(value, dt.time):
        return value
    try:
        return dt.time.fromisoformat(str(value).strip())
    except ValueError:
        raise ValueError(f"{where}: cut-off {value!r} is not a time (use HH:MM)") from None


def update_sla(session: Session, *, viewer: Viewer, warehouse_code: str, cutoff_time: Any,
               business_days: str, handling_days: int, expected_version: int,
               why: str | None = None) -> int:
    """Change one warehouse's SLA policy, guarded by its version and audited; returns the new version.

    Managers and admins only. Writes one ``decisions`` row (action ``warehouse_sla.set``, entity
    kind ``warehouse_sla``) in the caller's transaction, then rebuilds the fulfilment aggregates
    so derived deadlines follow the new policy. A refused attempt (bad input, stale version, no
    right) raises ``ops.decisions.ValidationError`` / ``StaleEdit`` / ``AccessDenied`` and is
    audited with outcome ``refused``.
    """
    from ops.business_time import _parse_business_days
    from ops.decisions import StaleEdit, ValidationError, record_refusal

    require_viewer(viewer)
    where = f"warehouse {warehouse_code} SLA"
    attempted = {"cutoff_time": str(cutoff_time), "business_days": business_days, "handling_days": handling_days,
                 "expected_version": expected_version}
    refusal: dict[str, Any] = {"viewer": viewer, "action": "warehouse_sla.set", "entity_kind": SLA_ENTITY,
               "entity_key": str(warehouse_code), "attempted": attempted, "why": why}
    try:
        require_role(viewer, "manager", "admin")
        wh = session.execute(select(Warehouse).where(Warehouse.code == warehouse_code)
                             .execution_options(populate_existing=True)).scalar_one_or_none()
        if wh is None:
            raise ValidationError(f"{where}: no warehouse with code {warehouse_code!r}")
        if not str(business_days or "").strip():
            raise ValidationError(f"Pick at least one business day for {warehouse_code}: a warehouse with no "
                                  "business day could never ship on time. Nothing was saved.")
        try:
            cut = _parse_cutoff(cutoff_time, where)
            days = _parse_business_days(str(business_days))
        except ValueError as exc:
            raise ValidationError(str(exc)) from None
        try:
            handling = int(handling_days)
        except (TypeError, ValueError):
            raise ValidationError(f"{where}: handling days {handling_days!r} is not a whole number") from None
        if not 0 <= handling <= 30:
            raise ValidationError(f"{where}: handling days must be 0..30, got {handling}")
        before = {"cutoff_time": wh.cutoff_time.strftime("%H:%M") if wh.cutoff_time else None,
                  "business_days": wh.business_days, "handling_days": wh.handling_days, "version": wh.version}
        if int(expected_version) != int(wh.version):
            raise StaleEdit(f"{where} changed since you loaded it (now version {wh.version}: cut-off "
                            f"{before['cutoff_time']}, days {wh.business_days}, handling {wh.handling_days}); "
                            "nothing was saved. Reload and try again.")
    except (ValidationError, StaleEdit, AccessDenied) as exc:
        record_refusal(session, message=str(exc), **refusal)
        raise
    res = session.execute(update(Warehouse).where(Warehouse.id == wh.id, Warehouse.version == wh.version)
                          .values(cutoff_time=cut, business_days=days, handling_days=handling,
                                  version=Warehouse.version + 1)
                          .execution_options(synchronize_session=False))
    if res.rowcount != 1:  # type: ignore[attr-defined]
        race = StaleEdit(f"{where} was changed by someone else while you were saving; nothing was saved.")
        record_refusal(session, message=str(race), **refusal)
        raise race
    new_version = int(wh.version) + 1
    after = {"cutoff_time": cut.strftime("%H:%M"), "business_days": days, "handling_days": handling,
             "version": new_version}
    session.execute(insert(Decision).values(
        actor=viewer.username, action="warehouse_sla.set", entity_kind=SLA_ENTITY, entity_key=warehouse_code,
        before=json.dumps(before, sort_keys=True), after=json.dumps(after, sort_keys=True), why=why,
        outcome="applied", vendor_code=wh.operator_code))
    refresh(session)
    return new_version


# --- exports (same functions the page shows) -------------------------------------------------


@register("fulfilment_summary_warehouse", title="Fulfilment SLA by warehouse", page=PAGE)
@data_function
def export_summary_warehouse(session: Session, *, viewer: Viewer, filters: Filters) -> pd.DataFrame:
    return sla_summary(session, viewer=viewer, filters=filters, by="warehouse")


@register("fulfilment_summary_channel", title="Fulfilment SLA by channel", page=PAGE)
@data_function
def export_summary_channel(session: Session, *, viewer: Viewer, filters: Filters) -> pd.DataFrame:
    return sla_summary(session, viewer=viewer, filters=filters, by="channel")


@register("fulfilment_summary_seller_state", title="Fulfilment SLA by seller state", page=PAGE)
@data_function
def export_summary_seller_state(session: Session, *, viewer: Viewer, filters: Filters) -> pd.DataFrame:
    return sla_summary(session, viewer=viewer, filters=filters, by="seller_region")


@register("fulfilment_trend", title="On-time ship rate by week", page=PAGE)
@data_function
def export_trend(session: Session, *, viewer: Viewer, filters: Filters) -> pd.DataFrame:
    return ontime_trend(session, viewer=viewer, filters=filters, grain="week", by="warehouse")


@register("fulfilment_c2s_histogram", title="Click-to-ship hours histogram", page=PAGE)
@data_function
def export_c2s(session: Session, *, viewer: Viewer, filters: Filters) -> pd.DataFrame:
    return hours_histogram(session, viewer=viewer, filters=filters, measure="c2s")


@register("fulfilment_late_by", title="Shipped late by how much", page=PAGE)
@data_function
def export_late_by(session: Session, *, viewer: Viewer, filters: Filters) -> pd.DataFrame:
    return hours_histogram(session, viewer=viewer, filters=filters, measure="late")


@register("fulfilment_heatmap", title="Late shipments by weekday and hour paid", page=PAGE)
@data_function
def export_heatmap(session: Session, *, viewer: Viewer, filters: Filters) -> pd.DataFrame:
    return late_heatmap(session, viewer=viewer, filters=filters)


@register("fulfilment_lanes", title="Late deliveries by carrier and lane", page=PAGE)
@data_function
def export_lanes(session: Session, *, viewer: Viewer, filters: Filters) -> pd.DataFrame:
    return lane_attribution(session, viewer=viewer, filters=filters)


@register("fulfilment_lane_weeks", title="On-time delivery by carrier lane and week", page=PAGE)
@data_function
def export_lane_weeks(session: Session, *, viewer: Viewer, filters: Filters) -> pd.DataFrame:
    return lane_weekly(session, viewer=viewer, filters=filters)


@register("fulfilment_findings", title="Late-shipping findings by warehouse and weekday", page=PAGE)
@data_function
def export_findings(session: Session, *, viewer: Viewer, filters: Filters) -> pd.DataFrame:
    return late_findings(session, viewer=viewer, filters=filters)


@register("fulfilment_backlog", title="Backlog: orders not shipped", page=PAGE)
@data_function
def export_backlog(session: Session, *, viewer: Viewer, filters: Filters) -> pd.DataFrame:
    return backlog(session, viewer=viewer, filters=filters)


@register("fulfilment_kpis", title="Fulfilment KPIs, week over week", page=PAGE)
@data_function
def export_kpis(session: Session, *, viewer: Viewer, filters: Filters) -> pd.DataFrame:
    return kpis(session, viewer=viewer, filters=filters)


@register("fulfilment_exceptions", title="Fulfilment exceptions", page=PAGE)
@data_function
def export_exceptions(session: Session, *, viewer: Viewer, filters: Filters) -> pd.DataFrame:
    return exceptions(session, viewer=viewer, filters=filters)


@register("fulfilment_sla_policies", title="Warehouse SLA policies", page=PAGE)
@data_function
def export_sla(session: Session, *, viewer: Viewer, filters: Filters) -> pd.DataFrame:
    return sla_policies(session, viewer=viewer)
