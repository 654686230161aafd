"""Inventory reads: every query of the inventory page, scoped to the viewer.

Vendor scope comes from :mod:`ops.access` (supplier vendors see their own SKUs; carrier and 3PL
vendors, who are not given this page, get nothing). Aggregates are read from ``agg_inventory_*``
(see :mod:`ops.inventory.refresh`).
"""

from __future__ import annotations

import datetime as dt
import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Date, String, func, literal, select, type_coerce
from sqlalchemy.orm import Session

from ops import access
from ops.access import Viewer, data_function, require_viewer
from ops.db import driver_rows
from ops.decisions import VendorRef
from ops.filters import ALL, Filters
from ops.inventory.metrics import DEFAULT_WINDOW, WINDOWS
from ops.models import AggInventoryPair, AggInventoryPo, Product, Supplier, Warehouse

EXCEPTION_KINDS = ("stockout", "excess", "dead")


@contextmanager
def gc_paused() -> Iterator[None]:
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


def check_window(window: int) -> int:
    """``window`` as an int; ValueError unless it is one of :data:`WINDOWS`."""
    if int(window) not in WINDOWS:
        raise ValueError(f"window must be one of {', '.join(map(str, WINDOWS))} days (got {window!r})")
    return int(window)


def exception_owner(session: Session, key: str) -> VendorRef | None:
    """The supplier of an exception row's SKU, read from the products table (None: unknown key).

    The owner rule of the ``inventory_exception`` entity kind (:func:`ops.decisions.define_entity_kind`):
    only the SKU is taken from the key, the supplier always comes from the data.
    """
    parts = str(key).split(":")
    if len(parts) < 3 or parts[0] not in EXCEPTION_KINDS:
        return None
    sku = ":".join(parts[1:-1])
    code = session.scalar(
        select(Supplier.code).join(Product, Product.supplier_id == Supplier.id).where(Product.sku == sku)
    )
    return VendorRef("supplier", code) if code else None


def _scope(viewer: Viewer, filters: Filters, wh_col: Any) -> list[Any]:
    # product_condition: supplier vendors see their own SKUs; carrier and 3PL vendors, who are not
    # given this page, get nothing.
    conds = [access.product_condition(viewer)]
    if wh_col is not None and filters.warehouses:
        conds.append(wh_col.in_(list(filters.warehouses)))
    return conds


def to_date(s: pd.Series) -> pd.Series:
    """ISO text (SQLite) or date objects (PostgreSQL) to datetime64 days, vectorised."""
    if len(s) and isinstance(s.dropna().iloc[0] if s.notna().any() else None, str):
        return pd.to_datetime(s, format="ISO8601", errors="coerce").dt.normalize()
    return pd.to_datetime(s, errors="coerce")


