"""WooCommerce order exports in both layouts: one row per order with packed line_item_N cells (M/D/YYYY times,
a multi-line note, thousands separators, a line without SKU, wc- statuses) and one row per line item (BOM, CRLF,
quoted quotes, "1,000.00"), checked against plain pandas on the raw fixtures."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, func, select

from ops.access import SYSTEM
from ops.ingest import ImportError_, run_import
from ops.ingest.detect import kind_of, read_header
from ops.models import Order, OrderLine, Product
from tests.test_ingest_csv import contents, counts

FIX = Path(__file__).parent / "fixtures" / "imports"
PER_ORDER, PER_ITEM, BAD = (FIX / "woocommerce_orders.csv", FIX / "woocommerce_line_items.csv",
                            FIX / "woocommerce_orders_bad.csv")


def totals(engine: Engine) -> tuple[int, int, int, float, float]:
    with engine.connect() as c:
        n_orders = c.execute(select(func.count()).select_from(Order)).scalar_one()
        n, units, value, freight = c.execute(select(func.count(), func.sum(OrderLine.qty),
                                                    func.sum(OrderLine.qty * OrderLine.unit_price),
                                                    func.sum(OrderLine.freight))).one()
    return n_orders, n, units, value, freight


def test_both_layouts_are_recognised() -> None:
    assert kind_of(read_header(PER_ORDER)) == kind_of(read_header(PER_ITEM)) == ["woocommerce"]


def test_one_row_per_order(engine: Engine) -> None:
    df = pd.read_csv(PER_ORDER, dtype=str, keep_default_na=False)
    items = [dict(p.split(":", 1) for p in cell.split("|")) for c in df.columns if c.startswith("line_item_")
             for cell in df[c] if cell]
    run_import(engine, kind="woocommerce", paths=[PER_ORDER], viewer=SYSTEM)
    n_orders, n, units, value, freight = totals(engine)
    assert (n_orders, n) == (len(df), len(items))
    assert units == sum(int(i["quantity"]) for i in items)
    assert value == pytest.approx(sum(float(i["total"]) for i in items))  # total is the line's, after discounts
    assert freight == pytest.approx(df["shipping_total"].astype(float).sum())
    with engine.connect() as c:
        got = dict(c.execute(select(Order.order_number, Order.status)).all())
        placed = c.execute(select(Order.placed_at).where(Order.order_number == "WC-1001")).scalar_one()
        skus = set(c.execute(select(Product.sku)).scalars())
    assert got == {"WC-1001": "shipped", "WC-1002": "pending", "WC-1003": "cancelled"}
    assert placed == dt.datetime(2024, 9, 6, 6, 29)
    assert {"HD-BLU", "DESK-1"} <= skus and any(s.startswith("NOSKU-enamel-pin-") for s in skus)
    before = contents(engine)
    assert run_import(engine, kind="woocommerce", paths=[PER_ORDER], viewer=SYSTEM).rows_changed == 0
    assert contents(engine) == before


def test_one_row_per_line_item(engine: Engine) -> None:
    df = pd.read_csv(PER_ITEM, dtype=str, keep_default_na=False, encoding="utf-8-sig", thousands=",")
    run_import(engine, kind="woocommerce", paths=[PER_ITEM], viewer=SYSTEM)
    n_orders, n, units, value, freight = totals(engine)
    assert (n_orders, n) == (df["Order Number"].nunique(), len(df))
    assert units == df["Quantity"].astype(int).sum()
    cost = df["Item Cost"].str.replace(",", "").astype(float)
    assert value == pytest.approx((df["Quantity"].astype(int) * cost).sum())
    assert freight == pytest.approx(df.drop_duplicates("Order Number")["Order Shipping Amount"].astype(float).sum())
    before = contents(engine)
    assert run_import(engine, kind="woocommerce", paths=[PER_ITEM], viewer=SYSTEM).rows_changed == 0
    assert contents(engine) == before


def test_bad_packed_item_refuses_the_file(engine: Engine) -> None:
    before = counts(engine)
    with pytest.raises(ImportError_) as ei:
        run_import(engine, kind="woocommerce", paths=[BAD], viewer=SYSTEM)
    # Line 4: the customer note of WC-1001 spans lines 2 and 3.
    assert [(e.file, e.line, e.column) for e in ei.value.errors] == [("woocommerce_orders_bad.csv", 4, "line_item_1")]
    assert "not a whole number: 'three'" in ei.value.errors[0].message
    assert counts(engine) == before
