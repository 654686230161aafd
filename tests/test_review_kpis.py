"""Weekly review KPIs against plain pandas on the raw rows of the seeded demo (and the Olist sample), using
the pages' shared definitions, and against what the Fulfilment and Returns pages show for the same week."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, insert, select

from ops.access import SYSTEM, Viewer
from ops.db import read_session, transaction
from ops.filters import Filters
from ops.models import Order, Review, Supplier

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
OLIST = SHARED_DATA / "olist_sample_4k"
MANAGER = Viewer(username="meg", role="manager")
WEEK = "2026-W46"
MON, NEXT_MON = pd.Timestamp("2026-11-09"), pd.Timestamp("2026-11-16")
PREV_MON = pd.Timestamp("2026-11-02")
# the demo's last week (its returns still arriving) and a settled week five weeks earlier
WEEKS = {"2026-W46": pd.Timestamp("2026-11-09"), "2026-W41": pd.Timestamp("2026-10-05")}
MP = "marketplace|olist|amazon|ebay|etsy|walmart"
# The pages' definitions, written out here rather than imported, so a change on either side shows.
FULFIL_EXCLUDED = ("cancelled", "canceled", "unavailable")  # ops.fulfillment: counted nowhere
SALES_EXCLUDED = ("cancelled", "unavailable")  # ops.returns: not a sale
WRONG_ITEM = ("wrong_item", "mis_pick", "mispick", "wrong_size_sent", "wrong_colour_sent", "wrong_item_sent")
RETURN_DEFECTS = ("defective", "damaged", "damaged_in_transit", "broken", "faulty", "not_working",
                  "damaged_by_carrier", "damaged_by_fc", "quality_unacceptable", "missing_parts")
RETURN_COSTS = {"ship": 6.5, "handling": 2.0,  # the returns thresholds' defaults
                "loss": {"restock": 0.0, "refurbish": 0.35, "liquidate": 0.70, "scrap": 1.0}}


def _raw(engine: Engine) -> dict[str, pd.DataFrame]:
    with engine.connect() as c:
        t = {name: pd.read_sql_table(name, c) for name in
             ("orders", "shipments", "order_lines", "returns", "channels", "reviews", "suppliers", "products",
              "warehouses")}
    o = t["orders"].merge(t["channels"][["id", "code", "name"]].rename(columns={"id": "channel_id"}), on="channel_id")
    o["mp"] = (o["code"] + " " + o["name"]).str.lower().str.contains(MP)
    t["orders"] = o
    t["ships"] = t["shipments"].merge(o[["id", "placed_at", "paid_at", "ship_by", "mp", "status"]].rename(
        columns={"id": "order_id", "status": "order_status"}), on="order_id")
    t["rets"] = t["returns"].merge(t["order_lines"][["id", "order_id"]].rename(columns={"id": "order_line_id"}),
                                   on="order_line_id")
    return t


def _in(s: pd.Series, lo: pd.Timestamp, hi: pd.Timestamp) -> pd.Series:
    return (s >= lo) & (s < hi)


def _fulfil_lines(t: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per order line with the Fulfilment page's facts (ops.fulfillment's definitions)."""
    sh = t["shipments"]
    per = sh.groupby("order_id").agg(shipped_at=("shipped_at", "min"), promised_at=("promised_at", "min"),
                                     last_delivery=("delivered_at", "max"), n=("id", "size"),
                                     n_delivered=("delivered_at", "count")).reset_index()
    per["delivered_at"] = per["last_delivery"].where(per["n_delivered"] == per["n"])
    o = t["orders"][["id", "placed_at", "paid_at", "ship_by", "status", "mp", "code"]].rename(
        columns={"id": "order_id", "ship_by": "order_ship_by"})
    ln = t["order_lines"].rename(columns={"ship_by": "line_ship_by"}).merge(o, on="order_id")
    ln = ln.merge(per[["order_id", "shipped_at", "promised_at", "delivered_at"]], on="order_id", how="left")
    ln = ln[~ln["status"].isin(FULFIL_EXCLUDED)].copy()
    ln["deadline"] = ln["line_ship_by"].fillna(ln["order_ship_by"])
    # the demo gives every paid order a ship-by time, so no deadline has to come from an SLA calendar here
    assert not (ln["deadline"].isna() & ln["paid_at"].notna()).any()
    return ln


