"""Fulfilment SLA page load: pre-aggregated tables vs the naive whole-table pandas approach.

"Page data load" = everything the fulfilment page fetches on first view with the default filters
(the last 90 days up to the as-of day, all warehouses and channels, broken down by warehouse):
the KPI tiles (this week vs last), the SLA summary with click-to-ship percentiles, the
exceptions list, the backlog list and its age bands, and the default chart (on-time ship rate by
week). That is one call of :func:`ops.fulfillment.fulfillment_page`, which the page's cached
loader ``ui.fulfillment.load_overview`` makes once per (viewer, filters, breakdown).

It is timed two ways:

- ``agg tables``: :func:`ops.fulfillment.fulfillment_page`, reading ``agg_fulfil_*`` in SQL.
  Cold = the first call on a fresh engine; warm = the median of five more calls (no Streamlit
  cache involved: each call runs its SQL), for a full viewer and for a 3PL vendor (the operator of
  the first operated warehouse); ``cpu_ms`` is the warm median in process CPU time (the machine
  is often shared: wall time alone says little).
- ``naive pandas``: what a typical dashboard does: ``read_sql`` of orders, order_lines, shipments
  and warehouses, then pandas. Cold = read + compute; warm = the frames kept in memory, copied once
  (as ``st.cache_data`` does on every hit) and computed again (median of three).

Both compute the per-warehouse on-time ship/delivery counts and late attributions, the weekly
on-time trend, this week's and last week's on-time ship counts (KPI tiles) and the backlog lines
per warehouse; the bench checks they agree before reporting.
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
from ops.access import SYSTEM, Viewer
from ops.db import transaction
from ops.filters import Filters

DAYS = 90
CHECKED = ["ship_counted", "ship_on_time", "delivered", "delivered_on_time", "late_warehouse", "late_carrier",
           "backlog_lines"]


def _filters(engine: Engine) -> Filters:
    with transaction(engine) as s:
        end = (ful.as_of(s) - dt.timedelta(days=1)).date()
    return Filters(date_from=end - dt.timedelta(days=DAYS - 1), date_to=end)


def page_load(engine: Engine, filters: Filters, viewer: Viewer = SYSTEM) -> ful.FulfilmentPage:
    """What the page loads on first view (see the module docstring)."""
    with transaction(engine) as s:
        return ful.fulfillment_page(s, viewer=viewer, filters=filters, by="warehouse")


def _vendor(engine: Engine) -> Viewer | None:
    with engine.connect() as c:
        code = c.exec_driver_sql("SELECT min(operator_code) FROM warehouses WHERE operator_code IS NOT NULL").scalar()
    return Viewer(username="bench-3pl", role="vendor", vendor_kind="warehouse", vendor_code=code) if code else None


def _warm(engine: Engine, filters: Filters, viewer: Viewer) -> tuple[float, float]:
    """Median wall and CPU ms of five warm page loads."""
    wall, cpu = [], []
    for _ in range(5):
        t0, c0 = time.perf_counter(), time.process_time()
        page_load(engine, filters, viewer)
        wall.append(_ms(t0))
        cpu.append((time.process_time() - c0) * 1000)
    return statistics.median(wall), statistics.median(cpu)


def read_frames(engine: Engine) -> dict[str, pd.DataFrame]:
    with engine.connect() as c:
        return {name: pd.read_sql_table(name, c) for name in ("orders", "order_lines", "shipments", "warehouses")}


def naive_summary(frames: dict[str, pd.DataFrame], filters: Filters) -> dict[str, Any]:
    """The per-warehouse SLA counts, weekly trend, KPI weeks and backlog with plain pandas on whole tables."""
    o, ol, sh, wh = frames["orders"], frames["order_lines"], frames["shipments"], frames["warehouses"]
    o = o[(o["placed_at"] >= pd.Timestamp(filters.start())) & (o["placed_at"] < pd.Timestamp(filters.end()))
          & ~o["status"].isin(ful.EXCLUDED_STATUSES)]
    first = sh.groupby("order_id").agg(shipped_at=("shipped_at", "min"), promised_at=("promised_at", "min"),
                                       delivered_at=("delivered_at", "max"), n=("id", "size"),
                                       nd=("delivered_at", "count"))
    first.loc[first["nd"] < first["n"], "delivered_at"] = pd.NaT
    df = ol[["order_id", "ship_by"]].rename(columns={"ship_by": "line_ship_by"}).merge(
        o[["id", "warehouse_id", "ship_by", "paid_at", "placed_at", "status"]], left_on="order_id", right_on="id")
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
    df["week"] = df["placed_at"].dt.normalize() - pd.to_timedelta(df["placed_at"].dt.dayofweek, unit="D")
    trend = df.groupby(["week", "group"]).agg(ship_counted=("counted", "sum"), ship_on_time=("on_time", "sum"))
    end = pd.Timestamp(filters.date_to)
    kpi = {}
    for tag, back in (("value", 0), ("previous", 7)):
        day = df["placed_at"].dt.normalize()
        wk = df[(day <= end - pd.Timedelta(days=back)) & (day >= end - pd.Timedelta(days=back + 6))]
        kpi[tag] = (int(wk["counted"].sum()), int(wk["on_time"].sum()))
    backlog = df[df["shipped_at"].isna() & ~df["status"].isin(ful.SHIPPED_STATUSES)].groupby("group").size()
    out = df.groupby("group").agg(ship_counted=("counted", "sum"), ship_on_time=("on_time", "sum"),
                                  delivered=("delivered", "sum"), delivered_on_time=("delivered_on_time", "sum"),
                                  late_warehouse=("late_warehouse", "sum"), late_carrier=("late_carrier", "sum"))
    out = out.astype("int64")
    out["backlog_lines"] = backlog.reindex(out.index).fillna(0).astype("int64")
    return {"summary": out.reset_index(), "trend": trend.astype("int64").reset_index(), "kpi": kpi}


def _agree(ours: ful.FulfilmentPage, naive: dict[str, Any]) -> None:
    """Raise unless the page's numbers and the naive ones agree (summary, trend, KPI weeks)."""
    got = ours.summary
    got = got[got["group"] != ful.NONE_LABEL].set_index("group")[CHECKED].astype("int64")
    want = naive["summary"].set_index("group")[CHECKED]
    pd.testing.assert_frame_equal(got.sort_index(), want.sort_index(), check_names=False)
    tr = ours.trend[ours.trend["group"] != ful.NONE_LABEL].set_index(["period", "group"])
    tr = tr[["ship_counted", "ship_on_time"]].astype("int64").sort_index()
    want_tr = naive["trend"].rename(columns={"week": "period"}).set_index(["period", "group"]).sort_index()
    pd.testing.assert_frame_equal(tr, want_tr, check_names=False, check_index_type=False)
    k = ours.kpis.set_index("kpi")
    for tag, (counted, on_time) in naive["kpi"].items():
        if int(k.loc["lines_shipped", tag]) != counted:
            raise AssertionError(f"KPI lines shipped ({tag}): page {k.loc['lines_shipped', tag]}, naive {counted}")
        rate = on_time / counted if counted else float("nan")  # a fraction, as ops gives every rate
        if abs(float(k.loc["on_time_ship_rate", tag]) - rate) > 1e-9:
            raise AssertionError(f"KPI on-time ship rate ({tag}): page {k.loc['on_time_ship_rate', tag]}, naive {rate}")


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000


