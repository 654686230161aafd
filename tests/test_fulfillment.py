"""Fulfilment SLA on demo data (planted anomalies, vendor scoping, exports) and on a hand-made shop
(derived deadlines, SLA edits through the audit log)."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, func, insert, select

from ops import fulfillment as ful
from ops.access import SYSTEM, AccessDenied, Viewer
from ops.aggregates import refresh_all
from ops.db import as_day, transaction
from ops.decisions import StaleEdit, ValidationError
from ops.exports import run
from ops.filters import Filters
from ops.models import Channel, Decision, Order, OrderLine, Product, Shipment, Warehouse

pytest.importorskip("ops.demo")


def _anoms():  # type: ignore[no-untyped-def]
    from ops.demo import anomalies

    return anomalies("small", 7)


# --- planted anomalies on the seeded demo ---------------------------------------------------


def _raw_frames(engine: Engine) -> pd.DataFrame:
    """Lines with their order and first shipment, read with plain pandas (no ops code)."""
    with engine.connect() as c:
        o = pd.read_sql("SELECT id, status, paid_at, ship_by, warehouse_id FROM orders", c)
        ol = pd.read_sql("SELECT order_id, ship_by AS line_ship_by FROM order_lines", c)
        sh = pd.read_sql("SELECT order_id, shipped_at FROM shipments", c)
        wh = pd.read_sql("SELECT id, code, cutoff_time FROM warehouses", c)
    sh = sh.groupby("order_id", as_index=False)["shipped_at"].min()
    df = ol.merge(o, left_on="order_id", right_on="id").merge(sh, on="order_id", how="left")
    df = df.merge(wh.rename(columns={"id": "warehouse_id"}), on="warehouse_id", how="left")
    for col in ("paid_at", "ship_by", "line_ship_by", "shipped_at"):
        df[col] = pd.to_datetime(df[col])
    return df


def test_monday_cutoff_miss_is_plain_in_the_heatmap(seeded_engine: Engine) -> None:
    anoms = _anoms()
    raw = _raw_frames(seeded_engine)
    raw = raw[~raw["status"].isin(["cancelled", "unavailable"])]
    raw = raw[raw["shipped_at"].notna() & raw["line_ship_by"].fillna(raw["ship_by"]).notna()
              & raw["paid_at"].notna()]
    rates = {}
    with transaction(seeded_engine) as s:
        for code in raw["code"].dropna().unique():
            h = ful.late_heatmap(s, viewer=SYSTEM, filters=Filters(warehouses=(code,)))
            cutoff = int(str(raw.loc[raw["code"] == code, "cutoff_time"].iloc[0])[:2])
            cell = h[(h["dow"] == 0) & (h["hour"] < cutoff)]
            rates[code] = cell["late"].sum() / cell["shipped"].sum()
            # Same counts from the raw tables with plain pandas.
            mine = raw[(raw["code"] == code) & (raw["paid_at"].dt.dayofweek == 0) & (raw["paid_at"].dt.hour < cutoff)]
            late = mine["shipped_at"] > mine["line_ship_by"].fillna(mine["ship_by"])
            assert (int(cell["shipped"].sum()), int(cell["late"].sum())) == (len(mine), int(late.sum()))
    worst = max(rates, key=lambda k: rates[k])
    assert worst == anoms.monday_cutoff_warehouse
    assert rates[worst] > 0.5
    assert all(r < 0.2 for k, r in rates.items() if k != worst)


def test_late_lane_is_attributed_to_its_carrier(seeded_engine: Engine) -> None:
    anoms = _anoms()
    weeks = anoms.late_lane_weeks
    f = Filters(date_from=weeks[0] - dt.timedelta(days=7), date_to=weeks[-1] + dt.timedelta(days=6))
    with transaction(seeded_engine) as s:
        lanes = ful.lane_attribution(s, viewer=SYSTEM, filters=f)
        by_carrier = ful.sla_summary(s, viewer=SYSTEM, filters=f, by="carrier").set_index("group")
    top = lanes.iloc[0]
    assert (top["carrier"], top["lane"]) == (anoms.late_lane_carrier, anoms.late_lane)
    assert top["late_carrier"] > 5 * max(int(top["late_warehouse"]), 1)
    assert top["carrier_late_rate"] > 0.3
    assert by_carrier["late_carrier"].idxmax() == anoms.late_lane_carrier
    # Every late delivery is attributed exactly once.
    late = by_carrier["delivered"] - by_carrier["delivered_on_time"]
    assert (late == by_carrier["late_warehouse"] + by_carrier["late_carrier"] + by_carrier["late_unknown"]).all()


def test_three_pl_sees_only_its_warehouse_and_exports_match(seeded_engine: Engine) -> None:
    with transaction(seeded_engine) as s:
        operated = s.execute(select(Warehouse.code, Warehouse.operator_code)
                             .where(Warehouse.operator_code.is_not(None))).first()
        assert operated is not None
        code, op = operated
        tpl = Viewer(username="tpl", role="vendor", vendor_kind="warehouse", vendor_code=op)
        mine = ful.sla_summary(s, viewer=tpl, by="warehouse")
        allw = ful.sla_summary(s, viewer=SYSTEM, by="warehouse").set_index("group")
        exported = run(s, "fulfilment_summary_warehouse", viewer=tpl, filters=Filters())
        bl = ful.backlog(s, viewer=tpl)
        heat = ful.late_heatmap(s, viewer=tpl)
        heat_wh = ful.late_heatmap(s, viewer=SYSTEM, filters=Filters(warehouses=(code,)))
        supplier = Viewer(username="sup", role="vendor", vendor_kind="supplier", vendor_code="SUP-001")
        sup_rows = ful.sla_summary(s, viewer=supplier, by="warehouse")
    assert list(mine["group"]) == [code]
    assert int(mine["ship_counted"].iloc[0]) == int(allw.loc[code, "ship_counted"]) > 0
    assert float(mine["on_time_ship_rate"].iloc[0]) == pytest.approx(float(allw.loc[code, "on_time_ship_rate"]))
    pd.testing.assert_frame_equal(exported, mine)
    assert set(bl["warehouse"]) <= {code}
    pd.testing.assert_frame_equal(heat, heat_wh)
    # Demo lines are first-party stock (no marketplace seller): a supplier sees none of them.
    assert int(sup_rows["lines"].sum()) == 0


def test_exports_are_registered_and_scoped(seeded_engine: Engine) -> None:
    from ops.exports import load_registry

    names = [n for n, spec in load_registry().items() if spec.page == "fulfillment"]
    assert len(names) >= 10
    carrier = Viewer(username="c", role="vendor", vendor_kind="carrier", vendor_code=_anoms().late_lane_carrier)
    with transaction(seeded_engine) as s:
        for name in names:
            assert isinstance(run(s, name, viewer=SYSTEM, filters=Filters()), pd.DataFrame)
        with pytest.raises(AccessDenied):  # carriers do not have this page
            run(s, "fulfilment_backlog", viewer=carrier, filters=Filters())


def test_histogram_percentiles_are_close_to_exact(seeded_engine: Engine) -> None:
    with transaction(seeded_engine) as s:
        exact = ful.sla_summary(s, viewer=SYSTEM, by="warehouse", exact=True).set_index("group")
        approx = ful.sla_summary(s, viewer=SYSTEM, by="warehouse", exact=False).set_index("group")
        hist = ful.hours_histogram(s, viewer=SYSTEM, measure="c2s")
    assert bool(exact["exact"].all()) and not bool(approx["exact"].any())
    # Every line known to half an hour: within a quarter hour of exact (tests/test_fulfillment_percentiles.py).
    for col in ("c2s_median_h", "c2s_p90_h", "c2s_p99_h", "c2s_bus_median_h", "c2s_bus_p90_h", "c2s_bus_p99_h"):
        np.testing.assert_allclose(approx[col], exact[col], atol=0.25 + 1e-9)
    assert int(hist["lines"].sum()) == int(exact["c2s_lines"].sum())


def test_hist_percentile_by_hand() -> None:
    # 10 lines in [0,1) and 10 in [1,2): the median is the edge 1 h, p25 is 0.5 h.
    counts = pd.Series({1: 10, 2: 10})
    assert ful.hist_percentile(counts, 0.5) == pytest.approx(1.0)
    assert ful.hist_percentile(counts, 0.25) == pytest.approx(0.5)
    assert np.isnan(ful.hist_percentile(pd.Series(dtype=float), 0.5))


def test_bucket_percentiles_by_hand() -> None:
    """numpy's linear quantiles with every line at its bucket's middle, per key, worked out by hand."""
    from ops.fulfillment.metrics import bucket_percentiles

    rows = pd.DataFrame([
        # key 0: 2 lines in [10, 10.5), 1 in [11, 11.5), 1 in [20, 20.5) -> taken at 10.25, 10.25, 11.25, 20.25
        (0, 10.0, 10.5, 2), (0, 11.0, 11.5, 1), (0, 20.0, 20.5, 1),
        # key 1: one line in [-1, -0.5): every quantile is its middle
        (1, -1.0, -0.5, 1),
    ], columns=["key", "lo", "hi", "n"])
    got = bucket_percentiles(rows, {"median": 0.5, "p90": 0.9}).set_index("key")
    want = np.percentile([10.25, 10.25, 11.25, 20.25], [50, 90], method="linear")  # 10.75 and 17.55
    assert got.loc[0, "median"] == pytest.approx(want[0]) == pytest.approx(10.75)
    assert got.loc[0, "p90"] == pytest.approx(want[1]) == pytest.approx(17.55)
    assert got.loc[1].tolist() == [-0.75, -0.75]
    # within a quarter hour of the exact figure, wherever the lines sit inside their buckets
    rng = np.random.default_rng(3)
    values = rng.gamma(2.0, 20.0, 5_000)
    b = np.floor(values * 2)
    h = pd.DataFrame({"b": b}).value_counts().sort_index().reset_index(name="n")
    h = h.assign(key=0, lo=h["b"] / 2, hi=h["b"] / 2 + 0.5)
    qs = {"median": 0.5, "p90": 0.9, "p99": 0.99, "min": 0.0, "max": 1.0}
    est = bucket_percentiles(h, qs).iloc[0]
    for name, q in qs.items():
        assert abs(est[name] - np.quantile(values, q)) <= 0.25
    assert bucket_percentiles(rows.iloc[0:0], {"median": 0.5}).empty


# --- a hand-made shop: derived deadlines follow the SLA policy ------------------------------

FRIDAY = dt.datetime(2024, 1, 5)


def _tiny_shop(engine: Engine) -> None:
    """One warehouse (12:00 cut-off, Mon-Fri, same day) and three orders without a given ship-by."""
    with transaction(engine) as s:
        s.execute(insert(Warehouse).values(id=1, code="WH-T", name="Test", cutoff_time=dt.time(12),
                                           business_days="01234", handling_days=0, version=1,
                                           operator_code="3PL-T"))
        s.execute(insert(Channel).values(id=1, code="web", name="Web"))
        s.execute(insert(Product).values(id=1, sku="SKU-1", name="Thing", category="c"))
        orders = [  # paid, shipped
            ("A", FRIDAY.replace(hour=11), FRIDAY.replace(hour=23, minute=59, second=59)),  # at the deadline
            ("B", FRIDAY.replace(hour=11), FRIDAY + dt.timedelta(days=3, hours=9)),           # Monday: late
            ("C", FRIDAY.replace(hour=12), FRIDAY + dt.timedelta(days=3, hours=9)),           # cut-off: due Mon
            ("D", FRIDAY.replace(hour=9), None),                                              # backlog
        ]
        for i, (num, paid, shipped) in enumerate(orders, start=1):
            s.execute(insert(Order).values(id=i, order_number=num, channel_id=1, warehouse_id=1, status="shipped"
                                           if shipped else "processing", placed_at=paid, paid_at=paid))
            s.execute(insert(OrderLine).values(order_id=i, line_no=1, product_id=1, qty=1, unit_price=1.0))
            if shipped:
                s.execute(insert(Shipment).values(tracking_number=f"T{i}", order_id=i, warehouse_id=1,
                                                  shipped_at=shipped))
        refresh_all(s)


def test_derived_deadlines_and_sla_edit_is_audited(engine: Engine) -> None:
    _tiny_shop(engine)
    manager = Viewer(username="maria", role="manager")
    with transaction(engine) as s:
        before = ful.sla_summary(s, viewer=SYSTEM, by="all").iloc[0]
        bl = ful.backlog(s, viewer=SYSTEM)
    # A at the deadline is on time, B shipped Monday for a Friday deadline is late, C (paid at the cut-off) is
    # due Monday and on time.
    assert (int(before["ship_counted"]), int(before["ship_on_time"])) == (3, 2)
    assert before["avg_hours_late"] == pytest.approx(9 + 1 / 3600 + 48)  # Fri 23:59:59 -> Mon 09:00
    assert list(bl["order_number"]) == ["D"] and bl["ship_by"].iloc[0] == pd.Timestamp("2024-01-05 23:59:59")
    # Calendar hours Fri 11:00 -> Mon 09:00 = 70 h; business hours (Mon-Fri) = 13 h + 9 h = 22 h.
    with transaction(engine) as s:
        exact = ful.sla_summary(s, viewer=SYSTEM, by="all", exact=True).iloc[0]
    assert exact["c2s_median_h"] == pytest.approx(69.0)  # A 12.99 h, B 70 h, C 69 h
    assert exact["c2s_bus_median_h"] == pytest.approx(21.0)  # A ~13 h, B 22 h, C 21 h

    with transaction(engine) as s:
        version = ful.update_sla(s, viewer=manager, warehouse_code="WH-T", cutoff_time="12:00",
                                 business_days="01234", handling_days=1, expected_version=1, why="peak season")
    assert version == 2
    with transaction(engine) as s:
        # the write itself rebuilds nothing (no refresh inside a user's write): B is still late
        unchanged = ful.sla_summary(s, viewer=SYSTEM, by="all").iloc[0]
    assert int(unchanged["ship_on_time"]) == int(before["ship_on_time"])
    with transaction(engine) as s:
        ful.refresh(s)  # what the page does after the write commits
    with transaction(engine) as s:
        after = ful.sla_summary(s, viewer=SYSTEM, by="all").iloc[0]
        rows = s.scalars(select(Decision).where(Decision.action == "warehouse_sla.set")).all()
        policy = ful.sla_policies(s, viewer=SYSTEM).iloc[0]
    assert (int(after["ship_counted"]), int(after["ship_on_time"])) == (3, 3)  # B now due Monday
    assert len(rows) == 1 and rows[0].outcome == "applied" and rows[0].actor == "maria"
    assert json.loads(rows[0].before)["handling_days"] == 0 and json.loads(rows[0].after)["handling_days"] == 1
    assert (rows[0].vendor_kind, rows[0].vendor_code, rows[0].why) == ("warehouse", "3PL-T", "peak season")
    assert (policy["handling_days"], policy["version"]) == (1, 2)


@pytest.mark.parametrize(("who", "kwargs", "error"), [
    ("manager", {"expected_version": 0}, StaleEdit),
    ("manager", {"business_days": "0178"}, ValidationError),
    ("manager", {"cutoff_time": "25:00"}, ValidationError),
    ("manager", {"handling_days": -1}, ValidationError),
    ("vendor", {}, AccessDenied),
])
def test_refused_sla_edits_change_nothing_and_are_audited(engine: Engine, who: str, kwargs: dict,
                                                          error: type[Exception]) -> None:
    _tiny_shop(engine)
    viewer = (Viewer(username="maria", role="manager") if who == "manager"
              else Viewer(username="tpl", role="vendor", vendor_kind="warehouse", vendor_code="3PL-T"))
    args = {"cutoff_time": "10:00", "business_days": "01234", "handling_days": 2, "expected_version": 1} | kwargs
    with pytest.raises(error), transaction(engine) as s:
        ful.update_sla(s, viewer=viewer, warehouse_code="WH-T", **args)
    with transaction(engine) as s:
        wh = s.scalars(select(Warehouse)).one()
        rows = s.scalars(select(Decision).where(Decision.entity_kind == ful.SLA_ENTITY)).all()
    assert (wh.cutoff_time, wh.handling_days, wh.version) == (dt.time(12), 0, 1)
    assert [r.outcome for r in rows] == ["refused"]


# --- the page's one-pass load equals the per-table reads -----------------------------------------


@pytest.mark.parametrize(("by", "days", "vendor"), [
    ("warehouse", 90, None), ("channel", 30, None), ("all", 3, None), ("seller_region", 90, "3pl"),
])
def test_page_load_equals_the_per_table_functions(seeded_engine: Engine, by: str, days: int,
                                                  vendor: str | None) -> None:
    with transaction(seeded_engine) as s:
        end = (ful.as_of(s) - dt.timedelta(days=1)).date()
        viewer = SYSTEM
        if vendor == "3pl":
            op = s.scalar(select(Warehouse.operator_code).where(Warehouse.operator_code.is_not(None)))
            viewer = Viewer(username="tpl", role="vendor", vendor_kind="warehouse", vendor_code=op)
        flt = Filters(date_from=end - dt.timedelta(days=days - 1), date_to=end)
        page = ful.fulfillment_page(s, viewer=viewer, filters=flt, by=by)
        # kpis() and exceptions() return this page's own frames (tests/test_fulfillment_raw.py checks the
        # KPIs against the raw rows); the frames below are computed by separate reads.
        want = {
            "summary": ful.sla_summary(s, viewer=viewer, filters=flt, by=by),
            "backlog": ful.backlog(s, viewer=viewer, filters=flt),
            "backlog_bands": ful.backlog_by_warehouse(s, viewer=viewer, filters=flt),
            "trend": ful.ontime_trend(s, viewer=viewer, filters=flt, grain="week", by=by),
        }
    assert page.summary["lines"].sum() > 0
    for name, frame in want.items():
        got = getattr(page, name)
        if name == "backlog":  # rows tied on (ship_by, order_number) may come in either order
            keys = ["ship_by", "order_number", "seller"]
            got, frame = got.sort_values(keys), frame.sort_values(keys)
        pd.testing.assert_frame_equal(got.reset_index(drop=True), frame.reset_index(drop=True), obj=name)


# --- what the page shows agrees with itself (empty ranges, backlog, findings, vendor policy) -------


def _as_of(engine: Engine) -> dt.datetime:
    """The data's "now", read with plain SQL: the end of the last inventory snapshot day."""
    with engine.connect() as c:
        last = pd.read_sql("SELECT MAX(day) AS d FROM inventory_snapshots", c)["d"].iloc[0]
    return pd.Timestamp(str(last)[:10]).to_pydatetime() + dt.timedelta(days=1)


