"""The demo data generator: determinism, idempotence, integrity, realism and the planted anomalies.

Every check recomputes its figure from the raw rows with plain SQL and pandas, on SQLite and
PostgreSQL (``seeded_engine`` holds size ``small``, seed 7).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, text

from ops import demo
from ops.demo import DEMO_END, anomalies, generate, is_empty, seed
from tests.conftest import planner_estimate, sqlite_statistics

AN = anomalies("small", 7)


def q(engine: Engine, sql: str, **params: object) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(text(sql), conn, params=params)


def checksums(engine: Engine) -> dict[str, object]:
    """A few column checksums that any difference in generated values would move."""
    one = q(engine, """
        SELECT (SELECT SUM(qty) FROM order_lines) AS qty,
               (SELECT SUM(ROUND(unit_price * 100)) FROM order_lines) AS price_cents,
               (SELECT SUM(ROUND(label_cost * 100)) FROM shipments) AS label_cents,
               (SELECT SUM(on_hand) FROM inventory_snapshots) AS on_hand,
               (SELECT SUM(qty_ordered) FROM purchase_order_lines) AS po_qty,
               (SELECT SUM(ROUND(refund_amount * 100)) FROM returns) AS refund_cents,
               (SELECT MAX(placed_at) FROM orders) AS last_placed,
               (SELECT MIN(delivered_at) FROM shipments) AS first_delivered,
               (SELECT COUNT(DISTINCT lane) FROM shipments) AS lanes
    """).iloc[0].to_dict()
    one["last_placed"] = pd.Timestamp(one["last_placed"])
    one["first_delivered"] = pd.Timestamp(one["first_delivered"])
    return {k: (int(v) if isinstance(v, int | float | np.integer | np.floating) else v) for k, v in one.items()}


def table_counts(engine: Engine) -> dict[str, int]:
    return {t.name: int(q(engine, f"SELECT COUNT(*) AS n FROM {t.name}").n[0])  # noqa: S608 - model names
            for t in demo.SEED_TABLES}


# --- determinism and idempotence -------------------------------------------------------------


def expected_checksums(tables: dict[str, dict[str, object]]) -> dict[str, object]:
    """:func:`checksums`, computed from the generator's in-memory tables."""
    col = lambda t, c: np.asarray(tables[t][c])  # noqa: E731
    delivered = [v for v in tables["shipments"]["delivered_at"] if v is not None]
    return {
        "qty": int(col("order_lines", "qty").sum()),
        "price_cents": int(np.round(col("order_lines", "unit_price") * 100).sum()),
        "label_cents": int(np.round(col("shipments", "label_cost") * 100).sum()),
        "on_hand": int(col("inventory_snapshots", "on_hand").sum()),
        "po_qty": int(col("purchase_order_lines", "qty_ordered").sum()),
        "refund_cents": int(np.round(col("returns", "refund_amount") * 100).sum()),
        "last_placed": pd.Timestamp(max(tables["orders"]["placed_at"])),
        "first_delivered": pd.Timestamp(min(delivered)),
        "lanes": len(set(tables["shipments"]["lane"])),
    }


@pytest.fixture(scope="module")
def small_7() -> dict[str, dict[str, object]]:
    return generate("small", 7)


def test_the_seeded_database_holds_exactly_the_generated_rows(seeded_engine: Engine, small_7: dict) -> None:
    """seeded_engine (small, seed 7) on each backend equals the in-memory data: so the backends agree."""
    assert table_counts(seeded_engine) == {name: len(cols["id"]) for name, cols in small_7.items()}
    assert checksums(seeded_engine) == expected_checksums(small_7)
    some = q(seeded_engine, "SELECT order_number, placed_at FROM orders WHERE id IN (1, 100, 1000) ORDER BY id")
    assert some.order_number.tolist() == [small_7["orders"]["order_number"][i] for i in (0, 99, 999)]
    assert pd.to_datetime(some.placed_at).tolist() == [pd.Timestamp(small_7["orders"]["placed_at"][i])
                                                       for i in (0, 99, 999)]


