"""Fulfilment KPIs, headline and aggregates against plain pandas on the raw rows.

The expected numbers are computed here from ``orders``, ``order_lines``, ``shipments``,
``warehouses`` and ``holidays`` read with ``pd.read_sql``, never through ``ops.fulfillment``. The
business-time deadline and business hours use :mod:`ops.business_time` as their definition (pure,
with known-answer tests in tests/test_business_time.py).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine

from ops import business_time as bt
from ops import fulfillment as ful
from ops.access import SYSTEM
from ops.db import transaction
from ops.filters import Filters
from ops.fulfillment.metrics import WAREHOUSE_ROLLUP

EXCLUDED = ("cancelled", "canceled", "unavailable")
EDGES = np.array([0, 1, 2, 3, 4, 6, 8, 10, 12, 16, 20, 24, 28, 32, 36, 42, 48, 60, 72, 84, 96, 120, 144, 168, 216,
                  264, 336, 504, 720], dtype=float)


def _calendar(wh: pd.Series | None, hol: pd.DataFrame) -> bt.Calendar:
    glob = tuple(pd.to_datetime(hol.loc[hol["warehouse_id"].isna(), "day"]).dt.date)
    if wh is None:
        return bt.Calendar(holidays=glob)
    own = tuple(pd.to_datetime(hol.loc[hol["warehouse_id"] == wh["id"], "day"]).dt.date)
    return bt.Calendar(business_days=wh["business_days"], holidays=glob + own,
                       cutoff=pd.Timestamp(str(wh["cutoff_time"])).time(), handling_days=int(wh["handling_days"]))


def raw_lines(engine: Engine) -> pd.DataFrame:
    """One row per order line of an order not cancelled, with its SLA facts, in plain pandas."""
    with engine.connect() as c:
        o = pd.read_sql("SELECT id AS order_id, status, placed_at, paid_at, ship_by AS order_ship_by, warehouse_id "
                        "FROM orders", c)
        ol = pd.read_sql("SELECT order_id, ship_by AS line_ship_by FROM order_lines", c)
        sh = pd.read_sql("SELECT order_id, shipped_at, promised_at, delivered_at FROM shipments", c)
        wh = pd.read_sql("SELECT id, business_days, cutoff_time, handling_days FROM warehouses", c)
        hol = pd.read_sql("SELECT warehouse_id, day FROM holidays", c)
    for frame, cols in ((o, ("placed_at", "paid_at", "order_ship_by")), (ol, ("line_ship_by",)),
                        (sh, ("shipped_at", "promised_at", "delivered_at"))):
        for col in cols:
            frame[col] = pd.to_datetime(frame[col]).astype("datetime64[ns]")
    g = sh.groupby("order_id")
    ships = pd.DataFrame({"shipped_at": g["shipped_at"].min(), "promised_at": g["promised_at"].min(),
                          "delivered_at": g["delivered_at"].max().where(g["delivered_at"].count() == g.size())})
    df = ol.merge(o, on="order_id").merge(ships.reset_index(), on="order_id", how="left")
    df = df[~df["status"].isin(EXCLUDED)].reset_index(drop=True)
    deadline = df["line_ship_by"].fillna(df["order_ship_by"])
    bhours = np.full(len(df), np.nan)
    for key, idx in df.groupby(df["warehouse_id"].fillna(-1)).groups.items():
        row = wh[wh["id"] == key]
        cal = _calendar(row.iloc[0] if len(row) else None, hol)
        part = df.loc[idx]
        need = deadline.loc[idx].isna() & part["paid_at"].notna()
        deadline.loc[need[need].index] = bt.ship_by(part.loc[need, "paid_at"], cal).to_numpy()
        bhours[df.index.get_indexer(idx)] = bt.business_hours_between(part["paid_at"], part["shipped_at"], cal)
    df["deadline"] = deadline
    shipped = df["shipped_at"].notna()
    df["counted"] = df["deadline"].notna() & shipped
    df["on_time"] = df["counted"] & (df["shipped_at"] <= df["deadline"])
    df["delivered"] = df["delivered_at"].notna() & df["promised_at"].notna()
    df["delivered_on_time"] = df["delivered"] & (df["delivered_at"].dt.date <= df["promised_at"].dt.date)
    c2s = df["paid_at"].notna() & shipped
    df["c2s_h"] = ((df["shipped_at"] - df["paid_at"]).dt.total_seconds() / 3600).where(c2s)
    df["c2s_bus_h"] = pd.Series(bhours).where(c2s)
    df["late_h"] = ((df["shipped_at"] - df["deadline"]).dt.total_seconds() / 3600).where(
        df["counted"] & ~df["on_time"])
    df["backlog"] = ~shipped & ~df["status"].isin(["shipped", "delivered"])
    df["day"] = df["placed_at"].dt.normalize()
    return df


def data_now(engine: Engine) -> pd.Timestamp:
    with engine.connect() as c:
        last = pd.read_sql("SELECT MAX(day) AS d FROM inventory_snapshots", c)["d"].iloc[0]
    return pd.Timestamp(str(last)[:10]) + pd.Timedelta(days=1)


def expected_kpis(df: pd.DataFrame, now: pd.Timestamp, flt: Filters) -> dict[str, tuple[float, float]]:
    """KPI -> (value, previous), with the page's KPI week: the last 7 days of the range up to the data's last day."""
    end = min(pd.Timestamp(flt.date_to) if flt.date_to else now, now - pd.Timedelta(days=1)).normalize()
    week_start = end - pd.Timedelta(days=6)
    start = max(week_start, pd.Timestamp(flt.date_from)) if flt.date_from else week_start
    n = (end - start).days + 1
    weeks = [(start, end), (start - pd.Timedelta(days=n), start - pd.Timedelta(days=1))]
    out: dict[str, list[float]] = {}
    for a, z in weeks:
        w = df[(df["day"] >= a) & (df["day"] <= z)]
        counted, delivered = w["counted"].sum(), w["delivered"].sum()
        out.setdefault("on_time_ship_rate", []).append(w["on_time"].sum() / counted if counted else np.nan)
        out.setdefault("on_time_delivery_rate", []).append(
            w["delivered_on_time"].sum() / delivered if delivered else np.nan)
        out.setdefault("lines_shipped", []).append(float(counted))
        out.setdefault("c2s_exact_median_h", []).append(float(w["c2s_h"].median()))
    in_range = pd.Series(True, index=df.index)
    if flt.date_from:
        in_range &= df["day"] >= pd.Timestamp(flt.date_from)
    if flt.date_to:
        in_range &= df["day"] <= pd.Timestamp(flt.date_to)
    late = float((in_range & df["backlog"] & (df["deadline"] < now)).sum())
    res = {k: (v[0], v[1]) for k, v in out.items()}
    res["late_unshipped_lines"] = (late, np.nan)
    return res


def _bucket_bounds(hours: float) -> tuple[float, float]:
    b = int(np.searchsorted(EDGES, hours, side="right"))
    return (-np.inf if b == 0 else EDGES[b - 1]), (np.inf if b == len(EDGES) else EDGES[b])


@pytest.fixture(scope="module")
def raw(seeded_engine: Engine) -> tuple[pd.DataFrame, pd.Timestamp]:
    return raw_lines(seeded_engine), data_now(seeded_engine)


@pytest.mark.parametrize("days", [None, 30, 3])
def test_every_kpi_equals_plain_pandas_on_the_raw_rows(seeded_engine: Engine, raw: tuple[pd.DataFrame, pd.Timestamp],
                                                       days: int | None) -> None:
    df, now = raw
    end = (now - pd.Timedelta(days=1)).date()
    flt = Filters() if days is None else Filters(date_from=end - dt.timedelta(days=days - 1), date_to=end)
    want = expected_kpis(df, now, flt)
    with transaction(seeded_engine) as s:
        got = ful.kpis(s, viewer=SYSTEM, filters=flt).set_index("kpi")
    assert got.loc["lines_shipped", "value"] > 0
    for kpi in ("on_time_ship_rate", "on_time_delivery_rate", "lines_shipped", "late_unshipped_lines"):
        value, previous = want[kpi]
        assert got.loc[kpi, "value"] == pytest.approx(value, rel=1e-12, nan_ok=True), kpi
        if not np.isnan(previous):
            assert got.loc[kpi, "previous"] == pytest.approx(previous, rel=1e-12, nan_ok=True), kpi
            assert got.loc[kpi, "change"] == pytest.approx(value - previous, rel=1e-9, abs=1e-12, nan_ok=True), kpi
    # Rates are fractions: 0..1, not percent.
    assert 0 < got.loc["on_time_ship_rate", "value"] <= 1 and got.loc["on_time_ship_rate", "unit"] == "pct"
    # The median click-to-ship is read from hour buckets: it lies in the bucket holding the exact median.
    for col, i in (("value", 0), ("previous", 1)):
        lo, hi = _bucket_bounds(want["c2s_exact_median_h"][i])
        assert lo <= got.loc["c2s_median_h", col] <= hi


def test_headline_is_the_kpis_with_target_and_top_exceptions(seeded_engine: Engine,
                                                              raw: tuple[pd.DataFrame, pd.Timestamp]) -> None:
    df, now = raw
    end = (now - pd.Timedelta(days=1)).date()
    flt = Filters(date_from=end - dt.timedelta(days=89), date_to=end)
    want = expected_kpis(df, now, flt)
    with transaction(seeded_engine) as s:
        h = ful.headline(s, viewer=SYSTEM, filters=flt)
    kpis = {k.key: k for k in h.kpis}
    assert h.empty_reason is None
    assert list(kpis) == ["on_time_ship_rate", "on_time_delivery_rate", "c2s_median_h", "lines_shipped",
                          "late_unshipped_lines"]
    ship = kpis["on_time_ship_rate"]
    assert ship.value == pytest.approx(want["on_time_ship_rate"][0], rel=1e-12)
    assert ship.previous == pytest.approx(want["on_time_ship_rate"][1], rel=1e-12)
    assert (ship.kind, ship.target, ship.higher_is_better) == ("pct", 0.95, True)  # the default 95 % target
    assert ship.help and "ship-by deadline" in ship.help
    assert kpis["late_unshipped_lines"].value == want["late_unshipped_lines"][0]
    assert kpis["late_unshipped_lines"].higher_is_better is False
    assert list(h.exceptions.columns) == ["subject", "kind", "detail", "value_at_risk"]
    assert 0 < len(h.exceptions) <= 5 and h.exceptions["value_at_risk"].isna().all()
    assert set(h.exceptions["kind"]) <= {"backlog", "warehouse"}
    # Backlog exceptions name orders that are unshipped, in the range, and past their deadline.
    in_range = df[(df["day"] >= pd.Timestamp(flt.date_from)) & (df["day"] <= pd.Timestamp(flt.date_to))]
    late_orders = set(in_range.loc[in_range["backlog"] & (in_range["deadline"] < now), "order_id"])
    assert late_orders  # the demo plants a backlog
    with seeded_engine.connect() as c:
        numbers = pd.read_sql("SELECT id, order_number FROM orders", c).set_index("order_number")["id"]
    for subject in h.exceptions.loc[h.exceptions["kind"] == "backlog", "subject"]:
        assert numbers[subject.split(" (")[0]] in late_orders


def test_headline_of_a_range_without_lines_says_why(seeded_engine: Engine,
                                                    raw: tuple[pd.DataFrame, pd.Timestamp]) -> None:
    df, _ = raw
    last = df["day"].max().date()
    with transaction(seeded_engine) as s:
        h = ful.headline(s, viewer=SYSTEM, filters=Filters(date_from=last + dt.timedelta(days=30),
                                                             date_to=last + dt.timedelta(days=60)))
    assert h.kpis == () and h.empty_reason and "holds no order lines" in h.empty_reason


def per_warehouse(df: pd.DataFrame) -> pd.DataFrame:
    """The daily aggregate's sums and the backlog per warehouse (-1: none), from :func:`raw_lines`' rows."""
    g = df.assign(wh=df["warehouse_id"].fillna(-1).astype(int)).groupby("wh")
    return pd.DataFrame({
        "lines": g.size(), "ship_counted": g["counted"].sum(), "ship_on_time": g["on_time"].sum(),
        "delivered": g["delivered"].sum(), "delivered_on_time": g["delivered_on_time"].sum(),
        "c2s_n": g["c2s_h"].count(), "c2s_hours_sum": g["c2s_h"].sum(), "c2s_bhours_sum": g["c2s_bus_h"].sum(),
        "late_hours_sum": g["late_h"].sum(), "backlog": g["backlog"].sum()}).sort_index()


def aggregated_per_warehouse(engine: Engine, want: pd.DataFrame) -> pd.DataFrame:
    """What the refresher stored, as :func:`per_warehouse` lays it out: ``agg_fulfil_daily``'s columns of ``want``
    summed per warehouse (-1: none) and the backlog's lines, on ``want``'s rows (0 where none)."""
    with engine.connect() as c:
        daily = pd.read_sql("SELECT * FROM agg_fulfil_daily", c)
        bl = pd.read_sql("SELECT warehouse_id, lines FROM agg_fulfil_backlog", c)
    daily["wh"] = daily["warehouse_id"].fillna(-1).astype(int)
    got = daily.groupby("wh")[[c for c in want.columns if c != "backlog"]].sum()
    got["backlog"] = bl.assign(wh=bl["warehouse_id"].fillna(-1).astype(int)).groupby("wh")["lines"].sum()
    return got.reindex(want.index).fillna(0)


def test_aggregates_equal_plain_pandas_per_warehouse(seeded_engine: Engine,
                                                     raw: tuple[pd.DataFrame, pd.Timestamp]) -> None:
    """The SQL refresher's agg_fulfil_daily / _hours / _backlog summed per warehouse, against the raw rows."""
    df, _ = raw
    want = per_warehouse(df)
    got = aggregated_per_warehouse(seeded_engine, want)
    with seeded_engine.connect() as c:
        hist = pd.read_sql("SELECT warehouse_id, channel_id, measure, bucket, n FROM agg_fulfil_hours "
                           "WHERE fine = 0", c)
    for col in want.columns:
        assert np.allclose(got[col].astype(float), want[col].astype(float), rtol=1e-9), col
    # Business-hour buckets: the SQL calendar arithmetic puts every line in the bucket ops.business_time gives.
    bus = df.loc[df["c2s_bus_h"].notna(), "c2s_bus_h"]
    want_b = pd.Series(np.searchsorted(EDGES, bus.to_numpy(), side="right")).value_counts().sort_index()
    cells = hist[(hist["measure"] == "c2s_bus") & (hist["channel_id"] != WAREHOUSE_ROLLUP)]
    assert cells.groupby("bucket")["n"].sum().sort_index().to_dict() == want_b.to_dict()
    # The warehouse-wide cells hold the same lines per warehouse and bucket (warehouse id 0: none).
    per_wh = df.loc[df["c2s_bus_h"].notna()].assign(b=np.searchsorted(EDGES, bus.to_numpy(), side="right"),
                                                    w=lambda d: d["warehouse_id"].fillna(0).astype(int))
    want_wh = per_wh.groupby(["w", "b"]).size().to_dict()
    wide = hist[(hist["measure"] == "c2s_bus") & (hist["channel_id"] == WAREHOUSE_ROLLUP)]
    assert wide.groupby(["warehouse_id", "bucket"])["n"].sum().to_dict() == want_wh
    assert (df["c2s_bus_h"].dropna() != df["c2s_h"].dropna()).any()  # weekends and holidays do count less