@pytest.mark.parametrize("where", ["future", "past"])
def test_kpis_of_a_range_without_lines_are_empty_and_say_why(seeded_engine: Engine, where: str) -> None:
    with seeded_engine.connect() as c:
        placed = pd.to_datetime(pd.read_sql("SELECT placed_at FROM orders", c)["placed_at"])
    first, last = placed.min().date(), placed.max().date()
    span = (last + dt.timedelta(days=30), last + dt.timedelta(days=60)) if where == "future" else \
        (first - dt.timedelta(days=60), first - dt.timedelta(days=30))
    flt = Filters(date_from=span[0], date_to=span[1])
    with transaction(seeded_engine) as s:
        page = ful.fulfillment_page(s, viewer=SYSTEM, filters=flt)
    k = page.kpis.set_index("kpi")
    # A future range used to show last week's 95 % and ~2,000 lines: nothing of the range may show.
    assert k[["value", "change"]].loc[["on_time_ship_rate", "on_time_delivery_rate", "c2s_median_h"]].isna().all().all()
    assert k.loc["lines_shipped", "value"] == 0 and pd.isna(k.loc["lines_shipped", "change"])
    assert k.loc["late_unshipped_lines", "value"] == 0
    assert page.summary["lines"].sum() == 0 and page.backlog.empty and page.exceptions.empty
    assert page.empty_reason is not None
    assert "holds no order lines" in page.empty_reason
    assert f"from {first} to {last}" in page.empty_reason


