"""Inventory page data load: pre-aggregated tables vs reading the raw tables into pandas.

- ``aggregates``: :func:`ops.inventory.inventory_health` (reads ``agg_inventory_*``, ~one row per
  SKU x warehouse) - every table the page shows. Cold = first call on a new engine; warm =
  median of later calls (no result cache involved: each call runs its SQL).
- ``naive pandas``: what a typical dashboard does: ``read_sql`` of the whole order_lines,
  orders, inventory_snapshots, purchase-order and products tables (cold), kept in memory and
  aggregated in pandas on every interaction (warm = the aggregation only).

Both compute on hand, on order, window units, stockout days, average daily demand, days of
cover and the projected stockout per SKU x warehouse; :func:`run` checks they agree on a
sample of pairs before reporting.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, func, select, text

from ops import inventory_math as im
from ops.access import SYSTEM
from ops.db import transaction
from ops.inventory import inventory_health
from ops.models import AggInventoryPair

WINDOW = 28
WARM_RUNS = 5
SAMPLE = 200


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000


def _read_raw(engine: Engine) -> dict[str, pd.DataFrame]:
    with engine.connect() as c:
        return {
            "orders": pd.read_sql(text("SELECT id, warehouse_id, status, placed_at FROM orders"), c,
                                  parse_dates=["placed_at"]),
            "lines": pd.read_sql(text("SELECT order_id, product_id, qty, unit_price FROM order_lines"), c),
            "snap": pd.read_sql(text("SELECT product_id, warehouse_id, day, on_hand FROM inventory_snapshots"), c,
                                parse_dates=["day"]),
            "po": pd.read_sql(text("SELECT id, warehouse_id, status, expected_on FROM purchase_orders"), c,
                              parse_dates=["expected_on"]),
            "pol": pd.read_sql(text("SELECT po_id, product_id, qty_ordered, qty_received FROM purchase_order_lines"),
                               c),
            "products": pd.read_sql(text("SELECT id, sku, price, unit_cost FROM products"), c),
            "warehouses": pd.read_sql(text("SELECT id, code FROM warehouses"), c),
        }


def naive_positions(raw: dict[str, pd.DataFrame], window: int = WINDOW) -> pd.DataFrame:
    """The page's core per-pair numbers computed in pandas from whole raw tables."""
    snap = raw["snap"]
    as_of = snap["day"].max()
    keys = ["product_id", "warehouse_id"]
    today = snap[snap["day"] == as_of].set_index(keys)["on_hand"]
    recent = snap[(snap["day"] > as_of - pd.Timedelta(days=window)) & (snap["day"] <= as_of)]
    so = recent[recent["on_hand"] <= 0].groupby(keys).size()
    o = raw["orders"]
    o = o[(o["status"] != "cancelled") & o["warehouse_id"].notna()]
    lines = raw["lines"].merge(o, left_on="order_id", right_on="id")
    lines = lines[lines["placed_at"] < as_of + pd.Timedelta(days=1)]
    days_before = (as_of - lines["placed_at"].dt.normalize()).dt.days
    lines = lines.assign(wk=days_before // 7, warehouse_id=lines["warehouse_id"].astype("int64"))
    units = lines[lines["wk"] < window // 7].groupby(keys)["qty"].sum()
    weekly = lines[lines["wk"] < im.WEEKS].groupby([*keys, "wk"])["qty"].sum()
    wstats = weekly.groupby(level=[0, 1]).agg(wk_units="sum", wk_nonzero=lambda s: int((s > 0).sum()),
                                              wk_sumsq=lambda s: float((s * s).sum()))
    po = raw["pol"].merge(raw["po"], left_on="po_id", right_on="id")
    po = po[(po["status"] == "open") & (po["qty_ordered"] > po["qty_received"])]
    po = po.assign(qty=po["qty_ordered"] - po["qty_received"])
    on_order = po.groupby(keys)["qty"].sum()
    idx = today.index.union(on_order.index)
    p = pd.DataFrame(index=idx)
    p["on_hand"] = today.reindex(idx).fillna(0)
    p["on_order"] = on_order.reindex(idx).fillna(0)
    p["units"] = units.reindex(idx).fillna(0)
    p["stockout_days"] = so.reindex(idx).fillna(0)
    p = p.join(wstats)
    in_stock = window - p["stockout_days"]
    p["avg_daily_demand"] = np.where(in_stock > 0, p["units"] / in_stock.clip(lower=1), 0.0)
    p["days_of_cover"] = [im.days_of_cover(h, r) for h, r in zip(p["on_hand"], p["avg_daily_demand"], strict=True)]
    p = p.reset_index()
    p["key"] = list(zip(p["product_id"], p["warehouse_id"], strict=True))
    arr = po.dropna(subset=["expected_on"])
    arr = pd.DataFrame({"key": list(zip(arr["product_id"], arr["warehouse_id"], strict=True)),
                        "day": (arr["expected_on"] - as_of).dt.days.clip(lower=1), "qty": arr["qty"]})
    proj = im.project_stockouts(p[["key", "on_hand"]].assign(rate=p["avg_daily_demand"]), arr)
    p["days_to_stockout"] = proj["stockout_day"]
    p = p.merge(raw["products"], left_on="product_id", right_on="id").merge(
        raw["warehouses"].rename(columns={"code": "warehouse"}), left_on="warehouse_id", right_on="id")
    return p


def _agree(ours: pd.DataFrame, naive: pd.DataFrame) -> int:
    cols = ["on_hand", "on_order", "units", "stockout_days", "avg_daily_demand", "days_to_stockout"]
    a = ours.set_index(["sku", "warehouse"])
    b = naive.set_index(["sku", "warehouse"])
    if len(a) != len(b):
        raise AssertionError(f"pair counts differ: aggregates {len(a):,}, naive {len(b):,}")
    sample = a.index.to_series().sample(min(SAMPLE, len(a)), random_state=1).index
    for col in cols:
        x = a.loc[sample, col].astype(float).to_numpy()
        y = b.loc[sample, col].astype(float).to_numpy()
        if not np.allclose(np.nan_to_num(x, nan=-1), np.nan_to_num(y, nan=-1), rtol=1e-9, atol=1e-9):
            raise AssertionError(f"aggregates and naive pandas disagree on {col}")
    return len(sample)


def run(engine: Engine) -> list[dict[str, Any]]:
    """Time both approaches side by side; rows: name, approach, cold_ms, warm_ms, rows."""
    with transaction(engine) as s:
        if not s.scalar(select(func.count()).select_from(AggInventoryPair)):
            from ops.inventory import refresh_inventory

            t0 = time.perf_counter()
            refresh_inventory(s)
            print(f"  built agg_inventory_* in {_ms(t0):,.0f} ms", flush=True)

    def ours() -> Any:
        with transaction(engine) as s:
            return inventory_health(s, viewer=SYSTEM, window=WINDOW)

    t0 = time.perf_counter()
    h = ours()
    cold = _ms(t0)
    warm = []
    for _ in range(WARM_RUNS):
        t0 = time.perf_counter()
        h = ours()
        warm.append(_ms(t0))

    t0 = time.perf_counter()
    raw = _read_raw(engine)
    naive = naive_positions(raw)
    naive_cold = _ms(t0)
    naive_warm = []
    for _ in range(3):
        t0 = time.perf_counter()
        naive = naive_positions(raw)
        naive_warm.append(_ms(t0))
    checked = _agree(h.positions, naive)
    print(f"  inventory: aggregates and naive pandas agree on {checked} sampled SKU x warehouse pairs", flush=True)
    return [
        {"name": "inventory", "approach": "aggregates (agg_inventory_*)", "cold_ms": cold,
         "warm_ms": statistics.median(warm), "rows": len(h.positions)},
        {"name": "inventory", "approach": "naive pandas (read_sql whole tables)", "cold_ms": naive_cold,
         "warm_ms": statistics.median(naive_warm), "rows": len(naive)},
    ]
