"""Inventory health: what will run out, what is stuck, what is worth acting on.

Definitions (the numbers every table, export and test of this page share)
-------------------------------------------------------------------------
- **As-of day**: the last inventory snapshot day in the database (never the wall clock).
- **Demand**: units on ``order_lines`` of orders not cancelled, on the day the order was
  placed, attributed to the order's warehouse (orders without a warehouse are not counted).
  Revenue is ``qty * unit_price`` of the same lines.
- **Window**: the ``W`` days ending on the as-of day, ``W`` in 28/56/84/112 (snapshots are daily
  for the last 120 days only, weekly before).
- **Stockout day**: a day whose end-of-day ``on_hand`` snapshot is <= 0. A day without a
  snapshot counts as in stock.
- **On hand**: the snapshot of the as-of day (0 when the pair has none). **On order**: open PO
  lines (``qty_ordered - qty_received`` > 0 on POs with status ``open``), by the PO's warehouse.
- Average daily demand, days of cover, projected stockout, gap, ABC / XYZ / demand pattern:
  see :mod:`ops.inventory_math`. An open PO expected before the as-of day counts as arriving the
  day after it, flagged ``po_overdue``; an open PO without an expected date counts in on order
  but not in the projection.
- **Lost sales** (window) = average daily demand x stockout days in the window (units), x the
  product's list price (revenue).
- **Lead time**: the product's, else its supplier's stated lead time, else
  ``DEFAULT_LEAD_TIME_DAYS``.
- **Aging**: the whole on-hand quantity of a pair is aged by days since its last receipt
  (a received PO line on or before the as-of day); never received = oldest bucket.
- **Excess**: projected position (on hand + on order) above ``excess_cover_days`` x average
  daily demand; ``po_excess_units`` is the part that open POs would add. **Dead stock**: on hand
  > 0 and no sale for ``dead_stock_days`` (or never).
- **ABC** is computed within the rows the viewer sees (scope and warehouse filter) on the
  52-week revenue (or units). **XYZ / pattern** of a SKU use its total weekly demand over all
  warehouses; of a SKU x warehouse, that pair's own weekly demand.

Exceptions (what needs action now), sorted by value at risk
-----------------------------------------------------------
- ``stockout``: demand > 0 and the projected stockout falls within
  max(lead time, ``cover_warning_days``) days; value at risk = lost revenue from the stockout
  until the next PO lands after it (or, with none, until an order placed today would arrive).
- ``excess``: excess units > 0 (not dead); value at risk = excess units x unit cost.
- ``dead``: dead stock; value at risk = on hand x unit cost.
Each row carries the threshold (name, value, source) that put it there. Acknowledged rows,
and snoozed rows whose ``snooze_until`` is on or after the as-of day, leave the open list.
"""

from __future__ import annotations

import datetime as dt
import gc
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import (
    Date,
    Integer,
    String,
    and_,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    select,
    type_coerce,
    union,
)
from sqlalchemy.orm import Session

from ops import access
from ops import inventory_math as im
from ops.access import Viewer, data_function, require_viewer
from ops.aggregates import refresher
from ops.decisions import define_entity_kind, entity_states, thresholds_for
from ops.decisions import resolve as resolve_threshold
from ops.decisions import resolve_frame as resolve_threshold_frame
from ops.exports import register
from ops.filters import ALL, Filters
from ops.models import (
    AggInventoryPair,
    AggInventoryPo,
    AggInventorySku,
    InventorySnapshot,
    Order,
    OrderLine,
    Product,
    PurchaseOrder,
    PurchaseOrderLine,
    Supplier,
    Warehouse,
)

WINDOWS = im.WINDOWS
DEFAULT_WINDOW = 28
DEFAULT_LEAD_TIME_DAYS = 14
KPI_WINDOW = 28
ENTITY_KIND = "inventory_exception"
EXCEPTION_KINDS = ("stockout", "excess", "dead")
PAIR_THRESHOLDS = ("cover_warning_days", "excess_cover_days", "dead_stock_days")
HIDDEN_STATES = ("acknowledged", "snoozed")


# --- ownership of exception rows (vendors may act on their own SKUs) -----------------------


def exception_key(kind: str, sku: str, warehouse: str) -> str:
    """The entity key of an exception row: ``kind:sku:warehouse``."""
    return f"{kind}:{sku}:{warehouse}"


def _exception_owner(session: Session, key: str) -> str | None:
    parts = str(key).split(":")
    if len(parts) < 3 or parts[0] not in EXCEPTION_KINDS:
        return None
    sku = ":".join(parts[1:-1])
    return session.scalar(
        select(Supplier.code).join(Product, Product.supplier_id == Supplier.id).where(Product.sku == sku)
    )


define_entity_kind(ENTITY_KIND, label="Inventory exception", owner=_exception_owner, page="inventory")


# --- the refresher: SQL INSERT ... SELECT into agg_inventory_* -------------------------------


def _days_before(session: Session, as_of: dt.date, col: Any) -> Any:
    """Whole days from ``col`` (a date or timestamp) to ``as_of``, in SQL, per dialect."""
    if session.get_bind().dialect.name == "sqlite":
        return cast(func.julianday(as_of.isoformat()) - func.julianday(func.date(col)), Integer)
    return cast(literal(as_of, Date) - cast(col, Date), Integer)


def _as_day(session: Session, col: Any) -> Any:
    if session.get_bind().dialect.name == "sqlite":
        return func.date(col)
    return cast(col, Date)


def _sum_if(cond: Any, value: Any) -> Any:
    return func.coalesce(func.sum(case((cond, value), else_=0)), 0)