def run(engine: Engine) -> list[dict[str, Any]]:
    filters = _filters(engine)
    t0 = time.perf_counter()
    ours = page_load(engine, filters)
    cold = _ms(t0)
    warm, warm_cpu = _warm(engine, filters, SYSTEM)
    vendor = _vendor(engine)
    vendor_rows: list[dict[str, Any]] = []
    if vendor is not None:
        t0 = time.perf_counter()
        mine = page_load(engine, filters, vendor)
        v_cold = _ms(t0)
        v_warm, v_cpu = _warm(engine, filters, vendor)
        vendor_rows.append({"name": "fulfilment SLA", "approach": f"agg tables, 3PL {vendor.vendor_code}",
                            "cold_ms": v_cold, "warm_ms": v_warm, "cpu_ms": v_cpu,
                            "rows": int(mine.summary["lines"].sum())})

    t0 = time.perf_counter()
    frames = read_frames(engine)
    naive = naive_summary(frames, filters)
    naive_cold = _ms(t0)
    # A warm naive page load is an st.cache_data hit (which unpickles a copy of the cached
    # frames) followed by the aggregation.
    cached = pickle.dumps(frames)
    naive_warm = []
    for _ in range(3):
        t0 = time.perf_counter()
        naive_summary(pickle.loads(cached), filters)  # noqa: S301 - our own frames
        naive_warm.append(_ms(t0))

    _agree(ours, naive)
    rows = int(ours.summary["lines"].sum())
    return [
        {"name": "fulfilment SLA", "approach": "naive pandas (whole tables)", "cold_ms": naive_cold,
         "warm_ms": statistics.median(naive_warm), "rows": rows},
        {"name": "fulfilment SLA", "approach": "agg tables (ops.fulfillment)", "cold_ms": cold,
         "warm_ms": warm, "cpu_ms": warm_cpu, "rows": rows},
        *vendor_rows,
    ]


if __name__ == "__main__":
    import os
    import sys

    from ops.db import make_engine

    url = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("OPS_BENCH_DATABASE_URL", "sqlite:///bench/out/bench.db")
    for row in run(make_engine(url)):
        print(row)
