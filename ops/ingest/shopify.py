"""Shopify orders export (``orders_export.csv`` from Admin > Orders > Export) -> orders, lines, shipments.

Shopify writes one row per line item; the order's own fields (dates, statuses, totals, address)
are filled on its first row only. Columns used (all others are ignored, including every personal
field: Email, names, addresses other than the province, phone numbers):

================== =========================================================================
column             becomes
================== =========================================================================
Name               ``orders.order_number``, normalised (below; e.g. ``#1001``); required
Created at         ``orders.placed_at`` (the UTC offset is dropped: local wall-clock time); required
Paid at            ``orders.paid_at``
Financial Status   ``orders.status`` together with Fulfillment Status and Cancelled at (below)
Fulfillment Status ``orders.status``
Cancelled at       ``orders.status`` = cancelled when set
Fulfilled at       one shipment per fulfilled order: tracking ``SHOPIFY-<Name without #>``,
                   ``shipped_at`` = Fulfilled at, status in_transit, carrier unknown (NULL)
Shipping Province  ``orders.customer_region``
Shipping           the order's shipping charge, as ``freight`` of its first line
Lineitem quantity  ``order_lines.qty`` (a whole number >= 1); required
Lineitem price     ``order_lines.unit_price``; required
Lineitem sku       ``order_lines.product_id`` via ``products.sku``: must already exist; required
Lineitem name      quoted in error messages, to find the line in Shopify
================== =========================================================================

Order names: the stored order number is ``#`` followed by the Name with its leading ``#`` signs
and surrounding spaces removed (and control characters, as for all text), so ``#9301``,
``9301`` and `` ##9301`` are the same Shopify order ``#9301`` and its shipment is
``SHOPIFY-9301`` whichever way it was written. Within one file every row of an order must spell
its Name the same way; a second spelling of the same order is a row error.

Keys are kept per source: an order number that already exists from another source (the demo
data, a canonical CSV, Olist) is refused with the file, line and that source, and so is a
``SHOPIFY-`` tracking number that belongs to another order; a Shopify import never rewrites
another source's order.

Status: cancelled when Cancelled at is set or Financial Status is voided; shipped when fulfilled;
processing when partially fulfilled, or unfulfilled but paid (paid, partially_paid,
partially_refunded, refunded); otherwise pending. Lines are numbered 1, 2, ... in file order
within each order. Orders import on channel ``shopify`` with no warehouse and ``source`` shopify.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ops.ingest.reader import (
    MAX_UNITS,
    Col,
    CsvFile,
    Problems,
    Progress,
    batched,
    check_columns,
    clean_text,
    parse_partial,
)
from ops.ingest.store import BATCH, Counts, id_map, lookup, other_source_orders, upsert
from ops.models import Channel, Order, OrderLine, Product, Shipment

CHANNEL = ("shopify", "Shopify")
SOURCE = "shopify"
ORDER_COLS = (
    Col("Name", required=True, max_len=64),
    Col("Created at", "datetime"),  # required on an order's first row (checked below)
    Col("Paid at", "datetime"),
    Col("Financial Status"),
    Col("Fulfillment Status"),
    Col("Fulfilled at", "datetime"),
    Col("Cancelled at", "datetime"),
    Col("Shipping Province", max_len=50),
    Col("Shipping", "float", min=0),
)
LINE_COLS = (
    Col("Lineitem quantity", "int", required=True, min=1, max=MAX_UNITS),
    Col("Lineitem price", "float", required=True, min=0),
    Col("Lineitem sku", required=True, max_len=64),
    Col("Lineitem name"),
)
REQUIRED = ("Name", "Created at", "Lineitem quantity", "Lineitem price", "Lineitem sku")
PAID = {"paid", "partially_paid", "partially_refunded", "refunded"}
TRACKING_PREFIX = "SHOPIFY-"


def order_name(raw: str) -> str:
    """The stored order number of a Shopify ``Name`` (see the module docstring); ``""`` when there is none."""
    core = clean_text(raw).lstrip("#").strip()
    return f"#{core}" if core else ""


def tracking_number(name: str) -> str:
    """The tracking number of the one shipment of a fulfilled order ``name`` (as :func:`order_name` gives)."""
    return TRACKING_PREFIX + name.removeprefix("#")




def order_status(financial: str | None, fulfillment: str | None, cancelled: bool) -> str:
    """Map Shopify's statuses onto ``ORDER_STATUSES``."""
    fin, ful = (financial or "").lower(), (fulfillment or "").lower()
    if cancelled or fin == "voided" or ful == "restocked":
        return "cancelled"
    if ful == "fulfilled":
        return "shipped"
    if ful == "partial" or fin in PAID:
        return "processing"
    return "pending"


MAX_NAME = 64  # orders.order_number


def _check_keys(session: Session, orders: dict[str, dict[str, Any]], problems: Problems) -> None:
    """Refuse orders whose number, or whose shipment's tracking number, belongs to another source's order."""
    names = list(orders)
    for name, src in other_source_orders(session, names, SOURCE).items():
        o = orders[name]
        problems.add(o["file"], o["line"], "Name", f"order {name} already exists from source {src!r}; "
                     "a Shopify import does not change another source's order (rename one of them)")
    s, o_t = Shipment.__table__, Order.__table__
    by_tracking = {tracking_number(n): n for n in names}
    for chunk in batched(sorted(by_tracking), BATCH):
        q = (select(s.c.tracking_number, o_t.c.order_number, o_t.c.source).join(o_t, o_t.c.id == s.c.order_id)
             .where(s.c.tracking_number.in_(chunk)))
        for trk, number, src in session.execute(q).all():
            name = by_tracking[trk]
            if number != name:
                o = orders[name]
                problems.add(o["file"], o["line"], "Name", f"shipment {trk} of order {name} already belongs to "
                             f"order {number!r} (source {src!r}); rename one of them")


