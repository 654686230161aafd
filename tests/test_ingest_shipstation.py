"""ShipStation grid export (one row per order, "(2 Items)", MM/DD/YYYY, $ amounts, a re-exported duplicate row, a
second label, an unshipped order) and order export (Group - Field headers, the "Markeplace" spelling, 18-digit
order number, AM/PM times, item rows folded into one shipment, thousands separators), against plain pandas."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, func, select

from ops.access import SYSTEM
from ops.ingest import ImportError_, run_import
from ops.ingest.detect import kind_of, read_header
from ops.models import Carrier, Order, Shipment
from tests.test_ingest_csv import contents, counts, import_templates

FIX = Path(__file__).parent / "fixtures" / "imports"
GRID, BAD = FIX / "shipstation_grid.csv", FIX / "shipstation_grid_bad.csv"
EXPORT = FIX / "shipstation_orders_export.csv"


def money(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s.str.replace("$", "", regex=False).str.replace(",", "", regex=False).replace("", "0"))


def test_both_layouts_are_one_format() -> None:
    assert kind_of(read_header(GRID)) == kind_of(read_header(EXPORT)) == ["shipstation"]


def test_grid_export_gives_one_shipment_per_label(engine: Engine) -> None:
    run_import(engine, kind="shopify", paths=[FIX / "shopify_orders_export.csv"], viewer=SYSTEM)
    df = pd.read_csv(GRID, dtype=str, keep_default_na=False)
    shipped = df[df["Ship Date"] != ""].drop_duplicates()  # a re-exported row is the same label
    before = counts(engine)["shipments"]
    res = run_import(engine, kind="shipstation", paths=[GRID], viewer=SYSTEM)
    with engine.connect() as c:
        rows = c.execute(select(Shipment.label_cost, Shipment.shipped_at, Order.order_number, Carrier.code)
                         .join(Order, Shipment.order_id == Order.id).join(Carrier, isouter=True)
                         .where(Shipment.tracking_number.like("SS-%"))).all()
    assert counts(engine)["shipments"] - before == len(shipped) == len(rows)
    assert sum(r.label_cost for r in rows) == pytest.approx(money(shipped["Rate"]).sum())
    assert sorted(r.order_number for r in rows) == sorted("#" + shipped["Order #"])
    assert sorted(str(r.shipped_at.date()) for r in rows) == sorted(
        pd.to_datetime(shipped["Ship Date"], format="%m/%d/%Y").dt.strftime("%Y-%m-%d"))
    assert {r.order_number: r.code for r in rows if r.label_cost in (8.75, 6.10, 12.40, 0.0)} == {
        "#1001": "USPS", "#1003": "UPS", "#1005": "FEDEX", "#1006": None}
    assert any("1 order(s) without a ship date" in w for w in res.warnings)
    once = contents(engine)
    assert run_import(engine, kind="shipstation", paths=[GRID], viewer=SYSTEM).rows_changed == 0
    assert contents(engine) == once


def test_order_export_folds_item_rows(engine: Engine, tmp_path: Path) -> None:
    import_templates(engine, upto="shipments")
    tiktok = tmp_path / "orders.csv"
    with open(tiktok, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["order_number", "channel_code", "status", "placed_at", "line_no", "sku", "qty", "unit_price"])
        w.writerow(["576802468135792468", "web", "shipped", "2026-04-01 04:42:06", "1", "00123", "1", "59"])
        w.writerow(["576802468135792468", "web", "shipped", "2026-04-01 04:42:06", "2", "TENT-2P", "1", "249"])
    run_import(engine, kind="csv-orders", paths=[tiktok], viewer=SYSTEM)
    df = pd.read_csv(EXPORT, dtype=str, keep_default_na=False)
    labels = df.drop_duplicates(["Order - Number", "Date - Shipped Date", "Amount - Shipping Cost"])
    run_import(engine, kind="shipstation", paths=[EXPORT], viewer=SYSTEM)
    with engine.connect() as c:
        rows = c.execute(select(Order.order_number, Shipment.label_cost, Shipment.shipped_at)
                         .join(Order, Shipment.order_id == Order.id)
                         .where(Shipment.tracking_number.like("SS-%"))).all()
        assert c.execute(select(func.count()).select_from(Order)
                         .where(Order.order_number == "576802468135792468")).scalar_one() == 1
    assert len(rows) == len(labels) == 2
    assert sum(r.label_cost for r in rows) == pytest.approx(money(labels["Amount - Shipping Cost"]).sum())
    got = {r.order_number: r.shipped_at for r in rows}
    assert got["576802468135792468"] == dt.datetime(2026, 4, 2, 15, 15)  # 3:15:00 PM
    assert got["100045"] == dt.datetime(2024, 3, 1, 16, 40)


def test_bad_row_and_unknown_order_are_refused(engine: Engine) -> None:
    run_import(engine, kind="shopify", paths=[FIX / "shopify_orders_export.csv"], viewer=SYSTEM)
    before = counts(engine)
    with pytest.raises(ImportError_) as ei:
        run_import(engine, kind="shipstation", paths=[BAD], viewer=SYSTEM)
    assert [(e.file, e.line, e.column) for e in ei.value.errors] == [("shipstation_grid_bad.csv", 6, "Rate")]
    assert counts(engine) == before


def test_shipments_of_unknown_orders_are_refused(engine: Engine) -> None:
    with pytest.raises(ImportError_) as ei:
        run_import(engine, kind="shipstation", paths=[GRID], viewer=SYSTEM)
    assert {(e.line, e.column) for e in ei.value.errors} == {(2, "Order #"), (3, "Order #"), (4, "Order #"),
                                                             (6, "Order #"), (7, "Order #")}