def test_seed_again_changes_nothing_and_another_seed_is_refused(engine: Engine, small_7: dict) -> None:
    assert is_empty(engine)
    first = seed(engine, size="small", seed=7)
    # a second database seeded with the same size and seed holds the same data
    assert first == table_counts(engine) == {name: len(cols["id"]) for name, cols in small_7.items()}
    before = checksums(engine)
    assert before == expected_checksums(small_7)
    runs = q(engine, "SELECT kind, source, actor, rows_in, rows_changed, finished_at FROM import_runs")
    assert runs[["kind", "source", "actor"]].values.tolist() == [["seed", "demo:small:7", "system"]]
    assert runs.rows_in[0] == runs.rows_changed[0] == sum(first.values())
    assert runs.finished_at.notna().all()
    assert not is_empty(engine)

    assert seed(engine, size="small", seed=7) == first
    assert checksums(engine) == before
    assert int(q(engine, "SELECT COUNT(*) AS n FROM import_runs").n[0]) == 1

    with pytest.raises(ValueError, match=r"already holds data.*demo:small:7"):
        seed(engine, size="small", seed=8)
    with pytest.raises(ValueError, match="already holds data"):
        seed(engine, size="default", seed=7)
    assert table_counts(engine) == first
    assert checksums(engine) == before