def import_shopify(session: Session, *, files: Sequence[CsvFile], problems: Problems, counts: Counts,
                   progress: Progress | None = None) -> int:
    """Validate and upsert Shopify order exports; return rows read. Writes nothing when ``problems``."""
    total = sum(f.n_records for f in files)
    orders: dict[str, dict[str, Any]] = {}  # Name -> order fields (first row), lines, where
    done = 0
    for f in files:
        check_columns(f, required=REQUIRED, known=None, problems=problems)
        if "Name" not in f.header:
            continue  # rows cannot be grouped into orders; the missing column is reported
        last: str | None = None
        for line, raw in f.dicts():
            done += 1
            if progress and done % 2000 == 0:
                progress(done, total)
            name = order_name(raw["Name"])
            if not name:
                last = None
                parse_partial(f, line, raw, ORDER_COLS + LINE_COLS, problems)  # reports every bad cell
                if clean_text(raw["Name"]):
                    problems.add(f.name, line, "Name", f"{clean_text(raw['Name'])!r} holds no order number")
                continue
            if len(name) > MAX_NAME:
                problems.add(f.name, line, "Name", f"is {len(name)} characters long; at most {MAX_NAME} allowed")
                continue
            first_row = name not in orders
            if not first_row and last != name:
                o = orders[name]
                problems.add(f.name, line, "Name", f"order {name} appears again; its rows ended on line "
                             f"{o['last_line']}" + ("" if o["file"] == f.name else f" of {o['file']}"))
                continue
            spelled = clean_text(raw["Name"])
            if not first_row and spelled != orders[name]["spelled"]:
                o = orders[name]
                problems.add(f.name, line, "Name", f"{spelled!r} is order {name}, written {o['spelled']!r} on "
                             f"line {o['line']}: write every row of an order the same way")
            last = name
            # A row with a bad cell keeps its good ones, so its SKU is still checked in this pass.
            vals, _ = parse_partial(f, line, raw, ORDER_COLS + LINE_COLS if first_row
                                    else (ORDER_COLS[0],) + LINE_COLS, problems)
            if first_row:
                orders[name] = {"head": vals, "lines": [], "file": f.name, "line": line, "last_line": line,
                                "spelled": spelled}
                if "Created at" in raw and not raw["Created at"].strip():
                    problems.add(f.name, line, "Created at", "is required on the first row of an order")
            o = orders[name]
            o["last_line"] = line
            o["lines"].append((f.name, line, vals))
    _check_keys(session, orders, problems)
    skus = lookup(session, Product.__table__.c.sku, (v.get("Lineitem sku") for o in orders.values()
                                                     for _, _, v in o["lines"]))
    for o in orders.values():
        for fname, line, v in o["lines"]:
            if v.get("Lineitem sku") is not None and v["Lineitem sku"] not in skus:
                problems.add(fname, line, "Lineitem sku", f"unknown SKU {v['Lineitem sku']!r} "
                             f"(Lineitem name {v.get('Lineitem name') or ''!r}); import the product first")
    if problems:
        return total

    ch = Channel.__table__
    counts.add("channels", *upsert(session, ch, [{"code": CHANNEL[0], "name": CHANNEL[1]}], key=("code",),
                                   update_cols=()))
    channel_id = id_map(session, ch, ("code",), [(CHANNEL[0],)])[(CHANNEL[0],)]
    heads = []
    for name, o in orders.items():
        h = o["head"]
        heads.append({
            "order_number": name, "channel_id": channel_id, "warehouse_id": None,
            "customer_region": h.get("Shipping Province"),
            "status": order_status(h.get("Financial Status"), h.get("Fulfillment Status"),
                                   h.get("Cancelled at") is not None),
            "placed_at": h["Created at"], "paid_at": h.get("Paid at"), "ship_by": None, "source": SOURCE,
        })
    cols = ["channel_id", "warehouse_id", "customer_region", "status", "placed_at", "paid_at", "ship_by"]
    counts.add("orders", *upsert(session, Order.__table__, heads, key=("order_number",), update_cols=cols))
    oid = id_map(session, Order.__table__, ("order_number",), [(n,) for n in orders])
    lines, ships = [], []
    for name, o in orders.items():
        for i, (_, _, v) in enumerate(o["lines"], start=1):
            lines.append({
                "order_id": oid[(name,)], "line_no": i, "product_id": skus[v["Lineitem sku"]], "seller_id": None,
                "qty": v["Lineitem quantity"], "unit_price": v["Lineitem price"],
                "freight": (o["head"].get("Shipping") or 0.0) if i == 1 else 0.0, "ship_by": None,
            })
        fulfilled = o["head"].get("Fulfilled at")
        if fulfilled is not None:
            ships.append({
                "tracking_number": tracking_number(name), "order_id": oid[(name,)], "warehouse_id": None,
                "carrier_id": None, "service_id": None, "zone": None, "lane": None, "label_cost": 0.0,
                "shipped_at": fulfilled, "promised_at": None, "first_attempt_at": None, "delivered_at": None,
                "status": "in_transit",
            })
    counts.add("order_lines", *upsert(session, OrderLine.__table__, lines, key=("order_id", "line_no"),
                                      update_cols=["product_id", "qty", "unit_price", "freight"]))
    counts.add("shipments", *upsert(session, Shipment.__table__, ships, key=("tracking_number",),
                                    update_cols=["order_id", "shipped_at"]))
    return total
