"""Shopify orders export (``orders_export.csv`` from Admin > Orders > Export) -> orders, lines, shipments.

Shopify writes one row per line item; the order's own fields (dates, statuses, totals, currency,
address) are filled on its first row only. Columns used (all others are ignored, including every
personal field: Email, names, addresses other than the province, phone numbers, Notes and Note
Attributes, which may span several lines inside quotes):

================== =========================================================================
column             becomes
================== =========================================================================
Name               ``orders.order_number``, normalised (below; e.g. ``#1001``); required
Created at         ``orders.placed_at``; required on an order's first row
Paid at            ``orders.paid_at``
Financial Status   ``orders.status`` together with Fulfillment Status and Cancelled at (below)
Fulfillment Status ``orders.status``
Cancelled at       ``orders.status`` = cancelled when set
Fulfilled at       one shipment per fulfilled order: tracking ``SHOPIFY-<Name without #>``,
                   ``shipped_at`` = Fulfilled at, status in_transit, carrier unknown (NULL)
Shipping Province  ``orders.customer_region``
Shipping           the order's shipping charge, as ``freight`` of its first line
Currency           must be the shop's currency (``OPS_CURRENCY``): amounts are stored in it
Refunded Amount    with Financial Status ``refunded``: the refund of a fulfilled order (below)
Lineitem quantity  ``order_lines.qty`` (a whole number >= 1); required
Lineitem price     the unit price; ``order_lines.unit_price`` = price - Lineitem discount / qty
Lineitem discount  the line's discount (an amount for the whole line); empty = 0
Lineitem sku       the product's SKU; when empty, a key made from Lineitem name (below)
Lineitem name      "Product - Variant"; names a product created from the line; required
Vendor             the created product's supplier (created when new; code = the vendor's name)
================== =========================================================================

Products: a line's product is its SKU, or, for a store without SKUs (the cell is empty on a
line), ``NOSKU-<title>-<hash>``: the lower-case product and variant title (Lineitem name) as a
slug, cut to 40 characters, and 8 hex digits of the SHA-1 of the whole normalised title, so the
same title always gives the same key and two long titles sharing a prefix do not collide. The
``NOSKU-`` prefix shows it is a key made by the import, not a SKU of the store. A key not yet in
the catalogue becomes a product: name = Lineitem name, size = the variant part (after the last
`` - ``), price = Lineitem price of its latest order (by Created at), supplier = Vendor,
category ``Uncategorised``, cost 0 (the export has no cost; the result warns). Existing products
are never changed by an orders export (the catalogue is the products import's).

Order names: the stored order number is ``#`` followed by the Name with its leading ``#`` signs
and surrounding spaces removed (and control characters, as for all text), so ``#9301``,
``9301`` and `` ##9301`` are the same Shopify order ``#9301`` and its shipment is
``SHOPIFY-9301`` whichever way it was written. Within one file every row of an order must spell
its Name the same way; a second spelling of the same order is a row error.

Times: Shopify writes every time with the shop's UTC offset (``2024-03-09 23:10:00 -0500``,
``2024-03-10 09:00:00 -0400`` across a DST change). Without ``--tz`` the wall-clock time is kept
(the shop's local time); with ``--tz ZONE`` each is converted to ZONE (see
:func:`ops.ingest.reader.localize`).

Keys are kept per source: an order number that already exists from another source (the demo
data, a canonical CSV, Olist) is refused with the file, line and that source, and so is a
``SHOPIFY-`` tracking number that belongs to another order; a Shopify import never rewrites
another source's order.

Status: cancelled when Cancelled at is set or Financial Status is voided; shipped when fulfilled;
processing when partially fulfilled, or unfulfilled but paid (paid, partially_paid,
partially_refunded, refunded); otherwise pending. Lines are numbered 1, 2, ... in file order
within each order. Orders import on channel ``shopify`` with no warehouse and ``source`` shopify.

Refunds: an order with Financial Status ``refunded`` that was fulfilled and not cancelled is a
return of every line: one ``returns`` row per line, ``rma_number`` ``SHOPIFY-REFUND-<order>-<line>``,
qty = the line's qty, reason ``refunded`` (the export gives no reason), refund = Refunded Amount
shared over the lines by their value. A partial refund does not say which lines it covers: it is
not recorded as a return, and the result warns with the count and amount. A refund of a
cancelled or unfulfilled order is a cancellation, not a return.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ops.fmt import currency as shop_currency
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
from ops.models import Channel, Order, OrderLine, Product, Return, Shipment, Supplier

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
    Col("Currency", max_len=3),
    Col("Refunded Amount", "float", min=0),
)
LINE_COLS = (
    Col("Lineitem quantity", "int", required=True, min=1, max=MAX_UNITS),
    Col("Lineitem price", "float", required=True, min=0),
    Col("Lineitem discount", "float", min=0),
    Col("Lineitem sku", max_len=64),
    Col("Lineitem name", max_len=300),
    Col("Vendor", max_len=200),
)
REQUIRED = ("Name", "Created at", "Lineitem quantity", "Lineitem price", "Lineitem name")
PAID = {"paid", "partially_paid", "partially_refunded", "refunded"}
TRACKING_PREFIX = "SHOPIFY-"
REFUND_PREFIX = "SHOPIFY-REFUND-"
NOSKU_PREFIX = "NOSKU-"
NEW_CATEGORY = "Uncategorised"
REFUND_REASON = "refunded"
MAX_NAME = 64  # orders.order_number


def order_name(raw: str) -> str:
    """The stored order number of a Shopify ``Name`` (see the module docstring); ``""`` when there is none."""
    core = clean_text(raw).lstrip("#").strip()
    return f"#{core}" if core else ""


def tracking_number(name: str) -> str:
    """The tracking number of the one shipment of a fulfilled order ``name`` (as :func:`order_name` gives)."""
    return TRACKING_PREFIX + name.removeprefix("#")


def title_key(title: str) -> str:
    """The product key of a line without a SKU: ``NOSKU-<slug of the title>-<8 hex of its SHA-1>``."""
    norm = " ".join(clean_text(title).casefold().split())
    slug = re.sub(r"[^0-9a-z]+", "-", norm).strip("-")[:40].strip("-")
    digest = hashlib.sha1(norm.encode("utf-8")).hexdigest()[:8]  # noqa: S324 - a key, not security
    return f"{NOSKU_PREFIX}{slug}-{digest}" if slug else f"{NOSKU_PREFIX}{digest}"


def product_key(sku: str | None, title: str | None) -> str | None:
    """The SKU, or for a line without one the key made from its title; None when the line has neither."""
    if sku:
        return sku
    return title_key(title) if title else None


def variant_of(title: str) -> str | None:
    """The variant part of a Lineitem name ``"Product - Variant"`` (None when there is no `` - ``)."""
    if " - " not in title:
        return None
    return title.rsplit(" - ", 1)[1].strip()[:32] or None


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


def _check_currency(orders: dict[str, dict[str, Any]], problems: Problems) -> None:
    """Refuse amounts in a currency other than the shop's, once per currency (at its first order)."""
    shop = shop_currency()
    seen: set[str] = set()
    for name, o in orders.items():
        cur = (o["head"].get("Currency") or "").upper()
        if cur and cur != shop and cur not in seen:
            seen.add(cur)
            n = sum(1 for x in orders.values() if (x["head"].get("Currency") or "").upper() == cur)
            problems.add(o["file"], o["line"], "Currency", f"order {name} (and {n - 1:,} more) is in {cur}, but "
                         f"the shop's currency is {shop} (OPS_CURRENCY) and amounts are stored without "
                         f"conversion: set OPS_CURRENCY={cur} for a {cur} shop, or export in {shop}")


