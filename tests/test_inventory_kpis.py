"""Inventory KPIs and the home-page headline against plain pandas over the raw rows of the small seed.

Nothing here calls another ``ops`` function to get the expected numbers: the snapshots, order
lines, orders, purchase orders and products are read with plain SQL and every KPI, and the value
at risk of the open exceptions, is recomputed from them in pandas and Python loops, from the
definitions in the docstrings of ``ops.inventory.page`` and ``ops.inventory.metrics``.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine, text

from ops.access import Viewer
from ops.db import transaction
from ops.domain import HEADLINE_EXCEPTION_COLUMNS, load_domains
from ops.filters import Filters
from ops.inventory import headline, inventory_health

MANAGER = Viewer(username="meg", role="manager")
# The documented defaults (ops.decisions); the seed stores no threshold (asserted below).
COVER_WARNING, EXCESS_COVER, DEAD_AFTER, DEFAULT_LEAD = 14.0, 120.0, 90.0, 14
WINDOW = 28


def _raw(engine: Engine) -> dict[str, Any]:
    """The raw tables, and per SKU x warehouse pair everything the KPIs need, in plain pandas."""
    with engine.connect() as c:
        def q(sql: str, dates: list[str] | None = None) -> pd.DataFrame:
            return pd.read_sql(text(sql), c, parse_dates=dates or [])

        snap = q("SELECT product_id, warehouse_id, day, on_hand FROM inventory_snapshots", ["day"])
        orders = q("SELECT id, warehouse_id, status, placed_at FROM orders", ["placed_at"])
        lines = q("SELECT order_id, product_id, qty, unit_price FROM order_lines")
        products = q("SELECT p.id AS product_id, p.sku, p.unit_cost, p.price, "
                     "COALESCE(p.lead_time_days, s.lead_time_days) AS lead FROM products p "
                     "LEFT JOIN suppliers s ON s.id = p.supplier_id")
        warehouses = q("SELECT id AS warehouse_id, code AS warehouse FROM warehouses")
        po = q("SELECT l.product_id, o.warehouse_id, o.status, o.ordered_on, o.expected_on, "
               "l.qty_ordered - l.qty_received AS qty_open FROM purchase_order_lines l "
               "JOIN purchase_orders o ON o.id = l.po_id", ["ordered_on", "expected_on"])
        n_thresholds = int(c.execute(text(
            "SELECT COUNT(*) FROM thresholds WHERE name IN ('cover_warning_days', 'excess_cover_days', "
            "'dead_stock_days')")).scalar_one())
        n_states = int(c.execute(text("SELECT COUNT(*) FROM entity_states")).scalar_one())
    assert n_thresholds == 0 and n_states == 0, "the expected values below assume the default thresholds"
    as_of = snap["day"].max()
    key = ["product_id", "warehouse_id"]
    # the pairs the page shows: a snapshot in the last 112 days, or an open PO line
    open_po = po[(po["status"] == "open") & (po["qty_open"] > 0) & (po["ordered_on"] <= as_of)]
    recent = snap[snap["day"] > as_of - pd.Timedelta(days=112)]
    pairs = pd.concat([recent[key], open_po[key]]).drop_duplicates().reset_index(drop=True)

    def on_hand_at(day: pd.Timestamp) -> pd.Series:
        at = snap[snap["day"] == day].set_index(key)["on_hand"]
        return pd.Series([at.get(k, 0) for k in zip(pairs["product_id"], pairs["warehouse_id"], strict=True)])

    def stockout_days(first: pd.Timestamp, last: pd.Timestamp) -> pd.Series:
        out = snap[(snap["day"] >= first) & (snap["day"] <= last) & (snap["on_hand"] <= 0)]
        n = out.groupby(key).size()
        return pd.Series([n.get(k, 0) for k in zip(pairs["product_id"], pairs["warehouse_id"], strict=True)])

    o = orders[(orders["status"] != "cancelled") & orders["warehouse_id"].notna()]
    sold = lines.merge(o, left_on="order_id", right_on="id")
    sold["warehouse_id"] = sold["warehouse_id"].astype("int64")
    sold["days_ago"] = (as_of - sold["placed_at"].dt.normalize()).dt.days
    sold = sold[sold["days_ago"] >= 0]

    def units(lo: int, hi: int) -> pd.Series:
        n = sold[(sold["days_ago"] >= lo) & (sold["days_ago"] <= hi)].groupby(key)["qty"].sum()
        return pd.Series([n.get(k, 0) for k in zip(pairs["product_id"], pairs["warehouse_id"], strict=True)])

    last_sale = sold.groupby(key)["days_ago"].min()
    day = pd.Timedelta(days=1)
    p = pairs.merge(products, on="product_id").merge(warehouses, on="warehouse_id")
    p["on_hand"] = on_hand_at(as_of).to_numpy()
    p["on_hand_prev"] = on_hand_at(as_of - 7 * day).to_numpy()
    p["units"] = units(0, 27).to_numpy()
    p["units_prev"] = units(7, 34).to_numpy()
    p["so"] = stockout_days(as_of - 27 * day, as_of).to_numpy()
    p["so_prev"] = stockout_days(as_of - 34 * day, as_of - 7 * day).to_numpy()
    p["days_since_sale"] = [last_sale.get(k, math.nan) for k in zip(p["product_id"], p["warehouse_id"], strict=True)]
    p["lead"] = p["lead"].fillna(DEFAULT_LEAD)
    return {"as_of": as_of, "pairs": p, "open_po": open_po}


@pytest.fixture(scope="module")
def raw(seeded_engine: Engine) -> dict[str, Any]:
    return _raw(seeded_engine)


def _kpis_by_hand(p: pd.DataFrame, on_hand: str, units: str, so: str) -> dict[str, float]:
    held = p[on_hand].clip(lower=0)
    value = float((held * p["unit_cost"]).sum())
    in_stock = WINDOW - p[so]
    rate = [u / d if d > 0 else 0.0 for u, d in zip(p[units], in_stock, strict=True)]
    sold = float(p[units].sum())
    lost = sum(r * s for r, s in zip(rate, p[so], strict=True))
    cover = [0.0 if h <= 0 else h / r for h, r in zip(held, rate, strict=True) if r > 0]
    demanding = sum(1 for r in rate if r > 0)
    return {
        "inventory_value": value,
        "turns": float((p[units] * p["unit_cost"]).sum()) * 365 / WINDOW / value,
        "sell_through": sold / (sold + float(held.sum())),
        "at_risk_share": sum(1 for c in cover if c < COVER_WARNING) / demanding,
        "fill_rate": sold / (sold + lost),
    }


def test_every_kpi_against_the_raw_rows(seeded_engine: Engine, raw: dict[str, Any]) -> None:
    with transaction(seeded_engine) as s:
        k = inventory_health(s, viewer=MANAGER).kpis.set_index("kpi")
    p = raw["pairs"]
    now = _kpis_by_hand(p, "on_hand", "units", "so")
    prev = _kpis_by_hand(p, "on_hand_prev", "units_prev", "so_prev")
    assert set(k.index) == set(now)
    for name in now:
        assert k.loc[name, "value"] == pytest.approx(now[name], rel=1e-9), name
        assert k.loc[name, "previous"] == pytest.approx(prev[name], rel=1e-9), name
        assert k.loc[name, "change"] == pytest.approx(now[name] - prev[name], rel=1e-9, abs=1e-12), name
    # shares are fractions (a percentage here would be 100x), and the seed makes them say something
    for name in ("sell_through", "at_risk_share", "fill_rate"):
        assert 0 < k.loc[name, "value"] < 1 and k.loc[name, "unit"] == "pct", name
    assert k.loc["inventory_value", "unit"] == "money"


def _projection(on_hand: float, rate: float, arrivals: list[tuple[int, float]], horizon: int = 365
                ) -> tuple[int | None, int | None]:
    """(stockout day, days from it to the first PO landing after it), walking day by day."""
    if on_hand <= 0:
        k: int | None = 0
    elif rate <= 0:
        return None, None
    else:
        k, stock = None, float(on_hand)
        for d in range(1, horizon + 1):
            stock += sum(q for a, q in arrivals if a == d) - rate
            if stock <= 1e-9:
                k = d
                break
    if k is None:
        return None, None
    later = [a for a, _q in arrivals if a > k]
    return k, (min(later) - k if later else None)


def _value_at_risk_by_hand(raw: dict[str, Any]) -> tuple[float, list[tuple[float, str, str, str]]]:
    """Total value at risk of the open exceptions and the rows (value, kind, sku, warehouse), most first."""
    p, po, as_of = raw["pairs"], raw["open_po"], raw["as_of"]
    rows = []
    for r in p.itertuples(index=False):
        rate = r.units / (WINDOW - r.so) if r.so < WINDOW else 0.0
        mine = po[(po["product_id"] == r.product_id) & (po["warehouse_id"] == r.warehouse_id)]
        on_order = float(mine["qty_open"].sum())
        arrivals = [(max((e - as_of).days, 1), float(q)) for e, q in
                    zip(mine["expected_on"], mine["qty_open"], strict=True) if not pd.isna(e)]
        dead = r.on_hand > 0 and (math.isnan(r.days_since_sale) or r.days_since_sale >= DEAD_AFTER)
        if dead:
            rows.append((r.on_hand * r.unit_cost, "dead", r.sku, r.warehouse))
        excess = 0.0 if dead else max(max(r.on_hand, 0) + on_order - rate * EXCESS_COVER, 0.0)
        if excess > 0:
            rows.append((excess * r.unit_cost, "excess", r.sku, r.warehouse))
        k, gap = _projection(r.on_hand, rate, arrivals)
        if rate > 0 and k is not None and k <= max(r.lead, COVER_WARNING):
            uncovered = gap if gap is not None else max(r.lead - k, 0)
            rows.append((rate * uncovered * r.price, "stockout", r.sku, r.warehouse))
    total = sum(row[0] for row in rows)
    return total, sorted(rows, key=lambda t: (-t[0], t[1], t[2], t[3]))


def test_headline_against_the_raw_rows(seeded_engine: Engine, raw: dict[str, Any]) -> None:
    with transaction(seeded_engine) as s:
        h = headline(s, viewer=MANAGER, filters=Filters())
    assert h.empty_reason is None
    assert h.note == (f"As of {raw['as_of']:%Y-%m-%d} (last inventory snapshot), demand over the last 28 days; "
                      "the date range does not apply to stock")
    kpis = {k.key: k for k in h.kpis}
    p = raw["pairs"]
    now = _kpis_by_hand(p, "on_hand", "units", "so")
    prev = _kpis_by_hand(p, "on_hand_prev", "units_prev", "so_prev")
    for name in now:
        assert kpis[name].value == pytest.approx(now[name], rel=1e-9) and kpis[name].help, name
        assert kpis[name].previous == pytest.approx(prev[name], rel=1e-9), name
    assert kpis["inventory_value"].kind == "money" and kpis["fill_rate"].kind == "pct"
    assert not kpis["at_risk_share"].higher_is_better and kpis["fill_rate"].higher_is_better
    total, rows = _value_at_risk_by_hand(raw)
    assert total > 0 and kpis["value_at_risk"].value == pytest.approx(total, rel=1e-9)
    assert kpis["value_at_risk"].kind == "money" and kpis["value_at_risk"].previous is None
    # top exceptions: most value at risk first, "SKU @ warehouse", the same values as by hand
    ex = h.exceptions
    assert list(ex.columns) == HEADLINE_EXCEPTION_COLUMNS and 0 < len(ex) <= 10
    top = rows[:len(ex)]
    assert ex["value_at_risk"].tolist() == pytest.approx([r[0] for r in top], rel=1e-9)
    assert ex["subject"].tolist() == [f"{r[2]} @ {r[3]}" for r in top]
    assert ex["kind"].tolist() == [r[1] for r in top]


def test_headline_of_a_vendor_is_scoped_and_an_empty_view_says_why(seeded_engine: Engine,
                                                                     raw: dict[str, Any]) -> None:
    with transaction(seeded_engine) as s:
        code = s.execute(text("SELECT s.code FROM suppliers s JOIN products p ON p.supplier_id = s.id "
                              "ORDER BY s.code LIMIT 1")).scalar_one()
        skus = set(s.execute(text("SELECT p.sku FROM products p JOIN suppliers s ON s.id = p.supplier_id "
                                  "WHERE s.code = :c"), {"c": code}).scalars())
        sup = headline(s, viewer=Viewer(username="v", role="vendor", vendor_kind="supplier", vendor_code=code),
                       filters=Filters())
        nowhere = headline(s, viewer=MANAGER, filters=Filters(warehouses=("NO-SUCH-WH",)))
        tpl = headline(s, viewer=Viewer(username="t", role="vendor", vendor_kind="warehouse", vendor_code="3PL-X"),
                       filters=Filters())
    assert {x.split(" @ ")[0] for x in sup.exceptions["subject"]} <= skus
    p = raw["pairs"][raw["pairs"]["sku"].isin(skus)]
    mine = {k.key: k.value for k in sup.kpis}
    assert mine["inventory_value"] == pytest.approx(float((p["on_hand"].clip(lower=0) * p["unit_cost"]).sum()))
    for h in (nowhere, tpl):
        assert h.kpis == () and h.exceptions.empty and list(h.exceptions.columns) == HEADLINE_EXCEPTION_COLUMNS
        assert h.empty_reason and "No stock to show" in h.empty_reason


def test_the_registration(seeded_engine: Engine) -> None:
    from ops.aggregates import REFRESHERS
    from ops.exports import load_registry

    d = load_domains()["inventory"]
    assert (d.title, d.section, d.order, d.vendor_kinds, d.filters) == (
        "Inventory health", "Operations", 20, ("supplier",), ("warehouses",))
    assert d.roles == ("admin", "manager", "planner") and d.exception_kinds == ("inventory_exception",)
    assert REFRESHERS["inventory"] is d.refresher and d.headline is headline
    registry = load_registry()
    assert set(d.exports) == {n for n, spec in registry.items() if spec.page == "inventory"}
    assert {"cover_warning_days", "excess_cover_days", "dead_stock_days"} <= set(d.thresholds)


def test_days_of_cover_is_the_one_definition(seeded_engine: Engine) -> None:
    """The page's cover equals on hand / rate from its own columns, with inf and 0 as documented."""
    with transaction(seeded_engine) as s:
        h = inventory_health(s, viewer=MANAGER)
    for df in (h.positions, h.skus):
        oh, rate, cover = df["on_hand"], df["avg_daily_demand"], df["days_of_cover"]
        assert (cover[oh <= 0] == 0).all()
        assert cover[(oh > 0) & (rate == 0)].map(math.isinf).all()
        hit = (oh > 0) & (rate > 0)
        assert hit.sum() > 10 and (cover[hit] - oh[hit] / rate[hit]).abs().max() < 1e-9
    assert h.as_of is not None and isinstance(h.as_of, dt.date)


