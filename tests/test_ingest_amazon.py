"""Amazon All Orders report (tab-separated, item-price = total for the quantity, blank amounts on pending and
cancelled items, a '"' inside a product name, blank lines) and the FBA customer returns report, checked against
plain pandas on the raw fixtures."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, func, select

from ops.access import SYSTEM
from ops.ingest import ImportError_, run_import, run_imports
from ops.models import Order, OrderLine, Product, Return
from tests.test_ingest_csv import contents, counts

FIX = Path(__file__).parent / "fixtures" / "imports"
ORDERS, BAD, RETURNS = FIX / "amazon_all_orders.txt", FIX / "amazon_all_orders_bad.txt", FIX / "amazon_fba_returns.txt"


def raw_orders() -> pd.DataFrame:
    # Quoting disabled, as Amazon's own guidance says: a '"' inside a product name is text.
    df = pd.read_csv(ORDERS, sep="\t", dtype=str, keep_default_na=False, quoting=csv.QUOTE_NONE)
    df["q"] = df["quantity"].astype(int)
    df["total"] = pd.to_numeric(df["item-price"].replace("", "0"))
    return df


def test_all_orders_report(engine: Engine) -> None:
    df = raw_orders()
    assert '7\'6" spare' in " ".join(df["product-name"])
    res = run_import(engine, kind="amazon-orders", paths=[ORDERS], viewer=SYSTEM)
    kept = df[df["q"] > 0]
    with engine.connect() as c:
        assert c.execute(select(func.count()).select_from(Order)).scalar_one() == df["amazon-order-id"].nunique()
        n, units, value = c.execute(select(func.count(), func.sum(OrderLine.qty),
                                           func.sum(OrderLine.qty * OrderLine.unit_price))).one()
        assert (n, units) == (len(kept), kept["q"].sum())
        # item-price is the total for the quantity: qty x unit price adds back up to it.
        assert value == pytest.approx(kept["total"].sum())
        assert c.execute(select(OrderLine.unit_price).join(Product).where(Product.sku == "MC-NAVY-M")
                         .order_by(OrderLine.id)).scalars().first() == 59.0  # 118.00 for 2
        status = dict(c.execute(select(Order.order_number, Order.status)).all())
        assert status == {"113-4567890-1234567": "shipped", "114-1111111-2222222": "pending",
                          "114-3333333-4444444": "cancelled", "112-5555555-6666666": "shipped",
                          "112-7777777-8888888": "processing"}
        assert set(c.execute(select(Product.sku)).scalars()) == set(kept["sku"])
    assert any("1 item(s) with quantity 0" in w for w in res.warnings)
    before = contents(engine)
    assert run_import(engine, kind="amazon-orders", paths=[ORDERS], viewer=SYSTEM).rows_changed == 0
    assert contents(engine) == before


def test_fba_returns_match_order_lines(engine: Engine) -> None:
    ret = pd.read_csv(RETURNS, sep="\t", dtype=str, keep_default_na=False)
    run_imports(engine, groups=[("amazon-orders", [ORDERS]), ("amazon-returns", [RETURNS])], viewer=SYSTEM)
    with engine.connect() as c:
        rows = c.execute(select(Return.rma_number, Return.qty, Return.reason_code, Return.disposition,
                                Return.comment, Order.order_number, Product.sku)
                         .join(OrderLine, Return.order_line_id == OrderLine.id)
                         .join(Order, OrderLine.order_id == Order.id)
                         .join(Product, OrderLine.product_id == Product.id)).all()
    assert len(rows) == len(ret)
    assert sum(r.qty for r in rows) == ret["quantity"].astype(int).sum()
    assert sorted((r.order_number, r.sku) for r in rows) == sorted(zip(ret["order-id"], ret["sku"], strict=True))
    assert sorted(r.rma_number for r in rows) == sorted("AMZ-" + ret["license-plate-number"])
    by = {r.rma_number: r for r in rows}
    assert by["AMZ-LPNRR1000001"].disposition == "restock" and by["AMZ-LPNRR2000001"].disposition == "scrap"
    assert by["AMZ-LPNRR2000001"].comment == 'holes after one wash, "premium" my foot'
    assert by["AMZ-LPNRR1000002"].reason_code == "UNWANTED_ITEM"


def test_returns_without_their_order_are_refused(engine: Engine) -> None:
    with pytest.raises(ImportError_) as ei:
        run_import(engine, kind="amazon-returns", paths=[RETURNS], viewer=SYSTEM)
    assert [(e.line, e.column) for e in ei.value.errors] == [(2, "order-id"), (3, "order-id"), (4, "order-id")]


def test_bad_row_refuses_the_report(engine: Engine) -> None:
    before = counts(engine)
    with pytest.raises(ImportError_) as ei:
        run_import(engine, kind="amazon-orders", paths=[BAD], viewer=SYSTEM)
    # Line 8: the blank lines 4 and 7 count as lines of the file.
    assert [(e.file, e.line, e.column) for e in ei.value.errors] == [("amazon_all_orders_bad.txt", 8, "item-price")]
    assert counts(engine) == before