def _fulfilled(head: dict[str, Any]) -> bool:
    return head.get("Fulfilled at") is not None or (head.get("Fulfillment Status") or "").lower() == "fulfilled"


def import_shopify(session: Session, *, files: Sequence[CsvFile], problems: Problems, counts: Counts,
                   progress: Progress | None = None, warnings: list[str] | None = None) -> int:
    """Validate and upsert Shopify order exports; return rows read. Writes nothing when ``problems``."""
    warn = warnings if warnings is not None else []
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
            # A row with a bad cell keeps its good ones, so its product is still checked in this pass.
            vals, _ = parse_partial(f, line, raw, ORDER_COLS + LINE_COLS if first_row
                                    else (ORDER_COLS[0],) + LINE_COLS, problems)
            if first_row:
                orders[name] = {"head": vals, "lines": [], "file": f.name, "line": line, "last_line": line,
                                "spelled": spelled}
                if "Created at" in raw and not raw["Created at"].strip():
                    problems.add(f.name, line, "Created at", "is required on the first row of an order")
            o = orders[name]
            o["last_line"] = line
            key = product_key(vals.get("Lineitem sku"), vals.get("Lineitem name"))
            if key is None and "Lineitem name" in raw and not clean_text(raw["Lineitem name"]) \
                    and not clean_text(raw.get("Lineitem sku", "")):
                problems.add(f.name, line, "Lineitem name", "is empty and so is Lineitem sku: the line names "
                             "no product")
            qty, price = vals.get("Lineitem quantity"), vals.get("Lineitem price")
            disc = vals.get("Lineitem discount") or 0.0
            if qty is not None and price is not None and disc > qty * price + 1e-9:
                problems.add(f.name, line, "Lineitem discount", f"{disc:g} is more than the line's value "
                             f"({qty} x {price:g})")
            vals["_key"] = key
            o["lines"].append((f.name, line, vals))
    _check_keys(session, orders, problems)
    _check_currency(orders, problems)
    if problems:
        return total

    ch = Channel.__table__
    counts.add("channels", *upsert(session, ch, [{"code": CHANNEL[0], "name": CHANNEL[1]}], key=("code",),
                                   update_cols=()))
    channel_id = id_map(session, ch, ("code",), [(CHANNEL[0],)])[(CHANNEL[0],)]
    prod_id = _create_products(session, orders, counts, warn)

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
            qty = v["Lineitem quantity"]
            lines.append({
                "order_id": oid[(name,)], "line_no": i, "product_id": prod_id[v["_key"]], "seller_id": None,
                "qty": qty, "unit_price": v["Lineitem price"] - (v.get("Lineitem discount") or 0.0) / qty,
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
    _refunds(session, orders, oid, counts, warn)
    return total


def _create_products(session: Session, orders: dict[str, dict[str, Any]], counts: Counts,
                     warn: list[str]) -> dict[str, int]:
    """Create the products the lines name that the catalogue lacks; return key -> product id for every line."""
    keys = {v["_key"] for o in orders.values() for _, _, v in o["lines"]}
    known = lookup(session, Product.__table__.c.sku, keys)
    latest: dict[str, tuple[Any, dict[str, Any]]] = {}  # key -> (placed_at, values of its latest line)
    for o in orders.values():
        placed = o["head"]["Created at"]
        for _, _, v in o["lines"]:
            k = v["_key"]
            if k not in known and (k not in latest or placed >= latest[k][0]):
                latest[k] = (placed, v)
    if not latest:
        return known
    vendors = sorted({v["Vendor"][:64] for _, v in latest.values() if v.get("Vendor")})
    counts.add("suppliers", *upsert(session, Supplier.__table__, [
        {"code": code, "name": code, "city": None, "region": None, "country": None, "lead_time_days": None}
        for code in vendors], key=("code",), update_cols=()))
    sup = id_map(session, Supplier.__table__, ("code",), [(c,) for c in vendors])
    rows = []
    for k, (_, v) in sorted(latest.items()):
        title = v.get("Lineitem name") or k
        vendor = (v.get("Vendor") or "")[:64]
        rows.append({"sku": k, "name": title, "category": NEW_CATEGORY, "size": variant_of(title),
                     "unit_cost": 0.0, "price": v["Lineitem price"],
                     "supplier_id": sup[(vendor,)] if vendor else None, "case_pack": 1, "moq": 1,
                     "lead_time_days": None, "active": True})
    counts.add("products", *upsert(session, Product.__table__, rows, key=("sku",), update_cols=()))
    nosku = sum(1 for k in latest if k.startswith(NOSKU_PREFIX))
    warn.append(f"{len(rows):,} product(s) created from the order lines"
                + (f" ({nosku:,} without a SKU in the export: keyed {NOSKU_PREFIX}<title>-<hash>)" if nosku else "")
                + "; the export has no cost, so their cost is 0 and their stock value reads 0 until a products "
                "file with costs is imported")
    known.update({k: i for (k,), i in id_map(session, Product.__table__, ("sku",), [(k,) for k in latest]).items()})
    return known


def _refunds(session: Session, orders: dict[str, dict[str, Any]], oid: dict[tuple[Any, ...], int],
             counts: Counts, warn: list[str]) -> None:
    """Returns for fully refunded fulfilled orders; a warning for partial refunds (see the module docstring)."""
    partial_n, partial_amount = 0, 0.0
    wanted: list[tuple[str, int, dict[str, Any], float]] = []
    for name, o in orders.items():
        h = o["head"]
        fin = (h.get("Financial Status") or "").lower()
        cancelled = h.get("Cancelled at") is not None or fin == "voided"
        if fin == "partially_refunded":
            partial_n += 1
            partial_amount += h.get("Refunded Amount") or 0.0
        if fin != "refunded" or cancelled or not _fulfilled(h):
            continue
        values = [v["Lineitem quantity"] * v["Lineitem price"] - (v.get("Lineitem discount") or 0.0)
                  for _, _, v in o["lines"]]
        total, refunded = sum(values), h.get("Refunded Amount") or 0.0
        for i, ((_, _, v), val) in enumerate(zip(o["lines"], values, strict=True), start=1):
            share = refunded * val / total if total > 0 else refunded / len(values)
            wanted.append((name, i, v, share))
    if partial_n:
        warn.append(f"{partial_n:,} order(s) partially refunded ({partial_amount:,.2f} in all): the export does "
                    "not say which lines were refunded, so these are not recorded as returns")
    if not wanted:
        return
    line_ids = id_map(session, OrderLine.__table__, ("order_id", "line_no"),
                      [(oid[(name,)], i) for name, i, _, _ in wanted])
    rows = [{"rma_number": f"{REFUND_PREFIX}{name.removeprefix('#')}-{i}"[:64],
             "order_line_id": line_ids[(oid[(name,)], i)], "qty": v["Lineitem quantity"],
             "reason_code": REFUND_REASON, "comment": "Shopify order refunded; the orders export gives no reason",
             "received_at": None, "refund_amount": round(share, 2), "disposition": None}
            for name, i, v, share in wanted]
    counts.add("returns", *upsert(session, Return.__table__, rows, key=("rma_number",),
                                  update_cols=["order_line_id", "qty", "refund_amount"]))
