"""UCI Online Retail layout: the hand-written fixture (R write.csv header with an unnamed first column, CRLF,
``""`` inside quotes, NA customers, cancellations with and without their original, a stock adjustment) and the
shared 2,709-row sample, checked against plain pandas on the raw CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine, func, select

from ops.access import SYSTEM
from ops.ingest import ImportError_, run_import
from ops.models import Order, OrderLine, Product, Return
from tests.conftest import SHARED_DATA
from tests.test_ingest_csv import contents, counts

FIX = Path(__file__).parent / "fixtures" / "imports"
HAND = FIX / "online_retail.csv"
BAD = FIX / "online_retail_bad.csv"
SAMPLE = SHARED_DATA / "online_retail_sample" / "online_retail_sample.csv"


def expected(path: Path) -> dict[str, Any]:
    """What the import must give, computed from the raw CSV with pandas alone."""
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df["q"] = df["Quantity"].astype(int)
    df["p"] = df["UnitPrice"].astype(float)
    df["t"] = pd.to_datetime(df["InvoiceDate"], format="%m/%d/%Y %H:%M")
    cancel = df["InvoiceNo"].str.startswith("C")
    sales = df[~cancel & (df["q"] > 0)]
    c = df[cancel].copy()
    # A cancellation's original: same customer (not NA) and StockCode, on an invoice placed at or before it.
    c["matched"] = [r["CustomerID"] not in ("", "NA") and bool(
        ((sales["CustomerID"] == r["CustomerID"]) & (sales["StockCode"] == r["StockCode"])
         & (sales["t"] <= r["t"])).any()) for _, r in c.iterrows()]
    return {"sales": sales, "cancel": c, "matched": int(c["matched"].sum()),
            "own": c.loc[~c["matched"], "InvoiceNo"].nunique(), "adjust": int((~cancel & (df["q"] < 0)).sum()),
            "skus": set(sales["StockCode"]) | set(c["StockCode"])}


def check(engine: Engine, path: Path) -> None:
    e = expected(path)
    sales, c = e["sales"], e["cancel"]
    res = run_import(engine, kind="online-retail", paths=[path], viewer=SYSTEM)
    with engine.connect() as conn:
        shipped = conn.execute(select(func.count()).select_from(Order).where(Order.status == "shipped")).scalar_one()
        assert shipped == sales["InvoiceNo"].nunique()
        sold = (select(func.count(), func.sum(OrderLine.qty), func.sum(OrderLine.qty * OrderLine.unit_price))
                .join(Order).where(Order.status == "shipped"))
        n, units, value = conn.execute(sold).one()
        assert (n, units) == (len(sales), sales["q"].sum())
        assert value == pytest.approx((sales["q"] * sales["p"]).sum())
        rets = conn.execute(select(Return.qty, Return.refund_amount, Return.reason_code, Product.sku)
                            .join(OrderLine, Return.order_line_id == OrderLine.id)
                            .join(Product, OrderLine.product_id == Product.id)).all()
        # Every cancellation line is a return of its own SKU, with its units and amount.
        assert len(rets) == len(c)
        assert sum(r.qty for r in rets) == -c["q"].sum()
        assert sum(r.refund_amount for r in rets) == pytest.approx((-c["q"] * c["p"]).sum(), abs=0.01)
        assert sorted(r.sku for r in rets) == sorted(c["StockCode"])
        own = conn.execute(select(func.count()).select_from(Order).where(Order.status == "cancelled")).scalar_one()
        assert own == e["own"]
        assert set(conn.execute(select(Product.sku)).scalars()) == e["skus"]
    assert any(f"{e['matched']:,} matched to the original" in w for w in res.warnings)
    if e["adjust"]:
        assert any(f"{e['adjust']:,} row(s) with a negative Quantity" in w for w in res.warnings)
    before = contents(engine)
    assert run_import(engine, kind="online-retail", paths=[path], viewer=SYSTEM).rows_changed == 0
    assert contents(engine) == before


def test_hand_written_fixture(engine: Engine) -> None:
    check(engine, HAND)
    # By hand: C536379 matches 536365 line 1; C536391 matches the later of 536370 / 536384 (536384 line 1);
    # C536383 (customer 15311 bought nothing here) is recorded against its own cancelled invoice.
    with engine.connect() as conn:
        got = dict(conn.execute(select(Return.rma_number, Order.order_number)
                                .join(OrderLine, Return.order_line_id == OrderLine.id)
                                .join(Order, OrderLine.order_id == Order.id)).all())
    assert got == {"C536379-1": "536365", "C536391-1": "536384", "C536383-1": "C536383"}


def test_shared_sample_counts_match_the_raw_csv(engine: Engine) -> None:
    raw = pd.read_csv(SAMPLE, dtype=str, keep_default_na=False)
    assert raw["InvoiceNo"].str.startswith("C").sum() == 50  # as the data's README says
    check(engine, SAMPLE)


def test_bad_row_refuses_the_file(engine: Engine) -> None:
    before = counts(engine)
    with pytest.raises(ImportError_) as ei:
        run_import(engine, kind="online-retail", paths=[BAD], viewer=SYSTEM)
    assert [(e.file, e.line, e.column) for e in ei.value.errors] == [("online_retail_bad.csv", 16, "InvoiceDate")]
    assert "12/32/2010" in ei.value.errors[0].message
    assert counts(engine) == before
