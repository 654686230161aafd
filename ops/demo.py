"""Deterministic demo data: a mid-sized online shop with three warehouses, seven carriers and
four sales channels, generated from one seed with NumPy and loaded in bulk.

Use
---
``seed(engine, size="small"|"default"|"bench", seed=42)`` fills an empty database and returns
the row count per table. The same size and seed give the same rows, value for value, on SQLite
and PostgreSQL. Seeding again with the same size and seed changes nothing (the earlier seed is
recognised by its ``import_runs`` row, kind ``seed``, source ``demo:<size>:<seed>``); seeding
a database that holds other data is refused with a ``ValueError``.

========  ======  ========  =====================================================
size      SKUs    history   roughly
========  ======  ========  =====================================================
small     50      90 days   8 k orders, 35 k rows; loads in about a second (the tests use it)
default   500     1 year    100 k orders, 480 k rows
bench     10,000  2 years   2 M order lines, 1.4 M shipments, 150 k returns
========  ======  ========  =====================================================

The last day of data is always :data:`DEMO_END` (a Sunday), whatever the wall clock says.

How the data is made
--------------------
- Demand per SKU and warehouse and day is a gamma-Poisson draw around a rate with weekly and
  yearly seasonality (category-specific peaks, a Black Friday week), a mild trend, and SKU
  promotions (lift plus a price discount on the order lines). Rates are log-normal across the
  catalogue, so a few A items sell daily and a long tail sells intermittently and lumpily.
- Stock is simulated day by day for every stocked SKU x warehouse pair (each SKU is stocked in
  one or two warehouses) under a reorder-point policy with supplier lead times that slip.
  Sales are censored by stock: a day never sells more than the units on hand at its start plus
  that day's receipts. A share of the unmet demand appears as cancelled orders; the rest is
  lost. Replenishment orders become purchase orders (one per supplier, warehouse and day):
  received ones carry ``received_on``; those still in transit at the end are ``open``, and the
  ones past their stated lead time are overdue. Returned units are not put back into the
  simulated stock.
- Sold units become order lines (mostly one unit), grouped into orders per warehouse and day.
  ``ship_by`` follows the warehouse cut-off rule (paid strictly before the cut-off on a business
  day: ship by 23:59:59 of that day plus ``handling_days`` business days; otherwise count from
  the next business day; weekends and holidays are not business days).
- Every shipped order has one shipment: carrier and service by warehouse mix, zone and label
  cost by distance and weight, lane ``"<warehouse code>><customer region>"``, promised and actual
  transit in carrier business days, a first delivery attempt, and a small share lost, damaged
  or returned to sender. Orders still inside the pipeline at the end are processing or in transit.
- Returns depend on category, size (small apparel sizes run small) and lateness, with
  free-text comments from phrase templates (a few in Spanish, French, German, Portuguese),
  a refund and a disposition.

Inventory snapshots (kept affordable)
-------------------------------------
End-of-day ``on_hand`` for every stocked SKU x warehouse pair: daily for the last
:data:`DAILY_SNAPSHOT_DAYS` (120) days up to :data:`DEMO_END`, weekly (each Sunday) before
that. At bench size that is about 3 M rows instead of 11 M.

Planted anomalies (see :class:`Anomalies` and :func:`anomalies`)
---------------------------------------------------------------
1. Late lane: one carrier on one lane delivers late for three consecutive weeks (most
   deliveries in those weeks arrive after ``promised_at``, although they shipped on time).
2. Monday cut-off: one warehouse misses its cut-off on Mondays: most orders due to ship on a
   Monday leave on Tuesday, late against ``ship_by``.
3. Runs small: one apparel SKU (size S) whose ``runs_small`` returns spike over the last 90
   days: its return rate is several times its category's.
4. Stockout: one high-price A item, stocked in one warehouse, ends with on hand covering
   about five days of demand; its only open purchase order is expected 20 days after
   ``DEMO_END``, so it is the largest value at risk.

Loading
-------
Every row gets an explicit integer id, so foreign keys line up without round trips. SQLite
takes driver-level ``executemany`` of plain tuples (values pre-formatted the way SQLAlchemy
stores them) with foreign-key checks off for the load; PostgreSQL takes ``COPY`` (CSV written
by pandas) and then has each id sequence moved past the largest id. Tables of 100 k rows or
more have their secondary indexes (and, on PostgreSQL, their foreign keys) dropped before the
load and rebuilt after it. Everything, including the ``import_runs`` row and the aggregate
refresh, happens in one transaction, so a failed seed leaves nothing behind.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, ForeignKeyConstraint, Table, func, inspect, select
from sqlalchemy.orm import Session
from sqlalchemy.schema import AddConstraint, DropConstraint

from ops import demo_text as txt
from ops.db import analyze
from ops.models import (
    DISPOSITIONS,
    Base,
    Carrier,
    CarrierService,
    Channel,
    Holiday,
    ImportRun,
    InventorySnapshot,
    Order,
    OrderLine,
    Product,
    PurchaseOrder,
    PurchaseOrderLine,
    Return,
    Review,
    Shipment,
    Supplier,
    Warehouse,
)

Progress = Callable[[str], None]

DEMO_END = dt.date(2026, 11, 15)  # a Sunday: the last day of demo data
DAILY_SNAPSHOT_DAYS = 120
SEED_KIND = "seed"
SEED_ACTOR = "system"


@dataclass(frozen=True)
class SizeSpec:
    n_skus: int
    days: int
    units_per_sku_day: float  # mean demand per SKU per day before seasonality
    n_suppliers: int


SIZES: dict[str, SizeSpec] = {
    "small": SizeSpec(n_skus=50, days=90, units_per_sku_day=2.4, n_suppliers=8),
    "default": SizeSpec(n_skus=500, days=365, units_per_sku_day=0.9, n_suppliers=20),
    "bench": SizeSpec(n_skus=10_000, days=730, units_per_sku_day=0.33, n_suppliers=120),
}

# code, name, region, operator (3PL), cut-off, handling business days, lon, lat, late-ship share
WAREHOUSES: tuple[tuple[str, str, str, str | None, dt.time, int, float, float, float], ...] = (
    ("WH-EAST", "Edison, NJ", "NJ", None, dt.time(14, 0), 0, -74.4, 40.5, 0.025),
    ("WH-WEST", "Ontario, CA", "CA", None, dt.time(15, 0), 0, -117.6, 34.1, 0.03),
    ("WH-CENTRAL", "Dallas, TX (Northlog)", "TX", "3PL-NORTHLOG", dt.time(13, 0), 1, -96.8, 32.8, 0.05),
)
WAREHOUSE_SHARE = (0.42, 0.35, 0.23)
WAREHOUSE_OWN_HOLIDAY = ((8, 14, "Stocktake"), (3, 31, "César Chávez Day"), (6, 19, "Juneteenth (3PL)"))

# customer region, population weight, lon, lat
REGIONS: tuple[tuple[str, float, float, float], ...] = (
    ("NY", 19.6, -74.0, 40.7), ("NJ", 9.3, -74.4, 40.1), ("PA", 13.0, -77.6, 40.9), ("MA", 7.0, -71.8, 42.3),
    ("FL", 22.0, -81.7, 28.1), ("GA", 10.9, -83.4, 32.7), ("NC", 10.7, -79.4, 35.5), ("VA", 8.7, -78.7, 37.5),
    ("IL", 12.6, -89.2, 40.0), ("OH", 11.8, -82.8, 40.3), ("MI", 10.0, -84.7, 43.6), ("MN", 5.7, -94.3, 46.3),
    ("TX", 30.0, -99.3, 31.5), ("CO", 5.8, -105.5, 39.0), ("AZ", 7.4, -111.7, 34.3), ("CA", 39.0, -119.5, 37.2),
    ("WA", 7.8, -120.5, 47.4), ("OR", 4.2, -120.6, 43.9),
)

# code, name, late share, services (code, name, promised business days, base label cost, weight)
CARRIERS: tuple[tuple[str, str, float, tuple[tuple[str, str, int, float, float], ...]], ...] = (
    ("SWX", "Swiftex Parcel", 0.06, (("GROUND", "Ground", 4, 6.9, 0.75), ("2DAY", "2-Day", 2, 13.5, 0.2),
                                     ("NEXT", "Next Day", 1, 24.0, 0.05))),
    ("BLX", "Blueline Express", 0.09, (("STD", "Standard", 5, 6.2, 0.8), ("EXP", "Express", 2, 12.9, 0.2))),
    ("CPT", "Capital Post", 0.12, (("PRIORITY", "Priority Mail", 3, 8.1, 0.4),
                                   ("GROUND", "Ground Advantage", 5, 5.4, 0.6))),
    ("RRP", "Roadrunner Parcel", 0.08, (("GROUND", "Ground", 4, 6.5, 1.0),)),
    ("MTC", "Metro Courier", 0.05, (("LOCAL2", "Local 2-Day", 2, 7.5, 0.8), ("SAMEDAY", "Same Day", 1, 11.0, 0.2))),
    ("ARC", "Arcway Logistics", 0.15, (("ECONOMY", "Economy", 6, 4.9, 0.6), ("GROUND", "Ground", 4, 6.4, 0.4))),
    ("TRL", "Trailhead Freight", 0.09, (("GROUND", "Ground", 4, 6.8, 0.8), ("EXPRESS", "Express", 2, 12.0, 0.2))),
)
# carrier mix per warehouse (rows: WAREHOUSES, columns: CARRIERS)
CARRIER_MIX = np.array([
    [0.38, 0.20, 0.17, 0.00, 0.10, 0.15, 0.00],
    [0.36, 0.00, 0.22, 0.22, 0.00, 0.12, 0.08],
    [0.00, 0.32, 0.20, 0.20, 0.00, 0.00, 0.28],
])

# code, name, share of orders
CHANNELS: tuple[tuple[str, str, float], ...] = (
    ("web", "Web shop", 0.55), ("marketplace", "Marketplace", 0.25), ("retail-app", "Retail app", 0.15),
    ("wholesale", "B2B portal", 0.05),
)

WEEKLY = np.array([1.18, 1.08, 1.02, 0.98, 0.95, 0.85, 0.94])  # Mon..Sun
# category -> (amplitude of the yearly cycle, day of year of its peak)
YEARLY = {"Apparel": (0.25, 300), "Footwear": (0.2, 100), "Electronics": (0.35, 350), "Home & Kitchen": (0.2, 340),
          "Beauty": (0.1, 345), "Sports & Outdoors": (0.35, 170), "Toys": (0.6, 352)}
HOURS = np.array([0.6, 0.4, 0.25, 0.2, 0.2, 0.35, 0.8, 1.6, 2.6, 3.5, 4.2, 4.6, 5.0, 5.1, 5.0, 4.8, 4.9, 5.2, 5.6,
                  6.2, 6.6, 6.1, 4.6, 2.2])
MAX_LEAD_TIME = 70  # days; actual supplier lead times are clipped here
STOCKOUT_COVER_DAYS = 5
STOCKOUT_PO_DAYS_AFTER_END = 20
RUNS_SMALL_DAYS = 90
RUNS_SMALL_RETURN_RATE = 0.75  # apparel's base is about 0.11
CANCEL_SHARE_OF_LOST = 0.12


@dataclass(frozen=True)
class Anomalies:
    """The anomalies planted in one demo data set (see the module docstring).

    Attributes
    ----------
    late_lane_carrier, late_lane, late_lane_weeks
        Carrier code, lane (``"WH-EAST>NY"``) and the three Mondays starting the weeks in which
        that carrier's shipments on that lane (by ``shipped_at``) mostly arrive late.
    monday_cutoff_warehouse
        Warehouse code whose orders due to ship on a Monday mostly ship on Tuesday.
    runs_small_sku, runs_small_since
        Apparel SKU (size S) whose returns, mostly ``runs_small``, spike for orders placed on or
        after ``runs_small_since`` (the last 90 days).
    stockout_sku, stockout_warehouse, stockout_po
        The SKU about to stock out, its only warehouse and its only open purchase order
        (expected 20 days after ``DEMO_END``; on hand at ``DEMO_END`` covers about 5 days).
    """

    late_lane_carrier: str
    late_lane: str
    late_lane_weeks: tuple[dt.date, dt.date, dt.date]
    monday_cutoff_warehouse: str
    runs_small_sku: str
    runs_small_since: dt.date
    stockout_sku: str
    stockout_warehouse: str
    stockout_po: str


# --- the plan: catalogue, reference data and anomaly choices (cheap, no simulation) ------------


@dataclass(frozen=True)
class _Plan:
    size: str
    seed: int
    spec: SizeSpec
    start: np.datetime64  # first day (datetime64[D])
    # products (index = product id - 1)
    sku: list[str]
    name: list[str]
    category: np.ndarray  # category index into CATEGORY_NAMES
    size_label: list[str | None]
    price: np.ndarray
    unit_cost: np.ndarray
    case_pack: np.ndarray
    moq: np.ndarray
    supplier: np.ndarray  # supplier index
    rate: np.ndarray  # mean units per day, all warehouses
    kshape: np.ndarray  # gamma shape of day-to-day noise (small = lumpy)
    return_mult: np.ndarray
    # suppliers
    supplier_lt: np.ndarray
    supplier_slip: np.ndarray  # chance an order arrives late, and by how much
    # pairs (SKU x warehouse)
    pair_product: np.ndarray
    pair_wh: np.ndarray
    pair_share: np.ndarray
    # anomalies
    anomalies: Anomalies
    late_carrier: int
    late_wh: int
    late_region: int
    late_week0: int  # day index of the first late-lane Monday
    monday_wh: int
    runs_small_product: int
    stockout_product: int
    stockout_pair: int
    stockout_po_day: int  # day index (may be beyond the horizon) the open PO was placed


CATEGORY_NAMES = tuple(txt.CATEGORIES)


def _streams(seed: int) -> dict[str, np.random.Generator]:
    names = ("catalog", "anomaly", "demand", "supply", "orders", "ship", "returns")
    seqs = np.random.SeedSequence(seed).spawn(len(names))
    return {n: np.random.default_rng(s) for n, s in zip(names, seqs, strict=True)}


def _spec(size: str) -> SizeSpec:
    try:
        return SIZES[size]
    except KeyError:
        raise ValueError(f"unknown demo size {size!r}: choose one of {', '.join(SIZES)}") from None


def _plan(size: str, seed: int) -> _Plan:
    spec = _spec(size)
    rngs = _streams(seed)
    rng = rngs["catalog"]
    n = spec.n_skus
    start = np.datetime64(DEMO_END, "D") - (spec.days - 1)

    # suppliers: each specialises in one category; stated lead times; how much they slip
    n_sup = spec.n_suppliers
    sup_cat = np.arange(n_sup) % len(CATEGORY_NAMES)
    supplier_lt = rng.choice([7, 10, 14, 21, 28, 35, 45], size=n_sup, p=[0.1, 0.15, 0.2, 0.2, 0.15, 0.12, 0.08])
    supplier_slip = rng.uniform(0.05, 0.45, size=n_sup)

    shares = np.array([v[0] for v in txt.CATEGORIES.values()])
    category = rng.choice(len(CATEGORY_NAMES), size=n, p=shares / shares.sum())
    category[:len(CATEGORY_NAMES)] = np.arange(len(CATEGORY_NAMES))  # every category present
    category.sort(kind="stable")
    cat_names = np.array(CATEGORY_NAMES)[category]

    med_price = np.array([txt.CATEGORIES[c][1] for c in cat_names])
    price = np.round(med_price * rng.lognormal(0.0, 0.45, size=n), 0) - 0.01
    price = np.maximum(price, 2.99)
    unit_cost = np.round(price * rng.uniform(0.32, 0.58, size=n), 2)
    case_pack = np.array([txt.CATEGORIES[c][2] for c in cat_names])
    moq = case_pack * rng.choice([1, 2, 4], size=n, p=[0.5, 0.35, 0.15])

    sup_by_cat = [np.flatnonzero(sup_cat == c) for c in range(len(CATEGORY_NAMES))]
    supplier = np.array([rng.choice(sup_by_cat[c]) for c in category])

    rate = rng.lognormal(0.0, 1.15, size=n)
    rate = rate / rate.mean() * spec.units_per_sku_day
    kshape = np.where(rate > np.quantile(rate, 0.5), 6.0, 0.7)
    return_mult = rng.lognormal(0.0, 0.3, size=n)

    size_label: list[str | None] = [None] * n
    nouns: list[str] = []
    for i, c in enumerate(cat_names):
        if c == "Apparel":
            size_label[i] = str(rng.choice(txt.APPAREL_SIZES, p=txt.APPAREL_SIZE_SHARE))
        elif c == "Footwear":
            size_label[i] = str(rng.choice(txt.FOOTWEAR_SIZES))
        nouns.append(str(rng.choice(txt.NOUNS[c])))
    adj = rng.choice(txt.ADJECTIVES, size=n)
    col = rng.choice(txt.COLOURS, size=n)
    sku = [f"SKU-{i + 1:05d}" for i in range(n)]
    name = [f"{a} {c} {noun}" + (f" - {s}" if s else "") for a, c, noun, s in zip(adj, col, nouns, size_label,
                                                                                 strict=True)]

    # stocked pairs: a primary warehouse and, for 40 %, a second one
    primary = rng.choice(3, size=n, p=WAREHOUSE_SHARE)
    second = (primary + rng.integers(1, 3, size=n)) % 3
    two = rng.random(n) < 0.4

    # --- anomalies ---------------------------------------------------------------------------
    arng = rngs["anomaly"]
    # 4. stockout: the best-selling, dearest electronics item, one warehouse, a 35-day supplier
    elec = int(CATEGORY_NAMES.index("Electronics"))
    cand = np.flatnonzero(category == elec)
    so = int(cand[np.argmax(rate[cand])])
    rate[so] = rate.max() * 1.3
    price[so] = round(max(float(price.max()) * 1.1, 249.0)) - 0.01
    unit_cost[so] = round(price[so] * 0.45, 2)
    kshape[so] = 8.0
    supplier[so] = int(sup_by_cat[elec][0])
    supplier_lt[supplier[so]] = 35
    two[so] = False
    names_so = nouns[so]
    name[so] = f"Premium {col[so]} {names_so}"
    # 3. runs small: a well-selling apparel item in size S
    app = np.flatnonzero(cat_names == "Apparel")
    order_by_rate = app[np.argsort(-rate[app], kind="stable")]
    rs = int(order_by_rate[min(len(order_by_rate) - 1, int(arng.integers(1, 4)))])
    size_label[rs] = "S"
    name[rs] = f"{adj[rs]} {col[rs]} {nouns[rs]} - S"
    rate[rs] = max(rate[rs], float(np.quantile(rate, 0.8)))
    # 2. Monday cut-off misses at one owned warehouse; 1. the late lane leaves from the other
    monday_wh = int(arng.integers(0, 2))
    late_wh = 1 - monday_wh
    late_region = [r[0] for r in REGIONS].index("NY" if late_wh == 0 else "CA")
    mix = CARRIER_MIX[late_wh]
    top2 = np.argsort(-mix, kind="stable")[:2]
    late_carrier = int(top2[int(arng.integers(0, 2))])
    last_monday = spec.days - 7  # DEMO_END is a Sunday
    late_week0 = last_monday - 7 * int(arng.integers(5, 8))

    pair_product = np.concatenate([np.arange(n), np.flatnonzero(two)])
    pair_wh = np.concatenate([primary, second[two]])
    pair_share = np.concatenate([np.where(two, 0.6, 1.0), np.full(int(two.sum()), 0.4)])
    order = np.lexsort((pair_wh, pair_product))
    pair_product, pair_wh, pair_share = pair_product[order], pair_wh[order], pair_share[order]
    so_pair = int(np.flatnonzero(pair_product == so)[0])

    end_day = spec.days - 1
    so_po_day = end_day + STOCKOUT_PO_DAYS_AFTER_END - int(supplier_lt[supplier[so]])
    so_wh = int(primary[so])
    an = Anomalies(
        late_lane_carrier=CARRIERS[late_carrier][0],
        late_lane=f"{WAREHOUSES[late_wh][0]}>{REGIONS[late_region][0]}",
        late_lane_weeks=tuple(_day(start, late_week0 + 7 * k) for k in range(3)),  # type: ignore[arg-type]
        monday_cutoff_warehouse=WAREHOUSES[monday_wh][0],
        runs_small_sku=sku[rs],
        runs_small_since=_day(start, spec.days - RUNS_SMALL_DAYS),
        stockout_sku=sku[so],
        stockout_warehouse=WAREHOUSES[so_wh][0],
        stockout_po=_po_number(_day(start, so_po_day), int(supplier[so]), so_wh),
    )
    return _Plan(
        size=size, seed=seed, spec=spec, start=start, sku=sku, name=name, category=category,
        size_label=size_label, price=price, unit_cost=unit_cost, case_pack=case_pack, moq=moq,
        supplier=supplier, rate=rate, kshape=kshape, return_mult=return_mult, supplier_lt=supplier_lt,
        supplier_slip=supplier_slip, pair_product=pair_product, pair_wh=pair_wh, pair_share=pair_share,
        anomalies=an, late_carrier=late_carrier, late_wh=late_wh, late_region=late_region,
        late_week0=late_week0, monday_wh=monday_wh, runs_small_product=rs, stockout_product=so,
        stockout_pair=so_pair, stockout_po_day=so_po_day,
    )


def _day(start: np.datetime64, i: int) -> dt.date:
    return (start + np.timedelta64(int(i), "D")).astype(dt.date)


def _po_number(day: dt.date, supplier_idx: int, wh_idx: int) -> str:
    return f"PO-{day:%y%m%d}-{supplier_idx + 1:03d}{WAREHOUSES[wh_idx][0][3]}"


def anomalies(size: str = "default", seed: int = 42) -> Anomalies:
    """The anomalies :func:`seed` plants for ``size`` and ``seed`` (computed without a database)."""
    return _plan(size, seed).anomalies


def __getattr__(name: str) -> Any:
    # ``ANOMALIES``: those of the CLI's default seed (size "default", seed 42), built on first use.
    if name == "ANOMALIES":
        return anomalies("default", 42)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --- calendars --------------------------------------------------------------------------------


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> dt.date:
    d = dt.date(year, month, 1)
    d += dt.timedelta(days=(weekday - d.weekday()) % 7)
    if n > 0:
        return d + dt.timedelta(weeks=n - 1)
    last = dt.date(year + (month == 12), month % 12 + 1, 1) - dt.timedelta(days=1)
    return last - dt.timedelta(days=(last.weekday() - weekday) % 7)


def _holidays(first: dt.date, last: dt.date) -> tuple[list[tuple[int | None, dt.date, str]], dict[int, np.ndarray]]:
    """Global and per-warehouse holidays between ``first`` and ``last`` (plus calendars' arrays)."""
    rows: list[tuple[int | None, dt.date, str]] = []
    for y in range(first.year, last.year + 1):
        rows += [
            (None, dt.date(y, 1, 1), "New Year's Day"),
            (None, _nth_weekday(y, 5, 0, -1), "Memorial Day"),
            (None, dt.date(y, 7, 4), "Independence Day"),
            (None, _nth_weekday(y, 9, 0, 1), "Labor Day"),
            (None, _nth_weekday(y, 11, 3, 4), "Thanksgiving"),
            (None, dt.date(y, 12, 25), "Christmas Day"),
        ]
        for w, (m, d, label) in enumerate(WAREHOUSE_OWN_HOLIDAY):
            day = dt.date(y, m, d)
            if day.weekday() < 5:
                rows.append((w, day, label))
    rows = [r for r in rows if first <= r[1] <= last]
    glob = [d for w, d, _ in rows if w is None]
    per_wh = {w: np.array(sorted(glob + [d for ww, d, _ in rows if ww == w]), dtype="datetime64[D]")
              for w in range(len(WAREHOUSES))}
    per_wh[-1] = np.array(sorted(glob), dtype="datetime64[D]")
    return rows, per_wh


# --- demand and stock simulation --------------------------------------------------------------


def _seasonality(plan: _Plan) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-category multiplier (cat x day), promo lift per pair x day, promo flag per product x day."""
    days = plan.spec.days
    dates = plan.start + np.arange(days)
    doy = (dates - dates.astype("datetime64[Y]")).astype(int) + 1
    dow = (dates.astype("datetime64[D]").view("int64") - 4) % 7  # 1970-01-01 was a Thursday
    t_years = (np.arange(days) - (days - 1)) / 365.0
    cat_mult = np.empty((len(CATEGORY_NAMES), days))
    for c, cname in enumerate(CATEGORY_NAMES):
        amp, peak = YEARLY[cname]
        cat_mult[c] = (1 + amp * np.cos(2 * np.pi * (doy - peak) / 365.25)) * WEEKLY[dow] * (1 + 0.10 * t_years)
    # Black Friday to Cyber Monday lifts everything
    for y in range(int(str(dates[0])[:4]), int(str(dates[-1])[:4]) + 1):
        tg = np.datetime64(_nth_weekday(y, 11, 3, 4), "D")
        idx = ((dates >= tg + 1) & (dates <= tg + 4))
        cat_mult[:, idx] *= 2.3
    return cat_mult, doy, dow


def _promotions(plan: _Plan, rng: np.random.Generator) -> np.ndarray:
    """Boolean product x day: the SKU is on promotion (lift on demand, discount on price)."""
    n, days = plan.spec.n_skus, plan.spec.days
    promo = np.zeros((n, days), dtype=bool)
    n_promos = rng.poisson(days / 150.0, size=n)
    owner = np.repeat(np.arange(n), n_promos)
    begin = rng.integers(0, days, size=owner.size)
    length = rng.integers(3, 11, size=owner.size)
    for k in range(int(length.max(initial=0))):
        ok = k < length
        d = begin[ok] + k
        keep = d < days
        promo[owner[ok][keep], d[keep]] = True
    promo[plan.stockout_product, -40:] = False  # its end must read as steady demand
    return promo


@dataclass
class _Sim:
    sales: np.ndarray  # pairs x days
    lost: np.ndarray
    on_hand: np.ndarray  # end of day
    po_pair: np.ndarray
    po_day: np.ndarray
    po_qty: np.ndarray
    po_arrival: np.ndarray  # day index; may exceed the horizon
    promo: np.ndarray  # product x day


def _simulate(plan: _Plan, rngs: dict[str, np.random.Generator]) -> _Sim:
    spec = plan.spec
    days = spec.days
    rng = rngs["demand"]
    cat_mult, _, _ = _seasonality(plan)
    promo = _promotions(plan, rng)
    lift = rng.uniform(1.6, 3.0, size=spec.n_skus)

    pp = plan.pair_product
    base = plan.rate[pp] * plan.pair_share
    lam = base[:, None] * cat_mult[plan.category[pp]]
    lam *= np.where(promo[pp], lift[pp][:, None], 1.0)
    k = plan.kshape[pp][:, None]
    lam *= rng.gamma(k, 1.0 / k, size=lam.shape)
    demand = rng.poisson(lam).astype(np.int32)
    del lam

    # replenishment policy per pair
    srng = rngs["supply"]
    n_pairs = pp.size
    mu = base * cat_mult[plan.category[pp]].mean(axis=1)
    sup = plan.supplier[pp]
    lt_stated = plan.supplier_lt[sup]
    a_item = plan.rate[pp] >= np.quantile(plan.rate, 0.8)
    cover = np.where(a_item, 21, np.where(plan.rate[pp] >= np.quantile(plan.rate, 0.5), 35, 60))
    safety = srng.choice([0, 2, 5, 8, 12], size=n_pairs, p=[0.1, 0.2, 0.3, 0.25, 0.15])
    cp = plan.case_pack[pp]
    q = np.maximum(plan.moq[pp], np.ceil(mu * cover / cp) * cp).astype(np.int64)
    s_point = np.ceil(mu * (lt_stated + safety)).astype(np.int64)
    on_hand = (s_point + np.ceil(q * srng.uniform(0.3, 1.0, size=n_pairs))).astype(np.int64)
    # actual lead time per supplier and order day: the stated one, slipping now and then
    n_sup = plan.supplier_lt.size
    slip = srng.random((n_sup, days)) < plan.supplier_slip[:, None]
    lt_actual = plan.supplier_lt[:, None] + srng.integers(-2, 2, size=(n_sup, days))
    lt_actual += slip * srng.geometric(0.15, size=(n_sup, days))
    # one busy supplier's recent orders are held up (a congested port): overdue open POs
    busy = np.bincount(sup, minlength=n_sup)
    busy[sup[plan.stockout_pair]] = -1
    lt_actual[int(np.argmax(busy)), max(0, days - 45):days - 10] += 14
    lt_actual = np.clip(lt_actual, 3, MAX_LEAD_TIME)

    so = plan.stockout_pair
    end = days - 1
    adj_day = end - 30
    no_order_from = adj_day - MAX_LEAD_TIME - 5  # the stockout pair orders nothing after this day
    # the two special POs get (supplier, warehouse, day) to themselves
    same_group = (sup == sup[so]) & (plan.pair_wh == plan.pair_wh[so])
    blocked_days = {adj_day - int(lt_stated[so]), plan.stockout_po_day}
    # the stockout item's expected demand over its last four weeks (seasonality included)
    mu_end = float(base[so] * cat_mult[plan.category[pp[so]], -28:].mean())
    if no_order_from <= 0:
        on_hand[so] = int(round(mu[so] * adj_day * 0.9))

    sales = np.zeros((n_pairs, days), dtype=np.int32)
    hist = np.zeros((n_pairs, days), dtype=np.int32)
    receipts = np.zeros((n_pairs, days), dtype=np.int64)
    on_order = np.zeros(n_pairs, dtype=np.int64)
    po_pair: list[np.ndarray] = []
    po_day: list[np.ndarray] = []
    po_qty: list[np.ndarray] = []
    po_arr: list[np.ndarray] = []
    for t in range(days):
        arr = receipts[:, t]
        avail = on_hand + arr
        on_order -= arr
        sold = np.minimum(demand[:, t], avail)
        on_hand = avail - sold
        sales[:, t] = sold
        if t == adj_day:
            # Steer the stockout item to ~5 days of cover at the end: top up with a received PO, or
            # sell the surplus through the last 30 days (never less demand than drawn).
            target = int(round(STOCKOUT_COVER_DAYS * mu_end))
            needed = target + int(demand[so, t + 1:].sum())
            if on_hand[so] < needed:
                qty = needed - int(on_hand[so])
                po_pair.append(np.array([so]))
                po_day.append(np.array([t - int(lt_stated[so])]))
                po_qty.append(np.array([qty]))
                po_arr.append(np.array([t]))
                on_hand[so] += qty
            else:
                extra = int(on_hand[so]) - needed
                w = np.full(end - t, 1.0 / (end - t))
                demand[so, t + 1:] += srng.multinomial(extra, w).astype(np.int32)
        ip = on_hand + on_order
        need = ip <= s_point
        if t >= no_order_from:
            need[so] = False
        if t in blocked_days:
            need &= ~same_group
        idx = np.flatnonzero(need)
        if idx.size:
            nq = np.maximum(1, np.ceil((s_point[idx] - ip[idx] + 1) / q[idx])).astype(np.int64)
            qty = nq * q[idx]
            arrival = t + lt_actual[sup[idx], t]
            po_pair.append(idx)
            po_day.append(np.full(idx.size, t))
            po_qty.append(qty)
            po_arr.append(arrival)
            inside = arrival < days
            receipts[idx[inside], arrival[inside]] += qty[inside]
            on_order[idx] += qty
        hist[:, t] = on_hand
    # the stockout item's only open PO
    po_pair.append(np.array([so]))
    po_day.append(np.array([plan.stockout_po_day]))
    po_qty.append(np.array([int(q[so] * 2)]))
    po_arr.append(np.array([end + STOCKOUT_PO_DAYS_AFTER_END + 3]))
    lost = demand - sales
    return _Sim(
        sales=sales, lost=lost, on_hand=hist, po_pair=np.concatenate(po_pair), po_day=np.concatenate(po_day),
        po_qty=np.concatenate(po_qty), po_arrival=np.concatenate(po_arr), promo=promo,
    )


# --- tables -----------------------------------------------------------------------------------

Columns = dict[str, Any]  # column name -> list or numpy array (one value per row)


_LUT4 = (np.arange(10_000)[:, None] // np.array([1000, 100, 10, 1]) % 10 + ord("0")).astype(np.uint32)


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """Non-negative integers -> zero-padded decimal digits as UCS-4 codes, shape (n, width)."""
    v = np.asarray(values, dtype=np.int64)
    chunks = []
    for _ in range((width + 3) // 4):
        chunks.append(_LUT4[v % 10_000])
        v = v // 10_000
    return np.concatenate(chunks[::-1], axis=1)[:, -width:]


def _text(*parts: str | tuple[np.ndarray, int]) -> np.ndarray:
    """Join literal strings and ``(integers, width)`` digit blocks into one fixed-width str array.

    Formatting millions of ids and timestamps this way is ~20x faster than f-strings or
    ``np.datetime_as_string``.
    """
    n = next(len(p[0]) for p in parts if isinstance(p, tuple))
    blocks = []
    for p in parts:
        if isinstance(p, str):
            blocks.append(np.broadcast_to(np.array([ord(c) for c in p], dtype=np.uint32), (n, len(p))))
        else:
            blocks.append(_digits(p[0], p[1]))
    codes = np.ascontiguousarray(np.concatenate(blocks, axis=1))
    return codes.reshape(-1).view(f"<U{codes.shape[1]}")


def _ymd(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    d = days.astype("datetime64[D]")
    y = d.astype("datetime64[Y]")
    m = d.astype("datetime64[M]")
    return (y.astype(np.int64) + 1970, (m - y.astype("datetime64[M]")).astype(np.int64) + 1,
            (d - m.astype("datetime64[D]")).astype(np.int64) + 1)


def _dt_text(secs: np.ndarray) -> np.ndarray:
    """Seconds since 1970 -> 'YYYY-MM-DD HH:MM:SS.000000' (SQLAlchemy's SQLite storage format)."""
    secs = np.asarray(secs, dtype=np.int64)
    if secs.size == 0:
        return np.array([], dtype="<U26")
    day = secs // 86400
    lo = int(day.min())
    span = np.arange(lo, int(day.max()) + 1)
    y, m, d = _ymd(span)
    day_codes = _text((y, 4), "-", (m, 2), "-", (d, 2), " ").reshape(-1, 1).view(np.uint32)
    codes = np.concatenate([day_codes[day - lo], _time_codes()[secs % 86400]], axis=1)
    return np.ascontiguousarray(codes).reshape(-1).view("<U26")


_TIME_CODES: list[np.ndarray] = []


def _time_codes() -> np.ndarray:
    """'HH:MM:SS.000000' as UCS-4 codes for every second of a day (built once)."""
    if not _TIME_CODES:
        tod = np.arange(86_400)
        text = _text((tod // 3600, 2), ":", (tod // 60 % 60, 2), ":", (tod % 60, 2), ".000000")
        _TIME_CODES.append(text.reshape(-1, 1).view(np.uint32))
    return _TIME_CODES[0]


def _nullable(text: np.ndarray, valid: np.ndarray) -> list[str | None]:
    out = text.astype(object)
    out[~valid] = None
    return out.tolist()


def _dt_col(secs: np.ndarray, valid: np.ndarray | None = None) -> list[str | None]:
    if valid is None:
        return _dt_text(secs).tolist()
    return _nullable(_dt_text(np.where(valid, secs, 0)), valid)


def _date_col(days: np.ndarray) -> list[str]:
    y, m, d = _ymd(days)
    return _text((y, 4), "-", (m, 2), "-", (d, 2)).tolist()


def _haversine(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371 * math.asin(math.sqrt(a))


def _zones() -> tuple[np.ndarray, np.ndarray]:
    """Zone (2..8) and region choice weights per warehouse x region."""
    dist = np.array([[_haversine(w[6], w[7], r[2], r[3]) for r in REGIONS] for w in WAREHOUSES])
    zone = 2 + np.searchsorted(np.array([300, 700, 1100, 1600, 2200, 2900]), dist)
    pop = np.array([r[1] for r in REGIONS])
    weight = pop * np.exp(-dist / 900.0)
    return zone, weight / weight.sum(axis=1, keepdims=True)


def _choose(rng: np.random.Generator, probs: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """For each row index, pick a column of ``probs[row]`` (vectorised categorical draw)."""
    cum = np.cumsum(probs, axis=1)
    cum[:, -1] = 1.0
    u = rng.random(rows.size)
    return (u[:, None] > cum[rows]).sum(axis=1)


def _reference_tables(plan: _Plan, holidays: list[tuple[int | None, dt.date, str]]) -> dict[str, Columns]:
    n_sup = plan.spec.n_suppliers
    rng = np.random.default_rng(plan.seed + 1)
    places = [txt.SUPPLIER_PLACES[i % len(txt.SUPPLIER_PLACES)] for i in rng.permutation(n_sup)]
    sup_names = [f"{txt.SUPPLIER_NAMES[i % len(txt.SUPPLIER_NAMES)]} "
                 f"{txt.SUPPLIER_SUFFIXES[(i // len(txt.SUPPLIER_NAMES) + i) % len(txt.SUPPLIER_SUFFIXES)]}"
                 + (f" {i // len(txt.SUPPLIER_NAMES) + 1}" if i >= len(txt.SUPPLIER_NAMES) else "")
                 for i in range(n_sup)]
    services = [(ci, s) for ci, c in enumerate(CARRIERS) for s in c[3]]
    return {
        "suppliers": {
            "id": list(range(1, n_sup + 1)),
            "code": [f"SUP-{i + 1:03d}" for i in range(n_sup)],
            "name": sup_names,
            "city": [p[0] for p in places], "region": [p[1] for p in places], "country": [p[2] for p in places],
            "lead_time_days": plan.supplier_lt.tolist(),
        },
        "warehouses": {
            "id": list(range(1, len(WAREHOUSES) + 1)),
            "code": [w[0] for w in WAREHOUSES],
            "name": [w[1] for w in WAREHOUSES],
            "region": [w[2] for w in WAREHOUSES],
            "operator_code": [w[3] for w in WAREHOUSES],
            "cutoff_time": [w[4].strftime("%H:%M:%S.000000") for w in WAREHOUSES],
            "business_days": ["01234"] * len(WAREHOUSES),
            "handling_days": [w[5] for w in WAREHOUSES],
            "version": [1] * len(WAREHOUSES),
        },
        "holidays": {
            "id": list(range(1, len(holidays) + 1)),
            "warehouse_id": [None if w is None else w + 1 for w, _, _ in holidays],
            "day": [d.isoformat() for _, d, _ in holidays],
            "name": [label for _, _, label in holidays],
        },
        "carriers": {
            "id": list(range(1, len(CARRIERS) + 1)),
            "code": [c[0] for c in CARRIERS],
            "name": [c[1] for c in CARRIERS],
        },
        "carrier_services": {
            "id": list(range(1, len(services) + 1)),
            "carrier_id": [ci + 1 for ci, _ in services],
            "code": [s[0] for _, s in services],
            "name": [s[1] for _, s in services],
            "promised_days": [s[2] for _, s in services],
        },
        "channels": {
            "id": list(range(1, len(CHANNELS) + 1)),
            "code": [c[0] for c in CHANNELS],
            "name": [c[1] for c in CHANNELS],
        },
        "products": {
            "id": list(range(1, plan.spec.n_skus + 1)),
            "sku": plan.sku,
            "name": plan.name,
            "category": [CATEGORY_NAMES[c] for c in plan.category],
            "size": plan.size_label,
            "unit_cost": plan.unit_cost.tolist(),
            "price": plan.price.tolist(),
            "supplier_id": (plan.supplier + 1).tolist(),
            "case_pack": plan.case_pack.tolist(),
            "moq": plan.moq.tolist(),
            "lead_time_days": plan.supplier_lt[plan.supplier].tolist(),
            "active": [1] * plan.spec.n_skus,
        },
    }


def _purchase_tables(plan: _Plan, sim: _Sim) -> dict[str, Columns]:
    pair = sim.po_pair
    sup = plan.supplier[plan.pair_product[pair]]
    wh = plan.pair_wh[pair]
    key = np.stack([sim.po_day, sup, wh], axis=1)
    uniq, po_idx = np.unique(key, axis=0, return_inverse=True)
    po_idx = po_idx.reshape(-1)
    end = plan.spec.days - 1
    arrival = np.zeros(len(uniq), dtype=np.int64)
    arrival[po_idx] = sim.po_arrival  # all lines of one PO share the supplier's lead time that day
    received = arrival <= end
    ordered = plan.start + uniq[:, 0]
    expected = ordered + plan.supplier_lt[uniq[:, 1]]
    po_numbers = [_po_number(d, int(s), int(w)) for d, s, w in
                  zip(ordered.astype(dt.date).tolist(), uniq[:, 1].tolist(), uniq[:, 2].tolist(), strict=True)]
    line_order = np.lexsort((plan.pair_product[pair], po_idx))
    lp = pair[line_order]
    lpo = po_idx[line_order]
    lrecv = received[lpo]
    prod = plan.pair_product[lp]
    rng = np.random.default_rng(plan.seed + 2)
    planners = np.array(["auto-replenish", "auto-replenish", "auto-replenish", "maria.lopez", "tom.becker"])
    return {
        "purchase_orders": {
            "id": list(range(1, len(uniq) + 1)),
            "po_number": po_numbers,
            "supplier_id": (uniq[:, 1] + 1).tolist(),
            "warehouse_id": (uniq[:, 2] + 1).tolist(),
            "status": np.where(received, "received", "open").tolist(),
            "ordered_on": _date_col(ordered),
            "expected_on": _date_col(expected),
            "created_by": planners[rng.integers(0, planners.size, size=len(uniq))].tolist(),
            "version": [1] * len(uniq),
        },
        "purchase_order_lines": {
            "id": list(range(1, lp.size + 1)),
            "po_id": (lpo + 1).tolist(),
            "product_id": (prod + 1).tolist(),
            "qty_ordered": sim.po_qty[line_order].tolist(),
            "qty_received": np.where(lrecv, sim.po_qty[line_order], 0).tolist(),
            "received_on": _nullable(np.array(_date_col(plan.start + np.minimum(arrival[lpo], end))), lrecv),
            "unit_cost": plan.unit_cost[prod].tolist(),
        },
    }


def _snapshot_table(plan: _Plan, sim: _Sim) -> Columns:
    days = plan.spec.days
    dates = plan.start + np.arange(days)
    dow = (dates.view("int64") - 4) % 7
    keep = (np.arange(days) >= days - DAILY_SNAPSHOT_DAYS) | (dow == 6)
    day_idx = np.flatnonzero(keep)
    n_pairs = plan.pair_product.size
    pair = np.repeat(np.arange(n_pairs), day_idx.size)
    return {
        "id": np.arange(1, pair.size + 1),
        "product_id": plan.pair_product[pair] + 1,
        "warehouse_id": plan.pair_wh[pair] + 1,
        "day": np.array(_date_col(dates[day_idx]), dtype=object)[np.tile(np.arange(day_idx.size), n_pairs)],
        "on_hand": sim.on_hand[:, day_idx].reshape(-1),
    }


def _busday_next(days: np.ndarray, cal: np.busdaycalendar) -> np.ndarray:
    """First business day strictly after each day."""
    return np.busday_offset(days + 1, 0, roll="forward", busdaycal=cal)


def _order_tables(plan: _Plan, sim: _Sim, rngs: dict[str, np.random.Generator],
                  cal: dict[int, np.ndarray]) -> tuple[dict[str, Columns], dict[str, np.ndarray]]:
    rng = rngs["orders"]
    end_secs = (np.datetime64(DEMO_END, "D") + 1).astype("datetime64[s]").view("int64")  # midnight after

    # sold units -> lines (mostly one unit) -> orders per warehouse and day
    pi, ti = np.nonzero(sim.sales)
    units = sim.sales[pi, ti].astype(np.int64)
    u_pair, u_day = np.repeat(pi, units), np.repeat(ti, units)
    first = np.ones(u_pair.size, dtype=bool)
    first[1:] = (u_pair[1:] != u_pair[:-1]) | (u_day[1:] != u_day[:-1])
    new_line = first | (rng.random(u_pair.size) < 0.82)
    starts = np.flatnonzero(new_line)
    l_pair, l_day = u_pair[starts], u_day[starts]
    l_qty = np.diff(np.append(starts, u_pair.size))
    l_cancel = np.zeros(l_pair.size, dtype=bool)
    # part of the unmet demand shows up as cancelled one-unit orders
    ci, ct = np.nonzero(sim.lost)
    n_c = rng.binomial(sim.lost[ci, ct], CANCEL_SHARE_OF_LOST)
    c_pair, c_day = np.repeat(ci, n_c), np.repeat(ct, n_c)
    l_pair = np.concatenate([l_pair, c_pair])
    l_day = np.concatenate([l_day, c_day])
    l_qty = np.concatenate([l_qty, np.ones(c_pair.size, dtype=np.int64)])
    l_cancel = np.concatenate([l_cancel, np.ones(c_pair.size, dtype=bool)])
    l_wh = plan.pair_wh[l_pair]

    # group lines into orders: shuffle within (warehouse, day, cancelled), then cut runs
    perm = np.lexsort((rng.random(l_pair.size), l_cancel, l_day, l_wh))
    l_pair, l_day, l_qty, l_cancel, l_wh = l_pair[perm], l_day[perm], l_qty[perm], l_cancel[perm], l_wh[perm]
    grp = np.ones(l_pair.size, dtype=bool)
    grp[1:] = (l_wh[1:] != l_wh[:-1]) | (l_day[1:] != l_day[:-1]) | (l_cancel[1:] != l_cancel[:-1])
    new_order = grp | (rng.random(l_pair.size) < 0.7) | l_cancel
    l_order = np.cumsum(new_order) - 1
    n_orders = int(l_order[-1]) + 1 if l_order.size else 0
    o_first = np.flatnonzero(new_order)
    o_wh, o_day, o_cancel = l_wh[o_first], l_day[o_first], l_cancel[o_first]

    # when: placed within the day by the hourly profile; paid minutes later (a few much later)
    hour = rng.choice(24, size=n_orders, p=HOURS / HOURS.sum())
    day0 = (plan.start + o_day).astype("datetime64[s]").view("int64")
    placed = day0 + hour * 3600 + rng.integers(0, 3600, size=n_orders)
    delay = np.where(rng.random(n_orders) < 0.05, rng.integers(3600, 30 * 3600, size=n_orders),
                     rng.integers(20, 900, size=n_orders))
    paid = placed + delay
    o_paid_ok = (paid < end_secs) & ~o_cancel
    # renumber orders by placed time so ids (and the placed_at index) grow together
    o_rank = np.argsort(placed, kind="stable")
    new_id = np.empty(n_orders, dtype=np.int64)
    new_id[o_rank] = np.arange(n_orders)
    l_order = new_id[l_order]
    o_wh, o_day, o_cancel, placed, paid, o_paid_ok = (a[o_rank] for a in (o_wh, o_day, o_cancel, placed, paid,
                                                                          o_paid_ok))
    line_sort = np.lexsort((l_pair, l_order))
    l_pair, l_day, l_qty, l_cancel, l_wh, l_order = (a[line_sort] for a in (l_pair, l_day, l_qty, l_cancel, l_wh,
                                                                            l_order))
    l_first = np.ones(l_order.size, dtype=bool)
    l_first[1:] = l_order[1:] != l_order[:-1]
    first_idx = np.flatnonzero(l_first)
    line_no = np.arange(l_order.size) - np.repeat(first_idx, np.diff(np.append(first_idx, l_order.size))) + 1

    channel = rng.choice(len(CHANNELS), size=n_orders, p=[c[2] for c in CHANNELS])
    zone_tab, region_w = _zones()
    region = _choose(rng, region_w, o_wh)

    # ship-by from the warehouse cut-off rule
    paid_day = (paid // 86400).astype("datetime64[D]")
    paid_tod = paid % 86400
    ship_by_day = np.zeros(n_orders, dtype="datetime64[D]")
    start_day = np.zeros(n_orders, dtype="datetime64[D]")
    ship_day = np.zeros(n_orders, dtype="datetime64[D]")
    wcal = {w: np.busdaycalendar(weekmask="1111100", holidays=cal[w]) for w in range(len(WAREHOUSES))}
    srng = rngs["ship"]
    for w, spec_w in enumerate(WAREHOUSES):
        m = o_wh == w
        pdays = paid_day[m]
        cutoff = spec_w[4].hour * 3600 + spec_w[4].minute * 60
        on = np.is_busday(pdays, busdaycal=wcal[w]) & (paid_tod[m] < cutoff)
        st = np.where(on, pdays, _busday_next(pdays, wcal[w]))
        sb = np.busday_offset(st, spec_w[5], busdaycal=wcal[w])
        start_day[m], ship_by_day[m] = st, sb
        # ship between the start day and the deadline; late ones one or two business days after
        early = srng.integers(0, spec_w[5] + 1, size=st.size)
        sd = np.busday_offset(st, early, busdaycal=wcal[w])
        p_late = np.full(st.size, spec_w[8])
        if w == plan.monday_wh:
            p_late = np.where((sb.view("int64") - 4) % 7 == 0, 0.85, p_late)
        late = srng.random(st.size) < p_late
        late_by = np.where(srng.random(st.size) < 0.8, 1, 2)
        sd = np.where(late, np.busday_offset(sb, late_by, busdaycal=wcal[w]), sd)
        ship_day[m] = sd
    ship_day_s = ship_day.astype("datetime64[s]").view("int64")
    same_day = ship_day == paid_day
    ship_secs = np.where(
        same_day,
        paid + (srng.uniform(0.5, 1.0, n_orders) * np.maximum(1800, 23 * 3600 - paid_tod)).astype(np.int64),
        ship_day_s + 8 * 3600 + srng.integers(0, 10 * 3600, size=n_orders),
    )
    shipped = o_paid_ok & (ship_secs < end_secs)

    # unit price: list price, less a promotion discount on promo days
    prod = plan.pair_product[l_pair]
    disc = np.where(sim.promo[prod, l_day], np.round(rng.uniform(0.1, 0.3, size=l_pair.size), 2), 0.0)
    unit_price = np.round(plan.price[prod] * (1 - disc), 2)

    status = np.full(n_orders, "pending", dtype=object)
    status[o_paid_ok] = "processing"
    status[o_cancel] = "cancelled"
    orders: Columns = {
        "id": np.arange(1, n_orders + 1),
        "order_number": _text("SO-", (np.arange(10_000_001, 10_000_001 + n_orders), 8)),
        "channel_id": channel + 1,
        "warehouse_id": o_wh + 1,
        "customer_region": np.array([r[0] for r in REGIONS], dtype=object)[region],
        "status": status,  # completed below from the shipments
        "placed_at": _dt_col(placed),
        "paid_at": _dt_col(paid, valid=paid < end_secs),
        "ship_by": _dt_col(ship_by_day.astype("datetime64[s]").view("int64") + 86399, valid=paid < end_secs),
        "source": ["demo"] * n_orders,
    }
    lines: Columns = {
        "id": np.arange(1, l_order.size + 1),
        "order_id": l_order + 1,
        "line_no": line_no,
        "product_id": prod + 1,
        "seller_id": [None] * l_order.size,
        "qty": l_qty,
        "unit_price": unit_price,
        "freight": np.zeros(l_order.size),
        "ship_by": [None] * l_order.size,
    }
    state = {
        "o_wh": o_wh, "region": region, "zone_tab": zone_tab, "shipped": shipped, "ship_secs": ship_secs,
        "ship_day": ship_day, "placed": placed, "o_day": o_day, "l_order": l_order, "l_prod": prod,
        "l_qty": l_qty, "l_day": l_day, "unit_price": unit_price, "status": status,
    }
    return {"orders": orders, "order_lines": lines}, state


def _shipment_table(plan: _Plan, st: dict[str, np.ndarray], cal: dict[int, np.ndarray],
                    rngs: dict[str, np.random.Generator]) -> tuple[Columns, dict[str, np.ndarray]]:
    rng = rngs["ship"]
    end_secs = (np.datetime64(DEMO_END, "D") + 1).astype("datetime64[s]").view("int64")
    oid = np.flatnonzero(st["shipped"])
    n = oid.size
    wh = st["o_wh"][oid]
    region = st["region"][oid]
    carrier = _choose(rng, CARRIER_MIX, wh)
    # service within the carrier
    svc_offset = np.cumsum([0] + [len(c[3]) for c in CARRIERS])[:-1]
    max_svc = max(len(c[3]) for c in CARRIERS)
    svc_p = np.zeros((len(CARRIERS), max_svc))
    promised_tab = np.zeros((len(CARRIERS), max_svc), dtype=np.int64)
    cost_tab = np.zeros((len(CARRIERS), max_svc))
    for ci, c in enumerate(CARRIERS):
        for si, s in enumerate(c[3]):
            svc_p[ci, si], promised_tab[ci, si], cost_tab[ci, si] = s[4], s[2], s[3]
    svc = _choose(rng, svc_p, carrier)
    promised_days = promised_tab[carrier, svc]
    zone = st["zone_tab"][wh, region]

    # weight from the lines: category weight x qty, plus packaging
    cat_w = np.array([txt.CATEGORIES[c][3] for c in CATEGORY_NAMES])
    line_w = cat_w[plan.category[st["l_prod"]]] * st["l_qty"]
    weight = np.bincount(st["l_order"], weights=line_w, minlength=st["o_wh"].size)[oid] + 0.2
    carrier_mult = np.array([1.0, 0.94, 0.9, 0.97, 1.05, 0.88, 1.02])
    label = np.round((cost_tab[carrier, svc] + 0.55 * zone + 0.9 * weight) * carrier_mult[carrier], 2)

    ccal = np.busdaycalendar(weekmask="1111100", holidays=cal[-1])
    shipped_at = st["ship_secs"][oid]
    sday = st["ship_day"][oid]
    promised_day = np.busday_offset(sday, promised_days, roll="forward", busdaycal=ccal)
    promised_at = promised_day.astype("datetime64[s]").view("int64") + 20 * 3600
    p_late = np.array([c[2] for c in CARRIERS])[carrier] + np.where(zone >= 7, 0.05, 0.0)
    u = rng.random(n)
    delta = np.where(u < p_late, 1, 0) + np.where(u < p_late / 3, 1, 0) + np.where(u < p_late / 10, 1, 0)
    delta = np.where((u > 0.92) & (promised_days > 1), -1, delta)
    # anomaly 1: the late lane's carrier runs two to four days late for three weeks
    week0 = plan.start + plan.late_week0
    in_weeks = (sday >= week0) & (sday < week0 + 21)
    on_lane = (carrier == plan.late_carrier) & (wh == plan.late_wh) & (region == plan.late_region)
    hit = in_weeks & on_lane & (rng.random(n) < 0.85)
    delta = np.where(hit, rng.integers(2, 5, size=n), delta)
    deliver_day = np.busday_offset(sday, np.maximum(promised_days + delta, 1), roll="forward", busdaycal=ccal)
    delivered_at = deliver_day.astype("datetime64[s]").view("int64") + 9 * 3600 + rng.integers(0, 11 * 3600, size=n)
    failed_first = rng.random(n) < 0.07
    first_attempt = np.where(
        failed_first,
        np.busday_offset(deliver_day, -1, roll="backward", busdaycal=ccal).astype("datetime64[s]").view("int64")
        + 10 * 3600 + rng.integers(0, 9 * 3600, size=n),
        delivered_at,
    )
    first_attempt = np.maximum(first_attempt, shipped_at + 3600)
    # fates: lost, damaged, returned to sender; later ones are still in transit at the end
    fate = rng.random(n)
    status = np.full(n, "delivered", dtype=object)
    status[fate < 0.012] = "returned_to_sender"
    status[fate < 0.007] = "damaged"
    status[fate < 0.003] = "lost"
    arrived = delivered_at < end_secs
    status[~arrived & (status == "delivered")] = "in_transit"
    status[~arrived & (status == "returned_to_sender")] = "in_transit"
    delivered_ok = status == "delivered"
    attempt_ok = (delivered_ok | (status == "returned_to_sender")) & (first_attempt < end_secs)
    tracking_prefix = np.array([c[0] for c in CARRIERS], dtype=object)[carrier]
    lanes = (np.array([w[0] for w in WAREHOUSES], dtype=object)[wh] + ">"
             + np.array([r[0] for r in REGIONS], dtype=object)[region])
    table: Columns = {
        "id": np.arange(1, n + 1),
        "tracking_number": tracking_prefix + _text((oid * 7919 + 104_729, 11)).astype(object),
        "order_id": oid + 1,
        "warehouse_id": wh + 1,
        "carrier_id": carrier + 1,
        "service_id": svc_offset[carrier] + svc + 1,
        "zone": zone,
        "lane": lanes,
        "label_cost": label,
        "shipped_at": _dt_col(shipped_at),
        "promised_at": _dt_col(promised_at),
        "first_attempt_at": _dt_col(first_attempt, valid=attempt_ok),
        "delivered_at": _dt_col(delivered_at, valid=delivered_ok),
        "status": status,
    }
    o_status = st["status"]
    o_status[oid] = np.where(delivered_ok, "delivered", "shipped")
    info = {"oid": oid, "delivered_ok": delivered_ok, "delivered_at": delivered_at,
            "late": delivered_at > promised_at, "transit_days": (deliver_day - sday).astype(np.int64)}
    return table, info


def _return_table(plan: _Plan, st: dict[str, np.ndarray], ship: dict[str, np.ndarray],
                  rngs: dict[str, np.random.Generator]) -> Columns:
    rng = rngs["returns"]
    end_secs = (np.datetime64(DEMO_END, "D") + 1).astype("datetime64[s]").view("int64")
    n_orders = st["o_wh"].size
    delivered = np.zeros(n_orders, dtype=bool)
    delivered[ship["oid"]] = ship["delivered_ok"]
    deliv_at = np.zeros(n_orders, dtype=np.int64)
    deliv_at[ship["oid"]] = ship["delivered_at"]
    late = np.zeros(n_orders, dtype=bool)
    late[ship["oid"]] = ship["late"]
    transit = np.zeros(n_orders, dtype=np.int64)
    transit[ship["oid"]] = ship["transit_days"]

    lo = st["l_order"]
    prod = st["l_prod"]
    cat = plan.category[prod]
    base = np.array([txt.CATEGORIES[c][4] for c in CATEGORY_NAMES])[cat] * plan.return_mult[prod]
    p = base * np.where(late[lo], 1.5, 1.0)
    rs_window = st["l_day"] >= plan.spec.days - RUNS_SMALL_DAYS
    is_rs = (prod == plan.runs_small_product) & rs_window
    p = np.where(is_rs, RUNS_SMALL_RETURN_RATE, p)
    ret = delivered[lo] & (rng.random(lo.size) < p)
    rl = np.flatnonzero(ret)
    received = deliv_at[lo[rl]] + rng.integers(3, 22, size=rl.size) * 86400 + rng.integers(9 * 3600, 17 * 3600,
                                                                                          size=rl.size)
    keep = received < end_secs
    rl, received = rl[keep], received[keep]
    n = rl.size

    # reasons: category mix, fit by size, lateness
    sizes = np.array([s or "" for s in plan.size_label], dtype=object)[prod[rl]]
    w = np.array([txt.REASON_WEIGHTS[CATEGORY_NAMES[c]] for c in cat[rl]])
    fit = np.array([txt.SIZE_FIT.get(s, (1.0, 1.0)) for s in sizes]) if n else np.zeros((0, 2))
    w[:, 0] *= fit[:, 0]
    w[:, 1] *= fit[:, 1]
    w[:, 7] *= np.where(late[lo[rl]], 6.0, 0.3)
    w = w / w.sum(axis=1, keepdims=True)
    reason = _choose(rng, w, np.arange(n))
    reason = np.where(is_rs[rl] & (rng.random(n) < 0.85), 0, reason)
    reason_code = np.array(txt.REASONS, dtype=object)[reason]

    qty_line = st["l_qty"][rl]
    qty = np.where((qty_line > 1) & (rng.random(n) < 0.3), 1, qty_line)
    fee = np.where((reason_code == "changed_mind") & (rng.random(n) < 0.4), 0.9, 1.0)
    refund = np.round(qty * st["unit_price"][rl] * fee, 2)
    disp_w = np.array([txt.DISPOSITION_WEIGHTS[r] for r in txt.REASONS])
    disp = _choose(rng, disp_w, reason)
    disposition = np.array(DISPOSITIONS, dtype=object)[disp]

    # comments: 70 % leave one; about 6 % of those in another language
    has = rng.random(n) < 0.7
    other = rng.random(n) < 0.06
    pick = rng.random(n)
    nouns = [nm.split(" - ")[0].split(" ", 2)[-1].lower() for nm in plan.name]
    comments: list[str | None] = []
    for i in range(n):  # ~150 k at bench size: string templating is the one per-row step
        if not has[i]:
            comments.append(None)
            continue
        r = txt.REASONS[reason[i]]
        pool = (txt.COMMENTS_OTHER if other[i] else txt.COMMENTS_EN)[r]
        comments.append(pool[int(pick[i] * len(pool))].format(
            size=sizes[i] or "M", item=nouns[prod[rl[i]]], days=int(transit[lo[rl[i]]]) + 1))
    order_rank = np.argsort(received, kind="stable")
    ids = np.arange(1, n + 1)
    return {
        "id": ids,
        "rma_number": _text("RMA-", (ids, 7)),
        "order_line_id": (rl + 1)[order_rank],
        "qty": qty[order_rank],
        "reason_code": reason_code[order_rank],
        "comment": [comments[i] for i in order_rank.tolist()],
        "received_at": _dt_col(received[order_rank]),
        "refund_amount": refund[order_rank],
        "disposition": disposition[order_rank],
    }


def generate(size: str = "default", seed: int = 42, progress: Progress | None = None) -> dict[str, Columns]:
    """Generate the demo tables in memory: table name -> column name -> values (ids included).

    Datetimes are ``'YYYY-MM-DD HH:MM:SS.000000'`` strings, dates ``'YYYY-MM-DD'``, booleans 0/1,
    as :func:`seed` loads them.
    """
    say = progress or (lambda _msg: None)
    plan = _plan(size, seed)
    rngs = _streams(seed)
    first = _day(plan.start, 0)
    holidays, cal = _holidays(first - dt.timedelta(days=120), DEMO_END + dt.timedelta(days=90))
    holidays_rows = [h for h in holidays if h[1] >= first - dt.timedelta(days=7)]
    say("generating reference data")
    tables = _reference_tables(plan, holidays_rows)
    say("simulating demand and stock")
    sim = _simulate(plan, rngs)
    say("generating purchase orders and inventory snapshots")
    tables.update(_purchase_tables(plan, sim))
    tables["inventory_snapshots"] = _snapshot_table(plan, sim)
    say("generating orders")
    ord_tables, state = _order_tables(plan, sim, rngs, cal)
    say("generating shipments")
    ship_table, ship_info = _shipment_table(plan, state, cal, rngs)
    ord_tables["orders"]["status"] = state["status"]
    tables.update(ord_tables)
    tables["shipments"] = ship_table
    say("generating returns")
    tables["returns"] = _return_table(plan, state, ship_info, rngs)
    return tables


# --- loading ----------------------------------------------------------------------------------

SEED_TABLES: tuple[Table, ...] = tuple(
    m.__table__  # type: ignore[misc]
    for m in (Supplier, Warehouse, Holiday, Carrier, CarrierService, Channel, Product, PurchaseOrder,
              PurchaseOrderLine, InventorySnapshot, Order, OrderLine, Shipment, Return)
)
# Tables whose rows mean "this database holds business data" (users, thresholds, audit do not).
DATA_TABLES: tuple[Table, ...] = SEED_TABLES + (Review.__table__,)  # type: ignore[operator]
SQLITE_LOAD_CACHE = "PRAGMA cache_size=-262144"  # 256 MiB while seeding
SQLITE_DEFAULT_CACHE = "PRAGMA cache_size=-2000"  # SQLite's default
SQLITE_FK_OFF = "PRAGMA foreign_keys=OFF"
SQLITE_FK_ON = "PRAGMA foreign_keys=ON"
COPY_BATCH = 200_000
REBUILD_INDEXES_FROM = 100_000  # rows: above this, drop secondary indexes, load, then rebuild them


def _as_list(values: Any) -> list[Any]:
    if isinstance(values, np.ndarray):
        return values.tolist()
    return list(values)


def _columns(table: Table, cols: Columns) -> tuple[list[str], int]:
    names = [c.name for c in table.columns]
    missing = set(names) ^ set(cols)
    if missing:
        raise RuntimeError(f"demo table {table.name}: columns do not match the model: {sorted(missing)}")
    return names, len(cols[names[0]])


def _csv_chunk(names: list[str], cols: Columns, start: int, stop: int) -> str:
    """Rows ``start:stop`` as CSV for COPY (pandas writes it in C; NULL is ``\\N``)."""
    frame = pd.DataFrame({
        nm: (cols[nm][start:stop] if isinstance(cols[nm], np.ndarray) and cols[nm].dtype != object
             else pd.Series(cols[nm][start:stop], dtype=object))
        for nm in names
    })
    return frame.to_csv(header=False, index=False, na_rep="\\N", lineterminator="\n")


def _load_table(conn: Connection, table: Table, cols: Columns, say: Progress) -> int:
    names, n = _columns(table, cols)
    if n == 0:
        return 0
    if conn.dialect.name == "postgresql":
        from psycopg import sql

        stmt = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv, NULL '\\N')").format(
            sql.Identifier(table.name), sql.SQL(", ").join(sql.Identifier(nm) for nm in names))
        dbapi: Any = conn.connection.dbapi_connection  # a psycopg connection, in our transaction
        with dbapi.cursor() as cur, cur.copy(stmt) as copy:
            for start in range(0, n, COPY_BATCH):
                copy.write(_csv_chunk(names, cols, start, start + COPY_BATCH))
                if start:
                    say(f"loading {table.name} {100 * start // n}%")
    else:
        # Driver-level executemany of plain tuples: the statement is compiled from the model.
        stmt_text = str(table.insert().compile(dialect=conn.dialect))
        rows = zip(*(_as_list(cols[nm]) for nm in names), strict=True)
        batch = 200_000
        buf: list[tuple[Any, ...]] = []
        done = 0
        for row in rows:
            buf.append(row)
            if len(buf) == batch:
                conn.exec_driver_sql(stmt_text, buf)
                done += len(buf)
                buf = []
                say(f"loading {table.name} {100 * done // n}%")
        if buf:
            conn.exec_driver_sql(stmt_text, buf)
    return n


def _droppable_fks(conn: Connection, table: Table) -> list[ForeignKeyConstraint]:
    """The table's foreign keys that exist in the database under their model names."""
    present = {fk["name"] for fk in inspect(conn).get_foreign_keys(table.name)}
    return [fk for fk in table.foreign_key_constraints if fk.name in present]


def _add_fk(fk: ForeignKeyConstraint) -> AddConstraint:
    """ALTER TABLE ... ADD CONSTRAINT for ``fk``, leaving the shared model untouched.

    ``AddConstraint`` by default marks its constraint as "created separately", so every later
    CREATE TABLE of that model in the process (a fresh SQLite file, say) would leave the foreign
    key out. The model's tables are shared by the whole process: never let one seed change them.
    """
    return AddConstraint(fk, isolate_from_table=False)


def _load_all(conn: Connection, tables: dict[str, Columns], counts: dict[str, int], say: Progress) -> int:
    for table in SEED_TABLES:
        say(f"loading {table.name}")
        cols = tables.pop(table.name)
        # Building an index once from sorted keys is 2-3x faster than growing it row by row, and
        # on PostgreSQL one validation pass per foreign key beats a trigger per row (3-4x).
        big = len(cols["id"]) >= REBUILD_INDEXES_FROM
        indexes = list(table.indexes) if big else []
        fks = _droppable_fks(conn, table) if big and conn.dialect.name == "postgresql" else []
        for fk in fks:
            conn.execute(DropConstraint(fk))
        for index in indexes:
            index.drop(conn)
        counts[table.name] = _load_table(conn, table, cols, say)
        del cols
        if big:
            say(f"indexing {table.name}")
        for index in indexes:
            index.create(conn)
        for fk in fks:
            conn.execute(_add_fk(fk))
    if conn.dialect.name == "postgresql":
        # COPY with explicit ids leaves the id sequences at 1: move each past its largest id.
        for table in SEED_TABLES:
            top = conn.execute(select(func.max(table.c.id))).scalar()
            if top is not None:
                conn.execute(select(func.setval(func.pg_get_serial_sequence(table.name, "id"), top)))
        analyze(conn, [t.name for t in SEED_TABLES])
    return sum(counts.values())


def _counts(conn: Connection) -> dict[str, int]:
    return {t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one()) for t in SEED_TABLES}


def is_empty(engine: Engine) -> bool:
    """True when the database holds no business data (users, thresholds and audit rows aside)."""
    with engine.connect() as conn:
        return all(conn.execute(select(t.c.id).limit(1)).first() is None for t in DATA_TABLES)


def _source(size: str, seed: int) -> str:
    return f"demo:{size}:{seed}"


def seed(engine: Engine, *, size: str = "default", seed: int = 42, progress: Progress | None = None) -> dict[str, int]:
    """Fill an empty database with the demo data set ``size`` made from ``seed``.

    Parameters
    ----------
    engine
        The database (SQLite or PostgreSQL) with the current schema.
    size
        ``"small"``, ``"default"`` or ``"bench"`` (see the module docstring).
    seed
        Seed of the random generator: the same size and seed give the same rows.
    progress
        Optional callable receiving short messages ("generating orders", "loading shipments 40%").

    Returns
    -------
    dict[str, int]
        Row count per table written. When this size and seed were seeded before, nothing is
        written and the current counts are returned.

    Raises
    ------
    ValueError
        For an unknown size, or when the database already holds other data.
    """
    _spec(size)
    say = progress or (lambda _msg: None)
    source = _source(size, seed)
    with engine.connect() as conn:
        done = conn.execute(
            select(ImportRun.id).where(ImportRun.kind == SEED_KIND, ImportRun.source == source,
                                       ImportRun.status == "ok").limit(1)
        ).first()
        if done is not None:
            say(f"{source} is already seeded; nothing to do")
            return _counts(conn)
    if not is_empty(engine):
        with engine.connect() as conn:
            held = {k: v for k, v in _counts(conn).items() if v}
        other = _seed_sources(engine)
        raise ValueError(
            f"cannot seed demo data (size={size}, seed={seed}): the database already holds data "
            f"({', '.join(f'{v:,} {k}' for k, v in list(held.items())[:4])}"
            + (f"; seeded earlier as {', '.join(other)}" if other else "")
            + "). Seed an empty database instead."
        )
    started = dt.datetime.now()  # noqa: DTZ005 - naive local time, like every timestamp here
    tables = generate(size, seed, progress=say)
    counts: dict[str, int] = {}
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        raw: Any = conn.connection.dbapi_connection
        if sqlite and raw is not None:
            # Bulk-load settings, made before BEGIN (foreign_keys cannot change inside a
            # transaction): the generator assigns every id, and the tests check each foreign key.
            raw.execute(SQLITE_FK_OFF)
            raw.execute(SQLITE_LOAD_CACHE)
        try:
            with conn.begin():
                total = _load_all(conn, tables, counts, say)
                with Session(bind=conn) as session:
                    session.add(ImportRun(kind=SEED_KIND, source=source, actor=SEED_ACTOR, started_at=started,
                                          finished_at=dt.datetime.now(), rows_in=total,  # noqa: DTZ005
                                          rows_changed=total, status="ok"))
                    session.flush()
                    say("refreshing aggregates")
                    from ops.aggregates import refresh_all

                    refresh_all(session)
                    session.flush()
                    analyze(conn, [t.name for t in Base.metadata.sorted_tables if t.name.startswith("agg_")])
        finally:
            if sqlite and raw is not None:
                raw.execute(SQLITE_DEFAULT_CACHE)
                raw.execute(SQLITE_FK_ON)
    say(f"seeded {source}: {total:,} rows")
    return counts


def _seed_sources(engine: Engine) -> list[str]:
    """Sources of the demo seeds recorded in ``import_runs`` (e.g. ``['demo:small:7']``)."""
    with engine.connect() as conn:
        return [s for (s,) in conn.execute(select(ImportRun.source).where(ImportRun.kind == SEED_KIND))]
