"""Weekly review KPIs: the pages' aggregates plus a week slice in SQL vs the naive whole-table pandas approach.

"Page data load" = :func:`ops.review.kpis.review_kpis` for the last full week of data against the week
before, without the domains' own headline KPIs (those are benchmarked by their domains), and the
13-week trend (:func:`ops.review.trend.kpi_trend`) the page and the report draw.

- ``pages' aggregates + week slice (ops.review)``: the KPIs a page defines (on-time ship and delivery,
  click-to-ship, the marketplace late shipment rate; return rate and fulfilment accuracy) read from the
  Fulfilment and Returns domains' ``agg_*`` tables (:mod:`ops.review.sources`); the ones only the
  review defines (order cycle time, cost per order, review score, the marketplace cancel, defect and
  tracking rates) from the two weeks' rows in SQL, then pandas on those rows.
  Cold = the first call on a fresh engine; warm = the median of three more (no Streamlit cache).
- ``naive pandas``: ``read_sql`` of the fact tables, then pandas for the same figures with the same
  definitions (order lines by placed week for the Fulfilment figures, sales by sale week for the
  Returns figures). Cold = read + compute; warm = frames in memory, copied once (as ``st.cache_data``
  does on every hit) and computed again (median of three).

- ``duckdb (raw)``: the near-limit reference: the raw tables (the columns these figures read) loaded
  into an in-memory DuckDB (:mod:`bench.duckdb_ref`; cold = load + compute, warm = compute) and the
  same KPIs (the two weeks) and the same 13-week trend computed by DuckDB SQL from them
  (:func:`duckdb_weeks`), with the definitions of the naive path; checked against ours before
  anything is reported (click-to-ship: DuckDB's exact median, ours within a quarter hour; the
  order cycle time: days from julianday / epoch differences, to 1e-9). The same for the 3PL whose
  warehouses hold the most orders (:func:`duckdb_tpl_weeks`: its Fulfilment figures by its orders, its own
  figures by its orders and the shipments that left its warehouses, no returns figures), against ours for
  that 3PL: as a page load reads them (its weekly sums stored at the data version) and with the store
  bypassed (those sums summed from its rows, as on the first load after a write).
- ``page data load``: what the Weekly review page reads on open for a full viewer (and for the
  busiest supplier, carrier and warehouse, who may open it too), warm, without Streamlit's cache:
  the default week, the KPI table without the domains' headline KPIs, the week's return reasons,
  satisfaction vs lateness and the trend; and separately the registered domains' headlines the page
  reads for the KPI table and the exceptions inbox (the domains' own functions, timed apart).

Each row also carries CPU milliseconds (``time.process_time``: this process only, so the database's
own work on SQLite counts, a PostgreSQL server's does not). The two approaches are checked to agree
on every KPI before anything is reported (click-to-ship: the page reads it from half-hour buckets,
so within a quarter hour of the exact median).
"""

from __future__ import annotations

import math
import os
import pickle
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, func, select

from bench import duckdb_ref
from ops.access import SYSTEM, Viewer
from ops.db import read_session, transaction
from ops.filters import Filters
from ops.headline_store import bypassed
from ops.models import AggReviewWeek, Carrier, Order, OrderLine, Product, Shipment, Supplier, Warehouse
from ops.review import inbox as review_inbox
from ops.review.kpis import _domain_kpis, resolve_week, return_reasons, review_kpis, satisfaction_vs_lateness
from ops.review.sources import week_span
from ops.review.trend import TREND_WEEKS, kpi_trend
from ops.review.week import Week

TABLES = ("orders", "channels", "shipments", "order_lines", "returns", "products")
# the columns the DuckDB reference reads (the naive path reads whole tables)
DUCK_COLUMNS = {
    "orders": ["id", "channel_id", "status", "placed_at", "paid_at", "ship_by"],
    "channels": ["id", "code", "name"],
    "shipments": ["id", "order_id", "carrier_id", "tracking_number", "label_cost", "status", "shipped_at",
                  "promised_at", "delivered_at"],
    "order_lines": ["id", "order_id", "product_id", "qty", "ship_by"],
    "returns": ["id", "order_line_id", "qty", "reason_code", "disposition"],
    "products": ["id", "unit_cost"],
    "reviews": ["id", "order_id", "score", "created_at"],
}
PAGE_RUNS = 5
MP = "marketplace|olist|amazon|ebay|etsy|walmart"
WRONG_ITEM = ("wrong_item", "mis_pick", "mispick", "wrong_size_sent", "wrong_colour_sent", "wrong_item_sent")
DEFECT_RETURNS = ("defective", "damaged", "damaged_in_transit", "broken", "faulty", "not_working",
                  "damaged_by_carrier", "damaged_by_fc", "quality_unacceptable", "missing_parts", *WRONG_ITEM,
                  "not_as_described")
