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

Wall and CPU time are both recorded (``warm_cpu_ms``): on the shared 2-core machine wall time is
several times CPU time under load. Both are checked to agree (units sold and returned per category,
the Pareto, the top of the priority list) before anything is reported. When the returns aggregates are empty (a database
seeded before the returns domain existed) they are built first, outside the timings.
"""

from __future__ import annotations

import datetime as dt
import pickle
import statistics
import time
from typing import Any

import pandas as pd
from sqlalchemy import Engine, select

from ops import fulfillment as ful
from ops import returns as ret
from ops.access import SYSTEM
from ops.db import read_session, transaction
from ops.filters import Filters
from ops.models import AggReturnsSkuCum

DAYS = 90
TABLES = ("order_lines", "orders", "products", "suppliers", "shipments", "returns")


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


def page_load(engine: Engine, filters: Filters) -> ret.ReturnsPage:
    with read_session(engine) as s:
        return ret.returns_page(s, viewer=SYSTEM, filters=filters, by="category")


def read_frames(engine: Engine) -> dict[str, pd.DataFrame]:
    with engine.connect() as c:
        return {name: pd.read_sql_table(name, c) for name in TABLES}


def naive_page(frames: dict[str, pd.DataFrame], filters: Filters, min_units: float = 30) -> dict[str, Any]:
    """The page's figures with plain pandas on whole tables."""
    ol, o, p, sup, sh, r = (frames[n] for n in TABLES)
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


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000


def run(engine: Engine) -> list[dict[str, Any]]:
    _ensure_aggregates(engine)
    filters = _filters(engine)
    t0 = time.perf_counter()
    ours = page_load(engine, filters)
    cold = _ms(t0)
    warm, warm_cpu = [], []
    for _ in range(5):
        t0, c0 = time.perf_counter(), time.process_time()
        page_load(engine, filters)
        warm.append(_ms(t0))
        warm_cpu.append((time.process_time() - c0) * 1000)

    t0 = time.perf_counter()
    frames = read_frames(engine)
    naive = naive_page(frames, filters, ours.thresholds[ret.MIN_UNITS_THRESHOLD])
    naive_cold = _ms(t0)
    cached = pickle.dumps(frames)
    naive_warm, naive_cpu = [], []
    for _ in range(3):
        t0, c0 = time.perf_counter(), time.process_time()
        naive_page(pickle.loads(cached), filters, ours.thresholds[ret.MIN_UNITS_THRESHOLD])  # noqa: S301 - ours
        naive_warm.append(_ms(t0))
        naive_cpu.append((time.process_time() - c0) * 1000)

    _agree(ours, naive)
    rows = int(ours.breakdown["units_sold"].sum())
    return [
        {"name": "returns root-cause", "approach": "naive pandas (whole tables)", "cold_ms": naive_cold,
         "warm_ms": statistics.median(naive_warm), "warm_cpu_ms": statistics.median(naive_cpu), "rows": rows},
        {"name": "returns root-cause", "approach": "agg tables (ops.returns)", "cold_ms": cold,
         "warm_ms": statistics.median(warm), "warm_cpu_ms": statistics.median(warm_cpu), "rows": rows},
    ]


if __name__ == "__main__":
    import os
    import sys

    from ops.db import make_engine

    url = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("OPS_BENCH_DATABASE_URL", "sqlite:///bench/out/bench.db")
    for row in run(make_engine(url)):
        print(row)
