"""The weekly review's own KPIs for vendors (a carrier, a 3PL) against plain pandas over that vendor's raw rows.

A vendor's review reads its scoped rows (``ops.review.kpis._raw_sums``), with the scope written for reads
driven by the weeks' dates; the scopes are written out here from their definitions in ``ops.access``: a
carrier sees the shipments it carried and the orders behind them (their lines, returns and reviews); a 3PL
the orders of the warehouses it operates (their lines, returns and reviews) and the shipments that left them.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, insert, update

from ops.access import Viewer
from ops.db import read_session, transaction
from ops.demo import seed
from ops.filters import Filters
from ops.models import Review, Shipment
from ops.review import kpis as rk
from ops.review.week import Week, week_of

MP = "marketplace|olist|amazon|ebay|etsy|walmart"
EXCLUDED = ("cancelled", "canceled", "unavailable")
DEFECT_SHIP = ("lost", "damaged", "returned_to_sender")
DEFECT_RETURN = ("defective", "damaged", "damaged_in_transit", "broken", "faulty", "not_working",
                 "damaged_by_carrier", "damaged_by_fc", "quality_unacceptable", "missing_parts", "wrong_item",
                 "mis_pick", "mispick", "wrong_size_sent", "wrong_colour_sent", "wrong_item_sent", "not_as_described")
INTS = ["mp_orders", "mp_cancelled", "shipped_orders", "reviews", "score_sum", "mp_shipments", "mp_tracked",
        "mp_ship_orders", "mp_defect_orders"]


def _raw(engine: Engine) -> dict[str, pd.DataFrame]:
    with engine.connect() as c:
        t = {n: pd.read_sql_table(n, c) for n in ("orders", "shipments", "order_lines", "returns", "channels",
                                                   "reviews", "warehouses", "carriers")}
    ch = t["channels"].assign(mp=(t["channels"]["code"] + " " + t["channels"]["name"]).str.lower().str.contains(MP))
    t["orders"] = t["orders"].merge(ch[["id", "mp"]].rename(columns={"id": "channel_id"}), on="channel_id")
    return t


def _expected(t: dict[str, pd.DataFrame], weeks: list[Week], orders: set[int], ships: pd.DataFrame) -> pd.DataFrame:
    """Each week's sums over the vendor's rows: ``orders`` (its orders, and so their lines, returns and
    reviews) and ``ships`` (its shipments)."""
    o = t["orders"]
    mine = o[o["id"].isin(orders)]
    sh = ships.merge(o[["id", "placed_at", "mp", "status"]].rename(columns={"id": "order_id", "status": "o_status"}),
                     on="order_id")
    rets = t["returns"].merge(t["order_lines"][["id", "order_id"]].rename(columns={"id": "order_line_id"}),
                              on="order_line_id")
    rets = rets[rets["order_id"].isin(orders)]
    rv = t["reviews"][t["reviews"]["order_id"].isin(orders)]
    low = set(rv.loc[rv["score"] <= 2, "order_id"])
    bad_ret = set(rets.loc[rets["reason_code"].str.lower().isin(DEFECT_RETURN), "order_id"])
    rows = {}
    for w in weeks:
        lo = pd.Timestamp(w.start)
        hi = lo + pd.Timedelta(days=7)
        placed = mine[(mine["placed_at"] >= lo) & (mine["placed_at"] < hi)]
        mpo = placed[placed["mp"]]
        # orders placed in the week (not cancelled or unavailable) with a shipment of the vendor's that left
        wk = sh[(sh["placed_at"] >= lo) & (sh["placed_at"] < hi) & ~sh["o_status"].isin(EXCLUDED)]
        shipped = set(wk.loc[wk["shipped_at"].notna(), "order_id"])
        out = sh[(sh["shipped_at"] >= lo) & (sh["shipped_at"] < hi) & sh["mp"]]
        ids = set(out["order_id"])
        bad = set(out.loc[out["status"].isin(DEFECT_SHIP), "order_id"]) | ((low | bad_ret) & ids)
        tracked = out["carrier_id"].notna() & out["tracking_number"].fillna("").str.strip().ne("")
        scores = rv[(rv["created_at"] >= lo) & (rv["created_at"] < hi)]["score"]
        dl = sh[(sh["delivered_at"] >= lo) & (sh["delivered_at"] < hi)
                & (sh["shipped_at"] >= lo - pd.Timedelta(days=rk.MAX_TRANSIT_DAYS)) & (sh["shipped_at"] < hi)]
        cycle = (dl["delivered_at"] - dl["placed_at"]) / pd.Timedelta(days=1)
        rows[w.label] = {
            "mp_orders": len(mpo), "mp_cancelled": int((mpo["status"] == "cancelled").sum()),
            "shipped_orders": len(shipped),
            "label_cost": float(wk.loc[wk["order_id"].isin(shipped), "label_cost"].sum()),
            "reviews": len(scores), "score_sum": int(scores.sum()), "mp_shipments": len(out),
            "mp_tracked": int(tracked.sum()), "mp_ship_orders": len(ids), "mp_defect_orders": len(bad),
            "cycle_days": float(cycle.median()) if len(cycle) else np.nan}
    return pd.DataFrame.from_dict(rows, orient="index")


def _check(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert list(got.index) == list(want.index)
    for c in INTS:
        assert got[c].astype("int64").tolist() == want[c].astype("int64").tolist(), c
    np.testing.assert_allclose(got["label_cost"], want["label_cost"], rtol=1e-12)
    np.testing.assert_allclose(got["cycle_days"], want["cycle_days"], rtol=1e-9, atol=1e-9)


@pytest.fixture
def vendor_data(engine: Engine) -> dict[str, pd.DataFrame]:
    """The small demo with reviews (low ones on marketplace orders), an untracked and a blank-tracked
    marketplace shipment, and a second carrier's shipment on one order (whose other shipment is not that
    carrier's), in the last weeks."""
    seed(engine, size="small", seed=7)
    t = _raw(engine)
    ships = t["shipments"].merge(t["orders"][["id", "mp"]].rename(columns={"id": "order_id"}), on="order_id")
    mp_ships = ships[ships["mp"] & ships["shipped_at"].notna()].sort_values("shipped_at").tail(120)
    with transaction(engine) as s:
        s.execute(update(Shipment).where(Shipment.id == int(mp_ships["id"].iloc[0])).values(tracking_number=" \t "))
        s.execute(update(Shipment).where(Shipment.id == int(mp_ships["id"].iloc[1])).values(carrier_id=None))
        s.execute(insert(Review), [{"review_key": f"R{i}", "order_id": int(oid), "score": 1 + i % 5,
                                    "created_at": ts + dt.timedelta(days=2)}
                                   for i, (oid, ts) in enumerate(zip(mp_ships["order_id"].drop_duplicates(),
                                                                     mp_ships["shipped_at"], strict=False))])
        # one order carried by two carriers: its second shipment, a copy of the first under another carrier
        first = mp_ships.iloc[5]
        other = int(t["carriers"].loc[t["carriers"]["id"] != first["carrier_id"], "id"].iloc[0])
        s.execute(insert(Shipment), [{"order_id": int(first["order_id"]), "carrier_id": other,
                                      "warehouse_id": int(first["warehouse_id"]), "tracking_number": "TWO-CARRIERS",
                                      "label_cost": 7.25, "status": "lost", "shipped_at": first["shipped_at"],
                                      "delivered_at": None, "promised_at": first["promised_at"]}])
    return _raw(engine)