LOSS = {"restock": 0.0, "refurbish": 0.35, "liquidate": 0.70, "scrap": 1.0}  # the returns thresholds' defaults


def _timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return (time.perf_counter() - w0) * 1000.0, (time.process_time() - c0) * 1000.0, out


def ours(engine: Engine, week: Week) -> pd.DataFrame:
    with read_session(engine) as s:
        return review_kpis(s, viewer=SYSTEM, week=week, domains=False)


def trend(engine: Engine, week: Week) -> pd.DataFrame:
    with read_session(engine) as s:
        return kpi_trend(s, viewer=SYSTEM, week=week)


def read_frames(engine: Engine) -> dict[str, pd.DataFrame]:
    with engine.connect() as c:
        return {name: pd.read_sql_table(name, c) for name in TABLES}


def naive(t: dict[str, pd.DataFrame], week: Week) -> dict[str, Any]:
    """The KPIs the review reads from the pages, and the cost per order, from whole tables (default costs)."""
    lo, hi = pd.Timestamp(week.start), pd.Timestamp(week.end) + pd.Timedelta(days=1)
    o = t["orders"].merge(t["channels"][["id", "code", "name"]].rename(columns={"id": "channel_id"}), on="channel_id")
    o["mp"] = (o["code"] + " " + o["name"]).str.lower().str.contains(MP)
    sh = t["shipments"]
    placed = o[(o["placed_at"] >= lo) & (o["placed_at"] < hi)]
    e: dict[str, Any] = {}
    # Fulfilment: order lines of the orders placed in the week (not cancelled or unavailable)
    live = placed[~placed["status"].isin(("cancelled", "canceled", "unavailable"))]
    ps = sh[sh["order_id"].isin(set(live["id"]))]
    per = ps.groupby("order_id").agg(shipped_at=("shipped_at", "min"), promised_at=("promised_at", "min"),
                                     last=("delivered_at", "max"), n=("id", "size"), nd=("delivered_at", "count"))
    per["delivered_at"] = per["last"].where(per["nd"] == per["n"])
    ln = t["order_lines"].rename(columns={"ship_by": "line_ship_by"}).merge(
        live[["id", "paid_at", "ship_by", "mp"]].rename(columns={"id": "order_id"}), on="order_id")
    ln = ln.merge(per[["shipped_at", "promised_at", "delivered_at"]], left_on="order_id", right_index=True,
                  how="left")
    ln["deadline"] = ln["line_ship_by"].fillna(ln["ship_by"])
    counted = ln[ln["deadline"].notna() & ln["shipped_at"].notna()]
    e["on_time_ship"] = (counted["shipped_at"] <= counted["deadline"]).mean()
    dl = ln[ln["delivered_at"].notna() & ln["promised_at"].notna()]
    e["on_time_delivery"] = (dl["delivered_at"].dt.normalize() <= dl["promised_at"].dt.normalize()).mean()
    c2s = ln[ln["paid_at"].notna() & ln["shipped_at"].notna()]
    # the page reads its median from half-hour buckets: checked to be within a quarter hour of exact
    e["click_to_ship_exact"] = float(((c2s["shipped_at"] - c2s["paid_at"]).dt.total_seconds() / 3600.0).median())
    mp = counted[counted["mp"]]
    e["late_shipment_rate"] = (mp["shipped_at"] > mp["deadline"]).mean()
    # Returns: the week's sales and every return of them
    sales = t["order_lines"][t["order_lines"]["order_id"].isin(
        set(placed.loc[~placed["status"].isin(("cancelled", "unavailable")), "id"]))]
    r = t["returns"][t["returns"]["order_line_id"].isin(set(sales["id"]))]
    e["return_rate"] = r["qty"].sum() / sales["qty"].sum()
    shipped_lines = set(sales.loc[sales["order_id"].isin(set(sh.loc[sh["shipped_at"].notna(), "order_id"])), "id"])
    wrong = r[r["reason_code"].str.lower().isin(WRONG_ITEM) & r["order_line_id"].isin(shipped_lines)]
    e["fulfilment_accuracy"] = 1 - len(wrong) / len(shipped_lines)
    rc = r.merge(sales[["id", "product_id"]].rename(columns={"id": "order_line_id"}), on="order_line_id").merge(
        t["products"][["id", "unit_cost"]].rename(columns={"id": "product_id"}), on="product_id")
    cost = len(rc) * 6.5 + rc["qty"].sum() * 2.0 + (rc["qty"] * rc["unit_cost"].fillna(0.0)
                                                   * rc["disposition"].map(LOSS).fillna(0.0)).sum()
    shipped_orders = set(ps.loc[ps["shipped_at"].notna(), "order_id"])
    labels = ps.loc[ps["order_id"].isin(shipped_orders), "label_cost"].sum()
    e["cost_per_order"] = (labels + 3.0 * len(shipped_orders) + cost) / len(shipped_orders)
    mpo = placed[placed["mp"]]
    e["cancel_rate"] = (mpo["status"] == "cancelled").mean()
    return e


