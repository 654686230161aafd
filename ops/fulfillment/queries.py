"""Scoped reads of the fulfilment aggregates (and of the raw lines, for exact percentiles of small ranges).

Every public function takes the ``viewer`` and scopes in SQL with
:func:`ops.access.fulfil_agg_condition` (the aggregates carry the seller, warehouse and carrier
ids that vendor scope needs). Definitions of every number: :mod:`ops.fulfillment`; ratios:
:mod:`ops.fulfillment.metrics`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import ColumnElement, case, func, select, tuple_
from sqlalchemy.orm import Session, aliased

from ops import access
from ops.access import Viewer, data_function, require_viewer
from ops.business_time import (
    DEFAULT_CALENDAR,
    Calendar,
    business_hours_between,
    calendar_hours_between,
)
from ops.business_time import ship_by as derive_ship_by
from ops.decisions import VendorRef
from ops.filters import ALL, Filters
from ops.fulfillment import metrics as m
from ops.fulfillment.metrics import (
    DOW_NAMES,
    EXACT_PERCENTILE_MAX_ROWS,
    EXCLUDED_STATUSES,
    FINE_HOURS,
    GROUPS,
    HIST_EDGES,
    HIST_MEASURES,
    NONE_LABEL,
    SHIPPED_STATUSES,
    WAREHOUSE_ROLLUP,
)
from ops.models import (
    AggFulfilBacklog,
    AggFulfilDaily,
    AggFulfilHeat,
    AggFulfilHours,
    AggFulfilHoursCell,
    AggFulfilLane,
    Carrier,
    Channel,
    Holiday,
    InventorySnapshot,
    Order,
    OrderLine,
    Shipment,
    Supplier,
    Warehouse,
)
from ops.reference import last_day


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
    # settled last days: a stray snapshot or order dated 2099 does not move "now" (ops.reference)
    last = last_day(session, InventorySnapshot.day)
    if last is None:
        last = last_day(session, Order.placed_at)
        if last is None:
            return dt.datetime.combine(dt.date.today(), dt.time.min)
    return dt.datetime.combine(last + dt.timedelta(days=1), dt.time.min)


def _order_shipments(session: Session, order_ids: Any = None, order_range: tuple[int, int] | None = None
                     ) -> pd.DataFrame:
    stmt = select(
        Shipment.order_id, func.min(Shipment.shipped_at), func.min(Shipment.promised_at),
        func.max(Shipment.delivered_at), func.count(), func.count(Shipment.delivered_at),
        func.min(Shipment.carrier_id), func.min(Shipment.lane),
    ).group_by(Shipment.order_id)
    if order_ids is not None:
        stmt = stmt.where(Shipment.order_id.in_(order_ids))
    if order_range is not None:
        stmt = stmt.where(Shipment.order_id.between(*order_range))
    df = pd.DataFrame(session.execute(stmt).all(), columns=[
        "order_id", "shipped_at", "promised_at", "delivered_at", "n_ship", "n_delivered", "carrier_id", "lane"])
    df.loc[df["n_delivered"] < df["n_ship"], "delivered_at"] = None
    return df.drop(columns=["n_ship", "n_delivered"])


def _dt(s: pd.Series) -> pd.Series:
    if np.issubdtype(s.dtype, np.datetime64):
        return s.astype("datetime64[ns]")
    return pd.to_datetime(s, errors="coerce").astype("datetime64[ns]")


def line_facts(session: Session, *, where: Sequence[ColumnElement[bool]] = (), shipments_where: Any = None,
               cals: tuple[dict[int, Calendar], Calendar] | None = None,
               order_range: tuple[int, int] | None = None) -> pd.DataFrame:
    """One row per order line with every SLA fact derived (definitions in the module docstring).

    Internal building block (no viewer): callers pass the viewer's scope in ``where``; ``order_range``: the
    shipments' order ids lie within it (a bound that changes no row: :func:`_placed_id_range`).

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
    ships = _order_shipments(session, shipments_where, order_range)
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


def _where(viewer: Viewer, t: Any, filters: Filters) -> list[ColumnElement[bool]]:
    conds = [access.fulfil_agg_condition(viewer, t)]
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
        # one dict lookup per distinct id, not per row (the backlog labels thousands of rows per load)
        vals = keys.astype(object).where(keys.notna(), None).to_numpy(dtype=object)  # NaN -> None (one key)
        names = {v: NONE_LABEL if v is None else lab.get(int(v), str(v)) for v in pd.unique(vals)}
        return pd.Series([names[v] for v in vals], index=keys.index, dtype=object)


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


