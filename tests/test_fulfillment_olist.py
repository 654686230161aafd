"""Fulfilment SLA on the imported Olist sample equals plain pandas over the raw CSVs.

The pandas side restates the definitions of ops.fulfillment from the Kaggle columns only:
lines of orders not canceled/unavailable; on-time ship = order_delivered_carrier_date <=
shipping_limit_date (ties on time) over lines with both; on-time delivery = the delivery day <=
the estimated day over lines with a delivery and an estimate; click-to-ship = carrier date -
approval, in hours, over lines with both; medians over lines.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import SHARED_DATA
from sqlalchemy import Engine

from ops.access import SYSTEM, Viewer
from ops.db import transaction
from ops.filters import Filters

OLIST = SHARED_DATA / "olist_sample_4k"
pytest.importorskip("ops.ingest")


def _raw_lines() -> pd.DataFrame:
    orders = pd.read_csv(OLIST / "olist_orders_dataset.csv", encoding="utf-8-sig")
    items = pd.read_csv(OLIST / "olist_order_items_dataset.csv", encoding="utf-8-sig")
    sellers = pd.read_csv(OLIST / "olist_sellers_dataset.csv", encoding="utf-8-sig", dtype=str)
    df = items.merge(orders, on="order_id").merge(sellers[["seller_id", "seller_state"]], on="seller_id", how="left")
    for c in ("shipping_limit_date", "order_approved_at", "order_delivered_carrier_date",
              "order_delivered_customer_date", "order_estimated_delivery_date"):
        df[c] = pd.to_datetime(df[c])
    return df[~df["order_status"].isin(["canceled", "unavailable"])]


def _expected() -> pd.DataFrame:
    df = _raw_lines()
    ship = df[df["shipping_limit_date"].notna() & df["order_delivered_carrier_date"].notna()].copy()
    ship["on_time"] = ship["order_delivered_carrier_date"] <= ship["shipping_limit_date"]
    dl = df[df["order_delivered_customer_date"].notna() & df["order_estimated_delivery_date"].notna()].copy()
    dl["on_time"] = (dl["order_delivered_customer_date"].dt.normalize()
                     <= dl["order_estimated_delivery_date"].dt.normalize())
    c2s = df[df["order_approved_at"].notna() & df["order_delivered_carrier_date"].notna()].copy()
    c2s["h"] = (c2s["order_delivered_carrier_date"] - c2s["order_approved_at"]).dt.total_seconds() / 3600
    return pd.DataFrame({
        "ship_counted": ship.groupby("seller_state").size(),
        "on_time_ship_rate": ship.groupby("seller_state")["on_time"].mean(),
        "delivered": dl.groupby("seller_state").size(),
        "on_time_delivery_rate": dl.groupby("seller_state")["on_time"].mean(),
        "c2s_median_h": c2s.groupby("seller_state")["h"].median(),
    })


def _import(engine: Engine) -> None:
    from ops.ingest import run_import

    run_import(engine, kind="olist", paths=[OLIST], viewer=SYSTEM)


def test_rates_and_median_per_seller_state_match_pandas(engine: Engine) -> None:
    from ops.fulfillment import sla_summary

    _import(engine)
    want = _expected()
    with transaction(engine) as s:
        got = sla_summary(s, viewer=SYSTEM, by="seller_region").set_index("group")
        total = sla_summary(s, viewer=SYSTEM, by="all").iloc[0]
    assert bool(got["exact"].all())
    assert sorted(got.index) == sorted(want.index)
    got = got.loc[want.index]
    assert (got["ship_counted"] == want["ship_counted"]).all()
    assert (got["delivered"] == want["delivered"].reindex(want.index).fillna(0)).all()
    np.testing.assert_allclose(got["on_time_ship_rate"], want["on_time_ship_rate"], rtol=1e-12)
    np.testing.assert_allclose(got["on_time_delivery_rate"].fillna(-1), want["on_time_delivery_rate"].fillna(-1),
                               rtol=1e-12)
    np.testing.assert_allclose(got["c2s_median_h"], want["c2s_median_h"], rtol=1e-9)
    # The whole sample, by hand: 9 lines shipped exactly at their deadline count as on time.
    raw = _raw_lines()
    shipped = raw[raw["order_delivered_carrier_date"].notna()]
    assert int(total["ship_counted"]) == len(shipped)
    assert int(total["ship_on_time"]) == int((shipped["order_delivered_carrier_date"]
                                              <= shipped["shipping_limit_date"]).sum())
    # Backlog: lines of processing/invoiced orders (not shipped, not cancelled), all long past due.
    unshipped = raw[raw["order_delivered_carrier_date"].isna() & raw["order_status"].isin(["processing", "invoiced"])]
    assert int(total["backlog_lines"]) == len(unshipped) == int(total["late_unshipped_lines"])


def test_seller_sees_only_own_lines_and_export_matches_page(engine: Engine) -> None:
    from ops.exports import run
    from ops.fulfillment import backlog, sla_summary

    _import(engine)
    raw = _raw_lines()
    # A seller with a backlog line: its own counts, its own backlog, nothing of anyone else.
    seller = raw[raw["order_delivered_carrier_date"].isna()]["seller_id"].value_counts().index[0]
    mine = raw[raw["seller_id"] == seller]
    vendor = Viewer(username="s1", role="vendor", vendor_kind="supplier", vendor_code=seller)
    with transaction(engine) as s:
        by_seller = sla_summary(s, viewer=vendor, by="seller")
        bl = backlog(s, viewer=vendor)
        exported = run(s, "fulfilment_summary_seller_state", viewer=vendor, filters=Filters())
        page = sla_summary(s, viewer=vendor, filters=Filters(), by="seller_region")
        everyone = sla_summary(s, viewer=SYSTEM, by="all")
    assert list(by_seller["group"]) == [seller]
    assert int(by_seller["lines"].iloc[0]) == len(mine) < int(everyone["lines"].iloc[0])
    assert set(bl["seller"]) == {seller}
    assert len(bl) == mine[mine["order_delivered_carrier_date"].isna()]["order_id"].nunique()
    pd.testing.assert_frame_equal(exported, page)
    assert list(page["group"]) == sorted(mine["seller_state"].unique())