# --- DuckDB reference ------------------------------------------------------------------------

_SQL_LIST = "({})".format  # a literal list of our own constants (no user input) for the SQL below


def _in(values: tuple[str, ...]) -> str:
    return _SQL_LIST(", ".join("'" + v.replace("'", "''") + "'" for v in values))


# The Fulfilment page's weekly counts from ``fl`` (a week's order lines with their order's facts and deadline).
_FULFIL_WEEKS = """), fw AS (
    SELECT wk,
        count(*) FILTER (deadline IS NOT NULL AND shipped_at IS NOT NULL) AS ship_counted,
        count(*) FILTER (deadline IS NOT NULL AND shipped_at <= deadline) AS ship_on_time,
        count(*) FILTER (delivered_at IS NOT NULL AND promised_at IS NOT NULL) AS delivered,
        count(*) FILTER (delivered_at IS NOT NULL AND promised_at IS NOT NULL
                         AND CAST(delivered_at AS DATE) <= CAST(promised_at AS DATE)) AS delivered_on_time,
        median(epoch(shipped_at - paid_at) / 3600.0) FILTER (paid_at IS NOT NULL AND shipped_at IS NOT NULL) AS c2s,
        count(*) FILTER (mp AND deadline IS NOT NULL AND shipped_at IS NOT NULL) AS mp_counted,
        count(*) FILTER (mp AND deadline IS NOT NULL AND shipped_at > deadline) AS mp_late
    FROM fl GROUP BY wk
"""

DUCK_SQL = f"""
WITH o AS (
    SELECT o.id, o.placed_at, o.paid_at, o.ship_by, o.status, date_trunc('week', o.placed_at) AS wk,
           regexp_matches(lower(c.code || ' ' || c.name), '{MP}') AS mp
    FROM orders o JOIN channels c ON c.id = o.channel_id
), per AS (
    SELECT order_id, min(shipped_at) AS shipped_at, min(promised_at) AS promised_at,
           CASE WHEN count(delivered_at) = count(*) THEN max(delivered_at) END AS delivered_at,
           sum(label_cost) AS labels, count(shipped_at) > 0 AS shipped
    FROM shipments GROUP BY order_id
), wo AS (
    SELECT o.*, p.shipped_at, p.promised_at, p.delivered_at, p.labels, coalesce(p.shipped, false) AS shipped
    FROM o LEFT JOIN per p ON p.order_id = o.id WHERE o.placed_at >= $lo AND o.placed_at < $hi
), fl AS (
    SELECT wo.*, coalesce(l.ship_by, wo.ship_by) AS deadline FROM order_lines l JOIN wo ON wo.id = l.order_id
    WHERE wo.status NOT IN ('cancelled', 'canceled', 'unavailable')
{_FULFIL_WEEKS}), r AS (
    SELECT r.order_line_id, sum(r.qty) AS units, count(*) FILTER (lower(r.reason_code) IN {_in(WRONG_ITEM)}) AS wrong,
           sum(6.5 + r.qty * 2.0 + r.qty * coalesce(pr.unit_cost, 0.0) * CASE r.disposition
               WHEN 'restock' THEN 0.0 WHEN 'refurbish' THEN 0.35 WHEN 'liquidate' THEN 0.70 WHEN 'scrap' THEN 1.0
               ELSE 0.0 END) AS cost
    FROM returns r JOIN order_lines l ON l.id = r.order_line_id JOIN products pr ON pr.id = l.product_id
    GROUP BY r.order_line_id
), rw AS (
    SELECT wo.wk, sum(l.qty) AS units_sold, sum(coalesce(r.units, 0)) AS units_returned,
           count(*) FILTER (wo.shipped) AS shipped_lines,
           sum(CASE WHEN wo.shipped THEN coalesce(r.wrong, 0) ELSE 0 END) AS wrong_lines,
           sum(coalesce(r.cost, 0.0)) AS returns_cost
    FROM order_lines l JOIN wo ON wo.id = l.order_id LEFT JOIN r ON r.order_line_id = l.id
    WHERE wo.status NOT IN ('cancelled', 'unavailable') GROUP BY wo.wk
), ow AS (
    SELECT wk, count(*) FILTER (mp) AS mp_orders, count(*) FILTER (mp AND status = 'cancelled') AS mp_cancelled,
           count(*) FILTER (shipped AND status NOT IN ('cancelled', 'canceled', 'unavailable')) AS shipped_orders,
           sum(labels) FILTER (shipped AND status NOT IN ('cancelled', 'canceled', 'unavailable')) AS labels
    FROM wo GROUP BY wk
), cyc AS (
    SELECT date_trunc('week', s.delivered_at) AS wk, median(epoch(s.delivered_at - o.placed_at) / 86400.0) AS cycle
    FROM shipments s JOIN o ON o.id = s.order_id
    WHERE s.delivered_at >= $lo AND s.delivered_at < $hi
      AND s.shipped_at >= date_trunc('week', s.delivered_at) - INTERVAL 120 DAY
      AND s.shipped_at < date_trunc('week', s.delivered_at) + INTERVAL 7 DAY
    GROUP BY 1
), rev AS (
    SELECT date_trunc('week', created_at) AS wk, avg(score) AS score FROM reviews
    WHERE created_at >= $lo AND created_at < $hi GROUP BY 1
), bad_orders AS (
    SELECT order_id FROM reviews WHERE score <= 2
    UNION SELECT l.order_id FROM returns r JOIN order_lines l ON l.id = r.order_line_id
    WHERE lower(r.reason_code) IN {_in(DEFECT_RETURNS)}
), mps AS (
    SELECT date_trunc('week', s.shipped_at) AS wk, count(*) AS shipments,
           count(*) FILTER (s.carrier_id IS NOT NULL AND trim(s.tracking_number) <> '') AS tracked,
           count(DISTINCT s.order_id) AS orders,
           count(DISTINCT s.order_id) FILTER (s.status IN {_in(("lost", "damaged", "returned_to_sender"))}
                                             OR s.order_id IN (SELECT order_id FROM bad_orders)) AS defect_orders
    FROM shipments s JOIN o ON o.id = s.order_id
    WHERE o.mp AND s.shipped_at >= $lo AND s.shipped_at < $hi GROUP BY 1
)
SELECT w.wk, fw.*, rw.*, ow.*, cyc.cycle, rev.score, mps.shipments, mps.tracked, mps.orders AS mp_ship_orders,
       mps.defect_orders
FROM (SELECT DISTINCT wk FROM wo) w LEFT JOIN fw USING (wk) LEFT JOIN rw USING (wk) LEFT JOIN ow USING (wk)
LEFT JOIN cyc USING (wk) LEFT JOIN rev USING (wk) LEFT JOIN mps USING (wk) ORDER BY w.wk
"""  # noqa: S608 - built from this module's constants only; the week bounds are parameters