def _placed(filters: Filters) -> list[ColumnElement[bool]]:
    """Orders placed in the filters' date range (none: no range)."""
    conds: list[ColumnElement[bool]] = []
    if filters.start():
        conds.append(Order.placed_at >= filters.start())
    if filters.end():
        conds.append(Order.placed_at < filters.end())
    return conds


def _raw_conditions(viewer: Viewer, filters: Filters) -> list[ColumnElement[bool]]:
    # a date range drives the read through the orders' placed day: the viewer's lines tested per line
    # (ops.access.date_driven_conditions), not a list of a 3PL's or a carrier's every order built first
    scope = access.date_driven_conditions(viewer)[2] if filters.start() else access.order_line_condition(viewer)
    conds: list[ColumnElement[bool]] = [scope, *_placed(filters)]
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


def _placed_id_range(session: Session, filters: Filters) -> tuple[int, int] | None:
    """The smallest and largest id of the orders placed in the filters' date range (None: no range, or no order).

    Every line and shipment of those orders has its ``order_id`` within it, so the bound changes no row; it lets
    the database find them by their ``order_id`` index where the week's orders lie together (ids are given as
    orders arrive), instead of hashing every order line and shipment to join them to the week's orders."""
    placed = _placed(filters)
    if not placed:
        return None
    # fenced (OFFSET 0), so the orders are found by their placed day: PostgreSQL otherwise reads min() and max()
    # by walking the id index from each end until an order of the range turns up
    week = select(Order.id.label("id")).where(*placed).offset(0).subquery()
    lo, hi = session.execute(select(func.min(week.c.id), func.max(week.c.id))).one()
    return None if lo is None else (int(lo), int(hi))


def _raw_lines(session: Session, viewer: Viewer, filters: Filters) -> pd.DataFrame:
    conds = _raw_conditions(viewer, filters)
    ids = _placed_id_range(session, filters)
    if ids is not None:
        conds.append(OrderLine.order_id.between(*ids))
    order_ids = select(OrderLine.order_id).join(Order, Order.id == OrderLine.order_id).where(*conds)
    return line_facts(session, where=conds, shipments_where=order_ids, order_range=ids)


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


def _numeric(df: pd.DataFrame) -> pd.DataFrame:
    """Summed columns as numbers, 0 for none (PostgreSQL gives Decimal sums; numeric columns pass as they are)."""
    if any(not pd.api.types.is_numeric_dtype(t) for t in df.dtypes):
        df = df.apply(pd.to_numeric, errors="coerce")
    return df.fillna(0)


def _finish_summary(df: pd.DataFrame, pct: pd.DataFrame | None, bl: pd.DataFrame, use_exact: bool) -> pd.DataFrame:
    """Per-group sums (``group`` + ``_SUMMARY_SUMS``), percentiles and backlog counts -> ``SUMMARY_COLUMNS``."""
    num = list(_SUMMARY_SUMS)
    df = df[["group", *num]].copy()
    df[num] = _numeric(df[num])
    df = df.groupby("group", as_index=False, sort=True)[num].sum()
    if pct is not None:
        df = df.merge(pct, on="group", how="left")
    df = df.merge(bl, on="group", how="outer")
    ints = ["lines", "ship_counted", "ship_on_time", "ship_late", "delivered", "delivered_on_time", "late_warehouse",
            "late_carrier", "late_unknown", "c2s_n", "backlog_lines", "late_unshipped_lines"]
    df[ints] = _numeric(df[ints]).astype("int64")
    df["on_time_ship_rate"] = m.on_time_ship_rate(df["ship_on_time"], df["ship_counted"])
    df["on_time_delivery_rate"] = m.on_time_delivery_rate(df["delivered_on_time"], df["delivered"])
    df["avg_hours_late"] = m.mean_hours(df["late_hours_sum"], df["ship_late"])
    df["processing_mean_h"] = m.mean_hours(df["processing_hours_sum"], df["split_n"])
    df["transit_mean_h"] = m.mean_hours(df["transit_hours_sum"], df["split_n"])
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
            for meas, col in (("c2s", "c2s_hours"), ("c2s_bus", "c2s_bhours")):
                for name, q in qs.items():
                    row[f"{meas}_{name}_h"] = float(np.quantile(part[col].to_numpy(dtype=float), q))
            rows.append(row)
    else:
        window = Window("range", filters.date_from, filters.date_to, grouped=True)
        return window_percentiles(session, viewer=viewer, filters=filters, by=by, windows=[window])["range"]
    cols = ["group"] + [f"{meas}_{n}_h" for meas in ("c2s", "c2s_bus") for n in qs]
    return pd.DataFrame(rows, columns=cols)