@pytest.mark.parametrize("back", [0, 5])
def test_late_unshipped_tile_is_the_ranges_backlog_and_the_note_agrees(seeded_engine: Engine, back: int) -> None:
    now = _as_of(seeded_engine)
    end = (now - dt.timedelta(days=1 + back)).date()
    flt = Filters(date_from=end - dt.timedelta(days=30), date_to=end)
    raw = _raw_frames(seeded_engine)
    with seeded_engine.connect() as c:
        placed = pd.read_sql("SELECT id, placed_at FROM orders", c)
    raw = raw.merge(placed.rename(columns={"id": "order_id"}), on="order_id")
    raw["placed_at"] = pd.to_datetime(raw["placed_at"])
    in_range = raw["placed_at"].dt.date.between(flt.date_from, flt.date_to)
    waiting = (~raw["status"].isin(["cancelled", "unavailable", "shipped", "delivered"])) & raw["shipped_at"].isna()
    deadline = raw["line_ship_by"].fillna(raw["ship_by"])
    want_range = int((in_range & waiting & (deadline < pd.Timestamp(now))).sum())
    want_all = int((waiting & (deadline < pd.Timestamp(now))).sum())
    if back:  # the case that used to count every date
        assert want_range < want_all
    with transaction(seeded_engine) as s:
        page = ful.fulfillment_page(s, viewer=SYSTEM, filters=flt)
    tile = page.kpis.set_index("kpi").loc["late_unshipped_lines", "value"]
    assert tile == want_range
    assert int(page.summary["late_unshipped_lines"].sum()) == want_range
    # The exceptions sentence states the same number, and never "no backlog" beside a late line.
    n_backlog = int((page.exceptions["kind"] == "backlog").sum())
    if want_range:
        assert f"{want_range:,} late and unshipped line" in page.exceptions_note
    if n_backlog:
        assert f"{n_backlog:,} order" in page.exceptions_note
    elif want_range:
        assert "none more than the backlog alert age" in page.exceptions_note
    else:
        assert page.exceptions_note.startswith("No late and unshipped lines")