def _ratio(num: Any, den: Any) -> float:
    return float(num) / float(den) if den and not pd.isna(den) and float(den) != 0 else float("nan")


def _week_kpis(con: Any, sql: str, params: dict[str, Any], span: list[Week]) -> dict[str, dict[str, float]]:
    """Each week's KPIs from ``sql``'s weekly sums (one row per week Monday ``wk``; ``$lo`` and ``$hi`` bound the
    span). A sum the query does not return is not measured: the return rate and fulfilment accuracy are NaN and
    the cost per order holds no cost of returns."""
    lo = pd.Timestamp(span[0].start)
    hi = pd.Timestamp(span[-1].end) + pd.Timedelta(days=1)
    df = duckdb_ref.frame(con, sql, {"lo": lo.to_pydatetime(), "hi": hi.to_pydatetime(), **params})
    df = df.loc[:, ~df.columns.duplicated()].set_index("wk")
    out: dict[str, dict[str, float]] = {}
    for w in span:
        key = pd.Timestamp(w.start)
        r = df.loc[key] if key in df.index else pd.Series(dtype="float64")
        g = r.get
        n = g("shipped_orders", 0) or 0
        out[w.label] = {
            "on_time_ship": _ratio(g("ship_on_time"), g("ship_counted")),
            "on_time_delivery": _ratio(g("delivered_on_time"), g("delivered")),
            "click_to_ship_exact": float(g("c2s", np.nan)),
            "late_shipment_rate": _ratio(g("mp_late"), g("mp_counted")),
            "return_rate": _ratio(g("units_returned"), g("units_sold")),
            "fulfilment_accuracy": 1.0 - _ratio(g("wrong_lines"), g("shipped_lines")),
            "cost_per_order": _ratio((g("labels") or 0.0) + 3.0 * n + (g("returns_cost") or 0.0), n),
            "order_cycle_time": float(g("cycle", np.nan)),
            "review_score": float(g("score", np.nan)),
            "cancel_rate": _ratio(g("mp_cancelled"), g("mp_orders")),
            "order_defect_rate": _ratio(g("defect_orders"), g("mp_ship_orders")),
            "valid_tracking_rate": _ratio(g("tracked"), g("shipments")),
        }
    return out


def duckdb_weeks(con: Any, span: list[Week]) -> dict[str, dict[str, float]]:
    """The review's KPIs for each week of ``span`` (consecutive) from the raw tables, in DuckDB SQL."""
    return _week_kpis(con, DUCK_SQL, {}, span)


TPL_COLUMNS = {
    "orders": ["id", "channel_id", "warehouse_id", "status", "placed_at", "paid_at", "ship_by"],
    "channels": ["id", "code", "name"],
    "shipments": ["id", "order_id", "carrier_id", "warehouse_id", "tracking_number", "label_cost", "status",
                  "shipped_at", "promised_at", "delivered_at"],
    "order_lines": ["id", "order_id", "qty", "ship_by"],
    "returns": ["id", "order_line_id", "reason_code"],
    "reviews": ["id", "order_id", "score", "created_at"],
}

