"""``agg_review_week`` row by row against plain pandas on the raw rows, with what the demo data lacks: orders with
several shipments (shipped in one week, in two weeks, one not shipped, one lost), cancelled orders that shipped,
reviews (low scores among them), an order without a warehouse; and the incremental rebuild of a few weeks
equal to the full one."""

from __future__ import annotations

import datetime as dt
import importlib

import numpy as np
import pandas as pd
from sqlalchemy import Engine, delete, insert, select, update

from ops.db import as_day, transaction
from ops.demo import seed
from ops.models import AggReviewWeek, Order, Review, Shipment

rr = importlib.import_module("ops.review.refresh")  # the package exports a function of the same name

EXCLUDED = ("cancelled", "canceled", "unavailable")
DEFECT_SHIP = ("lost", "damaged", "returned_to_sender")
DEFECT_RETURN = ("defective", "damaged", "damaged_in_transit", "broken", "faulty", "not_working",
                 "damaged_by_carrier", "damaged_by_fc", "quality_unacceptable", "missing_parts", "wrong_item",
                 "mis_pick", "mispick", "wrong_size_sent", "wrong_colour_sent", "wrong_item_sent", "not_as_described")
KEYS = ["week", "warehouse_id", "channel_id"]
INTS = ["orders", "cancelled", "shipped_orders", "reviews", "score_sum", "shipments", "tracked", "ship_orders",
        "defect_orders"]


def _monday(ts: pd.Series) -> pd.Series:
    d = ts.dt.normalize()
    return (d - pd.to_timedelta(d.dt.dayofweek, unit="D")).dt.date


def _expected(engine: Engine) -> pd.DataFrame:
    """Every (week, warehouse, channel) row, from the definitions in ops.review.kpis written out again."""
    with engine.connect() as c:
        t = {n: pd.read_sql_table(n, c) for n in ("orders", "shipments", "order_lines", "returns", "reviews")}
    o, sh = t["orders"], t["shipments"]
    o = o.assign(wh=o["warehouse_id"].fillna(-1).astype("int64"), week=_monday(o["placed_at"]))
    rets = t["returns"].merge(t["order_lines"][["id", "order_id"]].rename(columns={"id": "order_line_id"}),
                              on="order_line_id")
    low = set(t["reviews"].loc[t["reviews"]["score"] <= 2, "order_id"])
    bad_ret = set(rets.loc[rets["reason_code"].str.lower().isin(DEFECT_RETURN), "order_id"])
    parts = []
    g = o.groupby(["week", "wh", "channel_id"])
    parts.append(pd.DataFrame({"orders": g.size(), "cancelled": g["status"].apply(lambda v: (v == "cancelled").sum())}))
    # cost per order: live orders with a shipped shipment, and the labels of all their shipments
    per_order = sh.groupby("order_id").agg(n_shipped=("shipped_at", "count"), labels=("label_cost", "sum"))
    live = o[~o["status"].isin(EXCLUDED)].merge(per_order, left_on="id", right_index=True)
    live = live[live["n_shipped"] > 0]
    g = live.groupby(["week", "wh", "channel_id"])
    parts.append(pd.DataFrame({"shipped_orders": g.size(), "label_cost": g["labels"].sum()}))
    rv = t["reviews"][t["reviews"]["created_at"].notna()].merge(
        o[["id", "wh", "channel_id"]], left_on="order_id", right_on="id")
    rv["week"] = _monday(rv["created_at"])
    g = rv.groupby(["week", "wh", "channel_id"])
    parts.append(pd.DataFrame({"reviews": g.size(), "score_sum": g["score"].sum()}))
    s = sh[sh["shipped_at"].notna()].merge(o[["id", "wh", "channel_id"]].rename(columns={"id": "order_id"}),
                                           on="order_id")
    s["week"] = _monday(s["shipped_at"])
    s["tracked"] = s["carrier_id"].notna() & s["tracking_number"].fillna("").str.strip().ne("")
    s["bad"] = s["status"].isin(DEFECT_SHIP) | s["order_id"].isin(low | bad_ret)
    g = s.groupby(["week", "wh", "channel_id"])
    bad = s[s["bad"]].groupby(["week", "wh", "channel_id"])["order_id"].nunique()
    parts.append(pd.DataFrame({
        "shipments": g.size(), "tracked": g["tracked"].sum(), "ship_orders": g["order_id"].nunique(),
        "defect_orders": bad.reindex(g.size().index, fill_value=0)}))
    out = pd.concat(parts, axis=1).fillna(0).reset_index()
    out.columns = ["week", "warehouse_id", "channel_id", *out.columns[3:]]
    return out