def test_findings_name_the_monday_cutoff_warehouse(seeded_engine: Engine) -> None:
    anoms = _anoms()
    raw = _raw_frames(seeded_engine)
    raw = raw[~raw["status"].isin(["cancelled", "unavailable"]) & raw["paid_at"].notna() & raw["shipped_at"].notna()]
    raw = raw.assign(deadline=raw["line_ship_by"].fillna(raw["ship_by"]))
    raw = raw[raw["deadline"].notna()]
    late = raw["shipped_at"] > raw["deadline"]
    # The weekday each line is due on by its warehouse's rule, worked out by hand (demo warehouses ship
    # Mon-Fri, same day when paid before the cut-off, else the next weekday; holidays are not counted).
    cutoff = pd.to_timedelta(raw["cutoff_time"].astype(str).str[:8])
    paid_dow = raw["paid_at"].dt.dayofweek
    same_day = (paid_dow < 5) & (raw["paid_at"] - raw["paid_at"].dt.normalize() < cutoff)
    due_dow = paid_dow.where(same_day, (paid_dow + 1) % 7).where(lambda d: d < 5, 0)
    mine = (raw["code"] == anoms.monday_cutoff_warehouse) & (due_dow == 0)
    want_rate, want_rest = float(late[mine].mean()), float(late[~mine].mean())
    # ... close to the share of lines whose real deadline (holidays counted) is a Monday.
    real = (raw["code"] == anoms.monday_cutoff_warehouse) & (raw["deadline"].dt.dayofweek == 0)
    with transaction(seeded_engine) as s:
        found = ful.late_findings(s, viewer=SYSTEM)
    assert len(found) == 1, found  # Monday at one warehouse, not the four paid-day cells feeding it
    top = found.iloc[0]
    assert (top["warehouse"], top["weekday"]) == (anoms.monday_cutoff_warehouse, "Mon")
    assert (top["shipped"], top["late"]) == (int(mine.sum()), int(late[mine].sum()))
    assert top["late_rate"] == pytest.approx(want_rate)
    assert top["others_rate"] == pytest.approx(want_rest)
    assert top["late_rate"] == pytest.approx(float(late[real].mean()), abs=0.1)
    assert "Mon" in top["finding"] and anoms.monday_cutoff_warehouse in top["finding"]