TPL_SQL = f"""
WITH o AS (
    SELECT o.id, o.warehouse_id, o.placed_at, o.paid_at, o.ship_by, o.status, date_trunc('week', o.placed_at) AS wk,
           regexp_matches(lower(c.code || ' ' || c.name), '{MP}') AS mp, o.warehouse_id IN (SELECT unnest($wh)) AS mine
    FROM orders o JOIN channels c ON c.id = o.channel_id
), s AS (
    SELECT s.*, s.warehouse_id IN (SELECT unnest($wh)) AS mine FROM shipments s
), per AS (  -- the Fulfilment page: every shipment of the order
    SELECT order_id, min(shipped_at) AS shipped_at, min(promised_at) AS promised_at,
           CASE WHEN count(delivered_at) = count(*) THEN max(delivered_at) END AS delivered_at
    FROM s GROUP BY order_id
), wo AS (
    SELECT o.*, p.shipped_at, p.promised_at, p.delivered_at
    FROM o LEFT JOIN per p ON p.order_id = o.id WHERE o.placed_at >= $lo AND o.placed_at < $hi
), fl AS (
    SELECT wo.*, coalesce(l.ship_by, wo.ship_by) AS deadline FROM order_lines l JOIN wo ON wo.id = l.order_id
    WHERE wo.mine AND wo.status NOT IN ('cancelled', 'canceled', 'unavailable')
{_FULFIL_WEEKS}), mine_ship AS (  -- the review's own sums: the 3PL's shipments of each order
    SELECT order_id, count(shipped_at) > 0 AS shipped, sum(label_cost) AS labels FROM s WHERE mine GROUP BY order_id
), ow AS (
    SELECT wo.wk, count(*) FILTER (wo.mine AND wo.mp) AS mp_orders,
           count(*) FILTER (wo.mine AND wo.mp AND wo.status = 'cancelled') AS mp_cancelled,
           count(*) FILTER (m.shipped AND wo.status NOT IN ('cancelled', 'canceled', 'unavailable')) AS shipped_orders,
           sum(m.labels) FILTER (m.shipped AND wo.status NOT IN ('cancelled', 'canceled', 'unavailable')) AS labels
    FROM wo LEFT JOIN mine_ship m ON m.order_id = wo.id GROUP BY wo.wk
), cyc AS (
    SELECT date_trunc('week', s.delivered_at) AS wk, median(epoch(s.delivered_at - o.placed_at) / 86400.0) AS cycle
    FROM s JOIN o ON o.id = s.order_id
    WHERE s.mine AND s.delivered_at >= $lo AND s.delivered_at < $hi
      AND s.shipped_at >= date_trunc('week', s.delivered_at) - INTERVAL 120 DAY
      AND s.shipped_at < date_trunc('week', s.delivered_at) + INTERVAL 7 DAY
    GROUP BY 1
), rev AS (
    SELECT date_trunc('week', r.created_at) AS wk, count(*) AS reviews, avg(r.score) AS score
    FROM reviews r JOIN o ON o.id = r.order_id
    WHERE o.mine AND r.created_at >= $lo AND r.created_at < $hi GROUP BY 1
), bad_orders AS (
    SELECT r.order_id FROM reviews r JOIN o ON o.id = r.order_id WHERE r.score <= 2 AND o.mine
    UNION SELECT l.order_id FROM returns r JOIN order_lines l ON l.id = r.order_line_id JOIN o ON o.id = l.order_id
    WHERE o.mine AND lower(r.reason_code) IN {_in(DEFECT_RETURNS)}
), mps AS (
    SELECT date_trunc('week', s.shipped_at) AS wk, count(*) AS shipments,
           count(*) FILTER (s.carrier_id IS NOT NULL AND trim(s.tracking_number) <> '') AS tracked,
           count(DISTINCT s.order_id) AS orders,
           count(DISTINCT s.order_id) FILTER (s.status IN {_in(("lost", "damaged", "returned_to_sender"))}
                                             OR s.order_id IN (SELECT order_id FROM bad_orders)) AS defect_orders
    FROM s JOIN o ON o.id = s.order_id
    WHERE s.mine AND o.mp AND s.shipped_at >= $lo AND s.shipped_at < $hi GROUP BY 1
)
SELECT w.wk, fw.*, ow.*, cyc.cycle, rev.score, mps.shipments, mps.tracked, mps.orders AS mp_ship_orders,
       mps.defect_orders
FROM (SELECT DISTINCT wk FROM wo) w LEFT JOIN fw USING (wk) LEFT JOIN ow USING (wk)
LEFT JOIN cyc USING (wk) LEFT JOIN rev USING (wk) LEFT JOIN mps USING (wk) ORDER BY w.wk
"""  # noqa: S608 - built from this module's constants only; bounds and warehouses are parameters


