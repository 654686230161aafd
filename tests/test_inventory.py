"""Inventory health: the math against hand-computed values and plain pandas over raw rows,
on SQLite and PostgreSQL; exceptions, thresholds, vendor scoping and export parity."""

from __future__ import annotations

import datetime as dt
import math
import random

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, insert

from ops.access import Viewer
from ops.db import transaction
from ops.filters import Filters
from ops.inventory import exception_key, inventory_health, projection, refresh_inventory
from ops.inventory import metrics as im
from ops.inventory.queries import days_to_datetime, to_date
from ops.models import (
    Channel,
    InventorySnapshot,
    Order,
    OrderLine,
    Product,
    PurchaseOrder,
    PurchaseOrderLine,
    Supplier,
    Warehouse,
)

AS_OF = dt.date(2024, 6, 30)
ADMIN = Viewer(username="ada", role="admin")
MANAGER = Viewer(username="meg", role="manager")


def day(n: int) -> dt.date:
    """The day ``n`` days before the as-of day."""
    return AS_OF - dt.timedelta(days=n)


# --- pure math ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("units", "window", "stockout", "expected"),
    [(56, 28, 0, 2.0), (30, 28, 13, 2.0), (0, 28, 0, 0.0), (5, 28, 28, 0.0), (28, 28, 0, 1.0)],
)
def test_avg_daily_demand_excludes_stockout_days(units: int, window: int, stockout: int, expected: float) -> None:
    assert im.avg_daily_demand(units, window, stockout) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("on_hand", "rate", "expected"), [(100, 2.0, 50.0), (10, 0.0, math.inf), (0, 3.0, 0.0), (-5, 1.0, 0.0)]
)
def test_days_of_cover(on_hand: int, rate: float, expected: float) -> None:
    assert im.days_of_cover(on_hand, rate) == expected


@pytest.mark.parametrize(
    ("on_hand", "rate", "arrivals", "stockout", "gap"),
    [
        (100, 2.0, [], 50, None),  # 100 / 2: end of day 50 is 0
        (10, 3.0, [], 4, None),  # 10 - 3*4 = -2 on day 4 (day 3 ends at 1)
        (10, 2.0, [(1, 20)], 15, None),  # overdue PO arrives day 1: 30 / 2
        (8, 2.0, [(10, 50)], 4, 6),  # out on day 4, PO lands day 10
        (-5, 1.0, [(3, 10)], 0, 3),  # already out; PO in 3 days
        (10, 0.0, [], None, None),  # no demand, no stockout
        (10, 1.0, [(5, 2), (5, 3)], 15, None),  # two lines the same day add up
    ],
)
def test_projected_stockout_by_hand(on_hand: int, rate: float, arrivals: list, stockout: int | None,
                                    gap: int | None) -> None:
    assert im.project_stockout(on_hand, rate, arrivals) == stockout
    pairs = pd.DataFrame({"key": ["k"], "on_hand": [on_hand], "rate": [rate]})
    arr = pd.DataFrame([{"key": "k", "day": d, "qty": q} for d, q in arrivals], columns=["key", "day", "qty"])
    got = im.project_stockouts(pairs, arr).iloc[0]
    assert (None if np.isnan(got["stockout_day"]) else int(got["stockout_day"])) == stockout
    assert (None if np.isnan(got["gap_days"]) else int(got["gap_days"])) == gap


def test_vectorised_projection_matches_day_by_day_walk() -> None:
    rng = random.Random(3)
    rows, arrivals, expected = [], [], []
    for i in range(400):
        h = rng.choice([-4, 0, 1, 7, 30, 120])
        r = rng.choice([0.0, 0.25, 1.0, 2.5, 6.0])
        arr = [(rng.randint(1, 60), rng.randint(1, 80)) for _ in range(rng.randint(0, 3))]
        rows.append({"key": i, "on_hand": h, "rate": r})
        arrivals += [{"key": i, "day": d, "qty": q} for d, q in arr]
        expected.append(im.project_stockout(h, r, arr))
    got = im.project_stockouts(pd.DataFrame(rows), pd.DataFrame(arrivals))["stockout_day"]
    assert [None if np.isnan(v) else int(v) for v in got] == expected