def _last_weeks(t: dict[str, pd.DataFrame], n: int) -> list[Week]:
    last = week_of(t["shipments"]["shipped_at"].max().date())
    out = [last]
    while len(out) < n:
        out.insert(0, out[0].previous())
    return out


def test_a_carriers_kpis_are_plain_pandas_over_its_own_rows(engine: Engine,
                                                           vendor_data: dict[str, pd.DataFrame]) -> None:
    t = vendor_data
    weeks = _last_weeks(t, 10)
    sh = t["shipments"]
    for cid, code in zip(t["carriers"]["id"], t["carriers"]["code"], strict=True):
        ships = sh[sh["carrier_id"] == cid]
        if ships.empty:
            continue
        want = _expected(t, weeks, set(ships["order_id"]), ships)
        with read_session(engine) as s:
            got = rk._week_sums(s, Viewer("c", "vendor", "carrier", str(code)), weeks, Filters())
        _check(got, want)
    busiest = sh["carrier_id"].value_counts().index[0]
    want = _expected(t, weeks, set(sh.loc[sh["carrier_id"] == busiest, "order_id"]), sh[sh["carrier_id"] == busiest])
    # the week has something to measure, and a carrier's numbers are not everyone's
    assert want["mp_ship_orders"].sum() > 0 and want["mp_defect_orders"].sum() > 0 and want["reviews"].sum() > 0
    everyone = _expected(t, weeks, set(t["orders"]["id"]), sh)
    assert want["mp_shipments"].sum() < everyone["mp_shipments"].sum()


def test_a_3pls_kpis_are_plain_pandas_over_its_own_rows(engine: Engine, vendor_data: dict[str, pd.DataFrame]) -> None:
    t = vendor_data
    weeks = _last_weeks(t, 10)
    wh = t["warehouses"]
    ops_codes = sorted(set(wh["operator_code"].dropna()))
    assert ops_codes, "the demo has a 3PL warehouse"
    for code in ops_codes:
        ids = set(wh.loc[wh["operator_code"] == code, "id"])
        orders = set(t["orders"].loc[t["orders"]["warehouse_id"].isin(ids), "id"])
        ships = t["shipments"][t["shipments"]["warehouse_id"].isin(ids)]
        want = _expected(t, weeks, orders, ships)
        assert want["mp_orders"].sum() > 0 and want["shipped_orders"].sum() > 0
        with read_session(engine) as s:
            for flt in (Filters(), Filters(channels=("web",))):
                got = rk._week_sums(s, Viewer("w", "vendor", "warehouse", code), weeks, flt)
                if not flt.channels:
                    _check(got, want)
        # and the cycle time through the filtered read equals the unfiltered one for a filter that keeps all
        with read_session(engine) as s:
            all_wh = tuple(wh["code"])
            got = rk._week_sums(s, Viewer("w", "vendor", "warehouse", code), weeks, Filters(warehouses=all_wh))
        _check(got, want)