def duckdb_tpl_weeks(con: Any, span: list[Week], warehouses: list[int]) -> dict[str, dict[str, float]]:
    """A 3PL's review KPIs for each week of ``span`` from the raw tables, in DuckDB SQL (:data:`TPL_SQL`): the
    Fulfilment page's by the orders of its ``warehouses``; the Returns page's none (a 3PL sees no product's
    returns, so the rates are not measured and the cost per order holds no cost of returns); the review's own
    by its orders, its shipments (those that left its warehouses) and their orders' reviews and returns."""
    return _week_kpis(con, TPL_SQL, {"wh": warehouses}, span)


def read_duck_frames(engine: Engine) -> dict[str, pd.DataFrame]:
    with engine.connect() as c:
        return {name: pd.read_sql_table(name, c, columns=cols) for name, cols in DUCK_COLUMNS.items()}


def _same(ours_v: Any, ref: Any, key: str) -> bool:
    a, b = float("nan") if ours_v is None else float(ours_v), float(ref)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if key == "click_to_ship":
        return abs(a - b) <= 0.25  # the page reads its median from half-hour buckets
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def check_duck(k: pd.DataFrame, tr: pd.DataFrame, duck: dict[str, dict[str, float]], week: Week) -> None:
    """Raise unless ours and DuckDB agree on every KPI of both weeks and every trend value."""
    for col, label in (("value", week.label), ("previous", week.previous().label)):
        for key, v in k.set_index("key")[col].items():
            ref = duck[label]["click_to_ship_exact" if key == "click_to_ship" else key]
            if not _same(v, ref, key):
                raise AssertionError(f"review KPI {key} {label}: ours {v} vs DuckDB {ref}")
    for r in tr.itertuples(index=False):
        if not _same(r.value, duck[r.week][r.key], r.key):
            raise AssertionError(f"review trend {r.key} {r.week}: ours {r.value} vs DuckDB {duck[r.week][r.key]}")


# --- the page's whole data load --------------------------------------------------------------


def page_load(engine: Engine, viewer: Viewer) -> dict[str, Any]:
    """What the Weekly review page reads on open (ui/review.py's loaders), without the domains' headlines."""
    with read_session(engine) as s:
        week = resolve_week(s, viewer=viewer)
    f = Filters()
    with read_session(engine) as s:
        k = review_kpis(s, viewer=viewer, week=week, filters=f, domains=False)
    with read_session(engine) as s:
        side = (return_reasons(s, viewer=viewer, week=week, filters=f),
                satisfaction_vs_lateness(s, viewer=viewer, date_to=week.end, filters=f),
                kpi_trend(s, viewer=viewer, week=week, filters=f))
    return {"week": week, "kpis": k, "side": side}


def headlines_load(engine: Engine, viewer: Viewer, week: Week) -> Any:
    """The registered domains' headlines the page reads: its KPI table's (the week) and the inbox's."""
    f = Filters()
    with read_session(engine) as s:
        kp = _domain_kpis(s, viewer, week, f)
    with read_session(engine) as s:
        return kp, review_inbox.inbox(s, viewer=viewer, filters=review_inbox.exception_window(week, f))


def _busiest(engine: Engine) -> list[tuple[str, Viewer]]:
    """The supplier with the most order lines (else SKUs), the carrier with the most shipments, the 3PL whose
    warehouses hold the most orders (a 3PL viewer's code is the warehouses' operator code)."""
    with read_session(engine) as s:
        sup = s.execute(select(Supplier.code).join(OrderLine, OrderLine.seller_id == Supplier.id)
                        .group_by(Supplier.code).order_by(func.count().desc()).limit(1)).scalar()
        if sup is None:  # no order line names its seller (the bench data): the supplier with the most SKUs
            sup = s.execute(select(Supplier.code).join(Product, Product.supplier_id == Supplier.id)
                            .group_by(Supplier.code).order_by(func.count().desc()).limit(1)).scalar()
        car = s.execute(select(Carrier.code).join(Shipment, Shipment.carrier_id == Carrier.id)
                        .group_by(Carrier.code).order_by(func.count().desc()).limit(1)).scalar()
        wh = s.execute(select(Warehouse.operator_code).join(Order, Order.warehouse_id == Warehouse.id)
                       .where(Warehouse.operator_code.is_not(None))
                       .group_by(Warehouse.operator_code).order_by(func.count().desc()).limit(1)).scalar()
    out = []
    for kind, code in (("supplier", sup), ("carrier", car), ("warehouse", wh)):
        if code:
            out.append((f"{kind} {code}", Viewer(username=f"bench-{kind}", role="vendor", vendor_kind=kind,
                                                 vendor_code=str(code))))
    return out