def test_lane_weekly_puts_the_late_lanes_bad_weeks_on_top(seeded_engine: Engine) -> None:
    anoms = _anoms()
    with seeded_engine.connect() as c:
        o = pd.read_sql("SELECT id AS order_id, status, placed_at FROM orders", c)
        ol = pd.read_sql("SELECT order_id FROM order_lines", c)
        sh = pd.read_sql("SELECT s.order_id, s.lane, s.promised_at, s.delivered_at, c.code AS carrier "
                         "FROM shipments s JOIN carriers c ON c.id = s.carrier_id", c)
    sh = sh.sort_values("carrier").groupby("order_id", as_index=False).first()
    df = ol.merge(o, on="order_id").merge(sh, on="order_id")
    df = df[~df["status"].isin(["cancelled", "unavailable"]) & df["delivered_at"].notna() & df["promised_at"].notna()]
    placed = pd.to_datetime(df["placed_at"])
    df["week"] = (placed - pd.to_timedelta(placed.dt.dayofweek, unit="D")).dt.normalize()
    delivered, promised = pd.to_datetime(df["delivered_at"]), pd.to_datetime(df["promised_at"])
    df["on_time"] = delivered.dt.normalize() <= promised.dt.normalize()
    lane = df[(df["carrier"] == anoms.late_lane_carrier) & (df["lane"] == anoms.late_lane)]
    by_week = lane.groupby("week")["on_time"].agg(["size", "mean"])
    with transaction(seeded_engine) as s:
        weekly = ful.lane_weekly(s, viewer=SYSTEM)
    worst = ful.worst_lane_weeks(weekly, n=3)
    assert set(zip(worst["carrier"], worst["lane"], strict=True)) == {(anoms.late_lane_carrier, anoms.late_lane)}
    assert {d.date() for d in worst["period"]} == set(anoms.late_lane_weeks)
    for r in worst.itertuples(index=False):
        assert r.delivered == by_week.loc[r.period, "size"]
        assert r.on_time_delivery_rate == pytest.approx(by_week.loc[r.period, "mean"])
        assert r.on_time_delivery_rate < 0.5 < r.all_lanes_rate
    assert weekly.loc[weekly["rank"] == 1, "series"].iloc[0] == f"{anoms.late_lane_carrier} · {anoms.late_lane}"


