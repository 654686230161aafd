"""Returns root-cause page load: pre-aggregated tables vs the naive whole-table pandas approach.

"Page data load" = everything the returns page fetches on first view with the default filters
(the last 90 days up to the as-of day, broken down by category): the KPI tiles (last settled sale
week vs the week before), return rates by category, the weekly rates, the priority list with its
4-week trend and actions, the reason Pareto, the reason x category and reason x size heatmaps,
the cost of returns and fulfilment accuracy by warehouse and week. That is one call of
:func:`ops.returns.returns_page`, which the page's cached loader ``ui.returns.load_page`` makes once
per (viewer, filters, breakdown).

Timed two ways, side by side in one run:

- ``agg tables``: :func:`ops.returns.returns_page` reading ``agg_returns_*`` in SQL. Cold = the
  first call on a fresh engine; warm = the median of five more calls (no Streamlit cache).
- ``naive pandas``: ``read_sql`` of order_lines, orders, products, suppliers, shipments and returns,
  then pandas for the same figures. Cold = read + compute; warm = the frames kept in memory, copied
  once (as ``st.cache_data`` does on every hit) and computed again (median of three).
- ``duckdb (raw)``: the near-limit reference: the naive path's raw frames loaded into an in-memory
  DuckDB (:mod:`bench.duckdb_ref`; cold = load + compute, warm = compute) and the page's tables
  computed in DuckDB SQL (:func:`duckdb_page`): rates by category, weekly rates, the priority list
  with its 4-week trend, the Pareto, both heatmaps, the cost of returns and fulfilment accuracy.

Each runs for a full viewer and for the supplier with the most units sold (a supplier sees the
returns of its own SKUs only).

Wall and CPU time are both recorded (``warm_cpu_ms``): on the shared 2-core machine wall time is
several times CPU time under load. The naive result is checked to agree with ours (units sold and
returned per category, the Pareto, the top of the priority list), and DuckDB's on every table
(counts exactly, money and rates to 1e-9) before anything is reported. When the returns aggregates are empty (a database
seeded before the returns domain existed) they are built first, outside the timings.
"""

from __future__ import annotations

import datetime as dt
import pickle
import re
import statistics
import time
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, func, select

from bench import duckdb_ref
from bench.timing import ms_since, timed
from ops import fulfillment as ful
from ops import returns as ret
from ops.access import SYSTEM, Viewer
from ops.db import read_session, transaction
from ops.filters import Filters
from ops.models import AggReturnsDim, AggReturnsSkuCum
from ops.returns import metrics as rm

DAYS = 90
TABLES = ("order_lines", "orders", "products", "suppliers", "shipments", "returns", "warehouses")
WARM_RUNS, NAIVE_WARM_RUNS = 5, 3


def _filters(engine: Engine) -> Filters:
    with transaction(engine) as s:
        end = (ful.as_of(s) - dt.timedelta(days=1)).date()
    return Filters(date_from=end - dt.timedelta(days=DAYS - 1), date_to=end)


def _ensure_aggregates(engine: Engine) -> None:
    with transaction(engine) as s:
        if s.scalar(select(AggReturnsSkuCum.id).limit(1)) is None:
            t0 = time.perf_counter()
            ret.refresh(s)
            print(f"  built the returns aggregates in {time.perf_counter() - t0:.0f} s", flush=True)


def page_load(engine: Engine, filters: Filters, viewer: Viewer = SYSTEM) -> ret.ReturnsPage:
    with read_session(engine) as s:
        return ret.returns_page(s, viewer=viewer, filters=filters, by="category")


def read_frames(engine: Engine) -> dict[str, pd.DataFrame]:
    with engine.connect() as c:
        return {name: pd.read_sql_table(name, c) for name in TABLES}