def test_projection_keeps_same_day_arrivals_apart_from_other_pairs() -> None:
    # two POs of one pair on one day add up; another pair's PO on that day does not count for it
    days, gap = im.project_stockout_days(np.array([10.0, 10.0]), np.array([2.0, 2.0]), np.array([0, 1, 0]),
                                         np.array([3, 3, 3]), np.array([4.0, 100.0, 6.0]))
    # pair 0: 10 + 10 arriving on day 3 at 2 a day -> 20 - 2k <= 0 at k = 10; pair 1: (110 - 2k) -> 55
    assert days.tolist() == [10.0, 55.0] and np.isnan(gap).all()


def test_run_sums_equal_groupby_sums_bit_for_bit() -> None:
    # Sums a SKU's rows exactly as pandas' groupby().sum() does (compensated), so the page's
    # numbers do not move by an ulp; plain left-to-right sums differ on some of these runs.
    rng = np.random.default_rng(7)
    lengths = rng.integers(1, 7, 3000)
    labels = np.repeat(np.arange(len(lengths)), lengths)
    values = rng.choice([1e-3, 1.0, 1e3, 1e8], len(labels)) * rng.standard_normal(len(labels))
    values[rng.random(len(labels)) < 0.02] = np.nan
    starts = np.r_[0, np.cumsum(lengths)[:-1]]
    want = pd.Series(values).groupby(labels).sum().to_numpy()
    got = im.run_sums(values, starts)
    assert np.array_equal(got, want)
    plain = np.add.reduceat(np.nan_to_num(values), starts)
    assert not np.array_equal(plain, want)  # the case the compensation is for does occur here


def test_abc_arrays_equal_the_series_rule() -> None:
    rng = np.random.default_rng(11)
    values = np.round(rng.exponential(100.0, 500), 0)  # ties in value: broken by key
    values[:20] = 0.0
    values[20:25] = np.nan
    keys = np.array([f"K{i:04d}" for i in range(500)], dtype=object)
    shuffled = rng.permutation(500)
    by_series = im.abc_classes(pd.Series(values[shuffled], index=keys[shuffled]))
    by_array = im.abc_class_array(values, a_cut=80, b_cut=95)  # keys already in order
    assert by_series.reindex(keys).tolist() == by_array.tolist()
    # by hand: descending value, ties by key; A while the share before the item is below 80 %
    order = sorted(range(500), key=lambda i: (-np.nan_to_num(values[i], nan=-1), keys[i]))
    total = float(np.nansum(values))
    before, want = 0.0, {}
    for i in order:
        v = 0.0 if np.isnan(values[i]) else values[i]
        share = before / total
        want[i] = "C" if v <= 0 else "A" if share < 0.8 - 1e-9 else "B" if share < 0.95 - 1e-9 else "C"
        before += v
    assert by_array.tolist() == [want[i] for i in range(500)]


def test_dates_read_as_day_numbers_equal_the_parsed_dates() -> None:
    # the page reads dates as days since 1970 (cheap numbers) instead of ISO text: same days,
    # the time of day dropped, and NaT where datetime64[ns] cannot hold the day
    texts = ["2024-06-30", None, "1970-01-01", "1969-12-31", "2024-02-29", "2024-03-01 18:30:00",
             "2262-04-11", "2262-04-12", "1677-09-22", "1677-09-21"]
    epoch = dt.datetime(1970, 1, 1)
    days = [None if t is None else (dt.datetime.fromisoformat(t) - epoch).total_seconds() / 86400 for t in texts]
    got = pd.Series(days_to_datetime(days))
    want = to_date(pd.Series(texts, dtype=object))
    pd.testing.assert_series_equal(got, want, check_names=False)
    assert got.isna().tolist() == [False, True, False, False, False, False, False, True, False, True]