def test_vendors_see_only_their_warehouses_sla_policy(seeded_engine: Engine) -> None:
    anoms = _anoms()
    with seeded_engine.connect() as c:
        wh = pd.read_sql("SELECT id, code, name, operator_code FROM warehouses", c)
        first_carrier = pd.read_sql("SELECT o.warehouse_id, MIN(c.code) AS carrier FROM orders o "
                                    "JOIN shipments s ON s.order_id = o.id JOIN carriers c ON c.id = s.carrier_id "
                                    "GROUP BY o.id, o.warehouse_id", c)
    operated = wh[wh["operator_code"].notna()].iloc[0]
    carried = set(wh.set_index("id").loc[
        first_carrier.loc[first_carrier["carrier"] == anoms.late_lane_carrier, "warehouse_id"].unique(), "code"])
    viewers = {
        "supplier": Viewer(username="s", role="vendor", vendor_kind="supplier", vendor_code="SUP-001"),
        "carrier": Viewer(username="c", role="vendor", vendor_kind="carrier", vendor_code=anoms.late_lane_carrier),
        "3pl": Viewer(username="t", role="vendor", vendor_kind="warehouse", vendor_code=operated["operator_code"]),
    }
    with transaction(seeded_engine) as s:
        got = {k: ful.sla_policies(s, viewer=v) for k, v in viewers.items()}
        staff = ful.sla_policies(s, viewer=SYSTEM)
    assert set(staff["warehouse"]) == set(wh["code"])
    assert got["supplier"].empty  # SUP-001 sold no order line: no warehouse ships for it
    assert set(got["carrier"]["warehouse"]) == carried and carried
    assert list(got["3pl"]["warehouse"]) == [operated["code"]]
    assert list(got["3pl"]["name"]) == [operated["name"]]
    # Another vendor's name never shows: a carrier sees codes, not "City (Operator)".
    shown = " ".join(got["carrier"].astype(str).to_numpy().ravel())
    for _, w in wh[wh["operator_code"].notna()].iterrows():
        assert w["name"] not in shown and w["operator_code"] not in shown
    assert list(got["carrier"]["business_day_names"].unique()) == ["Mon, Tue, Wed, Thu, Fri"]