def test_a_failed_seed_leaves_nothing(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    import ops.aggregates

    def broken_refresh(session: object) -> list[str]:
        raise RuntimeError("refresh failed")

    monkeypatch.setattr(ops.aggregates, "refresh_all", broken_refresh)
    with pytest.raises(RuntimeError, match="refresh failed"):
        seed(engine, size="small", seed=5)
    assert is_empty(engine)
    assert int(q(engine, "SELECT COUNT(*) AS n FROM import_runs").n[0]) == 0
    if engine.dialect.name == "sqlite":  # the load's pragmas are undone on the pooled connection
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == -2000


def test_a_bulk_seed_leaves_the_shared_model_whole(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """Dropping and re-adding foreign keys around a bulk load (PostgreSQL) must not mark them as
    "created separately" in the model: a later CREATE TABLE in the same process (a fresh SQLite
    file) would then leave them out, and that database would accept orders of unknown channels."""
    from sqlalchemy import inspect
    from sqlalchemy.dialects import sqlite
    from sqlalchemy.schema import CreateTable

    from ops.models import Order

    monkeypatch.setattr(demo, "REBUILD_INDEXES_FROM", 1)  # every table takes the bulk path
    seed(engine, size="small", seed=3)
    ddl = str(CreateTable(Order.__table__).compile(dialect=sqlite.dialect()))
    assert "REFERENCES channels" in ddl, ddl
    assert any(fk["referred_table"] == "channels" for fk in inspect(engine).get_foreign_keys("orders"))


def test_unknown_size_is_refused(engine: Engine) -> None:
    with pytest.raises(ValueError, match="unknown demo size 'huge'"):
        seed(engine, size="huge")
    with pytest.raises(ValueError, match="unknown demo size"):
        anomalies("huge", 1)
    assert is_empty(engine)


def test_different_seeds_give_different_data(small_7: dict) -> None:
    a, b = small_7, generate("small", 8)
    assert np.sum(a["order_lines"]["qty"]) != np.sum(b["order_lines"]["qty"])
    assert a["orders"]["placed_at"][:50] != b["orders"]["placed_at"][:50]
    assert list(a["products"]["price"]) != list(b["products"]["price"])


def test_ids_let_later_inserts_work(seeded_engine: Engine) -> None:
    """After the bulk load the id sequences (PostgreSQL) continue past the seeded rows."""
    with seeded_engine.connect() as conn:
        trans = conn.begin()
        conn.execute(text("INSERT INTO carriers (code, name) VALUES ('ZZZ', 'Test carrier')"))
        new_id = conn.execute(text("SELECT id FROM carriers WHERE code = 'ZZZ'")).scalar_one()
        trans.rollback()
    assert new_id == len(demo.CARRIERS) + 1


def test_postgresql_has_planner_statistics_after_a_seed(seeded_engine: Engine) -> None:
    """A seed leaves PostgreSQL's planner statistics in place (no autovacuum needed); SQLite's plans stay rule-based.

    A never-analyzed PostgreSQL table has ``reltuples = -1``; after ``ANALYZE`` a table this small is
    sampled whole, so its estimate is the exact row count, counted here with ``count(*)``.
    """
    with seeded_engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            assert not sqlite_statistics(conn)
            return
        for table in ("orders", "order_lines", "shipments", "agg_fulfil_daily", "agg_inventory_pair"):
            rows = conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()  # noqa: S608 - fixed names
            estimate = planner_estimate(conn, table)
            assert rows and estimate == rows, (table, rows, estimate)


# --- integrity ---------------------------------------------------------------------------------

ORPHANS = {
    "order_lines.order_id": "SELECT COUNT(*) AS n FROM order_lines l LEFT JOIN orders o ON o.id = l.order_id "
                            "WHERE o.id IS NULL",
    "order_lines.product_id": "SELECT COUNT(*) AS n FROM order_lines l LEFT JOIN products p ON p.id = l.product_id "
                              "WHERE p.id IS NULL",
    "shipments.order_id": "SELECT COUNT(*) AS n FROM shipments s LEFT JOIN orders o ON o.id = s.order_id "
                          "WHERE o.id IS NULL",
    "shipments.service_id": "SELECT COUNT(*) AS n FROM shipments s LEFT JOIN carrier_services c "
                            "ON c.id = s.service_id AND c.carrier_id = s.carrier_id WHERE c.id IS NULL",
    "shipments.warehouse_id": "SELECT COUNT(*) AS n FROM shipments s JOIN orders o ON o.id = s.order_id "
                              "WHERE s.warehouse_id <> o.warehouse_id",
    "returns.order_line_id": "SELECT COUNT(*) AS n FROM returns r LEFT JOIN order_lines l ON l.id = r.order_line_id "
                             "WHERE l.id IS NULL",
    "snapshots.product_id": "SELECT COUNT(*) AS n FROM inventory_snapshots i LEFT JOIN products p "
                            "ON p.id = i.product_id WHERE p.id IS NULL",
    "po_lines.po_id": "SELECT COUNT(*) AS n FROM purchase_order_lines l LEFT JOIN purchase_orders p "
                      "ON p.id = l.po_id WHERE p.id IS NULL",
    "products.supplier_id": "SELECT COUNT(*) AS n FROM products p LEFT JOIN suppliers s ON s.id = p.supplier_id "
                            "WHERE s.id IS NULL",
    "po supplier = product supplier": "SELECT COUNT(*) AS n FROM purchase_order_lines l JOIN purchase_orders p "
                                      "ON p.id = l.po_id JOIN products pr ON pr.id = l.product_id "
                                      "WHERE pr.supplier_id <> p.supplier_id",
    "line sold where not stocked": "SELECT COUNT(*) AS n FROM order_lines l JOIN orders o ON o.id = l.order_id "
                                   "WHERE NOT EXISTS (SELECT 1 FROM inventory_snapshots i WHERE "
                                   "i.product_id = l.product_id AND i.warehouse_id = o.warehouse_id)",
    "return on an undelivered shipment": "SELECT COUNT(*) AS n FROM returns r JOIN order_lines l "
                                         "ON l.id = r.order_line_id JOIN shipments s ON s.order_id = l.order_id "
                                         "WHERE s.status <> 'delivered' OR r.received_at <= s.delivered_at "
                                         "OR r.qty > l.qty OR r.qty < 1",
    "shipment of a cancelled order": "SELECT COUNT(*) AS n FROM shipments s JOIN orders o ON o.id = s.order_id "
                                     "WHERE o.status IN ('cancelled', 'pending', 'processing')",
    "time order": "SELECT COUNT(*) AS n FROM shipments s JOIN orders o ON o.id = s.order_id "
                  "WHERE o.paid_at < o.placed_at OR s.shipped_at < o.paid_at OR s.delivered_at < s.shipped_at "
                  "OR s.first_attempt_at > s.delivered_at OR s.promised_at < s.shipped_at",
}


@pytest.mark.parametrize("check", list(ORPHANS))
def test_integrity(seeded_engine: Engine, check: str) -> None:
    assert int(q(seeded_engine, ORPHANS[check]).n[0]) == 0


def test_nothing_happens_after_demo_end(seeded_engine: Engine) -> None:
    limit = pd.Timestamp(DEMO_END + dt.timedelta(days=1))
    latest = q(seeded_engine, """
        SELECT (SELECT MAX(placed_at) FROM orders) AS placed, (SELECT MAX(shipped_at) FROM shipments) AS shipped,
               (SELECT MAX(delivered_at) FROM shipments) AS delivered, (SELECT MAX(received_at) FROM returns) AS ret,
               (SELECT MAX(day) FROM inventory_snapshots) AS snap, (SELECT MAX(received_on) FROM purchase_order_lines)
               AS po""").iloc[0]
    for col in ("placed", "shipped", "delivered", "ret"):
        assert pd.Timestamp(latest[col]) < limit, col
    assert pd.Timestamp(latest["snap"]).date() == DEMO_END
    assert pd.Timestamp(latest["po"]).date() <= DEMO_END


# --- stock: censoring and flow -----------------------------------------------------------------


def _daily_flows(engine: Engine) -> pd.DataFrame:
    snap = q(engine, "SELECT product_id, warehouse_id, day, on_hand FROM inventory_snapshots")
    snap["day"] = pd.to_datetime(snap["day"])
    sold = q(engine, """
        SELECT l.product_id, o.warehouse_id, o.placed_at, l.qty FROM order_lines l JOIN orders o ON o.id = l.order_id
        WHERE o.status <> 'cancelled'""")
    sold["day"] = pd.to_datetime(sold["placed_at"]).dt.normalize()
    sold = sold.groupby(["product_id", "warehouse_id", "day"], as_index=False).qty.sum()
    recv = q(engine, """
        SELECT l.product_id, p.warehouse_id, l.received_on AS day, l.qty_received FROM purchase_order_lines l
        JOIN purchase_orders p ON p.id = l.po_id WHERE l.received_on IS NOT NULL""")
    recv["day"] = pd.to_datetime(recv["day"])
    recv = recv.groupby(["product_id", "warehouse_id", "day"], as_index=False).qty_received.sum()
    snap = snap.sort_values(["product_id", "warehouse_id", "day"])
    snap["prev"] = snap.groupby(["product_id", "warehouse_id"]).on_hand.shift()
    snap["prev_day"] = snap.groupby(["product_id", "warehouse_id"]).day.shift()
    daily = snap[(snap.day - snap.prev_day) == pd.Timedelta(days=1)]
    df = daily.merge(sold, how="left").merge(recv, how="left").fillna({"qty": 0, "qty_received": 0})
    assert len(df) > 5000
    return df


def test_sales_never_exceed_stock_and_stock_flows(seeded_engine: Engine) -> None:
    df = _daily_flows(seeded_engine)
    available = df.prev + df.qty_received
    assert (df.qty <= available).all(), "a day sold more than was on hand"
    assert (df.on_hand == available - df.qty).all(), "on hand does not follow receipts and sales"
    assert (df.on_hand >= 0).all()
    # censoring really bites: some pair-days sell out, and unmet demand shows up as cancelled orders
    assert ((df.on_hand == 0) & (df.qty > 0)).sum() > 10
    assert int(q(seeded_engine, "SELECT COUNT(*) AS n FROM orders WHERE status = 'cancelled'").n[0]) > 10


@pytest.fixture(scope="module")
def default_tables() -> dict[str, dict[str, object]]:
    """The default-size data set, generated in memory (no database)."""
    return generate("default", 1)


def test_snapshots_daily_for_120_days_then_weekly_on_sundays(default_tables: dict) -> None:
    tables = default_tables
    days = pd.to_datetime(pd.Series(tables["inventory_snapshots"]["day"])).drop_duplicates().sort_values()
    recent = days[days > pd.Timestamp(DEMO_END) - pd.Timedelta(days=120)]
    older = days[days <= pd.Timestamp(DEMO_END) - pd.Timedelta(days=120)]
    assert len(recent) == 120 and recent.diff().dropna().eq(pd.Timedelta(days=1)).all()
    assert len(older) > 30 and (older.dt.weekday == 6).all() and older.diff().dropna().eq(pd.Timedelta(days=7)).all()
    per_pair = pd.DataFrame(tables["inventory_snapshots"]).groupby(["product_id", "warehouse_id"]).size()
    assert per_pair.nunique() == 1  # every stocked pair every snapshot day
    wh_per_sku = per_pair.reset_index().groupby("product_id").size()
    assert set(wh_per_sku) == {1, 2}


# --- realism -----------------------------------------------------------------------------------


def test_reference_data(seeded_engine: Engine) -> None:
    wh = q(seeded_engine, "SELECT code, operator_code, cutoff_time, business_days FROM warehouses ORDER BY id")
    assert wh.code.tolist() == ["WH-EAST", "WH-WEST", "WH-CENTRAL"]
    assert wh.operator_code.tolist()[2] == "3PL-NORTHLOG" and wh.operator_code[:2].isna().all()
    assert (wh.business_days == "01234").all()
    assert int(q(seeded_engine, "SELECT COUNT(*) AS n FROM holidays").n[0]) >= 1
    carriers = q(seeded_engine, "SELECT code FROM carriers").code
    assert 6 <= len(carriers) <= 8 and carriers.str.fullmatch(r"[A-Z]+").all()
    assert 3 <= int(q(seeded_engine, "SELECT COUNT(*) AS n FROM channels").n[0]) <= 4
    sup = q(seeded_engine, "SELECT code, lead_time_days FROM suppliers")
    assert sup.code.str.fullmatch(r"SUP-\d{3}").all() and (sup.lead_time_days > 0).all()
    sizes = set(q(seeded_engine, "SELECT size FROM products WHERE category = 'Apparel'")["size"])
    assert sizes <= {"XS", "S", "M", "L", "XL"} and "S" in sizes
    prod = q(seeded_engine, "SELECT price, unit_cost, case_pack, moq FROM products")
    assert (prod.price > prod.unit_cost).all() and (prod.moq % prod.case_pack == 0).all()
    lanes = q(seeded_engine, "SELECT DISTINCT lane FROM shipments").lane
    assert lanes.str.fullmatch(r"WH-[A-Z]+>[A-Z]{2}").all()
    assert int(q(seeded_engine, "SELECT COUNT(*) AS n FROM order_lines WHERE seller_id IS NOT NULL").n[0]) == 0


def test_weekly_pattern_promotions_and_long_tail(seeded_engine: Engine) -> None:
    lines = q(seeded_engine, """SELECT l.product_id, l.qty, l.unit_price, p.price, o.placed_at FROM order_lines l
                                JOIN orders o ON o.id = l.order_id JOIN products p ON p.id = l.product_id""")
    dow = pd.to_datetime(lines.placed_at).dt.weekday
    by_dow = lines.qty.groupby(dow).sum()
    assert by_dow[0] > by_dow[5]  # Mondays out-sell Saturdays
    assert ((lines.unit_price < lines.price - 0.005).mean()) > 0.02  # promotion discounts
    per_sku = lines.groupby("product_id").qty.sum().sort_values(ascending=False)
    assert per_sku.iloc[:10].sum() > 0.4 * per_sku.sum()  # a long tail


def test_shipments_and_returns_look_real(seeded_engine: Engine) -> None:
    status = q(seeded_engine, "SELECT status, COUNT(*) AS n FROM shipments GROUP BY status").set_index("status").n
    assert set(status.index) >= {"delivered", "in_transit", "lost", "damaged", "returned_to_sender"}
    assert status["delivered"] / status.sum() > 0.9
    po = q(seeded_engine, "SELECT status, expected_on FROM purchase_orders")
    open_po = pd.to_datetime(po[po.status == "open"].expected_on)
    assert (open_po < pd.Timestamp(DEMO_END)).any() and (open_po > pd.Timestamp(DEMO_END)).any()
    assert (po.status == "received").sum() > len(open_po)
    ret = q(seeded_engine, """SELECT r.reason_code, r.comment, r.refund_amount, r.disposition, p.category, p.size
                              FROM returns r JOIN order_lines l ON l.id = r.order_line_id
                              JOIN products p ON p.id = l.product_id""")
    assert set(ret.disposition) <= {"restock", "refurbish", "liquidate", "scrap"}
    assert (ret.refund_amount > 0).all()
    no_sizes = ret[~ret.category.isin(["Apparel", "Footwear"])]
    assert not no_sizes.reason_code.isin(["runs_small", "runs_large"]).any()
    comments = ret.comment.dropna()
    assert 0.5 < len(comments) / len(ret) < 0.9
    assert comments.str.contains(r"[áéíóúñçàèüößã]|Talla|Taille|Fällt|Llegó|Ne |Nicht", regex=True).any()


def test_return_reasons_follow_category_and_size(default_tables: dict) -> None:
    ret = pd.DataFrame(default_tables["returns"])
    lines = pd.DataFrame(default_tables["order_lines"])[["id", "product_id"]].rename(columns={"id": "order_line_id"})
    prod = pd.DataFrame(default_tables["products"])[["id", "sku", "category", "size"]].rename(
        columns={"id": "product_id"})
    df = ret.merge(lines).merge(prod)
    df = df[df.sku != anomalies("default", 1).runs_small_sku]
    app = df[df.category == "Apparel"]
    share = app.groupby(app["size"]).reason_code.apply(lambda r: r.eq("runs_small").mean())
    assert share["XS"] > share["M"] > share["XL"]
    large = app.groupby(app["size"]).reason_code.apply(lambda r: r.eq("runs_large").mean())
    assert large["XL"] > large["M"] > large["XS"]
    elec = df[df.category == "Electronics"].reason_code.value_counts(normalize=True)
    assert elec.index[0] == "defective"
    po = pd.DataFrame(default_tables["purchase_orders"])
    open_po = pd.to_datetime(po[po.status == "open"].expected_on)
    assert (open_po < pd.Timestamp(DEMO_END)).sum() >= 3  # overdue
    assert (open_po > pd.Timestamp(DEMO_END)).sum() >= 3  # still to come


def _ship_by(paid: pd.Series, cutoff: dt.time, handling: int, holidays: list[dt.date]) -> pd.Series:
    """The cut-off rule, written out independently of ops.demo."""
    cal = np.busdaycalendar(weekmask="1111100", holidays=np.array(holidays, dtype="datetime64[D]"))
    day = paid.dt.normalize().to_numpy().astype("datetime64[D]")
    before = (paid.dt.hour * 60 + paid.dt.minute) < cutoff.hour * 60 + cutoff.minute
    next_business_day = np.busday_offset(day + np.timedelta64(1, "D"), 0, roll="forward", busdaycal=cal)
    start = np.where(np.is_busday(day, busdaycal=cal) & before.to_numpy(), day, next_business_day)
    due = np.busday_offset(start, handling, busdaycal=cal)
    return pd.Series(pd.to_datetime(due) + pd.Timedelta(hours=23, minutes=59, seconds=59), index=paid.index)


def test_ship_by_follows_the_warehouse_cutoff_rule(seeded_engine: Engine) -> None:
    orders = q(seeded_engine, """SELECT o.paid_at, o.ship_by, w.id AS wid, w.cutoff_time, w.handling_days
                                 FROM orders o JOIN warehouses w ON w.id = o.warehouse_id
                                 WHERE o.paid_at IS NOT NULL""")
    hol = q(seeded_engine, "SELECT warehouse_id, day FROM holidays")
    hol["day"] = pd.to_datetime(hol.day).dt.date
    orders["paid_at"] = pd.to_datetime(orders.paid_at)
    orders["ship_by"] = pd.to_datetime(orders.ship_by)
    checked = 0
    for wid, grp in orders.groupby("wid"):
        cutoff = grp.cutoff_time.iloc[0]
        cutoff = cutoff if isinstance(cutoff, dt.time) else dt.time.fromisoformat(str(cutoff))
        days = hol[hol.warehouse_id.isna() | (hol.warehouse_id == wid)].day.tolist()
        expected = _ship_by(grp.paid_at, cutoff, int(grp.handling_days.iloc[0]), days)
        assert (expected == grp.ship_by).all()
        checked += len(grp)
    assert checked > 1000


# --- the planted anomalies -----------------------------------------------------------------------


def test_late_lane_anomaly(seeded_engine: Engine) -> None:
    s = q(seeded_engine, """
        SELECT s.shipped_at, s.promised_at, s.delivered_at, o.ship_by FROM shipments s
        JOIN carriers c ON c.id = s.carrier_id JOIN orders o ON o.id = s.order_id
        WHERE c.code = :carrier AND s.lane = :lane AND s.delivered_at IS NOT NULL""",
          carrier=AN.late_lane_carrier, lane=AN.late_lane)
    for col in ("shipped_at", "promised_at", "delivered_at", "ship_by"):
        s[col] = pd.to_datetime(s[col])
    week = (s.shipped_at.dt.normalize() - pd.to_timedelta(s.shipped_at.dt.weekday, unit="D")).dt.date
    in_weeks = week.isin(AN.late_lane_weeks)
    on_time = s.delivered_at <= s.promised_at
    assert [d.weekday() for d in AN.late_lane_weeks] == [0, 0, 0]
    assert AN.late_lane_weeks[1] - AN.late_lane_weeks[0] == dt.timedelta(days=7)
    assert in_weeks.sum() >= 15
    assert on_time[in_weeks].mean() < 0.35
    assert on_time[~in_weeks].mean() > 0.75
    # the warehouse was not to blame: those shipments left on time
    assert (s.shipped_at[in_weeks] <= s.ship_by[in_weeks]).mean() > 0.9
    # the same weeks on the carrier's other lanes are normal
    other = q(seeded_engine, """
        SELECT s.shipped_at, s.promised_at, s.delivered_at FROM shipments s JOIN carriers c ON c.id = s.carrier_id
        WHERE c.code = :carrier AND s.lane <> :lane AND s.delivered_at IS NOT NULL""",
              carrier=AN.late_lane_carrier, lane=AN.late_lane)
    shipped = pd.to_datetime(other.shipped_at)
    ow = (shipped.dt.normalize() - pd.to_timedelta(shipped.dt.weekday, unit="D")).dt.date.isin(AN.late_lane_weeks)
    assert (pd.to_datetime(other.delivered_at) <= pd.to_datetime(other.promised_at))[ow].mean() > 0.75


def test_monday_cutoff_anomaly(seeded_engine: Engine) -> None:
    df = q(seeded_engine, """SELECT w.code, o.ship_by, s.shipped_at FROM orders o
                             JOIN shipments s ON s.order_id = o.id JOIN warehouses w ON w.id = o.warehouse_id""")
    df["late"] = pd.to_datetime(df.shipped_at) > pd.to_datetime(df.ship_by)
    df["dow"] = pd.to_datetime(df.ship_by).dt.weekday
    rate = df.groupby(["code", "dow"]).late.mean()
    wh = AN.monday_cutoff_warehouse
    assert rate[(wh, 0)] > 0.6
    assert rate[wh].drop(0).max() < 0.15
    for other in {"WH-EAST", "WH-WEST", "WH-CENTRAL"} - {wh}:
        assert rate[(other, 0)] < 0.15


def test_runs_small_anomaly(seeded_engine: Engine) -> None:
    df = q(seeded_engine, """
        SELECT p.sku, p.category, p.size, l.id AS line_id, r.reason_code FROM order_lines l
        JOIN orders o ON o.id = l.order_id JOIN shipments s ON s.order_id = o.id
        JOIN products p ON p.id = l.product_id LEFT JOIN returns r ON r.order_line_id = l.id
        WHERE s.status = 'delivered' AND o.placed_at >= :since""", since=AN.runs_small_since)
    df["returned"] = df.reason_code.notna()
    sku = df[df.sku == AN.runs_small_sku]
    assert sku.category.iloc[0] == "Apparel" and sku["size"].iloc[0] in ("XS", "S")
    rest = df[(df.category == "Apparel") & (df.sku != AN.runs_small_sku)]
    assert len(sku) >= 50
    assert sku.returned.mean() > 3 * rest.returned.mean()
    assert sku.reason_code.value_counts().index[0] == "runs_small"
    apparel = df[df.category == "Apparel"].assign(runs_small=lambda d: d.reason_code.eq("runs_small"))
    per_sku = apparel.groupby("sku").runs_small.agg(["mean", "size"])
    assert per_sku[per_sku["size"] >= 30]["mean"].idxmax() == AN.runs_small_sku


def test_stockout_anomaly_is_the_largest_value_at_risk(seeded_engine: Engine) -> None:
    end = pd.Timestamp(DEMO_END)
    snap = q(seeded_engine, """SELECT p.sku, w.code AS wh, i.on_hand, p.price, p.lead_time_days
                               FROM inventory_snapshots i JOIN products p ON p.id = i.product_id
                               JOIN warehouses w ON w.id = i.warehouse_id WHERE i.day = :end""", end=DEMO_END)
    sold = q(seeded_engine, """SELECT p.sku, w.code AS wh, SUM(l.qty) AS units FROM order_lines l
                               JOIN orders o ON o.id = l.order_id JOIN products p ON p.id = l.product_id
                               JOIN warehouses w ON w.id = o.warehouse_id
                               WHERE o.status <> 'cancelled' AND o.placed_at >= :since GROUP BY p.sku, w.code""",
             since=DEMO_END - dt.timedelta(days=27))
    po = q(seeded_engine, """SELECT p.sku, w.code AS wh, po.po_number, po.expected_on FROM purchase_order_lines l
                             JOIN purchase_orders po ON po.id = l.po_id JOIN products p ON p.id = l.product_id
                             JOIN warehouses w ON w.id = po.warehouse_id WHERE po.status = 'open'""")
    po["expected_on"] = pd.to_datetime(po.expected_on)
    df = snap.merge(sold, how="left").fillna({"units": 0})
    df["per_day"] = df.units / 28
    df = df[df.per_day > 0].copy()
    df["cover"] = df.on_hand / df.per_day
    nxt = po[po.expected_on >= end].groupby(["sku", "wh"]).expected_on.min().rename("next_po")
    df = df.join(nxt, on=["sku", "wh"])
    wait = (df.next_po - end).dt.days.fillna(df.lead_time_days)
    df["value_at_risk"] = (wait - df.cover).clip(lower=0) * df.per_day * df.price

    row = df[(df.sku == AN.stockout_sku) & (df.wh == AN.stockout_warehouse)].iloc[0]
    assert 2 <= row.cover <= 9
    assert row.cover < row.lead_time_days
    mine = po[po.sku == AN.stockout_sku]
    assert mine.po_number.tolist() == [AN.stockout_po]
    assert mine.wh.tolist() == [AN.stockout_warehouse]
    expected = mine.expected_on.iloc[0]
    assert expected == end + pd.Timedelta(days=20)
    assert expected > end + pd.Timedelta(days=float(row.cover))  # arrives after the projected stockout
    assert snap[snap.sku == AN.stockout_sku].wh.tolist() == [AN.stockout_warehouse]  # stocked in one place only
    assert df.sort_values("value_at_risk", ascending=False).iloc[0].sku == AN.stockout_sku
    assert row.price >= df.price.quantile(0.9)


@pytest.mark.parametrize("size", ["small", "default"])
def test_anomalies_are_deterministic_and_named_in_the_data_codes(size: str) -> None:
    a = anomalies(size, 11)
    assert a == anomalies(size, 11)
    assert a.late_lane.split(">")[0] in {"WH-EAST", "WH-WEST"}
    assert a.late_lane.split(">")[0] != a.monday_cutoff_warehouse
    assert a.late_lane_carrier in {c[0] for c in demo.CARRIERS}
    assert a.stockout_sku != a.runs_small_sku
    assert a.stockout_po.startswith("PO-")
    assert all(d < DEMO_END for d in a.late_lane_weeks)
    assert anomalies("default", 42) == demo.ANOMALIES