# --- percentiles from the half-hour histograms ----------------------------------------------------


@dataclass(frozen=True)
class Window:
    """Lines placed ``date_from..date_to`` (None: open) whose percentiles are wanted, per group of the
    breakdown (``grouped``) or all together, for ``measures`` and the quantiles ``qs`` (name -> q)."""

    name: str
    date_from: dt.date | None
    date_to: dt.date | None
    grouped: bool
    measures: tuple[str, ...] = ("c2s", "c2s_bus")
    qs: tuple[tuple[str, float], ...] = tuple(m.PERCENTILES.items())


_CELL_KEYS = ("warehouse_id", "channel_id", "seller_id", "carrier_id", "measure", "fine", "bucket")


def _bounds(windows: Sequence[Window]) -> list[dt.date | None]:
    """The days whose running totals the windows need: each window's last day (None: no end) and the day
    before its first (none when open: nothing before it)."""
    days: set[dt.date | None] = set()
    for w in windows:
        days.add(w.date_to)
        if w.date_from is not None:
            days.add(w.date_from - dt.timedelta(days=1))
    return sorted(days, key=lambda d: (d is None, d or dt.date.min))


def _columns(session: Session, stmt: Any, n: int) -> list[list[Any]]:
    """The ``n`` columns of a statement's rows as lists, read with Core (no ORM row processing)."""
    rows = session.connection().execute(stmt).all()
    return [list(c) for c in zip(*rows, strict=True)] if rows else [[] for _ in range(n)]


