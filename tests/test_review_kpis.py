"""Weekly review KPIs against plain pandas on the raw rows of the seeded demo (and the Olist sample)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, insert, select

from ops.access import SYSTEM, Viewer
from ops.db import read_session, transaction
from ops.models import Order, Review, Supplier

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
OLIST = SHARED_DATA / "olist_sample_4k"
MANAGER = Viewer(username="meg", role="manager")
WEEK = "2026-W46"
MON, NEXT_MON = pd.Timestamp("2026-11-09"), pd.Timestamp("2026-11-16")
PREV_MON = pd.Timestamp("2026-11-02")


def _raw(engine: Engine) -> dict[str, pd.DataFrame]:
    with engine.connect() as c:
        t = {name: pd.read_sql_table(name, c) for name in
             ("orders", "shipments", "order_lines", "returns", "channels", "reviews", "suppliers")}
    o = t["orders"].merge(t["channels"][["id", "code", "name"]].rename(columns={"id": "channel_id"}), on="channel_id")
    o["mp"] = (o["code"] + " " + o["name"]).str.lower().str.contains("marketplace|olist|amazon|ebay|etsy|walmart")
    t["orders"] = o
    t["ships"] = t["shipments"].merge(o[["id", "placed_at", "paid_at", "ship_by", "mp"]].rename(
        columns={"id": "order_id"}), on="order_id")
    t["rets"] = t["returns"].merge(t["order_lines"][["id", "order_id"]].rename(columns={"id": "order_line_id"}),
                                   on="order_line_id")
    return t


def _in(s: pd.Series, lo: pd.Timestamp, hi: pd.Timestamp) -> pd.Series:
    return (s >= lo) & (s < hi)


def _expected(t: dict[str, pd.DataFrame], lo: pd.Timestamp, hi: pd.Timestamp, wh_cost: float = 3.0,
              ret_cost: float = 6.0) -> dict[str, float]:
    sh, o, r, lines = t["ships"], t["orders"], t["rets"], t["order_lines"]
    shipped = sh[_in(sh["shipped_at"], lo, hi)]
    delivered = sh[_in(sh["delivered_at"], lo, hi)]
    e: dict[str, float] = {}
    e["order_cycle_time"] = ((delivered["delivered_at"] - delivered["placed_at"]) / pd.Timedelta(days=1)).median()
    e["click_to_ship"] = ((shipped["shipped_at"] - shipped["paid_at"]) / pd.Timedelta(hours=1)).median()
    due = shipped.dropna(subset=["ship_by"])
    e["on_time_ship"] = (due["shipped_at"] <= due["ship_by"]).mean()
    prom = delivered.dropna(subset=["promised_at"])
    e["on_time_delivery"] = (prom["delivered_at"] <= prom["promised_at"]).mean()
    rw = r[_in(r["received_at"], lo, hi)]
    n_orders = shipped["order_id"].nunique()
    e["order_accuracy"] = 1 - rw[rw["reason_code"].isin(["wrong_item", "not_as_described"])]["order_id"].nunique() \
        / n_orders
    placed = o[_in(o["placed_at"], lo, hi)]
    sold = lines[lines["order_id"].isin(placed[placed["status"] != "cancelled"]["id"])]["qty"].sum()
    e["return_rate"] = rw["qty"].sum() / sold
    e["cost_per_order"] = (shipped["label_cost"].sum() + wh_cost * n_orders + ret_cost * len(rw)) / n_orders
    mp = shipped[shipped["mp"]]
    mpd = mp.dropna(subset=["ship_by"])
    e["late_shipment_rate"] = (mpd["shipped_at"] > mpd["ship_by"]).mean()
    mpo = placed[placed["mp"]]
    e["cancel_rate"] = (mpo["status"] == "cancelled").mean()
    ids = set(mp["order_id"])
    bad = set(mp[mp["status"].isin(["lost", "damaged", "returned_to_sender"])]["order_id"])
    bad |= set(t["reviews"][t["reviews"]["score"] <= 2]["order_id"]) & ids
    bad |= set(r[r["reason_code"].isin(["defective", "damaged_in_transit", "wrong_item", "not_as_described"])]
               ["order_id"]) & ids
    e["order_defect_rate"] = len(bad) / len(ids)
    e["valid_tracking_rate"] = (mp["carrier_id"].notna() & mp["tracking_number"].str.strip().ne("")).mean()
    return e


def test_each_kpi_matches_plain_pandas_this_week_and_last(seeded_engine: Engine) -> None:
    from ops.review.kpis import review_kpis

    t = _raw(seeded_engine)
    with read_session(seeded_engine) as s:
        k = review_kpis(s, viewer=MANAGER, week=WEEK).set_index("key")
    cur, prev = _expected(t, MON, NEXT_MON), _expected(t, PREV_MON, MON)
    for key, value in cur.items():
        assert k.loc[key, "value"] == pytest.approx(value, rel=1e-9, abs=1e-12), key
        assert k.loc[key, "previous"] == pytest.approx(prev[key], rel=1e-9, abs=1e-12), key
        assert k.loc[key, "change"] == pytest.approx(value - prev[key], rel=1e-6, abs=1e-12), key
    assert 0 < cur["late_shipment_rate"] < 1 and 0 < cur["return_rate"] < 1  # the week has something to measure
    assert np.isnan(k.loc["review_score", "value"])  # the demo has no reviews: nothing, not zero
    assert set(k["week"]) == {WEEK} and set(k["previous_week"]) == {"2026-W45"}


def test_marketplace_targets_are_the_default_thresholds_and_judge_the_week(seeded_engine: Engine) -> None:
    from ops.review.kpis import review_kpis

    with read_session(seeded_engine) as s:
        k = review_kpis(s, viewer=MANAGER, week=WEEK).set_index("key")
    assert k.loc["late_shipment_rate", "target"] == pytest.approx(0.04)
    assert k.loc["cancel_rate", "target"] == pytest.approx(0.025)
    assert k.loc["order_defect_rate", "target"] == pytest.approx(0.01)
    assert k.loc["valid_tracking_rate", "target"] == pytest.approx(0.95)
    for key in k.index[k["domain"] == "review"]:
        v, tgt, hib = k.loc[key, "value"], k.loc[key, "target"], k.loc[key, "higher_is_better"]
        if np.isnan(v):
            assert k.loc[key, "meets"] is None
        else:
            assert k.loc[key, "meets"] == (v >= tgt if hib else v <= tgt), key
        assert k.loc[key, "definition"] and k.loc[key, "source"]
        assert k.loc[key, "threshold"] in k.loc[key, "target_from"]  # the source names the threshold


def test_domains_headline_kpis_join_the_table(seeded_engine: Engine) -> None:
    from ops.review.kpis import review_kpis

    with read_session(seeded_engine) as s:
        k = review_kpis(s, viewer=MANAGER, week=WEEK)
    assert {"inventory.sell_through", "inventory.turns", "fulfillment.on_time_ship_rate"} <= set(k["key"])
    planner = Viewer(username="pat", role="planner")
    with read_session(seeded_engine) as s:
        kp = review_kpis(s, viewer=planner, week=WEEK)
    assert not kp["key"].str.startswith("fulfillment.").any()  # a planner may not open fulfilment


def test_cost_per_order_follows_its_cost_assumptions(engine: Engine) -> None:
    from ops.decisions import set_threshold
    from ops.demo import seed
    from ops.review.kpis import review_kpis

    seed(engine, size="small", seed=7)
    with transaction(engine) as s:
        set_threshold(s, viewer=SYSTEM, name="cost_warehousing_per_order", value=10)
        set_threshold(s, viewer=SYSTEM, name="cost_return_handling", value=0.5)
    t = _raw(engine)
    with read_session(engine) as s:
        k = review_kpis(s, viewer=MANAGER, week=WEEK, domains=False).set_index("key")
    assert k.loc["cost_per_order", "value"] == pytest.approx(
        _expected(t, MON, NEXT_MON, wh_cost=10, ret_cost=0.5)["cost_per_order"], rel=1e-9)


def test_a_supplier_measures_only_orders_it_sold_on(engine: Engine) -> None:
    from ops.demo import seed
    from ops.review.kpis import review_kpis

    seed(engine, size="small", seed=7)
    # make one supplier a marketplace seller on a few of the week's orders
    with transaction(engine) as s:
        sup_id, code = s.execute(select(Supplier.id, Supplier.code).order_by(Supplier.id)).first()  # type: ignore[misc]
        ids = s.scalars(select(Order.id).where(Order.placed_at >= MON.to_pydatetime(),
                                               Order.placed_at < NEXT_MON.to_pydatetime()).limit(40)).all()
        from sqlalchemy import update

        from ops.models import OrderLine
        s.execute(update(OrderLine).where(OrderLine.order_id.in_(ids)).values(seller_id=sup_id))
    t = _raw(engine)
    mine = set(t["order_lines"][t["order_lines"]["seller_id"] == sup_id]["order_id"])
    t["orders"] = t["orders"][t["orders"]["id"].isin(mine)]
    t["ships"] = t["ships"][t["ships"]["order_id"].isin(mine)]
    t["order_lines"] = t["order_lines"][t["order_lines"]["seller_id"] == sup_id]
    t["rets"] = t["rets"][t["rets"]["order_line_id"].isin(t["order_lines"]["id"])]
    with read_session(engine) as s:
        k = review_kpis(s, viewer=Viewer("s", "vendor", "supplier", code), week=WEEK, domains=False).set_index("key")
    exp = _expected(t, MON, NEXT_MON)
    for key in ("on_time_ship", "click_to_ship", "cost_per_order"):
        assert k.loc[key, "value"] == pytest.approx(exp[key], rel=1e-9), key


def test_top_return_reasons_match_pandas(seeded_engine: Engine) -> None:
    from ops.review.kpis import return_reasons

    r = _raw(seeded_engine)["rets"]
    rw = r[_in(r["received_at"], MON, NEXT_MON)]
    exp = rw.groupby("reason_code")["qty"].sum().sort_values(ascending=False)
    with read_session(seeded_engine) as s:
        got = return_reasons(s, viewer=MANAGER, week=WEEK)
    assert got["reason_code"].tolist() == exp.index[:3].tolist()
    assert got["returned_units"].tolist() == exp.iloc[:3].tolist()
    assert got["reason_share"].tolist() == pytest.approx((exp.iloc[:3] / rw["qty"].sum()).tolist())


def test_satisfaction_against_lateness_on_seeded_reviews(engine: Engine) -> None:
    from ops.demo import seed
    from ops.review.kpis import review_kpis, satisfaction_vs_lateness

    seed(engine, size="small", seed=7)
    t = _raw(engine)
    sh = t["ships"].dropna(subset=["delivered_at", "promised_at"])
    late_orders = sh[sh["delivered_at"] > sh["promised_at"]]["order_id"].unique()[:30]
    on_orders = sh[sh["delivered_at"] <= sh["promised_at"]]["order_id"].unique()
    on_orders = [o for o in on_orders if o not in set(sh[sh["delivered_at"] > sh["promised_at"]]["order_id"])][:50]
    rows = ([{"review_key": f"L{o}", "order_id": int(o), "score": 1 + (i % 3), "created_at": dt.datetime(2026, 11, 10)}
             for i, o in enumerate(late_orders)]
            + [{"review_key": f"O{o}", "order_id": int(o), "score": 5 - (i % 4 == 0) * 3,
                "created_at": dt.datetime(2026, 11, 11)} for i, o in enumerate(on_orders)])
    with transaction(engine) as s:
        s.execute(insert(Review), rows)
    rv = pd.DataFrame(rows)
    late = rv[rv["review_key"].str.startswith("L")]["score"]
    on = rv[rv["review_key"].str.startswith("O")]["score"]
    with read_session(engine) as s:
        got = satisfaction_vs_lateness(s, viewer=MANAGER).set_index("delivery")
        k = review_kpis(s, viewer=MANAGER, week=WEEK, domains=False).set_index("key")
    assert got.loc["late", "reviews"] == len(late) and got.loc["on time", "reviews"] == len(on)
    assert got.loc["late", "low_share"] == pytest.approx((late <= 2).mean())
    assert got.loc["on time", "low_share"] == pytest.approx((on <= 2).mean())
    assert got.loc["late", "mean_score"] == pytest.approx(late.mean())
    assert k.loc["review_score", "value"] == pytest.approx(rv["score"].mean())  # all written in W46


@pytest.mark.skipif(not OLIST.exists(), reason="the shared Olist sample is not present")
def test_olist_late_deliveries_get_more_one_and_two_star_reviews(engine: Engine) -> None:
    from ops.ingest import run_import
    from ops.review.kpis import satisfaction_vs_lateness

    run_import(engine, kind="olist", paths=[OLIST], viewer=SYSTEM)
    orders = pd.read_csv(OLIST / "olist_orders_dataset.csv", encoding="utf-8-sig",
                         parse_dates=["order_delivered_customer_date", "order_estimated_delivery_date"])
    reviews = pd.read_csv(OLIST / "olist_order_reviews_dataset.csv", encoding="utf-8-sig")
    reviews = reviews.drop_duplicates(["review_id", "order_id"])
    m = reviews.merge(orders, on="order_id").dropna(subset=["order_delivered_customer_date",
                                                             "order_estimated_delivery_date"])
    m["late"] = m["order_delivered_customer_date"] > m["order_estimated_delivery_date"]
    exp = m.groupby("late")["review_score"].agg(n="size", low=lambda s: (s <= 2).mean())
    with read_session(engine) as s:
        got = satisfaction_vs_lateness(s, viewer=MANAGER).set_index("delivery")
    assert got.loc["late", "low_share"] > got.loc["on time", "low_share"]  # as the data says
    assert got.loc["late", "low_share"] == pytest.approx(exp.loc[True, "low"], abs=0.01)
    assert got.loc["on time", "low_share"] == pytest.approx(exp.loc[False, "low"], abs=0.01)
    assert got.loc["late", "reviews"] == pytest.approx(exp.loc[True, "n"], rel=0.02)