def naive_page(frames: dict[str, pd.DataFrame], filters: Filters, min_units: float = 30) -> dict[str, Any]:
    """The page's figures with plain pandas on whole tables."""
    ol, o, p, sup, sh, r = (frames[n] for n in TABLES[:6])
    o = o[~o["status"].isin(["cancelled", "unavailable"])]
    placed = o["placed_at"].dt.normalize()
    o = o.assign(sale_week=placed - pd.to_timedelta(placed.dt.dayofweek, unit="D"))
    lo = pd.Timestamp(ret.queries.week_start(filters.date_from)) if filters.date_from else o["sale_week"].min()
    hi = pd.Timestamp(filters.date_to)
    ship = sh.groupby("order_id").agg(carrier_id=("carrier_id", "min"), shipped=("shipped_at", "count"))
    per_line = r.assign(wrong=r["reason_code"].isin(ret.WRONG_ITEM_REASONS)).groupby("order_line_id").agg(
        units_returned=("qty", "sum"), refund=("refund_amount", "sum"), wrong=("wrong", "sum"))
    lines = ol.merge(o[["id", "sale_week", "warehouse_id", "channel_id"]], left_on="order_id", right_on="id",
                     suffixes=("", "_o"))
    lines = lines.merge(ship, left_on="order_id", right_index=True, how="left")
    lines = lines.merge(per_line, left_on="id", right_index=True, how="left").fillna(
        {"units_returned": 0, "refund": 0, "wrong": 0})
    prods = p.merge(sup[["id", "code"]].rename(columns={"id": "supplier_id", "code": "supplier"}), on="supplier_id",
                    how="left")
    lines = lines.merge(prods[["id", "sku", "category", "size", "supplier", "unit_cost"]].rename(
        columns={"id": "product_id"}), on="product_id")
    lines["value"] = lines["qty"] * lines["unit_price"]
    rng = lines[(lines["sale_week"] >= lo) & (lines["sale_week"] <= hi)]
    cat = rng.groupby("category").agg(units_sold=("qty", "sum"), units_returned=("units_returned", "sum"))
    cat["rate"] = cat["units_returned"] / cat["units_sold"]
    sku = rng.groupby(["product_id", "sku", "category"]).agg(units_sold=("qty", "sum"),
                                                               units_returned=("units_returned", "sum"),
                                                               sales=("value", "sum")).reset_index()
    sku["rate"] = sku["units_returned"] / sku["units_sold"]
    sku["priority"] = (sku["rate"] - sku["category"].map(cat["rate"])) * sku["units_sold"]
    prio = sku[(sku["units_sold"] >= min_units) & (sku["priority"] > 0)].sort_values(
        ["priority", "sku"], ascending=[False, True]).head(100)
    weekly_sku = lines[lines["product_id"].isin(prio["product_id"])].groupby(["product_id", "sale_week"])[
        ["qty", "units_returned"]].sum()
    rets = r.merge(rng[["id", "category", "size", "unit_price", "unit_cost", "warehouse_id", "sale_week"]],
                   left_on="order_line_id", right_on="id")
    pareto = rets.groupby("reason_code")["qty"].sum().sort_values(ascending=False)
    heat_cat = rets.groupby(["category", "reason_code"])["qty"].sum()
    heat_size = rets.groupby(["size", "reason_code"])["qty"].sum()
    cost = rets.assign(cost=rets["qty"] * rets["unit_cost"]).groupby("disposition").agg(
        lines=("qty", "size"), units=("qty", "sum"), refund=("refund_amount", "sum"), cost=("cost", "sum"))
    shipped = rng[rng["shipped"] > 0]
    accuracy = shipped.groupby(["sale_week", "warehouse_id"]).agg(shipped=("id", "size"), wrong=("wrong", "sum"))
    weekly = rng.groupby("sale_week").agg(units_sold=("qty", "sum"), units_returned=("units_returned", "sum"))
    return {"category": cat, "priority": prio, "weekly_sku": weekly_sku, "pareto": pareto, "heat_cat": heat_cat,
            "heat_size": heat_size, "cost": cost, "accuracy": accuracy, "weekly": weekly}


def _agree(ours: ret.ReturnsPage, naive: dict[str, Any]) -> None:
    """Raise unless the page's numbers and the naive ones agree."""
    got = ours.breakdown.set_index("group")[["units_sold", "units_returned"]].sort_index()
    want = naive["category"][["units_sold", "units_returned"]].astype("int64").sort_index()
    pd.testing.assert_frame_equal(got, want, check_names=False)
    par = dict(zip(ours.pareto["reason_code"], ours.pareto["units_returned"], strict=True))
    if par != {k: int(v) for k, v in naive["pareto"].items()}:
        raise AssertionError(f"Pareto differs: page {par}, naive {naive['pareto'].to_dict()}")
    top = list(ours.priority["sku"].head(10))
    if top != list(naive["priority"]["sku"].head(10)):
        raise AssertionError(f"priority differs: page {top}, naive {list(naive['priority']['sku'].head(10))}")