def test_abc_boundary_item_and_zero_value() -> None:
    values = pd.Series({"a": 50.0, "b": 31.0, "c": 10.0, "d": 6.0, "e": 3.0, "z": 0.0})
    # shares before: a 0, b .50, c .81, d .91, e .97 -> A A B B C; zero value is C
    assert im.abc_classes(values).to_dict() == {"a": "A", "b": "A", "c": "B", "d": "B", "e": "C", "z": "C"}
    with pytest.raises(ValueError, match="ABC cut-offs"):
        im.abc_classes(values, a_cut=90, b_cut=80)


@pytest.mark.parametrize(
    ("weekly", "pattern", "xyz"),
    [
        ([10] * 52, "smooth", "X"),
        ([1, 30] * 26, "erratic", "Y"),  # every week, sizes vary a lot: CV 14.5 / 15.5
        ([0, 0, 5] * 17 + [0], "intermittent", "Z"),  # one week in three, same size
        ([0, 0, 1, 0, 0, 40] * 8 + [0, 0, 0, 0], "lumpy", "Z"),
        ([0] * 51 + [28], "intermittent", "Z"),  # all demand in one week: ADI 52, CV^2 0
        ([0] * 52, "none", "Z"),
    ],
)
def test_demand_pattern_and_xyz(weekly: list[int], pattern: str, xyz: str) -> None:
    w = np.asarray(weekly, dtype=float)
    stats = im.weekly_stats_frame(pd.Series([(w > 0).sum()]), pd.Series([w.sum()]), pd.Series([(w * w).sum()]))
    assert im.demand_pattern(stats["adi"], stats["cv2"]).iloc[0] == pattern
    assert im.xyz_class(stats["cv"]).iloc[0] == xyz
    if w.sum():
        nz = w[w > 0]
        assert stats["cv"].iloc[0] == pytest.approx(w.std() / w.mean())
        assert stats["adi"].iloc[0] == pytest.approx(52 / len(nz))
        assert stats["cv2"].iloc[0] == pytest.approx((nz.std() / nz.mean()) ** 2, abs=1e-12)


# --- a tiny hand-built database -------------------------------------------------------------