def _stored(engine: Engine) -> pd.DataFrame:
    with engine.connect() as c:
        df = pd.read_sql(select(AggReviewWeek), c)
    df["week"] = [as_day(v) for v in df["week"]]
    df["warehouse_id"] = df["warehouse_id"].fillna(-1).astype("int64")
    return df


def _check(got: pd.DataFrame, want: pd.DataFrame) -> None:
    got = got.sort_values(KEYS).reset_index(drop=True)
    want = want.sort_values(KEYS).reset_index(drop=True)
    assert got[KEYS].astype(str).values.tolist() == want[KEYS].astype(str).values.tolist()
    for c in INTS:
        assert got[c].astype("int64").tolist() == want[c].astype("int64").tolist(), c
    np.testing.assert_allclose(got["label_cost"], want["label_cost"], rtol=1e-12)


def _plant(engine: Engine) -> list[dt.date]:
    """Extra shipments, reviews, a cancelled order that shipped and an order without a warehouse; returns the
    weeks they touch."""
    with engine.connect() as c:
        sh = pd.read_sql(select(Shipment).where(Shipment.shipped_at.is_not(None)).order_by(Shipment.id), c)
    picks = sh.iloc[[10, 20, 30, 40, 50, 60]]
    rows = []
    for i, (_, r) in enumerate(picks.iterrows()):
        base = {k: r[k] for k in ("order_id", "warehouse_id", "carrier_id", "service_id", "zone", "lane",
                                  "label_cost", "promised_at")}
        base = {k: (None if pd.isna(v) else v.to_pydatetime() if isinstance(v, pd.Timestamp) else
                    int(v) if isinstance(v, (np.integer,)) else float(v) if isinstance(v, np.floating) else v)
                for k, v in base.items()}
        shipped = r["shipped_at"].to_pydatetime()
        when = {0: shipped + dt.timedelta(hours=2),  # the same week (mostly)
                1: shipped + dt.timedelta(days=8),  # the next week
                2: None,  # not shipped
                3: shipped + dt.timedelta(days=1)}[i % 4]
        rows.append({**base, "tracking_number": f"EXTRA{i}", "label_cost": 1.25 + i, "shipped_at": when,
                     "delivered_at": None, "first_attempt_at": None,
                     "status": "lost" if i % 4 == 3 else ("in_transit" if when else "label_created")})
    first_order = int(picks["order_id"].iloc[0])
    with transaction(engine) as s:
        s.execute(insert(Shipment), rows)
        s.execute(update(Order).where(Order.id == int(picks["order_id"].iloc[1])).values(status="cancelled"))
        s.execute(update(Order).where(Order.id == int(picks["order_id"].iloc[2])).values(warehouse_id=None))
        s.execute(insert(Review), [{"review_key": f"RV{i}", "order_id": int(oid), "score": 1 + i % 5,
                                    "created_at": dt.datetime(2024, 1, 1) + dt.timedelta(days=3 * i)}
                                   for i, oid in enumerate(sh["order_id"].iloc[::97])])
        s.execute(update(Shipment).where(Shipment.order_id == first_order).values(carrier_id=None))
        weeks = {as_day(v) for v in s.scalars(select(Order.placed_at).where(Order.id.in_(picks["order_id"].tolist())))}
        weeks |= {as_day(v) for v in sh["shipped_at"].iloc[[10, 20, 30, 40, 50, 60]]}
    return sorted({d - dt.timedelta(days=d.weekday()) for d in weeks}
                  | {d - dt.timedelta(days=d.weekday()) + dt.timedelta(days=7) for d in weeks})


def test_review_week_rows_match_plain_pandas_with_several_shipments(engine: Engine) -> None:
    seed(engine, size="small", seed=11)
    weeks = _plant(engine)
    with transaction(engine) as s:
        rr.refresh(s)
    want = _expected(engine)
    assert (want["ship_orders"] < want["shipments"]).any()  # several shipments of an order in one week
    assert want["reviews"].sum() > 0 and want["defect_orders"].sum() > 0
    full = _stored(engine)
    _check(full, want)
    # the incremental path (the touched weeks, rebuilt alone) writes the same rows
    with transaction(engine) as s:
        s.execute(delete(AggReviewWeek).where(AggReviewWeek.week.in_(weeks)))
        rr._write(s, weeks)
    _check(_stored(engine), want)