def _scoped(frames: dict[str, pd.DataFrame], supplier: str | None) -> dict[str, pd.DataFrame]:
    """The raw frames as a supplier sees them: its own products (its lines and returns follow by joins)."""
    if supplier is None:
        return frames
    sup = frames["suppliers"].loc[frames["suppliers"]["code"] == supplier, "id"]
    return {**frames, "products": frames["products"][frames["products"]["supplier_id"].isin(sup)]}


# --- DuckDB -----------------------------------------------------------------------------------------

DUCK_LINES = """
CREATE OR REPLACE TEMP TABLE r_ship AS
SELECT order_id, count(shipped_at) > 0 AS shipped FROM shipments GROUP BY order_id;
CREATE OR REPLACE TEMP TABLE r_ret AS
SELECT order_line_id AS id, sum(qty) AS units_returned, sum(refund_amount) AS refund_value,
       sum(CAST(lower(reason_code) IN (SELECT unnest($wrong)) AS INTEGER)) AS wrong
FROM returns GROUP BY order_line_id;
CREATE OR REPLACE TEMP TABLE r_orders AS
SELECT o.id, o.warehouse_id, CAST(date_trunc('week', o.placed_at) AS DATE) AS sale_week
FROM orders o WHERE o.status NOT IN (SELECT unnest($excluded));
CREATE OR REPLACE TEMP TABLE r_prod AS
SELECT p.id AS product_id, p.sku, p.category, COALESCE(p.size, $none) AS size, COALESCE(p.unit_cost, 0) AS unit_cost
FROM products p LEFT JOIN suppliers s ON s.id = p.supplier_id WHERE $supplier IS NULL OR s.code = $supplier;
CREATE OR REPLACE TEMP TABLE r_bounds AS
WITH newest AS (
    SELECT max(o.sale_week) AS w FROM order_lines ol JOIN r_orders o ON o.id = ol.order_id
    WHERE ol.product_id IN (SELECT product_id FROM r_prod)
), last AS (
    SELECT max(o.sale_week) AS last FROM order_lines ol JOIN r_orders o ON o.id = ol.order_id
    WHERE ol.product_id IN (SELECT product_id FROM r_prod) AND o.sale_week >= $lo
      AND o.sale_week <= least($hi, (SELECT w FROM newest) - INTERVAL (7 * $settle) DAY)
)
SELECT last, CAST(least($lo, last - INTERVAL (7 * (2 * $trend - 1)) DAY) AS DATE) AS first FROM last;
CREATE OR REPLACE TEMP TABLE r_all AS
SELECT ol.id, ol.product_id, p.sku, p.category, p.size, p.unit_cost, ol.qty, ol.unit_price,
       ol.qty * ol.unit_price AS value, o.warehouse_id, o.sale_week, COALESCE(sh.shipped, FALSE) AS shipped,
       COALESCE(r.units_returned, 0) AS units_returned, COALESCE(r.refund_value, 0) AS refund_value,
       COALESCE(r.wrong, 0) AS wrong
FROM order_lines ol JOIN r_orders o ON o.id = ol.order_id JOIN r_prod p USING (product_id)
LEFT JOIN r_ship sh ON sh.order_id = ol.order_id LEFT JOIN r_ret r ON r.id = ol.id
WHERE o.sale_week >= COALESCE((SELECT first FROM r_bounds), $lo) AND o.sale_week <= $hi;
CREATE OR REPLACE TEMP TABLE r_lines AS SELECT * FROM r_all WHERE sale_week >= $lo;
CREATE OR REPLACE TEMP TABLE r_rets AS
SELECT r.reason_code, COALESCE(r.disposition, 'unknown') AS disposition, r.qty, r.refund_amount,
       r.qty * l.unit_cost AS cost_value, l.category, l.size
FROM returns r JOIN r_lines l ON l.id = r.order_line_id
"""

DUCK_RATES = """
SELECT KEY AS "group", sum(qty) AS units_sold, sum(units_returned) AS units_returned,
       sum(units_returned) / nullif(sum(qty), 0) AS return_rate, sum(value) AS sales_value,
       sum(units_returned * unit_price) AS returned_value,
       sum(units_returned * unit_price) / nullif(sum(value), 0) AS value_return_rate,
       sum(refund_value) AS refund_value, sum(qty) < $min_units AS below_min_volume,
       sum(shipped::INTEGER) AS shipped_lines, sum(wrong * shipped::INTEGER) AS wrong_item_lines
FROM r_lines GROUP BY KEY
"""

