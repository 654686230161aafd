"""The fulfilment refresher with orders of several shipments (the demo data has none): a second shipment
shipped later, one never shipped, one not yet delivered. ``agg_fulfil_daily`` per warehouse, the business-hour
histogram and the backlog against plain pandas on the raw rows (``tests.test_fulfillment_raw.raw_lines``, which
takes an order's first ship time and its last delivery when all its shipments arrived), and an incremental
rebuild of the touched days equal to the full one."""

from __future__ import annotations

import datetime as dt
import importlib

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from ops.db import transaction
from ops.demo import seed
from ops.models import Shipment
from tests.test_fulfillment_incremental import TABLES, _dump
from tests.test_fulfillment_raw import EDGES, aggregated_per_warehouse, per_warehouse, raw_lines

R = importlib.import_module("ops.fulfillment.refresh")  # the package exports a function of the same name


def _plant(engine: Engine) -> list[int]:
    """Second shipments for a few delivered orders; returns their order ids."""
    with engine.connect() as c:
        sh = pd.read_sql(select(Shipment).where(Shipment.delivered_at.is_not(None)).order_by(Shipment.id), c)
    picks = sh.iloc[[5, 15, 25, 35, 45, 55, 65, 75]]
    rows = []
    for i, (_, r) in enumerate(picks.iterrows()):
        shipped = r["shipped_at"].to_pydatetime()
        when = {0: shipped - dt.timedelta(hours=5),  # shipped first: the order's ship time moves earlier
                1: shipped + dt.timedelta(days=2),  # later, delivered later: the last delivery moves
                2: None,  # never shipped: the order is not delivered in full
                3: shipped + dt.timedelta(hours=1)}[i % 4]
        delivered = None if when is None or i % 4 == 3 else when + dt.timedelta(days=3)
        rows.append({"order_id": int(r["order_id"]), "tracking_number": f"SPLIT{i}",
                     "warehouse_id": None if pd.isna(r["warehouse_id"]) else int(r["warehouse_id"]),
                     "carrier_id": None if pd.isna(r["carrier_id"]) else int(r["carrier_id"]),
                     "service_id": None if pd.isna(r["service_id"]) else int(r["service_id"]),
                     "zone": None if pd.isna(r["zone"]) else int(r["zone"]), "lane": r["lane"],
                     "label_cost": 2.5, "shipped_at": when, "promised_at": r["promised_at"].to_pydatetime(),
                     "first_attempt_at": delivered, "delivered_at": delivered,
                     "status": "delivered" if delivered else ("in_transit" if when else "label_created")})
    with transaction(engine) as s:
        s.execute(Shipment.__table__.insert(), rows)
    return [int(v) for v in picks["order_id"]]


def test_several_shipments_per_order_match_plain_pandas(engine: Engine) -> None:
    seed(engine, size="small", seed=5)
    ids = _plant(engine)
    with transaction(engine) as s:
        R.refresh(s)
    df = raw_lines(engine)
    want = per_warehouse(df)
    got = aggregated_per_warehouse(engine, want)
    with engine.connect() as c:
        hist = pd.read_sql("SELECT measure, fine, bucket, channel_id, n FROM agg_fulfil_hours", c)
    for col in want.columns:
        assert np.allclose(got[col].astype(float), want[col].astype(float), rtol=1e-9), col
    # the split orders' lines: shipped at their first shipment, delivered only when every shipment arrived
    split = df[df["order_id"].isin(ids)]
    assert split["c2s_h"].notna().all() and not split["delivered"].all()
    cells = hist[(hist["channel_id"] != -1) & (hist["fine"] == 0)]
    for measure, col in (("c2s", "c2s_h"), ("c2s_bus", "c2s_bus_h")):
        hours = df[col].dropna().to_numpy()
        want_b = pd.Series(np.searchsorted(EDGES, hours, side="right")).value_counts().sort_index().to_dict()
        assert cells[cells["measure"] == measure].groupby("bucket")["n"].sum().to_dict() == want_b
        # the half-hour buckets hold the same lines, each in floor(hours * 2)
        fine = hist[(hist["channel_id"] != -1) & (hist["fine"] == 1) & (hist["measure"] == measure)]
        want_f = pd.Series(np.floor(hours * 2 + 1e-9).astype(int)).value_counts().sort_index().to_dict()
        assert fine.groupby("bucket")["n"].sum().to_dict() == want_f
    # the days of the split orders rebuilt alone equal the full rebuild
    full = _dump(engine)
    with transaction(engine) as s:
        days = R.touched_days(s, ids)
        R.refresh_days(s, days)
    again = _dump(engine)
    assert days == set(df.loc[df["order_id"].isin(ids), "day"].dt.date)
    for t in TABLES:
        pd.testing.assert_frame_equal(again[t], full[t], check_exact=False, rtol=1e-12)
