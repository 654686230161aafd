"""The weekly review's aggregates (``agg_review_week``, ``agg_review_cycle``): what the KPIs defined by the
review are made of, for every week of the seeded demo, against plain pandas on the raw rows; and the
aggregate path against the scoped-rows path (the one vendors read) after incremental imports."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, insert, update

from bench.bench_import_day import write_day
from ops.access import SYSTEM
from ops.db import read_session, transaction
from ops.demo import seed
from ops.filters import Filters
from ops.ingest import run_imports
from ops.models import Review, Shipment
from ops.review import kpis as rk
from ops.review.refresh import refresh as refresh_review
from ops.review.week import Week, week_of

MP = "marketplace|olist|amazon|ebay|etsy|walmart"
EXCLUDED = ("cancelled", "canceled", "unavailable")  # ops.fulfillment: not an order to ship
DEFECT_SHIP = ("lost", "damaged", "returned_to_sender")
DEFECT_RETURN = ("defective", "damaged", "damaged_in_transit", "broken", "faulty", "not_working",
                 "damaged_by_carrier", "damaged_by_fc", "quality_unacceptable", "missing_parts", "wrong_item",
                 "mis_pick", "mispick", "wrong_size_sent", "wrong_colour_sent", "wrong_item_sent", "not_as_described")
INTS = ["mp_orders", "mp_cancelled", "shipped_orders", "reviews", "score_sum", "mp_shipments", "mp_tracked",
        "mp_ship_orders", "mp_defect_orders"]


def _raw(engine: Engine) -> dict[str, pd.DataFrame]:
    with engine.connect() as c:
        t = {n: pd.read_sql_table(n, c) for n in ("orders", "shipments", "order_lines", "returns", "channels",
                                                   "reviews", "warehouses")}
    ch = t["channels"].assign(mp=(t["channels"]["code"] + " " + t["channels"]["name"]).str.lower().str.contains(MP))
    t["orders"] = t["orders"].merge(ch[["id", "mp"]].rename(columns={"id": "channel_id"}), on="channel_id")
    return t


def _week(ts: pd.Series) -> pd.Series:
    return ts.dt.normalize() - pd.to_timedelta(ts.dt.dayofweek, unit="D")


def _expected(t: dict[str, pd.DataFrame], weeks: list[Week], warehouse_ids: set[int] | None) -> pd.DataFrame:
    """Each week's sums, in pandas, from the definitions in ops.review.kpis written out again."""
    o = t["orders"] if warehouse_ids is None else t["orders"][t["orders"]["warehouse_id"].isin(warehouse_ids)]
    sh = t["shipments"].merge(o[["id", "placed_at", "mp"]].rename(columns={"id": "order_id"}), on="order_id")
    rets = t["returns"].merge(t["order_lines"][["id", "order_id"]].rename(columns={"id": "order_line_id"}),
                              on="order_line_id")
    low = set(t["reviews"].loc[t["reviews"]["score"] <= 2, "order_id"])
    bad_ret = set(rets.loc[rets["reason_code"].str.lower().isin(DEFECT_RETURN), "order_id"])
    rv = t["reviews"].merge(o[["id"]].rename(columns={"id": "order_id"}), on="order_id")
    live = o[~o["status"].isin(EXCLUDED)]
    shipped_ids = set(sh.loc[sh["shipped_at"].notna(), "order_id"]) & set(live["id"])
    rows = {}
    for w in weeks:
        lo = pd.Timestamp(w.start)
        hi = lo + pd.Timedelta(days=7)
        placed = o[(o["placed_at"] >= lo) & (o["placed_at"] < hi)]
        mpo = placed[placed["mp"]]
        week_shipped = set(placed["id"]) & shipped_ids
        ships = sh[(sh["shipped_at"] >= lo) & (sh["shipped_at"] < hi) & sh["mp"]]
        ids = set(ships["order_id"])
        bad = set(ships.loc[ships["status"].isin(DEFECT_SHIP), "order_id"]) | ((low | bad_ret) & ids)
        tracked = ships["carrier_id"].notna() & ships["tracking_number"].fillna("").str.strip().ne("")
        scores = rv[(rv["created_at"] >= lo) & (rv["created_at"] < hi)]["score"]
        dl = sh[(sh["delivered_at"] >= lo) & (sh["delivered_at"] < hi)
                & (sh["shipped_at"] >= lo - pd.Timedelta(days=rk.MAX_TRANSIT_DAYS)) & (sh["shipped_at"] < hi)]
        cycle = (dl["delivered_at"] - dl["placed_at"]) / pd.Timedelta(days=1)
        rows[w.label] = {
            "mp_orders": len(mpo), "mp_cancelled": int((mpo["status"] == "cancelled").sum()),
            "shipped_orders": len(week_shipped),
            "label_cost": float(sh.loc[sh["order_id"].isin(week_shipped), "label_cost"].sum()),
            "reviews": len(scores), "score_sum": int(scores.sum()), "mp_shipments": len(ships),
            "mp_tracked": int(tracked.sum()), "mp_ship_orders": len(ids), "mp_defect_orders": len(bad),
            "cycle_days": float(cycle.median()) if len(cycle) else np.nan}
    return pd.DataFrame.from_dict(rows, orient="index")