DUCK_PRIORITY = """
WITH cat AS (
    SELECT category, sum(units_returned) / nullif(sum(qty), 0) AS category_rate FROM r_lines GROUP BY category
), sku AS (
    SELECT product_id, sku, category, size, sum(qty) AS units_sold, sum(units_returned) AS units_returned,
           sum(value) AS sales_value, sum(refund_value) AS refund_value
    FROM r_lines GROUP BY ALL
), p AS (
    SELECT sku.*, units_returned / units_sold AS return_rate, cat.category_rate,
           (units_returned / units_sold - cat.category_rate) * units_sold AS priority
    FROM sku JOIN cat USING (category) WHERE units_sold >= $min_units
), top AS (
    SELECT *, priority * sales_value / units_sold AS value_at_risk FROM p WHERE priority > 0
    ORDER BY priority DESC, sku LIMIT $limit
), win AS (
    SELECT a.product_id,
           sum(a.qty) FILTER (WHERE a.sale_week > b.last - INTERVAL (7 * $trend) DAY) AS recent_sold,
           sum(a.units_returned) FILTER (WHERE a.sale_week > b.last - INTERVAL (7 * $trend) DAY) AS recent_returned,
           sum(a.qty) FILTER (WHERE a.sale_week <= b.last - INTERVAL (7 * $trend) DAY) AS prior_sold,
           sum(a.units_returned) FILTER (WHERE a.sale_week <= b.last - INTERVAL (7 * $trend) DAY) AS prior_returned
    FROM r_all a CROSS JOIN r_bounds b
    WHERE a.product_id IN (SELECT product_id FROM top) AND a.sale_week <= b.last
      AND a.sale_week > b.last - INTERVAL (7 * 2 * $trend) DAY
    GROUP BY a.product_id
)
SELECT top.*, win.recent_returned / nullif(win.recent_sold, 0) AS recent_rate,
       win.prior_returned / nullif(win.prior_sold, 0) AS prior_rate
FROM top LEFT JOIN win USING (product_id) ORDER BY priority DESC, sku
"""

DUCK_PARETO = """
SELECT reason_code, sum(qty) AS units_returned, sum(qty) / sum(sum(qty)) OVER () AS share,
       sum(sum(qty)) OVER (ORDER BY sum(qty) DESC, reason_code ROWS UNBOUNDED PRECEDING) / sum(sum(qty)) OVER ()
           AS cumulative_share
FROM r_rets GROUP BY reason_code ORDER BY units_returned DESC, reason_code
"""

DUCK_HEAT = """
WITH sold AS (SELECT KEY AS member, sum(qty) AS units_sold FROM r_lines GROUP BY KEY),
cells AS (SELECT KEY AS member, reason_code, sum(qty) AS units_returned FROM r_rets GROUP BY KEY, reason_code)
SELECT c.member, c.reason_code, c.units_returned, COALESCE(s.units_sold, 0) AS units_sold,
       c.units_returned / nullif(s.units_sold, 0) AS reason_rate,
       c.units_returned / sum(c.units_returned) OVER (PARTITION BY c.member) AS share_of_returns
FROM cells c LEFT JOIN sold s USING (member) ORDER BY c.member, c.reason_code
"""

DUCK_COST = """
WITH g AS (
    SELECT disposition, count(*) AS return_lines, sum(qty) AS units_returned, sum(refund_amount) AS refund_value,
           sum(cost_value) AS cost_value FROM r_rets GROUP BY disposition
), c AS (
    SELECT disposition, return_lines, units_returned, refund_value, return_lines * $ship AS return_shipping_cost,
           units_returned * $handling AS handling_cost,
           cost_value * COALESCE(list_extract($loss, list_position($order, disposition)), 0) / 100 AS value_lost
    FROM g
)
SELECT *, return_shipping_cost + handling_cost + value_lost AS net_cost FROM c
ORDER BY COALESCE(list_position($order, disposition), 99), disposition
"""

DUCK_ACCURACY = """
SELECT l.sale_week, w.code AS warehouse, sum(shipped::INTEGER) AS shipped_lines,
       sum(wrong * shipped::INTEGER) AS wrong_item_lines,
       1 - sum(wrong * shipped::INTEGER) / nullif(sum(shipped::INTEGER), 0) AS fulfilment_accuracy
FROM r_lines l JOIN warehouses w ON w.id = l.warehouse_id GROUP BY ALL ORDER BY l.sale_week, warehouse
"""