@dataclass(frozen=True)
class _Cells:
    """Histogram cells of ``agg_fulfil_hours`` in scope, summed per group of the breakdown (:func:`_read_cells`):
    per row the group key (object, None for none), measure (object), bucket and HIST_EDGES bucket ``coarse``
    (int64), and the running totals at each of ``days`` (float64, one column per day)."""

    days: tuple[dt.date | None, ...]
    group_key: np.ndarray
    measure: np.ndarray
    bucket: np.ndarray
    coarse: np.ndarray
    cum: np.ndarray

    def window(self, w: Window) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(group key, measure, bucket, coarse, lines) of the window's measures with lines in it (running total
        at its end minus the day before it), all groups as one ("All") when the window is not grouped."""
        n = self.cum[:, self.days.index(w.date_to)]
        if w.date_from is not None:
            n = n - self.cum[:, self.days.index(w.date_from - dt.timedelta(days=1))]
        keep = np.isin(self.measure, list(w.measures)) & (n > 0)
        gk, x, b, c, n = self.group_key[keep], self.measure[keep], self.bucket[keep], self.coarse[keep], n[keep]
        if not w.grouped and len(n):
            xc, xu = pd.factorize(x)
            bmin, cmin = int(b.min()), int(c.min())
            bw, cw = int(b.max()) - bmin + 1, int(c.max()) - cmin + 1
            packed = (xc.astype("int64") * bw + (b - bmin)) * cw + (c - cmin)
            u, inv = np.unique(packed, return_inverse=True)
            n = np.bincount(inv, weights=n, minlength=len(u)).astype("float64")
            c = u % cw + cmin
            b = (u // cw) % bw + bmin
            x = np.asarray(xu, dtype=object)[u // cw // bw]
            gk = np.full(len(u), "All", dtype=object)
        elif not w.grouped:
            gk = np.full(0, "All", dtype=object)
        return gk, x, b, c, n


def _has_warehouse_cells(session: Session) -> bool:
    """Whether ``agg_fulfil_hours`` holds the warehouse-wide cells (a database refreshed by a version before
    them has the other cells only, read until its next refresh). A few index entries read."""
    c = AggFulfilHoursCell
    return session.connection().execute(
        select(c.id).where(c.fine == 0, c.measure.in_(HIST_MEASURES), c.channel_id == WAREHOUSE_ROLLUP).limit(1)
    ).first() is not None


def _read_cells(session: Session, *, viewer: Viewer, filters: Filters, by: str, fine: int,
                days: Sequence[dt.date | None], measures: Sequence[str] | None = None,
                coarse: Sequence[tuple[Any, ...]] | None = None,
                need: Sequence[Sequence[str] | None] | None = None) -> _Cells:
    """Lines per group, measure and bucket placed up to each of ``days`` (running totals read with one index
    seek per cell and day), for the viewer's cells of ``agg_fulfil_hours`` at ``fine`` (0 / 1) and the
    warehouse and channel filters (the date range is the caller's ``days``). ``coarse``: only the cells in
    these (measure, HIST_EDGES bucket) pairs, or (group key, measure, bucket) triples. ``need``: per day, the
    measures whose running total at that day is wanted (None: every measure); the others read 0 there.
    """
    c = AggFulfilHoursCell
    h = aliased(AggFulfilHours)
    conds: list[ColumnElement[bool]] = [c.fine == fine, access.fulfil_agg_condition(viewer, c)]
    # The warehouse-wide cells serve whoever sees every line of a warehouse (staff, its 3PL) when nothing
    # finer than the warehouse splits or filters the lines; the others read the cells per channel, seller
    # and carrier (vendor scope excludes the warehouse-wide cells: no seller or carrier has id -1).
    rolled = (by in ("all", "warehouse") and not filters.channels
              and (not viewer.is_vendor or viewer.is_kind("warehouse")) and _has_warehouse_cells(session))
    conds.append(c.channel_id == WAREHOUSE_ROLLUP if rolled else c.channel_id != WAREHOUSE_ROLLUP)
    if filters.warehouses:
        conds.append(c.warehouse_id.in_(select(Warehouse.id).where(Warehouse.code.in_(filters.warehouses))))
    if filters.channels:
        conds.append(c.channel_id.in_(select(Channel.id).where(Channel.code.in_(filters.channels))))
    if measures is not None:
        conds.append(c.measure.in_(list(measures)))
    if coarse is not None:
        if not coarse:
            empty = np.zeros(0, dtype="int64")
            return _Cells(tuple(days), np.zeros(0, dtype=object), np.zeros(0, dtype=object), empty, empty,
                          np.zeros((0, len(days))))
        # the measures and buckets alone first: the (fine, measure, coarse) index finds the cells
        conds += [c.measure.in_(sorted({x[-2] for x in coarse})), c.coarse.in_(sorted({int(x[-1]) for x in coarse}))]
        g_in = _group_col(c, by)
        if g_in is not None and len(next(iter(coarse))) == 3:
            conds.append(tuple_(g_in, c.measure, c.coarse).in_(list(coarse)))
        else:
            conds.append(tuple_(c.measure, c.coarse).in_(sorted({x[-2:] for x in coarse})))

    same_cell = select(h.cum).where(*[getattr(h, k) == getattr(c, k) for k in _CELL_KEYS])

    def upto(day: dt.date | None, wanted: Sequence[str] | None) -> Any:
        seek = same_cell.where(h.day <= day) if day is not None else same_cell
        total = func.coalesce(seek.order_by(h.day.desc()).limit(1).scalar_subquery(), 0)
        if wanted is None or (measures is not None and set(measures) <= set(wanted)):
            return total
        return case((c.measure.in_(list(wanted)), total), else_=0)  # CASE: no seek for the other measures

    g = _group_col(c, by)
    keys: list[Any] = ([g.label("group_key")] if g is not None else []) + [c.measure, c.bucket, c.coarse]
    sums = [func.sum(upto(d, need[i] if need is not None else None)).label(f"c{i}") for i, d in enumerate(days)]
    stmt = select(*keys, *sums).where(*conds).group_by(*[k.element if hasattr(k, "element") else k for k in keys])
    cols = _columns(session, stmt, len(keys) + len(sums))
    if g is None:
        cols.insert(0, [None] * len(cols[0]))
    gk = np.asarray(cols[0], dtype=object)
    if by in ("warehouse", "channel", "seller", "carrier") and len(gk):
        gk[gk == 0] = None  # 0: the line has none
    cum = (np.asarray(cols[4:], dtype="float64").T if len(cols[0])
           else np.zeros((0, len(days)), dtype="float64"))
    return _Cells(tuple(days), gk, np.asarray(cols[1], dtype=object), np.asarray(cols[2], dtype="int64"),
                  np.asarray(cols[3], dtype="int64"), cum)


def _cell_counts(session: Session, *, viewer: Viewer, filters: Filters, by: str, fine: int,
                 measures: Sequence[str] | None = None, coarse: Sequence[tuple[Any, ...]] | None = None,
                 days: Sequence[dt.date | None]) -> pd.DataFrame:
    """:func:`_read_cells` as a frame: ``group_key``, ``measure``, ``bucket``, ``coarse`` and one column
    ``c{i}`` (float64) per day of ``days``."""
    cells = _read_cells(session, viewer=viewer, filters=filters, by=by, fine=fine, days=days, measures=measures,
                        coarse=coarse)
    df = pd.DataFrame({"group_key": cells.group_key, "measure": cells.measure, "bucket": cells.bucket,
                       "coarse": cells.coarse})
    for i in range(len(days)):
        df[f"c{i}"] = cells.cum[:, i]
    return df


def _window_counts(cells: pd.DataFrame, days: Sequence[dt.date | None], w: Window) -> pd.DataFrame:
    """``_cell_counts`` rows -> lines in the window ``n`` (running total at its end minus the day before it)."""
    end = cells[f"c{list(days).index(w.date_to)}"]
    start = (cells[f"c{list(days).index(w.date_from - dt.timedelta(days=1))}"] if w.date_from is not None
             else 0.0)
    out = cells[["group_key", "measure", "bucket", "coarse"]].assign(n=end - start)
    if not w.grouped:
        out = out.assign(group_key="All").groupby(["group_key", "measure", "bucket", "coarse"],
                                                  as_index=False)["n"].sum()
    return out


_EDGES = np.asarray([-np.inf, *HIST_EDGES, np.inf])
# The page's own windows (the range per group; each KPI week's median): the defaults of window_percentiles.
RANGE_WINDOW = Window("range", None, None, grouped=True)


def _keys(gk: np.ndarray, x: np.ndarray) -> np.ndarray:
    """One integer per (group key, measure) pair (None is a key of its own)."""
    g, _ = pd.factorize(gk)
    xc, _ = pd.factorize(x)
    return (np.asarray(g, dtype="int64") + 1) * 16 + np.asarray(xc, dtype="int64")


@data_function
def window_percentiles(session: Session, *, viewer: Viewer, filters: Filters = ALL, by: str = "all",
                       windows: Sequence[Window] = (RANGE_WINDOW,)) -> dict[str, pd.DataFrame]:
    """Click-to-ship percentiles of several windows of placed days at once (numpy's ``linear`` method,
    within a quarter hour of exact): what the fulfilment page's summary and KPI tile and the weekly
    review read.

    Parameters
    ----------
    filters
        Only the warehouse and channel filters apply; each window carries its own dates.
    by
        The breakdown of the windows with ``grouped=True`` (see :func:`sla_summary`).
    windows
        :class:`Window` s: a name, placed days ``date_from..date_to`` (None: open), grouped or not,
        measures (``c2s`` calendar, ``c2s_bus`` business hours) and quantiles (name -> q).

    Two reads of ``agg_fulfil_hours`` (plus one per window for its refinement), each summing running
    totals at the windows' bounds (so the cost does not grow with the range): the ``HIST_EDGES``
    buckets of every cell in scope show, per window, group, measure and quantile, the bucket holding the
    two lines the quantile interpolates between; then the half-hour buckets of those buckets only.
    Every such line is then known to half an hour, and the figure (as
    :func:`ops.fulfillment.metrics.bucket_percentiles`) is within a quarter hour of exact.

    Returns
    -------
    dict, per window name, a DataFrame with one row per group, sorted by group: ``group`` (str; "All"
    when not grouped) and float64 ``{measure}_{q}_h`` for the window's measures and quantiles (NaN for
    a measure without lines). A window without lines has no row.
    """
    require_viewer(viewer)
    windows = list(windows)
    days = _bounds(windows)
    measures = sorted({x for w in windows for x in w.measures})
    need = [sorted({x for w in windows if d in _bounds([w]) for x in w.measures}) for d in days]
    labels = _Labels(session)
    cells = _read_cells(session, viewer=viewer, filters=filters, by=by, fine=0, measures=measures, days=days,
                        need=need)
    out: dict[str, pd.DataFrame] = {}
    for w in windows:
        gk, x, b, c, n = cells.window(w)
        key = _keys(gk, x)
        order = np.lexsort((b, key))
        gk, x, b, n, key = gk[order], x[order], b[order], n[order], key[order]
        hit = np.concatenate([np.r_[rk, rk1] for _, rk, rk1, _ in
                              (m._positions(key, n, q) for _, q in w.qs)]) if len(n) else np.zeros(0, "int64")
        needed = set(zip(gk[hit].tolist(), x[hit].tolist(), b[hit].tolist(), strict=True))
        pairs = {(x2, b2) for _, x2, b2 in needed}
        # a group without a key (NULL seller region) cannot be matched in a tuple: then every group's cells
        exact_keys = w.grouped and by != "all" and all(k is not None for k, _, _ in needed)
        wanted = sorted(needed, key=str) if exact_keys else sorted(pairs)
        fine = _read_cells(session, viewer=viewer, filters=filters, by=by if w.grouped else "all", fine=1,
                           coarse=wanted, days=_bounds([w]))
        fg, fx, fb, fc, fn = fine.window(w)
        if exact_keys:
            refined = np.fromiter(((g, x2, b2) in needed for g, x2, b2 in zip(gk, x, b, strict=True)), bool, len(n))
            kept = np.fromiter(((g, x2, c2) in needed for g, x2, c2 in zip(fg, fx, fc, strict=True)), bool, len(fn))
        else:
            refined = np.fromiter(((x2, b2) in pairs for x2, b2 in zip(x, b, strict=True)), bool, len(n))
            kept = np.fromiter(((x2, c2) in pairs for x2, c2 in zip(fx, fc, strict=True)), bool, len(fn))
        keep = ~refined
        mg = np.concatenate([gk[keep], fg[kept]])
        mx = np.concatenate([x[keep], fx[kept]])
        lo = np.concatenate([_EDGES[b[keep]], fb[kept].astype("float64") * FINE_HOURS])
        hi = np.concatenate([_EDGES[b[keep] + 1], (fb[kept].astype("float64") + 1) * FINE_HOURS])
        out[w.name] = _percentile_frame(mg, mx, lo, hi, np.concatenate([n[keep], fn[kept]]), w, by, labels)
    return out


def _percentile_frame(gk: np.ndarray, x: np.ndarray, lo: np.ndarray, hi: np.ndarray, n: np.ndarray, w: Window,
                      by: str, labels: _Labels) -> pd.DataFrame:
    """Buckets (group key, measure, bounds, lines; a group's buckets not overlapping) -> the window's
    :func:`window_percentiles` frame, each quantile as :func:`ops.fulfillment.metrics.bucket_percentiles`."""
    names = [q for q, _ in w.qs]
    cols = [f"{x2}_{q}_h" for x2 in w.measures for q in names]
    key = _keys(gk, x)
    order = np.lexsort((lo, key))
    key, gk, x, n = key[order], gk[order], x[order], n[order]
    mid = (lo[order] + hi[order]) / 2
    groups, gpos = pd.factorize(gk, use_na_sentinel=False)  # one row per group key (None too), first seen first
    table = np.full((len(gpos), len(cols)), np.nan)
    for qi, (_, q) in enumerate(w.qs):
        starts, rk, rk1, f = m._positions(key, n, q)
        value = (1 - f) * mid[rk] + f * mid[rk1]
        col = np.asarray([w.measures.index(v) * len(names) + qi for v in x[starts]], dtype="int64")
        table[groups[starts], col] = value
    wide = pd.DataFrame(table, columns=cols)
    group = (np.full(len(gpos), "All", dtype=object) if not w.grouped
             else labels.series(by, pd.Series(np.asarray(gpos, dtype=object), dtype=object)).to_numpy())
    wide.insert(0, "group", group)
    return wide.sort_values("group", ignore_index=True)


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
    out["on_time_ship_rate"] = m.on_time_ship_rate(out["ship_on_time"], out["ship_counted"])
    out["on_time_delivery_rate"] = m.on_time_delivery_rate(out["delivered_on_time"], out["delivered"])
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
    days = _bounds([Window("range", filters.date_from, filters.date_to, grouped=True)])
    cells = _cell_counts(session, viewer=viewer, filters=filters, by=by, fine=0, measures=(measure,), days=days)
    df = _window_counts(cells, days, Window("range", filters.date_from, filters.date_to, grouped=True))
    df = df[df["n"] > 0]
    df = pd.DataFrame({"group": _label_series(session, by, df["group_key"]), "bucket": df["bucket"],
                       "lines": df["n"]})
    df = df.groupby(["group", "bucket"], as_index=False)["lines"].sum()
    edges = (-np.inf, *HIST_EDGES, np.inf)
    df["bucket"] = df["bucket"].astype("int64")
    df["lo_h"] = [float(edges[b]) for b in df["bucket"]]
    df["hi_h"] = [float(edges[b + 1]) for b in df["bucket"]]
    df["label"] = [m.bucket_label(lo, hi) for lo, hi in zip(df["lo_h"], df["hi_h"], strict=True)]
    df["lines"] = df["lines"].astype("int64")
    return df[["group", "bucket", "label", "lo_h", "hi_h", "lines"]].sort_values(["group", "bucket"],
                                                                                  ignore_index=True)


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
    df["late_rate"] = m.late_share(df["late"], df["shipped"])
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
    df["carrier_late_rate"] = m.late_share(df["late_carrier"], df["delivered"])
    df["transit_mean_h"] = m.mean_hours(df["transit_hours_sum"], df["delivered"])
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
    weekly["on_time_delivery_rate"] = m.on_time_delivery_rate(weekly["delivered_on_time"], weekly["delivered"])
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
    total["on_time_delivery_rate"] = m.on_time_delivery_rate(total["delivered_on_time"], total["delivered"])
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
    cells["late_rate"] = m.late_share(cells["late"], cells["shipped"])
    cells["others_rate"] = m.late_share(total_l - cells["late"], others_s)
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
    df["age_band"] = m.age_band(df["hours_past_deadline"])
    return df[BACKLOG_COLUMNS]


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


def _age_band_sql(ship_by: Any, now: dt.datetime) -> Any:
    """:func:`ops.fulfillment.metrics.age_band` of the hours from ``ship_by`` to ``now``, in SQL: a band
    ``(lo, hi]`` of hours past the deadline is ``now - hi <= ship_by < now - lo``."""
    whens = [(ship_by.is_(None), "no deadline")]
    whens += [(ship_by >= now - dt.timedelta(hours=float(hi)), name) for _, hi, name in m.AGE_BANDS if np.isfinite(hi)]
    return case(*whens, else_=m.AGE_BANDS[-1][2])


BANDS_COLUMNS = ["warehouse", "age_band", "orders", "lines", "oldest_hours_past_deadline"]


def _backlog_bands_sql(session: Session, *, viewer: Viewer, filters: Filters, now: dt.datetime,
                       labels: _Labels) -> pd.DataFrame:
    """The :func:`backlog_by_warehouse` frame grouped in SQL (orders, lines and the earliest deadline per
    warehouse and age band): equal to :func:`_backlog_bands` of the scoped rows."""
    t = AggFulfilBacklog
    rows = (select(t.warehouse_id, _age_band_sql(t.ship_by, now).label("age_band"), t.order_id, t.lines, t.ship_by)
            .where(*_where(viewer, t, filters)).subquery())
    stmt = (select(rows.c.warehouse_id, rows.c.age_band, func.count(rows.c.order_id.distinct()), func.sum(rows.c.lines),
                   func.min(rows.c.ship_by)).group_by(rows.c.warehouse_id, rows.c.age_band))
    wid, band, orders, lines, first = _columns(session, stmt, 5)
    hours = (pd.Timestamp(now) - _dt(pd.Series(first, dtype=object))).dt.total_seconds() / 3600.0
    out = pd.DataFrame({"warehouse": labels.series("warehouse", pd.Series(wid, dtype=object)),
                        "age_band": pd.Series(band, dtype=object), "orders": np.asarray(orders, dtype="int64"),
                        "lines": np.asarray(lines, dtype="int64"),
                        "oldest_hours_past_deadline": hours.to_numpy(dtype="float64")})
    return out.sort_values(["warehouse", "age_band"], ignore_index=True)


def _backlog_group_counts(session: Session, *, viewer: Viewer, filters: Filters, by: str, now: dt.datetime,
                          labels: _Labels) -> pd.DataFrame:
    """Backlog and late-unshipped lines per group of the breakdown, groups with backlog only (``group``,
    int64 ``backlog_lines``, ``late_unshipped_lines``)."""
    t = AggFulfilBacklog
    g = _group_col(t, by)
    keys = [g] if g is not None else []
    stmt = (select(*keys, func.sum(t.lines), func.coalesce(func.sum(t.lines).filter(t.ship_by < now), 0))
            .where(*_where(viewer, t, filters)))
    if keys:
        stmt = stmt.group_by(*keys)
    cols = _columns(session, stmt, len(keys) + 2)
    if not keys:
        cols.insert(0, [None] * len(cols[0]))
    df = pd.DataFrame({"group": labels.series(by, pd.Series(cols[0], dtype=object)),
                       "backlog_lines": pd.to_numeric(pd.Series(cols[1], dtype=object)).fillna(0).astype("int64"),
                       "late_unshipped_lines": pd.to_numeric(pd.Series(cols[2], dtype=object)).astype("int64")})
    df = df[df["backlog_lines"] > 0]
    return df.groupby("group", as_index=False)[["backlog_lines", "late_unshipped_lines"]].sum()


def _backlog_top(session: Session, *, viewer: Viewer, filters: Filters, limit: int) -> pd.DataFrame:
    """The first ``limit`` backlog rows in :func:`backlog` order (rows of one deadline and order in table order)."""
    t = AggFulfilBacklog
    stmt = (select(t.order_number, t.warehouse_id, t.channel_id, t.seller_id, t.seller_region, t.paid_at, t.ship_by,
                   t.lines).where(*_where(viewer, t, filters))
            .order_by(t.ship_by.is_(None), t.ship_by, t.order_number, t.id).limit(limit))
    cols = ["order_number", "warehouse_id", "channel_id", "seller_id", "seller_region", "paid_at", "ship_by", "lines"]
    return pd.DataFrame({c: pd.Series(v, dtype=object) for c, v in zip(cols, _columns(session, stmt, len(cols)),
                                                                       strict=True)}, columns=cols)


def _backlog_bands(session: Session, df: pd.DataFrame, now: dt.datetime,
                   labels: _Labels | None = None) -> pd.DataFrame:
    df = df[["warehouse_id", "order_id", "ship_by", "lines"]].copy()
    df["warehouse"] = (labels or _Labels(session)).series("warehouse", df["warehouse_id"])
    df["hours"] = (pd.Timestamp(now) - _dt(df["ship_by"])).dt.total_seconds() / 3600.0
    df["age_band"] = m.age_band(df["hours"])
    out = df.groupby(["warehouse", "age_band"], as_index=False).agg(
        orders=("order_id", "nunique"), lines=("lines", "sum"), oldest_hours_past_deadline=("hours", "max"))
    return out.astype({"orders": "int64", "lines": "int64", "oldest_hours_past_deadline": "float64"})


def exception_owner(session: Session, key: str) -> VendorRef | None:
    """The vendor that owns an exception, looked up in the data (never read from the key alone).

    ``backlog:ORDER|SELLER``: the supplier ``SELLER`` only if it sold a line on that order;
    ``backlog:ORDER`` (first-party lines): the 3PL operating the order's warehouse;
    ``warehouse:CODE``: the 3PL operating that warehouse. None when nobody outside owns it.
    """
    kind, _, rest = key.partition(":")
    if kind == "backlog":
        order_number, _, seller = rest.partition("|")
        if seller:
            sold = session.scalar(
                select(Supplier.code).join(OrderLine, OrderLine.seller_id == Supplier.id)
                .join(Order, Order.id == OrderLine.order_id)
                .where(Order.order_number == order_number, Supplier.code == seller).limit(1))
            return VendorRef("supplier", sold) if sold else None
        operator = session.scalar(select(Warehouse.operator_code).join(Order, Order.warehouse_id == Warehouse.id)
                                  .where(Order.order_number == order_number))
        return VendorRef("warehouse", operator) if operator else None
    if kind == "warehouse":
        operator = session.scalar(select(Warehouse.operator_code).where(Warehouse.code == rest))
        return VendorRef("warehouse", operator) if operator else None
    return None