def _warm(fn: Callable[[], Any], runs: int) -> tuple[float, float, float, float, Any]:
    cold_ms, cold_cpu, out = _timed(fn)
    warm = [_timed(fn) for _ in range(runs)]
    return (cold_ms, cold_cpu, statistics.median(w[0] for w in warm), statistics.median(w[1] for w in warm), out)


def _tpl_rows(engine: Engine) -> list[dict[str, Any]]:
    """A 3PL's KPIs (two weeks) and trend (13 weeks), ours against DuckDB computing them from the raw tables,
    checked equal first. The KPIs twice: as a page load reads them (the 3PL's own weekly sums stored at the
    data version) and with the store bypassed (those sums summed from its rows: the first load after a write)."""
    tpl = next((v for who, v in _busiest(engine) if v.vendor_kind == "warehouse"), None)
    if tpl is None:
        return []
    with read_session(engine) as s:
        week = resolve_week(s, viewer=tpl)
        wh = [int(i) for i in s.scalars(select(Warehouse.id).where(Warehouse.operator_code == tpl.vendor_code))]
    span = week_span(week, TREND_WEEKS)

    def kpis() -> pd.DataFrame:
        with read_session(engine) as s:
            return review_kpis(s, viewer=tpl, week=week, domains=False)

    def trend_3pl() -> pd.DataFrame:
        with read_session(engine) as s:
            return kpi_trend(s, viewer=tpl, week=week)

    def computed() -> pd.DataFrame:
        with bypassed():
            return kpis()

    c_cold, c_cold_cpu, c_warm, c_warm_cpu, _ = _warm(computed, PAGE_RUNS)
    k_cold, k_cold_cpu, k_warm, k_warm_cpu, k = _warm(kpis, PAGE_RUNS)
    t_cold, t_cold_cpu, t_warm, t_warm_cpu, tr = _warm(trend_3pl, PAGE_RUNS)
    with engine.connect() as c:
        raw = {name: pd.read_sql_table(name, c, columns=cols) for name, cols in TPL_COLUMNS.items()}
    duck2, d2 = duckdb_ref.reference(raw, lambda con: duckdb_tpl_weeks(con, span[-2:], wh))
    duck13, d13 = duckdb_ref.reference(raw, lambda con: duckdb_tpl_weeks(con, span, wh))
    check_duck(k, tr, {**duck13, **duck2}, week)
    print(f"  ours and DuckDB agree on the 3PL {tpl.vendor_code}'s {len(k)} KPIs of {week.label} and "
          f"{week.previous().label} and its {len(tr)} trend values", flush=True)
    name, t_name = f"weekly review KPIs, 3PL {tpl.vendor_code}", f"weekly review trend, 3PL {tpl.vendor_code}"
    return [
        {"name": name, "approach": "pages' aggregates + its stored sums (ops.review)", "cold_ms": k_cold,
         "warm_ms": k_warm, "cold_cpu_ms": k_cold_cpu, "warm_cpu_ms": k_warm_cpu, "rows": len(k)},
        {"name": name, "approach": "pages' aggregates + its sums from its rows (store bypassed)", "cold_ms": c_cold,
         "warm_ms": c_warm, "cold_cpu_ms": c_cold_cpu, "warm_cpu_ms": c_warm_cpu, "rows": len(k)},
        {"name": name, "approach": "duckdb (raw)", "cold_ms": d2.cold_ms, "warm_ms": d2.warm_ms,
         "cold_cpu_ms": d2.cold_cpu_ms, "warm_cpu_ms": d2.warm_cpu_ms, "rows": len(k)},
        {"name": t_name, "approach": "pages' aggregates (ops.review)", "cold_ms": t_cold, "warm_ms": t_warm,
         "cold_cpu_ms": t_cold_cpu, "warm_cpu_ms": t_warm_cpu, "rows": len(tr)},
        {"name": t_name, "approach": "duckdb (raw)", "cold_ms": d13.cold_ms, "warm_ms": d13.warm_ms,
         "cold_cpu_ms": d13.cold_cpu_ms, "warm_cpu_ms": d13.warm_cpu_ms, "rows": len(tr)},
    ]