def _params(sql: str, params: dict[str, Any]) -> dict[str, Any]:
    """The parameters ``sql`` names (``$name`` as a whole word)."""
    return {k: v for k, v in params.items() if re.search(rf"\${k}\b", sql)}


def duckdb_page(con: Any, *, params: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """The returns page's tables computed by DuckDB SQL from the raw tables loaded in ``con``
    (:func:`bench.duckdb_ref.load` of :func:`read_frames`'s frames); ``params`` holds the range's sale
    weeks (``lo``, ``hi``), the viewer's ``supplier`` (None: every one) and the thresholds."""
    for st in (x.strip() for x in DUCK_LINES.split(";\n")):
        if st:
            con.execute(st, _params(st, params))

    def q(sql: str) -> pd.DataFrame:
        return duckdb_ref.frame(con, sql, _params(sql, params))

    return {"category": q(DUCK_RATES.replace("KEY", "category")),
            "weekly": q(DUCK_RATES.replace("KEY", "sale_week")), "priority": q(DUCK_PRIORITY),
            "pareto": q(DUCK_PARETO), "heat_category": q(DUCK_HEAT.replace("KEY", "category")),
            "heat_size": q(DUCK_HEAT.replace("KEY", "size")), "cost": q(DUCK_COST), "accuracy": q(DUCK_ACCURACY)}


def _duck_params(page: ret.ReturnsPage, filters: Filters, supplier: str | None) -> dict[str, Any]:
    th = page.thresholds
    loss = [th[v] for v in rm.LOSS_THRESHOLDS.values()]  # in the order of $order
    return {"lo": ret.queries.week_start(filters.date_from), "hi": filters.date_to, "supplier": supplier,
            "wrong": list(ret.WRONG_ITEM_REASONS), "excluded": ["cancelled", "unavailable"], "none": rm.NONE_MEMBER,
            "settle": rm.SETTLE_WEEKS, "trend": rm.TREND_WEEKS, "min_units": th[ret.MIN_UNITS_THRESHOLD],
            "limit": 100, "ship": th[rm.SHIP_COST_THRESHOLD], "handling": th[rm.HANDLING_COST_THRESHOLD],
            "loss": loss, "order": list(rm.LOSS_THRESHOLDS)}


def _close(a: Any, b: Any, what: str) -> None:
    np.testing.assert_allclose(np.asarray(a, dtype="float64"), np.asarray(b, dtype="float64"), rtol=1e-9,
                               equal_nan=True, err_msg=what)


def _agree_duck(ours: ret.ReturnsPage, duck: dict[str, pd.DataFrame]) -> str:
    """Raise unless ours and DuckDB's tables agree (counts exactly, money and rates to 1e-9); say on what."""
    a = ours.breakdown.set_index("group").sort_index()
    b = duck["category"].set_index("group").sort_index()
    assert a.index.equals(b.index), "categories differ"
    for c in ("units_sold", "units_returned", "return_rate", "sales_value", "returned_value", "value_return_rate",
              "refund_value"):
        _close(a[c], b[c], f"category {c}")
    assert (a["below_min_volume"].to_numpy() == b["below_min_volume"].to_numpy()).all()
    wa, wb = ours.weekly.reset_index(drop=True), duck["weekly"].sort_values("group", ignore_index=True)
    assert len(wa) == len(wb), "weeks differ"
    for c in ("units_sold", "units_returned", "sales_value", "refund_value", "shipped_lines", "wrong_item_lines"):
        _close(wa[c], wb[c], f"weekly {c}")
    pa, pb = ours.priority, duck["priority"]
    assert list(pa["sku"]) == list(pb["sku"]), "priority lists differ"
    for c in ("units_sold", "units_returned", "return_rate", "category_rate", "priority", "value_at_risk",
              "recent_rate", "prior_rate", "sales_value", "refund_value"):
        _close(pa[c], pb[c], f"priority {c}")
    assert list(ours.pareto["reason_code"]) == list(duck["pareto"]["reason_code"]), "Pareto order differs"
    for c in ("units_returned", "share", "cumulative_share"):
        _close(ours.pareto[c], duck["pareto"][c], f"Pareto {c}")
    for name in ("heat_category", "heat_size"):
        ha, hb = getattr(ours, name), duck[name]
        assert list(ha["member"]) == list(hb["member"]) and list(ha["reason_code"]) == list(hb["reason_code"]), name
        for c in ("units_returned", "units_sold", "reason_rate", "share_of_returns"):
            _close(ha[c], hb[c], f"{name} {c}")
    ca = ours.cost[ours.cost["disposition"] != "total"].reset_index(drop=True)
    assert list(ca["disposition"]) == list(duck["cost"]["disposition"]), "dispositions differ"
    for c in ("return_lines", "units_returned", "refund_value", "return_shipping_cost", "handling_cost", "value_lost",
              "net_cost"):
        _close(ca[c], duck["cost"][c], f"cost {c}")
    aa, ab = ours.accuracy, duck["accuracy"]
    assert list(aa["warehouse"]) == list(ab["warehouse"]) and len(aa) == len(ab), "accuracy cells differ"
    for c in ("shipped_lines", "wrong_item_lines", "fulfilment_accuracy"):
        _close(aa[c], ab[c], f"accuracy {c}")
    return (f"{len(a)} categories, {len(wa)} weeks, {len(pa)} priority SKUs with trend, {len(ours.pareto)} reasons, "
            f"{len(ours.heat_category) + len(ours.heat_size)} heatmap cells, cost, {len(aa)} accuracy cells")


def _busiest_supplier(engine: Engine) -> str:
    """The supplier with the most units sold: the vendor whose returns page is heaviest."""
    with read_session(engine) as s:
        t = AggReturnsDim
        return str(s.scalar(select(t.supplier).where(t.dim == "total", t.supplier.is_not(None)).group_by(t.supplier)
                            .order_by(func.sum(t.units_sold).desc(), t.supplier).limit(1)))


def run(engine: Engine) -> list[dict[str, Any]]:
    _ensure_aggregates(engine)
    filters = _filters(engine)
    supplier = _busiest_supplier(engine)
    t0 = time.perf_counter()
    frames = read_frames(engine)
    read_ms = ms_since(t0)
    cached = pickle.dumps(frames)
    rows: list[dict[str, Any]] = []
    for name, viewer, code in (
            ("returns root-cause", Viewer(username="bench-manager", role="manager"), None),
            (f"returns root-cause, supplier {supplier}",
             Viewer(username="bench-supplier", role="vendor", vendor_kind="supplier", vendor_code=supplier), supplier)):
        ours, cold, warm, warm_cpu = timed(lambda v=viewer: page_load(engine, filters, v), WARM_RUNS)
        min_units = ours.thresholds[ret.MIN_UNITS_THRESHOLD]
        t0 = time.perf_counter()
        naive = naive_page(_scoped(pickle.loads(cached), code), filters, min_units)  # noqa: S301 - ours
        naive_cold = read_ms + ms_since(t0)
        naive_warm, naive_cpu = [], []
        for _ in range(NAIVE_WARM_RUNS):
            t0, c0 = time.perf_counter(), time.process_time()
            naive_page(_scoped(pickle.loads(cached), code), filters, min_units)  # noqa: S301 - ours
            naive_warm.append(ms_since(t0))
            naive_cpu.append((time.process_time() - c0) * 1000)
        _agree(ours, naive)
        params = _duck_params(ours, filters, code)
        duck, dt_ = duckdb_ref.reference(frames, lambda con, pr=params: duckdb_page(con, params=pr))
        print(f"  {name}: ours and naive pandas agree on categories, the Pareto and the top of the priority list",
              flush=True)
        print(f"  {name}: ours and DuckDB agree on {_agree_duck(ours, duck)}", flush=True)
        n = int(ours.breakdown["units_sold"].sum())
        rows += [
            {"name": name, "approach": "naive pandas (whole tables)", "cold_ms": naive_cold,
             "warm_ms": statistics.median(naive_warm), "warm_cpu_ms": statistics.median(naive_cpu), "rows": n},
            {"name": name, "approach": "agg tables (ops.returns)", "cold_ms": cold, "warm_ms": warm,
             "warm_cpu_ms": warm_cpu, "rows": n},
            {"name": name, "approach": "duckdb (raw)", "cold_ms": dt_.cold_ms, "warm_ms": dt_.warm_ms,
             "warm_cpu_ms": dt_.warm_cpu_ms, "rows": n},
        ]
    return rows


if __name__ == "__main__":
    import os
    import sys

    from bench.run import _table
    from ops.db import make_engine

    url = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("OPS_BENCH_DATABASE_URL", "sqlite:///bench/out/bench.db")
    print(_table(run(make_engine(url))))