def _weeks(t: dict[str, pd.DataFrame]) -> list[Week]:
    first, last = t["orders"]["placed_at"].min().date(), t["shipments"]["delivered_at"].max().date()
    out = [week_of(first)]
    while out[-1].end < last:
        out.append(week_of(out[-1].end + dt.timedelta(days=1)))
    return out


def _check(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert list(got.index) == list(want.index)
    for c in INTS:
        assert got[c].astype("int64").tolist() == want[c].astype("int64").tolist(), c
    np.testing.assert_allclose(got["label_cost"], want["label_cost"], rtol=1e-12)
    # julianday / epoch days in SQL against pandas timedeltas: the same medians to far below a second
    np.testing.assert_allclose(got["cycle_days"], want["cycle_days"], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("warehouse", [None, "WH-EAST"])
def test_every_weeks_sums_match_plain_pandas(seeded_engine: Engine, warehouse: str | None) -> None:
    t = _raw(seeded_engine)
    weeks = _weeks(t)
    ids = None if warehouse is None else set(t["warehouses"].loc[t["warehouses"]["code"] == warehouse, "id"])
    flt = Filters(warehouses=(warehouse,)) if warehouse else Filters()
    with read_session(seeded_engine) as s:
        got = rk._week_sums(s, SYSTEM, weeks, flt)
    want = _expected(t, weeks, ids)
    assert want["mp_ship_orders"].sum() > 0 and want["mp_defect_orders"].sum() > 0  # the demo has defects
    _check(got, want)


def test_aggregates_equal_the_scoped_rows_after_incremental_imports(engine: Engine, tmp_path: Path) -> None:
    seed(engine, size="small", seed=7)
    t = _raw(engine)
    # untracked marketplace shipments (no carrier; a blank tracking number) and reviews, which the demo lacks
    mp_ships = t["shipments"].merge(t["orders"][["id", "mp"]].rename(columns={"id": "order_id"}), on="order_id")
    mp_ships = mp_ships[mp_ships["mp"] & mp_ships["shipped_at"].notna()].sort_values("shipped_at").tail(40)
    with transaction(engine) as s:
        s.execute(update(Shipment).where(Shipment.id == int(mp_ships["id"].iloc[0])).values(carrier_id=None))
        s.execute(update(Shipment).where(Shipment.id == int(mp_ships["id"].iloc[1])).values(tracking_number=" \t "))
        s.execute(insert(Review), [{"review_key": f"R{i}", "order_id": int(oid), "score": 1 + i % 5,
                                    "created_at": ts + dt.timedelta(days=3)}
                                   for i, (oid, ts) in enumerate(zip(mp_ships["order_id"], mp_ships["shipped_at"],
                                                                     strict=True))])
        refresh_review(s)  # written straight to the tables, not imported: rebuilt by hand
    t = _raw(engine)
    last = t["orders"]["placed_at"].max().date()
    for k in (1, 2):  # two new days of orders, shipments and returns (copies of settled days)
        with transaction(engine) as s:
            files = write_day(s, tmp_path / f"day{k}", source=last - dt.timedelta(days=28 - k),
                              target=last + dt.timedelta(days=k), prefix=f"D{k}-")
        run_imports(engine, groups=[(kind, [p]) for kind, p in files.items()], viewer=SYSTEM)
    t = _raw(engine)
    weeks = _weeks(t)[-8:]
    want = _expected(t, weeks, None)
    assert want["mp_tracked"].sum() == want["mp_shipments"].sum() - 2 and want["reviews"].sum() == 40
    with read_session(engine) as s:
        mp = rk._marketplace_ids(s)
        for flt in (Filters(), Filters(warehouses=("WH-EAST",))):
            agg = rk._week_sums(s, SYSTEM, weeks, flt)
            raw = rk._raw_sums(s, SYSTEM, weeks, flt, mp)
            _check(agg, raw)
            if not flt.warehouses:
                _check(agg, want)
    _check(agg, _expected(t, weeks, set(t["warehouses"].loc[t["warehouses"]["code"] == "WH-EAST", "id"])))
