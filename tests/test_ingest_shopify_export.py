"""The hand-written Shopify orders export fixture (79 columns, BOM, CRLF, multi-line quoted notes, no SKUs on some
lines, refunds, a cancelled order, DST changes inside the file) imported into an empty database.

Every expected number is computed with plain pandas from the raw fixture, never with an ``ops`` function.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, func, select

from ops.access import SYSTEM
from ops.ingest import ImportError_, run_import
from ops.models import Order, OrderLine, Product, Return, Shipment, Supplier
from tests.test_ingest_csv import contents, counts

FIX = Path(__file__).parent / "fixtures" / "imports"
EXPORT = FIX / "shopify_orders_export.csv"
BAD = FIX / "shopify_orders_export_bad.csv"


def raw() -> pd.DataFrame:
    """The fixture as pandas reads it: every cell a string, empty cells ''."""
    return pd.read_csv(EXPORT, dtype=str, keep_default_na=False, encoding="utf-8-sig")


def key_of(sku: str, title: str) -> str:
    """The product key, written out here from the documented rule (module docstring of ops.ingest.shopify)."""
    if sku:
        return sku
    norm = " ".join(title.casefold().split())
    slug = re.sub(r"[^0-9a-z]+", "-", norm).strip("-")[:40].strip("-")
    return f"NOSKU-{slug}-{hashlib.sha1(norm.encode()).hexdigest()[:8]}"  # noqa: S324 - a key


def test_fixture_is_the_real_shape() -> None:
    b = EXPORT.read_bytes()
    assert b.startswith(b"\xef\xbb\xbf") and b"\r\n" in b
    df = raw()
    assert len(df.columns) == 79 and df.columns[-1] == "Payment References"
    assert (df["Lineitem sku"] == "").sum() >= 3  # lines without a SKU
    assert df["Notes"].str.contains("\n").any()  # multi-line quoted notes
    offsets = set(df["Created at"].str[-5:]) | set(df["Fulfilled at"].str[-5:]) - {""}
    assert {"-0500", "-0400"} <= offsets  # DST changes inside the file


def test_orders_only_export_into_an_empty_database(engine: Engine) -> None:
    df = raw()
    res = run_import(engine, kind="shopify", paths=[EXPORT], viewer=SYSTEM)
    df["qty"] = df["Lineitem quantity"].astype(int)
    df["price"] = df["Lineitem price"].astype(float)
    df["disc"] = pd.to_numeric(df["Lineitem discount"].replace("", "0"))
    df["key"] = [key_of(s, t) for s, t in zip(df["Lineitem sku"], df["Lineitem name"], strict=True)]
    first = df.drop_duplicates("Name")
    assert res.rows_in == len(df)
    with engine.connect() as c:
        assert c.execute(select(func.count()).select_from(Order)).scalar_one() == df["Name"].nunique()
        assert c.execute(select(func.count()).select_from(OrderLine)).scalar_one() == len(df)
        assert c.execute(select(func.sum(OrderLine.qty))).scalar_one() == df["qty"].sum()
        value = c.execute(select(func.sum(OrderLine.qty * OrderLine.unit_price))).scalar_one()
        assert value == pytest.approx((df["qty"] * df["price"] - df["disc"]).sum())
        freight = c.execute(select(func.sum(OrderLine.freight))).scalar_one()
        assert freight == pytest.approx(pd.to_numeric(first["Shipping"]).sum())
        # Products: one per distinct SKU or title key, price of the latest order, supplier = Vendor.
        prods = {r.sku: r for r in c.execute(select(Product.sku, Product.name, Product.price, Product.size,
                                                    Supplier.code).join(Supplier, isouter=True))}
        assert set(prods) == set(df["key"])
        created = pd.to_datetime(df["Created at"], utc=True)
        latest = df.assign(t=created).sort_values("t").drop_duplicates("key", keep="last").set_index("key")
        for k, r in prods.items():
            assert r.price == float(latest.loc[k, "Lineitem price"])
            assert r.code == latest.loc[k, "Vendor"]
            assert r.name == latest.loc[k, "Lineitem name"]
        assert prods["MC-NAVY-M"].size == "Navy / M"
        assert sum(k.startswith("NOSKU-") for k in prods) == df.loc[df["Lineitem sku"] == "", "Lineitem name"].nunique()
        # Shipments: one per order with Fulfilled at, at the shop's wall-clock time (no --tz).
        ships = dict(c.execute(select(Shipment.tracking_number, Shipment.shipped_at)).all())
        fulfilled = first[first["Fulfilled at"] != ""]
        assert ships == {"SHOPIFY-" + n.lstrip("#"): dt.datetime.fromisoformat(t[:19])
                         for n, t in zip(fulfilled["Name"], fulfilled["Fulfilled at"], strict=True)}
        # Statuses: the cancelled (voided) order is cancelled, the fulfilled ones shipped.
        status = dict(c.execute(select(Order.order_number, Order.status)).all())
        assert status["#1004"] == "cancelled"
        assert status["#1001"] == "shipped" and status["#1002"] == "pending" and status["#1007"] == "processing"
        # Refunds: only the fully refunded, fulfilled order is returned: every line, the whole amount.
        refunded = first[(first["Financial Status"] == "refunded") & (first["Fulfilled at"] != "")]
        rets = c.execute(select(Return.rma_number, Return.qty, Return.refund_amount, Return.reason_code)).all()
        lines_refunded = df[df["Name"].isin(refunded["Name"])]
        assert len(rets) == len(lines_refunded)
        assert sum(r.qty for r in rets) == lines_refunded["qty"].sum()
        assert sum(r.refund_amount for r in rets) == pytest.approx(pd.to_numeric(refunded["Refunded Amount"]).sum())
        placed = dict(c.execute(select(Order.order_number, Order.placed_at)).all())
    # No --tz: every time is the wall-clock time written, across both DST changes.
    assert placed == {n: dt.datetime.fromisoformat(t[:19]) for n, t in zip(first["Name"], first["Created at"],
                                                                           strict=True)}
    partial = first[first["Financial Status"] == "partially_refunded"]
    assert any(f"{len(partial)} order(s) partially refunded" in w for w in res.warnings)
    assert any("product(s) created from the order lines" in w for w in res.warnings)


def test_tz_converts_every_offset_to_one_zone(engine: Engine) -> None:
    """With --tz UTC, -0500 and -0400 times become the same UTC instants pandas computes."""
    run_import(engine, kind="shopify", paths=[EXPORT], viewer=SYSTEM, tz="UTC")
    first = raw().drop_duplicates("Name")
    want = pd.to_datetime(first["Created at"], format="%Y-%m-%d %H:%M:%S %z", utc=True).dt.tz_localize(None)
    with engine.connect() as c:
        placed = dict(c.execute(select(Order.order_number, Order.placed_at)).all())
    assert placed == {n: t.to_pydatetime() for n, t in zip(first["Name"], want, strict=True)}
    # The DST fall-back hour: #1006 at 01:30 -0400 comes before #1007 at 01:15 -0500.
    assert placed["#1006"] < placed["#1007"]


def test_reimport_changes_nothing(engine: Engine) -> None:
    run_import(engine, kind="shopify", paths=[EXPORT], viewer=SYSTEM)
    before = contents(engine)
    again = run_import(engine, kind="shopify", paths=[EXPORT], viewer=SYSTEM)
    assert again.rows_changed == 0 and again.refreshed == ()
    assert contents(engine) == before


def test_dry_run_reports_and_changes_nothing(engine: Engine) -> None:
    before = contents(engine)
    res = run_import(engine, kind="shopify", paths=[EXPORT], viewer=SYSTEM, dry_run=True)
    assert res.dry_run and res.inserted["orders"] == raw()["Name"].nunique()
    assert "would be inserted" in res.summary()
    assert contents(engine) == before
    with pytest.raises(ImportError_):
        run_import(engine, kind="shopify", paths=[BAD], viewer=SYSTEM, dry_run=True)


def test_one_bad_row_refuses_the_whole_file(engine: Engine) -> None:
    before = counts(engine)
    with pytest.raises(ImportError_) as ei:
        run_import(engine, kind="shopify", paths=[BAD], viewer=SYSTEM)
    # Line 12 of the file (the multi-line notes of #1001 and #1004 move it down from row 11).
    assert [(e.file, e.line, e.column) for e in ei.value.errors] == [
        ("shopify_orders_export_bad.csv", 12, "Lineitem quantity")]
    assert "not a whole number: 'four'" in ei.value.errors[0].message
    assert counts(engine) == before


def test_another_currency_is_refused_once(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPS_CURRENCY", "EUR")
    with pytest.raises(ImportError_) as ei:
        run_import(engine, kind="shopify", paths=[EXPORT], viewer=SYSTEM)
    assert [(e.line, e.column) for e in ei.value.errors] == [(2, "Currency")]
    assert "is in USD, but the shop's currency is EUR" in ei.value.errors[0].message


def test_a_newer_export_updates_in_place(engine: Engine, tmp_path: Path) -> None:
    """The same store exported again after #1002 was paid and fulfilled: that order changes, nothing else."""
    run_import(engine, kind="shopify", paths=[EXPORT], viewer=SYSTEM)
    before = contents(engine)
    df = raw()
    first = df.index[df["Name"] == "#1002"][0]
    df.loc[first, ["Financial Status", "Paid at", "Fulfillment Status", "Fulfilled at"]] = [
        "paid", "2024-03-10 01:31:00 -0500", "fulfilled", "2024-03-12 09:00:00 -0400"]
    newer = tmp_path / "orders_export_2.csv"
    df.to_csv(newer, index=False)
    res = run_import(engine, kind="shopify", paths=[newer], viewer=SYSTEM)
    assert res.updated.get("orders") == 1 and res.inserted.get("shipments") == 1
    assert res.rows_changed == 2
    after = contents(engine)
    assert {t for t in after if after[t] != before[t]} == {"orders", "shipments"}
    with engine.connect() as c:
        o = c.execute(select(Order.status, Order.paid_at).where(Order.order_number == "#1002")).one()
    assert o == ("shipped", dt.datetime(2024, 3, 10, 1, 31))
