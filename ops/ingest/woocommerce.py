"""WooCommerce order exports (WooCommerce itself has no order CSV export; the common plugins' layouts).

Two layouts, recognised by their header (columns mapped by name; others ignored):

- **one row per order** (WebToffee "Order Import Export", SkyVerge "Default CSV"): ``order_id``,
  ``order_number``, ``order_date``, ``paid_date``, ``status``, ``order_currency``,
  ``shipping_total``, ``shipping_state`` and the items packed in ``line_item_1`` ...
  ``line_item_N`` as ``name:Hoodie - Blue|product_id:14|sku:HD-BLU|quantity:2|total:90.00``
  (``total`` is the line's total after discounts: unit price = total / quantity);
- **one row per line item** (AlgolPlus "Advanced Order Export", SkyVerge "one row per item"):
  ``Order Number``, ``Order Status``, ``Order Date``, ``SKU``, ``Item Name``, ``Quantity``,
  ``Item Cost`` (the unit price), optional ``Order Currency``, ``Shipping State``; the order's
  rows follow each other.

Mapping: order_number = ``order_number`` (the number shown to customers; ``order_id``, the post
id, when it is empty); placed_at = the order date (``M/D/YYYY H:MM[:SS]`` or ISO; the site's
time zone, no offset: set ``--tz`` to convert nothing but say which zone it is); paid_at =
``paid_date``; status: completed -> shipped, processing -> processing, pending / on-hold ->
pending, cancelled / failed / refunded -> cancelled (a ``wc-`` prefix is ignored). A line
without a SKU gets a ``NOSKU-<title>-<hash>`` key as in the Shopify import; new products are
created as there (cost 0, warned). Orders import on channel ``woocommerce``, ``source``
woocommerce, no warehouse; the shipping total is the first line's freight. The currency must be
the shop's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from ops.ingest.formats import Format
from ops.ingest.orders_common import LineIn, OrderIn, check_orders, write_orders
from ops.ingest.reader import (
    MAX_UNITS,
    Bad,
    Col,
    CsvFile,
    Problems,
    Progress,
    check_columns,
    clean_text,
    parse_cell,
    parse_datetime,
    parse_partial,
    parse_us_datetime,
)
from ops.ingest.shopify import product_key
from ops.ingest.store import Counts

CHANNEL = ("woocommerce", "WooCommerce")
SOURCE = "woocommerce"
STATUS = {"completed": "shipped", "processing": "processing", "pending": "pending", "on-hold": "pending",
          "cancelled": "cancelled", "failed": "cancelled", "refunded": "cancelled", "checkout-draft": "pending"}
ORDER_ROW = {"number": "order_number", "id": "order_id", "date": "order_date", "paid": "paid_date",
             "status": "status", "currency": "order_currency", "shipping": "shipping_total",
             "region": "shipping_state"}
ITEM_ROW = {"number": "Order Number", "id": "Order ID", "date": "Order Date", "paid": "Paid Date",
            "status": "Order Status", "currency": "Order Currency", "shipping": "Order Shipping Amount",
            "region": "Shipping State"}
_LINE_ITEM = re.compile(r"line_item_(\d+)")
MONEY = Col("amount", "float", min=0)
QTY = Col("quantity", "int", required=True, min=1, max=MAX_UNITS)


def _when(s: str) -> Any:
    s = clean_text(s)
    if not s:
        return None
    try:
        return parse_us_datetime(s)
    except Bad:
        return parse_datetime(s)


def parse_packed(cell: str) -> dict[str, str]:
    """``name:Hoodie|sku:HD-1|quantity:2|total:90.00`` -> its fields (keys lower-case)."""
    out: dict[str, str] = {}
    for part in cell.split("|"):
        key, sep, value = part.partition(":")
        if sep:
            out[key.strip().lower()] = value.strip()
    return out


def load(session: Session, *, files: Sequence[CsvFile], problems: Problems, counts: Counts,
         progress: Progress | None = None, warnings: list[str] | None = None, actor: str = "") -> int:
    """Validate and upsert WooCommerce order exports; return rows read. Writes nothing when ``problems``."""
    warn = warnings if warnings is not None else []
    total = sum(f.n_records for f in files)
    orders: dict[str, OrderIn] = {}
    for f in files:
        per_order = "order_date" in f.header
        names = ORDER_ROW if per_order else ITEM_ROW
        need = [names["date"], names["status"]] + ([] if per_order else ["SKU", "Quantity", "Item Cost", "Item Name"])
        check_columns(f, required=need, known=None, problems=problems)
        number_col = names["number"] if names["number"] in f.header else names["id"]
        if number_col not in f.header:
            problems.add(f.name, 1, names["number"], f"missing the order number column {names['number']!r}")
            continue
        items = sorted((c for c in f.header if _LINE_ITEM.fullmatch(c)), key=lambda c: int(c.split("_")[-1]))
        for line, raw in f.dicts():
            number = clean_text(raw[number_col])
            if per_order and number in orders:
                problems.add(f.name, line, number_col, f"order {number} appears again (first on line "
                             f"{orders[number].line}): this layout has one row per order")
                continue
            o = _order(f, line, raw, names, number_col, orders, problems)
            if o is None:
                continue
            if per_order:
                for col in items:
                    if clean_text(raw[col]):
                        _packed_line(f, line, col, raw[col], o, problems)
            else:
                _item_row(f, line, raw, o, problems)
    check_orders(session, orders, source=SOURCE, problems=problems, id_column="order_number")
    if problems:
        return total
    write_orders(session, orders, channel=CHANNEL, source=SOURCE, counts=counts, warn=warn)
    return total


def _order(f: CsvFile, line: int, raw: dict[str, str], names: dict[str, str], number_col: str,
           orders: dict[str, OrderIn], problems: Problems) -> OrderIn | None:
    number = clean_text(raw[number_col]) or clean_text(raw.get(names["id"], ""))
    if not number:
        problems.add(f.name, line, number_col, "is required but empty")
        return None
    if number in orders:
        return orders[number]
    vals: dict[str, Any] = {}
    for key in ("date", "paid"):
        col = names[key]
        if col in raw:
            try:
                vals[key] = _when(raw[col])
            except Bad as exc:
                problems.add(f.name, line, col, str(exc))
                return None
    if vals.get("date") is None:
        problems.add(f.name, line, names["date"], "is required but empty")
        return None
    status = clean_text(raw.get(names["status"], "")).lower().removeprefix("wc-")
    if status not in STATUS:
        problems.add(f.name, line, names["status"], f"{status!r} is not a WooCommerce order status "
                     f"(one of {', '.join(STATUS)})")
        return None
    shipping = 0.0
    if clean_text(raw.get(names["shipping"], "")):
        try:
            shipping = parse_cell(MONEY, raw[names["shipping"]])
        except Bad as exc:
            problems.add(f.name, line, names["shipping"], str(exc))
    o = OrderIn(number=number[:64], placed_at=vals["date"], paid_at=vals.get("paid"), file=f.name, line=line,
                status=STATUS[status], region=clean_text(raw.get(names["region"], ""))[:50] or None,
                currency=clean_text(raw.get(names["currency"], "")) or None, currency_line=line, shipping=shipping)
    orders[number] = o
    return o


def _add(o: OrderIn, ln: LineIn) -> None:
    if not o.lines:
        ln.freight = o.shipping
    o.lines.append(ln)


def _packed_line(f: CsvFile, line: int, col: str, cell: str, o: OrderIn, problems: Problems) -> None:
    item = parse_packed(clean_text(cell))
    try:
        qty = parse_cell(QTY, item.get("quantity", ""))
        line_total = parse_cell(MONEY, item.get("total", "")) or 0.0
    except Bad as exc:
        problems.add(f.name, line, col, f"{exc} (in {cell[:60]!r})")
        return
    key = product_key(item.get("sku") or None, item.get("name") or None)
    if key is None or len(key) > 64:
        problems.add(f.name, line, col, "names no product (neither sku: nor name:)" if key is None
                     else f"sku {key[:20]!r}... is longer than 64 characters")
        return
    _add(o, LineIn(f.name, line, key, item.get("name"), qty, line_total / qty))


def _item_row(f: CsvFile, line: int, raw: dict[str, str], o: OrderIn, problems: Problems) -> None:
    v, ok = parse_partial(f, line, raw, (Col("SKU", max_len=64), Col("Item Name", max_len=300),
                                         Col("Quantity", "int", required=True, min=1, max=MAX_UNITS),
                                         Col("Item Cost", "float", required=True, min=0)), problems)
    key = product_key(v.get("SKU"), v.get("Item Name"))
    if key is None:
        problems.add(f.name, line, "Item Name", "is empty and so is SKU: the line names no product")
        return
    if ok:
        _add(o, LineIn(f.name, line, key, v.get("Item Name"), v["Quantity"], v["Item Cost"]))


FORMAT = Format(
    kind="woocommerce",
    doc="WooCommerce order export: one row per order (line_item_N packed) or one row per line item.",
    signature=frozenset({"order_number", "order_date", "status"}),
    also=(frozenset({"Order Number", "Order Status", "Order Date", "SKU", "Quantity", "Item Cost"}),),
    load=load,
)