def test_an_empty_business_days_list_is_refused_in_plain_words(engine: Engine) -> None:
    _tiny_shop(engine)
    manager = Viewer(username="maria", role="manager")
    with pytest.raises(ValidationError, match=r"^Pick at least one business day for WH-T"), transaction(engine) as s:
        ful.update_sla(s, viewer=manager, warehouse_code="WH-T", cutoff_time="12:00", business_days="",
                       handling_days=0, expected_version=1)
    with transaction(engine) as s:
        assert s.scalars(select(Warehouse)).one().business_days == "01234"


def test_as_of_reads_the_settled_last_snapshot_day_like_reference(engine: Engine) -> None:
    """The page's as-of day is the last snapshot day (ops.reference.last_day), and a stray 2099 day does not move it."""
    from ops.demo import seed
    from ops.models import InventorySnapshot
    from ops.reference import last_day

    seed(engine, size="small", seed=7)
    with transaction(engine) as s:
        want = as_day(s.scalar(select(func.max(InventorySnapshot.day))))
        assert want is not None and last_day(s, InventorySnapshot.day) == want
        row = s.scalars(select(InventorySnapshot).limit(1)).one()
        s.add(InventorySnapshot(product_id=row.product_id, warehouse_id=row.warehouse_id, day=dt.date(2099, 1, 1),
                                on_hand=1))
        s.flush()
        assert last_day(s, InventorySnapshot.day) == want  # a stray day does not move it
        assert ful.as_of(s) == dt.datetime.combine(want + dt.timedelta(days=1), dt.time())
