"""Shopify orders export import: mapping, continuation rows, statuses, idempotency, refusals."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from ops.access import SYSTEM
from ops.db import transaction
from ops.ingest import ImportError_, run_import
from ops.ingest.shopify import order_status
from ops.models import Channel, Order, OrderLine, Product, Shipment
from tests.test_ingest_csv import contents, counts, import_templates

# The standard header of Shopify's "Export orders" CSV (Admin > Orders > Export).
HEADER = [
    "Name", "Email", "Financial Status", "Paid at", "Fulfillment Status", "Fulfilled at", "Accepts Marketing",
    "Currency", "Subtotal", "Shipping", "Taxes", "Total", "Discount Code", "Discount Amount", "Shipping Method",
    "Created at", "Lineitem quantity", "Lineitem name", "Lineitem price", "Lineitem compare at price",
    "Lineitem sku", "Lineitem requires shipping", "Lineitem taxable", "Lineitem fulfillment status",
    "Billing Name", "Billing Street", "Billing Address1", "Billing Address2", "Billing Company", "Billing City",
    "Billing Zip", "Billing Province", "Billing Country", "Billing Phone", "Shipping Name", "Shipping Street",
    "Shipping Address1", "Shipping Address2", "Shipping Company", "Shipping City", "Shipping Zip",
    "Shipping Province", "Shipping Country", "Shipping Phone", "Notes", "Note Attributes", "Cancelled at",
    "Payment Method", "Payment Reference", "Refunded Amount", "Vendor", "Outstanding Balance", "Employee",
    "Location", "Device ID", "Id", "Tags", "Risk Level", "Source", "Lineitem discount", "Tax 1 Name",
    "Tax 1 Value", "Phone", "Receipt Number", "Duties", "Billing Province Name", "Shipping Province Name",
    "Payment ID", "Payment Terms Name", "Next Payment Due At", "Payment References",
]


def export(path: Path, rows: list[dict[str, str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=HEADER)
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in HEADER})
    return path


def order(name: str, **kw: str) -> dict[str, str]:
    base = {"Name": name, "Email": "someone@example.com", "Financial Status": "paid", "Currency": "USD",
            "Created at": "2024-03-01 09:15:00 -0500", "Paid at": "2024-03-01 09:16:02 -0500",
            "Shipping": "5.00", "Shipping Province": "NY", "Shipping Country": "US", "Shipping Name": "A Person",
            "Lineitem quantity": "1", "Lineitem name": "Merino crew, navy - M", "Lineitem price": "59.00",
            "Lineitem sku": "00123", "Source": "web"}
    base.update(kw)
    return base


def line(name: str, **kw: str) -> dict[str, str]:
    """A continuation row: Shopify leaves the order's fields empty after its first row."""
    return {"Name": name, "Lineitem quantity": "1", "Lineitem name": "Tent", "Lineitem price": "249.00",
            "Lineitem sku": "TENT-2P", **kw}


def test_status_mapping() -> None:
    assert order_status("paid", "fulfilled", False) == "shipped"
    assert order_status("paid", "", False) == "processing"
    assert order_status("pending", "unfulfilled", False) == "pending"
    assert order_status("authorized", "partial", False) == "processing"
    assert order_status("paid", "fulfilled", True) == "cancelled"
    assert order_status("voided", "", False) == "cancelled"


def test_shopify_export_maps_orders_lines_and_shipments(engine: Engine, tmp_path: Path) -> None:
    import_templates(engine, upto="products")
    f = export(tmp_path / "orders_export.csv", [
        order("#1001", **{"Fulfillment Status": "fulfilled", "Fulfilled at": "2024-03-02 14:00:00 -0500",
                          "Lineitem quantity": "2"}),
        line("#1001", **{"Lineitem quantity": "1"}),
        order("#1002", **{"Financial Status": "pending", "Paid at": "", "Fulfillment Status": "unfulfilled",
                          "Notes": "leave at the door,\nring twice", "Shipping Province": "CA"}),
        order("#1003", **{"Cancelled at": "2024-03-03 08:00:00 -0500", "Financial Status": "refunded"}),
    ])
    res = run_import(engine, kind="shopify", paths=[f], viewer=SYSTEM)
    assert res.rows_in == 4
    with transaction(engine) as s:
        got = {o.order_number: o for o in s.execute(select(Order)).scalars()}
        assert set(got) == {"#1001", "#1002", "#1003"}
        o1 = got["#1001"]
        assert (o1.placed_at, o1.paid_at) == (dt.datetime(2024, 3, 1, 9, 15), dt.datetime(2024, 3, 1, 9, 16, 2))
        assert (o1.status, o1.customer_region, o1.source) == ("shipped", "NY", "shopify")
        assert s.get(Channel, o1.channel_id).code == "shopify"
        assert (got["#1002"].status, got["#1002"].paid_at, got["#1002"].customer_region) == ("pending", None, "CA")
        assert got["#1003"].status == "cancelled"
        lines = s.execute(select(OrderLine.line_no, Product.sku, OrderLine.qty, OrderLine.unit_price, OrderLine.freight)
                          .join(Product, Product.id == OrderLine.product_id)
                          .where(OrderLine.order_id == o1.id).order_by(OrderLine.line_no)).all()
        assert [tuple(r) for r in lines] == [(1, "00123", 2, 59.0, 5.0), (2, "TENT-2P", 1, 249.0, 0.0)]
        ship = s.execute(select(Shipment)).scalar_one()
        assert (ship.tracking_number, ship.order_id, ship.shipped_at) == (
            "SHOPIFY-1001", o1.id, dt.datetime(2024, 3, 2, 14, 0))
    before = contents(engine)
    assert run_import(engine, kind="shopify", paths=[f], viewer=SYSTEM).rows_changed == 0
    assert contents(engine) == before


def test_shopify_problems_are_refused_by_line_and_column(engine: Engine, tmp_path: Path) -> None:
    import_templates(engine, upto="products")
    f = export(tmp_path / "orders_export.csv", [
        order("#2001"),                                   # line 2
        line("#2001", **{"Lineitem sku": "", "Lineitem name": ""}),  # line 3: names no product
        order("#2002", **{"Created at": ""}),             # line 4: no Created at on the first row
        order("#2003", **{"Lineitem quantity": "-1"}),    # line 5: negative quantity
        order("#2004", **{"Paid at": "yesterday"}),       # line 6: bad date-time
        line("#2001"),                                    # line 7: #2001 again, after other orders
    ])
    before = counts(engine)
    with pytest.raises(ImportError_) as ei:
        run_import(engine, kind="shopify", paths=[f], viewer=SYSTEM)
    got = sorted((e.line, e.column) for e in ei.value.errors)
    assert got == [(3, "Lineitem name"), (4, "Created at"), (5, "Lineitem quantity"), (6, "Paid at"), (7, "Name")]
    assert counts(engine) == before


def test_shopify_missing_required_column(engine: Engine, tmp_path: Path) -> None:
    p = tmp_path / "x.csv"
    p.write_text("Name,Created at,Lineitem quantity,Lineitem price,Lineitem sku\n#1,2024-01-01,1,2,A\n")
    with pytest.raises(ImportError_) as ei:
        run_import(engine, kind="shopify", paths=[p], viewer=SYSTEM)
    assert [(e.line, e.column) for e in ei.value.errors] == [(1, "Lineitem name")]
