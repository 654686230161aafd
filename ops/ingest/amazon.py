"""Amazon Seller Central reports: the All Orders report -> orders and lines; the FBA customer returns report
-> returns.

All Orders report (``GET_FLAT_FILE_ALL_ORDERS_DATA_BY_ORDER_DATE_GENERAL``, tab-separated ``.txt``,
one row per order item; columns mapped by name, others ignored):

================== =========================================================================
column             becomes
================== =========================================================================
amazon-order-id    ``orders.order_number`` (``123-1234567-1234567``, kept as text); required
purchase-date      ``orders.placed_at`` (ISO 8601 with offset: converted with ``--tz``)
order-status       ``orders.status``: Shipped -> shipped; Cancelled -> cancelled; Pending ->
                   pending; Unshipped, PartiallyShipped, Shipping -> processing
sku, product-name  the line's product (created when new: name = product-name)
quantity           ``order_lines.qty``; an item with quantity 0 (a cancelled item) is left out
item-price         the TOTAL for the quantity: ``unit_price`` = item-price / quantity; blank
                   (not 0) on pending and cancelled items: unit price 0
shipping-price     the line's ``freight``
currency           per row; must be the shop's currency (``OPS_CURRENCY``)
ship-state         ``orders.customer_region``
================== =========================================================================

Orders import on channel ``amazon`` with ``source`` amazon and no warehouse (the report names
only the fulfilment channel). It has no ship dates or carriers (those are in the Amazon
Fulfilled Shipments report).

FBA customer returns report (``GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA``), one row per unit
(license plate): ``returns`` rows matched to the order line with the same ``order-id`` and
``sku`` (imported before, or in the same run), rma_number = ``AMZ-<license-plate-number>``
(``AMZ-<order-id>-<sku>-<n>`` without one), qty = quantity, reason_code = ``reason``, comment =
``customer-comments``, received_at = ``return-date`` (when the fulfilment centre processed it),
disposition from ``detailed-disposition`` (SELLABLE -> restock; DEFECTIVE -> scrap; the damaged
kinds -> liquidate). The report carries no refund amount: refund = the line's unit price x qty.
The ``status`` column is absent in some marketplaces and not used.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ops.ingest.formats import Format
from ops.ingest.orders_common import LineIn, OrderIn, check_orders, write_orders
from ops.ingest.reader import MAX_UNITS, Col, CsvFile, Problems, Progress, check_columns, parse_partial
from ops.ingest.store import Counts, upsert
from ops.models import Order, OrderLine, Product, Return

CHANNEL = ("amazon", "Amazon")
SOURCE = "amazon"
STATUS = {"shipped": "shipped", "cancelled": "cancelled", "canceled": "cancelled", "pending": "pending",
          "unshipped": "processing", "partiallyshipped": "processing", "shipping": "processing"}
ORDER_COLS = (
    Col("amazon-order-id", required=True, max_len=64),
    Col("purchase-date", "datetime", required=True),
    Col("order-status", required=True),
    Col("sku", required=True, max_len=64),
    Col("product-name", max_len=300),
    Col("quantity", "int", required=True, min=0, max=MAX_UNITS),
    Col("currency", max_len=3),
    Col("item-price", "float", min=0),
    Col("shipping-price", "float", min=0),
    Col("ship-state", max_len=50),
)
ORDER_REQUIRED = ("amazon-order-id", "purchase-date", "order-status", "sku", "quantity", "item-price")


def load_orders(session: Session, *, files: Sequence[CsvFile], problems: Problems, counts: Counts,
                progress: Progress | None = None, warnings: list[str] | None = None, actor: str = "") -> int:
    """Validate and upsert All Orders reports; return rows read. Writes nothing when ``problems``."""
    warn = warnings if warnings is not None else []
    total = sum(f.n_records for f in files)
    orders: dict[str, OrderIn] = {}
    dropped = 0
    done = 0
    for f in files:
        check_columns(f, required=ORDER_REQUIRED, known=None, problems=problems)
        for line, raw in f.dicts():
            done += 1
            if progress and done % 2000 == 0:
                progress(done, total)
            v, ok = parse_partial(f, line, raw, ORDER_COLS, problems)
            status = (v.get("order-status") or "").replace(" ", "").lower()
            if v.get("order-status") is not None and status not in STATUS:
                problems.add(f.name, line, "order-status", f"{v['order-status']!r} is not an Amazon order status "
                             f"(one of {', '.join(sorted({k.title() for k in STATUS}))})")
                ok = False
            if not ok:
                continue
            number = v["amazon-order-id"]
            o = orders.get(number)
            if o is None:
                o = orders[number] = OrderIn(number=number, placed_at=v["purchase-date"], file=f.name, line=line,
                                             status=STATUS[status], region=v.get("ship-state"))
            if v.get("currency") and not o.currency:
                o.currency, o.currency_line = v["currency"], line
            qty = v["quantity"]
            if qty == 0:
                dropped += 1
                continue
            price = v.get("item-price")
            o.lines.append(LineIn(f.name, line, v["sku"], v.get("product-name"), qty,
                                  (price or 0.0) / qty, freight=v.get("shipping-price") or 0.0))
    check_orders(session, orders, source=SOURCE, problems=problems, id_column="amazon-order-id")
    if problems:
        return total
    write_orders(session, orders, channel=CHANNEL, source=SOURCE, counts=counts, warn=warn, what="order items")
    if dropped:
        warn.append(f"{dropped:,} item(s) with quantity 0 (cancelled items) were left out")
    return total


RETURN_COLS = (
    Col("return-date", "datetime", required=True),
    Col("order-id", required=True, max_len=64),
    Col("sku", required=True, max_len=64),
    Col("quantity", "int", required=True, min=1, max=MAX_UNITS),
    Col("detailed-disposition", max_len=40),
    Col("reason", max_len=32),
    Col("license-plate-number", max_len=56),
    Col("customer-comments", multiline=True),
)
RETURN_REQUIRED = ("return-date", "order-id", "sku", "quantity", "reason")
DISPOSITION = {"sellable": "restock", "defective": "scrap", "customer_damaged": "liquidate",
               "carrier_damaged": "liquidate", "damaged": "liquidate", "distributor_damaged": "liquidate",
               "expired": "scrap"}


def load_returns(session: Session, *, files: Sequence[CsvFile], problems: Problems, counts: Counts,
                 progress: Progress | None = None, warnings: list[str] | None = None, actor: str = "") -> int:
    """Validate and upsert FBA customer returns reports; return rows read. Writes nothing when ``problems``."""
    total = sum(f.n_records for f in files)
    rows: list[tuple[str, int, dict[str, Any]]] = []
    for f in files:
        check_columns(f, required=RETURN_REQUIRED, known=None, problems=problems)
        for line, raw in f.dicts():
            v, ok = parse_partial(f, line, raw, RETURN_COLS, problems)
            d = (v.get("detailed-disposition") or "").lower()
            if d and d not in DISPOSITION:
                problems.add(f.name, line, "detailed-disposition", f"{v['detailed-disposition']!r} is not an FBA "
                             f"disposition (one of {', '.join(sorted(k.upper() for k in DISPOSITION))})")
                ok = False
            if ok:
                rows.append((f.name, line, v))
    lines = _order_lines(session, {(v["order-id"], v["sku"]) for _, _, v in rows})
    seen: dict[str, int] = {}
    out = []
    n_of: dict[tuple[str, str], int] = {}
    for fname, line, v in rows:
        key = (v["order-id"], v["sku"])
        if key not in lines:
            problems.add(fname, line, "order-id", f"no order {v['order-id']!r} with SKU {v['sku']!r}: import the "
                         "All Orders report holding it first (or in the same run)")
            continue
        n_of[key] = n_of.get(key, 0) + 1
        lpn = v.get("license-plate-number")
        rma = (f"AMZ-{lpn}" if lpn else f"AMZ-{v['order-id']}-{v['sku']}-{n_of[key]}")[:64]
        if rma in seen:
            problems.add(fname, line, "license-plate-number", f"{lpn!r} appears again (first on line {seen[rma]}): "
                         "one row per unit")
            continue
        seen[rma] = line
        line_id, unit_price = lines[key]
        out.append({"rma_number": rma, "order_line_id": line_id, "qty": v["quantity"],
                    "reason_code": v.get("reason") or "unknown", "comment": v.get("customer-comments"),
                    "received_at": v["return-date"], "refund_amount": round(unit_price * v["quantity"], 2),
                    "disposition": DISPOSITION.get((v.get("detailed-disposition") or "").lower())})
    if problems:
        return total
    counts.add("returns", *upsert(session, Return.__table__, out, key=("rma_number",),
                                  update_cols=["order_line_id", "qty", "reason_code", "comment", "received_at",
                                               "refund_amount", "disposition"]))
    return total


def _order_lines(session: Session, keys: set[tuple[str, str]]) -> dict[tuple[str, str], tuple[int, float]]:
    """(order number, SKU) -> (the first such line's id, its unit price)."""
    out: dict[tuple[str, str], tuple[int, float]] = {}
    numbers = sorted({k[0] for k in keys})
    for i in range(0, len(numbers), 500):
        q = (select(Order.order_number, Product.sku, OrderLine.id, OrderLine.unit_price)
             .join(OrderLine, OrderLine.order_id == Order.id).join(Product, Product.id == OrderLine.product_id)
             .where(Order.order_number.in_(numbers[i:i + 500])).order_by(OrderLine.line_no))
        for number, sku, lid, price in session.execute(q).all():
            out.setdefault((number, sku), (lid, price))
    return out


ORDERS_FORMAT = Format(
    kind="amazon-orders",
    doc="Amazon Seller Central All Orders report (tab-separated; item-price is the total for the quantity).",
    signature=frozenset({"amazon-order-id", "purchase-date", "order-status", "sku", "quantity", "item-price"}),
    load=load_orders,
)
RETURNS_FORMAT = Format(
    kind="amazon-returns",
    doc="Amazon FBA customer returns report: returns with reason, disposition and customer comments.",
    signature=frozenset({"return-date", "order-id", "sku", "detailed-disposition", "reason"}),
    load=load_returns,
    rank=10,
)
