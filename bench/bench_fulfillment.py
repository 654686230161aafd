"""Fulfilment SLA page load: pre-aggregated tables vs the naive whole-table pandas approach.

The page's data load (``ui.fulfillment.load_overview`` plus the default chart) over the default
range (the last 90 days up to the as-of day) is timed two ways:

- ``agg tables``: the ops functions the page calls, reading ``agg_fulfil_*`` in SQL.
  Cold = the first call on a fresh engine; warm = the median of five more calls (no Streamlit cache).
- ``naive pandas``: what a typical dashboard does: ``read_sql`` of orders, order_lines, shipments
  and warehouses, then pandas. Cold = read + compute; warm = the frames kept in memory, copied once
  (as ``st.cache_data`` does on every hit) and computed again.

Both compute the on-time ship/delivery counts and late attributions per warehouse; the bench
checks they agree before reporting.
"""

from __future__ import annotations

import datetime as dt
import pickle
import statistics
import time
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from ops import fulfillment as ful
from ops.access import SYSTEM
from ops.db import transaction
from ops.filters import Filters

DAYS = 90
CHECKED = ["ship_counted", "ship_on_time", "delivered", "delivered_on_time", "late_warehouse", "late_carrier"]


def _filters(engine: Engine) -> Filters:
    with transaction(engine) as s:
        end = (ful.as_of(s) - dt.timedelta(days=1)).date()
    return Filters(date_from=end - dt.timedelta(days=DAYS - 1), date_to=end)


def page_load(engine: Engine, filters: Filters) -> dict[str, pd.DataFrame]:
    """What the page loads on first view (overview + the default weekly trend chart)."""
    with transaction(engine) as s:
        return {
            "kpis": ful.kpis(s, viewer=SYSTEM, filters=filters),
            "summary": ful.sla_summary(s, viewer=SYSTEM, filters=filters, by="warehouse"),
            "exceptions": ful.exceptions(s, viewer=SYSTEM, filters=filters),
            "backlog": ful.backlog(s, viewer=SYSTEM, filters=filters),
            "bands": ful.backlog_by_warehouse(s, viewer=SYSTEM, filters=filters),
            "trend": ful.ontime_trend(s, viewer=SYSTEM, filters=filters),
        }


def read_frames(engine: Engine) -> dict[str, pd.DataFrame]:
    with engine.connect() as c:
        return {name: pd.read_sql_table(name, c) for name in ("orders", "order_lines", "shipments", "warehouses")}


def naive_summary(frames: dict[str, pd.DataFrame], filters: Filters) -> pd.DataFrame:
    """The per-warehouse SLA counts and weekly trend with plain pandas on whole tables."""
    o, ol, sh, wh = frames["orders"], frames["order_lines"], frames["shipments"], frames["warehouses"]
    o = o[(o["placed_at"] >= pd.Timestamp(filters.start())) & (o["placed_at"] < pd.Timestamp(filters.end()))
          & ~o["status"].isin(ful.EXCLUDED_STATUSES)]
    first = sh.groupby("order_id").agg(shipped_at=("shipped_at", "min"), promised_at=("promised_at", "min"),
                                       delivered_at=("delivered_at", "max"), n=("id", "size"),
                                       nd=("delivered_at", "count"))
    first.loc[first["nd"] < first["n"], "delivered_at"] = pd.NaT
    df = ol[["order_id", "ship_by"]].rename(columns={"ship_by": "line_ship_by"}).merge(
        o[["id", "warehouse_id", "ship_by", "paid_at", "placed_at"]], left_on="order_id", right_on="id")
    df = df.merge(first, left_on="order_id", right_index=True, how="left")
    df["deadline"] = df["line_ship_by"].fillna(df["ship_by"])
    df["counted"] = df["deadline"].notna() & df["shipped_at"].notna()
    df["on_time"] = df["counted"] & (df["shipped_at"] <= df["deadline"])
    df["delivered"] = df["delivered_at"].notna() & df["promised_at"].notna()
    df["delivered_on_time"] = df["delivered"] & (df["delivered_at"].dt.normalize() <= df["promised_at"].dt.normalize())
    late_del = df["delivered"] & ~df["delivered_on_time"]
    df["late_warehouse"] = late_del & df["counted"] & ~df["on_time"]
    df["late_carrier"] = late_del & df["on_time"]
    df = df.merge(wh[["id", "code"]].rename(columns={"id": "warehouse_id", "code": "group"}), on="warehouse_id")
    df["week"] = df["placed_at"].dt.to_period("W-SUN")
    df.groupby(["week", "group"])[["counted", "on_time"]].sum()  # the trend chart
    out = df.groupby("group").agg(ship_counted=("counted", "sum"), ship_on_time=("on_time", "sum"),
                                  delivered=("delivered", "sum"), delivered_on_time=("delivered_on_time", "sum"),
                                  late_warehouse=("late_warehouse", "sum"), late_carrier=("late_carrier", "sum"))
    return out.astype("int64").reset_index()


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000


def run(engine: Engine) -> list[dict[str, Any]]:
    filters = _filters(engine)
    t0 = time.perf_counter()
    ours = page_load(engine, filters)
    cold = _ms(t0)
    warm = []
    for _ in range(5):
        t0 = time.perf_counter()
        page_load(engine, filters)
        warm.append(_ms(t0))

    t0 = time.perf_counter()
    frames = read_frames(engine)
    naive = naive_summary(frames, filters)
    naive_cold = _ms(t0)
    naive_warm = []
    for _ in range(3):
        t0 = time.perf_counter()
        naive_summary(pickle.loads(pickle.dumps(frames)), filters)  # noqa: S301 - our own frames
        naive_warm.append(_ms(t0))

    got = ours["summary"]
    got = got[got["group"] != ful.NONE_LABEL].set_index("group")[CHECKED].astype("int64")
    want = naive.set_index("group")[CHECKED]
    pd.testing.assert_frame_equal(got.sort_index(), want.sort_index(), check_names=False)
    rows = int(ours["summary"]["lines"].sum())
    return [
        {"name": "fulfilment SLA", "approach": "naive pandas (whole tables)", "cold_ms": naive_cold,
         "warm_ms": statistics.median(naive_warm), "rows": rows},
        {"name": "fulfilment SLA", "approach": "agg tables (ops.fulfillment)", "cold_ms": cold,
         "warm_ms": statistics.median(warm), "rows": rows},
    ]


if __name__ == "__main__":
    import os
    import sys

    from ops.db import make_engine

    url = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("OPS_BENCH_DATABASE_URL", "sqlite:///bench/out/bench.db")
    for row in run(make_engine(url)):
        print(row)