def _sales(t: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per sold order line with its sale week's facts (ops.returns' definitions)."""
    o = t["orders"][["id", "placed_at", "status"]].rename(columns={"id": "order_id"})
    ln = t["order_lines"].merge(o, on="order_id")
    ln = ln[~ln["status"].isin(SALES_EXCLUDED)]
    shipped = set(t["shipments"].loc[t["shipments"]["shipped_at"].notna(), "order_id"])
    return ln.assign(shipped=ln["order_id"].isin(shipped))


def _returns_cost(t: dict[str, pd.DataFrame], line_ids: set[int]) -> float:
    r = t["returns"][t["returns"]["order_line_id"].isin(line_ids)]
    r = r.merge(t["order_lines"][["id", "product_id"]].rename(columns={"id": "order_line_id"}), on="order_line_id")
    r = r.merge(t["products"][["id", "unit_cost"]].rename(columns={"id": "product_id"}), on="product_id")
    loss = r["disposition"].map(RETURN_COSTS["loss"]).fillna(0.0)
    return float(len(r) * RETURN_COSTS["ship"] + r["qty"].sum() * RETURN_COSTS["handling"]
                 + (r["qty"] * r["unit_cost"].fillna(0.0) * loss).sum())


def _expected(t: dict[str, pd.DataFrame], lo: pd.Timestamp, hi: pd.Timestamp, wh_cost: float = 3.0) -> dict[str, float]:
    sh, o, r = t["ships"], t["orders"], t["rets"]
    e: dict[str, float] = {}
    # Fulfilment page: order lines of the orders placed in the week
    ln = _fulfil_lines(t)
    ln = ln[_in(ln["placed_at"], lo, hi)]
    counted = ln[ln["deadline"].notna() & ln["shipped_at"].notna()]
    e["on_time_ship"] = (counted["shipped_at"] <= counted["deadline"]).mean()
    dl = ln[ln["delivered_at"].notna() & ln["promised_at"].notna()]
    e["on_time_delivery"] = (dl["delivered_at"].dt.normalize() <= dl["promised_at"].dt.normalize()).mean()
    mpc = counted[counted["mp"]]
    e["late_shipment_rate"] = (mpc["shipped_at"] > mpc["deadline"]).mean()
    # Returns page: the week's sales, and every return of them, whenever received
    sales = _sales(t)
    sales = sales[_in(sales["placed_at"], lo, hi)]
    rw = t["returns"][t["returns"]["order_line_id"].isin(set(sales["id"]))]
    e["return_rate"] = rw["qty"].sum() / sales["qty"].sum()
    shipped_lines = set(sales.loc[sales["shipped"], "id"])
    wrong = rw[rw["reason_code"].str.lower().isin(WRONG_ITEM) & rw["order_line_id"].isin(shipped_lines)]
    e["fulfilment_accuracy"] = 1 - len(wrong) / len(shipped_lines)
    # defined by the review
    delivered = sh[_in(sh["delivered_at"], lo, hi)]
    e["order_cycle_time"] = ((delivered["delivered_at"] - delivered["placed_at"]) / pd.Timedelta(days=1)).median()
    placed = o[_in(o["placed_at"], lo, hi)]
    live = placed[~placed["status"].isin(FULFIL_EXCLUDED)]["id"]
    own = sh[sh["order_id"].isin(set(live))]
    shipped_orders = set(own.loc[own["shipped_at"].notna(), "order_id"])
    labels = own[own["order_id"].isin(shipped_orders)]["label_cost"].sum()
    e["cost_per_order"] = (labels + wh_cost * len(shipped_orders) + _returns_cost(t, set(sales["id"]))) \
        / len(shipped_orders)
    shipped = sh[_in(sh["shipped_at"], lo, hi)]
    mp = shipped[shipped["mp"]]
    mpo = placed[placed["mp"]]
    e["cancel_rate"] = (mpo["status"] == "cancelled").mean()
    ids = set(mp["order_id"])
    bad = set(mp[mp["status"].isin(["lost", "damaged", "returned_to_sender"])]["order_id"])
    bad |= set(t["reviews"][t["reviews"]["score"] <= 2]["order_id"]) & ids
    reasons = r["reason_code"].str.lower()
    bad |= set(r[reasons.isin((*RETURN_DEFECTS, *WRONG_ITEM, "not_as_described"))]["order_id"]) & ids
    e["order_defect_rate"] = len(bad) / len(ids)
    e["valid_tracking_rate"] = (mp["carrier_id"].notna() & mp["tracking_number"].str.strip().ne("")).mean()
    return e


def _exact_c2s_median(t: dict[str, pd.DataFrame], lo: pd.Timestamp, hi: pd.Timestamp) -> float:
    """The exact median click-to-ship hours of the lines of the orders placed in ``lo``..``hi``."""
    ln = _fulfil_lines(t)
    ln = ln[_in(ln["placed_at"], lo, hi) & ln["paid_at"].notna() & ln["shipped_at"].notna()]
    return float(((ln["shipped_at"] - ln["paid_at"]) / pd.Timedelta(hours=1)).median())


@pytest.mark.parametrize("week", list(WEEKS))
def test_each_kpi_matches_plain_pandas_this_week_and_last(seeded_engine: Engine, week: str) -> None:
    from ops.review.kpis import review_kpis

    mon = WEEKS[week]
    t = _raw(seeded_engine)
    with read_session(seeded_engine) as s:
        k = review_kpis(s, viewer=MANAGER, week=week).set_index("key")
    cur, prev = _expected(t, mon, mon + pd.Timedelta(days=7)), _expected(t, mon - pd.Timedelta(days=7), mon)
    for key, value in cur.items():
        assert k.loc[key, "value"] == pytest.approx(value, rel=1e-9, abs=1e-12), key
        assert k.loc[key, "previous"] == pytest.approx(prev[key], rel=1e-9, abs=1e-12), key
        assert k.loc[key, "change"] == pytest.approx(value - prev[key], rel=1e-6, abs=1e-12), key
    assert set(cur) == set(k.index[k["domain"] == "review"]) - {"review_score", "click_to_ship"}
    # the page reads its median from half-hour buckets: within a quarter hour of the lines' exact median
    assert abs(k.loc["click_to_ship", "value"] - _exact_c2s_median(t, mon, mon + pd.Timedelta(days=7))) <= 0.25
    assert abs(k.loc["click_to_ship", "previous"] - _exact_c2s_median(t, mon - pd.Timedelta(days=7), mon)) <= 0.25
    assert 0 < cur["late_shipment_rate"] < 1 and 0 < cur["return_rate"] < 1  # the week has something to measure
    assert 0 < cur["on_time_ship"] < 1 and 0 < cur["on_time_delivery"] <= 1
    assert np.isnan(k.loc["review_score", "value"])  # the demo has no reviews: nothing, not zero
    p = (pd.Timestamp(mon) - pd.Timedelta(days=7)).isocalendar()
    assert set(k["week"]) == {week} and set(k["previous_week"]) == {f"{p[0]}-W{p[1]:02d}"}


def test_a_settled_week_has_wrong_item_returns_to_measure(seeded_engine: Engine) -> None:
    t = _raw(seeded_engine)
    mon = WEEKS["2026-W41"]
    assert _expected(t, mon, mon + pd.Timedelta(days=7))["fulfilment_accuracy"] < 1  # the check above can fail


@pytest.mark.parametrize("week", list(WEEKS))
def test_the_review_shows_the_numbers_the_fulfilment_and_returns_pages_show(seeded_engine: Engine,
                                                                            week: str) -> None:
    from ops.fulfillment import kpis as fulfil_kpis
    from ops.returns import cost_of_returns, returns_page
    from ops.review.kpis import review_kpis
    from ops.review.sources import marketplace_channels
    from ops.review.week import parse_week

    w = parse_week(week)
    p = w.previous()
    with read_session(seeded_engine) as s:
        k = review_kpis(s, viewer=MANAGER, week=week).set_index("key")
        fk = fulfil_kpis(s, viewer=MANAGER, filters=Filters(date_from=w.start, date_to=w.end)).set_index("kpi")
        mp = marketplace_channels(s, Filters())
        fmp = fulfil_kpis(s, viewer=MANAGER, filters=Filters(date_from=w.start, date_to=w.end, channels=mp))
        weekly = returns_page(s, viewer=MANAGER, filters=Filters(date_from=p.start, date_to=w.end),
                              priority_limit=0).weekly.set_index("group")
        cost = cost_of_returns(s, viewer=MANAGER, filters=Filters(date_from=w.start, date_to=w.end))
    assert mp == ("marketplace",)
    for review_key, page_key in (("on_time_ship", "on_time_ship_rate"), ("on_time_delivery", "on_time_delivery_rate"),
                                 ("click_to_ship", "c2s_median_h")):
        assert k.loc[review_key, "value"] == pytest.approx(fk.loc[page_key, "value"], rel=1e-12), review_key
        assert k.loc[review_key, "previous"] == pytest.approx(fk.loc[page_key, "previous"], rel=1e-12), review_key
        # the fulfilment page's own headline row in the review table is the same number
        assert k.loc[f"fulfillment.{page_key}", "value"] == pytest.approx(k.loc[review_key, "value"], rel=1e-12)
    late = 1 - fmp.set_index("kpi").loc["on_time_ship_rate", ["value", "previous"]]
    assert k.loc["late_shipment_rate", "value"] == pytest.approx(late["value"], rel=1e-12)
    assert k.loc["late_shipment_rate", "previous"] == pytest.approx(late["previous"], rel=1e-12)
    for review_key in ("return_rate", "fulfilment_accuracy"):
        assert k.loc[review_key, "value"] == pytest.approx(weekly.loc[w.start, review_key], rel=1e-12), review_key
        assert k.loc[review_key, "previous"] == pytest.approx(weekly.loc[p.start, review_key], rel=1e-12)
    t = _raw(seeded_engine)
    mon = pd.Timestamp(w.start)
    sales = _sales(t)
    assert cost.set_index("disposition").loc["total", "net_cost"] == pytest.approx(
        _returns_cost(t, set(sales.loc[_in(sales["placed_at"], mon, mon + pd.Timedelta(days=7)), "id"])), rel=1e-9)


def test_marketplace_targets_are_the_default_thresholds_and_judge_the_week(seeded_engine: Engine) -> None:
    from ops.review.kpis import review_kpis

    with read_session(seeded_engine) as s:
        k = review_kpis(s, viewer=MANAGER, week=WEEK).set_index("key")
    assert k.loc["late_shipment_rate", "target"] == pytest.approx(0.04)
    assert k.loc["cancel_rate", "target"] == pytest.approx(0.025)
    assert k.loc["order_defect_rate", "target"] == pytest.approx(0.01)
    assert k.loc["valid_tracking_rate", "target"] == pytest.approx(0.95)
    assert k.loc["fulfilment_accuracy", "target"] == pytest.approx(0.995)  # the Returns page's target
    assert k.loc["on_time_ship", "target"] == pytest.approx(0.95)  # the Fulfilment page's target
    for key in k.index[k["domain"] == "review"]:
        v, tgt, hib = k.loc[key, "value"], k.loc[key, "target"], k.loc[key, "higher_is_better"]
        if np.isnan(v):
            assert k.loc[key, "meets"] is None
        else:
            assert k.loc[key, "meets"] == (v >= tgt if hib else v <= tgt), key
        assert k.loc[key, "definition"] and k.loc[key, "source"]
        assert k.loc[key, "threshold"] in k.loc[key, "target_from"]  # the source names the threshold
        # each definition says which page defines the number, or that the review does
        text = f"{k.loc[key, 'definition']} {k.loc[key, 'source']}"
        assert ("Fulfilment" in text or "Returns page" in text or "Defined by the weekly review" in text), key


def test_domains_headline_kpis_join_the_table(seeded_engine: Engine) -> None:
    from ops.review.kpis import review_kpis

    with read_session(seeded_engine) as s:
        k = review_kpis(s, viewer=MANAGER, week=WEEK)
    assert {"inventory.sell_through", "inventory.turns", "fulfillment.on_time_ship_rate"} <= set(k["key"])
    planner = Viewer(username="pat", role="planner")
    with read_session(seeded_engine) as s:
        kp = review_kpis(s, viewer=planner, week=WEEK)
    assert not kp["key"].str.startswith("fulfillment.").any()  # a planner may not open fulfilment


def test_the_trend_holds_the_kpi_tables_numbers(seeded_engine: Engine) -> None:
    from ops.review.kpis import review_kpis
    from ops.review.trend import kpi_trend

    t = _raw(seeded_engine)
    with read_session(seeded_engine) as s:
        tr = kpi_trend(s, viewer=MANAGER, week=WEEK, weeks=6)
        k = review_kpis(s, viewer=MANAGER, week=WEEK, domains=False).set_index("key")
    assert tr["week"].unique().tolist() == ["2026-W41", "2026-W42", "2026-W43", "2026-W44", "2026-W45", "2026-W46"]
    assert (tr["ds"].dt.dayofweek == 0).all()  # Monday weeks
    v = tr.set_index(["week", "key"])["value"]
    for key in ("on_time_ship", "on_time_delivery", "return_rate", "late_shipment_rate"):
        assert v[(WEEK, key)] == pytest.approx(k.loc[key, "value"], rel=1e-12), key
        assert v[("2026-W45", key)] == pytest.approx(k.loc[key, "previous"], rel=1e-12), key
        mon = WEEKS["2026-W41"]
        assert v[("2026-W41", key)] == pytest.approx(_expected(t, mon, mon + pd.Timedelta(days=7))[key], rel=1e-9)


def test_cost_per_order_follows_its_cost_assumptions(engine: Engine) -> None:
    from ops.decisions import set_threshold
    from ops.demo import seed
    from ops.review.kpis import review_kpis

    seed(engine, size="small", seed=7)
    with transaction(engine) as s:
        set_threshold(s, viewer=SYSTEM, name="cost_warehousing_per_order", value=10)
        set_threshold(s, viewer=SYSTEM, name="return_shipping_cost", value=1)  # the Returns page's assumption
    RETURN_COSTS["ship"] = 1.0
    try:
        t = _raw(engine)
        exp = _expected(t, MON, NEXT_MON, wh_cost=10)["cost_per_order"]
    finally:
        RETURN_COSTS["ship"] = 6.5
    with read_session(engine) as s:
        k = review_kpis(s, viewer=MANAGER, week=WEEK, domains=False).set_index("key")
    assert k.loc["cost_per_order", "value"] == pytest.approx(exp, rel=1e-9)
    assert exp != pytest.approx(_expected(t, MON, NEXT_MON)["cost_per_order"], rel=1e-3)  # the assumptions matter


def test_a_supplier_measures_what_the_pages_show_it(engine: Engine) -> None:
    from ops.demo import seed
    from ops.models import Product
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
    from ops.aggregates import refresh_all

    with transaction(engine) as s:
        refresh_all(s)
    t = _raw(engine)
    # the Fulfilment page shows a supplier the lines it sold
    sold = t["order_lines"][t["order_lines"]["seller_id"] == sup_id]
    tf = dict(t, order_lines=sold)
    # the Returns page shows a supplier the sales of the products it supplies
    mine = set(t["products"].loc[t["products"]["supplier_id"] == sup_id, "id"])
    tr = dict(t, order_lines=t["order_lines"][t["order_lines"]["product_id"].isin(mine)])
    with read_session(engine) as s:
        assert s.scalar(select(Product.id).where(Product.supplier_id == sup_id).limit(1)) is not None
        k = review_kpis(s, viewer=Viewer("s", "vendor", "supplier", code), week=WEEK, domains=False).set_index("key")
    fexp, rexp = _expected(tf, MON, NEXT_MON), _expected(tr, MON, NEXT_MON)
    assert 0 < fexp["on_time_ship"] <= 1
    for key in ("on_time_ship", "on_time_delivery"):
        assert k.loc[key, "value"] == pytest.approx(fexp[key], rel=1e-9), key
    assert abs(k.loc["click_to_ship", "value"] - _exact_c2s_median(tf, MON, NEXT_MON)) <= 0.25
    assert k.loc["return_rate", "value"] == pytest.approx(rexp["return_rate"], rel=1e-9)
    manager = _expected(t, MON, NEXT_MON)
    assert rexp["return_rate"] != pytest.approx(manager["return_rate"], rel=1e-6)  # a narrower scope


def test_filters_narrow_the_pages_numbers_or_say_they_cannot(seeded_engine: Engine) -> None:
    from ops.fulfillment import kpis as fulfil_kpis
    from ops.review.kpis import return_reasons, review_kpis

    t = _raw(seeded_engine)
    wh = str(t["warehouses"].sort_values("id")["code"].iloc[0])
    wh_id = int(t["warehouses"].sort_values("id")["id"].iloc[0])
    with read_session(seeded_engine) as s:
        k = review_kpis(s, viewer=MANAGER, week=WEEK, filters=Filters(warehouses=(wh,)), domains=False)
        both = review_kpis(s, viewer=MANAGER, week=WEEK, filters=Filters(warehouses=(wh,), channels=("web",)),
                           domains=False).set_index("key")
        fk = fulfil_kpis(s, viewer=MANAGER, filters=Filters(date_from=MON.date(), date_to=(NEXT_MON.date()
                                                                                             - dt.timedelta(days=1)),
                                                             warehouses=(wh,))).set_index("kpi")
        reasons = return_reasons(s, viewer=MANAGER, week=WEEK, filters=Filters(channels=("web",)))
    k = k.set_index("key")
    assert k.loc["on_time_ship", "value"] == pytest.approx(fk.loc["on_time_ship_rate", "value"], rel=1e-12)
    keep = set(t["orders"].loc[t["orders"]["warehouse_id"] == wh_id, "id"])
    tw = dict(t, orders=t["orders"][t["orders"]["id"].isin(keep)],
              order_lines=t["order_lines"][t["order_lines"]["order_id"].isin(keep)])
    exp = _expected(tw, MON, NEXT_MON)
    for key in ("on_time_ship", "return_rate", "fulfilment_accuracy"):
        assert k.loc[key, "value"] == pytest.approx(exp[key], rel=1e-9), key
    assert np.isnan(k.loc["cost_per_order", "value"])  # the cost of returns has no warehouse breakdown
    assert np.isnan(both.loc["return_rate", "value"]) and np.isnan(both.loc["fulfilment_accuracy", "value"])
    assert not np.isnan(both.loc["on_time_ship", "value"])
    assert reasons.empty and list(reasons.columns) == ["reason_code", "returned_units", "reason_share"]


def test_top_return_reasons_are_the_returns_pages_for_the_weeks_sales(seeded_engine: Engine) -> None:
    from ops.returns import reason_pareto
    from ops.review.kpis import return_reasons

    t = _raw(seeded_engine)
    mon = WEEKS["2026-W41"]
    sales = _sales(t)
    sold = set(sales.loc[_in(sales["placed_at"], mon, mon + pd.Timedelta(days=7)), "id"])
    rw = t["returns"][t["returns"]["order_line_id"].isin(sold)]
    exp = rw.groupby("reason_code")["qty"].sum().sort_values(ascending=False, kind="mergesort")
    exp = exp.reset_index().sort_values(["qty", "reason_code"], ascending=[False, True]).set_index("reason_code")["qty"]
    with read_session(seeded_engine) as s:
        got = return_reasons(s, viewer=MANAGER, week="2026-W41")
        page = reason_pareto(s, viewer=MANAGER, filters=Filters(date_from=mon.date(),
                                                                date_to=mon.date() + dt.timedelta(days=6)))
    assert len(got) == 3
    assert got["reason_code"].tolist() == exp.index[:3].tolist() == page["reason_code"].head(3).tolist()
    assert got["returned_units"].tolist() == exp.iloc[:3].tolist()
    assert got["reason_share"].tolist() == pytest.approx((exp.iloc[:3] / rw["qty"].sum()).tolist())


def test_satisfaction_against_lateness_on_seeded_reviews(engine: Engine) -> None:
    from ops.demo import seed
    from ops.review.kpis import review_kpis, satisfaction_vs_lateness
    from ops.review.refresh import refresh as refresh_review

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
        refresh_review(s)  # written straight to the table, not imported: the review's aggregates are rebuilt by hand
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