def run(engine: Engine) -> list[dict[str, Any]]:
    with transaction(engine) as s:
        if not s.scalar(select(func.count()).select_from(AggReviewWeek)):
            from ops.review.refresh import refresh

            w0, c0 = time.perf_counter(), time.process_time()
            refresh(s)
            print(f"  built agg_review_* in {(time.perf_counter() - w0) * 1000:,.0f} ms "
                  f"({(time.process_time() - c0) * 1000:,.0f} ms CPU)", flush=True)
    with read_session(engine) as s:
        week = resolve_week(s, viewer=SYSTEM)
    span = week_span(week, TREND_WEEKS)
    cold_ms, cold_cpu, warm_ms, warm_cpu, k = _warm(lambda: ours(engine, week), PAGE_RUNS)
    t_cold, t_cold_cpu, t_warm, t_warm_cpu, tr = _warm(lambda: trend(engine, week), PAGE_RUNS)
    rows_out: list[dict[str, Any]] = []
    name = f"weekly review KPIs ({week.label})"
    t_name = f"weekly review trend ({TREND_WEEKS} weeks to {week.label})"
    if os.environ.get("OPS_BENCH_REVIEW_NAIVE", "0") != "0":  # the naive read takes minutes at bench size
        naive_cold, naive_cold_cpu, exp = _timed(lambda: naive(read_frames(engine), week))
        cached = pickle.dumps(read_frames(engine))
        naive_warm = [_timed(lambda: naive(pickle.loads(cached), week)) for _ in range(3)]  # noqa: S301 - our bytes
        got = k.set_index("key")["value"]
        exact = exp.pop("click_to_ship_exact")
        if not abs(float(got["click_to_ship"]) - exact) <= 0.25:
            raise AssertionError(f"review KPI click_to_ship: ops {got['click_to_ship']} vs exact {exact} h")
        for key, value in exp.items():  # the cost thresholds are at their defaults on the bench database
            if not math.isclose(float(got[key]), float(value), rel_tol=1e-9, abs_tol=1e-12):
                raise AssertionError(f"review KPI {key}: ops {got[key]} != naive {value}")
        rows_out.append({"name": name, "approach": "naive pandas (whole tables)", "cold_ms": naive_cold,
                         "warm_ms": statistics.median(w[0] for w in naive_warm), "cold_cpu_ms": naive_cold_cpu,
                         "warm_cpu_ms": statistics.median(w[1] for w in naive_warm), "rows": len(k)})
    # DuckDB: the two weeks of the KPIs and the trend's weeks, each computed as the page asks for them
    raw = read_duck_frames(engine)
    duck2, d2 = duckdb_ref.reference(raw, lambda con: duckdb_weeks(con, span[-2:]))
    duck13, d13 = duckdb_ref.reference(raw, lambda con: duckdb_weeks(con, span))
    check_duck(k, tr, {**duck13, **duck2}, week)
    print(f"  ours and DuckDB agree on the {len(k)} KPIs of {week.label} and {week.previous().label} and the "
          f"{len(tr)} trend values", flush=True)
    rows_out += [
        {"name": name, "approach": "pages' aggregates + agg_review_* (ops.review)", "cold_ms": cold_ms,
         "warm_ms": warm_ms, "cold_cpu_ms": cold_cpu, "warm_cpu_ms": warm_cpu, "rows": len(k)},
        {"name": name, "approach": "duckdb (raw)", "cold_ms": d2.cold_ms, "warm_ms": d2.warm_ms,
         "cold_cpu_ms": d2.cold_cpu_ms, "warm_cpu_ms": d2.warm_cpu_ms, "rows": len(k)},
        {"name": t_name, "approach": "pages' aggregates (ops.review)", "cold_ms": t_cold, "warm_ms": t_warm,
         "cold_cpu_ms": t_cold_cpu, "warm_cpu_ms": t_warm_cpu, "rows": len(tr)},
        {"name": t_name, "approach": "duckdb (raw)", "cold_ms": d13.cold_ms, "warm_ms": d13.warm_ms,
         "cold_cpu_ms": d13.cold_cpu_ms, "warm_cpu_ms": d13.warm_cpu_ms, "rows": len(tr)},
    ]
    rows_out += _tpl_rows(engine)
    # the page's whole data load, for a full viewer and for each kind of vendor who may open it
    for who, viewer in [("full viewer", SYSTEM), *_busiest(engine)]:
        p_cold, p_cold_cpu, p_warm, p_warm_cpu, got = _warm(lambda v=viewer: page_load(engine, v), PAGE_RUNS)
        h_cold, h_cold_cpu, h_warm, h_warm_cpu, _ = _warm(
            lambda v=viewer, w=got["week"]: headlines_load(engine, v, w), 3)
        rows_out += [
            {"name": f"weekly review page, {who}", "approach": "ops.review (week, KPIs, reasons, satisfaction, trend)",
             "cold_ms": p_cold, "warm_ms": p_warm, "cold_cpu_ms": p_cold_cpu, "warm_cpu_ms": p_warm_cpu,
             "rows": len(got["kpis"])},
            {"name": f"weekly review page, {who}", "approach": "the domains' headlines (KPI table and inbox)",
             "cold_ms": h_cold, "warm_ms": h_warm, "cold_cpu_ms": h_cold_cpu, "warm_cpu_ms": h_warm_cpu, "rows": 0},
        ]
    for r in rows_out:
        print(f"  {r['name']} / {r['approach']}: cold {r['cold_ms']:,.0f} ms ({r['cold_cpu_ms']:,.0f} ms CPU), "
              f"warm {r['warm_ms']:,.0f} ms ({r['warm_cpu_ms']:,.0f} ms CPU)", flush=True)
    return rows_out
