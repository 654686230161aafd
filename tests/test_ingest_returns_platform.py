"""A Loop-style returns CSV (two-level reasons, a multi-line quoted comment, a line without SKU matched by its
title, an exchange, UTC offsets, Shopify order names with and without '#') into returns of imported order lines."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, select

from ops.access import SYSTEM
from ops.ingest import ImportError_, run_import
from ops.ingest.detect import kind_of, read_header
from ops.models import Order, OrderLine, Product, Return
from tests.test_ingest_csv import contents, counts

FIX = Path(__file__).parent / "fixtures" / "imports"
LOOP, BAD = FIX / "loop_returns.csv", FIX / "loop_returns_bad.csv"


def test_loop_returns_match_shopify_lines(engine: Engine) -> None:
    assert kind_of(read_header(LOOP)) == ["returns-platform"]
    run_import(engine, kind="shopify", paths=[FIX / "shopify_orders_export.csv"], viewer=SYSTEM)
    df = pd.read_csv(LOOP, dtype=str, keep_default_na=False)
    before = contents(engine)["returns"]
    run_import(engine, kind="returns-platform", paths=[LOOP], viewer=SYSTEM)
    with engine.connect() as c:
        rows = c.execute(select(Return.rma_number, Return.qty, Return.reason_code, Return.comment,
                                Return.refund_amount, Order.order_number, Product.name)
                         .join(OrderLine, Return.order_line_id == OrderLine.id)
                         .join(Order, OrderLine.order_id == Order.id)
                         .join(Product, OrderLine.product_id == Product.id)
                         .where(Return.rma_number.like("LOOP-%"))).all()
    assert len(rows) == len(df) and len(contents(engine)["returns"]) == len(before) + len(df)
    assert sum(r.refund_amount for r in rows) == pytest.approx(df["refund"].astype(float).sum())
    assert sorted(r.order_number for r in rows) == sorted("#" + df["order_name"].str.lstrip("#"))
    assert sorted(r.name for r in rows) == sorted(df["title"])
    by = {r.rma_number: r for r in rows}
    first = next(r for k, r in by.items() if k.startswith("LOOP-88001-MC-NAVY-M"))
    assert first.reason_code == "Too small"
    assert first.comment == 'Lovely wool but "M" is more like an S.\nWould reorder in L. (refund; parent reason: Fit)'
    assert next(r for k, r in by.items() if k.startswith("LOOP-88001-SOCK-3")).reason_code == "Changed mind"
    once = contents(engine)
    assert run_import(engine, kind="returns-platform", paths=[LOOP], viewer=SYSTEM).rows_changed == 0
    assert contents(engine) == once


def test_unknown_order_refuses_the_file(engine: Engine) -> None:
    run_import(engine, kind="shopify", paths=[FIX / "shopify_orders_export.csv"], viewer=SYSTEM)
    before = counts(engine)
    with pytest.raises(ImportError_) as ei:
        run_import(engine, kind="returns-platform", paths=[BAD], viewer=SYSTEM)
    assert [(e.file, e.line, e.column) for e in ei.value.errors] == [("loop_returns_bad.csv", 6, "order_name")]
    assert counts(engine) == before