# Days since 1970-01-01 that datetime64[ns] can hold (pd.to_datetime turns the others into NaT).
_NS_FIRST_DAY = -(-pd.Timestamp.min.value // 86_400_000_000_000)
_NS_LAST_DAY = pd.Timestamp.max.value // 86_400_000_000_000
_UNIX_EPOCH_JULIAN_DAY = 2440587.5


def _epoch_days(session: Session, col: Any) -> Any:
    """A DATE column as days since 1970-01-01, in SQL (NULL stays NULL).

    Numbers come out of the driver far cheaper than dates or ISO text, and become datetime64
    days in one numpy cast (:func:`days_to_datetime`); per row date parsing cost ~5 ms per
    column at bench size.
    """
    if session.connection().dialect.name == "sqlite":
        return func.julianday(col) - _UNIX_EPOCH_JULIAN_DAY
    return col - literal(dt.date(1970, 1, 1), Date)


def days_to_datetime(days: Any) -> np.ndarray:
    """Days since 1970-01-01 (numbers, None = missing) to datetime64[ns] at midnight (NaT = missing).

    The same values :func:`to_date` gives for the dates themselves: a fraction of a day is
    dropped (``normalize``) and a day outside datetime64[ns]'s range is NaT.
    """
    d = np.array(days, dtype="float64")  # None -> NaN
    out = np.full(len(d), np.datetime64("NaT"), dtype="datetime64[ns]")
    d = np.floor(d)
    with np.errstate(invalid="ignore"):
        ok = (d >= _NS_FIRST_DAY) & (d <= _NS_LAST_DAY)  # NaN: False
    out[ok] = d[ok].astype("int64").astype("datetime64[D]")
    return out


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
_PAIR_DATE_COLS = frozenset({"last_sale", "last_receipt"})
_PAIR_FLOAT_COLS = frozenset({"unit_cost", "price", "revenue", "wk_revenue", "wk_sumsq", "sku_wk_sumsq"})
_PAIR_INT_COLS = frozenset({"lead_time_days", "on_hand", "on_hand_prev", "units", "stockout_days",
                            "units_28", "stockout_28", "units_prev_28", "stockout_prev_28", "wk_units",
                            "wk_nonzero", "on_order", "sku_wk_units", "sku_wk_nonzero"})


@data_function
def read_pairs(session: Session, *, viewer: Viewer, filters: Filters = ALL, window: int = DEFAULT_WINDOW
               ) -> pd.DataFrame:
    """The viewer's rows of ``agg_inventory_pair`` at ``window``, in (sku, warehouse) order.

    Returns
    -------
    DataFrame with columns sku, name, category (str); unit_cost, price (float64); lead_time_days
    (int64); supplier, warehouse (str); as_of (datetime64); on_hand, on_hand_prev, units (window),
    stockout_days (window), units_28, stockout_28, units_prev_28, stockout_prev_28, wk_units,
    wk_nonzero, on_order, sku_wk_units, sku_wk_nonzero (int64, float64 when a value is missing);
    revenue (window), wk_revenue, wk_sumsq, sku_wk_sumsq (float64); last_sale, last_receipt
    (datetime64, NaT = never).
    """
    require_viewer(viewer)
    window = check_window(window)
    A = AggInventoryPair.__table__.c
    # One table, no join: the refresher copied the product, supplier and warehouse attributes in.
    conds = [_pair_scope(viewer)]
    if filters.warehouses:
        conds.append(A.warehouse.in_(list(filters.warehouses)))
    picked = {"units": A[f"units_{window}"], "revenue": A[f"revenue_{window}"],
              "stockout_days": A[f"stockout_{window}"], "last_sale": _epoch_days(session, A.last_sale),
              "last_receipt": _epoch_days(session, A.last_receipt)}
    exprs = [picked[c] if c in picked else A[c] for c in _PAIR_BASE_COLS]
    # each column once (units_28 is also "units" at the 28-day window)
    fetched: list[Any] = []
    at: list[int] = []
    for e in exprs:
        same = next((i for i, f in enumerate(fetched) if f is e), None)
        if same is None:
            fetched.append(e)
            same = len(fetched) - 1
        at.append(same)
    stmt = select(*fetched).where(*conds)
    # One structured numpy array straight from the driver's row tuples, then one contiguous array
    # per column: SQLAlchemy's Row objects, a transposition in Python and per-column conversions
    # cost ~20 ms at bench size on top of the driver's own fetch (~40 ms, its Python objects).
    # A nullable integer column comes as objects: int64 without a NULL, else float64 with NaN
    # (as pandas infers it).
    kinds: dict[int, str] = {}
    for name, i in zip(_PAIR_BASE_COLS, at, strict=True):
        col = fetched[i]
        if name in _PAIR_DATE_COLS or name in _PAIR_FLOAT_COLS:
            kinds[i] = "f8"
        elif name in _PAIR_INT_COLS:
            kinds[i] = "O" if getattr(col, "nullable", True) else "i8"
        else:
            kinds[i] = "O"
    layout = np.dtype([(f"c{i}", kinds[i]) for i in range(len(fetched))])
    with gc_paused():
        table = np.array(driver_rows(session, stmt, binary=True), dtype=layout)
        data: dict[str, Any] = {}
        for name, i in zip(_PAIR_BASE_COLS, at, strict=True):
            values = np.ascontiguousarray(table[f"c{i}"])
            if name in _PAIR_DATE_COLS:
                data[name] = days_to_datetime(values)
            elif name in _PAIR_INT_COLS and values.dtype == object:
                try:
                    data[name] = values.astype("int64")
                except TypeError:  # a NULL
                    data[name] = values.astype("float64")
            else:
                data[name] = values
        del table
    n = len(data["sku"])
    as_of = session.scalar(select(_text(A.as_of)).limit(1)) if n else None
    # one value for the whole table: parse it once and repeat it
    as_of_col = np.repeat(to_date(pd.Series([as_of], dtype=object)).to_numpy(), n)
    columns = [*_PAIR_BASE_COLS[:8], "as_of", *_PAIR_BASE_COLS[8:]]
    df = pd.DataFrame({k: data[k] if k != "as_of" else as_of_col for k in columns}, copy=False)
    # The refresher writes the rows in (sku, warehouse) order and a plain table scan returns
    # them so; sort only when they are not (cheaper than ORDER BY's temporary B-tree in SQLite).
    sku, wh = data["sku"], data["warehouse"]
    if n > 1 and not bool(np.all((sku[1:] > sku[:-1]) | ((sku[1:] == sku[:-1]) & (wh[1:] >= wh[:-1])))):
        df = df.sort_values(["sku", "warehouse"], kind="mergesort", ignore_index=True)
    return df


_PO_LAYOUT = np.dtype([("sku", "O"), ("warehouse", "O"), ("po_number", "O"), ("ordered_on", "f8"),
                       ("expected_on", "f8"), ("qty_open", "i8")])


@data_function
def read_open_pos(session: Session, *, viewer: Viewer, filters: Filters = ALL) -> pd.DataFrame:
    """The viewer's open PO lines (``agg_inventory_po``), by sku, warehouse, expected day and PO.

    Returns
    -------
    DataFrame with columns sku, warehouse, po_number (str); ordered_on, expected_on (datetime64,
    NaT = no expected day); qty_open (int64).
    """
    require_viewer(viewer)
    P = AggInventoryPo
    stmt = (
        select(Product.sku, Warehouse.code, P.po_number, _epoch_days(session, P.ordered_on),
               _epoch_days(session, P.expected_on), P.qty_open)
        .join(Product, Product.id == P.product_id)
        .join(Warehouse, Warehouse.id == P.warehouse_id)
        .outerjoin(Supplier, Supplier.id == Product.supplier_id)
        .where(*_scope(viewer, filters, Warehouse.code))
        .order_by(Product.sku, Warehouse.code, P.expected_on, P.po_number)
    )
    t = np.array(driver_rows(session, stmt, binary=True), dtype=_PO_LAYOUT)
    return pd.DataFrame({
        "sku": t["sku"], "warehouse": t["warehouse"], "po_number": t["po_number"],
        "ordered_on": days_to_datetime(t["ordered_on"]), "expected_on": days_to_datetime(t["expected_on"]),
        "qty_open": t["qty_open"],
    })
