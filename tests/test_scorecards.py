"""Scorecard measures against plain pandas on seeded rows, and known answers on hand-made rows.

Covers: on time judged at the first attempt (not the final delivery), transit percentiles in business
days (with a holiday), lanes under the minimum volume (shown, not ranked, not flagged), an accepted
dispute excluding its shipment and PO line, the supplier's OTIF and fill rate, the planted late lane.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ops import scorecards as sc
from ops.access import Viewer
from ops.db import transaction
from ops.decisions import set_threshold
from ops.models import (
    Carrier,
    CarrierService,
    Channel,
    Holiday,
    Order,
    Product,
    PurchaseOrder,
    PurchaseOrderLine,
    Shipment,
    Supplier,
    Warehouse,
)

MANAGER = Viewer(username="boss", role="manager")
WEEK = "2026-W45"  # inside the small demo's last 13 weeks, holding the planted late lane's weeks


def _monday(iso: str) -> pd.Timestamp:
    y, w = iso.split("-W")
    return pd.Timestamp(dt.date.fromisocalendar(int(y), int(w), 1))


def raw_shipments(engine: Engine) -> pd.DataFrame:
    """Every shipment fact computed with plain pandas/numpy from the raw tables."""
    sh = pd.read_sql_table("shipments", engine)
    car = pd.read_sql_table("carriers", engine)[["id", "code"]].rename(columns={"id": "carrier_id", "code": "carrier"})
    hol = pd.read_sql_table("holidays", engine)
    glob = pd.to_datetime(hol.loc[hol["warehouse_id"].isna(), "day"]).to_numpy().astype("datetime64[D]")
    sh = sh[sh["shipped_at"].notna() & sh["carrier_id"].notna()].merge(car, on="carrier_id")
    for c in ("shipped_at", "promised_at", "first_attempt_at", "delivered_at"):
        sh[c] = pd.to_datetime(sh[c])
    day = sh["shipped_at"].dt.normalize()
    sh["week"] = day - pd.to_timedelta(day.dt.dayofweek, unit="D")
    attempt = sh["first_attempt_at"].fillna(sh["delivered_at"])
    sh["attempted"] = attempt.notna() & sh["promised_at"].notna()
    sh["on_time"] = sh["attempted"] & (attempt.dt.normalize() <= sh["promised_at"].dt.normalize())
    sh["delivered_ok"] = (sh["status"] == "delivered") & sh["delivered_at"].notna()
    sh["fa_ok"] = sh["delivered_ok"] & (sh["first_attempt_at"].isna() | (sh["first_attempt_at"] >= sh["delivered_at"]))
    has = attempt.notna()
    b = np.full(len(sh), np.nan)
    b[has.to_numpy()] = np.busday_count(day[has].to_numpy().astype("datetime64[D]"),
                                        attempt[has].dt.normalize().to_numpy().astype("datetime64[D]"), holidays=glob)
    sh["bdays"] = b
    return sh


def expected_scorecard(sh: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    d = sh[(sh["week"] >= start) & (sh["week"] <= end)]
    g = d.groupby(["carrier", "lane"])
    out = pd.DataFrame({
        "shipments": g.size(),
        "on_time_rate": g["on_time"].sum() / g["attempted"].sum(),
        "first_attempt_rate": g["fa_ok"].sum() / g["delivered_ok"].sum(),
        "lost_rate": g["status"].apply(lambda s: (s == "lost").mean()),
        "damaged_rate": g["status"].apply(lambda s: (s == "damaged").mean()),
        "rts_rate": g["status"].apply(lambda s: (s == "returned_to_sender").mean()),
        "cost_per_package": g["label_cost"].mean(),
        "transit_p50_bdays": g["bdays"].quantile(0.5),
        "transit_p90_bdays": g["bdays"].quantile(0.9),
        "transit_p95_bdays": g["bdays"].quantile(0.95),
    })
    return out.sort_index()


def test_carrier_measures_match_pandas_on_the_demo(seeded_engine: Engine) -> None:
    end = _monday(WEEK)
    start = end - pd.Timedelta(weeks=12)
    want = expected_scorecard(raw_shipments(seeded_engine), start, end)
    with Session(seeded_engine) as s:
        got = sc.carrier_scorecard(s, viewer=MANAGER, week=WEEK).set_index(["carrier", "lane"]).sort_index()
    assert len(want) > 20 and want["shipments"].sum() > 1000  # a real sample, not a trivial pass
    assert got.index.tolist() == want.index.tolist()
    assert (got["shipments"] == want["shipments"]).all()
    for c in want.columns.drop("shipments"):
        np.testing.assert_allclose(got[c].to_numpy(float), want[c].to_numpy(float), rtol=1e-9, atol=1e-12,
                                   equal_nan=True, err_msg=c)


def test_weekly_lane_rates_match_pandas_and_the_planted_lane_is_the_only_flag(seeded_engine: Engine) -> None:
    from ops.demo import anomalies

    an = anomalies("small", 7)
    sh = raw_shipments(seeded_engine)
    with Session(seeded_engine) as s:
        lw = sc.lane_weeks(s, viewer=MANAGER, week=WEEK, weeks=104)
        flagged = sc.late_lanes(s, viewer=MANAGER, week=WEEK, weeks=104)
    g = sh.groupby(["carrier", "lane", "week"]).agg(n=("id", "size"), on=("on_time", "sum"), att=("attempted", "sum"))
    g = g[g.index.get_level_values("week") <= _monday(WEEK)]
    mine = lw.set_index(["carrier", "lane", "week"]).sort_index()
    g = g.loc[mine.index]
    assert (mine["shipments"] == g["n"]).all()
    np.testing.assert_allclose(mine["on_time_rate"].to_numpy(float), (g["on"] / g["att"]).to_numpy(float),
                               equal_nan=True)
    # by hand: at least 20 shipments in the week and under 50 % on time
    want = g[(g["n"] >= 20) & (g["on"] / g["att"] < 0.5)]
    assert sorted(want.index.tolist()) == sorted(zip(flagged["carrier"], flagged["lane"], flagged["week"],
                                                     strict=True))
    assert set(flagged["carrier"]) == {an.late_lane_carrier} and set(flagged["lane"]) == {an.late_lane}
    assert sorted(flagged["week"].dt.date) == list(an.late_lane_weeks)


# --- hand-made rows with known answers -------------------------------------------------------------


def _ts(day: str, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour))


def build(engine: Engine) -> None:
    """Carrier CA on lane WH-A>NY (5 shipments in the week of 2 March 2026) and WH-A>CA (1, under the minimum);
    a global holiday on Wednesday 4 March; supplier SUP-A with three PO lines."""
    with transaction(engine) as s:
        wh = Warehouse(code="WH-A", name="A")
        ch = Channel(code="web", name="Web")
        ca, cb = Carrier(code="CA", name="Carrier A"), Carrier(code="CB", name="Carrier B")
        s.add_all([wh, ch, ca, cb, Holiday(day=dt.date(2026, 3, 4), name="holiday")])
        s.flush()
        svc = CarrierService(carrier_id=ca.id, code="GND", name="Ground", promised_days=2)
        s.add(svc)
        s.flush()
        rows = [  # tracking, lane, shipped, promised, first attempt, delivered, status, cost
            ("T1", "WH-A>NY", _ts("2026-03-02"), _ts("2026-03-04", 20), _ts("2026-03-04", 11), _ts("2026-03-05"),
             "delivered", 10.0),  # on time at the first attempt, delivered at the second; 2 business days
            ("T2", "WH-A>NY", _ts("2026-03-06"), _ts("2026-03-09", 20), None, _ts("2026-03-10"), "delivered", 12.0),
            ("T3", "WH-A>NY", _ts("2026-03-02"), _ts("2026-03-04", 20), None, None, "lost", 8.0),
            ("T4", "WH-A>NY", _ts("2026-03-02"), _ts("2026-03-06", 20), None, _ts("2026-03-06"), "delivered", 9.0),
            ("T5", "WH-A>NY", _ts("2026-03-03"), _ts("2026-03-05", 20), None, _ts("2026-03-09"), "delivered", 11.0),
            ("T6", "WH-A>CA", _ts("2026-03-03"), _ts("2026-03-04", 20), None, _ts("2026-03-09"), "delivered", 20.0),
        ]
        for i, (trk, lane, shipped, promised, first, delivered, status, cost) in enumerate(rows):
            o = Order(order_number=f"O{i}", channel_id=ch.id, warehouse_id=wh.id, status="delivered",
                      placed_at=shipped - dt.timedelta(hours=5))
            s.add(o)
            s.flush()
            s.add(Shipment(tracking_number=trk, order_id=o.id, warehouse_id=wh.id, carrier_id=ca.id, service_id=svc.id,
                           lane=lane, label_cost=cost, shipped_at=shipped, promised_at=promised,
                           first_attempt_at=first, delivered_at=delivered, status=status))
        sup = Supplier(code="SUP-A", name="Supplier A", lead_time_days=10)
        s.add(sup)
        s.flush()
        prods = [Product(sku=f"X{k}", name="x", category="c", supplier_id=sup.id) for k in range(3)]
        s.add_all(prods)
        s.flush()
        po = PurchaseOrder(po_number="PO-1", supplier_id=sup.id, warehouse_id=wh.id, ordered_on=dt.date(2026, 2, 20),
                           expected_on=dt.date(2026, 3, 3), status="received")
        s.add(po)
        s.flush()
        for p, (qty, got, day) in zip(prods, ((10, 10, "2026-03-02"), (10, 8, "2026-03-03"), (10, 10, "2026-03-05")),
                                      strict=True):
            s.add(PurchaseOrderLine(po_id=po.id, product_id=p.id, qty_ordered=qty, qty_received=got,
                                    received_on=dt.date.fromisoformat(day)))
        set_threshold(s, viewer=MANAGER, name="scorecard_min_volume", value=3, confirm=True)
        set_threshold(s, viewer=MANAGER, name="scorecard_late_lane_ontime", value=60)
        sc.refresh(s)


def test_known_answers_and_an_accepted_dispute(engine: Engine) -> None:
    build(engine)
    carrier = Viewer(username="ca-user", role="vendor", vendor_kind="carrier", vendor_code="CA")
    with Session(engine) as s:
        card = sc.carrier_scorecard(s, viewer=MANAGER, week="2026-W10").set_index("lane")
        flags = sc.late_lanes(s, viewer=MANAGER, week="2026-W10")
    ny, ca = card.loc["WH-A>NY"], card.loc["WH-A>CA"]
    assert ny["shipments"] == 5 and ny["attempted"] == 4
    assert ny["on_time_rate"] == pytest.approx(2 / 4)  # T1 (first attempt on time) and T4
    assert ny["first_attempt_rate"] == pytest.approx(3 / 4)  # T1 needed a second attempt
    assert ny["lost_rate"] == pytest.approx(1 / 5)
    assert ny["cost_per_package"] == pytest.approx(50 / 5)
    # transit in business days [2, 2, 3, 3] (T4 and T5 skip the Wednesday holiday)
    assert (ny["transit_p50_bdays"], ny["transit_p90_bdays"], ny["transit_p95_bdays"]) == pytest.approx((2.5, 3, 3))
    assert bool(ny["ranked"]) and ny["score_rank"] == 1
    assert not bool(ca["ranked"]) and np.isnan(ca["score_rank"]) and ca["on_time_rate"] == 0.0
    assert flags[["carrier", "lane"]].values.tolist() == [["CA", "WH-A>NY"]]  # 50 % < 60 %; WH-A>CA too small
    # weighted score 60/20/20 of on time, first attempt, intact
    assert ny["score"] == pytest.approx(0.6 * 0.5 + 0.2 * 0.75 + 0.2 * 0.8)
    assert ny["band"] == "failing"

    with transaction(engine) as s:
        did = sc.raise_dispute(s, viewer=carrier, subject_kind="shipment", subject_key="T5", reason="address closed")
    with transaction(engine) as s:
        sc.decide_dispute(s, viewer=MANAGER, dispute_id=did, state="accepted", expected_version=1)
    with Session(engine) as s:
        ny2 = sc.carrier_scorecard(s, viewer=MANAGER, week="2026-W10").set_index("lane").loc["WH-A>NY"]
        own = sc.carrier_scorecard(s, viewer=carrier, week="2026-W10").set_index("lane").loc["WH-A>NY"]
        flags2 = sc.late_lanes(s, viewer=MANAGER, week="2026-W10")
    assert ny2["shipments"] == 4 and ny2["excluded"] == 1 and own["excluded"] == 1
    assert ny2["on_time_rate"] == pytest.approx(2 / 3)
    assert (ny2["transit_p50_bdays"], ny2["transit_p90_bdays"]) == pytest.approx((2.0, 2.8))
    assert flags2.empty
    # a rebuild gives the same figures as the in-place exclusion
    with transaction(engine) as s:
        sc.refresh(s)
    with Session(engine) as s:
        again = sc.carrier_scorecard(s, viewer=MANAGER, week="2026-W10").set_index("lane").loc["WH-A>NY"]
    pd.testing.assert_series_equal(again, ny2)
    # reopening puts the shipment back
    with transaction(engine) as s:
        sc.decide_dispute(s, viewer=MANAGER, dispute_id=did, state="open", expected_version=2)
    with Session(engine) as s:
        back = sc.carrier_scorecard(s, viewer=MANAGER, week="2026-W10").set_index("lane").loc["WH-A>NY"]
    assert back["shipments"] == 5 and back["on_time_rate"] == pytest.approx(0.5) and back["excluded"] == 0


def test_supplier_otif_fill_rate_and_an_excluded_po_line(engine: Engine) -> None:
    build(engine)
    sup = Viewer(username="sa", role="vendor", vendor_kind="supplier", vendor_code="SUP-A")
    with Session(engine) as s:
        row = sc.supplier_scorecard(s, viewer=MANAGER, week="2026-W10").set_index("supplier").loc["SUP-A"]
        line_ids = s.scalars(select(PurchaseOrderLine.id).order_by(PurchaseOrderLine.id)).all()
    # lines: on time & full; on time, short (8/10); late & full
    assert row["po_lines"] == 3
    assert row["on_time_rate"] == pytest.approx(2 / 3) and row["in_full_rate"] == pytest.approx(2 / 3)
    assert row["otif_rate"] == pytest.approx(1 / 3) and row["fill_rate"] == pytest.approx(28 / 30)
    assert row["lt_n"] == 3 and row["lt_mean_days"] == pytest.approx((10 + 11 + 13) / 3)
    assert row["lt_gap_days"] == pytest.approx((10 + 11 + 13) / 3 - 10)
    with transaction(engine) as s:
        did = sc.raise_dispute(s, viewer=sup, subject_kind="po_line", subject_key=f"PO-1:{line_ids[2]}",
                               reason="the warehouse was closed on the 3rd")
        sc.decide_dispute(s, viewer=MANAGER, dispute_id=did, state="accepted", expected_version=1)
    with Session(engine) as s:
        row2 = sc.supplier_scorecard(s, viewer=sup, week="2026-W10").set_index("supplier").loc["SUP-A"]
    assert row2["po_lines"] == 2 and row2["otif_rate"] == pytest.approx(1 / 2) and row2["excluded"] == 1


def test_weights_not_summing_to_100_give_no_score_and_say_why(engine: Engine) -> None:
    build(engine)
    with transaction(engine) as s:
        set_threshold(s, viewer=MANAGER, name="scorecard_weight_on_time", value=50)
    with Session(engine) as s:
        card = sc.carrier_scorecard(s, viewer=MANAGER, week="2026-W10")
        page = sc.scorecard_page(s, viewer=MANAGER, week="2026-W10")
    assert card["score"].isna().all() and (card["band"] == "").all()
    assert page.weights_problem is not None and "sum to 90 %" in page.weights_problem
    assert sc.weights_problem({"on_time": 60, "first_attempt": 20, "intact": 20}) is None


def test_parse_week() -> None:
    assert sc.parse_week("2026-W47") == dt.date(2026, 11, 16)
    assert sc.parse_week("2026-11-19") == dt.date(2026, 11, 16)
    assert sc.parse_week(None) is None
    with pytest.raises(ValueError, match="ISO week like 2026-W47"):
        sc.parse_week("week 47")


def _band(score: float) -> str:
    """The default bands, by hand: excellent >= 95 %, meets >= 90 %, at risk >= 80 %, else failing."""
    return "" if pd.isna(score) else ("excellent" if score >= 0.95 else "meets" if score >= 0.90
                                      else "at risk" if score >= 0.80 else "failing")


def test_supplier_score_is_the_weighted_mean_with_bands(seeded_engine: Engine) -> None:
    with Session(seeded_engine) as s:
        page = sc.scorecard_page(s, viewer=MANAGER, sections=("suppliers",))
    sup = page.suppliers
    assert not sup.empty and page.weights_problem is None
    # the default weights: on time 40 %, in full 40 %, free of defects 20 %
    want = 0.4 * sup["on_time_rate"] + 0.4 * sup["in_full_rate"] + 0.2 * (1.0 - sup["defect_rate"])
    assert np.allclose(sup["score"].to_numpy(float), want.to_numpy(float), equal_nan=True)
    assert sup["score"].notna().any()
    assert sup["band"].tolist() == [_band(v) for v in sup["score"]]
    w = page.weights[page.weights["scorecard"] == "Suppliers"]
    assert w["weight_pct"].tolist() == [40.0, 40.0, 20.0]


def test_supplier_weights_are_their_own_and_must_sum_to_100(engine: Engine) -> None:
    build(engine)
    with transaction(engine) as s:  # all on "in full": the score becomes the in-full rate
        set_threshold(s, viewer=MANAGER, name="scorecard_supplier_weight_on_time", value=0)
        set_threshold(s, viewer=MANAGER, name="scorecard_supplier_weight_quality", value=0)
        set_threshold(s, viewer=MANAGER, name="scorecard_supplier_weight_in_full", value=100)
    with Session(engine) as s:
        page = sc.scorecard_page(s, viewer=MANAGER, week="2026-W10", sections=("suppliers", "carriers"))
    row = page.suppliers.set_index("supplier").loc["SUP-A"]
    assert page.weights_problem is None
    assert pd.isna(row["defect_rate"])  # nothing sold: unknown quality, weighted 0 here, blanks nothing
    assert row["score"] == pytest.approx(2 / 3) and row["band"] == "failing"
    assert page.carriers["score"].notna().any()  # the carrier weights are untouched
    with transaction(engine) as s:
        set_threshold(s, viewer=MANAGER, name="scorecard_supplier_weight_in_full", value=70)
    with Session(engine) as s:
        page = sc.scorecard_page(s, viewer=MANAGER, week="2026-W10", sections=("suppliers", "carriers"))
    assert page.suppliers["score"].isna().all() and (page.suppliers["band"] == "").all()
    assert page.weights_problem is not None and "supplier score weights sum to 70 %" in page.weights_problem
    assert "carrier" not in page.weights_problem.replace("supplier score", "")
    assert page.carriers["score"].notna().any()
