"""Shopify products export (variant rows and image-only rows, product fields on a handle's first row, translated
metafield headers, apostrophe barcodes and SKUs, variants without SKU, a multi-line HTML body) and inventory export
('not stocked', negative on-hand, two locations, thousands separators), checked against plain pandas."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, func, select

from ops.access import SYSTEM
from ops.ingest import ImportError_, run_import
from ops.ingest.detect import kind_of, read_header
from ops.ingest.reader import today
from ops.models import InventorySnapshot, Product, Supplier, Warehouse
from tests.test_ingest_csv import contents, counts

FIX = Path(__file__).parent / "fixtures" / "imports"
PRODUCTS, BAD, INVENTORY = (FIX / "shopify_products_export.csv", FIX / "shopify_products_export_bad.csv",
                            FIX / "shopify_inventory_export.csv")


def test_recognised() -> None:
    assert kind_of(read_header(PRODUCTS)) == ["shopify-products"]
    assert kind_of(read_header(INVENTORY)) == ["shopify-inventory"]


def test_products_export(engine: Engine) -> None:
    df = pd.read_csv(PRODUCTS, dtype=str, keep_default_na=False)
    variants = df[df["Variant Price"] != ""]
    res = run_import(engine, kind="shopify-products", paths=[PRODUCTS], viewer=SYSTEM)
    with engine.connect() as c:
        prods = {r.sku: r for r in c.execute(select(Product.sku, Product.name, Product.price, Product.unit_cost,
                                                    Product.category, Product.active, Supplier.code)
                                             .join(Supplier, isouter=True))}
    assert len(prods) == len(variants)
    assert sum(p.price for p in prods.values()) == pytest.approx(variants["Variant Price"].astype(float).sum())
    assert sum(p.unit_cost for p in prods.values()) == pytest.approx(
        pd.to_numeric(variants["Cost per item"].replace("", "0")).sum())
    assert "0042" in prods and "'0042" not in prods  # Shopify's apostrophe keeps digits as text; it is not the SKU
    assert prods["0042"].name == "Merino crew - Navy / L" and prods["0042"].code == "Northwind Knits"
    assert prods["MC-NAVY-M"].category == "Knitwear"
    mugs = [p for k, p in prods.items() if k.startswith("NOSKU-handmade-mug")]
    assert sorted(p.name for p in mugs) == ["Handmade mug - Blue", "Handmade mug - Green"]
    assert {p.category for p in mugs} == {"Mugs"}
    gift = next(p for p in prods.values() if p.name == "Gift card")
    assert gift.active is False
    assert any("1 image-only row" not in w and "image-only" in w for w in res.warnings)
    before = contents(engine)
    assert run_import(engine, kind="shopify-products", paths=[PRODUCTS], viewer=SYSTEM).rows_changed == 0
    assert contents(engine) == before


def test_products_meet_the_orders_export_lines_without_sku(engine: Engine) -> None:
    run_import(engine, kind="shopify", paths=[FIX / "shopify_orders_export.csv"], viewer=SYSTEM)
    n = counts(engine)["products"]
    run_import(engine, kind="shopify-products", paths=[PRODUCTS], viewer=SYSTEM)
    with engine.connect() as c:
        blue = c.execute(select(Product.price, Product.unit_cost).where(Product.name == "Handmade mug - Blue")).all()
    assert len(blue) == 1  # the same NOSKU key: updated, not a second product
    # New ones: the two variants not in the orders (Navy / L, Green) and the gift card's Default Title.
    assert counts(engine)["products"] == n + 3


def test_inventory_export(engine: Engine) -> None:
    df = pd.read_csv(INVENTORY, dtype=str, keep_default_na=False)
    stocked = df[df["On hand (current)"] != "not stocked"]
    on_hand = pd.to_numeric(stocked["On hand (current)"].str.replace(",", ""))
    res = run_import(engine, kind="shopify-inventory", paths=[INVENTORY], viewer=SYSTEM)
    with engine.connect() as c:
        n, total, day = c.execute(select(func.count(), func.sum(InventorySnapshot.on_hand),
                                         func.max(InventorySnapshot.day))).one()
        whs = set(c.execute(select(Warehouse.code)).scalars())
    assert n == len(stocked)
    assert total == on_hand.clip(lower=0).sum()  # the oversold -3 is stored as 0
    assert str(day) == today().isoformat()
    assert whs == set(stocked["Location"])
    assert any("1 variant(s) with a negative on-hand" in w for w in res.warnings)
    assert any("1 row(s) 'not stocked'" in w for w in res.warnings)
    before = contents(engine)
    assert run_import(engine, kind="shopify-inventory", paths=[INVENTORY], viewer=SYSTEM).rows_changed == 0
    assert contents(engine) == before


def test_bad_row_refuses_the_file(engine: Engine) -> None:
    before = counts(engine)
    with pytest.raises(ImportError_) as ei:
        run_import(engine, kind="shopify-products", paths=[BAD], viewer=SYSTEM)
    # Line 7: the first row's HTML body spans lines 2 and 3.
    assert [(e.file, e.line, e.column) for e in ei.value.errors] == [
        ("shopify_products_export_bad.csv", 7, "Variant Price")]
    assert counts(engine) == before