class Builder:
    """Insert raw rows (and keep them, for plain-pandas checks)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.n_orders = 0
        self.n_pos = 0
        with transaction(engine) as s:
            s.execute(insert(Supplier), [{"id": 1, "code": "SUP-001", "name": "One", "lead_time_days": 10},
                                         {"id": 2, "code": "SUP-002", "name": "Two", "lead_time_days": 30}])
            s.execute(insert(Warehouse), [{"id": 1, "code": "WH-A", "name": "A"},
                                          {"id": 2, "code": "WH-B", "name": "B"}])
            s.execute(insert(Channel), [{"id": 1, "code": "web", "name": "Web"}])
        self.products: dict[str, int] = {}
        self.orders: list[dict] = []
        self.lines: list[dict] = []

    def product(self, sku: str, *, supplier: int = 1, price: float = 10.0, cost: float = 4.0,
                lead: int | None = None) -> int:
        pid = len(self.products) + 1
        with transaction(self.engine) as s:
            s.execute(insert(Product).values(id=pid, sku=sku, name=f"Name {sku}", category="cat", unit_cost=cost,
                                             price=price, supplier_id=supplier, lead_time_days=lead))
        self.products[sku] = pid
        return pid

    def stock(self, sku: str, wh: int, levels: dict[int, int], *, days: int = 120, default: int = 50) -> None:
        """Daily snapshots for the last ``days`` days; ``levels`` maps days-before to on hand."""
        rows = [{"product_id": self.products[sku], "warehouse_id": wh, "day": day(n),
                 "on_hand": levels.get(n, default)} for n in range(days)]
        with transaction(self.engine) as s:
            s.execute(insert(InventorySnapshot), rows)

    def sell(self, sku: str, wh: int | None, n_days_before: int, qty: int, *, price: float = 10.0,
             status: str = "delivered", hour: int = 15) -> None:
        self.n_orders += 1
        at = dt.datetime.combine(day(n_days_before), dt.time(hour, 30))
        self.orders.append({"id": self.n_orders, "order_number": f"O{self.n_orders:05d}", "channel_id": 1,
                            "warehouse_id": wh, "status": status, "placed_at": at})
        self.lines.append({"order_id": self.n_orders, "line_no": 1, "product_id": self.products[sku], "qty": qty,
                           "unit_price": price})

    def po(self, sku: str, wh: int, *, expected: dt.date | None, qty: int, received: int = 0,
           status: str = "open", received_on: dt.date | None = None, supplier: int = 1) -> str:
        self.n_pos += 1
        number = f"PO-{self.n_pos:04d}"
        with transaction(self.engine) as s:
            po_id = s.execute(insert(PurchaseOrder).values(
                po_number=number, supplier_id=supplier, warehouse_id=wh, status=status, ordered_on=day(60),
                expected_on=expected).returning(PurchaseOrder.id)).scalar_one()
            s.execute(insert(PurchaseOrderLine).values(po_id=po_id, product_id=self.products[sku], qty_ordered=qty,
                                                       qty_received=received, received_on=received_on))
        return number

    def refresh(self) -> None:
        with transaction(self.engine) as s:
            if self.orders:
                s.execute(insert(Order), self.orders)
                s.execute(insert(OrderLine), self.lines)
            self.orders, self.lines = [], []
            refresh_inventory(s)  # this page's refresher only: the test is about its aggregates


@pytest.fixture
def tiny(engine: Engine) -> Builder:
    b = Builder(engine)
    # FLAT: 2 a day for 28 days, 100 on hand, no PO -> rate 2, cover 50, out on day 50
    b.product("FLAT")
    b.stock("FLAT", 1, {0: 100})
    for n in range(28):
        b.sell("FLAT", 1, n, 2)
    b.sell("FLAT", 1, 5, 99, status="cancelled")  # cancelled: not demand
    b.sell("FLAT", None, 5, 99)  # no warehouse: not attributed
    # NODEM: stock, never sold -> cover inf, no stockout, dead stock
    b.product("NODEM", cost=3.0)
    b.stock("NODEM", 1, {}, default=10)
    # ONEDAY: all 28 units on one day -> rate 1, one week with demand: intermittent
    b.product("ONEDAY")
    b.stock("ONEDAY", 1, {0: 20})
    b.sell("ONEDAY", 1, 3, 28)
    # NEG: negative on hand today, 1 a day -> cover 0, out today
    b.product("NEG")
    b.stock("NEG", 1, {0: -5})
    for n in range(28):
        b.sell("NEG", 1, n, 1)
    # OVERDUE: 10 on hand, 2 a day, a PO of 20 expected 5 days ago -> arrives day 1, out on day 15
    b.product("OVERDUE")
    b.stock("OVERDUE", 1, {0: 10})
    for n in range(28):
        b.sell("OVERDUE", 1, n, 2)
    b.po("OVERDUE", 1, expected=day(5), qty=25, received=5)
    # SO: out of stock days 15..27 before (13 days); 30 units on the other days -> rate 2;
    # 8 on hand, PO of 50 in 10 days -> out on day 4, gap 6; lost 26 units in the window
    b.product("SO", price=12.0, supplier=2)
    b.stock("SO", 2, {**dict.fromkeys(range(15, 28), 0), 0: 8})
    for n in range(15):
        b.sell("SO", 2, n, 2)
    b.po("SO", 2, expected=day(-10), qty=50)
    b.po("SO", 2, expected=day(40), qty=7, received=7, status="received", received_on=day(40))
    b.refresh()
    return b


def _health(engine: Engine, viewer: Viewer = ADMIN, **kw: object):  # type: ignore[no-untyped-def]
    with transaction(engine) as s:
        return inventory_health(s, viewer=viewer, **kw)


def _row(df: pd.DataFrame, sku: str) -> pd.Series:
    hit = df[df["sku"] == sku]
    assert len(hit) == 1, f"{sku}: {len(hit)} rows"
    return hit.iloc[0]


def test_positions_match_hand_computed_values(tiny: Builder) -> None:
    h = _health(tiny.engine)
    assert h.as_of == AS_OF
    p = h.positions
    flat = _row(p, "FLAT")
    assert (flat["on_hand"], flat["units"], flat["stockout_days"]) == (100, 56, 0)
    assert flat["avg_daily_demand"] == pytest.approx(2.0)
    assert flat["days_of_cover"] == pytest.approx(50.0)
    assert flat["projected_stockout"].date() == AS_OF + dt.timedelta(days=50)

    nodem = _row(p, "NODEM")
    assert nodem["avg_daily_demand"] == 0 and math.isinf(nodem["days_of_cover"])
    assert pd.isna(nodem["projected_stockout"]) and nodem["pattern"] == "none" and nodem["dead"]

    one = _row(p, "ONEDAY")
    assert one["avg_daily_demand"] == pytest.approx(1.0) and one["days_of_cover"] == pytest.approx(20.0)
    assert one["pattern"] == "intermittent"

    neg = _row(p, "NEG")
    assert neg["days_of_cover"] == 0 and neg["projected_stockout"].date() == AS_OF and neg["out_of_stock"]

    od = _row(p, "OVERDUE")
    assert od["on_order"] == 20 and od["po_overdue"]
    assert od["next_po"].date() == AS_OF + dt.timedelta(days=1)
    assert od["projected_stockout"].date() == AS_OF + dt.timedelta(days=15)

    so = _row(p, "SO")
    assert (so["units"], so["stockout_days"]) == (30, 13)
    assert so["avg_daily_demand"] == pytest.approx(2.0) and so["days_of_cover"] == pytest.approx(4.0)
    assert so["projected_stockout"].date() == AS_OF + dt.timedelta(days=4) and so["gap_days"] == 6
    assert so["lost_units"] == pytest.approx(26.0) and so["lost_revenue"] == pytest.approx(26 * 12.0)
    assert so["last_receipt"].date() == day(40) and so["lead_time_days"] == 30


def test_projection_line_for_one_sku(tiny: Builder) -> None:
    with transaction(tiny.engine) as s:
        line = projection(s, viewer=ADMIN, sku="SO", warehouse="WH-B", horizon=12)
    assert line["on_hand"].tolist()[:5] == pytest.approx([8, 6, 4, 2, 0])
    assert line.loc[10, "arrivals"] == 50 and line.loc[10, "po_numbers"] == "PO-0002"
    assert line.loc[10, "on_hand"] == pytest.approx(8 + 50 - 20)


def test_windows_against_plain_pandas_from_raw_rows(engine: Engine) -> None:
    """Random pairs; every window's rate, cover and stockout recomputed with pandas from raw rows."""
    rng = random.Random(11)
    b = Builder(engine)
    raw_sales, raw_snap = [], []
    for i in range(6):
        sku = f"R{i}"
        b.product(sku, price=5.0 + i)
        levels = {n: (0 if rng.random() < 0.15 else rng.randint(1, 90)) for n in range(120)}
        b.stock(sku, 1 + i % 2, levels)
        raw_snap += [{"sku": sku, "n": n, "on_hand": v} for n, v in levels.items()]
        for n in range(130):
            if rng.random() < 0.4:
                q = rng.randint(1, 6)
                b.sell(sku, 1 + i % 2, n, q)
                raw_sales.append({"sku": sku, "n": n, "qty": q})
    b.refresh()
    sales, snap = pd.DataFrame(raw_sales), pd.DataFrame(raw_snap)
    for window in im.WINDOWS:
        p = _health(engine, window=window).positions.set_index("sku")
        for sku in p.index:
            units = sales[(sales["sku"] == sku) & (sales["n"] < window)]["qty"].sum()
            out = ((snap["sku"] == sku) & (snap["n"] < window) & (snap["on_hand"] <= 0)).sum()
            rate = units / (window - out) if window > out else 0.0
            oh = snap[(snap["sku"] == sku) & (snap["n"] == 0)]["on_hand"].iloc[0]
            k, stock = None, float(oh)
            if oh <= 0:
                k = 0
            elif rate > 0:
                for d in range(1, 366):
                    stock -= rate
                    if stock <= 1e-9:
                        k = d
                        break
            r = p.loc[sku]
            assert (r["units"], r["stockout_days"]) == (units, out), (sku, window)
            assert r["avg_daily_demand"] == pytest.approx(rate)
            assert r["days_of_cover"] == pytest.approx(0.0 if oh <= 0 else (oh / rate if rate else math.inf))
            got = r["projected_stockout"]
            assert (None if pd.isna(got) else (got.date() - AS_OF).days) == k, (sku, window)
    # weekly demand stats over 52 weeks (week 0 = the 7 days ending on the as-of day)
    p = _health(engine).positions.set_index("sku")
    for sku in p.index:
        mine = sales[(sales["sku"] == sku) & (sales["n"] < 364)]
        weekly = mine.groupby(mine["n"] // 7)["qty"].sum().reindex(range(52), fill_value=0).to_numpy(float)
        nz = weekly[weekly > 0]
        assert p.loc[sku, "cv"] == pytest.approx(weekly.std() / weekly.mean())
        adi, cv2 = 52 / len(nz), (nz.std() / nz.mean()) ** 2
        pattern = ("smooth" if cv2 < 0.49 else "erratic") if adi < 1.32 else ("intermittent" if cv2 < 0.49 else "lumpy")
        assert p.loc[sku, "pattern"] == pattern


def test_abc_against_plain_pandas(engine: Engine) -> None:
    b = Builder(engine)
    rng = random.Random(5)
    raw = []
    for i in range(12):
        sku = f"A{i:02d}"
        b.product(sku)
        b.stock(sku, 1, {}, default=5)
        for _ in range(rng.randint(0, 6)):
            n, q, price = rng.randint(0, 400), rng.randint(1, 9), rng.choice([3.0, 10.0, 25.0])
            b.sell(sku, 1, n, q, price=price)
            raw.append({"sku": sku, "n": n, "rev": q * price, "qty": q})
    b.refresh()
    df = pd.DataFrame(raw)
    rev = df[df["n"] < 364].groupby("sku")["rev"].sum().reindex([f"A{i:02d}" for i in range(12)], fill_value=0.0)
    order = sorted(rev.index, key=lambda k: (-rev[k], k))
    expected, cum, total = {}, 0.0, rev.sum()
    for k in order:
        expected[k] = "C" if rev[k] <= 0 else ("A" if cum / total < 0.8 else "B" if cum / total < 0.95 else "C")
        cum += rev[k]
    skus = _health(engine).skus.set_index("sku")
    assert skus["abc"].to_dict() == expected
    assert skus["revenue_52w"].to_dict() == pytest.approx(rev.to_dict())


def test_exceptions_carry_threshold_and_sort_by_value(tiny: Builder) -> None:
    ex = _health(tiny.engine).exceptions
    assert ex["value_at_risk"].is_monotonic_decreasing
    so = ex[(ex["kind"] == "stockout") & (ex["sku"] == "SO")].iloc[0]
    # lost revenue while uncovered: 2 a day x 6 days x 12.0
    assert so["value_at_risk"] == pytest.approx(144.0)
    assert (so["threshold"], so["threshold_value"]) == ("lead_time_days", 30.0)
    dead = ex[(ex["kind"] == "dead") & (ex["sku"] == "NODEM")].iloc[0]
    assert dead["value_at_risk"] == pytest.approx(30.0) and dead["threshold"] == "dead_stock_days"
    assert dead["threshold_source"] == "default" and dead["threshold_value"] == 90
    # FLAT runs out on day 50: beyond lead time 10 and the default cover warning of 14
    assert "FLAT" not in set(ex[ex["kind"] == "stockout"]["sku"])


def test_cover_threshold_changes_the_list_and_is_audited(tiny: Builder) -> None:
    from ops.decisions import audit_log, set_threshold

    before = _health(tiny.engine).exceptions
    with transaction(tiny.engine) as s:
        set_threshold(s, viewer=MANAGER, name="cover_warning_days", value=60, expected_version=0, why="test")
    after = _health(tiny.engine).exceptions
    flat = after[(after["kind"] == "stockout") & (after["sku"] == "FLAT")]
    assert len(flat) == 1 and len(before[before["sku"] == "FLAT"]) == 0
    assert flat.iloc[0]["threshold"] == "cover_warning_days" and flat.iloc[0]["threshold_value"] == 60
    assert flat.iloc[0]["threshold_source"] == "global"
    with transaction(tiny.engine) as s:
        log = audit_log(s, viewer=ADMIN, entity_kind="threshold")
    assert len(log) == 1 and log.iloc[0]["actor"] == "meg"


def test_scoped_thresholds_apply_to_their_pairs_only(tiny: Builder) -> None:
    """sku > category > warehouse > global, per pair, with the key named in the source."""
    from ops.decisions import set_threshold

    rows = [("cover_warning_days", "global", "", 20), ("cover_warning_days", "warehouse", "WH-B", 30),
            ("cover_warning_days", "sku", "FLAT", 50),
            ("dead_stock_days", "warehouse", "WH-B", 60), ("dead_stock_days", "category", "cat", 45)]
    with transaction(tiny.engine) as s:
        for name, kind, key, value in rows:
            set_threshold(s, viewer=MANAGER, name=name, value=value, scope_kind=kind, scope_key=key,
                          expected_version=0, why="test")
    p = _health(tiny.engine).positions.set_index("sku")
    cover = p[["cover_warning_days", "cover_warning_days_source"]]
    assert cover.loc["FLAT"].tolist() == [50, "sku FLAT"]
    assert cover.loc["SO"].tolist() == [30, "warehouse WH-B"]  # SO is the only pair in WH-B
    assert cover.loc["NODEM"].tolist() == [20, "global"]
    # every product is in category "cat": the category row beats the warehouse row everywhere
    assert set(p["dead_stock_days"]) == {45} and set(p["dead_stock_days_source"]) == {"category cat"}
    assert set(p["excess_cover_days_source"]) == {"default"} and (p["excess_cover_days"] == 120).all()
    what_if = _health(tiny.engine, overrides={"cover_warning_days": 7.0}).positions
    assert set(what_if["cover_warning_days"]) == {7.0} and set(what_if["cover_warning_days_source"]) == {"what-if"}


def test_acknowledged_rows_leave_the_open_list(tiny: Builder) -> None:
    from ops.decisions import set_entity_state

    key = exception_key("stockout", "SO", "WH-B")
    with transaction(tiny.engine) as s:
        set_entity_state(s, viewer=MANAGER, entity_kind="inventory_exception", entity_key=key,
                         state="acknowledged", note="PO expedited", vendor_code="SUP-002")
    open_ = _health(tiny.engine).exceptions
    assert key not in set(open_["entity_key"])
    every = _health(tiny.engine, include_closed=True).exceptions
    row = every[every["entity_key"] == key].iloc[0]
    assert (row["state"], row["note"], row["version"]) == ("acknowledged", "PO expedited", 1)


def test_supplier_vendor_sees_only_own_skus(tiny: Builder) -> None:
    v = Viewer(username="sup2", role="vendor", vendor_kind="supplier", vendor_code="SUP-002")
    h = _health(tiny.engine, viewer=v)
    assert set(h.positions["sku"]) == {"SO"} and set(h.skus["sku"]) == {"SO"}
    assert set(h.exceptions["sku"]) <= {"SO"} and set(h.open_pos["sku"]) == {"SO"}
    # ABC within the vendor's own SKUs: its only SKU with revenue is A
    assert h.skus.iloc[0]["abc"] == "A"
    tpl = Viewer(username="tpl", role="vendor", vendor_kind="warehouse", vendor_code="3PL-X")
    assert _health(tiny.engine, viewer=tpl).positions.empty


def test_a_supplier_sees_its_pairs_under_the_managers_warehouse_thresholds(tiny: Builder) -> None:
    """A warehouse's thresholds apply to every SKU stocked there: the supplier's page flags its pairs
    exactly as the manager's does (it used to fall back to the global value and flag differently)."""
    from ops.decisions import set_threshold

    with transaction(tiny.engine) as s:
        set_threshold(s, viewer=MANAGER, name="cover_warning_days", value=30, scope_kind="warehouse",
                      scope_key="WH-B", expected_version=0, why="test")
    v = Viewer(username="sup2", role="vendor", vendor_kind="supplier", vendor_code="SUP-002")
    mine = _health(tiny.engine, viewer=v).positions.set_index(["sku", "warehouse"])
    staff = _health(tiny.engine).positions.set_index(["sku", "warehouse"]).loc[mine.index]
    assert mine.loc[("SO", "WH-B"), "cover_warning_days"] == 30
    cols = ["cover_warning_days", "cover_warning_days_source", "at_risk", "dead", "excess_units"]
    pd.testing.assert_frame_equal(mine[cols], staff[cols])


def test_warehouse_filter(tiny: Builder) -> None:
    h = _health(tiny.engine, filters=Filters(warehouses=("WH-B",)))
    assert set(h.positions["warehouse"]) == {"WH-B"} and set(h.positions["sku"]) == {"SO"}


def test_kpis_by_hand(tiny: Builder) -> None:
    k = _health(tiny.engine).kpis.set_index("kpi")
    # on hand today: FLAT 100, NODEM 10, ONEDAY 20, NEG -5 (0), OVERDUE 10, SO 8; cost 4 (NODEM 3)
    assert k.loc["inventory_value", "value"] == pytest.approx(4 * (100 + 20 + 10 + 8) + 3 * 10)
    # a week ago every SKU stood at its default 50 (SO at 50 too), NODEM at 10
    assert k.loc["inventory_value", "previous"] == pytest.approx(4 * 50 * 5 + 3 * 10)
    # fill rate 28 d: sold 56+28+28+56+30 = 198; lost: SO 2 x 13 = 26, NEG (out on the as-of
    # day only) 28/27 x 1
    assert k.loc["fill_rate", "value"] == pytest.approx(198 / (198 + 26 + 28 / 27))
    # fractions, not percentages: sell-through 198 sold over 198 + 148 on hand (NEG's -5 counts as 0);
    # at risk: NEG (cover 0), OVERDUE (5 d) and SO (4 d) of the five pairs with demand (FLAT 50 d, ONEDAY 20 d)
    assert k.loc["sell_through", "value"] == pytest.approx(198 / (198 + 148))
    assert k.loc["at_risk_share", "value"] == pytest.approx(3 / 5)
    assert k.loc["turns", "value"] == pytest.approx(4 * 198 * 365 / 28 / 582)
    assert k.loc["at_risk_share", "unit"] == "pct" and k.loc["turns", "unit"] == "number"


def test_bad_window_is_refused(tiny: Builder) -> None:
    with pytest.raises(ValueError, match="window must be one of 28, 56, 84, 112"):
        _health(tiny.engine, window=30)


def test_exception_owner_is_read_from_the_data(tiny: Builder) -> None:
    from ops.access import AccessDenied
    from ops.decisions import VendorRef, respond
    from ops.inventory import exception_owner
    from ops.models import User

    with transaction(tiny.engine) as s:
        assert exception_owner(s, exception_key("stockout", "SO", "WH-B")) == VendorRef("supplier", "SUP-002")
        # the warehouse in the key does not matter; an unknown SKU or kind has no owner
        assert exception_owner(s, "dead:SO:WH-NOPE") == ("supplier", "SUP-002")
        assert exception_owner(s, "stockout:NO-SUCH:WH-B") is None
        assert exception_owner(s, "other:SO:WH-B") is None
    v2 = Viewer(username="sup2", role="vendor", vendor_kind="supplier", vendor_code="SUP-002")
    v1 = Viewer(username="sup1", role="vendor", vendor_kind="supplier", vendor_code="SUP-001")
    with transaction(tiny.engine) as s:
        s.add_all([User(username=v.username, role="vendor", vendor_kind="supplier", vendor_code=v.vendor_code)
                   for v in (v1, v2)])
    with transaction(tiny.engine) as s:
        respond(s, viewer=v2, entity_kind="inventory_exception", entity_key=exception_key("stockout", "SO", "WH-B"),
                text="PO ships Monday")
    with pytest.raises(AccessDenied), transaction(tiny.engine) as s:
        respond(s, viewer=v1, entity_kind="inventory_exception", entity_key=exception_key("stockout", "SO", "WH-B"),
                text="not mine")