@pytest.mark.parametrize("vendor", [False, True])
def test_the_bench_references_compute_the_page_tables(seeded_engine: Engine, vendor: bool) -> None:
    """``make bench`` times the page against DuckDB SQL and naive pandas over the raw tables; both
    must compute the page's own tables (positions, SKUs, exceptions, aging, KPIs, open POs), for a
    full viewer and for a supplier, or the bench compares different work."""
    from bench import bench_inventory as bi
    from bench import duckdb_ref

    raw = bi._read_raw(seeded_engine)
    code = bi._busiest_supplier(seeded_engine) if vendor else None
    viewer = Viewer(username="sup", role="vendor", vendor_kind="supplier", vendor_code=code) if code else MANAGER
    with transaction(seeded_engine) as s:
        h = inventory_health(s, viewer=viewer, window=bi.WINDOW)
    assert len(h.positions) > 10 and len(h.exceptions) > 3  # enough rows for the comparison to mean something
    con = duckdb_ref.connect(threads=1)
    duckdb_ref.load(con, raw)
    duck = bi.duckdb_health(con, supplier=code)
    # _agree raises AssertionError naming the first table and column that differ
    assert "sampled" in bi._agree(h, duck, "DuckDB")
    assert "sampled" in bi._agree(h, bi.naive_health(bi._scoped_raw(raw, code) if code else raw))