@refresher("inventory")
def refresh_inventory(session: Session) -> None:
    """Rebuild ``agg_inventory_pair``, ``agg_inventory_sku`` and ``agg_inventory_po`` for the as-of day."""
    for table in (AggInventoryPair, AggInventorySku, AggInventoryPo):
        session.execute(delete(table))
    as_of = session.scalar(select(func.max(InventorySnapshot.day)))
    if as_of is None:
        return
    if isinstance(as_of, str):  # SQLite aggregate of a Date column comes back as text
        as_of = dt.date.fromisoformat(as_of)
    end = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time.min)

    # Open PO lines first: the pair table reads them back.
    qty_open = PurchaseOrderLine.qty_ordered - PurchaseOrderLine.qty_received
    session.execute(insert(AggInventoryPo).from_select(
        ["product_id", "warehouse_id", "po_number", "ordered_on", "expected_on", "qty_open"],
        select(PurchaseOrderLine.product_id, PurchaseOrder.warehouse_id, PurchaseOrder.po_number,
               PurchaseOrder.ordered_on, PurchaseOrder.expected_on, qty_open)
        .join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.po_id)
        .where(PurchaseOrder.status == "open", qty_open > 0, PurchaseOrder.ordered_on <= as_of),
    ))

    # SKU-level weekly stats over all warehouses (for the SKU's XYZ class and demand pattern);
    # the pair table copies them in below.
    wk2 = (_days_before(session, as_of, Order.placed_at) // 7).label("wk")
    sku_weekly = (
        select(OrderLine.product_id, wk2, func.sum(OrderLine.qty).label("u"),
               func.sum(OrderLine.qty * OrderLine.unit_price).label("rev"))
        .join(Order, Order.id == OrderLine.order_id)
        .where(Order.status != "cancelled", Order.warehouse_id.is_not(None), Order.placed_at < end,
               Order.placed_at >= end - dt.timedelta(days=7 * im.WEEKS))
        .group_by(OrderLine.product_id, wk2)
        .subquery()
    )
    su = sku_weekly.c.u
    session.execute(insert(AggInventorySku).from_select(
        ["product_id", "as_of", "wk_units", "wk_revenue", "wk_nonzero", "wk_sumsq"],
        select(sku_weekly.c.product_id, literal(as_of, Date), func.sum(su), func.sum(sku_weekly.c.rev),
               _sum_if(su > 0, 1), func.sum(su * su))
        .group_by(sku_weekly.c.product_id),
    ))

    # Demand per pair and week (week 0 = the 7 days ending on as_of), then per pair.
    wk = (_days_before(session, as_of, Order.placed_at) // 7).label("wk")
    weekly = (
        select(OrderLine.product_id, Order.warehouse_id, wk,
               func.sum(OrderLine.qty).label("u"),
               func.sum(OrderLine.qty * OrderLine.unit_price).label("rev"),
               func.max(Order.placed_at).label("last_at"))
        .join(Order, Order.id == OrderLine.order_id)
        .where(Order.status != "cancelled", Order.warehouse_id.is_not(None), Order.placed_at < end)
        .group_by(OrderLine.product_id, Order.warehouse_id, wk)
        .subquery()
    )
    u, rev, w = weekly.c.u, weekly.c.rev, weekly.c.wk
    demand_cols = [
        *[_sum_if(w < n // 7, u).label(f"units_{n}") for n in WINDOWS],
        *[_sum_if(w < n // 7, rev).label(f"revenue_{n}") for n in WINDOWS],
        _sum_if(and_(w >= 1, w <= KPI_WINDOW // 7), u).label("units_prev_28"),
        _sum_if(w < im.WEEKS, u).label("wk_units"),
        _sum_if(w < im.WEEKS, rev).label("wk_revenue"),
        _sum_if(and_(w < im.WEEKS, u > 0), 1).label("wk_nonzero"),
        _sum_if(w < im.WEEKS, u * u).label("wk_sumsq"),
    ]
    demand = (
        select(weekly.c.product_id, weekly.c.warehouse_id, *demand_cols,
               _as_day(session, func.max(weekly.c.last_at)).label("last_sale"))
        .group_by(weekly.c.product_id, weekly.c.warehouse_id)
        .cte("inv_demand")
    )

    # Stock: on hand today and a week ago, stockout days per window, from daily snapshots.
    S = InventorySnapshot
    out = S.on_hand <= 0
    first = as_of - dt.timedelta(days=max(WINDOWS) - 1)
    stock = (
        select(S.product_id, S.warehouse_id,
               func.max(case((S.day == as_of, S.on_hand))).label("on_hand"),
               func.max(case((S.day == as_of - dt.timedelta(days=7), S.on_hand))).label("on_hand_prev"),
               *[_sum_if(and_(out, S.day > as_of - dt.timedelta(days=n)), 1).label(f"stockout_{n}")
                 for n in WINDOWS],
               _sum_if(and_(out, S.day <= as_of - dt.timedelta(days=7),
                            S.day > as_of - dt.timedelta(days=7 + KPI_WINDOW)), 1).label("stockout_prev_28"))
        .where(S.day >= first, S.day <= as_of)
        .group_by(S.product_id, S.warehouse_id)
        .cte("inv_stock")
    )
    P = AggInventoryPo
    po = (
        select(P.product_id, P.warehouse_id, func.sum(P.qty_open).label("on_order"),
               func.min(P.expected_on).label("next_po"))
        .group_by(P.product_id, P.warehouse_id)
        .cte("inv_po")
    )
    receipts = (
        select(PurchaseOrderLine.product_id, PurchaseOrder.warehouse_id,
               func.max(PurchaseOrderLine.received_on).label("last_receipt"))
        .join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.po_id)
        .where(PurchaseOrderLine.qty_received > 0, PurchaseOrderLine.received_on <= as_of)
        .group_by(PurchaseOrderLine.product_id, PurchaseOrder.warehouse_id)
        .cte("inv_receipts")
    )
    base = union(
        select(stock.c.product_id, stock.c.warehouse_id),
        select(po.c.product_id, po.c.warehouse_id),
    ).subquery("inv_base")

    def on(sub: Any) -> Any:
        return and_(sub.c.product_id == base.c.product_id, sub.c.warehouse_id == base.c.warehouse_id)

    zero = func.coalesce
    K = AggInventorySku
    cols: dict[str, Any] = {
        "product_id": base.c.product_id,
        "warehouse_id": base.c.warehouse_id,
        # what the page shows and scopes on, copied so that it reads this one table
        "sku": Product.sku,
        "name": Product.name,
        "category": Product.category,
        "supplier": Supplier.code,
        "warehouse": Warehouse.code,
        "unit_cost": Product.unit_cost,
        "price": Product.price,
        "lead_time_days": zero(Product.lead_time_days, Supplier.lead_time_days, DEFAULT_LEAD_TIME_DAYS),
        "sku_wk_units": K.wk_units,
        "sku_wk_nonzero": K.wk_nonzero,
        "sku_wk_sumsq": K.wk_sumsq,
        "as_of": literal(as_of, Date),
        "on_hand": zero(stock.c.on_hand, 0),
        "on_hand_prev": zero(stock.c.on_hand_prev, 0),
        **{f"units_{n}": zero(demand.c[f"units_{n}"], 0) for n in WINDOWS},
        **{f"revenue_{n}": zero(demand.c[f"revenue_{n}"], 0.0) for n in WINDOWS},
        **{f"stockout_{n}": zero(stock.c[f"stockout_{n}"], 0) for n in WINDOWS},
        "units_prev_28": zero(demand.c.units_prev_28, 0),
        "stockout_prev_28": zero(stock.c.stockout_prev_28, 0),
        "wk_units": zero(demand.c.wk_units, 0),
        "wk_revenue": zero(demand.c.wk_revenue, 0.0),
        "wk_nonzero": zero(demand.c.wk_nonzero, 0),
        "wk_sumsq": zero(demand.c.wk_sumsq, 0.0),
        "last_sale": demand.c.last_sale,
        "last_receipt": receipts.c.last_receipt,
        "on_order": zero(po.c.on_order, 0),
        "next_po": po.c.next_po,
    }
    final = (
        select(*[v.label(k) for k, v in cols.items()])
        .select_from(base)
        .outerjoin(stock, on(stock))
        .outerjoin(demand, on(demand))
        .outerjoin(po, on(po))
        .outerjoin(receipts, on(receipts))
        .join(Product, Product.id == base.c.product_id)
        .join(Warehouse, Warehouse.id == base.c.warehouse_id)
        .outerjoin(Supplier, Supplier.id == Product.supplier_id)
        .outerjoin(K, K.product_id == base.c.product_id)
        # in the order the page shows them, so that its plain table scan needs no sort
        .order_by(Product.sku, Warehouse.code)
    )
    session.execute(insert(AggInventoryPair).from_select(list(cols), final))


# --- reading ---------------------------------------------------------------------------------


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a page's frames are built (re-entrant).

    Building them allocates ~0.5 M short-lived objects (row tuples, their values, strings) and
    none of them is cyclic garbage, but the allocations trigger collections that rescan every
    live object in the process; at bench size these cost 0.25-0.8 s in some warm calls against
    ~0.3 s for the work itself. Reference counting still frees everything as usual.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _check_window(window: int) -> int:
    if int(window) not in WINDOWS:
        raise ValueError(f"window must be one of {', '.join(map(str, WINDOWS))} days (got {window!r})")
    return int(window)


def _scope(viewer: Viewer, filters: Filters, wh_col: Any) -> list[Any]:
    # product_condition: supplier vendors see their own SKUs; carrier and 3PL vendors, who are not
    # given this page, get nothing.
    conds = [access.product_condition(viewer)]
    if wh_col is not None and filters.warehouses:
        conds.append(wh_col.in_(list(filters.warehouses)))
    return conds


def _to_date(s: pd.Series) -> pd.Series:
    """ISO text (SQLite) or date objects (PostgreSQL) to datetime64 days, vectorised."""
    if len(s) and isinstance(s.dropna().iloc[0] if s.notna().any() else None, str):
        return pd.to_datetime(s, format="ISO8601", errors="coerce").dt.normalize()
    return pd.to_datetime(s, errors="coerce")


def _text(col: Any) -> Any:
    # Read dates as ISO text and parse them once, vectorised, in pandas (much cheaper than the
    # per-row date processor at ~30k rows).
    return type_coerce(col, String)


def _pair_scope(viewer: Viewer) -> Any:
    """:func:`ops.access.product_condition` on the supplier code copied into ``agg_inventory_pair``.

    Supplier vendors see their own SKUs; carrier and 3PL vendors, who are not given this page,
    get nothing. (Comparing the copied code costs ~3 ms at bench size where a ``product_id IN
    (SELECT ... FROM products)`` subquery costs 10-20 ms more than no condition at all.)
    """
    return access.product_by_supplier_code(viewer, AggInventoryPair.supplier)


_PAIR_BASE_COLS = [
    "sku", "name", "category", "unit_cost", "price", "lead_time_days", "supplier", "warehouse",
    "on_hand", "on_hand_prev", "units", "revenue", "stockout_days", "units_28", "stockout_28",
    "units_prev_28", "stockout_prev_28", "wk_units", "wk_revenue", "wk_nonzero", "wk_sumsq",
    "last_sale", "last_receipt", "on_order", "sku_wk_units", "sku_wk_nonzero", "sku_wk_sumsq",
]
_PAIR_FLOAT_COLS = frozenset({"unit_cost", "price", "revenue", "wk_revenue", "wk_sumsq", "sku_wk_sumsq"})
_PAIR_INT_COLS = frozenset({"lead_time_days", "on_hand", "on_hand_prev", "units", "stockout_days",
                            "units_28", "stockout_28", "units_prev_28", "stockout_prev_28", "wk_units",
                            "wk_nonzero", "on_order", "sku_wk_units", "sku_wk_nonzero"})


def _read_pairs(session: Session, viewer: Viewer, filters: Filters, window: int) -> pd.DataFrame:
    A = AggInventoryPair.__table__.c
    # One table, no join: the refresher copied the product, supplier and warehouse attributes in.
    conds = [_pair_scope(viewer)]
    if filters.warehouses:
        conds.append(A.warehouse.in_(list(filters.warehouses)))
    picked = {"units": A[f"units_{window}"], "revenue": A[f"revenue_{window}"],
              "stockout_days": A[f"stockout_{window}"], "last_sale": _text(A.last_sale),
              "last_receipt": _text(A.last_receipt)}
    # each column once (units_28 is also "units" at the 28-day window)
    fetched = list(dict.fromkeys(picked[c] if c in picked else A[c] for c in _PAIR_BASE_COLS))
    stmt = select(*fetched).where(*conds)
    # Core execution and one array per column: the ORM row path and pandas' row-wise object
    # inference cost more than the SQL itself at ~15k rows x 27 columns. With the collector
    # paused the fetch is 60-90 ms at bench size, 120-140 ms without.
    with _gc_paused():
        rows = session.connection().execute(stmt).fetchall()
        by_col = dict(zip(fetched, zip(*rows, strict=True), strict=True)) if rows else {}
        del rows
        data: dict[str, Any] = {}
        for name in _PAIR_BASE_COLS:
            values = by_col.get(picked[name] if name in picked else A[name], ())
            if name in _PAIR_FLOAT_COLS or (name in _PAIR_INT_COLS and None in values):
                data[name] = np.array(values, dtype="float64")  # None -> NaN, as pandas infers it
            elif name in _PAIR_INT_COLS:
                data[name] = np.array(values, dtype="int64")
            else:
                data[name] = np.array(values, dtype=object)
        del by_col
    df = pd.DataFrame(data, columns=_PAIR_BASE_COLS)
    # The refresher writes the rows in (sku, warehouse) order and a plain table scan returns
    # them so; sort only when they are not (cheaper than ORDER BY's temporary B-tree in SQLite).
    sku, wh = data["sku"], data["warehouse"]
    if len(df) > 1 and not bool(np.all((sku[1:] > sku[:-1]) | ((sku[1:] == sku[:-1]) & (wh[1:] >= wh[:-1])))):
        df = df.sort_values(["sku", "warehouse"], kind="mergesort", ignore_index=True)
    as_of = session.scalar(select(_text(A.as_of)).limit(1)) if len(df) else None
    # one value for the whole table: parse it once and repeat it
    df.insert(8, "as_of", np.repeat(_to_date(pd.Series([as_of], dtype=object)).to_numpy(), len(df)))
    for c in ("last_sale", "last_receipt"):
        df[c] = _to_date(df[c])
    return df


def _read_open_pos(session: Session, viewer: Viewer, filters: Filters) -> pd.DataFrame:
    P = AggInventoryPo
    stmt = (
        select(Product.sku, Warehouse.code, P.po_number, _text(P.ordered_on), _text(P.expected_on), P.qty_open)
        .join(Product, Product.id == P.product_id)
        .join(Warehouse, Warehouse.id == P.warehouse_id)
        .outerjoin(Supplier, Supplier.id == Product.supplier_id)
        .where(*_scope(viewer, filters, Warehouse.code))
        .order_by(Product.sku, Warehouse.code, P.expected_on, P.po_number)
    )
    df = pd.DataFrame(session.connection().execute(stmt).fetchall(),
                      columns=["sku", "warehouse", "po_number", "ordered_on", "expected_on", "qty_open"])
    df["ordered_on"] = _to_date(df["ordered_on"])
    df["expected_on"] = _to_date(df["expected_on"])
    df["qty_open"] = df["qty_open"].astype("int64")
    return df


# --- the page's data ------------------------------------------------------------------------


def _renumbered(df: pd.DataFrame) -> pd.DataFrame:
    """``df.reset_index(drop=True)`` for a frame nobody else holds, without copying its columns."""
    df.index = pd.RangeIndex(len(df))
    return df


@dataclass(frozen=True)
class InventoryHealth:
    """Everything the inventory page shows, computed once per (viewer, filters, window)."""

    as_of: dt.date | None
    window: int
    positions: pd.DataFrame
    skus: pd.DataFrame
    exceptions: pd.DataFrame
    aging: pd.DataFrame
    kpis: pd.DataFrame
    open_pos: pd.DataFrame
    thresholds: pd.DataFrame


def _thresholds(session: Session, viewer: Viewer, pairs: pd.DataFrame, overrides: dict[str, float] | None
                ) -> tuple[pd.DataFrame, dict[str, Any]]:
    stored = thresholds_for(session, viewer=viewer)
    frame = pairs[["sku", "category", "warehouse"]].rename(columns={"warehouse": "wh"})
    for name in PAIR_THRESHOLDS:
        r = resolve_threshold_frame(stored, frame, name=name,
                                    columns={"sku": "sku", "warehouse": "wh", "category": "category"})
        src = r["source_scope"].astype(object)
        present = set(pd.unique(src.to_numpy()))
        for kind, col in (("sku", "sku"), ("category", "category"), ("warehouse", "wh")):
            if kind in present:  # name the key only where an override applies (most rows use global/default)
                hit = src == kind
                src[hit] = kind + " " + frame.loc[hit, col].astype(str)
        keys = src
        pairs[name] = r["value"].astype("float64")
        pairs[f"{name}_source"] = keys
        if overrides and name in overrides:
            pairs[name] = float(overrides[name])
            pairs[f"{name}_source"] = "what-if"
    glob = {n: resolve_threshold(stored, None, name=n) for n in ("abc_a_cut", "abc_b_cut", *PAIR_THRESHOLDS)}
    return stored, glob


def _add_days(as_of: Any, days: np.ndarray) -> np.ndarray:
    """``as_of + days`` as datetime64[ns] (NaN days -> NaT): ``pd.to_timedelta(days, unit="D")``
    for whole days, without its per-call overhead."""
    d = np.asarray(days, dtype="float64")
    out = np.full(len(d), np.datetime64("NaT"), dtype="datetime64[ns]")
    ok = ~np.isnan(d)
    start = pd.Timestamp(as_of).to_datetime64().astype("datetime64[ns]")
    out[ok] = start + d[ok].astype("int64").astype("timedelta64[D]")
    return out


def _positions(pairs: pd.DataFrame, pos: pd.DataFrame, window: int) -> pd.DataFrame:
    as_of = pairs["as_of"].iloc[0] if len(pairs) else pd.NaT
    p = pairs
    in_stock = window - p["stockout_days"]
    p["avg_daily_demand"] = np.where(in_stock > 0, p["units"] / in_stock.where(in_stock > 0, 1), 0.0)
    rate = p["avg_daily_demand"]
    p["days_of_cover"] = np.where(p["on_hand"] <= 0, 0.0,
                                  np.where(rate > 0, p["on_hand"] / rate.where(rate > 0, 1), math.inf))
    # projection with open POs by expected date (overdue -> day 1); pairs are keyed by their row
    # position (integer keys make the projection's grouping and lookups cheap)
    n = len(p)
    pair_at = pd.Index(p["sku"] + "\x1f" + p["warehouse"])  # (sku, warehouse) is unique
    arr = pos[pos["expected_on"].notna()]
    at = pair_at.get_indexer(arr["sku"] + "\x1f" + arr["warehouse"]) if len(arr) else np.zeros(0, dtype="int64")
    day = ((arr["expected_on"] - as_of).dt.days.clip(lower=1).to_numpy(dtype="int64") if len(arr)
           else np.zeros(0, dtype="int64"))
    mine = at >= 0  # POs of pairs not shown (other warehouses) do not count
    proj = im.project_stockouts(
        pd.DataFrame({"key": np.arange(n), "on_hand": p["on_hand"].to_numpy(), "rate": rate.to_numpy()},
                     index=p.index),
        pd.DataFrame({"key": at[mine], "day": day[mine], "qty": arr["qty_open"].to_numpy(dtype=float)[mine]}))
    p["days_to_stockout"] = proj["stockout_day"]
    p["projected_stockout"] = _add_days(as_of, proj["stockout_day"].to_numpy())
    p["gap_days"] = proj["gap_days"]
    first_day = np.full(n, np.nan)
    np.fmin.at(first_day, at[mine], day[mine].astype(float))
    p["next_po"] = _add_days(as_of, first_day)
    overdue = np.zeros(n, dtype=bool)
    if len(arr):
        overdue[at[mine & (arr["expected_on"] < as_of).to_numpy()]] = True
    p["po_overdue"] = overdue
    p["out_of_stock"] = p["on_hand"] <= 0
    p["lost_units"] = rate * p["stockout_days"]
    p["lost_revenue"] = p["lost_units"] * p["price"]
    p["stock_value"] = p["on_hand"].clip(lower=0) * p["unit_cost"]
    p["days_since_receipt"] = (as_of - p["last_receipt"]).dt.days
    p["days_since_sale"] = (as_of - p["last_sale"]).dt.days
    p["age_bucket"] = im.age_bucket(p["days_since_receipt"])
    ws = im.weekly_stats_frame(p["wk_nonzero"], p["wk_units"], p["wk_sumsq"])
    p["cv"] = ws["cv"]
    p["xyz"] = im.xyz_class(ws["cv"])
    p["pattern"] = im.demand_pattern(ws["adi"], ws["cv2"])
    return p


def _flag(p: pd.DataFrame) -> pd.DataFrame:
    rate = p["avg_daily_demand"]
    target = rate * p["excess_cover_days"]
    position = p["on_hand"].clip(lower=0) + p["on_order"]
    p["dead"] = (p["on_hand"] > 0) & (p["days_since_sale"].isna() | (p["days_since_sale"] >= p["dead_stock_days"]))
    p["excess_units"] = np.where(p["dead"], 0.0, (position - target).clip(lower=0))
    p["po_excess_units"] = np.minimum(p["excess_units"], p["on_order"].astype(float))
    p["excess_value"] = p["excess_units"] * p["unit_cost"]
    p["at_risk"] = (rate > 0) & (p["days_of_cover"] < p["cover_warning_days"])
    return p


def _exceptions(session: Session, viewer: Viewer, p: pd.DataFrame, as_of: Any, include_closed: bool
                ) -> pd.DataFrame:
    rate = p["avg_daily_demand"]
    lead = p["lead_time_days"].astype(float)
    horizon = np.maximum(lead, p["cover_warning_days"])
    by_cover = p["cover_warning_days"] >= lead
    common = ["sku", "name", "warehouse", "supplier", "on_hand", "on_order", "avg_daily_demand", "days_of_cover",
              "projected_stockout", "next_po", "gap_days", "po_overdue"]
    # each kind takes only the columns it uses (fewer columns to copy out of the wide frame)
    stock = p.loc[(rate > 0) & p["days_to_stockout"].notna() & (p["days_to_stockout"] <= horizon),
                  [*common, "price", "lead_time_days", "days_to_stockout", "cover_warning_days",
                   "cover_warning_days_source"]]
    so = stock["days_to_stockout"]
    uncovered = stock["gap_days"].where(stock["gap_days"].notna(),
                                        (stock["lead_time_days"] - so).clip(lower=0))
    stock["value_at_risk"] = stock["avg_daily_demand"] * uncovered * stock["price"]
    stock["days_uncovered"] = uncovered
    bc = by_cover.loc[stock.index]
    stock["threshold"] = np.where(bc, "cover_warning_days", "lead_time_days")
    stock["threshold_value"] = np.where(bc, stock["cover_warning_days"], stock["lead_time_days"].astype(float))
    stock["threshold_source"] = np.where(bc, stock["cover_warning_days_source"], "product / supplier lead time")
    stock["kind"] = "stockout"
    days = np.datetime_as_string(stock["projected_stockout"].to_numpy(dtype="datetime64[ns]"), unit="D")
    stock["detail"] = [
        f"out in {d:.0f} d ({s})" + (f"; PO lands {g:.0f} d later" if not math.isnan(g) else "; no PO after")
        + ("; PO overdue" if o else "")
        for d, s, g, o in zip(so, days, stock["gap_days"], stock["po_overdue"], strict=True)
    ]
    exc = p.loc[p["excess_units"] > 0,
                [*common, "excess_units", "po_excess_units", "excess_value", "excess_cover_days",
                 "excess_cover_days_source"]]
    exc["value_at_risk"] = exc["excess_value"]
    exc["days_uncovered"] = np.nan
    exc["threshold"] = "excess_cover_days"
    exc["threshold_value"] = exc["excess_cover_days"]
    exc["threshold_source"] = exc["excess_cover_days_source"]
    exc["kind"] = "excess"
    exc["detail"] = [f"{e:,.0f} units above target" + (f" ({q:,.0f} from open POs)" if q > 0 else "")
                     for e, q in zip(exc["excess_units"], exc["po_excess_units"], strict=True)]
    dead = p.loc[p["dead"], [*common, "stock_value", "days_since_sale", "dead_stock_days", "dead_stock_days_source"]]
    dead["value_at_risk"] = dead["stock_value"]
    dead["days_uncovered"] = np.nan
    dead["threshold"] = "dead_stock_days"
    dead["threshold_value"] = dead["dead_stock_days"]
    dead["threshold_source"] = dead["dead_stock_days_source"]
    dead["kind"] = "dead"
    dead["detail"] = ["never sold" if math.isnan(d) else f"no sale for {d:.0f} d" for d in dead["days_since_sale"]]
    cols = ["kind", "sku", "name", "warehouse", "supplier", "value_at_risk", "detail", "threshold",
            "threshold_value", "threshold_source", "on_hand", "on_order", "avg_daily_demand", "days_of_cover",
            "projected_stockout", "next_po", "gap_days", "po_overdue", "days_uncovered"]
    ex = pd.concat([stock[cols], exc[cols], dead[cols]])
    row = ex.index.to_numpy()  # the row in p, which is in (sku, warehouse) order (see _read_pairs)
    ex.index = pd.RangeIndex(len(ex))  # what reset_index(drop=True) gives, without its full copy
    ex["entity_key"] = ex["kind"] + ":" + ex["sku"] + ":" + ex["warehouse"]  # exception_key, vectorised
    states = entity_states(session, viewer=viewer, entity_kind=ENTITY_KIND)
    st = states.set_index("entity_key") if len(states) else pd.DataFrame(
        columns=["state", "note", "snooze_until", "version"])
    ex["state"] = ex["entity_key"].map(st["state"]).fillna("open")
    ex["note"] = ex["entity_key"].map(st["note"])
    ex["snooze_until"] = _to_date(ex["entity_key"].map(st["snooze_until"]))
    ex["version"] = ex["entity_key"].map(st["version"]).fillna(0).astype("int64")
    closed = (ex["state"] == "acknowledged") | ((ex["state"] == "snoozed") & (ex["snooze_until"] >= as_of))
    # value at risk descending (NaN last), then kind, sku, warehouse: the order of
    # sort_values(["value_at_risk", "kind", "sku", "warehouse"], ascending=[False, True, True, True]),
    # by one numeric lexsort (kind by its alphabetical rank, sku and warehouse by the row in p)
    kinds = ex["kind"].to_numpy()
    kind_rank = np.searchsorted(np.array(sorted(EXCEPTION_KINDS), dtype=object), kinds)
    order = np.lexsort((row, kind_rank, -ex["value_at_risk"].to_numpy(dtype="float64")))
    if not include_closed:
        order = order[~closed.to_numpy()[order]]
    ex = ex.take(order)
    ex.index = pd.RangeIndex(len(ex))
    return ex


def _skus(p: pd.DataFrame, stats: pd.DataFrame, glob: dict[str, Any], abc_by: str) -> pd.DataFrame:
    sku = p["sku"].to_numpy()
    sums_cols = ["on_hand", "on_order", "units", "revenue", "stockout_days", "avg_daily_demand", "lost_units",
                 "lost_revenue", "stock_value", "wk_units", "wk_revenue"]
    if len(p) and bool(np.all(sku[1:] >= sku[:-1])):
        # Rows come sorted by SKU (see _read_pairs): group on integer run numbers rather than
        # factorising the SKU strings; name / category / supplier are the product's, so the first
        # row of each SKU is what groupby().first() returns.
        first = np.r_[True, sku[1:] != sku[:-1]]
        starts = np.flatnonzero(first)
        g = p.groupby(np.cumsum(first) - 1, sort=True)
        s = p[["name", "category", "supplier"]].take(starts)
        s.index = pd.Index(sku[starts], name="sku")
        s["warehouses"] = g["warehouse"].size().to_numpy()
        sums = g[sums_cols].sum()
        sums.index = s.index
        s = s.join(sums.rename(columns={"wk_units": "units_52w", "wk_revenue": "revenue_52w"}))
        s["earliest_stockout"] = g["projected_stockout"].min().to_numpy()
    else:
        g = p.groupby("sku", sort=True)
        s = g[["name", "category", "supplier"]].first()
        s["warehouses"] = g["warehouse"].size()
        s = s.join(g[sums_cols].sum().rename(columns={"wk_units": "units_52w", "wk_revenue": "revenue_52w"}))
        s["earliest_stockout"] = g["projected_stockout"].min()
    rate = s["avg_daily_demand"]
    s["days_of_cover"] = np.where(s["on_hand"] <= 0, 0.0, np.where(rate > 0, s["on_hand"] / rate.where(rate > 0, 1),
                                                                      math.inf))
    basis = s["revenue_52w"] if abc_by == "revenue" else s["units_52w"]
    s["abc"] = im.abc_classes(basis, a_cut=glob["abc_a_cut"].value, b_cut=glob["abc_b_cut"].value)
    st = stats.set_index("sku").reindex(s.index)
    ws = im.weekly_stats_frame(st["wk_nonzero"].fillna(0), st["wk_units"].fillna(0), st["wk_sumsq"].fillna(0))
    s["cv"] = ws["cv"]
    s["adi"] = ws["adi"]
    s["cv2"] = ws["cv2"]
    s["xyz"] = im.xyz_class(ws["cv"])
    s["pattern"] = im.demand_pattern(ws["adi"], ws["cv2"])
    return s.reset_index()


def _aging(p: pd.DataFrame) -> pd.DataFrame:
    pos = p.loc[p["on_hand"] > 0, ["warehouse", "age_bucket", "on_hand", "stock_value", "sku"]]
    a = (pos.groupby(["warehouse", "age_bucket"], sort=False)
         .agg(units=("on_hand", "sum"), value=("stock_value", "sum"), pairs=("sku", "size")).reset_index())
    a["age_bucket"] = pd.Categorical(a["age_bucket"], categories=im.age_labels(), ordered=True)
    a = a.sort_values(["warehouse", "age_bucket"]).reset_index(drop=True)
    a["age_bucket"] = a["age_bucket"].astype(str)
    return a.astype({"units": "int64", "value": "float64", "pairs": "int64"})


def _kpis(p: pd.DataFrame) -> pd.DataFrame:
    n = KPI_WINDOW
    cost = p["unit_cost"]

    def one(on_hand: pd.Series, units: pd.Series, so: pd.Series) -> dict[str, float]:
        in_stock = n - so
        rate = np.where(in_stock > 0, units / in_stock.where(in_stock > 0, 1), 0.0)
        oh = on_hand.clip(lower=0)
        value = float((oh * cost).sum())
        cogs_year = float((units * cost).sum()) * 365 / n
        lost = float((rate * so).sum())
        sold = float(units.sum())
        demanding = rate > 0
        cover = np.where(oh > 0, oh / np.where(demanding, rate, 1), 0.0)
        risk = demanding & (cover < p["cover_warning_days"].to_numpy())
        return {
            "inventory_value": value,
            "turns": cogs_year / value if value > 0 else math.nan,
            "sell_through": sold / (sold + float(oh.sum())) * 100 if sold + oh.sum() > 0 else math.nan,
            "at_risk_share": float(risk.sum()) / float(demanding.sum()) * 100 if demanding.sum() else math.nan,
            "fill_rate": sold / (sold + lost) * 100 if sold + lost > 0 else math.nan,
        }

    now = one(p["on_hand"], p["units_28"], p["stockout_28"])
    prev = one(p["on_hand_prev"], p["units_prev_28"], p["stockout_prev_28"])
    labels = {"inventory_value": ("Inventory value", "money"), "turns": ("Turns (annualised)", "x"),
              "sell_through": ("Sell-through 28 d", "%"), "at_risk_share": ("SKUs at risk", "%"),
              "fill_rate": ("Fill rate 28 d", "%")}
    rows = [{"kpi": k, "label": labels[k][0], "unit": labels[k][1], "value": now[k], "previous": prev[k],
             "change": now[k] - prev[k]} for k in labels]
    return pd.DataFrame(rows, columns=["kpi", "label", "unit", "value", "previous", "change"])


POSITION_COLUMNS = [
    "sku", "name", "category", "supplier", "warehouse", "on_hand", "on_order", "units", "revenue", "stockout_days",
    "avg_daily_demand", "days_of_cover", "projected_stockout", "days_to_stockout", "next_po", "po_overdue",
    "gap_days", "out_of_stock", "lost_units", "lost_revenue", "lead_time_days", "unit_cost", "price", "stock_value",
    "last_receipt", "days_since_receipt", "age_bucket", "last_sale", "days_since_sale", "cv", "xyz", "pattern",
    "excess_units", "po_excess_units", "excess_value", "dead", "at_risk",
    "cover_warning_days", "cover_warning_days_source", "excess_cover_days", "excess_cover_days_source",
    "dead_stock_days", "dead_stock_days_source",
]
SKU_COLUMNS = [
    "sku", "name", "category", "supplier", "warehouses", "on_hand", "on_order", "units", "revenue", "stockout_days",
    "avg_daily_demand", "days_of_cover", "earliest_stockout", "lost_units", "lost_revenue", "stock_value",
    "units_52w", "revenue_52w", "abc", "cv", "adi", "cv2", "xyz", "pattern",
]
EXCEPTION_COLUMNS = [
    "kind", "sku", "name", "warehouse", "supplier", "value_at_risk", "detail", "threshold", "threshold_value",
    "threshold_source", "on_hand", "on_order", "avg_daily_demand", "days_of_cover", "projected_stockout", "next_po",
    "gap_days", "po_overdue", "days_uncovered", "state", "note", "snooze_until", "version", "entity_key",
]
OPEN_PO_COLUMNS = ["sku", "warehouse", "po_number", "ordered_on", "expected_on", "qty_open", "overdue"]


@data_function
def inventory_health(
    session: Session,
    *,
    viewer: Viewer,
    filters: Filters = ALL,
    window: int = DEFAULT_WINDOW,
    abc_by: str = "revenue",
    include_closed: bool = False,
    overrides: dict[str, float] | None = None,
) -> InventoryHealth:
    """Every table of the inventory page for ``viewer`` (definitions in the module docstring).

    ``filters.warehouses`` narrows the warehouses (dates and channels do not apply to stock: the
    as-of day and ``window`` define the period). ``overrides`` replaces pair thresholds for a
    what-if without storing them.

    Returns
    -------
    InventoryHealth with frames:
    positions: one row per SKU x warehouse, columns ``POSITION_COLUMNS``: sku, name, category,
        supplier, warehouse (str); on_hand, on_order, units, stockout_days, lead_time_days (int64);
        revenue, avg_daily_demand, days_of_cover (inf = no demand), days_to_stockout (NaN = none),
        gap_days, lost_units, lost_revenue, unit_cost, price, stock_value, cv, excess_units,
        po_excess_units, excess_value, thresholds (float64); projected_stockout, next_po,
        last_receipt, last_sale (datetime64); po_overdue, out_of_stock, dead, at_risk (bool);
        age_bucket, xyz, pattern, *_source (str).
    skus: one row per SKU, ``SKU_COLUMNS``; abc / xyz / pattern (str), the rest numeric as above.
    exceptions: ``EXCEPTION_COLUMNS``, sorted by value_at_risk (float64) descending; state (str),
        version (int64), entity_key (str) for :func:`ops.decisions.set_entity_state`.
    aging: warehouse, age_bucket (str), units (int64), value (float64), pairs (int64).
    kpis: kpi, label, unit (str), value, previous, change (float64).
    open_pos: ``OPEN_PO_COLUMNS``; qty_open (int64), overdue (bool).
    thresholds: name, value (float64), source (str) of the global values in force.
    """
    require_viewer(viewer)
    window = _check_window(window)
    if abc_by not in ("revenue", "units"):
        raise ValueError(f"abc_by must be 'revenue' or 'units' (got {abc_by!r})")
    with _gc_paused():  # see _gc_paused: many short-lived objects, no cyclic garbage
        return _build_health(session, viewer, filters, window, abc_by, include_closed, overrides)


def _build_health(session: Session, viewer: Viewer, filters: Filters, window: int, abc_by: str,
                  include_closed: bool, overrides: dict[str, float] | None) -> InventoryHealth:
    pairs = _read_pairs(session, viewer, filters, window)
    pos = _read_open_pos(session, viewer, filters)
    _stored, glob = _thresholds(session, viewer, pairs, overrides)
    thr = pd.DataFrame([{"name": n, "value": float((overrides or {}).get(n, e.value)),
                         "source": "what-if" if n in (overrides or {}) else e.source} for n, e in glob.items()],
                       columns=["name", "value", "source"])
    if pairs.empty:
        empty = InventoryHealth(
            as_of=None, window=window, positions=pd.DataFrame(columns=POSITION_COLUMNS),
            skus=pd.DataFrame(columns=SKU_COLUMNS), exceptions=pd.DataFrame(columns=EXCEPTION_COLUMNS),
            aging=pd.DataFrame(columns=["warehouse", "age_bucket", "units", "value", "pairs"]),
            kpis=_kpis(pairs.assign(cover_warning_days=0.0)),
            open_pos=pd.DataFrame(columns=OPEN_PO_COLUMNS), thresholds=thr)
        return empty
    as_of = pairs["as_of"].iloc[0]
    for c in ("on_hand", "on_hand_prev", "units", "stockout_days", "units_28", "stockout_28", "units_prev_28",
              "stockout_prev_28", "wk_units", "wk_nonzero", "on_order", "lead_time_days"):
        if pairs[c].dtype != "int64":
            pairs[c] = pairs[c].astype("int64")
    for c in ("unit_cost", "price", "revenue", "wk_revenue", "wk_sumsq"):
        if pairs[c].dtype != "float64":
            pairs[c] = pairs[c].astype("float64")
    p = _flag(_positions(pairs, pos, window))
    # SKU-level weekly stats came along with the pair rows (agg_inventory_sku, all warehouses)
    stats = (p[["sku", "sku_wk_units", "sku_wk_nonzero", "sku_wk_sumsq"]].drop_duplicates("sku")
             .rename(columns=lambda c: c.replace("sku_wk", "wk")))
    skus = _skus(p, stats, glob, abc_by)
    ex = _exceptions(session, viewer, p, as_of, include_closed)
    open_pos = pos.assign(overdue=pos["expected_on"] < as_of)
    return InventoryHealth(
        as_of=as_of.date(), window=window, positions=_renumbered(p[POSITION_COLUMNS]),
        skus=skus[SKU_COLUMNS], exceptions=ex[EXCEPTION_COLUMNS], aging=_aging(p), kpis=_kpis(p),
        open_pos=open_pos[OPEN_PO_COLUMNS], thresholds=thr,
    )


@data_function
def projection(
    session: Session, *, viewer: Viewer, sku: str = "", warehouse: str = "", window: int = DEFAULT_WINDOW,
    horizon: int = 90,
) -> pd.DataFrame:
    """Projected end-of-day on hand of one SKU in one warehouse, day by day from the as-of day.

    Returns
    -------
    DataFrame with columns day (datetime64), on_hand (float64, projected), arrivals (float64,
    PO units arriving that day), po_numbers (str, '' when none). Empty when the pair is not
    visible to the viewer.
    """
    require_viewer(viewer)
    window = _check_window(window)
    f = Filters(warehouses=(warehouse,)) if warehouse else ALL
    pairs = _read_pairs(session, viewer, f, window)
    pairs = pairs[pairs["sku"] == sku]
    cols = ["day", "on_hand", "arrivals", "po_numbers"]
    if pairs.empty:
        return pd.DataFrame(columns=cols)
    r = pairs.iloc[0]
    rate = im.avg_daily_demand(r["units"], window, int(r["stockout_days"]))
    pos = _read_open_pos(session, viewer, f)
    pos = pos[(pos["sku"] == sku) & pos["expected_on"].notna()]
    as_of = r["as_of"]
    days = np.maximum((pos["expected_on"] - as_of).dt.days.to_numpy(), 1) if len(pos) else np.zeros(0, int)
    rows = [{"day": as_of, "on_hand": float(r["on_hand"]), "arrivals": 0.0, "po_numbers": ""}]
    stock = float(r["on_hand"])
    for k in range(1, int(horizon) + 1):
        hit = days == k
        qty = float(pos["qty_open"].to_numpy()[hit].sum()) if len(pos) else 0.0
        stock = stock + qty - rate
        rows.append({"day": as_of + pd.Timedelta(days=k), "on_hand": stock, "arrivals": qty,
                     "po_numbers": ", ".join(pos["po_number"].to_numpy()[hit]) if len(pos) else ""})
    return pd.DataFrame(rows, columns=cols)


# --- exports: the same numbers and scoping as the page --------------------------------------


@register("inventory_exceptions", title="Inventory exceptions (open)", page="inventory")
@data_function
def export_exceptions(session: Session, *, viewer: Viewer, filters: Filters = ALL) -> pd.DataFrame:
    """The open exceptions list at the default window (see :func:`inventory_health`)."""
    return inventory_health(session, viewer=viewer, filters=filters).exceptions


@register("inventory_positions", title="Stock by SKU and warehouse", page="inventory")
@data_function
def export_positions(session: Session, *, viewer: Viewer, filters: Filters = ALL) -> pd.DataFrame:
    """One row per SKU x warehouse at the default window (see :func:`inventory_health`)."""
    return inventory_health(session, viewer=viewer, filters=filters).positions


@register("inventory_skus", title="Stock by SKU with ABC / XYZ", page="inventory")
@data_function
def export_skus(session: Session, *, viewer: Viewer, filters: Filters = ALL) -> pd.DataFrame:
    """One row per SKU with ABC, XYZ and demand pattern (see :func:`inventory_health`)."""
    return inventory_health(session, viewer=viewer, filters=filters).skus


@register("inventory_aging", title="Stock aging", page="inventory")
@data_function
def export_aging(session: Session, *, viewer: Viewer, filters: Filters = ALL) -> pd.DataFrame:
    """Units and value by warehouse and age bucket (see :func:`inventory_health`)."""
    return inventory_health(session, viewer=viewer, filters=filters).aging


@register("inventory_kpis", title="Inventory KPIs", page="inventory")
@data_function
def export_kpis(session: Session, *, viewer: Viewer, filters: Filters = ALL) -> pd.DataFrame:
    """The KPI tiles with their previous-week values (see :func:`inventory_health`)."""
    return inventory_health(session, viewer=viewer, filters=filters).kpis


@register("inventory_open_pos", title="Open purchase-order lines", page="inventory")
@data_function
def export_open_pos(session: Session, *, viewer: Viewer, filters: Filters = ALL) -> pd.DataFrame:
    """Open PO lines feeding the projection (see :func:`inventory_health`)."""
    return inventory_health(session, viewer=viewer, filters=filters).open_pos
